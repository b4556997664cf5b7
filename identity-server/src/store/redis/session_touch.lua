-- Checks both timeouts of a session and bumps its last use, or removes it.
-- KEYS[1] sess:{H(handle)} (HASH s, created, last_seen, exp: the absolute expiry given to put)
-- ARGV[1] now (unix s, the caller's)   ARGV[2] idle timeout (s)   ARGV[3] absolute timeout (s)
-- ARGV[4] leeway added to the key's expiry (s)
-- Returns nil (unknown or expired, now removed) or {session JSON, last_seen}; an error
-- `CORRUPT` for a hash that lacks a field.
local v = redis.call('HMGET', KEYS[1], 's', 'created', 'last_seen', 'exp')
if not (v[1] or v[2] or v[3] or v[4]) then
  return false
end
if not v[1] or not tonumber(v[2]) or not tonumber(v[3]) or not tonumber(v[4]) then
  return redis.error_reply('CORRUPT session hash without its fields')
end
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local created, last_seen, exp = tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
if now - last_seen >= idle or now - created >= absolute or exp <= now then
  redis.call('DEL', KEYS[1])
  return false
end
-- Never move the last use back (replicas' clocks differ by a little).
if now > last_seen then
  last_seen = now
end
redis.call('HSET', KEYS[1], 'last_seen', last_seen)
local ends = math.min(last_seen + idle, created + absolute, exp) + tonumber(ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ends * 1000)
return {v[1], last_seen}
