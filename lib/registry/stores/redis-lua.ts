/**
 * The Lua shared by RedisLoginStore's user scripts: key layout, clock, trimming,
 * ending a login, and the keys' own expiry.
 *
 * A user's data lives in ten keys of one Redis Cluster slot (`{tag}` is
 * `userTag(userId)`), every one declared in KEYS, in this order:
 *    1 logins          hash  login id -> login JSON (without lastSeenAt)
 *    2 seen            zset  login id -> lastSeenAt (listing and eviction order)
 *    3 expiry          zset  login id -> when the login expires (ms, server clock)
 *    4 ended           hash  login id -> why it ended (a tombstone)...
 *    5 ended-expiry    zset  login id -> ...until the login would have expired
 *    6 history         hash  login id -> ended record JSON (`keepEndedFor`)
 *    7 history-order   zset  login id -> endedAt (listing order; the oldest go past MAX_ENDED)
 *    8 history-expiry  zset  login id -> when the record goes (its end + keepEndedFor)
 *    9 series          hash  selector -> series JSON   (shared by the users of the tag)
 *   10 series-expiry   zset  selector -> expiresAt     (idem)
 * A record and its index entries change together in one script. Each key expires
 * with its longest-lived entry, and goes when it has none (`settle`): nothing lives
 * forever, and no timer is needed. Expired entries are trimmed by every write
 * before it counts or picks anything; reads skip them.
 *
 * Login JSON is written by the store in JavaScript and never re-encoded here, and
 * numbers are formatted with %.0f, not cjson (which keeps 14 digits): what goes in
 * comes back exactly.
 */
export const COMMON = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%.0f', n)
end

-- Runs command key m1 m2 ... in chunks: unpack() takes a few thousand values at most.
local function each(command, key, members)
  for i = 1, #members, 500 do
    redis.call(command, key, unpack(members, i, math.min(i + 499, #members)))
  end
end
`

export const USER = COMMON + `
local LOGINS, SEEN, EXPIRY, ENDED, ENDED_EXPIRY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local HISTORY, HISTORY_ORDER, HISTORY_EXPIRY, SERIES, SERIES_EXPIRY = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]

-- Drops the members of index expired at now, and their entries in the other keys.
local function trim(index, now, hash, other)
  local gone = redis.call('ZRANGE', index, '-inf', fmt(now), 'BYSCORE')
  if #gone == 0 then return end
  each('HDEL', hash, gone)
  if other then each('ZREM', other, gone) end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', fmt(now))
end

local function trimAll(now)
  trim(EXPIRY, now, LOGINS, SEEN)
  trim(ENDED_EXPIRY, now, ENDED, nil)
  trim(HISTORY_EXPIRY, now, HISTORY, HISTORY_ORDER)
  trim(SERIES_EXPIRY, now, SERIES, nil)
end

-- Each key expires with the longest-lived entry of its index; without entries, the keys go.
local function expireWith(index, keys)
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if last[2] then
    for _, key in ipairs(keys) do redis.call('PEXPIREAT', key, last[2]) end
  else
    redis.call('DEL', unpack(keys))
  end
end

local function settle()
  expireWith(EXPIRY, { LOGINS, SEEN, EXPIRY })
  expireWith(ENDED_EXPIRY, { ENDED, ENDED_EXPIRY })
  expireWith(HISTORY_EXPIRY, { HISTORY, HISTORY_ORDER, HISTORY_EXPIRY })
  expireWith(SERIES_EXPIRY, { SERIES, SERIES_EXPIRY })
end

local function finish(reply)
  settle()
  return reply
end

local function decode(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end

local SERIES_FIELDS = { selector = 'string', userId = 'string', loginId = 'string', validatorHash = 'string',
  rotatedAt = 'number', expiresAt = 'number', lifetime = 'number', version = 'string' }

local function nullable(value)
  return value == cjson.null or type(value) == 'string'
end

-- The series in raw if it is one, else nil: a corrupt value is absent.
local function decodeSeries(raw)
  local series = decode(raw)
  if not series or not nullable(series.previousHash) or not nullable(series.spentHash) then return nil end
  for name, kind in pairs(SERIES_FIELDS) do
    if type(series[name]) ~= kind then return nil end
  end
  return series
end

local function text(value)
  if type(value) == 'string' then return cjson.encode(value) end
  return 'null'
end

local function encodeSeries(s)
  return '{"selector":' .. cjson.encode(s.selector) .. ',"userId":' .. cjson.encode(s.userId) ..
    ',"loginId":' .. cjson.encode(s.loginId) .. ',"validatorHash":' .. cjson.encode(s.validatorHash) ..
    ',"previousHash":' .. text(s.previousHash) .. ',"rotatedAt":' .. fmt(s.rotatedAt) ..
    ',"expiresAt":' .. fmt(s.expiresAt) .. ',"lifetime":' .. fmt(s.lifetime) ..
    ',"version":' .. cjson.encode(s.version) .. ',"spentHash":' .. text(s.spentHash) .. '}'
end

-- The user's series and its standing login (after trimAll), or nil. A series
-- whose login is gone is dropped: it must never outlive the login it backs.
local function seriesWithLogin(selector, userId)
  local series = decodeSeries(redis.call('HGET', SERIES, selector))
  if not series or series.userId ~= userId or series.selector ~= selector then return nil end
  if redis.call('HEXISTS', LOGINS, series.loginId) == 0 then
    redis.call('HDEL', SERIES, selector)
    redis.call('ZREM', SERIES_EXPIRY, selector)
    return nil
  end
  return series
end

-- Keeps at most max entries in hash, dropping the first of index, and of other.
local function cap(max, index, hash, other)
  local over = redis.call('ZCARD', index) - max
  if over <= 0 then return end
  local gone = redis.call('ZRANGE', index, 0, over - 1)
  each('HDEL', hash, gone)
  each('ZREM', index, gone)
  if other then each('ZREM', other, gone) end
end

-- At most max tombstones (the first to be forgotten go) and max history records (the oldest go).
local function capEnded(max)
  cap(max, ENDED_EXPIRY, ENDED, nil)
  cap(max, HISTORY_ORDER, HISTORY, HISTORY_EXPIRY)
end

-- Ends the standing logins among ids (at most a few hundred: one batch), each
-- command once for the batch: their index entries and series go; the reason of
-- each stays until it would have expired; with keep > 0 its record stays keep ms
-- as history. Returns { id, JSON, lastSeenAt, ... } and the ids it ended.
local function endLogins(ids, reason, endedAt, keep, now)
  local reply, ended = {}, {}
  if #ids == 0 then return reply, ended end
  local raws = redis.call('HMGET', LOGINS, unpack(ids))
  local seens = redis.call('ZMSCORE', SEEN, unpack(ids))
  local expiries = redis.call('ZMSCORE', EXPIRY, unpack(ids))
  local tombstones, forget, history, order, keptUntil, selectors, owners = {}, {}, {}, {}, {}, {}, {}
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if raw then
      local seen = seens[i] or '0'
      ended[#ended + 1] = id
      reply[#reply + 1] = id
      reply[#reply + 1] = raw
      reply[#reply + 1] = seen
      tombstones[#tombstones + 1] = id
      tombstones[#tombstones + 1] = reason
      forget[#forget + 1] = fmt(tonumber(expiries[i]) or now)
      forget[#forget + 1] = id
      if keep > 0 then
        history[#history + 1] = id
        history[#history + 1] = '{"endReason":"' .. reason .. '","endedAt":' .. endedAt .. ',"lastSeenAt":' .. seen .. ',"login":' .. raw .. '}'
        order[#order + 1] = endedAt
        order[#order + 1] = id
        keptUntil[#keptUntil + 1] = fmt(now + keep)
        keptUntil[#keptUntil + 1] = id
      end
      -- The store writes login JSON with JSON.stringify: a quote inside a value is escaped,
      -- so this pattern only meets the record's own "series" field.
      local selector = string.match(raw, '"series":"([A-Za-z0-9_-]+)"')
      if selector then
        selectors[#selectors + 1] = selector
        owners[#owners + 1] = id
      end
    end
  end
  if #ended == 0 then return reply, ended end
  each('HDEL', LOGINS, ended)
  each('ZREM', SEEN, ended)
  each('ZREM', EXPIRY, ended)
  if #selectors > 0 then
    local found, gone = redis.call('HMGET', SERIES, unpack(selectors)), {}
    for i, selector in ipairs(selectors) do
      local series = decodeSeries(found[i])
      if series and series.loginId == owners[i] then gone[#gone + 1] = selector end
    end
    if #gone > 0 then
      each('HDEL', SERIES, gone)
      each('ZREM', SERIES_EXPIRY, gone)
    end
  end
  redis.call('HSET', ENDED, unpack(tombstones))
  redis.call('ZADD', ENDED_EXPIRY, unpack(forget))
  if keep > 0 then
    redis.call('HSET', HISTORY, unpack(history))
    redis.call('ZADD', HISTORY_ORDER, unpack(order))
    redis.call('ZADD', HISTORY_EXPIRY, unpack(keptUntil))
  end
  return reply, ended
end

-- Tells every watcher, atomically with the end: PUBLISH reaches every node of a cluster.
local function publish(channel, ids)
  if #ids > 0 then redis.call('PUBLISH', channel, 'e ' .. table.concat(ids, ' ')) end
end
`
