'use strict'

// The tiny app every benchmark configuration serves. One builder, so that the
// configurations differ only in how the user is found, never in the app.
//
// An app is described by a spec: { app: 'bare' | 'session' | 'passport' | 'login',
// login: <extra fastify-login options> }. The HTTP bench (run.js, inject.js,
// server.js) names its configurations (CONFIGS, mapped to specs by SPECS); the
// instruction-count bench (cost.js) passes specs from its own table (cost-configs.js).

const Fastify = require('fastify')
const { MemoryStore } = require('@fastify/session')

const SESSION_SECRET = 'bench-session-secret-that-is-long-enough-0123456789'
const REMEMBER_SECRET = 'bench-remember-secret-that-is-long-enough-0123456789'

// The HTTP bench configurations and the app each one serves.
const SPECS = {
  bare: { app: 'bare' },
  session: { app: 'session' },
  'session-anon': { app: 'session' },
  login: { app: 'login' },
  anon: { app: 'login' },
  remember: { app: 'login', login: { remember: { secret: REMEMBER_SECRET } } },
  passport: { app: 'passport' }
}
const CONFIGS = Object.keys(SPECS)

// Same @fastify/session options for every configuration that uses a session
// (session, login, anon, remember, passport). rolling defaults to false here: with
// @fastify/session's own default (true) every request re-saves the session and
// re-signs a Set-Cookie, a cost that swamps the user lookup being compared.
// BENCH_ROLLING=1 switches all of them to rolling sessions.
const ROLLING = process.env.BENCH_ROLLING === '1'

function sessionOptions (store) {
  return {
    secret: SESSION_SECRET,
    store,
    saveUninitialized: false,
    rolling: ROLLING,
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax', path: '/' }
  }
}

// The "database": a Map, answered from an async loader (the same one in every
// configuration that loads a user by id).
const USERS = new Map()
for (let id = 1; id <= 1000; id++) {
  USERS.set(String(id), { id, username: id === 1 ? 'alice' : `user${id}`, passwordVersion: 1 })
}
const BENCH_USER = USERS.get('1')
const loadUser = async (id) => USERS.get(id) ?? null

// POST /login?user=<id> logs in that user; alice (1) without the parameter.
function loginTarget (request) {
  return USERS.get(request.query.user ?? '1') ?? BENCH_USER
}

function publicUser (user) {
  return user ? { id: user.id, username: user.username } : null
}

function unauthorized (reply) {
  return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Login required' })
}

function specOf (config) {
  if (typeof config === 'object' && config !== null) return config
  if (!Object.hasOwn(SPECS, config)) {
    throw new Error(`unknown config "${config}", expected one of: ${CONFIGS.join(', ')}`)
  }
  return SPECS[config]
}

/**
 * `opts` are Fastify's options; `parts` replace pieces for a deployment-like run:
 * `sessionStore` (a Redis session store instead of memory), `login` (more
 * fastify-login options, such as a Redis login store).
 */
async function build (config, opts = {}, parts = {}) {
  const spec = specOf(config)
  const app = Fastify({ logger: false, ...opts })

  if (spec.app === 'bare') {
    app.get('/me', async () => publicUser(BENCH_USER))
    await app.ready()
    return app
  }

  // The memory store, made here so that the memory check can watch its size.
  const store = parts.sessionStore ?? new MemoryStore()
  app.decorate('benchSessionStore', store)
  await app.register(require('@fastify/cookie'))
  await app.register(require('@fastify/session'), sessionOptions(store))

  if (spec.app === 'session') {
    // The hand-written baseline: read the id from the session, load the user.
    app.decorateRequest('user', null)
    app.addHook('onRequest', async (request) => {
      const id = request.session.get('uid')
      if (id !== undefined) request.user = await loadUser(id)
    })
    const guard = async (request, reply) => {
      if (!request.user) return unauthorized(reply)
    }
    app.post('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('uid', String(loginTarget(request).id))
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else if (spec.app === 'passport') {
    const { Authenticator } = require('@fastify/passport')
    const passport = new Authenticator()
    passport.registerUserSerializer(async (user) => String(user.id))
    passport.registerUserDeserializer(loadUser)
    await app.register(passport.initialize())
    await app.register(passport.secureSession())
    const guard = async (request, reply) => {
      if (!request.isAuthenticated()) return unauthorized(reply)
    }
    app.post('/login', async (request) => {
      await request.logIn(loginTarget(request))
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else if (spec.app === 'login') {
    // fastify-login (resolved through package.json "exports", i.e. dist/).
    const fastifyLogin = require('fastify-login')
    const options = { loadUser, ...spec.login, ...parts.login }
    await app.register(fastifyLogin, options)
    app.post('/login', async (request, reply) => {
      await reply.loginUser(loginTarget(request), { remember: options.remember !== undefined })
      return { ok: true }
    })
    app.get('/me', { preHandler: app.loginRequired }, async (request) => publicUser(request.user))
  } else {
    throw new Error(`unknown app "${spec.app}"`)
  }
  // The public page: what an anonymous visitor requests.
  app.get('/public', async (request) => ({ user: publicUser(request.user ?? null) }))

  await app.ready()
  return app
}

// The anonymous configurations: no cookie, the public page.
function isAnonymous (config) {
  return config === 'anon' || config === 'session-anon'
}

// What each configuration requests during the measurement.
function targetPath (config) {
  return isAnonymous(config) ? '/public' : '/me'
}

// The ratios the bench judges: req/s of num over req/s of den. Like with like:
// the plugin's anonymous request against the session app's anonymous request.
const TARGETS = [
  { name: 'login/session', num: 'login', den: 'session', op: '>=', target: 0.95 },
  { name: 'anon/session-anon', num: 'anon', den: 'session-anon', op: '>=', target: 0.98 },
  { name: 'login/passport', num: 'login', den: 'passport', op: '>', target: 1 }
]

// Which cookies from the login response the measured requests carry:
// all of them, none (anonymous, bare), or only the remember cookie (remember).
function needsLogin (config) {
  return config !== 'bare' && !isAnonymous(config)
}

module.exports = {
  build,
  CONFIGS,
  SPECS,
  ROLLING,
  USERS,
  BENCH_USER,
  REMEMBER_SECRET,
  REMEMBER_COOKIE: 'remember_token',
  SESSION_COOKIE: 'sessionId',
  TARGETS,
  isAnonymous,
  targetPath,
  needsLogin
}
