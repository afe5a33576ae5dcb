'use strict'

// Where sessions live: with @fastify/session in memory (one process) or in Redis
// when REDIS_URL is set (several instances share logins); with SESSION=secure, in
// an encrypted cookie (@fastify/secure-session, no store at all). The CSRF secret
// and the flashed messages live in the session too.

const { createHash } = require('node:crypto')
const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const fastifySecureSession = require('@fastify/secure-session')
const fastifyCsrf = require('@fastify/csrf-protection')
const fastifyFlash = require('@fastify/flash')
const { RedisStore } = require('connect-redis')

async function createRedisClient (app, url) {
  const { createClient } = require('redis')

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

  return client
}

/**
 * Registers the sessions, CSRF protection and flash messages. Resolves the Redis
 * client when REDIS_URL is set, for the login registry to share.
 */
async function registerSessions (app, { secret, redisUrl, kind }) {
  const redis = redisUrl ? await createRedisClient(app, redisUrl) : undefined
  await app.register(fastifyCookie)
  if (kind === 'secure') {
    app.log.info('sessions are kept in an encrypted cookie (@fastify/secure-session)')
    await app.register(fastifySecureSession, {
      // 32 bytes from the secret. A real app keeps a random key (npx @fastify/secure-session > key).
      key: createHash('sha256').update(secret).digest(),
      cookie: { path: '/', secure: 'auto', httpOnly: true, sameSite: 'lax' }
    })
  } else {
    app.log.info(`sessions are kept ${redis ? 'in Redis' : 'in memory'}`)
    await app.register(fastifySession, {
      secret,
      // connect-redis implements the callback-style get/set/destroy that
      // @fastify/session expects from a store, so no adapter is needed.
      store: redis ? new RedisStore({ client: redis, prefix: 'fastify-login-example:' }) : undefined, // undefined: memory
      saveUninitialized: false, // anonymous visitors get no session until they need one
      rolling: false, // save only changed sessions: a request running during a logout cannot restore it
      cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax' }
    })
  }
  // The login form needs CSRF protection too: without it, another site could post
  // its own credentials to /login and log the victim's browser into the attacker's
  // account ("login CSRF"). Logging in drops the CSRF secret with the rest of the
  // old session, so a login form left open in another tab expires (see routes/account.js).
  await app.register(fastifyCsrf, { sessionPlugin: kind === 'secure' ? '@fastify/secure-session' : '@fastify/session' })
  // "Please log in to see that page.": fastify-login's loginMessage, shown once.
  await app.register(fastifyFlash)
  return redis
}

/**
 * Drops what this request changed in its session: neither session plugin saves
 * anything or sets a cookie for a request without one.
 */
function discardSession (request) {
  request.session = null
}

module.exports = { registerSessions, discardSession }
