-- Counts one for every fixed-window counter, or for none when any is at its maximum (the rules
-- of `store::rules::QuotaWindow`, with Redis `TIME` as "now").
-- KEYS[i] a counter (HASH start, count)   ARGV[2i-1] its max   ARGV[2i] its window (s)
-- Returns {0} when counted, {1, index (0-based), retry after (s, >= 1)} when refused.
local now = tonumber(redis.call('TIME')[1])
local windows = {}
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 * i - 1])
  local window_secs = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', key, 'start', 'count')
  local start, count = now, 0
  if v[1] or v[2] then
    start, count = tonumber(v[1]), tonumber(v[2])
    if start == nil or count == nil then
      return redis.error_reply('CORRUPT quota counter without its fields')
    end
  end
  if now - start >= window_secs then
    start, count = now, 0
  end
  if count >= max then
    return {1, i - 1, math.max(start + window_secs - now, 1)}
  end
  windows[i] = {start, count, window_secs}
end
for i, key in ipairs(KEYS) do
  local w = windows[i]
  redis.call('HSET', key, 'start', w[1], 'count', w[2] + 1)
  redis.call('EXPIREAT', key, w[1] + w[3])
end
return {0}
