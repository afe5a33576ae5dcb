'use strict'

// README "`isSafeRedirect(url)`", "Reply" (redirectAfterLogin) and "Security" (open
// redirects): isSafeRedirect and reply.redirectAfterLogin.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const fc = require('fast-check')
const fastifyFormbody = require('@fastify/formbody')
const { isSafeRedirect } = require('fastify-login')
const { buildApp } = require('./helper')

const BASE = 'https://example.com'

/** Decodes until stable (or undecodable), as a server or proxy might before redirecting. */
function fullyDecoded (value) {
  let current = value
  for (let i = 0; i < 10; i++) {
    let next
    try {
      next = decodeURIComponent(current)
    } catch {
      return current
    }
    if (next === current) return current
    current = next
  }
  return current
}

/** Every reading of `value` a browser or a normalising server could make stays on example.com. */
function assertStaysOnSite (value) {
  for (const form of [value, fullyDecoded(value), value.normalize('NFKC'), fullyDecoded(value).normalize('NFKC')]) {
    const url = new URL(form, BASE)
    assert.equal(url.host, 'example.com', `${JSON.stringify(value)} read as ${JSON.stringify(form)} leaves the site: ${url.href}`)
    assert.equal(url.protocol, 'https:')
    assert.equal(url.username + url.password, '')
  }
}

describe('isSafeRedirect', () => {
  test('is exported by the package', () => {
    assert.equal(typeof isSafeRedirect, 'function')
  })

  test('accepts same-site paths', () => {
    for (const value of ['/', '/account', '/account?tab=1#x', '/caf%C3%A9/', '/a/b/c?x=%2F', '/search?q=a%20b', '/caf\u00e9/']) {
      assert.equal(isSafeRedirect(value), true, JSON.stringify(value))
      assertStaysOnSite(value)
    }
  })

  const unsafe = {
    'protocol-relative': ['//evil.com', '//evil.com/path', '///evil.com', '////evil.com'],
    backslash: ['/\\evil.com', '\\\\evil', '\\/evil.com', '/\\/evil.com', '/a\\b', '\\evil'],
    absolute: ['https://evil.com', 'http://evil.com/', 'HTTPS://evil.com', 'ftp://evil.com', 'evil.com', 'https:evil.com', 'https:/evil.com'],
    schemes: ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox(1)'],
    credentials: ['//user@evil.com', '/\\user@evil.com', '//example.com@evil.com', 'https://example.com@evil.com'],
    'encoded slashes and backslashes': [
      '/%2F%2Fevil.com', '/%2fevil.com', '/%5Cevil.com', '/%5cevil.com', '%2F%2Fevil', '%2F%2Fevil.com',
      '/%252F%252Fevil.com', '/%25252F%25252Fevil.com', '/%255Cevil.com', '/%2F/evil.com', '/a/%5C..'
    ],
    'control characters': ['/\u0000evil', '/a\u0001', '/a\u001f', '/a\u007f', '/a\u0085', '/%00evil', '/a%7F', '/a%C2%85'],
    'CR and LF': ['/a%0d%0aSet-Cookie:x', '/a%0D%0ASet-Cookie:x', '/a\r\nSet-Cookie:x', '/a\nb', '/a\rb', '/%0a/evil.com'],
    tabs: ['/\t/evil.com', '/%09/evil.com', '\t//evil.com', '/\t\\evil.com'],
    'Unicode look-alike slashes': [
      '/\uFF0F\uFF0Fevil.com', '/\uFF0Fevil.com', '/\uFF3Cevil.com', '/\uFE68evil.com',
      '/%EF%BC%8F%EF%BC%8Fevil.com', '/%EF%BC%BCevil.com'
    ],
    'empty and relative': ['', ' ', 'account', './account', '../account', '?next=/x', '#/x', ' /account']
  }
  for (const [kind, values] of Object.entries(unsafe)) {
    test(`rejects ${kind}`, () => {
      for (const value of values) assert.equal(isSafeRedirect(value), false, JSON.stringify(value))
    })
  }

  test('a division slash (U+2215) is an ordinary path character: no browser or NFKC reads it as a slash', () => {
    // Decision: U+2215 has no compatibility decomposition and the WHATWG URL parser
    // percent-encodes it in the path, so '/\u2215evil' is a same-site path.
    const value = '/\u2215evil'
    assert.equal(value.normalize('NFKC'), value)
    assert.equal(new URL(value, BASE).pathname, '/%E2%88%95evil')
    assertStaysOnSite(value)
    assert.equal(isSafeRedirect(value), true)
  })

  test('rejects arrays (repeated parameters) and non-strings', () => {
    for (const value of [['/a'], ['/a', '/b'], [], null, undefined, 0, 1, 42, NaN, true, false, {}, { toString: () => '/a' },
      Object.create(null), Object('/a'), Symbol('x'), 10n, () => '/a', new URL('https://example.com/a')]) {
      assert.equal(isSafeRedirect(value), false, `a ${Object.prototype.toString.call(value)}`)
    }
  })

  test('rejects very long values and returns', () => {
    const megabyte = '/' + 'a'.repeat(1024 * 1024)
    assert.equal(isSafeRedirect(megabyte), false)
    assert.equal(isSafeRedirect('/' + '%25'.repeat(400000)), false)
    assert.equal(isSafeRedirect('/' + '%2F'.repeat(400000)), false)
    assert.equal(isSafeRedirect('/' + '\uFF0F'.repeat(400000)), false)
  })

  test('never throws on hostile values', () => {
    const hostile = ['/%', '/%E0%A4%A', '/%C3', '/\uD800', '/\uDC00x', '/%ED%A0%80', '/' + '%'.repeat(1000),
      { toString () { throw new Error('boom') } }, { valueOf () { throw new Error('boom') } },
      new Proxy({}, { get () { throw new Error('trap') } })]
    for (const [i, value] of hostile.entries()) {
      let result
      assert.doesNotThrow(() => { result = isSafeRedirect(value) }, `hostile value #${i}`)
      assert.equal(typeof result, 'boolean', `hostile value #${i}`)
    }
  })

  test('property: never throws and returns a boolean for arbitrary strings', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (value) => {
      const result = isSafeRedirect(value)
      return typeof result === 'boolean'
    }), { numRuns: 2000 })
    fc.assert(fc.property(fc.anything(), (value) => typeof isSafeRedirect(value) === 'boolean'), { numRuns: 500 })
  })

  test('property: every accepted value stays on the site, however it is read', () => {
    const pieces = fc.constantFrom(
      '/', '//', '\\', '%2F', '%2f', '%5C', '%25', '%252F', '%0a', '%0d', '%09', '%00', '\t', '\n', '\r', ' ',
      '@', ':', '.', '..', '?', '#', '&', '=', 'evil.com', 'example.com', 'user', 'https:', 'javascript:',
      '\uFF0F', '\uFF3C', '\uFE68', '\u2215', '\u2044', '\u3002', '\uFF0E', '\u00e9', '%C3%A9', '%EF%BC%8F', 'a', 'b'
    )
    const crafted = fc.array(pieces, { maxLength: 8 }).map((parts) => parts.join(''))
    const arbitrary = fc.oneof(
      crafted,
      crafted.map((s) => '/' + s),
      fc.string({ unit: 'binary' }).map((s) => '/' + s),
      fc.string().map((s) => '/' + s),
      fc.string({ unit: 'binary' })
    )
    let accepted = 0
    fc.assert(fc.property(arbitrary, (value) => {
      const result = isSafeRedirect(value)
      assert.equal(typeof result, 'boolean')
      if (result) {
        accepted++
        assertStaysOnSite(value)
      }
    }), { numRuns: 5000 })
    assert.ok(accepted > 100, `the property must exercise accepted values, only ${accepted} were accepted`)
  })
})

describe('redirectAfterLogin', () => {
  async function setup (login = {}) {
    const app = await buildApp({
      login,
      async routes (app) {
        await app.register(fastifyFormbody)
        app.get('/go', async (request, reply) => reply.redirectAfterLogin())
        app.post('/go', async (request, reply) => reply.redirectAfterLogin())
        app.get('/go-home', async (request, reply) => reply.redirectAfterLogin('/home'))
        app.post('/login-and-go', async (request, reply) => {
          await reply.loginUser({ id: 1, username: 'user1' })
          return reply.redirectAfterLogin('/dashboard')
        })
      }
    })
    return app
  }

  async function location (app, req) {
    const res = await app.inject(typeof req === 'string' ? { method: 'GET', url: req } : req)
    assert.ok(res.statusCode >= 300 && res.statusCode < 400, `expected a redirect, got ${res.statusCode} ${res.body}`)
    return res.headers.location
  }

  test('uses a safe next from the query, kept exactly', async (t) => {
    const app = await setup()
    t.after(() => app.close())

    assert.equal(await location(app, '/go?next=%2Faccount%3Ftab%3D1%23x'), '/account?tab=1#x')
    assert.equal(await location(app, '/go?next=/account'), '/account')
    assert.equal(await location(app, '/go?next=%2Fcaf%25C3%25A9%2F'), '/caf%C3%A9/', 'an encoded path is not double-encoded')
    assert.equal(await location(app, '/go?next=%2Fcaf%C3%A9%2F'), '/caf%C3%A9/', 'a raw non-ASCII path is percent-encoded once')
  })

  test('uses a safe next from a urlencoded body', async (t) => {
    const app = await setup()
    t.after(() => app.close())

    const form = (payload) => ({
      method: 'POST', url: '/go', payload, headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    assert.equal(await location(app, form('next=%2Faccount%3Ftab%3D1%23x')), '/account?tab=1#x')
    assert.equal(await location(app, form('next=%2Fcaf%25C3%25A9%2F')), '/caf%C3%A9/')
    assert.equal(await location(app, form('user=a&next=%2F%2Fevil.com')), '/')
    assert.equal(await location(app, form('next=%2Fa&next=%2Fb')), '/', 'repeated next in a form falls back')
  })

  test('uses a safe next from a JSON body; a raw /café/ becomes /caf%C3%A9/', async (t) => {
    const app = await setup()
    t.after(() => app.close())

    const json = (payload) => ({ method: 'POST', url: '/go', payload })
    assert.equal(await location(app, json({ next: '/account?tab=1#x' })), '/account?tab=1#x')
    assert.equal(await location(app, json({ next: '/caf%C3%A9/' })), '/caf%C3%A9/')
    assert.equal(await location(app, json({ next: '/café/' })), '/caf%C3%A9/')
    assert.equal(await location(app, json({ next: ['/a'] })), '/')
    assert.equal(await location(app, json({ next: { toString: '/a' } })), '/')
    assert.equal(await location(app, json({ next: 42 })), '/')
  })

  test('falls back for unsafe next values', async (t) => {
    const app = await setup()
    t.after(() => app.close())

    for (const next of ['//evil.com', '/\\evil.com', 'https://evil.com', 'javascript:alert(1)', '/%2F%2Fevil.com',
      '/%5Cevil.com', '/%252F%252Fevil.com', '/a%0d%0aSet-Cookie:x', '/\t/evil.com', '/\uFF0F\uFF0Fevil.com', '//user@evil']) {
      const res = await app.inject({ method: 'GET', url: '/go?next=' + encodeURIComponent(next) })
      assert.equal(res.statusCode, 302)
      assert.equal(res.headers.location, '/', JSON.stringify(next))
      assert.equal(res.headers['set-cookie'], undefined)
    }
    // Under the default 1 MiB body limit, but far longer than any return address.
    const long = await app.inject({ method: 'POST', url: '/go', payload: { next: '/' + 'a'.repeat(512 * 1024) } })
    assert.equal(long.statusCode, 302)
    assert.equal(long.headers.location, '/')
  })

  test('falls back for a repeated next parameter', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    assert.equal(await location(app, '/go?next=/a&next=/b'), '/')
    assert.equal(await location(app, '/go?next=/a&next=/a'), '/')
  })

  test('a custom fallback is used when next is missing or unsafe', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    assert.equal(await location(app, '/go-home'), '/home')
    assert.equal(await location(app, '/go-home?next=%2F%2Fevil.com'), '/home')
    assert.equal(await location(app, '/go-home?next=%2Faccount'), '/account')
  })

  test('a custom nextParam is read instead of next', async (t) => {
    const app = await setup({ nextParam: 'return_to' })
    t.after(() => app.close())
    assert.equal(await location(app, '/go?return_to=%2Faccount'), '/account')
    assert.equal(await location(app, '/go?next=%2Faccount'), '/', 'next is not read when nextParam is return_to')
    assert.equal(await location(app, { method: 'POST', url: '/go', payload: { return_to: '/settings' } }), '/settings')
  })

  test('after loginUser, redirects to next with the login cookie set', async (t) => {
    const app = await setup()
    t.after(() => app.close())
    const res = await app.inject({ method: 'POST', url: '/login-and-go?next=%2Faccount%3Ftab%3D1', payload: {} })
    assert.equal(res.statusCode, 302)
    assert.equal(res.headers.location, '/account?tab=1')
    assert.match(String(res.headers['set-cookie']), /sessionId=/)
    const fallback = await app.inject({ method: 'POST', url: '/login-and-go', payload: { next: '//evil.com' } })
    assert.equal(fallback.headers.location, '/dashboard')
  })
})
