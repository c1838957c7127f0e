-- Saves a changed campaign unless someone else changed it since it was read (compare-and-set on
-- `version`), so that two concurrent PATCHes never silently undo each other.
-- KEYS: 1 the campaign hash
-- ARGV: 1 the version read, 2 the record (JSON), 3 budget (micros), 4 daily budget (micros; '' for
--       none), 5 one impression at the bid (micros: less budget left than this stops the campaign)
-- Returns 1 when saved, 0 when the version moved on or the campaign is gone.
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'budget', ARGV[3], 'one_impression', ARGV[5])
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], 'daily_budget')
else
  redis.call('HSET', KEYS[1], 'daily_budget', ARGV[4])
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
