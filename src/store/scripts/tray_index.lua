-- The viewer's tray index: the stories fanned out to one viewer, by author, kept in feed order so
-- that a page reads what it shows and no more. Posting appends to tray windows (fan_out.lua) and
-- never touches the index; the index takes the windows in when the viewer reads, and deletes them.
--
-- KEYS (all under the viewer's tag):
--   1 HASH author -> "<story id> <expires_at ms> <seen 0|1>,…" (live stories, posting order)
--   2 ZSET author -> -(newest story's created ms): authors with an unseen story
--   3 ZSET author -> -(newest story's created ms): authors whose stories are all seen
--   4 ZSET author -> when the author's first story expires (ms): when to look at them again
--   page only:
--   5 ZSET story id -> expires_at: the stories the viewer has seen
--   6 SET the authors the viewer muted
--   7 ZSET "removed:<user>" / "removed-by:<user>" -> ms: contact removals (hide their stories)
--   8 STRING settings, 9 ad-free mark, 10 SET hidden campaigns, 11 SET blocked advertisers,
--   12 ZSET impressions: the viewer's ad state, read with the page so that ads cost no round trip
--   13… the tray windows that may hold live entries
-- ARGV: 1 operation ("page", "seen", "forget"), 2 now (ms), then per operation:
--   page:   3 removals since (ms), 4 cursor's section ("" none, "0" unseen, "1" seen),
--           5 cursor's negated newest time, 6 cursor's author, 7 limit, 8 "1" for the muted section,
--           9 impressions since (ms) with the ad state, "" without it
--   seen:   3 author, 4 story id
--   forget: 3… author, story id pairs: stories that are gone (deleted)
--
-- Scores are negated times so that ascending order (score, then author bytes) is feed order:
-- newest first, ties by author id.
local op, now = ARGV[1], tonumber(ARGV[2])
local STORIES, UNSEEN, SEEN, DUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
-- Made on first use: most pages take nothing in, and building it costs a page a tenth of its
-- script's instructions.
local digit

-- The creation time (ms) in a story id's leading ULID.
local function created_ms(id)
  if not digit then
    digit = {}
    for i = 1, 32 do digit[string.byte(CROCKFORD, i)] = i - 1 end
  end
  local t = 0
  for i = 1, 10 do
    local d = digit[string.byte(id, i) or 0]
    if not d then return 0 end
    t = t * 32 + d
  end
  return t
end

local function parse(raw)
  local stories = {}
  if raw then
    for id, exp, seen in string.gmatch(raw, '([^ ,]+) (%d+) ([01])') do
      stories[#stories + 1] = {id = id, exp = tonumber(exp), seen = seen}
    end
  end
  return stories
end

local latest_expiry = 0

-- Writes an author's live stories back, and their place: in UNSEEN or SEEN by their newest, in
-- DUE by their first expiry. An author with none left leaves the index.
local function store_author(author, stories)
  local live, newest, due, unseen = {}, 0, nil, false
  table.sort(stories, function(a, b) return a.id < b.id end)
  for _, s in ipairs(stories) do
    if s.exp > now and (#live == 0 or live[#live].id ~= s.id) then
      live[#live + 1] = s
      newest = math.max(newest, created_ms(s.id))
      if not due or s.exp < due then due = s.exp end
      if s.exp > latest_expiry then latest_expiry = s.exp end
      if s.seen == '0' then unseen = true end
    end
  end
  if #live == 0 then
    redis.call('HDEL', STORIES, author)
    redis.call('ZREM', UNSEEN, author)
    redis.call('ZREM', SEEN, author)
    redis.call('ZREM', DUE, author)
    return
  end
  local parts = {}
  for i, s in ipairs(live) do parts[i] = s.id .. ' ' .. string.format('%d', s.exp) .. ' ' .. s.seen end
  redis.call('HSET', STORIES, author, table.concat(parts, ','))
  local score = string.format('%d', -newest)
  redis.call('ZADD', unseen and UNSEEN or SEEN, score, author)
  redis.call('ZREM', unseen and SEEN or UNSEEN, author)
  redis.call('ZADD', DUE, string.format('%d', due), author)
end

-- Index keys live as long as the latest story they hold, and never less.
local function extend_expiry()
  if latest_expiry == 0 then return end
  for i = 1, 4 do
    local at = redis.call('PEXPIRETIME', KEYS[i])
    if at ~= -2 and (at == -1 or at < latest_expiry) then
      redis.call('PEXPIREAT', KEYS[i], string.format('%d', latest_expiry))
    end
  end
end

if op == 'seen' then
  local author, id = ARGV[3], ARGV[4]
  local stories = parse(redis.call('HGET', STORIES, author))
  for _, s in ipairs(stories) do
    if s.id == id and s.seen == '0' then
      s.seen = '1'
      store_author(author, stories)
      return 1
    end
  end
  return 0
end

if op == 'forget' then
  local gone = {}
  for i = 3, #ARGV, 2 do
    gone[ARGV[i]] = gone[ARGV[i]] or {}
    gone[ARGV[i]][ARGV[i + 1]] = true
  end
  for author, ids in pairs(gone) do
    local kept = {}
    for _, s in ipairs(parse(redis.call('HGET', STORIES, author))) do
      if not ids[s.id] then kept[#kept + 1] = s end
    end
    store_author(author, kept)
  end
  return 1
end

-- op == 'page'. First take in what posting appended since the last read.
local SEEN_STORIES, MUTED, REMOVALS = KEYS[5], KEYS[6], KEYS[7]
local arrived, arrived_authors = {}, {}
-- One call for all windows, one to delete those that held lines: each redis.call costs a few
-- thousand instructions, and each value it answers more. Most pages find every window empty,
-- which an EXISTS tells for a quarter of an MGET's cost.
local windows, filled = {}, {}
for i = 13, #KEYS do windows[#windows + 1] = KEYS[i] end
local any = #windows > 0 and redis.call('EXISTS', unpack(windows)) > 0
local raws = any and redis.call('MGET', unpack(windows)) or {}
for w, raw in ipairs(raws) do
  if raw then
    filled[#filled + 1] = windows[w]
    for exp, author, id in string.gmatch(raw, '(%d+) ([^/\n]+)/([^\n]+)\n') do
      exp = tonumber(exp)
      if exp > now then
        if not arrived[author] then
          arrived[author] = {}
          arrived_authors[#arrived_authors + 1] = author
        end
        local list = arrived[author]
        list[#list + 1] = {id = id, exp = exp}
      end
    end
  end
end
if #filled > 0 then redis.call('DEL', unpack(filled)) end
for _, author in ipairs(arrived_authors) do
  local stories = parse(redis.call('HGET', STORIES, author))
  local known = {}
  for _, s in ipairs(stories) do known[s.id] = true end
  for _, s in ipairs(arrived[author]) do
    if not known[s.id] then
      known[s.id] = true
      -- Seen already when read by id before the index took it in.
      s.seen = redis.call('ZSCORE', SEEN_STORIES, s.id) and '1' or '0'
      stories[#stories + 1] = s
    end
  end
  store_author(author, stories)
end
-- Then the authors one of whose stories has expired since.
for _, author in ipairs(redis.call('ZRANGE', DUE, '-inf', ARGV[2], 'BYSCORE')) do
  store_author(author, parse(redis.call('HGET', STORIES, author)))
end
extend_expiry()

-- Authors not shown in `items`: muted ones, and those on either side of a contact removal.
local removals_since, cursor_section, cursor_score, cursor_author = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit, with_muted = tonumber(ARGV[7]), ARGV[8] == '1'
local hidden, removed, n_hidden = {}, {}, 0
local muted = redis.call('SMEMBERS', MUTED)
for _, author in ipairs(muted) do
  hidden[author] = true
  n_hidden = n_hidden + 1
end
for _, mark in ipairs(redis.call('ZRANGE', REMOVALS, '(' .. removals_since, '+inf', 'BYSCORE')) do
  local other = string.match(mark, '^removed%-by:(.+)$') or string.match(mark, '^removed:(.+)$')
  if other then
    removed[other] = true
    if not hidden[other] then
      hidden[other] = true
      n_hidden = n_hidden + 1
    end
  end
end

-- Byte-wise a <= b, as Redis orders members of equal score (Lua's own comparison follows the
-- locale).
local function bytes_le(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end

-- The rank in `zset` of the first member after (score, author) in feed order.
local function rank_after(zset, score, author)
  local rank = redis.call('ZCOUNT', zset, '-inf', '(' .. score)
  for _, member in ipairs(redis.call('ZRANGE', zset, score, score, 'BYSCORE')) do
    if bytes_le(member, author) then rank = rank + 1 end
  end
  return rank
end

-- The page's authors, and a '1' or '0' for each: whether they have an unseen story.
local page, page_unseen = {}, ''
-- Up to `want` shown authors of `zset` from `rank` on, appended to the page.
local function take(zset, rank, want, unseen)
  if want <= 0 then return end
  -- Members only: an author's place (their newest live story) is in their stories' ids, which the
  -- reader parses anyway.
  local found = redis.call('ZRANGE', zset, rank, rank + want + n_hidden - 1)
  if #page == 0 and n_hidden == 0 then
    -- Most pages: the members as they came (a Lua loop over them costs as much as their reply).
    page, page_unseen = found, string.rep(unseen, #found)
    return
  end
  local taken = 0
  for i = 1, #found do
    if taken == want then break end
    local author = found[i]
    if not hidden[author] then
      page[#page + 1] = author
      taken = taken + 1
    end
  end
  page_unseen = page_unseen .. string.rep(unseen, taken)
end

-- One more than the page, to know whether another follows.
local want = limit + 1
if cursor_section == '1' then
  take(SEEN, rank_after(SEEN, cursor_score, cursor_author), want, '0')
else
  if cursor_section == '0' then
    take(UNSEEN, rank_after(UNSEEN, cursor_score, cursor_author), want, '1')
  else
    take(UNSEEN, 0, want, '1')
  end
  take(SEEN, 0, want - #page, '0')
end

-- The answer: whether more follows; the page's authors, their unseen flags as one string and
-- their stories (the index entries as stored); the muted authors as lines of "<author>
-- <unseen 0|1> <stories>" (user ids hold no spaces). Each value turned into a Lua string or a
-- reply costs thousands of instructions, each string built in Lua as many again (Redis's Lua
-- hashes every byte of it), so the page's entries go out as HMGET gave them.
local more = #page > limit and 1 or 0
local shown = math.min(#page, limit)
page[limit + 1] = nil
page_unseen = string.sub(page_unseen, 1, shown)
local page_stories = shown > 0 and redis.call('HMGET', STORIES, unpack(page)) or {}
local muted_lines = {}
if with_muted then
  for _, author in ipairs(muted) do
    local stories = not removed[author] and redis.call('HGET', STORIES, author)
    if stories then
      local unseen = redis.call('ZSCORE', UNSEEN, author) and '1' or '0'
      muted_lines[#muted_lines + 1] = author .. ' ' .. unseen .. ' ' .. stories
    end
  end
end

-- The viewer's ad state: settings, ad-free (0|1), hidden campaigns, blocked advertisers, the
-- impressions since ARGV[9] as member, time pairs. Read under pcall: a broken one costs the page
-- its ads (answered as the error's text), not the page.
local ad_state = false
if ARGV[9] ~= '' then
  local ok, read = pcall(function()
    return {
      redis.call('GET', KEYS[8]),
      redis.call('EXISTS', KEYS[9]),
      redis.call('SMEMBERS', KEYS[10]),
      redis.call('SMEMBERS', KEYS[11]),
      redis.call('ZRANGE', KEYS[12], ARGV[9], '+inf', 'BYSCORE', 'WITHSCORES'),
    }
  end)
  ad_state = ok and read or (type(read) == 'table' and read.err or tostring(read))
end
return {more, page, page_unseen, page_stories, table.concat(muted_lines, '\n'), ad_state}
