-- `SecondFactorBudget::passed`: forgives one counted challenge, forgets the escalation and ends a
-- block.
refresh()
b.unsuccessful = math.max(b.unsuccessful - 1, 0)
b.blocks = 0
if b.blocked_until > now then
  b.blocked_until = 0
end
b.window_start = math.min(b.window_start, now)
save()
return 1
