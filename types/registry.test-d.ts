// The login registry of 0.3: caps, history, device labels, listing, the Redis
// store's options and clients (node-redis 5 and 6, standalone and Cluster), and
// the interface a store of the app's own implements.
import Fastify, { type FastifyRequest } from 'fastify'
import { createClient, createCluster } from 'redis'
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, {
  LimitError,
  MemoryLoginStore,
  RedisLoginStore,
  type CreateOptions,
  type CreateResult,
  type EndedLogin,
  type EndedLoginInfo,
  type EndOptions,
  type EndWhich,
  type FastifyLoginOptions,
  type ListLoginsOptions,
  type LoginEndReason,
  type LoginInfo,
  type LoginLookup,
  type LoginMethod,
  type LoginRecord,
  type LoginsOptions,
  type LoginStore,
  type RedisClientLike,
  type RedisClusterLike,
  type RedisLoginStoreOptions,
  type RememberSeries,
  type SeriesUpdate,
  type SeriesUpdateResult,
  type StoreWatcher
} from '..'

declare module '..' {
  interface LoginUser {
    id: number
    username: string
  }
}

// logins: caps, what happens at the cap, the history, the device label.
const logins: LoginsOptions = {
  store: new MemoryLoginStore(),
  graceMs: 5000,
  maxPerUser: 10,
  onLimit: 'reject',
  keepEndedFor: 30 * 24 * 3600_000,
  describeDevice: (request) => request.headers['user-agent']?.slice(0, 40)
}
expectAssignable<FastifyLoginOptions>({ loadUser: () => null, logins })
expectAssignable<LoginsOptions>({ onLimit: 'evict-oldest', describeDevice: () => undefined })
expectAssignable<LoginsOptions>({ describeDevice: (request: FastifyRequest) => `${request.ip}` })
expectNotAssignable<LoginsOptions>({ maxPerUser: '10' })
expectNotAssignable<LoginsOptions>({ onLimit: 'evict-newest' })
expectNotAssignable<LoginsOptions>({ onLimit: true })
expectNotAssignable<LoginsOptions>({ keepEndedFor: '30d' })
expectNotAssignable<LoginsOptions>({ describeDevice: 'Firefox' })
expectNotAssignable<LoginsOptions>({ describeDevice: () => ({ browser: 'Firefox' }) })
expectNotAssignable<LoginsOptions>({ describeDevice: async () => 'Firefox' })
expectNotAssignable<LoginsOptions>({ store: {} })
expectError(Fastify().register(fastifyLogin, { loadUser: () => null, logins: { maxPerUser: 10, onLimt: 'reject' } }))
expectError(Fastify().register(fastifyLogin, { loadUser: () => null, logins: { onLimit: 'drop' } }))

expectType<'FST_LOGIN_LIMIT'>(new LimitError().code)
expectType<403>(new LimitError().statusCode)
expectAssignable<Error>(new LimitError())

// Listing: the standing logins, or (ended: true) the history.
const app = Fastify()
const manager = app.loginManager
expectType<Promise<LoginInfo[]>>(manager.listLogins(1))
expectType<Promise<LoginInfo[]>>(manager.listLogins('1', { limit: 20 }))
expectType<Promise<LoginInfo[]>>(manager.listLogins(1, { ended: false, limit: 20 }))
expectType<Promise<EndedLoginInfo[]>>(manager.listLogins(1, { ended: true }))
expectType<Promise<EndedLoginInfo[]>>(manager.listLogins(1, { ended: true, limit: 5 }))
// An option passed through, not known until run time: either list.
declare const listOptions: ListLoginsOptions
expectType<Promise<LoginInfo[] | EndedLoginInfo[]>>(manager.listLogins(1, listOptions))
expectError(manager.listLogins(1, { limit: '20' }))
expectError(manager.listLogins(1, { ended: 'yes' }))
expectError(manager.listLogins(1, { since: 0 }))
expectError(manager.listLogins({ id: 1 }))
manager.listLogins(1, { ended: true }).then(([login]) => {
  if (login === undefined) return
  expectType<number>(login.endedAt)
  expectType<LoginEndReason>(login.endReason)
  expectType<string | undefined>(login.device)
  expectType<string | undefined>(login.impersonatorId)
  expectType<LoginMethod>(login.method)
})
manager.listLogins(1).then(([login]) => {
  if (login === undefined) return
  expectType<string | undefined>(login.device)
  expectType<string | undefined>(login.impersonatorId)
  // Never shown to the app: the remember series behind a login, and (it is a standing login) an end.
  expectError(login.series)
  expectError(login.endedAt)
})
expectAssignable<LoginInfo>({ id: 'a', userId: '1', createdAt: 0, lastSeenAt: 0, ip: '::1', userAgent: 'x', method: 'impersonation', remembered: false, impersonatorId: '2' })

// RedisLoginStore: the app's own node-redis client, 5 or 6, standalone or Cluster.
const client6 = createClient()
const cluster6 = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] })
const client5 = createClient5()
const cluster5 = createCluster5({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] })
expectAssignable<RedisClientLike>(client6)
expectAssignable<RedisClusterLike>(cluster6)
expectAssignable<RedisClientLike>(client5)
expectAssignable<RedisClusterLike>(cluster5)
expectAssignable<LoginStore>(new RedisLoginStore({ client: client6 }))
expectAssignable<LoginStore>(new RedisLoginStore({ client: cluster6, prefix: 'app:' }))
expectAssignable<LoginStore>(new RedisLoginStore({ client: client5 }))
expectAssignable<LoginStore>(new RedisLoginStore({ client: cluster5 }))
// With modules, scripts or RESP3: still the app's own client.
expectAssignable<LoginStore>(new RedisLoginStore({ client: createClient({ RESP: 3 }) }))
const durable: RedisLoginStoreOptions = { client: client6, replicas: 1, replicaTimeout: 250 }
expectAssignable<LoginStore>(new RedisLoginStore(durable))
expectType<Promise<void>>(new RedisLoginStore(durable).close())
expectType<Promise<string[]>>(new RedisLoginStore(durable).inspect())
expectError(new RedisLoginStore({ client: client6, replicas: '1' }))
expectError(new RedisLoginStore({ client: client6, replicaTimeout: '500ms' }))
expectError(new RedisLoginStore({ client: client6, prefix: 1 }))
expectError(new RedisLoginStore({ client: client6, replica: 1 }))
expectError(new RedisLoginStore({ client: 'redis://localhost:6379' }))
expectError(new RedisLoginStore({ client: { sendCommand: async () => 'OK' } }))
expectError(new RedisLoginStore({ url: 'redis://localhost:6379' }))
expectError(new RedisLoginStore())

// A store of the app's own (SQL, DynamoDB): the interface it implements.
class SqlLoginStore implements LoginStore {
  async createLogin (login: LoginRecord, options: CreateOptions): Promise<CreateResult> {
    expectType<number>(options.maxPerUser)
    expectType<'evict-oldest' | 'reject'>(options.onLimit)
    expectType<RememberSeries | undefined>(options.series)
    return login.userId === '' ? { status: 'limit' } : { status: 'created', evicted: [] }
  }

  async getLogin (userId: string, loginId: string): Promise<LoginLookup> {
    return loginId === '' ? { status: 'ended', reason: 'revoked' } : { status: 'missing' }
  }

  async touchLogin (userId: string, loginId: string, lastSeenAt: number, ttl: number): Promise<boolean> {
    return lastSeenAt + ttl > 0
  }

  listLogins (userId: string, options: { limit: number, ended: false }): Promise<LoginRecord[]>
  listLogins (userId: string, options: { limit: number, ended: true }): Promise<EndedLogin[]>
  listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]>
  async listLogins (userId: string, options: { limit: number, ended: boolean }): Promise<LoginRecord[] | EndedLogin[]> {
    return options.limit > 0 ? [] : []
  }

  async endLogins (userId: string, which: EndWhich, options: EndOptions): Promise<LoginRecord[]> {
    expectType<LoginEndReason>(options.reason)
    return Array.isArray(which) ? [] : []
  }

  async getSeries (selector: string): Promise<RememberSeries | null> {
    return null
  }

  async updateSeries (userId: string, selector: string, update: SeriesUpdate): Promise<SeriesUpdateResult> {
    return update.expectHash === '' ? 'unknown' : 'ok'
  }

  async extendSeries (userId: string, selector: string, expiresAt: number): Promise<void> {}
}
expectAssignable<LoginStore>(new SqlLoginStore())
expectAssignable<FastifyLoginOptions>({ loadUser: () => null, logins: { store: new SqlLoginStore() } })

// The optional parts: invalidations for the hot-path cache, start-up warnings, closing.
const watching: LoginStore = {
  ...new SqlLoginStore(),
  createLogin: SqlLoginStore.prototype.createLogin,
  getLogin: SqlLoginStore.prototype.getLogin,
  touchLogin: SqlLoginStore.prototype.touchLogin,
  listLogins: SqlLoginStore.prototype.listLogins,
  endLogins: SqlLoginStore.prototype.endLogins,
  getSeries: SqlLoginStore.prototype.getSeries,
  updateSeries: SqlLoginStore.prototype.updateSeries,
  extendSeries: SqlLoginStore.prototype.extendSeries,
  watch: async (watcher: StoreWatcher) => {
    watcher.up()
    watcher.ended(['login-id'])
    watcher.down()
    return async () => {}
  },
  inspect: async () => ['no replicas: a failover may lose an end'],
  close: async () => {}
}
expectAssignable<LoginStore>(watching)

// A store that gets a shape wrong does not compile.
expectNotAssignable<LoginStore>({ ...watching, getLogin: async () => null })
expectNotAssignable<LoginStore>({ ...watching, touchLogin: async () => undefined })
expectNotAssignable<LoginStore>({ ...watching, updateSeries: async () => true })
expectNotAssignable<LoginStore>({ ...watching, createLogin: async () => ({ status: 'created' }) })
expectNotAssignable<LoginStore>({ ...watching, watch: async () => undefined })
expectNotAssignable<LoginStore>({ ...watching, listLogins: async (): Promise<LoginRecord[]> => [] })
const { extendSeries, ...incomplete } = watching
expectType<LoginStore['extendSeries']>(extendSeries)
expectNotAssignable<LoginStore>(incomplete)
