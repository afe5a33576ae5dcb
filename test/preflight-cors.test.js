'use strict'

// A CORS preflight to a guarded route with the plugins people put beside this one
// (README "Guard responses"): "a CORS preflight to a guarded route is still
// answered (`@fastify/cors` answers it itself; without it the guard answers `204`)",
// and no route shape, @fastify/auth strategy (`loginGuard({ respond: false })`)
// included, runs a guarded handler for nobody. With the real @fastify/cors, in its
// default set-up and in the ones that let the request go on to the route.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fastifyCors = require('@fastify/cors')
const fastifyAuth = require('@fastify/auth')
const { buildApp, createJar } = require('./helper')

const ORIGIN = 'https://app.example.com'
const PREFLIGHT = { origin: ORIGIN, 'access-control-request-method': 'DELETE' }
const API_KEY = 'k-123'

/** Guarded routes of every shape that serves OPTIONS, plus @fastify/auth ones, counting runs in `hits`. */
function guardedRoutes (hits) {
  const handler = (name) => async (request) => {
    hits[name] = (hits[name] ?? 0) + 1
    return { secret: 'salaries', user: request.user }
  }
  return async (app) => {
    await app.register(fastifyAuth)
    app.all('/all', { preHandler: app.loginRequired }, handler('/all'))
    app.route({ method: ['GET', 'DELETE', 'OPTIONS'], url: '/list', preHandler: app.loginRequired, handler: handler('/list') })
    app.register(async (scope) => {
      scope.addHook('preHandler', scope.loginRequired)
      scope.all('/all', handler('/area/all'))
    }, { prefix: '/area' })
    const loggedIn = app.loginGuard({ respond: false })
    const apiKey = (request, reply, done) => done(request.headers['x-api-key'] === API_KEY ? undefined : new Error('bad key'))
    app.all('/auth', { preHandler: app.auth([loggedIn]) }, handler('/auth'))
    app.all('/auth-or-key', { preHandler: app.auth([loggedIn, apiKey]) }, handler('/auth-or-key'))
  }
}

const GUARDED = ['/all', '/list', '/area/all']
const STRATEGIES = ['/auth', '/auth-or-key']

async function appWith (t, cors, hits) {
  const routes = guardedRoutes(hits)
  const app = await buildApp({
    login: { loginUrl: '/login' },
    routes: async (app) => {
      if (cors !== undefined) await app.register(fastifyCors, cors)
      await routes(app)
    }
  })
  t.after(() => app.close())
  return app
}

describe('with the real @fastify/cors', () => {
  const setups = {
    'its defaults (it answers the preflight in onRequest)': { origin: ORIGIN },
    'hook: preHandler': { origin: ORIGIN, hook: 'preHandler' },
    'preflightContinue: true (the request goes on to the route)': { origin: ORIGIN, preflightContinue: true }
  }
  for (const [name, cors] of Object.entries(setups)) {
    test(`${name}: every preflight is answered with its CORS headers, no guarded handler runs`, async (t) => {
      const hits = {}
      const app = await appWith(t, cors, hits)
      const answers = {}
      for (const url of [...GUARDED, ...STRATEGIES]) {
        const res = await app.inject({ method: 'OPTIONS', url, headers: PREFLIGHT })
        answers[url] = {
          // 204; from a strategy, which cannot answer, @fastify/auth's 401 will do: never the handler's 200.
          answered: res.statusCode === 204 || (STRATEGIES.includes(url) && res.statusCode === 401) || res.statusCode,
          allowOrigin: res.headers['access-control-allow-origin'],
          allowMethods: res.headers['access-control-allow-methods'] !== undefined,
          handlerAnswered: res.body.includes('salaries')
        }
      }
      assert.deepEqual(hits, {}, 'no guarded handler ran for nobody')
      const expected = { answered: true, allowOrigin: ORIGIN, allowMethods: true, handlerAnswered: false }
      assert.deepEqual(answers, Object.fromEntries([...GUARDED, ...STRATEGIES].map((url) => [url, expected])))
    })
  }

  test('an OPTIONS that is no preflight, and a real cross-origin request, are still refused for nobody', async (t) => {
    const hits = {}
    const app = await appWith(t, { origin: ORIGIN, preflightContinue: true }, hits)
    for (const url of [...GUARDED, ...STRATEGIES]) {
      // @fastify/cors answers an incomplete preflight itself (400, strictPreflight).
      for (const headers of [{}, { origin: ORIGIN }]) {
        const res = await app.inject({ method: 'OPTIONS', url, headers })
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `OPTIONS ${url} ${JSON.stringify(headers)}: ${res.statusCode} ${res.body}`)
      }
      const res = await app.inject({ method: 'DELETE', url, headers: { origin: ORIGIN } })
      assert.equal(res.statusCode, 401, `DELETE ${url}: ${res.body}`)
      assert.equal(res.headers['access-control-allow-origin'], ORIGIN, 'the refusal keeps the CORS headers, so the page can read it')
    }
    assert.deepEqual(hits, {})
  })
})

describe('as an @fastify/auth strategy, without @fastify/cors', () => {
  test('a preflight never passes loginGuard({ respond: false }): the handler does not run', async (t) => {
    const hits = {}
    const app = await appWith(t, undefined, hits)
    const answers = {}
    for (const url of STRATEGIES) {
      const res = await app.inject({ method: 'OPTIONS', url, headers: PREFLIGHT })
      answers[url] = res.statusCode
    }
    assert.deepEqual(hits, {}, 'no guarded handler ran for nobody')
    // The strategy cannot let the request through; whether the preflight gets the
    // guard's 204 or @fastify/auth's 401, it is not the handler's answer.
    for (const [url, status] of Object.entries(answers)) assert.ok(status === 204 || status === 401, `${url}: ${status}`)
  })

  test('a logged-in user, or a valid API key, still passes the strategies', async (t) => {
    const hits = {}
    const app = await appWith(t, undefined, hits)
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.request({ method: 'OPTIONS', url: '/auth' })).statusCode, 200)
    assert.equal((await app.inject({ method: 'OPTIONS', url: '/auth-or-key', headers: { 'x-api-key': API_KEY } })).statusCode, 200)
    assert.deepEqual(hits, { '/auth': 1, '/auth-or-key': 1 })
  })
})
