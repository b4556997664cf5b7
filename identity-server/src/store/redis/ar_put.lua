-- Stores a pending authorize request, unless its network holds `max` live ones or all networks
-- together hold `max_total` (anyone can create them: both bounds keep Redis' memory bounded).
-- KEYS[1] ar:{H(id)} (STRING)   KEYS[2] arn:{network} (ZSET: member H(id), score expiry in ms)
-- KEYS[3] ar-total (ZSET: member H(id), score expiry in ms)
-- ARGV[1] the record (JSON)   ARGV[2] lifetime in ms (> 0)   ARGV[3] max per network
-- ARGV[4] the member, H(id)   ARGV[5] max in total
-- Returns 1 stored, 0 the network is full, -1 the key exists already, -2 the total is full.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return -2
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now_ms + ttl, ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('ZADD', KEYS[3], now_ms + ttl, ARGV[4])
if redis.call('PTTL', KEYS[3]) < ttl then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 1
