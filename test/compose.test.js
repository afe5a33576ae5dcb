'use strict'

// The plugins people use beside this one, for real: @fastify/sensible for HTTP
// errors, @fastify/auth deciding between the login check and an API key,
// @fastify/jwt for API clients next to sessions for browsers.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fastifySensible = require('@fastify/sensible')
const fastifyAuth = require('@fastify/auth')
const fastifyJwt = require('@fastify/jwt')
const { buildApp, createJar, USERS } = require('./helper')

const html = { accept: 'text/html' }

describe('@fastify/sensible', () => {
  test('onUnauthorized and a role check answer with its httpErrors; the guards still run first', async (t) => {
    const app = await buildApp({
      login: {
        loginUrl: '/login',
        onUnauthorized: (request, reply) => { throw reply.server.httpErrors.unauthorized('Log in first') }
      },
      routes: async (app) => {
        await app.register(fastifySensible)
        const adminOnly = async (request) => {
          if (request.requireUser().username !== 'user1') throw app.httpErrors.forbidden('Admins only')
        }
        app.get('/admin', { preHandler: [app.loginRequired, adminOnly] }, async () => 'admin page')
        app.get('/item/:id', async (request, reply) => reply.notFound(`No item ${request.params.id}`))
      }
    })
    t.after(() => app.close())
    let res = await app.inject({ url: '/admin', headers: html })
    assert.equal(res.statusCode, 401)
    assert.deepEqual(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Log in first' })

    const user2 = createJar(app)
    await user2.post('/login', { id: 2 })
    res = await user2.get('/admin')
    assert.equal(res.statusCode, 403)
    assert.equal(res.json().message, 'Admins only')

    const user1 = createJar(app)
    await user1.post('/login', { id: 1 })
    assert.equal((await user1.get('/admin')).body, 'admin page')
    assert.equal((await user1.get('/item/9')).statusCode, 404)
  })
})

describe('@fastify/auth', () => {
  const API_KEY = 'k-123'
  async function setup () {
    return buildApp({
      login: { loginUrl: '/login' },
      routes: async (app) => {
        await app.register(fastifyAuth)
        const apiKey = (request, reply, done) => done(request.headers['x-api-key'] === API_KEY ? undefined : new Error('bad key'))
        const loggedIn = app.loginGuard({ respond: false })
        app.get('/either', { preHandler: app.auth([loggedIn, apiKey]) }, async (request) => ({ user: request.user?.id ?? null }))
        app.get('/both', { preHandler: app.auth([loggedIn, apiKey], { relation: 'and' }) }, async (request) => ({ user: request.user.id }))
        app.get('/answers', { preHandler: app.auth([app.loginRequired, apiKey]) }, async () => 'in')
      }
    })
  }

  test('"or": a browser with a valid API key gets in, not a redirect to the login page', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    let res = await app.inject({ url: '/either', headers: { ...html, 'x-api-key': API_KEY } })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { user: null })

    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    res = await jar.get({ url: '/either', headers: html })
    assert.deepEqual(res.json(), { user: 1 }, 'a login is enough too')

    res = await app.inject({ url: '/either', headers: html })
    assert.equal(res.statusCode, 401, 'neither: @fastify/auth answers with the failure')
  })

  test('"and": both the login and the key are needed', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    const jar = createJar(app)
    assert.equal((await jar.get({ url: '/both', headers: { 'x-api-key': API_KEY } })).statusCode, 401)
    await jar.post('/login', { id: 2 })
    const noKey = await jar.get('/both')
    assert.equal(noKey.statusCode, 401)
    assert.equal((await jar.get({ url: '/both', headers: { 'x-api-key': API_KEY } })).json().user, 2)
  })

  test('the answering guard itself is not a strategy: it redirects a browser even with a valid key', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    const res = await app.inject({ url: '/answers', headers: { ...html, 'x-api-key': API_KEY } })
    assert.equal(res.statusCode, 302, 'this is why loginGuard({ respond: false }) exists')
  })
})

describe('@fastify/jwt', () => {
  test('sessions for browsers, JWT for API clients through loadUserFromRequest, in one app', async (t) => {
    const app = await buildApp({
      login: {
        loadUserFromRequest: async (request) => {
          if (!request.headers.authorization) return null
          try {
            const payload = await request.jwtVerify()
            return USERS.get(String(payload.sub)) ?? null
          } catch {
            return null // a bad token is an anonymous request, not a 500
          }
        }
      },
      routes: async (app) => {
        // Under another decorator name: request.user is fastify-login's.
        await app.register(fastifyJwt, { secret: 'a-jwt-secret-that-is-long-enough-0123456789', decoratorName: 'jwtPayload' })
      }
    })
    t.after(() => app.close())
    const token = app.jwt.sign({ sub: 2 })

    let res = await app.inject({ url: '/private', headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual(res.json(), { user: { id: 2, username: 'user2' } })
    res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.json().authenticatedBy, 'request')
    assert.equal(res.headers['set-cookie'], undefined, 'an API client gets no session')

    res = await app.inject({ url: '/private', headers: { authorization: 'Bearer not-a-token' } })
    assert.equal(res.statusCode, 401)

    const browser = createJar(app)
    await browser.post('/login', { id: 1 })
    assert.equal((await browser.get('/me')).json().authenticatedBy, 'session')
  })

  test('registered with its default decorator name, the clash fails at start-up with the recipe', async () => {
    const Fastify = require('fastify')
    const app = Fastify()
    await app.register(require('@fastify/cookie'))
    await app.register(require('@fastify/session'), { secret: 'a-session-secret-that-is-long-enough-0123456789' })
    await app.register(fastifyJwt, { secret: 'a-jwt-secret-that-is-long-enough-0123456789' })
    app.register(require('fastify-login'), { loadUser: async () => null })
    await assert.rejects(app.ready(), { code: 'FST_LOGIN_SETUP', message: /decoratorName: 'jwtPayload'/ })
  })

  test('registered after fastify-login with its default decorator name, the same recipe, not a generic decorator error', () => {
    // @fastify/jwt throws its decorator error out of its own registration (an uncaught
    // exception, whichever error it is): run the app in a child process and read what it died of.
    const { spawnSync } = require('node:child_process')
    const app = `
      const Fastify = require('fastify')
      const app = Fastify()
      app.register(require('@fastify/cookie'))
      app.register(require('@fastify/session'), { secret: 'a-session-secret-that-is-long-enough-0123456789' })
      app.register(require('fastify-login'), { loadUser: async () => null })
      app.register(require('@fastify/jwt'), { secret: 'a-jwt-secret-that-is-long-enough-0123456789' })
      app.ready()`
    const child = spawnSync(process.execPath, ['-e', app], { cwd: __dirname, encoding: 'utf8', timeout: 30000 })
    assert.notEqual(child.status, 0, 'the app does not start')
    assert.match(child.stderr, /FST_LOGIN_SETUP/)
    assert.match(child.stderr, /decoratorName: 'jwtPayload'/)
  })
})
