'use strict'

// fastify-login on a real session store: a private redis-server (started by the
// test, see support/redis.js), connect-redis 8 and a redis v5 client, shared by
// two app instances with the same secrets, as in a deployment behind a load
// balancer. Also what happens when the store is down, and when the loader fails.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, setCookies, USERS, REMEMBER_SECRET } = require('./helper')
const { startRedis, createRedisStore, skipWithoutRedis, hasRedisServer } = require('./support/redis')
const { createLogCapture } = require('./support/log')

const SESSION_COOKIE = 'sessionId'
const REMEMBER_COOKIE = 'remember_token'
const ERROR_LEVEL = 50

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The store key of a session cookie value (`<id>.<signature>`, decoded as the jar holds it). */
function sessionIdOf (value) {
  return value.slice(0, value.lastIndexOf('.'))
}

function assert5xx (res, what) {
  assert.ok(res.statusCode >= 500 && res.statusCode <= 599,
    `${what}: expected a 5xx while the store is down, got ${res.statusCode} ${res.body}`)
}

/** The response must not set or clear the login cookies: a store outage is no reason to drop a login. */
function assertLoginCookiesUntouched (res, what) {
  const touched = setCookies(res).filter((c) => c.name === SESSION_COOKIE || c.name === REMEMBER_COOKIE)
  assert.deepEqual(touched.map((c) => c.raw), [], `${what}: the failed response must not touch the login cookies`)
}

/** Repeats `send` until it answers below 500 (the store is reachable again) or `timeout` passes. */
async function untilStoreAnswers (send, timeout = 10000) {
  const deadline = Date.now() + timeout
  let res = await send()
  while (res.statusCode >= 500 && Date.now() < deadline) {
    await sleep(100)
    res = await send()
  }
  return res
}

/**
 * One app instance: its own redis client and store (with the README's socketTimeout,
 * so a paused server fails the requests instead of holding them), a captured logger.
 */
async function createInstance (redisUrl, { login = {} } = {}) {
  const log = createLogCapture()
  const clientErrors = []
  const redis = await createRedisStore(redisUrl, { socketTimeout: 2000, onError: (err) => clientErrors.push(err) })
  const app = await buildApp({
    store: redis.store,
    login: { remember: { secret: REMEMBER_SECRET }, ...login },
    fastify: { logger: { level: 'info', stream: log.stream } }
  })
  return {
    app,
    log,
    redis,
    clientErrors,
    async close () {
      await app.close()
      await redis.close()
    }
  }
}

// Outside CI a machine without redis-server skips this file; under CI it fails here.
test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

describe('fastify-login with a Redis session store', { skip: skipWithoutRedis() }, () => {
  let server
  let A
  let B

  const inStore = async (cookieValue) => A.redis.client.exists(A.redis.prefix + sessionIdOf(cookieValue))

  before(async () => {
    server = await startRedis()
    A = await createInstance(server.url)
    B = await createInstance(server.url)
  })

  after(async () => {
    if (A) await A.close()
    if (B) await B.close()
    if (server) await server.stop()
  })

  test('a login on instance A is a login on B; a logout on B is a logout on A', async () => {
    const jar = createJar(A.app)

    // A session that exists before the login (say, a cart).
    let res = await jar.post('/session/cart', { value: 'socks' })
    assert.equal(res.statusCode, 200)
    const preLogin = jar.cookies[SESSION_COOKIE]
    assert.ok(preLogin, 'the pre-login session has a cookie')
    assert.equal(await inStore(preLogin), 1, 'the pre-login session is in Redis')

    res = await jar.post('/login', { id: 1 })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { ok: true })
    const loggedIn = jar.cookies[SESSION_COOKIE]
    assert.ok(loggedIn)
    assert.notEqual(sessionIdOf(loggedIn), sessionIdOf(preLogin), 'the session id changes at login')
    assert.equal(await inStore(preLogin), 0, 'the pre-login session id is dead in Redis')
    assert.equal(await inStore(loggedIn), 1, 'the logged-in session is in Redis')

    res = await jar.get({ url: '/me', app: B.app })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().user?.username, 'user1', 'B sees the login made on A')
    assert.equal(res.json().authenticatedBy, 'session')
    res = await jar.get({ url: '/private', app: B.app })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().user.username, 'user1')

    res = await jar.post('/logout', {}, { app: B.app })
    assert.equal(res.statusCode, 200)
    assert.equal(await inStore(loggedIn), 0, 'the logged-in session id is dead in Redis after logout')

    res = await jar.get('/me')
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().user, null, 'A sees the logout made on B')
    res = await jar.get('/private')
    assert.equal(res.statusCode, 401)

    // Replaying the pre-logout session cookie is anonymous on both instances.
    for (const [name, inst] of [['A', A], ['B', B]]) {
      const cookies = { [SESSION_COOKIE]: loggedIn }
      res = await inst.app.inject({ method: 'GET', url: '/me', cookies })
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().user, null, `replayed pre-logout cookie is anonymous on ${name}`)
      res = await inst.app.inject({ method: 'GET', url: '/private', cookies })
      assert.equal(res.statusCode, 401, `replayed pre-logout cookie is refused on ${name}`)
    }
  })

  test('a remember cookie issued by A restores the login on B, and B\'s restored session works on A', async () => {
    const jar = createJar(A.app)
    let res = await jar.post('/login', { id: 2, remember: true })
    assert.equal(res.statusCode, 200)
    assert.ok(jar.cookies[REMEMBER_COOKIE], 'A sets a remember cookie')
    const issued = jar.cookies[SESSION_COOKIE]

    delete jar.cookies[SESSION_COOKIE]
    res = await jar.get({ url: '/me', app: B.app })
    assert.equal(res.statusCode, 200)
    const body = res.json()
    assert.equal(body.user?.username, 'user2', 'B restores the login from A\'s remember cookie')
    assert.equal(body.authenticatedBy, 'remember')
    assert.equal(body.fresh, false)
    const restored = jar.cookies[SESSION_COOKIE]
    assert.ok(restored, 'the restore sets a session cookie')
    assert.notEqual(sessionIdOf(restored), sessionIdOf(issued))
    assert.equal(await inStore(restored), 1, 'the restored login is written to Redis')

    res = await jar.get('/me')
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().user?.username, 'user2')
    assert.equal(res.json().authenticatedBy, 'session', 'A finds the login B wrote into the shared session')
  })

  test('store unreachable (server paused): session requests fail closed with a 5xx, anonymous ones work; afterwards the login works again', async () => {
    const jar = createJar(A.app)
    let res = await jar.post('/login', { id: 1, remember: true })
    assert.equal(res.statusCode, 200)
    const cookies = { ...jar.cookies }
    assert.ok(cookies[SESSION_COOKIE] && cookies[REMEMBER_COOKIE])
    const marks = [A.log.mark(), B.log.mark()]

    // SIGSTOP: the TCP connection stays up but nothing answers; Redis keeps its memory.
    server.pause()
    try {
      for (const [name, inst] of [['A', A], ['B', B]]) {
        for (const url of ['/me', '/private']) {
          res = await jar.get({ url, app: inst.app })
          assert5xx(res, `${name} GET ${url} with a session cookie`)
          assert.doesNotMatch(res.body, /user1/)
          assertLoginCookiesUntouched(res, `${name} GET ${url}`)
        }
        // Only the remember cookie: a restore has to write the session, so it fails too.
        res = await inst.app.inject({ method: 'GET', url: '/me', cookies: { [REMEMBER_COOKIE]: cookies[REMEMBER_COOKIE] } })
        assert5xx(res, `${name} GET /me with a remember cookie only`)
        assert.doesNotMatch(res.body, /user1/)
        assertLoginCookiesUntouched(res, `${name} remember restore`)

        // An anonymous visitor of a public page needs no session.
        res = await inst.app.inject({ method: 'GET', url: '/me' })
        assert.equal(res.statusCode, 200, `${name}: anonymous request without cookies still works`)
        assert.equal(res.json().user, null)
      }
      assert.deepEqual(jar.cookies, cookies, 'the client keeps its login cookies')

      // A new login needs the store as well (a fresh jar: its writes cannot touch user1's session).
      const other = createJar(B.app)
      res = await other.post('/login', { id: 2 })
      assert5xx(res, 'POST /login')
      assert.equal(other.cookies[SESSION_COOKIE], undefined, 'a failed login sets no session cookie')
    } finally {
      server.resume()
    }

    for (const [name, inst, mark] of [['A', A, marks[0]], ['B', B, marks[1]]]) {
      const errors = inst.log.atLeast(ERROR_LEVEL, mark)
      assert.ok(errors.length > 0, `${name} logs the store failure at error level`)
      const text = errors.map((e) => `${e.msg ?? ''} ${e.err?.type ?? ''} ${e.err?.message ?? ''}`).join('\n')
      assert.match(text, /timeout|offline|closed|redis|connect/i, `${name}'s logged error says what failed:\n${text}`)
    }

    for (const [name, inst] of [['A', A], ['B', B]]) {
      res = await untilStoreAnswers(() => jar.get({ url: '/me', app: inst.app }))
      assert.equal(res.statusCode, 200, `${name} answers again once Redis is back`)
      assert.equal(res.json().user?.username, 'user1', `${name}: the login made before the outage works again`)
      assert.equal(res.json().authenticatedBy, 'session', `${name}: found in the session kept by Redis`)
    }
    assert.equal(jar.cookies[SESSION_COOKIE], cookies[SESSION_COOKIE], 'still the same session')
  })

  test('store down (server killed), then restarted on the same port: 5xx meanwhile, no crash, the login works again', async () => {
    const jar = createJar(B.app)
    let res = await jar.post('/login', { id: 2 })
    assert.equal(res.statusCode, 200)
    const session = jar.cookies[SESSION_COOKIE]
    const marks = [A.log.mark(), B.log.mark()]

    await server.save() // the restarted server loads its RDB file: the data outlives the process
    await server.kill()
    try {
      for (const [name, inst] of [['A', A], ['B', B]]) {
        for (const url of ['/me', '/private']) {
          res = await jar.get({ url, app: inst.app })
          assert5xx(res, `${name} GET ${url} with a session cookie`)
          assert.doesNotMatch(res.body, /user2/)
          assertLoginCookiesUntouched(res, `${name} GET ${url}`)
        }
        res = await jar.post('/logout', {}, { app: inst.app })
        assert5xx(res, `${name} POST /logout`)
        res = await inst.app.inject({ method: 'GET', url: '/me' })
        assert.equal(res.statusCode, 200, `${name}: anonymous request without cookies still works`)
        assert.equal(res.json().user, null)
      }
      assert.equal(jar.cookies[SESSION_COOKIE], session)
    } finally {
      await server.start()
    }

    for (const [name, inst, mark] of [['A', A, marks[0]], ['B', B, marks[1]]]) {
      const errors = inst.log.atLeast(ERROR_LEVEL, mark)
      assert.ok(errors.length > 0, `${name} logs the store failure at error level`)
      const text = errors.map((e) => `${e.msg ?? ''} ${e.err?.type ?? ''} ${e.err?.message ?? ''}`).join('\n')
      assert.match(text, /timeout|offline|closed|redis|connect/i, `${name}'s logged error says what failed:\n${text}`)
    }
    assert.ok(A.clientErrors.length > 0 && B.clientErrors.length > 0, 'the redis clients reported the lost connection')

    for (const [name, inst] of [['A', A], ['B', B]]) {
      res = await untilStoreAnswers(() => jar.get({ url: '/me', app: inst.app }))
      assert.equal(res.statusCode, 200, `${name} answers again once Redis is back`)
      assert.equal(res.json().user?.username, 'user2', `${name}: the login made before the outage works again`)
    }
  })

  describe('loader faults', () => {
    test('a throwing loader: a 500 that never logs in and shows nothing of the error or the cookies', async () => {
      const SECRET = 'db-password=hunter2-do-not-leak'
      const inst = await createInstance(server.url, {
        login: {
          loadUser: async (id) => {
            if (id === '2') throw new Error(`cannot reach the user table with ${SECRET}`)
            return USERS.get(id) ?? null
          }
        }
      })
      try {
        const jar = createJar(inst.app)
        let res = await jar.post('/login', { id: 2, remember: true })
        assert.equal(res.statusCode, 200)
        const cookies = { ...jar.cookies }
        assert.ok(cookies[SESSION_COOKIE] && cookies[REMEMBER_COOKIE])
        const secrets = [SECRET, 'hunter2']
        for (const value of Object.values(cookies)) secrets.push(value, encodeURIComponent(value), sessionIdOf(value))

        const attempts = [
          ['session cookie', '/me', { [SESSION_COOKIE]: cookies[SESSION_COOKIE] }],
          ['session cookie', '/private', { [SESSION_COOKIE]: cookies[SESSION_COOKIE] }],
          ['remember cookie', '/me', { [REMEMBER_COOKIE]: cookies[REMEMBER_COOKIE] }],
          ['remember cookie', '/private', { [REMEMBER_COOKIE]: cookies[REMEMBER_COOKIE] }]
        ]
        for (const [how, url, sent] of attempts) {
          res = await inst.app.inject({ method: 'GET', url, cookies: sent })
          assert.equal(res.statusCode, 500, `GET ${url} with a ${how}: ${res.body}`)
          assert.doesNotMatch(res.body, /user2/)
          for (const s of secrets) {
            assert.ok(!res.body.includes(s), `GET ${url} with a ${how}: the body ${res.body} must not contain ${s}`)
          }
        }
        // Failed requests are errors in the log (where the cause may be read).
        assert.ok(inst.log.atLeast(ERROR_LEVEL).length >= attempts.length)

        // Other users are not affected.
        const jar1 = createJar(inst.app)
        await jar1.post('/login', { id: 1 })
        res = await jar1.get('/private')
        assert.equal(res.statusCode, 200)
        assert.equal(res.json().user.username, 'user1')
      } finally {
        await inst.close()
      }
    })

    // A loader that blocked other users would leave user2's request pending: the
    // timeout fails that run, where a timer releasing the gate would race the machine's load.
    test('a slow loader for one user does not block the requests of another', { timeout: 60000 }, async () => {
      let armed = false
      let release
      const gate = new Promise((resolve) => { release = resolve })
      let slowStarted
      const started = new Promise((resolve) => { slowStarted = resolve })
      const inst = await createInstance(server.url, {
        login: {
          loadUser: async (id) => {
            if (armed && id === '1') {
              slowStarted()
              await gate // held until user2's request is done
            }
            return USERS.get(id) ?? null
          }
        }
      })
      try {
        const jar1 = createJar(inst.app)
        const jar2 = createJar(inst.app)
        assert.equal((await jar1.post('/login', { id: 1 })).statusCode, 200)
        assert.equal((await jar2.post('/login', { id: 2 })).statusCode, 200)
        armed = true

        const done = []
        const slow = jar1.get('/private').then((res) => { done.push('user1'); return res })
        await started
        const fast = await jar2.get('/private')
        done.push('user2')
        assert.deepEqual(done, ['user2'], 'user2 is answered while user1\'s loader is still pending')
        release()
        const res1 = await slow
        assert.deepEqual(done, ['user2', 'user1'])

        assert.equal(fast.statusCode, 200)
        assert.equal(fast.json().user.username, 'user2')
        assert.equal(res1.statusCode, 200)
        assert.equal(res1.json().user.username, 'user1')
      } finally {
        release()
        await inst.close()
      }
    })
  })
})
