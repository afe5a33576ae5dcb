'use strict'

// The login registry on a real redis-server, where Redis itself changes the rules:
// keys and values are bytes, so a user id that is not well-formed UTF-16 ('\ud800',
// '\udbff') reaches Redis as the same bytes as another. The contract (README "The
// login registry"): "two different ids never share a record or a key (lone surrogates and
// other ill-formed strings are refused at loginUser, not merged)", and "The grace
// window is bounded both ways: a rotation time in the future (clock skew) is never
// inside it", which the Redis scripts must honour as the memory store does.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { createClient } = require('redis')
const { RedisLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, REMEMBER_SECRET } = require('./helper')
const { startRedis, skipWithoutRedis, hasRedisServer } = require('./support/redis')

const SESSION_COOKIE = 'sessionId'
const REMEMBER = 'remember_token'
const GRACE_MS = 5000
const MINUTE = 60 * 1000

/** An id as test names show it: every character outside printable ASCII as its \u escape. */
const show = (id) => `'${id.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`

/** Every id is a user: the loader hands back exactly the id it was given. */
const ANY_USER = { get: (id) => ({ id, username: `user ${id}` }) }

test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

describe('the login registry on Redis', { skip: skipWithoutRedis() }, () => {
  let server
  let client
  let prefixes = 0

  before(async () => {
    server = await startRedis()
    client = createClient({ url: server.url })
    client.on('error', () => {})
    await client.connect()
  })

  after(async () => {
    if (client?.isOpen) client.destroy()
    if (server) await server.stop()
  })

  /** An app whose registry lives in Redis under a prefix of its own (the tests share one server). */
  async function redisApp (t) {
    const events = { theft: [] }
    const prefix = `hardening-${++prefixes}:`
    const app = await buildApp({
      users: ANY_USER,
      login: {
        remember: { secret: REMEMBER_SECRET },
        logins: { store: new RedisLoginStore({ client, prefix }), graceMs: GRACE_MS }
      },
      routes: (app) => app.get('/whoami', async (request) => ({ user: request.user?.id ?? null, loginId: request.loginId }))
    })
    app.loginManager.on('rememberTheft', (request, userId) => events.theft.push(userId))
    t.after(() => app.close())
    return { app, events, prefix }
  }

  describe('user ids', () => {
    for (const id of ['\ud800', '\udbff', 'a\udc00', '\ude00\ud83d']) {
      test(`the ill-formed id ${show(id)}: loginUser rejects with FST_LOGIN_INVALID, nothing reaches Redis`, async (t) => {
        const { app, prefix } = await redisApp(t)
        const browser = createJar(app)
        const res = await browser.post('/login', { id, remember: true })
        assert.equal(res.statusCode, 500, `loginUser accepted it: ${res.body}`)
        assert.equal(res.json().code, 'FST_LOGIN_INVALID')
        assert.equal((await browser.get('/whoami')).json().user, null)
        assert.deepEqual(await client.keys(`${prefix}*`), [], 'no key was written')
      })
    }

    // As UTF-8 bytes, every lone surrogate is the bytes of U+FFFD: a store that keyed users by
    // their bytes would give '\ud800' the logins of the user '\ufffd'.
    test("'\\ud800' (as a form would send it) can neither list nor end the login of '\\ufffd', whose bytes it would share", async (t) => {
      const { app } = await redisApp(t)
      const browser = createJar(app)
      assert.equal((await browser.post('/login', { id: '\ufffd' })).statusCode, 200)
      const { user, loginId } = (await browser.get('/whoami')).json()
      assert.equal(user, '\ufffd')

      const listed = await app.loginManager.listLogins('\ud800').then((logins) => logins.map((login) => login.id), () => [])
      assert.ok(!listed.includes(loginId), "'\\ud800' lists the login of '\\ufffd'")
      await app.loginManager.revokeLogin('\ud800', loginId).catch(() => {})
      await app.loginManager.revokeLogins('\ud800').catch(() => {})
      assert.equal((await browser.get('/whoami')).json().user, '\ufffd', "'\\ud800' ended the login of '\\ufffd'")
      assert.deepEqual((await app.loginManager.listLogins('\ufffd')).map((login) => login.id), [loginId])
    })

    const pairs = [['\ud83d\ude00', '\ud83d\ude01'], ['\u00e9', 'e\u0301'], ['\ufffd', '\ufffd\ufffd'], ['a', 'a:'], ['1', '01']]
    for (const [first, second] of pairs) {
      test(`the well-formed ids ${show(first)} and ${show(second)} stay apart: listed, restored and revoked on their own`, async (t) => {
        const { app } = await redisApp(t)
        const one = createJar(app)
        const two = createJar(app)
        assert.equal((await one.post('/login', { id: first, remember: true })).statusCode, 200)
        assert.equal((await two.post('/login', { id: second, remember: true })).statusCode, 200)
        assert.equal((await app.loginManager.listLogins(first)).length, 1)
        assert.equal((await app.loginManager.listLogins(second)).length, 1)
        delete one.cookies[SESSION_COOKIE]
        assert.equal((await one.get('/whoami')).json().user, first, 'the remember token restores the exact id')
        await app.loginManager.revokeLogins(first)
        assert.equal((await one.get('/whoami')).json().user, null)
        assert.equal((await two.get('/whoami')).json().user, second, 'the other user is still logged in')
      })
    }
  })

  test('a rotation stamped in the future (the instance that rotated ran ahead) does not put a copy inside the grace window', async (t) => {
    const start = Date.now()
    t.mock.timers.enable({ apis: ['Date'], now: start })
    const { app, events } = await redisApp(t)
    const victim = createJar(app)
    await victim.post('/login', { id: '1', remember: true })
    const copy = victim.cookies[REMEMBER]

    t.mock.timers.setTime(start + 10 * MINUTE)
    delete victim.cookies[SESSION_COOKIE]
    assert.equal((await victim.get('/whoami')).json().user, '1')
    assert.notEqual(victim.cookies[REMEMBER], copy, 'the restore rotated the token')

    t.mock.timers.setTime(start + MINUTE)
    const res = await app.inject({ url: '/whoami', headers: { cookie: `${REMEMBER}=${copy}` } })
    assert.equal(res.json().user, null, 'the copy does not log in')
    assert.deepEqual(events.theft, ['1'], 'it is caught as a copied cookie')
    assert.ok(isCleared(setCookies(res).find((c) => c.name === REMEMBER)))
  })
})
