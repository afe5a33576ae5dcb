'use strict'

// A session store's own error text never reaches a response body on a path the
// plugin drives (README "Errors"): a remote store's errors name its address and
// sometimes its credentials (`connect ECONNREFUSED 10.9.8.7:6379`). When the store
// fails while the plugin logs a user in, restores a login from the remember cookie,
// or logs out, the request fails closed with a 500 whose code is the stable
// `FST_LOGIN_STORE`; the store's own error is that error's `cause`, for the logs. On
// @fastify/session with an async store (test/support/json-store.js):
// @fastify/secure-session has no store.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, REMEMBER_SECRET } = require('./helper')
const { JsonStore } = require('./support/json-store')

const SESSION_COOKIE = 'sessionId'
const LEAKS = ['10.9.8.7', '6379', 'ECONNREFUSED', 'hunter2-redis']

/** A JsonStore whose failures read like a real client's: the address and a password in the message. */
class TalkativeStore extends JsonStore {
  constructor () {
    super()
    this.broken = { get: false, set: false, destroy: false }
  }

  #failed (callback) {
    const error = new Error('connect ECONNREFUSED 10.9.8.7:6379 (redis://default:hunter2-redis@10.9.8.7:6379)')
    Object.assign(error, { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '10.9.8.7', port: 6379 })
    setImmediate(callback, error)
  }

  get (id, callback) {
    if (this.broken.get) return this.#failed(callback)
    super.get(id, callback)
  }

  set (id, session, callback) {
    if (this.broken.set) return this.#failed(callback)
    super.set(id, session, callback)
  }

  destroy (id, callback) {
    if (this.broken.destroy) return this.#failed(callback)
    super.destroy(id, callback)
  }

  /** Writes and deletes fail from now on; reads still work (a primary gone, a replica answering). */
  breakWrites () {
    this.broken.set = true
    this.broken.destroy = true
  }
}

async function setup (t) {
  const store = new TalkativeStore()
  const errors = []
  const app = await buildApp({
    store,
    login: { remember: { secret: REMEMBER_SECRET } },
    routes: (app) => app.addHook('onError', async (request, reply, error) => { errors.push(error) })
  })
  t.after(() => app.close())
  return { app, store, errors }
}

/** A 5xx with the stable code and nothing of the store's text; the store's error is the cause, for the logs. */
function assertNothingLeaks (res, errors, path) {
  assert.ok(res.statusCode >= 500, `${path}: ${res.statusCode} ${res.body}`)
  for (const secret of LEAKS) assert.ok(!res.body.includes(secret), `${path}: the body shows ${secret}: ${res.body}`)
  assert.equal(res.json().code, 'FST_LOGIN_STORE', `${path}: ${res.body}`)
  const error = errors.find((e) => e.code === 'FST_LOGIN_STORE')
  assert.equal(error?.cause?.code, 'ECONNREFUSED', `${path}: the store's own error is kept as the cause`)
}

describe("a session store's error text stays out of the response", () => {
  test('login: the store fails while loginUser saves the new session', async (t) => {
    const { app, store, errors } = await setup(t)
    store.breakWrites()
    const browser = createJar(app)
    assertNothingLeaks(await browser.post('/login', { id: 1, remember: true }), errors, 'login')
  })

  test('restore: the store fails while the remember cookie restores the login', async (t) => {
    const { app, store, errors } = await setup(t)
    const browser = createJar(app)
    await browser.post('/login', { id: 1, remember: true })
    delete browser.cookies[SESSION_COOKIE] // a browser restart
    store.breakWrites()
    assertNothingLeaks(await browser.get('/me'), errors, 'restore')
  })

  test('logout: the store fails while logoutUser ends the session', async (t) => {
    const { app, store, errors } = await setup(t)
    const browser = createJar(app)
    await browser.post('/login', { id: 1 })
    store.breakWrites()
    assertNothingLeaks(await browser.post('/logout', {}), errors, 'logout')
  })
})
