-- `LockoutCounter::fail`. ARGV[3] max   ARGV[4] reserved '1' | '0'.
-- Returns the failures left before the counter locks: 0 when it is locked now.
local max = tonumber(ARGV[3])
local reserved = ARGV[4] == '1'
local function fail()
  refresh()
  if reserved then
    c.in_flight = math.max(c.in_flight - 1, 0)
  end
  if is_locked() then
    -- Failures while locked do not extend the lockout.
    return 0
  end
  c.failures = c.failures + 1
  if c.failures >= max then
    c.locked_until = now + lockout_secs
    -- A new window starts when the lockout ends.
    c.failures = 0
    c.window_start = c.locked_until
    return 0
  end
  return max - c.failures
end
local answer = fail()
save()
return answer
