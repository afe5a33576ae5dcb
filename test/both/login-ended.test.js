'use strict'

// Why you were logged out (README "Options": loginEndedMessage; the contract's
// `request.loginEndReason` and `loginEnded`). A login that ends anywhere but in
// this browser's own logout (revoked from a "your sessions" page, evicted by a
// newer login, a copied remember cookie, a password change, strong session
// protection, a timeout) is told to this browser once, on its next request, with
// the reason; the guards' redirect then flashes `loginEndedMessage` instead of
// `loginMessage`. `loginEnded` fires once for each end, `{ userId, loginId, reason }`,
// with the request that ended it, or null for `loginManager.revokeLogin(s)`.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fastifyFlash = require('@fastify/flash')
const { MemoryLoginStore } = require('fastify-login')
const { createJar, SESSION_COOKIE } = require('../helper')
const { SECOND, MINUTE, HOUR, HTML, REMEMBER, CONFIGURATIONS, startClock, lifecycleApp, loggedIn, visit, ends } = require('../support/lifecycle')

const ENDED_MESSAGE = 'You were logged out on another device.'
const LOGIN_MESSAGE = 'Please log in to see that page.'

/** Routes: GET /login shows the flashed messages; POST /logout-everywhere. */
async function routes (app) {
  await app.register(fastifyFlash)
  app.get('/login', async (request, reply) => ({ info: reply.flash('info') }))
  app.post('/logout-everywhere', async (request, reply) => {
    await reply.logoutUser({ everywhere: true })
    return { ok: true }
  })
}

/** An app with the flash messages, the login page and the registry when `registry` (a memory store). */
function endedApp (t, { registry = true, login = {}, users } = {}) {
  return lifecycleApp(t, {
    users,
    routes,
    login: {
      loginUrl: '/login',
      loginMessage: LOGIN_MESSAGE,
      loginEndedMessage: ENDED_MESSAGE,
      ...(registry ? { logins: { store: new MemoryLoginStore() } } : {}),
      ...login
    }
  })
}

/**
 * The browser's next two page loads of a guarded page: the first is redirected with
 * `loginEndedMessage` flashed, the second (the reason told once) with `loginMessage`.
 */
async function assertToldOnce (jar, reason) {
  assert.equal((await visit(jar)).reason, reason, `the next request is told '${reason}'`)
  assert.deepEqual([(await visit(jar)).reason], [null], 'once')
}

async function assertFlashedOnce (jar) {
  const page = await jar.get({ url: '/private', headers: HTML })
  assert.equal(page.statusCode, 302)
  assert.deepEqual((await jar.get('/login')).json(), { info: [ENDED_MESSAGE] }, 'loginEndedMessage, not loginMessage')
  await jar.get({ url: '/private', headers: HTML })
  assert.deepEqual((await jar.get('/login')).json(), { info: [LOGIN_MESSAGE] }, 'then the usual loginMessage')
}

describe('ended elsewhere, with the registry', () => {
  test('revokeLogin: the browser is told once, the guard flashes loginEndedMessage, loginEnded has no request', async (t) => {
    const { app, events } = await endedApp(t)
    const phone = await loggedIn(app, 1)
    const laptop = await loggedIn(app, 1)
    const { loginId } = await visit(phone)
    await app.loginManager.revokeLogin(1, loginId)
    assert.deepEqual(events.ended, [{ userId: '1', loginId, reason: 'revoked', request: null }])
    await assertFlashedOnce(phone)
    assert.equal((await visit(laptop)).user, 1, 'the other login stands')
    assert.equal(events.ended.length, 1, 'one loginEnded for one end')
  })

  test('revokeLogins: every other browser is told once; the one kept is not', async (t) => {
    const { app, events } = await endedApp(t)
    const jars = [await loggedIn(app, 1), await loggedIn(app, 1), await loggedIn(app, 1)]
    const ids = []
    for (const jar of jars) ids.push((await visit(jar)).loginId)
    assert.equal(await app.loginManager.revokeLogins(1, { except: ids[0] }), 2)
    assert.deepEqual(events.ended.map((e) => [e.loginId, e.reason, e.request]).sort(), [[ids[1], 'revoked', null], [ids[2], 'revoked', null]].sort())
    assert.deepEqual(await visit(jars[0]), { ...(await visit(jars[0])), user: 1, reason: null })
    await assertToldOnce(jars[1], 'revoked')
    await assertToldOnce(jars[2], 'revoked')
    assert.equal(events.ended.length, 2)
  })

  test('logoutUser({ everywhere: true }): the other browsers are told they were revoked, this one logged out', async (t) => {
    const { app, events } = await endedApp(t)
    const here = await loggedIn(app, 1)
    const there = await loggedIn(app, 1)
    const hereId = (await visit(here)).loginId
    const thereId = (await visit(there)).loginId
    await here.post('/logout-everywhere')
    assert.deepEqual(ends(events).sort((a, b) => a.reason.localeCompare(b.reason)), [
      { userId: '1', loginId: hereId, reason: 'logout' },
      { userId: '1', loginId: thereId, reason: 'revoked' }
    ])
    assert.deepEqual([(await visit(here)).user, (await visit(here)).reason], [null, null], 'a logout is never told')
    await assertToldOnce(there, 'revoked')
  })

  test("eviction at maxPerUser: the least recently seen browser is told 'evicted'", async (t) => {
    const tick = startClock(t)
    const { app, events } = await endedApp(t, { login: { logins: { store: new MemoryLoginStore(), maxPerUser: 2 } } })
    const first = await loggedIn(app, 1)
    tick(SECOND)
    const second = await loggedIn(app, 1)
    const firstId = (await visit(first)).loginId
    tick(SECOND)
    const third = await loggedIn(app, 1)
    assert.deepEqual(events.ended, [{ userId: '1', loginId: firstId, reason: 'evicted', request: 'request' }])
    await assertFlashedOnce(first)
    assert.equal((await visit(second)).user, 1)
    assert.equal((await visit(third)).user, 1)
    assert.equal(events.ended.length, 1)
  })

  test("a copied remember cookie: the login ends once as 'theft', and the browser holding it is told", async (t) => {
    const tick = startClock(t)
    const { app, events } = await endedApp(t)
    const owner = await loggedIn(app, 1, { remember: true })
    const { loginId } = await visit(owner)
    const copy = owner.cookies[REMEMBER]
    // The owner's browser restarts and restores: the cookie rotates.
    delete owner.cookies[SESSION_COOKIE]
    assert.equal((await visit(owner)).by, 'remember')
    // Later, the stale copy is used elsewhere: a copied cookie.
    tick(MINUTE)
    const thief = createJar(app)
    thief.cookies[REMEMBER] = copy
    assert.deepEqual([(await visit(thief)).user], [null])
    assert.deepEqual(events.theft, ['1'])
    assert.deepEqual(ends(events), [{ userId: '1', loginId, reason: 'theft' }])
    await assertToldOnce(owner, 'theft')
    assert.equal(events.ended.length, 1, 'one loginEnded for one end')
  })

  test("a timed-out remembered login whose cookie was copied and used elsewhere: 'theft', one loginEnded", async (t) => {
    const tick = startClock(t)
    const { app, events } = await endedApp(t, { login: { logins: { store: new MemoryLoginStore() }, absoluteTimeout: HOUR } })
    const owner = await loggedIn(app, 1, { remember: true })
    const { loginId } = await visit(owner)
    const thief = createJar(app)
    thief.cookies[REMEMBER] = owner.cookies[REMEMBER]
    assert.equal((await visit(thief)).by, 'remember', 'the copy is used first: it rotates')
    tick(HOUR + SECOND)
    const found = await visit(owner)
    assert.deepEqual([found.user, found.reason], [null, 'theft'], 'the owner, back after the timeout with the old validator')
    assert.deepEqual(ends(events), [{ userId: '1', loginId, reason: 'theft' }])
    await assertToldOnce(thief, 'theft')
    assert.equal(events.ended.length, 1)
  })

  test("a revoked login that also timed out is told 'revoked' (what ended it), once, with one loginEnded", async (t) => {
    const tick = startClock(t)
    const { app, events } = await endedApp(t, { login: { logins: { store: new MemoryLoginStore() }, absoluteTimeout: HOUR } })
    const jar = await loggedIn(app, 1)
    const { loginId } = await visit(jar)
    await app.loginManager.revokeLogin(1, loginId)
    tick(HOUR + SECOND)
    await assertToldOnce(jar, 'revoked')
    assert.deepEqual(ends(events), [{ userId: '1', loginId, reason: 'revoked' }])
  })

  test("a remembered login revoked while it timed out does not come back and is told 'revoked', once", async (t) => {
    const tick = startClock(t)
    const { app, events } = await endedApp(t, { login: { logins: { store: new MemoryLoginStore() }, absoluteTimeout: HOUR } })
    const jar = await loggedIn(app, 1, { remember: true })
    const { loginId } = await visit(jar)
    await app.loginManager.revokeLogin(1, loginId)
    tick(HOUR + SECOND)
    await assertToldOnce(jar, 'revoked')
    assert.equal(jar.cookies[REMEMBER], undefined, 'the revoked remember cookie is cleared')
    assert.deepEqual(ends(events), [{ userId: '1', loginId, reason: 'revoked' }])
  })
})

for (const label of Object.keys(CONFIGURATIONS)) {
  const registry = label === 'with the registry'
  describe(`ended by a rule of the plugin, ${label}`, () => {
    test("a password change (authVersion): 'authVersion', once, on every browser of the user", async (t) => {
      const { app, events, users } = await endedApp(t, { registry, login: { authVersion: (user) => user.password ?? 'first' } })
      const one = await loggedIn(app, 1)
      const two = await loggedIn(app, 1)
      const ids = [(await visit(one)).loginId, (await visit(two)).loginId]
      users.get('1').password = 'second'
      await assertToldOnce(one, 'authVersion')
      await assertFlashedOnce(two)
      assert.deepEqual(ends(events), ids.map((loginId) => ({ userId: '1', loginId, reason: 'authVersion' })))
    })

    test("strong session protection: the request from another client is told 'protection' and ends the login once", async (t) => {
      const { app, events } = await endedApp(t, { registry, login: { sessionProtection: 'strong' } })
      const jar = await loggedIn(app, 1, {}, { 'user-agent': 'laptop' })
      const { loginId } = await visit(jar, { 'user-agent': 'laptop' })
      const elsewhere = await visit(jar, { 'user-agent': 'copied elsewhere' })
      assert.deepEqual([elsewhere.user, elsewhere.reason], [null, 'protection'])
      assert.deepEqual(ends(events), [{ userId: '1', loginId, reason: 'protection' }])
      const back = await visit(jar, { 'user-agent': 'laptop' })
      assert.deepEqual([back.user, back.reason], [null, null], 'the login is gone for the laptop too, told once')
      assert.equal(events.ended.length, 1)
    })

    test('timeouts: the guard flashes loginEndedMessage once after an idle or absolute end', async (t) => {
      const tick = startClock(t)
      const { app, events } = await endedApp(t, { registry, login: { idleTimeout: 10 * MINUTE, absoluteTimeout: HOUR } })
      const idle = await loggedIn(app, 1)
      const active = await loggedIn(app, 2)
      for (let minute = 1; minute <= 60; minute++) {
        tick(MINUTE)
        assert.equal((await visit(active)).user, 2)
        if (minute === 12) await assertFlashedOnce(idle)
      }
      tick(SECOND)
      await assertFlashedOnce(active)
      assert.deepEqual(ends(events).map((e) => [e.userId, e.reason]), [['1', 'idle'], ['2', 'absolute']])
    })

    test("a user the loader no longer finds: the login ends ('revoked' in loginEnded), nothing is told", async (t) => {
      const { app, events, users } = await endedApp(t, { registry })
      const jar = await loggedIn(app, 2)
      const { loginId } = await visit(jar)
      users.delete('2')
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).reason], [null, null])
      await jar.get({ url: '/private', headers: HTML })
      assert.deepEqual((await jar.get('/login')).json(), { info: [LOGIN_MESSAGE] })
      assert.deepEqual(ends(events), [{ userId: '2', loginId, reason: 'revoked' }])
    })

    test("a logout and a login over another: loginEnded 'logout', never a loginEndReason", async (t) => {
      const { app, events } = await endedApp(t, { registry })
      const jar = await loggedIn(app, 1)
      const first = (await visit(jar)).loginId
      await jar.post('/login', { id: 2 })
      const second = (await visit(jar)).loginId
      await jar.post('/logout')
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).reason], [null, null])
      assert.deepEqual(events.ended, [
        { userId: '1', loginId: first, reason: 'logout', request: 'request' },
        { userId: '2', loginId: second, reason: 'logout', request: 'request' }
      ])
      await jar.get({ url: '/private', headers: HTML })
      assert.deepEqual((await jar.get('/login')).json(), { info: [LOGIN_MESSAGE] })
    })

    test('an API client is told the reason in request.loginEndReason and gets its 401, nothing flashed', async (t) => {
      const tick = startClock(t)
      const { app } = await endedApp(t, { registry, login: { absoluteTimeout: HOUR } })
      const jar = await loggedIn(app, 1)
      tick(HOUR + SECOND)
      const res = await jar.get('/private')
      assert.equal(res.statusCode, 401)
      assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')
      await jar.get({ url: '/private', headers: HTML })
      assert.deepEqual((await jar.get('/login')).json(), { info: [LOGIN_MESSAGE] }, 'told once, to the API request')
    })
  })
}

describe('loginEndedMessage as a function of the reason', () => {
  test('each browser reads why its own login ended', async (t) => {
    const { app } = await endedApp(t, {
      login: { loginEndedMessage: (reason) => reason === 'revoked' ? 'You were logged out on another device.' : `Your login ended (${reason}).` }
    })
    const phone = await loggedIn(app, 1)
    await app.loginManager.revokeLogin(1, (await visit(phone)).loginId)
    assert.equal((await phone.get({ url: '/private', headers: HTML })).statusCode, 302)
    assert.deepEqual((await phone.get('/login')).json(), { info: ['You were logged out on another device.'] })
  })

  test('a function answering something else than a string fails closed, naming it', async (t) => {
    const { app } = await endedApp(t, { login: { loginEndedMessage: () => 42 } })
    const phone = await loggedIn(app, 1)
    await app.loginManager.revokeLogin(1, (await visit(phone)).loginId)
    const res = await phone.get({ url: '/private', headers: HTML })
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
    assert.match(res.json().message, /loginEndedMessage/)
  })
})
