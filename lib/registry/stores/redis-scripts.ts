import { createHash } from 'node:crypto'
import { COMMON, USER } from './redis-lua'

/**
 * The Lua scripts of RedisLoginStore (key layout and helpers: redis-lua.ts).
 * Redis runs a script alone, start to end, so each store method but listing
 * (redis-list.ts) is one script: no other client sees it half done, and a check and
 * its consequence (a compare-and-set, a cap) are one step. Every script of a user
 * takes the user's ten keys; every key it touches is one of them.
 */

export interface Script {
  source: string
  sha: string
}

function script (preamble: string, body: string): Script {
  const source = preamble + body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/**
 * ARGV: channel, id, login JSON, lastSeenAt, ttl, maxPerUser, onLimit, endedAt,
 * keepEndedFor, maxEnded, endBatch[, selector, series JSON, series expiresAt].
 * Returns { 'limit' } or { 'created', evicted id, JSON, lastSeenAt, ... }.
 */
export const CREATE = script(USER, `
local now = clock()
trimAll(now)
local id, selector = ARGV[2], ARGV[12]
if redis.call('HEXISTS', LOGINS, id) == 1 or redis.call('HEXISTS', ENDED, id) == 1 or
  redis.call('HEXISTS', HISTORY, id) == 1 or (selector and redis.call('HEXISTS', SERIES, selector) == 1) then
  settle()
  return redis.error_reply('ERR createLogin: the login id or series selector is already in use')
end
local reply = { 'created' }
local over = redis.call('ZCARD', SEEN) + 1 - tonumber(ARGV[6])
if over > 0 then
  if ARGV[7] == 'reject' then return finish({ 'limit' }) end
  local victims = redis.call('ZRANGE', SEEN, 0, math.min(over, tonumber(ARGV[11])) - 1)
  local evicted, ids = endLogins(victims, 'evicted', ARGV[8], tonumber(ARGV[9]), now)
  for _, value in ipairs(evicted) do reply[#reply + 1] = value end
  if #ids < #victims then each('ZREM', SEEN, victims) end
  capEnded(tonumber(ARGV[10]))
  publish(ARGV[1], ids)
end
local expires = now + tonumber(ARGV[5])
if selector then
  expires = math.max(expires, tonumber(ARGV[14]))
  redis.call('HSET', SERIES, selector, ARGV[13])
  redis.call('ZADD', SERIES_EXPIRY, ARGV[14], selector)
end
redis.call('HSET', LOGINS, id, ARGV[3])
redis.call('ZADD', SEEN, ARGV[4], id)
redis.call('ZADD', EXPIRY, fmt(expires), id)
return finish(reply)
`)

/**
 * ARGV: id. Returns { 'live', JSON, lastSeenAt }, or { 'ended', reason or ended
 * JSON } from the tombstone or else the history, or { 'missing' }.
 */
export const GET = script(USER, `
local now, id = clock(), ARGV[1]
local function standing(index, hash)
  local expires = tonumber(redis.call('ZSCORE', index, id))
  return expires and expires > now and redis.call('HGET', hash, id)
end
local raw = standing(EXPIRY, LOGINS)
if raw then return { 'live', raw, redis.call('ZSCORE', SEEN, id) } end
local ended = standing(ENDED_EXPIRY, ENDED) or standing(HISTORY_EXPIRY, HISTORY)
if ended then return { 'ended', ended } end
return { 'missing' }
`)

/**
 * ARGV: id, lastSeenAt, ttl. lastSeenAt only moves forward; the login never expires
 * before its series. It runs once a minute for every active login, so it does only
 * its own work: no trimming of the user's other entries (the next write that counts
 * or lists does that), and only the login keys' expiry follows the one it extends.
 */
export const TOUCH = script(USER, `
local now, id = clock(), ARGV[1]
local standsUntil = tonumber(redis.call('ZSCORE', EXPIRY, id))
local raw = redis.call('HGET', LOGINS, id)
if not standsUntil or standsUntil <= now or not raw then return 0 end
local login = decode(raw)
if not login then return 0 end
local expires = now + tonumber(ARGV[3])
if type(login.series) == 'string' then
  expires = math.max(expires, tonumber(redis.call('ZSCORE', SERIES_EXPIRY, login.series)) or 0)
end
redis.call('ZADD', SEEN, 'GT', ARGV[2], id)
redis.call('ZADD', EXPIRY, fmt(expires), id)
expireWith(EXPIRY, { LOGINS, SEEN, EXPIRY })
return 1
`)

/**
 * ARGV: channel, reason, endedAt, keepEndedFor, maxEnded, then 'ids', id... or
 * 'all', limit, except ('' for none). Returns id, JSON, lastSeenAt, ... of the
 * logins it ended; publishes their ids.
 */
export const END = script(USER, `
local now = clock()
trimAll(now)
local ids = {}
if ARGV[6] == 'all' then
  local limit, from = tonumber(ARGV[7]), 0
  while #ids < limit do
    local page = redis.call('ZRANGE', SEEN, from, from + limit)
    if #page == 0 then break end
    for _, id in ipairs(page) do
      if id ~= ARGV[8] and #ids < limit then ids[#ids + 1] = id end
    end
    from = from + limit + 1
  end
else
  for i = 7, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local reply, ended = endLogins(ids, ARGV[2], ARGV[3], tonumber(ARGV[4]), now)
-- An index entry without its record (never made by the store) must not stall the loop of 'all'.
if ARGV[6] == 'all' and #ended < #ids then each('ZREM', SEEN, ids) end
capEnded(tonumber(ARGV[5]))
publish(ARGV[1], ended)
return finish(reply)
`)

/**
 * ARGV: selector, userId, expectHash, validatorHash, previousHash, rotatedAt,
 * spentHash, lastSeenAt, loginTtl ('' for a null hash). Returns 'ok', 'changed'
 * or 'unknown'. On 'ok' the series' login is touched and lives at least loginTtl.
 */
export const UPDATE = script(USER, `
local now = clock()
trimAll(now)
local series = seriesWithLogin(ARGV[1], ARGV[2])
if not series then return finish('unknown') end
if series.validatorHash ~= ARGV[3] then return finish('changed') end
series.validatorHash = ARGV[4]
series.previousHash = ARGV[5] ~= '' and ARGV[5] or nil
series.rotatedAt = tonumber(ARGV[6])
series.spentHash = ARGV[7] ~= '' and ARGV[7] or nil
redis.call('HSET', SERIES, ARGV[1], encodeSeries(series))
redis.call('ZADD', SEEN, 'GT', ARGV[8], series.loginId)
local expires = math.max(tonumber(redis.call('ZSCORE', EXPIRY, series.loginId)) or 0, now + tonumber(ARGV[9]), series.expiresAt)
redis.call('ZADD', EXPIRY, fmt(expires), series.loginId)
return finish('ok')
`)

/** ARGV: selector, userId, expiresAt. The series' login lives at least as long. Returns 1, or 0 when unknown. */
export const EXTEND = script(USER, `
local now = clock()
trimAll(now)
local series = seriesWithLogin(ARGV[1], ARGV[2])
if not series then return finish(0) end
series.expiresAt = tonumber(ARGV[3])
redis.call('HSET', SERIES, ARGV[1], encodeSeries(series))
redis.call('ZADD', SERIES_EXPIRY, ARGV[3], ARGV[1])
local expires = tonumber(redis.call('ZSCORE', EXPIRY, series.loginId)) or 0
if series.expiresAt > expires then redis.call('ZADD', EXPIRY, ARGV[3], series.loginId) end
return finish(1)
`)

/** KEYS: series, series-expiry of the selector's tag. ARGV: selector. Returns the series JSON or nil. */
export const GET_SERIES = script(COMMON, `
local expires = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if not expires or expires <= clock() then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
`)
