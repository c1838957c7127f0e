-- Releases a lock if it is still the caller's (it may have expired and been taken by another).
-- KEYS: 1 the lock; ARGV: 1 the caller's token. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
