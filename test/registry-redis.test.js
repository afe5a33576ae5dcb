'use strict'

// The login registry on a real redis-server, shared by two app instances (as behind
// a load balancer): sessions in Redis through connect-redis, the registry in Redis
// through RedisLoginStore, the same secrets. A login on one is listed on the other,
// a revocation on one is a logout on both, a copied remember cookie is caught
// wherever it is used.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { RedisLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, REMEMBER_SECRET } = require('./helper')
const { startRedis, createRedisStore, skipWithoutRedis, hasRedisServer } = require('./support/redis')

const SESSION_COOKIE = 'sessionId'
const REMEMBER = 'remember_token'
const GRACE_MS = 500
const USERS = new Map([1, 2, 3, 4].map((id) => [String(id), { id, username: `user${id}` }]))

/** One instance: its own redis client for the sessions and the registry. */
async function createInstance (url, { session = {}, routes } = {}) {
  // A thousand logins at once queue many commands on a busy machine: give them time.
  const redis = await createRedisStore(url, { commandTimeout: 10000 })
  const app = await buildApp({
    store: redis.store,
    session,
    users: USERS,
    login: {
      remember: { secret: REMEMBER_SECRET },
      logins: { store: new RedisLoginStore({ client: redis.client, prefix: 'test-logins:' }), graceMs: GRACE_MS }
    },
    routes: async (app) => {
      app.get('/logins', async (request) => app.loginManager.listLogins(request.query.user))
      app.post('/revoke', async (request) => {
        await app.loginManager.revokeLogin(request.body.user, request.body.login)
        return { ok: true }
      })
      app.get('/login-id', async (request) => ({ loginId: request.loginId, user: request.user?.id ?? null }))
      if (routes) await routes(app)
    }
  })
  return { app, redis, close: async () => { await app.close(); await redis.close() } }
}

test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

describe('the login registry on Redis, two instances', { skip: skipWithoutRedis() }, () => {
  let server
  let A
  let B
  let release = () => {}
  const theft = []

  before(async () => {
    server = await startRedis()
    const slow = (app) => app.get('/slow', async (request) => {
      await new Promise((resolve) => { release = resolve })
      request.session.set('seen', Date.now())
      return { user: request.user?.id ?? null }
    })
    A = await createInstance(server.url, { session: { rolling: true }, routes: slow })
    B = await createInstance(server.url, { session: { rolling: true } })
    for (const instance of [A, B]) instance.app.loginManager.on('rememberTheft', (request, userId) => theft.push(userId))
  })

  after(async () => {
    if (A) await A.close()
    if (B) await B.close()
    if (server) await server.stop()
  })

  test('a login on A is listed on B; revoked on B, it is dead on A on the next request', async () => {
    const jar = createJar(A.app)
    await jar.post('/login', { id: 1 })
    const { loginId } = (await jar.get('/login-id')).json()
    const listed = (await B.app.inject('/logins?user=1')).json()
    assert.ok(listed.some((login) => login.id === loginId), 'B lists the login made on A')

    await B.app.inject({ method: 'POST', url: '/revoke', payload: { user: '1', login: loginId } })
    assert.deepEqual((await jar.get('/login-id')).json(), { loginId: null, user: null })
    assert.deepEqual((await jar.request({ url: '/login-id', app: B.app })).json().user, null)
  })

  test('a logout while a slow request is in flight (rolling: true) does not bring the login back', async () => {
    const jar = createJar(A.app)
    await jar.post('/login', { id: 2 })
    const cookie = jar.cookies[SESSION_COOKIE]
    const slow = A.app.inject({ url: '/slow', headers: { cookie: `${SESSION_COOKIE}=${cookie}` } })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await jar.request({ method: 'POST', url: '/logout', app: B.app })
    release()
    const slowRes = await slow
    assert.equal(slowRes.json().user, 2, 'the slow request began logged in')
    assert.ok(setCookies(slowRes).some((c) => c.name === SESSION_COOKIE), 'rolling: true wrote the session back')
    for (const app of [A.app, B.app]) {
      const res = await app.inject({ url: '/login-id', headers: { cookie: `${SESSION_COOKIE}=${cookie}` } })
      assert.equal(res.json().user, null, 'the written-back session is not a login')
    }
  })

  test('a copied remember cookie used after the real one rotated is detected on the other instance and ends the login', async () => {
    const victim = createJar(A.app)
    await victim.post('/login', { id: 3, remember: true })
    const copied = victim.cookies[REMEMBER]
    delete victim.cookies[SESSION_COOKIE]
    assert.equal((await victim.get('/login-id')).json().user, 3, 'restored on A: rotated')
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100))

    const res = await B.app.inject({ url: '/login-id', headers: { cookie: `${REMEMBER}=${copied}` } })
    assert.equal(res.json().user, null)
    assert.ok(isCleared(setCookies(res).find((c) => c.name === REMEMBER)))
    assert.deepEqual(theft, ['3'])
    assert.equal((await victim.get('/login-id')).json().user, null, 'the login is revoked everywhere')
    assert.deepEqual((await A.app.inject('/logins?user=3')).json(), [])
  })

  test('the grace window lets parallel requests of one browser, spread over both instances, through', async () => {
    const jar = createJar(A.app)
    await jar.post('/login', { id: 4, remember: true })
    const cookie = jar.cookies[REMEMBER]
    const before = theft.length
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      (i % 2 ? B : A).app.inject({ url: '/login-id', headers: { cookie: `${REMEMBER}=${cookie}` } })))
    for (const res of results) assert.equal(res.json().user, 4)
    assert.equal(new Set(results.map((res) => res.json().loginId)).size, 1, 'one login for the browser')
    assert.equal(theft.length, before, 'no theft')
    const listed = (await B.app.inject('/logins?user=4')).json()
    assert.equal(listed.length, 1)
    assert.equal(listed[0].method, 'remember')
  })

  test('1,000 logins of one user from both instances at once are all listed', async () => {
    const logins = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
      (i % 2 ? B : A).app.inject({ method: 'POST', url: '/login', payload: { id: 2 } })))
    const failed = logins.filter((res) => res.statusCode !== 200)
    assert.deepEqual(failed.map((res) => `${res.statusCode} ${res.body}`), [])
    const listed = (await A.app.inject('/logins?user=2')).json()
    assert.equal(listed.length, 1000)
    assert.equal(new Set(listed.map((login) => login.id)).size, 1000)
  })

  test('Redis unreachable: logged-in requests fail closed, anonymous ones work, the login works again after', async () => {
    // Sessions in memory, the registry on Redis: the failure is the registry's alone.
    const redis = await createRedisStore(server.url)
    const app = await buildApp({
      users: USERS,
      login: { logins: { store: new RedisLoginStore({ client: redis.client, prefix: 'test-logins:' }) } },
      routes: (app) => app.get('/public', async () => 'public')
    })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 })
      server.pause()
      const res = await jar.get('/me')
      assert.equal(res.statusCode, 500)
      assert.equal(res.json().code, 'FST_LOGIN_STORE')
      assert.equal((await app.inject('/public')).body, 'public')
      server.resume()
      let back = await jar.get('/me')
      for (let i = 0; i < 50 && back.statusCode >= 500; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        back = await jar.get('/me')
      }
      assert.equal(back.json().user?.id, 1)
    } finally {
      server.resume()
      await app.close()
      await redis.close()
    }
  })

  test('every key of the registry has a TTL', async () => {
    const keys = await A.redis.client.keys('test-logins:*')
    assert.ok(keys.length > 0)
    for (const key of keys) assert.ok(await A.redis.client.pTTL(key) > 0, `${key} has a TTL`)
  })
})
