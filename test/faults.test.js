'use strict'

// Faults: a user loader (or another user callback) that throws, a session store
// that is down, a slow loader. A fault is a 5xx through Fastify's error handler,
// never a login and never a leak; it must not block other users.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, setCookies, isCleared, USERS, REMEMBER_SECRET } = require('./helper')
const { JsonStore, sessionIdOf } = require('./support/json-store')

const SECRET = 'db-password=hunter2-do-not-leak'
const remember = { secret: REMEMBER_SECRET }

/** Every string a response body must not show: the secret, and each cookie value (decoded, and as sent). */
function forbiddenStrings (cookies) {
  const list = [SECRET, 'hunter2']
  for (const value of Object.values(cookies)) {
    list.push(value, encodeURIComponent(value))
    if (value.includes('.')) list.push(sessionIdOf(value))
  }
  return list
}

function assertNoLeak (res, forbidden, what) {
  for (const s of forbidden) {
    assert.ok(!res.body.includes(s), `${what}: the body ${res.body} must not contain ${s}`)
  }
}

function assert5xx (res, what) {
  assert.ok(res.statusCode >= 500 && res.statusCode <= 599, `${what}: expected a 5xx, got ${res.statusCode} ${res.body}`)
}

/** Records what reaches the app's own error handler, then answers the way Fastify's default does. */
function recordErrors (seen) {
  return (app) => {
    app.setErrorHandler((error, request, reply) => {
      seen.push(error)
      reply.code(error.statusCode >= 400 ? error.statusCode : 500).send({ handled: true })
    })
  }
}

/** The loader error reached the handler: itself, or as the cause of what the plugin threw. */
function assertSawError (seen, thrown, what) {
  assert.equal(seen.length, 1, `${what}: the app's error handler runs once`)
  assert.ok(seen[0] === thrown || seen[0].cause === thrown, `${what}: the handler sees the loader's error (or an error caused by it), got ${seen[0]}`)
}

describe('a user loader that fails', () => {
  for (const [kind, makeLoader] of [
    ['throws', (armed) => (id) => {
      if (armed.on) throw new Error(`cannot reach the user table with ${SECRET}`)
      return USERS.get(id) ?? null
    }],
    ['rejects', (armed) => async (id) => {
      await new Promise((resolve) => setImmediate(resolve))
      if (armed.on) throw new Error(`cannot reach the user table with ${SECRET}`)
      return USERS.get(id) ?? null
    }]
  ]) {
    test(`a loader that ${kind}: 500 through the app's error handler, never a login`, async () => {
      const armed = { on: false }
      const seen = []
      const logins = []
      const loadUser = makeLoader(armed)
      const app = await buildApp({ login: { loadUser }, routes: recordErrors(seen) })
      app.loginManager.on('login', (request, user) => logins.push(user))
      try {
        const jar = createJar(app)
        await jar.post('/login', { id: 1 })
        assert.equal(logins.length, 1)
        armed.on = true

        for (const url of ['/me', '/private']) {
          seen.length = 0
          const res = await jar.get(url)
          assert.equal(res.statusCode, 500, `${url}: ${res.body}`)
          assert.deepEqual(res.json(), { handled: true }, `${url}: the app's handler answered`)
          assert.equal(seen.length, 1, `${url}: the app's error handler runs once`)
          assert.match(String(seen[0].cause?.message ?? seen[0].message), /cannot reach the user table/, url)
          assert.doesNotMatch(res.body, /user1/)
        }
        assert.equal(logins.length, 1, 'no login came of the failure')

        armed.on = false
        const res = await jar.get('/me')
        assert.equal(res.json().user?.username, 'user1', 'the login works again once the loader does')
      } finally {
        await app.close()
      }
    })

    test(`a loader that ${kind}: Fastify's default 500 body shows neither the error's secret nor the cookies`, async () => {
      const armed = { on: false }
      const app = await buildApp({ login: { loadUser: makeLoader(armed), remember } })
      try {
        const jar = createJar(app)
        await jar.post('/login', { id: 1, remember: true })
        const cookies = { ...jar.cookies }
        assert.ok(cookies.sessionId && cookies.remember_token)
        const forbidden = forbiddenStrings(cookies)
        armed.on = true

        const attempts = [
          ['session cookie', '/me', { sessionId: cookies.sessionId }],
          ['session cookie', '/private', { sessionId: cookies.sessionId }],
          ['remember cookie', '/me', { remember_token: cookies.remember_token }],
          ['both cookies', '/private', { sessionId: cookies.sessionId, remember_token: cookies.remember_token }]
        ]
        for (const [how, url, sent] of attempts) {
          const res = await app.inject({ method: 'GET', url, cookies: sent })
          assert.equal(res.statusCode, 500, `GET ${url} with ${how}: ${res.body}`)
          assert.doesNotMatch(res.body, /user1/)
          assertNoLeak(res, forbidden, `GET ${url} with ${how}`)
        }
      } finally {
        await app.close()
      }
    })
  }

  test('the app\'s error handler sees the loader error itself (or as the cause)', async () => {
    const thrown = new Error(`cannot reach the user table with ${SECRET}`)
    let armed = false
    const seen = []
    const app = await buildApp({
      login: { loadUser: async (id) => { if (armed) throw thrown; return USERS.get(id) ?? null } },
      routes: recordErrors(seen)
    })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 })
      armed = true
      const res = await jar.get('/me')
      assert.equal(res.statusCode, 500)
      assertSawError(seen, thrown, '/me')
    } finally {
      await app.close()
    }
  })

  test('a loader failing during a remember-cookie restore: 5xx, no login, no session written, the cookie still works later', async () => {
    let armed = false
    const store = new JsonStore()
    const events = []
    const app = await buildApp({
      store,
      login: {
        remember,
        loadUser: async (id) => { if (armed) throw new Error(`user table down: ${SECRET}`); return USERS.get(id) ?? null }
      }
    })
    for (const name of ['login', 'loadedFromRemember', 'rememberRejected']) {
      app.loginManager.on(name, () => events.push(name))
    }
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 2, remember: true })
      const rememberValue = jar.cookies.remember_token
      assert.ok(rememberValue)
      delete jar.cookies.sessionId
      events.length = 0
      const sessionsBefore = [...store.data.keys()]
      const setsBefore = store.calls.set

      armed = true
      let res = await jar.get('/me')
      assert5xx(res, 'restore with a failing loader')
      assert.doesNotMatch(res.body, /user2/)
      assert.deepEqual(events, [], 'neither a restore nor a rejection')
      const written = setCookies(res)
      assert.equal(written.find((c) => c.name === 'sessionId'), undefined, 'no session cookie is issued')
      const rememberSet = written.find((c) => c.name === 'remember_token')
      assert.ok(rememberSet === undefined || !isCleared(rememberSet), 'a loader fault is no reason to drop the remember cookie')
      assert.equal(store.calls.set, setsBefore, 'nothing written to the store')
      assert.deepEqual([...store.data.keys()], sessionsBefore)

      res = await jar.get('/private')
      assert5xx(res, '/private with a failing loader')

      armed = false
      assert.equal(jar.cookies.remember_token, rememberValue)
      res = await jar.get('/me')
      assert.equal(res.json().user?.username, 'user2')
      assert.equal(res.json().authenticatedBy, 'remember')
    } finally {
      await app.close()
    }
  })
})

describe('other user callbacks that fail', () => {
  /** An app whose `callback` throws once `armed.on`; `send(app, jar)` makes the failing request. */
  const cases = {
    loadUserFromRequest: {
      login: (armed) => ({
        loadUserFromRequest: (request) => {
          if (armed.on) throw new Error(`token table down: ${SECRET}`)
          return request.headers.authorization === 'Bearer good' ? USERS.get('1') : null
        }
      }),
      async before (jar) {
        const res = await jar.get({ url: '/private', headers: { authorization: 'Bearer good' } })
        assert.equal(res.statusCode, 200, 'control: the token logs in')
      },
      send: (jar) => jar.get({ url: '/private', headers: { authorization: 'Bearer good' } })
    },
    authVersion: {
      login: (armed) => ({
        remember,
        authVersion: (user) => {
          if (armed.on) throw new Error(`hash lookup failed: ${SECRET}`)
          return `v1-${user.id}`
        }
      }),
      async before (jar) {
        await jar.post('/login', { id: 1, remember: true })
        assert.equal((await jar.get('/private')).statusCode, 200, 'control: logged in')
      },
      send: (jar) => jar.get('/private')
    },
    getUserId: {
      login: (armed) => ({
        getUserId: (user) => {
          if (armed.on) throw new Error(`id service down: ${SECRET}`)
          return user.id
        }
      }),
      async before () {},
      send: (jar) => jar.post('/login', { id: 1 })
    }
  }

  for (const [name, { login, before, send }] of Object.entries(cases)) {
    test(`a throwing ${name}: 500 through the app's error handler, never a login`, async () => {
      const armed = { on: false }
      const seen = []
      const logins = []
      const store = new JsonStore()
      const app = await buildApp({ store, login: login(armed), routes: recordErrors(seen) })
      app.loginManager.on('login', (request, user) => logins.push(user))
      try {
        const jar = createJar(app)
        await before(jar)
        const loginsBefore = logins.length
        armed.on = true
        const res = await send(jar)
        assert.equal(res.statusCode, 500, res.body)
        assert.deepEqual(res.json(), { handled: true })
        assert.equal(seen.length, 1, 'the app\'s error handler runs once')
        assert.match(String(seen[0].cause?.message ?? seen[0].message), new RegExp(SECRET))
        assert.equal(logins.length, loginsBefore, 'no login event')
        // Still failing: every request of this client fails, none is let in.
        const again = await jar.get('/private')
        assert.ok(again.statusCode === 500 || again.statusCode === 401, `then /private: ${again.statusCode}`)
        assert.doesNotMatch(again.body, /user1/)
        if (name === 'getUserId') {
          // The login failed half-way: once the fault is gone, its session holds no login.
          armed.on = false
          const after = await jar.get('/me')
          assert.equal(after.statusCode, 200)
          assert.equal(after.json().user, null, 'the failed login left no login in the session')
        }
      } finally {
        await app.close()
      }
    })

    test(`a throwing ${name}: Fastify's default 500 body shows neither the error's secret nor the cookies`, async () => {
      const armed = { on: false }
      const app = await buildApp({ login: login(armed) })
      try {
        const jar = createJar(app)
        await before(jar)
        const forbidden = forbiddenStrings(jar.cookies)
        armed.on = true
        const res = await send(jar)
        assert.equal(res.statusCode, 500)
        assert.doesNotMatch(res.body, /user1/)
        assertNoLeak(res, forbidden, `default handler, ${name}`)
      } finally {
        await app.close()
      }
    })
  }
})

describe('a session store that is down', () => {
  test('get() fails: requests with a session cookie fail closed, cookie-less requests work, the login survives', async () => {
    const store = new JsonStore()
    const app = await buildApp({ store })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 })
      assert.equal((await jar.get('/me')).json().user?.username, 'user1')
      const sessionCookie = jar.cookies.sessionId

      store.down.get = true
      for (const url of ['/me', '/private', '/fresh']) {
        const res = await jar.get(url)
        assert5xx(res, url)
        assert.doesNotMatch(res.body, /user1/)
        const touched = setCookies(res).filter((c) => c.name === 'sessionId')
        assert.deepEqual(touched.map((c) => c.raw), [], `${url}: the failed response does not touch the session cookie`)
      }

      const getsBefore = store.calls.get
      let res = await app.inject({ method: 'GET', url: '/me' })
      assert.equal(res.statusCode, 200, 'a visitor without cookies is served')
      assert.deepEqual(res.json(), { user: null, authenticatedBy: null, fresh: false })
      res = await app.inject({ method: 'GET', url: '/private' })
      assert.equal(res.statusCode, 401, 'and guarded as usual')
      assert.equal(store.calls.get, getsBefore, 'no store access without a session cookie')

      store.down.get = false
      assert.equal(jar.cookies.sessionId, sessionCookie)
      res = await jar.get('/private')
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().user.username, 'user1', 'the login made before the outage works again')
    } finally {
      await app.close()
    }
  })

  test('get() fails with a remember cookie too: still a 5xx, never an anonymous 200', async () => {
    const store = new JsonStore()
    const app = await buildApp({ store, login: { remember } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1, remember: true })
      store.down.get = true
      const res = await jar.get('/me')
      assert5xx(res, 'session + remember cookie, store down')
      assert.deepEqual(setCookies(res).filter((c) => isCleared(c)).map((c) => c.name), [], 'no login cookie is cleared')
      store.down.get = false
      assert.equal((await jar.get('/me')).json().user?.username, 'user1')
    } finally {
      await app.close()
    }
  })

  test('set() fails during loginUser: the login route fails with 5xx, the client is not logged in', async () => {
    const store = new JsonStore()
    const logins = []
    const app = await buildApp({ store, login: { remember } })
    app.loginManager.on('login', (request, user) => logins.push(user.username))
    try {
      for (const body of [{ id: 1 }, { id: 1, remember: true }]) {
        const jar = createJar(app)
        store.down.set = true
        let res = await jar.post('/login', body)
        assert5xx(res, `POST /login ${JSON.stringify(body)}`)
        assert.doesNotMatch(res.body, /"ok":true/)
        store.down.set = false

        res = await jar.get('/me')
        assert.equal(res.json().user, null, `${JSON.stringify(body)}: the client is not logged in`)
        assert.equal((await jar.get('/private')).statusCode, 401)
      }
      assert.deepEqual(logins, [])
    } finally {
      await app.close()
    }
  })

  for (const [outage, to] of [['once (a blip)', 0], ['until the store comes back', Infinity]]) {
    test(`set() fails when the login is saved at the end of the request, ${outage}: 5xx, the client is not logged in`, async () => {
      // The store accepts the new session id (regenerate, the first write) and fails from the second write on.
      const store = new JsonStore()
      const logins = []
      const app = await buildApp({ store, login: { remember } })
      app.loginManager.on('login', (request, user) => logins.push(user.username))
      try {
        for (const body of [{ id: 1 }, { id: 1, remember: true }]) {
          const jar = createJar(app)
          const first = store.calls.set + 1
          store.failSets = { from: first + 1, to: to === 0 ? first + 1 : to }
          let res = await jar.post('/login', body)
          const writes = store.calls.set - first + 1
          store.failSets = { from: Infinity, to: Infinity }
          assert.ok(writes >= 2, 'control: the login reached its second store write')
          assert5xx(res, `POST /login ${JSON.stringify(body)}`)

          res = await jar.get('/me')
          assert.equal(res.json().user, null,
            `${JSON.stringify(body)}: after a failed login the client must not be logged in (it holds cookies: ${Object.keys(jar.cookies).join(', ')}; authenticatedBy ${res.json().authenticatedBy})`)
          assert.equal((await jar.get('/private')).statusCode, 401)
        }
      } finally {
        await app.close()
      }
    })
  }
})

describe('a slow loader', () => {
  // A loader that blocked other users would leave user2's request pending: the
  // timeout fails that run, where a timer releasing the gate would race the machine's load.
  test('one user\'s pending loader does not block another user\'s request', { timeout: 60000 }, async () => {
    let armed = false
    let release
    const gate = new Promise((resolve) => { release = resolve })
    let slowStarted
    const started = new Promise((resolve) => { slowStarted = resolve })
    const app = await buildApp({
      login: {
        loadUser: async (id) => {
          if (armed && id === '1') {
            slowStarted()
            await gate // pending until the other user's request is answered
          }
          return USERS.get(id) ?? null
        }
      }
    })
    try {
      const jar1 = createJar(app)
      const jar2 = createJar(app)
      await jar1.post('/login', { id: 1 })
      await jar2.post('/login', { id: 2 })
      armed = true

      const order = []
      const slow = jar1.get('/private').then((res) => { order.push('user1'); return res })
      await started
      const fast = await jar2.get('/private')
      order.push('user2')
      release()
      const slowRes = await slow

      assert.deepEqual(order, ['user2', 'user1'], 'user2 is answered while user1\'s loader is pending')
      assert.equal(fast.statusCode, 200)
      assert.equal(fast.json().user.username, 'user2')
      assert.equal(slowRes.statusCode, 200)
      assert.equal(slowRes.json().user.username, 'user1')
    } finally {
      await app.close()
    }
  })
})
