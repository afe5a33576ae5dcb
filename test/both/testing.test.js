'use strict'

// fastify-login/testing: a user's own tests act as a given user in one call,
// without a login route, a CSRF token or a password, and nothing of it is
// reachable over HTTP.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifyLogin = require('fastify-login')
const { loginAs } = require('fastify-login/testing')
const { buildApp, registerSession, USERS, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const remember = { secret: REMEMBER_SECRET }

describe('loginAs', () => {
  test('gives the cookies that make app.inject act as the user, fresh by default; the route is never run', async (t) => {
    let ran = 0
    const app = await buildApp({ routes: (app) => app.get('/', async () => { ran++; return 'home' }) })
    t.after(() => app.close())
    const login = await loginAs(app, USERS.get('1'))
    assert.deepEqual(Object.keys(login.cookies), [SESSION_COOKIE])
    assert.equal(ran, 0)

    const viaCookies = await app.inject({ url: '/me', cookies: login.cookies })
    assert.deepEqual(viaCookies.json(), { user: { id: 1, username: 'user1' }, authenticatedBy: 'session', fresh: true })
    const viaHeaders = await app.inject({ url: '/fresh', headers: login.headers })
    assert.equal(viaHeaders.statusCode, 200)
  })

  test('fresh: false gives a stale login; remember: true a remember cookie that restores the user alone', async (t) => {
    const app = await buildApp({ login: { remember } })
    t.after(() => app.close())
    const stale = await loginAs(app, USERS.get('2'), { fresh: false })
    assert.equal((await app.inject({ url: '/me', cookies: stale.cookies })).json().fresh, false)
    assert.equal((await app.inject({ url: '/fresh', cookies: stale.cookies })).statusCode, 401)

    const remembered = await loginAs(app, USERS.get('2'), { remember: true })
    assert.ok(remembered.cookies.remember_token)
    const res = await app.inject({ url: '/me', cookies: { remember_token: remembered.cookies.remember_token } })
    assert.equal(res.json().authenticatedBy, 'remember')
    assert.equal(res.json().user.id, 2)
  })

  test('emits the login event, and logs in even a user isActive refuses (a test decides who it is)', async (t) => {
    const app = await buildApp({ login: { isActive: () => false } })
    t.after(() => app.close())
    const seen = []
    app.loginManager.on('login', (request, user) => seen.push(user.id))
    const login = await loginAs(app, USERS.get('1'))
    assert.equal((await app.inject({ url: '/me', cookies: login.cookies })).json().user.id, 1)
    assert.deepEqual(seen, [1])
  })

  test('session protection: the login is made with the headers the test will send', async (t) => {
    const app = await buildApp({ login: { sessionProtection: 'strong' } })
    t.after(() => app.close())
    const headers = { 'user-agent': 'my-test-client/1.0' }
    const login = await loginAs(app, USERS.get('1'), { headers })
    assert.equal((await app.inject({ url: '/me', headers: { ...headers, ...login.headers } })).json().user.id, 1)
    const other = await loginAs(app, USERS.get('1'), { headers })
    assert.equal((await app.inject({ url: '/me', cookies: other.cookies })).json().user, null, 'another User-Agent is another client')
  })

  test('with several logins, key and url pick one; a URL of another login says so', async (t) => {
    const app = Fastify()
    await app.register(fastifyCookie)
    await registerSession(app)
    for (const [key, prefix] of [['customer', ''], ['staff', '/admin']]) {
      await app.register(async (scope) => {
        await scope.register(fastifyLogin, { key, loadUser: async (id) => USERS.get(id) ?? null })
        scope.get('/me', async (request) => ({ user: request.user?.id ?? null }))
      }, { prefix })
    }
    await app.ready()
    t.after(() => app.close())
    const staff = await loginAs(app, USERS.get('2'), { key: 'staff', url: '/admin/me' })
    assert.equal((await app.inject({ url: '/admin/me', cookies: staff.cookies })).json().user, 2)
    assert.equal((await app.inject({ url: '/me', cookies: staff.cookies })).json().user, null)

    await assert.rejects(loginAs(app, USERS.get('2'), { key: 'staff', url: '/me' }), /key 'customer', not 'staff'/)
    await assert.rejects(loginAs(app, USERS.get('2'), { url: '/nowhere' }), /could not log in through \/nowhere/)
  })

  test('nothing of it is reachable over HTTP: the same URL from the network just runs the route', async (t) => {
    const app = await buildApp({ routes: (app) => app.get('/', async (request) => ({ user: request.user })) })
    t.after(() => app.close())
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    const res = await fetch(address + '/', { headers: { 'x-fastify-login-test': 'login' } })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { user: null })
    assert.equal(res.headers.get('set-cookie'), null)
  })
})
