import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

const kFingerprint = Symbol('fastify-login.fingerprint')

interface CachedFingerprint {
  ip: string
  userAgent: string | undefined
  value: string
}

type FingerprintSocket = { [kFingerprint]?: CachedFingerprint }

/**
 * A digest of the client's address (`request.ip`, so it follows Fastify's
 * `trustProxy`) and User-Agent. Kept on the socket, so keep-alive requests of the
 * same client are not hashed again.
 */
export function fingerprint (request: FastifyRequest): string {
  const ip = request.ip
  const userAgent = request.headers['user-agent']
  const socket = request.raw.socket as (typeof request.raw.socket & FingerprintSocket) | undefined
  const cached = socket?.[kFingerprint]
  if (cached !== undefined && cached.ip === ip && cached.userAgent === userAgent) return cached.value
  const value = createHash('sha256').update(`${ip}\n${userAgent ?? ''}`).digest('base64url').slice(0, 22)
  if (socket) socket[kFingerprint] = { ip, userAgent, value }
  return value
}
