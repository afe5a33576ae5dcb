'use strict'

// The contract of the login registry's stores (lib/registry/stores/types.ts): one
// suite, run against every store (memory; Redis on one server with node-redis 6
// and 5; Redis Cluster). Each test makes its own store (Redis: its own key
// prefix), so the tests of a suite run concurrently. How time is handled:
// store-fixtures.js.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { userTag } = require('../../dist/registry/stores/records.js')
const {
  DAY, LONG, END_BATCH, MAX_ENDED, newId, hash, ids, eventually, withShortLife, makeLogin, makeRemembered, newSelector,
  createOptions, endOptions, update, recorder
} = require('./store-fixtures')

const badInput = (err) => err instanceof TypeError || err instanceof RangeError

/** The logins in listLogins' order: most recently seen first, then the greater id. */
const byRecentSight = (logins) => [...logins].sort((a, b) => b.lastSeenAt - a.lastSeenAt || (a.id < b.id ? 1 : -1))

/**
 * `createStore()` resolves a new, empty store (its cleanup is the caller's);
 * `options` go to describe.
 */
function storeContract (name, createStore, options = {}) {
  describe(`${name} meets the LoginStore contract`, { concurrency: true, ...options }, () => {
    test('createLogin then getLogin gives the record back; unknown ids, and another user\'s, are missing', async () => {
      const store = await createStore()
      const login = makeLogin('k:üser:1', { device: 'Firefox on Linux' })
      assert.deepEqual(await store.createLogin(login, createOptions()), { status: 'created', evicted: [] })
      assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'live', login })
      assert.deepEqual(await store.getLogin(login.userId, newId()), { status: 'missing' })
      assert.deepEqual(await store.getLogin('k:user-2', login.id), { status: 'missing' })
      assert.deepEqual(await store.getLogin(login.userId, 'not an id!'), { status: 'missing' })
      const staff = makeLogin('k:user-3', { method: 'impersonation', impersonatorId: 'staff:admin' })
      await store.createLogin(staff, createOptions())
      assert.deepEqual(await store.getLogin(staff.userId, staff.id), { status: 'live', login: staff })
    })

    test('a login with its series: both are saved, and the series is found from its selector alone', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, createOptions({ series }))
      assert.equal(series.selector.slice(0, 4), userTag(login.userId), 'the selector starts with the user\'s tag')
      assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'live', login })
      assert.deepEqual(await store.getSeries(series.selector), series)
      assert.equal(await store.getSeries(newSelector(login.userId)), null)
      for (const selector of ['', 'short', series.selector + 'x', series.selector.slice(0, -1) + '!', 42]) {
        assert.equal(await store.getSeries(selector), null, String(selector))
      }
    })

    test('records go in and come out as copies', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      const original = { login: { ...login }, series: { ...series } }
      await store.createLogin(login, createOptions({ series }))
      login.userId = 'k:mallory'
      series.validatorHash = 'forged'
      const got = await store.getLogin(original.login.userId, login.id)
      got.login.ip = '198.51.100.1'
      const [listed] = await store.listLogins(original.login.userId, { limit: 10, ended: false })
      listed.remembered = false
      const gotSeries = await store.getSeries(series.selector)
      gotSeries.loginId = 'forged'
      assert.deepEqual(await store.getLogin(original.login.userId, login.id), { status: 'live', login: original.login })
      assert.deepEqual(await store.listLogins(original.login.userId, { limit: 10, ended: false }), [original.login])
      assert.deepEqual(await store.getSeries(series.selector), original.series)
    })

    test('a login id or series selector is never used twice, live or ended', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, createOptions({ series }))
      const again = makeRemembered()
      const sameSelector = { ...again.login, series: series.selector }
      await assert.rejects(store.createLogin({ ...login, lastSeenAt: login.lastSeenAt + 1 }, createOptions()), /already in use/)
      await assert.rejects(store.createLogin(sameSelector, createOptions({ series: { ...again.series, selector: series.selector } })), /already in use/)
      await store.endLogins(login.userId, [login.id], endOptions({ keepEndedFor: DAY }))
      await assert.rejects(store.createLogin(login, createOptions()), /already in use/)
      assert.deepEqual(await store.listLogins(login.userId, { limit: 10, ended: false }), [])
      assert.equal(await store.getSeries(series.selector), null)
    })

    test('bad arguments are refused with a clear error before anything is saved', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      const user = login.userId
      const badLogins = [{ ...login, id: 'has space' }, { ...login, id: '' }, { ...login, userId: '' }, { ...login, userId: 'k:\ud800' },
        { ...login, method: 'magic' }, { ...login, createdAt: Number.NaN }, { ...login, lastSeenAt: 1.5 }, { ...login, remembered: 'yes' },
        { ...login, series: 'bad selector' }, { ...login, device: 7 }, { ...login, impersonatorId: '' }, null, 'login']
      for (const bad of badLogins) await assert.rejects(store.createLogin(bad, createOptions({ series })), badInput, JSON.stringify(bad))
      const badOptions = [{ ttl: 0 }, { ttl: 1.5 }, { ttl: Number.POSITIVE_INFINITY }, { maxPerUser: 0 }, { onLimit: 'drop' },
        { keepEndedFor: -1 }, { now: Number.NaN }, { series: { ...series, selector: newSelector('k:someone-else') } },
        { series: { ...series, loginId: newId() } }, { series: { ...series, previousHash: 1 } }, { series: { ...series, spentHash: '' } },
        { series: { ...series, expiresAt: 0 } }]
      for (const bad of badOptions) await assert.rejects(store.createLogin(login, createOptions(bad)), badInput, JSON.stringify(bad))
      await assert.rejects(store.createLogin(login), badInput)
      await assert.rejects(store.getLogin('k:\udbff', login.id), badInput)
      await assert.rejects(store.touchLogin(user, login.id, Number.NaN, LONG), badInput)
      await assert.rejects(store.touchLogin(user, login.id, Date.now(), 0), badInput)
      await assert.rejects(store.listLogins(user, { limit: 0, ended: false }), badInput)
      await assert.rejects(store.listLogins(user, { limit: 10, ended: 'yes' }), badInput)
      await assert.rejects(store.endLogins(user, [login.id], endOptions({ reason: 'bored' })), badInput)
      await assert.rejects(store.endLogins(user, { all: false, except: null, limit: 10 }, endOptions()), badInput)
      await assert.rejects(store.endLogins(user, { all: true, except: null, limit: 0 }, endOptions()), badInput)
      await assert.rejects(store.endLogins(user, 'everything', endOptions()), badInput)
      await assert.rejects(store.updateSeries(user, series.selector, update(series, 'v2', { validatorHash: '' })), badInput)
      await assert.rejects(store.updateSeries(user, series.selector, update(series, 'v2', { loginTtl: 0 })), badInput)
      await assert.rejects(store.extendSeries(user, series.selector, Number.NaN), badInput)
      assert.deepEqual(await store.listLogins(user, { limit: 10, ended: false }), [])
      assert.equal(await store.getSeries(series.selector), null)
    })

    test('user ids never share records: lone surrogates are refused, look-alike ids stay apart', async () => {
      const store = await createStore()
      for (const bad of ['\ud800', '\udbff', 'k:a\udc00b', '']) {
        await assert.rejects(store.createLogin(makeLogin(bad), createOptions()), badInput, JSON.stringify(bad))
        await assert.rejects(store.getLogin(bad, newId()), badInput)
        await assert.rejects(store.endLogins(bad, { all: true, except: null, limit: 10 }, endOptions()), badInput)
      }
      const lookalikes = ['u', 'u:', ':u', 'u}', '{u}', 'u:logins', 'ü', 'u\u0000', '😀', 'u ', 'U', 'u:series']
      const logins = lookalikes.map((userId) => makeLogin(userId))
      await Promise.all(logins.map((login) => store.createLogin(login, createOptions())))
      for (const login of logins) {
        assert.deepEqual(await store.listLogins(login.userId, { limit: 100, ended: false }), [login], JSON.stringify(login.userId))
      }
      assert.deepEqual(ids(await store.endLogins('u', { all: true, except: null, limit: 100 }, endOptions())), [logins[0].id])
      for (const login of logins.slice(1)) assert.equal((await store.getLogin(login.userId, login.id)).status, 'live')
    })

    test('touchLogin: lastSeenAt only moves forward, the TTL counts from now, a remembered login outlives its series', async () => {
      const store = await createStore()
      const plain = makeLogin()
      const kept = makeLogin()
      const remembered = makeRemembered()
      await store.createLogin(plain, createOptions())
      await store.createLogin(kept, createOptions())
      await store.createLogin(remembered.login, createOptions({ series: remembered.series }))
      assert.equal(await store.touchLogin(plain.userId, plain.id, plain.lastSeenAt + 5000, LONG), true)
      assert.equal((await store.getLogin(plain.userId, plain.id)).login.lastSeenAt, plain.lastSeenAt + 5000)
      assert.equal(await store.touchLogin(plain.userId, plain.id, plain.lastSeenAt + 1000, LONG), true)
      assert.equal((await store.getLogin(plain.userId, plain.id)).login.lastSeenAt, plain.lastSeenAt + 5000, 'not back')
      assert.equal(await store.touchLogin(plain.userId, newId(), Date.now(), LONG), false)
      assert.equal(await store.touchLogin('k:user-2', plain.id, Date.now(), LONG), false, 'another user\'s login')

      // A short TTL from now: the plain login goes; the remembered one stays as long as its series.
      assert.equal(await store.touchLogin(plain.userId, plain.id, Date.now(), 50), true)
      assert.equal(await store.touchLogin(remembered.login.userId, remembered.login.id, Date.now(), 50), true)
      await eventually(async () => (await store.getLogin(plain.userId, plain.id)).status === 'missing', 'the touched login expired')
      assert.equal((await store.getLogin(remembered.login.userId, remembered.login.id)).status, 'live')
      assert.equal((await store.getLogin(kept.userId, kept.id)).status, 'live')
      assert.equal(await store.touchLogin(plain.userId, plain.id, Date.now(), LONG), false, 'an expired login is not revived')
    })

    test('an expired login is missing (no end recorded), unlisted, and its id ends nothing', async () => {
      const store = await createStore()
      const short = makeLogin()
      const long = makeLogin()
      await store.createLogin(short, createOptions({ ttl: 100 }))
      await store.createLogin(long, createOptions())
      await eventually(async () => (await store.getLogin(short.userId, short.id)).status === 'missing', 'the login expired')
      assert.deepEqual(await store.listLogins(short.userId, { limit: 10, ended: false }), [long])
      assert.deepEqual(await store.endLogins(short.userId, [short.id], endOptions()), [])
      assert.deepEqual(await store.getLogin(short.userId, short.id), { status: 'missing' })
    })

    test('listLogins: most recently seen first (ties: the greater id), at most limit, nobody else\'s', async () => {
      const store = await createStore()
      const base = Date.now()
      const logins = [3, 1, 3, 2, 0, 3].map((offset) => makeLogin('k:user-1', { lastSeenAt: base + offset }))
      await Promise.all(logins.map((login) => store.createLogin(login, createOptions())))
      await store.createLogin(makeLogin('k:user-2'), createOptions())
      const expected = byRecentSight(logins)
      assert.deepEqual(await store.listLogins('k:user-1', { limit: 10, ended: false }), expected)
      assert.deepEqual(await store.listLogins('k:user-1', { limit: 2, ended: false }), expected.slice(0, 2))
      assert.deepEqual(await store.listLogins('k:nobody', { limit: 10, ended: false }), [])
      await store.touchLogin('k:user-1', logins[4].id, base + 10, LONG)
      assert.equal((await store.listLogins('k:user-1', { limit: 1, ended: false }))[0].id, logins[4].id)
    })

    test('maxPerUser, evict-oldest: the least recently seen logins end (evicted) with their series, reported and published', async () => {
      const store = await createStore()
      const heard = recorder()
      const stop = await store.watch(heard.watcher)
      try {
        const base = Date.now()
        const a = makeRemembered('k:user-1', { login: { lastSeenAt: base } })
        const b = makeLogin('k:user-1', { lastSeenAt: base + 1 })
        const c = makeLogin('k:user-1', { lastSeenAt: base + 2 })
        await store.createLogin(a.login, createOptions({ series: a.series, maxPerUser: 3 }))
        await store.createLogin(b, createOptions({ maxPerUser: 3 }))
        await store.createLogin(c, createOptions({ maxPerUser: 3 }))
        await store.touchLogin('k:user-1', a.login.id, base + 5, LONG)

        const d = makeLogin('k:user-1', { lastSeenAt: base + 6 })
        assert.deepEqual(await store.createLogin(d, createOptions({ maxPerUser: 3 })), { status: 'created', evicted: [b] })
        assert.deepEqual(await store.getLogin('k:user-1', b.id), { status: 'ended', reason: 'evicted' })
        assert.deepEqual(ids(await store.listLogins('k:user-1', { limit: 10, ended: false })), [d.id, a.login.id, c.id])

        // A lower cap: every login over it goes at once, least recently seen first.
        const e = makeLogin('k:user-1', { lastSeenAt: base + 7 })
        const result = await store.createLogin(e, createOptions({ maxPerUser: 1, keepEndedFor: DAY }))
        assert.deepEqual(ids(result.evicted), [c.id, a.login.id, d.id])
        assert.equal(await store.getSeries(a.series.selector), null, 'the evicted login\'s series is gone')
        assert.deepEqual(await store.listLogins('k:user-1', { limit: 10, ended: false }), [e])
        assert.deepEqual((await store.listLogins('k:user-1', { limit: 10, ended: true })).map((login) => login.endReason),
          ['evicted', 'evicted', 'evicted'])
        await eventually(() => [b.id, c.id, a.login.id, d.id].every((id) => heard.ended.includes(id)), 'the watcher heard every eviction')
      } finally {
        await stop()
      }
    })

    test('maxPerUser, reject: { status: "limit" }, nothing saved, nothing ended', async () => {
      const store = await createStore()
      const logins = [makeLogin(), makeLogin()]
      for (const login of logins) await store.createLogin(login, createOptions({ maxPerUser: 2, onLimit: 'reject' }))
      const third = makeRemembered()
      assert.deepEqual(await store.createLogin(third.login, createOptions({ series: third.series, maxPerUser: 2, onLimit: 'reject' })),
        { status: 'limit' })
      assert.deepEqual(await store.getLogin(third.login.userId, third.login.id), { status: 'missing' })
      assert.equal(await store.getSeries(third.series.selector), null)
      assert.deepEqual(ids(await store.listLogins('k:user-1', { limit: 10, ended: false })).sort(), ids(logins).sort())
    })

    test('endLogins by id: the user\'s logins end with their series and reason; other users\' and unknown ids are ignored', async () => {
      const store = await createStore()
      const heard = recorder()
      const stop = await store.watch(heard.watcher)
      try {
        const a = makeRemembered('k:user-1')
        const b = makeLogin('k:user-1')
        const c = makeLogin('k:user-2')
        await store.createLogin(a.login, createOptions({ series: a.series }))
        await store.createLogin(b, createOptions())
        await store.createLogin(c, createOptions())
        const ended = await store.endLogins('k:user-1', [a.login.id, c.id, 'not an id', newId(), a.login.id], endOptions({ reason: 'logout' }))
        assert.deepEqual(ended, [a.login])
        assert.deepEqual(await store.getLogin('k:user-1', a.login.id), { status: 'ended', reason: 'logout' })
        assert.equal(await store.getSeries(a.series.selector), null)
        assert.equal((await store.getLogin('k:user-1', b.id)).status, 'live')
        assert.equal((await store.getLogin('k:user-2', c.id)).status, 'live')
        assert.deepEqual(await store.endLogins('k:user-1', [a.login.id], endOptions({ reason: 'revoked' })), [])
        assert.deepEqual(await store.getLogin('k:user-1', a.login.id), { status: 'ended', reason: 'logout' }, 'the first reason stays')
        await eventually(() => heard.ended.includes(a.login.id), 'the watcher heard the end')
        assert.ok(!heard.ended.includes(c.id))
      } finally {
        await stop()
      }
    })

    test('theft: ending the series\' login ends the series; the reason is theft', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, createOptions({ series }))
      const found = await store.getSeries(series.selector)
      assert.deepEqual(ids(await store.endLogins(found.userId, [found.loginId], endOptions({ reason: 'theft' }))), [login.id])
      assert.equal(await store.getSeries(series.selector), null)
      assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'ended', reason: 'theft' })
      assert.equal(await store.updateSeries(login.userId, series.selector, update(series, 'v2')), 'unknown')
    })

    test('endLogins all: least recently seen first, at most limit per call, except one; looping ends the rest', async () => {
      const store = await createStore()
      const base = Date.now()
      const logins = [0, 1, 2, 3, 4].map((offset) => makeLogin('k:user-1', { lastSeenAt: base + offset }))
      for (const login of logins) await store.createLogin(login, createOptions())
      const keep = logins[1]
      const all = { all: true, except: keep.id, limit: 2 }
      assert.deepEqual(ids(await store.endLogins('k:user-1', all, endOptions())), [logins[0].id, logins[2].id])
      let ended = []
      for (let round = 0; round < 10; round++) {
        const batch = await store.endLogins('k:user-1', all, endOptions())
        if (batch.length === 0) break
        ended = ended.concat(batch)
      }
      assert.deepEqual(ids(ended), [logins[3].id, logins[4].id])
      assert.deepEqual(await store.listLogins('k:user-1', { limit: 10, ended: false }), [keep])
      assert.deepEqual(ids(await store.endLogins('k:user-1', { all: true, except: null, limit: 5 }, endOptions())), [keep.id])
    })

    test('history: with keepEndedFor, ended logins are listed with endedAt and endReason, most recently ended first', async () => {
      const store = await createStore()
      const base = Date.now()
      const [a, b, c, d] = [makeLogin(), makeLogin(), makeLogin(), makeLogin()]
      for (const login of [a, b, c, d]) await store.createLogin(login, createOptions())
      await store.endLogins('k:user-1', [a.id], endOptions({ reason: 'logout', now: base + 1, keepEndedFor: DAY }))
      await store.endLogins('k:user-1', [b.id], endOptions({ reason: 'revoked', now: base + 3, keepEndedFor: DAY }))
      await store.endLogins('k:user-1', [c.id], endOptions({ reason: 'theft', now: base + 2, keepEndedFor: 0 }))
      const history = await store.listLogins('k:user-1', { limit: 10, ended: true })
      assert.deepEqual(history, [
        { ...b, endedAt: base + 3, endReason: 'revoked' },
        { ...a, endedAt: base + 1, endReason: 'logout' }
      ])
      assert.deepEqual(await store.listLogins('k:user-1', { limit: 1, ended: true }), history.slice(0, 1))
      assert.deepEqual(await store.listLogins('k:user-1', { limit: 10, ended: false }), [d])
      assert.deepEqual(await store.getLogin('k:user-1', c.id), { status: 'ended', reason: 'theft' }, 'a tombstone, not history')
      assert.deepEqual(await store.listLogins('k:user-2', { limit: 10, ended: true }), [])
    })

    test('an ended login\'s reason is known as long as the login would have lived, then it is missing', async () => {
      const store = await createStore()
      await withShortLife(async (life) => {
        const login = makeLogin()
        await store.createLogin(login, createOptions({ ttl: life }))
        if ((await store.endLogins(login.userId, [login.id], endOptions({ reason: 'logout' }))).length === 0) return false
        const lookup = await store.getLogin(login.userId, login.id)
        if (lookup.status === 'missing') return false
        assert.deepEqual(lookup, { status: 'ended', reason: 'logout' })
        await eventually(async () => (await store.getLogin(login.userId, login.id)).status === 'missing', 'the reason was forgotten')
        return true
      })
    })

    test('history records go after keepEndedFor, even when the login would have lived longer', async () => {
      const store = await createStore()
      const login = makeLogin()
      const other = makeLogin()
      await store.createLogin(login, createOptions())
      await store.createLogin(other, createOptions())
      await store.endLogins(login.userId, [login.id], endOptions({ keepEndedFor: 100 }))
      await store.endLogins(other.userId, [other.id], endOptions({ keepEndedFor: DAY }))
      await eventually(async () => (await store.listLogins(login.userId, { limit: 10, ended: true })).length === 1, 'the record went')
      assert.equal((await store.listLogins(login.userId, { limit: 10, ended: true }))[0].id, other.id)
      assert.deepEqual(await store.getLogin(login.userId, login.id), { status: 'ended', reason: 'revoked' }, 'the tombstone stays')
    })

    test('updateSeries: a compare-and-set on the validator hash that touches the series\' login', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered('k:üser "😀" \\ /')
      await store.createLogin(login, createOptions({ series, ttl: 1000 }))
      const now = Date.now() + 1000
      const next = update(series, 'v2', { now, rotatedAt: now, spentHash: hash('v1') })
      assert.equal(await store.updateSeries(login.userId, series.selector, next), 'ok')
      assert.deepEqual(await store.getSeries(series.selector), {
        ...series, validatorHash: hash('v2'), previousHash: hash('v1'), rotatedAt: now, spentHash: hash('v1')
      })
      assert.equal((await store.getLogin(login.userId, login.id)).login.lastSeenAt, now)
      assert.equal(await store.updateSeries(login.userId, series.selector, next), 'changed', 'v1 is no longer current')
      assert.equal(await store.updateSeries('k:user-2', series.selector, update({ validatorHash: hash('v2') }, 'v3')), 'unknown')
      assert.equal(await store.updateSeries(login.userId, newSelector(login.userId), next), 'unknown')
      assert.equal(await store.updateSeries(login.userId, 'not a selector', next), 'unknown')
      const back = update({ validatorHash: hash('v2') }, 'v3', { previousHash: null, spentHash: null })
      assert.equal(await store.updateSeries(login.userId, series.selector, back), 'ok')
      assert.equal((await store.getSeries(series.selector)).previousHash, null)
    })

    test('updateSeries: of one validator presented at once, exactly one compare-and-set wins', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered()
      await store.createLogin(login, createOptions({ series }))
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        store.updateSeries(login.userId, series.selector, update(series, `next-${i}`))))
      assert.equal(results.filter((result) => result === 'ok').length, 1)
      assert.equal(results.filter((result) => result === 'changed').length, 9)
    })

    test('extendSeries moves the expiry, and the login lives at least as long; unknown or another user\'s series: nothing', async () => {
      const store = await createStore()
      await withShortLife(async (life) => {
        const remembered = makeRemembered('k:user-1', { expiresAt: Date.now() + life })
        const plain = makeLogin()
        await store.createLogin(remembered.login, createOptions({ series: remembered.series, ttl: 50 }))
        await store.createLogin(plain, createOptions({ ttl: 50 }))
        const later = Date.now() + DAY
        await store.extendSeries('k:user-2', remembered.series.selector, later)
        await store.extendSeries(remembered.login.userId, newSelector(remembered.login.userId), later)
        await store.extendSeries(remembered.login.userId, remembered.series.selector, later)
        const extended = await store.getSeries(remembered.series.selector)
        if (extended === null) return false
        assert.equal(extended.expiresAt, later)
        await eventually(async () => (await store.getLogin(plain.userId, plain.id)).status === 'missing', 'the plain login expired')
        assert.equal((await store.getLogin(remembered.login.userId, remembered.login.id)).status, 'live')
        assert.equal((await store.getSeries(remembered.series.selector)).expiresAt, later)
        return true
      })
    })

    test('an expired series is gone: getSeries null, updateSeries unknown, extendSeries nothing', async () => {
      const store = await createStore()
      const { login, series } = makeRemembered('k:user-1', { expiresAt: Date.now() + 100 })
      await store.createLogin(login, createOptions({ series, ttl: LONG }))
      await eventually(async () => (await store.getSeries(series.selector)) === null, 'the series expired')
      assert.equal(await store.updateSeries(login.userId, series.selector, update(series, 'v2')), 'unknown')
      await store.extendSeries(login.userId, series.selector, Date.now() + DAY)
      assert.equal(await store.getSeries(series.selector), null)
      assert.equal((await store.getLogin(login.userId, login.id)).status, 'live', 'its login keeps its own TTL')
    })

    test('watch: up, then every end is heard (endLogins, all); the returned function stops it', async () => {
      const store = await createStore()
      const heard = recorder()
      const stop = await store.watch(heard.watcher)
      await eventually(() => heard.ups >= 1, 'the watcher is up')
      const logins = [makeLogin(), makeLogin(), makeLogin()]
      for (const login of logins) await store.createLogin(login, createOptions())
      await store.endLogins('k:user-1', [logins[0].id], endOptions())
      await store.endLogins('k:user-1', { all: true, except: null, limit: 10 }, endOptions())
      await eventually(() => ids(logins).every((id) => heard.ended.includes(id)), 'every end was heard')
      await stop()
      const after = makeLogin()
      await store.createLogin(after, createOptions())
      await store.endLogins('k:user-1', [after.id], endOptions())
      const control = recorder()
      const stopControl = await store.watch(control.watcher)
      try {
        await eventually(() => control.ups >= 1, 'a second watcher is up')
        const last = makeLogin()
        await store.createLogin(last, createOptions())
        await store.endLogins('k:user-1', [last.id], endOptions())
        await eventually(() => control.ended.includes(last.id), 'the second watcher heard the last end')
        assert.ok(!heard.ended.includes(after.id) && !heard.ended.includes(last.id), 'nothing after stop')
      } finally {
        await stopControl()
      }
    })

    test('1,000 logins of one user: all listed in order, capped, ended in bounded batches, history bounded', async () => {
      const store = await createStore()
      const base = Date.now()
      const logins = Array.from({ length: 1000 }, (_, i) => makeLogin('k:crowd', { lastSeenAt: base + i }))
      await Promise.all(logins.map((login) => store.createLogin(login, createOptions({ maxPerUser: 1000 }))))
      const listed = await store.listLogins('k:crowd', { limit: 1000, ended: false })
      assert.deepEqual(ids(listed), ids(byRecentSight(logins)))
      assert.deepEqual(ids(await store.listLogins('k:crowd', { limit: 10, ended: false })), ids(listed.slice(0, 10)))

      const extra = makeLogin('k:crowd', { lastSeenAt: base + 2000 })
      const created = await store.createLogin(extra, createOptions({ maxPerUser: 1000, keepEndedFor: DAY, now: base + 1 }))
      assert.deepEqual(ids(created.evicted), [logins[0].id], 'the least recently seen one')

      // 1,000 more ends: 1,001 ended records for a history of at most MAX_ENDED.
      const all = { all: true, except: null, limit: 1000 }
      const batches = []
      for (let round = 0; round < 50; round++) {
        const batch = await store.endLogins('k:crowd', all, endOptions({ keepEndedFor: DAY, now: base + 10 }))
        if (batch.length === 0) break
        batches.push(batch.length)
      }
      assert.ok(batches.every((size) => size <= END_BATCH), `at most ${END_BATCH} per call: ${batches}`)
      assert.equal(batches.reduce((a, b) => a + b, 0), 1000)
      assert.deepEqual(await store.listLogins('k:crowd', { limit: 1000, ended: false }), [])
      const history = await store.listLogins('k:crowd', { limit: 5000, ended: true })
      assert.equal(history.length, MAX_ENDED, 'the history is bounded')
      assert.ok(!ids(history).includes(logins[0].id), 'the oldest end went first')
    })
  })
}

module.exports = { storeContract }
