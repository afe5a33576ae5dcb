'use strict'

// npm run bench:registry  (also run by npm run bench)
//
// What the login registry costs on Redis, beside the session-only baseline on the
// same Redis: a private redis-server (Debian's redis-server, started here), the
// sessions in it through connect-redis, and for `logins-redis` the registry in it
// too through RedisLoginStore. 64 clients log in, then send logged-in requests
// round-robin through app.inject in alternating batches. Reported per request:
//   - Redis commands, counted by the server (INFO commandstats): exact, and what a
//     deployment pays in round trips;
//   - wall-clock time, the median of the batches' ratio: indicative only on a
//     shared machine (the instruction counts of bench/cost.js do not include the
//     Redis server, so this is where a round trip shows).
// Writes the `registry` section of bench/results.json.

const fs = require('node:fs')
const path = require('node:path')
const { build } = require('./app')
const { RedisLoginStore } = require('fastify-login')
const { startRedis, createRedisStore, hasRedisServer, sendRaw } = require('../test/support/redis')

const CLIENTS = 64
const ROUNDS = Number(process.env.BENCH_REGISTRY_ROUNDS ?? 15)
const BATCH = Number(process.env.BENCH_REGISTRY_BATCH ?? 640)
const RESULTS_FILE = process.env.BENCH_RESULTS || path.join(__dirname, 'results.json')

/** Total commands the server has run, from INFO commandstats. */
async function commands (port) {
  const info = await sendRaw(port, 'INFO commandstats\r\n', 5000)
  let total = 0
  for (const match of info.matchAll(/cmdstat_[a-z|]+:calls=(\d+)/g)) total += Number(match[1])
  return total
}

async function instance (name, url) {
  const redis = await createRedisStore(url, { prefix: `bench-${name}:`, commandTimeout: 10000 })
  const login = name === 'logins-redis'
    ? { logins: { store: new RedisLoginStore({ client: redis.client, prefix: 'bench-logins:' }) } }
    : {}
  const app = await build(name === 'session-redis' ? 'session' : 'login', {}, { sessionStore: redis.store, login })
  const clients = []
  for (let i = 0; i < CLIENTS; i++) {
    const id = String(101 + i)
    const res = await app.inject({ method: 'POST', url: `/login?user=${id}`, headers: { 'user-agent': `bench-client-${i}` } })
    const cookie = res.headers['set-cookie']
    clients.push({ id, headers: { 'user-agent': `bench-client-${i}`, cookie: String(Array.isArray(cookie) ? cookie[0] : cookie).split(';')[0] } })
  }
  return { name, app, redis, clients, next: 0, times: [] }
}

async function batch (config, count) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const client = config.clients[config.next++ % CLIENTS]
    const res = await config.app.inject({ url: '/me', headers: client.headers })
    if (res.statusCode !== 200 || res.json().id !== Number(client.id)) throw new Error(`${config.name}: ${res.statusCode} ${res.body}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return Number(process.hrtime.bigint() - start) / count / 1000
}

async function main () {
  if (!hasRedisServer()) {
    console.log('bench:registry skipped: redis-server is missing (apt-get install redis-server)')
    return
  }
  const server = await startRedis()
  const configs = []
  try {
    for (const name of ['session-redis', 'logins-redis']) configs.push(await instance(name, server.url))
    const perRequest = {}
    for (const config of configs) {
      await batch(config, BATCH) // warm-up
      const before = await commands(server.port)
      await batch(config, BATCH)
      perRequest[config.name] = (await commands(server.port) - before - 1) / BATCH // the INFO call itself
    }
    const ratios = []
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...configs].reverse() : configs
      const us = {}
      for (const config of order) us[config.name] = await batch(config, BATCH)
      for (const config of configs) config.times.push(us[config.name])
      ratios.push(us['session-redis'] / us['logins-redis'])
    }
    const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
    const result = {
      clients: CLIENTS,
      rounds: ROUNDS,
      batch: BATCH,
      redisCommandsPerRequest: perRequest,
      microsecondsPerRequest: Object.fromEntries(configs.map((c) => [c.name, Number(median(c.times).toFixed(1))])),
      ratio: Number(median(ratios).toFixed(3)),
      ratioRange: [Number(Math.min(...ratios).toFixed(3)), Number(Math.max(...ratios).toFixed(3))]
    }
    console.log('\nlogged-in request, sessions on Redis (connect-redis), 64 clients round-robin through app.inject')
    console.log('config         Redis cmds/req  µs/req (median)')
    for (const c of configs) {
      console.log(`${c.name.padEnd(14)} ${perRequest[c.name].toFixed(2).padStart(14)}  ${result.microsecondsPerRequest[c.name].toFixed(1).padStart(15)}`)
    }
    console.log(`logins-redis / session-redis (throughput): median ${result.ratio}, ${result.ratioRange.join(' – ')} over ${ROUNDS} rounds`)
    console.log(`the registry check: ${(perRequest['logins-redis'] - perRequest['session-redis']).toFixed(2)} Redis command(s) more per logged-in request (a GET of the login)`)
    const results = fs.existsSync(RESULTS_FILE) ? JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) : {}
    results.registry = { date: new Date().toISOString(), node: process.version, ...result }
    fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
    console.log(`registry section written to ${path.relative(process.cwd(), RESULTS_FILE)}`)
  } finally {
    for (const config of configs) {
      await config.app.close()
      await config.redis.close()
    }
    await server.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
