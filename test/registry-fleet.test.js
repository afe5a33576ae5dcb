'use strict'

// The login registry at fleet scale on one real redis-server: two instances of an
// app (support/fleet.js), their sessions in Redis through connect-redis and the
// registry on RedisLoginStore, with node-redis 6 and node-redis 5.
//
// - The hot path: a logged-in request in the steady state costs Redis nothing beyond
//   the session store's own GET (counted by the server, INFO commandstats); the
//   visit is recorded once a minute.
// - A revocation on one instance is refused on the other once the invalidation came
//   through (the tests wait for that, they never time it: bench/fleet.js
//   measures the delay).
// - Fail safe: while the invalidation link is down (its connection silenced by a
//   proxy, killed, or the server hung) every logged-in request reads the store
//   again, so a revocation is seen at once; the cache comes back only once the link
//   is confirmed.
// - Remember tokens across instances: rotation, parallel requests within the grace
//   window, a copied cookie caught as theft; one login id for the device.
//
// Date is frozen (mock timers) where a cache entry could otherwise age out: what
// ends a login on the other instance there is the invalidation, nothing else.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { createClient } = require('redis')
const { createJar, setCookies, isCleared } = require('./helper')
const { startRedis, skipWithoutRedis, hasRedisServer } = require('./support/redis')
const { startProxy } = require('./support/tcp-proxy')
const { whoami, burst, startInstance, commandStats, commandsDuring, scriptsIn, until, SESSION_COOKIE, REMEMBER } = require('./support/fleet')

const skip = skipWithoutRedis()
const PACKAGES = { 'node-redis 6': 'redis', 'node-redis 5': 'redis5' }
const MINUTE = 60_000
const GRACE_MS = 5000

test('redis-server is installed', { skip }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

let users = 0
/** A user id no other test of the file uses. */
const newUser = () => `u${++users}`

for (const [name, pkg] of Object.entries(PACKAGES)) {
  describe(`two instances on one Redis (${name})`, { skip }, () => {
    let server
    let admin
    let A
    let B
    const opened = []

    before(async () => {
      server = await startRedis()
      admin = createClient({ url: server.url })
      admin.on('error', () => {})
      await admin.connect()
      A = await startInstance({ url: server.url, pkg })
      B = await startInstance({ url: server.url, pkg })
      opened.push(A, B)
    })

    after(async () => {
      for (const instance of opened) await instance.close()
      if (admin?.isOpen) admin.destroy()
      if (server) await server.stop()
    })

    /** Logs `userId` in on `instance`; the jar is the browser. */
    async function login (instance, userId, extra = {}) {
      const jar = createJar(instance.app)
      const res = await jar.post('/login', { id: userId, ...extra })
      assert.equal(res.statusCode, 200, res.body)
      return jar
    }

    const count = (work) => commandsDuring([admin], work)

    describe('the hot path', () => {
      test('a logged-in request costs no Redis command beyond the session store\'s; the visit is recorded once a minute per login', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        // The same app without the registry, on the same Redis: the session store's own commands.
        const S = await startInstance({ url: server.url, pkg, registry: false })
        const T = await startInstance({ url: server.url, pkg, registry: false })
        t.after(async () => { await S.close(); await T.close() })

        const registryJars = []
        const sessionJars = []
        for (let i = 0; i < 8; i++) {
          registryJars.push(await login(A, newUser()))
          sessionJars.push(await login(S, newUser()))
        }
        // The first request of each login on each instance reads its record: the cache starts empty.
        await burst(A, registryJars, 1)
        await burst(B, registryJars, 1)

        const sessionOnly = await count(() => burst(T, sessionJars))
        assert.deepEqual(Object.keys(sessionOnly), ['get'], 'the session store reads the session, nothing else')
        for (const instance of [A, B]) {
          assert.deepEqual(await count(() => burst(instance, registryJars)), sessionOnly, 'with the registry: the same commands, no more')
        }

        t.mock.timers.setTime(Date.now() + MINUTE + 1000)
        const touched = await count(() => burst(B, registryJars))
        assert.equal(touched.evalsha, registryJars.length, `one store command per login a minute on the instance: ${JSON.stringify(touched)}`)
        assert.ok((touched.eval ?? 0) <= 1, 'a script\'s source is sent at most once, on its first use on the server')
        assert.equal(touched.get, sessionOnly.get)
        assert.deepEqual(await count(() => burst(B, registryJars)), sessionOnly, 'then none again')
      })
    })

    describe('a revocation on one instance', () => {
      test('a login revoked on A is refused on B once the invalidation came through; B served it from its cache until then', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const userId = newUser()
        const jar = await login(A, userId)
        const { loginId } = await whoami(jar, B)
        assert.equal(scriptsIn(await count(() => whoami(jar, B))), 0, 'B answers from its cache')

        const res = await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })
        assert.deepEqual(res.json(), { ok: true })
        const refused = await until(async () => {
          const answer = await whoami(jar, B)
          return answer.user === null && answer
        }, 'B refuses the revoked login')
        assert.deepEqual(refused, { user: null, loginId: null, by: null, endReason: 'revoked' })
        assert.deepEqual((await B.app.inject(`/logins?user=${userId}`)).json(), [])
      })

      const races = [['a read of the login', 0], ['the touch that records its visit once a minute', MINUTE + 1000]]
      for (const [what, later] of races) {
        test(`${what} under way on C when the invalidation arrives: C does not keep the login it found standing, and refuses it next`, async (t) => {
          t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
          // C's registry reaches Redis through a proxy that can hold the replies of its client's connection.
          const proxy = await startProxy(server.port)
          const C = await startInstance({ url: server.url, registryUrl: proxy.url, pkg })
          t.after(async () => { await C.close(); await proxy.close() })
          const main = (c) => !c.subscriber
          const cachedOnC = async (jar) => {
            await whoami(jar, C)
            return scriptsIn(await count(() => whoami(jar, C))) === 0
          }
          const other = await login(A, newUser())
          await until(() => cachedOnC(other), 'C\'s link is up')

          const userId = newUser()
          const jar = await login(A, userId)
          const { loginId } = await whoami(jar, A)
          if (later > 0) {
            await until(() => cachedOnC(jar), 'C caches the login')
            t.mock.timers.setTime(Date.now() + later)
            // Another login's touch first: the server then has the script, which is run by its hash alone.
            await whoami(other, C)
          }
          const ran = (await commandStats([admin])).evalsha ?? 0
          proxy.hold(main)
          const pending = whoami(jar, C)
          await until(async () => ((await commandStats([admin])).evalsha ?? 0) > ran, 'Redis ran C\'s script: the login stood')

          await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })
          await until(() => proxy.open((c) => c.subscriber)[0].received.includes(loginId), 'the invalidation went out to C')
          // One turn of C's event loop reads what reached its subscriber's socket, before the reply is let go.
          await new Promise((resolve) => setImmediate(resolve))
          proxy.release(main)
          assert.equal((await pending).user, userId, 'the request that began before the revocation is answered as it found it')
          assert.deepEqual(await whoami(jar, C), { user: null, loginId: null, by: null, endReason: 'revoked' }, 'refused on the next request')
        })
      }

      test('revokeLogins on B ends every login of the user, the ones made on A too, and A refuses them', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const userId = newUser()
        const other = newUser()
        const jars = [await login(A, userId), await login(A, userId), await login(B, userId)]
        const bystander = await login(A, other)
        for (const jar of [...jars, bystander]) assert.notEqual((await whoami(jar, A)).user, null)

        const res = await B.app.inject({ method: 'POST', url: '/revoke-all', payload: { user: userId } })
        assert.deepEqual(res.json(), { ended: 3 })
        for (const jar of jars) await until(async () => (await whoami(jar, A)).user === null, 'A refuses each login')
        assert.equal((await whoami(bystander, A)).user, other, 'another user\'s login stands')
      })
    })

    describe('fail safe: the invalidation link down', () => {
      test('its connection silenced: every logged-in request reads the store, a revocation is refused at once; the cache comes back once the link is confirmed', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        // C reaches Redis through a proxy that can silence its subscriber's connection, as a
        // partition would (no reset: only the heartbeat that no longer comes back tells).
        const proxy = await startProxy(server.port)
        const C = await startInstance({ url: proxy.url, pkg })
        t.after(async () => { await C.close(); await proxy.close() })
        const isSubscriber = (c) => c.subscriber
        const mainOfC = () => proxy.open((c) => !c.subscriber)[0]
        const reads = async (jar) => scriptsIn(await count(async () => assert.notEqual((await whoami(jar, C)).user, null)))
        /** C answers a standing login from its cache: once it read it, its next request costs nothing. */
        const cachedOnC = async (jar) => await reads(jar) >= 0 && await reads(jar) === 0

        const first = newUser()
        const second = newUser()
        const jar = await login(A, first)
        const jar2 = await login(A, second)
        await until(() => cachedOnC(jar), 'C caches the login (its link is up)')

        assert.equal(proxy.silence(isSubscriber), 1, 'one subscriber connection')
        await until(async () => await reads(jar) === 1, 'C no longer trusts its cache')
        for (let i = 0; i < 5; i++) assert.equal(await reads(jar2), 1, 'each request reads the store')

        const { loginId } = await whoami(jar, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: first, login: loginId } })
        assert.deepEqual(await whoami(jar, C), { user: null, loginId: null, by: null, endReason: 'revoked' }, 'refused on the next request')

        // The heartbeats C sends go on; none comes back, so the link stays down.
        const beats = mainOfC().count('PUBLISH')
        await until(() => mainOfC().count('PUBLISH') >= beats + 3, 'C sent three more heartbeats')
        assert.equal(await reads(jar2), 1, 'still read from the store')

        // The partition ends with a reset; the client reconnects, but its SUBSCRIBE is held: a
        // connection again is not a confirmed link.
        proxy.silenceSubscribers = true
        proxy.cut(isSubscriber)
        await until(() => proxy.open(isSubscriber).length === 1, 'C subscribes again')
        const resubscribed = mainOfC().count('PUBLISH')
        await until(() => mainOfC().count('PUBLISH') >= resubscribed + 3, 'C sent three more heartbeats')
        assert.equal(await reads(jar2), 1, 'still read from the store')

        proxy.silenceSubscribers = false
        proxy.cut(isSubscriber)
        await until(() => cachedOnC(jar2), 'C trusts its cache again once its link is confirmed')
        const { loginId: secondId } = await whoami(jar2, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: second, login: secondId } })
        await until(async () => (await whoami(jar2, C)).user === null, 'a revocation reaches C through the link again')
      })

      test('its subscriber killed by the server (CLIENT KILL TYPE pubsub): a revocation right after is refused at once; the link comes back on its own', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const userId = newUser()
        const jar = await login(A, userId)
        const reads = async () => scriptsIn(await count(async () => assert.notEqual((await whoami(jar, B)).user, null)))
        await until(async () => await reads() >= 0 && await reads() === 0, 'B caches the login')

        assert.ok(Number(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])) >= 2, 'both instances\' subscribers')
        const { loginId } = await whoami(jar, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })
        assert.equal((await whoami(jar, B)).user, null, 'B refuses it on its next request')

        const next = newUser()
        const jar2 = await login(A, next)
        await until(async () => {
          const answer = await count(() => whoami(jar2, B))
          return scriptsIn(answer) === 0 && scriptsIn(await count(() => whoami(jar2, B))) === 0
        }, 'B trusts its cache again')
        const { loginId: nextId } = await whoami(jar2, A)
        await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: next, login: nextId } })
        await until(async () => (await whoami(jar2, B)).user === null, 'a revocation reaches B through the link again')
      })

      test('a hung server (paused), with the README\'s client options: logged-in requests fail closed, anonymous ones work; after, the login works again', { timeout: 120_000 }, async (t) => {
        // Its own server: pausing the file's would stop the other instances' links too.
        const own = await startRedis()
        t.after(() => own.stop())
        const C = await startInstance({ url: own.url, pkg, socketTimeout: 2000 })
        const D = await startInstance({ url: own.url, pkg, socketTimeout: 2000 })
        t.after(async () => { await C.close(); await D.close() })
        const userId = newUser()
        const jar = await login(C, userId)
        for (const instance of [C, D]) assert.equal((await whoami(jar, instance)).user, userId)

        own.pause()
        try {
          for (const instance of [C, D]) {
            // Commands wait on the hung server until the client gives up on it (socketTimeout): a
            // heartbeat written every half second must not keep that connection looking alive.
            const res = await jar.get({ url: '/whoami', app: instance.app })
            assert.equal(res.statusCode, 500, res.body)
            assert.doesNotMatch(res.body, new RegExp(userId))
            assert.equal((await instance.app.inject('/whoami')).json().user, null, 'an anonymous request works')
          }
        } finally {
          own.resume()
        }
        for (const instance of [C, D]) {
          await until(async () => (await jar.get({ url: '/whoami', app: instance.app })).statusCode === 200, 'Redis answers again')
          assert.equal((await whoami(jar, instance)).user, userId, 'the login made before works again')
        }
      })
    })

    describe('remember-me across instances', () => {
      /** A remembered login on A, its session then gone: only its remember cookie is left. */
      async function remembered () {
        const userId = newUser()
        const jar = await login(A, userId, { remember: true })
        const { loginId } = await whoami(jar, A)
        delete jar.cookies[SESSION_COOKIE]
        return { userId, jar, loginId }
      }

      test('a restore on either instance rotates the token and keeps the login: its id, its record, listed alike by both', async () => {
        const { userId, jar, loginId } = await remembered()
        const issued = jar.cookies[REMEMBER]
        assert.deepEqual(await whoami(jar, B), { user: userId, loginId, by: 'remember', endReason: null })
        const rotated = jar.cookies[REMEMBER]
        assert.notEqual(rotated, issued, 'B rotated the token')

        delete jar.cookies[SESSION_COOKIE]
        assert.deepEqual(await whoami(jar, A), { user: userId, loginId, by: 'remember', endReason: null }, 'A restores from B\'s rotation')
        assert.notEqual(jar.cookies[REMEMBER], rotated, 'A rotated it again')

        for (const instance of [A, B]) {
          const listed = (await instance.app.inject(`/logins?user=${userId}`)).json()
          assert.equal(listed.length, 1)
          assert.equal(listed[0].id, loginId)
          assert.equal(listed[0].method, 'credentials', 'a restore keeps the record of the login it continues')
          assert.equal(listed[0].remembered, true)
        }
        assert.deepEqual([...A.theft, ...B.theft], [])
      })

      test('parallel requests of one browser with one token, spread over both instances: all logged in as that login, no theft', async () => {
        const { userId, jar, loginId } = await remembered()
        const cookie = jar.cookies[REMEMBER]
        const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? B : A).app.inject({ url: '/whoami', cookies: { [REMEMBER]: cookie } })))
        for (const res of results) assert.deepEqual(res.json(), { user: userId, loginId, by: 'remember', endReason: null })
        const handedOut = new Set(results.flatMap((res) => setCookies(res).filter((c) => c.name === REMEMBER).map((c) => c.value)))
        assert.equal(handedOut.size, 1, 'every response hands out the one next token')
        assert.deepEqual([...A.theft, ...B.theft], [])
        assert.equal((await A.app.inject(`/logins?user=${userId}`)).json().length, 1)
      })

      test('instances whose clocks differ by a few milliseconds: a parallel request reaching the one behind just after the rotation is no theft', async (t) => {
        const start = Date.now()
        t.mock.timers.enable({ apis: ['Date'], now: start })
        const { userId, jar, loginId } = await remembered()
        const cookie = jar.cookies[REMEMBER]
        // A rotates at its time; B, whose clock is 5 ms behind A's, reads the rotated series
        // a moment later: by B's clock the rotation lies 4 ms in the future.
        t.mock.timers.setTime(start + 1000)
        assert.equal((await A.app.inject({ url: '/whoami', cookies: { [REMEMBER]: cookie } })).json().user, userId)
        t.mock.timers.setTime(start + 1000 - 4)
        const res = await B.app.inject({ url: '/whoami', cookies: { [REMEMBER]: cookie } })
        assert.deepEqual(res.json(), { user: userId, loginId, by: 'remember', endReason: null })
        assert.deepEqual([...A.theft, ...B.theft], [])
      })

      test('a copied cookie used on B after the real one rotated on A, past the grace window: theft, the login ends on both', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
        const { userId, jar } = await remembered()
        const copy = jar.cookies[REMEMBER]
        assert.equal((await whoami(jar, A)).user, userId, 'the real browser restores on A')
        assert.notEqual(jar.cookies[REMEMBER], copy)

        t.mock.timers.setTime(Date.now() + GRACE_MS + 1)
        const res = await B.app.inject({ url: '/whoami', cookies: { [REMEMBER]: copy } })
        assert.equal(res.json().user, null)
        assert.ok(isCleared(setCookies(res).find((c) => c.name === REMEMBER)), 'the copy is cleared')
        assert.deepEqual(B.theft, [userId])
        await until(async () => (await whoami(jar, A)).user === null, 'A refuses the real browser\'s session too')
        for (const instance of [A, B]) assert.deepEqual((await instance.app.inject(`/logins?user=${userId}`)).json(), [])
        B.theft.length = 0
      })
    })
  })
}
