-- Counts one ad event of a campaign: the campaign's running totals and the hour and day report
-- buckets, all under the campaign's hash tag. An impression is charged only while the budget and
-- the daily budget (read here, not passed in, so no stale copy can overspend) still cover its
-- price; otherwise nothing at all is counted.
-- KEYS: 1 campaign hash, 2 hour bucket, 3 day bucket, 4 hour reach (HLL), 5 day reach (HLL)
-- ARGV: 1 event (impression | click | hide | report), 2 viewer pseudonym, 3 price (micros),
--       4 hour keys expire at (ms), 5 day keys expire at (ms)
-- Returns 1 when counted, 0 for an impression the budget no longer covers, -1 without a campaign.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local event = ARGV[1]
if event == 'impression' then
  local price = tonumber(ARGV[3])
  local money = redis.call('HMGET', KEYS[1], 'budget', 'daily_budget', 'spent')
  local budget = tonumber(money[1]) or 0
  local spent = tonumber(money[3]) or 0
  if spent + price > budget then
    return 0
  end
  if money[2] then
    local today = tonumber(redis.call('HGET', KEYS[3], 'spend_micros')) or 0
    if today + price > tonumber(money[2]) then
      return 0
    end
  end
  redis.call('HINCRBY', KEYS[1], 'spent', price)
  redis.call('HINCRBY', KEYS[1], 'impressions', 1)
  for i = 2, 3 do
    redis.call('HINCRBY', KEYS[i], 'impressions', 1)
    redis.call('HINCRBY', KEYS[i], 'spend_micros', price)
  end
  redis.call('PFADD', KEYS[4], ARGV[2])
  redis.call('PFADD', KEYS[5], ARGV[2])
  redis.call('PEXPIREAT', KEYS[4], ARGV[4])
  redis.call('PEXPIREAT', KEYS[5], ARGV[5])
else
  local field = ({click = 'clicks', hide = 'hides', report = 'reports'})[event]
  if not field then
    return redis.error_reply('unknown ad event ' .. event)
  end
  if field == 'clicks' then
    redis.call('HINCRBY', KEYS[1], 'clicks', 1)
  end
  redis.call('HINCRBY', KEYS[2], field, 1)
  redis.call('HINCRBY', KEYS[3], field, 1)
end
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[3], ARGV[5])
return 1
