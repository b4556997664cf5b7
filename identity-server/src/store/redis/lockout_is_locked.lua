-- Whether the counter is locked now. Returns 1 or 0. Writes nothing.
if is_locked() then
  return 1
end
return 0
