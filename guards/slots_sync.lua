-- Give the open jobs Postgres knows their slots again (after a Redis loss), with a fresh
-- lease. It never removes anything: only slots of jobs known to have ended are removed,
-- separately (Guards.drop_slots), so a job admitted meanwhile keeps its slot.
-- KEYS: slot_key; ARGV: slot_ttl_ms, job_id_1 .. job_id_n
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ttl) end
return #ARGV - 1
