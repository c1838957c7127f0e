-- Puts a story into the tray of each viewer whose contact list holds the author right now (the
-- mutual-contacts rule at posting time): check and write in one step, on Redis, so that posting
-- to 1,000 contacts is one round trip of a few script runs instead of several commands per viewer.
-- KEYS: pairs of (viewer's contacts, viewer's tray)
-- ARGV: 1 author, 2 tray entry ("<expires_at> <author>/<story>"), 3 expires_at (ms), 4 now (ms)
-- Returns one character per viewer: '1' reached, '0' not.
local now = tonumber(ARGV[4])

-- Entries are appended in posting order, so expired ones gather at the head.
local function trim_expired(tray)
  while true do
    local head = redis.call('LINDEX', tray, 0)
    if not head or tonumber(string.match(head, '^%d+')) > now then
      return
    end
    redis.call('LPOP', tray)
  end
end

local reached = {}
for i = 1, #KEYS, 2 do
  if redis.call('SISMEMBER', KEYS[i], ARGV[1]) == 1 then
    local tray = KEYS[i + 1]
    local length = redis.call('RPUSH', tray, ARGV[2])
    -- The tray lives as long as its longest-lived entry.
    if length == 1 then
      redis.call('PEXPIREAT', tray, ARGV[3])
    else
      redis.call('PEXPIREAT', tray, ARGV[3], 'GT')
    end
    -- Reading a tray trims it too; this bounds the trays of viewers who do not read.
    if length % 32 == 0 then
      trim_expired(tray)
    end
    reached[#reached + 1] = '1'
  else
    reached[#reached + 1] = '0'
  end
end
return table.concat(reached)
