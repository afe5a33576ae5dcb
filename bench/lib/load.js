'use strict'

// HTTP load, shared by bench/http.js and bench/fleet.js: server processes
// (bench/lib/server.js), clients logged in over HTTP, and autocannon sending every
// request as the next client round-robin. The servers trust the proxy, so each
// client's X-Forwarded-For is its address: many clients over a few keep-alive
// connections, as behind a load balancer.

const { fork } = require('node:child_process')
const path = require('node:path')
const autocannon = require('autocannon')
const { keptCookies, expected } = require('./clients')
const { REMEMBER_COOKIE } = require('./app')

const HOST = '127.0.0.1'
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

function fail (msg) {
  const err = new Error(msg)
  err.benchFailure = true
  throw err
}

/**
 * Forks bench/lib/server.js with `args`; resolves { name, child, port, base,
 * ask(message, replyType), stats() } once it listens.
 */
function startServer (name, args = []) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'server.js'), [name, ...args], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' }
    })
    children.add(child)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server "${name}" did not report a port within 30 s`))
    }, 30000)
    // Replies come in the order of the questions, one kind at a time.
    const waiters = new Map()
    const ask = (message, reply) => new Promise((resolve) => {
      if (!waiters.has(reply)) waiters.set(reply, [])
      waiters.get(reply).push(resolve)
      child.send(message)
    })
    child.on('message', (msg) => {
      if (msg?.type === 'listening') {
        clearTimeout(timer)
        resolve({
          name,
          child,
          port: msg.port,
          base: `http://${HOST}:${msg.port}`,
          ask,
          stats: () => ask({ type: 'stats' }, 'stats')
        })
      } else if (waiters.get(msg?.type)?.length) {
        waiters.get(msg.type).shift()(msg)
      }
    })
    child.on('exit', (code, signal) => {
      children.delete(child)
      clearTimeout(timer)
      reject(new Error(`server "${name}" exited early (code ${code}, signal ${signal})`))
    })
  })
}

function stopServer (server) {
  return new Promise((resolve) => {
    const { child } = server
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.removeAllListeners('message')
    child.send({ type: 'close' })
  })
}

/** The client's request headers over HTTP: its own, and its address as X-Forwarded-For. */
function httpHeaders (client) {
  return { ...client.headers, 'x-forwarded-for': client.address }
}

/** Logs the client in through `server` (POST /login?user=<id>); keeps its cookies. */
async function httpLogin (server, client, auth) {
  const res = await fetch(`${server.base}/login?user=${client.id}`, { method: 'POST', headers: httpHeaders(client) })
  const body = await res.text()
  if (res.status !== 200) fail(`[${server.name}] POST /login?user=${client.id} gave ${res.status}: ${body}`)
  const cookies = res.headers.getSetCookie().map((line) => {
    const [pair] = line.split(';', 1)
    const eq = pair.indexOf('=')
    return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() }
  })
  client.headers.cookie = keptCookies(cookies, auth, REMEMBER_COOKIE)
}

/** Sends the client's request to `server`; fails unless it is answered as the row expects. */
async function httpCheck (server, client, row) {
  const res = await fetch(server.base + row.path, { headers: httpHeaders(client) })
  const body = await res.text()
  const want = expected(client, row.auth, row.path)
  if (res.status !== 200 || !body.includes(want)) fail(`[${server.name}] GET ${row.path} for client ${client.id} gave ${res.status}: ${body}`)
  return res
}

/**
 * autocannon on `server` for `duration` seconds; every request is the next client
 * of `clients` round-robin, whichever connection sends it. Fails on any non-2xx
 * response, error or timeout unless `allowFailures`.
 */
function cannon (server, path, clients, { duration, connections, pipelining = 1, allowFailures = false }) {
  const all = clients.map(httpHeaders)
  let next = 0
  return new Promise((resolve, reject) => {
    autocannon({
      url: server.base,
      connections,
      pipelining,
      duration,
      timeout: 10,
      requests: [{
        method: 'GET',
        path,
        setupRequest (request) {
          const headers = all[next]
          next = next + 1 === all.length ? 0 : next + 1
          return { ...request, headers }
        }
      }]
    }, (err, result) => {
      if (err) return reject(err)
      const bad = result.errors + result.timeouts + result.non2xx
      if (!allowFailures && (bad > 0 || result.requests.total === 0)) {
        return reject(new Error(`[${server.name}] ${result.requests.total} requests, ${result.non2xx} non-2xx, ` +
          `${result.errors} errors, ${result.timeouts} timeouts`))
      }
      resolve(result)
    })
  })
}

module.exports = { HOST, startServer, stopServer, killChildren, fail, httpHeaders, httpLogin, httpCheck, cannon }
