'use strict'

const assert = require('node:assert/strict')

// Instances of one app behind a load balancer, as the README's "Running several
// instances" deploys them: separate Fastify apps with the same secrets, their
// sessions in Redis through connect-redis, and the login registry in the same
// Redis through RedisLoginStore, on the app's own node-redis client (standalone or
// Cluster, node-redis 6 or 5). What the test files of the registry at fleet scale
// share: the instances, their routes, and the Redis commands counted by the servers.

const { performance } = require('node:perf_hooks')
const { RedisLoginStore } = require('fastify-login')
const { buildApp, REMEMBER_SECRET } = require('../helper')
const { createRedisStore } = require('./redis')
const { createLogCapture } = require('./log')

const SESSION_COOKIE = 'sessionId'
const REMEMBER = 'remember_token'
/** Every id is a user: the loader hands back the id it was given. */
const ANY_USER = { get: (id) => ({ id, username: `user ${id}` }) }

/**
 * One instance: a Fastify app with @fastify/session on connect-redis and, unless
 * `registry: false`, the login registry on RedisLoginStore; both on one client
 * (`client`, e.g. a cluster's, else a new `createClient` of `pkg` on `url`), or
 * the registry on a client of its own on `registryUrl`.
 * `store` options go to RedisLoginStore, `logins` to the registry. Its log (level
 * warn) is captured in `log`. Routes: POST /login, GET /whoami, POST /revoke
 * { user, login }, POST /revoke-all { user }, GET /logins?user=&limit=, and what
 * `routes(app)` adds. `session` options go to @fastify/session.
 */
async function startInstance ({
  url, client, registryUrl, pkg = 'redis', socketTimeout, registry = true, store = {}, logins = {}, prefix = 'fleet:', session = { rolling: false }, routes
} = {}) {
  const log = createLogCapture()
  let redis
  if (client === undefined) {
    redis = await createRedisStore(url, { pkg, socketTimeout, prefix: 'sess:' })
    client = redis.client
  } else {
    const { RedisStore } = require('connect-redis')
    redis = { client, store: new RedisStore({ client, prefix: 'sess:' }), close: async () => {} }
  }
  // `registryUrl`: the registry on a client of its own there (the sessions stay on `client`).
  const own = registryUrl === undefined ? undefined : await createRedisStore(registryUrl, { pkg, socketTimeout })
  const registryClient = own?.client ?? client
  const theft = []
  const app = await buildApp({
    kind: 'stored',
    store: redis.store,
    // By default as the README deploys it: the session is written at login, not at every request.
    session,
    users: ANY_USER,
    fastify: { logger: { level: 'warn', stream: log.stream } },
    login: {
      remember: { secret: REMEMBER_SECRET },
      ...(registry ? { logins: { store: new RedisLoginStore({ client: registryClient, prefix, ...store }), ...logins } } : {})
    },
    routes: async (app) => {
      app.get('/whoami', async (request) => ({
        user: request.user?.id ?? null,
        loginId: request.loginId ?? null,
        by: request.authenticatedBy,
        endReason: request.loginEndReason ?? null
      }))
      if (registry) {
        app.post('/revoke', async (request) => {
          await app.loginManager.revokeLogin(request.body.user, request.body.login)
          return { ok: true }
        })
        app.post('/revoke-all', async (request) => ({ ended: await app.loginManager.revokeLogins(request.body.user) }))
        app.get('/logins', async (request) => app.loginManager.listLogins(request.query.user, request.query.limit ? { limit: Number(request.query.limit) } : {}))
        app.loginManager.on('rememberTheft', (request, userId) => theft.push(userId))
      }
      if (routes) await routes(app)
    }
  })
  return {
    app,
    client,
    log,
    theft,
    async close () {
      await app.close()
      await redis.close()
      await own?.close()
    }
  }
}

/** Calls per command name that the servers (each a node-redis client on one server) ran so far. */
async function commandStats (servers) {
  const calls = {}
  for (const server of servers) {
    const info = String(await server.sendCommand(['INFO', 'commandstats']))
    for (const [, name, count] of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)) calls[name] = (calls[name] ?? 0) + Number(count)
  }
  return calls
}

/**
 * What the servers ran while `work` ran, per command name: a command inside a
 * script counts as well as the script. Not counted: the readings themselves (INFO),
 * keep-alive PINGs and the invalidation link's heartbeat (a PUBLISH from each
 * instance twice a second, whatever the requests).
 */
async function commandsDuring (servers, work) {
  const before = await commandStats(servers)
  await work()
  const after = await commandStats(servers)
  const ran = {}
  for (const [name, count] of Object.entries(after)) {
    if (name === 'info' || name === 'ping' || name === 'publish') continue
    if (count > (before[name] ?? 0)) ran[name] = count - (before[name] ?? 0)
  }
  return ran
}

/** Store round trips (scripts) among counted commands. */
const scriptsIn = (ran) => (ran.evalsha ?? 0) + (ran.eval ?? 0)

/**
 * Polls `check` until it answers truthy, or fails naming `what` after `timeout` ms.
 * Timed with performance.now(): the tests may freeze Date.
 */
async function until (check, what, timeout = 30000) {
  const deadline = performance.now() + timeout
  for (;;) {
    const value = await check()
    if (value) return value
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Who `instance` says the jar's browser is: GET /whoami. */
async function whoami (jar, instance) {
  return (await jar.get({ url: '/whoami', app: instance.app })).json()
}

/** `rounds` logged-in requests of every jar on `instance`, each one still logged in. */
async function burst (instance, jars, rounds = 25) {
  for (let i = 0; i < rounds; i++) {
    for (const jar of jars) assert.notEqual((await whoami(jar, instance)).user, null)
  }
}

module.exports = { whoami, burst, startInstance, commandStats, commandsDuring, scriptsIn, until, SESSION_COOKIE, REMEMBER, ANY_USER }
