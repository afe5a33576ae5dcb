import { checkLogin, checkMs, checkSeries, oldestFirst } from './records'
import type { LoginRecord, LoginStore, RememberSeries, RotateResult, Rotation } from './types'

/** Entries each write examines for expiry: more than a write adds, so the sweep outruns any churn. */
const SWEEP = 4

interface StoredLogin {
  record: LoginRecord
  expiresAt: number
}

/**
 * Examines up to SWEEP entries of `map` per call and removes the expired ones,
 * resuming where the last call stopped: a Map iterator survives deletions and
 * reaches entries added after it was made, so every entry is visited in turn.
 */
function createSweeper<V> (
  map: Map<string, V>,
  expired: (value: V, now: number) => boolean,
  remove: (key: string, value: V) => void
): (now: number) => void {
  let cursor = map.entries()
  return (now) => {
    for (let i = 0; i < SWEEP; i++) {
      const next = cursor.next()
      if (next.done === true) {
        cursor = map.entries()
        return
      }
      const [key, value] = next.value
      if (expired(value, now)) remove(key, value)
    }
  }
}

/**
 * The login registry in this process's memory: for one instance (tests, small
 * apps). Expired entries are never returned; they are purged when met and by a
 * small sweep on every write, so memory stays bounded with no timer to keep the
 * process alive or to close. Records go in and come out as copies.
 */
export class MemoryLoginStore implements LoginStore {
  private readonly logins = new Map<string, StoredLogin>()
  /** User id to the ids of the user's logins. */
  private readonly users = new Map<string, Set<string>>()
  private readonly series = new Map<string, RememberSeries>()
  private readonly sweepLogins = createSweeper(this.logins,
    (login, now) => login.expiresAt <= now, (id, login) => this.removeLogin(id, login))

  private readonly sweepSeries = createSweeper(this.series,
    (series, now) => series.expiresAt <= now, (selector) => this.series.delete(selector))

  async createLogin (login: LoginRecord, ttl: number, series?: RememberSeries): Promise<void> {
    checkMs(ttl, 'ttl')
    const record = checkLogin(login)
    const backing = series === undefined ? undefined : checkSeries(series)
    const now = this.sweep()
    this.addLogin(record, now + ttl)
    if (backing !== undefined) this.series.set(backing.selector, backing)
  }

  async getLogin (loginId: string): Promise<LoginRecord | null> {
    const login = this.liveLogin(loginId, Date.now())
    return login === undefined ? null : { ...login.record }
  }

  async touchLogin (loginId: string, lastSeenAt: number, ttl: number): Promise<void> {
    checkMs(lastSeenAt, 'lastSeenAt')
    checkMs(ttl, 'ttl')
    const now = this.sweep()
    const login = this.liveLogin(loginId, now)
    if (login === undefined) return
    login.record.lastSeenAt = lastSeenAt
    login.expiresAt = now + ttl
  }

  async listLogins (userId: string): Promise<LoginRecord[]> {
    const now = Date.now()
    const logins: LoginRecord[] = []
    for (const id of this.users.get(userId) ?? []) {
      const login = this.liveLogin(id, now)
      if (login !== undefined) logins.push({ ...login.record })
    }
    return logins.sort(oldestFirst)
  }

  async deleteLogins (userId: string, loginIds: readonly string[]): Promise<void> {
    const now = this.sweep()
    for (const id of loginIds) {
      const login = this.liveLogin(id, now)
      // Only the user's own: an id from a form must not reach another user's login.
      if (login === undefined || login.record.userId !== userId) continue
      this.removeLogin(id, login)
      if (login.record.series !== undefined) this.series.delete(login.record.series)
    }
  }

  async getSeries (selector: string): Promise<RememberSeries | null> {
    const series = this.liveSeries(selector, Date.now())
    return series === undefined ? null : { ...series }
  }

  async rotateSeries (selector: string, rotation: Rotation): Promise<RotateResult> {
    checkMs(rotation.loginTtl, 'rotation.loginTtl')
    checkMs(rotation.now, 'rotation.now')
    checkMs(rotation.graceMs, 'rotation.graceMs', 0)
    const login = checkLogin(rotation.login, 'rotation.login')
    const now = this.sweep()
    const series = this.liveSeries(selector, now)
    if (series === undefined) return { status: 'unknown' }

    if (rotation.presentedHash === series.validatorHash) {
      this.dropLogin(series.loginId)
      const rotated: RememberSeries = {
        ...series,
        loginId: login.id,
        validatorHash: rotation.validatorHash,
        previousHash: series.validatorHash,
        rotatedAt: rotation.now
      }
      this.series.set(selector, rotated)
      this.addLogin(login, now + rotation.loginTtl)
      return { status: 'rotated', series: { ...rotated } }
    }
    if (rotation.presentedHash === series.previousHash && rotation.now - series.rotatedAt <= rotation.graceMs) {
      return { status: 'grace', series: { ...series } }
    }
    this.series.delete(selector)
    this.dropLogin(series.loginId)
    return { status: 'theft', series: { ...series } }
  }

  async extendSeries (selector: string, expiresAt: number): Promise<void> {
    checkMs(expiresAt, 'expiresAt')
    const now = this.sweep()
    const series = this.liveSeries(selector, now)
    if (series === undefined) return
    series.expiresAt = expiresAt
    // The login lives at least as long as its series, so revoking the user's logins reaches the series.
    const login = this.liveLogin(series.loginId, now)
    if (login !== undefined && login.expiresAt < expiresAt) login.expiresAt = expiresAt
  }

  /** Called by every write: purges a few expired entries. Returns the time. */
  private sweep (): number {
    const now = Date.now()
    this.sweepLogins(now)
    this.sweepSeries(now)
    return now
  }

  /** The login unless it expired (then it is purged). */
  private liveLogin (id: string, now: number): StoredLogin | undefined {
    const login = this.logins.get(id)
    if (login === undefined || login.expiresAt > now) return login
    this.removeLogin(id, login)
    return undefined
  }

  private liveSeries (selector: string, now: number): RememberSeries | undefined {
    const series = this.series.get(selector)
    if (series === undefined || series.expiresAt > now) return series
    this.series.delete(selector)
    return undefined
  }

  private addLogin (record: LoginRecord, expiresAt: number): void {
    this.dropLogin(record.id)
    this.logins.set(record.id, { record, expiresAt })
    let ids = this.users.get(record.userId)
    if (ids === undefined) {
      ids = new Set()
      this.users.set(record.userId, ids)
    }
    ids.add(record.id)
  }

  private dropLogin (id: string): void {
    const login = this.logins.get(id)
    if (login !== undefined) this.removeLogin(id, login)
  }

  private removeLogin (id: string, login: StoredLogin): void {
    this.logins.delete(id)
    const userId = login.record.userId
    const ids = this.users.get(userId) as Set<string>
    ids.delete(id)
    if (ids.size === 0) this.users.delete(userId)
  }
}
