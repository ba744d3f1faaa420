-- Adaptive politeness, one upstream host: may a request go now?
-- KEYS: host_key (a hash), registry_key (a zset of host names by last use)
-- ARGV: ceiling (req/s, 0 = no pacing), start_fraction, probe_ms, idle_ttl_ms, host_name
-- Returns {wait_ms, state}: wait_ms 0 = go now; state 0 ok, 1 paused, 2 probing (this caller
-- is the probe when wait_ms is 0).
-- A missing hash (a new host, or state lost with a Redis wipe) starts at start_fraction of
-- the ceiling: a rebuild never bursts at full rate into a host that was just throttling us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = KEYS[1]
local ceiling, start = tonumber(ARGV[1]), tonumber(ARGV[2])
local probe_ms, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local f = redis.call('HMGET', h, 'rate', 'next', 'state', 'paused_until', 'probe_until')
local rate = tonumber(f[1])
if rate == nil then
  rate = ceiling * start
  redis.call('HSET', h, 'rate', rate, 'state', 'ok', 'adj', now, 'w_start', now)
end
if ceiling > 0 and (rate > ceiling or rate <= 0) then
  -- the catalog's ceiling was lowered, or the host was unpaced before: clamp into range
  rate = math.min(math.max(rate, ceiling * start), ceiling)
  redis.call('HSET', h, 'rate', rate)
end
redis.call('HSET', h, 'ceiling', ceiling)
redis.call('PEXPIRE', h, ttl)
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[2], ttl)
local state = f[3] or 'ok'
local nxt = tonumber(f[2]) or 0
if state == 'paused' then
  local pu = tonumber(f[4]) or 0
  if now < pu then return {pu - now, 1} end
  if nxt > now then return {nxt - now, 1} end
  redis.call('HSET', h, 'state', 'probing', 'probe_until', now + probe_ms)
  return {0, 2}
end
if state == 'probing' then
  local pr = tonumber(f[5]) or 0
  if now < pr then return {pr - now, 2} end
  -- the last probe never reported (its worker died): send another
  redis.call('HSET', h, 'probe_until', now + probe_ms)
  return {0, 2}
end
if nxt > now then return {math.ceil(nxt - now), 0} end
if ceiling > 0 then
  redis.call('HSET', h, 'next', now + 1000 / rate)
end
return {0, 0}
