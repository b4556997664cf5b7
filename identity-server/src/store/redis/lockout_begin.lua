-- `LockoutCounter::begin`. ARGV[3] max   ARGV[4] count in flight '1' | '0'.
-- Returns 1 reserved (or, without counting in flight, allowed), 0 refused.
local max = tonumber(ARGV[3])
local count_in_flight = ARGV[4] == '1'
local function begin()
  refresh()
  if is_locked() then
    return 0
  end
  if not count_in_flight then
    if c.failures < max then
      return 1
    end
    return 0
  end
  if c.failures + c.in_flight >= max then
    return 0
  end
  c.in_flight = c.in_flight + 1
  c.last_begin = now
  return 1
end
local answer = begin()
save()
return answer
