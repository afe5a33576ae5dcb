'use strict'

// Several logins in one app (`key`): customers under `/`, staff under `/admin`,
// each with its own loader, login page and remember cookie, in sibling scopes. A
// browser can be logged in to both; logging out of one leaves the other.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifyLogin = require('fastify-login')
const { createJar, registerSession, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const CUSTOMERS = new Map([['1', { id: 1, name: 'customer 1' }], ['2', { id: 2, name: 'customer 2' }]])
const STAFF = new Map([['1', { id: 1, name: 'admin 1' }], ['7', { id: 7, name: 'admin 7' }]])
const STAFF_SECRET = 'the-staff-remember-secret-is-another-one-0123456789'

/** A realm: its login, its routes; `prefix` '' for the customers' site. */
function realm (key, users, prefix, extra = {}) {
  return async (scope) => {
    await scope.register(fastifyLogin, {
      key,
      loadUser: async (id) => users.get(id) ?? null,
      loginUrl: `${prefix}/login`,
      ...extra
    })
    scope.post('/login', async (request, reply) => {
      const user = users.get(String(request.body.id))
      await reply.loginUser(user, { remember: request.body.remember === true })
      return { ok: true }
    })
    scope.post('/logout', async (request, reply) => {
      await reply.logoutUser()
      return { ok: true }
    })
    scope.get('/me', { preHandler: scope.loginRequired }, async (request) => ({
      name: request.user.name, by: request.authenticatedBy, remembered: request.isRemembered()
    }))
  }
}

async function twoRealms ({ events } = {}) {
  const app = Fastify()
  await app.register(fastifyCookie)
  await registerSession(app)
  await app.register(realm('customer', CUSTOMERS, '', { remember: { secret: REMEMBER_SECRET } }))
  await app.register(realm('staff', STAFF, '/admin', { remember: { secret: STAFF_SECRET, cookieName: 'staff_remember', path: '/admin' } }), { prefix: '/admin' })
  await app.ready()
  return app
}

describe('two logins in one app', () => {
  test('a browser logged in to both realms is each realm\'s own user; logging out of one leaves the other', async (t) => {
    const app = await twoRealms()
    t.after(() => app.close())
    const jar = createJar(app)

    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get('/me')).json().name, 'customer 1')
    let admin = await jar.get('/admin/me')
    assert.equal(admin.statusCode, 401, 'a customer login is not a staff login')

    await jar.post('/admin/login', { id: 7 })
    assert.equal((await jar.get('/admin/me')).json().name, 'admin 7')
    assert.equal((await jar.get('/me')).json().name, 'customer 1', 'the staff login kept the customer login')

    await jar.post('/admin/logout')
    admin = await jar.get('/admin/me')
    assert.equal(admin.statusCode, 401)
    assert.equal((await jar.get('/me')).json().name, 'customer 1', 'logging out of staff leaves the customer logged in')

    await jar.post('/admin/login', { id: 1 })
    await jar.post('/logout')
    assert.equal((await jar.get('/me')).statusCode, 401)
    assert.equal((await jar.get('/admin/me')).json().name, 'admin 1', 'and the other way round')
  })

  test('remember-me on both: each cookie restores its own realm only', async (t) => {
    const app = await twoRealms()
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 2, remember: true })
    await jar.post('/admin/login', { id: 7, remember: true })
    assert.ok(jar.cookies.remember_token && jar.cookies.staff_remember)

    delete jar.cookies[SESSION_COOKIE] // the browser was closed
    assert.deepEqual((await jar.get('/me')).json(), { name: 'customer 2', by: 'remember', remembered: true })
    assert.deepEqual((await jar.get('/admin/me')).json(), { name: 'admin 7', by: 'remember', remembered: true })
    // Both restores live in one session now.
    assert.deepEqual((await jar.get('/me')).json().by, 'session')
    assert.deepEqual((await jar.get('/admin/me')).json().by, 'session')

    await jar.post('/admin/logout')
    assert.equal(jar.cookies.staff_remember, undefined, 'staff logout cleared the staff cookie')
    assert.ok(jar.cookies.remember_token, '...and not the customer one')
  })

  test('each registration has its own events', async (t) => {
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    const seen = []
    await app.register(async (scope) => {
      await realm('customer', CUSTOMERS, '')(scope)
      scope.loginManager.on('login', (request, user) => seen.push(`customer:${user.name}`))
    })
    await app.register(async (scope) => {
      await realm('staff', STAFF, '/admin')(scope)
      scope.loginManager.on('login', (request, user) => seen.push(`staff:${user.name}`))
    }, { prefix: '/admin' })
    await app.ready()
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/admin/login', { id: 1 })
    await jar.post('/login', { id: 2 })
    assert.deepEqual(seen, ['staff:admin 1', 'customer:customer 2'])
  })
})

describe('logins that would clash fail at start-up, saying what to change', () => {
  async function base () {
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    return app
  }
  const options = (extra) => ({ loadUser: async () => null, ...extra })

  test('a second registration that would see the same requests (same key)', async () => {
    const app = await base()
    await app.register(fastifyLogin, options())
    app.register(fastifyLogin, options())
    await assert.rejects(app.ready(), { code: 'FST_LOGIN_SETUP', message: /key 'login'.*sibling scope/ })
  })

  test('a registration inside the scope of another (another key)', async () => {
    const app = await base()
    await app.register(fastifyLogin, options({ key: 'customer' }))
    app.register(async (scope) => { await scope.register(fastifyLogin, options({ key: 'staff' })) })
    await assert.rejects(app.ready(), { code: 'FST_LOGIN_SETUP', message: /key 'customer'.*sibling scope.*key: 'staff'/ })
  })

  test('two logins with the same remember cookie name', async () => {
    const app = await base()
    app.register(async (scope) => { await scope.register(fastifyLogin, options({ key: 'a', remember: { secret: REMEMBER_SECRET } })) })
    app.register(async (scope) => { await scope.register(fastifyLogin, options({ key: 'b', remember: { secret: STAFF_SECRET } })) })
    await assert.rejects(app.ready(), { code: 'FST_LOGIN_SETUP', message: /remember\.cookieName 'remember_token' is already used by the login with key 'a'/ })
  })

  test('the same key in sibling scopes is one login shared by both', async (t) => {
    const app = await base()
    const routes = (scope) => scope.get('/who', async (request) => ({ user: request.user }))
    app.register(async (scope) => {
      await scope.register(fastifyLogin, options({ loadUser: async (id) => CUSTOMERS.get(id) ?? null }))
      scope.post('/login', async (request, reply) => { await reply.loginUser(CUSTOMERS.get('1')); return 'ok' })
      routes(scope)
    })
    app.register(async (scope) => {
      await scope.register(fastifyLogin, options({ loadUser: async (id) => CUSTOMERS.get(id) ?? null }))
      routes(scope)
    }, { prefix: '/other' })
    await app.ready()
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', {})
    assert.equal((await jar.get('/other/who')).json().user.id, 1)
  })

  test('a key that cannot name a session key is an option error', async () => {
    const app = await base()
    app.register(fastifyLogin, options({ key: 'has space' }))
    await assert.rejects(app.ready(), { code: 'FST_LOGIN_OPTION', message: /key must be/ })
  })
})
