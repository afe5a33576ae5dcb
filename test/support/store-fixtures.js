'use strict'

// Records, options and helpers for the tests of the login registry's stores.
//
// Time: nothing here asserts how fast anything is, and no sleep races a TTL. What
// must expire gets a short lifetime and the test polls until it is gone, with a
// generous deadline; what must still stand then is checked after that, against
// something that had a long lifetime. Where a setup must finish within a short
// lifetime to be meaningful (end a login before it expires), `withShortLife`
// tries again with a doubled lifetime when the machine was too slow: a busy
// machine gets longer lifetimes, never a false failure.

const assert = require('node:assert/strict')
const { createHash, randomBytes } = require('node:crypto')
const { userTag, END_BATCH, MAX_ENDED } = require('../../dist/registry/stores/records.js')

const DAY = 24 * 60 * 60 * 1000
const LONG = 10 * 60 * 1000

const newId = () => randomBytes(16).toString('base64url')
const hash = (validator) => createHash('sha256').update(validator).digest('base64url')
const ids = (logins) => logins.map((login) => login.id)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it answers truthy; fails after `timeout` ms with `what`. */
async function eventually (check, what, timeout = 30000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(20)
  }
}

/**
 * Runs `attempt(life)` with a short lifetime in ms; `attempt` answers false when
 * what it made expired before its setup was done, and it runs again with twice
 * the lifetime.
 */
async function withShortLife (attempt) {
  for (let life = 150; life <= 40000; life *= 2) {
    if (await attempt(life)) return
  }
  assert.fail('the setup never finished within a 40 s lifetime')
}

function makeLogin (userId = 'k:user-1', overrides = {}) {
  const now = Date.now()
  return {
    id: newId(),
    userId,
    createdAt: now,
    lastSeenAt: now,
    ip: '203.0.113.7',
    // Quotes, a slash, non-ASCII, an emoji and a control character: the JSON must survive every store.
    userAgent: 'Mozilla/5.0 (X11; Linux) "quoted" \\ / café 😀 \u0001',
    method: 'credentials',
    remembered: false,
    ...overrides
  }
}

function newSelector (userId) {
  return userTag(userId) + newId().slice(0, 22)
}

/** A remembered login and the series that backs it, validator `v1`. */
function makeRemembered (userId = 'k:user-1', { expiresAt = Date.now() + DAY, login = {} } = {}) {
  const selector = newSelector(userId)
  const record = makeLogin(userId, { method: 'remember', remembered: true, series: selector, ...login })
  const series = {
    selector,
    userId,
    loginId: record.id,
    validatorHash: hash('v1'),
    previousHash: null,
    rotatedAt: Date.now(),
    expiresAt,
    lifetime: DAY,
    version: 'ver-1',
    spentHash: null
  }
  return { login: record, series }
}

function createOptions (overrides = {}) {
  return { ttl: LONG, maxPerUser: 100, onLimit: 'evict-oldest', now: Date.now(), keepEndedFor: 0, ...overrides }
}

function endOptions (overrides = {}) {
  return { reason: 'revoked', now: Date.now(), keepEndedFor: 0, ...overrides }
}

function update (series, next, overrides = {}) {
  return {
    expectHash: series.validatorHash,
    validatorHash: hash(next),
    previousHash: series.validatorHash,
    rotatedAt: Date.now(),
    spentHash: null,
    now: Date.now(),
    loginTtl: LONG,
    ...overrides
  }
}

/** A watcher that records what it hears. */
function recorder () {
  const heard = { ended: [], downs: 0, ups: 0 }
  heard.watcher = {
    ended: (loginIds) => heard.ended.push(...loginIds),
    down: () => { heard.downs++ },
    up: () => { heard.ups++ }
  }
  return heard
}

module.exports = {
  DAY,
  LONG,
  END_BATCH,
  MAX_ENDED,
  newId,
  hash,
  ids,
  sleep,
  eventually,
  withShortLife,
  makeLogin,
  makeRemembered,
  newSelector,
  createOptions,
  endOptions,
  update,
  recorder
}
