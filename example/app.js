'use strict'

// The example app, wired together:
//   config.js          how long a login lasts, from the environment (below)
//   session.js         where sessions live (memory, Redis or an encrypted cookie), CSRF, flash messages
//   errors.js          HTML error pages for people, JSON errors for API clients
//   ended.js           why a login ended, in words: on the next page, and in the history
//   devices.js         "Firefox on Windows": the device label of each login (bowser)
//   users.js           the user table, the admin role, who may act as whom
//   routes/account.js  log in, log out, confirm the password
//   routes/pages.js    the home page and the pages behind the guards
//   routes/sessions.js "your sessions": every login of the user with its device, to end; the history
//   routes/admin.js    the admin page: act as a user (impersonation) and stop
//   views/             the HTML, one file per part of the site
//
// The environment: PORT, HOST, SESSION_SECRET, REMEMBER_SECRET, REDIS_URL,
// SESSION=secure, LOG_LEVEL (see server.js, session.js), and the lifetimes of a
// login, each a number with a unit (90s, 30m, 12h, 7d):
//   IDLE_TIMEOUT      default 30m  a login not used for this long ends
//   ABSOLUTE_TIMEOUT  default 12h  a login older than this ends
//   FRESH_FOR         default 10m  how long a typed password counts as fresh, for
//                                  /settings and for acting as another user
// A remembered login that times out comes back from its cookie, but not fresh.

const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const fastifyFormbody = require('@fastify/formbody')
const fastifySensible = require('@fastify/sensible')
const fastifyLogin = require('fastify-login')
const { RedisLoginStore } = require('fastify-login')
const { lifetimesFrom } = require('./config')
const { createUsers, canImpersonate } = require('./users')
const { describeDevice } = require('./devices')
const { LOGIN_ENDED, tellWhyLoginEnded } = require('./ended')
const { registerSessions } = require('./session')
const { installErrorPages } = require('./errors')

// Ended logins stay on the sessions page's history this long.
const HISTORY_DAYS = 30

/** `opts.env` (default process.env) holds the variables above; the other options are for the tests. */
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
  const env = opts.env ?? process.env
  let sessionSecret = opts.sessionSecret ?? env.SESSION_SECRET
  let rememberSecret = opts.rememberSecret ?? env.REMEMBER_SECRET
  if (!sessionSecret || !rememberSecret) {
    app.log.warn('SESSION_SECRET or REMEMBER_SECRET is not set: using random secrets, ' +
      'so logins will not survive a restart and instances will not share logins')
    sessionSecret ||= randomBytes(32).toString('hex')
    rememberSecret ||= randomBytes(32).toString('hex')
  }
  const lifetimes = lifetimesFrom(env)

  const users = await createUsers()

  const redis = await registerSessions(app, {
    secret: sessionSecret,
    redisUrl: opts.redisUrl ?? env.REDIS_URL,
    kind: opts.session ?? env.SESSION // 'secure': @fastify/secure-session
  })
  await app.register(fastifyFormbody)
  await app.register(fastifySensible) // app.httpErrors and reply.notFound(), reply.forbidden()...
  await app.register(fastifyLogin, {
    loadUser: (id) => users.byId(Number(id)),
    loginUrl: '/login',
    refreshUrl: '/reauth',
    // Flashed by the guards when they send a browser to log in (@fastify/flash).
    loginMessage: 'Please log in to see that page.',
    refreshMessage: 'Please confirm your password to see that page.',
    loginEndedMessage: LOGIN_ENDED,
    remember: { secret: rememberSecret },
    ...lifetimes, // idleTimeout, absoluteTimeout, freshFor
    canImpersonate,
    // The login registry: every login listed on /account/sessions with its device,
    // and ended from there on every instance; ended ones kept for the history.
    // In Redis beside the sessions, else in memory.
    logins: {
      store: redis ? new RedisLoginStore({ client: redis, prefix: 'fastify-login-example:logins:' }) : undefined,
      keepEndedFor: HISTORY_DAYS * 24 * 60 * 60 * 1000,
      describeDevice
    }
  })
  // A copied remember cookie was used: its login has been ended, and its browser is told
  // why on its next page (ended.js). A real app would also warn the user by email.
  app.loginManager.on('rememberTheft', (request, userId) => request.log.warn({ userId }, 'remember cookie theft'))

  // Renders a page of views/ with what every page needs: the user (and the admin
  // acting as them), the flashed messages, and when someone is logged in a CSRF
  // token for the logout button. `data` adds what the page needs (and may bring
  // its own token, as the login form does).
  app.decorateReply('render', function render (view, data = {}, statusCode = 200) {
    const { request } = this
    const user = request.user ?? null
    const page = view({
      user,
      impersonator: request.impersonator ?? null,
      csrfToken: user ? this.generateCsrf() : null,
      messages: flashed(this),
      ...data
    })
    return this.code(statusCode).type('text/html; charset=utf-8').send(page)
  })

  installErrorPages(app)
  tellWhyLoginEnded(app, lifetimes) // "You were logged out on another device", on the next page
  const context = { users, lifetimes, historyDays: HISTORY_DAYS }
  await app.register(require('./routes/account'), context)
  await app.register(require('./routes/sessions'), context)
  await app.register(require('./routes/pages'), context)
  await app.register(require('./routes/admin'), context)
}

/** The messages flashed for this page. Read only when there are some: reading writes the session. */
function flashed (reply) {
  const pending = reply.request.session?.get('flash')
  return pending?.info?.length ? reply.flash('info') : []
}

module.exports = { build }
