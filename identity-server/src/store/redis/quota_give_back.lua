-- Gives one back to every counter whose window is still running.
-- KEYS[i] a counter (HASH start, count)   ARGV[i] its window (s).
local now = tonumber(redis.call('TIME')[1])
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'start', 'count')
  local start, count = tonumber(v[1]), tonumber(v[2])
  if start ~= nil and count ~= nil and count > 0 and now - start < tonumber(ARGV[i]) then
    redis.call('HSET', key, 'count', count - 1)
  end
end
return 1
