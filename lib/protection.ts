import type { FastifyRequest } from 'fastify'
import { LruMap } from 'toad-cache'
import { digestMemo, MAX_KEPT_LENGTH, shortDigest } from './digest'
import type { ResolvedProtection } from './options'

/*
 * The session-protection fingerprint is a 96-bit SHA-256 digest (`shortDigest`) of
 * the client's address and User-Agent, or of what the app's `fingerprint(request)`
 * answers. That is enough:
 *
 * - The stored digest cannot be read or changed by the client: it lives in the
 *   session, in a server-side store or in @fastify/secure-session's encrypted cookie.
 * - To pass, a request must digest to that value. SHA-256 resists second preimages:
 *   even knowing the real address and User-Agent, finding another pair with the same
 *   96 bits takes about 2^96 hashes, and guessing online costs a request a try
 *   (under 'strong' the first wrong one ends the login). Forging it is no easier
 *   than sending from the real address with the real User-Agent.
 * - `<address>\n<User-Agent>` is unambiguous: an address holds no line feed and
 *   Node's HTTP parser refuses one in a header value.
 * - It is keyed by nothing, so every instance of an app computes the same digest.
 */

/** Clients kept per registration: a few hundred KB (an entry holds the address and the User-Agent). */
const RECENT = 1024

/** The digest of a client's `<address>\n<User-Agent>`, kept under its address. */
interface Known {
  userAgent: string | undefined
  value: string
}

/**
 * The fingerprint function of one registration (`registration.fingerprintOf`): by
 * default a digest of the client's address (`request.ip`, so it follows Fastify's
 * `trustProxy`) and User-Agent, else a digest of what the app's
 * `fingerprint(request)` answers; '' without session protection. Its recent clients
 * are kept in a maintained LRU of its own, never shared between apps: keyed by the
 * address (short, so the lookup hashes a dozen characters, where a key holding the
 * User-Agent would cost V8 a third of the SHA-256 call it saves), then checked for
 * the same User-Agent. Clients behind one address with different User-Agents
 * replace each other: a miss, never a wrong answer.
 */
export function createFingerprint (protection: ResolvedProtection | undefined): (request: FastifyRequest) => string {
  if (protection === undefined) return () => ''
  const { fingerprint } = protection
  if (fingerprint !== undefined) {
    const custom = digestMemo(RECENT)
    return (request) => custom(fingerprint(request))
  }
  const clients = new LruMap<Known>(RECENT)
  return (request) => {
    const ip = request.ip
    const userAgent = request.headers['user-agent']
    const known = clients.get(ip)
    if (known !== undefined && known.userAgent === userAgent) return known.value
    const value = shortDigest(`${ip}\n${userAgent ?? ''}`)
    // A long User-Agent is digested every time, never kept: no client fills the memory.
    if (userAgent === undefined || userAgent.length <= MAX_KEPT_LENGTH) clients.set(ip, { userAgent, value })
    return value
  }
}
