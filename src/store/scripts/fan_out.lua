-- Puts a story into the tray of each viewer whose contact list holds the author right now (the
-- mutual-contacts rule at posting time): check and write in one step, on Redis, so that posting
-- to 1,000 contacts is one round trip of a few script runs instead of several commands per viewer.
-- A tray is one string of entries, a line each, in posting order: a feed page reads it as one
-- value.
-- KEYS: pairs of (viewer's contacts, viewer's tray)
-- ARGV: 1 author, 2 tray entry ("<expires_at> <author>/<story>\n"), 3 expires_at (ms), 4 now (ms)
-- Returns one character per viewer: '0' not reached, '1' reached, '2' reached and worth trimming
-- (its head has expired: looked at each time the tray grows past another 4 KiB).
local now = tonumber(ARGV[4])
local reached = {}
for i = 1, #KEYS, 2 do
  if redis.call('SISMEMBER', KEYS[i], ARGV[1]) == 1 then
    local tray = KEYS[i + 1]
    local length = redis.call('APPEND', tray, ARGV[2])
    -- The tray lives as long as its longest-lived entry.
    if length == #ARGV[2] then
      redis.call('PEXPIREAT', tray, ARGV[3])
    else
      redis.call('PEXPIREAT', tray, ARGV[3], 'GT')
    end
    local flag = '1'
    if math.floor(length / 4096) > math.floor((length - #ARGV[2]) / 4096) then
      local head = tonumber(string.match(redis.call('GETRANGE', tray, 0, 19), '^(%d+) '))
      if head and head <= now then
        flag = '2'
      end
    end
    reached[#reached + 1] = flag
  else
    reached[#reached + 1] = '0'
  end
end
return table.concat(reached)
