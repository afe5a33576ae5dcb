import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

const kFingerprint = Symbol('fastify-login.fingerprint')
/** Recent clients' fingerprints; cleared when full, so it stays bounded. */
const CACHE_SIZE = 1024
const recent = new Map<string, string>()

interface CachedFingerprint {
  ip: string
  userAgent: string | undefined
  value: string
}

type FingerprintSocket = { [kFingerprint]?: CachedFingerprint }

/**
 * A digest of the client's address (`request.ip`, so it follows Fastify's
 * `trustProxy`) and User-Agent. Kept on the socket, so keep-alive requests of the
 * same client do not look it up again, and in a small map of recent clients, so
 * their new connections are not hashed again either.
 */
export function fingerprint (request: FastifyRequest): string {
  const ip = request.ip
  const userAgent = request.headers['user-agent']
  const socket = request.raw.socket as (typeof request.raw.socket & FingerprintSocket) | undefined
  const cached = socket?.[kFingerprint]
  if (cached !== undefined && cached.ip === ip && cached.userAgent === userAgent) return cached.value

  const key = `${ip}\n${userAgent ?? ''}`
  let value = recent.get(key)
  if (value === undefined) {
    value = hash('sha256', key, 'base64url').slice(0, 22)
    if (recent.size >= CACHE_SIZE) recent.clear()
    recent.set(key, value)
  }
  if (socket) socket[kFingerprint] = { ip, userAgent, value }
  return value
}
