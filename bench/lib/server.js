'use strict'

// node bench/lib/server.js <row> [--fleet] [--redis <url>]
//
// Serves one configuration of bench/configs.js on 127.0.0.1 at an ephemeral port
// (PORT fixes it), with trustProxy on, so that each client's X-Forwarded-For is
// its address (as behind a load balancer). With --fleet the row is one of
// FLEET_ROWS and --redis gives the Redis its sessions (connect-redis) and, for a
// registry row, its login registry (RedisLoginStore on the same client) live in:
// several instances of one row then share their sessions and logins.
//
// Reports the port over IPC ({ type: 'listening', port }) when forked, and always
// as one JSON line on stdout, so it can be run by hand (under --cpu-prof, say) and
// loaded with autocannon. Over IPC it answers { type: 'stats' } with the CPU time
// used so far and the requests received, { type: 'revoke', user } by ending the
// user's logins in the registry, and stops on { type: 'close' }, SIGINT, SIGTERM or
// when the parent goes.

const { build } = require('./app')
const { row: findRow, fleetRow } = require('../configs')
const { option } = require('./stats')

const argv = process.argv.slice(2)
const name = argv[0]
const fleet = argv.includes('--fleet')
const redisUrl = option(argv, 'redis', 'BENCH_REDIS_URL', undefined)

async function redisParts (row) {
  const { createRedisStore } = require('../../test/support/redis')
  const redis = await createRedisStore(redisUrl, { prefix: `bench-${row.name}:sess:`, commandTimeout: 10000 })
  const login = {}
  if (row.registry === 'redis') {
    const { RedisLoginStore } = require('fastify-login')
    login.logins = { store: new RedisLoginStore({ client: redis.client, prefix: `bench-${row.name}:logins:` }) }
  }
  return { redis, parts: { sessionStore: redis.store, login } }
}

async function main () {
  const row = fleet ? fleetRow(name) : findRow(name)
  if (row.setup) await row.setup()
  let redis = null
  let parts = {}
  if (redisUrl !== undefined) ({ redis, parts } = await redisParts(row))
  const app = await build(row, { trustProxy: true }, parts)
  let served = 0
  app.server.on('request', () => { served++ })
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) || 0 })
  const { port } = app.server.address()

  let closing = false
  const close = () => {
    if (closing) return
    closing = true
    // process.exit (not a hard kill) so that --cpu-prof writes its profile.
    app.close().then(() => redis?.close()).finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 3000).unref()
  }
  process.on('SIGINT', close)
  process.on('SIGTERM', close)
  process.on('disconnect', close)
  if (process.send) {
    process.on('message', (msg) => {
      if (msg?.type === 'close') close()
      // CPU time used so far (user + system, microseconds): divided by the requests
      // of a round it is a figure other load on the machine disturbs far less than req/s.
      else if (msg?.type === 'stats') {
        const { user, system } = process.cpuUsage()
        process.send({ type: 'stats', cpuMicros: user + system, served })
      } else if (msg?.type === 'revoke') {
        // The registry's revocation from elsewhere: every login of the user ends.
        app.loginManager.revokeLogins(msg.user).then(
          (ended) => process.send({ type: 'revoked', ended }),
          (err) => process.send({ type: 'revoked', error: err.message })
        )
      }
    })
  }

  process.stdout.write(JSON.stringify({ config: row.name, host: '127.0.0.1', port, pid: process.pid }) + '\n')
  if (process.send) process.send({ type: 'listening', config: row.name, port })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
