'use strict'

// README "Guard responses" and the `exemptMethods` option: "A guard never lets a request
// through to a handler without a login: no exempt method, header or route shape
// (`app.all`, a method list, a scope-wide hook, an `@fastify/auth` strategy) runs a
// guarded handler for nobody; a CORS preflight to a guarded route is still answered
// (`@fastify/cors` answers it itself; without it the guard answers `204`)." Here
// without @fastify/cors, on both session plugins; with the real @fastify/cors and as
// an @fastify/auth strategy in test/preflight-cors.test.js.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar } = require('../helper')

const PREFLIGHT = { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' }
const SECRET = 'salaries'

/**
 * Guarded routes of every shape that serves OPTIONS, each counting its runs in `hits`.
 * Returns the URLs to try.
 */
function guardedShapes (hits) {
  const handler = (name) => async (request) => {
    hits[name] = (hits[name] ?? 0) + 1
    return { secret: SECRET, user: request.user }
  }
  return {
    urls: ['/all', '/list', '/options', '/area/all', '/area/list'],
    routes (app) {
      app.all('/all', { preHandler: app.loginRequired }, handler('/all'))
      app.route({ method: ['GET', 'POST', 'OPTIONS'], url: '/list', preHandler: app.loginRequired, handler: handler('/list') })
      app.options('/options', { preHandler: app.loginRequired }, handler('/options'))
      app.register(async (scope) => {
        scope.addHook('preHandler', scope.loginRequired)
        scope.all('/all', handler('/area/all'))
        scope.route({ method: ['GET', 'OPTIONS'], url: '/list', handler: handler('/area/list') })
      }, { prefix: '/area' })
    }
  }
}

describe('a CORS preflight to a guarded route, without @fastify/cors', () => {
  test('is answered 204 by the guard; no guarded handler runs for nobody (app.all, a method list, an OPTIONS route, a scope-wide hook)', async (t) => {
    const hits = {}
    const shapes = guardedShapes(hits)
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: shapes.routes })
    t.after(() => app.close())
    const answers = {}
    for (const url of shapes.urls) {
      const res = await app.inject({ method: 'OPTIONS', url, headers: PREFLIGHT })
      answers[url] = `${res.statusCode} ${res.body}`
    }
    assert.deepEqual(hits, {}, 'no guarded handler ran')
    assert.deepEqual(answers, Object.fromEntries(shapes.urls.map((url) => [url, '204 '])), 'each preflight is answered 204 with no body')
  })

  test('a plain OPTIONS (no Origin and Access-Control-Request-Method) is refused like a GET', async (t) => {
    const hits = {}
    const shapes = guardedShapes(hits)
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: shapes.routes })
    t.after(() => app.close())
    for (const url of shapes.urls) {
      for (const headers of [{}, { origin: 'https://app.example.com' }, { 'access-control-request-method': 'DELETE' }]) {
        const res = await app.inject({ method: 'OPTIONS', url, headers })
        assert.equal(res.statusCode, 401, `${url} ${JSON.stringify(headers)}: ${res.body}`)
        assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')
      }
    }
    assert.deepEqual(hits, {})
  })

  test('a logged-in user still reaches every shape with OPTIONS', async (t) => {
    const hits = {}
    const shapes = guardedShapes(hits)
    const app = await buildApp({ routes: shapes.routes })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    for (const url of shapes.urls) {
      const res = await jar.request({ method: 'OPTIONS', url })
      assert.equal(res.statusCode, 200, url)
      assert.equal(res.json().user.id, 1)
    }
    assert.equal(Object.keys(hits).length, shapes.urls.length)
  })
})
