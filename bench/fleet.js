'use strict'

// npm run bench:fleet [-- --clients 1024 --configs session,registry]
//
// Several instances on one Redis, as the README's "Running several instances"
// deploys them: a private redis-server (test/support/redis.js), and for each row of
// FLEET_ROWS (bench/configs.js) two server processes (bench/lib/server.js --fleet)
// with their sessions in it through connect-redis and, for the registry row, the
// login registry in it through RedisLoginStore. Each client logs in on one
// instance and is checked on the other. Then:
//
// - load: in alternating rounds (start rotated), autocannon loads both instances of
//   one row at once, every request the next client round-robin. Per round: the
//   Redis commands the server ran (INFO commandstats, diffed around the round) per
//   request the instances served, the req/s of both together and the worse p99.
//   Reported: commands per request (and by command), req/s and p99 with their
//   ratios to the session-only row, median and range over the rounds.
// - revocation: a client logs in on A and is served on B; A ends the login (a
//   logout, or for the registry loginManager.revokeLogin from another request, the
//   session left in Redis); then B is asked again and again with the login's cookie
//   until it refuses it. The delay runs from A's answer to B's refusal; its
//   resolution is one request (about a millisecond here).
//
// Writes the `fleet` section of bench/results.json.

const { FLEET_ROWS, FLEET_TARGETS, withBaselines } = require('./configs')
const { makeClients, makeClient } = require('./lib/clients')
const { startServer, stopServer, killChildren, httpHeaders, httpLogin, httpCheck, cannon, fail } = require('./lib/load')
const { median, round, table, writeSection, list, option, counts } = require('./lib/stats')
const { startRedis, hasRedisServer, sendRaw } = require('../test/support/redis')

const argv = process.argv.slice(2)
const num = (name, env, def) => counts(option(argv, name, env, String(def)), `--${name}`)[0]
const CLIENTS = num('clients', 'BENCH_FLEET_CLIENTS', 1024)
const ROUNDS = num('rounds', 'BENCH_FLEET_ROUNDS', 9)
const DURATION = num('duration', 'BENCH_FLEET_DURATION', 3)
const CONNECTIONS = num('connections', 'BENCH_FLEET_CONNECTIONS', 5)
const SAMPLES = num('samples', 'BENCH_FLEET_SAMPLES', 100)
const ONLY = list(option(argv, 'configs', 'BENCH_FLEET_CONFIGS', ''))
const GIVE_UP_MS = 5000

// Commands that are not the requests' own: the readings themselves and the
// clients' keep-alive pings and handshakes.
const NOT_REQUESTS = /^(info|ping|hello|select|auth|client\|.*|config\|.*|command.*)$/

async function commandStats (port) {
  const info = await sendRaw(port, 'INFO commandstats\r\n', 5000)
  const calls = {}
  for (const m of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)) {
    if (!NOT_REQUESTS.test(m[1])) calls[m[1]] = Number(m[2])
  }
  return calls
}

function diff (after, before) {
  const out = {}
  for (const [name, n] of Object.entries(after)) if (n !== (before[name] ?? 0)) out[name] = n - (before[name] ?? 0)
  return out
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100))

async function instances (row, url) {
  const pair = []
  for (let i = 0; i < 2; i++) pair.push(await startServer(row.name, ['--fleet', '--redis', url]))
  const clients = makeClients(CLIENTS)
  for (const [i, client] of clients.entries()) {
    await httpLogin(pair[i % 2], client, row.auth)
    await httpCheck(pair[(i + 1) % 2], client, row)
  }
  return { row, pair, clients, rounds: [] }
}

async function round1 (fleet, redisPort) {
  const { row, pair, clients } = fleet
  const before = { calls: await commandStats(redisPort), stats: await Promise.all(pair.map((s) => s.stats())) }
  const results = await Promise.all(pair.map((server) => cannon(server, row.path, clients, { duration: DURATION, connections: CONNECTIONS })))
  await settle()
  const after = { calls: await commandStats(redisPort), stats: await Promise.all(pair.map((s) => s.stats())) }
  const served = after.stats.reduce((n, s, i) => n + s.served - before.stats[i].served, 0)
  const byCommand = diff(after.calls, before.calls)
  const commands = Object.values(byCommand).reduce((a, b) => a + b, 0)
  return {
    reqPerSec: round(results.reduce((n, r) => n + r.requests.total / r.duration, 0), 1),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    served,
    commandsPerRequest: round(commands / served, 4),
    byCommand: Object.fromEntries(Object.entries(byCommand).map(([k, v]) => [k, round(v / served, 4)]))
  }
}

/** Ends a login on A; resolves the ms until B refuses it. */
async function revocation (fleet, client) {
  const [a, b] = fleet.pair
  const { row } = fleet
  await httpLogin(a, client, row.auth)
  await httpCheck(b, client, row)
  const headers = httpHeaders(client)
  if (row.revoke === 'revoke') {
    const res = await fetch(`${a.base}/login-id`, { headers })
    const { loginId } = await res.json()
    if (typeof loginId !== 'string') fail(`[${row.name}] no login id: ${JSON.stringify(loginId)}`)
    const revoked = await fetch(`${a.base}/revoke?user=${client.id}&login=${encodeURIComponent(loginId)}`, { method: 'POST', headers: { 'x-forwarded-for': '10.0.0.1' } })
    if (revoked.status !== 200) fail(`[${row.name}] POST /revoke gave ${revoked.status}: ${await revoked.text()}`)
    await revoked.arrayBuffer()
  } else {
    const res = await fetch(`${a.base}/logout`, { method: 'POST', headers })
    if (res.status !== 200) fail(`[${row.name}] POST /logout gave ${res.status}: ${await res.text()}`)
    await res.arrayBuffer()
  }
  const t0 = performance.now()
  for (;;) {
    const res = await fetch(b.base + row.path, { headers })
    await res.arrayBuffer()
    const elapsed = performance.now() - t0
    if (res.status === 401) return elapsed
    if (res.status !== 200) fail(`[${row.name}] GET ${row.path} on B gave ${res.status} after the revocation`)
    if (elapsed > GIVE_UP_MS) return Infinity
  }
}

function spreadOf (values) {
  return { median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) }
}

async function main () {
  if (!hasRedisServer()) {
    console.log('bench:fleet skipped: redis-server is missing (apt-get install redis-server)')
    return
  }
  const rows = withBaselines(ONLY, FLEET_ROWS, [])
  const started = Date.now()
  const redis = await startRedis()
  const fleets = []
  try {
    console.log(`bench:fleet: ${rows.map((r) => r.name).join(', ')}, two instances each on one redis-server (port ${redis.port}); ` +
      `${CLIENTS} clients round-robin; ${ROUNDS} rounds x ${DURATION} s, ${CONNECTIONS} connections per instance; ${SAMPLES} revocations`)
    for (const row of rows) {
      fleets.push(await instances(row, redis.url))
      console.log(`  ${row.name}: ${CLIENTS} clients logged in on one instance and served on the other`)
    }
    console.log('warming up')
    for (const fleet of fleets) await round1(fleet, redis.port)
    for (let r = 0; r < ROUNDS; r++) {
      const line = []
      for (let i = 0; i < fleets.length; i++) {
        const fleet = fleets[(i + r) % fleets.length]
        const result = await round1(fleet, redis.port)
        fleet.rounds.push(result)
        line.push(`${fleet.row.name} ${Math.round(result.reqPerSec)} req/s ${result.commandsPerRequest.toFixed(3)} cmd/req`)
      }
      console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')}`)
    }
    for (const fleet of fleets) {
      fleet.delays = []
      for (let s = 0; s < SAMPLES; s++) fleet.delays.push(await revocation(fleet, makeClient(CLIENTS + s)))
      const finite = fleet.delays.filter(Number.isFinite)
      console.log(`  ${fleet.row.name}: ${SAMPLES} revocations, median ${median(fleet.delays).toFixed(2)} ms, max ${Math.max(...fleet.delays).toFixed(2)} ms` +
        (finite.length < SAMPLES ? `, ${SAMPLES - finite.length} never refused within ${GIVE_UP_MS} ms` : ''))
    }
  } finally {
    for (const fleet of fleets) await Promise.all(fleet.pair.map(stopServer))
    await redis.stop()
  }

  const configs = {}
  const base = fleets.find((f) => f.row.baseline === null)
  for (const fleet of fleets) {
    const { row, rounds } = fleet
    const c = {
      about: row.about,
      revoke: row.revoke,
      commandsPerRequest: round(median(rounds.map((x) => x.commandsPerRequest)), 4),
      byCommand: rounds[rounds.length - 1].byCommand,
      reqPerSec: spreadOf(rounds.map((x) => x.reqPerSec)),
      p99: spreadOf(rounds.map((x) => x.p99)),
      revocationMs: { ...spreadOf(fleet.delays.filter(Number.isFinite)), samples: fleet.delays.length, neverRefused: fleet.delays.filter((d) => !Number.isFinite(d)).length },
      rounds
    }
    if (base && fleet !== base) {
      c.baseline = base.row.name
      c.extraCommandsPerRequest = round(c.commandsPerRequest - median(base.rounds.map((x) => x.commandsPerRequest)), 4)
      // Same-round ratios: each round's pair ran back to back, so slow drift cancels.
      c.throughputRatio = spreadOf(rounds.map((x, i) => x.reqPerSec / base.rounds[i].reqPerSec))
      c.p99Ratio = spreadOf(rounds.map((x, i) => x.p99 / Math.max(base.rounds[i].p99, 1)))
    }
    configs[row.name] = c
  }

  console.log('')
  const range = (s, digits) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`
  table(['config', 'Redis cmd/req', 'extra', 'req/s', 'ratio', 'p99 ms', 'p99 ratio', 'revocation ms median (min..max)', 'commands per request'],
    fleets.map(({ row }) => {
      const c = configs[row.name]
      return [row.name, c.commandsPerRequest.toFixed(3), c.extraCommandsPerRequest?.toFixed(3) ?? '', range(c.reqPerSec, 0),
        c.throughputRatio ? range(c.throughputRatio, 3) : '', range(c.p99, 0), c.p99Ratio ? range(c.p99Ratio, 2) : '',
        `${range(c.revocationMs, 2)} ${c.revoke}`, Object.entries(c.byCommand).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')]
    }), new Set([1, 2]))

  const targets = []
  const t = FLEET_TARGETS
  const check = (name, value, target, pass) => targets.push({ name, value, target, pass })
  if (configs[t.extraCommands.row]?.extraCommandsPerRequest !== undefined) {
    const v = configs[t.extraCommands.row].extraCommandsPerRequest
    check(`${t.extraCommands.row} extra Redis cmd/req`, v, `<= ${t.extraCommands.max}`, v <= t.extraCommands.max)
  }
  if (configs[t.throughput.row]?.throughputRatio) {
    const v = configs[t.throughput.row].throughputRatio.median
    check(`${t.throughput.row}/session req/s`, v, `>= ${t.throughput.min}`, v >= t.throughput.min)
  }
  if (configs[t.revocationMedianMs.row]) {
    const v = configs[t.revocationMedianMs.row].revocationMs.median
    check(`${t.revocationMedianMs.row} revocation median ms`, v, `<= ${t.revocationMedianMs.max}`, v <= t.revocationMedianMs.max)
  }
  for (const x of targets) console.log(`${x.name.padEnd(32)} ${String(x.value).padStart(8)}  target ${x.target.padEnd(8)} ${x.pass ? 'PASS' : 'MISS'}`)

  writeSection('fleet', {
    date: new Date().toISOString(),
    node: process.version,
    redis: require('node:child_process').spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim(),
    settings: { instances: 2, clients: CLIENTS, rounds: ROUNDS, durationSeconds: DURATION, connectionsPerInstance: CONNECTIONS, revocationSamples: SAMPLES },
    configs,
    targets,
    elapsedSeconds: round((Date.now() - started) / 1000, 1)
  })
  if (process.env.BENCH_STRICT === '1' && targets.some((x) => !x.pass)) process.exitCode = 1
}

main().catch((err) => {
  console.error(err.benchFailure ? `BENCH FAILED: ${err.message}` : err)
  killChildren()
  process.exit(1)
})
