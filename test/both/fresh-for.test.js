'use strict'

// `freshFor` (README "Options", Laravel's password-confirmation window): a login is
// fresh only that long after the credentials or `confirmLogin`, and
// `loginGuard({ fresh: true, freshFor })` sets the window per guard. Without it,
// Flask-Login's rule: fresh until a remember restore. `confirmLogin` opens the
// window again (and changes the session id). With and without the login registry.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { setCookies, SESSION_COOKIE, SESSION_KIND } = require('../helper')
const { SECOND, MINUTE, HOUR, DAY, HTML, CONFIGURATIONS, startClock, lifecycleApp, loggedIn, visit } = require('../support/lifecycle')

const WINDOW = 15 * MINUTE

/** Routes: POST /confirm (confirmLogin), GET /settings (a 5-minute guard), GET /billing (a fresh guard with the option's window). */
function routes (app) {
  app.post('/confirm', async (request, reply) => {
    await reply.confirmLogin()
    return { fresh: request.isFresh() }
  })
  app.get('/settings', { preHandler: app.loginGuard({ fresh: true, freshFor: 5 * MINUTE }) }, async () => ({ ok: true }))
  app.get('/billing', { preHandler: app.loginGuard({ fresh: true }) }, async () => ({ ok: true }))
}

for (const [label, configuration] of Object.entries(CONFIGURATIONS)) {
  describe(`freshFor, ${label}`, () => {
    test('a credential login is fresh for freshFor, then only logged in: freshLoginRequired refuses it', async (t) => {
      const tick = startClock(t)
      const { app } = await lifecycleApp(t, { login: { ...configuration(), freshFor: WINDOW, loginUrl: '/login' }, routes })
      const needsRefresh = []
      app.loginManager.on('needsRefresh', (request) => needsRefresh.push(request.url))
      const jar = await loggedIn(app, 1)
      tick(WINDOW)
      assert.equal((await visit(jar)).fresh, true, 'fresh at the end of the window')
      assert.equal((await jar.get('/fresh')).statusCode, 200)
      tick(SECOND)
      const stale = await visit(jar)
      assert.deepEqual([stale.user, stale.fresh], [1, false], 'still logged in, no longer fresh')
      const refused = await jar.get('/fresh')
      assert.equal(refused.statusCode, 401)
      assert.equal(refused.json().code, 'FST_LOGIN_FRESH_REQUIRED')
      const page = await jar.get({ url: '/fresh', headers: HTML })
      assert.equal(page.statusCode, 302)
      assert.equal(page.headers.location, '/login?next=%2Ffresh')
      assert.equal((await jar.get('/private')).statusCode, 200, 'loginRequired is satisfied by a stale login')
      assert.deepEqual(needsRefresh, ['/fresh', '/fresh'])
    })

    test('confirmLogin opens the window again, from the confirmation, and changes the session id', async (t) => {
      const tick = startClock(t)
      const { app } = await lifecycleApp(t, { login: { ...configuration(), freshFor: WINDOW }, routes })
      const jar = await loggedIn(app, 1)
      tick(WINDOW + SECOND)
      assert.equal((await visit(jar)).fresh, false)
      const before = jar.cookies[SESSION_COOKIE]
      const confirmed = await jar.post('/confirm')
      assert.deepEqual(confirmed.json(), { fresh: true }, 'fresh on the confirming request itself')
      assert.ok(setCookies(confirmed).some((c) => c.name === SESSION_COOKIE), 'a new session cookie')
      assert.notEqual(jar.cookies[SESSION_COOKIE], before)
      tick(WINDOW)
      assert.equal((await visit(jar)).fresh, true, 'fresh for a whole window after the confirmation')
      assert.equal((await jar.get('/billing')).statusCode, 200)
      tick(SECOND)
      assert.equal((await visit(jar)).fresh, false)
      assert.equal((await jar.get('/billing')).statusCode, 401)
      if (SESSION_KIND === 'stored') {
        // The session id from before the confirmation is dead.
        const old = await app.inject({ url: '/visit', cookies: { [SESSION_COOKIE]: before } })
        assert.equal(old.json().user, null)
      }
    })

    test("a guard's own freshFor overrides the option's, both ways", async (t) => {
      const tick = startClock(t)
      const { app } = await lifecycleApp(t, { login: { ...configuration(), freshFor: WINDOW }, routes })
      const jar = await loggedIn(app, 1)
      tick(5 * MINUTE)
      assert.equal((await jar.get('/settings')).statusCode, 200, 'within the guard\'s 5 minutes')
      tick(SECOND)
      assert.equal((await jar.get('/settings')).statusCode, 401, 'past the guard\'s 5 minutes')
      assert.equal((await jar.get('/billing')).statusCode, 200, 'the option\'s 15 minutes still hold elsewhere')
      assert.equal((await visit(jar)).fresh, true, 'request.isFresh() follows the option')
      await jar.post('/confirm')
      assert.equal((await jar.get('/settings')).statusCode, 200, 'confirmLogin renews it for every guard')
    })

    test('without the option, a guard with freshFor still has its window; elsewhere a login stays fresh', async (t) => {
      const tick = startClock(t)
      const { app } = await lifecycleApp(t, { login: configuration(), routes })
      const jar = await loggedIn(app, 1)
      tick(DAY)
      assert.equal((await visit(jar)).fresh, true, 'Flask-Login\'s rule: fresh until a restore')
      assert.equal((await jar.get('/fresh')).statusCode, 200)
      assert.equal((await jar.get('/settings')).statusCode, 401)
    })

    test('a remember restore and a login with fresh: false are never fresh, even inside the window', async (t) => {
      const tick = startClock(t)
      const { app } = await lifecycleApp(t, { login: { ...configuration(), freshFor: HOUR }, routes })
      const notFresh = await loggedIn(app, 1, { fresh: false })
      assert.equal((await visit(notFresh)).fresh, false)
      assert.equal((await notFresh.get('/billing')).statusCode, 401)

      const remembered = await loggedIn(app, 2, { remember: true })
      delete remembered.cookies[SESSION_COOKIE] // the browser restarts
      tick(SECOND)
      const restored = await visit(remembered)
      assert.deepEqual([restored.by, restored.fresh], ['remember', false])
      assert.equal((await remembered.get('/billing')).statusCode, 401)
      await remembered.post('/confirm')
      assert.equal((await visit(remembered)).fresh, true, 'until confirmLogin')
    })
  })
}

describe("freshFor and 'basic' session protection", () => {
  test('inside the window, a request from another client is not fresh, and freshLoginRequired refuses it; the login stays', async (t) => {
    const tick = startClock(t)
    const { app } = await lifecycleApp(t, { login: { freshFor: HOUR }, routes })
    const home = { 'user-agent': 'Browser A' }
    const elsewhere = { 'user-agent': 'Browser B' }
    const jar = await loggedIn(app, 1, {}, home)
    tick(MINUTE)
    const other = await visit(jar, elsewhere)
    assert.deepEqual([other.user, other.fresh], [1, false], 'logged in, not fresh from another client')
    assert.equal((await jar.get({ url: '/fresh', headers: elsewhere })).statusCode, 401)
    assert.equal((await jar.get({ url: '/billing', headers: elsewhere })).statusCode, 401)
    assert.equal((await visit(jar, home)).fresh, true, 'the client that logged in is still fresh inside the window')
    assert.equal((await jar.get({ url: '/fresh', headers: home })).statusCode, 200)
  })
})
