'use strict'

// What the session lifecycle tests (test/both/timeouts, fresh-for, login-ended,
// impersonation, registry-bounds, diagnostics) share: an app built like the
// README's with one route that shows everything a request knows about its login,
// a record of every lifecycle event, and a mock clock that starts on a whole
// second (the session state keeps times in whole seconds, so a test that counts
// to the second must not start in the middle of one).

const { MemoryLoginStore } = require('fastify-login')
const { buildApp, createJar, USERS, REMEMBER_SECRET } = require('../helper')

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const HTML = { accept: 'text/html,application/xhtml+xml' }
const REMEMBER = 'remember_token'

/** The two ways to run a lifecycle feature: with the login registry (a memory store the test can read) and without. */
const CONFIGURATIONS = {
  'without the registry': () => ({}),
  'with the registry': () => ({ logins: { store: new MemoryLoginStore() } })
}

/** Starts node:test's mock Date at a whole second (a fixed, recent one) for this test. */
function startClock (t, at = 1_767_225_600_000) {
  t.mock.timers.enable({ apis: ['Date'], now: at })
  return (ms) => t.mock.timers.tick(ms)
}

/** A private copy of the helper's users, so a test can change one (its authVersion) or delete it. */
function cloneUsers () {
  return new Map([...USERS].map(([id, user]) => [id, { ...user }]))
}

/**
 * An app for the lifecycle tests. `login` options go over remember-me (on) and the
 * default loader; `routes(app)` adds routes. Routes added here:
 *   GET /visit  -> who the request is: { user, by, fresh, remembered, loginId, impersonator, reason }
 * Events of `app.loginManager` are recorded in `events`, in order.
 */
async function lifecycleApp (t, { login = {}, routes, users = cloneUsers(), session, store, fastify } = {}) {
  const events = { ended: [], started: [], stopped: [], logins: [], logouts: [], restored: [], theft: [] }
  const app = await buildApp({
    users,
    session,
    store,
    fastify,
    login: { remember: { secret: REMEMBER_SECRET }, ...login },
    routes: async (app) => {
      app.get('/visit', async (request) => describeRequest(request))
      if (routes) await routes(app)
    }
  })
  t.after(() => app.close())
  const manager = app.loginManager
  manager.on('loginEnded', (request, end) => events.ended.push({ ...end, request: request === null ? null : 'request' }))
  manager.on('impersonationStarted', (request, impersonator, target) => events.started.push({ impersonator: impersonator.id, target: target.id }))
  manager.on('impersonationEnded', (request, impersonator, target, reason) => events.stopped.push({ impersonator: impersonator.id, target: target.id, reason }))
  manager.on('login', (request, user) => events.logins.push(user.id))
  manager.on('logout', (request, user) => events.logouts.push(user.id))
  manager.on('loadedFromRemember', (request, user) => events.restored.push(user.id))
  manager.on('rememberTheft', (request, userId) => events.theft.push(userId))
  return { app, events, users }
}

/** Everything a request knows about its login, as /visit answers it. */
function describeRequest (request) {
  return {
    user: request.user?.id ?? null,
    by: request.authenticatedBy,
    fresh: request.isFresh(),
    remembered: request.isRemembered(),
    loginId: request.loginId,
    impersonator: request.impersonator?.id ?? null,
    reason: request.loginEndReason
  }
}

/** A browser logged in as user `id` (`extra`: remember, fresh...). */
async function loggedIn (app, id = 1, extra = {}, headers = {}) {
  const jar = createJar(app)
  const res = await jar.post('/login', { id, ...extra }, { headers })
  if (res.statusCode !== 200) throw new Error(`login of ${id} answered ${res.statusCode}: ${res.body}`)
  return jar
}

/** What /visit answers for this browser. */
async function visit (jar, headers) {
  const res = await jar.get({ url: '/visit', headers })
  if (res.statusCode !== 200) throw new Error(`/visit answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** The loginEnded events without the request marker, for comparing. */
function ends (events) {
  return events.ended.map(({ userId, loginId, reason }) => ({ userId, loginId, reason }))
}

module.exports = {
  SECOND,
  MINUTE,
  HOUR,
  DAY,
  HTML,
  REMEMBER,
  CONFIGURATIONS,
  startClock,
  cloneUsers,
  lifecycleApp,
  describeRequest,
  loggedIn,
  visit,
  ends
}
