'use strict'

// The login registry (`logins`), on the memory store: every login has a record, a
// user can see and end each one, and remember-me is a rotating token that catches a
// copied cookie. The same behaviour on Redis, across two instances, is in
// test/registry-redis.test.js.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fc = require('fast-check')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, USERS, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const REMEMBER = 'remember_token'
const UA_A = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'

/** An app with the registry on a memory store the test can reach, and its events. */
async function setup ({ login = {}, routes, store = new MemoryLoginStore(), session, sessionStore } = {}) {
  const events = { theft: [], rejected: [], restored: 0 }
  const app = await buildApp({
    session,
    store: sessionStore,
    login: { logins: { store, graceMs: 300 }, remember: { secret: REMEMBER_SECRET }, ...login },
    routes: async (app) => {
      app.get('/logins', { preHandler: app.loginRequired }, async (request) => ({
        current: request.loginId,
        logins: await app.loginManager.listLogins(request.user.id)
      }))
      app.post('/logins/:id/revoke', { preHandler: app.loginRequired }, async (request) => {
        await app.loginManager.revokeLogin(request.user.id, request.params.id)
        return { ok: true }
      })
      app.post('/logins/revoke-others', { preHandler: app.loginRequired }, async (request) => ({
        ended: await app.loginManager.revokeLogins(request.user.id, { except: request.loginId })
      }))
      app.post('/logout-everywhere', async (request, reply) => {
        await reply.logoutUser({ everywhere: true })
        return { ok: true }
      })
      app.get('/remembered', async (request) => ({ remembered: request.isRemembered(), loginId: request.loginId }))
      if (routes) await routes(app)
    }
  })
  app.loginManager.on('rememberTheft', (request, userId) => events.theft.push(userId))
  app.loginManager.on('rememberRejected', (request, reason) => events.rejected.push(reason))
  app.loginManager.on('loadedFromRemember', () => { events.restored++ })
  return { app, store, events }
}

async function loggedIn (app, id = 1, extra = {}, headers = {}) {
  const jar = createJar(app)
  const res = await jar.post('/login', { id, ...extra }, { headers })
  assert.equal(res.statusCode, 200)
  return jar
}

const me = async (jar, headers) => (await jar.get({ url: '/me', headers })).json()

describe('every login has a record', () => {
  test('a login is listed with its id, user, times, IP, User-Agent, method and remember flag; request.loginId names it', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const before = Date.now()
    const jar = await loggedIn(app, 1, {}, { 'user-agent': UA_A })
    const res = await jar.get({ url: '/logins', headers: { 'user-agent': UA_A } })
    const { current, logins } = res.json()
    assert.equal(logins.length, 1)
    const [login] = logins
    assert.equal(login.id, current)
    assert.match(login.id, /^[A-Za-z0-9_-]{22}$/)
    assert.equal(login.userId, '1')
    assert.ok(login.createdAt >= before && login.createdAt <= Date.now())
    assert.equal(login.lastSeenAt, login.createdAt)
    assert.equal(login.ip, '127.0.0.1')
    assert.equal(login.userAgent, UA_A)
    assert.equal(login.method, 'credentials')
    assert.equal(login.remembered, false)
    assert.deepEqual(Object.keys(login).sort(), ['createdAt', 'id', 'ip', 'lastSeenAt', 'method', 'remembered', 'userAgent', 'userId'])
  })

  test('two browsers of one user are two logins; another user\'s are not listed', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const a = await loggedIn(app, 1)
    await loggedIn(app, 1, { remember: true })
    await loggedIn(app, 2)
    const { logins } = (await a.get('/logins')).json()
    assert.equal(logins.length, 2)
    assert.deepEqual(logins.map((l) => l.remembered).sort(), [false, true])
    assert.ok(logins.every((l) => l.userId === '1'))
  })

  test('a second login in the same browser replaces the first: one record, not two', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get('/logins')).json().logins.length, 1)
    await jar.post('/login', { id: 2 })
    assert.deepEqual(await app.loginManager.listLogins(1), [], "user 1's login in this browser ended")
  })

  test('logout ends the record; the registry methods reject without the option', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1)
    assert.match((await jar.get('/remembered')).json().loginId, /^[A-Za-z0-9_-]{22}$/)
    await jar.post('/logout')
    assert.deepEqual(await app.loginManager.listLogins(1), [])
    assert.equal((await jar.get('/remembered')).json().loginId, null, 'and null once logged out')

    const plain = await buildApp({
      routes: (app) => {
        app.post('/logout-everywhere', async (request, reply) => reply.logoutUser({ everywhere: true }))
        app.get('/login-id', async (request) => ({ loginId: request.loginId }))
      }
    })
    t.after(() => plain.close())
    assert.deepEqual((await (await loggedIn(plain, 1)).get('/login-id')).json(), { loginId: null }, 'request.loginId is null without the registry')
    await assert.rejects(plain.loginManager.listLogins(1), { code: 'FST_LOGIN_INVALID', message: /logins option/ })
    await assert.rejects(plain.loginManager.revokeLogins(1), { code: 'FST_LOGIN_INVALID' })
    const res = await (await loggedIn(plain, 1)).post('/logout-everywhere')
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_INVALID')
  })
})

describe('revoking logins', () => {
  test('revokeLogin ends that login on its next request, and only that one', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const phone = await loggedIn(app, 1)
    const laptop = await loggedIn(app, 1)
    const phoneId = (await phone.get('/logins')).json().current
    const res = await laptop.post(`/logins/${phoneId}/revoke`)
    assert.equal(res.statusCode, 200)
    assert.equal((await me(phone)).user, null, 'the phone is logged out')
    assert.equal((await me(laptop)).user?.id, 1, 'the laptop is not')
  })

  test('a revoked login stays dead even when an old copy of its session comes back', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1)
    const copy = jar.cookies[SESSION_COOKIE]
    await app.loginManager.revokeLogins(1)
    const res = await app.inject({ url: '/me', cookies: { [SESSION_COOKIE]: copy } })
    assert.equal(res.json().user, null)
  })

  test('revokeLogins(userId, { except }) ends the other devices and keeps this one', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const others = [await loggedIn(app, 1), await loggedIn(app, 1, { remember: true })]
    const rememberCookie = others[1].cookies[REMEMBER]
    const mine = await loggedIn(app, 1)
    const res = await mine.post('/logins/revoke-others')
    assert.deepEqual(res.json(), { ended: 2 })
    for (const jar of others) assert.equal((await me(jar)).user, null)
    assert.equal((await me(mine)).user?.id, 1)
    // The remembered one's cookie died with it.
    const restore = await app.inject({ url: '/me', cookies: { [REMEMBER]: rememberCookie } })
    assert.equal(restore.json().user, null)
  })

  test('logoutUser({ everywhere: true }) ends every login of the user, remember cookies included', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const other = await loggedIn(app, 1, { remember: true })
    const cookie = other.cookies[REMEMBER]
    const mine = await loggedIn(app, 1)
    await mine.post('/logout-everywhere')
    assert.equal((await me(mine)).user, null)
    assert.equal((await me(other)).user, null)
    delete other.cookies[SESSION_COOKIE]
    other.cookies[REMEMBER] = cookie
    assert.equal((await me(other)).user, null, 'the other browser cannot come back with its remember cookie')
    assert.deepEqual(await app.loginManager.listLogins('1'), [])
  })

  test('revokeLogin cannot end another user\'s login', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const victim = await loggedIn(app, 2)
    const victimId = (await victim.get('/logins')).json().current
    const attacker = await loggedIn(app, 1)
    await attacker.post(`/logins/${victimId}/revoke`)
    assert.equal((await me(victim)).user?.id, 2)
  })
})

describe('remember-me as a rotating token', () => {
  test('the cookie is 4.<selector>.<validator>.<signature>; the selector starts with its user\'s tag; the store keeps no validator', async (t) => {
    const store = new MemoryLoginStore()
    const { app } = await setup({ store })
    t.after(() => app.close())
    const TOKEN = /^4\.([A-Za-z0-9_-]{4})([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})\.[A-Za-z0-9+/]{43}$/
    const [first, second, other] = [await loggedIn(app, 1, { remember: true }), await loggedIn(app, 1, { remember: true }), await loggedIn(app, 2, { remember: true })]
      .map((jar) => TOKEN.exec(jar.cookies[REMEMBER]))
    assert.ok(first && second && other, 'format 4')
    assert.equal(first[1], second[1], 'one user, one tag: a user\'s series share a Redis Cluster slot')
    assert.notEqual(first[2], second[2], 'the rest of the selector is random')
    assert.notEqual(first[1], other[1], 'another user, another tag')
    const series = await store.getSeries(first[1] + first[2])
    assert.equal(series.userId, 'login:1', "user ids in the store are the login's key and the id: several logins can share a store")
    assert.ok(!JSON.stringify(series).includes(first[3]), 'only a hash of the validator is stored')
    const [login] = (await app.loginManager.listLogins(1)).filter((l) => l.id === series.loginId)
    assert.ok(login, 'the series backs a listed login')
    assert.ok(!JSON.stringify(login).includes(first[3]) && !JSON.stringify(login).includes(first[2]), 'the listed record holds neither the validator nor the selector')
  })

  test('each restore rotates the validator and keeps the login: the same id and record, made by credentials, lastSeenAt moved', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app, events } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const [login] = await app.loginManager.listLogins(1)
    assert.equal(login.method, 'credentials')
    assert.equal(login.remembered, true)
    const first = jar.cookies[REMEMBER]
    delete jar.cookies[SESSION_COOKIE]

    t.mock.timers.tick(5000)
    const res = await jar.get('/remembered')
    assert.deepEqual(res.json(), { remembered: true, loginId: login.id }, 'request.loginId is the login\'s id, as listed')
    assert.notEqual(jar.cookies[REMEMBER], first, 'rotated')
    assert.equal(events.restored, 1)
    const { logins } = (await jar.get('/logins')).json()
    assert.deepEqual(logins, [{ ...login, lastSeenAt: login.createdAt + 5000 }], 'one record, the same one: only lastSeenAt moved, to the restore')

    delete jar.cookies[SESSION_COOKIE]
    t.mock.timers.tick(5000)
    assert.equal((await me(jar)).user?.id, 1, 'the rotated cookie restores again')
    assert.deepEqual((await jar.get('/remembered')).json(), { remembered: true, loginId: login.id }, 'still the same login')
    assert.deepEqual(await app.loginManager.listLogins(1), [{ ...login, lastSeenAt: login.createdAt + 10000 }])
  })

  test('a copied cookie used after the real one rotated (outside the grace window) revokes the login and emits rememberTheft', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const { app, events } = await setup()
    t.after(() => app.close())
    const victim = await loggedIn(app, 1, { remember: true })
    const copied = victim.cookies[REMEMBER]
    delete victim.cookies[SESSION_COOKIE]
    assert.equal((await me(victim)).user?.id, 1, 'the victim restores: the cookie rotates')
    t.mock.timers.tick(400) // past graceMs (300)

    const res = await app.inject({ url: '/me', cookies: { [REMEMBER]: copied } })
    assert.equal(res.json().user, null, 'the thief is not logged in')
    assert.ok(isCleared(setCookies(res).find((c) => c.name === REMEMBER)))
    assert.deepEqual(events.theft, ['1'])
    assert.ok(events.rejected.includes('theft'))
    assert.equal((await me(victim)).user, null, "the victim's login was revoked: the user logs in again")
    assert.deepEqual(await app.loginManager.listLogins(1), [])
  })

  test('the thief using the copy first: the real browser\'s cookie is then the stale one, and the login ends', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const { app, events } = await setup()
    t.after(() => app.close())
    const victim = await loggedIn(app, 1, { remember: true })
    const copied = victim.cookies[REMEMBER]
    const thief = createJar(app)
    thief.cookies[REMEMBER] = copied
    assert.equal((await me(thief)).user?.id, 1, 'a copy used first works once (the server cannot tell yet)')
    t.mock.timers.tick(400) // past graceMs
    delete victim.cookies[SESSION_COOKIE]
    assert.equal((await me(victim)).user, null)
    assert.deepEqual(events.theft, ['1'])
    assert.equal((await me(thief)).user, null, "the thief's login is revoked too")
  })

  test('parallel requests of one browser within the grace window all restore, with no theft', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const { app, events } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const cookie = jar.cookies[REMEMBER]
    const results = await Promise.all(Array.from({ length: 8 }, () =>
      app.inject({ url: '/remembered', cookies: { [REMEMBER]: cookie } })))
    for (const res of results) assert.equal(res.json().remembered, true)
    assert.deepEqual(events.theft, [])
    const loginIds = new Set(results.map((res) => res.json().loginId))
    assert.equal(loginIds.size, 1, 'all of them joined the one login the rotation made')
    const rotated = results.map((res) => setCookies(res).find((c) => c.name === REMEMBER))
    assert.ok(rotated.every((c) => c && !isCleared(c)), 'every response carries the rotated cookie, whichever arrives last')
    assert.equal(new Set(rotated.map((c) => c.value)).size, 1, 'the same one')
    assert.equal((await app.inject({ url: '/me', cookies: { [REMEMBER]: rotated[0].value } })).json().user?.id, 1)
  })

  test('logout kills the remember cookie and every copy of it', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const copy = jar.cookies[REMEMBER]
    await jar.post('/logout')
    const res = await app.inject({ url: '/me', cookies: { [REMEMBER]: copy } })
    assert.equal(res.json().user, null)
    assert.ok(isCleared(setCookies(res).find((c) => c.name === REMEMBER)))
  })

  test('a changed authVersion ends the series for good', async (t) => {
    const versions = new Map([['1', 'a']])
    const { app, events } = await setup({ login: { authVersion: (user) => versions.get(String(user.id)) ?? '-' } })
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const cookie = jar.cookies[REMEMBER]
    versions.set('1', 'b')
    const res = await app.inject({ url: '/me', cookies: { [REMEMBER]: cookie } })
    assert.equal(res.json().user, null)
    assert.deepEqual(events.rejected, ['version'])
    versions.set('1', 'a')
    assert.equal((await app.inject({ url: '/me', cookies: { [REMEMBER]: cookie } })).json().user, null, 'gone, not just refused')
  })

  test('refresh extends the current token of this login, and rejects anything else', async (t) => {
    const { app, events } = await setup({ login: { remember: { secret: REMEMBER_SECRET, refresh: true } } })
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const res = await jar.get('/me')
    const extended = setCookies(res).find((c) => c.name === REMEMBER)
    assert.ok(extended && !isCleared(extended))
    jar.cookies[REMEMBER] = 'x'
    const bad = await jar.get('/me')
    assert.equal(bad.json().user?.id, 1)
    assert.ok(isCleared(setCookies(bad).find((c) => c.name === REMEMBER)))
    assert.deepEqual(events.rejected, ['malformed'])
  })

  test('no generated value under the cookie name ever logs anyone in', async (t) => {
    const { app } = await setup()
    t.after(() => app.close())
    const real = [await loggedIn(app, 1, { remember: true }), await loggedIn(app, 2, { remember: true })].map((jar) => jar.cookies[REMEMBER])
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const b64url = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 0, maxLength: 50 })
    const exactly = (n, chars) => fc.string({ unit: fc.constantFrom(...chars), minLength: n, maxLength: n })
    const mutate = fc.tuple(fc.constantFrom(...real), fc.nat(), fc.constantFrom(...'Aa0-_.%x+/')).map(([value, i, ch]) => {
      const k = i % value.length
      return value.slice(0, k) + ch + value.slice(k + 1)
    })
    // Format 4 to the character: a real user's tag, a random rest of the selector, a validator and a signature.
    const forged = fc.tuple(fc.constantFrom(...real.map((value) => value.slice(2, 6))), exactly(22, B64URL), exactly(43, B64URL), exactly(43, B64URL.slice(0, 62) + '+/'))
      .map(([tag, rest, validator, signature]) => `4.${tag}${rest}.${validator}.${signature}`)
    // A real selector and signature around another validator, or a real token's parts swapped between the two users.
    const spliced = fc.tuple(fc.constantFrom(...real), fc.constantFrom(...real), exactly(43, B64URL), fc.boolean()).map(([a, b, validator, fresh]) => {
      const [, selector, , signature] = a.split('.')
      return `4.${selector}.${fresh ? validator : b.split('.')[2]}.${signature}`
    })
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string({ maxLength: 200 }), fc.tuple(b64url, b64url, b64url).map((parts) => '4.' + parts.join('.')), forged, spliced, mutate),
      async (value) => {
        fc.pre(!real.includes(value))
        const res = await app.inject({ url: '/me', headers: { cookie: `${REMEMBER}=${encodeURIComponent(value)}` } })
        assert.ok(res.statusCode < 500, res.body)
        assert.equal(res.json().user, null, `${JSON.stringify(value)} logged in`)
      }
    ), { numRuns: 300 })
  })
})

describe('a store that fails', () => {
  /** A memory store that can be taken down. */
  function breakable () {
    const store = new MemoryLoginStore()
    const state = { down: false }
    const proxy = new Proxy(store, {
      get (target, name) {
        const value = Reflect.get(target, name)
        if (typeof value !== 'function') return value
        return (...args) => state.down ? Promise.reject(new Error('ECONNREFUSED store-host:6379')) : value.apply(target, args)
      }
    })
    return { store: proxy, state }
  }

  test('logged-in requests fail closed with a 5xx that shows nothing of the store; anonymous ones work; logins come back', async (t) => {
    const { store, state } = breakable()
    const { app } = await setup({ store, routes: (app) => app.get('/public', async () => 'public') })
    t.after(() => app.close())
    const jar = await loggedIn(app, 1)
    state.down = true
    const res = await jar.get('/me')
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_STORE')
    assert.ok(!res.body.includes('store-host'))
    assert.equal((await app.inject('/public')).body, 'public', 'anonymous requests work')
    assert.equal((await createJar(app).post('/login', { id: 2 })).statusCode, 500, 'no login while the store is down')
    state.down = false
    assert.equal((await me(jar)).user?.id, 1, 'the login made before the outage works again')
  })
})

describe('rolling sessions and stateless cookies cannot bring a login back', () => {
  test('a slow request in flight across a logout, under rolling: true, writes the session back; the login stays dead', async (t) => {
    let release
    const held = new Promise((resolve) => { release = resolve })
    let running
    const inHandler = new Promise((resolve) => { running = resolve })
    const { app } = await setup({
      session: { rolling: true },
      routes: (app) => app.get('/slow', async (request) => {
        running()
        await held
        request.session.set('touched', Date.now())
        return { user: request.user?.id ?? null }
      })
    })
    t.after(() => app.close())
    const jar = await loggedIn(app, 1)
    const cookie = jar.cookies[SESSION_COOKIE]
    const slow = app.inject({ url: '/slow', cookies: { [SESSION_COOKIE]: cookie } })
    await inHandler // it has loaded its login and waits
    await jar.post('/logout')
    release()
    const slowRes = await slow
    assert.equal(slowRes.json().user, 1, 'the slow request began logged in')
    const written = setCookies(slowRes).find((c) => c.name === SESSION_COOKIE)
    const replay = written?.value ?? cookie
    const res = await app.inject({ url: '/me', cookies: { [SESSION_COOKIE]: replay } })
    assert.equal(res.json().user, null, 'whatever was written back, the login is revoked')
  })
})

describe('registry with the test helper', () => {
  test('a loginAs login is a registry login with method test', async (t) => {
    const { loginAs } = require('fastify-login/testing')
    const { app } = await setup()
    t.after(() => app.close())
    const login = await loginAs(app, USERS.get('1'))
    const res = await app.inject({ url: '/logins', cookies: login.cookies })
    assert.equal(res.json().logins[0].method, 'test')
  })
})

describe('several logins sharing one registry store', () => {
  const Fastify = require('fastify')
  const fastifyCookie = require('@fastify/cookie')
  const fastifyLogin = require('fastify-login')
  const { registerSession } = require('../helper')

  /** Customers under `/` and staff under `/admin`, one store and one remember secret for both. */
  async function realms () {
    const store = new MemoryLoginStore()
    const customers = new Map([['7', { id: 7, name: 'customer 7' }]])
    const staff = new Map([['7', { id: 7, name: 'admin 7' }]])
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    for (const [key, users, prefix, cookieName] of [['customer', customers, '', 'remember_token'], ['staff', staff, '/admin', 'staff_remember']]) {
      await app.register(async (scope) => {
        await scope.register(fastifyLogin, {
          key,
          loadUser: async (id) => users.get(id) ?? null,
          remember: { secret: REMEMBER_SECRET, cookieName },
          logins: { store }
        })
        scope.post('/login', async (request, reply) => reply.loginUser(users.get('7'), { remember: true }))
        scope.get('/me', async (request) => ({ name: request.user?.name ?? null }))
        scope.get('/logins', async () => scope.loginManager.listLogins(7))
        scope.post('/revoke-all', async () => ({ ended: await scope.loginManager.revokeLogins(7) }))
      }, { prefix })
    }
    await app.ready()
    return app
  }

  test("a customer's remember token renamed to the staff cookie is not a staff login", async (t) => {
    const app = await realms()
    t.after(() => app.close())
    const customer = createJar(app)
    await customer.post('/login', {})
    const res = await app.inject({ url: '/admin/me', cookies: { staff_remember: customer.cookies.remember_token } })
    assert.deepEqual(res.json(), { name: null })
  })

  test("staff do not see or end a customer's logins with the same user id", async (t) => {
    const app = await realms()
    t.after(() => app.close())
    const customer = createJar(app)
    await customer.post('/login', {})
    assert.deepEqual((await app.inject('/admin/logins')).json(), [])
    assert.deepEqual((await app.inject({ method: 'POST', url: '/admin/revoke-all' })).json(), { ended: 0 })
    assert.deepEqual((await customer.get('/me')).json(), { name: 'customer 7' })
    assert.equal((await app.inject('/logins')).json().length, 1)
  })
})

describe('rotation that heals, and never calls a lost response a theft', () => {
  test('the response that rotated is lost: the next request within the grace window gets the current cookie, and later restores work', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const { app, events } = await setup()
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const old = jar.cookies[REMEMBER]
    await app.inject({ url: '/me', cookies: { [REMEMBER]: old } }) // rotated; its response never arrives
    const second = await app.inject({ url: '/me', cookies: { [REMEMBER]: old } })
    assert.equal(second.json().user?.id, 1)
    const healed = setCookies(second).find((c) => c.name === REMEMBER)
    assert.ok(healed && !isCleared(healed), 'the current cookie is handed out again')
    t.mock.timers.tick(400) // past graceMs
    const later = await app.inject({ url: '/me', cookies: { [REMEMBER]: healed.value } })
    assert.equal(later.json().user?.id, 1)
    assert.deepEqual(events.theft, [])
  })

  test('with refresh, a browser still holding the previous validator within the grace window gets the current cookie, not a cleared one', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const { app, events } = await setup({ login: { remember: { secret: REMEMBER_SECRET, refresh: true } } })
    t.after(() => app.close())
    const jar = await loggedIn(app, 1, { remember: true })
    const old = jar.cookies[REMEMBER]
    delete jar.cookies[SESSION_COOKIE]
    const first = await app.inject({ url: '/me', cookies: { [REMEMBER]: old } }) // tab 1 rotates
    const tab2 = createJar(app)
    tab2.cookies[REMEMBER] = old
    await tab2.get('/me') // tab 2 joins within the grace window: a session, and the current cookie
    tab2.cookies[REMEMBER] = old // ...which tab 2's stale copy of the cookie jar does not have yet
    const res = await tab2.get('/me')
    const cookie = setCookies(res).find((c) => c.name === REMEMBER)
    assert.ok(cookie && !isCleared(cookie), `not cleared: ${res.headers['set-cookie']}`)
    assert.equal(cookie.value, setCookies(first).find((c) => c.name === REMEMBER).value, 'the current one')
    assert.deepEqual(events.rejected, [])
    assert.deepEqual(events.theft, [])
  })

  test('refresh re-issues the token under the first secret: a rotated-away secret does not end an active login', async (t) => {
    const OLD = 'the-old-remember-secret-that-is-long-enough-0123'
    const store = new MemoryLoginStore()
    const sessionStore = new (require('@fastify/session').MemoryStore)() // one app after another, as a deployment
    const { app: before } = await setup({ store, sessionStore, login: { remember: { secret: OLD } } })
    const jar = await loggedIn(before, 1, { remember: true })
    await before.close()

    const { app: during } = await setup({ store, sessionStore, login: { remember: { secret: [REMEMBER_SECRET, OLD], refresh: true } } })
    t.after(() => during.close())
    assert.equal((await jar.request({ url: '/me', app: during })).json().user?.id, 1, 'the session login, refreshed')

    const { app: after } = await setup({ store, sessionStore, login: { remember: { secret: REMEMBER_SECRET } } })
    t.after(() => after.close())
    delete jar.cookies[SESSION_COOKIE]
    assert.equal((await jar.request({ url: '/me', app: after })).json().user?.id, 1, 'the cookie refresh re-issued works without the old secret')
  })
})

describe('logging out everywhere reaches every remember cookie', () => {
  test('with refresh and a short idleTimeout, a series kept alive by refresh is still ended', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const DAY = 24 * 60 * 60 * 1000
    const { app } = await setup({
      login: { remember: { secret: REMEMBER_SECRET, refresh: true, maxAge: 30 * DAY }, logins: { store: new MemoryLoginStore() }, idleTimeout: DAY }
    })
    t.after(() => app.close())
    const laptop = await loggedIn(app, 1, { remember: true })
    const copied = laptop.cookies[REMEMBER]
    // Used twice a day for 10 days, the session login never idles out: refresh extends the series without rotating it.
    for (let i = 0; i < 20; i++) {
      t.mock.timers.tick(DAY / 2)
      assert.deepEqual(await me(laptop), { user: USERS.get('1'), authenticatedBy: 'session', fresh: true }, 'an active login')
    }
    assert.equal(laptop.cookies[REMEMBER], copied, 'the copy is still the current token')
    t.mock.timers.tick(21 * DAY)
    const phone = await loggedIn(app, 1)
    const listed = await app.loginManager.listLogins(1)
    assert.equal(listed.length, 2, 'past the first 30 days the laptop\'s login stands, kept by its extended series')
    await phone.post('/logout-everywhere')
    const thief = await app.inject({ url: '/me', cookies: { [REMEMBER]: copied } })
    assert.equal(thief.json().user, null)
  })

  test('a restore while revokeLogins runs is ended too: it keeps the login\'s id, so the end reaches the restored session', async (t) => {
    const inner = new MemoryLoginStore()
    let duringEnd = null
    let ran = false
    const store = new Proxy(inner, {
      get (target, name) {
        const value = Reflect.get(target, name)
        if (name !== 'endLogins') return typeof value === 'function' ? value.bind(target) : value
        return async (...args) => {
          const hook = duringEnd
          duringEnd = null
          if (hook) { await hook(); ran = true }
          return value.apply(target, args)
        }
      }
    })
    const { app } = await setup({ store })
    t.after(() => app.close())
    const other = await loggedIn(app, 1, { remember: true })
    const copy = other.cookies[REMEMBER]
    const thief = createJar(app)
    // As revokeLogins reaches the store, the copy restores: a session login, its cookie rotated.
    duringEnd = async () => {
      thief.cookies[REMEMBER] = copy
      assert.equal((await me(thief)).authenticatedBy, 'remember')
    }
    await app.loginManager.revokeLogins(1)
    assert.ok(ran, 'the restore ran while revokeLogins was under way')
    assert.equal((await me(thief)).user, null, 'the restored session is ended as well')
    assert.equal((await me(other)).user, null)
    assert.deepEqual(await app.loginManager.listLogins(1), [])
  })
})
