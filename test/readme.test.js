'use strict'

// The README's usage runs as written: its ES module block and its CommonJS twin are
// extracted, started, and driven through the login page, a refused request, a
// login with "remember me", the protected page, a remember-me restore and a logout.
// The install line names every package they import.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { builtinModules } = require('node:module')
const { createJar, SESSION_SECRET, REMEMBER_SECRET } = require('./helper')

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')

/** The first js block after `heading`. */
function blockAfter (heading) {
  const start = README.indexOf(`\n${heading}\n`)
  assert.ok(start !== -1, `README has ${heading}`)
  const match = README.slice(start).match(/```js\n([\s\S]*?)```/)
  assert.ok(match, `README has a js block under ${heading}`)
  return match[1]
}

const esm = blockAfter('## Usage')
const cjs = blockAfter('### CommonJS')

/** Writes `code` next to the tests (so it resolves this checkout's packages) and loads it. */
async function load (t, code, extension) {
  const file = path.join(__dirname, `.readme-usage-${process.pid}-${extension}.${extension}`)
  fs.writeFileSync(file, code)
  t.after(() => fs.rmSync(file, { force: true }))
  process.env.SESSION_SECRET = SESSION_SECRET
  process.env.REMEMBER_SECRET = REMEMBER_SECRET
  return extension === 'mjs' ? (await import(file)).default : require(file)
}

async function walkThrough (app) {
  await app.ready()
  const jar = createJar(app)
  const form = { 'content-type': 'application/x-www-form-urlencoded' }

  const refused = await jar.get({ url: '/protected', headers: { accept: 'text/html' } })
  assert.equal(refused.statusCode, 302)
  assert.equal(refused.headers.location, '/login?next=%2Fprotected')

  const page = await jar.get(refused.headers.location)
  assert.equal(page.statusCode, 200)
  assert.match(page.headers['content-type'], /text\/html/)
  assert.match(page.body, /<input type="hidden" name="next" value="\/protected">/)
  const hostile = await jar.get('/login?next=' + encodeURIComponent('"><script>x</script>'))
  assert.ok(!hostile.body.includes('<script>'), 'the login page escapes next')

  assert.equal((await jar.post('/login', 'username=user1&password=nope', { headers: form })).statusCode, 401)
  const login = await jar.post('/login', 'username=user1&password=password&remember=on&next=%2Fprotected', { headers: form })
  assert.equal(login.statusCode, 302)
  assert.equal(login.headers.location, '/protected')
  assert.ok(jar.cookies.remember_token, 'remember me was ticked')

  assert.equal((await jar.get('/protected')).body, 'Hi user1')
  delete jar.cookies.sessionId // the browser was closed
  assert.equal((await jar.get('/protected')).body, 'Hi user1', 'remembered')

  await jar.post('/logout')
  assert.equal((await jar.get('/protected')).statusCode, 401)
  await app.close()
}

test('the ES module usage runs as written', async (t) => {
  assert.match(esm, /await app\.listen\(\{ port: 3000 \}\)\n$/)
  const app = await load(t, esm.replace('await app.listen({ port: 3000 })', 'export default app'), 'mjs')
  await walkThrough(app)
})

test('its CommonJS twin runs as written, without top-level await', async (t) => {
  assert.match(cjs, /build\(\)\.then\(\(app\) => app\.listen\(\{ port: 3000 \}\)\)\n$/)
  const withoutFunctions = cjs.replace(/async function build \(\) \{[\s\S]*?\n\}\n/, '')
  assert.ok(!/^\s*await /m.test(withoutFunctions), 'no await outside a function')
  const build = await load(t, cjs.replace('build().then((app) => app.listen({ port: 3000 }))', 'module.exports = build'), 'cjs')
  await walkThrough(await build())
})

test('the two are the same app: the CommonJS twin has every route of the ES module', () => {
  const routes = (code) => [...code.matchAll(/app\.(get|post)\('([^']+)'/g)].map((m) => `${m[1]} ${m[2]}`)
  assert.deepEqual(routes(cjs), routes(esm))
})

test('the install line names every package the usage imports', () => {
  const line = README.match(/^npm i (.+)$/m)
  assert.ok(line, 'README has an npm i line')
  const installed = new Set(line[1].split(/\s+/))
  const imported = new Set([...esm.matchAll(/from '([^']+)'/g), ...cjs.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]))
  for (const name of imported) {
    if (name.startsWith('node:') || builtinModules.includes(name)) continue
    assert.ok(installed.has(name), `${name} is imported by the usage but not in "npm i ${line[1]}"`)
  }
})
