'use strict'

// What Flask-Login users reach for: a login page on another host, "is this login
// remembered?", a fingerprint for mobile clients, flashed messages, `next` kept in
// the session, and a typed way to get the user on guarded routes.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fastifyFlash = require('@fastify/flash')
const { buildApp, createJar, USERS, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const html = { accept: 'text/html' }

describe('a login page on another host', () => {
  test('next is the absolute URL of the request, built from protocol and host (trustProxy followed)', async (t) => {
    const app = await buildApp({
      fastify: { trustProxy: true },
      login: { loginUrl: 'https://auth.example.com/login?app=shop', refreshUrl: 'https://auth.example.com/again' }
    })
    t.after(() => app.close())
    let res = await app.inject({ url: '/private?a=1', headers: { ...html, host: 'shop.example.com', 'x-forwarded-proto': 'https' } })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, 'https://auth.example.com/login?app=shop&next=' + encodeURIComponent('https://shop.example.com/private?a=1'))

    const jar = createJar(app)
    await jar.post('/login', { id: 1, fresh: false })
    res = await jar.get({ url: '/fresh', headers: { ...html, host: 'shop.example.com' } })
    assert.equal(res.headers.location, 'https://auth.example.com/again?next=' + encodeURIComponent('http://shop.example.com/fresh'))
  })

  test('an absolute loginUrl on the request\'s own origin still gets a path', async (t) => {
    const app = await buildApp({ login: { loginUrl: 'http://shop.example.com/login' } })
    t.after(() => app.close())
    const res = await app.inject({ url: '/private', headers: { ...html, host: 'shop.example.com' } })
    assert.equal(res.headers.location, 'http://shop.example.com/login?next=%2Fprivate')
  })

  test('redirectAfterLogin follows an absolute next only to allowedRedirectOrigins', async (t) => {
    const app = await buildApp({
      login: { allowedRedirectOrigins: ['https://shop.example.com'] },
      routes: (app) => app.post('/in', async (request, reply) => {
        await reply.loginUser(USERS.get('1'))
        return reply.redirectAfterLogin('/home')
      })
    })
    t.after(() => app.close())
    const next = async (value) => (await app.inject({ method: 'POST', url: '/in?next=' + encodeURIComponent(value) })).headers.location
    assert.equal(await next('https://shop.example.com/cart?x=1'), 'https://shop.example.com/cart?x=1')
    assert.equal(await next('https://SHOP.example.com/cart'), 'https://SHOP.example.com/cart')
    assert.equal(await next('/local'), '/local')
    for (const bad of ['https://evil.example.com/', 'http://shop.example.com/', 'https://shop.example.com.evil.com/',
      'https://shop.example.com@evil.com/', 'https://user:pw@shop.example.com/', 'javascript:alert(1)', '//shop.example.com/',
      'https://shop.example.com\\@evil.com/']) {
      assert.equal(await next(bad), '/home', bad)
    }
  })

  test('allowedRedirectOrigins entries must be origins', async () => {
    for (const bad of ['shop.example.com', 'https://shop.example.com/path', 'ftp://shop.example.com', 'https://a.com?x']) {
      await assert.rejects(buildApp({ login: { allowedRedirectOrigins: [bad] } }), { code: 'FST_LOGIN_OPTION', message: /allowedRedirectOrigins/ })
    }
    await assert.rejects(buildApp({ login: { loginUrl: 'ftp://auth.example.com/' } }), { code: 'FST_LOGIN_OPTION', message: /loginUrl must use http/ })
    await assert.rejects(buildApp({ login: { loginUrl: 'not a url' } }), { code: 'FST_LOGIN_OPTION', message: /loginUrl must be a path/ })
  })
})

describe('request.isRemembered()', () => {
  test('true for a login set with remember-me and for a restore, for the whole of that login', async (t) => {
    const app = await buildApp({
      login: { remember: { secret: REMEMBER_SECRET } },
      routes: (app) => app.get('/remembered', async (request) => request.isRemembered())
    })
    t.after(() => app.close())
    assert.equal((await app.inject('/remembered')).json(), false)
    const plain = createJar(app)
    await plain.post('/login', { id: 1 })
    assert.equal((await plain.get('/remembered')).json(), false)

    const jar = createJar(app)
    await jar.post('/login', { id: 1, remember: true })
    assert.equal((await jar.get('/remembered')).json(), true)
    delete jar.cookies[SESSION_COOKIE]
    assert.equal((await jar.get('/remembered')).json(), true, 'the restoring request')
    assert.equal((await jar.get('/remembered')).json(), true, 'and the requests of the restored login')
    await jar.post('/logout')
    assert.equal((await jar.get('/remembered')).json(), false)
  })
})

describe('session protection with a custom fingerprint', () => {
  test('an app can leave the IP out (mobile networks change it) and keep the User-Agent', async (t) => {
    const app = await buildApp({
      login: { sessionProtection: { mode: 'strong', fingerprint: (request) => request.headers['user-agent'] ?? '' } }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 }, { headers: { 'user-agent': 'phone' }, remoteAddress: '198.51.100.1' })
    let res = await jar.get({ url: '/me', headers: { 'user-agent': 'phone' }, remoteAddress: '203.0.113.9' })
    assert.equal(res.json().user?.id, 1, 'another IP is the same client')
    res = await jar.get({ url: '/me', headers: { 'user-agent': 'laptop' }, remoteAddress: '203.0.113.9' })
    assert.equal(res.json().user, null, "another User-Agent is not: 'strong' logs out")
  })

  test('a fingerprint that answers something else than a string fails closed, naming it', async (t) => {
    const app = await buildApp({ login: { sessionProtection: { mode: 'basic', fingerprint: async () => 'x' } } })
    t.after(() => app.close())
    const res = await createJar(app).post('/login', { id: 1 })
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().code, 'FST_LOGIN_CALLBACK')
  })

  test('bad shapes are option errors', async () => {
    await assert.rejects(buildApp({ login: { sessionProtection: { mode: 'paranoid', fingerprint: () => '' } } }), /sessionProtection\.mode/)
    await assert.rejects(buildApp({ login: { sessionProtection: { mode: 'basic' } } }), /sessionProtection\.fingerprint must be a function/)
    await assert.rejects(buildApp({ login: { sessionProtection: { mode: 'basic', fingerprint: () => '', extra: 1 } } }), /unknown option sessionProtection\.extra/)
  })
})

describe('loginMessage and refreshMessage', () => {
  const routes = (app) => app.get('/login', async (request, reply) => ({ info: reply.flash('info') }))

  test('with @fastify/flash, the guards flash them before redirecting', async (t) => {
    const app = await buildApp({
      login: { loginUrl: '/login', refreshUrl: '/login', loginMessage: 'Please log in to see that page.', refreshMessage: 'Please confirm your password.' },
      routes: async (app) => {
        await app.register(fastifyFlash)
        routes(app)
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    assert.equal((await jar.get({ url: '/private', headers: html })).statusCode, 302)
    assert.deepEqual((await jar.get('/login')).json(), { info: ['Please log in to see that page.'] })
    assert.deepEqual((await jar.get('/login')).json(), { info: [] }, 'shown once')

    await jar.post('/login', { id: 1, fresh: false })
    await jar.get({ url: '/fresh', headers: html })
    assert.deepEqual((await jar.get('/login')).json(), { info: ['Please confirm your password.'] })

    // An API client gets its 401 and no flashed message.
    await jar.get('/private')
    assert.deepEqual((await jar.get('/login')).json(), { info: [] })
  })

  test('without @fastify/flash, start-up fails (FST_LOGIN_SETUP) naming them and what to register', async () => {
    for (const option of ['loginMessage', 'refreshMessage', 'loginEndedMessage']) {
      await assert.rejects(
        buildApp({ login: { loginUrl: '/login', [option]: 'Please log in.' } }),
        (error) => {
          assert.equal(error.code, 'FST_LOGIN_SETUP', option)
          assert.match(error.message, new RegExp(`${option}.*@fastify/flash`), option)
          return true
        }
      )
    }
  })
})

describe('nextInSession', () => {
  test('the return address is kept in the session, not the URL; redirectAfterLogin reads and removes it', async (t) => {
    const app = await buildApp({
      login: { loginUrl: '/login?lang=en', nextInSession: true },
      routes: (app) => app.post('/in', async (request, reply) => {
        await reply.loginUser(USERS.get('1'))
        return reply.redirectAfterLogin('/home')
      })
    })
    t.after(() => app.close())
    const jar = createJar(app)
    const refused = await jar.get({ url: '/private?tab=2', headers: html })
    assert.equal(refused.headers.location, '/login?lang=en', 'no next in the URL')
    const login = await jar.post('/in', {})
    assert.equal(login.headers.location, '/private?tab=2')
    const again = await jar.post('/in', {})
    assert.equal(again.headers.location, '/home', 'used once')
  })

  test('an unsafe stored address is not followed', async (t) => {
    const app = await buildApp({
      login: { loginUrl: '/login', nextInSession: true },
      routes: (app) => {
        // Where the login keeps its return address: `_<key>:next`.
        app.post('/plant', async (request) => { request.session.set('_login:next', request.body.next); return 'ok' })
        app.post('/in', async (request, reply) => {
          await reply.loginUser(USERS.get('1'))
          return reply.redirectAfterLogin('/home')
        })
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/plant', { next: '//evil.com' })
    assert.equal((await jar.post('/in', {})).headers.location, '/home')
    // The same plant with a safe address is followed: the one above was refused for what it held.
    await jar.post('/plant', { next: '/account' })
    assert.equal((await jar.post('/in', {})).headers.location, '/account')
  })
})

describe('request.requireUser()', () => {
  test('the user on a guarded route; a 401 FST_LOGIN_REQUIRED where there is none', async (t) => {
    const app = await buildApp({
      routes: (app) => {
        app.get('/typed', { preHandler: app.loginRequired }, async (request) => request.requireUser().username)
        app.get('/unguarded', async (request) => request.requireUser().username)
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 2 })
    assert.equal((await jar.get('/typed')).body, 'user2')
    const res = await app.inject('/unguarded')
    assert.equal(res.statusCode, 401)
    assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')
  })
})

describe('a whole scope behind the guard', () => {
  test('scope.addHook("preHandler", scope.loginRequired) guards every route of the scope, and only those', async (t) => {
    const app = await buildApp({
      login: { loginUrl: '/login' },
      routes: async (app) => {
        await app.register(async (admin) => {
          admin.addHook('preHandler', admin.loginRequired)
          admin.get('/a', async () => 'a')
          admin.get('/b', async () => 'b')
        }, { prefix: '/admin' })
        app.get('/open', async () => 'open')
      }
    })
    t.after(() => app.close())
    for (const url of ['/admin/a', '/admin/b']) {
      assert.equal((await app.inject(url)).statusCode, 401)
      assert.equal((await app.inject({ url, headers: html })).headers.location, `/login?next=${encodeURIComponent(url)}`)
    }
    assert.equal((await app.inject('/open')).body, 'open')
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get('/admin/a')).body, 'a')
  })
})
