'use strict'

// A custom refusal handler that sends without returning the reply must give the
// same response whatever the session plugin or store does in its onSend hook:
// these tests run on the memory store, on secure-session and on an async store.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar } = require('../helper')
const { createLogCapture } = require('./log')

/** The two cases, with `label` naming the session and `session` the buildApp options that make it. */
function refusalHandlerTests (label, session) {
  test(`${label}: onUnauthorized calling reply.redirect() without returning it`, async (t) => {
    const logs = createLogCapture()
    const app = await buildApp({
      ...session(),
      fastify: { logger: { level: 'warn', stream: logs.stream } },
      login: { onUnauthorized: (request, reply) => { reply.redirect('/somewhere') } },
      // A session write on the way out, so an async store's onSend takes its time.
      routes: (app) => app.addHook('onRequest', async (request) => { request.session.set('visited', true) })
    })
    t.after(() => app.close())
    const res = await app.inject('/private')
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/somewhere')
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(logs.atLeast(40).map((e) => e.msg ?? e.err?.message), [], 'nothing was sent twice')
  })

  test(`${label}: an async onNeedsRefresh that sends without returning`, async (t) => {
    const logs = createLogCapture()
    const app = await buildApp({
      ...session(),
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
}

module.exports = { refusalHandlerTests }
