import type { FastifyRequest } from 'fastify'
import { createDigest } from './digest'

const kFingerprint = Symbol('fastify-login.fingerprint')
const digest = createDigest()

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

  const value = digest(`${ip}\n${userAgent ?? ''}`)
  if (socket) socket[kFingerprint] = { ip, userAgent, value }
  return value
}
