-- Ends sessions of one subject: all of those given, or only the one whose public id is ARGV[1].
-- KEYS[1] sessions:{subject}   KEYS[i] (i >= 2) sess:{ARGV[i]}
-- ARGV[1] the sid to end, or '' for every given session   ARGV[i] (i >= 2) a member H(handle)
-- A given member no longer in the index is skipped (ended by a concurrent call); one whose
-- session is gone is pruned. Returns {JSON, exp} of every ended session, flattened.
local idx, sid = KEYS[1], ARGV[1]
local ended = {}
for i = 2, #ARGV do
  local m = ARGV[i]
  if redis.call('ZSCORE', idx, m) then
    local v = redis.call('HMGET', KEYS[i], 's', 'exp')
    local s = v[1]
    if not s then
      redis.call('ZREM', idx, m)
    elseif sid == '' or cjson.decode(s)['sid'] == sid then
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', idx, m)
      ended[#ended + 1] = s
      ended[#ended + 1] = v[2] or '0'
    end
  end
end
return ended
