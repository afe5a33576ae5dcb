'use strict'

// The guards the package exports (README "Instance" and "Guard responses"): `const {
// loginRequired, freshLoginRequired, loginGuard } = require('fastify-login')` are "the same guards,
// usable from any scope. On a route that no fastify-login registration covers (a
// sibling scope, a registration not awaited yet), they fail closed: `500
// FST_LOGIN_SETUP`, the handler never runs." A decorator read where the plugin is not
// registered is `undefined`, and Fastify takes `preHandler: undefined` as no guard at
// all: where the plugin can see such a route (its own scope), `ready()` fails naming it.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifyLogin = require('fastify-login')
const { buildApp, createJar, registerSession, USERS } = require('../helper')

const { loginRequired, freshLoginRequired, loginGuard } = fastifyLogin
const HTML = { accept: 'text/html' }

/** Counts the runs of each guarded handler. */
function counter () {
  const hits = {}
  const handler = (name) => async (request) => {
    hits[name] = (hits[name] ?? 0) + 1
    return { secret: 'payroll', user: request.user ?? null }
  }
  return { hits, handler }
}

function assertSetupError (res, what) {
  assert.equal(res.statusCode, 500, `${what}: ${res.statusCode} ${res.body}`)
  assert.equal(res.json().code, 'FST_LOGIN_SETUP', what)
  assert.ok(!res.body.includes('payroll'), `${what}: the handler answered`)
}

describe('the exported guards under a registration behave like its decorators', () => {
  test('loginRequired, freshLoginRequired and loginGuard(options) are functions of the package', () => {
    assert.equal(typeof loginRequired, 'function')
    assert.equal(typeof freshLoginRequired, 'function')
    assert.equal(typeof loginGuard, 'function')
    assert.equal(typeof loginGuard({ loginUrl: '/admin/login' }), 'function')
  })

  test('anonymous: 302 to loginUrl for a browser, 401 FST_LOGIN_REQUIRED for an API client; a login passes; a stale one is refused by the fresh guard', async (t) => {
    const { hits, handler } = counter()
    const app = await buildApp({
      login: { loginUrl: '/login' },
      routes (app) {
        app.get('/guarded', { preHandler: loginRequired }, handler('guarded'))
        app.get('/fresh-only', { preHandler: freshLoginRequired }, handler('fresh'))
        app.get('/admin', { preHandler: loginGuard({ loginUrl: '/admin/login' }) }, handler('admin'))
      }
    })
    t.after(() => app.close())

    const browser = await app.inject({ url: '/guarded?a=1', headers: HTML })
    assert.equal(browser.statusCode, 302)
    assert.equal(browser.headers.location, '/login?next=%2Fguarded%3Fa%3D1')
    const api = await app.inject({ url: '/guarded' })
    assert.equal(api.statusCode, 401)
    assert.equal(api.json().code, 'FST_LOGIN_REQUIRED')
    assert.equal((await app.inject({ url: '/admin', headers: HTML })).headers.location, '/admin/login?next=%2Fadmin')
    assert.deepEqual(hits, {})

    const jar = createJar(app)
    await jar.post('/login', { id: 1, fresh: false })
    assert.equal((await jar.get('/guarded')).json().user.id, 1)
    assert.equal((await jar.get('/admin')).json().user.id, 1)
    const stale = await jar.get('/fresh-only')
    assert.equal(stale.statusCode, 401)
    assert.equal(stale.json().code, 'FST_LOGIN_FRESH_REQUIRED')
    assert.deepEqual(hits, { guarded: 1, admin: 1 })
  })

  test('in two sibling realms each route is guarded by the login of its own scope', async (t) => {
    const { hits, handler } = counter()
    const staff = new Map([['7', { id: 7, username: 'admin 7' }]])
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    await app.register(async (scope) => {
      await scope.register(fastifyLogin, { key: 'customer', loadUser: async (id) => USERS.get(id) ?? null })
      scope.post('/login', async (request, reply) => reply.loginUser(USERS.get('1')))
      scope.get('/orders', { preHandler: loginRequired }, handler('orders'))
    })
    await app.register(async (scope) => {
      await scope.register(fastifyLogin, { key: 'staff', loginUrl: '/admin/login', loadUser: async (id) => staff.get(id) ?? null })
      scope.post('/login', async (request, reply) => reply.loginUser(staff.get('7')))
      scope.get('/payroll', { preHandler: loginRequired }, handler('payroll'))
    }, { prefix: '/admin' })
    await app.ready()
    t.after(() => app.close())

    const customer = createJar(app)
    await customer.post('/login', {})
    assert.equal((await customer.get('/orders')).json().user.id, 1)
    const refused = await customer.get({ url: '/admin/payroll', headers: HTML })
    assert.equal(refused.statusCode, 302, 'a customer login is not a staff login')
    assert.equal(refused.headers.location, '/admin/login?next=%2Fadmin%2Fpayroll', "the staff realm's own login page")
    await customer.post('/admin/login', {})
    assert.equal((await customer.get('/admin/payroll')).json().user.id, 7)
    assert.deepEqual(hits, { orders: 1, payroll: 1 })
  })
})

describe('on a route no registration covers, the exported guards fail closed', () => {
  test('in a sibling scope of the registration: 500 FST_LOGIN_SETUP, anonymous or logged in, and the handler never runs', async (t) => {
    const { hits, handler } = counter()
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    await app.register(async (scope) => {
      await scope.register(fastifyLogin, { loadUser: async (id) => USERS.get(id) ?? null })
      scope.post('/login', async (request, reply) => reply.loginUser(USERS.get('1')))
    })
    await app.register(async (sibling) => {
      sibling.get('/reports', { preHandler: loginRequired }, handler('reports'))
      sibling.get('/fresh-reports', { preHandler: freshLoginRequired }, handler('fresh-reports'))
      sibling.get('/admin-reports', { preHandler: loginGuard({ loginUrl: '/login' }) }, handler('admin-reports'))
    })
    await app.ready()
    t.after(() => app.close())

    const jar = createJar(app)
    for (const url of ['/reports', '/fresh-reports', '/admin-reports']) {
      assertSetupError(await jar.get(url), `anonymous ${url}`)
      assertSetupError(await jar.get({ url, headers: HTML }), `anonymous browser ${url}`)
    }
    await jar.post('/login', {})
    for (const url of ['/reports', '/fresh-reports', '/admin-reports']) assertSetupError(await jar.get(url), `logged-in ${url}`)
    assert.deepEqual(hits, {})
  })

  test('a route added right after a register that was not awaited: the handler never runs for nobody', async (t) => {
    const { hits, handler } = counter()
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    app.register(fastifyLogin, { loadUser: async (id) => USERS.get(id) ?? null }) // no await
    app.get('/exported', { preHandler: loginRequired }, handler('exported'))
    await app.ready()
    t.after(() => app.close())

    const res = await app.inject('/exported')
    assert.ok(!res.body.includes('payroll'), `the handler ran for nobody: ${res.body}`)
    // Fastify runs the registration's hooks for this route: the guard may see it as
    // covered (401) or not (500 FST_LOGIN_SETUP); never the handler.
    const { code } = res.json()
    assert.ok((res.statusCode === 401 && code === 'FST_LOGIN_REQUIRED') || (res.statusCode === 500 && code === 'FST_LOGIN_SETUP'),
      `${res.statusCode} ${res.body}`)
    assert.deepEqual(hits, {})
  })
})

describe('a guard that is undefined is caught at start-up where the plugin can see it', () => {
  test('a misspelt decorator (preHandler: undefined) on a route of the registration\'s scope: ready() fails with FST_LOGIN_SETUP naming the route', async () => {
    await assert.rejects(
      buildApp({ routes: (app) => app.get('/typo', { preHandler: app.loginRequird }, async () => ({ secret: 'payroll' })) }),
      (error) => {
        assert.equal(error.code, 'FST_LOGIN_SETUP')
        assert.match(error.message, /\/typo/)
        return true
      })
  })

  test('the same in a child scope of the registration, and for freshLoginRequired read from the wrong name', async () => {
    await assert.rejects(
      buildApp({
        routes: (app) => app.register(async (child) => {
          child.route({ method: 'POST', url: '/transfer', preHandler: child.freshLoginRequred, handler: async () => ({ ok: true }) })
        }, { prefix: '/bank' })
      }),
      (error) => {
        assert.equal(error.code, 'FST_LOGIN_SETUP')
        assert.match(error.message, /\/bank\/transfer/)
        return true
      })
  })

  test('a route without any preHandler is not an error', async (t) => {
    const app = await buildApp({ routes: (app) => app.get('/open', async () => 'open') })
    t.after(() => app.close())
    assert.equal((await app.inject('/open')).body, 'open')
  })
})
