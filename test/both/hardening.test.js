'use strict'

// What an adversarial review of the plugin broke, each case as the attacker or the
// unlucky user meets it: refresh minting remember cookies, read-only requests that
// write the session, loader and callback answers of the wrong kind, remember cookies
// no browser keeps, cookie names on Object.prototype, `exclude` spelled another way,
// custom refusal handlers, dot segments, content negotiation, and the caching of a
// `strong` protection hit. On the run's session plugin; the custom refusal handlers on
// an async store are in test/stored-sessions.test.js.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, setCookies, isCleared, holdsNoLogin, USERS, REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE } = require('../helper')
const { JsonStore } = require('../support/json-store')
const { refusalHandlerTests } = require('../support/refusal-handlers')
const { isSafeRedirect } = require('fastify-login')

const REMEMBER = 'remember_token'
const UA_A = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'
const UA_B = 'Mozilla/5.0 (Macintosh) Safari/17.0'
const ua = (agent) => ({ 'user-agent': agent })

const rememberCookieOf = (res) => setCookies(res).find((c) => c.name === REMEMBER)

/** Logs user `id` in with a remember cookie in a fresh jar; returns the jar and that cookie's value. */
async function rememberedLogin (app, id = 1) {
  const jar = createJar(app)
  const res = await jar.post('/login', { id, remember: true })
  assert.equal(res.statusCode, 200)
  const cookie = jar.cookies[REMEMBER]
  assert.ok(cookie, 'the login set a remember cookie')
  return { jar, cookie }
}

/** A request with only `cookie` as the remember cookie: who does it log in? */
async function whoRemembers (app, cookie) {
  const res = await app.inject({ url: '/me', cookies: { [REMEMBER]: cookie } })
  return res.json().user?.id ?? null
}

describe('remember.refresh never mints a remember cookie', () => {
  const login = { remember: { secret: REMEMBER_SECRET, refresh: true } }

  for (const value of ['x', '1.abc.def', '']) {
    test(`a session login plus ${JSON.stringify(value)} under the cookie name: rejected and cleared, nothing issued`, async (t) => {
      const app = await buildApp({ login })
      t.after(() => app.close())
      const rejected = []
      app.loginManager.on('rememberRejected', (request, reason) => rejected.push(reason))
      const jar = createJar(app)
      await jar.post('/login', { id: 1 })
      assert.equal(jar.cookies[REMEMBER], undefined, 'a login without remember has no remember cookie')

      jar.cookies[REMEMBER] = value
      const res = await jar.get('/me')
      assert.equal(res.json().user?.id, 1, 'the session login stands')
      const cookie = rememberCookieOf(res)
      if (value !== '') {
        assert.ok(cookie && isCleared(cookie), `the value is cleared, got ${JSON.stringify(res.headers['set-cookie'])}`)
        assert.equal(rejected.length, 1)
      } else {
        assert.ok(cookie === undefined || isCleared(cookie), 'an empty value is never extended')
      }
      // Whatever came back, it does not log anyone in once the session is gone.
      if (cookie && !isCleared(cookie)) assert.equal(await whoRemembers(app, cookie.value), null)
    })
  }

  test("a valid cookie of another user is rejected, not extended into the session user's", async (t) => {
    const app = await buildApp({ login })
    t.after(() => app.close())
    const { cookie: cookieOf2 } = await rememberedLogin(app, 2)
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    jar.cookies[REMEMBER] = cookieOf2
    const res = await jar.get('/me')
    assert.equal(res.json().user?.id, 1)
    const cookie = rememberCookieOf(res)
    assert.ok(cookie && isCleared(cookie), 'cleared')
  })

  test('an expired cookie of the same user is rejected, not extended', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const app = await buildApp({ login })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1, remember: true, maxAge: 1000 })
    const expired = jar.cookies[REMEMBER]
    t.mock.timers.tick(2100) // whole-second expiry: past it whatever the rounding
    jar.cookies[REMEMBER] = expired
    const res = await jar.get('/me')
    assert.equal(res.json().user?.id, 1)
    const cookie = rememberCookieOf(res)
    assert.ok(cookie && isCleared(cookie), 'an expired cookie is cleared, never extended')
  })

  test('a cookie of an older authVersion is rejected, not extended', async (t) => {
    const versions = new Map([['1', 'v1']])
    const app = await buildApp({ login: { ...login, authVersion: (user) => versions.get(String(user.id)) ?? 'v0' } })
    t.after(() => app.close())
    const { cookie: old } = await rememberedLogin(app, 1)
    versions.set('1', 'v2')
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    jar.cookies[REMEMBER] = old
    const res = await jar.get('/me')
    const cookie = rememberCookieOf(res)
    assert.ok(cookie && isCleared(cookie))
  })

  test('the genuine cookie of the session user is extended, and still works', async (t) => {
    const app = await buildApp({ login })
    t.after(() => app.close())
    const { jar, cookie } = await rememberedLogin(app, 1)
    const res = await jar.get('/me')
    const extended = rememberCookieOf(res)
    assert.ok(extended && !isCleared(extended), 'extended')
    assert.notEqual(extended.value, cookie)
    assert.equal(await whoRemembers(app, extended.value), 1)
  })
})

describe('a request that only reads a login writes nothing', () => {
  test('under rolling: false, logged-in reads cause no store write, with a matching or another User-Agent', async (t) => {
    // The store is @fastify/session's ('secure' ignores it: its session is the cookie,
    // so there "no write" is no Set-Cookie, asserted for both below).
    const store = new JsonStore()
    const app = await buildApp({ store, session: { rolling: false } })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
    const sets = store.calls.set
    for (const agent of [UA_A, UA_B, UA_A, UA_B]) {
      const res = await jar.get({ url: '/me', headers: ua(agent) })
      assert.equal(res.json().user?.id, 1)
      assert.equal(res.json().fresh, agent === UA_A, 'not fresh only for the other client')
      assert.equal(res.headers['set-cookie'], undefined, 'no cookie sent back')
    }
    if (SESSION_KIND === 'stored') assert.equal(store.calls.set, sets, 'the store was not written')
  })

  test("'basic': the client whose fingerprint matches stays fresh after another client was seen", async (t) => {
    const app = await buildApp()
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
    assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_B) })).statusCode, 401)
    assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_A) })).statusCode, 200)
  })

  test('a slow request from another User-Agent, in flight across a logout, cannot bring the session back', async (t) => {
    const store = new JsonStore()
    let release
    const held = new Promise((resolve) => { release = resolve })
    let running
    const inHandler = new Promise((resolve) => { running = resolve })
    const app = await buildApp({
      store,
      session: { rolling: false },
      routes: (app) => app.get('/slow', async (request) => { running(); await held; return { user: request.user } })
    })
    t.after(() => app.close())
    const victim = createJar(app)
    await victim.post('/login', { id: 1 }, { headers: ua(UA_A) })
    const stolen = victim.cookies[SESSION_COOKIE]

    // The thief's slow request, under another User-Agent: a 'basic' hit.
    const slow = app.inject({ url: '/slow', headers: { ...ua(UA_B) }, cookies: { [SESSION_COOKIE]: stolen } })
    await inHandler // it has loaded its login and waits
    const out = await victim.post('/logout', {}, { headers: ua(UA_A) })
    assert.ok(holdsNoLogin(app, setCookies(out).find((c) => c.name === SESSION_COOKIE)), 'the victim\'s session cookie holds no login')
    release()
    const slowRes = await slow
    assert.equal(slowRes.json().user?.id, 1, 'the slow request began logged in')
    assert.equal(setCookies(slowRes).find((c) => c.name === SESSION_COOKIE), undefined, 'the slow request writes no session back')

    if (SESSION_KIND === 'stored') assert.equal(store.session(stolen), undefined, 'the old session is not back in the store')
    const replay = await app.inject({ url: '/me', headers: { ...ua(UA_B) }, cookies: { [SESSION_COOKIE]: stolen } })
    if (SESSION_KIND === 'stored') {
      assert.equal(replay.json().user, null, 'the stolen cookie is logged out')
    } else {
      // The documented limit of a stateless session: a logout cannot kill a copy of the
      // cookie; the stolen one is still logged in, never fresh from the thief's browser
      // ('basic'). Only an authVersion change (or 'strong') ends it.
      assert.equal(replay.json().user?.id, 1)
      assert.equal(replay.json().fresh, false)
    }
  })
})

describe('loader answers that are not users', () => {
  test('an empty array is nobody: anonymous, and the guard refuses', async (t) => {
    let answer = USERS.get('1')
    const app = await buildApp({ login: { loadUser: async () => answer } })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    answer = []
    assert.equal((await jar.get('/me')).json().user, null)
    assert.equal((await jar.get('/private')).statusCode, 401)
  })

  test('a returned Error is a loader failure: 500 FST_LOGIN_CALLBACK, never a login, the message not in the body', async (t) => {
    let answer = USERS.get('1')
    const app = await buildApp({ login: { loadUser: async () => answer } })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    answer = new Error('connection to db-secret-host refused')
    const res = await jar.get('/private')
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
    assert.ok(!res.body.includes('db-secret-host'))
  })
})

describe('user callbacks that answer the wrong type fail closed', () => {
  const cases = [
    ['isActive', async () => false, /isActive/, /Promise/],
    ['isActive', () => 'no', /isActive/, /string/],
    ['authVersion', async () => 'v1', /authVersion/, /Promise/],
    ['authVersion', () => ({ v: 1 }), /authVersion/, /object/],
    ['getUserId', async (user) => user.id, /getUserId/, /Promise/],
    ['getUserId', () => ({ id: 1 }), /getUserId/, /object/]
  ]
  for (const [name, callback, names, says] of cases) {
    test(`${name} answering ${says.source === 'Promise' ? 'a Promise' : 'a ' + says.source}: 500 at loginUser naming it, nobody logged in`, async (t) => {
      const seen = []
      const app = await buildApp({
        login: { [name]: callback },
        routes: (app) => app.setErrorHandler((error, request, reply) => {
          seen.push(error)
          reply.send(error)
        })
      })
      t.after(() => app.close())
      const jar = createJar(app)
      const res = await jar.post('/login', { id: 1 })
      assert.equal(res.statusCode, 500)
      assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
      assert.match(seen[0].message, names)
      assert.match(seen[0].message, says)
      assert.equal((await jar.get('/me')).json().user, null)
    })
  }

  test('an authVersion that turns async after login fails the logged-in request, never lets it through', async (t) => {
    let version = () => 'v1'
    const app = await buildApp({ login: { authVersion: (user) => version(user) } })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    version = async () => 'v1'
    const res = await jar.get('/private')
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
  })
})

describe('a remember cookie no browser would keep', () => {
  test('a user id that makes the cookie longer than 4 KB: loginUser throws FST_LOGIN_INVALID naming the limit, nothing logged in', async (t) => {
    const long = { id: 'x'.repeat(4000), username: 'long' }
    const users = new Map([...USERS, [long.id, long]])
    const seen = []
    const app = await buildApp({
      users,
      login: { remember: { secret: REMEMBER_SECRET } },
      routes: (app) => app.setErrorHandler((error, request, reply) => {
        seen.push(error)
        reply.send(error)
      })
    })
    t.after(() => app.close())
    const jar = createJar(app)
    const res = await jar.post('/login', { id: long.id, remember: true })
    assert.equal(res.statusCode, 500)
    assert.equal(seen[0].code, 'FST_LOGIN_INVALID')
    assert.match(seen[0].message, /4096/)
    assert.equal(jar.cookies[REMEMBER], undefined)
    assert.equal((await jar.get('/me')).json().user, null, 'the login did not happen')
    // The same id without remember-me logs in.
    assert.equal((await jar.post('/login', { id: long.id })).json().ok, true)
  })
})

describe('cookie names that are also Object.prototype keys', () => {
  for (const cookieName of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    test(`cookieName ${cookieName}: an anonymous request without cookies is untouched`, async (t) => {
      const app = await buildApp({ login: { remember: { secret: REMEMBER_SECRET, cookieName } } })
      t.after(() => app.close())
      const rejected = []
      app.loginManager.on('rememberRejected', (request, reason) => rejected.push(reason))
      const res = await app.inject('/me')
      assert.equal(res.json().user, null)
      assert.equal(res.headers['set-cookie'], undefined)
      assert.deepEqual(rejected, [])
    })
  }

  test('cookieName constructor still works as a remember cookie', async (t) => {
    const app = await buildApp({ login: { remember: { secret: REMEMBER_SECRET, cookieName: 'constructor' } } })
    t.after(() => app.close())
    const login = await app.inject({ method: 'POST', url: '/login', payload: { id: 1, remember: true } })
    // Read from the header itself: res.cookies (set-cookie-parser) drops a cookie named
    // `constructor`, while a browser keeps it like any other.
    const line = [].concat(login.headers['set-cookie']).find((l) => l.startsWith('constructor='))
    assert.ok(line, `the remember cookie is set: ${login.headers['set-cookie']}`)
    const res = await app.inject({ url: '/me', headers: { cookie: line.slice(0, line.indexOf(';')) } })
    assert.equal(res.json().user?.id, 1)
  })
})

describe('exclude matches the path the router matches', () => {
  async function setup (fastify = {}) {
    const calls = []
    const app = await buildApp({
      fastify,
      login: {
        exclude: ['/static'],
        loadUser: async (id) => { calls.push(id); return USERS.get(id) ?? null },
        remember: { secret: REMEMBER_SECRET }
      },
      routes: (app) => app.get('/static/me', async (request) => ({ user: request.user }))
    })
    const { cookie } = await rememberedLogin(app, 1)
    calls.length = 0
    return { app, calls, cookie }
  }

  test('a percent-encoded spelling (/%73tatic/me) is excluded: no user, no loader call, no session written', async (t) => {
    const { app, calls, cookie } = await setup()
    t.after(() => app.close())
    for (const url of ['/static/me', '/%73tatic/me', '/%73%74atic/me?x=1']) {
      const res = await app.inject({ url, cookies: { [REMEMBER]: cookie } })
      assert.equal(res.statusCode, 200, url)
      assert.equal(res.json().user, null, url)
      assert.equal(res.headers['set-cookie'], undefined, `${url}: nothing written`)
    }
    assert.deepEqual(calls, [])
  })

  test('with ignoreTrailingSlash, ignoreDuplicateSlashes and caseSensitive: false, the other spellings the router accepts are excluded too', async (t) => {
    const { app, calls, cookie } = await setup({ routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, caseSensitive: false } })
    t.after(() => app.close())
    for (const url of ['/static/me/', '//static//me', '/STATIC/me', '/Static/ME']) {
      const res = await app.inject({ url, cookies: { [REMEMBER]: cookie } })
      assert.equal(res.statusCode, 200, url)
      assert.equal(res.json().user, null, url)
    }
    assert.deepEqual(calls, [])
    // A path outside the prefix still loads the user.
    assert.equal((await app.inject({ url: '/me', cookies: { [REMEMBER]: cookie } })).json().user?.id, 1)
  })
})

describe('custom refusal handlers give the same response with every session', () => {
  // The run's session: @fastify/session's memory store or @fastify/secure-session's
  // cookie. The same tests on an async store are in test/stored-sessions.test.js.
  refusalHandlerTests(SESSION_KIND === 'stored' ? 'memory store' : 'secure-session cookie', () => ({}))
})

describe('isSafeRedirect and dot segments', () => {
  test('paths that resolve to //host or /\\host are not safe', () => {
    for (const url of ['/.//evil.com', '/..//evil.com', '/a/..//evil.com', '/././/evil.com', '/%2e//evil.com',
      '/%2E%2E//evil.com', '/.%2f/evil.com', '/a/b/../..//evil.com', '/./\\evil.com', '/x/.././/evil.com']) {
      assert.equal(isSafeRedirect(url), false, url)
    }
  })

  test('dot segments that stay on the site are still safe', () => {
    for (const url of ['/a/../b', '/./account', '/a/./b/', '/..', '/a/..', '/%2e%2e/b']) {
      assert.equal(isSafeRedirect(url), true, url)
    }
  })

  test('redirectAfterLogin does not follow next=/.//evil.com', async (t) => {
    const app = await buildApp({
      routes: (app) => app.post('/in', async (request, reply) => {
        await reply.loginUser(USERS.get('1'))
        return reply.redirectAfterLogin('/home')
      })
    })
    t.after(() => app.close())
    const res = await app.inject({ method: 'POST', url: '/in?next=' + encodeURIComponent('/.//evil.com') })
    assert.equal(res.headers.location, '/home')
  })
})

describe('content negotiation of the guards', () => {
  const cases = [
    ['text/html', 302],
    ['TEXT/HTML', 302],
    ['Text/Html;q=0.9', 302],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 302],
    ['text/*', 302],
    ['text/html;q=0', 401],
    ['text/html;q=0, */*', 401],
    ['application/json, text/html;q=0.5', 401],
    ['*/*', 401],
    ['application/json', 401],
    [undefined, 401]
  ]
  for (const [accept, status] of cases) {
    test(`Accept: ${accept ?? '(none)'} -> ${status}`, async (t) => {
      const app = await buildApp({ login: { loginUrl: '/login' } })
      t.after(() => app.close())
      const res = await app.inject({ url: '/private', headers: accept === undefined ? {} : { accept } })
      assert.equal(res.statusCode, status)
      if (status === 302) assert.equal(res.headers.location, '/login?next=%2Fprivate')
      else assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')
    })
  }
})

describe("a 'strong' protection hit", () => {
  for (const remember of [false, true]) {
    test(`its response is not cacheable (${remember ? 'with' : 'without'} remember-me)`, async (t) => {
      const app = await buildApp({
        login: { sessionProtection: 'strong', ...(remember ? { remember: { secret: REMEMBER_SECRET } } : {}) }
      })
      t.after(() => app.close())
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
      const res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.json().user, null)
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.match(String(res.headers.vary), /cookie/i)
    })
  }
})

describe('a login state in the session that is not one of ours', () => {
  test('malformed values under the login key are no login, never a 5xx', async (t) => {
    const app = await buildApp()
    t.after(() => app.close())
    const malformed = [
      '', '1', 'a.b.c.d', '2.', '2....1', '1.....1', // not format 2, or too few fields
      '2....F.1', // a tag without its time
      '2....1.1', // a time without its tag
      '2....Fzzzzzzzzzzz.1', // a time of more than ten digits
      '2....X1.1', '2....f1.1', '2....F-1.1', // an unknown tag
      '2....F1F2.1', '2....S1I2S3.1', // a time given twice
      '2....R0.1' // a remember lifetime of nothing
    ]
    for (const value of [...malformed, 42, true, ['1'], { id: '1' }, null]) {
      const jar = createJar(app)
      await jar.post('/session/_login', { value })
      const res = await jar.get('/private')
      assert.equal(res.statusCode, 401, `${JSON.stringify(value)} is not a login`)
    }
  })

  test('a well-formed state is a login: the format the malformed values above break', async (t) => {
    const dotted = { id: 'a.b', username: 'dotted' }
    const app = await buildApp({ login: { sessionProtection: false }, users: new Map([...USERS, ['a.b', dotted]]) })
    t.after(() => app.close())
    for (const [value, username] of [['2.....1', 'user1'], ['2....F1S2I3R4.2', 'user2'], ['2.....a.b', 'dotted']]) {
      const jar = createJar(app)
      await jar.post('/session/_login', { value })
      assert.equal((await jar.get('/me')).json().user?.username, username, `${value} is the login of ${username}`)
    }
  })

  test('the well-formed state of another fingerprint is a login only for that client', async (t) => {
    const app = await buildApp({ login: { sessionProtection: 'strong' } })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/session/_login', { value: '2.notthefingerprin....1' })
    assert.equal((await jar.get('/me')).json().user, null, 'a planted state with a wrong fingerprint is logged out')
  })
})
