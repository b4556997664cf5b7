-- Marks a code used. KEYS[1] code:{H(code)} (HASH r, used, grant).
-- Returns nil when unknown; otherwise {'first' | 'reused', record JSON, grant id or ''}.
local v = redis.call('HMGET', KEYS[1], 'r', 'used', 'grant')
if not v[1] then
  return false
end
if v[2] == '1' then
  return {'reused', v[1], v[3] or ''}
end
redis.call('HSET', KEYS[1], 'used', '1')
return {'first', v[1], v[3] or ''}
