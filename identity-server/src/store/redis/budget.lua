-- The second-factor budget of one account: a line-by-line port of
-- `store::rules::SecondFactorBudget`, with Redis `TIME` as "now" so that every replica counts on
-- one clock. This prelude is followed by one operation (budget_*.lua) in the same script.
-- KEYS[1] sf:{H(subject)} (HASH unsuccessful, window_start, blocked_until, blocks, last_block)
-- ARGV[1] max unsuccessful   ARGV[2] window (s)   ARGV[3] first block (s)   ARGV[4] longest
-- block (s)   ARGV[5] escalation memory (s).
local key = KEYS[1]
local max_unsuccessful = tonumber(ARGV[1])
local window_secs = tonumber(ARGV[2])
local first_block_secs = tonumber(ARGV[3])
local max_block_secs = tonumber(ARGV[4])
local memory_secs = tonumber(ARGV[5])
local now = tonumber(redis.call('TIME')[1])
local FIELDS = {'unsuccessful', 'window_start', 'blocked_until', 'blocks', 'last_block'}

local function load_budget()
  local v = redis.call('HMGET', key, unpack(FIELDS))
  if not (v[1] or v[2] or v[3] or v[4] or v[5]) then
    return {unsuccessful = 0, window_start = now, blocked_until = 0, blocks = 0, last_block = 0}
  end
  local b = {}
  for i, name in ipairs(FIELDS) do
    b[name] = tonumber(v[i])
    if b[name] == nil then
      return nil
    end
  end
  return b
end

local b = load_budget()
if b == nil then
  return redis.error_reply('CORRUPT second-factor budget without its fields')
end

-- `BudgetPolicy::block_secs`.
local function block_secs(n)
  local doublings = math.min(math.max(n - 1, 0), 62)
  return math.min(first_block_secs * (2 ^ doublings), max_block_secs)
end

local function refresh()
  if b.blocked_until <= now and now - b.window_start >= window_secs then
    b.unsuccessful = 0
    b.window_start = now
  end
  if b.blocks > 0 and now - b.last_block >= memory_secs then
    b.blocks = 0
  end
end

-- `SecondFactorBudget::expires_at`: when nothing in the budget matters any more.
local function expires_at()
  local window_end = 0
  if b.unsuccessful > 0 then
    window_end = b.window_start + window_secs
  end
  local memory_end = 0
  if b.blocks > 0 then
    memory_end = b.last_block + memory_secs
  end
  return math.max(window_end, b.blocked_until, memory_end)
end

-- Writes the budget back, or drops it when it no longer matters (a missing budget is a fresh
-- one: the same answers).
local function save()
  local ends = expires_at()
  if ends <= now then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'unsuccessful', b.unsuccessful, 'window_start', b.window_start,
    'blocked_until', b.blocked_until, 'blocks', b.blocks, 'last_block', b.last_block)
  redis.call('EXPIREAT', key, ends)
end
