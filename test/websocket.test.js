'use strict'

// fastify-login guarding a WebSocket route of @fastify/websocket, over a real
// listening server and the `ws` client: the upgrade request runs the onRequest
// hook (request.user) and the loginRequired preHandler like any GET.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const WebSocket = require('ws')
const fastifyWebsocket = require('@fastify/websocket')
const { buildApp, createJar, REMEMBER_SECRET } = require('./helper')

const SESSION_COOKIE = 'sessionId'
const REMEMBER_COOKIE = 'remember_token'
const WAIT = 5000

/**
 * Opens a WebSocket and resolves with what happened first:
 *   { opened: true, ws, messages, next() }                 the upgrade was accepted
 *   { opened: false, statusCode, headers, body, sawOpen() } the server answered the upgrade with HTTP
 */
function connect (url, { cookie, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { ...headers, ...(cookie ? { cookie } : {}) } })
    let opened = false
    const messages = []
    const waiting = []
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no open and no response from ${url} within ${WAIT} ms`))
    }, WAIT)
    ws.on('message', (data) => {
      const text = data.toString()
      const waiter = waiting.shift()
      if (waiter) waiter(text)
      else messages.push(text)
    })
    ws.on('open', () => {
      opened = true
      clearTimeout(timer)
      resolve({
        opened: true,
        ws,
        next: () => messages.length
          ? Promise.resolve(messages.shift())
          : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('no message within the wait')), WAIT)
            waiting.push((text) => { clearTimeout(t); resolve(text) })
          }),
        close: () => new Promise((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve()
          ws.once('close', resolve)
          ws.close()
        })
      })
    })
    let refused = false
    ws.on('unexpected-response', (req, res) => {
      refused = true // terminating a refused socket makes it emit an error: not ours to report
      clearTimeout(timer)
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => {
        // Resolved once the socket is closed: after that no 'open' can come.
        ws.once('close', () => resolve({
          opened: false,
          statusCode: res.statusCode,
          headers: res.headers,
          body,
          sawOpen: () => opened
        }))
        ws.terminate()
      })
    })
    ws.on('error', (err) => {
      if (!opened && !refused) {
        clearTimeout(timer)
        reject(err)
      }
    })
  })
}

async function assertRefused (url, opts, what) {
  const result = await connect(url, opts)
  assert.equal(result.opened, false, `${what}: the upgrade must be refused`)
  assert.equal(result.statusCode, 401, `${what}: ${result.statusCode} ${result.body}`)
  // connect() answered once the refused socket closed: no 'open' came before or can come after.
  assert.equal(result.sawOpen(), false, `${what}: no 'open' after the refusal`)
  return result
}

describe('a WebSocket route behind loginRequired', () => {
  let app
  let origin
  let wsUrl
  const connectedUsers = []

  before(async () => {
    app = await buildApp({
      login: { remember: { secret: REMEMBER_SECRET } },
      routes: async (app) => {
        await app.register(fastifyWebsocket)
        app.get('/ws', { websocket: true, preHandler: app.loginRequired }, (socket, request) => {
          connectedUsers.push(request.user && request.user.username)
          socket.send(JSON.stringify({ hello: request.user.username, by: request.authenticatedBy }))
          socket.on('message', (data) => socket.send(`${request.user.username}: ${data}`))
        })
      }
    })
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    origin = address
    wsUrl = address.replace(/^http/, 'ws') + '/ws'
  })

  after(async () => {
    if (app) await app.close()
  })

  /** A real HTTP login with fetch: returns the Cookie header to send. */
  async function httpLogin (body) {
    const res = await fetch(`${origin}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body)
    })
    assert.equal(res.status, 200)
    // What an HTTP client sends back: each Set-Cookie's name=value pair, as it came.
    const pairs = res.headers.getSetCookie().map((line) => line.split(';')[0])
    return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
  }

  test('an anonymous upgrade is refused with 401 and never opens', async () => {
    const before = connectedUsers.length
    const result = await assertRefused(wsUrl, {}, 'anonymous')
    const body = JSON.parse(result.body)
    assert.equal(body.statusCode, 401)
    assert.equal(body.code, 'FST_LOGIN_REQUIRED')
    assert.equal(body.error, 'Unauthorized')
    assert.equal(connectedUsers.length, before, 'the websocket handler never ran')
  })

  test('a forged or unknown session cookie is refused like an anonymous one', async () => {
    await assertRefused(wsUrl, { cookie: `${SESSION_COOKIE}=not-a-session.forged` }, 'forged session cookie')
    await assertRefused(wsUrl, { cookie: `${REMEMBER_COOKIE}=1.forged` }, 'forged remember cookie')
  })

  test('a session from a real HTTP login opens, and the handler sees request.user', async () => {
    const cookies = await httpLogin({ id: 2 })
    assert.ok(cookies[SESSION_COOKIE])
    const conn = await connect(wsUrl, { cookie: `${SESSION_COOKIE}=${cookies[SESSION_COOKIE]}` })
    assert.equal(conn.opened, true)
    assert.deepEqual(JSON.parse(await conn.next()), { hello: 'user2', by: 'session' })
    conn.ws.send('ping')
    assert.equal(await conn.next(), 'user2: ping')
    await conn.close()
  })

  test('a session from inject() works on the listening server too; users do not mix', async () => {
    const jar1 = createJar(app)
    assert.equal((await jar1.post('/login', { id: 1 })).statusCode, 200)
    const jar2 = createJar(app)
    assert.equal((await jar2.post('/login', { id: 2 })).statusCode, 200)

    const [c1, c2] = await Promise.all([
      connect(wsUrl, { cookie: `${SESSION_COOKIE}=${jar1.cookies[SESSION_COOKIE]}` }),
      connect(wsUrl, { cookie: `${SESSION_COOKIE}=${jar2.cookies[SESSION_COOKIE]}` })
    ])
    assert.equal(c1.opened, true)
    assert.equal(c2.opened, true)
    assert.equal(JSON.parse(await c1.next()).hello, 'user1')
    assert.equal(JSON.parse(await c2.next()).hello, 'user2')
    c2.ws.send('b')
    c1.ws.send('a')
    assert.equal(await c1.next(), 'user1: a')
    assert.equal(await c2.next(), 'user2: b')
    await Promise.all([c1.close(), c2.close()])
  })

  test('a remember cookie alone opens the socket (restored login)', async () => {
    const cookies = await httpLogin({ id: 1, remember: true })
    assert.ok(cookies[REMEMBER_COOKIE], 'the login sets a remember cookie')
    const conn = await connect(wsUrl, { cookie: `${REMEMBER_COOKIE}=${cookies[REMEMBER_COOKIE]}` })
    assert.equal(conn.opened, true)
    assert.deepEqual(JSON.parse(await conn.next()), { hello: 'user1', by: 'remember' })
    await conn.close()
  })

  test('after a logout the old session cookie no longer opens the socket', async () => {
    const cookies = await httpLogin({ id: 1 })
    const cookie = `${SESSION_COOKIE}=${cookies[SESSION_COOKIE]}`
    const conn = await connect(wsUrl, { cookie })
    assert.equal(conn.opened, true)
    assert.equal(JSON.parse(await conn.next()).hello, 'user1')
    await conn.close()

    const res = await fetch(`${origin}/logout`, { method: 'POST', headers: { cookie } })
    assert.equal(res.status, 200)
    await assertRefused(wsUrl, { cookie }, 'pre-logout session cookie')
  })
})

describe('a WebSocket restored from a login-registry remember token', () => {
  test('opens without rotating the token (a 101 carries no Set-Cookie), so the browser\'s cookie keeps working: no false theft', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
    const thefts = []
    const app = await buildApp({
      login: { remember: { secret: REMEMBER_SECRET }, logins: { graceMs: 100 } },
      routes: async (app) => {
        await app.register(fastifyWebsocket)
        app.get('/ws', { websocket: true, preHandler: app.loginRequired }, (socket, request) => {
          socket.send(JSON.stringify({ hello: request.user.username, by: request.authenticatedBy }))
        })
      }
    })
    t.after(() => app.close())
    app.loginManager.on('rememberTheft', (request, userId) => thefts.push(userId))
    const wsUrl = (await app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/ws'
    const jar = createJar(app)
    await jar.post('/login', { id: 1, remember: true })
    const cookie = `${REMEMBER_COOKIE}=${jar.cookies[REMEMBER_COOKIE]}`

    const conn = await connect(wsUrl, { cookie })
    assert.equal(conn.opened, true)
    assert.deepEqual(JSON.parse(await conn.next()), { hello: 'user1', by: 'remember' })
    await conn.close()
    t.mock.timers.tick(200) // past the grace window

    const res = await app.inject({ url: '/me', headers: { cookie } })
    assert.equal(res.json().user?.id, 1, 'the cookie the browser holds still restores')
    assert.deepEqual(thefts, [])
  })
})
