'use strict'

// The Redis store on a real Redis Cluster: three masters started by the tests
// (redis-server --cluster-enabled yes, joined by redis-cli --cluster create), with
// node-redis 6 and 5 `createCluster`. The whole store contract runs on it, so
// every operation works with each script in one slot; a user's keys share a node
// and users spread over the masters. Then a cluster with a replica per master:
// the writes that WAIT go to their slot's master and are confirmed there.

require('./support/build') // the tests run dist/: refuse a build older than lib/
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { RedisLoginStore } = require('../dist/registry/stores/redis.js')
const { slotOf } = require('../dist/registry/stores/redis-client.js')
const { userTag } = require('../dist/registry/stores/records.js')
const { storeContract } = require('./support/store-contract')
const { makeLogin, makeRemembered, createOptions, endOptions, update, DAY } = require('./support/store-fixtures')
const { startCluster, skipWithoutRedis } = require('./support/redis')

const skip = skipWithoutRedis()
const packages = { 'node-redis 6': 'redis', 'node-redis 5': 'redis5' }

let cluster
const opened = []
/** The three-master cluster of the file, started on first use. */
function useCluster () {
  cluster ??= startCluster({ masters: 3 })
  return cluster
}

async function connectCluster (pkg, rootNodes) {
  const { createCluster } = require(pkg)
  const client = createCluster({ rootNodes })
  client.on('error', () => {})
  await client.connect()
  opened.push(() => client.destroy())
  return client
}

let prefixes = 0
async function newStore (pkg, options = {}) {
  const client = await connectCluster(pkg, (await useCluster()).rootNodes)
  const store = new RedisLoginStore({ client, prefix: `cluster${++prefixes}:`, ...options })
  opened.push(() => store.close())
  return store
}

after(async () => {
  for (const close of opened.reverse()) await close()
  const started = await cluster?.catch(() => null)
  if (started) await started.stop()
})

for (const [name, pkg] of Object.entries(packages)) {
  storeContract(`RedisLoginStore on a 3-master Redis Cluster (${name})`, () => newStore(pkg), { skip })
}

describe('RedisLoginStore on Redis Cluster', { skip }, () => {
  test('the store knows the client is a cluster client, and computes slots as the servers do', async () => {
    const store = await newStore('redis')
    assert.equal(store.cluster, true)
    const { nodes } = await useCluster()
    for (const key of ['a', 'fastify-login:{abcd}:logins:k:1', 'x{}y', '{}{x}', 'prefix:{tag', 'üser{ü}', '{😀}:k']) {
      assert.equal(slotOf(key), Number(await nodes[0].cli('CLUSTER', 'KEYSLOT', key)), key)
    }
  })

  test('40 users: each user\'s keys on one node, the users on at least 2 of the 3 masters', async () => {
    const store = await newStore('redis')
    const users = Array.from({ length: 40 }, (_, i) => `k:spread-${i}`)
    for (const userId of users) {
      const { login, series } = makeRemembered(userId)
      await store.createLogin(login, createOptions({ series }))
      await store.createLogin(makeLogin(userId), createOptions())
      await store.endLogins(userId, [login.id], endOptions({ keepEndedFor: DAY }))
    }
    const { nodes } = await useCluster()
    const nodeOf = new Map()
    for (const node of nodes) {
      const keys = (await node.cli('--scan', '--pattern', `cluster${prefixes}:*`)).split('\n').filter(Boolean)
      for (const key of keys) {
        const user = users.find((userId) => key.startsWith(`cluster${prefixes}:{${userTag(userId)}}`) && (key.endsWith(`:${userId}`) || /series/.test(key)))
        assert.ok(user, key)
        assert.ok(!nodeOf.has(user) || nodeOf.get(user) === node.port, `${user}'s keys on one node`)
        nodeOf.set(user, node.port)
      }
    }
    assert.equal(nodeOf.size, 40)
    const used = new Set(nodeOf.values())
    assert.ok(used.size >= 2, `users spread over ${used.size} master(s)`)
  })

  test('inspect reads every master and names it', async () => {
    const store = await newStore('redis')
    const warnings = await store.inspect()
    const { nodes } = await useCluster()
    for (const node of nodes) {
      assert.ok(warnings.some((warning) => warning.includes(`127.0.0.1:${node.port}`) && /no persistence/.test(warning)), `${node.port}: ${warnings}`)
    }
  })

  test('with replicas: 1 on a cluster without replicas, the writes that must WAIT fail closed, and the reads still work', async () => {
    const store = await newStore('redis5', { replicas: 1, replicaTimeout: 50 })
    const { login, series } = makeRemembered('k:alone')
    assert.equal((await store.createLogin(login, createOptions({ series }))).status, 'created', 'it ended nothing: no WAIT')
    await assert.rejects(store.updateSeries(login.userId, series.selector, update(series, 'v2')), /reached 0 of 1 replica/)
    await assert.rejects(store.createLogin(makeLogin('k:alone'), createOptions({ maxPerUser: 1 })), /replica/)
    // Both writes stand on their master alone: the caller was told they failed.
    assert.equal((await store.getLogin(login.userId, login.id)).status, 'ended')
    await assert.rejects(store.endLogins(login.userId, { all: true, except: null, limit: 10 }, endOptions()), /replica/)
  })
})

describe('RedisLoginStore on a Redis Cluster with a replica per master, replicas: 1', { skip }, () => {
  let replicated
  const clients = []
  before(async () => { replicated = await startCluster({ masters: 3, replicas: 1 }) })
  after(async () => {
    for (const client of clients) client.destroy()
    await replicated?.stop()
  })

  for (const [name, pkg] of Object.entries(packages)) {
    test(`every write that WAITs is confirmed on its slot's master, for users on every master (${name})`, async () => {
      const { createCluster } = require(pkg)
      const client = createCluster({ rootNodes: replicated.rootNodes })
      client.on('error', () => {})
      await client.connect()
      clients.push(client)
      const store = new RedisLoginStore({ client, prefix: `durable-${pkg}:`, replicas: 1, replicaTimeout: 5000 })
      try {
        const masters = new Set()
        for (let i = 0; i < 12; i++) {
          const userId = `k:durable-${i}`
          masters.add(client.slots[slotOf(`{${userTag(userId)}}`)].master.port)
          const { login, series } = makeRemembered(userId)
          assert.equal((await store.createLogin(login, createOptions({ series }))).status, 'created')
          assert.equal(await store.updateSeries(userId, series.selector, update(series, 'v2')), 'ok')
          await store.extendSeries(userId, series.selector, Date.now() + 2 * DAY)
          assert.equal((await store.endLogins(userId, [login.id], endOptions())).length, 1)
        }
        assert.equal(masters.size, 3, 'the users were on every master')
        const warnings = await store.inspect()
        assert.equal(warnings.length, 3, String(warnings))
        assert.ok(warnings.every((warning) => /no persistence/.test(warning)), 'replicated, and replicas: 1: only the missing persistence is left')
      } finally {
        await store.close()
      }
    })
  }
})
