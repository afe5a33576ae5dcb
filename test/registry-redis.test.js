'use strict'

// The login registry on a real redis-server, shared by two app instances
// (support/fleet.js): what its bounds and its writes look like from the app. One
// user's logins from both instances at once are capped at `maxPerUser` (the least
// recently seen evicted, or the next refused), none lost and none over; a logout
// during a slow request that writes its session back does not bring the login back;
// the registry's own store unreachable fails logged-in requests closed; every key
// has a TTL. (Across instances: revocations, the hot path, remember tokens, fail
// safe: registry-fleet*.test.js.)

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { RedisLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies } = require('./helper')
const { startRedis, createRedisStore, skipWithoutRedis, hasRedisServer } = require('./support/redis')
const { startInstance, until, SESSION_COOKIE, ANY_USER } = require('./support/fleet')

test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

describe('the login registry on Redis, two instances', { skip: skipWithoutRedis() }, () => {
  let server
  const opened = []

  before(async () => {
    server = await startRedis()
  })

  after(async () => {
    for (const instance of opened) await instance.close()
    if (server) await server.stop()
  })

  async function pair (options = {}) {
    const A = await startInstance({ url: server.url, ...options })
    const B = await startInstance({ url: server.url, ...options })
    opened.push(A, B)
    return [A, B]
  }

  /** `count` logins of `userId` at once, alternating instances; each browser's cookies and login id. */
  async function loginAtOnce ([A, B], userId, count) {
    const responses = await Promise.all(Array.from({ length: count }, (_, i) =>
      (i % 2 ? B : A).app.inject({ method: 'POST', url: '/login', payload: { id: userId } })))
    assert.deepEqual(responses.filter((res) => res.statusCode !== 200).map((res) => `${res.statusCode} ${res.body}`), [])
    const browsers = responses.map((res) => ({ [SESSION_COOKIE]: setCookies(res).find((c) => c.name === SESSION_COOKIE).value }))
    const ids = await Promise.all(browsers.map(async (cookies, i) => (await (i % 2 ? A : B).app.inject({ url: '/whoami', cookies })).json()))
    return browsers.map((cookies, i) => ({ cookies, loginId: ids[i].loginId, answer: ids[i] }))
  }

  test('1,000 logins of one user from both instances at once: each succeeds, 100 stand (maxPerUser) and are listed most recently seen first, the others end as evicted', async () => {
    const instances = await pair()
    const [A] = instances
    const logins = await loginAtOnce(instances, 'many', 1000)
    const listed = (await A.app.inject('/logins?user=many&limit=1000')).json()
    assert.equal(listed.length, 100, 'at most maxPerUser')
    assert.deepEqual([...listed].sort((a, b) => b.lastSeenAt - a.lastSeenAt), listed, 'most recently seen first')
    assert.deepEqual((await A.app.inject('/logins?user=many&limit=10')).json(), listed.slice(0, 10), 'limit: the first of them')
    const standing = new Set(listed.map((login) => login.id))

    // Each login was checked by the other instance once all were made: a login evicted by then
    // was refused there, saying why; one evicted since says it on its next request. A listed one stands.
    let evicted = 0
    for (const { cookies, loginId, answer } of logins) {
      if (standing.has(loginId)) {
        assert.equal((await A.app.inject({ url: '/whoami', cookies })).json().user, 'many', 'a listed login stands')
        continue
      }
      const refusal = answer.user === null ? answer : (await A.app.inject({ url: '/whoami', cookies })).json()
      assert.deepEqual(refusal, { user: null, loginId: null, by: null, endReason: 'evicted' })
      evicted++
    }
    assert.equal(evicted, 900)
  })

  test('maxPerUser 1,000 with onLimit reject: 1,000 logins at once from both instances are all listed, the next is refused (403 FST_LOGIN_LIMIT)', async () => {
    const instances = await pair({ prefix: 'reject:', logins: { maxPerUser: 1000, onLimit: 'reject' } })
    const [A, B] = instances
    const logins = await loginAtOnce(instances, 'capped', 1000)
    const listed = (await B.app.inject('/logins?user=capped&limit=1000')).json()
    assert.equal(listed.length, 1000)
    assert.deepEqual(new Set(listed.map((login) => login.id)), new Set(logins.map((login) => login.loginId)), 'every login listed, none lost')
    const res = await A.app.inject({ method: 'POST', url: '/login', payload: { id: 'capped' } })
    assert.equal(res.statusCode, 403)
    assert.equal(res.json().code, 'FST_LOGIN_LIMIT')
  })

  test('a logout while a slow request is in flight (rolling: true) does not bring the login back', async () => {
    let release
    const held = new Promise((resolve) => { release = resolve })
    let started
    const arrived = new Promise((resolve) => { started = resolve })
    const slow = async (app) => app.get('/slow', async (request) => {
      started()
      await held
      request.session.set('seen', Date.now())
      return { user: request.user?.id ?? null }
    })
    const [A, B] = await pair({ prefix: 'rolling:', session: { rolling: true }, routes: slow })
    const jar = createJar(A.app)
    await jar.post('/login', { id: 'slow' })
    const cookie = jar.cookies[SESSION_COOKIE]
    const inFlight = A.app.inject({ url: '/slow', cookies: { [SESSION_COOKIE]: cookie } })
    await arrived
    await jar.request({ method: 'POST', url: '/logout', app: B.app })
    release()
    const slowRes = await inFlight
    assert.equal(slowRes.json().user, 'slow', 'the slow request began logged in')
    assert.ok(setCookies(slowRes).some((c) => c.name === SESSION_COOKIE), 'rolling: true wrote the session back')
    for (const app of [A.app, B.app]) {
      assert.equal((await app.inject({ url: '/whoami', cookies: { [SESSION_COOKIE]: cookie } })).json().user, null, 'the written-back session is not a login')
    }
  })

  test('the registry\'s Redis hung (sessions elsewhere): once the link is down, logged-in requests fail closed, anonymous ones work; the login works again after', { timeout: 120_000 }, async (t) => {
    // Its own server to pause; the registry on a client with the README's socketTimeout; sessions in memory.
    const own = await startRedis()
    t.after(() => own.stop())
    const redis = await createRedisStore(own.url, { socketTimeout: 2000 })
    t.after(() => redis.close())
    const app = await buildApp({
      kind: 'stored',
      users: ANY_USER,
      login: { logins: { store: new RedisLoginStore({ client: redis.client, prefix: 'hung:' }) } },
      routes: (app) => app.get('/whoami', async (request) => ({ user: request.user?.id ?? null }))
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 'hung' })
    assert.equal((await jar.get('/whoami')).json().user, 'hung')

    own.pause()
    try {
      // Until its heartbeat says the link is down, the cache may still answer: then the store is read, and fails.
      const res = await until(async () => {
        const reply = await jar.get('/whoami')
        return reply.statusCode !== 200 && reply
      }, 'a logged-in request fails')
      assert.equal(res.statusCode, 500)
      assert.equal(res.json().code, 'FST_LOGIN_STORE')
      assert.doesNotMatch(res.body, /hung/)
      assert.equal((await app.inject('/whoami')).json().user, null, 'an anonymous request works')
    } finally {
      own.resume()
    }
    await until(async () => (await jar.get('/whoami')).statusCode === 200, 'the registry answers again')
    assert.equal((await jar.get('/whoami')).json().user, 'hung', 'the login made before works again')
  })

  test('every key of the registry (and of the sessions) has a TTL', async () => {
    const [A] = opened
    const keys = await A.client.keys('*')
    assert.ok(keys.some((key) => key.startsWith('fleet:')) && keys.some((key) => key.startsWith('reject:')))
    for (const key of keys) assert.ok(await A.client.pTTL(key) > 0, `${key} has a TTL`)
  })
})
