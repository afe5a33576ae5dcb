import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { Signer } from '@fastify/cookie'
import { sha256 } from './digest'
import { storeError } from './errors'
import type { ResolvedLogins } from './options'
import type { LoginMethod, LoginRecord, LoginStore, RememberSeries, RotateResult } from './stores/types'
import type { LoginInfo, RememberRejectReason } from './types'

/** `lastSeenAt` is written at most this often per login. */
const TOUCH_INTERVAL = 60 * 1000
/** Format of the registry's remember cookie: `2.<selector>.<validator>`, signed. */
const TOKEN = /^2\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/
const MAX_TOKEN_LENGTH = 512
/** `revokeAll` deletes what it listed, then looks again: a restore may have replaced a login meanwhile. */
const REVOKE_ROUNDS = 5

/** A remember series to make with a login. */
export interface NewSeries {
  expiresAt: number
  lifetime: number
  version: string
}

/** A parsed remember token: the series it names and the validator it presents. */
export interface Token {
  selector: string
  validator: string
}

function randomId (bytes: number): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * The login registry: every login has a record in the store, checked on each
 * request, so that a revoked login is dead on its next request on every instance.
 * Remember-me under the registry is a selector and a validator; the store keeps a
 * hash of the validator, rotated at each restore (Spring Security's persistent
 * tokens, Barry Jaspan's improved persistent login cookie).
 *
 * One store may serve several logins of an app: this registration's records carry
 * user ids as `<key>:<id>`, and its tokens are signed for its key, so a customer's
 * login or remember cookie is never a staff login.
 */
export class Registry {
  readonly store: LoginStore
  readonly graceMs: number
  readonly idleTimeout: number
  readonly #key: string
  readonly #owner: string
  readonly #signer: InstanceType<typeof Signer> | undefined
  /** Derives each next validator from the last, so a lost rotation can be handed out again. */
  readonly #chain: Buffer | undefined

  constructor (options: ResolvedLogins, rememberSecrets: readonly string[] | undefined, key: string) {
    this.store = options.store
    this.graceMs = options.graceMs
    this.idleTimeout = options.idleTimeout
    this.#key = key
    this.#owner = `${key}:`
    this.#signer = rememberSecrets === undefined ? undefined : new Signer([...rememberSecrets], 'sha256')
    this.#chain = rememberSecrets === undefined
      ? undefined
      : Buffer.from(hkdfSync('sha256', rememberSecrets[0]!, 'fastify-login', `remember validator chain for ${key}`, 32))
  }

  /** The store's user id of an app user id of this registration. */
  #storeId (userId: string): string {
    return this.#owner + userId
  }

  /** The app's user id of a record of this registration, or null for another registration's. */
  userOf (record: { userId: string }): string | null {
    return record.userId.startsWith(this.#owner) ? record.userId.slice(this.#owner.length) : null
  }

  /** A new login record for `userId`, made from this request; with `series`, its remember token too. */
  newLogin (request: FastifyRequest, userId: string, method: LoginMethod, series: NewSeries | undefined, now = Date.now()) {
    const login: LoginRecord = {
      id: randomId(16),
      userId: this.#storeId(userId),
      createdAt: now,
      lastSeenAt: now,
      ip: request.ip ?? '',
      userAgent: request.headers['user-agent'] ?? '',
      method,
      remembered: series !== undefined
    }
    if (series === undefined) return { login, series: undefined, cookie: undefined }
    const selector = randomId(16)
    const validator = randomId(32)
    login.series = selector
    const record: RememberSeries = {
      selector,
      userId: login.userId,
      loginId: login.id,
      validatorHash: sha256(validator),
      previousHash: null,
      rotatedAt: now,
      expiresAt: series.expiresAt,
      lifetime: series.lifetime,
      version: series.version
    }
    return { login, series: record, cookie: this.cookie(selector, validator) }
  }

  /** The signed cookie value of a token, signed for this registration's key. */
  cookie (selector: string, validator: string): string {
    return this.#signer!.sign(`${this.#key}\n2.${selector}.${validator}`).slice(this.#key.length + 1)
  }

  /**
   * How long a login lives without being seen: `idleTimeout`, and for a remembered
   * login at least as long as its remember cookie, so that revoking the user's
   * logins always reaches the series too.
   */
  ttl (seriesExpiresAt: number | undefined, now = Date.now()): number {
    return seriesExpiresAt === undefined ? this.idleTimeout : Math.max(this.idleTimeout, seriesExpiresAt - now)
  }

  create (login: LoginRecord, series: RememberSeries | undefined): Promise<void> {
    return guarded(() => this.store.createLogin(login, this.ttl(series?.expiresAt), series))
  }

  /** Does the login stand, for this user? Records the visit at most once a minute. */
  async stands (loginId: string, userId: string, now = Date.now()): Promise<boolean> {
    const login = await guarded(() => this.store.getLogin(loginId))
    if (login === null || login.userId !== this.#storeId(userId)) return false
    if (now - login.lastSeenAt >= TOUCH_INTERVAL) {
      const series = login.series === undefined ? null : await this.getSeries(login.series)
      await guarded(() => this.store.touchLogin(loginId, now, this.ttl(series?.expiresAt, now)))
    }
    return true
  }

  async list (userId: string): Promise<LoginInfo[]> {
    const logins = await guarded(() => this.store.listLogins(this.#storeId(userId)))
    return logins.map(({ id, createdAt, lastSeenAt, ip, userAgent, method, remembered }) =>
      ({ id, userId, createdAt, lastSeenAt, ip, userAgent, method, remembered }))
  }

  revoke (userId: string, loginIds: readonly string[]): Promise<void> {
    return guarded(() => this.store.deleteLogins(this.#storeId(userId), loginIds))
  }

  /**
   * Ends every login of the user but `except`. A remember-me restore running at the
   * same moment replaces a login by a new one, which a single list-then-delete would
   * miss: so it looks again until nothing is left to end.
   */
  async revokeAll (userId: string, except: string | null): Promise<number> {
    let ended = 0
    for (let round = 0; round < REVOKE_ROUNDS; round++) {
      const ids = (await this.list(userId)).map((login) => login.id).filter((id) => id !== except)
      if (ids.length === 0) break
      await this.revoke(userId, ids)
      ended += ids.length
    }
    return ended
  }

  /** Reads a remember cookie: its token when the format and this key's signature hold, else why not. */
  parse (cookie: string): Token | { reason: RememberRejectReason } {
    if (cookie.length > MAX_TOKEN_LENGTH || !cookie.startsWith('2.')) return { reason: 'malformed' }
    const { valid, value } = this.#signer!.unsign(`${this.#key}\n${cookie}`)
    if (!valid || value === null) return { reason: 'signature' }
    const match = TOKEN.exec(value.slice(this.#key.length + 1))
    if (match === null) return { reason: 'malformed' }
    return { selector: match[1]!, validator: match[2]! }
  }

  /** The series, when it exists and is this registration's. */
  async getSeries (selector: string): Promise<RememberSeries | null> {
    const series = await guarded(() => this.store.getSeries(selector))
    return series !== null && this.userOf(series) !== null ? series : null
  }

  /** Is `validator` the series' current one? */
  isCurrent (series: RememberSeries, validator: string): boolean {
    return equalHashes(series.validatorHash, sha256(validator))
  }

  /**
   * The series' current token when `validator` is the one before it and the
   * rotation was less than `graceMs` ago: a parallel request of the browser that
   * rotated, or one whose rotating response was lost, gets the current cookie.
   */
  healed (series: RememberSeries, validator: string, now = Date.now()): string | null {
    if (series.previousHash === null || !equalHashes(series.previousHash, sha256(validator)) ||
      now - series.rotatedAt > this.graceMs) return null
    const next = this.#next(series.selector, validator)
    return this.isCurrent(series, next) ? this.cookie(series.selector, next) : null
  }

  /** Rotates the series presented by `token`, replacing its login by `login`. */
  rotate (token: Token, login: LoginRecord, expiresAt: number, now = Date.now()): { result: Promise<RotateResult>, cookie: string } {
    const validator = this.#next(token.selector, token.validator)
    login.series = token.selector
    const result = guarded(() => this.store.rotateSeries(token.selector, {
      presentedHash: sha256(token.validator),
      validatorHash: sha256(validator),
      login,
      loginTtl: this.ttl(expiresAt, now),
      now,
      graceMs: this.graceMs
    }))
    return { result, cookie: this.cookie(token.selector, validator) }
  }

  extend (selector: string, expiresAt: number): Promise<void> {
    return guarded(() => this.store.extendSeries(selector, expiresAt))
  }

  /** The validator after `validator`: only the server, with the secret, can compute it. */
  #next (selector: string, validator: string): string {
    return createHmac('sha256', this.#chain!).update(`${selector}.${validator}`).digest('base64url')
  }
}

function equalHashes (a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/** A store call whose failure is a StoreError: fail closed, the store's message kept out of the response. */
async function guarded<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw storeError(error)
  }
}
