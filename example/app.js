'use strict'

const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const fastifyFormbody = require('@fastify/formbody')
const fastifyCsrf = require('@fastify/csrf-protection')
const fastifyLogin = require('fastify-login')
const { createUsers } = require('./users')
const views = require('./views')

// A form field as a string: repeated fields arrive as arrays, missing ones as undefined.
function field (body, name) {
  const value = body?.[name]
  return typeof value === 'string' ? value : ''
}

async function createRedisStore (app, url) {
  const { createClient } = require('redis')
  const { RedisStore } = require('connect-redis')

  let connected = false
  const client = createClient({
    url,
    // While Redis is down, session reads fail at once (a 500) instead of
    // waiting in a queue until it comes back.
    disableOfflineQueue: true,
    // A Redis that hangs without closing the connection: drop the connection
    // after 2 s of silence (failing what waits on it), and ping twice a second
    // so a healthy idle connection never stays silent that long.
    pingInterval: 500,
    socket: {
      socketTimeout: 2000,
      // Unreachable at start-up (a wrong REDIS_URL): fail. Lost later: reconnect.
      reconnectStrategy: (retries) => connected && Math.min(retries * 100, 2000)
    }
  })
  client.on('error', (err) => app.log.error({ err }, 'redis client error'))
  await client.connect()
  connected = true
  app.addHook('onClose', async () => { await client.close() })

  // connect-redis implements the callback-style get/set/destroy that
  // @fastify/session expects from a store, so no adapter is needed.
  return new RedisStore({ client, prefix: 'fastify-login-example:' })
}

async function build (opts = {}) {
  const app = Fastify({ logger: opts.logger ?? false })
  try {
    await setup(app, opts)
    await app.ready()
  } catch (err) {
    await app.close() // runs the onClose hooks: a Redis client already connected is closed
    throw err
  }
  return app
}

async function setup (app, opts) {
  let sessionSecret = opts.sessionSecret ?? process.env.SESSION_SECRET
  let rememberSecret = opts.rememberSecret ?? process.env.REMEMBER_SECRET
  if (!sessionSecret || !rememberSecret) {
    app.log.warn('SESSION_SECRET or REMEMBER_SECRET is not set: using random secrets, ' +
      'so logins will not survive a restart and instances will not share logins')
    sessionSecret ||= randomBytes(32).toString('hex')
    rememberSecret ||= randomBytes(32).toString('hex')
  }

  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL
  const store = redisUrl ? await createRedisStore(app, redisUrl) : undefined // undefined: memory store

  const users = await createUsers()

  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: sessionSecret,
    store,
    saveUninitialized: false, // anonymous visitors get no session until they need one
    rolling: false, // save only changed sessions: a request running during a logout cannot restore it
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax' }
  })
  await app.register(fastifyFormbody)
  // The CSRF secret lives in the session. The login form needs it too: without it,
  // another site could post its own credentials to /login and log the victim's
  // browser into the attacker's account ("login CSRF").
  await app.register(fastifyCsrf, { sessionPlugin: '@fastify/session' })
  await app.register(fastifyLogin, {
    loadUser: (id) => users.byId(Number(id)),
    loginUrl: '/login',
    refreshUrl: '/reauth',
    remember: { secret: rememberSecret }
  })

  // What every page needs: the user, and a CSRF token for the logout button.
  function pageContext (request, reply) {
    return {
      user: request.user,
      csrfToken: request.user ? reply.generateCsrf() : null
    }
  }

  function html (reply, page, statusCode = 200) {
    return reply.code(statusCode).type('text/html; charset=utf-8').send(page)
  }

  app.get('/', async (request, reply) => {
    return html(reply, views.homePage({
      ...pageContext(request, reply),
      fresh: request.isFresh(),
      authenticatedBy: request.authenticatedBy
    }))
  })

  app.get('/login', async (request, reply) => {
    return html(reply, views.loginPage({
      csrfToken: reply.generateCsrf(),
      next: field(request.query, 'next')
    }))
  })

  app.post('/login', { preHandler: app.csrfProtection }, async (request, reply) => {
    const username = field(request.body, 'username')
    const next = field(request.body, 'next')
    const showError = (error) => html(reply, views.loginPage({
      csrfToken: reply.generateCsrf(), next, username, error
    }), 401)

    // Flask-Login's demo tells the two failures apart; a real app should say
    // "Invalid username or password" so that it does not reveal which usernames exist.
    const user = users.byUsername(username)
    if (!user) return showError('Unknown user')
    if (!await users.checkPassword(user, field(request.body, 'password'))) return showError('Wrong password')

    await reply.loginUser(user, { remember: field(request.body, 'remember') === 'on' })
    return reply.redirectAfterLogin('/')
  })

  app.post('/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
    await reply.logoutUser()
    return reply.redirect('/')
  })

  app.get('/protected', { preHandler: app.loginRequired }, async (request, reply) => {
    return html(reply, views.protectedPage(pageContext(request, reply)))
  })

  // A page for sensitive actions: a login restored from a remember-me cookie is
  // not enough, the user is sent to /reauth to type the password again.
  app.get('/settings', { preHandler: app.freshLoginRequired }, async (request, reply) => {
    return html(reply, views.settingsPage(pageContext(request, reply)))
  })

  app.get('/reauth', { preHandler: app.loginRequired }, async (request, reply) => {
    return html(reply, views.reauthPage({
      ...pageContext(request, reply),
      next: field(request.query, 'next')
    }))
  })

  app.post('/reauth', { preHandler: [app.loginRequired, app.csrfProtection] }, async (request, reply) => {
    if (!await users.checkPassword(request.user, field(request.body, 'password'))) {
      return html(reply, views.reauthPage({
        ...pageContext(request, reply),
        next: field(request.body, 'next'),
        error: 'Wrong password'
      }), 401)
    }
    await reply.confirmLogin()
    return reply.redirectAfterLogin('/settings')
  })
}

module.exports = { build }
