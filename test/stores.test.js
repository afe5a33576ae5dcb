'use strict'

// The login registry's stores (lib/stores/types.ts is their contract): one
// contract suite, run against the memory store and against the Redis store on a
// private redis-server (see support/redis.js); then what only one of them has.
// Each test makes its own store (Redis: its own key prefix), so the tests of a
// suite run concurrently. Expiry is tested with short lifetimes and a wait
// well past them; nothing asserts how fast anything is.

require('./support/build') // the tests run dist/: refuse a build older than lib/
const { describe, test, after } = require('node:test')
const assert = require('node:assert/strict')
const { createHash, randomBytes } = require('node:crypto')
const { MemoryLoginStore } = require('../dist/stores/memory.js')
const { RedisLoginStore } = require('../dist/stores/redis.js')
const { startRedis, skipWithoutRedis, hasRedisServer } = require('./support/redis')

const DAY = 24 * 60 * 60 * 1000
const LONG = 60 * 1000
const GRACE = 10 * 1000

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const newId = () => randomBytes(16).toString('base64url')
const hash = (validator) => createHash('sha256').update(validator).digest('base64url')

function makeLogin (overrides = {}) {
  const now = Date.now()
  return {
    id: newId(),
    userId: 'user-1',
    createdAt: now,
    lastSeenAt: now,
    ip: '203.0.113.7',
    // Quotes, slashes, non-ASCII and a control character: the JSON must survive Lua's cjson.
    userAgent: 'Mozilla/5.0 (X11; Linux) "quoted" \\ café \u0001',
    method: 'credentials',
    remembered: false,
    ...overrides
  }
}

/** A remembered login and the series that backs it, validator `v1`. */
function makeRemembered (userId = 'user-1', { expiresAt = Date.now() + DAY } = {}) {
  const selector = newId()
  const login = makeLogin({ userId, method: 'remember', remembered: true, series: selector })
  const series = {
    selector,
    userId,
    loginId: login.id,
    validatorHash: hash('v1'),
    previousHash: null,
    rotatedAt: Date.now(),
    expiresAt,
    lifetime: DAY,
    version: 'ver-1'
  }
  return { login, series }
}

function makeRotation (series, presented, next, overrides = {}) {
  return {
    presentedHash: hash(presented),
    validatorHash: hash(next),
    login: makeLogin({ userId: series.userId, method: 'remember', remembered: true, series: series.selector }),
    loginTtl: LONG,
    now: Date.now(),
    graceMs: GRACE,
    ...overrides
  }
}

const ids = (logins) => logins.map((login) => login.id)

/**
 * The LoginStore contract. `createStore` answers a new, empty store; `options`
 * go to describe (the Redis run is skipped outside CI without redis-server).
 */
function storeContract (name, createStore, options = {}) {
  describe(`${name} meets the LoginStore contract`, { concurrency: true, ...options }, () => {
    test('createLogin then getLogin gives the record back; an unknown id is null', async () => {
      const store = await createStore()
      const login = makeLogin({ userId: 'üser:1' })
      assert.equal(await store.createLogin(login, LONG), undefined)
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.equal(await store.getLogin(newId()), null)
      assert.equal(await store.getSeries(newId()), null)
    })

    test('a login with its series: both are saved, the login names the series', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.deepEqual(await store.getSeries(series.selector), series)
    })

    test('records go in and come out as copies', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      const original = { login: { ...login }, series: { ...series } }
      await store.createLogin(login, LONG, series)
      login.userId = 'mallory'
      series.validatorHash = 'forged'

      const got = await store.getLogin(login.id)
      got.userId = 'mallory'
      const [listed] = await store.listLogins(original.login.userId)
      listed.remembered = false
      const gotSeries = await store.getSeries(series.selector)
      gotSeries.validatorHash = 'forged'
      assert.deepEqual(await store.getLogin(login.id), original.login)
      assert.deepEqual(await store.listLogins(original.login.userId), [original.login])
      assert.deepEqual(await store.getSeries(series.selector), original.series)

      const rotation = makeRotation(original.series, 'v1', 'v2')
      const rotated = await store.rotateSeries(series.selector, rotation)
      rotated.series.validatorHash = 'forged'
      rotation.login.userId = 'mallory'
      const grace = await store.rotateSeries(series.selector, makeRotation(original.series, 'v1', 'v3'))
      assert.equal(grace.status, 'grace')
      assert.equal(grace.series.validatorHash, hash('v2'))
      grace.series.loginId = 'forged'
      assert.equal((await store.getSeries(series.selector)).loginId, rotation.login.id)
      assert.equal((await store.getLogin(rotation.login.id)).userId, original.login.userId)
    })

    test('an expired login is never returned, listed or revived by a touch', async () => {
      const store = await createStore()
      const short = makeLogin()
      const long = makeLogin()
      await store.createLogin(short, 100)
      await store.createLogin(long, LONG)
      await sleep(250)
      assert.equal(await store.getLogin(short.id), null)
      assert.deepEqual(ids(await store.listLogins('user-1')), [long.id])
      await store.touchLogin(short.id, Date.now(), LONG)
      assert.equal(await store.getLogin(short.id), null)
    })

    test('touchLogin sets lastSeenAt and extends the login; an unknown login stays unknown', async () => {
      const store = await createStore()
      const login = makeLogin({ userId: 'üser/2' })
      await store.createLogin(login, 300)
      const seen = login.lastSeenAt + 60 * 1000
      await store.touchLogin(login.id, seen, 5000)
      await sleep(500)
      assert.deepEqual(await store.getLogin(login.id), { ...login, lastSeenAt: seen }, 'alive past its first ttl')
      assert.deepEqual(await store.listLogins('üser/2'), [{ ...login, lastSeenAt: seen }])

      const unknown = newId()
      assert.equal(await store.touchLogin(unknown, seen, LONG), undefined)
      assert.equal(await store.getLogin(unknown), null)
    })

    test('listLogins: the user\'s logins, oldest first (then by id), nobody else\'s', async () => {
      const store = await createStore()
      const now = Date.now()
      const logins = [
        makeLogin({ id: 'b', createdAt: now - 1000 }),
        makeLogin({ id: 'a', createdAt: now - 1000 }),
        makeLogin({ createdAt: now - 3000 }),
        makeLogin({ createdAt: now }),
        makeLogin({ id: 'c', createdAt: now - 1000 })
      ]
      for (const login of [logins[3], logins[4], logins[0], logins[2], logins[1]]) await store.createLogin(login, LONG)
      await store.createLogin(makeLogin({ userId: 'user-2' }), LONG)
      await store.createLogin(makeLogin({ userId: 'user-10' }), LONG)
      assert.deepEqual(await store.listLogins('user-1'), [logins[2], logins[1], logins[0], logins[4], logins[3]])
      assert.deepEqual(await store.listLogins('nobody'), [])
    })

    test('a login id saved again for another user moves to that user', async () => {
      const store = await createStore()
      const first = makeLogin({ userId: 'user-a' })
      const second = makeLogin({ id: first.id, userId: 'user-b' })
      await store.createLogin(first, LONG)
      await store.createLogin(second, LONG)
      assert.deepEqual(await store.getLogin(first.id), second)
      assert.deepEqual(await store.listLogins('user-a'), [])
      assert.deepEqual(await store.listLogins('user-b'), [second])
    })

    test('deleteLogins deletes the user\'s listed logins and their series; unknown ids and other users\' logins are left', async () => {
      const store = await createStore()
      const kept = makeLogin()
      const plain = makeLogin()
      const remembered = makeRemembered()
      const other = makeRemembered('user-2')
      await store.createLogin(kept, LONG)
      await store.createLogin(plain, LONG)
      await store.createLogin(remembered.login, LONG, remembered.series)
      await store.createLogin(other.login, LONG, other.series)

      await store.deleteLogins('user-1', [plain.id, remembered.login.id, newId(), other.login.id])
      assert.equal(await store.getLogin(plain.id), null)
      assert.equal(await store.getLogin(remembered.login.id), null)
      assert.equal(await store.getSeries(remembered.series.selector), null, 'the series goes with its login')
      assert.deepEqual(await store.listLogins('user-1'), [kept])
      assert.deepEqual(await store.getLogin(other.login.id), other.login, 'another user\'s login id is ignored')
      assert.deepEqual(await store.getSeries(other.series.selector), other.series)

      await store.deleteLogins('user-1', [])
      await store.deleteLogins('user-1', [kept.id, kept.id])
      assert.deepEqual(await store.listLogins('user-1'), [])
      await store.deleteLogins('user-2', [other.login.id])
      assert.equal(await store.getSeries(other.series.selector), null)
    })

    test('rotateSeries, current validator: rotated; the new login replaces the old', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      const rotation = makeRotation(series, 'v1', 'v2', { now: series.rotatedAt + 5000 })
      const result = await store.rotateSeries(series.selector, rotation)
      const expected = {
        ...series,
        loginId: rotation.login.id,
        validatorHash: hash('v2'),
        previousHash: hash('v1'),
        rotatedAt: rotation.now
      }
      assert.deepEqual(result, { status: 'rotated', series: expected })
      assert.deepEqual(await store.getSeries(series.selector), expected)
      assert.equal(await store.getLogin(login.id), null, 'the previous login is deleted')
      assert.deepEqual(await store.getLogin(rotation.login.id), rotation.login)
      assert.deepEqual(await store.listLogins('user-1'), [rotation.login])

      // The next restore presents v2.
      const again = makeRotation(expected, 'v2', 'v3')
      assert.equal((await store.rotateSeries(series.selector, again)).status, 'rotated')
      assert.deepEqual(ids(await store.listLogins('user-1')), [again.login.id])
    })

    test('rotateSeries, previous validator within the grace window: grace, nothing changes', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      const rotation = makeRotation(series, 'v1', 'v2')
      const { series: rotated } = await store.rotateSeries(series.selector, rotation)

      const late = makeRotation(series, 'v1', 'v9', { now: rotation.now + GRACE })
      assert.deepEqual(await store.rotateSeries(series.selector, late), { status: 'grace', series: rotated })
      assert.equal(rotated.loginId, rotation.login.id, 'the login the rotation made')
      assert.deepEqual(await store.getSeries(series.selector), rotated)
      assert.equal(await store.getLogin(late.login.id), null, 'a grace answer creates no login')
      assert.deepEqual(await store.listLogins('user-1'), [rotation.login])
    })

    test('rotateSeries, one validator presented twice at once: one rotation, one grace', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      const results = await Promise.all([
        store.rotateSeries(series.selector, makeRotation(series, 'v1', 'v2')),
        store.rotateSeries(series.selector, makeRotation(series, 'v1', 'v3'))
      ])
      assert.deepEqual(results.map((r) => r.status).sort(), ['grace', 'rotated'])
      assert.equal((await store.listLogins('user-1')).length, 1)
    })

    test('rotateSeries, previous validator after the grace window: theft; the series and its login are deleted', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      const rotation = makeRotation(series, 'v1', 'v2')
      const { series: rotated } = await store.rotateSeries(series.selector, rotation)

      const copied = makeRotation(series, 'v1', 'v9', { now: rotation.now + GRACE + 1 })
      assert.deepEqual(await store.rotateSeries(series.selector, copied), { status: 'theft', series: rotated })
      assert.equal(await store.getSeries(series.selector), null)
      assert.equal(await store.getLogin(rotation.login.id), null)
      assert.equal(await store.getLogin(copied.login.id), null)
      assert.deepEqual(await store.listLogins('user-1'), [])
      assert.deepEqual(await store.rotateSeries(series.selector, makeRotation(rotated, 'v2', 'v3')), { status: 'unknown' })
    })

    test('rotateSeries, wrong validator: theft, before and after a rotation', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      assert.deepEqual(await store.rotateSeries(series.selector, makeRotation(series, 'guess', 'v2')), { status: 'theft', series })
      assert.equal(await store.getSeries(series.selector), null)
      assert.equal(await store.getLogin(login.id), null)

      const next = makeRemembered()
      await store.createLogin(next.login, LONG, next.series)
      await store.rotateSeries(next.series.selector, makeRotation(next.series, 'v1', 'v2'))
      const result = await store.rotateSeries(next.series.selector, makeRotation(next.series, 'guess', 'v3'))
      assert.equal(result.status, 'theft')
      assert.deepEqual(await store.listLogins('user-1'), [])
    })

    test('rotateSeries: an unknown selector, or an expired series, is unknown and creates nothing', async () => {
      const store = await createStore()
      const unknown = makeRotation({ userId: 'user-1', selector: newId() }, 'v1', 'v2')
      assert.deepEqual(await store.rotateSeries(newId(), unknown), { status: 'unknown' })
      assert.equal(await store.getLogin(unknown.login.id), null)

      const { login, series } = makeRemembered('user-1', { expiresAt: Date.now() + 100 })
      await store.createLogin(login, LONG, series)
      await sleep(250)
      assert.equal(await store.getSeries(series.selector), null)
      const late = makeRotation(series, 'v1', 'v2')
      assert.deepEqual(await store.rotateSeries(series.selector, late), { status: 'unknown' })
      assert.equal(await store.getLogin(late.login.id), null)
      assert.deepEqual(ids(await store.listLogins('user-1')), [login.id], 'the login lives its own life')
    })

    test('extendSeries moves the expiry; an unknown or expired series stays gone', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered('user-1', { expiresAt: Date.now() + 300 })
      await store.createLogin(login, LONG, series)
      const expiresAt = Date.now() + DAY
      await store.extendSeries(series.selector, expiresAt)
      await sleep(500)
      assert.deepEqual(await store.getSeries(series.selector), { ...series, expiresAt })

      await store.extendSeries(series.selector, Date.now() + 100)
      await sleep(250)
      assert.equal(await store.getSeries(series.selector), null)
      await store.extendSeries(series.selector, Date.now() + DAY)
      assert.equal(await store.getSeries(series.selector), null)
      const unknown = newId()
      assert.equal(await store.extendSeries(unknown, Date.now() + DAY), undefined)
      assert.equal(await store.getSeries(unknown), null)
    })

    test('extendSeries keeps the login it backs alive at least as long, so deleting the user\'s logins reaches the series', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, 200, series) // a login shorter-lived than its series
      await store.extendSeries(series.selector, Date.now() + DAY)
      await sleep(300)
      assert.deepEqual(await store.getLogin(login.id), login, 'the login lives on with its series')
      assert.deepEqual(ids(await store.listLogins('user-1')), [login.id])
      await store.deleteLogins('user-1', [login.id])
      assert.equal(await store.getSeries(series.selector), null)
    })

    test('bad arguments are rejected before anything is saved', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      for (const ttl of [0, -1, 1.5, NaN, Infinity, '1000']) {
        await assert.rejects(store.createLogin(login, ttl), RangeError, `ttl ${ttl}`)
      }
      await assert.rejects(store.createLogin({ ...login, method: 'magic' }, LONG), { name: 'TypeError', message: /login must be a LoginRecord/ })
      await assert.rejects(store.createLogin({ ...login, series: 42 }, LONG), TypeError)
      await assert.rejects(store.createLogin(null, LONG), TypeError)
      await assert.rejects(store.createLogin(login, LONG, { ...series, previousHash: 1 }), { name: 'TypeError', message: /series must be a RememberSeries/ })
      await assert.rejects(store.createLogin(login, LONG, { ...series, expiresAt: NaN }), { name: 'RangeError', message: /series\.expiresAt/ })
      assert.equal(await store.getLogin(login.id), null)
      assert.equal(await store.getSeries(series.selector), null)

      await store.createLogin(login, LONG, series)
      await assert.rejects(store.touchLogin(login.id, NaN, LONG), { name: 'RangeError', message: /lastSeenAt/ })
      await assert.rejects(store.touchLogin(login.id, Date.now(), 0), { name: 'RangeError', message: /ttl/ })
      await assert.rejects(store.extendSeries(series.selector, NaN), { name: 'RangeError', message: /expiresAt/ })
      const rotation = makeRotation(series, 'v1', 'v2')
      await assert.rejects(store.rotateSeries(series.selector, { ...rotation, loginTtl: 0 }), /rotation\.loginTtl/)
      await assert.rejects(store.rotateSeries(series.selector, { ...rotation, now: NaN }), /rotation\.now/)
      await assert.rejects(store.rotateSeries(series.selector, { ...rotation, graceMs: -1 }), /rotation\.graceMs/)
      await assert.rejects(store.rotateSeries(series.selector, { ...rotation, login: {} }), /rotation\.login must be a LoginRecord/)
      assert.deepEqual(await store.getSeries(series.selector), series, 'nothing rotated')
      assert.deepEqual(await store.rotateSeries(series.selector, { ...rotation, graceMs: 0 }), {
        status: 'rotated',
        series: { ...series, loginId: rotation.login.id, validatorHash: hash('v2'), previousHash: hash('v1'), rotatedAt: rotation.now }
      })
    })
  })
}

storeContract('MemoryLoginStore', async () => new MemoryLoginStore())

describe('MemoryLoginStore', () => {
  test('memory stays bounded under churn: abandoned logins and series are purged by later writes', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const store = new MemoryLoginStore()
    for (let i = 0; i < 500; i++) {
      const { login, series } = makeRemembered(`churn-${i}`, { expiresAt: Date.now() + 100 })
      await store.createLogin(login, 100, series)
      await store.createLogin(makeLogin({ userId: `churn-${i}` }), 100)
    }
    assert.equal(store.logins.size, 1000)
    assert.equal(store.series.size, 500)
    assert.equal(store.users.size, 500)
    t.mock.timers.tick(101)
    const live = makeLogin({ userId: 'live' })
    await store.createLogin(live, LONG)
    for (let i = 0; i < 300; i++) await store.touchLogin(live.id, Date.now(), LONG)
    assert.equal(store.logins.size, 1, 'only the live login is left')
    assert.equal(store.series.size, 0)
    assert.deepEqual([...store.users.keys()], ['live'])
    assert.deepEqual(ids(await store.listLogins('live')), [live.id])
  })

  test('it starts no timer: nothing keeps the process alive, nothing to close', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
    const before = timers()
    const store = new MemoryLoginStore()
    const { login, series } = makeRemembered()
    await store.createLogin(login, 50, series)
    await store.touchLogin(login.id, Date.now(), 50)
    assert.equal(timers(), before)
  })
})

// Outside CI a machine without redis-server skips the Redis part; under CI it fails here.
test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

/** One private redis-server for the file, and two clients on it (two app instances); started on first use. */
let redis
function useRedis () {
  redis ??= (async () => {
    const { createClient } = require('redis')
    const server = await startRedis()
    const connect = async (options = {}) => {
      const client = createClient({ url: server.url, ...options })
      client.on('error', () => {})
      await client.connect()
      return client
    }
    return { server, connect, A: await connect(), B: await connect() }
  })()
  return redis
}

after(async () => {
  // Nothing to stop when the server never started (skipped, or the failure is reported by the tests).
  const started = await redis?.catch(() => null)
  if (!started) return
  const { server, A, B } = started
  A.destroy()
  B.destroy()
  await server.stop()
})

const newPrefix = () => `test:${newId()}:`

storeContract('RedisLoginStore', async () => {
  const { A } = await useRedis()
  return new RedisLoginStore({ client: A, prefix: newPrefix() })
}, { skip: skipWithoutRedis() })

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

describe('RedisLoginStore', { skip: skipWithoutRedis(), concurrency: true }, () => {
  test('the client option must have sendCommand; the prefix must be a string', async () => {
    assert.throws(() => new RedisLoginStore(), { name: 'TypeError', message: /client option/ })
    assert.throws(() => new RedisLoginStore({}), { name: 'TypeError', message: /client option/ })
    assert.throws(() => new RedisLoginStore({ client: {} }), { name: 'TypeError', message: /client option/ })
    assert.throws(() => new RedisLoginStore({ client: { sendCommand: 'no' } }), { name: 'TypeError', message: /client option/ })
    const client = { sendCommand: async () => null }
    assert.throws(() => new RedisLoginStore({ client, prefix: 1 }), { name: 'TypeError', message: /prefix option/ })
    assert.ok(new RedisLoginStore({ client }))
  })

  test('the default prefix is fastify-login:', async () => {
    const { A } = await useRedis()
    const store = new RedisLoginStore({ client: A })
    const login = makeLogin({ userId: `default-${newId()}` })
    await store.createLogin(login, LONG)
    assert.deepEqual(await keysOf(A, `fastify-login:user:${login.userId}`), [`fastify-login:user:${login.userId}`])
    await store.deleteLogins(login.userId, [login.id])
    assert.equal(await A.exists(`fastify-login:login:${login.id}`), 0)
  })

  test('two instances logging one user in at once lose no record (1,000 concurrent createLogin)', async () => {
    const { A, B } = await useRedis()
    const prefix = newPrefix()
    const stores = [new RedisLoginStore({ client: A, prefix }), new RedisLoginStore({ client: B, prefix })]
    const logins = Array.from({ length: 1000 }, (_, i) => makeLogin({ createdAt: 1_700_000_000_000 + i }))
    await Promise.all(logins.map((login, i) => stores[i % 2].createLogin(login, LONG)))
    assert.deepEqual(ids(await stores[0].listLogins('user-1')), ids(logins))
    assert.equal((await stores[1].listLogins('user-1')).length, 1000)
  })

  test('every key has a TTL: logins, series and user indexes, after every kind of write', async () => {
    const { A } = await useRedis()
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client: A, prefix })
    const plain = makeLogin()
    await store.createLogin(plain, LONG)
    await store.touchLogin(plain.id, Date.now(), 2 * LONG)
    const kept = makeRemembered()
    await store.createLogin(kept.login, LONG, kept.series)
    await store.extendSeries(kept.series.selector, Date.now() + DAY)
    const rotated = makeRemembered('user-2')
    await store.createLogin(rotated.login, LONG, rotated.series)
    const rotation = makeRotation(rotated.series, 'v1', 'v2')
    await store.rotateSeries(rotated.series.selector, rotation)
    await store.rotateSeries(rotated.series.selector, makeRotation(rotated.series, 'v1', 'v3'))
    const stolen = makeRemembered('user-3')
    await store.createLogin(stolen.login, LONG, stolen.series)
    const other3 = makeLogin({ userId: 'user-3' })
    await store.createLogin(other3, LONG)
    await store.rotateSeries(stolen.series.selector, makeRotation(stolen.series, 'guess', 'v2'))
    const deleted = makeLogin({ userId: 'user-4' })
    await store.createLogin(deleted, LONG)
    const other4 = makeLogin({ userId: 'user-4' })
    await store.createLogin(other4, LONG)
    await store.deleteLogins('user-4', [deleted.id])
    await store.listLogins('user-1')

    const keys = await keysOf(A, prefix)
    assert.deepEqual(keys, [
      ...[plain, kept.login, rotation.login, other3, other4].map((login) => `${prefix}login:${login.id}`),
      `${prefix}series:${kept.series.selector}`,
      `${prefix}series:${rotated.series.selector}`,
      ...['user-1', 'user-2', 'user-3', 'user-4'].map((userId) => `${prefix}user:${userId}`)
    ].sort())
    for (const key of keys) {
      const ttl = await A.pTTL(key)
      assert.ok(ttl > 0, `${key} has a TTL (PTTL ${ttl})`)
    }
    // A user's index lives as long as its longest login, not longer: here the
    // remembered login, which extendSeries made live as long as its series.
    const index = await A.pTTL(`${prefix}user:user-1`)
    const longest = Math.max(await A.pTTL(`${prefix}login:${plain.id}`), await A.pTTL(`${prefix}login:${kept.login.id}`))
    assert.ok(index >= longest - 50 && index <= longest + 50, `index PTTL ${index}, longest login PTTL ${longest}`)
    assert.ok((await A.pTTL(`${prefix}series:${kept.series.selector}`)) > DAY - LONG)
    assert.ok((await A.pTTL(`${prefix}login:${kept.login.id}`)) > DAY - LONG, 'the remembered login lives as long as its series')
  })

  test('keys are gone after their TTL, and the index keeps no expired member', async () => {
    const { A } = await useRedis()
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client: A, prefix })
    const { login, series } = makeRemembered('user-1', { expiresAt: Date.now() + 150 })
    await store.createLogin(login, 100, series)
    const short = makeLogin({ userId: 'user-2' })
    const long = makeLogin({ userId: 'user-2' })
    await store.createLogin(short, 100)
    await store.createLogin(long, LONG)
    await sleep(300)
    for (const key of [`login:${login.id}`, `series:${series.selector}`, 'user:user-1', `login:${short.id}`]) {
      assert.equal(await A.exists(prefix + key), 0, `${key} expired`)
    }
    assert.deepEqual(await keysOf(A, prefix), [`${prefix}login:${long.id}`, `${prefix}user:user-2`])
    assert.deepEqual(await A.zRange(`${prefix}user:user-2`, 0, -1), [short.id, long.id], 'expired, not yet trimmed')
    assert.deepEqual(await store.listLogins('user-2'), [long])
    assert.deepEqual(await A.zRange(`${prefix}user:user-2`, 0, -1), [long.id], 'listing trims')

    await store.createLogin(short, 100)
    await sleep(300)
    await store.touchLogin(long.id, Date.now(), LONG)
    assert.deepEqual(await A.zRange(`${prefix}user:user-2`, 0, -1), [long.id], 'a write trims too')
  })

  test('a corrupt value is absent, never a crash', async () => {
    const { A } = await useRedis()
    const prefix = newPrefix()
    const store = new RedisLoginStore({ client: A, prefix })
    const login = makeLogin()
    const { series } = makeRemembered()
    const corrupt = ['not json', '"a string"', 'null', '{"id":1}', JSON.stringify({ ...login, method: 'magic' }),
      JSON.stringify({ ...login, id: 'another' }), JSON.stringify({ ...login, series: 42 })]
    for (const value of corrupt) {
      await A.set(`${prefix}login:${login.id}`, value, { PX: LONG })
      assert.equal(await store.getLogin(login.id), null, value)
    }
    const seriesValues = ['{', JSON.stringify({ ...series, previousHash: 1 }), JSON.stringify({ ...series, selector: 'another' }),
      JSON.stringify({ ...series, lifetime: '1' })]
    for (const value of seriesValues) {
      await A.set(`${prefix}series:${series.selector}`, value, { PX: LONG })
      assert.equal(await store.getSeries(series.selector), null, value)
    }

    // Unreadable by the scripts as well.
    for (const value of ['{', JSON.stringify({ ...series, previousHash: 1 }), JSON.stringify({ ...series, rotatedAt: 'now' })]) {
      await A.set(`${prefix}series:${series.selector}`, value, { PX: LONG })
      assert.deepEqual(await store.rotateSeries(series.selector, makeRotation(series, 'v1', 'v2')), { status: 'unknown' })
      await store.extendSeries(series.selector, Date.now() + DAY)
      assert.equal(await A.get(`${prefix}series:${series.selector}`), value, 'left as it was')
    }

    // A corrupt login listed under the user: not listed, not touched, deleted with the others.
    const good = makeLogin()
    await store.createLogin(good, LONG)
    for (const value of ['not json', '[1]', JSON.stringify({ ...login, userId: 7 })]) {
      await A.set(`${prefix}login:${login.id}`, value, { PX: LONG })
      await A.zAdd(`${prefix}user:user-1`, { score: Date.now() + LONG, value: login.id })
      assert.deepEqual(await store.listLogins('user-1'), [good])
      await store.touchLogin(login.id, Date.now(), LONG)
      assert.equal(await A.get(`${prefix}login:${login.id}`), value, 'not rewritten by a touch')
      await store.deleteLogins('user-1', [login.id])
      assert.equal(await A.exists(`${prefix}login:${login.id}`), 0)
    }
    // Another user's login, or an index member whose key is gone: left out of the list.
    await A.set(`${prefix}login:${login.id}`, JSON.stringify({ ...login, userId: 'user-2' }), { PX: LONG })
    await A.zAdd(`${prefix}user:user-1`, [{ score: Date.now() + LONG, value: login.id }, { score: Date.now() + LONG, value: 'gone' }])
    assert.deepEqual(await store.listLogins('user-1'), [good])
    assert.deepEqual((await A.zRange(`${prefix}user:user-1`, 0, -1)).sort(), [good.id, login.id].sort(), '"gone" was trimmed')
    await store.deleteLogins('user-1', [login.id])
    assert.notEqual(await A.get(`${prefix}login:${login.id}`), null, 'another user\'s login is not deleted')
  })

  test('scripts are sent again when the server lost them (SCRIPT FLUSH)', async () => {
    const { A } = await useRedis()
    const store = new RedisLoginStore({ client: A, prefix: newPrefix() })
    const first = makeLogin()
    await store.createLogin(first, LONG)
    await A.sendCommand(['SCRIPT', 'FLUSH'])
    const second = makeLogin()
    await store.createLogin(second, LONG)
    assert.deepEqual(ids(await store.listLogins('user-1')).sort(), [first.id, second.id].sort())
  })

  test('a client that answers Buffers works the same', async () => {
    const { connect } = await useRedis()
    const { RESP_TYPES } = require('redis')
    const client = await connect({ commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } })
    try {
      const store = new RedisLoginStore({ client, prefix: newPrefix() })
      const { login, series } = makeRemembered()
      await store.createLogin(login, LONG, series)
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.deepEqual(await store.listLogins('user-1'), [login])
      assert.deepEqual(await store.getSeries(series.selector), series)
      const rotation = makeRotation(series, 'v1', 'v2')
      assert.equal((await store.rotateSeries(series.selector, rotation)).status, 'rotated')
      assert.deepEqual(await store.rotateSeries(newId(), rotation), { status: 'unknown' })
    } finally {
      client.destroy()
    }
  })

  test('errors other than NOSCRIPT, and replies it cannot read, are errors', async () => {
    const calls = []
    const failing = (error) => new RedisLoginStore({
      client: { sendCommand: async (args) => { calls.push(args[0]); throw error } }
    })
    await assert.rejects(failing(new Error('READONLY You can\'t write against a read only replica.')).createLogin(makeLogin(), LONG), /READONLY/)
    await assert.rejects(failing('a string').listLogins('user-1'), (err) => err === 'a string')
    assert.deepEqual(calls, ['EVALSHA', 'EVALSHA'], 'no EVAL retry')

    const answering = (reply) => new RedisLoginStore({ client: { sendCommand: async () => reply } })
    assert.equal(await answering(42).getLogin('x'), null)
    assert.equal(await answering(Buffer.from('{')).getSeries('x'), null)
    await assert.rejects(answering('OK').listLogins('user-1'), /unexpected reply to listLogins/)
    const { series } = makeRemembered()
    const rotation = makeRotation(series, 'v1', 'v2')
    for (const reply of ['OK', [], ['rotated'], ['stolen', JSON.stringify(series)], ['grace', '{']]) {
      await assert.rejects(answering(reply).rotateSeries(series.selector, rotation), /unexpected reply to rotateSeries/, JSON.stringify(reply))
    }
  })
})
