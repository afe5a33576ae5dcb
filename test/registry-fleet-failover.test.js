'use strict'

// A real failover under two app instances: a primary with a replica (private
// redis-servers), the apps' sessions (connect-redis) and login registry
// (RedisLoginStore, `replicas: 1`) behind one stable address (a TCP proxy, as a
// Sentinel-aware address or a moved DNS name would be). The replica is cut off
// (a partition: REPLICAOF NO ONE), the primary killed, the address pointed at the
// promoted replica and a new replica attached to it. Then: no revoked or logged-out
// login comes back, no rotation is lost, and a rotation the store could not confirm
// heals instead of turning into a false `rememberTheft`.
//
// And the start-up warnings of `store.inspect()` in the app's log (level warn) for
// the deployments that can lose a revocation.
//
// Nothing is timed: the tests wait for states (a replica in sync, a connection
// back), never for a duration.

const { describe, test, after } = require('node:test')
const assert = require('node:assert/strict')
const { createJar, setCookies } = require('./helper')
const { startRedis, startReplicated, skipWithoutRedis, hasRedisServer } = require('./support/redis')
const { startProxy } = require('./support/tcp-proxy')
const { startInstance, until, SESSION_COOKIE, REMEMBER } = require('./support/fleet')

const skip = skipWithoutRedis()
const WARN = 40
/** Long enough for a replica of a loaded machine to answer WAIT; what a write waits for a replica cut off. */
const REPLICA_TIMEOUT = 5000

test('redis-server is installed', { skip }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

const cleanup = []
after(async () => {
  for (const step of cleanup.reverse()) await step()
})

/** Resolves once the replica has everything the primary wrote so far. */
async function inSync (primary, replica) {
  await until(async () => {
    const offset = /master_repl_offset:(\d+)/.exec(await primary.cli('INFO', 'replication'))[1]
    return /master_repl_offset:(\d+)/.exec(await replica.cli('INFO', 'replication'))[1] === offset
  }, `the replica on port ${replica.port} in sync`)
}

const warningsOf = (instance) => instance.log.atLeast(WARN).filter((e) => e.level === WARN).map((e) => e.msg)

describe('a failover with replicas: 1', { skip }, () => {
  test('the replica cut off, the primary killed, the replica promoted and the apps repointed: no revoked login back, no rotation lost, no false theft', { timeout: 180_000 }, async () => {
    const servers = await startReplicated()
    cleanup.push(() => servers.stop())
    const [replica] = servers.replicas
    const proxy = await startProxy(servers.primary.port)
    cleanup.push(() => proxy.close())
    const store = { replicas: 1, replicaTimeout: REPLICA_TIMEOUT }
    const A = await startInstance({ url: proxy.url, store })
    const B = await startInstance({ url: proxy.url, store })
    cleanup.push(() => A.close(), () => B.close())
    for (const instance of [A, B]) {
      assert.deepEqual(warningsOf(instance), [
        'fastify-login: login registry: Redis has no persistence (no AOF, no RDB snapshots): a restart forgets every login, so every remembered user is logged out'
      ], 'replicated as configured; only the missing persistence is named')
    }

    /** A browser with a remembered login made on `instance`. */
    const browsers = []
    for (let i = 0; i < 24; i++) {
      const instance = i % 2 ? B : A
      const jar = createJar(instance.app)
      const userId = `f${i}`
      assert.equal((await jar.post('/login', { id: userId, remember: true })).statusCode, 200)
      const { loginId } = (await jar.get('/whoami')).json()
      browsers.push({ userId, jar, loginId })
    }
    const revoked = browsers.slice(0, 6)
    const loggedOut = browsers.slice(6, 10)
    const rotated = browsers.slice(10, 16)
    const unconfirmed = browsers.slice(16, 19)
    const failedRevoke = browsers[19]
    const untouched = browsers.slice(20)

    // With the replica there: every end and rotation is confirmed by it before it counts.
    for (const { userId, loginId } of revoked) {
      assert.deepEqual((await A.app.inject({ method: 'POST', url: '/revoke', payload: { user: userId, login: loginId } })).json(), { ok: true })
    }
    const savedCopies = new Map()
    for (const browser of loggedOut) {
      savedCopies.set(browser, browser.jar.cookies[REMEMBER])
      assert.equal((await browser.jar.post('/logout', {}, { app: B.app })).statusCode, 200)
    }
    for (const browser of rotated) {
      delete browser.jar.cookies[SESSION_COOKIE]
      const before = browser.jar.cookies[REMEMBER]
      assert.equal((await browser.jar.get({ url: '/whoami', app: B.app })).json().user, browser.userId)
      assert.notEqual(browser.jar.cookies[REMEMBER], before, 'rotated')
    }
    await inSync(servers.primary, replica)

    // The partition: the replica stops hearing from the primary, which goes on serving the apps.
    await replica.cli('REPLICAOF', 'NO', 'ONE')
    await until(async () => (await servers.primary.cli('INFO', 'replication')).includes('connected_slaves:0'), 'the primary sees no replica')
    // A restore rotates on the primary, which cannot get the replica to confirm it: it fails
    // closed, and whatever cookie the response carries, the browser keeps.
    const [revocation, ...restores] = await Promise.all([
      A.app.inject({ method: 'POST', url: '/revoke', payload: { user: failedRevoke.userId, login: failedRevoke.loginId } }),
      ...unconfirmed.map((browser) => {
        delete browser.jar.cookies[SESSION_COOKIE]
        return browser.jar.get({ url: '/whoami', app: A.app })
      })
    ])
    assert.equal(revocation.statusCode, 500, 'a revocation the replica cannot confirm fails: the app knows it did not happen')
    for (const res of restores) {
      assert.equal(res.statusCode, 500, res.body)
      assert.equal(res.json().code, 'FST_LOGIN_STORE')
    }

    // The failover: the primary dies, the address moves to the promoted replica, a new replica joins it.
    await servers.primary.kill()
    const joined = await startRedis({ args: ['--replicaof', '127.0.0.1', String(replica.port)] })
    cleanup.push(() => joined.stop())
    await until(async () => (await replica.cli('INFO', 'replication')).includes(`port=${joined.port},state=online`), 'the new replica in sync')
    proxy.retarget(replica.port)
    proxy.cut(() => true)

    const whoami = async (jar, instance) => {
      const answer = await until(async () => {
        const reply = await jar.get({ url: '/whoami', app: instance.app })
        return reply.statusCode === 200 && reply
      }, 'the instance reaches Redis again')
      return answer.json()
    }
    for (const [i, { userId, jar }] of revoked.entries()) {
      assert.deepEqual(await whoami(jar, i % 2 ? A : B), { user: null, loginId: null, by: null, endReason: 'revoked' }, `${userId}'s revoked login stays revoked`)
      delete jar.cookies[SESSION_COOKIE]
      assert.equal((await whoami(jar, i % 2 ? B : A)).user, null, `${userId}'s remember cookie does not bring it back`)
    }
    for (const browser of loggedOut) {
      const copy = await A.app.inject({ url: '/whoami', cookies: { [REMEMBER]: savedCopies.get(browser) } })
      assert.equal(copy.json().user, null, `${browser.userId}: a copy of the remember cookie kept from before the logout does not log in`)
    }
    for (const [i, { userId, jar, loginId }] of [...rotated, ...unconfirmed].entries()) {
      delete jar.cookies[SESSION_COOKIE]
      const before = jar.cookies[REMEMBER]
      assert.deepEqual(await whoami(jar, i % 2 ? A : B), { user: userId, loginId, by: 'remember', endReason: null }, `${userId} restores from the cookie the browser holds`)
      assert.notEqual(jar.cookies[REMEMBER], before, 'and rotates it')
      delete jar.cookies[SESSION_COOKIE]
      assert.equal((await whoami(jar, i % 2 ? B : A)).user, userId, `${userId} restores again from that rotation`)
    }
    for (const { userId, jar } of untouched) assert.equal((await whoami(jar, B)).user, userId, `${userId} is still logged in`)
    assert.deepEqual([...A.theft, ...B.theft], [], 'no false rememberTheft')
  })

  test('a rotation the replica could not confirm: the failed response still hands out the next token', async () => {
    const servers = await startReplicated()
    cleanup.push(() => servers.stop())
    const A = await startInstance({ url: servers.primary.url, store: { replicas: 1, replicaTimeout: 200 } })
    cleanup.push(() => A.close())
    const jar = createJar(A.app)
    await jar.post('/login', { id: 'g1', remember: true })
    delete jar.cookies[SESSION_COOKIE]
    const before = jar.cookies[REMEMBER]
    await servers.replicas[0].cli('REPLICAOF', 'NO', 'ONE')
    await until(async () => (await servers.primary.cli('INFO', 'replication')).includes('connected_slaves:0'), 'the primary sees no replica')
    const res = await jar.get('/whoami')
    assert.equal(res.statusCode, 500)
    const handedOut = setCookies(res).find((c) => c.name === REMEMBER)
    assert.ok(handedOut !== undefined && handedOut.value !== before, 'the next token reaches the browser: whichever server wins, it is current or one ahead')
  })
})

describe('start-up warnings in the app\'s log', { skip }, () => {
  test('replicas: 0 where a replica serves the primary: the app warns that a failover can bring a revoked login back', async () => {
    const servers = await startReplicated({ args: ['--appendonly', 'yes'] })
    cleanup.push(() => servers.stop())
    const app = await startInstance({ url: servers.primary.url })
    cleanup.push(() => app.close())
    const warnings = warningsOf(app)
    assert.equal(warnings.length, 1, String(warnings))
    assert.match(warnings[0], /^fastify-login: login registry: .*has 1 replica\(s\) but the store's replicas option is 0: a failover .* brings the revoked login back/)
  })

  test('one server with RDB snapshots only: the app warns that a restart brings back the logins revoked since the snapshot', async () => {
    const server = await startRedis({ args: ['--save', '3600 1'] })
    cleanup.push(() => server.stop())
    const app = await startInstance({ url: server.url })
    cleanup.push(() => app.close())
    assert.deepEqual(warningsOf(app).map((msg) => /no AOF \(appendonly no\): a restart from an RDB snapshot brings back every login revoked since that snapshot/.test(msg)), [true])
  })

  test('AOF and replicas confirmed: nothing to warn about', async () => {
    const servers = await startReplicated({ args: ['--appendonly', 'yes'] })
    cleanup.push(() => servers.stop())
    const app = await startInstance({ url: servers.primary.url, store: { replicas: 1 } })
    cleanup.push(() => app.close())
    assert.deepEqual(warningsOf(app), [])
  })
})
