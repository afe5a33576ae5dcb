'use strict'

// `idleTimeout` (README "Options"): "A login not used for that long ends on its next
// request (anonymous, `loginEnded` with reason `'idle'`), with or without the
// registry", and "Tracking it writes the session at most once a minute for a
// read-only request". It counts from the last visit, not from the last write: a
// user active every 50 s under a 60 s timeout stays logged in. Tracking is only as
// fine as its once-a-minute write, so "idle for longer" here means longer than the
// timeout plus that minute. Time is node:test's mock Date: no test sleeps.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { CountingStore } = require('../support/stores')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, SESSION_KIND, SESSION_COOKIE } = require('../helper')

const SECOND = 1000
const MINUTE = 60 * SECOND
const IDLE = MINUTE

const CONFIGURATIONS = {
  'without the registry': () => ({}),
  'with the registry': () => ({ logins: { store: new MemoryLoginStore() } })
}

/**
 * An app with `idleTimeout`; `writes` lists the times the session was written: a
 * store write on @fastify/session, a session cookie sent on @fastify/secure-session.
 */
async function idleApp (t, login) {
  const store = new CountingStore()
  const ended = []
  const app = await buildApp({
    store,
    session: { rolling: false },
    login: { idleTimeout: IDLE, ...login },
    routes: (app) => app.get('/visit', async (request) => ({ user: request.user?.id ?? null, reason: request.loginEndReason }))
  })
  t.after(() => app.close())
  app.loginManager.on('loginEnded', (request, info) => ended.push(info))
  const cookieWrites = []
  const jar = createJar(app)
  const request = jar.request
  jar.request = async (opts) => {
    const res = await request(opts)
    if (setCookies(res).some((c) => c.name === SESSION_COOKIE && !isCleared(c))) cookieWrites.push(Date.now())
    return res
  }
  return { app, jar, ended, writes: () => SESSION_KIND === 'secure' ? cookieWrites : store.writes }
}

for (const [label, login] of Object.entries(CONFIGURATIONS)) {
  describe(`idleTimeout, ${label}`, () => {
    test('a user active every 50 s under a 60 s timeout stays logged in for 20 minutes', async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      const { jar, ended } = await idleApp(t, login())
      assert.equal((await jar.post('/login', { id: 1 })).statusCode, 200)
      for (let visit = 1; visit <= 24; visit++) {
        t.mock.timers.tick(50 * SECOND)
        const res = (await jar.get('/visit')).json()
        assert.deepEqual(res, { user: 1, reason: null }, `logged out at the visit ${visit}, ${visit * 50} s after the login`)
      }
      assert.deepEqual(ended, [])
    })

    test("a user idle for longer is logged out, with request.loginEndReason 'idle' on the next request and loginEnded", async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      const { jar, ended } = await idleApp(t, login())
      await jar.post('/login', { id: 1 })
      for (let visit = 1; visit <= 5; visit++) {
        t.mock.timers.tick(50 * SECOND)
        assert.equal((await jar.get('/visit')).json().user, 1)
      }
      t.mock.timers.tick(IDLE + MINUTE + SECOND) // idle: longer than the timeout plus the tracking's minute
      assert.deepEqual((await jar.get('/visit')).json(), { user: null, reason: 'idle' })
      assert.deepEqual(ended.map(({ userId, reason }) => ({ userId, reason })), [{ userId: '1', reason: 'idle' }])
      assert.deepEqual((await jar.get('/visit')).json(), { user: null, reason: null }, 'the reason is told once')
      assert.equal((await jar.get('/private')).statusCode, 401)
    })

    test('read-only requests write the session at most once a minute to track it (rolling: false)', async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
      const { jar, writes } = await idleApp(t, login())
      await jar.post('/login', { id: 1 })
      const loggedInAt = Date.now()
      const fromLogin = writes().length
      for (let visit = 1; visit <= 11; visit++) { // one visit every 5 s for 55 s
        t.mock.timers.tick(5 * SECOND)
        assert.equal((await jar.get('/visit')).json().user, 1)
      }
      assert.deepEqual(writes().slice(fromLogin), [], 'no write within the first minute after the login')
      for (let visit = 1; visit <= 120; visit++) { // then every 5 s for 10 more minutes
        t.mock.timers.tick(5 * SECOND)
        assert.equal((await jar.get('/visit')).json().user, 1)
      }
      const times = [loggedInAt, ...writes().slice(fromLogin)]
      for (let i = 1; i < times.length; i++) {
        assert.ok(times[i] - times[i - 1] >= MINUTE, `two session writes ${(times[i] - times[i - 1]) / SECOND} s apart`)
      }
    })
  })
}
