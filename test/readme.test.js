'use strict'

// The README's usage example runs as written: its code is extracted, started, and driven
// through a login, a protected page and a logout.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { createJar, SESSION_SECRET, REMEMBER_SECRET } = require('./helper')

function usageExample () {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const usage = readme.slice(readme.indexOf('## Usage'))
  const match = usage.match(/```js\n([\s\S]*?)```/)
  assert.ok(match, 'README has a js block under ## Usage')
  return match[1]
}

test('the README usage example logs in, guards, remembers and logs out', async (t) => {
  const code = usageExample()
  assert.match(code, /await app\.listen\(\{ port: 3000 \}\)/)
  // Same code, but hand the app to the test instead of listening on a fixed port.
  const file = path.join(__dirname, `.readme-usage-${process.pid}.mjs`)
  fs.writeFileSync(file, code.replace('await app.listen({ port: 3000 })', 'export default app'))
  t.after(() => fs.rmSync(file, { force: true }))
  process.env.SESSION_SECRET = SESSION_SECRET
  process.env.REMEMBER_SECRET = REMEMBER_SECRET
  const { default: app } = await import(file)
  await app.ready()
  t.after(() => app.close())

  const jar = createJar(app)
  const refused = await jar.get({ url: '/protected', headers: { accept: 'text/html' } })
  assert.equal(refused.statusCode, 302)
  assert.equal(refused.headers.location, '/login?next=%2Fprotected')

  const wrong = await jar.post('/login', 'username=user1&password=nope', { headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  assert.equal(wrong.statusCode, 401)

  const login = await jar.post('/login', 'username=user1&password=password&remember=on&next=%2Fprotected',
    { headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  assert.equal(login.statusCode, 302)
  assert.equal(login.headers.location, '/protected')
  assert.ok(jar.cookies.remember_token, 'remember me was ticked')

  const page = await jar.get('/protected')
  assert.equal(page.statusCode, 200)
  assert.equal(page.body, 'Hi user1')

  await jar.post('/logout')
  const again = await jar.get('/protected')
  assert.equal(again.statusCode, 401)
})
