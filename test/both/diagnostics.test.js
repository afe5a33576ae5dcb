'use strict'

// The `node:diagnostics_channel` channels (the contract's "Events"): an APM or
// OpenTelemetry subscriber sees each decision once, on `fastify-login:login`,
// `:logout`, `:restore`, `:unauthorized` and `:ended`, as `{ request, key, userId }`
// (plus `reason` on `:ended`), with `request` null for an end no request made
// (`loginManager.revokeLogin`). With and without the login registry.

require('../support/session-plugins').onBothPlugins(__filename)

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const diagnostics = require('node:diagnostics_channel')
const { MemoryLoginStore } = require('fastify-login')
const { createJar, SESSION_COOKIE } = require('../helper')
const { SECOND, HOUR, CONFIGURATIONS, startClock, lifecycleApp, loggedIn, visit } = require('../support/lifecycle')

const NAMES = ['login', 'logout', 'restore', 'unauthorized', 'ended']

/** Subscribes to every channel for this test; `published` lists what came, in order, as plain data. */
function subscribe (t) {
  const published = []
  for (const name of NAMES) {
    const listener = (message, channel) => {
      const { request, ...rest } = message
      published.push({ channel, ...rest, request: request === null ? null : `${request.method} ${request.url}` })
      assert.deepEqual(Object.keys(message).sort(), name === 'ended' ? ['key', 'reason', 'request', 'userId'] : ['key', 'request', 'userId'])
    }
    diagnostics.subscribe(`fastify-login:${name}`, listener)
    t.after(() => diagnostics.unsubscribe(`fastify-login:${name}`, listener))
  }
  return published
}

function routes (app) {
  app.post('/impersonate/2', async (request, reply) => {
    await reply.impersonate({ id: 2, username: 'user2' })
    return { ok: true }
  })
}

for (const [label, configuration] of Object.entries(CONFIGURATIONS)) {
  describe(`diagnostics channels, ${label}`, () => {
    test('a login, a restore, a refusal, a logout: each published once, with the request, the key and the user id', async (t) => {
      const { app } = await lifecycleApp(t, { login: configuration(), routes })
      const published = subscribe(t)
      const jar = await loggedIn(app, 1, { remember: true })
      delete jar.cookies[SESSION_COOKIE]
      await visit(jar)
      await visit(jar)
      await jar.post('/logout')
      assert.equal((await jar.get('/private')).statusCode, 401)
      assert.deepEqual(published, [
        { channel: 'fastify-login:login', key: 'login', userId: '1', request: 'POST /login' },
        { channel: 'fastify-login:restore', key: 'login', userId: '1', request: 'GET /visit' },
        { channel: 'fastify-login:ended', key: 'login', userId: '1', reason: 'logout', request: 'POST /logout' },
        { channel: 'fastify-login:logout', key: 'login', userId: '1', request: 'POST /logout' },
        { channel: 'fastify-login:unauthorized', key: 'login', userId: null, request: 'GET /private' }
      ])
    })

    test(':ended carries every end with its reason, exactly as loginEnded does', async (t) => {
      const tick = startClock(t)
      const { app, events, users } = await lifecycleApp(t, {
        login: { ...configuration(), absoluteTimeout: HOUR, authVersion: (user) => user.password ?? 'first', canImpersonate: () => true },
        routes
      })
      const published = subscribe(t)
      const timedOut = await loggedIn(app, 1)
      const replaced = await loggedIn(app, 2)
      await replaced.post('/login', { id: 0 })
      tick(HOUR + SECOND)
      await visit(timedOut)
      await visit(replaced) // user 0's login too is past absoluteTimeout now
      const staff = await loggedIn(app, 1)
      await staff.post('/impersonate/2')
      await staff.post('/logout')
      const changed = await loggedIn(app, 2)
      users.get('2').password = 'second'
      await visit(changed)
      const ended = published.filter((m) => m.channel === 'fastify-login:ended')
      assert.deepEqual(ended.map(({ userId, reason }) => ({ userId, reason })), events.ended.map(({ userId, reason }) => ({ userId, reason })))
      assert.deepEqual(ended.map((m) => [m.userId, m.reason]), [
        ['2', 'logout'], ['1', 'absolute'], ['0', 'absolute'],
        ['2', 'logout'], ['1', 'logout'], // the impersonation, then the staff login: a logout ends both
        ['2', 'authVersion']
      ])
      assert.ok(ended.every((m) => m.request !== null && m.key === 'login'))
      assert.equal(published.filter((m) => m.channel === 'fastify-login:logout').length, 1, 'one logout: the staff member, while impersonating')
      assert.equal(published.find((m) => m.channel === 'fastify-login:logout').userId, '1')
    })

    test('the key of the registration that decided', async (t) => {
      const { app } = await lifecycleApp(t, { login: { ...configuration(), key: 'staff' } })
      const published = subscribe(t)
      await loggedIn(app, 1)
      assert.deepEqual(published.map((m) => [m.channel, m.key]), [['fastify-login:login', 'staff']])
    })
  })
}

describe('diagnostics channels, ends with no request', () => {
  test('revokeLogin and revokeLogins publish :ended with request null, once per login', async (t) => {
    const { app } = await lifecycleApp(t, { login: { logins: { store: new MemoryLoginStore() } } })
    const jars = [await loggedIn(app, 1), await loggedIn(app, 1), await loggedIn(app, 1)]
    const ids = []
    for (const jar of jars) ids.push((await visit(jar)).loginId)
    const published = subscribe(t)
    await app.loginManager.revokeLogin(1, ids[0])
    await app.loginManager.revokeLogins(1, { except: ids[2] })
    await app.loginManager.revokeLogin(1, ids[0]) // ended already: nothing more
    assert.deepEqual(published, [
      { channel: 'fastify-login:ended', key: 'login', userId: '1', reason: 'revoked', request: null },
      { channel: 'fastify-login:ended', key: 'login', userId: '1', reason: 'revoked', request: null }
    ])
    await visit(jars[0])
    assert.equal(published.length, 2, 'the browser that finds it ended publishes nothing more')
    await createJar(app).get('/visit')
    assert.equal(published.length, 2, 'an anonymous request that meets no guard publishes nothing')
  })
})
