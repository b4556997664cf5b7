-- Writes a session and indexes it under its subject; past the cap, ends the subject's least
-- recently used sessions (oldest last_seen, then oldest created).
-- KEYS[1] sessions:{subject} (ZSET member H(handle), score the session key's deadline in ms)
-- KEYS[2] sess:{H(handle)} to write   KEYS[3..] sess:{member} of every member (mode 'full')
-- ARGV[1] session JSON   ARGV[2] created   ARGV[3] last_seen   ARGV[4] exp (unix s)
-- ARGV[5] the key's deadline (unix ms)   ARGV[6] the member H(handle)   ARGV[7] the cap
-- ARGV[8] 'fast' (no members given) | 'full'   ARGV[9..] the members the caller read (full)
-- Returns {'full'} (fast mode at the cap: nothing written, call again in full mode with the
-- members), {'retry'} (full mode, the index changed since the caller read it: nothing
-- written), or {'ok', ended session JSON...}.
local idx, member, max = KEYS[1], ARGV[6], tonumber(ARGV[7])
local full = ARGV[8] == 'full'
local members = {}
if full then
  for i = 9, #ARGV do
    members[#members + 1] = ARGV[i]
  end
  if redis.call('ZCARD', idx) ~= #members then
    return {'retry'}
  end
  for _, m in ipairs(members) do
    if not redis.call('ZSCORE', idx, m) then
      return {'retry'}
    end
  end
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now_ms)
if not full then
  local count = redis.call('ZCARD', idx)
  if not redis.call('ZSCORE', idx, member) then
    count = count + 1
  end
  if count > max then
    return {'full'}
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 's', ARGV[1], 'created', ARGV[2], 'last_seen', ARGV[3], 'exp', ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('ZADD', idx, ARGV[5], member)
local ended = {'ok'}
if full then
  local others = {}
  for i, m in ipairs(members) do
    if m ~= member then
      local v = redis.call('HMGET', KEYS[2 + i], 's', 'last_seen', 'created')
      if v[1] then
        others[#others + 1] = {m, KEYS[2 + i], tonumber(v[2]) or 0, tonumber(v[3]) or 0, v[1]}
      else
        -- Its session is gone (idle timeout, or removed): prune it.
        redis.call('ZREM', idx, m)
      end
    end
  end
  local over = #others + 1 - max
  if over > 0 then
    table.sort(others, function(a, b)
      if a[3] ~= b[3] then return a[3] < b[3] end
      if a[4] ~= b[4] then return a[4] < b[4] end
      return a[1] < b[1]
    end)
    for i = 1, over do
      redis.call('DEL', others[i][2])
      redis.call('ZREM', idx, others[i][1])
      ended[#ended + 1] = others[i][5]
    end
  end
end
local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', idx, last[2])
end
return ended
