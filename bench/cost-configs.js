'use strict'

// The configurations `npm run bench:cost` measures, one row each. Adding one is
// one line:
//   name      what the table calls it
//   spec      the app (bench/app.js): { app, login: <fastify-login options> }
//   auth      'session' (every client logs in once, then sends its session cookie),
//             'remember' (logs in with remember-me, then sends only that cookie:
//             each request is a restore), 'none' (anonymous, no cookie)
//   path      the request every client sends
//   baseline  the row it is compared with (ratio = baseline cost / this cost, a
//             throughput ratio like the HTTP bench's req/s ratios)
//   requires  (optional) a fastify-login option this row needs: when the plugin
//             rejects it as unknown, the row is skipped with a note
//   about     one line for the README and the report

const { REMEMBER_SECRET } = require('./app')

const authVersion = (user) => user.passwordVersion

const ROWS = [
  { name: 'bare', spec: { app: 'bare' }, auth: 'none', path: '/me', baseline: null, about: 'Fastify alone, no session: the floor (app.inject + routing + JSON)' },
  { name: 'session', spec: { app: 'session' }, auth: 'session', path: '/me', baseline: null, about: 'baseline: @fastify/session by hand, an async hook loads the user by the id in the session' },
  { name: 'session-anon', spec: { app: 'session' }, auth: 'none', path: '/public', baseline: null, about: 'baseline for anonymous: the same app, a public page, no cookie' },
  { name: 'login', spec: { app: 'login' }, auth: 'session', path: '/me', baseline: 'session', about: 'fastify-login, default options, logged in, behind loginRequired' },
  { name: 'anon', spec: { app: 'login' }, auth: 'none', path: '/public', baseline: 'session-anon', about: 'fastify-login, anonymous public page' },
  { name: 'protection-off', spec: { app: 'login', login: { sessionProtection: false } }, auth: 'session', path: '/me', baseline: 'session', about: 'login with sessionProtection: false (no fingerprint)' },
  { name: 'protection-strong', spec: { app: 'login', login: { sessionProtection: 'strong' } }, auth: 'session', path: '/me', baseline: 'session', about: "login with sessionProtection: 'strong'" },
  { name: 'auth-version', spec: { app: 'login', login: { authVersion } }, auth: 'session', path: '/me', baseline: 'session', about: 'login with authVersion (checked on every request)' },
  { name: 'remember', spec: { app: 'login', login: { remember: { secret: REMEMBER_SECRET } } }, auth: 'remember', path: '/me', baseline: 'session', about: 'remember-me restore on every request (only the remember cookie is sent)' },
  { name: 'logins', spec: { app: 'login', login: { logins: true } }, auth: 'session', path: '/me', baseline: 'session', requires: 'logins', about: 'login registry on (logins: true, memory store)' },
  { name: 'passport', spec: { app: 'passport' }, auth: 'session', path: '/me', baseline: 'session', about: '@fastify/passport session strategy on @fastify/session' }
]

// What the report judges, on the medians of the repeats.
//   ratio: baseline cost / row cost >= min     cheaper: row cost < other row cost
const TARGETS = [
  { name: 'login/session', kind: 'ratio', row: 'login', min: 0.98 },
  { name: 'anon/session-anon', kind: 'ratio', row: 'anon', min: 0.995 },
  { name: 'login < passport', kind: 'cheaper', row: 'login', than: 'passport' }
]

function row (name) {
  const found = ROWS.find((r) => r.name === name)
  if (!found) throw new Error(`unknown cost config "${name}", expected one of: ${ROWS.map((r) => r.name).join(', ')}`)
  return found
}

module.exports = { ROWS, TARGETS, row }
