-- `LockoutCounter::reset`: forgets the failures; an active lockout and attempts in flight stay.
refresh()
c.failures = 0
c.window_start = now
save()
return 1
