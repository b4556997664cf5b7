-- Replaces a session only while it still exists (`SessionStore::replace`): a request that read
-- the session before it ended must not write it back.
-- KEYS[1] sessions:{subject}   KEYS[2] sess:{old member}   KEYS[3] sess:{new member} (may be KEYS[2])
-- ARGV[1] session JSON   ARGV[2] created   ARGV[3] last_seen   ARGV[4] exp (unix s)
-- ARGV[5] the new key's deadline (unix ms)   ARGV[6] the old member   ARGV[7] the new member
-- Returns 1 when replaced, 0 when the old session is gone or expired (nothing written).
local v = redis.call('HMGET', KEYS[2], 's', 'exp')
if not v[1] then
  return 0
end
local now = tonumber(redis.call('TIME')[1])
if (tonumber(v[2]) or 0) <= now or tonumber(ARGV[4]) <= now then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[6])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 's', ARGV[1], 'created', ARGV[2], 'last_seen', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIREAT', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[7])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return 1
