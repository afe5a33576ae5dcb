import type { FastifyRequest } from 'fastify'
import { createDigest } from './digest'
import type { ResolvedProtection } from './options'

const kFingerprint = Symbol('fastify-login.fingerprint')
const digest = createDigest()

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
 * new connections are not hashed again either.
 */
function defaultFingerprint (request: FastifyRequest): string {
  const ip = request.ip
  const userAgent = request.headers['user-agent']
  const socket = request.raw.socket as (typeof request.raw.socket & FingerprintSocket) | undefined
  const cached = socket?.[kFingerprint]
  if (cached !== undefined && cached.ip === ip && cached.userAgent === userAgent) return cached.value

  const value = digest(`${ip}\n${userAgent ?? ''}`)
  if (socket) socket[kFingerprint] = { ip, userAgent, value }
  return value
}
