import { randomBytes, timingSafeEqual } from 'node:crypto'
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
 */
export class Registry {
  readonly store: LoginStore
  readonly graceMs: number
  readonly idleTimeout: number
  readonly #signer: InstanceType<typeof Signer> | undefined

  constructor (options: ResolvedLogins, rememberSecrets: readonly string[] | undefined) {
    this.store = options.store
    this.graceMs = options.graceMs
    this.idleTimeout = options.idleTimeout
    this.#signer = rememberSecrets === undefined ? undefined : new Signer([...rememberSecrets], 'sha256')
  }

  /** A new login record for `userId`, made from this request; with `series`, its remember token too. */
  newLogin (request: FastifyRequest, userId: string, method: LoginMethod, series: NewSeries | undefined, now = Date.now()) {
    const login: LoginRecord = {
      id: randomId(16),
      userId,
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
      userId,
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

  /** The signed cookie value of a token. */
  cookie (selector: string, validator: string): string {
    return this.#signer!.sign(`2.${selector}.${validator}`)
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
    if (login === null || login.userId !== userId) return false
    if (now - login.lastSeenAt >= TOUCH_INTERVAL) {
      const series = login.series === undefined ? null : await this.getSeries(login.series)
      await guarded(() => this.store.touchLogin(loginId, now, this.ttl(series?.expiresAt, now)))
    }
    return true
  }

  async list (userId: string): Promise<LoginInfo[]> {
    const logins = await guarded(() => this.store.listLogins(userId))
    return logins.map(({ id, userId, createdAt, lastSeenAt, ip, userAgent, method, remembered }) =>
      ({ id, userId, createdAt, lastSeenAt, ip, userAgent, method, remembered }))
  }

  revoke (userId: string, loginIds: readonly string[]): Promise<void> {
    return guarded(() => this.store.deleteLogins(userId, loginIds))
  }

  async revokeAll (userId: string, except: string | null): Promise<number> {
    const ids = (await guarded(() => this.store.listLogins(userId))).map((login) => login.id).filter((id) => id !== except)
    if (ids.length > 0) await this.revoke(userId, ids)
    return ids.length
  }

  /** Reads a remember cookie: its token when the format and signature hold, else why not. */
  parse (cookie: string): Token | { reason: RememberRejectReason, renew?: undefined } {
    if (cookie.length > MAX_TOKEN_LENGTH || !cookie.startsWith('2.')) return { reason: 'malformed' }
    const { valid, value } = this.#signer!.unsign(cookie)
    if (!valid || value === null) return { reason: 'signature' }
    const match = TOKEN.exec(value)
    if (match === null) return { reason: 'malformed' }
    return { selector: match[1]!, validator: match[2]! }
  }

  getSeries (selector: string): Promise<RememberSeries | null> {
    return guarded(() => this.store.getSeries(selector))
  }

  /** Is `validator` the series' current one? (For `refresh`, which extends without rotating.) */
  isCurrent (series: RememberSeries, validator: string): boolean {
    return equalHashes(series.validatorHash, sha256(validator))
  }

  /** Rotates the series presented by `token`, replacing its login by `login`. */
  rotate (token: Token, login: LoginRecord, expiresAt: number, now = Date.now()): { result: Promise<RotateResult>, cookie: string } {
    const validator = randomId(32)
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
