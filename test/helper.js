'use strict'

// Shared test helpers: an app built the way the README wires it, and a cookie
// jar that carries Set-Cookie headers from one inject() to the next, as a browser would.
//
// The suites in test/both run on @fastify/session (a store, the default) and on
// @fastify/secure-session (an encrypted cookie): see support/session-plugins.js.

// First of all: refuse to test a build older than lib/.
require('./support/build')

const assert = require('node:assert/strict')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const fastifySecureSession = require('@fastify/secure-session')
const fastifyLogin = require('fastify-login')

const SESSION_SECRET = 'a-session-secret-that-is-long-enough-0123456789'
const REMEMBER_SECRET = 'a-remember-secret-that-is-long-enough-0123456789'
// 32 bytes for @fastify/secure-session (a key, not a secret: no slow key derivation per app).
const SECURE_SESSION_KEY = 'pbNqnEAZnDNHp26kX5tVJh1tCrRnMgz4netP97DXkTo='

/** Which session plugin this run uses: 'stored' (@fastify/session) or 'secure' (@fastify/secure-session). */
const { SESSION_KIND } = require('./support/session-plugins')
/**
 * The session key under which the default login (`key: 'login'`) keeps its state.
 * Tests that check a login is gone use it, and journey.test.js checks a logged-in
 * session holds it, so a change of the key fails there instead of making them pass.
 */
const LOGIN_KEY = '_login'
/** The session cookie's name under that plugin. */
const SESSION_COOKIE = SESSION_KIND === 'secure' ? 'session' : 'sessionId'

/**
 * Registers the run's session plugin. `session` options go to @fastify/session; of them
 * only `session.cookie` (path, secure...) also applies to @fastify/secure-session's
 * cookie. A `store` is only for @fastify/session: on 'secure' it is ignored.
 */
async function registerSession (app, { session = {}, store, kind = SESSION_KIND } = {}) {
  if (kind === 'secure') {
    await app.register(fastifySecureSession, {
      key: Buffer.from(SECURE_SESSION_KEY, 'base64'),
      cookie: { path: '/', httpOnly: true, ...session.cookie }
    })
    return
  }
  await app.register(fastifySession, {
    secret: SESSION_SECRET,
    saveUninitialized: false,
    cookie: { secure: 'auto' },
    ...(store ? { store } : {}),
    ...session
  })
}

const USERS = new Map([
  ['1', { id: 1, username: 'user1' }],
  ['2', { id: 2, username: 'user2' }],
  ['0', { id: 0, username: 'zero' }]
])

/**
 * Build an app with cookie, the run's session plugin (`kind` forces one; on 'stored' a
 * memory store unless `store` is given) and
 * fastify-login. `login` options are merged over a default loader that reads USERS.
 * `routes(app)` adds routes before ready(). Standard routes:
 *   POST /login   body { id, remember?, maxAge?, fresh?, force? }  -> logs the user in
 *   POST /logout                                                   -> logs out
 *   GET  /me      -> { user, authenticatedBy, fresh }
 *   GET  /private (loginRequired), GET /fresh (freshLoginRequired)
 *   POST /session/:key  body { value } -> stores a session key; GET /session/:key reads it
 */
async function buildApp ({ login = {}, session = {}, store, kind, users = USERS, routes, fastify = {}, cookie = {} } = {}) {
  const app = Fastify({ logger: false, ...fastify })
  await app.register(fastifyCookie, cookie)
  await registerSession(app, { session, store, kind })
  await app.register(fastifyLogin, {
    loadUser: async (id) => users.get(id) ?? null,
    ...login
  })

  app.post('/login', async (request, reply) => {
    const body = request.body ?? {}
    const user = users.get(String(body.id))
    if (!user) return reply.code(401).send({ error: 'unknown user' })
    const opts = {}
    for (const k of ['remember', 'maxAge', 'fresh', 'force']) if (k in body) opts[k] = body[k]
    const ok = await reply.loginUser(user, opts)
    return { ok }
  })
  app.post('/logout', async (request, reply) => {
    await reply.logoutUser()
    return { ok: true }
  })
  app.get('/me', async (request) => ({
    user: request.user,
    authenticatedBy: request.authenticatedBy,
    fresh: request.isFresh()
  }))
  app.get('/private', { preHandler: app.loginRequired }, async (request) => ({ user: request.user }))
  app.get('/fresh', { preHandler: app.freshLoginRequired }, async (request) => ({ user: request.user }))
  app.post('/session/:key', async (request) => {
    request.session.set(request.params.key, request.body.value)
    return { ok: true }
  })
  app.get('/session/:key', async (request) => ({ value: request.session.get(request.params.key) ?? null }))

  if (routes) await routes(app)
  await app.ready()
  return app
}

/** The store key of a @fastify/session cookie value (`<id>.<signature>`, decoded as res.cookies gives it). */
function sessionIdOf (cookieValue) {
  return cookieValue.slice(0, cookieValue.lastIndexOf('.'))
}

/**
 * What the session behind a session cookie value holds, as plain data, or undefined
 * when there is none. On 'stored' it is read from `map`, the Map of the app's
 * MemoryStore (without @fastify/session's own `cookie` key); on 'secure' there is no
 * store: the data is decrypted from the cookie value itself, as the app would.
 */
function sessionData (app, cookieValue, map, kind = SESSION_KIND) {
  if (cookieValue === undefined) return undefined
  if (kind === 'secure') {
    const session = app.decodeSecureSession(cookieValue)
    return session === null ? undefined : JSON.parse(JSON.stringify(session.data()))
  }
  const stored = map.get(sessionIdOf(cookieValue))
  if (stored === undefined) return undefined
  const { cookie, ...data } = JSON.parse(JSON.stringify(stored))
  return data
}

/**
 * After a logout, the browser's session cookie must hold no login: @fastify/session
 * clears it (or sets a new id when the app's other keys stay); a secure-session
 * cookie is replaced by one whose session is empty of logins, so that the route can
 * still write to it (a "you are logged out" notice).
 */
function holdsNoLogin (app, cookie, kind = SESSION_KIND) {
  if (cookie === undefined || isCleared(cookie)) return true
  if (kind !== 'secure') return false
  const data = sessionData(app, cookie.value, undefined, kind)
  return data !== undefined && !Object.hasOwn(data, LOGIN_KEY)
}

/**
 * The cookies an `app.inject()` response sets, as light-my-request parses them
 * (`res.cookies`: name, value decoded, path, domain, expires as a Date, maxAge,
 * secure, httpOnly, sameSite), each with `raw`, its Set-Cookie line, for messages.
 */
function setCookies (res) {
  if (!Array.isArray(res.cookies)) throw new TypeError('setCookies takes an app.inject() response')
  const lines = [].concat(res.headers['set-cookie'] ?? [])
  // light-my-request drops a line it cannot read; no response of these apps may send one.
  assert.equal(res.cookies.length, lines.length, `every Set-Cookie line is a cookie: ${JSON.stringify(lines)}`)
  return res.cookies.map((cookie, i) => ({ ...cookie, raw: lines[i] }))
}

/** Whether a browser drops this cookie at once: an empty value, Max-Age <= 0, or an Expires in the past. */
function isCleared (cookie) {
  if (cookie.value === '') return true
  if (cookie.maxAge !== undefined) return cookie.maxAge <= 0
  return cookie.expires !== undefined && cookie.expires.getTime() <= Date.now()
}

/**
 * A cookie jar around app.inject(). jar.request(opts) sends the jar's cookies and
 * stores what the response sets or clears. jar.cookies is a plain name -> value map
 * that tests may edit (drop the session cookie, tamper with the remember cookie). Its
 * values are decoded, as the server reads them; inject's `cookies` option encodes them
 * back as @fastify/cookie does. A test sending a jar value by hand passes it the same
 * way: `app.inject({ url, cookies: { [name]: value } })`.
 */
function createJar (app) {
  const jar = {
    cookies: {},
    async request (opts) {
      if (typeof opts === 'string') opts = { method: 'GET', url: opts }
      // An explicit cookie header replaces the jar's cookies, as a hand-made request would.
      const sendJar = opts.headers?.cookie === undefined
      const cookies = sendJar ? { ...jar.cookies, ...opts.cookies } : opts.cookies
      const send = cookies && Object.keys(cookies).length > 0 ? { cookies } : {}
      const res = await (opts.app || app).inject({ ...opts, ...send })
      jar.store(res)
      return res
    },
    store (res) {
      for (const c of setCookies(res)) {
        if (isCleared(c)) delete jar.cookies[c.name]
        else jar.cookies[c.name] = c.value
      }
    },
    get: (opts) => jar.request({ method: 'GET', ...(typeof opts === 'string' ? { url: opts } : opts) }),
    post: (url, payload, extra = {}) => jar.request({ method: 'POST', url, payload, ...extra })
  }
  return jar
}

module.exports = {
  buildApp,
  registerSession,
  SESSION_KIND,
  SESSION_COOKIE,
  LOGIN_KEY,
  SECURE_SESSION_KEY,
  sessionIdOf,
  sessionData,
  holdsNoLogin,
  createJar,
  setCookies,
  isCleared,
  USERS,
  SESSION_SECRET,
  REMEMBER_SECRET
}
