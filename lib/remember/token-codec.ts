import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { Signer } from '@fastify/cookie'
import { sha256 } from '../digest'
import { userTag } from '../registry/stores/records'
import type { RememberSeries } from '../registry/stores/types'
import type { RememberRejectReason } from '../types'

/**
 * The registry's remember token, format 4, and the rules that judge it: a value
 * `4.<selector>.<validator>` signed with the remember secret for the registration's
 * key (a forged cookie costs no store read; a customer's cookie is never a staff
 * cookie). The store keeps a hash of the validator.
 *
 * Each next validator is derived from the hash of the current one with a key only
 * the server has, so a rotation is the same whoever makes it: parallel requests of
 * one browser agree on it, a response that never reached the browser is handed out
 * again, and a browser one rotation ahead of the store (a failover lost the write)
 * is recognised instead of taken for a thief. `judge` holds the rules.
 */

const TOKEN = /^4\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$/
const MAX_TOKEN_LENGTH = 512
/**
 * How far apart the clocks of an app's instances may be. A rotation is stamped
 * with the clock of the instance that made it; a parallel request of the same
 * browser served a millisecond later by an instance whose clock is behind finds it
 * in the future, and must still be inside the grace window, or that browser's own
 * request is taken for a thief.
 */
const CLOCK_SKEW = 1000

export interface Token {
  selector: string
  validator: string
}

/** What a presented validator is to its series. */
export type Verdict =
  /** The current validator: rotate. */
  | 'current'
  /** The one before, within the grace window: a parallel request, or a lost response; hand out the current one. */
  | 'previous'
  /** The one after the current (a rotation the store lost): move the series on from it. */
  | 'ahead'
  /** Anything else: a copy used after the real cookie rotated. */
  | 'theft'

export function equal (a: string, b: string | null): boolean {
  return b !== null && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

export class TokenCodec {
  readonly #signer: InstanceType<typeof Signer>
  readonly #chain: Buffer
  readonly #key: string
  readonly #graceMs: number

  constructor (secrets: readonly string[], key: string, graceMs: number) {
    this.#key = key
    this.#graceMs = graceMs
    this.#signer = new Signer([...secrets], 'sha256')
    this.#chain = Buffer.from(hkdfSync('sha256', secrets[0]!, 'fastify-login', `remember validator chain v4 for ${key}`, 32))
  }

  /** A new series' selector and first validator. The selector starts with its user's tag: on Redis Cluster the series lives in its user's slot. */
  create (storeUserId: string): Token {
    return { selector: userTag(storeUserId) + randomBytes(16).toString('base64url'), validator: randomBytes(32).toString('base64url') }
  }

  /** Reads a remember cookie: its token when the format and this key's signature hold, else why not. */
  parse (cookie: string): Token | { reason: RememberRejectReason } {
    if (cookie.length > MAX_TOKEN_LENGTH || !cookie.startsWith('4.')) return { reason: 'malformed' }
    const { valid, value } = this.#signer.unsign(`${this.#key}\n${cookie}`)
    if (!valid || value === null) return { reason: 'signature' }
    const match = TOKEN.exec(value.slice(this.#key.length + 1))
    if (match === null) return { reason: 'malformed' }
    return { selector: match[1]!, validator: match[2]! }
  }

  /** The signed cookie value of a token, signed for this registration's key. */
  sign (selector: string, validator: string): string {
    return this.#signer.sign(`${this.#key}\n4.${selector}.${validator}`).slice(this.#key.length + 1)
  }

  /** The validator after the one whose hash is `hash`: only the server, with the secret, can compute it. */
  next (selector: string, hash: string): string {
    return createHmac('sha256', this.#chain).update(`${selector}.${hash}`).digest('base64url')
  }

  /**
   * The rules. The grace window is bounded both ways: a rotation time further in
   * the future than the instances' clocks may differ (CLOCK_SKEW, and never more
   * than the window itself) is never inside it.
   */
  judge (series: RememberSeries, validator: string, now: number): Verdict {
    const hash = sha256(validator)
    if (equal(hash, series.validatorHash)) return 'current'
    const age = now - series.rotatedAt
    if (equal(hash, series.previousHash) && age >= -Math.min(CLOCK_SKEW, this.#graceMs) && age <= this.#graceMs &&
      equal(sha256(this.next(series.selector, series.previousHash!)), series.validatorHash)) return 'previous'
    if (equal(validator, this.next(series.selector, series.validatorHash))) return 'ahead'
    return 'theft'
  }
}
