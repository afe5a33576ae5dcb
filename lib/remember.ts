import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { Signer } from '@fastify/cookie'
import type { RememberRejectReason } from './types'

/**
 * The remember-me cookie, format version 1:
 *
 *   1.<sealed>.<signature>
 *
 * `sealed` is base64url(iv ‖ AES-256-GCM(payload) ‖ tag), and the whole
 * `1.<sealed>` is signed by @fastify/cookie's Signer (HMAC-SHA256). The payload is
 * `<expiry>.<lifetime>.<version>.<id>`: the expiry in seconds since the epoch, checked
 * by the server, and the lifetime the login chose in seconds (what `refresh` extends
 * by), both base 36; a digest of `authVersion(user)` (empty without that option); the
 * user id. Sealing keeps the id unreadable; each secret has its own derived key, so
 * rotation works for both the signature and the seal.
 */
const FORMAT = '1'
const PREFIX = FORMAT + '.'
const IV_BYTES = 12
const TAG_BYTES = 16
/** Browsers keep at most 4096 bytes of a cookie's name and value: anything longer is not ours, and ours must fit. */
export const MAX_COOKIE_LENGTH = 4096

export interface RememberPayload {
  id: string
  /** Expiry, ms since the epoch. */
  expires: number
  /** The lifetime the login chose, ms: what `refresh` extends the cookie by. */
  lifetime: number
  /** Digest of the auth version, '' when not used. */
  version: string
  /** Verified by an older secret: re-issue under the first one. */
  renew: boolean
}

export type RememberResult =
  | { ok: true, payload: RememberPayload }
  | { ok: false, reason: RememberRejectReason }

/**
 * The sealing key of a secret, for one registration: each `key` has its own, so a
 * cookie of one login (customers) never opens as a cookie of another (staff),
 * even under the same secret. The default key keeps the key of earlier versions.
 */
function deriveKey (secret: string, key: string): Buffer {
  const info = key === 'login' ? 'remember-me cookie v1' : `remember-me cookie v1 for ${key}`
  return Buffer.from(hkdfSync('sha256', secret, 'fastify-login', info, 32))
}

/** Digest of an `authVersion` value: it lives in lib/digest.ts, with the other digests. */
export { versionDigest } from './digest'

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

export class RememberCodec {
  private readonly signer: InstanceType<typeof Signer>
  private readonly keys: Buffer[]

  constructor (secrets: readonly string[], key: string) {
    this.signer = new Signer([...secrets], 'sha256')
    this.keys = secrets.map((secret) => deriveKey(secret, key))
  }

  encode (id: string, expires: number, lifetime: number, version: string): string {
    const payload = `${toSeconds36(expires)}.${toSeconds36(lifetime)}.${version}.${id}`
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv)
    const sealed = Buffer.concat([iv, cipher.update(payload, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return this.signer.sign(PREFIX + sealed.toString('base64url'))
  }

  decode (cookie: unknown, now: number): RememberResult {
    if (typeof cookie !== 'string' || cookie.length > MAX_COOKIE_LENGTH || !cookie.startsWith(PREFIX)) {
      return { ok: false, reason: 'malformed' }
    }
    const { valid, renew, value } = this.signer.unsign(cookie)
    if (!valid || value === null) return { ok: false, reason: 'signature' }

    const sealed = Buffer.from(value.slice(PREFIX.length), 'base64url')
    if (sealed.length <= IV_BYTES + TAG_BYTES) return { ok: false, reason: 'malformed' }
    // The signature told us whether the first secret signed; try its key first.
    const payload = renew ? this.openWithAny(sealed, 1) : this.open(sealed, this.keys[0]!)
    if (payload === null) return { ok: false, reason: 'malformed' }

    const fields = splitPayload(payload)
    if (fields === null) return { ok: false, reason: 'malformed' }
    const [expiry, lifetime, version, id] = fields
    const expires = fromSeconds36(expiry)
    const lifetimeMs = fromSeconds36(lifetime)
    if (expires === null || lifetimeMs === null || lifetimeMs === 0) return { ok: false, reason: 'malformed' }
    if (expires <= now) return { ok: false, reason: 'expired' }
    return { ok: true, payload: { id, expires, lifetime: lifetimeMs, version, renew } }
  }

  private openWithAny (sealed: Buffer, from: number): string | null {
    for (let i = from; i < this.keys.length; i++) {
      const payload = this.open(sealed, this.keys[i]!)
      if (payload !== null) return payload
    }
    return null
  }

  private open (sealed: Buffer, key: Buffer): string | null {
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
