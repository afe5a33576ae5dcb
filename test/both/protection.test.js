'use strict'

// Session protection: the login is bound to a digest of request.ip and the
// User-Agent. 'basic' makes a login seen from elsewhere stale, 'strong' ends it,
// false ignores it. Anonymous requests are never touched. On the run's session plugin:
// on 'stored' the tests read the memory store's Map, on 'secure' the session the
// encrypted cookie carries.

require('../support/session-plugins').onBothPlugins(__filename)
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { MemoryStore } = require('@fastify/session')
const {
  buildApp, createJar, setCookies, isCleared, sessionIdOf, sessionData,
  REMEMBER_SECRET, SESSION_KIND, SESSION_COOKIE, LOGIN_KEY
} = require('../helper')

const UA_A = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'
const UA_B = 'Mozilla/5.0 (Macintosh) Safari/17.0'
const ua = (agent) => ({ 'user-agent': agent })

const STORED = SESSION_KIND === 'stored'

/**
 * An app recording sessionProtected events; on 'stored' on a memory store whose map
 * the test can read ('secure' has no store: `sessions` stays empty).
 */
async function setup ({ login = {}, fastify, routes } = {}) {
  const sessions = new Map()
  const app = await buildApp({ login, fastify, routes, ...(STORED ? { store: new MemoryStore(sessions) } : {}) })
  const events = []
  app.loginManager.on('sessionProtected', (request, mode) => events.push(mode))
  return { app, sessions, events }
}

/** The session behind the jar's session cookie, as plain data: from the store, or out of the cookie on 'secure'. */
function storedSession (app, sessions, jar) {
  return sessionData(app, jar.cookies[SESSION_COOKIE], sessions)
}

const loginKeys = (session) => Object.keys(session).filter((key) => key.startsWith(LOGIN_KEY))

const withConfirm = (app) => {
  app.post('/confirm', async (request, reply) => {
    await reply.confirmLogin()
    return { ok: true }
  })
}

describe("sessionProtection 'basic' (the default)", () => {
  test('another User-Agent: still logged in, not fresh, fresh-only routes refuse, one event', async () => {
    const { app, events } = await setup()
    try {
      const jar = createJar(app)
      assert.equal((await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })).statusCode, 200)
      let res = await jar.get({ url: '/me', headers: ua(UA_A) })
      assert.deepEqual(res.json(), { user: { id: 1, username: 'user1' }, authenticatedBy: 'session', fresh: true })
      assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_A) })).statusCode, 200)
      assert.deepEqual(events, [], 'no event while the fingerprint matches')

      res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().user?.username, 'user1', 'the user stays logged in')
      assert.equal(res.json().fresh, false, 'the login is stale')
      assert.deepEqual(events, ['basic'])

      res = await jar.get({ url: '/private', headers: ua(UA_B) })
      assert.equal(res.statusCode, 200)
      res = await jar.get({ url: '/fresh', headers: ua(UA_B) })
      assert.equal(res.statusCode, 401)
      assert.equal(res.json().code, 'FST_LOGIN_FRESH_REQUIRED')
    } finally {
      await app.close()
    }
  })

  test('another remote address: still logged in, not fresh', async () => {
    const { app, events } = await setup()
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A), remoteAddress: '192.0.2.10' })
      let res = await jar.get({ url: '/me', headers: ua(UA_A), remoteAddress: '192.0.2.10' })
      assert.equal(res.json().fresh, true)
      res = await jar.get({ url: '/me', headers: ua(UA_A), remoteAddress: '198.51.100.20' })
      assert.equal(res.json().user?.username, 'user1')
      assert.equal(res.json().fresh, false)
      assert.deepEqual(events, ['basic'])
      assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_A), remoteAddress: '198.51.100.20' })).statusCode, 401)
    } finally {
      await app.close()
    }
  })

  test('the original browser is still fresh after another one was seen, and raises no new event', async () => {
    const { app, events } = await setup()
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
      await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.deepEqual(events, ['basic'])

      const res = await jar.get({ url: '/me', headers: ua(UA_A) })
      assert.equal(res.json().user?.username, 'user1')
      assert.equal(res.json().fresh, true, 'a basic hit marks only that request stale, nothing is written')
      assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_A) })).statusCode, 200)
      assert.deepEqual(events, ['basic'], 'the original fingerprint matches again')
    } finally {
      await app.close()
    }
  })

  test('confirmLogin after a hit: fresh again, new session id, the new fingerprint is stored', async () => {
    const { app, events, sessions } = await setup({ routes: withConfirm })
    const confirmed = []
    app.loginManager.on('loginConfirmed', (request, user) => confirmed.push(user.username))
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
      await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.deepEqual(events, ['basic'])
      const before = jar.cookies[SESSION_COOKIE]

      let res = await jar.post('/confirm', {}, { headers: ua(UA_B) })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(confirmed, ['user1'])
      // The confirming request asked no freshness: 'basic' compares the client only when
      // freshness is asked (README "Session protection"), so it raised no event of its own.
      assert.deepEqual(events, ['basic'])
      if (STORED) {
        assert.notEqual(sessionIdOf(jar.cookies[SESSION_COOKIE]), sessionIdOf(before), 'the session id changed')
        assert.equal(sessions.has(sessionIdOf(before)), false, 'the old id is gone from the store')
      } else {
        assert.notEqual(jar.cookies[SESSION_COOKIE], before, 'a new session cookie')
      }

      res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.json().user?.username, 'user1')
      assert.equal(res.json().fresh, true, 'fresh from the browser that confirmed')
      assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_B) })).statusCode, 200)
      assert.deepEqual(events, ['basic'], 'the new browser is now the expected one')

      res = await app.inject({ method: 'GET', url: '/me', headers: { ...ua(UA_B) }, cookies: { [SESSION_COOKIE]: before } })
      let seen
      if (STORED) {
        // The old session cookie is dead.
        assert.equal(res.json().user, null)
        seen = ['basic']
      } else {
        // The documented limit: the pre-confirm cookie cannot be killed. It is still the
        // login it was, bound to the first browser's fingerprint: from this browser a
        // 'basic' hit, logged in but never fresh. Confirming did not make the copy fresh.
        assert.equal(res.json().user?.username, 'user1')
        assert.equal(res.json().fresh, false)
        seen = ['basic', 'basic']
        assert.deepEqual(events, seen)
      }

      // And the original browser is now the one that differs.
      res = await jar.get({ url: '/me', headers: ua(UA_A) })
      assert.equal(res.json().fresh, false)
      assert.deepEqual(events, [...seen, 'basic'])
    } finally {
      await app.close()
    }
  })

  test('a remember-me restore stores the fingerprint of the restoring browser', async () => {
    // A restored login is not fresh, so 'basic' never needs to compare it: 'strong', which
    // checks every request, shows whose fingerprint the restore stored.
    const { app, events } = await setup({ login: { sessionProtection: 'strong', remember: { secret: REMEMBER_SECRET } } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1, remember: true }, { headers: ua(UA_A) })
      delete jar.cookies[SESSION_COOKIE]
      let res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.json().authenticatedBy, 'remember')
      res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.json().authenticatedBy, 'session')
      assert.deepEqual(events, [], 'same browser as the restore: no hit')
      res = await jar.get({ url: '/me', headers: ua(UA_A) })
      assert.equal(res.json().user, null, 'the browser of the first login is not the restoring one')
      assert.deepEqual(events, ['strong'])
    } finally {
      await app.close()
    }
  })
})

describe("sessionProtection 'strong'", () => {
  test('another User-Agent logs the user out: anonymous, login keys gone from the store, app keys kept', async () => {
    const { app, events, sessions } = await setup({ login: { sessionProtection: 'strong' } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
      assert.equal((await jar.post('/session/cart', { value: 'apples' }, { headers: ua(UA_A) })).statusCode, 200)
      assert.ok(loginKeys(storedSession(app, sessions, jar)).length > 0, 'the login is in the store')
      const loggedIn = jar.cookies[SESSION_COOKIE]

      let res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.json(), { user: null, authenticatedBy: null, fresh: false })
      assert.deepEqual(events, ['strong'])
      if (!STORED) {
        // The hit sends the client that made it a session cookie without the login.
        const sent = setCookies(res).find((c) => c.name === SESSION_COOKIE)
        assert.ok(sent && !isCleared(sent), `a new session cookie: ${res.headers['set-cookie']}`)
      }

      const stored = storedSession(app, sessions, jar)
      assert.ok(stored, 'the session itself is kept')
      assert.deepEqual(loginKeys(stored), [], 'no login keys left in the stored session')
      assert.equal(stored.cart, 'apples')

      res = await jar.get({ url: '/private', headers: ua(UA_B) })
      assert.equal(res.statusCode, 401)
      // Going back to the original browser does not bring the login back.
      res = await jar.get({ url: '/me', headers: ua(UA_A) })
      assert.equal(res.json().user, null)
      res = await jar.get({ url: '/session/cart', headers: ua(UA_A) })
      assert.equal(res.json().value, 'apples')
      assert.deepEqual(events, ['strong'])

      // A copy of the pre-hit session cookie, from the browser that logged in:
      res = await app.inject({ url: '/me', headers: { ...ua(UA_A) }, cookies: { [SESSION_COOKIE]: loggedIn } })
      if (STORED) {
        // the stored session lost its login: every copy of its cookie is logged out.
        assert.equal(res.json().user, null)
      } else {
        // a stateless session can only drop the login from the cookie of the client that
        // was caught; the logged-in browser's own copy is untouched (the documented limit),
        // and from any other browser that copy is refused again, each time.
        assert.equal(res.json().user?.username, 'user1')
        res = await app.inject({ url: '/me', headers: { ...ua(UA_B) }, cookies: { [SESSION_COOKIE]: loggedIn } })
        assert.equal(res.json().user, null)
        assert.deepEqual(events, ['strong', 'strong'])
      }
    } finally {
      await app.close()
    }
  })

  test('another remote address logs the user out too', async () => {
    const { app, events } = await setup({ login: { sessionProtection: 'strong' } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 2 }, { headers: ua(UA_A), remoteAddress: '192.0.2.10' })
      let res = await jar.get({ url: '/me', headers: ua(UA_A), remoteAddress: '192.0.2.10' })
      assert.equal(res.json().user?.username, 'user2')
      res = await jar.get({ url: '/me', headers: ua(UA_A), remoteAddress: '198.51.100.20' })
      assert.equal(res.json().user, null)
      assert.deepEqual(events, ['strong'])
    } finally {
      await app.close()
    }
  })

  test('the remember cookie is cleared and does not log the user back in', async () => {
    const { app, events } = await setup({ login: { sessionProtection: 'strong', remember: { secret: REMEMBER_SECRET } } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1, remember: true }, { headers: ua(UA_A) })
      const rememberValue = jar.cookies.remember_token
      assert.ok(rememberValue, 'a remember cookie was issued')

      const res = await jar.get({ url: '/me', headers: ua(UA_B) })
      assert.equal(res.json().user, null, 'not restored from the remember cookie in the same request')
      assert.equal(res.json().authenticatedBy, null)
      const cleared = setCookies(res).find((c) => c.name === 'remember_token')
      assert.ok(cleared && isCleared(cleared), 'the remember cookie is cleared')
      assert.equal(cleared.path, '/')
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.equal(jar.cookies.remember_token, undefined)
      assert.deepEqual(events, ['strong'])

      assert.equal((await jar.get({ url: '/me', headers: ua(UA_B) })).json().user, null)
      assert.equal((await jar.get({ url: '/me', headers: ua(UA_A) })).json().user, null)
    } finally {
      await app.close()
    }
  })

  test('the same browser stays logged in and fresh', async () => {
    const { app, events } = await setup({ login: { sessionProtection: 'strong' } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
      for (let i = 0; i < 3; i++) {
        const res = await jar.get({ url: '/fresh', headers: ua(UA_A) })
        assert.equal(res.statusCode, 200)
        assert.equal(res.json().user.username, 'user1')
      }
      assert.deepEqual(events, [])
    } finally {
      await app.close()
    }
  })
})

describe('sessionProtection false', () => {
  test('another User-Agent and address change nothing', async () => {
    const { app, events } = await setup({ login: { sessionProtection: false } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: ua(UA_A), remoteAddress: '192.0.2.10' })
      const res = await jar.get({ url: '/me', headers: ua(UA_B), remoteAddress: '198.51.100.20' })
      assert.deepEqual(res.json(), { user: { id: 1, username: 'user1' }, authenticatedBy: 'session', fresh: true })
      assert.equal((await jar.get({ url: '/fresh', headers: ua(UA_B), remoteAddress: '198.51.100.20' })).statusCode, 200)
      assert.deepEqual(events, [])
    } finally {
      await app.close()
    }
  })
})

describe('the address is request.ip', () => {
  test('without trustProxy, a client-sent X-Forwarded-For changes nothing', async () => {
    for (const mode of ['basic', 'strong']) {
      const { app, events } = await setup({ login: { sessionProtection: mode } })
      try {
        const jar = createJar(app)
        await jar.post('/login', { id: 1 }, { headers: ua(UA_A) })
        for (const xff of ['203.0.113.7', '198.51.100.1, 10.0.0.1']) {
          const res = await jar.get({ url: '/me', headers: { ...ua(UA_A), 'x-forwarded-for': xff } })
          assert.equal(res.json().user?.username, 'user1', `${mode}, X-Forwarded-For ${xff}`)
          assert.equal(res.json().fresh, true, `${mode}, X-Forwarded-For ${xff}`)
        }
        assert.deepEqual(events, [], mode)
      } finally {
        await app.close()
      }
    }
  })

  test('with trustProxy, X-Forwarded-For is the client address and changes the fingerprint', async () => {
    const { app, events } = await setup({ fastify: { trustProxy: true } })
    try {
      const jar = createJar(app)
      await jar.post('/login', { id: 1 }, { headers: { ...ua(UA_A), 'x-forwarded-for': '203.0.113.7' } })
      let res = await jar.get({ url: '/me', headers: { ...ua(UA_A), 'x-forwarded-for': '203.0.113.7' } })
      assert.equal(res.json().fresh, true, 'same forwarded address: fresh')
      assert.deepEqual(events, [])

      res = await jar.get({ url: '/me', headers: { ...ua(UA_A), 'x-forwarded-for': '198.51.100.1' } })
      assert.equal(res.json().user?.username, 'user1')
      assert.equal(res.json().fresh, false, 'another forwarded address: stale')
      assert.deepEqual(events, ['basic'])
    } finally {
      await app.close()
    }
  })
})

describe('requests without a login are never touched', () => {
  for (const mode of ['basic', 'strong']) {
    test(`${mode}: anonymous visitors get no session written and no event`, async () => {
      const { app, events, sessions } = await setup({ login: { sessionProtection: mode } })
      try {
        for (const [agent, remoteAddress] of [[UA_A, '192.0.2.1'], [UA_B, '192.0.2.2'], [undefined, '192.0.2.3']]) {
          const headers = agent === undefined ? {} : ua(agent)
          for (const url of ['/me', '/private']) {
            const res = await app.inject({ method: 'GET', url, headers, remoteAddress })
            assert.deepEqual(setCookies(res), [], `${url}: no cookie for an anonymous visitor`)
          }
        }
        if (STORED) assert.equal(sessions.size, 0, 'nothing in the store')
        assert.deepEqual(events, [])
      } finally {
        await app.close()
      }
    })

    test(`${mode}: a session without a login seen from another browser keeps its data and gets no login keys`, async () => {
      const { app, events, sessions } = await setup({ login: { sessionProtection: mode } })
      try {
        const jar = createJar(app)
        await jar.post('/session/locale', { value: 'fr' }, { headers: ua(UA_A) })
        assert.ok(jar.cookies[SESSION_COOKIE])
        const res = await jar.get({ url: '/session/locale', headers: ua(UA_B), remoteAddress: '198.51.100.9' })
        assert.equal(res.json().value, 'fr')
        assert.deepEqual(loginKeys(storedSession(app, sessions, jar)), [])
        assert.deepEqual(events, [])
      } finally {
        await app.close()
      }
    })
  }
})

describe('keep-alive connections (a real HTTP server)', () => {
  /** Sends one request over `agent`; resolves to { status, headers, body, reused }. */
  function send (port, agent, { method = 'GET', path, headers = {}, body }) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
        let data = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => { data += chunk })
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data, reused: req.reusedSocket }))
      })
      req.on('error', reject)
      if (body !== undefined) req.end(body)
      else req.end()
    })
  }

  function sessionCookie (res) {
    const line = [].concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${SESSION_COOKIE}=`))
    return line && line.split(';')[0]
  }

  for (const mode of ['basic', 'strong']) {
    test(`${mode}: a second request with another User-Agent on the same connection is detected`, async () => {
      const { app, events } = await setup({ login: { sessionProtection: mode } })
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      try {
        await app.listen({ port: 0, host: '127.0.0.1' })
        const { port } = app.server.address()

        const login = await send(port, agent, {
          method: 'POST',
          path: '/login',
          headers: { ...ua(UA_A), 'content-type': 'application/json' },
          body: JSON.stringify({ id: 1 })
        })
        assert.equal(login.status, 200)
        const cookie = sessionCookie(login)
        assert.ok(cookie)

        const first = await send(port, agent, { path: '/me', headers: { ...ua(UA_A), cookie } })
        assert.equal(first.reused, true, 'the test needs the same connection')
        assert.deepEqual(JSON.parse(first.body), { user: { id: 1, username: 'user1' }, authenticatedBy: 'session', fresh: true })

        const second = await send(port, agent, { path: '/me', headers: { ...ua(UA_B), cookie } })
        assert.equal(second.reused, true, 'the test needs the same connection')
        const me = JSON.parse(second.body)
        if (mode === 'basic') {
          assert.equal(me.user?.username, 'user1')
          assert.equal(me.fresh, false, 'the other User-Agent is seen on a reused connection')
        } else {
          assert.equal(me.user, null, 'the other User-Agent is logged out on a reused connection')
        }
        assert.deepEqual(events, [mode])
      } finally {
        agent.destroy()
        await app.close()
      }
    })
  }

  test('two clients sharing one connection (a proxy) each get their own fingerprint', async () => {
    const { app, events } = await setup()
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address()
      const cookies = {}
      for (const [id, agentName] of [[1, UA_A], [2, UA_B]]) {
        const res = await send(port, agent, {
          method: 'POST',
          path: '/login',
          headers: { ...ua(agentName), 'content-type': 'application/json' },
          body: JSON.stringify({ id })
        })
        cookies[id] = sessionCookie(res)
      }
      for (let i = 0; i < 2; i++) {
        for (const [id, agentName] of [[1, UA_A], [2, UA_B]]) {
          const res = await send(port, agent, { path: '/me', headers: { ...ua(agentName), cookie: cookies[id] } })
          assert.equal(res.reused, true)
          const me = JSON.parse(res.body)
          assert.equal(me.user?.id, id)
          assert.equal(me.fresh, true, `user${id} stays fresh between the other user's requests`)
        }
      }
      assert.deepEqual(events, [])
    } finally {
      agent.destroy()
      await app.close()
    }
  })
})
