-- Rotates a refresh token: a line-by-line port of `store::rules::rotate`.
-- KEYS[1] rt:{old digest}   KEYS[2] grant:{id}   KEYS[3] rt:{new digest}
-- ARGV[1] grant id (what KEYS[1] held when the caller read it)   ARGV[2] old digest
-- ARGV[3] new digest   ARGV[4] now (unix s, the caller's)   ARGV[5] reuse interval (s)
-- ARGV[6] seconds added to the grant's expiry for the new index key's TTL (clock-skew leeway)
-- Returns {'invalid'} or {'rotated' | 'reused', g, cur, prev, rot, revoked, exp}.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'invalid'}
end
local v = redis.call('HMGET', KEYS[2], 'g', 'cur', 'prev', 'rot', 'revoked', 'exp')
if not v[1] then
  return {'invalid'}
end
if not tonumber(v[4]) or not v[5] or not tonumber(v[6]) then
  return redis.error_reply('CORRUPT grant hash without its fields')
end
local old, new, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local cur, prev, rot = v[2] or '', v[3] or '', tonumber(v[4])
local index_deadline_ms = (tonumber(v[6]) + tonumber(ARGV[6])) * 1000
local function answer(status)
  return {status, unpack(redis.call('HMGET', KEYS[2], 'g', 'cur', 'prev', 'rot', 'revoked', 'exp'))}
end
if v[5] == '1' or tonumber(v[6]) <= now then
  return {'invalid'}
end
if cur == old then
  redis.call('HSET', KEYS[2], 'cur', new, 'prev', old, 'rot', now)
  redis.call('SET', KEYS[3], ARGV[1], 'PXAT', index_deadline_ms)
  return answer('rotated')
end
if interval > 0 and prev == old and now - rot <= interval then
  -- The current token (never received, by the client's account) is dead from now on; the
  -- interval still counts from the first rotation, so retries cannot extend it.
  redis.call('HSET', KEYS[2], 'cur', new)
  redis.call('SET', KEYS[3], ARGV[1], 'PXAT', index_deadline_ms)
  return answer('rotated')
end
redis.call('HSET', KEYS[2], 'revoked', '1')
return answer('reused')
