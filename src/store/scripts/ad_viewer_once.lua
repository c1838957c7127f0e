-- Marks one kind of event (click, hide, report) of a token as done; true the first time only.
-- KEYS: 1 the viewer's counted-token zset
-- ARGV: 1 now (ms), 2 token id .. ':' .. event, 3 token expiry (ms)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
