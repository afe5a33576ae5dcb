'use strict'

// npm run bench:memory [-- <config>]     (config defaults to "login")
//
// Real traffic through app.inject in one process: BENCH_MEMORY_USERS (default
// 1,000) clients (bench/lib/clients.js), each its own user, session cookie,
// User-Agent and address, log in once; then they send requests round-robin, and
// every fourth request comes from one of as many anonymous visitors (their own
// User-Agent and address, no cookie) asking for the public page. 20 requests are
// in flight at a time.
//
// After a warm-up (every client several times), the heap is read after forced GCs
// and the session store's size is noted; then BENCH_MEMORY_REQUESTS (default
// 200,000) more requests; then both again. Exits non-zero when the heap grew by
// more than BENCH_MEMORY_LIMIT (default 0.05 = 5 %), when the store holds a
// different number of sessions than after the warm-up (anonymous requests must
// not create sessions, logged-in ones must not pile up new ones), or when any
// request did not answer as expected. Re-runs itself with --expose-gc when
// started without it. `config` is a row of bench/configs.js that logs in with a
// session cookie (session, login, passport, protection-off, logins, ...). Writes
// the `memory` section of bench/results.json.

const { spawnSync } = require('node:child_process')
const { build, REMEMBER_COOKIE } = require('./lib/app')
const { makeClients, injectLogin, expected, MAX_CLIENTS } = require('./lib/clients')
const { row } = require('./configs')
const { writeSection } = require('./lib/stats')

if (typeof global.gc !== 'function') {
  const res = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(res.status ?? 1)
}

const CONFIG = row(process.argv[2] || 'login')
const USERS = Number(process.env.BENCH_MEMORY_USERS) || 1000
const REQUESTS = Number(process.env.BENCH_MEMORY_REQUESTS) || 200000
const WARMUP = Math.min(20 * USERS, REQUESTS)
const LIMIT = Number(process.env.BENCH_MEMORY_LIMIT) || 0.05
const CONCURRENCY = 20
const ANONYMOUS_EVERY = 4

async function settledHeap () {
  // Several passes, with turns of the event loop between them, so that objects
  // freed by finalizers or pending callbacks are gone before the reading.
  for (let i = 0; i < 4; i++) {
    global.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

// Each worker goes back to the event loop between requests, as a server does;
// chained by promises alone, the requests' setImmediate callbacks would pile up
// and hold every request in memory until the end.
async function drive (app, users, visitors, count) {
  let failures = 0
  let firstFailure = null
  let sent = 0
  async function worker () {
    while (sent < count) {
      const n = sent++
      const anonymous = n % ANONYMOUS_EVERY === ANONYMOUS_EVERY - 1
      const c = anonymous ? visitors[n % visitors.length] : users[n % users.length]
      const url = anonymous ? '/public' : '/me'
      const res = await app.inject({ method: 'GET', url, headers: c.headers, remoteAddress: c.address })
      const want = anonymous ? expected(c, 'none', url) : expected(c, 'session', url)
      if (res.statusCode !== 200 || !res.body.includes(want)) {
        failures++
        if (!firstFailure) firstFailure = `${c.kind} ${c.id} GET ${url}: ${res.statusCode} ${res.body}`
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { failures, firstFailure }
}

function mb (bytes) {
  return (bytes / 1024 / 1024).toFixed(2) + ' MB'
}

async function main () {
  if (CONFIG.auth !== 'session') {
    throw new Error(`memory check needs a config that logs in with a session cookie, got "${CONFIG.name}" (${CONFIG.auth})`)
  }
  if (USERS > MAX_CLIENTS) throw new Error(`BENCH_MEMORY_USERS: at most ${MAX_CLIENTS}`)
  if (CONFIG.setup) await CONFIG.setup()
  const app = await build(CONFIG)
  const store = app.benchSessionStore.store
  const users = makeClients(USERS, 'user')
  const visitors = makeClients(USERS, 'visitor')
  for (const c of users) await injectLogin(app, c, 'session', REMEMBER_COOKIE)

  const warm = await drive(app, users, visitors, WARMUP)
  if (warm.failures) throw new Error(`warm-up: ${warm.failures} requests failed, first: ${warm.firstFailure}`)
  const before = await settledHeap()
  const storeBefore = store.size
  const t0 = process.hrtime.bigint()
  const run = await drive(app, users, visitors, REQUESTS)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const after = await settledHeap()
  const storeAfter = store.size
  await app.close()

  const growth = (after - before) / before
  const storeOk = storeAfter === storeBefore
  const ok = growth <= LIMIT && storeOk && run.failures === 0
  const report = {
    config: CONFIG.name,
    users: USERS,
    anonymousVisitors: USERS,
    anonymousShare: 1 / ANONYMOUS_EVERY,
    requests: REQUESTS,
    warmupRequests: WARMUP,
    seconds: Math.round(seconds * 10) / 10,
    heapBefore: before,
    heapAfter: after,
    growth: Math.round(growth * 10000) / 10000,
    limit: LIMIT,
    sessionsInStore: { afterWarmup: storeBefore, atEnd: storeAfter },
    failures: run.failures,
    pass: ok
  }
  console.log(`memory (${CONFIG.name}): ${REQUESTS} requests via app.inject in ${report.seconds} s, ` +
    `${USERS} logged-in clients and ${USERS} anonymous visitors (1 request in ${ANONYMOUS_EVERY}) round-robin`)
  console.log(`  heap after GC before: ${mb(before)}, after: ${mb(after)}, ` +
    `growth ${(growth * 100).toFixed(2)} % (limit ${(LIMIT * 100).toFixed(0)} %); ` +
    `sessions in store ${storeBefore} -> ${storeAfter}: ${ok ? 'PASS' : 'FAIL'}`)
  if (!storeOk) console.log('  the session store grew or shrank: a request created or dropped sessions')
  if (run.failures) console.log(`  ${run.failures} requests failed, first: ${run.firstFailure}`)
  writeSection('memory', { date: new Date().toISOString(), node: process.version, ...report })
  if (!ok) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
