-- Stores a new grant and indexes its refresh-token digests.
-- KEYS[1] grant:{id} (HASH g, cur, prev, rot, revoked, exp)   KEYS[2..] rt:{H(token)} to index
-- ARGV[1] the grant (JSON)   ARGV[2] current digest or ''   ARGV[3] previous digest or ''
-- ARGV[4] rotated_at   ARGV[5] revoked '0' | '1'   ARGV[6] expires_at (unix s)
-- ARGV[7] when the keys expire (unix ms)   ARGV[8] the grant id
-- Returns 1 stored, 0 the grant exists already.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'cur', ARGV[2], 'prev', ARGV[3], 'rot', ARGV[4],
  'revoked', ARGV[5], 'exp', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[8], 'PXAT', ARGV[7])
end
return 1
