'use strict'

// A private redis-server for the tests: started as a child process on a free
// port of 127.0.0.1, without persistence of its own, and stopped at the end.
// The tests can pause it (SIGSTOP: the store is unreachable but keeps its
// memory), kill it and start it again on the same port (with the data when it
// was saved to its private RDB file first).

const { execFile, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server'
const REDIS_CLI = process.env.REDIS_CLI || 'redis-cli'

let available
/** True when a redis-server binary can be run. */
function hasRedisServer () {
  if (available === undefined) {
    const res = spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' })
    available = !res.error && res.status === 0
  }
  return available
}

/**
 * The `skip` option for node:test: a reason when redis-server is missing and we
 * are not in CI, else false. Under CI a missing redis-server is a failure (see
 * requireRedisServer), never a skip.
 */
function skipWithoutRedis () {
  if (hasRedisServer() || process.env.CI) return false
  return 'redis-server is missing (apt-get install redis-server); skipped outside CI'
}

/** Throws a clear error when redis-server is not installed (used under CI). */
function requireRedisServer () {
  if (!hasRedisServer()) {
    throw new Error(`redis-server is missing: "${REDIS_SERVER}" could not be run. CI must install it (apt-get install redis-server)`)
  }
}

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves when the server on `port` answers PING with PONG, within `timeout` ms. */
async function waitForPong (port, timeout = 10000) {
  const deadline = Date.now() + timeout
  let lastError
  while (Date.now() < deadline) {
    try {
      const reply = await sendRaw(port, 'PING\r\n', 1000)
      if (reply.startsWith('+PONG')) return
      // -LOADING while it reads its RDB file: try again.
      lastError = new Error(`unexpected reply ${JSON.stringify(reply)}`)
    } catch (err) {
      lastError = err
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeout} ms: ${lastError && lastError.message}`)
}

/** Sends raw RESP text and resolves with the first reply chunk. */
function sendRaw (port, text, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    let data = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`no reply from redis on port ${port} within ${timeout} ms`))
    }, timeout)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(text))
    sock.on('data', (chunk) => {
      data += chunk
      if (data.includes('\r\n')) {
        clearTimeout(timer)
        sock.end()
        resolve(data)
      }
    })
    sock.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

const running = new Set()
process.on('exit', () => {
  // Never leave a redis-server behind, even when a test crashed.
  for (const proc of running) {
    try { proc.kill('SIGKILL') } catch {}
  }
})

/**
 * Starts a private redis-server. Returns a handle:
 *   port, url, dir, pid
 *   pause() / resume()  SIGSTOP / SIGCONT: unreachable, memory kept
 *   save()              SAVE to the private RDB file
 *   kill()              SIGKILL and wait for the exit
 *   start()             start again on the same port (loads the RDB file if any)
 *   stop()              resume if paused, then SIGTERM (SIGKILL after 5 s); removes the dir
 *   output()            what the server printed (for failure messages)
 *   cli(...args)        runs redis-cli against it and resolves its output
 * `args` are added to the command line (e.g. ['--replicaof', '127.0.0.1', '6380'],
 * ['--appendonly', 'yes'], ['--cluster-enabled', 'yes']).
 */
async function startRedis ({ port, args = [] } = {}) {
  requireRedisServer()
  port = port || await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-login-redis-'))
  let proc = null
  let paused = false
  let log = ''

  async function start () {
    if (proc) throw new Error('redis-server is already running')
    const child = spawn(REDIS_SERVER, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--dbfilename', 'dump.rdb',
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...args
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (s) => { log += s })
    child.stderr.on('data', (s) => { log += s })
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      running.delete(child)
      if (proc === child) proc = null
      resolve({ code, signal })
    }))
    child.exited = exited
    const spawnError = new Promise((resolve, reject) => child.once('error', reject))
    spawnError.catch(() => {})
    proc = child
    running.add(child)
    paused = false
    await Promise.race([
      waitForPong(port),
      spawnError,
      exited.then(({ code, signal }) => {
        throw new Error(`redis-server exited at start-up (code ${code}, signal ${signal}):\n${log}`)
      })
    ])
  }

  async function kill () {
    if (!proc) return
    const child = proc
    child.kill('SIGKILL')
    await child.exited
  }

  async function stop () {
    if (proc) {
      const child = proc
      if (paused) child.kill('SIGCONT')
      paused = false
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await child.exited
      clearTimeout(timer)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }

  function pause () {
    if (!proc) throw new Error('redis-server is not running')
    proc.kill('SIGSTOP')
    paused = true
  }

  function resume () {
    if (!proc) throw new Error('redis-server is not running')
    proc.kill('SIGCONT')
    paused = false
  }

  async function save () {
    const reply = await sendRaw(port, 'SAVE\r\n', 5000)
    if (!reply.startsWith('+OK')) throw new Error(`SAVE failed: ${reply}`)
  }

  await start()

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid () { return proc ? proc.pid : null },
    get running () { return proc !== null },
    start,
    stop,
    kill,
    pause,
    resume,
    save,
    output: () => log,
    cli: (...cliArgs) => redisCli(port, ...cliArgs)
  }
}

/** Runs redis-cli against the server on `port`; resolves its standard output, trimmed. */
function redisCli (port, ...args) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve(stdout.trim())
    })
  })
}

/** Polls `check` (an async function answering true when done) every 50 ms until it holds, or throws at the deadline. */
async function waitUntil (check, what, timeout = 30000) {
  const deadline = Date.now() + timeout
  let last
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
}

/**
 * A real Redis Cluster of `masters` masters with `replicas` replicas each, every
 * node a private redis-server on a free loopback port, joined by `redis-cli
 * --cluster create`. Resolves once every node says cluster_state:ok, knows every
 * node and sees every slot, and every replica is in sync. Returns { nodes
 * (startRedis handles), rootNodes (for createCluster), stop() }.
 */
async function startCluster ({ masters = 3, replicas = 0 } = {}) {
  const nodes = []
  const count = masters * (1 + replicas)
  try {
    for (let i = 0; i < count; i++) {
      // The bus port defaults to port + 10000, which may be taken or past 65535: pick a free one.
      nodes.push(await startRedis({
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000',
          '--cluster-port', String(await freePort())]
      }))
    }
    await redisCli(nodes[0].port, '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas', String(replicas), '--cluster-yes')
    for (const node of nodes) {
      await waitUntil(async () => {
        const info = await node.cli('CLUSTER', 'INFO')
        const replication = await node.cli('INFO', 'replication')
        return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384') &&
          info.includes(`cluster_known_nodes:${count}`) &&
          (replication.includes('role:master') || replication.includes('master_link_status:up'))
      }, `cluster_state:ok on port ${node.port}`)
    }
  } catch (err) {
    for (const node of nodes) await node.stop()
    throw err
  }
  return {
    nodes,
    rootNodes: nodes.map((node) => ({ url: node.url })),
    async stop () {
      for (const node of nodes) await node.stop()
    }
  }
}

/**
 * A primary and `count` replicas (`--replicaof`), each a private redis-server.
 * Resolves once every replica reports master_link_status:up.
 */
async function startReplicated ({ count = 1, args = [] } = {}) {
  const primary = await startRedis({ args })
  const replicas = []
  try {
    for (let i = 0; i < count; i++) {
      const replica = await startRedis({ args: [...args, '--replicaof', '127.0.0.1', String(primary.port)] })
      replicas.push(replica)
      await waitUntil(async () => (await replica.cli('INFO', 'replication')).includes('master_link_status:up') &&
        (await primary.cli('INFO', 'replication')).includes(`port=${replica.port},state=online`),
      `replica on port ${replica.port} in sync`)
    }
  } catch (err) {
    for (const server of [primary, ...replicas]) await server.stop()
    throw err
  }
  return {
    primary,
    replicas,
    async stop () {
      for (const server of [...replicas, primary]) await server.stop()
    }
  }
}

/**
 * A connect-redis 8 store on its own node-redis 6 client (`redis`), as the README's
 * "Running several instances" wires it:
 *   disableOfflineQueue       commands fail at once (ClientOfflineError) while the client reconnects
 *   socket.connectTimeout     a connection attempt gives up after 1 s
 *   socket.reconnectStrategy  retry every 100 ms, so a restarted server is found quickly
 * By default a command waits for its reply as long as it takes. Any timer on it would
 * race the test process itself: when its event loop is late (a thousand requests at
 * once on a loaded machine), the timer fires before the reply, already received, is
 * read, and a healthy Redis looks hung.
 *
 * A test that hangs the server (SIGSTOP) passes `socketTimeout` (ms), the README's
 * way to give up on a hung server: the connection is closed after that long without
 * a byte either way, failing the commands waiting on it (SocketTimeoutError), and
 * the client reconnects; a PING every quarter of it keeps a healthy idle connection
 * talking. `commandTimeout` (ms) fails a command that could not even be written in
 * time (node-redis' timeout stops once a command is written, hence socketTimeout).
 * connect-redis implements the callback-style get/set/destroy that @fastify/session
 * calls, so it is used as the session store as it is. Client errors (reconnect
 * failures) go to `onError`; without a listener the client would crash the process.
 * `pkg` picks the client package ('redis5' for node-redis 5).
 */
async function createRedisStore (url, { prefix = 'sess:', socketTimeout, commandTimeout = 0, onError = () => {}, pkg = 'redis' } = {}) {
  const { createClient } = require(pkg)
  const { RedisStore } = require('connect-redis')
  const client = createClient({
    url,
    disableOfflineQueue: true,
    ...(socketTimeout === undefined ? {} : { pingInterval: Math.round(socketTimeout / 4) }),
    commandOptions: { timeout: commandTimeout },
    socket: {
      connectTimeout: 1000,
      ...(socketTimeout === undefined ? {} : { socketTimeout }),
      reconnectStrategy: () => 100
    }
  })
  client.on('error', onError)
  await client.connect()
  const store = new RedisStore({ client, prefix })
  return {
    client,
    store,
    prefix,
    async close () {
      if (client.isOpen) client.destroy()
    }
  }
}

module.exports = {
  createRedisStore,
  hasRedisServer,
  skipWithoutRedis,
  requireRedisServer,
  startRedis,
  startCluster,
  startReplicated,
  redisCli,
  waitUntil,
  freePort,
  waitForPong,
  sendRaw
}
