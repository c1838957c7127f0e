-- Appends a story's entry to tray windows of viewers already found eligible (the author's mutual
-- contacts its audience admits): one script run per few hundred trays, so that posting to 1,000
-- contacts is one round trip, and one command per tray.
-- KEYS: the viewers' tray windows for the story's expiry
-- ARGV: 1 tray entry ("<expires_at> <author>/<story>\n"), 2 the window's end (ms)
local entry, window_end = ARGV[1], ARGV[2]
for i = 1, #KEYS do
  -- A window is created by its first entry and lives until it ends.
  if redis.call('APPEND', KEYS[i], entry) == #entry then
    redis.call('PEXPIREAT', KEYS[i], window_end)
  end
end
return #KEYS
