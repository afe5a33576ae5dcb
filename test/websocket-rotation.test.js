'use strict'

// Remember-me under the registry over a real WebSocket (README "Remember-me under the
// registry"): a 101 response carries no Set-Cookie, so "only a real WebSocket upgrade
// of a route that serves one may restore without rotating", and such a restore "must
// not make the token usable elsewhere without detection": at most once per
// validator (a second unrotated WebSocket restore with the same token, before an
// ordinary request rotated it, is refused, anonymous, the cookie left alone), and a
// real upgrade of a route that serves no WebSocket is rotated like any request. Over
// a listening server with @fastify/websocket and the `ws` client; the spoofed
// `Upgrade` header on ordinary routes is in test/both/registry-hardening.test.js.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const WebSocket = require('ws')
const fastifyWebsocket = require('@fastify/websocket')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, setCookies, isCleared, REMEMBER_SECRET } = require('./helper')

const SESSION_COOKIE = 'sessionId'
const REMEMBER = 'remember_token'
const GRACE_MS = 5000
const WAIT = 5000

/**
 * Opens a WebSocket and resolves with what happened first: `{ opened: true, first,
 * close }` with the first message, or `{ opened: false, statusCode, headers, body }`
 * when the server answered the upgrade with HTTP.
 */
function connect (url, cookie) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: cookie ? { cookie } : {} })
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`nothing from ${url} within ${WAIT} ms`)) }, WAIT)
    const closed = new Promise((resolve) => ws.once('close', resolve))
    ws.once('open', () => {
      const first = new Promise((resolve) => {
        ws.once('message', (data) => resolve(data.toString()))
        ws.once('close', () => resolve(null))
      })
      clearTimeout(timer)
      resolve({ opened: true, first, close: () => { ws.close(); return closed } })
    })
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer)
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => { ws.terminate(); resolve({ opened: false, statusCode: res.statusCode, headers: res.headers, body }) })
    })
    ws.once('error', (error) => { clearTimeout(timer); reject(error) })
  })
}

/** A listening app: /ws serves a WebSocket behind loginRequired; `upgraded` notes who each upgrade request was. */
async function wsApp (t) {
  const events = { theft: [], rejected: [] }
  const upgraded = []
  const app = await buildApp({
    login: { remember: { secret: REMEMBER_SECRET }, logins: { store: new MemoryLoginStore(), graceMs: GRACE_MS } },
    routes: async (app) => {
      await app.register(fastifyWebsocket)
      app.addHook('preHandler', async (request) => { if (request.ws) upgraded.push({ url: request.url, user: request.user?.id ?? null }) })
      app.get('/ws', { websocket: true, preHandler: app.loginRequired }, (socket, request) => {
        socket.send(JSON.stringify({ user: request.user.id, by: request.authenticatedBy }))
      })
    }
  })
  t.after(() => app.close())
  app.loginManager.on('rememberTheft', (request, userId) => events.theft.push(userId))
  app.loginManager.on('rememberRejected', (request, reason) => events.rejected.push(reason))
  const origin = (await app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws')
  return { app, events, upgraded, ws: (path, token) => connect(origin + path, `${REMEMBER}=${token}`) }
}

async function rememberedToken (app) {
  const jar = createJar(app)
  await jar.post('/login', { id: 1, remember: true })
  assert.ok(jar.cookies[REMEMBER])
  return { jar, token: jar.cookies[REMEMBER] }
}

/** The Set-Cookie lines of a raw HTTP response (not an inject() one), read as far as isCleared needs. */
function rawSetCookies (headers) {
  return [].concat(headers['set-cookie'] ?? []).map((line) => {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim())
    const cookie = { name: pair.slice(0, pair.indexOf('=')), value: pair.slice(pair.indexOf('=') + 1) }
    for (const attribute of attributes) {
      const [name, value] = attribute.split('=')
      if (/^max-age$/i.test(name)) cookie.maxAge = Number(value)
      if (/^expires$/i.test(name)) cookie.expires = new Date(value)
    }
    return cookie
  })
}

const clearsRemember = (headers) => rawSetCookies(headers).some((c) => c.name === REMEMBER && isCleared(c))

describe('a WebSocket restore from a registry remember token', () => {
  test('opens without rotating once per validator: a second unrotated restore is refused and the cookie left alone; an ordinary request then rotates it', async (t) => {
    const { app, events, ws } = await wsApp(t)
    const { token } = await rememberedToken(app)

    const first = await ws('/ws', token)
    assert.equal(first.opened, true, 'the first WebSocket restores from the token')
    assert.deepEqual(JSON.parse(await first.first), { user: 1, by: 'remember' })
    await first.close()

    const second = await ws('/ws', token)
    if (second.opened) await second.close()
    assert.equal(second.opened, false, 'a second WebSocket restore with the same, unrotated token is refused')
    assert.equal(second.statusCode, 401, second.body)
    assert.equal(clearsRemember(second.headers), false, 'the refusal leaves the cookie alone')
    assert.deepEqual(events.rejected, ['spent'], 'and is reported')

    const res = await app.inject({ url: '/me', headers: { cookie: `${REMEMBER}=${token}` } })
    assert.equal(res.json().user?.id, 1, 'the token still restores on an ordinary request')
    const rotated = setCookies(res).find((c) => c.name === REMEMBER)
    assert.ok(rotated && !isCleared(rotated) && rotated.value !== token, 'which rotates it')
    const again = await ws('/ws', rotated.value)
    assert.equal(again.opened, true, 'the rotated token opens a WebSocket once more')
    await again.close()
    assert.deepEqual(events.theft, [], 'no false theft along the way')
  })

  test('a copy used for a WebSocket is not usable again unseen: the thief is refused a second socket, and caught once the real browser rotated', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app, events, ws } = await wsApp(t)
    const { jar: victim, token: copy } = await rememberedToken(app)

    const stolen = await ws('/ws', copy)
    assert.equal(stolen.opened, true, 'one WebSocket cannot be told from the browser\'s own')
    await stolen.close()
    const again = await ws('/ws', copy)
    if (again.opened) await again.close()
    assert.equal(again.opened, false, 'a second one with the same copy is refused')

    delete victim.cookies[SESSION_COOKIE] // the real browser restarts and comes back
    assert.equal((await victim.get('/me')).json().user?.id, 1)
    t.mock.timers.tick(GRACE_MS + 1)
    const replay = await app.inject({ url: '/me', headers: { cookie: `${REMEMBER}=${copy}` } })
    assert.equal(replay.json().user, null, 'the copy is dead')
    assert.deepEqual(events.theft, ['1'], 'and caught as a copied cookie')
  })

  test('a real upgrade of a route that serves no WebSocket is no exemption: a restore there rotates like any request', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app, events, upgraded, ws } = await wsApp(t)
    const { jar: victim, token: copy } = await rememberedToken(app)

    const probe = await ws('/me', copy) // /me is an ordinary GET route
    if (probe.opened) await probe.close()
    assert.equal(upgraded.length, 1, 'the upgrade request reached the route')

    t.mock.timers.tick(GRACE_MS + 1)
    delete victim.cookies[SESSION_COOKIE]
    const back = (await victim.get('/me')).json().user
    if (upgraded[0].user === null) {
      // Not restored at all: the token was not used, the real browser comes back.
      assert.equal(back?.id, 1)
      assert.deepEqual(events.theft, [])
    } else {
      // Restored: then it was rotated (in a 101 that carried no cookie), and the
      // browser's copy presented after the grace window is a copy.
      assert.equal(back, null, 'logged in over an upgrade of a non-WebSocket route without rotating the token')
      assert.deepEqual(events.theft, ['1'])
    }
  })
})
