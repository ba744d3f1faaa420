-- Per-host politeness: at most `rate` requests per second, spaced evenly (a virtual clock).
-- KEYS: host_key; ARGV: interval_ms. Returns 0 when the caller may go now, else ms to wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_free > now then
  return next_free - now
end
redis.call('SET', KEYS[1], now + interval, 'PX', math.max(interval * 2, 1000))
return 0
