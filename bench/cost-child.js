'use strict'

// node bench/cost-child.js <config>        (bench/cost.js runs it under callgrind)
//
// One configuration of bench/cost-configs.js in one process, through app.inject:
// CLIENTS clients (each its own user, session cookie, User-Agent and address) log
// in once through POST /login, each one's request is checked once, then they send
// WARMUP requests round-robin, then two windows of N1 and N2 requests. A call to
// os.getPriority() (uv_os_getpriority, which nothing else calls) marks the start
// and the end of each window; callgrind runs with --dump-before=uv_os_getpriority,
// so each window is a dump of its own. Under callgrind (BENCH_COST_CALLGRIND=1)
// the start-up and the warm-up run without instrumentation (--instr-atstart=no,
// about ten times faster), and the child switches it on with callgrind_control
// just before the first mark. Prints one JSON line: what was run and how it went.

const { spawnSync } = require('node:child_process')
const os = require('node:os')
const { build, REMEMBER_COOKIE, SESSION_COOKIE } = require('./app')
const { row } = require('./cost-configs')

function count (name, def) {
  const n = Number(process.env[name] ?? def)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${process.env[name]}"`)
  return n
}

const ROW = row(process.argv[2])
const CLIENTS = count('BENCH_COST_CLIENTS', 64)
const WARMUP = count('BENCH_COST_WARMUP', 20000)
const N1 = count('BENCH_COST_N1', 640)
const N2 = count('BENCH_COST_N2', 1920)
const CALLGRIND = process.env.BENCH_COST_CALLGRIND === '1'
if (CLIENTS > 900) throw new Error('BENCH_COST_CLIENTS: at most 900 (bench/app.js has users 1..1000, the clients are 101..)')

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

// Users 101, 102, ...: three-digit ids, as in any user table past its first 99
// users. The length matters: @fastify/session hashes the session's JSON with
// SHA-256 twice a request, and a longer id can cost it a second 64-byte block.
const FIRST_USER = 101

function makeClient (i) {
  const id = String(FIRST_USER + i) // users 1..1000 exist in bench/app.js
  return {
    id,
    // A distinct address per client: the session fingerprint hashes it with the User-Agent.
    remoteAddress: `10.1.${i >> 8}.${i & 255}`,
    headers: {
      'user-agent': `Mozilla/5.0 (X11; Linux x86_64; client ${id}) fastify-login-bench/1.0`,
      accept: 'application/json'
    }
  }
}

async function logIn (app, client) {
  const res = await app.inject({ method: 'POST', url: `/login?user=${client.id}`, headers: client.headers, remoteAddress: client.remoteAddress })
  if (res.statusCode !== 200) throw new Error(`[${ROW.name}] POST /login?user=${client.id} gave ${res.statusCode}: ${res.body}`)
  let cookies = res.cookies.map((c) => `${c.name}=${c.value}`)
  if (ROW.auth === 'remember') cookies = cookies.filter((c) => c.startsWith(REMEMBER_COOKIE + '='))
  if (cookies.length === 0) throw new Error(`[${ROW.name}] POST /login set no usable cookie`)
  client.headers.cookie = cookies.join('; ')
}

async function check (app, client) {
  const res = await app.inject({ method: 'GET', url: ROW.path, headers: client.headers, remoteAddress: client.remoteAddress })
  const want = ROW.auth === 'none'
    ? (ROW.path === '/public' ? '"user":null' : '"username"')
    : `"id":${client.id},`
  if (res.statusCode !== 200 || !res.body.includes(want)) {
    throw new Error(`[${ROW.name}] GET ${ROW.path} for client ${client.id} gave ${res.statusCode}: ${res.body}`)
  }
  if (ROW.auth === 'remember' && !res.cookies.some((c) => c.name === SESSION_COOKIE)) {
    throw new Error(`[${ROW.name}] a remember-only request did not restore a session`)
  }
}

async function main () {
  const app = await build(ROW.spec)
  const clients = Array.from({ length: CLIENTS }, (_, i) => makeClient(i))
  if (ROW.auth !== 'none') {
    for (const client of clients) await logIn(app, client)
  }
  for (const client of clients) await check(app, client)

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
    const client = clients[next]
    next = next + 1 === CLIENTS ? 0 : next + 1
    app.inject({ method: 'GET', url: ROW.path, headers: client.headers, remoteAddress: client.remoteAddress })
      .then(received, finished.reject)
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
