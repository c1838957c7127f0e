-- Counts an ad impression against the viewer's caps, once per token.
-- KEYS: 1 the viewer's counted-token zset, 2 the viewer's impression zset, 3 recent advertisers
--       (all under the viewer's hash tag)
-- ARGV: 1 now (ms), 2 token id, 3 token expiry (ms), 4 campaign id, 5 advertiser id,
--       6 frequency cap (impressions), 7 frequency window (ms), 8 daily ad cap,
--       9 start of the viewer's day (ms), 10 how long impressions are kept (ms)
-- Returns 'duplicate' (token already counted), 'capped' (a cap is reached: not billable) or
-- 'ok' (counted; the caller goes on to charge the campaign).
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local marker = ARGV[2] .. ':i'
if redis.call('ZSCORE', KEYS[1], marker) then
  return 'duplicate'
end
redis.call('ZADD', KEYS[1], ARGV[3], marker)
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[10]))
if redis.call('ZCOUNT', KEYS[2], ARGV[9], '+inf') >= tonumber(ARGV[8]) then
  return 'capped'
end
local prefix = ARGV[4] .. '/'
local in_window = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], now - tonumber(ARGV[7]), '+inf', 'BYSCORE')) do
  if string.sub(member, 1, #prefix) == prefix then
    in_window = in_window + 1
  end
end
if in_window >= tonumber(ARGV[6]) then
  return 'capped'
end
redis.call('ZADD', KEYS[2], now, prefix .. ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
redis.call('ZADD', KEYS[3], now, ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[10])
return 'ok'
