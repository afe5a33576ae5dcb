'use strict'

// npm run bench:fleet [-- --clients 1024 --configs registry]
//
// Several instances on one Redis, as the README's "Running several instances"
// deploys them. For each row of FLEET_ROWS (bench/configs.js) a private
// redis-server of its own (test/support/redis.js) and two server processes
// (bench/lib/server.js --fleet) with their sessions in it through connect-redis and,
// for the registry row, the login registry in it through RedisLoginStore on the
// same client. Each client logs in on one instance and is checked on the other.
// Then:
//
// - load: in alternating rounds (start rotated), autocannon loads both instances of
//   one row at once, every request the next client round-robin. Per round: the
//   Redis commands the row's server ran (INFO commandstats, diffed around the round
//   once the last request was answered; every command but the readings themselves,
//   the registry's heartbeats included), per request the instances received
//   (counted by them), and of those the ones the instances sent (the rest ran inside
//   scripts); the req/s of both instances together, the worse of their p99
//   latencies, and the CPU time they used per request. Reported: commands per
//   request over all rounds, by command; req/s, p99 and CPU per request with their
//   ratios to the session-only row, round by round: median and range.
// - revocation: a new client logs in on A and is served on B (twice: from the
//   registry's cache, once there is one); A ends the login (for the registry
//   loginManager.revokeLogins, asked over IPC, which leaves the session in Redis
//   so that only the registry can refuse it; for the others a logout, which
//   destroys the session); then B is asked again and again with the login's cookie
//   until it refuses it. The delay runs from A's word that the login is ended to
//   B's refusal; its resolution is one request (about a millisecond here). A and B
//   swap every sample.
//
// Writes the `fleet` section of bench/results.json.

const { performance } = require('node:perf_hooks')
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

/** The readings themselves, and connection handshakes: not the requests' work. */
const NOT_COUNTED = /^(info|hello|select|auth|client\|.*|command.*)$/
/**
 * The commands the instances send: the session store's, the registry's scripts and
 * its heartbeats (PING, PUBLISH). Every other command the server counts ran inside a
 * script.
 */
const SENT = new Set(['get', 'set', 'del', 'expire', 'pexpire', 'evalsha', 'eval', 'publish', 'ping'])

async function commandStats (port) {
  const info = await sendRaw(port, 'INFO commandstats\r\n', 5000)
  const calls = {}
  for (const m of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)) {
    if (!NOT_COUNTED.test(m[1])) calls[m[1]] = Number(m[2])
  }
  return calls
}

/** Requests the instances received so far, once none is under way any more, and the CPU time they used (µs). */
async function received (fleet) {
  let last = -1
  for (;;) {
    const stats = await Promise.all(fleet.pair.map((s) => s.stats()))
    const requests = stats.reduce((n, s) => n + s.served, 0)
    if (requests === last) return { requests, cpuMicros: stats.reduce((n, s) => n + s.cpuMicros, 0) }
    last = requests
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function start (row) {
  const redis = await startRedis()
  const pair = []
  const fleet = { row, redis, pair, clients: makeClients(CLIENTS), rounds: [], delays: [] }
  try {
    for (let i = 0; i < 2; i++) pair.push(await startServer(row.name, ['--fleet', '--redis', redis.url]))
    for (const [i, client] of fleet.clients.entries()) {
      await httpLogin(pair[i % 2], client, row.auth)
      await httpCheck(pair[(i + 1) % 2], client, row)
    }
  } catch (err) {
    await stop(fleet)
    throw err
  }
  return fleet
}

async function stop (fleet) {
  await Promise.all(fleet.pair.map(stopServer))
  await fleet.redis.stop()
}

async function loadRound (fleet) {
  const { row, pair, clients, redis } = fleet
  const start = await received(fleet)
  const before = await commandStats(redis.port)
  const results = await Promise.all(pair.map((server) => cannon(server, row.path, clients, { duration: DURATION, connections: CONNECTIONS })))
  const end = await received(fleet)
  const after = await commandStats(redis.port)
  const served = end.requests - start.requests
  const byCommand = {}
  for (const [name, n] of Object.entries(after)) if (n > (before[name] ?? 0)) byCommand[name] = n - (before[name] ?? 0)
  const commands = Object.values(byCommand).reduce((a, b) => a + b, 0)
  return {
    reqPerSec: round(results.reduce((n, r) => n + r.requests.total / r.duration, 0), 1),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    cpuMicrosPerRequest: round((end.cpuMicros - start.cpuMicros) / served, 2),
    served,
    commands,
    sent: Object.entries(byCommand).reduce((n, [name, count]) => SENT.has(name) ? n + count : n, 0),
    byCommand
  }
}

/** Ends a new login on A; resolves the ms until B refuses it. */
async function revocation (fleet, client, flip) {
  const { row } = fleet
  const [a, b] = flip ? [fleet.pair[1], fleet.pair[0]] : fleet.pair
  await httpLogin(a, client, row.auth)
  for (let i = 0; i < 2; i++) await httpCheck(b, client, row)
  if (row.revoke === 'revoke') {
    const { ended, error } = await a.ask({ type: 'revoke', user: client.id }, 'revoked')
    if (ended !== 1) fail(`[${row.name}] revokeLogins ended ${ended} logins${error ? ': ' + error : ''}`)
  } else {
    const res = await fetch(`${a.base}/logout`, { method: 'POST', headers: httpHeaders(client) })
    if (res.status !== 200) fail(`[${row.name}] POST /logout gave ${res.status}: ${await res.text()}`)
    await res.arrayBuffer()
  }
  const t0 = performance.now()
  const headers = httpHeaders(client)
  for (;;) {
    const res = await fetch(b.base + row.path, { headers })
    await res.arrayBuffer()
    const elapsed = performance.now() - t0
    if (res.status === 401) return elapsed
    if (res.status !== 200) fail(`[${row.name}] B answered ${res.status} after the login ended`)
    if (elapsed > GIVE_UP_MS) return Infinity
  }
}

function range (values) {
  return { median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) }
}

/** The figures of one row; `base` is the session-only row's, already summarised. */
function summarise (fleet, base) {
  const { row, rounds, delays } = fleet
  const served = rounds.reduce((n, x) => n + x.served, 0)
  const byCommand = {}
  for (const x of rounds) for (const [k, v] of Object.entries(x.byCommand)) byCommand[k] = (byCommand[k] ?? 0) + v
  const finite = delays.filter(Number.isFinite)
  const c = {
    about: row.about,
    // Over all rounds together: what is written now and then (a login's lastSeenAt,
    // at most once a minute) counts at its real rate.
    commandsPerRequest: round(rounds.reduce((n, x) => n + x.commands, 0) / served, 4),
    sentPerRequest: round(rounds.reduce((n, x) => n + x.sent, 0) / served, 4),
    byCommand: Object.fromEntries(Object.entries(byCommand).map(([k, v]) => [k, round(v / served, 4)])),
    reqPerSec: range(rounds.map((x) => x.reqPerSec)),
    p99: range(rounds.map((x) => x.p99)),
    cpuMicrosPerRequest: range(rounds.map((x) => x.cpuMicrosPerRequest)),
    revocation: row.revoke,
    revocationMs: { samples: delays.length, ...(finite.length ? range(finite) : {}), neverRefused: delays.length - finite.length },
    rounds
  }
  if (base) {
    // Same-round pairs: each round's rows ran back to back, so slow drift cancels.
    const ratios = (field) => range(rounds.map((x, i) => x[field] / Math.max(base.rounds[i][field], 1e-9)))
    c.baseline = base.name
    c.extraCommandsPerRequest = round(c.commandsPerRequest - base.commandsPerRequest, 4)
    c.extraSentPerRequest = round(c.sentPerRequest - base.sentPerRequest, 4)
    c.throughputRatio = ratios('reqPerSec')
    c.p99Ratio = ratios('p99')
    c.cpuRatio = ratios('cpuMicrosPerRequest')
  }
  return c
}

function judge (configs) {
  const targets = []
  const t = FLEET_TARGETS
  const add = (name, value, target, pass) => targets.push({ name, value, target, pass })
  const extra = configs[t.extraCommands.row]
  if (extra?.extraCommandsPerRequest !== undefined) {
    add(`${extra.name} extra Redis commands sent/req`, extra.extraSentPerRequest, `<= ${t.extraCommands.max}`, extra.extraSentPerRequest <= t.extraCommands.max)
    add(`${extra.name} extra Redis commands run/req`, extra.extraCommandsPerRequest, `<= ${t.extraCommands.max}`, extra.extraCommandsPerRequest <= t.extraCommands.max)
  }
  const through = configs[t.throughput.row]
  if (through?.throughputRatio) add(`${through.name}/session req/s (median)`, through.throughputRatio.median, `>= ${t.throughput.min}`, through.throughputRatio.median >= t.throughput.min)
  const revoked = configs[t.revocationMedianMs.row]
  if (revoked?.revocationMs.median !== undefined) {
    add(`${revoked.name} revocation median ms`, revoked.revocationMs.median, `<= ${t.revocationMedianMs.max}`, revoked.revocationMs.median <= t.revocationMedianMs.max)
  }
  return targets
}

async function main () {
  if (!hasRedisServer()) {
    console.log('bench:fleet skipped: redis-server is missing (apt-get install redis-server)')
    return
  }
  const rows = withBaselines(ONLY, FLEET_ROWS, [])
  const started = Date.now()
  const fleets = []
  try {
    console.log(`bench:fleet: ${rows.map((r) => r.name).join(', ')}, two instances each on a redis-server of its own; ` +
      `${CLIENTS} clients round-robin; ${ROUNDS} rounds x ${DURATION} s, ${CONNECTIONS} connections per instance; ${SAMPLES} revocations`)
    for (const row of rows) {
      fleets.push(await start(row))
      console.log(`  ${row.name}: ${CLIENTS} clients logged in on one instance and served on the other`)
    }
    console.log('warming up')
    for (const fleet of fleets) await loadRound(fleet)
    for (let r = 0; r < ROUNDS; r++) {
      const line = []
      for (let i = 0; i < fleets.length; i++) {
        const fleet = fleets[(i + r) % fleets.length]
        const result = await loadRound(fleet)
        fleet.rounds.push(result)
        line.push(`${fleet.row.name} ${Math.round(result.reqPerSec)} req/s ${(result.commands / result.served).toFixed(3)} cmd/req`)
      }
      console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')}`)
    }
    for (const fleet of fleets) {
      for (let s = 0; s < SAMPLES; s++) fleet.delays.push(await revocation(fleet, makeClient(CLIENTS + s), s % 2 === 1))
    }
  } finally {
    for (const fleet of fleets) await stop(fleet)
  }

  const configs = {}
  const base = fleets.find((f) => f.row.baseline === null)
  const baseSummary = base ? { name: base.row.name, ...summarise(base, null) } : null
  for (const fleet of fleets) {
    configs[fleet.row.name] = fleet === base ? baseSummary : { name: fleet.row.name, ...summarise(fleet, baseSummary) }
  }

  console.log('\ntwo instances on one Redis, logged-in requests, a different client each')
  const show = (s, digits) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`
  table(['config', 'Redis cmd/req run', 'sent', 'req/s', 'ratio', 'p99 ms', 'p99 ratio', 'CPU us/req', 'CPU ratio'],
    rows.map(({ name }) => {
      const c = configs[name]
      return [name, c.commandsPerRequest.toFixed(3), c.sentPerRequest.toFixed(3), show(c.reqPerSec, 0), c.throughputRatio ? show(c.throughputRatio, 3) : '',
        show(c.p99, 0), c.p99Ratio ? show(c.p99Ratio, 2) : '', show(c.cpuMicrosPerRequest, 1), c.cpuRatio ? show(c.cpuRatio, 3) : '']
    }), new Set([1, 2]))
  console.log('')
  table(['config', 'commands per request (those run inside scripts included)', 'login ended by', `seen on B, ms: median (min..max) of ${SAMPLES}`],
    rows.map(({ name }) => {
      const c = configs[name]
      return [name, Object.entries(c.byCommand).map(([k, v]) => `${k} ${v}`).join(', '), c.revocation,
        c.revocationMs.median === undefined ? 'never' : `${show(c.revocationMs, 2)}${c.revocationMs.neverRefused ? `, ${c.revocationMs.neverRefused} never` : ''}`]
    }))
  console.log('')
  const targets = judge(configs)
  for (const x of targets) console.log(`${x.name.padEnd(40)} ${String(x.value).padStart(8)}  target ${x.target.padEnd(8)} ${x.pass ? 'PASS' : 'MISS'}`)

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
