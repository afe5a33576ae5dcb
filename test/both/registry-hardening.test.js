'use strict'

// The login registry (README "The login registry"), where a real app slipped: the
// contract's words are "A restore never skips rotation because of a request header",
// "A logout that finds only a remember cookie (no session login) ends that cookie's
// series everywhere", "A login's id is stable for its device", "The grace window is
// bounded both ways: a rotation time in the future (clock skew) is never inside it".
// On the memory store, on the run's session plugin; the real WebSocket upgrade is in
// test/websocket-rotation.test.js, user ids on Redis in test/registry-redis-hardening.test.js.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const REMEMBER = 'remember_token'
const GRACE_MS = 5000
const MINUTE = 60 * 1000

/** An app with the registry on a memory store, a /whoami route, and the thefts it reports. */
async function setup ({ login = {}, routes } = {}) {
  const events = { theft: [] }
  const app = await buildApp({
    login: { logins: { store: new MemoryLoginStore(), graceMs: GRACE_MS }, remember: { secret: REMEMBER_SECRET }, ...login },
    routes: async (app) => {
      app.get('/whoami', async (request) => ({ user: request.user?.id ?? null, loginId: request.loginId }))
      if (routes) await routes(app)
    }
  })
  app.loginManager.on('rememberTheft', (request, userId) => events.theft.push(userId))
  return { app, events }
}

/** Logs user `id` in with "remember me" in a new browser. */
async function rememberedBrowser (app, id = 1) {
  const jar = createJar(app)
  const res = await jar.post('/login', { id, remember: true })
  assert.equal(res.statusCode, 200)
  assert.ok(jar.cookies[REMEMBER], 'the login set a remember cookie')
  return jar
}

/** A request carrying only this remember cookie (a browser restart, or a copy of the cookie). */
function withToken (app, token, { url = '/whoami', headers = {} } = {}) {
  return app.inject({ url, headers: { ...headers, cookie: `${REMEMBER}=${token}` } })
}

const rememberCookieOf = (res) => setCookies(res).find((c) => c.name === REMEMBER)

describe('a restore never skips rotation because of a request header', () => {
  // Headers a client sets at will on an ordinary route: none of them is a WebSocket
  // upgrade that @fastify/websocket accepted, so none of them may skip the rotation.
  const spoofed = {
    'Upgrade: h2c': { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAAP__' },
    'Upgrade: websocket': { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
  }

  for (const [name, headers] of Object.entries(spoofed)) {
    test(`a copied token sent with ${name} on an ordinary route is rotated, listed, and caught when the victim comes back`, async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      const { app, events } = await setup()
      t.after(() => app.close())
      const victim = await rememberedBrowser(app)
      const copy = victim.cookies[REMEMBER]

      const stolen = await withToken(app, copy, { headers })
      assert.equal(stolen.json().user, 1, 'a copy used first logs in (the server cannot tell yet)')
      const rotated = rememberCookieOf(stolen)
      assert.ok(rotated && !isCleared(rotated) && rotated.value !== copy,
        `the restore rotated the token like any other: got Set-Cookie ${JSON.stringify(stolen.headers['set-cookie'])}`)
      const listed = (await app.loginManager.listLogins(1)).map((login) => login.id)
      assert.ok(listed.includes(stolen.json().loginId), 'the restored login is listed')

      // Past the grace window, the victim's browser restarts and presents its cookie,
      // which the thief's restore made stale: that is a copied cookie.
      t.mock.timers.tick(GRACE_MS + 1)
      delete victim.cookies[SESSION_COOKIE]
      assert.equal((await victim.get('/whoami')).json().user, null, "the victim's stale cookie does not log in")
      assert.deepEqual(events.theft, ['1'], 'rememberTheft is emitted')
      assert.equal((await withToken(app, rotated.value)).json().user, null, "the thief's rotated token died with the series")
      assert.deepEqual(await app.loginManager.listLogins(1), [], 'the login is revoked')
    })
  }

  test('the same copied token sent with Upgrade again and again does not log in every time', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app, events } = await setup()
    t.after(() => app.close())
    const victim = await rememberedBrowser(app)
    const copy = victim.cookies[REMEMBER]
    const first = await withToken(app, copy, { headers: spoofed['Upgrade: h2c'] })
    assert.equal(first.json().user, 1)
    t.mock.timers.tick(GRACE_MS + 1)
    const again = await withToken(app, copy, { headers: spoofed['Upgrade: h2c'] })
    assert.equal(again.json().user, null, 'the token was rotated by the first use: the second is a copy')
    assert.deepEqual(events.theft, ['1'])
  })
})

describe('a logout that finds only a remember cookie', () => {
  test('under `exclude`, right after a browser restart: the series ends everywhere, a saved copy no longer logs in', async (t) => {
    const { app } = await setup({
      login: { exclude: ['/static'] },
      routes: (app) => app.post('/static/logout', async (request, reply) => {
        await reply.logoutUser()
        return { ok: true, user: request.user }
      })
    })
    t.after(() => app.close())
    const browser = await rememberedBrowser(app)
    const copy = browser.cookies[REMEMBER]
    delete browser.cookies[SESSION_COOKIE] // the browser was closed: only the remember cookie is left

    const res = await browser.post('/static/logout', {})
    assert.equal(res.statusCode, 200)
    assert.equal(browser.cookies[REMEMBER], undefined, 'this browser\'s cookie is cleared')
    assert.equal((await withToken(app, copy)).json().user, null, 'a saved copy of the cookie does not log in')
    assert.deepEqual(await app.loginManager.listLogins(1), [], 'the login behind the cookie is ended')
  })
})

describe('a login id is stable for its device', () => {
  test('the id listLogins shows is still request.loginId after the browser restores, and revokeLogin with it ends that browser', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const laptop = await rememberedBrowser(app)
    const shown = (await laptop.get('/whoami')).json().loginId
    assert.deepEqual((await app.loginManager.listLogins(1)).map((login) => login.id), [shown])

    delete laptop.cookies[SESSION_COOKIE] // browser restart: the login comes back from the remember cookie
    const restored = (await laptop.get('/whoami')).json()
    assert.equal(restored.user, 1)
    assert.equal(restored.loginId, shown, 'the restore keeps the id the "your sessions" page showed')
    assert.deepEqual((await app.loginManager.listLogins(1)).map((login) => login.id), [shown], 'listed once, under that id')

    // From the "your sessions" page of another device: end the laptop's login by the id shown.
    await app.loginManager.revokeLogin(1, shown)
    assert.equal((await laptop.get('/whoami')).json().user, null, 'the laptop is logged out')
    delete laptop.cookies[SESSION_COOKIE]
    assert.equal((await laptop.get('/whoami')).json().user, null, 'and its remember cookie does not bring it back')
  })
})

describe('the grace window is bounded both ways', () => {
  test('a rotation stamped in the future (the instance that rotated ran ahead) does not put a copy inside the window: it is theft', async (t) => {
    const start = Date.now()
    t.mock.timers.enable({ apis: ['Date'], now: start })
    const { app, events } = await setup()
    t.after(() => app.close())
    const victim = await rememberedBrowser(app)
    const copy = victim.cookies[REMEMBER]

    // The victim's browser restarts; its restore is served by an instance whose clock runs 10 minutes ahead.
    t.mock.timers.setTime(start + 10 * MINUTE)
    delete victim.cookies[SESSION_COOKIE]
    assert.equal((await victim.get('/whoami')).json().user, 1)
    const rotated = victim.cookies[REMEMBER]
    assert.notEqual(rotated, copy, 'the restore rotated the token')

    // A minute after the login, on an instance with the right time, the copy shows up:
    // the rotation's time lies 9 minutes ahead, which is no "less than graceMs ago".
    t.mock.timers.setTime(start + MINUTE)
    const res = await withToken(app, copy)
    assert.equal(res.json().user, null, 'the copy does not log in')
    assert.deepEqual(events.theft, ['1'], 'it is caught as a copied cookie')
    assert.ok(isCleared(rememberCookieOf(res)), 'and cleared')
    assert.equal((await withToken(app, rotated)).json().user, null, 'the series is ended: the user logs in again')
  })
})
