'use strict'

// Several logins in one app (README "Several logins in one app", option `key`): "Each
// registration owns only its own session keys", and "One login's session keys can
// never be read as another's: no `key` (with any suffix the plugin itself uses, such
// as a stored return address) collides with another registration's state." Here a
// shop (`key: 'shop'`, `nextInSession`) keeps its return address in the session, and
// the staff login is called `shop_next`: whatever the plugin names its keys, the
// shop's return address is never read as a staff login, and the staff login is never
// read (or removed) as the shop's return address. On both session plugins.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifyLogin = require('fastify-login')
const { createJar, registerSession } = require('../helper')

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
const CUSTOMERS = new Map([['1', { id: '1', name: 'customer 1' }]])
const STAFF = new Map([['admin', { id: 'admin', name: 'staff admin' }], ['7', { id: '7', name: 'staff 7' }]])

function shop (scope) {
  return async () => {
    await scope.register(fastifyLogin, {
      key: 'shop',
      nextInSession: true,
      loginUrl: '/login',
      loadUser: async (id) => CUSTOMERS.get(id) ?? null
    })
    scope.get('/orders', { preHandler: scope.loginRequired }, async (request) => ({ orders: [], customer: request.user.name }))
    scope.post('/login', async (request, reply) => {
      await reply.loginUser(CUSTOMERS.get(String(request.body.id)))
      return reply.redirectAfterLogin('/')
    })
    scope.get('/me', async (request) => ({ name: request.user?.name ?? null }))
  }
}

function staff (scope) {
  return async () => {
    await scope.register(fastifyLogin, {
      key: 'shop_next',
      loginUrl: '/admin/login',
      loadUser: async (id) => STAFF.get(id) ?? null
    })
    scope.get('/me', async (request) => ({ name: request.user?.name ?? null, by: request.authenticatedBy }))
    scope.get('/payroll', { preHandler: scope.loginRequired }, async (request) => ({ payroll: 'secret', reader: request.user.name }))
    scope.post('/login', async (request, reply) => {
      await reply.loginUser(STAFF.get(String(request.body.id)))
      return { ok: true }
    })
  }
}

/** The shop at `/`, the staff at `/admin`, in sibling scopes sharing the app's session; in either order. */
async function shopAndStaff (order) {
  const app = Fastify()
  await app.register(fastifyCookie)
  await registerSession(app)
  const realms = {
    shop: () => app.register(async (scope) => shop(scope)()),
    staff: () => app.register(async (scope) => staff(scope)(), { prefix: '/admin' })
  }
  for (const name of order) await realms[name]()
  await app.ready()
  return app
}

for (const order of [['shop', 'staff'], ['staff', 'shop']]) {
  describe(`realm keys 'shop' (nextInSession) and 'shop_next', registered ${order.join(' then ')}`, () => {
    test('an anonymous visitor crafting the return address never becomes a staff user', async (t) => {
      const app = await shopAndStaff(order)
      t.after(() => app.close())
      const attacker = createJar(app)

      // The shop keeps `/orders?.....admin` as the return address. Read as a login
      // state (`<fingerprint>.<version>.<stale>.<remember>.<login id>.<user id>`) it
      // would be a login of user 'admin' with an empty version and no login id.
      for (const payload of ['/orders?.....admin', '/orders?.....7', '/orders?x=.....admin']) {
        const lured = await attacker.get({ url: payload, headers: HTML })
        assert.equal(lured.statusCode, 302)
        assert.equal(lured.headers.location, '/login', 'the return address is kept in the session')

        const me = await attacker.get('/admin/me')
        assert.deepEqual(me.json(), { name: null, by: null }, `${payload} made the visitor a staff user`)
        const payroll = await attacker.get('/admin/payroll')
        assert.equal(payroll.statusCode, 401, `${payload} opened a staff-only route: ${payroll.body}`)
      }
    })

    test("a customer's return after login does not remove the staff login of the same browser", async (t) => {
      const app = await shopAndStaff(order)
      t.after(() => app.close())
      const browser = createJar(app)
      assert.equal((await browser.post('/admin/login', { id: 7 })).statusCode, 200)
      assert.equal((await browser.get('/admin/me')).json().name, 'staff 7')

      // The shop sends the visitor to its login page, then back where they were.
      const lured = await browser.get({ url: '/orders', headers: HTML })
      assert.equal(lured.headers.location, '/login')
      const back = await browser.post('/login', { id: 1 })
      assert.equal(back.statusCode, 302)
      assert.equal(back.headers.location, '/orders', 'the shop returns to its own address')
      assert.equal((await browser.get('/me')).json().name, 'customer 1')
      assert.equal((await browser.get('/admin/me')).json().name, 'staff 7', 'the staff login is still there')
    })

    test("a staff login is never taken as the shop's return address", async (t) => {
      const app = await shopAndStaff(order)
      t.after(() => app.close())
      const browser = createJar(app)
      await browser.post('/admin/login', { id: 7 })
      // No return address was kept: the shop sends its customer to the fallback.
      const res = await browser.post('/login', { id: 1 })
      assert.equal(res.headers.location, '/')
      assert.equal((await browser.get('/admin/me')).json().name, 'staff 7', 'and the staff login stays')
    })
  })
}
