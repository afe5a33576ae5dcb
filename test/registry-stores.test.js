'use strict'

// The login registry's stores for 0.3 (lib/registry/stores): the contract
// (support/store-contract.js) against the memory store and the Redis store on a
// private redis-server with node-redis 6 and node-redis 5; then what only the
// Redis store has: keys and their TTLs, corrupt values, scripts, replies,
// options, the invalidation watcher's link, the durability check.

require('./support/build') // the tests run dist/: refuse a build older than lib/
const { describe, test, after } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryLoginStore } = require('../dist/registry/stores/memory.js')
const { RedisLoginStore } = require('../dist/registry/stores/redis.js')
const { userTag } = require('../dist/registry/stores/records.js')
const { storeContract } = require('./support/store-contract')
const {
  DAY, LONG, newId, ids, eventually, makeLogin, makeRemembered, createOptions, endOptions, update
} = require('./support/store-fixtures')
const { startRedis, skipWithoutRedis, hasRedisServer } = require('./support/redis')

const clients = { 'node-redis 6': 'redis', 'node-redis 5': 'redis5' }

storeContract('MemoryLoginStore', async () => new MemoryLoginStore())

// Outside CI a machine without redis-server skips the Redis part; under CI it fails here.
test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

/** One private redis-server for the file, started on first use; the clients and stores made on it, closed at the end. */
let server
const opened = []
function useServer () {
  server ??= startRedis()
  return server
}

async function connectTo (url, pkg, options = {}) {
  const { createClient } = require(pkg)
  const client = createClient({ url, ...options })
  client.on('error', () => {})
  await client.connect()
  return client
}

async function connect (pkg, options = {}) {
  const client = await connectTo((await useServer()).url, pkg, options)
  opened.push(() => client.destroy())
  return client
}

let prefixes = 0
const newPrefix = () => `test${++prefixes}:`

async function newStore (pkg, options = {}) {
  const store = new RedisLoginStore({ client: await connect(pkg), prefix: newPrefix(), ...options })
  opened.push(() => store.close())
  return store
}

after(async () => {
  for (const close of opened.reverse()) await close()
  const started = await server?.catch(() => null)
  if (started) await started.stop()
})

for (const [name, pkg] of Object.entries(clients)) {
  storeContract(`RedisLoginStore (${name})`, () => newStore(pkg), { skip: skipWithoutRedis() })
}

/** Every key under `prefix`, by SCAN. */
async function keysOf (client, prefix) {
  const keys = []
  let cursor = '0'
  do {
    const [next, batch] = await client.sendCommand(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys.sort()
}

/** The key of `kind` of `userId` ('series' and 'series-expiry' are the tag's). */
function keyOf (prefix, userId, kind) {
  const base = `${prefix}{${userTag(userId)}}:`
  return kind.startsWith('series') ? base + kind : `${base}${kind}:${userId}`
}

describe('RedisLoginStore', { skip: skipWithoutRedis(), concurrency: true }, () => {
  test('options: a node-redis client; a prefix without braces; replicas and timeouts are whole numbers in range', async () => {
    const client = { sendCommand: async () => null, duplicate () { return this } }
    for (const bad of [undefined, {}, { client: {} }, { client: { sendCommand: 'no' } }, { client: { sendCommand: async () => null } }]) {
      assert.throws(() => new RedisLoginStore(bad), { name: 'TypeError', message: /client option/ })
    }
    for (const prefix of [1, 'app{x}:', 'a{', '}']) {
      assert.throws(() => new RedisLoginStore({ client, prefix }), { name: 'TypeError', message: /prefix option/ }, String(prefix))
    }
    for (const replicas of [-1, 1.5, '1', Number.NaN]) {
      assert.throws(() => new RedisLoginStore({ client, replicas }), { name: 'TypeError', message: /replicas option/ })
    }
    for (const replicaTimeout of [0, 2.5, 60001, '500']) {
      assert.throws(() => new RedisLoginStore({ client, replicaTimeout }), { name: 'TypeError', message: /replicaTimeout option/ })
    }
    assert.throws(() => new RedisLoginStore({ client, heartbeatInterval: 5 }), { name: 'TypeError', message: /heartbeatInterval/ })
    assert.throws(() => new RedisLoginStore({ client, heartbeatTimeout: 500 }), { name: 'TypeError', message: /heartbeatTimeout/ })
    assert.ok(new RedisLoginStore({ client, prefix: '', replicas: 2, replicaTimeout: 60000 }))
  })

  test('keys: a user\'s all carry its {tag}; the default prefix is fastify-login:', async () => {
    const client = await connect('redis')
    const store = new RedisLoginStore({ client })
    const { login, series } = makeRemembered(`k:default-${newId()}`)
    await store.createLogin(login, createOptions({ series }))
    await store.endLogins(login.userId, [login.id], endOptions({ keepEndedFor: DAY }))
    const keys = await keysOf(client, `fastify-login:{${userTag(login.userId)}}:`)
    assert.deepEqual(keys, ['ended', 'ended-expiry', 'history', 'history-expiry', 'history-order']
      .map((kind) => keyOf('fastify-login:', login.userId, kind)).sort())
  })

  test('every key has a TTL, that of its longest-lived entry, after every kind of write; then the keys go', async () => {
    const client = await connect('redis')
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client, prefix })
    const user = 'k:ttl'
    const plain = makeLogin(user)
    const remembered = makeRemembered(user)
    const ended = makeLogin(user)
    await store.createLogin(plain, createOptions({ ttl: LONG }))
    await store.createLogin(remembered.login, createOptions({ series: remembered.series, ttl: LONG }))
    await store.createLogin(ended, createOptions({ ttl: 2 * LONG }))
    await store.touchLogin(user, plain.id, Date.now(), 3 * LONG)
    await store.updateSeries(user, remembered.series.selector, update(remembered.series, 'v2'))
    await store.extendSeries(user, remembered.series.selector, Date.now() + 2 * DAY)
    await store.endLogins(user, [ended.id], endOptions({ keepEndedFor: 4 * LONG }))
    await store.listLogins(user, { limit: 10, ended: false })

    const keys = await keysOf(client, prefix)
    assert.equal(keys.length, 10)
    for (const key of keys) assert.ok(await client.pTTL(key) > 0, `${key} has a TTL`)
    const near = async (kind, ms) => {
      const ttl = await client.pTTL(keyOf(prefix, user, kind))
      assert.ok(ttl <= ms && ttl > ms - LONG, `${kind}: PTTL ${ttl}, expected about ${ms}`)
    }
    for (const kind of ['logins', 'seen', 'expiry', 'series', 'series-expiry']) await near(kind, 2 * DAY)
    for (const kind of ['ended', 'ended-expiry']) await near(kind, 2 * LONG)
    for (const kind of ['history', 'history-order', 'history-expiry']) await near(kind, 4 * LONG)

    // Once every entry ended or expired, no key is left.
    await store.endLogins(user, { all: true, except: null, limit: 10 }, endOptions())
    const short = makeLogin('k:short')
    await store.createLogin(short, createOptions({ ttl: 100 }))
    await store.endLogins('k:short', [short.id], endOptions({ keepEndedFor: 100 }))
    await eventually(async () => (await keysOf(client, `${prefix}{${userTag('k:short')}}`)).length === 0, 'the keys of k:short went')
  })

  test('expired entries are trimmed by the next write of the user, never counted or listed before', async () => {
    const client = await connect('redis')
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client, prefix })
    const user = 'k:trim'
    const short = makeLogin(user)
    const long = makeLogin(user)
    await store.createLogin(short, createOptions({ ttl: 100 }))
    await store.createLogin(long, createOptions())
    await eventually(async () => (await store.getLogin(user, short.id)).status === 'missing', 'the short login expired')
    assert.deepEqual(await store.listLogins(user, { limit: 10, ended: false }), [long])
    // At the cap of 2, a new login fits: the expired one is not counted.
    const next = makeLogin(user)
    assert.deepEqual(await store.createLogin(next, createOptions({ maxPerUser: 2, onLimit: 'reject' })), { status: 'created', evicted: [] })
    assert.deepEqual((await client.zRange(keyOf(prefix, user, 'expiry'), 0, -1)).sort(), [long.id, next.id].sort(), 'trimmed')
    assert.deepEqual((await client.hKeys(keyOf(prefix, user, 'logins'))).sort(), [long.id, next.id].sort())
  })

  test('a corrupt value is absent, never a crash; scripts leave what they cannot read', async () => {
    const client = await connect('redis')
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client, prefix })
    const user = 'k:corrupt'
    const good = makeLogin(user)
    await store.createLogin(good, createOptions())
    const login = makeLogin(user)
    const { series } = makeRemembered(user)
    const far = String(Date.now() + LONG)
    for (const value of ['not json', '"a string"', 'null', '{"id":1}', JSON.stringify({ ...login, method: 'magic' }),
      JSON.stringify({ ...login, id: 'another' }), JSON.stringify({ ...login, series: 42 }), JSON.stringify({ ...login, userId: 'k:other' })]) {
      await client.hSet(keyOf(prefix, user, 'logins'), login.id, value)
      await client.zAdd(keyOf(prefix, user, 'seen'), { score: Date.now(), value: login.id })
      await client.zAdd(keyOf(prefix, user, 'expiry'), { score: Number(far), value: login.id })
      assert.deepEqual(await store.getLogin(user, login.id), { status: 'missing' }, value)
      assert.deepEqual(await store.listLogins(user, { limit: 10, ended: false }), [good], value)
    }
    await client.hSet(keyOf(prefix, user, 'ended'), login.id, 'bored')
    await client.zAdd(keyOf(prefix, user, 'ended-expiry'), { score: Number(far), value: login.id })
    await client.hDel(keyOf(prefix, user, 'logins'), login.id)
    assert.deepEqual(await store.getLogin(user, login.id), { status: 'missing' }, 'an unknown reason')
    for (const value of ['{', JSON.stringify({ ...series, previousHash: 1 }), JSON.stringify({ ...series, selector: 'another' }),
      JSON.stringify({ ...series, rotatedAt: 'now' }), JSON.stringify({ ...series, userId: 'k:someone' })]) {
      await client.hSet(keyOf(prefix, user, 'series'), series.selector, value)
      await client.zAdd(keyOf(prefix, user, 'series-expiry'), { score: Number(far), value: series.selector })
      assert.equal(await store.getSeries(series.selector), null, value)
      assert.equal(await store.updateSeries(user, series.selector, update(series, 'v2')), 'unknown', value)
      await store.extendSeries(user, series.selector, Date.now() + DAY)
      assert.equal(await client.hGet(keyOf(prefix, user, 'series'), series.selector), value, 'left as it was')
    }
  })

  test('a series whose login is gone is dropped, never updated', async () => {
    const client = await connect('redis')
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client, prefix })
    const { login, series } = makeRemembered('k:orphan')
    await store.createLogin(login, createOptions({ series }))
    await client.hDel(keyOf(prefix, login.userId, 'logins'), login.id)
    assert.equal(await store.updateSeries(login.userId, series.selector, update(series, 'v2')), 'unknown')
    assert.equal(await store.getSeries(series.selector), null)
  })

  test('scripts are sent again when the server lost them (SCRIPT FLUSH)', async () => {
    const client = await connect('redis')
    const store = new RedisLoginStore({ client, prefix: newPrefix() })
    const first = makeLogin()
    await store.createLogin(first, createOptions())
    await client.sendCommand(['SCRIPT', 'FLUSH'])
    const second = makeLogin()
    await store.createLogin(second, createOptions())
    assert.deepEqual(ids(await store.listLogins('k:user-1', { limit: 10, ended: false })).sort(), [first.id, second.id].sort())
  })

  for (const [name, pkg] of Object.entries(clients)) {
    test(`a client that answers Buffers, or speaks RESP3, works the same (${name})`, async () => {
      const { RESP_TYPES } = require(pkg)
      for (const options of [{ commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } }, { RESP: 3 }]) {
        const store = new RedisLoginStore({ client: await connect(pkg, options), prefix: newPrefix() })
        const { login, series } = makeRemembered()
        await store.createLogin(login, createOptions({ series }))
        assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'live', login })
        assert.deepEqual(await store.listLogins(login.userId, { limit: 10, ended: false }), [login])
        assert.deepEqual(await store.getSeries(series.selector), series)
        const now = login.lastSeenAt + 1000
        assert.equal(await store.updateSeries(login.userId, series.selector, update(series, 'v2', { now })), 'ok')
        assert.deepEqual(await store.endLogins(login.userId, [login.id], endOptions({ keepEndedFor: DAY })), [{ ...login, lastSeenAt: now }])
        assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'ended', reason: 'revoked' })
        assert.equal((await store.listLogins(login.userId, { limit: 10, ended: true }))[0].id, login.id)
        assert.ok(Array.isArray(await store.inspect()))
      }
    })
  }

  test('errors other than NOSCRIPT, and replies it cannot read, are errors', async () => {
    const calls = []
    const failing = (error) => new RedisLoginStore({
      client: { sendCommand: async (args) => { calls.push(args[0]); throw error }, duplicate () { return this } }
    })
    await assert.rejects(failing(new Error('READONLY You can\'t write against a read only replica.')).createLogin(makeLogin(), createOptions()), /READONLY/)
    await assert.rejects(failing('a string').getLogin('k:user-1', newId()), (err) => err === 'a string')
    assert.deepEqual(calls, ['EVALSHA', 'EVALSHA'], 'no EVAL retry')
    await assert.rejects(failing(new Error('LOADING')).listLogins('k:user-1', { limit: 10, ended: false }), /LOADING/)

    const answering = (reply) => new RedisLoginStore({ client: { sendCommand: async () => reply, duplicate () { return this } } })
    assert.equal(await answering(Buffer.from('{')).getSeries(makeRemembered().series.selector), null)
    assert.deepEqual(await answering(['live', '{}', '1']).getLogin('k:user-1', newId()), { status: 'missing' })
    await assert.rejects(answering('OK').listLogins('k:user-1', { limit: 10, ended: false }), /unexpected reply to listLogins/)
    await assert.rejects(answering('OK').getLogin('k:user-1', newId()), /unexpected reply to getLogin/)
    for (const reply of ['OK', [], ['made']]) {
      await assert.rejects(answering(reply).createLogin(makeLogin(), createOptions()), /unexpected reply to createLogin/, JSON.stringify(reply))
    }
    const { series } = makeRemembered()
    await assert.rejects(answering('done').updateSeries(series.userId, series.selector, update(series, 'v2')), /unexpected reply to updateSeries/)
  })

  test('two instances logging one user in at once lose no record (1,000 concurrent createLogin)', async () => {
    const prefix = newPrefix()
    const stores = [new RedisLoginStore({ client: await connect('redis'), prefix }), new RedisLoginStore({ client: await connect('redis5'), prefix })]
    const logins = Array.from({ length: 1000 }, () => makeLogin('k:crowd'))
    await Promise.all(logins.map((login, i) => stores[i % 2].createLogin(login, createOptions({ maxPerUser: 1000 }))))
    assert.deepEqual(ids(await stores[0].listLogins('k:crowd', { limit: 1000, ended: false })).sort(), ids(logins).sort())
    assert.equal((await stores[1].listLogins('k:crowd', { limit: 1000, ended: false })).length, 1000)
  })

  test('the scripts touch only the keys they are given: no key name is built in Lua', () => {
    const scripts = require('../dist/registry/stores/redis-scripts.js')
    const keyNames = new Set(['LOGINS', 'SEEN', 'EXPIRY', 'ENDED', 'ENDED_EXPIRY', 'HISTORY', 'HISTORY_ORDER', 'HISTORY_EXPIRY',
      'SERIES', 'SERIES_EXPIRY', 'KEYS[1]', 'KEYS[2]', 'index', 'hash', 'other', 'key', 'expiry'])
    const keyless = new Set(['TIME', 'PUBLISH'])
    for (const [name, script] of Object.entries(scripts)) {
      for (const [, command, key] of script.source.matchAll(/redis\.call\('([A-Z]+)',\s*([^,)]+)/g)) {
        if (!keyless.has(command)) assert.ok(keyNames.has(key.trim().replace(/^unpack\(keys$/, 'key')), `${name}: ${command} ${key}`)
      }
      for (const [, key] of script.source.matchAll(/\beach\('[A-Z]+',\s*([^,)]+)/g)) assert.ok(keyNames.has(key.trim()), `${name}: each ${key}`)
      assert.doesNotMatch(script.source, /ARGV\[\d+\]\s*\.\./, `${name} builds no name from its arguments`)
    }
  })
})

describe('RedisLoginStore.watch, the invalidation link', { skip: skipWithoutRedis() }, () => {
  test('an end on one instance reaches another\'s watcher; a paused or killed server gives down(), and up() only once the link is confirmed', async () => {
    const own = await startRedis()
    const clientA = await connectTo(own.url, 'redis')
    const clientB = await connectTo(own.url, 'redis5')
    const heartbeat = { heartbeatInterval: 100, heartbeatTimeout: 500 }
    const A = new RedisLoginStore({ client: clientA, prefix: 'watch:', ...heartbeat })
    const B = new RedisLoginStore({ client: clientB, prefix: 'watch:', ...heartbeat })
    // A busy machine may delay a heartbeat into a false down() (safe); so the checks follow the state, not counts.
    const heard = { ended: [], up: false, ups: 0, probes: [] }
    // At each up(), an end is made at once on the other instance: the watcher must hear it,
    // which it can only if the subscription already stood when up() came.
    const probe = async () => {
      const login = makeLogin('k:probe')
      heard.probes.push(login.id)
      await A.createLogin(login, createOptions())
      await A.endLogins(login.userId, [login.id], endOptions())
    }
    const failures = []
    const stop = await B.watch({
      ended: (loginIds) => heard.ended.push(...loginIds),
      down: () => { heard.up = false },
      up: () => {
        if (heard.up) failures.push(new Error('up() while up: only after down() or at the start'))
        heard.up = true
        heard.ups++
        probe().catch((err) => failures.push(err))
      }
    })
    const probesHeard = () => failures.length === 0 && heard.probes.length === heard.ups && heard.probes.every((id) => heard.ended.includes(id))
    try {
      await eventually(() => heard.up && probesHeard(), 'up, and the probe heard')
      const login = makeLogin('k:user-1')
      await A.createLogin(login, createOptions())
      await A.endLogins('k:user-1', [login.id], endOptions())
      await eventually(() => heard.ended.includes(login.id), 'B heard the end made on A')

      own.pause()
      await eventually(() => !heard.up, 'down() while the server is paused')
      const ups = heard.ups
      own.resume()
      await eventually(() => heard.up && heard.ups > ups && probesHeard(), 'up() again after the pause, and the probe heard')

      await own.kill()
      await eventually(() => !heard.up, 'down() when the server died')
      const before = heard.ups
      await own.start()
      await eventually(() => heard.up && heard.ups > before && probesHeard(), 'up() again after the restart, and the probe heard')
    } finally {
      await stop()
      clientA.destroy()
      clientB.destroy()
      await A.close()
      await B.close()
      await own.stop()
    }
    assert.deepEqual(failures, [])
  })

  test('a server that stops answering: the heartbeat does not keep the app client\'s socket timeout from failing its commands', { timeout: 20000 }, async () => {
    // Node counts a write as socket activity: a beat written every interval to a
    // silent server would push the client's socketTimeout back for ever, and every
    // command (a session read) would hang instead of failing. One beat at a time.
    const own = await startRedis()
    const client = await connectTo(own.url, 'redis', { disableOfflineQueue: true, socket: { socketTimeout: 400, reconnectStrategy: false } })
    const store = new RedisLoginStore({ client, prefix: 'silent:', heartbeatInterval: 20, heartbeatTimeout: 100 })
    let up = false
    const stop = await store.watch({ ended: () => {}, up: () => { up = true }, down: () => { up = false } })
    try {
      await eventually(() => up, 'the link is up')
      own.pause()
      await assert.rejects(client.sendCommand(['GET', 'silent:key']), /timeout/i, 'the command fails when the socket times out')
      await eventually(() => !up, 'the watcher went down')
    } finally {
      own.resume()
      await stop()
      client.destroy()
      await store.close()
      await own.stop()
    }
  })
})
