-- `LockoutCounter::forgive`: ends a reserved attempt without counting it.
refresh()
c.in_flight = math.max(c.in_flight - 1, 0)
save()
return 1
