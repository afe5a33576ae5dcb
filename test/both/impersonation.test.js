'use strict'

// Impersonation (the contract's `reply.impersonate` / `stopImpersonating` /
// `request.impersonator`, v0.3's rules): support staff act as a user only from a
// fresh credential login and where `canImpersonate` (sync or async) says so; never
// nested (403 FST_LOGIN_IMPERSONATE); the session id changes on the way in and out;
// the target's login is not fresh and never remembered (the staff remember cookie
// is left alone); it ends by itself after `maxAge` with the staff login back as
// fresh as it was; a logout ends both; a staff login that ends elsewhere ends the
// impersonation; `confirmLogin` is refused while it lasts. The registry lists it
// (method 'impersonation', impersonatorId). And what a stolen impersonation session
// cookie is worth once the impersonation stopped. User 1 is staff, user 2 a customer.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryLoginStore } = require('fastify-login')
const { setCookies, createJar, SESSION_COOKIE, SESSION_KIND } = require('../helper')
const { SECOND, MINUTE, HOUR, REMEMBER, CONFIGURATIONS, startClock, cloneUsers, lifecycleApp, describeRequest, loggedIn, visit, ends } = require('../support/lifecycle')

/** Staff (user 1) may act as anyone else. */
const staffOnly = (impersonator, target) => impersonator.id === 1 && target.id !== 1

function routes (app) {
  const users = app.testUsers
  app.post('/impersonate/:id', async (request, reply) => {
    const options = request.body?.maxAge === undefined ? undefined : { maxAge: request.body.maxAge }
    await reply.impersonate(users.get(request.params.id), options)
    return describeRequest(request)
  })
  app.post('/stop', async (request, reply) => {
    await reply.stopImpersonating()
    return describeRequest(request)
  })
  app.post('/confirm', async (request, reply) => {
    await reply.confirmLogin()
    return describeRequest(request)
  })
  app.post('/logout-everywhere', async (request, reply) => {
    await reply.logoutUser({ everywhere: true })
    return { ok: true }
  })
}

/** An app with impersonation; `login` options over `canImpersonate: staffOnly`. */
async function impersonationApp (t, login = {}) {
  const users = cloneUsers()
  return lifecycleApp(t, {
    users,
    login: { canImpersonate: staffOnly, ...login },
    routes: (app) => {
      app.decorate('testUsers', users)
      routes(app)
    }
  })
}

/** The staff member's browser, logged in with credentials (fresh), acting as user 2. */
async function impersonating (app, { maxAge, login = {} } = {}) {
  const jar = await loggedIn(app, 1, login)
  const res = await jar.post('/impersonate/2', maxAge === undefined ? {} : { maxAge })
  assert.equal(res.statusCode, 200, res.body)
  return jar
}

/** The registry's ids: the staff login's, then (after impersonate) the impersonation's. */
async function loginIdOf (jar) {
  return (await visit(jar)).loginId
}

for (const [label, configuration] of Object.entries(CONFIGURATIONS)) {
  const registry = label === 'with the registry'

  describe(`impersonation, ${label}`, () => {
    test('a fresh credential login acts as the target: not fresh, not remembered, a new session id, one event', async (t) => {
      const { app, events } = await impersonationApp(t, configuration())
      const jar = await loggedIn(app, 1, { remember: true })
      const staffLoginId = await loginIdOf(jar)
      const before = { ...jar.cookies }
      const res = await jar.post('/impersonate/2')
      assert.equal(res.statusCode, 200)
      const acting = res.json()
      assert.deepEqual({ ...acting, loginId: undefined }, {
        user: 2, by: 'session', fresh: false, remembered: false, loginId: undefined, impersonator: 1, reason: null
      })
      assert.equal(res.headers['cache-control'], 'no-store')
      const set = setCookies(res)
      assert.ok(set.some((c) => c.name === SESSION_COOKIE), 'a new session cookie')
      assert.notEqual(jar.cookies[SESSION_COOKIE], before[SESSION_COOKIE])
      assert.equal(set.find((c) => c.name === REMEMBER), undefined, 'the staff remember cookie is left alone')
      assert.equal(jar.cookies[REMEMBER], before[REMEMBER])
      assert.deepEqual(await visit(jar), acting, 'and so on the next request')
      assert.deepEqual(events.started, [{ impersonator: 1, target: 2 }])
      assert.deepEqual(events.logins, [1], 'impersonating is not a login event of the target')
      if (registry) {
        assert.notEqual(acting.loginId, staffLoginId)
        const [record] = await app.loginManager.listLogins(2)
        assert.deepEqual({ id: record.id, userId: record.userId, method: record.method, impersonatorId: record.impersonatorId, remembered: record.remembered },
          { id: acting.loginId, userId: '2', method: 'impersonation', impersonatorId: '1', remembered: false })
        assert.deepEqual((await app.loginManager.listLogins(1)).map((l) => l.id), [staffLoginId], 'the staff login stands, waiting')
      } else {
        assert.equal(acting.loginId, null)
      }
      if (SESSION_KIND === 'stored') {
        const old = await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: before[SESSION_COOKIE] } })
        assert.equal(old.json().user, null, 'the staff session id from before is dead')
      }
    })

    test('refused with 403 FST_LOGIN_IMPERSONATE, nothing changed: canImpersonate says no (sync or async), a stale or remembered login, nesting', async (t) => {
      const tick = startClock(t)
      const asyncNo = async (impersonator, target) => target.id !== 0 && staffOnly(impersonator, target)
      const { app, events } = await impersonationApp(t, { ...configuration(), canImpersonate: asyncNo, freshFor: HOUR })
      const refused = async (jar, url, why) => {
        const before = await visit(jar)
        const cookie = jar.cookies[SESSION_COOKIE]
        const res = await jar.post(url)
        assert.equal(res.statusCode, 403, `${why}: ${res.body}`)
        assert.equal(res.json().code, 'FST_LOGIN_IMPERSONATE', why)
        assert.equal(jar.cookies[SESSION_COOKIE], cookie, `${why}: the same session`)
        assert.deepEqual(await visit(jar), before, `${why}: the login is as it was`)
      }
      const staff = await loggedIn(app, 1)
      await refused(staff, '/impersonate/0', 'canImpersonate resolves false')
      await refused(await loggedIn(app, 2), '/impersonate/1', 'not staff')
      await refused(await loggedIn(app, 1, { fresh: false }), '/impersonate/2', 'a login that is not fresh')
      const remembered = await loggedIn(app, 1, { remember: true })
      delete remembered.cookies[SESSION_COOKIE]
      assert.equal((await visit(remembered)).by, 'remember')
      await refused(remembered, '/impersonate/2', 'a remember restore')
      tick(HOUR + SECOND)
      await refused(staff, '/impersonate/2', 'past freshFor')
      await refused(createJar(app), '/impersonate/2', 'nobody')

      const nested = await impersonating(app)
      await refused(nested, '/impersonate/0', 'nested')
      assert.deepEqual(events.started, [{ impersonator: 1, target: 2 }])
    })

    test('canImpersonate that throws or answers a non-boolean fails closed (500 FST_LOGIN_CALLBACK); without it, impersonate is a setup error', async (t) => {
      for (const [canImpersonate, code] of [[() => { throw new Error('db down') }, 'FST_LOGIN_CALLBACK'], [() => 'yes', 'FST_LOGIN_CALLBACK'], [undefined, 'FST_LOGIN_INVALID']]) {
        const { app } = await impersonationApp(t, { ...configuration(), canImpersonate })
        const jar = await loggedIn(app, 1)
        const res = await jar.post('/impersonate/2')
        assert.equal(res.statusCode, 500)
        assert.equal(res.json().code, code)
        assert.doesNotMatch(res.body, /db down/)
        assert.deepEqual([(await visit(jar)).user, (await visit(jar)).impersonator], [1, null])
      }
    })

    test('stopImpersonating: the staff login comes back as fresh as it was, in a new session; the pre-stop session is dead', async (t) => {
      const { app, events } = await impersonationApp(t, configuration())
      const jar = await loggedIn(app, 1, { remember: true })
      const staffLoginId = await loginIdOf(jar)
      const rememberCookie = jar.cookies[REMEMBER]
      await jar.post('/impersonate/2')
      const impersonationId = await loginIdOf(jar)
      const during = jar.cookies[SESSION_COOKIE]
      const res = await jar.post('/stop')
      assert.deepEqual(res.json(), { user: 1, by: 'session', fresh: true, remembered: true, loginId: staffLoginId, impersonator: null, reason: null })
      assert.notEqual(jar.cookies[SESSION_COOKIE], during, 'a new session cookie')
      assert.equal(jar.cookies[REMEMBER], rememberCookie, 'the remember cookie was never touched')
      assert.deepEqual(await visit(jar), res.json())
      assert.deepEqual(events.stopped, [{ impersonator: 1, target: 2, reason: 'stopped' }])
      assert.deepEqual(ends(events), [{ userId: '2', loginId: impersonationId, reason: 'logout' }])
      if (registry) assert.deepEqual(await app.loginManager.listLogins(2), [], "the impersonation's record ended")
      // The session cookie from during the impersonation, replayed, is worth nothing.
      const replay = await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: during } })
      if (SESSION_KIND === 'stored' || registry) {
        assert.equal(replay.json().user, null, 'the replayed impersonation session is dead')
      } else {
        // @fastify/secure-session without the registry: nothing on the server can
        // end a copy of a session cookie. Until maxAge it still acts as the target
        // (see the maxAge test below for after).
        assert.deepEqual([replay.json().user, replay.json().impersonator], [2, 1])
      }
      // Stopping when not impersonating does nothing.
      const cookies = { ...jar.cookies }
      const again = await jar.post('/stop')
      assert.deepEqual(again.json(), res.json())
      assert.deepEqual(jar.cookies, cookies)
      assert.equal(events.stopped.length, 1)
    })

    test('it ends by itself after maxAge: the staff login back as fresh as it was, a new session id, the events', async (t) => {
      const tick = startClock(t)
      const { app, events } = await impersonationApp(t, { ...configuration(), freshFor: 2 * HOUR })
      const jar = await impersonating(app, { maxAge: HOUR })
      const staffLoginId = registry ? (await app.loginManager.listLogins(1))[0].id : null
      const impersonationId = await loginIdOf(jar)
      tick(HOUR - SECOND)
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).impersonator], [2, 1])
      const during = jar.cookies[SESSION_COOKIE]
      tick(SECOND)
      const back = await jar.get('/visit')
      assert.deepEqual(back.json(), { user: 1, by: 'session', fresh: true, remembered: false, loginId: staffLoginId, impersonator: null, reason: null })
      assert.ok(setCookies(back).some((c) => c.name === SESSION_COOKIE), 'a new session cookie')
      assert.notEqual(jar.cookies[SESSION_COOKIE], during)
      assert.deepEqual(events.stopped, [{ impersonator: 1, target: 2, reason: 'expired' }])
      assert.deepEqual(ends(events), [{ userId: '2', loginId: impersonationId, reason: 'absolute' }])
      assert.equal((await visit(jar)).user, 1)
      tick(HOUR)
      assert.equal((await visit(jar)).fresh, true, 'fresh until two hours after the staff credentials (freshFor)')
      tick(SECOND)
      assert.equal((await visit(jar)).fresh, false, 'as fresh as it was: the window counts from the staff login')
      assert.equal(events.stopped.length, 1)
    })

    test('the default maxAge is one hour', async (t) => {
      const tick = startClock(t)
      const { app } = await impersonationApp(t, configuration())
      const jar = await impersonating(app)
      tick(HOUR - SECOND)
      assert.equal((await visit(jar)).user, 2)
      tick(SECOND)
      assert.equal((await visit(jar)).user, 1)
    })

    test('a browser restart ends the impersonation: the staff remember cookie restores the staff, never the target', async (t) => {
      const { app, events } = await impersonationApp(t, configuration())
      const jar = await impersonating(app, { login: { remember: true } })
      delete jar.cookies[SESSION_COOKIE]
      const restored = await visit(jar)
      assert.deepEqual([restored.user, restored.by, restored.impersonator, restored.fresh], [1, 'remember', null, false])
      assert.deepEqual(events.restored, [1])
    })

    test('logoutUser ends both logins: nobody afterwards, the logout event names the staff member', async (t) => {
      const { app, events } = await impersonationApp(t, configuration())
      const jar = await impersonating(app, { login: { remember: true } })
      const impersonationId = await loginIdOf(jar)
      const staffLoginId = registry ? (await app.loginManager.listLogins(1))[0].id : null
      await jar.post('/logout')
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).reason], [null, null])
      assert.equal(jar.cookies[REMEMBER], undefined, 'the staff remember cookie is cleared: a logout is a logout')
      assert.deepEqual(events.logouts, [1])
      assert.deepEqual(events.stopped, [{ impersonator: 1, target: 2, reason: 'logout' }])
      assert.deepEqual(ends(events).sort((a, b) => a.userId.localeCompare(b.userId)), [
        { userId: '1', loginId: staffLoginId, reason: 'logout' },
        { userId: '2', loginId: impersonationId, reason: 'logout' }
      ])
      if (registry) {
        assert.deepEqual(await app.loginManager.listLogins(1), [])
        assert.deepEqual(await app.loginManager.listLogins(2), [])
      }
    })

    test('a staff member whose credentials changed (authVersion) is logged out of the impersonation too', async (t) => {
      const { app, users } = await impersonationApp(t, { ...configuration(), authVersion: (user) => user.password ?? 'first' })
      const jar = await impersonating(app)
      users.get('1').password = 'changed'
      const after = await visit(jar)
      assert.deepEqual([after.user, after.impersonator, after.reason], [null, null, 'authVersion'])
      assert.equal((await visit(jar)).user, null, 'and the staff login does not come back')
    })

    test('a staff member the loader no longer finds is logged out of the impersonation', async (t) => {
      const { app, users } = await impersonationApp(t, configuration())
      const jar = await impersonating(app)
      users.delete('1')
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).impersonator], [null, null])
    })

    test('confirmLogin is refused while impersonating (403 FST_LOGIN_IMPERSONATE): the target login never becomes fresh', async (t) => {
      const { app } = await impersonationApp(t, configuration())
      const jar = await impersonating(app)
      const before = await visit(jar)
      const res = await jar.post('/confirm')
      assert.equal(res.statusCode, 403)
      assert.equal(res.json().code, 'FST_LOGIN_IMPERSONATE')
      assert.deepEqual(await visit(jar), before)
      assert.equal((await jar.get('/fresh')).statusCode, 401, 'fresh-only pages stay out of reach')
    })

    test('idleTimeout: an active impersonation is not idle, and the staff login it gives back is not either', async (t) => {
      const tick = startClock(t)
      const { app, events } = await impersonationApp(t, { ...configuration(), idleTimeout: 10 * MINUTE })
      const jar = await impersonating(app)
      for (let minute = 1; minute <= 30; minute++) {
        tick(MINUTE)
        const now = await visit(jar)
        assert.deepEqual([now.user, now.impersonator], [2, 1], `still impersonating ${minute} minutes in`)
      }
      assert.equal((await jar.post('/stop')).json().user, 1)
      tick(MINUTE)
      assert.equal((await visit(jar)).user, 1, 'the staff member was active all along')
      assert.deepEqual(ends(events).map((e) => e.reason), ['logout'])
    })

    test("an impersonation never extends the staff login: past the staff login's absoluteTimeout both end", async (t) => {
      const tick = startClock(t)
      const { app, events } = await impersonationApp(t, { ...configuration(), absoluteTimeout: HOUR })
      const jar = await loggedIn(app, 1)
      tick(50 * MINUTE)
      assert.equal((await jar.post('/impersonate/2', { maxAge: HOUR })).statusCode, 200)
      tick(10 * MINUTE)
      assert.equal((await visit(jar)).user, 2, 'an hour after the staff login')
      tick(SECOND)
      const after = await visit(jar)
      assert.deepEqual([after.user, after.impersonator, after.reason], [null, null, 'absolute'])
      assert.deepEqual(ends(events).map((e) => [e.userId, e.reason]).sort(), [['1', 'absolute'], ['2', 'absolute']])
    })

    test('an impersonation left idle ends like any login: both logins, told idle', async (t) => {
      const tick = startClock(t)
      const { app, events } = await impersonationApp(t, { ...configuration(), idleTimeout: 10 * MINUTE })
      const jar = await impersonating(app)
      tick(12 * MINUTE)
      const after = await visit(jar)
      assert.deepEqual([after.user, after.impersonator, after.reason], [null, null, 'idle'])
      assert.deepEqual(ends(events).map((e) => [e.userId, e.reason]).sort(), [['1', 'idle'], ['2', 'idle']])
    })
  })
}

describe('impersonation and the registry', () => {
  const registry = () => ({ logins: { store: new MemoryLoginStore() } })

  test('a staff login revoked elsewhere ends the impersonation: nobody, told revoked', async (t) => {
    const { app, events } = await impersonationApp(t, registry())
    const jar = await impersonating(app)
    const staffLoginId = (await app.loginManager.listLogins(1))[0].id
    const impersonationId = await loginIdOf(jar)
    await app.loginManager.revokeLogin(1, staffLoginId)
    const after = await visit(jar)
    assert.deepEqual([after.user, after.impersonator, after.reason], [null, null, 'revoked'])
    assert.equal((await visit(jar)).user, null)
    assert.deepEqual(await app.loginManager.listLogins(2), [], "the impersonation's record ends with it")
    assert.deepEqual(ends(events).map((e) => [e.userId, e.loginId, e.reason]), [['1', staffLoginId, 'revoked'], ['2', impersonationId, 'revoked']])
  })

  test("logoutUser({ everywhere: true }) while impersonating revokes the staff member's other logins, never the target's", async (t) => {
    const { app } = await impersonationApp(t, registry())
    const staffElsewhere = await loggedIn(app, 1)
    const customer = await loggedIn(app, 2)
    const jar = await impersonating(app)
    await jar.post('/logout-everywhere')
    assert.equal((await visit(jar)).user, null)
    assert.equal((await visit(staffElsewhere)).reason, 'revoked')
    assert.equal((await visit(customer)).user, 2, "the customer's own login stands")
    assert.deepEqual(await app.loginManager.listLogins(1), [])
  })

  test('a replayed session cookie from during a stopped impersonation stays dead after its maxAge too', async (t) => {
    const tick = startClock(t)
    const { app } = await impersonationApp(t, registry())
    const jar = await impersonating(app, { maxAge: HOUR })
    const during = jar.cookies[SESSION_COOKIE]
    await jar.post('/stop')
    tick(HOUR + SECOND)
    const replay = await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: during } })
    assert.deepEqual([replay.json().user, replay.json().impersonator], [null, null], 'neither the target nor the staff login it carried')
    assert.equal((await visit(jar)).user, 1, 'the staff login itself stands')
  })
})

describe('a copied impersonation session cookie, @fastify/secure-session without the registry', { skip: SESSION_KIND !== 'secure' && 'only @fastify/secure-session keeps the session in the cookie' }, () => {
  test('past maxAge the copy is the staff login it carries, until the staff credentials change', async (t) => {
    const tick = startClock(t)
    const { app, users } = await impersonationApp(t, { authVersion: (user) => user.password ?? 'first' })
    const jar = await impersonating(app, { maxAge: HOUR })
    const during = jar.cookies[SESSION_COOKIE]
    await jar.post('/stop')
    tick(HOUR + SECOND)
    const replay = (await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: during } })).json()
    assert.deepEqual([replay.user, replay.impersonator], [1, null], 'never the target past maxAge; the staff login, as any copy of its cookie')
    users.get('1').password = 'changed' // "log out everywhere" without a registry
    const after = (await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: during } })).json()
    assert.deepEqual([after.user, after.reason], [null, 'authVersion'])
  })
})
