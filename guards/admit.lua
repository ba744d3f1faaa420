-- Admission for one request, all or nothing: sliding-window rate limits, then an optional
-- cooldown, then an optional concurrency slot. Nothing is taken unless everything passes.
-- KEYS: cooldown_key ('-' = none), slot_key ('-' = none), rate_key_1 .. rate_key_n
-- ARGV: member, cooldown_ttl_ms (0 = no cooldown), job_id, slot_limit, slot_ttl_ms, window_ms,
--       limit_1 .. limit_n
-- A cooldown's value is 'job_id:set_ms': the holder, and when it was set, so the sweeper can
-- tell a job still being committed from one that never will be.
-- Returns {code, a, b, c}:
--   code 0 ok:            a = remaining under the first rate limit, b = ms until it resets
--   code 1 rate limited:  a = index of the limit (1-based), b = ms until a slot frees, c = limit
--   code 2 cooldown:      a = job id holding it, b = ms left, c = ms since it was set
--   code 3 concurrency:   a = slots in use, b = ms until the earliest lease expires
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, cd_ttl, job_id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local slot_limit, slot_ttl, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local nrates = #KEYS - 2

local first_remaining, first_reset = -1, 0
for i = 1, nrates do
  local key, limit = KEYS[i + 2], tonumber(ARGV[6 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit or i == 1 then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    if count >= limit then
      return {1, i, math.max(wait, 1), limit}
    end
    first_remaining = limit - count - 1
    first_reset = wait
  end
end

local use_cd = KEYS[1] ~= '-' and cd_ttl > 0
if use_cd then
  local holder = redis.call('GET', KEYS[1])
  if holder then
    local hid, set_ms = string.match(holder, '^(%d+):?(%d*)$')
    if hid ~= job_id then
      local age = 0
      if set_ms and set_ms ~= '' then age = now - tonumber(set_ms) end
      return {2, tonumber(hid) or 0, redis.call('PTTL', KEYS[1]), age}
    end
  end
end

if KEYS[2] ~= '-' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if not redis.call('ZSCORE', KEYS[2], job_id) then
    local used = redis.call('ZCARD', KEYS[2])
    if used >= slot_limit then
      local earliest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
      local wait = 1000
      if earliest[2] then wait = tonumber(earliest[2]) - now end
      return {3, used, math.max(wait, 1), 0}
    end
  end
end

for i = 1, nrates do
  local key = KEYS[i + 2]
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
if use_cd then
  redis.call('SET', KEYS[1], job_id .. ':' .. now, 'PX', cd_ttl)
end
if KEYS[2] ~= '-' then
  redis.call('ZADD', KEYS[2], now + slot_ttl, job_id)
  redis.call('PEXPIRE', KEYS[2], slot_ttl)
end
return {0, first_remaining, first_reset, 0}
