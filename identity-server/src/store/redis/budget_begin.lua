-- `SecondFactorBudget::begin`. Returns {1, 0} allowed, {1, until} allowed and a block began
-- until then, {0, until} blocked until then.
local function begin()
  refresh()
  if b.blocked_until > now then
    return {0, b.blocked_until}
  end
  b.unsuccessful = math.min(b.unsuccessful + 1, max_unsuccessful)
  if b.unsuccessful < max_unsuccessful then
    return {1, 0}
  end
  b.blocks = b.blocks + 1
  b.blocked_until = now + block_secs(b.blocks)
  b.last_block = now
  b.window_start = b.blocked_until
  return {1, b.blocked_until}
end
local answer = begin()
save()
return answer
