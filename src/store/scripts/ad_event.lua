-- Counts one ad event of a campaign: the campaign's running totals and the hour and day report
-- buckets, all under the campaign's hash tag. An impression is charged only while the campaign
-- can pay — at least one impression at the bid (`one_impression`) left in the budget and in
-- today's budget, and its price covered (both read here, not passed in, so no stale copy can
-- overspend); otherwise it is counted as `unbilled` in the buckets and charged nothing. The charge
-- that leaves less than one impression at the bid announces it on the campaigns channel, so that
-- every instance stops serving the campaign at once: from then on its status reads `exhausted`
-- (or, for today's budget, it serves again the next UTC day), and nothing more is charged.
-- KEYS: 1 campaign hash, 2 hour bucket, 3 day bucket, 4 hour reach (HLL), 5 day reach (HLL)
-- ARGV: 1 event (impression | click | hide | report), 2 viewer pseudonym, 3 price (micros),
--       4 hour keys expire at (ms), 5 day keys expire at (ms), 6 the campaigns channel,
--       7 the campaign's id (the announcement's payload)
-- Returns 1 when counted, 2 when counted and the campaign can no longer pay (announced), 0 for an
-- impression the budget no longer covers (unbilled), -1 without a campaign.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local function expire_buckets()
  redis.call('PEXPIREAT', KEYS[2], ARGV[4])
  redis.call('PEXPIREAT', KEYS[3], ARGV[5])
end
local function count(field, by)
  redis.call('HINCRBY', KEYS[2], field, by)
  redis.call('HINCRBY', KEYS[3], field, by)
end
local event = ARGV[1]
if event == 'impression' then
  local price = tonumber(ARGV[3])
  local money = redis.call('HMGET', KEYS[1], 'budget', 'daily_budget', 'spent', 'one_impression')
  local budget = tonumber(money[1]) or 0
  local daily = tonumber(money[2])
  local spent = tonumber(money[3]) or 0
  -- A campaign hash without `one_impression`: this impression's price stands in.
  local one_impression = tonumber(money[4]) or price
  local today = 0
  if daily then
    today = tonumber(redis.call('HGET', KEYS[3], 'spend_micros')) or 0
  end
  local can_pay = function(limit, used)
    return used + price <= limit and limit - used >= one_impression
  end
  if not can_pay(budget, spent) or (daily and not can_pay(daily, today)) then
    count('unbilled', 1)
    expire_buckets()
    return 0
  end
  redis.call('HINCRBY', KEYS[1], 'spent', price)
  redis.call('HINCRBY', KEYS[1], 'impressions', 1)
  count('impressions', 1)
  count('spend_micros', price)
  redis.call('PFADD', KEYS[4], ARGV[2])
  redis.call('PFADD', KEYS[5], ARGV[2])
  redis.call('PEXPIREAT', KEYS[4], ARGV[4])
  redis.call('PEXPIREAT', KEYS[5], ARGV[5])
  expire_buckets()
  local spent_out = budget - (spent + price) < one_impression
  local spent_out_today = daily and daily - (today + price) < one_impression
  if spent_out or spent_out_today then
    redis.call('PUBLISH', ARGV[6], 'spent:' .. ARGV[7])
    return 2
  end
  return 1
end
local field = ({click = 'clicks', hide = 'hides', report = 'reports'})[event]
if not field then
  return redis.error_reply('unknown ad event ' .. event)
end
if field == 'clicks' then
  redis.call('HINCRBY', KEYS[1], 'clicks', 1)
end
count(field, 1)
expire_buckets()
return 1
