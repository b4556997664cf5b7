-- The failed-login counter: a line-by-line port of `store::rules::LockoutCounter`, with Redis
-- `TIME` as "now" so that every replica counts on one clock. This prelude is followed by one
-- operation (lockout_*.lua) in the same script.
-- KEYS[1] lf:{u:H(name) | ip:network} (HASH failures, window_start, locked_until, in_flight,
-- last_begin)   ARGV[1] window (s)   ARGV[2] lockout (s)   ARGV[3..] the operation's.
local IN_FLIGHT_TTL_SECS = 60
local key = KEYS[1]
local window_secs = tonumber(ARGV[1])
local lockout_secs = tonumber(ARGV[2])
local now = tonumber(redis.call('TIME')[1])
local FIELDS = {'failures', 'window_start', 'locked_until', 'in_flight', 'last_begin'}

local function load_counter()
  local v = redis.call('HMGET', key, unpack(FIELDS))
  if not (v[1] or v[2] or v[3] or v[4] or v[5]) then
    return {failures = 0, window_start = now, locked_until = 0, in_flight = 0, last_begin = now}
  end
  local c = {}
  for i, name in ipairs(FIELDS) do
    c[name] = tonumber(v[i])
    if c[name] == nil then
      return nil
    end
  end
  return c
end

local c = load_counter()
if c == nil then
  return redis.error_reply('CORRUPT lockout counter without its fields')
end

local function refresh()
  if now - c.window_start >= window_secs and c.locked_until <= now then
    c.failures = 0
    c.window_start = now
  end
  if c.in_flight > 0 and now - c.last_begin >= IN_FLIGHT_TTL_SECS then
    c.in_flight = 0
  end
end

local function is_locked()
  return c.locked_until > now
end

-- `LockoutCounter::expires_at`: when nothing in the counter matters any more.
local function expires_at()
  local window_end = 0
  if c.failures > 0 then
    window_end = c.window_start + window_secs
  end
  local in_flight_end = 0
  if c.in_flight > 0 then
    in_flight_end = c.last_begin + IN_FLIGHT_TTL_SECS
  end
  return math.max(window_end, c.locked_until, in_flight_end)
end

-- Writes the counter back, or drops it when it no longer matters (a missing counter is a fresh
-- one: the same answers).
local function save()
  local ends = expires_at()
  if ends <= now then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'failures', c.failures, 'window_start', c.window_start,
    'locked_until', c.locked_until, 'in_flight', c.in_flight, 'last_begin', c.last_begin)
  redis.call('EXPIREAT', key, ends)
end
