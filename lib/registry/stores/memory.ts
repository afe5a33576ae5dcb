import { cap, createSweeper } from './memory-maps'
import {
  END_BATCH, checkCreateOptions, checkEndOptions, checkLimit, checkLogin, checkMs, checkSeries, checkUpdate,
  checkUserId, checkWhich, isLoginId, isSelector, leastRecentlySeen, mostRecentlyEnded, mostRecentlySeen
} from './records'
import type {
  CreateOptions, CreateResult, EndedLogin, EndOptions, LoginEndReason, EndWhich, LoginLookup, LoginRecord, LoginStore,
  RememberSeries, SeriesUpdate, SeriesUpdateResult, StoreWatcher
} from './types'

interface Live {
  record: LoginRecord
  expiresAt: number
}

interface User {
  live: Map<string, Live>
  /** Why a login ended, until it would have expired. */
  ended: Map<string, { reason: LoginEndReason, until: number }>
  /** Ended records, for `keepEndedFor`. */
  history: Map<string, { record: EndedLogin, until: number }>
}

/**
 * The login registry in this process's memory: for one instance (tests, small
 * apps). The same contract as the Redis store, on the same clock rules: expired
 * entries are never returned, and are dropped when met and by a small sweep on
 * every write, so memory stays bounded with no timer to keep the process alive.
 * Records go in and come out as copies. `watch` hears every end at once.
 */
export class MemoryLoginStore implements LoginStore {
  readonly #users = new Map<string, User>()
  readonly #series = new Map<string, RememberSeries>()
  readonly #watchers = new Set<StoreWatcher>()
  readonly #sweepUsers = createSweeper(this.#users, (userId, user, now) => {
    this.#trim(user, now)
    if (user.live.size + user.ended.size + user.history.size === 0) this.#users.delete(userId)
  })

  readonly #sweepSeries = createSweeper(this.#series, (selector, series, now) => {
    if (series.expiresAt <= now) this.#series.delete(selector)
  })

  async createLogin (login: LoginRecord, options: CreateOptions): Promise<CreateResult> {
    const record = checkLogin(login)
    checkCreateOptions(options)
    const series = options.series === undefined ? undefined : checkSeries(options.series, record)
    const now = this.#sweep()
    const user = this.#user(record.userId, now)
    if (user.live.has(record.id) || user.ended.has(record.id) || user.history.has(record.id) ||
      this.#liveSeries(series?.selector, now) !== undefined) {
      throw new Error('createLogin: the login id or series selector is already in use')
    }
    const over = user.live.size + 1 - options.maxPerUser
    const evicted: LoginRecord[] = []
    if (over > 0) {
      if (options.onLimit === 'reject') return { status: 'limit' }
      const oldest = [...user.live.values()].map((live) => live.record).sort(leastRecentlySeen).slice(0, Math.min(over, END_BATCH))
      const ending = { reason: 'evicted' as const, now: options.now, keepEndedFor: options.keepEndedFor }
      for (const victim of oldest) evicted.push(this.#end(user, victim.id, ending, now))
    }
    user.live.set(record.id, { record, expiresAt: Math.max(now + options.ttl, series?.expiresAt ?? 0) })
    if (series !== undefined) this.#series.set(series.selector, series)
    this.#notify(evicted)
    return { status: 'created', evicted }
  }

  async getLogin (userId: string, loginId: string): Promise<LoginLookup> {
    checkUserId(userId)
    const now = Date.now()
    const user = this.#users.get(userId)
    const live = user?.live.get(loginId)
    if (live !== undefined && live.expiresAt > now) return { status: 'live', login: { ...live.record } }
    const tombstone = user?.ended.get(loginId)
    if (tombstone !== undefined && tombstone.until > now) return { status: 'ended', reason: tombstone.reason }
    const kept = user?.history.get(loginId)
    if (kept !== undefined && kept.until > now) return { status: 'ended', reason: kept.record.endReason }
    return { status: 'missing' }
  }

  async touchLogin (userId: string, loginId: string, lastSeenAt: number, ttl: number): Promise<boolean> {
    checkUserId(userId)
    checkMs(lastSeenAt, 'lastSeenAt')
    checkMs(ttl, 'ttl')
    const now = this.#sweep()
    const live = this.#user(userId, now).live.get(loginId)
    if (live === undefined) return false
    live.record.lastSeenAt = Math.max(live.record.lastSeenAt, lastSeenAt)
    live.expiresAt = Math.max(now + ttl, this.#liveSeries(live.record.series, now)?.expiresAt ?? 0)
    return true
  }

  listLogins (userId: string, options: { limit: number, ended: false }): Promise<LoginRecord[]>
  listLogins (userId: string, options: { limit: number, ended: true }): Promise<EndedLogin[]>
  listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]>
  async listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]> {
    checkUserId(userId)
    checkLimit(options)
    const now = Date.now()
    const user = this.#users.get(userId)
    if (user === undefined) return []
    if (options.ended) {
      const kept = [...user.history.values()].filter((entry) => entry.until > now)
      return kept.map((entry) => ({ ...entry.record })).sort(mostRecentlyEnded).slice(0, options.limit)
    }
    const live = [...user.live.values()].filter((login) => login.expiresAt > now)
    return live.map((login) => ({ ...login.record })).sort(mostRecentlySeen).slice(0, options.limit)
  }

  async endLogins (userId: string, which: EndWhich, options: EndOptions): Promise<LoginRecord[]> {
    checkUserId(userId)
    const chosen = checkWhich(which)
    checkEndOptions(options)
    const now = this.#sweep()
    const user = this.#user(userId, now)
    const ids = 'ids' in chosen
      ? chosen.ids.filter((id) => user.live.has(id))
      : [...user.live.values()].map((live) => live.record).filter((login) => login.id !== chosen.except)
          .sort(leastRecentlySeen).slice(0, chosen.limit).map((login) => login.id)
    const ended = ids.map((id) => this.#end(user, id, options, now))
    this.#notify(ended)
    return ended
  }

  async getSeries (selector: string): Promise<RememberSeries | null> {
    const series = isSelector(selector) ? this.#liveSeries(selector, Date.now()) : undefined
    return series === undefined ? null : { ...series }
  }

  async updateSeries (userId: string, selector: string, update: SeriesUpdate): Promise<SeriesUpdateResult> {
    checkUserId(userId)
    checkUpdate(update)
    const now = this.#sweep()
    const found = this.#seriesWithLogin(userId, selector, now)
    if (found === undefined) return 'unknown'
    const { series, login } = found
    if (series.validatorHash !== update.expectHash) return 'changed'
    series.validatorHash = update.validatorHash
    series.previousHash = update.previousHash
    series.rotatedAt = update.rotatedAt
    series.spentHash = update.spentHash
    login.record.lastSeenAt = Math.max(login.record.lastSeenAt, update.now)
    login.expiresAt = Math.max(login.expiresAt, now + update.loginTtl, series.expiresAt)
    return 'ok'
  }

  async extendSeries (userId: string, selector: string, expiresAt: number): Promise<void> {
    checkUserId(userId)
    checkMs(expiresAt, 'expiresAt')
    const found = this.#seriesWithLogin(userId, selector, this.#sweep())
    if (found === undefined) return
    found.series.expiresAt = expiresAt
    found.login.expiresAt = Math.max(found.login.expiresAt, expiresAt)
  }

  /** Every end reaches `watcher.ended` synchronously; memory is never out of reach, so it is up at once. */
  async watch (watcher: StoreWatcher): Promise<() => Promise<void>> {
    this.#watchers.add(watcher)
    watcher.up()
    return async () => { this.#watchers.delete(watcher) }
  }

  /** The user's entries, what expired dropped (made when missing; the sweep drops it again when empty). */
  #user (userId: string, now: number): User {
    let user = this.#users.get(userId)
    if (user === undefined) {
      user = { live: new Map(), ended: new Map(), history: new Map() }
      this.#users.set(userId, user)
    }
    this.#trim(user, now)
    return user
  }

  #trim (user: User, now: number): void {
    for (const [id, live] of user.live) if (live.expiresAt <= now) user.live.delete(id)
    for (const [id, tombstone] of user.ended) if (tombstone.until <= now) user.ended.delete(id)
    for (const [id, kept] of user.history) if (kept.until <= now) user.history.delete(id)
  }

  /** Ends a live login: its series goes, its reason stays until it would have expired, its record as history. */
  #end (user: User, id: string, options: EndOptions, now: number): LoginRecord {
    const live = user.live.get(id)!
    user.live.delete(id)
    const series = live.record.series === undefined ? undefined : this.#series.get(live.record.series)
    if (series?.loginId === id) this.#series.delete(series.selector)
    user.ended.set(id, { reason: options.reason, until: live.expiresAt })
    cap(user.ended, (a, b) => a[1].until - b[1].until || Number(a[0] > b[0]) - Number(a[0] < b[0]))
    if (options.keepEndedFor > 0) {
      const record = { ...live.record, endedAt: options.now, endReason: options.reason }
      user.history.set(id, { record, until: now + options.keepEndedFor })
      cap(user.history, (a, b) => -mostRecentlyEnded(a[1].record, b[1].record))
    }
    return { ...live.record }
  }

  #liveSeries (selector: string | undefined, now: number): RememberSeries | undefined {
    const series = selector === undefined ? undefined : this.#series.get(selector)
    return series !== undefined && series.expiresAt > now ? series : undefined
  }

  /** The user's live series and its login; a series whose login is gone is ended with it. */
  #seriesWithLogin (userId: string, selector: string, now: number): { series: RememberSeries, login: Live } | undefined {
    const series = isSelector(selector) ? this.#liveSeries(selector, now) : undefined
    if (series === undefined || series.userId !== userId) return undefined
    const login = isLoginId(series.loginId) ? this.#user(userId, now).live.get(series.loginId) : undefined
    if (login === undefined) this.#series.delete(selector)
    return login === undefined ? undefined : { series, login }
  }

  #notify (ended: readonly LoginRecord[]): void {
    if (ended.length === 0) return
    const ids = ended.map((login) => login.id)
    for (const watcher of this.#watchers) watcher.ended(ids)
  }

  /** A write's clock, after sweeping a few users and series. */
  #sweep (): number {
    const now = Date.now()
    this.#sweepUsers(now)
    this.#sweepSeries(now)
    return now
  }
}
