-- Revokes grants of one subject: all of those given, or only those of session ARGV[1].
-- KEYS[1] grants:{subject}   KEYS[i] (i >= 2) grant:{ARGV[i]}
-- ARGV[1] the sid whose grants to revoke, or '' for every given grant   ARGV[i] (i >= 2) an id
-- A grant that is gone is pruned from the index. Returns how many grants were revoked.
local idx, sid = KEYS[1], ARGV[1]
local revoked = 0
for i = 2, #ARGV do
  local v = redis.call('HMGET', KEYS[i], 'g', 'revoked')
  if not v[1] then
    redis.call('ZREM', idx, ARGV[i])
  elseif v[2] ~= '1' and (sid == '' or cjson.decode(v[1])['sid'] == sid) then
    redis.call('HSET', KEYS[i], 'revoked', '1')
    revoked = revoked + 1
  end
end
return revoked
