import {
  END_BATCH, MAX_ENDED, TAG_LENGTH, checkCreateOptions, checkEndOptions, checkLimit, checkLogin, checkMs, checkSeries,
  checkUpdate, checkUserId, checkWhich, isLoginId, isSelector, userTag
} from './records'
import { RedisLink, isCluster, type RedisClientLike, type RedisClusterLike } from './redis-client'
import { DurableWriter } from './redis-durable'
import { inspectDurability } from './redis-inspect'
import { endedLoginsOf, list, loginOf, loginsOf, reasonOf, seriesOf, text } from './redis-replies'
import { listEntries } from './redis-list'
import { CREATE, END, EXTEND, GET, GET_SERIES, TOUCH, UPDATE, type Script } from './redis-scripts'
import { watchEnds, type Heartbeat } from './redis-watch'
import type {
  CreateOptions, CreateResult, EndedLogin, EndOptions, EndWhich, LoginLookup, LoginRecord, LoginStore, SeriesUpdate,
  SeriesUpdateResult, StoreWatcher, RememberSeries
} from './types'

export type { RedisClientLike, RedisClusterLike } from './redis-client'

export interface RedisLoginStoreOptions {
  /** The app's connected node-redis 5 or 6 client: `createClient()` or `createCluster()`, Redis 6.2 or later. */
  client: RedisClientLike | RedisClusterLike
  /** Put before every key and the channel. Default `'fastify-login:'`; no `{` or `}` (the keys carry their own slot tag). */
  prefix?: string
  /** Replicas that must have each write that ends, rotates or extends a login before it succeeds. Default 0. */
  replicas?: number
  /** How long such a write waits for them (ms), then fails closed. Default 500. */
  replicaTimeout?: number
  /**
   * Advanced: the invalidation link's heartbeat period (ms), one PUBLISH per instance each period. Default 500.
   * With `heartbeatTimeout` it bounds how long a link that failed silently (a partition, a hung server) goes
   * unnoticed, serving ended logins from the cache: at most `heartbeatTimeout + heartbeatInterval`.
   */
  heartbeatInterval?: number
  /** Advanced: the link counts as down when no heartbeat came back for this long (ms); more than `heartbeatInterval`. Default 1,500. */
  heartbeatTimeout?: number
}

const USER_KEYS = ['logins', 'seen', 'expiry', 'ended', 'ended-expiry', 'history', 'history-order', 'history-expiry']

function check (condition: boolean, message: string): void {
  if (!condition) throw new TypeError(`RedisLoginStore: ${message}`)
}

/**
 * The login registry in Redis, shared by every instance of the app; on one server
 * or on Redis Cluster. A user's keys share one slot (`{userTag(userId)}`), and
 * every write is one Lua script touching only the keys it declares (layout:
 * redis-lua.ts). Every key has a TTL. Reads never go to a replica: they must see
 * the last end. With `replicas`, the writes that end, rotate or extend a login (and
 * `createLogin`, which may evict) run on a connection of their own, and those that
 * did WAIT there.
 */
export class RedisLoginStore implements LoginStore {
  readonly #link: RedisLink
  readonly #prefix: string
  readonly #channel: string
  readonly #replicas: number
  /** With `replicas`, the writes that WAIT (redis-durable.ts). */
  readonly #durable: DurableWriter | undefined
  readonly #heartbeat: Heartbeat

  constructor (options: RedisLoginStoreOptions) {
    const {
      client, prefix = 'fastify-login:', replicas = 0, replicaTimeout = 500,
      heartbeatInterval = 500, heartbeatTimeout = 1500
    } = options ?? {}
    check(typeof client?.sendCommand === 'function' && typeof client.duplicate === 'function',
      'the client option must be a node-redis 5 or 6 client (createClient or createCluster)')
    check(typeof prefix === 'string' && !/[{}]/.test(prefix),
      'the prefix option must be a string without { or }: each key carries its own {slot tag}, and a brace in the prefix would put every key in one slot')
    check(Number.isSafeInteger(replicas) && replicas >= 0, `the replicas option must be an integer >= 0, got ${String(replicas)}`)
    check(Number.isSafeInteger(replicaTimeout) && replicaTimeout >= 1 && replicaTimeout <= 60_000,
      `the replicaTimeout option must be an integer of ms from 1 to 60000, got ${String(replicaTimeout)}`)
    check(Number.isSafeInteger(heartbeatInterval) && heartbeatInterval >= 10,
      `the heartbeatInterval option must be an integer of ms >= 10, got ${String(heartbeatInterval)}`)
    check(Number.isSafeInteger(heartbeatTimeout) && heartbeatTimeout > heartbeatInterval,
      `the heartbeatTimeout option must be an integer of ms > heartbeatInterval, got ${String(heartbeatTimeout)}`)
    this.#link = new RedisLink(client)
    this.#prefix = prefix
    this.#channel = `${prefix}ended`
    this.#replicas = replicas
    this.#durable = replicas > 0 ? new DurableWriter(client, replicas, replicaTimeout) : undefined
    this.#heartbeat = { interval: heartbeatInterval, timeout: heartbeatTimeout }
  }

  /** True when the client is a Redis Cluster client. */
  /** @internal Whether the client is a Cluster client. */
  get cluster (): boolean {
    return isCluster(this.#link.client)
  }

  async createLogin (login: LoginRecord, options: CreateOptions): Promise<CreateResult> {
    const record = checkLogin(login)
    checkCreateOptions(options)
    const series = options.series === undefined ? undefined : checkSeries(options.series, record)
    const { lastSeenAt, ...stored } = record
    const args = [this.#channel, record.id, JSON.stringify(stored), String(lastSeenAt), String(options.ttl),
      String(options.maxPerUser), options.onLimit, String(options.now), String(options.keepEndedFor),
      String(MAX_ENDED), String(END_BATCH)]
    if (series !== undefined) args.push(series.selector, JSON.stringify(series), String(series.expiresAt))
    // An eviction ends logins, so it waits for the replicas; a login that ends none need not.
    const evicts = (reply: unknown): boolean => Array.isArray(reply) && reply.length > 1
    const reply = list(await this.#write(CREATE, this.#keys(record.userId), args, evicts), 'createLogin')
    const status = text(reply[0])
    if (status === 'limit') return { status }
    if (status !== 'created') throw new Error('RedisLoginStore: unexpected reply to createLogin')
    return { status, evicted: loginsOf(reply.slice(1), 'createLogin', record.userId) }
  }

  async getLogin (userId: string, loginId: string): Promise<LoginLookup> {
    checkUserId(userId)
    if (!isLoginId(loginId)) return { status: 'missing' }
    const [status, raw, seen] = list(await this.#link.run(GET, this.#keys(userId), [loginId]), 'getLogin')
    if (text(status) === 'live') {
      const login = loginOf(raw, seen)
      if (login !== null && login.id === loginId && login.userId === userId) return { status: 'live', login }
    } else if (text(status) === 'ended') {
      const reason = reasonOf(raw)
      if (reason !== null) return { status: 'ended', reason }
    }
    return { status: 'missing' }
  }

  async touchLogin (userId: string, loginId: string, lastSeenAt: number, ttl: number): Promise<boolean> {
    checkUserId(userId)
    checkMs(lastSeenAt, 'lastSeenAt')
    checkMs(ttl, 'ttl')
    if (!isLoginId(loginId)) return false
    return Number(await this.#link.run(TOUCH, this.#keys(userId), [loginId, String(lastSeenAt), String(ttl)])) === 1
  }

  listLogins (userId: string, options: { limit: number, ended: false }): Promise<LoginRecord[]>
  listLogins (userId: string, options: { limit: number, ended: true }): Promise<EndedLogin[]>
  listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]>
  async listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]> {
    checkUserId(userId)
    checkLimit(options)
    const key = (kind: string): string => this.#userKey(userId, kind)
    if (options.ended) {
      return endedLoginsOf(await listEntries(this.#link, key('history-order'), key('history-expiry'), key('history'), options.limit), userId)
    }
    return loginsOf(await listEntries(this.#link, key('seen'), key('expiry'), key('logins'), options.limit), 'listLogins', userId)
  }

  async endLogins (userId: string, which: EndWhich, options: EndOptions): Promise<LoginRecord[]> {
    checkUserId(userId)
    const chosen = checkWhich(which)
    checkEndOptions(options)
    const head = [this.#channel, options.reason, String(options.now), String(options.keepEndedFor), String(MAX_ENDED)]
    const end = async (tail: string[]): Promise<LoginRecord[]> =>
      loginsOf(await this.#write(END, this.#keys(userId), [...head, ...tail]), 'endLogins', userId)
    if (!('ids' in chosen)) return await end(['all', String(chosen.limit), chosen.except ?? ''])
    const ended: LoginRecord[] = []
    for (let i = 0; i < chosen.ids.length; i += END_BATCH) ended.push(...await end(['ids', ...chosen.ids.slice(i, i + END_BATCH)]))
    return ended
  }

  async getSeries (selector: string): Promise<RememberSeries | null> {
    if (!isSelector(selector)) return null
    const base = this.#base(selector.slice(0, TAG_LENGTH))
    return seriesOf(await this.#link.run(GET_SERIES, [`${base}series`, `${base}series-expiry`], [selector]), selector)
  }

  async updateSeries (userId: string, selector: string, update: SeriesUpdate): Promise<SeriesUpdateResult> {
    checkUserId(userId)
    checkUpdate(update)
    if (!this.#ownSeries(userId, selector)) return 'unknown'
    const reply = text(await this.#write(UPDATE, this.#keys(userId), [
      selector, userId, update.expectHash, update.validatorHash, update.previousHash ?? '', String(update.rotatedAt),
      update.spentHash ?? '', String(update.now), String(update.loginTtl)
    ]))
    if (reply !== 'ok' && reply !== 'changed' && reply !== 'unknown') throw new Error('RedisLoginStore: unexpected reply to updateSeries')
    return reply
  }

  async extendSeries (userId: string, selector: string, expiresAt: number): Promise<void> {
    checkUserId(userId)
    checkMs(expiresAt, 'expiresAt')
    if (!this.#ownSeries(userId, selector)) return
    await this.#write(EXTEND, this.#keys(userId), [selector, userId, String(expiresAt)])
  }

  /** See redis-watch.ts: pub/sub on a duplicated connection, trusted only while its heartbeat comes back. */
  watch (watcher: StoreWatcher): Promise<() => Promise<void>> {
    return watchEnds(this.#link, this.#channel, this.#heartbeat, watcher)
  }

  /** Warnings about replication and persistence, each naming how a revocation could be lost. */
  inspect (): Promise<string[]> {
    return inspectDurability(this.#link.nodes(), this.#replicas)
  }

  /** Closes the connection of the waiting writes, if one was opened (the app's client stays the app's). */
  async close (): Promise<void> {
    await this.#durable?.close()
  }

  #base (tag: string): string {
    return `${this.#prefix}{${tag}}:`
  }

  /** A key of the user's (redis-lua.ts). The user id ends it: no two users share one. */
  #userKey (userId: string, kind: string): string {
    return `${this.#base(userTag(userId))}${kind}:${userId}`
  }

  /** The user's ten keys, in the scripts' order: eight of the user's, two of its tag's series. */
  #keys (userId: string): string[] {
    const base = this.#base(userTag(userId))
    return USER_KEYS.map((kind) => `${base}${kind}:${userId}`).concat(`${base}series`, `${base}series-expiry`)
  }

  /** A selector of this user's could exist: well-formed and in the user's slot. */
  #ownSeries (userId: string, selector: string): boolean {
    return isSelector(selector) && selector.slice(0, TAG_LENGTH) === userTag(userId)
  }

  /** A write that ends, rotates or extends a login (or may evict): with `replicas`, confirmed by WAIT. */
  #write (script: Script, keys: string[], args: string[], confirm?: (reply: unknown) => boolean): Promise<unknown> {
    return this.#durable !== undefined ? this.#durable.run(script, keys, args, confirm) : this.#link.run(script, keys, args)
  }
}
