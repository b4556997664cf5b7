-- Stores a pending authorize request, unless its network holds `max` live ones.
-- KEYS[1] ar:{H(id)} (STRING)   KEYS[2] arn:{network} (ZSET: member H(id), score expiry in ms)
-- ARGV[1] the record (JSON)   ARGV[2] lifetime in ms (> 0)   ARGV[3] max per network
-- ARGV[4] the member, H(id)
-- Returns 1 stored, 0 the network is full, -1 the key exists already.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now_ms + ttl, ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
