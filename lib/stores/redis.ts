import { checkLogin, checkMs, checkSeries, oldestFirst, parseJson, toLogin, toSeries } from './records'
import { CREATE, DELETE, EXTEND, LIST, ROTATE, TOUCH, type Script } from './redis-scripts'
import type { LoginRecord, LoginStore, RememberSeries, RotateResult, Rotation } from './types'

/**
 * What the store uses of a node-redis 5 client (`createClient()` of the `redis`
 * package): only `sendCommand`, so this package depends on no Redis library.
 */
export interface RedisCommandClient {
  sendCommand (args: string[]): Promise<unknown>
}

export interface RedisLoginStoreOptions {
  /**
   * The app's connected node-redis 5 client, on Redis 6.2 or later. Not Redis
   * Cluster: a script also reaches keys named inside the records (a login's
   * series, a series' login), which a cluster would want in one slot.
   */
  client: RedisCommandClient
  /** Put before every key. Default `'fastify-login:'`. */
  prefix?: string
}

const STATUSES = new Set(['rotated', 'grace', 'theft'])

/** A reply as text: node-redis gives strings, or Buffers when the app maps replies to them. */
function text (reply: unknown): string | null {
  if (typeof reply === 'string') return reply
  return Buffer.isBuffer(reply) ? reply.toString('utf8') : null
}

function json (reply: unknown): unknown {
  const value = text(reply)
  return value === null ? undefined : parseJson(value)
}

function list (reply: unknown, command: string): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`RedisLoginStore: unexpected reply to ${command}`)
  return reply
}

function rotateResult (reply: unknown): RotateResult {
  const [status, raw] = list(reply, 'rotateSeries').map(text)
  if (status === 'unknown') return { status }
  const series = toSeries(json(raw))
  if (series === null || !STATUSES.has(status as string)) {
    throw new Error('RedisLoginStore: unexpected reply to rotateSeries')
  }
  return { status: status as 'rotated' | 'grace' | 'theft', series }
}

function isNoScript (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}

/**
 * The login registry in Redis, shared by every instance of the app. Every key
 * has a TTL; every write is one Lua script, atomic; `getLogin`, which runs on
 * every logged-in request, is one GET. Values are JSON, checked when read back:
 * a corrupt one is absent.
 */
export class RedisLoginStore implements LoginStore {
  private readonly client: RedisCommandClient
  private readonly prefix: string

  constructor (options: RedisLoginStoreOptions) {
    const { client, prefix = 'fastify-login:' } = options ?? {}
    if (typeof client?.sendCommand !== 'function') {
      throw new TypeError('RedisLoginStore: the client option must be a node-redis 5 client (with sendCommand)')
    }
    if (typeof prefix !== 'string') throw new TypeError('RedisLoginStore: the prefix option must be a string')
    this.client = client
    this.prefix = prefix
  }

  async createLogin (login: LoginRecord, ttl: number, series?: RememberSeries): Promise<void> {
    checkMs(ttl, 'ttl')
    const record = checkLogin(login)
    const keys = [this.loginKey(record.id), this.userKey(record.userId)]
    const args = [this.prefix, record.id, JSON.stringify(record), String(ttl)]
    if (series !== undefined) {
      const backing = checkSeries(series)
      keys.push(this.seriesKey(backing.selector))
      args.push(JSON.stringify(backing), String(backing.expiresAt))
    }
    await this.run(CREATE, keys, args)
  }

  async getLogin (loginId: string): Promise<LoginRecord | null> {
    const login = toLogin(json(await this.client.sendCommand(['GET', this.loginKey(loginId)])))
    return login !== null && login.id === loginId ? login : null
  }

  async touchLogin (loginId: string, lastSeenAt: number, ttl: number): Promise<void> {
    checkMs(lastSeenAt, 'lastSeenAt')
    checkMs(ttl, 'ttl')
    await this.run(TOUCH, [this.loginKey(loginId)], [this.prefix, loginId, String(lastSeenAt), String(ttl)])
  }

  async listLogins (userId: string): Promise<LoginRecord[]> {
    const reply = await this.run(LIST, [this.userKey(userId)], [this.prefix])
    const logins: LoginRecord[] = []
    for (const raw of list(reply, 'listLogins')) {
      const login = toLogin(json(raw))
      if (login !== null && login.userId === userId) logins.push(login)
    }
    return logins.sort(oldestFirst)
  }

  async deleteLogins (userId: string, loginIds: readonly string[]): Promise<void> {
    if (loginIds.length === 0) return
    const keys = [this.userKey(userId), ...loginIds.map((id) => this.loginKey(id))]
    await this.run(DELETE, keys, [this.prefix, userId, ...loginIds])
  }

  async getSeries (selector: string): Promise<RememberSeries | null> {
    const series = toSeries(json(await this.client.sendCommand(['GET', this.seriesKey(selector)])))
    return series !== null && series.selector === selector ? series : null
  }

  async rotateSeries (selector: string, rotation: Rotation): Promise<RotateResult> {
    checkMs(rotation.loginTtl, 'rotation.loginTtl')
    checkMs(rotation.now, 'rotation.now')
    checkMs(rotation.graceMs, 'rotation.graceMs', 0)
    const login = checkLogin(rotation.login, 'rotation.login')
    const reply = await this.run(ROTATE, [this.seriesKey(selector), this.loginKey(login.id), this.userKey(login.userId)], [
      this.prefix, rotation.presentedHash, rotation.validatorHash, JSON.stringify(login), login.id,
      String(rotation.loginTtl), String(rotation.now), String(rotation.graceMs)
    ])
    return rotateResult(reply)
  }

  async extendSeries (selector: string, expiresAt: number): Promise<void> {
    checkMs(expiresAt, 'expiresAt')
    await this.run(EXTEND, [this.seriesKey(selector)], [this.prefix, String(expiresAt)])
  }

  /**
   * Runs a script by its SHA1; the source is sent only when the server does not
   * have it (first use, restart, SCRIPT FLUSH), and EVAL caches it again.
   */
  private async run (script: Script, keys: string[], args: string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args]
    try {
      return await this.client.sendCommand(['EVALSHA', script.sha, ...tail])
    } catch (err) {
      if (!isNoScript(err)) throw err
      return await this.client.sendCommand(['EVAL', script.source, ...tail])
    }
  }

  private loginKey (id: string): string {
    return `${this.prefix}login:${id}`
  }

  private seriesKey (selector: string): string {
    return `${this.prefix}series:${selector}`
  }

  private userKey (userId: string): string {
    return `${this.prefix}user:${userId}`
  }
}
