import { LruMap } from 'toad-cache'
import type { StoreWatcher } from './stores/types'

/**
 * The registry's hot path: the logins this instance has seen stand, so that a
 * logged-in request costs no store round trip. It is trusted only while the store's
 * invalidation link is up (`watch`): every end of a login, on any instance, removes
 * it here; when invalidations may be missed (`down`), nothing is trusted and every
 * request reads the store again, until the link is confirmed (`up`) and the cache
 * starts empty. No entry is trusted longer than MAX_AGE after the store last said
 * its login stands (a read, or the touch that records a visit once a minute),
 * whatever the link says.
 *
 * A read that was under way while an invalidation arrived is not cached: the login
 * it found may be the one that just ended.
 */

/** Logins kept (least recently used go first): the logins active on this instance at once. */
const SIZE = 50_000
/**
 * No entry is trusted longer than this, even with the link up. Longer than the
 * registry's touch interval (a minute): the touch of an active login, which finds
 * it standing, renews its entry before it ages out, so such a login costs the store
 * one command a minute instead of a touch and a read.
 */
const MAX_AGE = 90_000

export interface CachedLogin {
  /** The app's user id of the login: checked against the session's. */
  userId: string
  /** The `lastSeenAt` the store holds, as last written: the touch once a minute goes by it. */
  lastSeenAt: number
}

export class LoginCache {
  readonly #entries = new LruMap<CachedLogin>(SIZE, MAX_AGE)
  #live = false
  /** Counts invalidations: a read that saw it change while under way does not cache. */
  #generation = 0

  readonly watcher: StoreWatcher = {
    ended: (loginIds) => {
      this.#generation++
      for (const id of loginIds) this.#entries.delete(id)
    },
    down: () => {
      this.#generation++
      this.#live = false
      this.#entries.clear()
    },
    up: () => {
      this.#generation++
      this.#entries.clear()
      this.#live = true
    }
  }

  /** The standing login, when the link is up and it was seen; else undefined (read the store). */
  get (loginId: string): CachedLogin | undefined {
    return this.#live ? this.#entries.get(loginId) : undefined
  }

  /** A mark to pass to `put`, taken before reading the store. */
  mark (): number {
    return this.#generation
  }

  /** Keeps a login read from the store at `mark`, unless an invalidation came in since. */
  put (loginId: string, login: CachedLogin, mark: number): void {
    if (this.#live && mark === this.#generation) this.#entries.set(loginId, login)
  }

  drop (loginIds: readonly string[]): void {
    this.watcher.ended(loginIds)
  }
}
