import type { FastifyRequest } from 'fastify'
import { createDigest, shortDigest } from './digest'
import type { ResolvedProtection } from './options'

const kFingerprint = Symbol('fastify-login.fingerprint')
const digest = createDigest()
/** Recent clients: User-Agent to address to fingerprint, at most RECENT pairs. */
const recent = new Map<string, Map<string, string>>()
const RECENT = 1024
let recentSize = 0

interface CachedFingerprint {
  ip: string
  userAgent: string | undefined
  value: string
}

type FingerprintSocket = { [kFingerprint]?: CachedFingerprint }

/**
 * The session-protection fingerprint of the request's client: by default a digest
 * of its address (`request.ip`, so it follows Fastify's `trustProxy`) and
 * User-Agent, else a digest of what the app's `fingerprint(request)` answers.
 */
export function fingerprintOf (protection: ResolvedProtection, request: FastifyRequest): string {
  return protection.fingerprint === undefined ? defaultFingerprint(request) : digest(protection.fingerprint(request))
}

/**
 * The default fingerprint. Kept on the socket, so keep-alive requests of the same
 * client do not look it up again, and in a small map of recent clients, so their
 * new connections are not hashed again either: looked up by User-Agent, then by
 * address, without building a joined string for every request.
 */
function defaultFingerprint (request: FastifyRequest): string {
  const ip = request.ip
  const userAgent = request.headers['user-agent']
  const socket = request.raw.socket as (typeof request.raw.socket & FingerprintSocket) | undefined
  const cached = socket?.[kFingerprint]
  if (cached !== undefined && cached.ip === ip && cached.userAgent === userAgent) return cached.value

  const agent = userAgent ?? ''
  let byAddress = recent.get(agent)
  let value = byAddress?.get(ip)
  if (value === undefined) {
    value = shortDigest(`${ip}\n${agent}`)
    if (recentSize >= RECENT) {
      recent.clear()
      recentSize = 0
      byAddress = undefined
    }
    if (byAddress === undefined) {
      byAddress = new Map()
      recent.set(agent, byAddress)
    }
    byAddress.set(ip, value)
    recentSize++
  }
  if (socket) socket[kFingerprint] = { ip, userAgent, value }
  return value
}
