'use strict'

// The plugin's decisions at `debug`, through request.log: who logged in and out, why
// a remember cookie was rejected, a session-protection hit. Never a cookie value, a
// secret or a password.

require('../support/session-plugins').onBothPlugins(__filename)
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { buildApp, createJar, REMEMBER_SECRET, SESSION_SECRET, SECURE_SESSION_KEY, SESSION_COOKIE } = require('../helper')
const { createLogCapture } = require('../support/log')

test('logins, logouts, rejected remember cookies and protection hits are logged at debug, with no cookie or secret', async (t) => {
  const logs = createLogCapture()
  const app = await buildApp({
    fastify: { logger: { level: 'debug', stream: logs.stream } },
    login: { remember: { secret: REMEMBER_SECRET } }
  })
  t.after(() => app.close())
  const jar = createJar(app)
  await jar.post('/login', { id: 2, remember: true, password: 'hunter2' }, { headers: { 'user-agent': 'A' } })
  const cookies = { ...jar.cookies }
  await jar.get({ url: '/me', headers: { 'user-agent': 'B' } })
  await app.inject({ url: '/me', headers: { cookie: 'remember_token=forged' } })
  await jar.post('/logout', {}, { headers: { 'user-agent': 'A' } })

  const mine = logs.entries.filter((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('fastify-login:'))
  const find = (msg) => mine.find((entry) => entry.msg === msg)
  assert.equal(find('fastify-login: logged in')?.userId, '2')
  assert.equal(find('fastify-login: logged in')?.level, 20)
  assert.equal(find('fastify-login: session protection hit')?.mode, 'basic')
  assert.equal(find('fastify-login: remember cookie rejected')?.reason, 'malformed')
  assert.equal(find('fastify-login: logged out')?.userId, '2')
  assert.ok(mine.every((entry) => entry.level === 20), 'all at debug')

  const text = logs.entries.map((entry) => JSON.stringify(entry)).join('\n')
  const secrets = [REMEMBER_SECRET, SESSION_SECRET, SECURE_SESSION_KEY, 'hunter2', cookies.remember_token, cookies[SESSION_COOKIE]]
  for (const secret of secrets) {
    assert.ok(secret && !text.includes(secret) && !text.includes(encodeURIComponent(secret)), 'a cookie or secret reached the log')
  }
})
