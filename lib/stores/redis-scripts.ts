import { createHash } from 'node:crypto'

/**
 * The Lua scripts of RedisLoginStore. Redis runs a script alone, start to end,
 * so each store method that reads and writes, or writes several keys, is one
 * script: no other client sees it half done. ARGV[1] is always the key prefix.
 *
 * Keys: <prefix>login:<id> (JSON), <prefix>series:<selector> (JSON) and
 * <prefix>user:<userId>, a sorted set of the user's login ids scored by their
 * expiry (ms, the server's clock). A login key and its index entry expire at
 * the same millisecond; the index expires with its longest-lived member.
 */

export interface Script {
  source: string
  sha: string
}

function script (body: string): Script {
  const source = PREAMBLE + body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

const PREAMBLE = `
local LOGIN = { id = 'string', userId = 'string', createdAt = 'number', lastSeenAt = 'number',
  ip = 'string', userAgent = 'string', method = 'string', remembered = 'boolean' }
local SERIES = { selector = 'string', userId = 'string', loginId = 'string', validatorHash = 'string',
  rotatedAt = 'number', expiresAt = 'number', lifetime = 'number', version = 'string' }

-- The server's time in ms: the clock key expiry runs on.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The JSON object in raw if its fields have these types, else nil: a missing or corrupt value is absent.
local function decode(raw, fields)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if not ok or type(value) ~= 'table' then return nil end
  for name, kind in pairs(fields) do
    if type(value[name]) ~= kind then return nil end
  end
  return value
end

local function decodeSeries(raw)
  local series = decode(raw, SERIES)
  if series and (series.previousHash == cjson.null or type(series.previousHash) == 'string') then return series end
  return nil
end

-- Drops the expired members of a user's index; the index then expires with its last member.
local function reindex(index, now)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now)
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', index, last[2]) end
end

-- Saves a login until now + ttl, listed in its user's index until the same ms.
local function saveLogin(key, index, id, json, ttl)
  local now = clock()
  local expires = now + tonumber(ttl)
  redis.call('SET', key, json, 'PXAT', expires)
  redis.call('ZADD', index, expires, id)
  reindex(index, now)
end

local function dropLogin(id, userId)
  local index = ARGV[1] .. 'user:' .. userId
  redis.call('DEL', ARGV[1] .. 'login:' .. id)
  redis.call('ZREM', index, id)
  reindex(index, clock())
end
`

/**
 * KEYS: login, user index[, series]. ARGV: prefix, login id, login JSON, ttl[, series JSON, series expiresAt].
 * The login, its index entry and its series appear together or not at all.
 */
export const CREATE = script(`
saveLogin(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[5], 'PXAT', ARGV[6]) end
`)

/** KEYS: login. ARGV: prefix, login id, lastSeenAt, ttl. Returns 1 when the login was there. */
export const TOUCH = script(`
local login = decode(redis.call('GET', KEYS[1]), LOGIN)
if not login then return 0 end
login.lastSeenAt = tonumber(ARGV[3])
saveLogin(KEYS[1], ARGV[1] .. 'user:' .. login.userId, ARGV[2], cjson.encode(login), ARGV[4])
return 1
`)

/**
 * KEYS: user index. ARGV: prefix. Returns the JSON of the user's logins that
 * stand; trims the expired ones, and those whose key is gone, from the index.
 */
export const LIST = script(`
reindex(KEYS[1], clock())
local found = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local raw = redis.call('GET', ARGV[1] .. 'login:' .. id)
  if raw then found[#found + 1] = raw else redis.call('ZREM', KEYS[1], id) end
end
return found
`)

/**
 * KEYS: user index, then the logins. ARGV: prefix, user id, then the login ids.
 * Deletes each login of this user with its series and index entry; another
 * user's login is left alone, an unreadable one listed under this user goes.
 */
export const DELETE = script(`
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  local login = decode(redis.call('GET', KEYS[i]), LOGIN)
  if login and login.userId == ARGV[2] then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], id)
    if type(login.series) == 'string' then redis.call('DEL', ARGV[1] .. 'series:' .. login.series) end
  elseif not login and redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('DEL', KEYS[i])
  end
end
reindex(KEYS[1], clock())
`)

/**
 * KEYS: series, new login, new login's user index. ARGV: prefix, presented hash,
 * new hash, new login JSON, new login id, login ttl, now, graceMs.
 * Returns { status, series JSON }: the check and its consequence are one step,
 * so two requests presenting one validator cannot both rotate.
 */
export const ROTATE = script(`
local raw = redis.call('GET', KEYS[1])
local series = decodeSeries(raw)
if not series then return { 'unknown' } end
local now = tonumber(ARGV[7])
if ARGV[2] == series.validatorHash then
  dropLogin(series.loginId, series.userId)
  series.previousHash = series.validatorHash
  series.validatorHash = ARGV[3]
  series.rotatedAt = now
  series.loginId = ARGV[5]
  local json = cjson.encode(series)
  redis.call('SET', KEYS[1], json, 'KEEPTTL')
  saveLogin(KEYS[2], KEYS[3], ARGV[5], ARGV[4], ARGV[6])
  return { 'rotated', json }
end
if ARGV[2] == series.previousHash and now - series.rotatedAt <= tonumber(ARGV[8]) then
  return { 'grace', raw }
end
redis.call('DEL', KEYS[1])
dropLogin(series.loginId, series.userId)
return { 'theft', raw }
`)

/**
 * KEYS: series. ARGV: prefix, expiresAt. The series' login lives at least as
 * long as the series, so revoking the user's logins always reaches the series.
 */
export const EXTEND = script(`
local series = decodeSeries(redis.call('GET', KEYS[1]))
if not series then return 0 end
local expires = tonumber(ARGV[2])
series.expiresAt = expires
redis.call('SET', KEYS[1], cjson.encode(series), 'PXAT', ARGV[2])
local loginKey = ARGV[1] .. 'login:' .. series.loginId
local login = redis.call('GET', loginKey)
local now = clock()
if login and now + redis.call('PTTL', loginKey) < expires then
  saveLogin(loginKey, ARGV[1] .. 'user:' .. series.userId, series.loginId, login, expires - now)
end
return 1
`)
