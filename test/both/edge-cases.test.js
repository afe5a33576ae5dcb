'use strict'

// Edge cases found in review: odd loader answers, two logins in one request, cookies
// scoped to other paths, logout outside the session's path or during another request,
// guard and option validation. On the run's session plugin; the confirmation whose
// store write fails is in test/stored-sessions.test.js.

require('../support/session-plugins').onBothPlugins(__filename)
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, setCookies, isCleared, holdsNoLogin, USERS, REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE } = require('../helper')

const remember = { secret: REMEMBER_SECRET }
const rememberOf = (res) => setCookies(res).find((c) => c.name === 'remember_token')

test('a loader answering false, 0 or an empty string found nobody: the guard refuses', async (t) => {
  for (const nobody of [false, 0, '']) {
    const users = new Map(USERS)
    let ran = 0
    const app = await buildApp({
      users,
      login: {
        loadUser: async (id) => users.get(id) ?? nobody,
        // the `valid && user` idiom answers false for a request without a token
        loadUserFromRequest: async (request) => request.headers.authorization === 'Bearer good' && nobody
      },
      routes: (app) => app.get('/admin', { preHandler: app.loginRequired }, async () => { ran++; return 'secret' })
    })
    t.after(() => app.close())
    assert.equal((await app.inject('/admin')).statusCode, 401, `no credentials, loader answers ${JSON.stringify(nobody)}`)

    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get('/admin')).statusCode, 200)
    users.delete('1')
    const gone = await jar.get('/admin')
    assert.equal(gone.statusCode, 401, `deleted user, loader answers ${JSON.stringify(nobody)}`)
    assert.equal((await jar.get('/me')).json().user, null)
    assert.equal(ran, 1)
  }
})

test('loginUser refuses something that is not a user object', async (t) => {
  const app = await buildApp({
    routes: (app) => app.post('/login-false', async (request, reply) => reply.loginUser(false))
  })
  t.after(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/login-false' })
  assert.equal(res.statusCode, 500)
  assert.equal(res.json().code, 'FST_LOGIN_INVALID')
  assert.equal(res.headers['set-cookie'], undefined)
})

test('a second loginUser without remember in the same request leaves no remember cookie of the first', async (t) => {
  const app = await buildApp({
    login: { remember },
    routes: (app) => app.post('/switch', async (request, reply) => {
      await reply.loginUser(USERS.get('1'), { remember: true })
      await reply.loginUser(USERS.get('2'))
      return { ok: true }
    })
  })
  t.after(() => app.close())
  const jar = createJar(app)
  const res = await jar.post('/switch', {})
  const cookie = rememberOf(res)
  assert.ok(cookie && isCleared(cookie), 'the first login\'s remember cookie is replaced by a clearing one')
  assert.equal((await jar.get('/me')).json().user.id, 2)
  delete jar.cookies[SESSION_COOKIE] // browser restart
  assert.equal((await jar.get('/me')).json().user, null)
})

test('a remember cookie scoped to another path is cleared by a login without remember and by logout', async (t) => {
  const app = await buildApp({ login: { remember: { ...remember, path: '/app' } } })
  t.after(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/login', payload: { id: 1, remember: true } })
  assert.equal(rememberOf(first).path, '/app')

  // /login and /logout are outside /app: the browser does not send the cookie there.
  const second = await app.inject({ method: 'POST', url: '/login', payload: { id: 2 } })
  const clearedAtLogin = rememberOf(second)
  assert.ok(clearedAtLogin && isCleared(clearedAtLogin))
  assert.equal(clearedAtLogin.path, '/app')

  const session = setCookies(second).find((c) => c.name === SESSION_COOKIE).value
  const out = await app.inject({ method: 'POST', url: '/logout', cookies: { [SESSION_COOKIE]: session } })
  const clearedAtLogout = rememberOf(out)
  assert.ok(clearedAtLogout && isCleared(clearedAtLogout))
  assert.equal(clearedAtLogout.path, '/app')
})

test('logoutUser outside the session cookie path never reports a logout that did not happen (it fails, or on secure-session really logs out)', async (t) => {
  const app = await buildApp({
    session: { cookie: { secure: false, path: '/app' } },
    login: { remember },
    routes: (app) => {
      app.post('/app/login', async (request, reply) => reply.loginUser(USERS.get('1'), { remember: true }))
      app.get('/app/me', async (request) => ({ user: request.user }))
    }
  })
  t.after(() => app.close())
  const events = []
  app.loginManager.on('logout', (request, user) => events.push(user.id))
  const jar = createJar(app)
  await jar.post('/app/login', {})
  const out = await jar.post('/logout', {}) // outside /app: the remember cookie restored the user there
  if (SESSION_KIND === 'stored') {
    // @fastify/session gives no session outside its cookie's path: nothing to log out of.
    assert.equal(out.statusCode, 500)
    assert.equal(out.json().code, 'FST_LOGIN_INVALID')
    assert.deepEqual(events, [])
    assert.equal((await jar.get('/app/me')).json().user.id, 1)
  } else {
    // @fastify/secure-session gives every request a session, and sets or clears its
    // cookie with the cookie's own path: the logout really happens, on every path
    // (the remember cookie is cleared, the /app session cookie holds no login).
    assert.equal(out.statusCode, 200, out.body)
    assert.deepEqual(events, [1])
    const cleared = setCookies(out).filter((c) => isCleared(c)).map((c) => `${c.name} ${c.path}`)
    assert.deepEqual(cleared, ['remember_token /'])
    const session = setCookies(out).find((c) => c.name === SESSION_COOKIE)
    assert.equal(session?.path, '/app')
    assert.ok(holdsNoLogin(app, session))
    assert.equal((await jar.get('/app/me')).json().user, null)
  }
})

test('logout under an excluded prefix still emits logout with the user', async (t) => {
  const app = await buildApp({
    login: { exclude: ['/api'] },
    routes: (app) => app.post('/api/logout', async (request, reply) => { await reply.logoutUser(); return { ok: true } })
  })
  t.after(() => app.close())
  const events = []
  app.loginManager.on('logout', (request, user) => events.push(user.username))
  const jar = createJar(app)
  await jar.post('/login', { id: 1 })
  await jar.post('/api/logout', {})
  assert.equal((await jar.get('/me')).json().user, null)
  assert.deepEqual(events, ['user1'])
})

test('with rolling: false, a request still running during logout does not bring the session back', async (t) => {
  let hold = null
  const app = await buildApp({
    session: { rolling: false },
    login: { loadUser: async (id) => { if (hold) await hold; return USERS.get(id) ?? null } }
  })
  t.after(() => app.close())
  const jar = createJar(app)
  await jar.post('/login', { id: 1 })
  const cookies = { [SESSION_COOKIE]: jar.cookies[SESSION_COOKIE] }

  let release
  hold = new Promise((resolve) => { release = resolve })
  const inFlight = app.inject({ url: '/me', cookies }) // a polling request of the same tab
  await new Promise((resolve) => setImmediate(resolve))
  hold = null
  const out = await app.inject({ method: 'POST', url: '/logout', cookies })
  assert.equal(out.statusCode, 200)
  release()
  const late = await inFlight
  assert.equal(late.json().user.id, 1, 'it started before the logout')
  // Its response, arriving after the logout's, sets no session cookie: a browser keeps
  // the logout's (the only write-back a stateless session could suffer).
  assert.equal(setCookies(late).find((c) => c.name === SESSION_COOKIE), undefined)
  if (SESSION_KIND === 'stored') {
    assert.equal((await app.inject({ url: '/me', cookies })).json().user, null)
  } else {
    // The documented limit of a stateless session: a logout cannot kill a copy of the
    // pre-logout cookie, replayed it is still logged in. The browser's own holds no login.
    const replaced = setCookies(out).find((c) => c.name === SESSION_COOKIE)
    assert.ok(replaced && holdsNoLogin(app, replaced), `the logout empties the session cookie: ${out.headers['set-cookie']}`)
    assert.equal((await app.inject({ url: '/me', cookies })).json().user.id, 1)
  }
})

test('a stale session and a sound remember cookie of another user: the cookie is kept for the next request', async (t) => {
  const users = new Map(USERS)
  const app = await buildApp({ users, login: { remember } })
  t.after(() => app.close())
  const reasons = []
  app.loginManager.on('rememberRejected', (request, reason) => reasons.push(reason))
  const a = createJar(app)
  await a.post('/login', { id: 1, remember: true })
  const b = createJar(app)
  await b.post('/login', { id: 2 })
  users.delete('2')

  const jar = createJar(app)
  jar.cookies = { [SESSION_COOKIE]: b.cookies[SESSION_COOKIE], remember_token: a.cookies.remember_token }
  const res = await jar.get('/me')
  assert.equal(res.json().user, null)
  assert.equal(rememberOf(res), undefined, 'a cookie that verifies is not cleared')
  assert.deepEqual(reasons, [])
  const next = (await jar.get('/me')).json()
  assert.equal(next.user.id, 1)
  assert.equal(next.authenticatedBy, 'remember')
})

test('loginGuard options are checked like the plugin options', async () => {
  for (const [options, named] of [
    [{ fresh: 'true' }, 'loginGuard.fresh'],
    [{ loginURL: '/admin/login' }, 'loginGuard.loginURL'],
    [{ loginUrl: 42 }, 'loginGuard.loginUrl'],
    [{ onUnauthorized: 'nope' }, 'loginGuard.onUnauthorized']
  ]) {
    await assert.rejects(
      buildApp({ routes: (app) => app.get('/admin', { preHandler: app.loginGuard(options) }, async () => 'ok') }),
      (error) => error.code === 'FST_LOGIN_OPTION' && error.message.includes(named),
      JSON.stringify(options)
    )
  }
})

test('a remember lifetime over 400 days fails at registration and at loginUser', async (t) => {
  await assert.rejects(
    buildApp({ login: { remember: { ...remember, maxAge: 401 * 24 * 3600 * 1000 } } }),
    (error) => error.code === 'FST_LOGIN_OPTION' && error.message.includes('remember.maxAge')
  )
  const app = await buildApp({ login: { remember } })
  t.after(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/login', payload: { id: 1, remember: true, maxAge: 300e12 } })
  assert.equal(res.statusCode, 500)
  assert.equal(res.json().code, 'FST_LOGIN_INVALID')
  assert.equal(res.headers['set-cookie'], undefined)
})

test('an onUnauthorized handler that throws or rejects with nothing still refuses', async (t) => {
  for (const [name, handler] of [
    ['rejects with undefined', () => Promise.reject()], // eslint-disable-line prefer-promise-reject-errors
    ['async, throws null', async () => { throw null }], // eslint-disable-line no-throw-literal
    ['throws undefined', () => { throw undefined }], // eslint-disable-line no-throw-literal
    ['async, throws 0', async () => { throw 0 }] // eslint-disable-line no-throw-literal
  ]) {
    let ran = 0
    const app = await buildApp({
      login: { onUnauthorized: handler },
      routes: (app) => {
        app.get('/admin', { preHandler: app.loginRequired }, async () => { ran++; return 'secret' })
        app.get('/sudo', { preHandler: app.loginGuard({ fresh: true, onUnauthorized: handler }) }, async () => { ran++; return 'secret' })
      }
    })
    t.after(() => app.close())
    const anonymous = await app.inject('/admin')
    assert.equal(anonymous.statusCode, 401, name)
    assert.equal(anonymous.json().code, 'FST_LOGIN_REQUIRED', name)

    const jar = createJar(app)
    await jar.post('/login', { id: 1, fresh: false })
    const stale = await jar.get('/sudo')
    assert.equal(stale.statusCode, 401, name)
    assert.equal(stale.json().code, 'FST_LOGIN_FRESH_REQUIRED', name)
    assert.equal(ran, 0, name)
  }
})

test('a guard called by hand returns a promise: it passes, rejects with the 401 error, or waits for the redirect', async (t) => {
  const reached = []
  const app = await buildApp({
    login: { loginUrl: '/login' },
    routes: (app) => app.get('/manual', async (request, reply) => {
      await app.loginRequired(request, reply)
      if (reply.sent) return reply
      reached.push(request.user.username)
      return { user: request.user.username }
    })
  })
  t.after(() => app.close())
  const jar = createJar(app)

  const api = await jar.get('/manual')
  assert.equal(api.statusCode, 401)
  assert.equal(api.json().code, 'FST_LOGIN_REQUIRED')

  const browser = await jar.get({ url: '/manual', headers: { accept: 'text/html' } })
  assert.equal(browser.statusCode, 302)
  assert.equal(browser.headers.location, '/login?next=%2Fmanual')

  await jar.post('/login', { id: 1 })
  const page = await jar.get('/manual')
  assert.equal(page.statusCode, 200)
  assert.deepEqual(page.json(), { user: 'user1' })
  assert.deepEqual(reached, ['user1'])
})
