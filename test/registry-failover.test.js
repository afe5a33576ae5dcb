'use strict'

// Durability of the Redis store: a primary with a replica (--replicaof), both
// private redis-servers. With `replicas: 1` the writes that end, rotate or extend
// a login wait for the replica (WAIT, on a connection of their own, so reads go
// on), fail closed when it does not answer, and a real failover (primary killed,
// replica promoted, a new client pointed at it) brings back no revoked login and
// loses no rotation. Without it, a failover to a lagging replica does bring
// revoked logins back: what `inspect()` warns about, in each setup here.
//
// Nothing is timed: a replica is stopped (SIGSTOP) to make it lag, and the
// tests wait for states (the primary has the write; the promise is settled or
// not), never for a duration.

require('./support/build') // the tests run dist/: refuse a build older than lib/
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { RedisLoginStore } = require('../dist/registry/stores/redis.js')
const { makeLogin, makeRemembered, createOptions, endOptions, update, eventually, DAY } = require('./support/store-fixtures')
const { startRedis, startReplicated, skipWithoutRedis } = require('./support/redis')

const skip = skipWithoutRedis()
const opened = []

async function connect (url, pkg = 'redis', options = {}) {
  const { createClient } = require(pkg)
  const client = createClient({ url, ...options })
  client.on('error', () => {})
  await client.connect()
  opened.push(() => client.destroy())
  return client
}

async function storeOn (url, options = {}, pkg = 'redis') {
  const store = new RedisLoginStore({ client: await connect(url, pkg), prefix: 'durable:', ...options })
  opened.push(() => store.close())
  return store
}

/** Resolves whether `promise` settled by the time every pending callback ran. */
async function settled (promise) {
  let done = false
  promise.then(() => { done = true }, () => { done = true })
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

after(async () => {
  for (const close of opened.reverse()) await close()
})

describe('a primary with a replica, replicas: 1', { skip }, () => {
  let servers
  before(async () => { servers = await startReplicated() })
  after(async () => {
    servers?.replicas[0].resume()
    await servers?.stop()
  })

  test('end, rotate and extend return once the replica has them; meanwhile the reads go on', async () => {
    // node-redis 6 gives up on a command after 5 s by default: a busy machine must not reach that while the replica is stopped.
    const client = await connect(servers.primary.url, 'redis', { commandOptions: { timeout: 60000 } })
    const store = new RedisLoginStore({ client, prefix: 'durable:', replicas: 1, replicaTimeout: 60000 })
    opened.push(() => store.close())
    const replica = await connect(servers.replicas[0].url)
    const { login, series } = makeRemembered('k:waits')
    await store.createLogin(login, createOptions({ series }))
    const seriesKey = `durable:{${series.selector.slice(0, 4)}}:series`
    const writes = [
      () => store.updateSeries(login.userId, series.selector, update(series, 'v2')),
      () => store.extendSeries(login.userId, series.selector, Date.now() + 2 * DAY),
      () => store.endLogins(login.userId, [login.id], endOptions())
    ]
    let before = JSON.stringify(await store.getSeries(series.selector))
    for (const write of writes) {
      servers.replicas[0].pause()
      const pending = write()
      // The primary has the write: the store is now waiting for the replica.
      await eventually(async () => JSON.stringify(await store.getSeries(series.selector)) !== before, 'the primary has the write')
      const read = store.getLogin(login.userId, login.id)
      await eventually(() => settled(read), 'a read is answered while the write waits')
      assert.equal(await settled(pending), false, 'the write is not done while the replica is stopped')
      servers.replicas[0].resume()
      await pending
      const now = await store.getSeries(series.selector)
      const onReplica = await replica.hGet(seriesKey, series.selector)
      assert.deepEqual(onReplica === null ? null : JSON.parse(onReplica), now, 'the replica had it when the call returned')
      before = JSON.stringify(now)
    }
  })

  test('with the replica stopped, end, rotate, extend and evict fail closed within replicaTimeout; a login that ends none is made', async () => {
    const store = await storeOn(servers.primary.url, { replicas: 1, replicaTimeout: 200 }, 'redis5')
    const { login, series } = makeRemembered('k:stopped')
    await store.createLogin(login, createOptions({ series }))
    const others = Array.from({ length: 20 }, () => makeLogin('k:stopped'))
    for (const other of others) await store.createLogin(other, createOptions())
    servers.replicas[0].pause()
    try {
      await assert.rejects(store.updateSeries(login.userId, series.selector, update(series, 'v2')), /reached 0 of 1 replica\(s\) within 200 ms/)
      await assert.rejects(store.extendSeries(login.userId, series.selector, Date.now() + 2 * DAY), /replica/)
      await assert.rejects(store.endLogins(login.userId, [login.id], endOptions()), /replica/)
      await assert.rejects(store.createLogin(makeLogin('k:stopped'), createOptions({ maxPerUser: 1 })), /replica/, 'an eviction is an end')
      assert.equal((await store.createLogin(makeLogin('k:stopped'), createOptions())).status, 'created', 'nothing ended, nothing to wait for')
      const results = await Promise.allSettled(others.map((other) => store.endLogins(other.userId, [other.id], endOptions())))
      assert.deepEqual(results.map((result) => result.status), others.map(() => 'rejected'), 'concurrent ends all fail closed')
    } finally {
      servers.replicas[0].resume()
    }
  })

  test('concurrent writes share their WAITs: fewer WAITs than writes, each write confirmed', async () => {
    const store = await storeOn(servers.primary.url, { replicas: 1, replicaTimeout: 5000 })
    const admin = await connect(servers.primary.url)
    const waits = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await admin.sendCommand(['INFO', 'commandstats']))?.[1] ?? 0)
    const logins = Array.from({ length: 50 }, () => makeLogin('k:shared'))
    for (const login of logins) await store.createLogin(login, createOptions())
    const before = await waits()
    await Promise.all(logins.map((login) => store.endLogins(login.userId, [login.id], endOptions())))
    const used = await waits() - before
    assert.ok(used >= 1 && used < logins.length, `${used} WAITs for ${logins.length} writes`)
    const replica = await storeOn(servers.replicas[0].url)
    for (const login of logins) assert.equal((await replica.getLogin(login.userId, login.id)).status, 'ended', 'the replica has every end')
  })

  test('inspect: no warning about replication; the missing persistence is named', async () => {
    const store = await storeOn(servers.primary.url, { replicas: 1 })
    const warnings = await store.inspect()
    assert.equal(warnings.length, 1, String(warnings))
    assert.match(warnings[0], /no persistence/)
  })

  test('inspect: replicas 0 with a replica there, more replicas than there are, a store given the replica', async () => {
    assert.match((await (await storeOn(servers.primary.url)).inspect())[0], /has 1 replica\(s\) but the store's replicas option is 0: a failover .* brings the revoked login back/)
    assert.match((await (await storeOn(servers.primary.url, { replicas: 2 })).inspect())[0], /1 connected replica\(s\) but the store's replicas option is 2: every write that ends/)
    assert.match((await (await storeOn(servers.replicas[0].url, { replicas: 1 })).inspect()).join('\n'), /is a replica/)
  })
})

describe('a real failover: the primary killed, the replica promoted, the app repointed', { skip }, () => {
  test('replicas: 1: no revoked login comes back, no rotation is lost', async () => {
    const servers = await startReplicated()
    try {
      const store = await storeOn(servers.primary.url, { replicas: 1, replicaTimeout: 10000 })
      const users = Array.from({ length: 20 }, (_, i) => makeRemembered(`k:failover-${i}`))
      for (const { login, series } of users) await store.createLogin(login, createOptions({ series }))
      const revoked = users.slice(0, 10)
      const rotated = users.slice(10)
      await Promise.all([
        ...revoked.map(({ login }) => store.endLogins(login.userId, [login.id], endOptions())),
        ...rotated.map(({ login, series }) => store.updateSeries(login.userId, series.selector, update(series, 'v2')))
      ])
      await servers.primary.kill()
      await servers.replicas[0].cli('REPLICAOF', 'NO', 'ONE')
      const promoted = await storeOn(servers.replicas[0].url)
      for (const { login } of revoked) assert.deepEqual(await promoted.getLogin(login.userId, login.id), { status: 'ended', reason: 'revoked' })
      for (const { login, series } of rotated) {
        assert.equal((await promoted.getSeries(series.selector)).validatorHash, update(series, 'v2').validatorHash)
        assert.equal((await promoted.getLogin(login.userId, login.id)).status, 'live')
      }
    } finally {
      servers.replicas[0].resume()
      await servers.stop()
    }
  })

  test('replicas: 0 (what inspect warns about): a failover to a replica cut off before a revocation brings the login back', async () => {
    const servers = await startReplicated()
    try {
      const store = await storeOn(servers.primary.url)
      const { login, series } = makeRemembered('k:lagging')
      await store.createLogin(login, createOptions({ series }))
      const replica = await connect(servers.replicas[0].url)
      const loginsKey = `durable:{${series.selector.slice(0, 4)}}:logins:${login.userId}`
      await eventually(async () => (await replica.hGet(loginsKey, login.id)) !== null, 'the replica has the login')
      // A partition: the replica stops hearing from the primary (a SIGSTOP would not do: the
      // kernel keeps what was sent, and the replica reads it when it wakes).
      await servers.replicas[0].cli('REPLICAOF', 'NO', 'ONE')
      assert.deepEqual((await store.endLogins(login.userId, [login.id], endOptions())).length, 1, 'revoked, and the store said so')
      await servers.primary.kill()
      const promoted = await storeOn(servers.replicas[0].url)
      assert.equal((await promoted.getLogin(login.userId, login.id)).status, 'live', 'the revoked login is back')
    } finally {
      servers.replicas[0].resume()
      await servers.stop()
    }
  })
})

describe('inspect on one server: persistence', { skip }, () => {
  const setups = [
    ['no persistence', [], /no persistence \(no AOF, no RDB snapshots\): a restart forgets every login, so every remembered user is logged out/],
    ['RDB snapshots only', ['--save', '3600 1'], /no AOF \(appendonly no\): a restart from an RDB snapshot brings back every login revoked since that snapshot$/],
    ['AOF, appendfsync no', ['--appendonly', 'yes', '--appendfsync', 'no'], /appendfsync no: a crash of the machine can lose the last seconds of revocations/]
  ]
  for (const [name, args, warning] of setups) {
    test(name, async () => {
      const server = await startRedis({ args })
      try {
        const warnings = await (await storeOn(server.url)).inspect()
        assert.equal(warnings.length, 1, String(warnings))
        assert.match(warnings[0], warning)
      } finally {
        await server.stop()
      }
    })
  }

  test('AOF on (everysec): no warning; CONFIG refused (a managed Redis): said, not guessed', async () => {
    const server = await startRedis({ args: ['--appendonly', 'yes'] })
    const plain = await startRedis()
    try {
      assert.deepEqual(await (await storeOn(server.url)).inspect(), [])
      const admin = await connect(plain.url)
      await admin.sendCommand(['ACL', 'SETUSER', 'app', 'on', '>secret', '+@all', '-config', '~*', '&*'])
      const store = new RedisLoginStore({ client: await connect(plain.url, 'redis', { username: 'app', password: 'secret' }) })
      const warnings = await store.inspect()
      assert.equal(warnings.length, 1, String(warnings))
      assert.match(warnings[0], /no AOF .* \(CONFIG GET was refused: snapshot settings unknown\)/)
    } finally {
      await server.stop()
      await plain.stop()
    }
  })
})
