'use strict'

// The example app in a real browser: Debian's Chromium driven by playwright-core
// (which never downloads a browser of its own). Log in with "remember me", lose
// the session cookie (as when the browser is restarted), still be logged in,
// log out and be refused again.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const hasChromium = fs.existsSync(CHROMIUM)
const skip = hasChromium || process.env.CI
  ? false
  : `${CHROMIUM} is missing (apt-get install chromium); skipped outside CI`

const SESSION_COOKIE = 'sessionId'
const REMEMBER_COOKIE = 'remember_token'

// Outside CI a machine without Chromium skips this file; under CI it fails here.
test('Chromium is installed', { skip }, () => {
  assert.ok(hasChromium, `${CHROMIUM} is missing: CI must install Debian's chromium package`)
})

describe('the example app in Chromium', { skip, timeout: 60000 }, () => {
  let app
  let browser
  let context
  let page
  let base

  before(async () => {
    if (!hasChromium) throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium package`)
    const { build } = require(path.join(__dirname, '..', 'example', 'app.js'))
    app = await build({
      logger: false,
      sessionSecret: 'browser-test-session-secret-0123456789abcdef',
      rememberSecret: 'browser-test-remember-secret-0123456789abcdef'
    })
    base = await app.listen({ port: 0, host: '127.0.0.1' })

    const { chromium } = require('playwright-core')
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    context = await browser.newContext()
    page = await context.newPage()
    page.setDefaultTimeout(10000)
  })

  after(async () => {
    if (browser) await browser.close()
    if (app) await app.close()
  })

  const url = (p) => base + p
  const cookieNames = async () => (await context.cookies(base)).map((c) => c.name).sort()
  const cookie = async (name) => (await context.cookies(base)).find((c) => c.name === name)

  test('remember me survives the loss of the session cookie; logout ends it', async () => {
    // Anonymous: /protected sends the browser to the login page, keeping where it wanted to go.
    await page.goto(url('/protected'))
    assert.equal(page.url(), url('/login?next=%2Fprotected'))
    assert.equal(await page.locator('#login-form').count(), 1)

    // Log in as user1 with "remember me": back to /protected.
    await page.fill('#login-form [name=username]', 'user1')
    await page.fill('#login-form [name=password]', 'password')
    await page.check('#login-form [name=remember]')
    await Promise.all([
      page.waitForURL(url('/protected')),
      page.click('#login-submit')
    ])
    assert.match(await page.locator('#protected').innerText(), /user1/)

    const session = await cookie(SESSION_COOKIE)
    const remember = await cookie(REMEMBER_COOKIE)
    assert.ok(session, 'a session cookie is set')
    assert.ok(remember, 'a remember cookie is set')
    assert.equal(remember.httpOnly, true)
    assert.equal(remember.sameSite, 'Lax')
    assert.ok(remember.expires * 1000 > Date.now() + 24 * 3600 * 1000, 'the remember cookie outlives the browser session')

    // The browser loses its session cookie (a restart): the remember cookie restores the login.
    await context.clearCookies({ name: SESSION_COOKIE })
    assert.deepEqual(await cookieNames(), [REMEMBER_COOKIE])
    await page.reload()
    assert.equal(page.url(), url('/protected'))
    assert.match(await page.locator('#protected').innerText(), /user1/)
    const restored = await cookie(SESSION_COOKIE)
    assert.ok(restored, 'the restore sets a new session cookie')
    assert.notEqual(restored.value, session.value)

    // The next page finds the login in the session; it is not fresh.
    await page.goto(url('/'))
    assert.equal(await page.locator('#status').innerText(), 'Logged in as user1')
    assert.match(await page.locator('#login-details').innerText(), /Found by: session\. Fresh login: no\./)

    // A page that needs a fresh login sends a remembered user to re-enter the password.
    await page.goto(url('/settings'))
    assert.equal(page.url(), url('/reauth?next=%2Fsettings'))

    // Log out: back home, anonymous, the remember cookie is gone.
    await Promise.all([
      page.waitForURL(url('/')),
      page.click('#logout-submit')
    ])
    assert.equal(await page.locator('#status').innerText(), 'You are not logged in')
    assert.equal(await cookie(REMEMBER_COOKIE), undefined, 'logout clears the remember cookie')

    // Refused again.
    await page.goto(url('/protected'))
    assert.equal(page.url(), url('/login?next=%2Fprotected'))
    assert.equal(await page.locator('#protected').count(), 0)

    // Replaying the pre-logout session cookie does not bring the login back.
    await context.addCookies([{ name: SESSION_COOKIE, value: restored.value, url: base }])
    await page.goto(url('/protected'))
    assert.equal(page.url(), url('/login?next=%2Fprotected'))
  })
})
