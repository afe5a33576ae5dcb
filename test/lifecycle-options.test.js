'use strict'

// The session lifecycle's options (idleTimeout, absoluteTimeout, freshFor,
// loginEndedMessage, canImpersonate, logins.*, loginGuard's freshFor, impersonate's
// maxAge): a bad value fails at registration (or at the call, for a call's own
// options) with an error that names it; the bounds themselves register.
// options.test.js has the rest of the options.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, USERS } = require('./helper')
const { registrationError } = require('./support/stores')

const loadUser = async (id) => USERS.get(id) ?? null
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

/** Each of `values` under `name` (a path like 'logins.maxPerUser') fails with FST_LOGIN_OPTION, naming `names`. */
async function assertEachRejected (name, values, names) {
  for (const value of values) {
    const error = await registrationError(withOption({ loadUser }, name, value))
    const what = `${name}: ${show(value)}`
    assert.ok(error instanceof Error, `${what} must fail registration, it registered`)
    assert.equal(error.code, 'FST_LOGIN_OPTION', `${what}: ${error.message}`)
    assert.match(error.message, names, `${what}: the message names the option`)
  }
}

async function assertEachAccepted (name, values) {
  for (const value of values) {
    const error = await registrationError(withOption({ loadUser }, name, value))
    assert.equal(error, null, `${name}: ${show(value)} registers (${error?.message})`)
  }
}

function withOption (options, name, value) {
  const [first, second] = name.split('.')
  return second === undefined ? { ...options, [first]: value } : { ...options, [first]: { [second]: value } }
}

function show (value) {
  return typeof value === 'function' ? 'a function' : typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value)
}

const NOT_DURATIONS = [-1, 0.5, 1000.5, Number.NaN, Infinity, '60000', null, true, {}, 401 * DAY]

describe('the lifecycle options are checked at registration, naming the option', () => {
  test('idleTimeout: whole milliseconds from one minute to 400 days', async () => {
    await assertEachRejected('idleTimeout', [...NOT_DURATIONS, 0, MINUTE - 1], /idleTimeout.*one minute/)
    await assertEachAccepted('idleTimeout', [MINUTE, 400 * DAY])
  })

  test('absoluteTimeout and freshFor: whole milliseconds from one second to 400 days', async () => {
    for (const name of ['absoluteTimeout', 'freshFor']) {
      await assertEachRejected(name, [...NOT_DURATIONS, 0, 999], new RegExp(`${name}.*one second`))
      await assertEachAccepted(name, [1000, 400 * DAY])
    }
  })

  test('loginEndedMessage: a non-empty string', async () => {
    await assertEachRejected('loginEndedMessage', ['', 42, ['You were logged out'], null], /loginEndedMessage/)
  })

  test('canImpersonate: a function', async () => {
    await assertEachRejected('canImpersonate', [true, 'staff', {}, null], /canImpersonate/)
  })

  test('logins.maxPerUser: a whole number from 1 to 1000', async () => {
    await assertEachRejected('logins.maxPerUser', [0, -1, 1.5, 1001, '10', null, Number.NaN], /logins\.maxPerUser/)
    await assertEachAccepted('logins.maxPerUser', [1, 1000])
  })

  test("logins.onLimit: 'evict-oldest' or 'reject'", async () => {
    await assertEachRejected('logins.onLimit', ['evict', 'REJECT', '', true, null], /logins\.onLimit/)
    await assertEachAccepted('logins.onLimit', ['evict-oldest', 'reject'])
  })

  test('logins.keepEndedFor: whole milliseconds from 0 to 400 days', async () => {
    await assertEachRejected('logins.keepEndedFor', [-1, 1.5, 401 * DAY, '0', null], /logins\.keepEndedFor/)
    await assertEachAccepted('logins.keepEndedFor', [0, 400 * DAY])
  })

  test('logins.describeDevice: a function', async () => {
    await assertEachRejected('logins.describeDevice', ['ua-parser', {}, true, null], /logins\.describeDevice/)
  })

  test('logins.graceMs: whole milliseconds from 0 to one minute', async () => {
    await assertEachRejected('logins.graceMs', [-1, 0.5, MINUTE + 1, '5000', null], /logins\.graceMs/)
    await assertEachAccepted('logins.graceMs', [0, MINUTE])
  })

  test('logins: an object or a boolean, its unknown keys named; logins.idleTimeout says where it moved', async () => {
    await assertEachRejected('logins', ['yes', 1], /logins/)
    await assertEachRejected('logins.maxLogins', [10], /unknown option logins\.maxLogins/)
    await assertEachRejected('logins.idleTimeout', [MINUTE], /logins\.idleTimeout is now the top-level idleTimeout/)
    await assertEachRejected('logins.store', [{}, { getLogin () {} }, 'redis', null], /logins\.store/)
  })

  test('loginEndedMessage without @fastify/flash fails at start-up (FST_LOGIN_SETUP), naming it', async () => {
    const error = await registrationError({ loadUser, loginUrl: '/login', loginEndedMessage: 'You were logged out.' })
    assert.equal(error?.code, 'FST_LOGIN_SETUP')
    assert.match(error.message, /loginEndedMessage/)
    assert.match(error.message, /@fastify\/flash/)
    const withFlash = await registrationError({ loadUser, loginUrl: '/login', loginEndedMessage: 'You were logged out.' }, (app) => app.register(require('@fastify/flash')))
    assert.equal(withFlash, null)
  })
})

describe("a call's own lifecycle options are checked when it is made", () => {
  test('loginGuard: freshFor in whole milliseconds from one second, fresh a boolean', async () => {
    const app = await buildApp()
    try {
      for (const freshFor of [999, 0, 1.5, '60000', null]) {
        assert.throws(() => app.loginGuard({ fresh: true, freshFor }), { code: 'FST_LOGIN_OPTION', message: /loginGuard\.freshFor/ })
      }
      assert.throws(() => app.loginGuard({ fresh: 'yes' }), { code: 'FST_LOGIN_OPTION', message: /loginGuard\.fresh/ })
      assert.equal(typeof app.loginGuard({ fresh: true, freshFor: 1000 }), 'function')
    } finally {
      await app.close()
    }
  })

  test('impersonate: maxAge in whole milliseconds from one second to 400 days, else 500 FST_LOGIN_INVALID naming it, nothing changed', async (t) => {
    const app = await buildApp({
      login: { canImpersonate: () => true },
      routes: (app) => app.post('/impersonate', async (request, reply) => {
        await reply.impersonate(USERS.get('2'), { maxAge: request.body.maxAge })
        return { user: request.user.id }
      })
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    for (const maxAge of [0, 999, 1.5, -1000, '3600000', null, 401 * DAY]) {
      const res = await jar.post('/impersonate', { maxAge })
      assert.equal(res.statusCode, 500, `maxAge ${show(maxAge)}`)
      assert.equal(res.json().code, 'FST_LOGIN_INVALID')
      assert.match(res.json().message, /maxAge/)
      assert.equal((await jar.get('/me')).json().user.id, 1)
    }
    assert.deepEqual((await jar.post('/impersonate', { maxAge: 1000 })).json(), { user: 2 })
  })
})
