'use strict'

// npm run bench  (= npm run build && node bench/run.js)
//
// Forks one bench/server.js per configuration, logs in where the configuration
// needs it, checks that the logged-in request really returns the user, warms every
// server up, then loads them with autocannon (in this process; the servers are
// separate processes) in alternating rounds and prints the medians and the ratios.
// Finally runs bench/memory.js. Only ever talks to 127.0.0.1.

const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const autocannon = require('autocannon')
const { CONFIGS, ROLLING, REMEMBER_COOKIE, TARGETS, isAnonymous, targetPath, needsLogin } = require('./app')

const HOST = '127.0.0.1'
const USER_AGENT = 'fastify-login-bench/1.0'

function envNumber (name, def) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`)
  return n
}

const DURATION = envNumber('BENCH_DURATION', 3)
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 8))
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 10))
const PIPELINING = Math.round(envNumber('BENCH_PIPELINING', 1))
const WARMUP = envNumber('BENCH_WARMUP', Math.min(3, DURATION))
const ONLY = process.env.BENCH_CONFIGS
  ? process.env.BENCH_CONFIGS.split(',').map((s) => s.trim()).filter(Boolean)
  : CONFIGS
const SKIP_MEMORY = process.env.BENCH_SKIP_MEMORY === '1'
const SKIP_INJECT = process.env.BENCH_SKIP_INJECT === '1'
const STRICT = process.env.BENCH_STRICT === '1'
const RESULTS_FILE = process.env.BENCH_RESULTS || path.join(__dirname, 'results.json')

const children = new Set()

function killChildren () {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
}
process.on('exit', killChildren)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren()
    process.exit(130)
  })
}

function startServer (config) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'server.js'), [config], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' }
    })
    children.add(child)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server "${config}" did not report a port within 30 s`))
    }, 30000)
    const cpuWaiters = []
    child.on('message', (msg) => {
      if (msg && msg.type === 'listening') {
        clearTimeout(timer)
        resolve({ config, child, cpuWaiters, port: msg.port, base: `http://${HOST}:${msg.port}` })
      } else if (msg && msg.type === 'cpu' && cpuWaiters.length) {
        cpuWaiters.shift()(msg.micros)
      }
    })
    child.on('exit', (code, signal) => {
      children.delete(child)
      clearTimeout(timer)
      reject(new Error(`server "${config}" exited early (code ${code}, signal ${signal})`))
    })
  })
}

function serverCpu (server) {
  return new Promise((resolve) => {
    server.cpuWaiters.push(resolve)
    server.child.send('cpu')
  })
}

function stopServer (server) {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve()
    const timer = setTimeout(() => { server.child.kill('SIGKILL') }, 3000)
    server.child.once('exit', () => { clearTimeout(timer); resolve() })
    server.child.removeAllListeners('message')
    server.child.send('close')
  })
}

function cookiePairs (setCookies) {
  return setCookies.map((line) => line.split(';', 1)[0].trim())
}

function fail (msg) {
  const err = new Error(msg)
  err.benchFailure = true
  throw err
}

// Logs in (where needed), builds the request headers, and proves they work.
async function prepare (server) {
  const { config, base } = server
  const headers = { 'user-agent': USER_AGENT, accept: 'application/json' }
  const url = base + targetPath(config)

  if (needsLogin(config)) {
    // Without a login the guarded route must refuse: proves the guard is live.
    const anon = await fetch(url, { headers })
    if (anon.status !== 401) fail(`[${config}] anonymous GET ${targetPath(config)} gave ${anon.status}, expected 401`)
    await anon.arrayBuffer()

    const res = await fetch(base + '/login', { method: 'POST', headers })
    const body = await res.text()
    if (res.status !== 200) fail(`[${config}] POST /login gave ${res.status}: ${body}`)
    let pairs = cookiePairs(res.headers.getSetCookie())
    if (config === 'remember') pairs = pairs.filter((p) => p.startsWith(REMEMBER_COOKIE + '='))
    if (pairs.length === 0) fail(`[${config}] POST /login set no usable cookie (${res.headers.getSetCookie().join(' | ')})`)
    headers.cookie = pairs.join('; ')
  }

  // Twice: the second request must see the same state as the first (no one-shot
  // cookies, no session that only works once), and it is the one autocannon repeats.
  let setsCookie = false
  for (let i = 0; i < 2; i++) {
    const res = await fetch(url, { headers })
    const body = await res.text()
    if (res.status !== 200) fail(`[${config}] GET ${targetPath(config)} gave ${res.status}: ${body}`)
    if (isAnonymous(config)) {
      if (!body.includes('"user":null')) fail(`[${config}] anonymous request was not anonymous: ${body}`)
    } else if (!body.includes('"username":"alice"')) {
      fail(`[${config}] logged-in request did not return the user: ${body}`)
    }
    setsCookie = res.headers.getSetCookie().length > 0
    if (config === 'remember' && !res.headers.getSetCookie().some((c) => c.startsWith('sessionId='))) {
      fail(`[${config}] a remember-only request did not restore a session (no session Set-Cookie)`)
    }
  }
  return { url, headers, setsCookie }
}

function cannon (url, headers, duration) {
  return new Promise((resolve, reject) => {
    autocannon({
      url,
      headers,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      duration,
      timeout: 10
    }, (err, result) => err ? reject(err) : resolve(result))
  })
}

function checkResult (config, result, phase) {
  const bad = result.errors + result.timeouts + result.non2xx
  if (bad > 0 || result.requests.total === 0) {
    fail(`[${config}] ${phase}: ${result.requests.total} requests, ${result.non2xx} non-2xx, ` +
      `${result.errors} errors, ${result.timeouts} timeouts`)
  }
}

function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function pad (value, width, right = false) {
  const s = String(value)
  return right ? s.padEnd(width) : s.padStart(width)
}

function round (n, digits) {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

function runMemory () {
  return new Promise((resolve) => {
    const child = fork(path.join(__dirname, 'memory.js'), [], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    children.add(child)
    let report = null
    child.on('message', (msg) => { if (msg && msg.type === 'memory') report = msg.report })
    child.on('exit', (code) => {
      children.delete(child)
      resolve({ code, report })
    })
  })
}

async function main () {
  for (const c of ONLY) {
    if (!CONFIGS.includes(c)) throw new Error(`BENCH_CONFIGS: unknown config "${c}"`)
  }
  const started = Date.now()
  const loadBefore = os.loadavg()
  if (loadBefore[0] > os.cpus().length * 0.5) {
    console.warn(`WARNING: load average ${loadBefore[0].toFixed(2)} on ${os.cpus().length} CPUs before the run; ` +
      'other work on this machine will make the numbers noisy (the CPU/req column suffers least)')
  }
  console.log(`fastify-login bench: configs ${ONLY.join(', ')}; ${ROUNDS} rounds x ${DURATION} s, ` +
    `${CONNECTIONS} connections, pipelining ${PIPELINING}, warm-up ${WARMUP} s, ` +
    `@fastify/session rolling: ${ROLLING}, saveUninitialized: false, memory store`)

  const servers = []
  for (const config of ONLY) servers.push(await startServer(config))
  const byConfig = new Map(servers.map((s) => [s.config, s]))

  const plan = new Map()
  for (const server of servers) {
    const prepared = await prepare(server)
    plan.set(server.config, { ...prepared, rounds: [] })
    console.log(`  ${pad(server.config, 12, true)} pid ${server.child.pid} port ${server.port}: ` +
      `verified${prepared.headers.cookie ? ' with cookie ' + prepared.headers.cookie.split('=')[0] : ' without cookies'}` +
      `${prepared.setsCookie ? ', response sets a cookie' : ''}`)
  }

  console.log('warming up')
  for (const server of servers) {
    const p = plan.get(server.config)
    checkResult(server.config, await cannon(p.url, p.headers, WARMUP), 'warm-up')
  }

  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the start so no configuration always runs first or last in a round.
    const order = ONLY.map((_, i) => ONLY[(i + r) % ONLY.length])
    const line = []
    for (const config of order) {
      const p = plan.get(config)
      const cpuBefore = await serverCpu(byConfig.get(config))
      const result = await cannon(p.url, p.headers, DURATION)
      const cpuAfter = await serverCpu(byConfig.get(config))
      checkResult(config, result, `round ${r + 1}`)
      const rps = result.requests.total / result.duration
      p.rounds.push({
        round: r + 1,
        reqPerSec: round(rps, 1),
        cpuMicrosPerReq: round((cpuAfter - cpuBefore) / result.requests.total, 2),
        p99: result.latency.p99,
        latencyAvg: round(result.latency.average, 3),
        requests: result.requests.total
      })
      line.push(`${config} ${Math.round(rps)}`)
    }
    console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')} req/s`)
  }

  await Promise.all(servers.map(stopServer))

  const summary = {}
  for (const config of ONLY) {
    const p = plan.get(config)
    const rps = p.rounds.map((x) => x.reqPerSec)
    summary[config] = {
      reqPerSec: round(median(rps), 1),
      p99: median(p.rounds.map((x) => x.p99)),
      cpuMicrosPerReq: round(median(p.rounds.map((x) => x.cpuMicrosPerReq)), 2),
      minReqPerSec: Math.min(...rps),
      maxReqPerSec: Math.max(...rps),
      responseSetsCookie: p.setsCookie,
      rounds: p.rounds
    }
  }

  const ratios = []
  for (const t of TARGETS) {
    if (!summary[t.num] || !summary[t.den]) continue
    const value = summary[t.num].reqPerSec / summary[t.den].reqPerSec
    // Same-round pairs: a second view that cancels slow drift of the machine.
    const paired = median(summary[t.num].rounds.map((x, i) => x.reqPerSec / summary[t.den].rounds[i].reqPerSec))
    // The same ratio from server CPU time per request (den's cost / num's cost):
    // what the throughput ratio would be if each server had a core to itself.
    const cpu = summary[t.den].cpuMicrosPerReq / summary[t.num].cpuMicrosPerReq
    const pass = t.op === '>=' ? value >= t.target : value > t.target
    ratios.push({
      name: t.name,
      value: round(value, 3),
      pairedMedian: round(paired, 3),
      cpuBased: round(cpu, 3),
      target: `${t.op} ${t.target}`,
      pass
    })
  }

  console.log('')
  console.log(`${pad('config', 12, true)} ${pad('req/s (median)', 15)} ${pad('p99 ms', 7)} ` +
    `${pad('min..max req/s', 17)} ${pad('server CPU us/req', 18)}`)
  for (const config of ONLY) {
    const s = summary[config]
    console.log(`${pad(config, 12, true)} ${pad(Math.round(s.reqPerSec), 15)} ${pad(s.p99, 7)} ` +
      `${pad(`${Math.round(s.minReqPerSec)}..${Math.round(s.maxReqPerSec)}`, 17)} ${pad(s.cpuMicrosPerReq.toFixed(1), 18)}`)
  }
  console.log('')
  for (const r of ratios) {
    console.log(`${pad(r.name, 17, true)} ${r.value.toFixed(3)}  target ${pad(r.target, 7, true)} ${r.pass ? 'PASS' : 'MISS'}` +
      `   (same-round pairs ${r.pairedMedian.toFixed(3)}, from CPU/req ${r.cpuBased.toFixed(3)})`)
  }
  console.log('')

  // Cross-check without the network and the load generator (bench/inject.js).
  let inject = null
  if (!SKIP_INJECT) {
    const injectBench = require('./inject')
    inject = await injectBench.run({ configs: ONLY })
    inject.ratios = injectBench.print(inject, TARGETS)
    console.log('')
  }

  let memory = null
  let memoryOk = true
  if (!SKIP_MEMORY) {
    const { code, report } = await runMemory()
    memory = report
    memoryOk = code === 0
    if (!memoryOk) console.error(`bench/memory.js exited with code ${code}`)
  }

  const results = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown'}`,
    versions: {
      fastify: require('fastify/package.json').version,
      '@fastify/session': require('@fastify/session/package.json').version,
      '@fastify/cookie': require('@fastify/cookie/package.json').version,
      '@fastify/passport': require('@fastify/passport/package.json').version,
      autocannon: require('autocannon/package.json').version
    },
    settings: {
      durationSeconds: DURATION,
      rounds: ROUNDS,
      warmupSeconds: WARMUP,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      session: { store: 'memory', saveUninitialized: false, rolling: ROLLING, cookieSecure: 'auto' }
    },
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
    configs: summary,
    ratios,
    inject,
    memory,
    elapsedSeconds: round((Date.now() - started) / 1000, 1)
  }
  // The instruction counts (bench/cost.js) live in the same file: keep them.
  if (fs.existsSync(RESULTS_FILE)) {
    const previous = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'))
    if (previous.cost) results.cost = previous.cost
  }
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
  console.log(`results written to ${path.relative(process.cwd(), RESULTS_FILE)} (${results.elapsedSeconds} s)`)

  if (!memoryOk) process.exitCode = 1
  if (STRICT && ratios.some((r) => !r.pass)) process.exitCode = 1
}

main().catch((err) => {
  console.error(err.benchFailure ? `BENCH FAILED: ${err.message}` : err)
  killChildren()
  process.exit(1)
})
