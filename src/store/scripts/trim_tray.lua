-- Drops the expired entries at the head of a tray (entries are in posting order, so expired ones
-- gather there). Reads the head a piece at a time and rewrites the tray only when there is
-- something to drop; the rewrite copies the tray, so callers ask for it only now and then.
-- KEYS: 1 the tray
-- ARGV: 1 now (ms)
-- Returns the number of bytes dropped.
local tray, now = KEYS[1], tonumber(ARGV[1])
local cut = 0
while true do
  local piece = redis.call('GETRANGE', tray, cut, cut + 4095)
  local at, live = 1, false
  while true do
    local newline = string.find(piece, '\n', at, true)
    if not newline then
      break -- the piece ends inside this entry, or the tray ends
    end
    local expires = tonumber(string.match(piece, '^(%d+) ', at))
    if not expires or expires > now then
      live = true -- a live entry (or one that cannot be read: never dropped)
      break
    end
    at = newline + 1
  end
  cut = cut + at - 1
  if live or at == 1 then
    break
  end
end
if cut == 0 then
  return 0
end
local rest = redis.call('GETRANGE', tray, cut, -1)
if rest == '' then
  redis.call('DEL', tray)
else
  redis.call('SET', tray, rest, 'KEEPTTL')
end
return cut
