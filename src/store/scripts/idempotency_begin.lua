-- Claims an Idempotency-Key, or returns what an earlier request with it answered.
-- KEYS: 1 the key's record, 2 the user's index of keys
-- ARGV: 1 the claim marker, 2 claim lifetime (ms), 3 record lifetime (ms), 4 the record key's name
-- Returns nil when claimed for this request, otherwise the stored value (the marker while the
-- first request is still running).
local existing = redis.call('GET', KEYS[1])
if existing then
  return existing
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return false
