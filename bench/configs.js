'use strict'

// Every configuration the benchmarks know, in one place. A row is one entry:
//
//   name      what the tables call it
//   app       'bare' | 'session' | 'passport' | 'login' (bench/lib/app.js builds it)
//   login     more fastify-login options for an app: 'login' row
//   auth      'session'  every client logs in once, then sends its session cookie
//             'remember' logs in with remember-me, then sends only that cookie (each
//                        request is a remember-me restore)
//             'none'     anonymous, no cookie
//   path      what every client requests
//   baseline  the row it is compared with: ratio = baseline cost / this cost (a
//             throughput ratio, above 1 is cheaper)
//   requires  (optional) a fastify-login option the row needs: the row is skipped,
//             with a note, while the plugin rejects it as unknown
//   setup     (optional) run in the measuring process before the app is built, e.g.
//             to subscribe to a diagnostics channel
//   http      true for the rows `npm run bench:http` loads by default
//   visitEvery (optional) ms between two requests of one client on bench:cost's
//             clock, for this row (default BENCH_COST_VISIT_EVERY, 10 s): what
//             happens once a minute per login costs a request 1/6 of it at 10 s
//   about     one line for the tables
//
// A lifecycle feature priced in its own row is one entry with baseline 'login',
// e.g. { name: 'idle-timeout', app: 'login', login: { idleTimeout: 1800000 },
// auth: 'session', path: '/me', baseline: 'login', requires: 'idleTimeout', about: ... },
// and a target { kind: 'ratio', row: 'idle-timeout', min: 0.995 } below.

const REMEMBER_SECRET = 'bench-remember-secret-that-is-long-enough-0123456789'
const authVersion = (user) => user.passwordVersion

const ROWS = [
  { name: 'bare', app: 'bare', auth: 'none', path: '/me', baseline: null, http: true, about: 'Fastify alone, no session: the floor (routing, JSON)' },
  { name: 'session', app: 'session', auth: 'session', path: '/me', baseline: null, http: true, about: 'baseline: @fastify/session by hand, an async hook loads the user by the id in the session, a guard' },
  { name: 'session-anon', app: 'session', auth: 'none', path: '/public', baseline: null, http: true, about: 'baseline for anonymous traffic: the same app, a public page, no cookie' },
  { name: 'login', app: 'login', auth: 'session', path: '/me', baseline: 'session', http: true, about: 'fastify-login, default options, logged in, behind loginRequired' },
  { name: 'anon', app: 'login', auth: 'none', path: '/public', baseline: 'session-anon', http: true, about: 'fastify-login, anonymous public page' },
  { name: 'protection-off', app: 'login', login: { sessionProtection: false }, auth: 'session', path: '/me', baseline: 'session', about: 'login with sessionProtection: false (no fingerprint)' },
  { name: 'protection-strong', app: 'login', login: { sessionProtection: 'strong' }, auth: 'session', path: '/me', baseline: 'session', about: "login with sessionProtection: 'strong'" },
  { name: 'auth-version', app: 'login', login: { authVersion }, auth: 'session', path: '/me', baseline: 'session', about: 'login with authVersion (checked on every request)' },
  { name: 'remember', app: 'login', login: { remember: { secret: REMEMBER_SECRET } }, auth: 'remember', path: '/me', baseline: 'session', http: true, about: 'remember-me restore on every request (only the remember cookie is sent)' },
  { name: 'logins', app: 'login', login: { logins: true }, auth: 'session', path: '/me', baseline: 'session', requires: 'logins', about: 'login registry on (logins: true, memory store)' },
  { name: 'passport', app: 'passport', auth: 'session', path: '/me', baseline: 'session', http: true, about: '@fastify/passport session strategy on @fastify/session' },
  // The lifecycle features, each against the login row without it.
  { name: 'idle-timeout', app: 'login', login: { idleTimeout: 30 * 60 * 1000 }, auth: 'session', path: '/me', baseline: 'login', requires: 'idleTimeout', about: 'login with idleTimeout (30 min; the visit written at most once a minute: every 6th request of a client back every 10 s)' },
  { name: 'idle-timeout-1s', app: 'login', login: { idleTimeout: 30 * 60 * 1000 }, auth: 'session', path: '/me', baseline: 'login', requires: 'idleTimeout', visitEvery: 1000, about: 'the same, each client back every second (a busy single-page app): the write every 60th request' },
  { name: 'absolute-timeout', app: 'login', login: { absoluteTimeout: 12 * 60 * 60 * 1000 }, auth: 'session', path: '/me', baseline: 'login', requires: 'absoluteTimeout', about: 'login with absoluteTimeout (12 h; the start time in the session)' },
  { name: 'diagnostics', app: 'login', auth: 'session', path: '/me', baseline: 'login', setup: subscribeAll, about: 'login with a subscriber on every fastify-login diagnostics channel (the login row has none)' }
]

/** Subscribes to every channel fastify-login publishes on (a logged-in request publishes nothing). */
function subscribeAll () {
  const diagnostics = require('node:diagnostics_channel')
  for (const name of ['login', 'logout', 'restore', 'unauthorized', 'ended']) diagnostics.subscribe(`fastify-login:${name}`, () => {})
}

// What `npm run bench:cost` judges, on the medians of the repeats, at every client
// count. ratio: the row's ratio to its baseline >= min; cheaper: the row costs
// fewer instructions than `than`.
const COST_TARGETS = [
  { name: 'login/session', kind: 'ratio', row: 'login', min: 0.98 },
  { name: 'anon/session-anon', kind: 'ratio', row: 'anon', min: 0.995 },
  { name: 'logins/session', kind: 'ratio', row: 'logins', min: 0.97 },
  { name: 'login < passport', kind: 'cheaper', row: 'login', than: 'passport' },
  { name: 'idle-timeout/login', kind: 'ratio', row: 'idle-timeout', min: 0.995 },
  { name: 'idle-timeout-1s/login', kind: 'ratio', row: 'idle-timeout-1s', min: 0.995 },
  { name: 'absolute-timeout/login', kind: 'ratio', row: 'absolute-timeout', min: 0.995 },
  { name: 'diagnostics/login', kind: 'ratio', row: 'diagnostics', min: 0.995 }
]

// What `npm run bench:http` judges, on the median req/s.
const HTTP_TARGETS = [
  { name: 'login/session', kind: 'ratio', row: 'login', min: 0.95 },
  { name: 'anon/session-anon', kind: 'ratio', row: 'anon', min: 0.98 },
  { name: 'login < passport', kind: 'cheaper', row: 'login', than: 'passport' }
]

// `npm run bench:fleet`: two instances on one Redis (sessions through
// connect-redis). `registry: 'redis'` puts the login registry in the same Redis
// (RedisLoginStore). `revoke` says how a login is ended on instance A: 'logout'
// (the session is destroyed in Redis) or 'revoke' (loginManager.revokeLogins,
// called by the instance itself: the session stays in Redis, only the registry
// knows).
const FLEET_ROWS = [
  { name: 'session', app: 'session', auth: 'session', path: '/me', baseline: null, revoke: 'logout', about: 'session-only baseline, sessions in Redis' },
  { name: 'login', app: 'login', auth: 'session', path: '/me', baseline: 'session', revoke: 'logout', about: 'fastify-login, sessions in Redis' },
  { name: 'registry', app: 'login', registry: 'redis', auth: 'session', path: '/me', baseline: 'session', revoke: 'revoke', about: 'fastify-login, the login registry on RedisLoginStore' }
]

const FLEET_TARGETS = {
  // Redis commands per logged-in request beyond the session-only app's.
  extraCommands: { row: 'registry', max: 0.05 },
  // Throughput of the registry app over the session-only app's, median of the rounds.
  throughput: { row: 'registry', min: 0.95 },
  // Revocation on A seen on B, median, ms.
  revocationMedianMs: { row: 'registry', max: 100 }
}

function find (rows, name, what) {
  const found = rows.find((r) => r.name === name)
  if (!found) throw new Error(`unknown ${what} "${name}", expected one of: ${rows.map((r) => r.name).join(', ')}`)
  return found
}

const row = (name) => find(ROWS, name, 'configuration')
const fleetRow = (name) => find(FLEET_ROWS, name, 'fleet configuration')

/**
 * The rows named in `names` (all when empty), with the baselines and the rows the
 * targets compare them with, in table order.
 */
function withBaselines (names, rows = ROWS, targets = COST_TARGETS) {
  if (!names || names.length === 0) return rows
  const wanted = new Set()
  for (const name of names) {
    const r = find(rows, name, 'configuration')
    wanted.add(r.name)
    if (r.baseline) wanted.add(r.baseline)
  }
  for (const t of targets) if (t.than && wanted.has(t.row)) wanted.add(t.than)
  return rows.filter((r) => wanted.has(r.name))
}

module.exports = { ROWS, COST_TARGETS, HTTP_TARGETS, FLEET_ROWS, FLEET_TARGETS, REMEMBER_SECRET, row, fleetRow, withBaselines }
