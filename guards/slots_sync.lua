-- Make an organization's slot set equal the open jobs Postgres knows, keeping live leases.
-- KEYS: slot_key; ARGV: slot_ttl_ms, job_id_1 .. job_id_n
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local want = {}
for i = 2, #ARGV do want[ARGV[i]] = true end
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not want[member] then
    redis.call('ZREM', KEYS[1], member)
    removed = removed + 1
  end
end
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ttl) end
return removed
