'use strict'

// README "Security" (session fixation, stale logins, no writes from reads) and the
// "Request" and "Reply" decorators of its API section, on the run's
// session plugin. On 'stored' (@fastify/session) a real memory store whose Map the
// tests look into; on 'secure' (@fastify/secure-session) there is no store: the tests
// read the session out of its encrypted cookie, and where a stateless session cannot
// keep a promise of the store (a copy of an old cookie cannot be killed) they assert
// what a user of it really gets: the documented limit.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryStore } = require('@fastify/session')
const {
  buildApp, createJar, setCookies, isCleared, sessionIdOf, sessionData, holdsNoLogin,
  USERS, REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE, LOGIN_KEY
} = require('../helper')

const STORED = SESSION_KIND === 'stored'

/** Yields `turns` turns of the event loop: an interleaving that no clock or load can change. */
const yieldTurns = (turns) => new Promise((resolve) => {
  const next = () => turns-- > 0 ? setImmediate(next) : resolve()
  next()
})

/**
 * An app and a cookie jar for it. On 'stored', on a memory store whose Map the test
 * can read; 'secure' has no store (`map` stays empty and is only read on 'stored').
 */
async function setup (options = {}) {
  const map = new Map()
  const app = await buildApp({ ...(STORED ? { store: new MemoryStore(map) } : {}), ...options })
  return { app, map, jar: createJar(app) }
}

function currentSessionId (jar) {
  const value = jar.cookies[SESSION_COOKIE]
  assert.ok(value, 'the jar should hold a session cookie')
  return sessionIdOf(value)
}

/** The data of the jar's session: from the store ('stored') or out of the cookie ('secure'). */
function jarSession (app, map, jar) {
  const value = jar.cookies[SESSION_COOKIE]
  assert.ok(value, 'the jar should hold a session cookie')
  return sessionData(app, value, map)
}

/** The response's Set-Cookie for the session cookie, or undefined. */
function sessionCookieOf (res) {
  return setCookies(res).find((c) => c.name === SESSION_COOKIE)
}

/** GET /me with exactly the given session cookie value, outside the jar. */
async function meWithCookie (app, cookieValue) {
  const res = await app.inject({ method: 'GET', url: '/me', cookies: { [SESSION_COOKIE]: cookieValue } })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

async function me (jar) {
  const res = await jar.get('/me')
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

async function login (jar, body) {
  const res = await jar.post('/login', body)
  assert.equal(res.statusCode, 200, res.body)
  return res
}

/** A `confirmLogin` route, for apps built with `routes`. */
function confirmRoute (app) {
  app.post('/confirm', async (request, reply) => {
    await reply.confirmLogin()
    return { ok: true }
  })
}

function assertSessionCacheHeaders (res, what) {
  assert.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`)
  assert.match(String(res.headers.vary), /(^|,)\s*Cookie\s*(,|$)/i, `${what}: Vary must name Cookie, got ${res.headers.vary}`)
}

describe('session id changes at every login', () => {
  test('logging in changes the session id, the pre-login id is gone from the store and replays as anonymous', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    await jar.post('/session/cart', { value: 'apples' })
    const before = jar.cookies[SESSION_COOKIE]
    if (STORED) {
      const beforeId = sessionIdOf(before)
      assert.ok(map.has(beforeId), 'the anonymous session with a cart is in the store')

      await login(jar, { id: 1 })
      const afterId = currentSessionId(jar)
      assert.notEqual(afterId, beforeId)
      assert.equal(map.has(beforeId), false, 'the pre-login session id must be gone from the store')
      assert.ok(map.has(afterId))
    } else {
      // No id and no store: the login issues a new cookie holding a new session, without
      // the pre-login data. The pre-login cookie is a copy nothing can kill; it keeps its
      // own (anonymous) data, which is what the replay below shows.
      assert.equal(sessionData(app, before).cart, 'apples')
      await login(jar, { id: 1 })
      assert.notEqual(jar.cookies[SESSION_COOKIE], before)
      assert.equal(jarSession(app, map, jar).cart, undefined, 'the new session starts without the pre-login data')
      assert.equal((await app.inject({ url: '/session/cart', cookies: { [SESSION_COOKIE]: before } })).json().value, 'apples')
    }

    assert.deepEqual((await me(jar)).user, USERS.get('1'))
    assert.equal((await meWithCookie(app, before)).user, null)
  })

  test('a second login as the same user changes the session id again; the old cookie is anonymous', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const first = jar.cookies[SESSION_COOKIE]
    await login(jar, { id: 1 })
    const second = jar.cookies[SESSION_COOKIE]

    if (STORED) {
      assert.notEqual(sessionIdOf(second), sessionIdOf(first))
      assert.equal(map.has(sessionIdOf(first)), false, 'the first login\'s session id must be gone from the store')
      assert.ok(map.has(sessionIdOf(second)))
      assert.equal((await meWithCookie(app, first)).user, null)
    } else {
      // The documented limit of a stateless session: the login issues a new cookie, but a
      // copy of the first one is a complete session of its own, and nothing on the server
      // can end it (changing the user's authVersion does).
      assert.notEqual(second, first)
      assert.deepEqual((await meWithCookie(app, first)).user, USERS.get('1'))
    }
    assert.deepEqual((await meWithCookie(app, second)).user, USERS.get('1'))
  })

  test('a login as another user changes the session id; the first user\'s cookie is anonymous, not user 1', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const first = jar.cookies[SESSION_COOKIE]
    await login(jar, { id: 2 })
    const second = jar.cookies[SESSION_COOKIE]

    if (STORED) {
      assert.notEqual(sessionIdOf(second), sessionIdOf(first))
      assert.equal(map.has(sessionIdOf(first)), false)
      assert.equal((await meWithCookie(app, first)).user, null)
    } else {
      // The documented limit: a copy of user 1's cookie is still user 1's login (never
      // user 2's); the browser itself now holds user 2's session.
      assert.notEqual(second, first)
      assert.deepEqual((await meWithCookie(app, first)).user, USERS.get('1'))
      assert.match(jarSession(app, map, jar)._login, /\.2$/, "the session holds user 2's login (the user id ends the login string)")
    }
    assert.deepEqual((await me(jar)).user, USERS.get('2'))
  })

  test('confirmLogin changes the session id, makes the login fresh, and the old cookie is anonymous', async (t) => {
    const { app, map, jar } = await setup({ routes: confirmRoute })
    t.after(() => app.close())

    await login(jar, { id: 1, fresh: false })
    assert.equal((await me(jar)).fresh, false)
    const stale = jar.cookies[SESSION_COOKIE]

    const res = await jar.post('/confirm', {})
    assert.equal(res.statusCode, 200, res.body)
    const confirmed = jar.cookies[SESSION_COOKIE]
    if (STORED) {
      assert.notEqual(sessionIdOf(confirmed), sessionIdOf(stale))
      assert.equal(map.has(sessionIdOf(stale)), false, 'the pre-confirm session id must be gone from the store')
    } else {
      assert.notEqual(confirmed, stale)
    }

    const after = await me(jar)
    assert.deepEqual(after.user, USERS.get('1'))
    assert.equal(after.fresh, true)
    if (STORED) {
      assert.equal((await meWithCookie(app, stale)).user, null)
    } else {
      // The documented limit: the pre-confirm cookie cannot be killed. It is still the
      // login it was, stale: confirming in one browser never makes a copy fresh.
      const replay = await meWithCookie(app, stale)
      assert.deepEqual(replay.user, USERS.get('1'))
      assert.equal(replay.fresh, false)
    }
  })
})

describe('session data across login', () => {
  test('keys put in the session before login are dropped unless listed in keepSessionKeys', async (t) => {
    const { app, map, jar } = await setup({ login: { keepSessionKeys: ['cart'] } })
    t.after(() => app.close())

    await jar.post('/session/cart', { value: 'apples' })
    await jar.post('/session/csrf', { value: 'token-before-login' })
    await login(jar, { id: 1 })

    assert.equal((await jar.get('/session/cart')).json().value, 'apples')
    assert.equal((await jar.get('/session/csrf')).json().value, null)
    // The stored session on 'stored'; on 'secure' the session the cookie itself carries.
    const stored = jarSession(app, map, jar)
    assert.equal(stored.cart, 'apples')
    assert.equal('csrf' in stored, false, 'the csrf key must not be in the stored session')
  })

  test('without keepSessionKeys nothing from before login survives', async (t) => {
    const { app, jar } = await setup()
    t.after(() => app.close())

    await jar.post('/session/cart', { value: 'apples' })
    await jar.post('/session/next', { value: '/account' })
    await login(jar, { id: 1 })
    assert.equal((await jar.get('/session/cart')).json().value, null)
    assert.equal((await jar.get('/session/next')).json().value, null)
  })
})

describe('logout', () => {
  test('logout ends the session on the server: the pre-logout cookie replays as anonymous', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const loggedIn = jar.cookies[SESSION_COOKIE]
    const res = await jar.post('/logout', {})
    assert.equal(res.statusCode, 200)

    if (STORED) {
      assert.equal(map.has(sessionIdOf(loggedIn)), false, 'the logged-in session id must be gone from the store')
      assert.equal((await meWithCookie(app, loggedIn)).user, null)
    } else {
      // The documented limit of a stateless session: a logout cannot kill a copy of the
      // pre-logout cookie; replayed, it is still logged in. What the logout does is end
      // the browser's own session: its cookie now holds no login.
      assert.deepEqual((await meWithCookie(app, loggedIn)).user, USERS.get('1'))
      const replaced = sessionCookieOf(res)
      assert.ok(replaced && holdsNoLogin(app, replaced), `the session cookie holds no login: ${res.headers['set-cookie']}`)
    }
    assert.equal((await me(jar)).user, null)
    if (STORED) assert.equal(map.size, 0, 'a logout with no app data leaves nothing in the store')
  })

  test('logout keeps the app\'s other session keys, under a new session id', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    await login(jar, { id: 1 })
    await jar.post('/session/theme', { value: 'dark' })
    const loggedIn = jar.cookies[SESSION_COOKIE]
    assert.equal(LOGIN_KEY in jarSession(app, map, jar), true, 'the login is in the session')

    await jar.post('/logout', {})
    if (STORED) {
      const afterId = currentSessionId(jar)
      assert.notEqual(afterId, sessionIdOf(loggedIn))
      assert.equal(map.has(sessionIdOf(loggedIn)), false)
    } else {
      assert.notEqual(jar.cookies[SESSION_COOKIE], loggedIn)
    }
    const after = jarSession(app, map, jar)
    assert.equal(after.theme, 'dark')
    assert.equal(LOGIN_KEY in after, false, 'the login keys are gone from the session')

    assert.equal((await jar.get('/session/theme')).json().value, 'dark')
    assert.equal((await me(jar)).user, null)
    if (STORED) {
      assert.equal((await meWithCookie(app, loggedIn)).user, null)
    } else {
      // The documented limit: a copy of the pre-logout cookie is still logged in.
      assert.deepEqual((await meWithCookie(app, loggedIn)).user, USERS.get('1'))
    }
  })

  test('logout while anonymous and without a session writes nothing', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    const res = await jar.post('/logout', {})
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['set-cookie'], undefined)
    if (STORED) assert.equal(map.size, 0)
  })

  test('logout while anonymous with an app session leaves that session as it was', async (t) => {
    const { app, map, jar } = await setup({ session: { rolling: false } })
    t.after(() => app.close())

    await jar.post('/session/cart', { value: 'apples' })
    const cookie = jar.cookies[SESSION_COOKIE]
    const snapshot = JSON.stringify([...map.entries()])

    const res = await jar.post('/logout', {})
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['set-cookie'], undefined, 'an anonymous logout must not set or clear cookies')
    // 'secure' has no store: the session is the cookie, and no Set-Cookie left it as it was.
    assert.equal(jar.cookies[SESSION_COOKIE], cookie)
    if (STORED) {
      assert.deepEqual([...map.keys()], [sessionIdOf(cookie)])
      assert.equal(JSON.stringify([...map.entries()]), snapshot, 'the store must be unchanged')
    }
    assert.equal((await jar.get('/session/cart')).json().value, 'apples')
  })
  // The logout ends the login, not the session: the session goes on under a new id
  // (or in a new cookie), and what the route does next in that request must stick.
  test('a logout then a login in the same request (switching user) logs the new user in', async (t) => {
    const { app, jar } = await setup({
      routes (app) {
        app.post('/switch', async (request, reply) => {
          await reply.logoutUser()
          return { ok: await reply.loginUser(USERS.get('2')) }
        })
      }
    })
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const res = await jar.post('/switch', {})
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(res.json(), { ok: true })
    // A browser applies Set-Cookie headers in order: the last one for the session cookie counts.
    const sent = setCookies(res).filter((c) => c.name === SESSION_COOKIE).at(-1)
    assert.ok(sent && !isCleared(sent), `the new login's session cookie is set, not cleared: ${res.headers['set-cookie']}`)
    assert.deepEqual((await me(jar)).user, USERS.get('2'), 'loginUser resolved true: user 2 is logged in')
  })

  test('the route may write to the session after logoutUser (a "you are logged out" notice)', async (t) => {
    const { app, jar } = await setup({
      routes (app) {
        app.post('/logout-notice', async (request, reply) => {
          await reply.logoutUser()
          request.session.set('notice', 'logged out')
          return { ok: true }
        })
      }
    })
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const res = await jar.post('/logout-notice', {})
    assert.equal(res.statusCode, 200, res.body)
    assert.equal((await me(jar)).user, null)
    assert.equal((await jar.get('/session/notice')).json().value, 'logged out', `the notice is kept: ${res.headers['set-cookie']}`)
  })
})

describe('user loader', () => {
  for (const missing of [null, undefined]) {
    test(`a loader returning ${missing} makes the request anonymous and drops the stale login`, async (t) => {
      const users = new Map(USERS)
      let calls = 0
      const { app, jar } = await setup({
        users,
        login: {
          loadUser: async (id) => {
            calls++
            return users.has(id) ? users.get(id) : missing
          }
        }
      })
      t.after(() => app.close())

      await login(jar, { id: 2 })
      assert.deepEqual((await me(jar)).user, USERS.get('2'))
      assert.equal(calls, 1)

      users.delete('2')
      const gone = await me(jar)
      assert.equal(gone.user, null)
      assert.equal(gone.authenticatedBy, null)
      assert.equal(calls, 2)

      const again = await jar.get('/private')
      assert.equal(again.statusCode, 401)
      assert.equal((await me(jar)).user, null)
      assert.equal(calls, 2, 'the loader must not be asked again for a login it already found missing')
    })
  }

  test('0 is a valid user id: stored and handed to the loader as the string "0"', async (t) => {
    const ids = []
    const { app, jar } = await setup({
      login: { loadUser: async (id) => { ids.push(id); return USERS.get(id) ?? null } }
    })
    t.after(() => app.close())

    await login(jar, { id: 0 })
    const body = await me(jar)
    assert.deepEqual(body.user, { id: 0, username: 'zero' })
    assert.equal(body.authenticatedBy, 'session')
    assert.deepEqual(ids, ['0'])
    assert.equal((await jar.get('/private')).statusCode, 200)
  })

  test('the empty string is a valid user id (custom getUserId)', async (t) => {
    const users = new Map([['', { key: '', username: 'empty' }], ['1', { key: '1', username: 'one' }]])
    const ids = []
    const { app, jar } = await setup({
      users,
      login: {
        getUserId: (user) => user.key,
        loadUser: async (id) => { ids.push(id); return users.get(id) ?? null }
      }
    })
    t.after(() => app.close())

    const res = await login(jar, { id: '' })
    assert.deepEqual(res.json(), { ok: true })
    assert.deepEqual((await me(jar)).user, { key: '', username: 'empty' })
    assert.deepEqual(ids, [''])
    assert.equal((await jar.get('/private')).statusCode, 200)
  })

  test('loadUser runs at most once per request, and never for a request without a login', async (t) => {
    const calls = []
    const { app, jar } = await setup({
      login: { loadUser: async (id, request) => { calls.push(request.id); return USERS.get(id) ?? null } },
      routes (app) {
        app.get('/twice', { preHandler: [app.loginRequired, app.freshLoginRequired] }, async (request) => ({
          a: request.user.username, b: request.isAuthenticated(), c: request.isFresh()
        }))
      }
    })
    t.after(() => app.close())

    await jar.get('/me')
    await jar.get('/private')
    await jar.post('/session/cart', { value: 'apples' })
    await jar.get('/me')
    assert.deepEqual(calls, [], 'no login, no loader call')

    await login(jar, { id: 1 })
    assert.deepEqual(calls, [], 'logging in does not need the loader')
    for (let i = 0; i < 3; i++) {
      const res = await jar.get('/twice')
      assert.equal(res.statusCode, 200, res.body)
    }
    assert.equal(calls.length, 3)
    assert.equal(new Set(calls).size, 3, 'one loader call per request')
  })

  // A session login and a remember cookie for the same user: when the session login
  // turns out stale, the loader must not be asked a second time in the same request.
  for (const [label, invalidate] of [
    ['the user is gone', (users) => users.delete('1')],
    ['the user\'s authVersion changed', (users) => users.set('1', { ...users.get('1'), version: 2 })]
  ]) {
    test(`loadUser runs at most once per request when ${label} and a remember cookie is present too`, async (t) => {
      const users = new Map([['1', { id: 1, username: 'user1', version: 1 }]])
      const calls = []
      const { app, jar } = await setup({
        users,
        login: {
          remember: { secret: REMEMBER_SECRET },
          authVersion: (user) => user.version,
          loadUser: async (id, request) => { calls.push({ request: request.id, id }); return users.get(id) ?? null }
        }
      })
      t.after(() => app.close())

      await login(jar, { id: 1, remember: true })
      assert.ok(jar.cookies.remember_token && jar.cookies[SESSION_COOKIE])
      invalidate(users)
      calls.length = 0

      const res = await jar.get('/me')
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().user, null)
      assert.deepEqual(calls.map((c) => c.id), ['1'],
        `loadUser was called ${calls.length} times in one request: ${JSON.stringify(calls)}`)
    })
  }

  test('anonymous visitors never get a session written', async (t) => {
    const { app, map, jar } = await setup({ routes: confirmRoute })
    t.after(() => app.close())

    for (const req of [
      { method: 'GET', url: '/me' },
      { method: 'GET', url: '/private' },
      { method: 'GET', url: '/private', headers: { accept: 'text/html' } },
      { method: 'GET', url: '/fresh' },
      { method: 'POST', url: '/logout', payload: {} },
      { method: 'GET', url: '/nowhere' }
    ]) {
      const res = await jar.request(req)
      assert.equal(res.headers['set-cookie'], undefined, `${req.method} ${req.url} must not set a cookie`)
    }
    if (STORED) assert.equal(map.size, 0)
  })

  test('200 interleaved concurrent requests with random loader delays each see their own user', async (t) => {
    const users = new Map()
    for (let i = 1; i <= 200; i++) users.set(String(i), { id: i, username: `user${i}` })
    const { app } = await setup({
      users,
      login: {
        loadUser: async (id) => {
          await yieldTurns(Math.floor(Math.random() * 8))
          return users.get(id) ?? null
        }
      },
      routes (app) {
        app.get('/whoami', { preHandler: app.loginRequired }, async (request) => {
          await yieldTurns(Math.floor(Math.random() * 4))
          return { id: request.user.id, by: request.authenticatedBy }
        })
      }
    })
    t.after(() => app.close())

    // The logins themselves run concurrently too.
    const jars = await Promise.all(Array.from({ length: 200 }, async (_, n) => {
      const jar = createJar(app)
      await login(jar, { id: n + 1 })
      return { jar, id: n + 1 }
    }))
    assert.equal(new Set(jars.map(({ jar }) => jar.cookies[SESSION_COOKIE])).size, 200, 'every login has its own session')
    // Shuffle so that neighbouring requests belong to unrelated users.
    for (let i = jars.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[jars[i], jars[j]] = [jars[j], jars[i]]
    }
    const results = await Promise.all(jars.map(async ({ jar, id }) => ({ id, res: await jar.get('/whoami') })))
    for (const { id, res } of results) {
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(res.json(), { id, by: 'session' })
    }
  })
})

describe('request decorators', () => {
  const TOKENS = new Map([['token-for-2', USERS.get('2')]])
  function bearer (request) {
    const header = request.headers.authorization
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return null
    return TOKENS.get(header.slice(7)) ?? null
  }
  function stateRoute (app) {
    confirmRoute(app)
    app.get('/state', async (request) => ({
      authenticated: request.isAuthenticated(),
      fresh: request.isFresh(),
      by: request.authenticatedBy
    }))
  }

  test('isAuthenticated, isFresh and authenticatedBy for anonymous, fresh, stale and confirmed logins', async (t) => {
    const { app, jar } = await setup({ routes: stateRoute })
    t.after(() => app.close())

    assert.deepEqual((await jar.get('/state')).json(), { authenticated: false, fresh: false, by: null })
    await login(jar, { id: 1 })
    assert.deepEqual((await jar.get('/state')).json(), { authenticated: true, fresh: true, by: 'session' })
    await login(jar, { id: 1, fresh: false })
    assert.deepEqual((await jar.get('/state')).json(), { authenticated: true, fresh: false, by: 'session' })
    await jar.post('/confirm', {})
    assert.deepEqual((await jar.get('/state')).json(), { authenticated: true, fresh: true, by: 'session' })
    await jar.post('/logout', {})
    assert.deepEqual((await jar.get('/state')).json(), { authenticated: false, fresh: false, by: null })
  })

  test('loadUserFromRequest authenticates a bearer token as "request", not fresh, without writing the session', async (t) => {
    const { app, map, jar } = await setup({ login: { loadUserFromRequest: bearer }, routes: stateRoute })
    t.after(() => app.close())

    const headers = { authorization: 'Bearer token-for-2' }
    const res = await jar.get({ url: '/state', headers })
    assert.deepEqual(res.json(), { authenticated: true, fresh: false, by: 'request' })
    const priv = await jar.get({ url: '/private', headers })
    assert.equal(priv.statusCode, 200)
    assert.deepEqual(priv.json().user, USERS.get('2'))
    assert.equal(priv.headers['set-cookie'], undefined)
    assert.equal(res.headers['set-cookie'], undefined)
    if (STORED) assert.equal(map.size, 0, 'a request login must not write a session')

    const wrong = await jar.get({ url: '/state', headers: { authorization: 'Bearer nope' } })
    assert.deepEqual(wrong.json(), { authenticated: false, fresh: false, by: null })
    assert.equal((await jar.get('/private')).statusCode, 401, 'the next request without the token is anonymous')
  })

  test('loadUserFromRequest does not run when the session has a user', async (t) => {
    let calls = 0
    const { app, jar } = await setup({
      login: { loadUserFromRequest: (request) => { calls++; return bearer(request) } },
      routes: stateRoute
    })
    t.after(() => app.close())

    await jar.get('/me')
    assert.equal(calls, 1, 'it runs for an anonymous request')
    await login(jar, { id: 1 })
    const before = calls
    const res = await jar.get({ url: '/me', headers: { authorization: 'Bearer token-for-2' } })
    assert.deepEqual(res.json().user, USERS.get('1'))
    assert.equal(res.json().authenticatedBy, 'session')
    assert.equal(calls, before, 'loadUserFromRequest must not run when a session user exists')
  })
})

describe('loginUser refusals and errors', () => {
  const users = new Map([...USERS, ['3', { id: 3, username: 'inactive', isActive: false }]])

  test('an inactive user is refused (false, nobody logged in, nothing stored) unless force: true', async (t) => {
    const { app, map, jar } = await setup({ users })
    t.after(() => app.close())

    const refused = await login(jar, { id: 3 })
    assert.deepEqual(refused.json(), { ok: false })
    assert.equal(refused.headers['set-cookie'], undefined)
    if (STORED) assert.equal(map.size, 0)
    assert.equal((await me(jar)).user, null)

    const forced = await login(jar, { id: 3, force: true })
    assert.deepEqual(forced.json(), { ok: true })
    assert.deepEqual((await me(jar)).user, users.get('3'))
  })

  test('a custom isActive decides who may log in', async (t) => {
    const custom = new Map([['1', { id: 1, enabled: false }], ['2', { id: 2, enabled: true }]])
    const { app, jar } = await setup({ users: custom, login: { isActive: (user) => user.enabled } })
    t.after(() => app.close())

    assert.deepEqual((await login(jar, { id: 1 })).json(), { ok: false })
    assert.equal((await me(jar)).user, null)
    assert.deepEqual((await login(jar, { id: 2 })).json(), { ok: true })
    assert.deepEqual((await me(jar)).user, custom.get('2'))
  })

  test('remember: true without the remember option throws and logs nobody in', async (t) => {
    const { app, map, jar } = await setup()
    t.after(() => app.close())

    const res = await jar.post('/login', { id: 1, remember: true })
    assert.equal(res.statusCode, 500)
    assert.match(res.json().message, /remember/)
    // Nothing stored, and ('secure' has no store) no session cookie issued.
    assert.equal(sessionCookieOf(res), undefined)
    if (STORED) assert.equal(map.size, 0)
    assert.equal((await me(jar)).user, null)
  })

  for (const [label, value] of [['null', null], ['undefined', undefined]]) {
    test(`getUserId returning ${label} throws and logs nobody in`, async (t) => {
      const { app, map, jar } = await setup({ login: { getUserId: () => value } })
      t.after(() => app.close())

      const res = await jar.post('/login', { id: 1 })
      assert.equal(res.statusCode, 500)
      assert.match(res.json().message, /getUserId/)
      assert.equal(sessionCookieOf(res), undefined)
      if (STORED) assert.equal(map.size, 0)
      assert.equal((await me(jar)).user, null)
    })
  }

  test('changing the user\'s authVersion makes the old session anonymous', async (t) => {
    const users = new Map([['1', { id: 1, username: 'user1', version: 1 }], ['2', { id: 2, username: 'user2', version: 1 }]])
    const { app, jar } = await setup({ users, login: { authVersion: (user) => user.version } })
    t.after(() => app.close())
    const other = createJar(app)

    await login(jar, { id: 1 })
    await login(other, { id: 2 })
    assert.deepEqual((await me(jar)).user, users.get('1'))

    users.set('1', { ...users.get('1'), version: 2 })
    assert.equal((await me(jar)).user, null, 'a login made under the old version must end')
    assert.equal((await jar.get('/private')).statusCode, 401)
    assert.deepEqual((await me(other)).user, users.get('2'), 'other users stay logged in')

    await login(jar, { id: 1 })
    assert.deepEqual((await me(jar)).user, users.get('1'), 'a new login under the new version works')
  })
})

describe('responses that change the login', () => {
  function routes (app) {
    confirmRoute(app)
    app.post('/login-themed', async (request, reply) => {
      reply.setCookie('theme', 'dark', { path: '/' })
      reply.header('vary', 'Accept-Encoding')
      await reply.loginUser(USERS.get('1'))
      return { ok: true }
    })
    app.post('/logout-themed', async (request, reply) => {
      reply.setCookie('theme', 'light', { path: '/' })
      await reply.logoutUser()
      return { ok: true }
    })
    app.post('/confirm-themed', async (request, reply) => {
      reply.setCookie('theme', 'blue', { path: '/' })
      await reply.confirmLogin()
      return { ok: true }
    })
  }

  function cookieNamed (res, name) {
    return setCookies(res).find((c) => c.name === name)
  }

  test('loginUser: no-store, Vary: Cookie, and the app\'s own Set-Cookie kept', async (t) => {
    const { app, jar } = await setup({ routes })
    t.after(() => app.close())

    const res = await jar.post('/login-themed', {})
    assert.equal(res.statusCode, 200, res.body)
    assertSessionCacheHeaders(res, 'loginUser')
    assert.match(res.headers.vary, /Accept-Encoding/, 'an existing Vary is extended, not replaced')
    assert.equal(cookieNamed(res, 'theme')?.value, 'dark')
    assert.ok(cookieNamed(res, SESSION_COOKIE), 'the session cookie is set too')
    assert.deepEqual((await me(jar)).user, USERS.get('1'))
  })

  test('logoutUser: no-store, Vary: Cookie, and the app\'s own Set-Cookie kept', async (t) => {
    const { app, jar } = await setup({ routes })
    t.after(() => app.close())

    await login(jar, { id: 1 })
    const res = await jar.post('/logout-themed', {})
    assert.equal(res.statusCode, 200, res.body)
    assertSessionCacheHeaders(res, 'logoutUser')
    assert.equal(cookieNamed(res, 'theme')?.value, 'light')
    const session = cookieNamed(res, SESSION_COOKIE)
    assert.ok(session && holdsNoLogin(app, session), 'the emptied session cookie is cleared (stored) or holds no login (secure)')
    if (STORED) assert.ok(isCleared(session), 'a stored session with nothing left is cleared')
    assert.equal((await me(jar)).user, null)
  })

  test('confirmLogin: no-store, Vary: Cookie, and the app\'s own Set-Cookie kept', async (t) => {
    const { app, jar } = await setup({ routes })
    t.after(() => app.close())

    await login(jar, { id: 1, fresh: false })
    const res = await jar.post('/confirm-themed', {})
    assert.equal(res.statusCode, 200, res.body)
    assertSessionCacheHeaders(res, 'confirmLogin')
    assert.equal(cookieNamed(res, 'theme')?.value, 'blue')
    assert.ok(cookieNamed(res, SESSION_COOKIE), 'the new session cookie is set')
    assert.equal((await me(jar)).fresh, true)
  })

  test('the standard login and logout routes carry no-store and Vary: Cookie', async (t) => {
    const { app, jar } = await setup()
    t.after(() => app.close())
    assertSessionCacheHeaders(await login(jar, { id: 2 }), 'POST /login')
    assertSessionCacheHeaders(await jar.post('/logout', {}), 'POST /logout')
  })
})

describe('events on fastify.loginManager', () => {
  test('login, loginConfirmed, logout and loadedFromRequest fire with the request and the user', async (t) => {
    const { app, jar } = await setup({
      login: { loadUserFromRequest: (request) => (request.headers['x-api-key'] === 'k2' ? USERS.get('2') : null) },
      routes: confirmRoute
    })
    t.after(() => app.close())

    const events = []
    for (const name of ['login', 'logout', 'loginConfirmed', 'loadedFromRequest']) {
      app.loginManager.on(name, (request, user) => {
        events.push({ name, url: request.url, method: request.method, user, requestUser: request.user })
      })
    }

    await login(jar, { id: 1 })
    await jar.post('/confirm', {})
    await jar.post('/logout', {})
    await jar.post('/logout', {})
    await app.inject({ method: 'GET', url: '/me', headers: { 'x-api-key': 'k2' } })
    await app.inject({ method: 'GET', url: '/me' })

    assert.deepEqual(events.map(({ name, method, url, user }) => ({ name, method, url, user })), [
      { name: 'login', method: 'POST', url: '/login', user: USERS.get('1') },
      { name: 'loginConfirmed', method: 'POST', url: '/confirm', user: USERS.get('1') },
      { name: 'logout', method: 'POST', url: '/logout', user: USERS.get('1') },
      { name: 'loadedFromRequest', method: 'GET', url: '/me', user: USERS.get('2') }
    ])
    assert.deepEqual(events[0].requestUser, USERS.get('1'), 'at login, request.user is the new user')
    assert.equal(events[2].requestUser, null, 'at logout, request.user is already null')
  })
})
