'use strict'

// Where sessions live: in memory (one process) or in Redis when REDIS_URL is set
// (several instances share logins). The CSRF secret lives in the session too.

const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const fastifyCsrf = require('@fastify/csrf-protection')

async function createRedisStore (app, url) {
  const { createClient } = require('redis')
  const { RedisStore } = require('connect-redis')

  let reconnect = false
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
      // Unreachable at start-up (a wrong REDIS_URL): fail. Lost later: reconnect,
      // until the app closes.
      reconnectStrategy: (retries) => reconnect && Math.min(retries * 100, 2000)
    }
  })
  client.on('error', (err) => app.log.error({ err }, 'redis client error'))
  await client.connect()
  reconnect = true
  app.addHook('onClose', async () => {
    reconnect = false
    await client.close()
  })

  // connect-redis implements the callback-style get/set/destroy that
  // @fastify/session expects from a store, so no adapter is needed.
  return new RedisStore({ client, prefix: 'fastify-login-example:' })
}

async function registerSessions (app, { secret, redisUrl }) {
  const store = redisUrl ? await createRedisStore(app, redisUrl) : undefined // undefined: memory store
  app.log.info(`sessions are kept ${redisUrl ? 'in Redis' : 'in memory'}`)

  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret,
    store,
    saveUninitialized: false, // anonymous visitors get no session until they need one
    rolling: false, // save only changed sessions: a request running during a logout cannot restore it
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax' }
  })
  // The login form needs CSRF protection too: without it, another site could post
  // its own credentials to /login and log the victim's browser into the attacker's
  // account ("login CSRF"). Logging in drops the CSRF secret with the rest of the
  // old session, so a login form left open in another tab expires (see routes/account.js).
  await app.register(fastifyCsrf, { sessionPlugin: '@fastify/session' })
}

/**
 * Drops what this request changed in its session: @fastify/session saves
 * nothing and sets no cookie for a request without one.
 */
function discardSession (request) {
  request.session = null
}

module.exports = { registerSessions, discardSession }
