'use strict'

// `idleTimeout` and `absoluteTimeout` (README "Options", the contract's timeout
// rows): a login ends on its first request past either, with
// `request.loginEndReason` ('idle' / 'absolute') on that request only and one
// `loginEnded`; a remembered login comes back from its cookie instead (not fresh,
// the same registry id, `loginEndReason` null, its own `absoluteTimeout` counted
// from the restore), within the cookie's own lifetime; without a cookie the login
// ends for good, its registry record with it. With and without the login registry.
// idle-timeout.test.js has the rest of idleTimeout (activity keeps a login, one
// session write a minute). Time is node:test's mock Date: no test sleeps.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { CountingStore } = require('../support/stores')
const { MemoryLoginStore } = require('fastify-login')
const { createJar, setCookies, isCleared, SESSION_COOKIE, SESSION_KIND } = require('../helper')
const { SECOND, MINUTE, HOUR, REMEMBER, startClock, lifecycleApp, loggedIn, visit, ends } = require('../support/lifecycle')

const ABSOLUTE = HOUR
const IDLE = 10 * MINUTE
/** Past the idle timeout even for a visit recorded a minute late (the tracking's granularity). */
const IDLE_FOR_SURE = IDLE + MINUTE + 2 * SECOND

for (const registry of [false, true]) {
  const label = registry ? 'with the registry' : 'without the registry'
  /** Login options: the registry on a store the test keeps, or none. */
  const withRegistry = (options = {}, logins = {}) => {
    const store = new MemoryLoginStore()
    return { store, login: registry ? { logins: { store, ...logins }, ...options } : options }
  }

  describe(`absoluteTimeout, ${label}`, () => {
    test('an active login ends once it is older than absoluteTimeout: loginEndReason once, one loginEnded', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ absoluteTimeout: ABSOLUTE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1)
      const { loginId } = await visit(jar)
      for (let minute = 1; minute <= 60; minute++) {
        tick(MINUTE)
        assert.equal((await visit(jar)).user, 1, `logged out ${minute} minutes after the login, before absoluteTimeout`)
      }
      assert.deepEqual(ends(events), [])
      tick(SECOND)
      assert.deepEqual(await visit(jar), {
        user: null, by: null, fresh: false, remembered: false, loginId: null, impersonator: null, reason: 'absolute'
      })
      assert.deepEqual(ends(events), [{ userId: '1', loginId: registry ? loginId : null, reason: 'absolute' }])
      assert.equal((await visit(jar)).reason, null, 'the reason is told once')
      assert.equal((await jar.get('/private')).statusCode, 401)
      assert.equal(events.ended.length, 1, 'one loginEnded for one end')
      if (registry) assert.deepEqual(await app.loginManager.listLogins(1), [], 'the registry record ended with it')
    })

    test('a remembered login comes back from its cookie: not fresh, the same login, no reason shown', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ absoluteTimeout: ABSOLUTE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1, { remember: true })
      const before = await visit(jar)
      assert.deepEqual([before.user, before.by, before.fresh, before.remembered], [1, 'session', true, true])
      tick(ABSOLUTE + SECOND)
      const after = await visit(jar)
      assert.deepEqual(after, {
        user: 1, by: 'remember', fresh: false, remembered: true, loginId: before.loginId, impersonator: null, reason: null
      })
      assert.deepEqual(events.restored, [1])
      assert.deepEqual(ends(events), [], 'the login goes on: nothing ended')
      if (registry) {
        const logins = await app.loginManager.listLogins(1)
        assert.deepEqual(logins.map((l) => [l.id, l.method, l.remembered]), [[before.loginId, 'credentials', true]], 'one record, the same, still standing')
      }
      const restored = await visit(jar)
      assert.deepEqual([restored.by, restored.reason], ['session', null], 'then the session holds it again')
    })

    test("a restored login's absoluteTimeout counts from the restore, within the cookie's own lifetime", async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ absoluteTimeout: ABSOLUTE })
      const { app, events } = await lifecycleApp(t, { login })
      // A cookie for three hours: two restores, then the login ends for good.
      const jar = await loggedIn(app, 1, { remember: true, maxAge: 3 * HOUR - MINUTE })
      const { loginId } = await visit(jar)
      tick(ABSOLUTE + SECOND)
      assert.equal((await visit(jar)).by, 'remember', 'restored at 1 h')
      tick(ABSOLUTE)
      assert.equal((await visit(jar)).by, 'session', 'an hour after the restore (two after the login) it still stands')
      tick(SECOND)
      assert.equal((await visit(jar)).by, 'remember', 'restored again past an hour after the first restore')
      assert.deepEqual(events.restored, [1, 1])
      assert.deepEqual(ends(events), [])
      tick(ABSOLUTE + SECOND) // past the cookie's three hours
      const ended = await visit(jar)
      assert.deepEqual([ended.user, ended.reason], [null, 'absolute'], 'the cookie expired: the login ends for good')
      assert.equal(jar.cookies[REMEMBER], undefined, 'the expired remember cookie is cleared')
      assert.deepEqual(ends(events), [{ userId: '1', loginId: registry ? loginId : null, reason: 'absolute' }])
      assert.equal((await visit(jar)).user, null)
    })

    test('a remembered login whose browser lost the remember cookie ends for good', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ absoluteTimeout: ABSOLUTE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1, { remember: true })
      const { loginId } = await visit(jar)
      const cookie = jar.cookies[REMEMBER]
      delete jar.cookies[REMEMBER]
      tick(ABSOLUTE + SECOND)
      assert.equal((await visit(jar)).reason, 'absolute')
      assert.deepEqual(ends(events), [{ userId: '1', loginId: registry ? loginId : null, reason: 'absolute' }])
      if (registry) {
        // Its series ended with its login: the cookie found later logs nobody in.
        jar.cookies[REMEMBER] = cookie
        assert.deepEqual([(await visit(jar)).user], [null])
        assert.equal(jar.cookies[REMEMBER], undefined, 'and is cleared')
        assert.deepEqual(await app.loginManager.listLogins(1), [])
      }
    })
  })

  describe(`idleTimeout, ${label}`, () => {
    test('an idle remembered login comes back from its cookie: not fresh, the same login, no reason shown', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ idleTimeout: IDLE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1, { remember: true })
      const before = await visit(jar)
      tick(IDLE_FOR_SURE)
      assert.deepEqual(await visit(jar), {
        user: 1, by: 'remember', fresh: false, remembered: true, loginId: before.loginId, impersonator: null, reason: null
      })
      assert.deepEqual(ends(events), [])
      if (registry) assert.deepEqual((await app.loginManager.listLogins(1)).map((l) => l.id), [before.loginId])
      // And it is tracked again from the restore: idle once more, restored once more.
      tick(IDLE_FOR_SURE)
      assert.equal((await visit(jar)).by, 'remember')
      assert.deepEqual(events.restored, [1, 1])
    })

    test('an idle login without a remember cookie ends for good, its registry record too', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ idleTimeout: IDLE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1)
      const { loginId } = await visit(jar)
      tick(IDLE_FOR_SURE)
      const ended = await visit(jar)
      assert.deepEqual([ended.user, ended.reason, ended.loginId], [null, 'idle', null])
      assert.deepEqual(ends(events), [{ userId: '1', loginId: registry ? loginId : null, reason: 'idle' }])
      assert.deepEqual([(await visit(jar)).user, (await visit(jar)).reason], [null, null])
      // (The store lets an idle record expire on its own: no one ends it, so the history does not list it.)
      if (registry) assert.deepEqual(await app.loginManager.listLogins(1), [])
    })

    test('a login idle for exactly idleTimeout is not ended early (the tracking may lag a minute, never lead)', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ idleTimeout: IDLE })
      const { app, events } = await lifecycleApp(t, { login })
      const jar = await loggedIn(app, 1)
      tick(30 * SECOND)
      await visit(jar) // a visit the once-a-minute tracking does not record
      tick(IDLE)
      assert.deepEqual([(await visit(jar)).user, events.ended.length], [1, 0], 'idle for exactly idleTimeout since the last visit')
    })

    test('the idle and absolute timeouts work together: whichever comes first ends the login', async (t) => {
      const tick = startClock(t)
      const { login } = withRegistry({ idleTimeout: IDLE, absoluteTimeout: ABSOLUTE })
      const { app, events } = await lifecycleApp(t, { login })
      const active = await loggedIn(app, 1)
      const idle = await loggedIn(app, 2)
      for (let minute = 1; minute <= 60; minute++) {
        tick(MINUTE)
        assert.equal((await visit(active)).user, 1)
      }
      tick(SECOND)
      assert.equal((await visit(active)).reason, 'absolute')
      assert.equal((await visit(idle)).reason, 'idle')
      assert.deepEqual(ends(events).map((e) => [e.userId, e.reason]), [['1', 'absolute'], ['2', 'idle']])
    })
  })
}

describe('idle tracking writes the session at most once a minute, for every kind of login (rolling: false)', () => {
  for (const registry of [false, true]) {
    test(`a login restored from its cookie and an impersonation, ${registry ? 'with' : 'without'} the registry`, async (t) => {
      const tick = startClock(t)
      const store = new CountingStore()
      const { app } = await lifecycleApp(t, {
        store,
        session: { rolling: false },
        login: { idleTimeout: IDLE, canImpersonate: () => true, ...(registry ? { logins: { store: new MemoryLoginStore() } } : {}) },
        routes: (app) => app.post('/impersonate/2', async (request, reply) => {
          await reply.impersonate({ id: 2, username: 'user2' })
          return { ok: true }
        })
      })
      /** The session writes of `jar`'s requests from now on: store writes, or session cookies sent on secure-session. */
      const watch = (jar) => {
        const cookieWrites = []
        const request = jar.request
        jar.request = async (opts) => {
          const res = await request(opts)
          if (setCookies(res).some((c) => c.name === SESSION_COOKIE && !isCleared(c))) cookieWrites.push(Date.now())
          return res
        }
        const from = store.writes.length
        return () => SESSION_KIND === 'secure' ? cookieWrites : store.writes.slice(from)
      }
      const assertSparse = async (jar, what) => {
        const writes = watch(jar)
        const start = Date.now()
        for (let visit5s = 1; visit5s <= 60; visit5s++) { // a visit every 5 s for 5 minutes
          tick(5 * SECOND)
          assert.notEqual((await visit(jar)).user, null, what)
        }
        const times = [start, ...writes()]
        assert.ok(times.length <= 6, `${what}: ${times.length - 1} writes in 5 minutes`)
        for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= MINUTE, `${what}: two writes ${(times[i] - times[i - 1]) / SECOND} s apart`)
      }

      const remembered = await loggedIn(app, 1, { remember: true })
      delete remembered.cookies[SESSION_COOKIE]
      assert.equal((await visit(remembered)).by, 'remember')
      await assertSparse(remembered, 'a restored login')

      const staff = await loggedIn(app, 1)
      assert.equal((await staff.post('/impersonate/2')).statusCode, 200)
      await assertSparse(staff, 'an impersonation')
    })
  }
})

describe('turning a timeout on for logins made before it', () => {
  // A login made while the option was off carries no time to count from: it ends
  // on its next request, as a timeout, instead of living on unbounded (fail closed).
  for (const [option, reason] of [['absoluteTimeout', 'absolute'], ['idleTimeout', 'idle']]) {
    test(`${option}: a login state without its time ends with loginEndReason '${reason}'`, async (t) => {
      startClock(t)
      const { app, events } = await lifecycleApp(t, { login: { [option]: HOUR } })
      const jar = createJar(app)
      // A state as a login made with neither option on writes it: no start, no visit.
      await jar.post('/session/_login', { value: '2.....1' })
      assert.equal((await visit(jar)).reason, reason)
      assert.deepEqual(ends(events), [{ userId: '1', loginId: null, reason }])
      assert.equal((await jar.get('/private')).statusCode, 401)
    })
  }

  test('the same state is a login while neither option is on', async (t) => {
    const { app } = await lifecycleApp(t)
    const jar = createJar(app)
    await jar.post('/session/_login', { value: '2.....1' })
    assert.equal((await visit(jar)).user, 1)
  })
})
