import type { RedisLink } from './redis-client'
import { list, text } from './redis-replies'

/**
 * Listing without a script. A script would copy every record through Lua and
 * hold Redis about ten times as long as the commands it runs (2 ms for 1,000
 * logins, against 0.3 ms for the longest command here), and a listing needs no
 * atomicity: a login that ends between the two steps is simply not found. So a
 * page of the index (ZREVRANGE), then its expiries, its records and the server's
 * clock, in one pipeline; what expired is skipped, and the next page read when
 * that left the list short.
 */

/** [member, score] pairs of a WITHSCORES reply: flat in RESP2, pairs in RESP3. */
function pairs (reply: unknown): Array<[string, unknown]> {
  const values = list(reply, 'listLogins')
  const found: Array<[string, unknown]> = []
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    const [member, score] = Array.isArray(value) ? value : [value, values[++i]]
    const id = text(member)
    if (id !== null) found.push([id, score])
  }
  return found
}

/** The server's clock in ms, from TIME. */
function clock (reply: unknown): number {
  const [seconds, micros] = list(reply, 'listLogins').map((part) => Number(text(part) ?? part))
  return (seconds ?? Number.NaN) * 1000 + Math.floor((micros ?? Number.NaN) / 1000)
}

/**
 * Up to `limit` entries of `index` (a sorted set), greatest score first, that have
 * not expired by `expiry` and have a record in `hash`: (id, record, score) triples.
 * Every key is in one slot, so every command goes to one node.
 */
export async function listEntries (link: RedisLink, index: string, expiry: string, hash: string, limit: number): Promise<unknown[]> {
  const found: unknown[] = []
  for (let from = 0; found.length < 3 * limit; from += limit) {
    const page = pairs(await link.send(index, ['ZREVRANGE', index, String(from), String(from + limit - 1), 'WITHSCORES']))
    if (page.length === 0) break
    const ids = page.map(([id]) => id)
    const [time, expiries, records] = await Promise.all([
      link.send(index, ['TIME']),
      link.send(index, ['ZMSCORE', expiry, ...ids]),
      link.send(index, ['HMGET', hash, ...ids])
    ])
    const now = clock(time)
    const ends = list(expiries, 'listLogins')
    const raws = list(records, 'listLogins')
    page.forEach(([id, score], i) => {
      if (Number(text(ends[i]) ?? ends[i]) > now && raws[i] != null && found.length < 3 * limit) found.push(id, raws[i], score)
    })
    if (page.length < limit) break
  }
  return found
}
