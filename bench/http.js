'use strict'

// npm run bench:http [-- --clients 1024 --configs session,login]
//
// Real HTTP: one server process (bench/lib/server.js) per row of bench/configs.js
// marked `http` (or --configs), each client logged in over HTTP and its request
// checked once, every server warmed up, then loaded with autocannon (in this
// process) in alternating rounds, the start rotated each round, so machine noise
// hits every configuration alike. Each request is the next client round-robin
// (bench/lib/load.js). Prints the median req/s, p99 latency and server CPU per
// request, the ratios and targets; writes the `http` section of bench/results.json.

const os = require('node:os')
const { ROWS, HTTP_TARGETS, withBaselines } = require('./configs')
const { ROLLING } = require('./lib/app')
const { makeClients } = require('./lib/clients')
const { startServer, stopServer, killChildren, fail, httpHeaders, httpLogin, httpCheck, cannon } = require('./lib/load')
const { median, round, table, judge, printTargets, writeSection, list, option, counts } = require('./lib/stats')

function envNumber (name, def) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`)
  return n
}

const argv = process.argv.slice(2)
const CLIENTS = counts(option(argv, 'clients', 'BENCH_HTTP_CLIENTS', '1024'), '--clients')[0]
const ONLY = list(option(argv, 'configs', 'BENCH_CONFIGS', ''))
const DURATION = envNumber('BENCH_DURATION', 3)
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 8))
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 10))
const PIPELINING = Math.round(envNumber('BENCH_PIPELINING', 1))
const WARMUP = envNumber('BENCH_WARMUP', Math.min(3, DURATION))

/** Logs every client in (where the row needs it) and proves each one's request works. */
async function prepare (server, row) {
  const clients = makeClients(CLIENTS)
  if (row.auth !== 'none') {
    // Without a login the guarded route must refuse: proves the guard is live.
    const anon = await fetch(server.base + row.path, { headers: httpHeaders(clients[0]) })
    if (anon.status !== 401) fail(`[${row.name}] anonymous GET ${row.path} gave ${anon.status}, expected 401`)
    await anon.arrayBuffer()
    for (const client of clients) await httpLogin(server, client, row.auth)
  }
  for (const client of clients) {
    const res = await httpCheck(server, client, row)
    if (row.auth === 'remember' && !res.headers.getSetCookie().some((c) => c.startsWith('sessionId='))) {
      fail(`[${row.name}] a remember-only request did not restore a session`)
    }
  }
  return clients
}

async function main () {
  const rows = ONLY ? withBaselines(ONLY, ROWS, HTTP_TARGETS) : ROWS.filter((r) => r.http)
  const started = Date.now()
  const loadBefore = os.loadavg()
  if (loadBefore[0] > os.cpus().length * 0.5) {
    console.warn(`WARNING: load average ${loadBefore[0].toFixed(2)} on ${os.cpus().length} CPUs before the run; ` +
      'other work on this machine will make the numbers noisy (the CPU/req column suffers least)')
  }
  console.log(`bench:http: ${rows.map((r) => r.name).join(', ')}; ${CLIENTS} clients round-robin; ${ROUNDS} rounds x ${DURATION} s, ` +
    `${CONNECTIONS} connections, pipelining ${PIPELINING}, warm-up ${WARMUP} s, ` +
    `@fastify/session rolling: ${ROLLING}, saveUninitialized: false, memory store`)

  const plan = new Map()
  try {
    for (const row of rows) {
      const server = await startServer(row.name)
      const clients = await prepare(server, row)
      plan.set(row.name, { row, server, clients, rounds: [] })
      console.log(`  ${row.name.padEnd(12)} pid ${server.child.pid} port ${server.port}: ${clients.length} clients verified`)
    }

    console.log('warming up')
    for (const p of plan.values()) await cannon(p.server, p.row.path, p.clients, { duration: WARMUP, connections: CONNECTIONS, pipelining: PIPELINING })

    for (let r = 0; r < ROUNDS; r++) {
      const order = rows.map((_, i) => rows[(i + r) % rows.length].name)
      const line = []
      for (const name of order) {
        const p = plan.get(name)
        const before = await p.server.stats()
        const result = await cannon(p.server, p.row.path, p.clients, { duration: DURATION, connections: CONNECTIONS, pipelining: PIPELINING })
        const after = await p.server.stats()
        const rps = result.requests.total / result.duration
        p.rounds.push({
          round: r + 1,
          reqPerSec: round(rps, 1),
          cpuMicrosPerReq: round((after.cpuMicros - before.cpuMicros) / (after.served - before.served), 2),
          p99: result.latency.p99,
          requests: result.requests.total
        })
        line.push(`${name} ${Math.round(rps)}`)
      }
      console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')} req/s`)
    }
  } finally {
    await Promise.all([...plan.values()].map((p) => stopServer(p.server)))
  }

  const configs = {}
  for (const [name, p] of plan) {
    const rps = p.rounds.map((x) => x.reqPerSec)
    configs[name] = {
      reqPerSec: round(median(rps), 1),
      p99: median(p.rounds.map((x) => x.p99)),
      cpuMicrosPerReq: round(median(p.rounds.map((x) => x.cpuMicrosPerReq)), 2),
      minReqPerSec: Math.min(...rps),
      maxReqPerSec: Math.max(...rps),
      rounds: p.rounds
    }
  }
  // Ratios on the median req/s, with two cross-checks: the median of same-round
  // ratios (cancels slow drift) and the ratio of server CPU time per request.
  const figures = {}
  for (const row of rows) {
    const c = configs[row.name]
    const base = row.baseline ? configs[row.baseline] : null
    figures[row.name] = { cost: 1 / c.reqPerSec, ratio: base ? round(c.reqPerSec / base.reqPerSec, 3) : null }
    if (base) {
      c.baseline = row.baseline
      c.ratio = figures[row.name].ratio
      c.pairedRatio = round(median(c.rounds.map((x, i) => x.reqPerSec / base.rounds[i].reqPerSec)), 3)
      c.cpuRatio = round(base.cpuMicrosPerReq / c.cpuMicrosPerReq, 3)
    }
  }
  const targets = judge(HTTP_TARGETS, figures)

  console.log('')
  table(['config', 'req/s (median)', 'p99 ms', 'min..max req/s', 'CPU us/req', 'ratio', 'vs', 'same-round', 'from CPU'],
    rows.map((row) => {
      const c = configs[row.name]
      return [row.name, Math.round(c.reqPerSec), c.p99, `${Math.round(c.minReqPerSec)}..${Math.round(c.maxReqPerSec)}`,
        c.cpuMicrosPerReq.toFixed(1), c.ratio?.toFixed(3) ?? '', row.baseline ?? '', c.pairedRatio?.toFixed(3) ?? '', c.cpuRatio?.toFixed(3) ?? '']
    }), new Set([1, 2, 3, 4, 5, 7, 8]))
  printTargets(targets)

  writeSection('http', {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown'}`,
    versions: Object.fromEntries(['fastify', '@fastify/session', '@fastify/cookie', '@fastify/passport', 'autocannon']
      .map((name) => [name, require(`${name}/package.json`).version])),
    settings: {
      clients: CLIENTS,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      warmupSeconds: WARMUP,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      session: { store: 'memory', saveUninitialized: false, rolling: ROLLING, cookieSecure: 'auto' }
    },
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
    configs,
    targets,
    elapsedSeconds: round((Date.now() - started) / 1000, 1)
  })
  if (process.env.BENCH_STRICT === '1' && targets.some((t) => !t.pass)) process.exitCode = 1
}

main().catch((err) => {
  console.error(err.benchFailure ? `BENCH FAILED: ${err.message}` : err)
  killChildren()
  process.exit(1)
})
