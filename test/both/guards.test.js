'use strict'

// README "Guard responses" and "Instance": loginRequired, freshLoginRequired, loginGuard,
// their handlers and events, exempt methods, excluded paths.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, USERS, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
const JSON_ACCEPT = { accept: 'application/json' }

function unauthorizedBody (code = 'FST_LOGIN_REQUIRED') {
  return (body) => {
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
    assert.equal(body.statusCode, 401)
    assert.equal(body.code, code)
    assert.equal(body.error, 'Unauthorized')
    assert.equal(typeof body.message, 'string')
    assert.ok(body.message.length > 0)
  }
}

/** A counter of route runs plus /protected (loginRequired) and /protected-fresh (freshLoginRequired). */
function protectedRoutes (hits) {
  return (app) => {
    app.get('/protected', { preHandler: app.loginRequired }, async () => { hits.protected = (hits.protected ?? 0) + 1; return { ok: true } })
    app.post('/protected', { preHandler: app.loginRequired }, async () => { hits.protected = (hits.protected ?? 0) + 1; return { ok: true } })
    app.options('/protected', { preHandler: app.loginRequired }, async (request, reply) => { hits.options = (hits.options ?? 0) + 1; return reply.code(204).send() })
    app.delete('/protected', { preHandler: app.loginRequired }, async () => ({ deleted: true }))
    app.get('/protected-fresh', { preHandler: app.freshLoginRequired }, async () => { hits.fresh = (hits.fresh ?? 0) + 1; return { ok: true } })
  }
}

describe('loginRequired', () => {
  test('an anonymous browser GET is redirected to loginUrl with next = path and query, percent-encoded', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes(hits) })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/protected?a=1', headers: HTML })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?next=%2Fprotected%3Fa%3D1')
    assert.equal(hits.protected, undefined, 'the route must not run')
  })

  test('an anonymous browser HEAD is redirected like GET', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes(hits) })
    t.after(() => app.close())

    const res = await app.inject({ method: 'HEAD', url: '/protected?a=1', headers: HTML })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?next=%2Fprotected%3Fa%3D1')
    assert.equal(hits.protected, undefined)
  })

  test('next is merged into a loginUrl that already has a query', async (t) => {
    const app = await buildApp({ login: { loginUrl: '/login?lang=en' }, routes: protectedRoutes({}) })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/protected?a=1', headers: HTML })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?lang=en&next=%2Fprotected%3Fa%3D1')
  })

  test('without loginUrl an anonymous browser GET gets the 401 error, exactly in Fastify\'s format', async (t) => {
    const hits = {}
    const app = await buildApp({ routes: protectedRoutes(hits) })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/protected', headers: HTML })
    assert.equal(res.statusCode, 401)
    assert.match(res.headers['content-type'], /^application\/json/)
    unauthorizedBody()(res.json())
    assert.equal(hits.protected, undefined)
  })

  test('a POST, or a GET from a JSON client, gets 401 even with loginUrl', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes(hits) })
    t.after(() => app.close())

    for (const req of [
      { method: 'POST', url: '/protected', headers: HTML, payload: {} },
      { method: 'GET', url: '/protected', headers: JSON_ACCEPT },
      { method: 'GET', url: '/protected' },
      { method: 'DELETE', url: '/protected', headers: HTML }
    ]) {
      const res = await app.inject(req)
      assert.equal(res.statusCode, 401, `${req.method} ${JSON.stringify(req.headers ?? {})}`)
      assert.equal(res.headers.location, undefined)
      unauthorizedBody()(res.json())
    }
    assert.equal(hits.protected, undefined)
  })

  test('a logged-in user passes', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes(hits) })
    t.after(() => app.close())
    const jar = createJar(app)

    await jar.post('/login', { id: 1 })
    const res = await jar.get({ url: '/protected?a=1', headers: HTML })
    assert.equal(res.statusCode, 200)
    assert.equal(hits.protected, 1)
  })

  test('the app\'s own error handler sees the 401 error', async (t) => {
    const seen = []
    const app = await buildApp({
      routes (app) {
        app.register(async (scope) => {
          scope.setErrorHandler((error, request, reply) => {
            seen.push({ code: error.code, statusCode: error.statusCode })
            return reply.code(error.statusCode).send({ custom: true, code: error.code })
          })
          scope.get('/guarded', { preHandler: scope.loginRequired }, async () => ({ ok: true }))
          scope.get('/guarded-fresh', { preHandler: scope.freshLoginRequired }, async () => ({ ok: true }))
        })
      }
    })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/guarded' })
    assert.equal(res.statusCode, 401)
    assert.deepEqual(res.json(), { custom: true, code: 'FST_LOGIN_REQUIRED' })

    const jar = createJar(app)
    await jar.post('/login', { id: 1, fresh: false })
    const stale = await jar.get('/guarded-fresh')
    assert.equal(stale.statusCode, 401)
    assert.deepEqual(stale.json(), { custom: true, code: 'FST_LOGIN_FRESH_REQUIRED' })
    assert.deepEqual(seen, [
      { code: 'FST_LOGIN_REQUIRED', statusCode: 401 },
      { code: 'FST_LOGIN_FRESH_REQUIRED', statusCode: 401 }
    ])
  })
})

describe('exemptMethods', () => {
  test('a CORS preflight (OPTIONS) is not refused by default: the guard answers it 204, the handler never runs; HEAD is guarded like GET', async (t) => {
    const hits = {}
    const app = await buildApp({ routes: protectedRoutes(hits) })
    t.after(() => app.close())

    const preflight = { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' }
    const options = await app.inject({ method: 'OPTIONS', url: '/protected', headers: preflight })
    assert.equal(options.statusCode, 204)
    assert.equal(options.body, '')
    assert.equal(hits.options, undefined, 'no guarded handler runs for nobody')
    const head = await app.inject({ method: 'HEAD', url: '/protected' })
    assert.equal(head.statusCode, 401)

    // With a login the preflight reaches its handler, like any guarded request.
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.request({ method: 'OPTIONS', url: '/protected', headers: preflight })).statusCode, 204)
    assert.equal(hits.options, 1)
  })

  test('an OPTIONS request that is not a preflight is guarded: it would run the handler of an app.all() route', async (t) => {
    const app = await buildApp({
      routes: (app) => app.all('/report', { preHandler: app.loginRequired }, async () => ({ salaries: [1] }))
    })
    t.after(() => app.close())
    assert.equal((await app.inject({ method: 'OPTIONS', url: '/report' })).statusCode, 401)
    assert.equal((await app.inject({ method: 'OPTIONS', url: '/report', headers: { origin: 'https://a.example' } })).statusCode, 401)
    // A real preflight is not refused, and still does not reach the handler: the guard answers it.
    const preflight = await app.inject({ method: 'OPTIONS', url: '/report', headers: { origin: 'https://a.example', 'access-control-request-method': 'GET' } })
    assert.equal(preflight.statusCode, 204)
    assert.equal(preflight.body, '', 'nothing of the handler\'s answer')
  })

  test('a custom list replaces the default', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { exemptMethods: ['get'] }, routes: protectedRoutes(hits) })
    t.after(() => app.close())

    const get = await app.inject({ method: 'GET', url: '/protected' })
    assert.equal(get.statusCode, 204, 'GET is exempt: not refused, answered by the guard')
    assert.equal(get.body, '')
    assert.equal(hits.protected, undefined, 'the guarded handler never runs for nobody')
    assert.equal((await app.inject({ method: 'POST', url: '/protected', payload: {} })).statusCode, 401)
    assert.equal((await app.inject({ method: 'OPTIONS', url: '/protected' })).statusCode, 401, 'OPTIONS is no longer exempt')
    const preflight = { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' }
    assert.equal((await app.inject({ method: 'OPTIONS', url: '/protected', headers: preflight })).statusCode, 401, 'not even as a preflight')

    const jar = createJar(app)
    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get('/protected')).statusCode, 200, 'with a login the handler runs')
    assert.equal(hits.protected, 1)
  })
})

describe('freshLoginRequired', () => {
  test('a fresh: false login is sent to refreshUrl (browser) or gets FST_LOGIN_FRESH_REQUIRED (API)', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { loginUrl: '/login', refreshUrl: '/reauth' }, routes: protectedRoutes(hits) })
    t.after(() => app.close())
    const jar = createJar(app)

    await jar.post('/login', { id: 1, fresh: false })
    const browser = await jar.get({ url: '/protected-fresh?x=y', headers: HTML })
    assert.equal(browser.statusCode, 302)
    assert.equal(browser.headers.location, '/reauth?next=%2Fprotected-fresh%3Fx%3Dy')

    const api = await jar.get({ url: '/protected-fresh', headers: JSON_ACCEPT })
    assert.equal(api.statusCode, 401)
    unauthorizedBody('FST_LOGIN_FRESH_REQUIRED')(api.json())
    assert.equal(hits.fresh, undefined)

    assert.equal((await jar.get({ url: '/protected', headers: HTML })).statusCode, 200, 'a stale login still passes loginRequired')

    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get({ url: '/protected-fresh', headers: HTML })).statusCode, 200)
    assert.equal(hits.fresh, 1)
  })

  test('refreshUrl defaults to loginUrl; anonymous requests get the login response', async (t) => {
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes({}) })
    t.after(() => app.close())
    const jar = createJar(app)

    const anonymous = await jar.get({ url: '/protected-fresh', headers: JSON_ACCEPT })
    assert.equal(anonymous.statusCode, 401)
    unauthorizedBody('FST_LOGIN_REQUIRED')(anonymous.json())

    await jar.post('/login', { id: 2, fresh: false })
    const res = await jar.get({ url: '/protected-fresh', headers: HTML })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?next=%2Fprotected-fresh')
  })

  test('a login restored from the remember cookie is not fresh', async (t) => {
    const hits = {}
    const app = await buildApp({ login: { remember: { secret: REMEMBER_SECRET } }, routes: protectedRoutes(hits) })
    t.after(() => app.close())
    const jar = createJar(app)

    await jar.post('/login', { id: 1, remember: true })
    assert.ok(jar.cookies.remember_token, 'a remember cookie was set')
    delete jar.cookies[SESSION_COOKIE]

    const res = await jar.get({ url: '/protected-fresh', headers: JSON_ACCEPT })
    assert.equal(res.statusCode, 401)
    unauthorizedBody('FST_LOGIN_FRESH_REQUIRED')(res.json())
    assert.equal(hits.fresh, undefined)
    const me = (await jar.get('/me')).json()
    assert.deepEqual(me.user, USERS.get('1'), 'the user is restored')
    assert.equal(me.fresh, false)
    assert.equal((await jar.get('/protected')).statusCode, 200)
  })
})

describe('loginGuard and handlers', () => {
  test('loginGuard({ loginUrl, fresh }) guards an admin scope with its own login page', async (t) => {
    const hits = {}
    const app = await buildApp({
      login: { loginUrl: '/login' },
      routes (app) {
        app.register(async (admin) => {
          const guard = admin.loginGuard({ loginUrl: '/admin/login', fresh: true })
          admin.get('/', { preHandler: guard }, async () => { hits.admin = (hits.admin ?? 0) + 1; return { admin: true } })
        }, { prefix: '/admin' })
        protectedRoutes(hits)(app)
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)

    const anonymous = await jar.get({ url: '/admin/?tab=users', headers: HTML })
    assert.equal(anonymous.statusCode, 302)
    assert.equal(anonymous.headers.location, '/admin/login?next=%2Fadmin%2F%3Ftab%3Dusers')
    const elsewhere = await jar.get({ url: '/protected', headers: HTML })
    assert.equal(elsewhere.headers.location, '/login?next=%2Fprotected', 'the global loginUrl is unchanged')

    await jar.post('/login', { id: 1, fresh: false })
    const stale = await jar.get({ url: '/admin/', headers: HTML })
    assert.equal(stale.statusCode, 302, 'fresh: true refuses a stale login')
    assert.match(stale.headers.location, /^\/admin\/login\?next=%2Fadmin%2F$/)
    const staleApi = await jar.get({ url: '/admin/', headers: JSON_ACCEPT })
    assert.equal(staleApi.statusCode, 401)
    unauthorizedBody('FST_LOGIN_FRESH_REQUIRED')(staleApi.json())
    assert.equal(hits.admin, undefined)

    await jar.post('/login', { id: 1 })
    assert.equal((await jar.get({ url: '/admin/', headers: HTML })).statusCode, 200)
    assert.equal(hits.admin, 1)
  })

  test('loginGuard({ onUnauthorized }) replaces the response for that guard only', async (t) => {
    const hits = {}
    const app = await buildApp({
      routes (app) {
        const guard = app.loginGuard({ onUnauthorized: (request, reply) => reply.code(403).send({ admin: 'denied' }) })
        app.get('/admin', { preHandler: guard }, async () => { hits.admin = (hits.admin ?? 0) + 1; return {} })
        protectedRoutes(hits)(app)
      }
    })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/admin' })
    assert.equal(res.statusCode, 403)
    assert.deepEqual(res.json(), { admin: 'denied' })
    assert.equal(hits.admin, undefined)
    assert.equal((await app.inject({ method: 'GET', url: '/protected' })).statusCode, 401)
  })

  test('onUnauthorized and onNeedsRefresh options replace the default responses', async (t) => {
    const hits = {}
    const app = await buildApp({
      login: {
        loginUrl: '/login',
        onUnauthorized: (request, reply) => reply.code(403).send({ denied: request.url }),
        onNeedsRefresh: async (request, reply) => reply.code(409).send({ stale: request.url })
      },
      routes: protectedRoutes(hits)
    })
    t.after(() => app.close())
    const jar = createJar(app)

    const anonymous = await jar.get({ url: '/protected?a=1', headers: HTML })
    assert.equal(anonymous.statusCode, 403)
    assert.deepEqual(anonymous.json(), { denied: '/protected?a=1' })

    await jar.post('/login', { id: 1, fresh: false })
    const stale = await jar.get({ url: '/protected-fresh', headers: HTML })
    assert.equal(stale.statusCode, 409)
    assert.deepEqual(stale.json(), { stale: '/protected-fresh' })
    assert.equal(hits.protected, undefined)
    assert.equal(hits.fresh, undefined)
  })

  test('a handler that sends without returning the reply still stops the route', async (t) => {
    const hits = {}
    const app = await buildApp({
      login: { onUnauthorized: (request, reply) => { reply.code(418).send({ teapot: true }) } },
      routes: protectedRoutes(hits)
    })
    t.after(() => app.close())

    const res = await app.inject({ method: 'GET', url: '/protected' })
    assert.equal(res.statusCode, 418)
    assert.deepEqual(res.json(), { teapot: true })
    assert.equal(hits.protected, undefined)
  })

  test('a handler that sends nothing does not let the route run', async (t) => {
    const hits = {}
    let called = 0
    const app = await buildApp({
      login: {
        onUnauthorized: () => { called++ },
        onNeedsRefresh: async () => { called++ }
      },
      routes: protectedRoutes(hits)
    })
    t.after(() => app.close())
    const jar = createJar(app)

    const res = await jar.get('/protected')
    assert.equal(called, 1)
    assert.equal(res.statusCode, 401)
    assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')

    await jar.post('/login', { id: 1, fresh: false })
    const stale = await jar.get('/protected-fresh')
    assert.equal(called, 2)
    assert.equal(stale.statusCode, 401)
    assert.equal(stale.json().code, 'FST_LOGIN_FRESH_REQUIRED')
    assert.equal(hits.protected, undefined)
    assert.equal(hits.fresh, undefined)
  })

  test('scope.addHook("preHandler", scope.loginRequired) protects a whole scope', async (t) => {
    const hits = {}
    const app = await buildApp({
      login: { loginUrl: '/login' },
      routes (app) {
        app.register(async (scope) => {
          scope.addHook('preHandler', scope.loginRequired)
          scope.get('/a', async () => { hits.a = (hits.a ?? 0) + 1; return { a: true } })
          scope.post('/b', async () => { hits.b = (hits.b ?? 0) + 1; return { b: true } })
        }, { prefix: '/account' })
        app.get('/public', async () => ({ public: true }))
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)

    const a = await jar.get({ url: '/account/a', headers: HTML })
    assert.equal(a.statusCode, 302)
    assert.equal(a.headers.location, '/login?next=%2Faccount%2Fa')
    const b = await jar.post('/account/b', {})
    assert.equal(b.statusCode, 401)
    assert.equal(b.json().code, 'FST_LOGIN_REQUIRED')
    assert.equal((await jar.get('/public')).statusCode, 200, 'routes outside the scope stay public')
    assert.deepEqual(hits, {})

    await jar.post('/login', { id: 2 })
    assert.equal((await jar.get('/account/a')).statusCode, 200)
    assert.equal((await jar.post('/account/b', {})).statusCode, 200)
    assert.deepEqual(hits, { a: 1, b: 1 })
  })

  test('unauthorized and needsRefresh events fire with the request', async (t) => {
    const app = await buildApp({ login: { loginUrl: '/login' }, routes: protectedRoutes({}) })
    t.after(() => app.close())
    const events = []
    app.loginManager.on('unauthorized', (request, ...rest) => events.push(['unauthorized', request.url, request.user, rest.length]))
    app.loginManager.on('needsRefresh', (request, ...rest) => events.push(['needsRefresh', request.url, request.user?.id, rest.length]))
    const jar = createJar(app)

    await jar.get({ url: '/protected?a=1', headers: HTML })
    await jar.get('/me')
    await jar.post('/login', { id: 1, fresh: false })
    await jar.get('/protected')
    await jar.get('/protected-fresh')
    assert.deepEqual(events, [
      ['unauthorized', '/protected?a=1', null, 0],
      ['needsRefresh', '/protected-fresh', 1, 0]
    ])
  })

  test('fastify.loginManager.loginUrl() builds the login address', async (t) => {
    const app = await buildApp({ login: { loginUrl: '/login' } })
    t.after(() => app.close())
    assert.equal(app.loginManager.loginUrl('/x?y=1'), '/login?next=%2Fx%3Fy%3D1')
    assert.equal(app.loginManager.loginUrl(), '/login')

    const merged = await buildApp({ login: { loginUrl: '/login?lang=en', nextParam: 'return_to' } })
    t.after(() => merged.close())
    assert.equal(merged.loginManager.loginUrl('/x?y=1'), '/login?lang=en&return_to=%2Fx%3Fy%3D1')
  })
})

describe('exclude', () => {
  test('/static covers /static and /static/a.css (no loader call), not /staticky', async (t) => {
    let calls = 0
    const app = await buildApp({
      login: {
        exclude: ['/static'],
        loadUser: async (id) => { calls++; return USERS.get(id) ?? null }
      },
      routes (app) {
        const who = async (request) => ({ user: request.user })
        app.get('/static', who)
        app.get('/static/a.css', who)
        app.get('/staticky', who)
        app.get('/staticky/a.css', who)
      }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1 })

    for (const url of ['/static', '/static/a.css', '/static/a.css?v=2']) {
      const res = await jar.get(url)
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().user, null, `${url} is excluded`)
    }
    assert.equal(calls, 0, 'no loader call under an excluded prefix')

    for (const url of ['/staticky', '/staticky/a.css']) {
      const res = await jar.get(url)
      assert.deepEqual(res.json().user, USERS.get('1'), `${url} is not excluded`)
    }
    assert.equal(calls, 2)
  })
})
