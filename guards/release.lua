-- Release what one job holds: its cooldown (only if it still holds it) and its slot; and
-- un-count a request from its rate windows (an admission whose request was then refused).
-- KEYS: cooldown_key ('-' = none), slot_key ('-' = none), rate_key_1 .. rate_key_n
-- ARGV: job_id, tombstone_ttl_ms (0 = none), member ('-' = none)
-- A given-back cooldown leaves a tombstone naming the job, so a restore working from an
-- older snapshot of the jobs (restore.lua) never puts it back.
local released = 0
if KEYS[1] ~= '-' then
  local holder = redis.call('GET', KEYS[1])
  if holder and string.match(holder, '^(%d+)') == ARGV[1] then
    redis.call('DEL', KEYS[1])
    released = released + 1
  end
  local tomb_ttl = tonumber(ARGV[2] or '0')
  if tomb_ttl > 0 then
    redis.call('SET', KEYS[1] .. ':released', ARGV[1], 'PX', tomb_ttl)
  end
end
if KEYS[2] ~= '-' then
  released = released + redis.call('ZREM', KEYS[2], ARGV[1])
end
if ARGV[3] and ARGV[3] ~= '-' then
  for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[3]) end
end
return released
