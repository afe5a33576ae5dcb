'use strict'

// Session stores and registrations the tests share.

const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const { MemoryStore } = require('@fastify/session')
const fastifyLogin = require('fastify-login')
const { SESSION_SECRET } = require('../helper')

/** A @fastify/session store that notes the (mock) time of every write. */
class CountingStore extends MemoryStore {
  constructor () {
    super()
    this.writes = []
  }

  set (id, session, callback) {
    this.writes.push(Date.now())
    super.set(id, session, callback)
  }
}

/** Registers cookie, session and fastify-login with `options` (and `before(app)` first); resolves to the error of ready(), or null. */
async function registrationError (options, before) {
  const app = Fastify({ logger: false })
  try {
    app.register(fastifyCookie)
    app.register(fastifySession, { secret: SESSION_SECRET, saveUninitialized: false, cookie: { secure: 'auto' } })
    if (before) before(app)
    app.register(fastifyLogin, options)
    await app.ready()
    return null
  } catch (error) {
    return error
  } finally {
    await app.close().catch(() => {})
  }
}

module.exports = { CountingStore, registrationError }
