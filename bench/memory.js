'use strict'

// node --expose-gc bench/memory.js [config]     (config defaults to "login")
//
// Sends BENCH_MEMORY_REQUESTS (default 200,000) logged-in requests through
// app.inject in one process and compares the heap after a forced GC before and
// after. Exits non-zero when the heap grew by more than BENCH_MEMORY_LIMIT
// (default 0.05 = 5 %) or when any request did not return the user.
// Re-runs itself with --expose-gc when started without it.

const { spawnSync } = require('node:child_process')
const { build, CONFIGS, REMEMBER_COOKIE } = require('./app')

if (typeof global.gc !== 'function') {
  const res = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(res.status ?? 1)
}

const CONFIG = process.argv[2] || 'login'
const REQUESTS = Number(process.env.BENCH_MEMORY_REQUESTS) || 200000
const WARMUP = Math.min(20000, REQUESTS)
const LIMIT = Number(process.env.BENCH_MEMORY_LIMIT) || 0.05
const CONCURRENCY = 20
const HEADERS = { 'user-agent': 'fastify-login-bench/1.0', accept: 'application/json' }

async function settledHeap () {
  // Several passes, with turns of the event loop between them, so that objects
  // freed by finalizers or pending callbacks are gone before the reading.
  for (let i = 0; i < 4; i++) {
    global.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

async function drive (app, headers, count) {
  let failures = 0
  let firstFailure = null
  let sent = 0
  async function worker () {
    while (sent < count) {
      sent++
      const res = await app.inject({ method: 'GET', url: '/me', headers })
      if (res.statusCode !== 200 || !res.body.includes('"username":"alice"')) {
        failures++
        if (!firstFailure) firstFailure = `${res.statusCode} ${res.body}`
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { failures, firstFailure }
}

function mb (bytes) {
  return (bytes / 1024 / 1024).toFixed(2) + ' MB'
}

async function main () {
  if (!CONFIGS.includes(CONFIG) || CONFIG === 'anon' || CONFIG === 'bare') {
    throw new Error(`memory check needs a logged-in config (session, login, remember, passport), got "${CONFIG}"`)
  }
  const app = await build(CONFIG)
  const login = await app.inject({ method: 'POST', url: '/login', headers: HEADERS })
  if (login.statusCode !== 200) throw new Error(`POST /login gave ${login.statusCode}: ${login.body}`)
  let cookies = login.cookies.map((c) => `${c.name}=${c.value}`)
  // A remember-only request restores a new session each time: the memory store
  // grows by design, so that config measures the store, not a leak.
  if (CONFIG === 'remember') cookies = cookies.filter((c) => c.startsWith(REMEMBER_COOKIE + '='))
  const headers = { ...HEADERS, cookie: cookies.join('; ') }

  const warm = await drive(app, headers, WARMUP)
  if (warm.failures) throw new Error(`warm-up: ${warm.failures} requests failed, first: ${warm.firstFailure}`)
  const before = await settledHeap()
  const t0 = process.hrtime.bigint()
  const run = await drive(app, headers, REQUESTS)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const after = await settledHeap()
  await app.close()

  const growth = (after - before) / before
  const ok = growth <= LIMIT && run.failures === 0
  const report = {
    config: CONFIG,
    requests: REQUESTS,
    warmupRequests: WARMUP,
    seconds: Math.round(seconds * 10) / 10,
    heapBefore: before,
    heapAfter: after,
    growth: Math.round(growth * 10000) / 10000,
    limit: LIMIT,
    failures: run.failures,
    pass: ok
  }
  console.log(`memory (${CONFIG}): ${REQUESTS} logged-in requests via app.inject in ${report.seconds} s`)
  console.log(`  heap after GC before: ${mb(before)}, after: ${mb(after)}, ` +
    `growth ${(growth * 100).toFixed(2)} % (limit ${(LIMIT * 100).toFixed(0)} %): ${ok ? 'PASS' : 'FAIL'}`)
  if (run.failures) console.log(`  ${run.failures} requests failed, first: ${run.firstFailure}`)
  if (process.send) process.send({ type: 'memory', report })
  if (!ok) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
