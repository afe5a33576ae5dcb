'use strict'

// A route that forgets to `await` (README "Reply"): "A `loginUser`, `logoutUser`,
// `confirmLogin` or `impersonate` that the route forgot to `await` either completes
// before the response is sent or fails that response with a 5xx and a log line naming
// the call: it never answers 2xx without the login, and never leaves a browser logged
// in after a logout." Each case with the memory session store and with an async one
// (test/support/json-store.js), whose timing differs; on @fastify/secure-session there
// is no store, so both runs are the cookie session.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, USERS, REMEMBER_SECRET, SESSION_COOKIE, SESSION_KIND } = require('../helper')
const { JsonStore } = require('../support/json-store')
const { createLogCapture } = require('../support/log')

const STORES = {
  'the memory store': () => undefined,
  'an async store': () => new JsonStore()
}

/** An app whose routes call the reply methods without awaiting them; `logs` captures its log. */
async function forgetfulApp (t, store, login = {}) {
  const logs = createLogCapture()
  const app = await buildApp({
    store,
    fastify: { logger: { level: 'warn', stream: logs.stream } },
    login: { remember: { secret: REMEMBER_SECRET }, ...login },
    routes (app) {
      app.post('/login-forgetful', async (request, reply) => {
        reply.loginUser(USERS.get(String(request.body.id)), { remember: request.body.remember === true })
        return { ok: true }
      })
      app.post('/logout-forgetful', async (request, reply) => {
        reply.logoutUser()
        return { ok: true }
      })
      app.post('/confirm-forgetful', async (request, reply) => {
        reply.confirmLogin()
        return { ok: true }
      })
    }
  })
  t.after(() => app.close())
  return { app, logs }
}

/** A log line at warn or above that names `call`. */
function namesTheCall (logs, call) {
  return logs.atLeast(40).some((entry) => JSON.stringify(entry).includes(call))
}

/** Lets the forgotten promise settle, as the next request of a browser would. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

for (const [label, makeStore] of Object.entries(STORES)) {
  const name = SESSION_KIND === 'secure' ? `${label} (unused: a cookie session)` : label

  describe(`a forgotten await, ${name}`, () => {
    test('logoutUser(): the next request is anonymous, from the session and from the remember cookie', async (t) => {
      const { app } = await forgetfulApp(t, makeStore())
      const jar = createJar(app)
      await jar.post('/login', { id: 1, remember: true })
      assert.equal((await jar.get('/me')).json().user?.id, 1)

      const res = await jar.post('/logout-forgetful', {})
      await settle()
      assert.equal((await jar.get('/me')).json().user, null,
        `logged in after a logout answered ${res.statusCode}; cookies set: ${JSON.stringify(res.headers['set-cookie'])}`)
      delete jar.cookies[SESSION_COOKIE] // and after a browser restart
      assert.equal((await jar.get('/me')).json().user, null, 'the remember cookie brings the user back')
    })

    for (const remember of [false, true]) {
      test(`loginUser(${remember ? '{ remember: true }' : ''}): a 2xx means the next request is logged in; else a 5xx and a log line naming loginUser`, async (t) => {
        const { app, logs } = await forgetfulApp(t, makeStore())
        const jar = createJar(app)
        const res = await jar.post('/login-forgetful', { id: 1, remember })
        await settle()
        if (res.statusCode < 300) {
          assert.equal((await jar.get('/me')).json().user?.id, 1, `a ${res.statusCode} without the login`)
          if (remember) {
            delete jar.cookies[SESSION_COOKIE]
            assert.equal((await jar.get('/me')).json().user?.id, 1, 'a 2xx without the remember cookie')
          }
        } else {
          assert.ok(res.statusCode >= 500, `${res.statusCode} ${res.body}`)
          assert.ok(namesTheCall(logs, 'loginUser'), 'a log line names loginUser')
        }
      })
    }

    test('confirmLogin(): a 2xx means the login is fresh on the next request; else a 5xx and a log line naming confirmLogin', async (t) => {
      const { app, logs } = await forgetfulApp(t, makeStore())
      const jar = createJar(app)
      await jar.post('/login', { id: 1, fresh: false })
      assert.equal((await jar.get('/fresh')).statusCode, 401)
      const res = await jar.post('/confirm-forgetful', {})
      await settle()
      if (res.statusCode < 300) {
        assert.equal((await jar.get('/fresh')).statusCode, 200, `a ${res.statusCode} without the confirmation`)
      } else {
        assert.ok(res.statusCode >= 500, `${res.statusCode} ${res.body}`)
        assert.ok(namesTheCall(logs, 'confirmLogin'), 'a log line names confirmLogin')
      }
    })
  })
}
