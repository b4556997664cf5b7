-- `LockoutCounter::fail`. ARGV[3] max   ARGV[4] reserved '1' | '0'.
-- Returns 1 when the counter is locked now, 0 otherwise.
local max = tonumber(ARGV[3])
local reserved = ARGV[4] == '1'
local function fail()
  refresh()
  if reserved then
    c.in_flight = math.max(c.in_flight - 1, 0)
  end
  if is_locked() then
    -- Failures while locked do not extend the lockout.
    return 1
  end
  c.failures = c.failures + 1
  if c.failures >= max then
    c.locked_until = now + lockout_secs
    -- A new window starts when the lockout ends.
    c.failures = 0
    c.window_start = c.locked_until
    return 1
  end
  return 0
end
local answer = fail()
save()
return answer
