'use strict'

// The small app every measure serves. One builder, so that configurations differ
// only in how the user is found, never in the app. `row` is a row of
// bench/configs.js (only `app` and `login` are read here).

const Fastify = require('fastify')
const { MemoryStore } = require('@fastify/session')
const { FIRST_ID, MAX_CLIENTS } = require('./clients')

const SESSION_SECRET = 'bench-session-secret-that-is-long-enough-0123456789'
const SESSION_COOKIE = 'sessionId'
const REMEMBER_COOKIE = 'remember_token'

// The same @fastify/session options everywhere. rolling: false (its default,
// true, re-saves the session and re-signs a Set-Cookie on every request, a cost
// that swamps the user lookup being compared); BENCH_ROLLING=1 switches every
// configuration to rolling sessions.
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

// The "database": a Map answered by an async loader, the same in every
// configuration that loads a user by id. One user per client (bench/lib/clients.js).
const USERS = new Map()
for (let id = FIRST_ID; id < FIRST_ID + MAX_CLIENTS; id++) {
  USERS.set(String(id), { id, username: `user${id}`, passwordVersion: 1 })
}
const loadUser = async (id) => USERS.get(id) ?? null

function loginTarget (request) {
  const user = USERS.get(request.query.user)
  if (user === undefined) throw Object.assign(new Error(`no user "${request.query.user}"`), { statusCode: 400 })
  return user
}

function publicUser (user) {
  return user ? { id: user.id, username: user.username } : null
}

function unauthorized (reply) {
  return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Login required' })
}

/**
 * Builds and readies the app of `row`. `fastify` are Fastify's options; `parts`
 * replace pieces for a deployment-like run: `sessionStore` (a Redis session store
 * instead of memory), `login` (more fastify-login options, e.g. a Redis login store).
 * Routes: GET /me (guarded), GET /public, POST /login?user=<id>, POST /logout.
 */
async function build (row, fastify = {}, parts = {}) {
  const app = Fastify({ logger: false, ...fastify })

  if (row.app === 'bare') {
    const user = USERS.get(String(FIRST_ID))
    app.get('/me', async () => publicUser(user))
    await app.ready()
    return app
  }

  // Made here so that the memory check and the cost measure can read its size.
  const store = parts.sessionStore ?? new MemoryStore()
  app.decorate('benchSessionStore', store)
  await app.register(require('@fastify/cookie'))
  await app.register(require('@fastify/session'), sessionOptions(store))

  if (row.app === 'session') {
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
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else if (row.app === 'passport') {
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
    app.post('/logout', async (request) => {
      await request.logOut()
      return { ok: true }
    })
    app.get('/me', { preHandler: guard }, async (request) => publicUser(request.user))
  } else if (row.app === 'login') {
    // fastify-login, resolved through package.json "exports": this worktree's dist/.
    const fastifyLogin = require('fastify-login')
    const options = { loadUser, ...row.login, ...parts.login }
    await app.register(fastifyLogin, options)
    app.post('/login', async (request, reply) => {
      await reply.loginUser(loginTarget(request), { remember: options.remember !== undefined })
      return { ok: true }
    })
    app.post('/logout', async (request, reply) => {
      await reply.logoutUser()
      return { ok: true }
    })
    app.get('/me', { preHandler: app.loginRequired }, async (request) => publicUser(request.user))
  } else {
    throw new Error(`unknown app "${row.app}"`)
  }
  // The public page: what an anonymous visitor requests.
  app.get('/public', async (request) => ({ user: publicUser(request.user ?? null) }))

  await app.ready()
  return app
}

module.exports = { build, USERS, ROLLING, SESSION_COOKIE, REMEMBER_COOKIE }
