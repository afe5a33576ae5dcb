'use strict'

// The login registry at fleet scale on a real Redis Cluster of three masters
// (started by the tests: redis-server --cluster-enabled yes, redis-cli --cluster
// create): two instances of an app whose sessions (connect-redis) and registry
// (RedisLoginStore) both live in the cluster, on each instance's own createCluster
// client, node-redis 6 and node-redis 5. Users spread over the masters, so the ends
// are published from every master and reach the other instance over the cluster bus.
// Commands are counted on every master (INFO commandstats); nothing is timed.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { createClient } = require('redis')
const { createJar, setCookies, isCleared } = require('./helper')
const { startCluster, skipWithoutRedis, hasRedisServer } = require('./support/redis')
const { whoami, burst, startInstance, commandStats, commandsDuring, scriptsIn, until, SESSION_COOKIE, REMEMBER } = require('./support/fleet')

const skip = skipWithoutRedis()
const PACKAGES = { 'node-redis 6': 'redis', 'node-redis 5': 'redis5' }
const MINUTE = 60_000

test('redis-server is installed', { skip }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

let cluster
let admins = []
const opened = []

async function connectCluster (pkg) {
  const { createCluster } = require(pkg)
  const client = createCluster({ rootNodes: cluster.rootNodes })
  client.on('error', () => {})
  await client.connect()
  opened.push(() => client.destroy())
  return client
}

let users = 0
const newUser = () => `c${++users}`

describe('two instances on a 3-master Redis Cluster', { skip }, () => {
  before(async () => {
    cluster = await startCluster({ masters: 3 })
    for (const node of cluster.nodes) {
      const admin = createClient({ url: node.url })
      admin.on('error', () => {})
      await admin.connect()
      admins.push(admin)
    }
  })

  after(async () => {
    for (const close of opened.reverse()) await close()
    for (const admin of admins) admin.destroy()
    admins = []
    await cluster?.stop()
  })

  for (const [name, pkg] of Object.entries(PACKAGES)) {
    describe(name, () => {
      let A
      let B
      before(async () => {
        A = await startInstance({ client: await connectCluster(pkg), prefix: `fleet-${pkg}:` })
        B = await startInstance({ client: await connectCluster(pkg), prefix: `fleet-${pkg}:` })
        opened.push(() => A.close(), () => B.close())
      })

      async function login (instance, userId, extra = {}) {
        const jar = createJar(instance.app)
        const res = await jar.post('/login', { id: userId, ...extra })
        assert.equal(res.statusCode, 200, res.body)
        return jar
      }
      const count = (work) => commandsDuring(admins, work)

      test('users\' logins spread over the masters; a logged-in request costs no command beyond the session store\'s, the visit one a minute', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const S = await startInstance({ client: await connectCluster(pkg), registry: false })
        t.after(() => S.close())
        const jars = []
        const sessionJars = []
        for (let i = 0; i < 12; i++) {
          jars.push(await login(A, newUser()))
          sessionJars.push(await login(S, newUser()))
        }
        // The first request of each login on each instance reads its record, on its user's master.
        const before = await Promise.all(admins.map((admin) => commandStats([admin])))
        await burst(A, jars, 1)
        const after = await Promise.all(admins.map((admin) => commandStats([admin])))
        const reads = after.map((calls, i) => (calls.evalsha ?? 0) - (before[i].evalsha ?? 0))
        assert.equal(reads.reduce((a, b) => a + b, 0), jars.length)
        assert.ok(reads.filter((n) => n > 0).length >= 2, `the records are on at least 2 of the 3 masters: ${reads}`)
        await burst(B, jars, 1)

        const sessionOnly = await count(() => burst(S, sessionJars, 10))
        assert.deepEqual(Object.keys(sessionOnly), ['get'])
        for (const instance of [A, B]) assert.deepEqual(await count(() => burst(instance, jars, 10)), sessionOnly)

        t.mock.timers.setTime(Date.now() + MINUTE + 1000)
        const touched = await count(() => burst(A, jars, 10))
        assert.equal(touched.evalsha, jars.length, `one store command per login a minute: ${JSON.stringify(touched)}`)
        assert.ok((touched.eval ?? 0) <= admins.length, 'a script\'s source is sent at most once per master')
        assert.deepEqual(await count(() => burst(A, jars, 10)), sessionOnly, 'then none again')
      })

      test('logins revoked on A, of users spread over the masters, are each refused on B once the invalidation came through', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const logins = []
        for (let i = 0; i < 9; i++) {
          const userId = newUser()
          const jar = await login(A, userId)
          const { loginId } = await whoami(jar, B)
          logins.push({ userId, jar, loginId })
        }
        assert.equal(scriptsIn(await count(async () => { for (const { jar } of logins) await whoami(jar, B) })), 0, 'B answers them from its cache')

        for (const { userId, loginId } of logins) {
          assert.equal((await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })).statusCode, 200)
        }
        for (const { jar } of logins) {
          const refused = await until(async () => {
            const answer = await whoami(jar, B)
            return answer.user === null && answer
          }, 'B refuses the revoked login')
          assert.equal(refused.endReason, 'revoked')
        }
      })

      test('the subscribers killed on every master (CLIENT KILL TYPE pubsub): a revocation right after is refused at once; the link comes back on its own', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const userId = newUser()
        const jar = await login(A, userId)
        const cachedOnB = async (browser) => {
          await whoami(browser, B)
          return scriptsIn(await count(() => whoami(browser, B))) === 0
        }
        await until(() => cachedOnB(jar), 'B caches the login')

        let killed = 0
        for (const admin of admins) killed += Number(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']))
        assert.ok(killed >= 2, `both instances' subscribers: ${killed}`)
        const { loginId } = await whoami(jar, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })
        assert.equal((await whoami(jar, B)).user, null, 'B refuses it on its next request')

        const next = newUser()
        const jar2 = await login(A, next)
        await until(() => cachedOnB(jar2), 'B trusts its cache again')
        const { loginId: nextId } = await whoami(jar2, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: next, login: nextId } })
        await until(async () => (await whoami(jar2, B)).user === null, 'a revocation reaches B through the link again')
      })

      test('remember-me: a restore on either instance rotates the token and keeps the login; parallel requests are no theft, a copy of an older token is', async () => {
        const userId = newUser()
        const jar = await login(A, userId, { remember: true })
        const { loginId } = await whoami(jar, A)
        const issued = jar.cookies[REMEMBER]

        delete jar.cookies[SESSION_COOKIE]
        assert.deepEqual(await whoami(jar, B), { user: userId, loginId, by: 'remember', endReason: null })
        const rotated = jar.cookies[REMEMBER]
        assert.notEqual(rotated, issued)
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? B : A).app.inject({ url: '/whoami', cookies: { [REMEMBER]: rotated } })))
        for (const res of results) assert.deepEqual(res.json(), { user: userId, loginId, by: 'remember', endReason: null })
        assert.deepEqual([...A.theft, ...B.theft], [], 'parallel requests are no theft')
        for (const instance of [A, B]) {
          const listed = (await instance.app.inject(`/logins?user=${userId}`)).json()
          assert.deepEqual(listed.map((login) => [login.id, login.method]), [[loginId, 'credentials']], 'one login, listed alike by both')
        }

        const latest = setCookies(results[0]).find((c) => c.name === REMEMBER).value
        const copy = await B.app.inject({ url: '/whoami', cookies: { [REMEMBER]: issued } })
        assert.equal(copy.json().user, null)
        assert.ok(isCleared(setCookies(copy).find((c) => c.name === REMEMBER)))
        assert.deepEqual(B.theft, [userId], 'the copy is caught')
        assert.equal((await A.app.inject({ url: '/whoami', cookies: { [REMEMBER]: latest } })).json().user, null, 'the login ended for the real browser too')
        B.theft.length = 0
      })
    })
  }
})
