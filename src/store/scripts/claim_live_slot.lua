-- Adds a story to its author's live list unless the author already has the maximum live.
-- KEYS: 1 the author's live-story zset
-- ARGV: 1 now (ms), 2 story id, 3 expires_at (ms), 4 max live stories
-- Returns 1 when added, 0 when the limit is reached.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
-- The list lives as long as its longest-lived story, never less.
local ttl = redis.call('PEXPIRETIME', KEYS[1])
if ttl < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
