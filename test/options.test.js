'use strict'

// Plugin options: bad ones fail at registration with an error that names the
// option, good ones register, and the documented defaults are what an app gets.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifyLogin = require('fastify-login')
const { buildApp, createJar, REMEMBER_SECRET, USERS } = require('./helper')
const { registrationError } = require('./support/stores')

const loadUser = async (id) => USERS.get(id) ?? null
const SECRET_B = 'another-remember-secret-long-enough-abcdefghij'
const HTML = { accept: 'text/html,application/xhtml+xml' }

/** Asserts that `options` fail registration with FST_LOGIN_OPTION and a message matching `names`. */
async function assertRejected (options, names, what) {
  const error = await registrationError(options)
  assert.ok(error instanceof Error, `${what}: registration must fail, it succeeded`)
  assert.equal(error.code, 'FST_LOGIN_OPTION', `${what}: error code (message: ${error.message})`)
  assert.match(error.message, names, `${what}: the message must name the option`)
}

describe('bad options fail at registration, naming the option', () => {
  test('loadUser missing', async () => {
    await assertRejected({}, /loadUser/, 'no loadUser')
    await assertRejected({ loginUrl: '/login' }, /loadUser/, 'no loadUser, other options')
  })

  test('loadUser not a function', async () => {
    await assertRejected({ loadUser: 'users' }, /loadUser/, 'loadUser string')
    await assertRejected({ loadUser: { byId () {} } }, /loadUser/, 'loadUser object')
  })

  test('remember secret shorter than 32 characters', async () => {
    await assertRejected({ loadUser, remember: { secret: 'too-short' } }, /remember\.secret/, 'short secret')
    await assertRejected({ loadUser, remember: { secret: 'x'.repeat(31) } }, /remember\.secret/, '31-char secret')
  })

  test('an empty secret list', async () => {
    await assertRejected({ loadUser, remember: { secret: [] } }, /remember\.secret/, 'empty list')
  })

  test('a secret list with one short secret', async () => {
    await assertRejected({ loadUser, remember: { secret: [REMEMBER_SECRET, 'short'] } }, /remember\.secret/, 'short second')
    await assertRejected({ loadUser, remember: { secret: ['short', REMEMBER_SECRET] } }, /remember\.secret/, 'short first')
  })

  test('a missing remember secret', async () => {
    await assertRejected({ loadUser, remember: {} }, /remember\.secret/, 'no secret')
  })

  test("an unknown sessionProtection ('medium')", async () => {
    await assertRejected({ loadUser, sessionProtection: 'medium' }, /sessionProtection/, 'medium')
    await assertRejected({ loadUser, sessionProtection: true }, /sessionProtection/, 'true')
  })

  test("sameSite: 'none' without secure: true", async () => {
    await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, sameSite: 'none' } }, /sameSite|secure/, 'secure default')
    await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, sameSite: 'none', secure: 'auto' } }, /sameSite|secure/, "secure 'auto'")
    await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, sameSite: 'none', secure: false } }, /sameSite|secure/, 'secure false')
  })

  test('a __Host- cookie name with a domain', async () => {
    await assertRejected({
      loadUser,
      remember: { secret: REMEMBER_SECRET, cookieName: '__Host-remember', secure: true, domain: 'example.com' }
    }, /remember\.domain/, '__Host- with domain')
  })

  test("a __Host- cookie name with a path other than '/'", async () => {
    await assertRejected({
      loadUser,
      remember: { secret: REMEMBER_SECRET, cookieName: '__Host-remember', secure: true, path: '/app' }
    }, /remember\.path/, '__Host- with /app')
  })

  test('bad remember.maxAge: 0, -1, 1.5, "x"', async () => {
    for (const maxAge of [0, -1, 1.5, 'x']) {
      await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, maxAge } }, /remember\.maxAge/, `maxAge ${JSON.stringify(maxAge)}`)
    }
  })

  test('bad remember.cookieName', async () => {
    for (const cookieName of ['bad name', 'a;b', 'a=b', '', 42]) {
      await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, cookieName } }, /cookieName/, `cookieName ${JSON.stringify(cookieName)}`)
    }
  })

  test('unknown option names (a typo like loginURL)', async () => {
    await assertRejected({ loadUser, loginURL: '/login' }, /loginURL/, 'loginURL')
    await assertRejected({ loadUser, remember: { secret: REMEMBER_SECRET, maxage: 1000 } }, /maxage/, 'remember.maxage')
  })

  test('non-array exclude, keepSessionKeys, exemptMethods', async () => {
    await assertRejected({ loadUser, exclude: '/static' }, /exclude/, 'exclude string')
    await assertRejected({ loadUser, keepSessionKeys: 'cart' }, /keepSessionKeys/, 'keepSessionKeys string')
    await assertRejected({ loadUser, exemptMethods: 'OPTIONS' }, /exemptMethods/, 'exemptMethods string')
    await assertRejected({ loadUser, exemptMethods: new Set(['OPTIONS']) }, /exemptMethods/, 'exemptMethods Set')
  })

  test('logins.idleTimeout of 0.2 names the top-level idleTimeout it became', async () => {
    await assertRejected({ loadUser, logins: { idleTimeout: 60 * 60 * 1000 } }, /logins\.idleTimeout.*top-level idleTimeout/, 'logins.idleTimeout')
  })

  test('non-string loginUrl', async () => {
    await assertRejected({ loadUser, loginUrl: 123 }, /loginUrl/, 'loginUrl number')
    await assertRejected({ loadUser, loginUrl: { path: '/login' } }, /loginUrl/, 'loginUrl object')
  })
})

describe('good options register', () => {
  const good = {
    'only loadUser': { loadUser },
    'a remember secret': { loadUser, remember: { secret: REMEMBER_SECRET } },
    'a list of remember secrets': { loadUser, remember: { secret: [REMEMBER_SECRET, SECRET_B] } },
    '__Host-remember with secure: true and path /': {
      loadUser, remember: { secret: REMEMBER_SECRET, cookieName: '__Host-remember', secure: true, path: '/' }
    },
    "sameSite 'none' with secure: true": { loadUser, remember: { secret: REMEMBER_SECRET, sameSite: 'none', secure: true } },
    'every option set': {
      loadUser,
      getUserId: (user) => user.id,
      isActive: () => true,
      authVersion: () => 1,
      loadUserFromRequest: async () => null,
      loginUrl: '/login',
      refreshUrl: '/reauth',
      nextParam: 'return_to',
      sessionProtection: 'strong',
      remember: { secret: REMEMBER_SECRET, cookieName: 'rm', maxAge: 1000, path: '/', secure: 'auto', httpOnly: true, sameSite: 'strict', refresh: true },
      keepSessionKeys: ['cart'],
      exclude: ['/static'],
      exemptMethods: ['OPTIONS', 'HEAD'],
      onUnauthorized: async () => {},
      onNeedsRefresh: async () => {}
    },
    'sessionProtection false': { loadUser, sessionProtection: false }
  }
  for (const [name, options] of Object.entries(good)) {
    test(name, async () => {
      const error = await registrationError(options)
      assert.equal(error, null, `${name}: ${error?.message}`)
    })
  }

  test('a list of secrets works end to end: the login is remembered', async () => {
    const app = await buildApp({ login: { remember: { secret: [REMEMBER_SECRET, SECRET_B] } } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1, remember: true })
      assert.ok(jar.cookies.remember_token, 'a remember cookie is issued')
      delete jar.cookies.sessionId
      const res = await jar.get('/me')
      assert.equal(res.json().user?.username, 'user1')
      assert.equal(res.json().authenticatedBy, 'remember')
    } finally {
      await app.close()
    }
  })
})

describe('missing dependencies', () => {
  test('without @fastify/session, registration fails naming @fastify/session', async () => {
    const app = Fastify({ logger: false })
    app.register(fastifyCookie)
    app.register(fastifyLogin, { loadUser })
    await assert.rejects(app.ready(), (error) => {
      assert.match(error.message, /@fastify\/session/)
      return true
    })
    await app.close().catch(() => {})
  })

  test('without @fastify/cookie and @fastify/session, registration fails naming what is missing', async () => {
    const app = Fastify({ logger: false })
    app.register(fastifyLogin, { loadUser })
    await assert.rejects(app.ready(), (error) => {
      assert.match(error.message, /@fastify\/(cookie|session)/)
      return true
    })
    await app.close().catch(() => {})
  })
})

describe('defaults', () => {
  test("nextParam defaults to 'next'", async () => {
    const app = await buildApp({ login: { loginUrl: '/login' } })
    try {
      const res = await app.inject({ method: 'GET', url: '/private?a=1', headers: HTML })
      assert.equal(res.statusCode, 302)
      assert.equal(res.headers.location, '/login?next=%2Fprivate%3Fa%3D1')
    } finally {
      await app.close()
    }
  })

  test('a configured nextParam replaces next', async () => {
    const app = await buildApp({ login: { loginUrl: '/login', nextParam: 'return_to' } })
    try {
      const res = await app.inject({ method: 'GET', url: '/private', headers: HTML })
      assert.equal(res.statusCode, 302)
      assert.equal(res.headers.location, '/login?return_to=%2Fprivate')
    } finally {
      await app.close()
    }
  })

  test("exemptMethods defaults to ['OPTIONS']: an anonymous CORS preflight is answered 204 by the guard, HEAD, GET and POST are refused", async () => {
    const app = await buildApp({
      routes (app) {
        app.route({ method: ['GET', 'POST', 'OPTIONS'], url: '/guarded', preHandler: app.loginRequired, handler: async () => 'inside' })
      }
    })
    try {
      let res = await app.inject({ method: 'OPTIONS', url: '/guarded', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } })
      assert.equal(res.statusCode, 204, 'not refused')
      assert.equal(res.body, '', 'and the guarded handler never runs for nobody')
      for (const method of ['GET', 'HEAD', 'POST']) {
        res = await app.inject({ method, url: '/guarded' })
        assert.equal(res.statusCode, 401, method)
      }
      assert.equal((await app.inject({ method: 'GET', url: '/guarded' })).json().code, 'FST_LOGIN_REQUIRED')
    } finally {
      await app.close()
    }
  })

  test("sessionProtection defaults to 'basic': another User-Agent keeps the user but makes the login stale", async () => {
    const app = await buildApp()
    const events = []
    app.loginManager.on('sessionProtected', (request, mode) => events.push(mode))
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: { 'user-agent': 'Browser/1' } })
      let res = await jar.get({ url: '/me', headers: { 'user-agent': 'Browser/1' } })
      assert.equal(res.json().fresh, true)
      res = await jar.get({ url: '/me', headers: { 'user-agent': 'Other/2' } })
      assert.equal(res.json().user?.username, 'user1', 'still logged in')
      assert.equal(res.json().fresh, false, 'but stale')
      assert.deepEqual(events, ['basic'])
    } finally {
      await app.close()
    }
  })

  test('refreshUrl defaults to loginUrl', async () => {
    const app = await buildApp({ login: { loginUrl: '/login?lang=en' } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1, fresh: false })
      const res = await jar.get({ url: '/fresh', headers: HTML })
      assert.equal(res.statusCode, 302)
      assert.equal(res.headers.location, '/login?lang=en&next=%2Ffresh')
    } finally {
      await app.close()
    }
  })

  test('a configured refreshUrl is used for stale logins, loginUrl for anonymous ones', async () => {
    const app = await buildApp({ login: { loginUrl: '/login', refreshUrl: '/reauth' } })
    try {
      const jar = createJar(app)
      let res = await jar.get({ url: '/fresh', headers: HTML })
      assert.equal(res.headers.location, '/login?next=%2Ffresh')
      await jar.post('/login', { id: 1, fresh: false })
      res = await jar.get({ url: '/fresh', headers: HTML })
      assert.equal(res.statusCode, 302)
      assert.equal(res.headers.location, '/reauth?next=%2Ffresh')
    } finally {
      await app.close()
    }
  })

  test('without loginUrl, a browser navigation to a guarded route gets 401', async () => {
    const app = await buildApp()
    try {
      const res = await app.inject({ method: 'GET', url: '/private', headers: HTML })
      assert.equal(res.statusCode, 401)
      assert.equal(res.json().code, 'FST_LOGIN_REQUIRED')
    } finally {
      await app.close()
    }
  })
})
