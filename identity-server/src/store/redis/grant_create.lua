-- Stores a new grant, indexes its refresh-token digests and indexes it under its subject; past
-- the cap, revokes the subject's oldest grant (the one expiring first).
-- KEYS[1] grant:{id} (HASH g, cur, prev, rot, revoked, exp)
-- KEYS[2] grants:{subject} (ZSET member grant id, score the grant key's deadline in ms)
-- KEYS[3] grant:{oldest} (the caller's guess of the grant to revoke past the cap, else KEYS[1])
-- KEYS[4..] rt:{H(token)} to index
-- ARGV[1] the grant (JSON)   ARGV[2] current digest or ''   ARGV[3] previous digest or ''
-- ARGV[4] rotated_at   ARGV[5] revoked '0' | '1'   ARGV[6] expires_at (unix s)
-- ARGV[7] when the keys expire (unix ms)   ARGV[8] the grant id   ARGV[9] the cap
-- ARGV[10] the id of KEYS[3], or ''
-- Returns 'created', 'exists' (the grant exists already: nothing written) or 'oldest:<id>'
-- (at the cap and KEYS[3] is not the oldest grant: nothing written; call again naming it).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'exists'
end
local idx = KEYS[2]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now_ms)
if redis.call('ZCARD', idx) >= tonumber(ARGV[9]) then
  local oldest = redis.call('ZRANGE', idx, 0, 0)[1]
  if oldest ~= ARGV[10] then
    return 'oldest:' .. oldest
  end
  if redis.call('HEXISTS', KEYS[3], 'g') == 1 then
    redis.call('HSET', KEYS[3], 'revoked', '1')
  end
  redis.call('ZREM', idx, oldest)
end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'cur', ARGV[2], 'prev', ARGV[3], 'rot', ARGV[4],
  'revoked', ARGV[5], 'exp', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[8], 'PXAT', ARGV[7])
end
redis.call('ZADD', idx, ARGV[7], ARGV[8])
local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', idx, last[2])
return 'created'
