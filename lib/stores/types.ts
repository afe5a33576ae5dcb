/**
 * The login registry's storage. Two implementations ship (memory, Redis); any
 * other (SQL, DynamoDB) implements this interface. Every method may be called
 * concurrently from several processes sharing the store, so each one must be
 * atomic on its own: no read-modify-write across calls is assumed.
 *
 * All times are milliseconds since the epoch. Nothing in a store may live
 * forever: every login and every series expires on its own.
 */

/** How a login was made. */
export type LoginMethod = 'credentials' | 'remember' | 'test'

/** One login: a browser (or client) where the user is logged in. */
export interface LoginRecord {
  /** The login id: random, base64url. `request.loginId` of the requests of this login. */
  id: string
  userId: string
  createdAt: number
  /** Updated at most once a minute by the plugin, through `touchLogin`. */
  lastSeenAt: number
  /** `request.ip` at login. */
  ip: string
  /** The User-Agent at login, `''` when there was none. */
  userAgent: string
  method: LoginMethod
  /** True when this login is backed by a remember-me series. */
  remembered: boolean
  /** The selector of the remember-me series that backs this login, if any. Never shown to the app. */
  series?: string
}

/**
 * A remember-me series (one per "remember me" login, for as long as its cookie
 * lives). The cookie carries `selector` and a validator; the store keeps only a
 * hash of the validator, rotated at each restore.
 */
export interface RememberSeries {
  /** Random, base64url: the public half of the cookie and the key of the series. */
  selector: string
  userId: string
  /** The login this series currently backs. */
  loginId: string
  /** Hash (base64url) of the current validator. */
  validatorHash: string
  /** Hash of the validator before the last rotation, accepted for a grace window; `null` before the first. */
  previousHash: string | null
  /** When the validator was last rotated (or the series created). */
  rotatedAt: number
  /** When the series ends: the remember cookie's expiry, enforced here. */
  expiresAt: number
  /** The lifetime the login chose (ms): what `refresh` extends by. */
  lifetime: number
  /** Digest of the user's auth version when the series was made ('' without `authVersion`). */
  version: string
}

/** What `rotateSeries` is asked to do when the presented validator is the current one. */
export interface Rotation {
  /** Hash of the validator the cookie presented. */
  presentedHash: string
  /** Hash of the new validator. */
  validatorHash: string
  /** The new login that replaces the series' current one; created with `loginTtl`. */
  login: LoginRecord
  loginTtl: number
  now: number
  /** How long after a rotation the previous validator is still accepted. */
  graceMs: number
}

export type RotateResult =
  /** The presented validator was current: the series now holds the new hash and backs `rotation.login`; its previous login is deleted. */
  | { status: 'rotated', series: RememberSeries }
  /** The presented validator was the previous one, within `graceMs` of the rotation: nothing changed; `series.loginId` is the login the rotation made. */
  | { status: 'grace', series: RememberSeries }
  /** A known selector with a wrong validator (or the previous one after the grace window): a copied cookie. The series and its login are deleted. */
  | { status: 'theft', series: RememberSeries }
  /** No such series (never made, expired, revoked). */
  | { status: 'unknown' }

export interface LoginStore {
  /**
   * Saves a new login, which expires `ttl` ms from now unless touched, and with it
   * (atomically) the remember series that backs it, when given (`login.series` is
   * then its selector); the series expires at its `expiresAt`.
   */
  createLogin (login: LoginRecord, ttl: number, series?: RememberSeries): Promise<void>
  /** The login, or null when it does not exist or has expired. */
  getLogin (loginId: string): Promise<LoginRecord | null>
  /** Sets `lastSeenAt` and extends the login's life to `ttl` ms from now; nothing when the login is gone. */
  touchLogin (loginId: string, lastSeenAt: number, ttl: number): Promise<void>
  /** The user's logins that still stand, oldest first. Never an expired one. */
  listLogins (userId: string): Promise<LoginRecord[]>
  /** Deletes these logins of the user, and the remember series that back them. Unknown ids are ignored. */
  deleteLogins (userId: string, loginIds: readonly string[]): Promise<void>
  /** The series, or null when it does not exist or has expired. */
  getSeries (selector: string): Promise<RememberSeries | null>
  /** Checks the presented validator and rotates, atomically. See `RotateResult`. */
  rotateSeries (selector: string, rotation: Rotation): Promise<RotateResult>
  /**
   * Moves the series' expiry (remember `refresh`), and makes the login it backs live
   * at least until then; nothing when the series is gone.
   */
  extendSeries (selector: string, expiresAt: number): Promise<void>
}
