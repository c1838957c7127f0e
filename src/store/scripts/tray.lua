-- The viewer's live tray, filtered by the viewer's contacts as they are now.
-- KEYS: 1 tray, 2 contacts, 3 muted, 4 seen (all under the viewer's hash tag)
-- ARGV: 1 now (ms)
-- Returns a flat list: member, expires_at, muted (0/1), seen (0/1), ...
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
local entries = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE', 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  local member = entries[i]
  local slash = string.find(member, '/', 1, true)
  if slash then
    local author = string.sub(member, 1, slash - 1)
    local story = string.sub(member, slash + 1)
    if redis.call('SISMEMBER', KEYS[2], author) == 1 then
      out[#out + 1] = member
      out[#out + 1] = entries[i + 1]
      out[#out + 1] = redis.call('SISMEMBER', KEYS[3], author)
      out[#out + 1] = redis.call('ZSCORE', KEYS[4], story) and 1 or 0
    end
  end
end
return out
