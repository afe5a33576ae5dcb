'use strict'

// The built package, loaded the ways the README promises ("CommonJS", "TypeScript",
// "Errors"), and its start-up checks.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const { promisify } = require('node:util')
const fs = require('node:fs')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyCookie = require('@fastify/cookie')
const fastifySession = require('@fastify/session')
const { SESSION_SECRET } = require('./helper')

const ROOT = path.join(__dirname, '..')

test('require() gives the plugin function, carrying default, fastifyLogin and isSafeRedirect', () => {
  const fastifyLogin = require('fastify-login')
  assert.equal(require.resolve('fastify-login'), path.join(ROOT, 'dist', 'index.js'), 'resolves to the built package')
  assert.equal(typeof fastifyLogin, 'function')
  assert.equal(fastifyLogin.default, fastifyLogin)
  assert.equal(fastifyLogin.fastifyLogin, fastifyLogin)
  assert.equal(typeof fastifyLogin.isSafeRedirect, 'function')
  assert.equal(fastifyLogin.isSafeRedirect('/a'), true)
  assert.equal(fastifyLogin.isSafeRedirect('//a'), false)
  assert.equal(fastifyLogin[Symbol.for('plugin-meta')]?.name, 'fastify-login')
  assert.equal(fastifyLogin[Symbol.for('skip-override')], true, 'wrapped with fastify-plugin')
})

test('await import() gives the same plugin as default and named exports', async () => {
  const cjs = require('fastify-login')
  const esm = await import('fastify-login')
  assert.equal(esm.default, cjs)
  assert.equal(esm.fastifyLogin, cjs)
  assert.equal(esm.isSafeRedirect, cjs.isSafeRedirect)
})

test('an ES module can import fastifyLogin, { fastifyLogin as named, isSafeRedirect } and use it', async (t) => {
  const file = path.join(ROOT, 'test', `.exports-${process.pid}-${Date.now()}.mjs`)
  fs.writeFileSync(file, `
import fastifyLogin, { fastifyLogin as named, isSafeRedirect } from 'fastify-login'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const app = Fastify()
await app.register(fastifyCookie)
await app.register(fastifySession, { secret: ${JSON.stringify(SESSION_SECRET)}, saveUninitialized: false, cookie: { secure: 'auto' } })
await app.register(fastifyLogin, { loadUser: async () => null })
app.get('/p', { preHandler: app.loginRequired }, async () => 'in')
await app.ready()
const res = await app.inject('/p')
console.log(JSON.stringify({
  defaultIsFunction: typeof fastifyLogin === 'function',
  sameAsNamed: fastifyLogin === named,
  sameAsRequire: fastifyLogin === require('fastify-login'),
  safe: isSafeRedirect('/ok'),
  unsafe: isSafeRedirect('//evil.com'),
  status: res.statusCode
}))
await app.close()
`)
  t.after(() => fs.rmSync(file, { force: true }))

  const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: ROOT })
  assert.deepEqual(JSON.parse(stdout), {
    defaultIsFunction: true,
    sameAsNamed: true,
    sameAsRequire: true,
    safe: true,
    unsafe: false,
    status: 401
  })
})

test('registering without @fastify/session fails at ready() naming it', async () => {
  const fastifyLogin = require('fastify-login')
  const app = Fastify()
  await app.register(fastifyCookie)
  app.register(fastifyLogin, { loadUser: async () => null })
  await assert.rejects(app.ready(), (error) => {
    assert.match(error.message, /@fastify\/session/)
    return true
  })
})

test('registering without @fastify/cookie fails at ready() naming it', async () => {
  const fastifyLogin = require('fastify-login')
  const app = Fastify()
  app.register(fastifyLogin, { loadUser: async () => null })
  await assert.rejects(app.ready(), (error) => {
    assert.match(error.message, /@fastify\/cookie/)
    return true
  })
})

test('registered after both dependencies, it starts', async (t) => {
  const fastifyLogin = require('fastify-login')
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: SESSION_SECRET, saveUninitialized: false })
  await app.register(fastifyLogin, { loadUser: async () => null })
  t.after(() => app.close())
  await app.ready()
  assert.equal(typeof app.loginRequired, 'function')
  assert.equal(typeof app.loginManager.on, 'function')
})
