-- Put back a cooldown lost with Redis, for a job Postgres says still holds it; never over a
-- live one, never for a job that has given it back since (its tombstone names it).
-- KEYS: cooldown_key; ARGV: job_id, ttl_ms, set_ms
if redis.call('GET', KEYS[1] .. ':released') == ARGV[1] then return 0 end
local ok = redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[3], 'NX', 'PX', ARGV[2])
if ok then return 1 end
return 0
