import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { guarded, LimitError } from '../errors'
import type { Reporter } from '../events'
import { DAY, MINUTE, SECOND } from '../option-checks'
import type { EndedLoginInfo, ListLoginsOptions, LoginEndReason, LoginInfo } from '../types'
import { LoginCache } from './cache'
import type { ResolvedLogins } from './options'
import type { EndedLogin, LoginMethod, LoginRecord, LoginStore, RememberSeries } from './stores/types'

/** `lastSeenAt` is written at most this often per login. */
export const TOUCH_INTERVAL = MINUTE
/** Without `idleTimeout`, a login not seen for this long ends on its own. */
const UNSEEN = 30 * DAY
/** `endAll` ends at most this many logins per store call, so no call blocks the store for long. */
const END_BATCH = 100
const DEFAULT_LIST_LIMIT = 100
/** The first wait before opening the invalidation link again, and the longest. */
const WATCH_RETRY = 1000
const MAX_WATCH_RETRY = 30_000

/** Does the login stand? `true`, or why it ended. */
export type Standing = true | LoginEndReason

/**
 * The login registry: every login has a record in the store, checked on each
 * request, so that an ended login is dead on its next request on every instance.
 *
 * One store may serve several logins of an app: this registration's records carry
 * user ids as `<key>:<id>`, so staff never see or end a customer's login.
 */
export class LoginRegistry {
  readonly store: LoginStore
  readonly graceMs: number
  readonly #options: ResolvedLogins
  readonly #owner: string
  readonly #report: Reporter
  /** How long a login lives unseen: `idleTimeout` and the minutes its recorded visits may lag behind, else 30 days. */
  readonly #unseen: number
  readonly #cache: LoginCache | undefined
  #unwatch: (() => Promise<void>) | undefined
  #retry: NodeJS.Timeout | undefined
  #stopped = false

  constructor (options: ResolvedLogins, key: string, report: Reporter, idleTimeout: number | undefined) {
    this.store = options.store
    this.graceMs = options.graceMs
    this.#options = options
    this.#owner = `${key}:`
    this.#report = report
    // The session's own idle end comes a minute (and a second) late at most, and the record's
    // visits lag as much: the record outlives that end, so a browser that comes back finds
    // its login still there to end as 'idle' (and kept in the history).
    this.#unseen = idleTimeout === undefined ? UNSEEN : idleTimeout + 2 * TOUCH_INTERVAL + SECOND
    this.#cache = typeof this.store.watch === 'function' ? new LoginCache() : undefined
  }

  /** Starts the cache's invalidation link and logs what the store says about its durability. */
  async start (log: FastifyBaseLogger): Promise<void> {
    if (this.store.inspect !== undefined) {
      for (const warning of await this.store.inspect()) log.warn(`fastify-login: login registry: ${warning}`)
    }
    if (this.#cache !== undefined) await this.#watch(this.#cache, log, WATCH_RETRY)
  }

  /**
   * Opens the invalidation link. Until it is up, and whenever it is down, the cache
   * is not trusted: every logged-in request reads the store. A link that cannot be
   * opened is tried again, a little later each time.
   */
  async #watch (cache: LoginCache, log: FastifyBaseLogger, wait: number): Promise<void> {
    if (this.#stopped) return
    try {
      this.#unwatch = await this.store.watch!(cache.watcher)
    } catch (error) {
      log.warn({ err: error }, `fastify-login: login registry: no invalidation link, every logged-in request reads the store; trying again in ${wait} ms`)
      this.#retry = setTimeout(() => { this.#watch(cache, log, Math.min(wait * 2, MAX_WATCH_RETRY)).catch(() => {}) }, wait)
      this.#retry.unref()
    }
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#retry)
    await this.#unwatch?.()
    this.#unwatch = undefined
    await this.store.close?.()
  }

  /** The store's user id of an app user id of this registration. */
  storeId (userId: string): string {
    return this.#owner + userId
  }

  /** The app's user id of a record of this registration, or null for another registration's. */
  userOf (record: { userId: string }): string | null {
    return record.userId.startsWith(this.#owner) ? record.userId.slice(this.#owner.length) : null
  }

  /** A new login record for `userId`, made from this request. */
  newLogin (request: FastifyRequest, userId: string, method: LoginMethod, remembered: boolean, impersonatorId?: string, now = Date.now()): LoginRecord {
    const login: LoginRecord = {
      id: randomBytes(16).toString('base64url'),
      userId: this.storeId(userId),
      createdAt: now,
      lastSeenAt: now,
      ip: request.ip ?? '',
      userAgent: request.headers['user-agent'] ?? '',
      method,
      remembered
    }
    const device = this.#options.describeDevice?.(request)
    if (device !== undefined) login.device = device.slice(0, 200)
    if (impersonatorId !== undefined) login.impersonatorId = this.storeId(impersonatorId)
    return login
  }

  /** How long a login lives unseen; a remembered one at least as long as its remember cookie. */
  ttl (seriesExpiresAt: number | undefined, now = Date.now()): number {
    return seriesExpiresAt === undefined ? this.#unseen : Math.max(this.#unseen, seriesExpiresAt - now)
  }

  /** Saves a new login (with its series); at the cap, evicts the least recently seen or refuses (`FST_LOGIN_LIMIT`). */
  async create (request: FastifyRequest, login: LoginRecord, series: RememberSeries | undefined): Promise<void> {
    const now = Date.now()
    const result = await guarded(() => this.store.createLogin(login, {
      ttl: this.ttl(series?.expiresAt, now),
      series,
      maxPerUser: this.#options.maxPerUser,
      onLimit: this.#options.onLimit,
      now,
      keepEndedFor: this.#options.keepEndedFor
    }))
    if (result.status === 'limit') throw new LimitError()
    this.#ended(request, result.evicted, 'evicted')
  }

  /**
   * Does this login stand for this user? On the hot path: a login this instance has
   * seen stand is answered from the cache while the store's invalidation link is up.
   * Records the visit at most once a minute.
   */
  check (userId: string, loginId: string | undefined, now = Date.now()): Standing | Promise<Standing> {
    // A login from before the registry was on has no record to stand on.
    if (loginId === undefined) return 'revoked'
    const cache = this.#cache
    const cached = cache?.get(loginId)
    if (cached !== undefined && cached.userId === userId) {
      if (now - cached.lastSeenAt < TOUCH_INTERVAL) return true
      // Parallel requests of this login do not touch it again meanwhile.
      cached.lastSeenAt = now
      return this.#touch(userId, this.storeId(userId), loginId, now, cache!.mark())
    }
    return this.#lookup(userId, loginId, now)
  }

  async #lookup (userId: string, loginId: string, now: number): Promise<Standing> {
    const storeId = this.storeId(userId)
    const mark = this.#cache?.mark() ?? 0
    const found = await guarded(() => this.store.getLogin(storeId, loginId))
    if (found.status === 'ended') return found.reason
    // Expired unseen: the registry's own idle end.
    if (found.status === 'missing' || found.login.userId !== storeId) return 'idle'
    const lastSeenAt = found.login.lastSeenAt
    if (now - lastSeenAt >= TOUCH_INTERVAL) return await this.#touch(userId, storeId, loginId, now, mark)
    this.#cache?.put(loginId, { userId, lastSeenAt }, mark)
    return true
  }

  /**
   * Records the visit. A touch that found the login standing is as good as a read:
   * the cache keeps it (again), unless an invalidation came in since `mark`.
   */
  async #touch (userId: string, storeId: string, loginId: string, now: number, mark: number): Promise<Standing> {
    // The store keeps a remembered login at least as long as its series.
    if (await guarded(() => this.store.touchLogin(storeId, loginId, now, this.#unseen))) {
      this.#cache?.put(loginId, { userId, lastSeenAt: now }, mark)
      return true
    }
    this.#cache?.drop([loginId])
    const found = await guarded(() => this.store.getLogin(storeId, loginId))
    return found.status === 'ended' ? found.reason : 'idle'
  }

  async list (userId: string, options: ListLoginsOptions): Promise<LoginInfo[] | EndedLoginInfo[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT
    const storeId = this.storeId(userId)
    const logins: Array<LoginRecord | EndedLogin> = await guarded(() => this.store.listLogins(storeId, { limit, ended: options.ended === true }))
    return logins.map((login) => {
      const { series, ...info } = login
      // Both ids as the app knows them, never the store's (`<key>:<id>`).
      if (info.impersonatorId !== undefined) info.impersonatorId = this.userOf({ userId: info.impersonatorId }) ?? undefined
      return { ...info, userId }
    })
  }

  /** Ends these logins of the user, and reports each end. Resolves how many stood until now. */
  async end (request: FastifyRequest | null, userId: string, loginIds: readonly string[], reason: LoginEndReason): Promise<number> {
    if (loginIds.length === 0) return 0
    const ended = await guarded(() => this.store.endLogins(this.storeId(userId), loginIds, this.#endOptions(reason)))
    this.#cache?.drop(loginIds)
    this.#ended(request, ended, reason)
    return ended.length
  }

  /**
   * Ends one login of the user. Resolves the reason it ended with, and whether that
   * end was reported: now, or earlier by whoever ended it first (revoked on another
   * instance, then found timed out here). A login that expired unseen was not.
   */
  async endOne (request: FastifyRequest | null, userId: string, loginId: string, reason: LoginEndReason): Promise<{ reason: LoginEndReason, reported: boolean }> {
    if (await this.end(request, userId, [loginId], reason) > 0) return { reason, reported: true }
    const found = await guarded(() => this.store.getLogin(this.storeId(userId), loginId))
    return found.status === 'ended' ? { reason: found.reason, reported: true } : { reason, reported: false }
  }

  /**
   * Ends every login of the user but `except`, a batch per store call. A login made
   * meanwhile (another instance's login) is caught by the next batch.
   */
  async endAll (request: FastifyRequest | null, userId: string, except: string | null, reason: LoginEndReason): Promise<number> {
    let count = 0
    for (;;) {
      const ended = await guarded(() => this.store.endLogins(this.storeId(userId), { all: true, except, limit: END_BATCH }, this.#endOptions(reason)))
      this.#cache?.drop(ended.map((login) => login.id))
      this.#ended(request, ended, reason)
      count += ended.length
      if (ended.length < END_BATCH) return count
    }
  }

  #endOptions (reason: LoginEndReason) {
    return { reason, now: Date.now(), keepEndedFor: this.#options.keepEndedFor }
  }

  #ended (request: FastifyRequest | null, logins: readonly LoginRecord[], reason: LoginEndReason): void {
    for (const login of logins) {
      const userId = this.userOf(login)
      if (userId !== null) this.#report.ended(request, { userId, loginId: login.id, reason })
    }
  }
}
