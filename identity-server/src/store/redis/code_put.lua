-- Stores a new authorization code, unless its session holds `max` unredeemed live codes.
-- KEYS[1] code:{H(code)} (HASH r, used, grant)
-- KEYS[2] codes:{sid} (ZSET of unredeemed codes: member H(code), score code expiry in ms)
-- ARGV[1] the record (JSON)   ARGV[2] how long the record is kept, ms (expiry + reuse memory)
-- ARGV[3] how long the code is redeemable, ms   ARGV[4] max per session   ARGV[5] H(code)
-- Returns 1 stored, 0 the session is full, -1 the key exists already.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = tonumber(ARGV[2])
local live = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'used', '0')
redis.call('PEXPIRE', KEYS[1], keep)
if live > 0 then
  redis.call('ZADD', KEYS[2], now_ms + live, ARGV[5])
  if redis.call('PTTL', KEYS[2]) < live then
    redis.call('PEXPIRE', KEYS[2], live)
  end
end
return 1
