import * as crypto from 'node:crypto'

/** SHA-256 of `text`, base64url: one-shot hashing where Node has it (20.12+), the classic API before. */
export const sha256: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'base64url')
  : (text) => crypto.createHash('sha256').update(text).digest('base64url')

/** A short digest of `text`: 96 bits of its SHA-256, 16 base64url characters. */
export function shortDigest (text: string): string {
  return sha256(text).slice(0, 16)
}

/**
 * `shortDigest`, remembered for recent texts: the callers digest the same few
 * values (a user's auth version, a custom fingerprint) on every request. At most
 * `limit` are kept. A short digest keeps the session small: a session store
 * serialises and hashes the whole session on every request.
 */
export function createDigest (limit = 1024): (text: string) => string {
  const recent = new Map<string, string>()
  return (text) => {
    let digest = recent.get(text)
    if (digest === undefined) {
      digest = shortDigest(text)
      if (recent.size >= limit) recent.clear()
      recent.set(text, digest)
    }
    return digest
  }
}

const digestVersion = createDigest()

/** Digest of an `authVersion` value, as stored in sessions and remember cookies. */
export function versionDigest (value: string | number): string {
  return digestVersion(String(value))
}
