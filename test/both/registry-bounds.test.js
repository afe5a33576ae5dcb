'use strict'

// The login registry's bounds and history at the plugin level (the contract's
// "Login registry"): at most `maxPerUser` logins a user, where `onLimit:
// 'evict-oldest'` ends the least recently seen (reason 'evicted', told to its
// browser) and `'reject'` refuses the new login (403 FST_LOGIN_LIMIT) with nothing
// changed; `listLogins(userId, { limit })` most recently seen first; with
// `keepEndedFor`, ended logins listed by `listLogins(userId, { ended: true })` with
// `endedAt` and `endReason`; `describeDevice(request)` stored as `device`, failing
// closed (FST_LOGIN_CALLBACK naming it) when it throws or answers something else
// than a string.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryLoginStore } = require('fastify-login')
const { createJar, setCookies, SESSION_COOKIE } = require('../helper')
const { SECOND, MINUTE, HOUR, DAY, REMEMBER, startClock, lifecycleApp, loggedIn, visit, ends } = require('../support/lifecycle')

const FIREFOX = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' }

/** An app with the registry on a fresh memory store; `logins` options over it. */
function registryApp (t, logins = {}, login = {}) {
  return lifecycleApp(t, {
    login: { logins: { store: new MemoryLoginStore(), ...logins }, ...login },
    routes: (app) => {
      app.post('/impersonate/2', async (request, reply) => {
        await reply.impersonate({ id: 2, username: 'user2' })
        return { ok: true }
      })
    }
  })
}

describe('maxPerUser', () => {
  test("'evict-oldest' (the default): the least recently seen login ends, 'evicted', and its browser is told", async (t) => {
    const tick = startClock(t)
    const { app, events } = await registryApp(t, { maxPerUser: 2 })
    const first = await loggedIn(app, 1, { remember: true })
    tick(SECOND)
    const second = await loggedIn(app, 1)
    const ids = [(await visit(first)).loginId, (await visit(second)).loginId]
    tick(2 * MINUTE)
    await visit(first) // seen again (the registry records it once a minute): now the second is the least recently seen
    tick(SECOND)
    const other = await loggedIn(app, 2) // another user's login counts for that user only
    const third = await loggedIn(app, 1)
    assert.deepEqual(events.ended, [{ userId: '1', loginId: ids[1], reason: 'evicted', request: 'request' }])
    const listed = (await app.loginManager.listLogins(1)).map((l) => l.id)
    assert.deepEqual(listed, [(await visit(third)).loginId, ids[0]], 'the new one and the one seen since stand')
    assert.deepEqual([(await visit(second)).user, (await visit(second)).reason], [null, null], 'evicted, told once')
    assert.equal((await visit(first)).user, 1)
    assert.equal((await visit(other)).user, 2)

    // At the cap again: the remembered first login is now the least recently seen; its cookie ends with it.
    tick(2 * MINUTE)
    await visit(third)
    await loggedIn(app, 1)
    assert.equal(events.ended.at(-1).loginId, ids[0])
    delete first.cookies[SESSION_COOKIE]
    const restart = await visit(first)
    assert.deepEqual([restart.user, first.cookies[REMEMBER]], [null, undefined], 'an evicted login never comes back from its remember cookie')
  })

  test("'reject': loginUser rejects with 403 FST_LOGIN_LIMIT and nothing changes", async (t) => {
    const { app, events } = await registryApp(t, { maxPerUser: 2, onLimit: 'reject' })
    const jars = [await loggedIn(app, 1), await loggedIn(app, 1)]
    const before = await app.loginManager.listLogins(1)

    const anonymous = createJar(app)
    const refused = await anonymous.post('/login', { id: 1, remember: true })
    assert.equal(refused.statusCode, 403)
    assert.equal(refused.json().code, 'FST_LOGIN_LIMIT')
    assert.equal(setCookies(refused).length, 0, 'no session, no remember cookie')
    assert.equal((await visit(anonymous)).user, null)

    const otherUser = await loggedIn(app, 2)
    const cookie = otherUser.cookies[SESSION_COOKIE]
    const switching = await otherUser.post('/login', { id: 1 })
    assert.equal(switching.statusCode, 403)
    assert.equal(otherUser.cookies[SESSION_COOKIE], cookie, 'the same session')
    assert.equal((await visit(otherUser)).user, 2, 'still logged in as before')

    assert.deepEqual(await app.loginManager.listLogins(1), before)
    for (const jar of jars) assert.equal((await visit(jar)).user, 1)
    assert.deepEqual(events.ended, [])
    assert.deepEqual(events.logins, [1, 1, 2])

    // Once one logs out, there is room again.
    await jars[0].post('/logout')
    assert.equal((await anonymous.post('/login', { id: 1 })).statusCode, 200)
  })
})

describe('listLogins', () => {
  test('most recently seen first, at most limit (default 100)', async (t) => {
    const tick = startClock(t)
    const { app } = await registryApp(t, { maxPerUser: 1000 })
    const jars = []
    for (let i = 0; i < 5; i++) {
      jars.push(await loggedIn(app, 1))
      tick(SECOND)
    }
    const ids = []
    for (const jar of jars) ids.push((await visit(jar)).loginId)
    tick(2 * MINUTE)
    await visit(jars[1])
    tick(2 * MINUTE)
    await visit(jars[3])
    const expected = [ids[3], ids[1], ids[4], ids[2], ids[0]]
    assert.deepEqual((await app.loginManager.listLogins(1)).map((l) => l.id), expected)
    assert.deepEqual((await app.loginManager.listLogins('1', { limit: 2 })).map((l) => l.id), expected.slice(0, 2))
    const seen = (await app.loginManager.listLogins(1)).map((l) => l.lastSeenAt)
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a))

    for (let i = 0; i < 100; i++) await app.inject({ method: 'POST', url: '/login', payload: { id: 1 } })
    assert.equal((await app.loginManager.listLogins(1)).length, 100, 'the default limit')
    assert.equal((await app.loginManager.listLogins(1, { limit: 105 })).length, 105)
  })

  test('a limit that is not a whole number from 1, or an ended that is not a boolean, is a clear error naming it, not a store failure', async (t) => {
    const { app } = await registryApp(t)
    for (const limit of [0, -1, 1.5, '10', null, Number.NaN]) {
      await assert.rejects(app.loginManager.listLogins(1, { limit }), (error) => {
        assert.equal(error.code, 'FST_LOGIN_INVALID', `limit ${String(limit)}: ${error.message}`)
        assert.match(error.message, /limit/)
        return true
      })
    }
    await assert.rejects(app.loginManager.listLogins(1, { ended: 'yes' }), { code: 'FST_LOGIN_INVALID', message: /ended/ })
  })
})

describe('keepEndedFor: the login history', () => {
  test('ended logins are listed with ended: true, most recently ended first, with endedAt and endReason, for keepEndedFor', async (t) => {
    const tick = startClock(t)
    const { app } = await registryApp(t, { keepEndedFor: DAY, maxPerUser: 3 })
    const evicted = await loggedIn(app, 1)
    tick(SECOND)
    const loggedOut = await loggedIn(app, 1, {}, FIREFOX)
    tick(SECOND)
    const revoked = await loggedIn(app, 1)
    const ids = {}
    for (const [name, jar] of Object.entries({ evicted, loggedOut, revoked })) ids[name] = (await visit(jar)).loginId
    tick(SECOND)
    const evictedAt = Date.now()
    const standing = await loggedIn(app, 1) // the fourth: the least recently seen is evicted
    ids.standing = (await visit(standing)).loginId
    assert.equal((await visit(evicted)).reason, 'evicted')

    tick(HOUR)
    const loggedOutAt = Date.now()
    await loggedOut.post('/logout')
    tick(HOUR)
    const revokedAt = Date.now()
    await app.loginManager.revokeLogin(1, ids.revoked)

    const history = await app.loginManager.listLogins(1, { ended: true })
    assert.deepEqual(history.map((l) => [l.id, l.endReason, l.endedAt]), [
      [ids.revoked, 'revoked', revokedAt], [ids.loggedOut, 'logout', loggedOutAt], [ids.evicted, 'evicted', evictedAt]
    ])
    const [, out] = history
    assert.equal(out.id, ids.loggedOut)
    assert.equal(out.userId, '1')
    assert.equal(out.method, 'credentials')
    assert.equal(out.userAgent, FIREFOX['user-agent'])
    assert.equal(out.series, undefined)
    assert.deepEqual((await app.loginManager.listLogins(1, { ended: true, limit: 1 })).map((l) => l.endReason), ['revoked'])
    assert.deepEqual((await app.loginManager.listLogins(1)).map((l) => l.id), [ids.standing], 'only the standing login is listed without ended')

    tick(DAY - 2 * HOUR)
    assert.deepEqual((await app.loginManager.listLogins(1, { ended: true })).map((l) => l.endReason), ['revoked', 'logout'], 'the eviction is a day old: gone')
    tick(2 * HOUR)
    assert.deepEqual(await app.loginManager.listLogins(1, { ended: true }), [])
  })

  test('without keepEndedFor there is no history', async (t) => {
    const { app } = await registryApp(t)
    const jar = await loggedIn(app, 1)
    await jar.post('/logout')
    assert.deepEqual(await app.loginManager.listLogins(1, { ended: true }), [])
  })
})

describe('describeDevice', () => {
  test('its label is stored as device, for credential logins and impersonations, and kept by a remember restore', async (t) => {
    const seen = []
    const describeDevice = (request) => {
      seen.push(request.url)
      return /Firefox/.test(request.headers['user-agent'] ?? '') ? 'Firefox on Windows' : undefined
    }
    const { app } = await registryApp(t, { describeDevice }, { canImpersonate: () => true })
    const jar = await loggedIn(app, 1, { remember: true }, FIREFOX)
    const [login] = await app.loginManager.listLogins(1)
    assert.equal(login.device, 'Firefox on Windows')
    delete jar.cookies[SESSION_COOKIE]
    assert.equal((await visit(jar, { 'user-agent': 'curl/8' })).by, 'remember')
    assert.equal((await app.loginManager.listLogins(1))[0].device, 'Firefox on Windows', 'the login it was')
    await loggedIn(app, 1, {}, { 'user-agent': 'curl/8' })
    assert.equal((await app.loginManager.listLogins(1)).find((l) => l.device === undefined)?.method, 'credentials', 'no label, no device')
    assert.equal((await jar.post('/logout')).statusCode, 200)

    const staff = await loggedIn(app, 1, {}, FIREFOX)
    assert.equal((await staff.post('/impersonate/2', {}, { headers: FIREFOX })).statusCode, 200)
    const [acting] = await app.loginManager.listLogins(2)
    assert.deepEqual([acting.method, acting.device], ['impersonation', 'Firefox on Windows'])
    assert.deepEqual(seen, ['/login', '/login', '/login', '/impersonate/2'], 'asked once per new login, never on a restore')
  })

  test('a label longer than 200 characters is cut to 200', async (t) => {
    const { app } = await registryApp(t, { describeDevice: () => 'x'.repeat(500) })
    await loggedIn(app, 1)
    assert.equal((await app.loginManager.listLogins(1))[0].device, 'x'.repeat(200))
  })

  for (const [what, describeDevice] of [
    ['throws', () => { throw new Error('parser exploded at /srv/app') }],
    ['answers a number', () => 42],
    ['answers a Promise', async () => 'Firefox'],
    ['answers null', () => null]
  ]) {
    test(`one that ${what} fails the login closed: 500 FST_LOGIN_CALLBACK naming it, no login, no record`, async (t) => {
      const { app, events } = await registryApp(t, { describeDevice })
      const jar = createJar(app)
      const res = await jar.post('/login', { id: 1, remember: true })
      assert.equal(res.statusCode, 500)
      assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
      assert.match(res.json().message, /logins\.describeDevice/)
      assert.doesNotMatch(res.body, /exploded|\/srv/)
      assert.equal(jar.cookies[REMEMBER], undefined)
      assert.equal((await visit(jar)).user, null)
      assert.deepEqual(await app.loginManager.listLogins(1), [])
      assert.deepEqual(ends(events), [])
      assert.deepEqual(events.logins, [])
    })
  }
})
