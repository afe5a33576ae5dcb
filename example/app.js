'use strict'

// The example app, wired together:
//   session.js         where sessions live (memory, Redis or an encrypted cookie), CSRF, flash messages
//   errors.js          HTML error pages for people, JSON errors for API clients
//   routes/account.js  log in, log out, confirm the password
//   routes/sessions.js "your sessions": every login of the user, to see and end
//   routes/pages.js    the pages, behind the guards
//   views.js, users.js the HTML and the user table

const { randomBytes } = require('node:crypto')
const Fastify = require('fastify')
const fastifyFormbody = require('@fastify/formbody')
const fastifySensible = require('@fastify/sensible')
const fastifyLogin = require('fastify-login')
const { RedisLoginStore } = require('fastify-login')
const { createUsers } = require('./users')
const { registerSessions } = require('./session')
const { installErrorPages } = require('./errors')

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

  const users = await createUsers()

  const redis = await registerSessions(app, {
    secret: sessionSecret,
    redisUrl: opts.redisUrl ?? process.env.REDIS_URL,
    kind: opts.session ?? process.env.SESSION // 'secure': @fastify/secure-session
  })
  await app.register(fastifyFormbody)
  await app.register(fastifySensible) // app.httpErrors and reply.notFound(), reply.forbidden()...
  await app.register(fastifyLogin, {
    loadUser: (id) => users.byId(Number(id)),
    loginUrl: '/login',
    refreshUrl: '/reauth',
    loginMessage: 'Please log in to see that page.',
    refreshMessage: 'Please confirm your password to see that page.',
    remember: { secret: rememberSecret },
    // The login registry: every login listed on /account/sessions, and ended from
    // there on every instance. In Redis beside the sessions, else in memory.
    logins: { store: redis ? new RedisLoginStore({ client: redis, prefix: 'fastify-login-example:logins:' }) : undefined }
  })
  // A copied remember cookie was used: its login has been ended. A real app would tell the user.
  app.loginManager.on('rememberTheft', (request, userId) => request.log.warn({ userId }, 'remember cookie theft'))

  // Renders a page of views.js with what every page needs: the user, the flashed
  // messages, and when someone is logged in a CSRF token for the logout button.
  // `data` adds what the page needs (and may bring its own token, as the login form does).
  app.decorateReply('render', function render (view, data = {}, statusCode = 200) {
    const user = this.request.user ?? null
    const page = view({ user, csrfToken: user ? this.generateCsrf() : null, messages: flashed(this), ...data })
    return this.code(statusCode).type('text/html; charset=utf-8').send(page)
  })

  installErrorPages(app)
  await app.register(require('./routes/account'), { users })
  await app.register(require('./routes/sessions'))
  await app.register(require('./routes/pages'))
}

/** The messages flashed for this page. Read only when there are some: reading writes the session. */
function flashed (reply) {
  const pending = reply.request.session?.get('flash')
  return pending?.info?.length ? reply.flash('info') : []
}

module.exports = { build }
