'use strict'

// npm run bench:store
//
// How long each RedisLoginStore call holds Redis (its single thread) with 1,000
// logins on one user: the server's own measure of each command (SLOWLOG with a
// threshold of 0 logs every command with its execution time in µs; a script is one
// command), per operation, on a private redis-server. Writes the `store` section of
// bench/results.json.
//
// Execution time only: what a script costs every other client of Redis while it
// runs. A busy machine inflates it (the server may be descheduled mid-script);
// compare the median with the max.

const { randomBytes } = require('node:crypto')
const { createClient } = require('redis')
const { RedisLoginStore } = require('../dist/registry/stores/redis.js')
const { userTag, END_BATCH } = require('../dist/registry/stores/records.js')
const { startRedis } = require('../test/support/redis')
const { writeSection } = require('./lib/stats')

const DAY = 24 * 60 * 60 * 1000
const USER = 'k:crowd'
const N = 1000
const newId = () => randomBytes(16).toString('base64url')

function makeLogin (i, remembered) {
  const now = Date.now()
  const login = {
    id: newId(),
    userId: USER,
    createdAt: now,
    lastSeenAt: now + i,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    device: 'Firefox on Linux',
    method: remembered ? 'remember' : 'credentials',
    remembered
  }
  if (!remembered) return { login }
  login.series = userTag(USER) + newId().slice(0, 22)
  const series = {
    selector: login.series,
    userId: USER,
    loginId: login.id,
    validatorHash: newId() + newId(),
    previousHash: null,
    rotatedAt: now,
    expiresAt: now + 30 * DAY,
    lifetime: 30 * DAY,
    version: '',
    spentHash: null
  }
  return { login, series }
}

const options = (overrides = {}) => ({ ttl: DAY, maxPerUser: N, onLimit: 'evict-oldest', now: Date.now(), keepEndedFor: DAY, ...overrides })
const ending = (overrides = {}) => ({ reason: 'revoked', now: Date.now(), keepEndedFor: DAY, ...overrides })

/** Fills the user up to N logins, half of them remembered. */
async function fill (store, ttl = DAY) {
  const made = Array.from({ length: N }, (_, i) => makeLogin(i, i % 2 === 0))
  await Promise.all(made.map(({ login, series }) => store.createLogin(login, options({ series, ttl }))))
  return made
}

async function main () {
  const server = await startRedis()
  const client = createClient({ url: server.url })
  client.on('error', () => {})
  await client.connect()
  const store = new RedisLoginStore({ client, prefix: 'cost:' })
  await client.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', '100000'])
  await client.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '0'])
  const rows = []

  /** Runs `work`, then reads the execution time of each of its commands (scripts, and listing's plain commands) from SLOWLOG. */
  async function measure (name, work) {
    await client.sendCommand(['SLOWLOG', 'RESET'])
    await work()
    const log = await client.sendCommand(['SLOWLOG', 'GET', '-1'])
    // The commands a script runs are logged too, from the address ?:0: only what the store sent counts.
    const sent = log.filter((entry) => entry[4] !== '?:0' && !/^SLOWLOG$/i.test(String(entry[3][0])))
    const times = sent.map((entry) => Number(entry[2])).sort((a, b) => a - b)
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))]
    rows.push({ operation: name, commands: times.length, 'median µs': at(0.5), 'p99 µs': at(0.99), 'max µs': times[times.length - 1] })
  }

  // Every script once, so that no figure below includes loading and compiling one.
  {
    const { login, series } = makeLogin(0, true)
    const warm = { ...login, userId: 'k:warm', series: userTag('k:warm') + login.series.slice(4) }
    await store.createLogin(warm, options({ series: { ...series, userId: 'k:warm', selector: warm.series } }))
    await store.getLogin('k:warm', warm.id)
    await store.touchLogin('k:warm', warm.id, Date.now(), DAY)
    await store.getSeries(warm.series)
    await store.updateSeries('k:warm', warm.series, {
      expectHash: series.validatorHash, validatorHash: newId(), previousHash: null, rotatedAt: Date.now(), spentHash: null, now: Date.now(), loginTtl: DAY
    })
    await store.extendSeries('k:warm', warm.series, Date.now() + DAY)
    await store.listLogins('k:warm', { limit: 10, ended: false })
    await store.endLogins('k:warm', [warm.id], ending())
  }

  let made
  await measure(`createLogin x ${N} (one user, up to ${N})`, async () => { made = await fill(store) })
  const live = made.map(({ login }) => login)
  const remembered = made.filter(({ series }) => series)
  await measure('createLogin at the cap (evicts 1)', () => store.createLogin(makeLogin(N, false).login, options()))
  await measure('getLogin x 100', async () => { for (const login of live.slice(500, 600)) await store.getLogin(USER, login.id) })
  await measure('touchLogin x 100', async () => { for (const login of live.slice(500, 600)) await store.touchLogin(USER, login.id, Date.now(), DAY) })
  await measure('getSeries x 100', async () => { for (const { series } of remembered.slice(200, 300)) await store.getSeries(series.selector) })
  await measure('updateSeries x 100', async () => {
    for (const { series } of remembered.slice(200, 300)) {
      await store.updateSeries(USER, series.selector, {
        expectHash: series.validatorHash, validatorHash: newId(), previousHash: series.validatorHash, rotatedAt: Date.now(), spentHash: null, now: Date.now(), loginTtl: DAY
      })
    }
  })
  await measure('extendSeries x 100', async () => { for (const { series } of remembered.slice(300, 400)) await store.extendSeries(USER, series.selector, Date.now() + 60 * DAY) })
  await measure('listLogins limit 100', () => store.listLogins(USER, { limit: 100, ended: false }))
  await measure(`listLogins limit ${N}`, () => store.listLogins(USER, { limit: N, ended: false }))
  await measure(`endLogins all, ${END_BATCH} a call, until none`, async () => {
    while ((await store.endLogins(USER, { all: true, except: null, limit: N }, ending())).length > 0);
  })
  await measure(`listLogins ended, limit ${N} (a full history)`, () => store.listLogins(USER, { limit: N, ended: true }))
  made = await fill(store)
  await measure(`endLogins by ${N} ids (${END_BATCH} a script), history at its cap`, () => store.endLogins(USER, made.map(({ login }) => login.id), ending()))
  made = await fill(store)
  await measure(`createLogin with maxPerUser 1 over ${N} (evicts ${END_BATCH})`, () => store.createLogin(makeLogin(0, false).login, options({ maxPerUser: 1 })))
  await store.endLogins(USER, { all: true, except: null, limit: N }, ending({ keepEndedFor: 0 }))
  while ((await store.endLogins(USER, { all: true, except: null, limit: N }, ending({ keepEndedFor: 0 }))).length > 0);
  made = await fill(store, 300)
  while ((await store.getLogin(USER, made[N - 1].login.id)).status === 'live') await new Promise((resolve) => setTimeout(resolve, 50))
  await measure(`the first write after ${N} logins expired (trims them all)`, () => store.createLogin(makeLogin(0, false).login, options()))

  console.table(rows)
  const info = String(await client.sendCommand(['INFO', 'server']))
  writeSection('store', {
    date: new Date().toISOString(),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? null,
    loginsOfOneUser: N,
    unit: 'execution time inside Redis per command the store sent (SLOWLOG), µs',
    operations: rows
  })
  client.destroy()
  await server.stop()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
