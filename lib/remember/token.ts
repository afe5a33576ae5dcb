import type { FastifyReply, FastifyRequest } from 'fastify'
import { sha256 } from '../digest'
import { guarded } from '../errors'
import type { Registration } from '../registration'
import type { LoginRegistry } from '../registry/registry'
import type { RememberSeries } from '../registry/stores/types'
import { isUnknownUpgrade, isWebSocketUpgrade } from '../routes'
import type { LoginState } from '../state'
import type { LoginUser, RememberRejectReason } from '../types'
import type { ResolvedRemember } from './options'
import type { Issued, Lapsed, NewRemembered, RememberMe } from './remember-me'
import { rememberedUser, reject, startRestored } from './restore'
import { equal, TokenCodec, type Token } from './token-codec'
import type { RememberCookie } from './transport'

/**
 * Remember-me under the login registry: the rotating token of `token-codec.ts`,
 * whose series backs one login for its whole life (so the login's id is stable for
 * its device), rotated at each restore (Spring Security's persistent tokens, Barry
 * Jaspan's improved persistent login cookie), a copy caught as theft.
 */

/** A CAS that lost a race is decided again on what won; more than this many losses is a store misbehaving. */
const RETRIES = 3

export class TokenRemember implements RememberMe {
  readonly #registration: Registration
  readonly #registry: LoginRegistry
  readonly #cookie: RememberCookie
  readonly #codec: TokenCodec
  readonly #key: string
  readonly #refresh: boolean

  constructor (registration: Registration, registry: LoginRegistry, remember: ResolvedRemember, cookie: RememberCookie) {
    this.#registration = registration
    this.#registry = registry
    this.#cookie = cookie
    this.#key = registration.key
    this.#codec = new TokenCodec(remember.secrets, registration.key, registry.graceMs)
    this.#refresh = remember.refresh
  }

  read (request: FastifyRequest): string | undefined {
    return this.#cookie.read(request)
  }

  issue (login: NewRemembered): Issued {
    const record = login.login!
    const { selector, validator } = this.#codec.create(record.userId)
    record.series = selector
    const series: RememberSeries = {
      selector,
      userId: record.userId,
      loginId: record.id,
      validatorHash: sha256(validator),
      previousHash: null,
      rotatedAt: record.createdAt,
      expiresAt: login.expiresAt,
      lifetime: login.lifetime,
      version: login.version,
      spentHash: null
    }
    return { value: this.#cookie.check(this.#codec.sign(selector, validator)), series }
  }

  set (reply: FastifyReply, value: string, expiresAt: number): void {
    this.#cookie.set(reply, value, expiresAt)
  }

  async restore (request: FastifyRequest, reply: FastifyReply, cookie: string, lapsed: Lapsed | undefined): Promise<boolean> {
    const token = this.#codec.parse(cookie)
    if ('reason' in token) return this.#reject(request, reply, token.reason)
    if (isUnknownUpgrade(request)) {
      // No cookie can reach the browser, and the route was not seen declared: neither rotate nor restore.
      request.log.debug({ login: this.#key }, 'fastify-login: a remember token is not restored on an upgrade of an unknown route')
      return false
    }
    let series = await this.#series(token.selector)
    if (series === null) return this.#reject(request, reply, 'revoked')
    const userId = this.#registry.userOf(series)!
    if (lapsed !== undefined && lapsed.userId !== userId) return false
    if (series.expiresAt <= Date.now()) return this.#reject(request, reply, 'expired')
    const user = await rememberedUser(this.#registration, this.#cookie, request, reply, userId, lapsed)
    if (user === false) return false
    const version = this.#registration.versionOf(user)
    if (version !== series.version) {
      // Credentials changed since: this series can never work again.
      await this.#registry.end(request, userId, [series.loginId], 'authVersion')
      return this.#reject(request, reply, 'version')
    }

    let outcome = await this.#use(request, reply, token, series, userId)
    for (let attempt = 1; outcome === 'changed' && attempt < RETRIES; attempt++) {
      series = await this.#series(token.selector)
      if (series === null) return this.#reject(request, reply, 'revoked')
      outcome = await this.#use(request, reply, token, series, userId)
    }
    if (outcome === 'theft') return false
    if (outcome === 'spent') {
      // Refused, and the cookie left alone: it is still the browser's current token, which its
      // next page rotates. Clearing it here would end remember-me for a browser that opened two sockets.
      this.#registration.report.rejected(request, 'spent')
      return false
    }
    if (outcome !== 'done') return this.#reject(request, reply, outcome === 'changed' ? 'revoked' : outcome)
    await startRestored(this.#registration, request, reply, user, { userId, version, lifetime: series.lifetime, loginId: series.loginId })
    return true
  }

  /** Uses the token on its series: rotates, joins a rotation, or catches a copy. */
  async #use (
    request: FastifyRequest, reply: FastifyReply, token: Token, series: RememberSeries, userId: string
  ): Promise<'done' | 'changed' | 'theft' | RememberRejectReason> {
    const now = Date.now()
    const verdict = this.#codec.judge(series, token.validator, now)
    if (verdict === 'theft') {
      await this.#registry.end(request, userId, [series.loginId], 'theft')
      this.#registration.report.theft(request, userId)
      this.#reject(request, reply, 'theft')
      return 'theft'
    }
    if (verdict === 'previous') {
      // Joins the rotation that happened: hand out its validator (an upgrade has no cookie to carry it).
      if (!isWebSocketUpgrade(request)) await this.#setCookie(reply, this.#codec.next(series.selector, series.previousHash!), series, now)
      return 'done'
    }
    const presentedHash = sha256(token.validator)
    if (isWebSocketUpgrade(request)) {
      // A 101 carries no cookie: no rotation, and no second such use of one validator before a page rotates it.
      if (verdict !== 'current' || equal(presentedHash, series.spentHash)) return 'spent'
      return this.#update(series, { validatorHash: series.validatorHash, previousHash: series.previousHash, rotatedAt: series.rotatedAt, spentHash: presentedHash }, now)
    }
    // 'current', or 'ahead' (the browser holds the validator after the store's current one): move on from it.
    const next = this.#codec.next(series.selector, presentedHash)
    // The new cookie goes out before the store write: whether the write lands or not, the
    // browser then holds either the current validator or the one right after it.
    const cookie = this.#codec.sign(series.selector, next)
    const updated = await this.#update(series, { validatorHash: sha256(next), previousHash: presentedHash, rotatedAt: now, spentHash: null }, now, () => {
      this.#cookie.set(reply, cookie, this.#expiry(series, now))
    })
    if (updated === 'done' && this.#refresh) await this.#extend(series, this.#expiry(series, now))
    return updated
  }

  /** The CAS on the series; `before` runs first (setting the cookie), so it goes out whatever the store does. */
  async #update (
    series: RememberSeries, change: Pick<RememberSeries, 'validatorHash' | 'previousHash' | 'rotatedAt' | 'spentHash'>, now: number, before?: () => void
  ): Promise<'done' | 'changed' | 'revoked'> {
    before?.()
    const result = await guarded(() => this.#registry.store.updateSeries(series.userId, series.selector, {
      expectHash: series.validatorHash,
      ...change,
      now,
      loginTtl: this.#registry.ttl(series.expiresAt, now)
    }))
    if (result === 'unknown') return 'revoked'
    return result === 'ok' ? 'done' : 'changed'
  }

  /** The cookie's expiry: the series', or with `refresh` a whole lifetime from now. */
  #expiry (series: RememberSeries, now: number): number {
    return this.#refresh ? now + series.lifetime : series.expiresAt
  }

  async #setCookie (reply: FastifyReply, validator: string, series: RememberSeries, now: number): Promise<void> {
    const expiresAt = this.#expiry(series, now)
    this.#cookie.set(reply, this.#codec.sign(series.selector, validator), expiresAt)
    if (this.#refresh) await this.#extend(series, expiresAt)
  }

  #extend (series: RememberSeries, expiresAt: number): Promise<void> {
    return guarded(() => this.#registry.store.extendSeries(series.userId, series.selector, expiresAt))
  }

  /** `refresh` on a session request: the token must be the current one of this login's series. */
  async refresh (request: FastifyRequest, reply: FastifyReply, cookie: string, state: LoginState, user: LoginUser): Promise<void> {
    const token = this.#codec.parse(cookie)
    if ('reason' in token) return this.#drop(request, reply, token.reason)
    const series = await this.#series(token.selector)
    const now = Date.now()
    if (series === null) return this.#drop(request, reply, 'revoked')
    if (series.loginId !== state.loginId || this.#registry.userOf(series) !== state.userId) return this.#drop(request, reply, 'other-user')
    const verdict = this.#codec.judge(series, token.validator, now)
    if (verdict !== 'current' && verdict !== 'previous') return this.#drop(request, reply, 'signature')
    if (series.expiresAt <= now) return this.#drop(request, reply, 'expired')
    if (series.version !== this.#registration.versionOf(user)) return this.#drop(request, reply, 'version')
    // The current token, re-signed (an older secret may have signed it).
    const validator = verdict === 'current' ? token.validator : this.#codec.next(series.selector, series.previousHash!)
    const expiresAt = now + series.lifetime
    this.#cookie.set(reply, this.#codec.sign(series.selector, validator), expiresAt)
    await this.#extend(series, expiresAt)
  }

  clear (reply: FastifyReply): void {
    this.#cookie.clear(reply)
  }

  /** A logout that found only this cookie: its login ends everywhere, so a saved copy no longer logs in. */
  async forget (request: FastifyRequest, cookie: string): Promise<void> {
    const token = this.#codec.parse(cookie)
    if ('reason' in token) return
    const series = await this.#series(token.selector)
    if (series === null || this.#codec.judge(series, token.validator, Date.now()) === 'theft') return
    await this.#registry.end(request, this.#registry.userOf(series)!, [series.loginId], 'logout')
  }

  /** The series, when it exists and is this registration's. */
  async #series (selector: string): Promise<RememberSeries | null> {
    const series = await guarded(() => this.#registry.store.getSeries(selector))
    return series !== null && this.#registry.userOf(series) !== null ? series : null
  }

  /** Rejects the cookie, for a path that answers nothing. */
  #drop (request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): undefined {
    this.#reject(request, reply, reason)
    return undefined
  }

  #reject (request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): false {
    return reject(this.#registration.report, this.#cookie, request, reply, reason)
  }
}
