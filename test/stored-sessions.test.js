'use strict'

// Behaviour that only a session store has: a store write that fails, and a store
// that answers asynchronously. Always on @fastify/session (kind: 'stored'), whatever
// SESSION_PLUGIN says; the behaviour both session plugins share is in test/both.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { MemoryStore } = require('@fastify/session')
const { buildApp, createJar, USERS } = require('./helper')
const { JsonStore } = require('./support/json-store')
const { createLogCapture } = require('./support/log')

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

describe('custom refusal handlers give the same response with every store: an async store', () => {
  test('async store: onUnauthorized calling reply.redirect() without returning it', async (t) => {
    const logs = createLogCapture()
    const app = await buildApp({
      kind,
      store: new JsonStore(),
      fastify: { logger: { level: 'warn', stream: logs.stream } },
      login: { onUnauthorized: (request, reply) => { reply.redirect('/somewhere') } },
      // A session write on the way out, so the async store's onSend takes its time.
      routes: (app) => app.addHook('onRequest', async (request) => { request.session.set('visited', true) })
    })
    t.after(() => app.close())
    const res = await app.inject('/private')
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/somewhere')
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(logs.atLeast(40).map((e) => e.msg ?? e.err?.message), [], 'nothing was sent twice')
  })

  test('async store: an async onNeedsRefresh that sends without returning', async (t) => {
    const logs = createLogCapture()
    const app = await buildApp({
      kind,
      store: new JsonStore(),
      fastify: { logger: { level: 'warn', stream: logs.stream } },
      login: { onNeedsRefresh: async (request, reply) => { reply.code(403).send({ refresh: true }) } }
    })
    t.after(() => app.close())
    const jar = createJar(app)
    await jar.post('/login', { id: 1, fresh: false })
    const res = await jar.get('/fresh')
    assert.equal(res.statusCode, 403)
    assert.deepEqual(res.json(), { refresh: true })
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(logs.atLeast(40), [])
  })
})

test('the store really is @fastify/session\'s, whatever SESSION_PLUGIN says', async (t) => {
  const store = new JsonStore()
  const app = await buildApp({ kind, store })
  t.after(() => app.close())
  const jar = createJar(app)
  await jar.post('/login', { id: 1 })
  assert.ok(jar.cookies.sessionId, 'a @fastify/session cookie')
  assert.equal(store.session(jar.cookies.sessionId)._login.id, '1')
  assert.deepEqual((await jar.get('/me')).json().user, USERS.get('1'))
})
