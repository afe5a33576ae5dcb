import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { Signer } from '@fastify/cookie'
import type { RememberRejectReason } from './types'

/**
 * The remember-me cookie, format version 1:
 *
 *   1.<sealed>.<signature>
 *
 * `sealed` is base64url(iv ‖ AES-256-GCM(payload) ‖ tag), and the whole
 * `1.<sealed>` is signed by @fastify/cookie's Signer (HMAC-SHA256). The payload is
 * `<expiry>.<version>.<id>`: the expiry in seconds since the epoch (base 36), checked
 * by the server; a digest of `authVersion(user)` (empty without that option); the
 * user id. Sealing keeps the id unreadable; each secret has its own derived key, so
 * rotation works for both the signature and the seal.
 */
const FORMAT = '1'
const PREFIX = FORMAT + '.'
const IV_BYTES = 12
const TAG_BYTES = 16
/** Browsers keep about 4 KB per cookie; anything longer is not ours. */
export const MAX_COOKIE_LENGTH = 4096

export interface RememberPayload {
  id: string
  /** Expiry, ms since the epoch. */
  expires: number
  /** Digest of the auth version, '' when not used. */
  version: string
  /** Verified by an older secret: re-issue under the first one. */
  renew: boolean
}

export type RememberResult =
  | { ok: true, payload: RememberPayload }
  | { ok: false, reason: RememberRejectReason }

function deriveKey (secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'fastify-login', 'remember-me cookie v1', 32))
}

/** Digest of an `authVersion` value, as stored in sessions and remember cookies. */
export function versionDigest (value: string | number): string {
  return createHash('sha256').update(String(value)).digest('base64url').slice(0, 22)
}

export class RememberCodec {
  private readonly signer: InstanceType<typeof Signer>
  private readonly keys: Buffer[]

  constructor (secrets: readonly string[]) {
    this.signer = new Signer([...secrets], 'sha256')
    this.keys = secrets.map(deriveKey)
  }

  encode (id: string, expires: number, version: string): string {
    const payload = `${Math.ceil(expires / 1000).toString(36)}.${version}.${id}`
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

    const firstDot = payload.indexOf('.')
    const secondDot = payload.indexOf('.', firstDot + 1)
    if (firstDot < 1 || secondDot === -1) return { ok: false, reason: 'malformed' }
    const expires = parseInt(payload.slice(0, firstDot), 36) * 1000
    if (!Number.isSafeInteger(expires)) return { ok: false, reason: 'malformed' }
    if (expires <= now) return { ok: false, reason: 'expired' }
    return {
      ok: true,
      payload: { id: payload.slice(secondDot + 1), expires, version: payload.slice(firstDot + 1, secondDot), renew }
    }
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
