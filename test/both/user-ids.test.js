'use strict'

// User ids are compared as the strings the app gave (README "The login registry"): two
// different ids never share a record, a key or a remember cookie. A string that is
// not well-formed UTF-16 (a lone surrogate) has no exact UTF-8 form: Redis, a JSON
// store or an encrypted cookie would turn '\ud800' and '\udbff' into the same bytes,
// so one user could end or read the other's login. `loginUser` refuses such ids with
// FST_LOGIN_INVALID, with and without the registry. On the memory registry store and
// the stateless remember cookie; the Redis store is in test/registry-redis-hardening.test.js.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const REMEMBER = 'remember_token'

/** Every id is a user: the loader hands back exactly the id it was given. */
const ANY_USER = { get: (id) => ({ id, username: `user ${id}` }) }

/** Ill-formed UTF-16: lone high and low surrogates, alone, inside text, and a pair in the wrong order. */
const ILL_FORMED = ['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud800b', 'user-\udbff', '\ude00\ud83d']

/** Well-formed ids that differ, though some encoding or normalisation would merge them. */
const DISTINCT_PAIRS = [
  ['\ud83d\ude00', '\ud83d\ude01'], // two emoji sharing their high surrogate
  ['\u00e9', 'e\u0301'], // é precomposed and decomposed (NFC and NFD)
  ['\ufffd', '\ufffd\ufffd'], // the replacement character a lone surrogate would become
  ['1', '01']
]

const CONFIGURATIONS = {
  'with the login registry': { registry: true, login: () => ({ remember: { secret: REMEMBER_SECRET }, logins: { store: new MemoryLoginStore() } }) },
  'without the registry': { registry: false, login: () => ({ remember: { secret: REMEMBER_SECRET } }) }
}

/** An id as test names show it: every character outside printable ASCII as its \u escape. */
const show = (id) => `'${id.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`

async function app (t, login) {
  const app = await buildApp({
    users: ANY_USER,
    login,
    routes: (app) => app.get('/whoami', async (request) => ({ user: request.user?.id ?? null }))
  })
  t.after(() => app.close())
  return app
}

for (const [label, { registry, login }] of Object.entries(CONFIGURATIONS)) {
  describe(`ill-formed user ids are refused at loginUser, ${label}`, () => {
    for (const id of ILL_FORMED) {
      test(`${show(id)}: loginUser rejects with FST_LOGIN_INVALID, nobody is logged in`, async (t) => {
        const server = await app(t, login())
        const browser = createJar(server)
        const res = await browser.post('/login', { id, remember: true })
        assert.equal(res.statusCode, 500, `loginUser accepted ${show(id)}: ${res.body}`)
        assert.equal(res.json().code, 'FST_LOGIN_INVALID')
        assert.equal(browser.cookies[REMEMBER], undefined, 'no remember cookie')
        assert.equal((await browser.get('/whoami')).json().user, null, 'no login in the session')
      })
    }
  })

  describe(`well-formed ids that differ stay apart, ${label}`, () => {
    for (const [first, second] of DISTINCT_PAIRS) {
      test(`${show(first)} and ${show(second)}: each browser is its own user, before and after a restore`, async (t) => {
        const server = await app(t, login())
        const one = createJar(server)
        const two = createJar(server)
        assert.equal((await one.post('/login', { id: first, remember: true })).statusCode, 200)
        assert.equal((await two.post('/login', { id: second, remember: true })).statusCode, 200)
        assert.equal((await one.get('/whoami')).json().user, first)
        assert.equal((await two.get('/whoami')).json().user, second)
        delete one.cookies[SESSION_COOKIE]
        delete two.cookies[SESSION_COOKIE]
        assert.equal((await one.get('/whoami')).json().user, first, 'the remember cookie restores the exact id')
        assert.equal((await two.get('/whoami')).json().user, second)
        if (!registry) return

        assert.equal((await server.loginManager.listLogins(first)).length, 1, 'each user lists only its own login')
        assert.equal((await server.loginManager.listLogins(second)).length, 1)
        await server.loginManager.revokeLogins(first)
        assert.equal((await one.get('/whoami')).json().user, null, 'revoking the first ends its login')
        assert.equal((await two.get('/whoami')).json().user, second, '...and not the second')
      })
    }
  })
}
