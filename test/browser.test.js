'use strict'

// The example app in a real browser: Debian's Chromium driven by playwright-core
// (which never downloads a browser of its own). Log in with "remember me", lose
// the session cookie (as when the browser is restarted), still be logged in,
// log out and be refused again. Then what a person trips over: a guard's "please
// log in", a wrong password, a login form from a second tab or a lost session,
// the login page while logged in, an unknown page, a page for admins only. Then
// the lifecycle of a login: the sessions page with device labels, a login ended
// from another device and what that device is told, the history, the settings
// page once the fresh window has passed, an idle timeout, and an admin acting as
// another user and stopping.
//
// The server runs in this process, so its clock is this process's `Date`, which
// the tests move forward with node:test's mock timers (never a sleep): "ten
// minutes later" is one tick. Screenshots of each step go to a folder under the
// OS temp dir, printed at the start of the run, to look at the pages as a person would.

require('./support/build') // the tests run dist/: refuse a build older than lib/
const { describe, test, before, after, mock } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const hasChromium = fs.existsSync(CHROMIUM)
const skip = hasChromium || process.env.CI
  ? false
  : `${CHROMIUM} is missing (apt-get install chromium); skipped outside CI`

const SESSION_COOKIE = 'sessionId'
const REMEMBER_COOKIE = 'remember_token'
const MINUTE = 60 * 1000
// The lifetimes the example runs with here (its defaults, written out).
const ENV = { IDLE_TIMEOUT: '30m', ABSOLUTE_TIMEOUT: '12h', FRESH_FOR: '10m' }
// Other devices, as their User-Agent headers say.
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
const SAFARI_ON_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'

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

  let shots
  let shotCount = 0

  before(async () => {
    if (!hasChromium) throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium package`)
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-login-example-screenshots-'))
    console.log(`screenshots of the example: ${shots}`)
    // The server's clock, from now on moved only by clock(): Date alone, timers stay real.
    mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { build } = require(path.join(__dirname, '..', 'example', 'app.js'))
    app = await build({
      logger: false,
      env: ENV,
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
    mock.timers.reset()
    if (shots) console.log(`screenshots of the example: ${shots}`)
  })

  /** Time passes on the server: every login there is `ms` older. */
  const clock = (ms) => mock.timers.tick(ms)

  /** A screenshot of the whole page, numbered in the order taken. */
  async function shot (p, name) {
    shotCount++
    await p.screenshot({ path: path.join(shots, `${String(shotCount).padStart(2, '0')}-${name}.png`), fullPage: true })
  }

  const url = (p) => base + p
  const cookieNames = async () => (await context.cookies(base)).map((c) => c.name).sort()
  const cookie = async (name) => (await context.cookies(base)).find((c) => c.name === name)

  /** A browser of its own (no cookies) for one test, Chromium's own User-Agent unless given; closed with the browser. */
  async function freshBrowser ({ userAgent } = {}) {
    const ctx = await browser.newContext(userAgent ? { userAgent } : {})
    const newPage = async () => {
      const p = await ctx.newPage()
      p.setDefaultTimeout(10000)
      return p
    }
    return { ctx, page: await newPage(), newPage }
  }

  /** Clicks a form's submit button (a selector or a locator); resolves with the response to the POST once the next page has loaded. */
  async function submit (p, button) {
    const [response] = await Promise.all([
      p.waitForResponse((res) => res.request().method() === 'POST' && res.request().isNavigationRequest()),
      p.waitForEvent('load'),
      typeof button === 'string' ? p.click(button) : button.click()
    ])
    return response
  }

  async function logIn (p, username, { remember = false } = {}) {
    if (!p.url().startsWith(url('/login'))) await p.goto(url('/login'))
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
      assert.equal(await p.locator('.message').count(), 0, 'no "please log in" on a plain visit to /login')

      await p.goto(url('/protected'))
      assert.equal(p.url(), url('/login?next=%2Fprotected'))
      assert.equal(await text(p, '.message'), 'Please log in to see that page.')

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
      assert.equal(await p.locator('.message').count(), 0, 'no "please log in" for someone logged in')
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
      assert.equal(await text(p, '.message'), 'Please log in to see that page.')

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

  /** The rows of a table, as their text. */
  const rows = (p, selector) => p.locator(selector).allInnerTexts()
  /** The flashed messages on the page. */
  const messages = (p) => p.locator('.message').allInnerTexts()

  test('the sessions page: each device by its label; a login ended there is told so on its device, and goes to the history', async () => {
    await app.loginManager.revokeLogins(2) // the logins of user2 made by the tests above
    const laptop = await freshBrowser() // Chromium's own User-Agent: "Chrome on Linux"
    const phone = await freshBrowser({ userAgent: SAFARI_ON_IOS })
    const desktop = await freshBrowser({ userAgent: FIREFOX_ON_WINDOWS })
    try {
      await logIn(laptop.page, 'user2', { remember: true })
      clock(5 * MINUTE)
      await logIn(phone.page, 'user2', { remember: true })
      clock(5 * MINUTE)
      await logIn(desktop.page, 'user2')
      clock(MINUTE)

      const p = laptop.page
      await p.goto(url('/account/sessions'))
      await shot(p, 'sessions-three-devices')
      const devices = await p.locator('#logins tr.login .device').allInnerTexts()
      assert.deepEqual([...devices].sort(), ['Chrome on Linux', 'Firefox on Windows', 'Safari on iOS'])
      assert.match(await text(p, '#logins tr.current'), /Chrome on Linux \(this device\)/)
      assert.equal(await p.locator('#logins tr.current').count(), 1, 'one row is this device')
      const page = await p.content()
      assert.ok(!page.includes('Mozilla/5.0'), 'labels, never a raw User-Agent')
      assert.match(await text(p, '#logins tr.login:has-text("Safari on iOS")'), /password, remember me/)

      // End the phone's login (a remembered one): a confirmation, and the phone is logged out.
      const phoneRow = p.locator('#logins tr.login', { hasText: 'Safari on iOS' })
      await submit(p, phoneRow.locator('.end-login'))
      assert.equal(p.url(), url('/account/sessions'))
      assert.equal(await text(p, '.message'), 'Ended the login on Safari on iOS: that device is logged out.')
      assert.equal(await p.locator('#logins tr.login').count(), 2)
      assert.match(await text(p, '#history'), /Safari on iOS[\s\S]*ended from the sessions page/)
      await shot(p, 'sessions-after-ending-the-phone')

      // On the phone, the next page is the login page, saying why; its remember cookie is dead too.
      await phone.page.goto(url('/protected'))
      assert.equal(phone.page.url(), url('/login?next=%2Fprotected'))
      assert.deepEqual(await messages(phone.page), [
        'You were logged out on another device: this login was ended from the sessions page.',
        'Please log in again to see that page.'
      ])
      await shot(phone.page, 'phone-logged-out-on-another-device')
      await phone.ctx.clearCookies({ name: SESSION_COOKIE })
      await phone.page.goto(url('/protected'))
      assert.equal(phone.page.url(), url('/login?next=%2Fprotected'), 'the remember cookie does not bring it back')

      // Log out all other devices: the desktop is logged out, the laptop stays.
      clock(MINUTE)
      await submit(p, '#end-others-submit')
      assert.equal(await text(p, '.message'), 'Ended the other login: only this device is logged in now.')
      assert.equal(await p.locator('#logins tr.login').count(), 1)
      assert.ok(await p.locator('#end-others-submit').isDisabled(), 'no other login left to end')

      // The desktop opens the home page: the page itself saw the login end, and says why.
      await desktop.page.goto(url('/'))
      assert.equal(await text(desktop.page, '#status'), 'You are not logged in')
      assert.equal(await text(desktop.page, '.message'),
        'You were logged out on another device: this login was ended from the sessions page.')
      await shot(desktop.page, 'desktop-home-says-why')
      await desktop.page.reload()
      assert.equal(await desktop.page.locator('.message').count(), 0, 'said once')

      // The history lists both, most recent first, with their reason in words.
      await p.reload()
      const history = await rows(p, '#history tr.ended')
      assert.match(history[0], /^Firefox on Windows[\s\S]*password[\s\S]*ended from the sessions page$/)
      assert.match(history[1], /^Safari on iOS[\s\S]*password, remember me[\s\S]*ended from the sessions page$/)

      // "Log out" on this device's own row logs it out; the history says "logged out".
      clock(MINUTE)
      await submit(p, '#logins tr.current .end-login')
      assert.equal(p.url(), url('/'))
      assert.equal(await text(p, '#status'), 'You are not logged in')
      await logIn(p, 'user2')
      await p.goto(url('/account/sessions'))
      assert.match((await rows(p, '#history tr.ended'))[0], /^Chrome on Linux[\s\S]*logged out$/)
      await shot(p, 'sessions-history')
    } finally {
      for (const device of [laptop, phone, desktop]) await device.ctx.close()
    }
  })

  test('settings: shown while the password is fresh; once the fresh window has passed, the password first', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await logIn(p, 'user2')
      await p.goto(url('/settings'))
      assert.match(await text(p, '#settings'), /Settings of user2/)
      await shot(p, 'settings-fresh')

      clock(10 * MINUTE + 1000) // FRESH_FOR is 10 minutes
      await p.goto(url('/settings'))
      assert.equal(p.url(), url('/reauth?next=%2Fsettings'))
      assert.equal(await text(p, '.message'), 'Please confirm your password to see that page.')
      assert.match(await text(p, '#reauth-why'), /You typed your password more than 10 minutes ago/)
      await shot(p, 'reauth-after-the-fresh-window')

      await p.fill('#reauth-form [name=password]', 'not-the-password')
      assert.equal((await submit(p, '#reauth-submit')).status(), 401)
      assert.equal(await text(p, '#error'), 'Wrong password')
      await p.fill('#reauth-form [name=password]', 'password')
      await submit(p, '#reauth-submit')
      assert.equal(p.url(), url('/settings'))
      assert.match(await text(p, '#settings'), /Settings of user2/)

      // A fresh window again, from the confirmation.
      clock(9 * MINUTE)
      await p.goto(url('/settings'))
      assert.equal(p.url(), url('/settings'))
    } finally {
      await ctx.close()
    }
  })

  test('idle timeout: a login not used for IDLE_TIMEOUT is logged out and told why; a remembered one comes back, not fresh', async () => {
    const forgotten = await freshBrowser()
    const remembered = await freshBrowser()
    try {
      await logIn(forgotten.page, 'user1')
      await logIn(remembered.page, 'user2', { remember: true })
      clock(32 * MINUTE) // IDLE_TIMEOUT is 30 minutes; visits are recorded once a minute

      await forgotten.page.goto(url('/'))
      assert.equal(await text(forgotten.page, '#status'), 'You are not logged in')
      assert.equal(await text(forgotten.page, '.message'), 'You were logged out after 30 minutes without using the site.')
      await shot(forgotten.page, 'idle-timeout-home')

      await remembered.page.goto(url('/'))
      assert.equal(await text(remembered.page, '#status'), 'Logged in as user2')
      assert.match(await text(remembered.page, '#login-details'), /Fresh login: no\./)
      assert.equal(await remembered.page.locator('.message').count(), 0, 'nothing to tell: still logged in')
    } finally {
      await forgotten.ctx.close()
      await remembered.ctx.close()
    }
  })

  test('an admin acts as user2: a banner on every page, never their settings, and Stop goes back to the admin', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await logIn(p, 'user1')
      await p.goto(url('/admin'))
      assert.equal(await p.locator('#confirm-first').count(), 0, 'fresh: no password asked first')
      const users = await rows(p, '#users tr.user')
      assert.match(users[0], /^user1 \(you\)\tadmin\s*$/)
      assert.match(users[1], /^user2\tuser\tAct as user2$/)
      await shot(p, 'admin-users')

      await submit(p, '#users tr.user:has-text("user2") .act-as')
      assert.equal(p.url(), url('/'))
      assert.equal(await text(p, '#status'), 'Logged in as user2')
      assert.match(await text(p, '#acting'), /^You are acting as user2 — Stop/)
      assert.match(await text(p, '#acting'), /You are logged in as user1\./)
      await shot(p, 'acting-as-user2-home')

      // Every page is user2's, with the banner.
      await p.goto(url('/protected'))
      assert.match(await text(p, '#protected'), /Hi user2/)
      assert.equal(await p.locator('#acting').count(), 1)
      await p.goto(url('/account/sessions'))
      assert.match(await text(p, '#logins tr.current'), /Chrome on Linux \(this device\)[\s\S]*user1 acting as you/)
      await shot(p, 'acting-as-user2-sessions')

      // Not user2's settings: they need user2's own password, which the admin cannot give.
      await p.goto(url('/settings'))
      assert.equal(p.url(), url('/reauth?next=%2Fsettings'))
      assert.equal(await text(p, 'h1'), 'Not while acting as someone')
      assert.match(await text(p, '#error-message'), /Stop acting as them first\./)
      assert.equal(await p.locator('#acting').count(), 1, 'the banner is on the refusal too')
      await shot(p, 'acting-as-user2-settings-refused')
      // Nor the admin page: user2 is no admin.
      await p.goto(url('/admin'))
      assert.equal(await text(p, 'h1'), 'Not allowed')

      // Stop: back to user1, on the admin page, fresh as before.
      await p.goto(url('/'))
      await submit(p, '#stop-acting')
      assert.equal(p.url(), url('/admin'))
      assert.equal(await text(p, '.message'), 'You stopped acting as user2. You are user1 again.')
      assert.equal(await p.locator('#acting').count(), 0)
      assert.match(await text(p, '#admin'), /Hi user1/)
      await shot(p, 'stopped-acting')
      await p.goto(url('/'))
      assert.match(await text(p, '#login-details'), /Fresh login: yes\./)

      // user2's history says who acted as them.
      const history = await app.loginManager.listLogins(2, { ended: true })
      assert.equal(history[0].method, 'impersonation')
      assert.equal(history[0].impersonatorId, '1')
      assert.equal(history[0].endReason, 'logout')
    } finally {
      await ctx.close()
    }
  })

  test('an admin whose password is not fresh confirms it before acting as someone', async () => {
    const { ctx, page: p } = await freshBrowser()
    try {
      await logIn(p, 'user1')
      clock(11 * MINUTE)
      await p.goto(url('/admin'))
      assert.match(await text(p, '#confirm-first'), /You will be asked for your password first\./)

      await submit(p, '#users tr.user:has-text("user2") .act-as')
      assert.equal(p.url(), url('/reauth?next=%2Fadmin'))
      assert.equal(await text(p, '.message'), 'Please confirm your password to act as another user.')
      await shot(p, 'admin-confirm-password-first')
      await p.fill('#reauth-form [name=password]', 'password')
      await submit(p, '#reauth-submit')
      assert.equal(p.url(), url('/admin'))
      assert.equal(await p.locator('#confirm-first').count(), 0)

      await submit(p, '#users tr.user:has-text("user2") .act-as')
      assert.match(await text(p, '#acting'), /^You are acting as user2 — Stop/)
      await submit(p, '#stop-acting')
      assert.equal(await text(p, '.message'), 'You stopped acting as user2. You are user1 again.')
    } finally {
      await ctx.close()
    }
  })
})
