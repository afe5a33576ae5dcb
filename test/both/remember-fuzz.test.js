'use strict'

// Property-based tests of the remember cookie: whatever value a client sends as
// remember_token, the request is anonymous (and the cookie cleared) unless the value
// is, unchanged, a cookie the server issued, and then it is exactly that cookie's
// user. Never a 5xx; the loader only ever sees ids that were issued. The cookie is
// format 3, `3.<base64url(iv ‖ AES-256-GCM(payload) ‖ tag)>`: the mutations work on
// its text and on the bytes under it, so that they reach AES-GCM as well as the parser.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fc = require('fast-check')
const { buildApp, setCookies, isCleared, USERS, REMEMBER_SECRET, SESSION_COOKIE } = require('../helper')

const REMEMBER = 'remember_token'
const NUM_RUNS = 300
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const MUTATION_CHARS = BASE64URL + '+/=.%;, "\\\u0000\u0001\t\u007f\u00e9\u00ff\u2603'
const IV = 12
const TAG = 16

let app
const calls = []
const events = { rejected: [], restored: [] }
/** cookie value -> the id it was issued for */
const issued = new Map()
const issuedIds = ['1', '2']
let cookie1
let cookie1b
let cookie2

async function issue (id) {
  const res = await app.inject({ method: 'POST', url: '/login', payload: { id, remember: true } })
  const cookie = setCookies(res).find((c) => c.name === REMEMBER)
  assert.ok(cookie && !isCleared(cookie), `issued a remember cookie for ${id}`)
  issued.set(cookie.value, String(id))
  return cookie.value
}

before(async () => {
  app = await buildApp({
    login: {
      loadUser: async (id) => {
        calls.push(id)
        return USERS.get(id) ?? null
      },
      remember: { secret: REMEMBER_SECRET }
    }
  })
  app.loginManager.on('rememberRejected', (request, reason) => events.rejected.push(reason))
  app.loginManager.on('loadedFromRemember', (request, user) => events.restored.push(user))
  cookie1 = await issue(1)
  cookie1b = await issue(1)
  cookie2 = await issue(2)
  calls.length = 0
})

after(() => app.close())

/**
 * The value as it goes into a Cookie header: characters a header or the cookie syntax
 * cannot carry are percent-encoded, and @fastify/cookie decodes them, so the plugin
 * sees exactly `value`.
 */
function toHeaderValue (value) {
  let out = ''
  for (const ch of value) {
    const code = ch.codePointAt(0)
    out += code > 0x20 && code < 0x7f && !'%;,"\\'.includes(ch) ? ch : encodeURIComponent(ch)
  }
  return out
}

/** Sends `headerValue` as remember_token and checks the outcome against `seen`, the value the plugin gets. */
async function checkCookie (seen, headerValue = toHeaderValue(seen)) {
  const callsBefore = calls.length
  const rejectedBefore = events.rejected.length
  const restoredBefore = events.restored.length
  const res = await app.inject({ method: 'GET', url: '/me', headers: { cookie: `${REMEMBER}=${headerValue}` } })
  assert.ok(res.statusCode < 500, `never a 5xx: ${res.statusCode} ${res.body} for ${JSON.stringify(seen)}`)
  assert.equal(res.statusCode, 200)
  const body = res.json()
  const remember = setCookies(res).filter((c) => c.name === REMEMBER)
  const owner = issued.get(seen)
  if (owner !== undefined) {
    assert.equal(String(body.user?.id), owner, `the issued cookie logs in its own user, got ${res.body}`)
    assert.equal(body.authenticatedBy, 'remember')
    assert.ok(remember.every((c) => !isCleared(c)), 'a valid cookie is not cleared')
    assert.equal(events.restored.length, restoredBefore + 1)
  } else {
    assert.equal(body.user, null, `anonymous for ${JSON.stringify(seen)}, got ${res.body}`)
    assert.equal(body.authenticatedBy, null)
    assert.equal(remember.length, 1, `the invalid cookie is cleared: ${JSON.stringify(res.headers['set-cookie'])}`)
    assert.ok(isCleared(remember[0]) && remember[0].path === '/', remember[0].raw)
    assert.equal(events.rejected.length, rejectedBefore + 1, 'rememberRejected emitted')
    assert.equal(events.restored.length, restoredBefore)
  }
  for (const id of calls.slice(callsBefore)) {
    assert.equal(typeof id, 'string', `the loader got a ${typeof id}`)
    assert.ok(issuedIds.includes(id), `the loader got ${JSON.stringify(id)}, which was never issued`)
  }
}

const wellFormed = (s) => s.isWellFormed()
const segments = (v) => v.split('.')
/** The bytes under a `3.<base64url>` value (Node's lenient decoding of whatever follows the first dot). */
const bytesOf = (v) => Buffer.from(v.slice(v.indexOf('.') + 1), 'base64url')
/** A value with its bytes changed, spelled in canonical base64url after the same prefix. */
const withBytes = (v, change) => v.slice(0, v.indexOf('.') + 1) + Buffer.from(change(bytesOf(v))).toString('base64url')
/** The iv, the ciphertext and the tag of an issued cookie. */
const piecesOf = (v) => { const b = bytesOf(v); return [b.subarray(0, IV), b.subarray(IV, b.length - TAG), b.subarray(b.length - TAG)] }

// Mutations of a cookie: each arbitrary gives a function string -> string.
const at = (s, i) => (s.length === 0 ? 0 : i % (s.length + 1))
const flipArb = fc.tuple(fc.nat(), fc.constantFrom(...MUTATION_CHARS))
  .map(([i, ch]) => (s) => { const k = at(s, i) % Math.max(1, s.length); return s.slice(0, k) + ch + s.slice(k + 1) })
const insertArb = fc.tuple(fc.nat(), fc.string({ unit: fc.constantFrom(...MUTATION_CHARS), minLength: 1, maxLength: 8 }))
  .map(([i, str]) => (s) => s.slice(0, at(s, i)) + str + s.slice(at(s, i)))
const deleteArb = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 10 }))
  .map(([i, n]) => (s) => s.slice(0, at(s, i)) + s.slice(at(s, i) + n))
const truncateArb = fc.nat().map((n) => (s) => s.slice(0, s.length === 0 ? 0 : n % s.length))
const duplicateSegmentArb = fc.tuple(fc.nat(), fc.nat())
  .map(([from, to]) => (s) => { const p = segments(s); p.splice(to % (p.length + 1), 0, p[from % p.length]); return p.join('.') })
const shuffleSegmentsArb = fc.tuple(fc.nat(), fc.nat())
  .map(([a, b]) => (s) => { const p = segments(s); const i = a % p.length; const j = b % p.length; [p[i], p[j]] = [p[j], p[i]]; return p.join('.') })
const alphabetSwapArb = fc.array(fc.boolean(), { minLength: 1, maxLength: 120 })
  .map((mask) => (s) => {
    const swap = { '-': '+', _: '/', '+': '-', '/': '_' }
    return [...s].map((ch, i) => (mask[i % mask.length] && swap[ch] ? swap[ch] : ch)).join('')
  })
// Byte-level mutations of the sealed part: a bit of the IV, the ciphertext or the tag
// (GCM is a stream cipher: a flipped ciphertext bit flips the payload, only the tag
// stops it), bytes cut from either end (a short tag) or inserted anywhere.
const regionArb = fc.constantFrom('iv', 'ciphertext', 'tag')
const bitFlipArb = fc.tuple(regionArb, fc.nat(), fc.integer({ min: 0, max: 7 }))
  .map(([region, i, bit]) => (s) => withBytes(s, (b) => {
    if (b.length === 0) return b
    const [from, to] = { iv: [0, IV], ciphertext: [IV, b.length - TAG], tag: [b.length - TAG, b.length] }[region]
    const k = to > from && from >= 0 ? from + (i % (to - from)) : i % b.length
    const out = Buffer.from(b)
    out[k] ^= 1 << bit
    return out
  }))
const byteCutArb = fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 20 }))
  .map(([atEnd, n]) => (s) => withBytes(s, (b) => (atEnd ? b.subarray(0, Math.max(0, b.length - n)) : b.subarray(n))))
const byteInsertArb = fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }))
  .map(([i, bytes]) => (s) => withBytes(s, (b) => { const k = i % (b.length + 1); return Buffer.concat([b.subarray(0, k), bytes, b.subarray(k)]) }))
const mutationArb = fc.oneof(flipArb, insertArb, deleteArb, truncateArb, duplicateSegmentArb, shuffleSegmentsArb, alphabetSwapArb,
  bitFlipArb, byteCutArb, byteInsertArb)

describe('remember_token fuzzing', () => {
  test('arbitrary strings (any code unit, percent-encoded where a header needs it) are anonymous and cleared', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }).filter(wellFormed)),
      async (value) => checkCookie(value)
    ), { numRuns: NUM_RUNS })
  })

  test('unicode strings, with and without the 3. format prefix (or the 1. of 0.2), are anonymous and cleared', async () => {
    await fc.assert(fc.asyncProperty(
      fc.string({ unit: 'grapheme', maxLength: 120 }),
      fc.constantFrom('', '3.', '1.'),
      async (value, prefix) => checkCookie(prefix + value)
    ), { numRuns: NUM_RUNS })
  })

  test('well-formed but forged cookies (3.<base64url>, any bytes, and 0.2\'s 1.<base64url>.<base64>) are anonymous and cleared', async () => {
    const b64url = fc.string({ unit: fc.constantFrom(...BASE64URL), minLength: 0, maxLength: 120 })
    const b64 = fc.string({ unit: fc.constantFrom(...BASE64URL.slice(0, 62) + '+/'), minLength: 0, maxLength: 60 })
    // Canonical base64url of any bytes, as long as a real cookie's and around it: these all reach AES-GCM.
    const sealed = fc.uint8Array({ minLength: 0, maxLength: 90 }).map((bytes) => Buffer.from(bytes).toString('base64url'))
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.tuple(fc.constantFrom('3', '4', '1', '0', ''), fc.oneof(sealed, b64url)).map(([format, body]) => `${format}.${body}`),
        fc.tuple(fc.constantFrom('1', '3', ''), b64url, b64).map(([format, body, signature]) => `${format}.${body}.${signature}`)
      ),
      async (value) => checkCookie(value)
    ), { numRuns: NUM_RUNS })
  })

  test('mutations of a valid cookie (flips, insertions, deletions, truncations, duplicated or swapped segments, alphabet swaps; bit flips in the IV, ciphertext or tag, bytes cut or inserted) are anonymous and cleared; only the unmodified cookie logs in, as its own user', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(cookie1, cookie2),
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
      async (base, mutations) => checkCookie(mutations.reduce((value, mutate) => mutate(value), base))
    ), { numRuns: NUM_RUNS * 2 })
  })

  test('sealed parts spliced from valid cookies of different users (and of the same user) never log in anyone else', async () => {
    const sources = [cookie1, cookie1b, cookie2]
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        // The iv, ciphertext and tag: piece k of the result comes from cookie `from[k]`;
        // `order` also allows reordering and repeating pieces.
        fc.tuple(
          fc.array(fc.nat({ max: sources.length - 1 }), { minLength: 3, maxLength: 3 }),
          fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 4 })
        ).map(([from, order]) => '3.' + Buffer.concat(order.map((k) => piecesOf(sources[from[k]])[k])).toString('base64url')),
        // The text of two cookies cut anywhere and joined.
        fc.tuple(fc.nat({ max: sources.length - 1 }), fc.nat({ max: sources.length - 1 }), fc.nat(), fc.nat())
          .map(([a, b, i, j]) => sources[a].slice(0, i % (sources[a].length + 1)) + sources[b].slice(j % (sources[b].length + 1)))
      ),
      async (value) => checkCookie(value)
    ), { numRuns: NUM_RUNS })
  })

  test('raw non-ASCII (latin1 bytes as Node reads them from the wire) in and around a valid cookie is anonymous and cleared', async () => {
    const latin1 = fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c))
    const noise = fc.string({ unit: fc.oneof(latin1, fc.constantFrom(...BASE64URL)), minLength: 1, maxLength: 40 })
      .filter((s) => /[\u0080-\u00ff]/.test(s))
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(cookie1, cookie2), noise, fc.nat(),
      async (base, extra, i) => {
        const k = i % (base.length + 1)
        const value = base.slice(0, k) + extra + base.slice(k)
        // Sent as is: no '%' so the cookie parser hands it to the plugin unchanged.
        await checkCookie(value, value)
      }
    ), { numRuns: NUM_RUNS })
  })

  test('the unmodified issued cookies log in exactly their own users, whichever header form carries them', async () => {
    for (const [value, id] of issued) {
      await checkCookie(value)
      await checkCookie(value, encodeURIComponent(value))
      assert.equal(issued.get(value), id)
    }
  })

  test('with refresh on, a session login plus any generated value under the cookie name never gets a valid cookie back unless the value was one of its own user', async (t) => {
    const refreshing = await buildApp({ login: { remember: { secret: REMEMBER_SECRET, refresh: true } } })
    t.after(() => refreshing.close())
    const login = await refreshing.inject({ method: 'POST', url: '/login', payload: { id: 1 } })
    const session = setCookies(login).find((c) => c.name === SESSION_COOKIE).value
    // Same secret: the cookies issued by the suite's app verify here too.
    const own = new Set([cookie1, cookie1b])
    const other = await refreshing.inject({ method: 'POST', url: '/login', payload: { id: 2, remember: true } })
    const bases = [cookie1, cookie1b, cookie2, setCookies(other).find((c) => c.name === REMEMBER).value]

    /** Who a remember cookie logs in, on its own. */
    const owner = async (value) => (await refreshing.inject({ url: '/me', cookies: { [REMEMBER]: value } })).json().user?.id ?? null

    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.tuple(fc.constantFrom(...bases), fc.array(mutationArb, { minLength: 0, maxLength: 2 }))
          .map(([base, mutations]) => mutations.reduce((value, mutate) => mutate(value), base))
      ),
      async (value) => {
        const res = await refreshing.inject({ url: '/me', headers: { cookie: `${REMEMBER}=${toHeaderValue(value)}` }, cookies: { [SESSION_COOKIE]: session } })
        assert.equal(res.statusCode, 200)
        assert.equal(res.json().user?.id, 1, 'the session login stands')
        const back = setCookies(res).filter((c) => c.name === REMEMBER && !isCleared(c))
        if (own.has(value)) {
          assert.equal(back.length, 1, 'its own valid cookie is extended')
          assert.equal(await owner(back[0].value), 1)
        } else {
          assert.deepEqual(back, [], `nothing valid comes back for ${JSON.stringify(value)}`)
        }
      }
    ), { numRuns: NUM_RUNS })
  })

  test('across all runs the loader only received ids that were issued, as strings', () => {
    assert.ok(calls.length > 0, 'the valid cookies reached the loader')
    assert.deepEqual([...new Set(calls)].sort(), issuedIds, 'every issued id was loaded, nothing else')
    assert.ok(events.rejected.length > NUM_RUNS, 'the properties produced rejected cookies')
    // Both layers were reached: values refused for their shape, and values that were
    // canonical format 3 and refused by AES-GCM.
    assert.ok(events.rejected.includes('malformed'), 'some values were malformed')
    assert.ok(events.rejected.includes('signature'), 'some values reached AES-GCM and did not open')
  })
})
