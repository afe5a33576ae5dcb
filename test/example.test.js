'use strict'

// The example app without a browser: what API clients get, what a person gets
// while the Redis session store is down, and what `npm run example` logs; the
// lifecycle of a login (lifetimes from the environment, timeouts, device labels,
// "you were logged out", the history, acting as a user) on both session plugins
// and on Redis shared by two instances. (test/browser.test.js walks the pages in Chromium.)

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
const MINUTE = 60 * 1000
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
const SAFARI_ON_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const csrfTokenIn = (html) => html.match(/name="_csrf" value="([^"]+)"/)?.[1]
const isHtml = (res) => /^text\/html\b/.test(res.headers['content-type'] ?? '')

/** Logs in through the login form, as a browser does: GET the form, POST it with its token. */
async function logIn (jar, username, { remember = false, userAgent, app } = {}) {
  const headers = { accept: BROWSER, ...(userAgent === undefined ? {} : { 'user-agent': userAgent }) }
  const form = await jar.get({ url: '/login', headers, app })
  assert.equal(form.statusCode, 200)
  const body = new URLSearchParams({ _csrf: csrfTokenIn(form.body), username, password: 'password' })
  if (remember) body.set('remember', 'on')
  const res = await jar.post('/login', body.toString(), { headers: { ...headers, 'content-type': FORM }, app })
  assert.equal(res.statusCode, 302, `logged in as ${username}`)
  return res
}

/** A page, as a browser asks for it. */
const visit = (jar, url, app) => jar.get({ url, headers: { accept: BROWSER }, app })

/** Sends a form of the page `from` (its CSRF token) to `url`, as a browser does. */
async function sendForm (jar, url, fields = {}, { from = '/', app } = {}) {
  const token = csrfTokenIn((await visit(jar, from, app)).body)
  const body = new URLSearchParams({ _csrf: token, ...fields })
  return jar.post(url, body.toString(), { headers: { accept: BROWSER, 'content-type': FORM }, app })
}

/** The flashed messages of a page, in order. */
const messagesIn = (html) => [...html.matchAll(/<p class="notice message">([^<]*)<\/p>/g)].map((match) => match[1])
/** The text of the rows of a table of a page. */
const rowsOf = (html, table) => [...(html.match(new RegExp(`<table id="${table}">([\\s\\S]*?)</table>`))?.[1] ?? '')
  .matchAll(/<tr class="[^"]*">([\s\S]*?)<\/tr>/g)].map((match) => match[1].replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim())

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

describe('the lifecycle on @fastify/secure-session (SESSION=secure)', () => {
  let app
  before(async () => { app = await build({ ...SECRETS, env: { SESSION: 'secure' } }) })
  after(async () => { if (app) await app.close() })

  test('a login ended from another device: that device is told why, even with its old encrypted cookie; the history has it', async () => {
    const laptop = createJar(app)
    const phone = createJar(app)
    await logIn(laptop, 'user2')
    await logIn(phone, 'user2', { userAgent: SAFARI_ON_IOS })
    assert.ok(phone.cookies.session, 'the session is the secure-session cookie')
    const stale = phone.cookies.session
    const [phoneLogin] = (await app.loginManager.listLogins(2)).filter((login) => login.device === 'Safari on iOS')
    await sendForm(laptop, `/account/sessions/${phoneLogin.id}/end`, {}, { from: '/account/sessions' })

    const refused = await visit(phone, '/protected')
    assert.equal(refused.headers.location, '/login?next=%2Fprotected')
    assert.deepEqual(messagesIn((await visit(phone, refused.headers.location)).body), [
      'You were logged out on another device: this login was ended from the sessions page.',
      'Please log in again to see that page.'
    ])
    // The cookie from before the end is worth nothing either: the registry says the login ended.
    const replayed = await phone.get({ url: '/protected', headers: { accept: BROWSER, cookie: `session=${stale}` } })
    assert.equal(replayed.statusCode, 302)

    const history = rowsOf((await visit(laptop, '/account/sessions')).body, 'history')
    assert.match(history[0], /^Safari on iOS .* ended from the sessions page$/)
  })

  test('an admin acts as user2 and stops', async () => {
    const admin = createJar(app)
    await logIn(admin, 'user1')
    const res = await sendForm(admin, '/admin/users/2/act-as', {}, { from: '/admin' })
    assert.equal(res.headers.location, '/')
    const acting = (await visit(admin, '/protected')).body
    assert.match(acting, /Hi user2, this page is protected/)
    assert.match(acting, /You are acting as <strong>user2<\/strong>/)
    await sendForm(admin, '/acting/stop', {}, { from: '/' })
    const back = (await visit(admin, '/')).body
    assert.match(back, /Logged in as user1/)
    assert.doesNotMatch(back, /id="acting"/)
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

describe('the lifetimes of a login, from the environment', () => {
  test('a value that cannot be read stops the start-up, naming the variable', async () => {
    await assert.rejects(build({ ...SECRETS, env: { FRESH_FOR: '10 minutes' } }),
      { message: 'FRESH_FOR must be a number with a unit (90s, 30m, 12h, 7d), got "10 minutes"' })
    // Read, but refused by fastify-login: idle tracking counts in minutes.
    await assert.rejects(build({ ...SECRETS, env: { IDLE_TIMEOUT: '30s' } }), /idleTimeout/)
  })

  test('IDLE_TIMEOUT: a login in use stays; one left alone for longer is logged out and told why', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const app = await build({ ...SECRETS, env: { IDLE_TIMEOUT: '30m' } })
    t.after(() => app.close())
    const jar = createJar(app)
    await logIn(jar, 'user2')
    for (let visits = 0; visits < 4; visits++) {
      t.mock.timers.tick(20 * MINUTE) // an hour and more of use, a visit every 20 minutes
      assert.equal((await visit(jar, '/protected')).statusCode, 200)
    }

    t.mock.timers.tick(32 * MINUTE) // the timeout, and the minute a recorded visit may lag
    const refused = await visit(jar, '/protected')
    assert.equal(refused.statusCode, 302)
    assert.equal(refused.headers.location, '/login?next=%2Fprotected')
    assert.deepEqual(messagesIn((await visit(jar, refused.headers.location)).body), [
      'You were logged out after 30 minutes without using the site.',
      'Please log in again to see that page.'
    ])
  })

  test('ABSOLUTE_TIMEOUT: a login older than that is logged out however busy, and the page itself says why; a remembered one comes back, not fresh, the same login', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const app = await build({ ...SECRETS, env: { ABSOLUTE_TIMEOUT: '1h', IDLE_TIMEOUT: '30m' } })
    t.after(() => app.close())
    const busy = createJar(app)
    const remembered = createJar(app)
    await logIn(busy, 'user1')
    await logIn(remembered, 'user2', { remember: true })
    const loginIdOf = async (jar) => (await visit(jar, '/account/sessions')).body.match(/<tr class="login current">[\s\S]*?action="\/account\/sessions\/([^/]+)\/end"/)[1]
    const before = await loginIdOf(remembered)
    for (let visits = 0; visits < 2; visits++) {
      t.mock.timers.tick(25 * MINUTE)
      assert.equal((await visit(busy, '/protected')).statusCode, 200)
      assert.equal((await visit(remembered, '/protected')).statusCode, 200)
    }
    t.mock.timers.tick(15 * MINUTE) // 65 minutes

    const home = await visit(busy, '/')
    assert.match(home.body, /<p id="status">You are not logged in<\/p>/)
    assert.deepEqual(messagesIn(home.body), ['You were logged out: a login lasts at most 1 hour.'])
    assert.deepEqual(messagesIn((await visit(busy, '/')).body), [], 'said once')

    const back = await visit(remembered, '/')
    assert.match(back.body, /Logged in as user2/)
    assert.match(back.body, /Fresh login: no\./)
    assert.deepEqual(messagesIn(back.body), [])
    assert.equal(await loginIdOf(remembered), before, 'the same login on the sessions page')
  })

  test('FRESH_FOR: /settings asks for the password again once the window has passed', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const app = await build({ ...SECRETS, env: { FRESH_FOR: '5m' } })
    t.after(() => app.close())
    const jar = createJar(app)
    await logIn(jar, 'user2')
    t.mock.timers.tick(4 * MINUTE)
    assert.equal((await visit(jar, '/settings')).statusCode, 200)
    t.mock.timers.tick(2 * MINUTE)
    const refused = await visit(jar, '/settings')
    assert.equal(refused.headers.location, '/reauth?next=%2Fsettings')
    assert.match((await visit(jar, refused.headers.location)).body, /You typed your password more than 5 minutes ago/)
  })
})

describe('the sessions page', () => {
  let app
  before(async () => { app = await build(SECRETS) })
  after(async () => { if (app) await app.close() })

  test('each login is labelled by its browser (bowser), never with the raw User-Agent; a client that names none is "Unknown browser"', async () => {
    await app.loginManager.revokeLogins(1)
    const jar = createJar(app)
    await logIn(createJar(app), 'user1', { userAgent: SAFARI_ON_IOS })
    await logIn(createJar(app), 'user1', { userAgent: '' })
    await logIn(createJar(app), 'user1', { userAgent: 'curl/8.5.0' })
    await logIn(jar, 'user1', { userAgent: FIREFOX_ON_WINDOWS })
    const page = await jar.get({ url: '/account/sessions', headers: { accept: BROWSER, 'user-agent': FIREFOX_ON_WINDOWS } })
    const devices = [...page.body.matchAll(/<span class="device">([^<]*)<\/span>/g)].map((match) => match[1]).sort()
    assert.deepEqual(devices, ['Firefox on Windows', 'Safari on iOS', 'Unknown browser', 'Unknown browser'])
    assert.doesNotMatch(page.body, /Mozilla|curl/)
    assert.match(rowsOf(page.body, 'logins').find((row) => row.includes('(this device)')), /^Firefox on Windows \(this device\)/)
  })

  test('ending a login says so, and ending one already ended too; another user\'s login id ends nothing', async () => {
    await app.loginManager.revokeLogins(2)
    const mine = createJar(app)
    const other = createJar(app)
    await logIn(mine, 'user2')
    await logIn(other, 'user2', { userAgent: SAFARI_ON_IOS })
    const [otherLogin] = (await app.loginManager.listLogins(2)).filter((login) => login.device === 'Safari on iOS')

    let res = await sendForm(mine, `/account/sessions/${otherLogin.id}/end`, {}, { from: '/account/sessions' })
    assert.equal(res.headers.location, '/account/sessions')
    assert.deepEqual(messagesIn((await visit(mine, '/account/sessions')).body), ['Ended the login on Safari on iOS: that device is logged out.'])
    res = await sendForm(mine, `/account/sessions/${otherLogin.id}/end`, {}, { from: '/account/sessions' })
    assert.deepEqual(messagesIn((await visit(mine, '/account/sessions')).body), ['That login had already ended.'])

    // user1's login, named in user2's form: nothing happens to it.
    const admin = createJar(app)
    await logIn(admin, 'user1')
    const [adminLogin] = await app.loginManager.listLogins(1)
    await sendForm(mine, `/account/sessions/${adminLogin.id}/end`, {}, { from: '/account/sessions' })
    assert.equal((await visit(admin, '/protected')).statusCode, 200, 'user1 is still logged in')

    res = await sendForm(mine, '/account/sessions/end-others', {}, { from: '/account/sessions' })
    assert.deepEqual(messagesIn((await visit(mine, '/account/sessions')).body), ['There were no other logins to end.'])
  })
})

describe('acting as another user (impersonation)', () => {
  let app
  before(async () => { app = await build(SECRETS) })
  after(async () => { if (app) await app.close() })

  const actAs = (jar, id) => sendForm(jar, `/admin/users/${id}/act-as`, {}, { from: '/' })

  test('refusals are HTML pages that say why: not an admin, another admin, nobody, an expired form', async () => {
    const user = createJar(app)
    await logIn(user, 'user2')
    let res = await actAs(user, 1)
    assert.equal(res.statusCode, 403)
    assert.ok(isHtml(res))
    assert.match(res.body, /Only users with the admin role can see this page\./)

    const admin = createJar(app)
    await logIn(admin, 'user1')
    res = await actAs(admin, 1)
    assert.equal(res.statusCode, 403)
    assert.match(res.body, /Nobody can act as another admin\./)
    res = await actAs(admin, 99)
    assert.equal(res.statusCode, 404)
    assert.match(res.body, /Page not found/)
    res = await admin.post('/admin/users/2/act-as', '_csrf=forged', { headers: { accept: BROWSER, 'content-type': FORM } })
    assert.equal(res.statusCode, 403)
    assert.match(res.body, /The form expired/)
    assert.match((await visit(admin, '/')).body, /Logged in as user1/, 'still user1')
  })

  test('an admin whose password is older than FRESH_FOR is sent to confirm it first', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const admin = createJar(app)
    await logIn(admin, 'user1')
    t.mock.timers.tick(11 * MINUTE)
    const res = await actAs(admin, 2)
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/reauth?next=%2Fadmin')
    assert.deepEqual(messagesIn((await visit(admin, res.headers.location)).body), ['Please confirm your password to act as another user.'])
    assert.match((await visit(admin, '/')).body, /Logged in as user1/, 'not acting')
  })

  test('while acting: the banner, no password confirmation, no admin page; Stop goes back; the history names the admin', async () => {
    const admin = createJar(app)
    await logIn(admin, 'user1')
    const res = await actAs(admin, 2)
    assert.equal(res.headers.location, '/')
    const home = (await visit(admin, '/')).body
    assert.match(home, /Logged in as user2/)
    assert.match(home, /You are acting as <strong>user2<\/strong>/)
    assert.match(home, /id="stop-acting"/)

    // The 403 page of /admin has no form token: its banner sends to the home page to stop.
    const adminPage = await visit(admin, '/admin')
    assert.equal(adminPage.statusCode, 403)
    assert.match(adminPage.body, /You are acting as <strong>user2<\/strong>/)
    assert.match(adminPage.body, /<a id="stop-acting-link" href="\/">/)
    assert.equal((await actAs(admin, 2)).statusCode, 403, 'no acting as someone while acting')

    const reauth = await sendForm(admin, '/reauth', { password: 'password' }, { from: '/' })
    assert.equal(reauth.statusCode, 403)
    assert.match(reauth.body, /Not while acting as someone/)

    const stop = await sendForm(admin, '/acting/stop', {}, { from: '/' })
    assert.equal(stop.headers.location, '/admin')
    const back = (await visit(admin, '/admin')).body
    assert.deepEqual(messagesIn(back), ['You stopped acting as user2. You are user1 again.'])
    assert.doesNotMatch(back, /id="acting"/)
    assert.equal((await sendForm(admin, '/acting/stop', {}, { from: '/' })).headers.location, '/', 'Stop again: nothing to stop')

    const user = createJar(app)
    await logIn(user, 'user2')
    const history = rowsOf((await visit(user, '/account/sessions')).body, 'history')
    assert.match(history[0], /user1 acting as you .* user1 stopped acting as you$/)
  })

  test('after an hour the acting ends by itself, and the next page says so', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    // Visits 20 minutes apart, under an IDLE_TIMEOUT longer than the hour.
    const app = await build({ ...SECRETS, env: { IDLE_TIMEOUT: '2h' } })
    t.after(() => app.close())
    const admin = createJar(app)
    await logIn(admin, 'user1')
    await sendForm(admin, '/admin/users/2/act-as', {}, { from: '/' })
    t.mock.timers.tick(20 * MINUTE)
    assert.match((await visit(admin, '/')).body, /You are acting as <strong>user2<\/strong>/)
    t.mock.timers.tick(41 * MINUTE)
    const home = (await visit(admin, '/')).body
    assert.match(home, /Logged in as user1/)
    assert.doesNotMatch(home, /id="acting"/)
    assert.deepEqual(messagesIn(home), ['You stopped acting as user2: it lasts at most an hour. You are user1 again.'])
  })

  test('an API client gets the refusals as JSON', async () => {
    const user = createJar(app)
    await logIn(user, 'user2')
    const token = csrfTokenIn((await visit(user, '/')).body)
    const res = await user.post('/admin/users/1/act-as', `_csrf=${encodeURIComponent(token)}`,
      { headers: { accept: 'application/json', 'content-type': FORM } })
    assert.equal(res.statusCode, 403)
    assert.deepEqual(res.json(), { statusCode: 403, error: 'Forbidden', message: 'Only users with the admin role can see this page.' })
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

describe('the example on Redis: two instances share the logins, their ends and the history', { skip: skipWithoutRedis() }, () => {
  let server
  let one
  let two

  before(async () => {
    server = await startRedis()
    one = await build({ ...SECRETS, redisUrl: server.url })
    two = await build({ ...SECRETS, redisUrl: server.url })
  })

  after(async () => {
    if (one) await one.close()
    if (two) await two.close()
    if (server) await server.stop()
  })

  test('a login ended on one instance is logged out on the other and told why; each lists the same devices and history', async () => {
    const laptop = createJar(one)
    const phone = createJar(two)
    await logIn(laptop, 'user2', { userAgent: FIREFOX_ON_WINDOWS })
    await logIn(phone, 'user2', { userAgent: SAFARI_ON_IOS })
    assert.equal((await visit(phone, '/protected')).statusCode, 200)

    const sessions = (await visit(laptop, '/account/sessions')).body
    assert.deepEqual(rowsOf(sessions, 'logins').map((row) => row.split(' 127.0.0.1')[0]).sort(), ['Firefox on Windows (this device)', 'Safari on iOS'])
    const [phoneLogin] = (await one.loginManager.listLogins(2)).filter((login) => login.device === 'Safari on iOS')
    await sendForm(laptop, `/account/sessions/${phoneLogin.id}/end`, {}, { from: '/account/sessions' })

    // The other instance hears of the end through Redis (within 100 ms by contract): wait for it.
    const deadline = Date.now() + 10000
    let res = await visit(phone, '/protected')
    while (res.statusCode === 200 && Date.now() < deadline) {
      await sleep(20)
      res = await visit(phone, '/protected')
    }
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/login?next=%2Fprotected')
    assert.deepEqual(messagesIn((await visit(phone, res.headers.location)).body), [
      'You were logged out on another device: this login was ended from the sessions page.',
      'Please log in again to see that page.'
    ])

    // The laptop's session lives in Redis too: the other instance shows it the same page.
    const elsewhere = (await visit(laptop, '/account/sessions', two)).body
    assert.match(rowsOf(elsewhere, 'logins')[0], /^Firefox on Windows \(this device\)/)
    assert.match(rowsOf(elsewhere, 'history')[0], /^Safari on iOS .* ended from the sessions page$/)
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
