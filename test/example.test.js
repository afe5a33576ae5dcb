'use strict'

// The example app without a browser: what API clients get, what a person gets
// while the Redis session store is down, and what `npm run example` logs.
// (test/browser.test.js walks the pages in Chromium.)

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createJar, setCookies } = require('./helper')
const { startRedis, skipWithoutRedis, hasRedisServer, freePort } = require('./support/redis')
const { createLogCapture } = require('./support/log')

const EXAMPLE = path.join(__dirname, '..', 'example')
const { build } = require(path.join(EXAMPLE, 'app.js'))

const SECRETS = {
  sessionSecret: 'example-test-session-secret-0123456789abcdef',
  rememberSecret: 'example-test-remember-secret-0123456789abcdef'
}
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' // what Chromium sends
const FORM = 'application/x-www-form-urlencoded'
const SERVER_ERROR = 'Something went wrong on our side, try again in a moment.'
const ERROR_LEVEL = 50

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const csrfTokenIn = (html) => html.match(/name="_csrf" value="([^"]+)"/)?.[1]
const isHtml = (res) => /^text\/html\b/.test(res.headers['content-type'] ?? '')

/** Logs in through the login form, as a browser does: GET the form, POST it with its token. */
async function logIn (jar, username, { remember = false } = {}) {
  const form = await jar.get({ url: '/login', headers: { accept: BROWSER } })
  assert.equal(form.statusCode, 200)
  const body = new URLSearchParams({ _csrf: csrfTokenIn(form.body), username, password: 'password' })
  if (remember) body.set('remember', 'on')
  const res = await jar.post('/login', body.toString(), { headers: { accept: BROWSER, 'content-type': FORM } })
  assert.equal(res.statusCode, 302, `logged in as ${username}`)
  return res
}

describe('the example on @fastify/secure-session (SESSION=secure)', () => {
  test('a login, the guard\'s message, a remember-me restore, the sessions page and a logout, in an encrypted cookie', async (t) => {
    const app = await build({ ...SECRETS, session: 'secure' })
    t.after(() => app.close())
    const jar = createJar(app)
    const refused = await jar.get({ url: '/protected', headers: { accept: BROWSER } })
    assert.equal(refused.statusCode, 302)
    const page = await jar.get({ url: refused.headers.location, headers: { accept: BROWSER } })
    assert.match(page.body, /Please log in to see that page\./, 'the guard\'s flashed message')
    assert.ok(jar.cookies.session, 'the session is the secure-session cookie')
    assert.equal(jar.cookies.sessionId, undefined)

    await logIn(jar, 'user1', { remember: true })
    assert.match((await jar.get({ url: '/protected', headers: { accept: BROWSER } })).body, /user1, this page is protected/)
    delete jar.cookies.session // the browser was closed
    assert.match((await jar.get({ url: '/protected', headers: { accept: BROWSER } })).body, /user1, this page is protected/)

    const sessions = await jar.get({ url: '/account/sessions', headers: { accept: BROWSER } })
    assert.equal(sessions.statusCode, 200)
    assert.equal(sessions.body.match(/<tr class="login/g).length, 1)
    const logout = new URLSearchParams({ _csrf: csrfTokenIn(sessions.body) })
    await jar.post('/logout', logout.toString(), { headers: { accept: BROWSER, 'content-type': FORM } })
    assert.equal((await jar.get({ url: '/protected' })).statusCode, 401)
  })
})

describe('the example for API clients and browsers', () => {
  let app

  before(async () => { app = await build(SECRETS) })
  after(async () => { if (app) await app.close() })

  test('the guards\' 401 stays JSON for API clients; browsers are sent to the login page', async () => {
    for (const accept of ['application/json', '*/*', undefined]) {
      const res = await app.inject({ url: '/protected', headers: accept ? { accept } : {} })
      assert.equal(res.statusCode, 401, `Accept: ${accept}`)
      assert.deepEqual(res.json(), {
        statusCode: 401, code: 'FST_LOGIN_REQUIRED', error: 'Unauthorized', message: 'Login required'
      })
    }
    const res = await app.inject({ url: '/protected', headers: { accept: BROWSER } })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?next=%2Fprotected')
  })

  test('an unknown page: an HTML page for a browser, a JSON 404 for an API client', async () => {
    let res = await app.inject({ url: '/nope', headers: { accept: BROWSER } })
    assert.equal(res.statusCode, 404)
    assert.ok(isHtml(res))
    assert.match(res.body, /Page not found/)

    res = await app.inject({ url: '/nope', headers: { accept: 'application/json' } })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error, 'Not Found')
  })

  test('a form sent after the login ended gets a "please log in" page, not JSON', async () => {
    const jar = createJar(app)
    await logIn(jar, 'user1')
    const reauth = await jar.get({ url: '/reauth', headers: { accept: BROWSER } })
    const token = csrfTokenIn(reauth.body)
    delete jar.cookies.sessionId // the session ended (expired, or logged out in another tab)

    const res = await jar.post('/reauth', `_csrf=${encodeURIComponent(token)}&password=password`,
      { headers: { accept: BROWSER, 'content-type': FORM } })
    assert.equal(res.statusCode, 401)
    assert.ok(isHtml(res))
    assert.match(res.body, /You need to log in to do that\./)
    assert.match(res.body, /href="\/login"/)
  })

  test('the role check: a 403 for a logged-in user without the role, JSON for an API client', async () => {
    const jar = createJar(app)
    await logIn(jar, 'user2')
    const res = await jar.get({ url: '/admin', headers: { accept: 'application/json' } })
    assert.equal(res.statusCode, 403)
    assert.deepEqual(res.json(), {
      statusCode: 403, error: 'Forbidden', message: 'Only users with the admin role can see this page.'
    })
  })

  test('what the request brings is escaped in the page', async () => {
    const evil = '"><script>alert(1)</script>'
    let res = await app.inject({ url: `/login?next=${encodeURIComponent(evil)}`, headers: { accept: BROWSER } })
    assert.equal(res.statusCode, 200)
    assert.ok(!res.body.includes('<script>'), 'no markup from the query in the page')
    assert.ok(res.body.includes('&quot;&gt;&lt;script&gt;'))

    res = await app.inject({ url: `/${encodeURIComponent(evil)}`, headers: { accept: BROWSER } })
    assert.equal(res.statusCode, 404)
    assert.ok(!res.body.includes('<script>'), 'no markup from the path in the 404 page')
  })
})

// Outside CI a machine without redis-server skips the Redis part; under CI it fails here.
test('redis-server is installed', { skip: skipWithoutRedis() }, () => {
  assert.ok(hasRedisServer(), 'redis-server is missing: CI must install it (apt-get install redis-server)')
})

describe('the example on Redis, while Redis is down', { skip: skipWithoutRedis() }, () => {
  let server
  let app
  const log = createLogCapture()

  before(async () => {
    server = await startRedis()
    app = await build({ ...SECRETS, redisUrl: server.url, logger: { level: 'info', stream: log.stream } })
  })

  /** Resolves once the app writes sessions to Redis again (a 5xx until then), within 10 s. */
  async function untilRedisAnswers () {
    const deadline = Date.now() + 10000
    // The login page of a new visitor saves a session (for the CSRF secret of its form).
    const loginPage = () => app.inject({ url: '/login', headers: { accept: BROWSER } })
    let res = await loginPage()
    while (res.statusCode >= 500 && Date.now() < deadline) {
      await sleep(100)
      res = await loginPage()
    }
    return res
  }

  after(async () => {
    if (app && server?.running) {
      // Even after a failed test, the app's Redis client is closed once it is connected
      // again: closed while it reconnects, it may go on reconnecting and keep this file running.
      server.resume()
      await untilRedisAnswers()
    }
    if (app) await app.close()
    if (server) await server.stop()
  })

  test('a person gets an HTML page that says to try again, with nothing of the Redis error; the login survives', async () => {
    const jar = createJar(app)
    await logIn(jar, 'user1', { remember: true })
    const cookies = { ...jar.cookies }
    const form = await jar.get({ url: '/login', headers: { accept: BROWSER } })
    const token = csrfTokenIn(form.body)
    const mark = log.mark()

    // SIGSTOP: the connection stays up but nothing answers.
    server.pause()
    const pages = []
    try {
      const requests = [
        ['a page of a logged-in user', { url: '/protected' }],
        ['the home page of a logged-in user', { url: '/' }],
        ['the login form sent by a logged-in user', {
          method: 'POST', url: '/login', payload: `_csrf=${encodeURIComponent(token)}&username=user2&password=password`, headers: { 'content-type': FORM }
        }],
        ['the login page of a new visitor (its session cannot be saved)', { url: '/login', headers: { cookie: '' } }]
      ]
      for (const [what, opts] of requests) {
        const res = await jar.request({ ...opts, headers: { accept: BROWSER, ...opts.headers } })
        assert.ok(res.statusCode >= 500 && res.statusCode <= 599, `${what}: a 5xx, got ${res.statusCode}`)
        assert.ok(isHtml(res), `${what}: an HTML page, got ${res.headers['content-type']}: ${res.body}`)
        assert.ok(res.body.includes(SERVER_ERROR), `${what}: says to try again: ${res.body}`)
        assert.deepEqual(setCookies(res), [], `${what}: the failed response touches no cookie`)
        pages.push([what, res.body])
      }

      // An API client gets the same message, as JSON.
      const res = await jar.get({ url: '/protected', headers: { accept: 'application/json' } })
      assert.ok(res.statusCode >= 500)
      assert.deepEqual(res.json(), { statusCode: res.statusCode, error: 'Internal Server Error', message: SERVER_ERROR })
      pages.push(['the API answer', res.body])
    } finally {
      server.resume()
    }

    // The real error is in the log, at error level, and nowhere in what the browser got.
    const errors = log.atLeast(ERROR_LEVEL, mark).filter((entry) => entry.err)
    assert.ok(errors.length >= pages.length, 'each failed request logs its error')
    const internals = [...new Set(errors.flatMap((entry) => [entry.err.message, entry.err.type]))].filter(Boolean)
    assert.ok(internals.some((text) => /offline|timeout|closed|socket/i.test(text)), `the log says what failed: ${internals}`)
    for (const [what, body] of pages) {
      for (const internal of internals) {
        assert.ok(!body.includes(internal), `${what} shows "${internal}": ${body}`)
      }
      assert.doesNotMatch(body, /redis|socket|offline|timeout|ECONN|stack/i, `${what}: ${body}`)
    }
    assert.deepEqual(jar.cookies, cookies, 'the browser keeps its login cookies')

    // Redis is back: the login made before the outage works again.
    assert.equal((await untilRedisAnswers()).statusCode, 200)
    const res = await jar.get({ url: '/protected', headers: { accept: BROWSER } })
    assert.equal(res.statusCode, 200)
    assert.match(res.body, /Hi user1, this page is protected/)
  })
})

describe('npm run example: the log', () => {
  /**
   * Runs example/server.js as `npm run example` does (after the build), lets `visit`
   * talk to it over HTTP, stops it with SIGTERM and resolves with what it printed.
   */
  async function runServer (env, visit) {
    const port = await freePort()
    const child = spawn(process.execPath, [path.join(EXAMPLE, 'server.js')], {
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (s) => { output += s })
    child.stderr.setEncoding('utf8').on('data', (s) => { output += s })
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    const base = `http://127.0.0.1:${port}`
    try {
      const deadline = Date.now() + 10000
      for (;;) {
        try {
          await fetch(base + '/')
          break
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`the example did not start: ${err.message}\n${output}`)
          await sleep(50)
        }
      }
      await visit(base)
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, `the example exits cleanly on SIGTERM:\n${output}`)
    return output.split('\n').filter(Boolean).map((line) => {
      try {
        return JSON.parse(line)
      } catch {
        return { raw: line }
      }
    })
  }

  /** A browser's visit: a wrong password, a login with "remember me", a protected page, an unknown page. */
  async function visit (base, seen) {
    const cookies = new Map()
    const request = async (url, opts = {}) => {
      const res = await fetch(base + url, {
        redirect: 'manual',
        ...opts,
        headers: { accept: BROWSER, cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...opts.headers }
      })
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]
        if (value) {
          cookies.set(name, value)
          seen.push(value, decodeURIComponent(value))
        }
      }
      return { status: res.status, body: await res.text() }
    }
    const post = (url, fields) => request(url, { method: 'POST', body: new URLSearchParams(fields), headers: { 'content-type': FORM } })

    let token = csrfTokenIn((await request('/login')).body)
    seen.push(token)
    let res = await post('/login', { _csrf: token, username: 'user1', password: seen.wrongPassword })
    assert.equal(res.status, 401)
    token = csrfTokenIn(res.body)
    seen.push(token)
    res = await post('/login', { _csrf: token, username: 'user1', password: 'password', remember: 'on' })
    assert.equal(res.status, 302)
    assert.equal((await request('/protected')).status, 200)
    assert.equal((await request('/nope')).status, 404)
  }

  const env = {
    SESSION_SECRET: 'log-test-session-secret-0123456789abcdef0123',
    REMEMBER_SECRET: 'log-test-remember-secret-0123456789abcdef012'
  }

  test('LOG_LEVEL=debug: requests are logged, and no cookie, secret, token or password is', async () => {
    const seen = Object.assign([], { wrongPassword: 'wrong-password-7f3a9c' })
    const entries = await runServer({ ...env, LOG_LEVEL: 'debug' }, (base) => visit(base, seen))
    const started = entries.find((e) => /open (http:\S+) and log in/.test(e.msg))
    assert.ok(started, 'says where to open the example')
    assert.ok(entries.some((e) => e.msg === 'incoming request' && e.req?.url === '/protected'), 'requests are logged')

    const text = entries.map((e) => JSON.stringify(e)).join('\n')
    const secrets = [env.SESSION_SECRET, env.REMEMBER_SECRET, seen.wrongPassword, ...seen].filter((s) => s.length >= 8)
    assert.ok(secrets.length >= 6, 'cookies and tokens were collected')
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `the log contains ${secret}`)
    }
  })

  test('LOG_LEVEL=warn: a quiet log', async () => {
    const seen = Object.assign([], { wrongPassword: 'wrong-password-2b8e41' })
    const entries = await runServer({ ...env, LOG_LEVEL: 'warn' }, (base) => visit(base, seen))
    assert.deepEqual(entries.filter((e) => !(e.level >= 40)), [], 'nothing below warn')
  })
})
