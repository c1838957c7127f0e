-- The viewer's live tray, filtered by the viewer's contacts as they are now.
-- KEYS: 1 tray, 2 contacts, 3 muted, 4 seen (all under the viewer's hash tag)
-- ARGV: 1 now (ms)
-- Returns one string, a line per entry: "author/story expires_at muted(0/1) seen(0/1)".
-- One string instead of four values per entry, and one SMISMEMBER / ZMSCORE per set instead of a
-- call per entry: a feed read is dominated by this script, on Redis and in the client's parser.
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local entries = redis.call('LRANGE', KEYS[1], 0, -1)

-- Asks `command key members...` in chunks (Lua's unpack has a stack limit); one answer per member.
local function ask_many(command, key, members)
  local answers = {}
  for first = 1, #members, 1000 do
    local last = math.min(first + 999, #members)
    local chunk = redis.call(command, key, unpack(members, first, last))
    for i = 1, #chunk do
      answers[#answers + 1] = chunk[i]
    end
  end
  return answers
end

local members, expires, authors_of, stories = {}, {}, {}, {}
local authors, author_index, listed = {}, {}, {}
local expired_at_head, live_seen = 0, false
for i = 1, #entries do
  local at, member = string.match(entries[i], '^(%d+) (.+)$')
  local slash = member and string.find(member, '/', 1, true)
  if not slash or tonumber(at) <= now then
    -- Entries are in posting order: expired ones before the first live one can go.
    if not live_seen then
      expired_at_head = i
    end
  else
    live_seen = true
    -- A fan-out repeated after a script-cache miss may have appended an entry twice.
    if not listed[member] then
      listed[member] = true
      local author = string.sub(member, 1, slash - 1)
      if not author_index[author] then
        authors[#authors + 1] = author
        author_index[author] = #authors
      end
      members[#members + 1] = member
      expires[#expires + 1] = at
      authors_of[#authors_of + 1] = author_index[author]
      stories[#stories + 1] = string.sub(member, slash + 1)
    end
  end
end
if expired_at_head > 0 then
  redis.call('LTRIM', KEYS[1], expired_at_head, -1)
end
if #members == 0 then
  return ''
end

local contact = ask_many('SMISMEMBER', KEYS[2], authors)
local muted = ask_many('SMISMEMBER', KEYS[3], authors)
local seen = ask_many('ZMSCORE', KEYS[4], stories)
local lines = {}
for i = 1, #members do
  local a = authors_of[i]
  if contact[a] == 1 then
    lines[#lines + 1] = members[i] .. ' ' .. expires[i] .. ' ' .. muted[a] .. ' ' .. (seen[i] and '1' or '0')
  end
end
return table.concat(lines, '\n')
