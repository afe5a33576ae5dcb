'use strict'

// npm run bench:registry  (also run by npm run bench)
//
// The login registry at fleet scale: two instances of an app on one Redis, as the
// README's "Running several instances" deploys them. For each configuration a
// private redis-server (Debian's, started here as the tests do) and two server
// processes (this file, forked with --instance), their sessions in that Redis
// through connect-redis:
//
//   session   the hand-written session baseline (bench/app.js)
//   login     fastify-login, no registry
//   registry  fastify-login with the login registry in the same Redis (RedisLoginStore,
//             on the sessions' client)
//
// Each client logs in on one instance and is checked on the other. Then:
//
// - load: in alternating rounds (the order rotated each round), autocannon loads
//   both instances of one configuration at once, each request the next client's
//   cookie. Per round: the Redis commands its server ran (INFO commandstats,
//   diffed around the round once the last request was answered; every command but
//   the readings themselves, the registry's heartbeat PUBLISH included) per request
//   the instances received (counted by them), and of those the ones the instances
//   sent (the rest ran inside the registry's scripts); the req/s of both instances
//   together, the worse of their p99 latencies, and the CPU time they used per
//   request. Reported: commands per request by command, and the req/s, p99 and CPU
//   ratios to the session baseline, round by round: median and range.
// - revocation: a client logs in on A and is served on B (from its cache, with the
//   registry); A ends the login (loginManager.revokeLogins, asked over IPC); then B
//   is asked again and again with the login's cookie until it refuses it. The delay
//   runs from A's word that the revocation is done to B's refusal; its resolution
//   is one request (about a millisecond here).
//
// Writes the `registry` section of bench/results.json.

const fs = require('node:fs')
const path = require('node:path')
const { fork } = require('node:child_process')
const { performance } = require('node:perf_hooks')

const CONFIGS = ['session', 'login', 'registry']
const env = (name, fallback) => Number(process.env[name] ?? fallback)
const CLIENTS = env('BENCH_REGISTRY_CLIENTS', 512)
const ROUNDS = env('BENCH_REGISTRY_ROUNDS', 9)
const DURATION = env('BENCH_REGISTRY_DURATION', 3)
const CONNECTIONS = env('BENCH_REGISTRY_CONNECTIONS', 8)
const SAMPLES = env('BENCH_REGISTRY_SAMPLES', 50)
/** Revocation samples use users the load never touches. */
const SAMPLE_USERS = 900
const GIVE_UP_MS = 5000
const RESULTS_FILE = process.env.BENCH_RESULTS || path.join(__dirname, 'results.json')
const TARGETS = { extraCommands: 0.05, revocationMedianMs: 100, throughput: 0.95 }
/**
 * The commands the instances send: the session store's, the registry's scripts and
 * its heartbeat. Every other command the server counts ran inside a script.
 */
const SENT = new Set(['get', 'set', 'expire', 'evalsha', 'eval', 'publish'])

// ---------------------------------------------------------------- one instance

async function serve (config, url) {
  const { build } = require('./app')
  const { RedisLoginStore } = require('fastify-login')
  const { createRedisStore } = require('../test/support/redis')
  const redis = await createRedisStore(url, { prefix: `bench-${config}:sess:` })
  const login = config === 'registry' ? { logins: { store: new RedisLoginStore({ client: redis.client, prefix: 'bench-logins:' }) } } : {}
  const app = await build(config === 'session' ? 'session' : 'login', {}, { sessionStore: redis.store, login })
  await app.listen({ host: '127.0.0.1', port: 0 })
  let served = 0
  // Every request that arrives is counted, also one whose client went away at the end of a round: it read its session.
  app.server.on('request', () => { served++ })
  process.on('message', (msg) => {
    if (msg.type === 'served') {
      // With the CPU time used so far (µs): per request, a figure other load on the machine disturbs far less than req/s.
      const { user, system } = process.cpuUsage()
      process.send({ type: 'served', served, cpu: user + system })
    } else if (msg.type === 'revoke') {
      app.loginManager.revokeLogins(msg.user).then((ended) => process.send({ type: 'revoked', ended }))
    } else if (msg.type === 'close') {
      app.close().then(() => redis.close()).finally(() => process.exit(0))
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ type: 'listening', port: app.server.address().port })
}

// ---------------------------------------------------------------- the runner

function fail (message) {
  throw new Error(message)
}

/** Forks an instance of `config`; resolves { base, ask(msg, type) } once it listens. */
function startInstance (config, url) {
  const child = fork(__filename, ['--instance', config, url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`instance ${config} exited (${code})`)))
    child.once('message', (msg) => {
      if (msg.type !== 'listening') return reject(new Error(`unexpected ${JSON.stringify(msg)}`))
      resolve({
        config,
        base: `http://127.0.0.1:${msg.port}`,
        ask: (message, type) => new Promise((resolve) => {
          const on = (reply) => {
            if (reply.type !== type) return
            child.off('message', on)
            resolve(reply)
          }
          child.on('message', on)
          child.send(message)
        }),
        stop: () => new Promise((resolve) => {
          child.removeAllListeners('exit')
          child.once('exit', resolve)
          child.send({ type: 'close' })
        })
      })
    })
  })
}

async function httpLogin (instance, user) {
  const res = await fetch(`${instance.base}/login?user=${user}`, { method: 'POST' })
  if (res.status !== 200) fail(`[${instance.config}] POST /login gave ${res.status}`)
  await res.arrayBuffer()
  const cookie = res.headers.getSetCookie().find((line) => line.startsWith('sessionId='))
  if (cookie === undefined) fail(`[${instance.config}] no session cookie`)
  return cookie.split(';')[0]
}

async function me (instance, cookie) {
  const res = await fetch(`${instance.base}/me`, { headers: { cookie } })
  const body = await res.text()
  return { status: res.status, body }
}

async function commandStats (admin) {
  const info = String(await admin.sendCommand(['INFO', 'commandstats']))
  const calls = {}
  for (const [, name, count] of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)) if (name !== 'info') calls[name] = Number(count)
  return calls
}

async function fleetOf (config) {
  const { startRedis } = require('../test/support/redis')
  const { createClient } = require('redis')
  const server = await startRedis()
  const admin = createClient({ url: server.url })
  admin.on('error', () => {})
  await admin.connect()
  const { url } = server
  const pair = [await startInstance(config, url), await startInstance(config, url)]
  const cookies = []
  for (let i = 0; i < CLIENTS; i++) {
    const user = i + 1
    const cookie = await httpLogin(pair[i % 2], user)
    const checked = await me(pair[(i + 1) % 2], cookie)
    if (checked.status !== 200 || JSON.parse(checked.body).id !== user) fail(`[${config}] user ${user} not served on the other instance: ${checked.status}`)
    cookies.push(cookie)
  }
  return {
    config,
    pair,
    cookies,
    admin,
    rounds: [],
    async stop () {
      for (const instance of pair) await instance.stop()
      admin.destroy()
      await server.stop()
    }
  }
}

/** Requests the instances received so far, once none is under way any more, and the CPU time they used (µs). */
async function served (fleet) {
  let last = -1
  for (;;) {
    const counts = await Promise.all(fleet.pair.map((instance) => instance.ask({ type: 'served' }, 'served')))
    const total = counts.reduce((n, reply) => n + reply.served, 0)
    if (total === last) return { requests: total, cpu: counts.reduce((n, reply) => n + reply.cpu, 0) }
    last = total
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function load (instance, cookies, offset) {
  const autocannon = require('autocannon')
  let next = offset
  return new Promise((resolve, reject) => {
    autocannon({
      url: `${instance.base}/me`,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [{
        setupRequest: (request) => {
          request.headers = { ...request.headers, cookie: cookies[next++ % cookies.length] }
          return request
        }
      }]
    }, (err, result) => err ? reject(err) : resolve(result))
  })
}

async function round (fleet) {
  const start = await served(fleet)
  const before = await commandStats(fleet.admin)
  const results = await Promise.all(fleet.pair.map((instance, i) => load(instance, fleet.cookies, i * (fleet.cookies.length >> 1))))
  const end = await served(fleet)
  const answered = end.requests - start.requests
  const after = await commandStats(fleet.admin)
  for (const result of results) {
    if (result.non2xx > 0 || result.errors > 0) fail(`[${fleet.config}] ${result.non2xx} non-2xx, ${result.errors} errors`)
  }
  const byCommand = {}
  for (const [name, count] of Object.entries(after)) if (count > (before[name] ?? 0)) byCommand[name] = count - (before[name] ?? 0)
  const commands = Object.values(byCommand).reduce((a, b) => a + b, 0)
  return {
    cpuPerRequest: (end.cpu - start.cpu) / answered,
    sent: Object.entries(byCommand).reduce((n, [name, count]) => SENT.has(name) ? n + count : n, 0),
    reqPerSec: results.reduce((n, r) => n + r.requests.total / (r.duration || DURATION), 0),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    served: answered,
    commands,
    byCommand
  }
}

/** Ends a fresh login on A; resolves the ms until B refuses it. */
async function revocation (fleet, user, flip) {
  const [a, b] = flip ? [fleet.pair[1], fleet.pair[0]] : fleet.pair
  const cookie = await httpLogin(a, user)
  for (let i = 0; i < 2; i++) if ((await me(b, cookie)).status !== 200) fail('B does not serve the login before its revocation')
  const { ended } = await a.ask({ type: 'revoke', user: String(user) }, 'revoked')
  if (ended !== 1) fail(`revokeLogins ended ${ended} logins`)
  const t0 = performance.now()
  for (;;) {
    const { status } = await me(b, cookie)
    const elapsed = performance.now() - t0
    if (status === 401) return elapsed
    if (status !== 200) fail(`B answered ${status} after the revocation`)
    if (elapsed > GIVE_UP_MS) return Infinity
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const round3 = (n) => Number(n.toFixed(3))
const spread = (values) => ({ median: round3(median(values)), min: round3(Math.min(...values)), max: round3(Math.max(...values)) })

async function main () {
  const { hasRedisServer } = require('../test/support/redis')
  if (!hasRedisServer()) {
    console.log('bench:registry skipped: redis-server is missing (apt-get install redis-server)')
    return
  }
  const fleets = []
  try {
    console.log(`bench:registry: ${CONFIGS.join(', ')}, two instances each on a redis-server of its own; ${CLIENTS} clients round-robin; ` +
      `${ROUNDS} rounds of ${DURATION} s, ${CONNECTIONS} connections per instance; ${SAMPLES} revocations`)
    for (const config of CONFIGS) fleets.push(await fleetOf(config))
    for (const fleet of fleets) await round(fleet) // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      const line = []
      for (let i = 0; i < fleets.length; i++) {
        const fleet = fleets[(i + r) % fleets.length]
        const result = await round(fleet)
        fleet.rounds.push(result)
        line.push(`${fleet.config} ${Math.round(result.reqPerSec)} req/s p99 ${result.p99} ms ${(result.commands / result.served).toFixed(3)} cmd/req`)
      }
      console.log(`  round ${r + 1}: ${line.join(' | ')}`)
    }

    const registry = fleets.find((f) => f.config === 'registry')
    const delays = []
    for (let i = 0; i < SAMPLES; i++) delays.push(await revocation(registry, SAMPLE_USERS + 1 + i, i % 2 === 1))

    const byConfig = Object.fromEntries(fleets.map((f) => [f.config, f]))
    const perRequest = (fleet) => {
      const served = fleet.rounds.reduce((n, r) => n + r.served, 0)
      const byCommand = {}
      for (const r of fleet.rounds) for (const [name, n] of Object.entries(r.byCommand)) byCommand[name] = (byCommand[name] ?? 0) + n
      return {
        total: round3(fleet.rounds.reduce((n, r) => n + r.commands, 0) / served),
        sent: Number((fleet.rounds.reduce((n, r) => n + r.sent, 0) / served).toFixed(4)),
        byCommand: Object.fromEntries(Object.entries(byCommand).map(([name, n]) => [name, Number((n / served).toFixed(4))]))
      }
    }
    const ratios = (num, den, field) => byConfig[num].rounds.map((r, i) => r[field] / byConfig[den].rounds[i][field])
    const result = {
      clients: CLIENTS,
      rounds: ROUNDS,
      durationSeconds: DURATION,
      connectionsPerInstance: CONNECTIONS,
      redisCommandsPerRequest: Object.fromEntries(fleets.map((f) => [f.config, perRequest(f)])),
      extraCommandsPerRequest: round3(perRequest(registry).total - perRequest(byConfig.session).total),
      extraSentPerRequest: Number((perRequest(registry).sent - perRequest(byConfig.session).sent).toFixed(4)),
      cpuMicrosPerRequest: Object.fromEntries(fleets.map((f) => [f.config, spread(f.rounds.map((r) => r.cpuPerRequest))])),
      cpuRatio: {
        'registry/session': spread(ratios('registry', 'session', 'cpuPerRequest')),
        'login/session': spread(ratios('login', 'session', 'cpuPerRequest')),
        'registry/login': spread(ratios('registry', 'login', 'cpuPerRequest'))
      },
      reqPerSec: Object.fromEntries(fleets.map((f) => [f.config, spread(f.rounds.map((r) => r.reqPerSec))])),
      p99ms: Object.fromEntries(fleets.map((f) => [f.config, spread(f.rounds.map((r) => r.p99))])),
      throughputRatio: {
        'registry/session': spread(ratios('registry', 'session', 'reqPerSec')),
        'login/session': spread(ratios('login', 'session', 'reqPerSec')),
        'registry/login': spread(ratios('registry', 'login', 'reqPerSec'))
      },
      p99Ratio: {
        'registry/session': spread(ratios('registry', 'session', 'p99')),
        'login/session': spread(ratios('login', 'session', 'p99')),
        'registry/login': spread(ratios('registry', 'login', 'p99'))
      },
      revocationMs: { samples: SAMPLES, ...spread(delays) }
    }

    console.log('\ntwo instances on one Redis, logged-in requests (GET /me, a different client each)')
    console.log('config     Redis cmds/req  sent by the app  by command (commands inside scripts included)')
    for (const f of fleets) {
      const { total, sent, byCommand } = result.redisCommandsPerRequest[f.config]
      console.log(`${f.config.padEnd(10)} ${total.toFixed(3).padStart(14)}  ${sent.toFixed(4).padStart(15)}  ${JSON.stringify(byCommand)}`)
    }
    const show = ({ median, min, max }) => `${median} (${min} – ${max})`
    for (const f of fleets) {
      console.log(`${f.config.padEnd(10)} req/s ${show(result.reqPerSec[f.config])}, p99 ms ${show(result.p99ms[f.config])}, CPU µs/req ${show(result.cpuMicrosPerRequest[f.config])}`)
    }
    for (const name of Object.keys(result.throughputRatio)) {
      console.log(`${name.padEnd(17)} throughput ${show(result.throughputRatio[name])}, p99 ${show(result.p99Ratio[name])}, CPU per request ${show(result.cpuRatio[name])} (below 1: cheaper)  (median, range over ${ROUNDS} rounds)`)
    }
    console.log(`revocation on A seen on B: ${show(result.revocationMs)} ms (median, min – max of ${SAMPLES})`)
    const checks = [
      [`extra Redis commands sent per logged-in request ${result.extraSentPerRequest} <= ${TARGETS.extraCommands}`, result.extraSentPerRequest <= TARGETS.extraCommands],
      [`extra Redis commands run per logged-in request, inside scripts too, ${result.extraCommandsPerRequest} <= ${TARGETS.extraCommands}`, result.extraCommandsPerRequest <= TARGETS.extraCommands],
      [`revocation median ${result.revocationMs.median} ms <= ${TARGETS.revocationMedianMs} ms`, result.revocationMs.median <= TARGETS.revocationMedianMs],
      [`registry/session throughput median ${result.throughputRatio['registry/session'].median} >= ${TARGETS.throughput}`, result.throughputRatio['registry/session'].median >= TARGETS.throughput]
    ]
    for (const [text, ok] of checks) console.log(`${ok ? 'ok  ' : 'MISS'} ${text}`)

    const results = fs.existsSync(RESULTS_FILE) ? JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) : {}
    results.registry = { date: new Date().toISOString(), node: process.version, ...result }
    fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
    console.log(`registry section written to ${path.relative(process.cwd(), RESULTS_FILE)}`)
  } finally {
    for (const fleet of fleets) await fleet.stop()
  }
}

if (process.argv[2] === '--instance') {
  serve(process.argv[3], process.argv[4]).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
