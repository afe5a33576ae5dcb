'use strict'

// The tiny app every benchmark configuration serves. One builder, so that the
// configurations differ only in how the user is found, never in the app.

const Fastify = require('fastify')

const CONFIGS = ['bare', 'session', 'login', 'anon', 'remember', 'passport']

const SESSION_SECRET = 'bench-session-secret-that-is-long-enough-0123456789'
const REMEMBER_SECRET = 'bench-remember-secret-that-is-long-enough-0123456789'

// Same @fastify/session options for every configuration that uses a session
// (session, login, anon, remember, passport). rolling defaults to false here: with
// @fastify/session's own default (true) every request re-saves the session and
// re-signs a Set-Cookie, a cost that swamps the user lookup being compared.
// BENCH_ROLLING=1 switches all of them to rolling sessions.
const ROLLING = process.env.BENCH_ROLLING === '1'

function sessionOptions () {
  return {
    secret: SESSION_SECRET,
    saveUninitialized: false,
    rolling: ROLLING,
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax', path: '/' }
  }
}

// The "database": a Map, answered synchronously-fast from an async loader.
const USERS = new Map()
for (let id = 1; id <= 1000; id++) {
  USERS.set(String(id), { id, username: id === 1 ? 'alice' : `user${id}` })
}
const BENCH_USER = USERS.get('1')

function publicUser (user) {
  return user ? { id: user.id, username: user.username } : null
}

function unauthorized (reply) {
  return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Login required' })
}

async function build (config, opts = {}) {
  if (!CONFIGS.includes(config)) {
    throw new Error(`unknown config "${config}", expected one of: ${CONFIGS.join(', ')}`)
  }
  const app = Fastify({ logger: false, ...opts })

  if (config === 'bare') {
    app.get('/me', async () => publicUser(BENCH_USER))
    await app.ready()
    return app
  }

  await app.register(require('@fastify/cookie'))
  await app.register(require('@fastify/session'), sessionOptions())

  if (config === 'session') {
    // The hand-written baseline: read the id from the session, look it up.
    app.decorateRequest('user', null)
    app.addHook('onRequest', async (request) => {
      const id = request.session.get('uid')
      if (id !== undefined) request.user = USERS.get(id) ?? null
    })
    const guard = async (request, reply) => {
      if (!request.user) return unauthorized(reply)
    }
    app.post('/login', async (request) => {
      await request.session.regenerate()
      request.session.set('uid', String(BENCH_USER.id))
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else if (config === 'passport') {
    const { Authenticator } = require('@fastify/passport')
    const passport = new Authenticator()
    passport.registerUserSerializer(async (user) => String(user.id))
    passport.registerUserDeserializer(async (id) => USERS.get(id) ?? null)
    await app.register(passport.initialize())
    await app.register(passport.secureSession())
    const guard = async (request, reply) => {
      if (!request.isAuthenticated()) return unauthorized(reply)
    }
    app.post('/login', async (request) => {
      await request.logIn(BENCH_USER)
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else {
    // login, anon, remember: fastify-login (resolved through package.json "exports").
    const fastifyLogin = require('fastify-login')
    await app.register(fastifyLogin, {
      loadUser: async (id) => USERS.get(id) ?? null,
      ...(config === 'remember' ? { remember: { secret: REMEMBER_SECRET } } : {})
    })
    app.post('/login', async (request, reply) => {
      await reply.loginUser(BENCH_USER, { remember: config === 'remember' })
      return { ok: true }
    })
    app.get('/me', { preHandler: app.loginRequired }, async (request) => publicUser(request.user))
    app.get('/public', async (request) => ({ user: publicUser(request.user) }))
  }

  await app.ready()
  return app
}

// What each configuration requests during the measurement.
function targetPath (config) {
  return config === 'anon' ? '/public' : '/me'
}

// The ratios the bench judges: req/s of num over req/s of den.
const TARGETS = [
  { name: 'login/session', num: 'login', den: 'session', op: '>=', target: 0.95 },
  { name: 'anon/session', num: 'anon', den: 'session', op: '>=', target: 0.98 },
  { name: 'login/passport', num: 'login', den: 'passport', op: '>', target: 1 }
]

// Which cookies from the login response the measured requests carry:
// all of them, none (anon, bare), or only the remember cookie (remember).
function needsLogin (config) {
  return config !== 'bare' && config !== 'anon'
}

module.exports = {
  build,
  CONFIGS,
  ROLLING,
  USERS,
  BENCH_USER,
  REMEMBER_COOKIE: 'remember_token',
  SESSION_COOKIE: 'sessionId',
  TARGETS,
  targetPath,
  needsLogin
}
