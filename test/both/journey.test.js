'use strict'

// One browser's whole journey on the run's session plugin (@fastify/session, or
// @fastify/secure-session with SESSION_PLUGIN=secure), with keepSessionKeys: a login
// with remember-me, a guarded page, a browser restart and a remember-me restore, and
// a logout. The app's cart survives each step; a pre-login CSRF token does not.

require('../support/session-plugins').onBothPlugins(__filename)
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, setCookies, isCleared, sessionData, USERS, REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE, LOGIN_KEY } = require('../helper')

const REMEMBER = 'remember_token'

test(`login, guarded page, remember-me restore and logout keep only keepSessionKeys (${SESSION_KIND})`, async (t) => {
  const app = await buildApp({ login: { keepSessionKeys: ['cart'], remember: { secret: REMEMBER_SECRET } } })
  t.after(() => app.close())
  const events = []
  for (const name of ['login', 'loadedFromRemember', 'logout']) app.loginManager.on(name, (request, user) => events.push([name, user.id]))
  const jar = createJar(app)
  const value = (key) => jar.get(`/session/${key}`).then((res) => res.json().value)

  // Anonymous: a cart and a CSRF token, in the run's session cookie (and no other).
  await jar.post('/session/cart', { value: 'apples' })
  await jar.post('/session/csrf', { value: 'token-1' })
  assert.deepEqual(Object.keys(jar.cookies), [SESSION_COOKIE])
  assert.equal((await jar.get('/private')).statusCode, 401)

  // Login with remember-me: the cart is kept, the token dropped.
  const login = await jar.post('/login', { id: 1, remember: true })
  assert.deepEqual(login.json(), { ok: true })
  assert.ok(jar.cookies[REMEMBER], 'a remember cookie')
  assert.deepEqual((await jar.get('/private')).json().user, USERS.get('1'))
  assert.deepEqual((await jar.get('/me')).json(), { user: USERS.get('1'), authenticatedBy: 'session', fresh: true })
  assert.equal(await value('cart'), 'apples')
  assert.equal(await value('csrf'), null)

  // Browser restart: the session cookie is gone. Before the remember cookie is sent
  // (it may be scoped to another path), the anonymous visitor fills a new session.
  delete jar.cookies[SESSION_COOKIE]
  const remember = jar.cookies[REMEMBER]
  delete jar.cookies[REMEMBER]
  await jar.post('/session/cart', { value: 'pears' })
  await jar.post('/session/csrf', { value: 'token-2' })
  assert.equal((await jar.get('/me')).json().user, null)

  // The remember cookie restores the login into a new session: the cart kept, the token
  // dropped, not fresh; the next request is a session login.
  jar.cookies[REMEMBER] = remember
  const restored = await jar.get('/private')
  assert.equal(restored.statusCode, 200)
  assert.ok(setCookies(restored).some((c) => c.name === SESSION_COOKIE && !isCleared(c)), 'the restore sets a session cookie')
  assert.deepEqual((await jar.get('/me')).json(), { user: USERS.get('1'), authenticatedBy: 'session', fresh: false })
  assert.equal(await value('cart'), 'pears')
  assert.equal(await value('csrf'), null)
  if (SESSION_KIND === 'secure') {
    // What the browser holds is the whole session: the cart and the login, nothing else.
    assert.deepEqual(Object.keys(sessionData(app, jar.cookies[SESSION_COOKIE])).sort(), [LOGIN_KEY, 'cart'].sort())
  }

  // Logout: the login and the remember cookie are gone, the cart (an app key) stays.
  const loggedIn = jar.cookies[SESSION_COOKIE]
  const out = await jar.post('/logout', {})
  assert.equal(out.statusCode, 200)
  assert.equal(jar.cookies[REMEMBER], undefined, 'the remember cookie is cleared')
  assert.notEqual(jar.cookies[SESSION_COOKIE], loggedIn, 'a new session without the login')
  assert.equal((await jar.get('/private')).statusCode, 401)
  assert.equal((await jar.get('/me')).json().user, null)
  assert.equal(await value('cart'), 'pears')

  // A copy of the pre-logout session cookie: dead in the store; on a stateless session
  // still logged in, the documented limit (a logout cannot kill a copy of a cookie).
  const replay = await app.inject({ url: '/me', cookies: { [SESSION_COOKIE]: loggedIn } })
  assert.equal(replay.json().user?.id ?? null, SESSION_KIND === 'stored' ? null : 1)

  assert.deepEqual(events, [['login', 1], ['loadedFromRemember', 1], ['logout', 1]])
})
