import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import type { RememberRejectReason } from '../types'
import { MAX_COOKIE_LENGTH } from './transport'

/**
 * The stateless remember cookie's value, format 3:
 *
 *   3.<base64url(iv ‖ AES-256-GCM(payload) ‖ tag)>
 *
 * The payload is `<expiry>.<lifetime>.<version>.<id>`: the expiry in seconds since
 * the epoch, checked by the server, and the lifetime the login chose in seconds
 * (what `refresh` extends by), both base 36; a digest of `authVersion(user)` (empty
 * without that option); the user id. Sealing keeps the id unreadable, and GCM's tag
 * authenticates the whole value: a cookie that was not made with one of the secrets
 * does not open. (Format 1 also signed the sealed value with an HMAC; that second
 * MAC proved nothing the tag does not, and cost 44 bytes and a hash per cookie.)
 *
 * Each secret has its own key, derived per registration (`key`): a customer's
 * cookie never opens as a staff cookie, even under the same secret. The first
 * secret seals; a cookie opened by an older one is re-issued under the first.
 */
const PREFIX = '3.'
/**
 * Base64url as `seal` writes it. Node's decoder is lenient (it skips characters
 * outside the alphabet, takes `+`, `/` and `=` too, and ignores the unused low bits
 * of the last character), so a cookie is checked against this and its decoding
 * re-encoded: one sealed value has one spelling, and a re-encoded copy is malformed.
 */
const BASE64URL = /^[A-Za-z0-9_-]+$/
const IV_BYTES = 12
const TAG_BYTES = 16

export interface RememberPayload {
  id: string
  /** Expiry, ms since the epoch. */
  expires: number
  /** The lifetime the login chose, ms: what `refresh` extends the cookie by. */
  lifetime: number
  /** Digest of the auth version, '' when not used. */
  version: string
  /** Opened by an older secret: re-issue under the first one. */
  renew: boolean
}

export type Opened =
  | { ok: true, payload: RememberPayload }
  | { ok: false, reason: RememberRejectReason }

function deriveKey (secret: string, key: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'fastify-login', `remember-me cookie v3 for ${key}`, 32))
}

function toSeconds36 (ms: number): string {
  return Math.ceil(ms / 1000).toString(36)
}

function fromSeconds36 (text: string): number | null {
  if (!/^[0-9a-z]{1,10}$/.test(text)) return null
  return parseInt(text, 36) * 1000
}

/** `<expiry>.<lifetime>.<version>.<id>`; the id is the rest and may hold dots. */
function splitPayload (payload: string): [string, string, string, string] | null {
  const first = payload.indexOf('.')
  const second = payload.indexOf('.', first + 1)
  const third = second === -1 ? -1 : payload.indexOf('.', second + 1)
  if (first === -1 || third === -1) return null
  return [payload.slice(0, first), payload.slice(first + 1, second), payload.slice(second + 1, third), payload.slice(third + 1)]
}

export class SealedCodec {
  readonly #keys: Buffer[]

  constructor (secrets: readonly string[], key: string) {
    this.#keys = secrets.map((secret) => deriveKey(secret, key))
  }

  seal (id: string, expires: number, lifetime: number, version: string): string {
    const payload = `${toSeconds36(expires)}.${toSeconds36(lifetime)}.${version}.${id}`
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0]!, iv)
    const sealed = Buffer.concat([iv, cipher.update(payload, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return PREFIX + sealed.toString('base64url')
  }

  open (cookie: string, now: number): Opened {
    if (cookie.length > MAX_COOKIE_LENGTH || !cookie.startsWith(PREFIX)) return { ok: false, reason: 'malformed' }
    const text = cookie.slice(PREFIX.length)
    if (!BASE64URL.test(text)) return { ok: false, reason: 'malformed' }
    const sealed = Buffer.from(text, 'base64url')
    if (sealed.length <= IV_BYTES + TAG_BYTES || sealed.toString('base64url') !== text) return { ok: false, reason: 'malformed' }
    let payload: string | null = null
    let index = 0
    for (; index < this.#keys.length && payload === null; index++) payload = this.#open(sealed, this.#keys[index]!)
    if (payload === null) return { ok: false, reason: 'signature' }

    const fields = splitPayload(payload)
    if (fields === null) return { ok: false, reason: 'malformed' }
    const [expiry, lifetime, version, id] = fields
    const expires = fromSeconds36(expiry)
    const lifetimeMs = fromSeconds36(lifetime)
    if (expires === null || lifetimeMs === null || lifetimeMs === 0) return { ok: false, reason: 'malformed' }
    if (expires <= now) return { ok: false, reason: 'expired' }
    return { ok: true, payload: { id, expires, lifetime: lifetimeMs, version, renew: index > 1 } }
  }

  #open (sealed: Buffer, key: Buffer): string | null {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES))
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      return Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final()
      ]).toString('utf8')
    } catch {
      return null
    }
  }
}
