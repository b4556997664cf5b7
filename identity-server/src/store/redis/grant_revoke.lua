-- Revokes a grant. A grant that does not exist (yet) becomes a tombstone {revoked = 1} that
-- lives ARGV[1] ms: grant_create.lua refuses an existing key, so a creation racing a code
-- replay's revocation fails and nothing is issued.
-- KEYS[1] grant:{id}   ARGV[1] tombstone lifetime in ms
-- Returns 1 when an existing grant was revoked, 0 when a tombstone was written.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return 1
end
redis.call('HSET', KEYS[1], 'revoked', '1', 'tomb', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
