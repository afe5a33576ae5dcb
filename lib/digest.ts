import * as crypto from 'node:crypto'
import { LruMap } from 'toad-cache'

/** SHA-256 of `text`, base64url: one-shot hashing where Node has it (20.12+), the classic API before. */
export const sha256: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'base64url')
  : (text) => crypto.createHash('sha256').update(text).digest('base64url')

/**
 * A short digest of `text`: 96 bits of its SHA-256, 16 base64url characters. Short,
 * because it is stored in the session, which a session store serialises and hashes
 * on every request; 96 bits, because finding another text with the same digest
 * then takes about 2^96 hashes.
 */
export function shortDigest (text: string): string {
  return sha256(text).slice(0, 16)
}

/** Texts longer than this are digested every time, never kept: a client cannot fill the memory with long headers. */
export const MAX_KEPT_LENGTH = 512

/**
 * `shortDigest` with a memo of the `limit` most recently used texts, for one owner
 * (a registration): never share one between apps. A digest call costs about as
 * much as the rest of a session lookup, and the same few texts come back (a
 * client's next requests, a user's auth version). The memo maps a text to its
 * digest, a pure function: whatever a client sends, it can only make the memo
 * forget, never answer wrongly.
 */
export function digestMemo (limit = 1024): (text: string) => string {
  const recent = new LruMap<string>(limit)
  return (text) => {
    if (text.length > MAX_KEPT_LENGTH) return shortDigest(text)
    let digest = recent.get(text)
    if (digest === undefined) {
      digest = shortDigest(text)
      recent.set(text, digest)
    }
    return digest
  }
}
