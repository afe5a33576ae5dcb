import { MAX_ENDED } from './records'

/*
 * The two Map mechanics the memory store's bounds rest on: a cap on how many ended
 * logins a user keeps, and a sweep that finds expired entries a few at a time.
 */

/** Users (and series) each write examines for expiry: more than a write adds, so the sweep outruns any churn. */
const SWEEP = 4

/** Drops the first entries of `map` by `order` until it holds at most MAX_ENDED. */
export function cap<V> (map: Map<string, V>, order: (a: [string, V], b: [string, V]) => number): void {
  while (map.size > MAX_ENDED) {
    let first: [string, V] | undefined
    for (const entry of map) if (first === undefined || order(entry, first) < 0) first = entry
    map.delete(first![0])
  }
}

/**
 * Examines up to SWEEP entries of `map` per call and lets `visit` drop what expired,
 * resuming where the last call stopped: a Map iterator survives deletions and reaches
 * entries added after it was made, so every entry is visited in turn.
 */
export function createSweeper<V> (map: Map<string, V>, visit: (key: string, value: V, now: number) => void): (now: number) => void {
  let cursor = map.entries()
  return (now) => {
    for (let i = 0; i < SWEEP; i++) {
      const next = cursor.next()
      if (next.done === true) {
        cursor = map.entries()
        return
      }
      visit(next.value[0], next.value[1], now)
    }
  }
}
