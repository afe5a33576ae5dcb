/**
 * The login registry's storage, 0.3. Two implementations ship (memory, Redis);
 * any other (SQL, DynamoDB) implements this interface. Every method may be called
 * concurrently from several processes sharing the store, so each one must be
 * atomic on its own. All times are ms since the epoch; nothing lives forever.
 *
 * User ids here are the registry's store ids (`<key>:<app id>`), always well-formed
 * strings. A user's logins, series and ended records share one Redis Cluster hash
 * slot: the slot tag is `userTag(userId)` (records.ts), and a series' selector
 * starts with its user's tag, so a series is found from the cookie alone.
 *
 * Bounds (records.ts): `endLogins` ends at most END_BATCH logins per script, a
 * user keeps at most MAX_ENDED ended records, and eviction ends at most END_BATCH
 * logins per `createLogin`, so no call holds Redis for long at 1,000 logins a user.
 */

export type LoginMethod = 'credentials' | 'remember' | 'test' | 'impersonation'

/** Why a login ended. */
export type LoginEndReason = 'logout' | 'revoked' | 'evicted' | 'theft' | 'idle' | 'absolute' | 'authVersion' | 'protection'

export interface LoginRecord {
  /** Random, base64url; stable for its device: a remember restore of its series keeps it. */
  id: string
  userId: string
  createdAt: number
  /** Updated at most once a minute by the plugin (touchLogin, updateSeries). */
  lastSeenAt: number
  ip: string
  userAgent: string
  /** describeDevice(request)'s label at login, when the app gives one. */
  device?: string
  method: LoginMethod
  remembered: boolean
  /** Set for method 'impersonation': the staff user's store id. */
  impersonatorId?: string
  /** Selector of the remember series backing this login. Never shown to the app. */
  series?: string
}

/** A login that ended, kept for `keepEndedFor` (the login history). */
export interface EndedLogin extends LoginRecord {
  endedAt: number
  endReason: LoginEndReason
}

export interface RememberSeries {
  /** `userTag(userId)` + 22 random base64url characters. */
  selector: string
  userId: string
  /** The login this series backs: the same for the whole life of the series. */
  loginId: string
  validatorHash: string
  /** Hash of the validator before the last rotation; null before the first. */
  previousHash: string | null
  rotatedAt: number
  expiresAt: number
  lifetime: number
  version: string
  /** Hash of a validator already used once without rotating (a WebSocket restore); null otherwise. */
  spentHash: string | null
}

export interface CreateOptions {
  /** The login expires `ttl` ms from now unless touched; never before its series (the store sees to it). */
  ttl: number
  series?: RememberSeries
  /** At most this many standing logins per user (counting the new one). */
  maxPerUser: number
  /**
   * At the cap: end the least recently seen login(s) ('evicted'), or refuse the new one.
   * Eviction ends at most END_BATCH per call: after `maxPerUser` was lowered, a user
   * above the new cap comes down to it over the next logins.
   */
  onLimit: 'evict-oldest' | 'reject'
  now: number
  /** Ended logins (the evicted ones) stay listable this long; 0: none kept. */
  keepEndedFor: number
}

export type CreateResult =
  | { status: 'created', evicted: LoginRecord[] }
  | { status: 'limit' }

export type LoginLookup =
  | { status: 'live', login: LoginRecord }
  /** Ended by endLogins (or theft, eviction) and its reason still known. */
  | { status: 'ended', reason: LoginEndReason }
  /** Never existed, or expired (no end recorded). */
  | { status: 'missing' }

export interface EndOptions {
  reason: LoginEndReason
  now: number
  keepEndedFor: number
}

/** A compare-and-set on a series: applied only when its validatorHash is still `expectHash`. */
export interface SeriesUpdate {
  expectHash: string
  validatorHash: string
  previousHash: string | null
  rotatedAt: number
  spentHash: string | null
  /** Also touch the series' login: lastSeenAt = now, and a TTL of at least `loginTtl`. */
  now: number
  loginTtl: number
}

export type SeriesUpdateResult = 'ok' | 'changed' | 'unknown'

/** What a store tells the registry's hot-path cache. */
export interface StoreWatcher {
  /** These logins ended (on any instance): drop them from the cache. */
  ended (loginIds: readonly string[]): void
  /** Invalidations may have been missed (link down): stop trusting the cache. */
  down (): void
  /** The link is back and confirmed: start with an empty cache. */
  up (): void
}

export type EndWhich = readonly string[] | { all: true, except: string | null, limit: number }

export interface LoginStore {
  /**
   * Saves the login (and its series, atomically). Throws when its id or its series'
   * selector is already in use, live or ended: ids are random and never reused.
   */
  createLogin (login: LoginRecord, options: CreateOptions): Promise<CreateResult>
  getLogin (userId: string, loginId: string): Promise<LoginLookup>
  /**
   * lastSeenAt (it only moves forward) and a new TTL from now, never shorter than
   * the login's series; false when the login is gone.
   */
  touchLogin (userId: string, loginId: string, lastSeenAt: number, ttl: number): Promise<boolean>
  /** Most recently seen first (ties: greater id first), at most `limit`. */
  listLogins (userId: string, options: { limit: number, ended: false }): Promise<LoginRecord[]>
  /** The ended ones kept as history, most recently ended first (ties: greater id first), at most `limit`. */
  listLogins (userId: string, options: { limit: number, ended: true }): Promise<EndedLogin[]>
  listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]>
  /**
   * Ends these logins of the user (an id of another user's login is ignored), with
   * their series; `except` (for 'all') keeps one. Resolves the logins it ended.
   * Bounded: with 'all' it ends at most min(`limit`, END_BATCH) per call, least
   * recently seen first; the caller loops until it resolves none. A list of ids is
   * ended END_BATCH at a time, each batch atomic.
   */
  endLogins (userId: string, which: EndWhich, options: EndOptions): Promise<LoginRecord[]>
  getSeries (selector: string): Promise<RememberSeries | null>
  /**
   * The compare-and-set. `userId` is the series' user as `getSeries` gave it: the
   * user's keys are named from it (one Cluster slot), and another user's id finds
   * nothing ('unknown').
   */
  updateSeries (userId: string, selector: string, update: SeriesUpdate): Promise<SeriesUpdateResult>
  /** Moves the series' expiry (refresh); its login lives at least that long. `userId` as for updateSeries. */
  extendSeries (userId: string, selector: string, expiresAt: number): Promise<void>
  /**
   * Optional: invalidations for a cache of standing logins. Without it, the registry
   * reads the store on every logged-in request. Resolves a function that stops watching.
   * The watcher starts down: nothing may be cached before its first `up()`.
   */
  watch? (watcher: StoreWatcher): Promise<() => Promise<void>>
  /** Optional: warnings about the deployment (durability), logged at start-up. */
  inspect? (): Promise<string[]>
  /** Optional: closes what the store opened itself (never the app's own client). */
  close? (): Promise<void>
}
