-- Creates an account unless its username or subject is taken. Both keys hold the same record
-- (accounts are never updated), so that a lookup by either costs one round trip.
-- KEYS[1] uname:{H(lowercased username)}   KEYS[2] user:{subject}   ARGV[1] the account (JSON)
-- Returns 1 created, 0 the username is taken, -1 the subject is taken.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return 0
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
