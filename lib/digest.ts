import * as crypto from 'node:crypto'

/** One-shot hashing where Node has it (20.12+), the classic API before. */
/** SHA-256 of `text`, base64url. */
export const sha256: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'base64url')
  : (text) => crypto.createHash('sha256').update(text).digest('base64url')

/**
 * A short digest (128 bits, base64url) of `text`, remembered for recent texts:
 * the callers digest the same few values (a client's address and User-Agent, a
 * user's auth version) on every request. At most `limit` are kept.
 */
export function createDigest (limit = 1024): (text: string) => string {
  const recent = new Map<string, string>()
  return (text) => {
    let digest = recent.get(text)
    if (digest === undefined) {
      digest = sha256(text).slice(0, 22)
      if (recent.size >= limit) recent.clear()
      recent.set(text, digest)
    }
    return digest
  }
}
