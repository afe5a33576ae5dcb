'use strict'

// The example app in a real browser: Debian's Chromium driven by playwright-core
// (which never downloads a browser of its own). Log in with "remember me", lose
// the session cookie (as when the browser is restarted), still be logged in,
// log out and be refused again. Then what a person trips over: a guard's "please
// log in", a wrong password, a login form from a second tab or a lost session,
// the login page while logged in, an unknown page, a page for admins only.

require('./support/build') // the tests run dist/: refuse a build older than lib/
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

  /** A browser of its own (no cookies) for one test; closed with the browser. */
  async function freshBrowser () {
    const ctx = await browser.newContext()
    const newPage = async () => {
      const p = await ctx.newPage()
      p.setDefaultTimeout(10000)
      return p
    }
    return { ctx, page: await newPage(), newPage }
  }

  /** Clicks a form's submit button; resolves with the response to the POST once the next page has loaded. */
  async function submit (p, button) {
    const [response] = await Promise.all([
      p.waitForResponse((res) => res.request().method() === 'POST' && res.request().isNavigationRequest()),
      p.waitForEvent('load'),
      p.click(button)
    ])
    return response
  }

  async function logIn (p, username, { remember = false } = {}) {
    await p.fill('#login-form [name=username]', username)
    await p.fill('#login-form [name=password]', 'password')
    if (remember) await p.check('#login-form [name=remember]')
    return submit(p, '#login-submit')
  }

  const text = (p, selector) => p.locator(selector).innerText()
  const loginForm = async (p) => ({
    username: await p.inputValue('#login-form [name=username]'),
    password: await p.inputValue('#login-form [name=password]'),
    remember: await p.isChecked('#login-form [name=remember]')
  })
  const isHtml = (response) => /^text\/html\b/.test(response.headers()['content-type'] ?? '')

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

  test('a guard says why the login page is shown; a wrong password keeps the username and the remember box', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await p.goto(url('/login'))
      assert.equal(await p.locator('#notice').count(), 0, 'no "please log in" on a plain visit to /login')

      await p.goto(url('/protected'))
      assert.equal(p.url(), url('/login?next=%2Fprotected'))
      assert.equal(await text(p, '#notice'), 'Please log in to see that page.')

      // A wrong password, with "remember me" ticked.
      await p.fill('#login-form [name=username]', 'user1')
      await p.fill('#login-form [name=password]', 'not-the-password')
      await p.check('#login-form [name=remember]')
      let response = await submit(p, '#login-submit')
      assert.equal(response.status(), 401)
      assert.equal(await text(p, '#error'), 'Invalid username or password')
      assert.deepEqual(await loginForm(p), { username: 'user1', password: '', remember: true })
      // The guard's message was shown once; the form still leads back to /protected.
      assert.equal(await p.locator('#login-form [name=next]').inputValue(), '/protected', 'still on the way to /protected')

      // An unknown user gets the very same answer; the unticked box stays unticked.
      await p.fill('#login-form [name=username]', 'nobody')
      await p.fill('#login-form [name=password]', 'password')
      await p.uncheck('#login-form [name=remember]')
      response = await submit(p, '#login-submit')
      assert.equal(response.status(), 401)
      assert.equal(await text(p, '#error'), 'Invalid username or password')
      assert.deepEqual(await loginForm(p), { username: 'nobody', password: '', remember: false })

      // The right password: on to the page the guard refused.
      await p.fill('#login-form [name=username]', 'user1')
      await logIn(p, 'user1')
      assert.equal(p.url(), url('/protected'))
      assert.match(await text(p, '#protected'), /user1/)
    } finally {
      await ctx.close()
    }
  })

  test('a login form from a second tab is shown again, with a fresh token that works', async () => {
    const { ctx, page: first, newPage } = await freshBrowser()
    try {
      const second = await newPage()
      await first.goto(url('/login'))
      await second.goto(url('/login'))

      // The second tab is filled in, then the first logs in: that drops the CSRF secret of both forms.
      await second.fill('#login-form [name=username]', 'user2')
      await second.fill('#login-form [name=password]', 'password')
      await second.check('#login-form [name=remember]')
      await logIn(first, 'user1')
      assert.equal(first.url(), url('/'))
      assert.equal(await text(first, '#status'), 'Logged in as user1')

      const response = await submit(second, '#login-submit')
      assert.equal(response.status(), 403)
      assert.ok(isHtml(response), 'an HTML page, not a JSON error')
      assert.equal(await text(second, '#error'), 'The form expired, please try again')
      assert.deepEqual(await loginForm(second), { username: 'user2', password: '', remember: true })
      assert.match(await text(second, '#logged-in'), /You are logged in as user1\./)

      // The form shown again works: the typed username and the remember box are sent along.
      await second.fill('#login-form [name=password]', 'password')
      await submit(second, '#login-submit')
      assert.equal(second.url(), url('/'))
      assert.equal(await text(second, '#status'), 'Logged in as user2')
      assert.ok(await ctx.cookies(base).then((all) => all.some((c) => c.name === REMEMBER_COOKIE)), 'remembered')
    } finally {
      await ctx.close()
    }
  })

  test('a login form whose session is gone is shown again, with a fresh token that works', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await p.goto(url('/protected'))
      await p.fill('#login-form [name=username]', 'user1')
      await p.fill('#login-form [name=password]', 'password')
      await ctx.clearCookies() // the session expired, or the server restarted with a memory store

      const response = await submit(p, '#login-submit')
      assert.equal(response.status(), 403)
      assert.equal(await text(p, '#error'), 'The form expired, please try again')
      assert.deepEqual(await loginForm(p), { username: 'user1', password: '', remember: false })

      await p.fill('#login-form [name=password]', 'password')
      await submit(p, '#login-submit')
      assert.equal(p.url(), url('/protected'), 'still on the way to the page the guard refused')
      assert.match(await text(p, '#protected'), /user1/)
    } finally {
      await ctx.close()
    }
  })

  test('the login page while logged in says who is logged in, with a log-out button and a link back', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await p.goto(url('/login'))
      await logIn(p, 'user2')

      await p.goto(url('/login?next=%2Fprotected'))
      assert.match(await text(p, '#logged-in'), /You are logged in as user2\./)
      assert.equal(await p.locator('#notice').count(), 0, 'no "please log in" for someone logged in')
      await p.click('#back')
      await p.waitForURL(url('/protected'))
      assert.match(await text(p, '#protected'), /user2/)

      await p.goto(url('/login'))
      await submit(p, '#login-page-logout')
      assert.equal(p.url(), url('/'))
      assert.equal(await text(p, '#status'), 'You are not logged in')
    } finally {
      await ctx.close()
    }
  })

  test('an unknown page gets a 404 page that leads home', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      const response = await p.goto(url('/no-such-page?x=1'))
      assert.equal(response.status(), 404)
      assert.ok(isHtml(response))
      assert.equal(await text(p, 'h1'), 'Page not found')
      assert.match(await text(p, '#error-message'), /There is no page at \/no-such-page\?x=1\./)
      await p.click('#error-link')
      await p.waitForURL(url('/'))
      assert.equal(await text(p, '#status'), 'You are not logged in')
    } finally {
      await ctx.close()
    }
  })

  test('the admin page: anonymous visitors log in first, user2 gets a 403 page, user1 gets in', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await p.goto(url('/admin'))
      assert.equal(p.url(), url('/login?next=%2Fadmin'))
      assert.equal(await text(p, '#notice'), 'Please log in to see that page.')

      // user2 is logged in and sent on to /admin, which is not for user2.
      const [response] = await Promise.all([p.waitForResponse(url('/admin')), logIn(p, 'user2')])
      assert.equal(p.url(), url('/admin'))
      assert.equal(response.status(), 403)
      assert.ok(isHtml(response))
      assert.equal(await text(p, 'h1'), 'Not allowed')
      assert.equal(await text(p, '#error-message'), 'Only users with the admin role can see this page.')

      // "Log in as another user": the login page says who is logged in, and takes another login.
      await p.click('#error-link')
      await p.waitForURL(url('/login'))
      assert.match(await text(p, '#logged-in'), /You are logged in as user2\./)
      await logIn(p, 'user1')
      await p.goto(url('/admin'))
      assert.match(await text(p, '#admin'), /user1/)
    } finally {
      await ctx.close()
    }
  })

  test('the sessions page lists every login of the user; it ends one, or all the others, and their remember cookies', async () => {
    const laptop = await freshBrowser()
    const phone = await freshBrowser()
    const tablet = await freshBrowser()
    try {
      await app.loginManager.revokeLogins(2) // the logins of user2 made by the tests above
      for (const [device, remember] of [[laptop, false], [phone, true], [tablet, false]]) {
        await device.page.goto(url('/login'))
        await logIn(device.page, 'user2', { remember })
      }
      const p = laptop.page
      await p.goto(url('/account/sessions'))
      assert.equal(await p.locator('#logins tr.login').count(), 3)
      assert.equal(await p.locator('#logins tr.current').count(), 1, 'this browser is marked')
      assert.match(await text(p, '#logins tr.current'), /this browser/)

      // End the phone's login (the remembered one): its session and its remember cookie are dead.
      const phoneRow = p.locator('#logins tr.login', { hasText: 'remembered' })
      await Promise.all([p.waitForURL(url('/account/sessions')), phoneRow.locator('.end-login').click()])
      assert.equal(await p.locator('#logins tr.login').count(), 2)
      await phone.page.goto(url('/protected'))
      assert.equal(phone.page.url(), url('/login?next=%2Fprotected'), 'the phone is logged out')
      await phone.ctx.clearCookies({ name: SESSION_COOKIE })
      await phone.page.goto(url('/protected'))
      assert.equal(phone.page.url(), url('/login?next=%2Fprotected'), 'and its remember cookie is dead too')

      // Log out all other sessions: the tablet is logged out, the laptop stays.
      await Promise.all([p.waitForURL(url('/account/sessions')), p.click('#end-others-submit')])
      assert.equal(await p.locator('#logins tr.login').count(), 1)
      await tablet.page.goto(url('/protected'))
      assert.equal(tablet.page.url(), url('/login?next=%2Fprotected'))
      await p.goto(url('/protected'))
      assert.match(await text(p, '#protected'), /user2/)
    } finally {
      for (const device of [laptop, phone, tablet]) await device.ctx.close()
    }
  })
})
