'use strict'

// Behaviour that only a session store has: a store write that fails, and a store
// that answers asynchronously. Always on @fastify/session (kind: 'stored'), whatever
// SESSION_PLUGIN says; the behaviour both session plugins share is in test/both.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryStore } = require('@fastify/session')
const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, USERS, REMEMBER_SECRET } = require('./helper')
const { JsonStore } = require('./support/json-store')
const { refusalHandlerTests } = require('./support/refusal-handlers')

const kind = 'stored'

test('a confirmLogin whose save fails leaves the login stale', async (t) => {
  const store = new MemoryStore()
  const set = store.set.bind(store)
  let failIn = 0
  store.set = (id, session, callback) => (failIn > 0 && --failIn === 0 ? callback(new Error('store blip')) : set(id, session, callback))
  const app = await buildApp({
    kind,
    store,
    routes: (app) => app.post('/confirm', async (request, reply) => { await reply.confirmLogin(); return { ok: true } })
  })
  t.after(() => app.close())
  const jar = createJar(app)
  await jar.post('/login', { id: 1, fresh: false })
  failIn = 2 // the first write is the new session id, the second the confirmation
  assert.equal((await jar.post('/confirm', {})).statusCode, 500)
  const me = (await jar.get('/me')).json()
  assert.equal(me.user.id, 1)
  assert.equal(me.fresh, false)
})

test('login registry: a session store down during a remember-me restore is a 500 that still hands over the rotated cookie; no theft afterwards', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() }) // the grace window on a clock that load cannot move
  const store = new JsonStore()
  const thefts = []
  const app = await buildApp({
    kind,
    store,
    login: { remember: { secret: REMEMBER_SECRET }, logins: { store: new MemoryLoginStore(), graceMs: 100 } }
  })
  t.after(() => app.close())
  app.loginManager.on('rememberTheft', (request, userId) => thefts.push(userId))
  const jar = createJar(app)
  await jar.post('/login', { id: 1, remember: true })
  delete jar.cookies.sessionId // a browser restart

  store.down.destroy = true // the restore's new session cannot replace the old one
  const failed = await jar.get('/me')
  assert.equal(failed.statusCode, 500)
  store.down.destroy = false
  t.mock.timers.tick(200) // past the grace window

  const res = await jar.get('/me')
  assert.equal(res.json().user?.id, 1, 'the login made before the outage works again')
  assert.deepEqual(thefts, [])
  assert.ok(jar.cookies.remember_token)
})

describe('custom refusal handlers give the same response with every store: an async store', () => {
  refusalHandlerTests('async store', () => ({ kind, store: new JsonStore() }))
})

test('the store really is @fastify/session\'s, whatever SESSION_PLUGIN says', async (t) => {
  const store = new JsonStore()
  const app = await buildApp({ kind, store })
  t.after(() => app.close())
  const jar = createJar(app)
  await jar.post('/login', { id: 1 })
  assert.ok(jar.cookies.sessionId, 'a @fastify/session cookie')
  assert.match(store.session(jar.cookies.sessionId)._login, /\.1$/)
  assert.deepEqual((await jar.get('/me')).json().user, USERS.get('1'))
})
