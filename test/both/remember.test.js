'use strict'

// Remember-me: the cookie's attributes, the restore after a browser restart, and
// every line of the README's "The remember-me cookie" (under Security) and of its
// `remember` options. On the run's session plugin
// (@fastify/session's memory store, or @fastify/secure-session's encrypted cookie),
// real @fastify/cookie; the only thing recorded is what the loader is asked and what
// fastify.loginManager reports.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { createCipheriv, hkdfSync, randomBytes } = require('node:crypto')
const { Signer } = require('@fastify/cookie')
const { buildApp, createJar, setCookies, isCleared, USERS, REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE } = require('../helper')

const REMEMBER = 'remember_token'
const SESSION = SESSION_COOKIE
const DAY = 24 * 60 * 60 * 1000
const THIRTY_DAYS_S = 30 * 24 * 60 * 60
const OTHER_SECRET = 'another-remember-secret-that-is-long-enough-9876543210'
const OLD_SECRET = 'an-old-remember-secret-that-is-long-enough-0000000000'
const NEW_SECRET = 'a-new-remember-secret-that-is-long-enough-1111111111'
const HTTPS = { 'x-forwarded-proto': 'https' }

const apps = []
after(() => Promise.all(apps.map((app) => app.close())))

/** A private copy of the helper's users, so tests can deactivate, delete or re-version them. */
function cloneUsers (extra = {}) {
  return new Map([...USERS].map(([id, user]) => [id, { ...user, ...extra }]))
}

/**
 * An app with remember-me on, a loader that records every id it is asked for, and the
 * loginManager's remember events counted.
 */
async function createApp ({ remember = {}, login = {}, users = cloneUsers(), routes, fastify } = {}) {
  const calls = []
  const events = { rejected: [], restored: [], protected: [] }
  const app = await buildApp({
    users,
    fastify,
    routes,
    login: {
      loadUser: async (id) => {
        calls.push(id)
        return users.get(id) ?? null
      },
      remember: { secret: REMEMBER_SECRET, ...remember },
      ...login
    }
  })
  apps.push(app)
  app.loginManager.on('rememberRejected', (request, reason) => events.rejected.push(reason))
  app.loginManager.on('loadedFromRemember', (request, user) => events.restored.push(user))
  app.loginManager.on('sessionProtected', (request, mode) => events.protected.push(mode))
  return { app, calls, events, users }
}

/** The one Set-Cookie for `name` in the response, or undefined. */
function cookieOf (res, name = REMEMBER) {
  const found = setCookies(res).filter((c) => c.name === name)
  assert.ok(found.length <= 1, `at most one Set-Cookie for ${name}, got ${found.map((c) => c.raw).join(' | ')}`)
  return found[0]
}

/** Logs `id` in with remember-me; returns the jar and the remember cookie as set. */
async function loginRemembered (app, id = 1, extra = {}, headers = {}) {
  const jar = createJar(app)
  const res = await jar.post('/login', { id, remember: true, ...extra }, { headers })
  assert.equal(res.statusCode, 200, res.body)
  assert.deepEqual(res.json(), { ok: true })
  const cookie = cookieOf(res)
  assert.ok(cookie && !isCleared(cookie), `login with remember sets ${REMEMBER}: ${res.headers['set-cookie']}`)
  return { jar, cookie, value: cookie.value, res }
}

/** loginRemembered for an app with a custom cookie name. */
async function loginRememberedAs (app, name) {
  const res = await app.inject({ method: 'POST', url: '/login', payload: { id: 1, remember: true } })
  const cookie = cookieOf(res, name)
  assert.ok(cookie && !isCleared(cookie), res.headers['set-cookie'])
  return { value: cookie.value, cookie }
}

/** A request that carries only the remember cookie: a browser restarted, its session cookie gone. */
function withRemember (app, value, { url = '/me', name = REMEMBER, headers = {} } = {}) {
  return app.inject({ method: 'GET', url, headers: { ...headers, cookie: `${name}=${value}` } })
}

function assertNoStore (res) {
  assert.equal(res.headers['cache-control'], 'no-store', 'Cache-Control: no-store')
  assert.match(String(res.headers.vary ?? ''), /(^|,)\s*cookie\s*(,|$)/i, `Vary names Cookie, got ${res.headers.vary}`)
}

/** Anonymous, the remember cookie expired with the given path and domain, never a 5xx. */
function assertRejected (res, { name = REMEMBER, path = '/', domain } = {}) {
  assert.ok(res.statusCode < 500, `never a 5xx, got ${res.statusCode} ${res.body}`)
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.equal(body.user, null, 'anonymous')
  assert.equal(body.authenticatedBy, null)
  const cleared = cookieOf(res, name)
  assert.ok(cleared, `the response clears ${name}: set-cookie ${JSON.stringify(res.headers['set-cookie'])}`)
  assert.ok(isCleared(cleared), `${name} is expired in the response: ${cleared.raw}`)
  assert.equal(cleared.path, path, `cleared with Path=${path}: ${cleared.raw}`)
  assert.equal(cleared.domain, domain, `cleared with Domain=${domain}: ${cleared.raw}`)
  assertNoStore(res)
}

function assertLoader (calls, issued) {
  for (const id of calls) {
    assert.equal(typeof id, 'string', `loader called with a ${typeof id}: ${String(id)}`)
    assert.ok(issued.includes(id), `loader called with ${JSON.stringify(id)}, not an id that was issued`)
  }
}

const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
const middle = (s) => Math.floor(s.length / 2)
const encodeAll = (s) => [...Buffer.from(s, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('')

// The stateless cookie, format 3: `3.<base64url(iv ‖ AES-256-GCM(payload) ‖ tag)>`.
const FORMAT_3 = /^3\.[A-Za-z0-9_-]+$/
const IV = 12
const TAG = 16
const BASE64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const sealedOf = (v) => v.slice(2)
const sealedBytes = (v) => Buffer.from(sealedOf(v), 'base64url')

/** `<expiry>.<lifetime>.<version>.<id>` sealed with AES-256-GCM under a key derived from `secret` with `info`, base64url. */
function seal (secret, info, id) {
  const key = Buffer.from(hkdfSync('sha256', secret, 'fastify-login', info, 32))
  const payload = `${Math.ceil((Date.now() + 30 * DAY) / 1000).toString(36)}.${(30 * 24 * 3600).toString(36)}..${id}`
  const iv = randomBytes(IV)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  return Buffer.concat([iv, cipher.update(payload, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
}

/** A cookie as 0.2 issued it (format 1): the sealed payload under the 0.2 key, then an HMAC of `1.<sealed>`. */
const format1Cookie = (secret, id) => new Signer(secret).sign(`1.${seal(secret, 'remember-me cookie v1', id)}`)
/** A cookie as this version issues it for the default key, made from the secret. */
const format3Cookie = (secret, id) => `3.${seal(secret, 'remember-me cookie v3 for login', id)}`

describe('the remember cookie as set at login', () => {
  test('defaults: remember_token, HttpOnly, SameSite=Lax, Path=/, Max-Age and Expires of 30 days, no Secure over http', async () => {
    const { app } = await createApp()
    const start = Date.now()
    const { cookie, res } = await loginRemembered(app)
    assert.equal(cookie.name, 'remember_token')
    assert.equal(cookie.httpOnly, true, cookie.raw)
    assert.equal(String(cookie.sameSite).toLowerCase(), 'lax', cookie.raw)
    assert.equal(cookie.path, '/', cookie.raw)
    assert.equal(cookie.domain, undefined, cookie.raw)
    assert.equal(cookie.secure, undefined, `no Secure over plain http: ${cookie.raw}`)
    assert.ok(Math.abs(cookie.maxAge - THIRTY_DAYS_S) <= 1, `Max-Age ~ 30 days: ${cookie.raw}`)
    const expires = new Date(cookie.expires).getTime()
    assert.ok(expires >= start + 30 * DAY - 2000 && expires <= Date.now() + 30 * DAY + 1000, `Expires ~ now + 30 days: ${cookie.raw}`)
    assertNoStore(res)
  })

  test('Secure is set when the request is https (trustProxy, X-Forwarded-Proto: https)', async () => {
    const { app } = await createApp({ fastify: { trustProxy: true } })
    const { cookie } = await loginRemembered(app, 1, {}, HTTPS)
    assert.equal(cookie.secure, true, `Secure over https: ${cookie.raw}`)
    assert.equal(cookie.httpOnly, true)
  })

  test('loginUser maxAge overrides remember.maxAge for this login', async () => {
    const { app } = await createApp()
    const start = Date.now()
    const { cookie } = await loginRemembered(app, 1, { maxAge: 60 * 60 * 1000 })
    assert.ok(Math.abs(cookie.maxAge - 3600) <= 1, `Max-Age ~ 1 hour: ${cookie.raw}`)
    const expires = new Date(cookie.expires).getTime()
    assert.ok(expires >= start + 3600000 - 2000 && expires <= Date.now() + 3600000 + 1000, `Expires ~ now + 1 hour: ${cookie.raw}`)
  })

  test('remember.maxAge sets the default lifetime', async () => {
    const { app } = await createApp({ remember: { maxAge: 7 * DAY } })
    const { cookie } = await loginRemembered(app)
    assert.ok(Math.abs(cookie.maxAge - 7 * 24 * 3600) <= 1, `Max-Age ~ 7 days: ${cookie.raw}`)
  })

  test('custom cookieName, path, domain and sameSite show up on the cookie', async () => {
    const { app } = await createApp({ remember: { cookieName: 'keep_me', path: '/app', domain: 'example.com', sameSite: 'strict' } })
    const jar = createJar(app)
    const res = await jar.post('/login', { id: 1, remember: true })
    assert.equal(cookieOf(res, REMEMBER), undefined, 'no remember_token under a custom name')
    const cookie = cookieOf(res, 'keep_me')
    assert.ok(cookie && !isCleared(cookie), res.headers['set-cookie'])
    assert.equal(cookie.path, '/app')
    assert.equal(cookie.domain, 'example.com')
    assert.equal(String(cookie.sameSite).toLowerCase(), 'strict')
    assert.equal(cookie.httpOnly, true)
  })

  test('the login response keeps the Set-Cookie headers the route set itself, and is no-store / Vary: Cookie', async () => {
    const { app } = await createApp({
      routes: async (app) => {
        app.post('/login-with-extras', async (request, reply) => {
          reply.header('set-cookie', 'raw_tracker=abc; Path=/')
          reply.setCookie('theme', 'dark', { path: '/' })
          await reply.loginUser(USERS.get('1'), { remember: true })
          return { ok: true }
        })
      }
    })
    const res = await app.inject({ method: 'POST', url: '/login-with-extras' })
    assert.equal(res.statusCode, 200)
    const names = setCookies(res).map((c) => c.name).sort()
    assert.deepEqual(names, ['raw_tracker', REMEMBER, SESSION, 'theme'].sort(), JSON.stringify(res.headers['set-cookie']))
    assertNoStore(res)
  })
})

describe('restore after a browser restart', () => {
  test('session cookie gone: logged in by remember, not fresh, new session written, loadedFromRemember once', async () => {
    const { app, events } = await createApp()
    const { jar } = await loginRemembered(app)
    const loginSession = jar.cookies[SESSION]
    delete jar.cookies[SESSION]

    const res = await jar.get('/me')
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { user: USERS.get('1'), authenticatedBy: 'remember', fresh: false })
    assertNoStore(res)
    const newSession = cookieOf(res, SESSION)
    assert.ok(newSession && !isCleared(newSession), `a restore sets a session cookie: ${res.headers['set-cookie']}`)
    assert.notEqual(newSession.value, loginSession)
    assert.equal(events.restored.length, 1)

    // The login is in the session now: without the remember cookie the browser stays logged in,
    // and with it the cookie is not verified again.
    delete jar.cookies[REMEMBER]
    const next = await jar.get('/me')
    assert.deepEqual(next.json(), { user: USERS.get('1'), authenticatedBy: 'session', fresh: false })
    assert.equal(events.restored.length, 1, 'no second restore')
    assert.equal(events.rejected.length, 0, 'nothing rejected')
  })

  test('after a restore the remember cookie is not checked again on every request', async () => {
    const { app, events } = await createApp()
    const { jar } = await loginRemembered(app)
    delete jar.cookies[SESSION]
    await jar.get('/me')
    assert.ok(jar.cookies[REMEMBER] && jar.cookies[SESSION])
    for (let i = 0; i < 3; i++) {
      const res = await jar.get('/me')
      assert.equal(res.json().authenticatedBy, 'session')
      assert.equal(cookieOf(res), undefined, 'no remember cookie in the response')
    }
    assert.equal(events.restored.length, 1)
    assert.equal(events.rejected.length, 0)
  })

  test('a restore changes the id of the anonymous session the browser already had; the old id is dead', async () => {
    const { app } = await createApp()
    const { value } = await loginRemembered(app)

    const jar = createJar(app)
    await jar.post('/session/cart', { value: 'apples' })
    const anonymousSession = jar.cookies[SESSION]
    assert.ok(anonymousSession, 'an anonymous session exists')
    jar.cookies[REMEMBER] = value
    const res = await jar.get('/me')
    assert.equal(res.json().authenticatedBy, 'remember')
    assert.ok(jar.cookies[SESSION] && jar.cookies[SESSION] !== anonymousSession, 'the session id changed')

    assert.equal((await jar.get('/session/cart')).json().value, null, 'the restored session starts without the anonymous data')

    const replay = await app.inject({ url: '/me', cookies: { [SESSION]: anonymousSession } })
    assert.equal(replay.json().user, null, 'the pre-restore session id is anonymous')
    const replayCart = await app.inject({ url: '/session/cart', cookies: { [SESSION]: anonymousSession } })
    if (SESSION_KIND === 'stored') {
      assert.equal(replayCart.json().value, null, 'the pre-restore session is gone from the store')
    } else {
      // No store to remove it from: a copy of the anonymous cookie still carries its own
      // data (never the login, as the replay above shows). The documented limit.
      assert.equal(replayCart.json().value, 'apples')
    }
  })

  test("sessionProtection 'strong': the restored user is not thrown out on the next request (fingerprint stored at restore)", async () => {
    const { app, events } = await createApp({ login: { sessionProtection: 'strong' } })
    const { jar } = await loginRemembered(app, 1, {}, { 'user-agent': 'Browser/1.0' })
    delete jar.cookies[SESSION]
    // The browser was updated while closed: restore from another User-Agent than the login's.
    const ua = { headers: { 'user-agent': 'Browser/2.0' } }
    const restored = await jar.get({ url: '/me', ...ua })
    assert.equal(restored.json().authenticatedBy, 'remember')
    delete jar.cookies[REMEMBER]
    const next = await jar.get({ url: '/me', ...ua })
    assert.deepEqual(next.json(), { user: USERS.get('1'), authenticatedBy: 'session', fresh: false })
    const again = await jar.get({ url: '/private', ...ua })
    assert.equal(again.statusCode, 200)
    assert.deepEqual(events.protected, [])
  })

  test('freshLoginRequired refuses a restored login; loginRequired accepts it', async () => {
    const { app } = await createApp()
    const { jar } = await loginRemembered(app)
    delete jar.cookies[SESSION]
    const fresh = await jar.get('/fresh')
    assert.equal(fresh.statusCode, 401)
    assert.equal(fresh.json().code, 'FST_LOGIN_FRESH_REQUIRED')
    const priv = await jar.get('/private')
    assert.equal(priv.statusCode, 200)
    assert.equal(priv.json().user.id, 1)
    const freshAgain = await jar.get('/fresh')
    assert.equal(freshAgain.statusCode, 401, 'still stale on the session the restore wrote')
  })

  test('the restore response is no-store / Vary: Cookie and keeps the route\'s own Set-Cookie', async () => {
    const { app } = await createApp({
      routes: async (app) => {
        app.get('/page', async (request, reply) => {
          reply.setCookie('theme', 'dark', { path: '/' })
          return { user: request.user }
        })
      }
    })
    const { value } = await loginRemembered(app)
    const res = await withRemember(app, value, { url: '/page' })
    assert.equal(res.json().user.id, 1)
    assertNoStore(res)
    const names = setCookies(res).map((c) => c.name)
    assert.ok(names.includes('theme'), `route cookie kept: ${res.headers['set-cookie']}`)
    assert.ok(names.includes(SESSION), `new session cookie: ${res.headers['set-cookie']}`)
  })

  test('a restore on a route that sets its own Cache-Control / Vary is still no-store and Vary: Cookie', async () => {
    // The restore sets a new session cookie: a shared cache that keeps this response hands the login to others.
    const { app } = await createApp({
      routes: async (app) => {
        app.get('/public', async (request, reply) => {
          reply.header('cache-control', 'public, max-age=600')
          reply.header('vary', 'Accept-Encoding')
          return { user: request.user }
        })
      }
    })
    const { value } = await loginRemembered(app)
    const res = await withRemember(app, value, { url: '/public' })
    assert.equal(res.json().user.id, 1)
    assert.ok(cookieOf(res, SESSION), 'the restore sets a session cookie')
    assertNoStore(res)
  })
})

describe('remember cookies that do not verify: anonymous, cleared, never a 5xx, the loader only sees issued string ids', () => {
  let ctx
  let valid
  let valid1b
  let validUser2
  let wrongSecret
  let otherKey
  let registryToken
  let withUrlChars

  before(async () => {
    ctx = await createApp()
    valid = (await loginRemembered(ctx.app, 1)).value
    valid1b = (await loginRemembered(ctx.app, 1)).value
    validUser2 = (await loginRemembered(ctx.app, 2)).value
    const other = await createApp({ remember: { secret: OTHER_SECRET } })
    wrongSecret = (await loginRemembered(other.app, 1)).value
    // The same secret, another registration: its cookies are sealed with another key.
    const staff = await createApp({ login: { key: 'staff' } })
    otherKey = (await loginRemembered(staff.app, 1)).value
    // The same secret under the login registry: a format 4 token.
    const registry = await createApp({ login: { logins: true } })
    registryToken = (await loginRemembered(registry.app, 1)).value
    // A cookie whose sealed part has base64url-only characters, to re-encode it in standard base64.
    for (let i = 0; i < 200 && !withUrlChars; i++) {
      const { value } = await loginRemembered(ctx.app, 1)
      if (/[-_]/.test(sealedOf(value))) withUrlChars = value
    }
    assert.ok(withUrlChars, 'found a cookie to re-encode')
    for (const value of [valid, valid1b, validUser2, wrongSecret, otherKey]) assert.match(value, FORMAT_3, 'format 3')
    assert.match(registryToken, /^4\.[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]{43}$/, 'format 4')
    ctx.calls.length = 0
  })

  // Byte-level changes of the sealed part (iv ‖ ciphertext ‖ tag), spelled back in
  // canonical base64url: these reach AES-GCM, which must refuse them ('signature').
  const edit = (v, change) => { const b = sealedBytes(v); change(b); return '3.' + b.toString('base64url') }
  const pieces = (v) => { const b = sealedBytes(v); return { iv: b.subarray(0, IV), ciphertext: b.subarray(IV, b.length - TAG), tag: b.subarray(b.length - TAG) } }
  const sealFrom = (...buffers) => '3.' + Buffer.concat(buffers).toString('base64url')
  /** The first character of the expiry that starts the payload, as sealed 30 days from now. */
  const expiryHead = () => Math.ceil((Date.now() + 30 * DAY) / 1000).toString(36)[0]
  /** The same bytes in another spelling: the last character's unused low bits set. */
  const lowBitsSet = (v) => {
    const sealed = sealedOf(v)
    assert.notEqual(sealedBytes(v).length % 3, 0, 'the last character has unused bits')
    const last = BASE64URL_CHARS.indexOf(sealed.at(-1))
    return `3.${sealed.slice(0, -1)}${BASE64URL_CHARS[last | 1]}`
  }

  // [name, the bad value from the valid cookie of user 1, the reason rememberRejected gives]
  const cases = [
    // tampered: each part of iv ‖ AES-GCM(payload) ‖ tag
    ['tampered: the format digit changed to a letter', (v) => flip(v, 0), 'malformed'],
    ['tampered: a character in the middle of the sealed part flipped', (v) => `3.${flip(sealedOf(v), middle(sealedOf(v)))}`, 'signature'],
    ['tampered: a bit of the IV flipped', (v) => edit(v, (b) => { b[0] ^= 1 }), 'signature'],
    ['tampered: a bit of the ciphertext flipped', (v) => edit(v, (b) => { b[IV + 3] ^= 0x10 }), 'signature'],
    ['tampered: the expiry rewritten to a later one by XOR on the ciphertext (AES-GCM is a stream cipher)',
      (v) => edit(v, (b) => { b[IV] ^= expiryHead().charCodeAt(0) ^ 'z'.charCodeAt(0) }), 'signature'],
    ['tampered: the first byte of the tag flipped', (v) => edit(v, (b) => { b[b.length - TAG] ^= 1 }), 'signature'],
    ['tampered: the last byte of the tag flipped', (v) => edit(v, (b) => { b[b.length - 1] ^= 0x80 }), 'signature'],
    ['tampered: the tag zeroed', (v) => edit(v, (b) => { b.fill(0, b.length - TAG) }), 'signature'],
    // spliced: two users' (or two logins') sealed parts
    ['spliced: user 2\'s ciphertext between user 1\'s IV and tag', (v) => sealFrom(pieces(v).iv, pieces(validUser2).ciphertext, pieces(v).tag), 'signature'],
    ['spliced: user 1\'s IV before user 2\'s ciphertext and tag', (v) => sealFrom(pieces(v).iv, pieces(validUser2).ciphertext, pieces(validUser2).tag), 'signature'],
    ['spliced: user 2\'s tag after user 1\'s IV and ciphertext', (v) => sealFrom(pieces(v).iv, pieces(v).ciphertext, pieces(validUser2).tag), 'signature'],
    ['spliced: the first half of one cookie of user 1 and the second half of another', (v) => { const m = middle(sealedOf(v)); return `3.${sealedOf(v).slice(0, m)}${sealedOf(valid1b).slice(m)}` }, 'signature'],
    // truncated
    ['truncated: the last character dropped', (v) => v.slice(0, -1), 'malformed'],
    ['truncated: the last 4 bytes of the tag dropped (a short GCM tag)', (v) => sealFrom(sealedBytes(v).subarray(0, -4)), 'signature'],
    ['truncated: the tag dropped', (v) => sealFrom(pieces(v).iv, pieces(v).ciphertext), 'malformed'],
    ['truncated: the ciphertext dropped, IV and tag kept', (v) => sealFrom(pieces(v).iv, pieces(v).tag), 'malformed'],
    ['truncated: the last byte of the ciphertext dropped', (v) => sealFrom(pieces(v).iv, pieces(v).ciphertext.subarray(0, -1), pieces(v).tag), 'signature'],
    ['truncated: half the cookie', (v) => v.slice(0, middle(v)), 'malformed'],
    // extended
    ['extended: a character appended', (v) => v + 'A', 'signature'],
    ['extended: base64 padding appended', (v) => v + '==', 'malformed'],
    ['extended: a byte appended after the tag', (v) => sealFrom(sealedBytes(v), Buffer.from([0])), 'signature'],
    ['extended: the IV sent twice', (v) => sealFrom(pieces(v).iv, sealedBytes(v)), 'signature'],
    ['extended: a second sealed part after a dot', (v) => `${v}.${sealedOf(valid1b)}`, 'malformed'],
    ['extended: a 0.2 signature segment appended', (v) => `${v}.${'A'.repeat(43)}`, 'malformed'],
    ['extended: the format prefix repeated', (v) => '3.' + v, 'malformed'],
    // re-encoded: the same bytes in any other spelling
    ['re-encoded: percent-encoded twice (the cookie parser undoes only one)', (v) => encodeAll(v).replace(/%/g, '%25'), 'malformed'],
    ['re-encoded: the dot percent-encoded twice', (v) => v.replace(/\./g, '%252E'), 'malformed'],
    ['re-encoded: the sealed part in standard base64 instead of base64url', () => `3.${sealedOf(withUrlChars).replace(/-/g, '+').replace(/_/g, '/')}`, 'malformed'],
    ['re-encoded: the sealed part in standard base64 with its padding', (v) => `3.${sealedBytes(v).toString('base64')}`, 'malformed'],
    ['re-encoded: the unused low bits of the last character set (the same bytes)', (v) => lowBitsSet(v), 'malformed'],
    ['re-encoded: the whole cookie base64-encoded', (v) => Buffer.from(v).toString('base64url'), 'malformed'],
    ['re-encoded: the whole cookie percent-encoded twice, separators included', (v) => encodeURIComponent(encodeURIComponent(v + ';')), 'malformed'],
    // empty
    ['empty value', () => '', 'malformed'],
    ['only blanks (trimmed to empty by the parser)', () => '   ', 'malformed'],
    // oversized
    ['oversized: 5 KB of base64url', () => 'A'.repeat(5 * 1024), 'malformed'],
    ['oversized: a valid cookie padded to 5 KB', (v) => v + 'A'.repeat(5 * 1024), 'malformed'],
    ['oversized: a 5 KB segment after a valid cookie', (v) => `${v}.${'B'.repeat(5 * 1024)}`, 'malformed'],
    ['oversized: a 4,000-character sealed part, under the size limit', () => '3.' + 'A'.repeat(4000), 'signature'],
    // non-ASCII
    ['non-ASCII: raw é inside the sealed part', (v) => `3.${sealedOf(v).slice(0, 10)}é${sealedOf(v).slice(11)}`, 'malformed'],
    ['non-ASCII: percent-encoded UTF-8 é inside the sealed part', (v) => `3.${sealedOf(v).slice(0, 10)}%C3%A9${sealedOf(v).slice(10)}`, 'malformed'],
    ['non-ASCII: a snowman appended', (v) => v + '\u2603', 'malformed'],
    ['non-ASCII: a fullwidth digit three as the format', (v) => '\uFF13' + v.slice(1), 'malformed'],
    ['non-ASCII: invalid percent-encoded UTF-8', (v) => v + '%C3%28%FF', 'malformed'],
    // control characters
    ['control character: NUL (percent-encoded) appended', (v) => v + '%00', 'malformed'],
    ['control character: raw \\x01 inside the tag', (v) => `${v.slice(0, -5)}\u0001${v.slice(-5)}`, 'malformed'],
    ['control character: CR LF (percent-encoded) inside', (v) => `3.${sealedOf(v).slice(0, 20)}%0D%0A${sealedOf(v).slice(20)}`, 'malformed'],
    ['control character: a tab inside', (v) => `3.${sealedOf(v).slice(0, 20)}\t${sealedOf(v).slice(20)}`, 'malformed'],
    ['control character: DEL appended', (v) => v + '%7F', 'malformed'],
    // wrong secret or key
    ['wrong secret: a well-formed cookie for user 1 from an app with another secret', () => wrongSecret, 'signature'],
    ['wrong key: a cookie for user 1 of another registration (key \'staff\') under the same secret', () => otherKey, 'signature'],
    // older formats
    ['older format: a 0.2 cookie (1.<sealed>.<signature>) for user 1 under this very secret', () => format1Cookie(REMEMBER_SECRET, '1'), 'malformed'],
    ['older format: that 0.2 cookie\'s sealed part under the 3. prefix (sealed with the 0.2 key)', () => `3.${format1Cookie(REMEMBER_SECRET, '1').split('.')[1]}`, 'signature'],
    ['older format: a login registry token (4.<selector>.<validator>.<signature>) under this very secret', () => registryToken, 'malformed'],
    // wrong format
    ['wrong format: version 4 prefix', (v) => '4' + v.slice(1), 'malformed'],
    ['wrong format: version 2 prefix', (v) => '2' + v.slice(1), 'malformed'],
    ['wrong format: version 0 prefix', (v) => '0' + v.slice(1), 'malformed'],
    ['wrong format: no version prefix', (v) => v.slice(2), 'malformed'],
    ['wrong format: only the prefix', () => '3.', 'malformed'],
    ['wrong format: empty parts', () => '3..', 'malformed'],
    ['wrong format: a lone dot', () => '.', 'malformed'],
    ['wrong format: only the version', () => '3', 'malformed'],
    ['wrong format: an empty part before the sealed one', (v) => `3..${sealedOf(v)}`, 'malformed'],
    ['wrong format: 32 zero bytes, well-formed', () => '3.' + Buffer.alloc(32).toString('base64url'), 'signature'],
    ['wrong format: Flask-Login style 1|abc', () => '1|abc', 'malformed'],
    ['wrong format: Flask-Login style id|sha512 digest', () => '1|' + 'ab'.repeat(64), 'malformed'],
    ['wrong format: a bare user id', () => '1', 'malformed'],
    ['wrong format: an unsigned JWT', () => 'eyJhbGciOiJub25lIn0.eyJpZCI6MX0.', 'malformed'],
    ['wrong format: an @fastify/cookie signed value of the id', () => '1.' + 'A'.repeat(43), 'malformed'],
    // JSON-poisoned
    ['JSON-poisoned: {"__proto__":{"admin":true}}', () => '{"__proto__":{"admin":true}}', 'malformed'],
    ['JSON-poisoned: percent-encoded {"__proto__":{"admin":true}}', () => encodeURIComponent('{"__proto__":{"admin":true}}'), 'malformed'],
    ['JSON-poisoned: __proto__', () => '__proto__', 'malformed'],
    ['JSON-poisoned: constructor', () => 'constructor', 'malformed'],
    ['JSON-poisoned: __proto__ as the sealed part', () => '3.__proto__', 'malformed'],
    ['JSON-poisoned: a sealed part that decodes to {"__proto__":{"admin":true},"id":"1"}', () => '3.' + Buffer.from('{"__proto__":{"admin":true},"id":"1"}').toString('base64url'), 'signature'],
    ['JSON-poisoned: express-style j:{"id":1}', () => 'j:{"id":1}', 'malformed'],
    ['JSON-poisoned: {"id":"1","constructor":{"prototype":{"admin":true}}}', () => '{"id":"1","constructor":{"prototype":{"admin":true}}}', 'malformed'],
    ['JSON-poisoned: an array [1]', () => '[1]', 'malformed']
  ]

  for (const [name, make, reason] of cases) {
    test(name, async () => {
      const value = make(valid)
      assert.notEqual(value, valid)
      const rejectedBefore = ctx.events.rejected.length
      const callsBefore = ctx.calls.length
      const res = await withRemember(ctx.app, value)
      assertRejected(res)
      assert.deepEqual(ctx.events.rejected.slice(rejectedBefore), [reason], 'rememberRejected emitted once, with its reason')
      assert.equal(ctx.events.restored.length, 0, 'never restored')
      assertLoader(ctx.calls.slice(callsBefore), ['1', '2'])
    })
  }

  test('JSON-poisoned cookie names (__proto__, constructor) next to a bad remember cookie', async () => {
    const res = await ctx.app.inject({
      url: '/me',
      headers: { cookie: '__proto__={"admin":true}; constructor=x; remember_token=__proto__; prototype=1' }
    })
    assertRejected(res)
    assert.equal({}.admin, undefined, 'Object.prototype untouched')
  })

  test('the unmodified cookies still work (the cases above are rejected for what they changed)', async () => {
    const one = await withRemember(ctx.app, valid)
    assert.equal(one.json().user.id, 1)
    const two = await withRemember(ctx.app, validUser2)
    assert.equal(two.json().user.id, 2)
    for (const v of [valid1b, withUrlChars]) {
      assert.equal((await withRemember(ctx.app, v)).json().user.id, 1)
    }
    // The format the older cases are built with is faithful: sealed as format 3 with the
    // secret, the same payload logs in. The 0.2 cookie above is refused for its format alone.
    assert.equal((await withRemember(ctx.app, format3Cookie(REMEMBER_SECRET, '1'))).json().user.id, 1)
    assertLoader(ctx.calls, ['1', '2'])
  })

  test('cleared with the custom path and domain the cookie is set with', async () => {
    const { app, events } = await createApp({
      remember: { cookieName: 'keep_me', path: '/app', domain: 'example.com' },
      routes: async (app) => {
        app.get('/app/me', async (request) => ({ user: request.user, authenticatedBy: request.authenticatedBy }))
      }
    })
    const { value } = await loginRememberedAs(app, 'keep_me')
    for (const bad of [flip(value, middle(value)), value.slice(0, -3), '', '2' + value.slice(1), '{"__proto__":{"admin":true}}', 'x'.repeat(5000)]) {
      const res = await withRemember(app, bad, { url: '/app/me', name: 'keep_me' })
      assertRejected(res, { name: 'keep_me', path: '/app', domain: 'example.com' })
    }
    assert.equal(events.rejected.length, 6)
  })
})

describe('expiry, revocation, rotation', () => {
  test('the expiry is enforced by the server: a cookie replayed after maxAge is anonymous and cleared', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app, events, calls } = await createApp()
    const res = await app.inject({ method: 'POST', url: '/login', payload: { id: 1, remember: true, maxAge: 1000 } })
    const value = cookieOf(res).value

    const early = await withRemember(app, value)
    assert.equal(early.json().authenticatedBy, 'remember', 'valid before it expires')

    t.mock.timers.tick(2100) // whole-second granularity: past the expiry whatever the rounding
    const callsBefore = calls.length
    const late = await withRemember(app, value)
    assertRejected(late)
    assert.deepEqual(events.rejected, ['expired'])
    assert.equal(calls.length, callsBefore, 'the loader is not asked for an expired cookie')
  })

  test('an authVersion change (password change) rejects old remember cookies and old sessions', async () => {
    const users = cloneUsers({ version: 1 })
    const { app, events } = await createApp({ users, login: { authVersion: (user) => user.version } })
    const { jar, value } = await loginRemembered(app)

    const before = await withRemember(app, value)
    assert.equal(before.json().authenticatedBy, 'remember', 'valid under the current version')

    users.get('1').version = 2
    const cookieOnly = await withRemember(app, value)
    assertRejected(cookieOnly)
    assert.equal(events.rejected.at(-1), 'version')

    const sessionOnly = await app.inject({ url: '/me', cookies: { [SESSION]: jar.cookies[SESSION] } })
    assert.equal(sessionOnly.json().user, null, 'the old session is rejected')

    const both = await jar.get('/me')
    assertRejected(both)
  })

  test('secret rotation: a cookie from an older secret in the list works and is re-issued under the first secret', async () => {
    const { app: oldApp } = await createApp({ remember: { secret: OLD_SECRET } })
    const { value, cookie } = await loginRemembered(oldApp)
    const originalExpiry = new Date(cookie.expires).getTime()

    const { app: rotating, events } = await createApp({ remember: { secret: [NEW_SECRET, OLD_SECRET] } })
    const res = await withRemember(rotating, value)
    assert.equal(res.json().user.id, 1)
    assert.equal(res.json().authenticatedBy, 'remember')
    const reissued = cookieOf(res)
    assert.ok(reissued && !isCleared(reissued), `re-issued: ${res.headers['set-cookie']}`)
    assert.notEqual(reissued.value, value)
    assert.ok(new Date(reissued.expires).getTime() <= originalExpiry + 1000, 'the re-issue does not extend the lifetime')
    assert.deepEqual(events.rejected, [])
    assertNoStore(res)

    const { app: newOnly, events: newEvents } = await createApp({ remember: { secret: NEW_SECRET } })
    const accepted = await withRemember(newOnly, reissued.value)
    assert.equal(accepted.json().authenticatedBy, 'remember', 'the re-issued cookie verifies under the new secret alone')
    assert.equal(accepted.json().user.id, 1)
    assert.deepEqual(newEvents.rejected, [])
  })

  test('secret rotation: once the old secret is removed from the list, its cookie is rejected and cleared', async () => {
    const { app: oldApp } = await createApp({ remember: { secret: OLD_SECRET } })
    const { value } = await loginRemembered(oldApp)
    const { app: newOnly, events, calls } = await createApp({ remember: { secret: [NEW_SECRET, OTHER_SECRET] } })
    const res = await withRemember(newOnly, value)
    assertRejected(res)
    assert.equal(events.rejected.length, 1)
    assert.deepEqual(calls, [])
  })
})

describe('which login wins, and what leaves the cookie alone', () => {
  test('a session login for user B wins over a remember cookie for user A', async () => {
    const { app, events, calls } = await createApp()
    const { value: rememberA } = await loginRemembered(app, 1)
    const jar = createJar(app)
    await jar.post('/login', { id: 2 })
    jar.cookies[REMEMBER] = rememberA
    calls.length = 0
    const res = await jar.get('/me')
    assert.deepEqual(res.json(), { user: USERS.get('2'), authenticatedBy: 'session', fresh: true })
    assert.deepEqual(calls, ['2'], 'user A is never loaded')
    assert.equal(events.restored.length, 0)
  })

  test('an invalid remember cookie does not block loadUserFromRequest (bearer token)', async () => {
    const { app, events } = await createApp({
      login: { loadUserFromRequest: async (request) => request.headers.authorization === 'Bearer token-2' ? USERS.get('2') : null }
    })
    const { value } = await loginRemembered(app)
    for (const bad of [flip(value, middle(value)), 'garbage', '']) {
      const res = await withRemember(app, bad, { headers: { authorization: 'Bearer token-2' } })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), { user: USERS.get('2'), authenticatedBy: 'request', fresh: false })
      const cleared = cookieOf(res)
      assert.ok(cleared && isCleared(cleared), 'the bad remember cookie is still cleared')
    }
    assert.equal(events.rejected.length, 3)
  })

  test('a login without remember never gets a remember cookie, refresh: true included', async () => {
    const { app } = await createApp({ remember: { refresh: true } })
    const jar = createJar(app)
    for (const payload of [{ id: 1 }, { id: 1, remember: false }]) {
      const res = await jar.post('/login', payload)
      // The login may expire a remember cookie (one on another path, or an earlier one), never set one.
      const set = cookieOf(res)
      assert.ok(set === undefined || isCleared(set), `no remember cookie: ${res.headers['set-cookie']}`)
      assert.equal(jar.cookies[REMEMBER], undefined)
      for (let i = 0; i < 2; i++) {
        const me = await jar.get('/me')
        assert.equal(me.json().authenticatedBy, 'session')
        assert.equal(cookieOf(me), undefined, 'refresh never creates a remember cookie')
      }
    }
    delete jar.cookies[SESSION]
    assert.equal((await jar.get('/me')).json().user, null)
  })

  test('a login without remember clears an existing remember cookie', async () => {
    const { app } = await createApp()
    const { jar } = await loginRemembered(app, 1)
    const res = await jar.post('/login', { id: 2 })
    const cleared = cookieOf(res)
    assert.ok(cleared && isCleared(cleared), `cleared: ${res.headers['set-cookie']}`)
    assert.equal(cleared.path, '/')
    assertNoStore(res)
    delete jar.cookies[SESSION]
    assert.equal(jar.cookies[REMEMBER], undefined)
    assert.equal((await jar.get('/me')).json().user, null)
  })

  test('refresh: true extends an existing remember cookie on each authenticated response', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app } = await createApp({ remember: { refresh: true } })
    const { jar, cookie } = await loginRemembered(app)
    let previous = new Date(cookie.expires).getTime()
    for (let i = 0; i < 3; i++) {
      t.mock.timers.tick(10_000)
      const res = await jar.get('/me')
      assert.equal(res.json().authenticatedBy, 'session')
      const refreshed = cookieOf(res)
      assert.ok(refreshed && !isCleared(refreshed), `refreshed on response ${i}: ${res.headers['set-cookie']}`)
      const expires = new Date(refreshed.expires).getTime()
      assert.ok(expires >= previous + 9000, `Expires moved forward: ${new Date(previous).toUTCString()} -> ${refreshed.expires}`)
      assertNoStore(res)
      previous = expires
    }
  })

  test('refresh: true keeps the lifetime a login chose with maxAge instead of stretching it to remember.maxAge', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const { app } = await createApp({ remember: { refresh: true } })
    const { jar } = await loginRemembered(app, 1, { maxAge: 60 * 60 * 1000 })
    t.mock.timers.tick(10_000)
    const res = await jar.get('/me')
    const refreshed = cookieOf(res)
    assert.ok(refreshed, 'refreshed')
    assert.ok(refreshed.maxAge <= 3600,
      `a 1-hour remember-me login stays a 1-hour login when refreshed, got ${refreshed.raw}`)
  })
})

describe('logout, inactive and deleted users', () => {
  test('logoutUser clears the cookie with the Path, Domain, Secure and SameSite it was set with', async () => {
    const { app } = await createApp({
      fastify: { trustProxy: true },
      remember: { path: '/app', domain: 'example.com', sameSite: 'strict' }
    })
    const { jar, cookie } = await loginRemembered(app, 1, {}, HTTPS)
    assert.equal(cookie.secure, true)
    // A browser does not send a Path=/app cookie to /logout: the session knows it was set.
    const res = await app.inject({ method: 'POST', url: '/logout', headers: { ...HTTPS }, cookies: { [SESSION]: jar.cookies[SESSION] } })
    assert.equal(res.statusCode, 200)
    const cleared = cookieOf(res)
    assert.ok(cleared && isCleared(cleared), `cleared at logout: ${res.headers['set-cookie']}`)
    assert.equal(cleared.path, '/app')
    assert.equal(cleared.domain, 'example.com')
    assert.equal(cleared.secure, true)
    assert.equal(String(cleared.sameSite).toLowerCase(), 'strict')
    assert.equal(cleared.httpOnly, true)
    assertNoStore(res)
  })

  test('logout with the cookie sent clears it too (default attributes)', async () => {
    const { app } = await createApp()
    const { jar } = await loginRemembered(app)
    const res = await jar.post('/logout')
    const cleared = cookieOf(res)
    assert.ok(cleared && isCleared(cleared), `cleared: ${res.headers['set-cookie']}`)
    assert.equal(cleared.path, '/')
    assert.equal(jar.cookies[REMEMBER], undefined)
    assert.equal((await jar.get('/me')).json().user, null)
  })

  test('the cookie is stateless: a copy kept past logout works until it expires or authVersion changes; an authVersion bump rejects it', async () => {
    const users = cloneUsers({ version: 'v1' })
    const { app, events } = await createApp({ users, login: { authVersion: (user) => user.version } })
    const { jar, value } = await loginRemembered(app)
    await jar.post('/logout')
    assert.equal(jar.cookies[REMEMBER], undefined, 'the browser dropped it')
    // "Log out everywhere": bump the version. The copied cookie is now worthless.
    users.get('1').version = 'v2'
    const res = await withRemember(app, value)
    assertRejected(res)
    assert.deepEqual(events.rejected, ['version'])
  })

  test('a user deactivated since the login (isActive false) is not restored', async () => {
    const { app, users, events } = await createApp()
    const { value } = await loginRemembered(app)
    users.get('1').isActive = false
    const res = await withRemember(app, value)
    assertRejected(res)
    assert.deepEqual(events.rejected, ['inactive'])
    assert.equal(events.restored.length, 0)
  })

  test('a user forced in while inactive is not restored from the cookie', async () => {
    const users = cloneUsers()
    users.set('3', { id: 3, username: 'disabled', isActive: false })
    const { app, events } = await createApp({ users })
    const { value } = await loginRemembered(app, 3, { force: true })
    const res = await withRemember(app, value)
    assertRejected(res)
    assert.deepEqual(events.rejected, ['inactive'])
  })

  test('a deleted user (loader returns null) is anonymous and the cookie is cleared', async () => {
    const { app, users, events, calls } = await createApp()
    const { jar, value } = await loginRemembered(app)
    users.delete('1')
    const res = await withRemember(app, value)
    assertRejected(res)
    assert.deepEqual(events.rejected, ['unknown-user'])
    const both = await jar.get('/me')
    assertRejected(both)
    assertLoader(calls, ['1'])
  })
})
