'use strict'

// node bench/lib/cost-child.js <row>        (bench/cost.js runs it under callgrind)
//
// One row of bench/configs.js in one process, through app.inject: BENCH_COST_CLIENTS
// clients (bench/lib/clients.js: each its own user, session cookie, User-Agent and
// address) log in once through POST /login, each one's request is checked once,
// then they send BENCH_COST_WARMUP requests round-robin, then two windows of N1 and
// N2 requests. A call to os.getPriority() (uv_os_getpriority, which nothing else
// calls) marks the start and the end of each window; callgrind runs with
// --dump-before=uv_os_getpriority, so each window is a dump of its own. Under
// callgrind (BENCH_COST_CALLGRIND=1) the start-up and the warm-up run without
// instrumentation (--instr-atstart=no, about ten times faster), and the child
// switches it on with callgrind_control just before the first mark. Prints one
// JSON line: what was run and how it went.

const { spawnSync } = require('node:child_process')
const os = require('node:os')
const { build, REMEMBER_COOKIE, SESSION_COOKIE } = require('./app')
const { makeClients, injectLogin, expected } = require('./clients')
const { row: findRow } = require('../configs')
const { envInt } = require('./valgrind')

const ROW = findRow(process.argv[2])
const CLIENTS = envInt('BENCH_COST_CLIENTS', 64)
const WARMUP = envInt('BENCH_COST_WARMUP', 20000)
const N1 = envInt('BENCH_COST_N1', 640)
const N2 = envInt('BENCH_COST_N2', 1920)
const CALLGRIND = process.env.BENCH_COST_CALLGRIND === '1'
const LAYOUT = Number(process.env.BENCH_COST_LAYOUT ?? 0)
const VISIT_EVERY = envInt('BENCH_COST_VISIT_EVERY', 10000)

// The clock the app reads (Date.now) moves with the requests, not with the wall:
// each client comes back every VISIT_EVERY ms of this clock. What happens "once a
// minute" per login (idleTimeout's visit, the registry's touch) or after a while
// (cache entries' lifetimes) then happens as often per request in every run,
// whether valgrind runs fast or slowly on a busy machine. On the real clock, a run
// twice as slow wrote idle visits twice as often per request.
// The clients log in over the minute before their requests begin, each at its own
// moment, in an order unrelated to the round-robin's (a multiplicative
// permutation), so that once-a-minute work falls on a steady share of every stretch
// of requests. Logged in at the same moment, they would all do it in the same
// round, and a window would hold all of it or none; logged in in round-robin
// order, a window shorter than a round would see only the clients whose turn it is.
const MINUTE = 60 * 1000
const clockStart = Date.now()
const requestsStart = clockStart + MINUTE
let clock = clockStart
let visits = 0
Date.now = function now () {
  return clock
}

// A heap laid out differently in each repeat. The counts are deterministic, so
// three identical processes would agree to the instruction and say nothing of
// luck: where V8 places hidden classes and strings decides hash-table and
// inline-cache collisions, which moved a row by up to 0.5 % when only the
// number of clients changed. Objects of new shapes, made before the app, move
// every later allocation; the spread of the repeats then shows that luck.
const ballast = []
for (let i = 0; i < LAYOUT * 200; i++) ballast.push({ [`layout${i}`]: i, [`shape${i % 7}`]: String(i) })

function mark () {
  os.getPriority(0)
}

// Instrumentation on, from inside, with spawnSync: no ChildProcess object and no
// streams, whose code the requests share (an asynchronous spawn just before the
// windows gave that code new types and deoptimised it inside the first window).
// callgrind_control reaches valgrind's gdbserver through vgdb, which interrupts a
// process blocked in a system call, as this one is meanwhile.
function instrumentationOn () {
  const res = spawnSync('callgrind_control', ['-i', 'on', String(process.pid)], { stdio: 'ignore', timeout: 120000 })
  if (res.error || res.status !== 0) throw new Error(`callgrind_control -i on failed: ${res.error ?? 'exit ' + res.status}`)
}

// A new copy of a string: a server parses each request's headers into new strings,
// so V8 has not hashed them yet; the same string object every time would let a
// cache keyed by a header or the address skip hashing it.
function fresh (text) {
  return (' ' + text).slice(1)
}

function request (client) {
  const { headers } = client
  const sent = { 'user-agent': fresh(headers['user-agent']), accept: headers.accept }
  if (headers.cookie !== undefined) sent.cookie = fresh(headers.cookie)
  return { method: 'GET', url: ROW.path, headers: sent, remoteAddress: fresh(client.address) }
}

/**
 * Each client's request once, in full: the right answer, and proof that the app saw
 * that client. light-my-request gives every request a new fake socket with the
 * client's address (so no per-connection cache can serve one request from another's)
 * and the session-protection fingerprint must have matched (no sessionProtected
 * event: a logged-in client whose address or User-Agent did not reach the app
 * would have been seen "from elsewhere").
 */
async function check (app, clients) {
  const sockets = new Set()
  let protectedHits = 0
  const onProtected = () => { protectedHits++ }
  app.loginManager?.on('sessionProtected', onProtected)
  for (const client of clients) {
    const res = await app.inject(request(client))
    const want = expected(client, ROW.auth, ROW.path)
    if (res.statusCode !== 200 || !res.body.includes(want)) {
      throw new Error(`[${ROW.name}] GET ${ROW.path} for client ${client.id} gave ${res.statusCode}: ${res.body}`)
    }
    if (ROW.auth === 'remember' && !res.cookies.some((c) => c.name === SESSION_COOKIE)) {
      throw new Error(`[${ROW.name}] a remember-only request did not restore a session`)
    }
    const socket = res.raw.req.socket
    if (socket.remoteAddress !== client.address) {
      throw new Error(`[${ROW.name}] client ${client.id} reached the app from ${socket.remoteAddress}, not ${client.address}`)
    }
    sockets.add(socket)
  }
  app.loginManager?.off('sessionProtected', onProtected)
  if (sockets.size !== clients.length) throw new Error(`[${ROW.name}] ${clients.length} requests shared ${sockets.size} sockets`)
  if (protectedHits > 0) throw new Error(`[${ROW.name}] ${protectedHits} requests were seen from elsewhere (sessionProtected)`)
  return sockets.size
}

async function main () {
  if (ROW.setup) await ROW.setup()
  const app = await build(ROW)
  const clients = makeClients(CLIENTS)
  if (ROW.auth !== 'none') {
    for (const [i, client] of clients.entries()) {
      clock = clockStart + Math.floor((i * 40503 % CLIENTS) * MINUTE / CLIENTS)
      await injectLogin(app, client, ROW.auth, REMEMBER_COOKIE)
    }
  }
  clock = requestsStart
  const sockets = await check(app, clients)

  // The same small functions serve the warm-up and both windows, one call per
  // request and no loop: a long loop inside one async call gets on-stack-replaced
  // (OSR) code, which a new call does not enter, so each window would start
  // unoptimised and compile again. Only the status is checked here: every
  // request was checked in full above, and a body check would add its own cost.
  let next = 0
  let failures = 0
  let left = 0
  let finished = null
  function send () {
    clock = requestsStart + Math.floor(visits++ * VISIT_EVERY / CLIENTS)
    const client = clients[next]
    next = next + 1 === CLIENTS ? 0 : next + 1
    app.inject(request(client)).then(received, finished.reject)
  }
  // The next request starts from the event loop (setImmediate), as on a server:
  // what a request leaves for the loop (light-my-request's and the streams'
  // setImmediate callbacks) runs before it. Chaining requests by promises alone
  // never returns to the loop, so those callbacks pile up and keep every request
  // object alive: the heap grows by about 10 KB a request and the GC work with it.
  function received (res) {
    if (res.statusCode !== 200) failures++
    if (--left > 0) setImmediate(send)
    else finished.resolve()
  }
  function serve (n) {
    return new Promise((resolve, reject) => {
      finished = { resolve, reject }
      left = n
      send()
    })
  }

  // The warm-up in window-sized parts, so that the end of a window (resolve) is
  // as warm as the rest when the windows come.
  for (let done = 0; done < WARMUP; done += N1) await serve(Math.min(N1, WARMUP - done))
  if (CALLGRIND) instrumentationOn()
  mark()
  await serve(N1)
  mark()
  await serve(N2)
  mark()

  const store = app.benchSessionStore
  process.stdout.write(JSON.stringify({
    config: ROW.name,
    pid: process.pid,
    clients: CLIENTS,
    distinctSockets: sockets,
    layout: LAYOUT,
    ballast: ballast.length,
    warmup: WARMUP,
    windows: [N1, N2],
    failures,
    sessionsInStore: store ? store.store.size : null
  }) + '\n')
  await app.close()
  if (failures > 0) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
