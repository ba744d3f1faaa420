-- Adaptive politeness, one upstream host: what the last request met.
-- KEYS: host_key
-- ARGV: outcome ('ok' | 'throttled' | 'error'), retry_after_ms, ceiling, factor,
--       recovery_per_s (req/s gained per second of good answers), floor (req/s),
--       window_ms, threshold (error ratio), min_requests, pause_ms, pause_max_ms,
--       start_fraction, idle_ttl_ms
-- Multiplicative decrease on 'throttled' (429, 503, timeouts), additive increase while
-- answers are 'ok', never above the ceiling; a Retry-After holds every request back until
-- it passes; an error ratio at or above the threshold over the window pauses the host, and a
-- failed probe pauses it again for twice as long. Returns {rate * 1000, paused 0|1}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = KEYS[1]
local outcome, retry_after = ARGV[1], tonumber(ARGV[2])
local ceiling, factor, recovery = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local floor, window, threshold = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local min_requests, pause_base = tonumber(ARGV[9]), tonumber(ARGV[10])
local pause_max, start, ttl = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local f = redis.call('HMGET', h, 'rate', 'state', 'adj', 'w_start', 'w_total', 'w_err',
  'p_total', 'p_err', 'pause_ms', 'next')
local rate = tonumber(f[1]) or ceiling * start
local state = f[2] or 'ok'
local adj = tonumber(f[3]) or now
local ws = tonumber(f[4]) or now
local wt, we = tonumber(f[5]) or 0, tonumber(f[6]) or 0
local pt, pe = tonumber(f[7]) or 0, tonumber(f[8]) or 0
local pause = tonumber(f[9]) or 0
local nxt = tonumber(f[10]) or 0

-- two fixed windows, the older one weighed by how much of it still overlaps the last window
if now - ws >= window then
  if now - ws >= 2 * window then pt, pe = 0, 0 else pt, pe = wt, we end
  wt, we = 0, 0
  ws = now - ((now - ws) % window)
end
wt = wt + 1
if outcome ~= 'ok' then we = we + 1 end

if outcome == 'ok' then
  if state == 'probing' then
    state = 'ok'; pause = 0  -- resumed at the backed-off rate: it climbs from here
  elseif ceiling > 0 then
    rate = math.min(ceiling, rate + recovery * (now - adj) / 1000)
  end
else
  if outcome == 'throttled' and ceiling > 0 then rate = math.max(rate * factor, floor) end
  if retry_after > 0 and now + retry_after > nxt then nxt = now + retry_after end
  if state == 'probing' then
    pause = math.min(math.max(pause * 2, pause_base), pause_max)
    state = 'paused'
    redis.call('HSET', h, 'paused_until', now + pause)
  end
end
adj = now

if state == 'ok' then
  local weight = 1 - (now - ws) / window
  local total = wt + pt * weight
  local errs = we + pe * weight
  if total >= min_requests and errs / total >= threshold then
    pause = math.min(math.max(pause, pause_base), pause_max)
    state = 'paused'
    wt, we, pt, pe = 0, 0, 0, 0
    redis.call('HSET', h, 'paused_until', now + pause)
  end
end
redis.call('HSET', h, 'rate', rate, 'state', state, 'adj', adj, 'w_start', ws, 'w_total', wt,
  'w_err', we, 'p_total', pt, 'p_err', pe, 'pause_ms', pause, 'next', nxt)
redis.call('PEXPIRE', h, ttl)
local paused = 0
if state == 'paused' then paused = 1 end
return {math.floor(rate * 1000), paused}
