-- Release what one job holds: its cooldown (only if it still holds it) and its slot.
-- KEYS: cooldown_key ('-' = none), slot_key ('-' = none); ARGV: job_id
local released = 0
if KEYS[1] ~= '-' and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = released + 1
end
if KEYS[2] ~= '-' then
  released = released + redis.call('ZREM', KEYS[2], ARGV[1])
end
return released
