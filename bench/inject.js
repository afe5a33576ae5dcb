'use strict'

// node bench/inject.js
//
// A cross-check of the HTTP run that leaves the network stack and the load
// generator out: one child process per configuration serves batches of
// app.inject requests (one at a time) when the parent asks, and the parent
// alternates small batches across the children many times, so bursts of other
// work on the machine hit every configuration alike. Each configuration runs in
// several processes: V8 optimises each process a little differently, and one
// process per configuration let that luck decide ratios by 10 % or more. Reports
// the median time per request over all batches of all processes, and the same
// ratios as bench/run.js (as throughput ratios: den / num).
//
// Env: BENCH_INJECT_ROUNDS (default 15), BENCH_INJECT_BATCH (default 1000 requests),
// BENCH_INJECT_PROCS (default 3 processes per configuration), BENCH_CONFIGS (subset).
// Writes nothing; bench/run.js stores its report.

const { fork } = require('node:child_process')
const { build, CONFIGS, REMEMBER_COOKIE, TARGETS, isAnonymous, targetPath, needsLogin } = require('./app')

const HEADERS = { 'user-agent': 'fastify-login-bench/1.0', accept: 'application/json' }

function nextTurn () {
  return new Promise((resolve) => setImmediate(resolve))
}

async function child (config) {
  const app = await build(config)
  const headers = { ...HEADERS }
  if (needsLogin(config)) {
    const login = await app.inject({ method: 'POST', url: '/login', headers: HEADERS })
    if (login.statusCode !== 200) throw new Error(`[${config}] POST /login gave ${login.statusCode}`)
    let cookies = login.cookies.map((c) => `${c.name}=${c.value}`)
    if (config === 'remember') cookies = cookies.filter((c) => c.startsWith(REMEMBER_COOKIE + '='))
    headers.cookie = cookies.join('; ')
  }
  const url = targetPath(config)
  const expect = isAnonymous(config) ? '"user":null' : '"username":"alice"'
  async function batch (n) {
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const res = await app.inject({ method: 'GET', url, headers })
      if (res.statusCode !== 200 || !res.body.includes(expect)) {
        throw new Error(`[${config}] GET ${url} gave ${res.statusCode}: ${res.body}`)
      }
      // Back to the event loop between requests, as a server does: chained by
      // promises alone, each request's setImmediate callbacks wait for the end of
      // the batch and keep the request in memory until then (about 10 KB each).
      await nextTurn()
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e3
    const cpu = process.cpuUsage(cpu0)
    return { wallMicros: wall / n, cpuMicros: (cpu.user + cpu.system) / n }
  }
  await batch(5000) // warm-up, and proof that the request returns the user
  process.on('message', (msg) => {
    if (msg === 'close') return process.exit(0)
    batch(msg.n).then(
      (r) => process.send({ type: 'batch', ...r }),
      (err) => { console.error(err); process.exit(1) }
    )
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ type: 'ready' })
}

function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

async function run (options = {}) {
  const configs = options.configs || CONFIGS
  const rounds = options.rounds || Number(process.env.BENCH_INJECT_ROUNDS) || 15
  const n = options.batch || Number(process.env.BENCH_INJECT_BATCH) || 1000
  const procs = options.procs || Number(process.env.BENCH_INJECT_PROCS) || 3
  const workers = new Map(configs.map((c) => [c, []]))
  try {
    for (let p = 0; p < procs; p++) {
      for (const config of configs) {
        const proc = fork(__filename, ['--child', config], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
        const waiters = []
        proc.on('message', (msg) => { if (waiters.length) waiters.shift().resolve(msg) })
        proc.on('exit', (code) => {
          while (waiters.length) waiters.shift().reject(new Error(`[${config}] inject child exited with code ${code}`))
        })
        const next = () => new Promise((resolve, reject) => waiters.push({ resolve, reject }))
        workers.get(config).push({ proc, next })
        await next() // ready
      }
    }
    const samples = new Map(configs.map((c) => [c, []]))
    for (let r = 0; r < rounds; r++) {
      for (let p = 0; p < procs; p++) {
        for (let i = 0; i < configs.length; i++) {
          const config = configs[(i + r + p) % configs.length]
          const w = workers.get(config)[p]
          w.proc.send({ n })
          samples.get(config).push(await w.next())
        }
      }
    }
    const summary = {}
    for (const config of configs) {
      const s = samples.get(config)
      summary[config] = {
        wallMicrosPerReq: Math.round(median(s.map((x) => x.wallMicros)) * 100) / 100,
        cpuMicrosPerReq: Math.round(median(s.map((x) => x.cpuMicros)) * 100) / 100
      }
    }
    return { rounds, batch: n, procs, configs: summary }
  } finally {
    for (const { proc } of [...workers.values()].flat()) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    }
  }
}

function print (report, targets) {
  console.log(`app.inject cross-check (${report.procs} processes per config, ${report.rounds} rounds x ${report.batch} requests, one at a time):`)
  for (const [config, s] of Object.entries(report.configs)) {
    console.log(`  ${config.padEnd(12)} ${s.wallMicrosPerReq.toFixed(1).padStart(7)} us/req wall ${s.cpuMicrosPerReq.toFixed(1).padStart(7)} us/req CPU`)
  }
  const ratios = []
  for (const t of targets) {
    const a = report.configs[t.num]
    const b = report.configs[t.den]
    if (!a || !b) continue
    const value = b.wallMicrosPerReq / a.wallMicrosPerReq
    ratios.push({ name: t.name, value: Math.round(value * 1000) / 1000 })
    console.log(`  ${t.name.padEnd(17)} ${value.toFixed(3)}  (target ${t.op} ${t.target})`)
  }
  return ratios
}

module.exports = { run, print }

if (require.main === module) {
  if (process.argv[2] === '--child') {
    child(process.argv[3]).catch((err) => { console.error(err); process.exit(1) })
  } else {
    const configs = process.env.BENCH_CONFIGS ? process.env.BENCH_CONFIGS.split(',').map((s) => s.trim()) : CONFIGS
    run({ configs }).then((report) => {
      print(report, TARGETS)
    }).catch((err) => { console.error(err); process.exit(1) })
  }
}
