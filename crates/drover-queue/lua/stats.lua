-- stats.lua: reap expired leases, then count.
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] dead-letter list.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix.
--
-- Returns {ready, in_flight, consumers, dead_lettered, reaped}: in_flight sums the processing
-- lists of the consumers holding leases, consumers counts those consumers, reaped is how many
-- tasks this call returned to the ready list.
local now = drover_now_ms()
local reaped = drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
local consumers = redis.call('ZRANGE', KEYS[2], 0, -1)
local in_flight = 0
for _, consumer in ipairs(consumers) do
  in_flight = in_flight + redis.call('LLEN', ARGV[1] .. consumer)
end
return {redis.call('LLEN', KEYS[1]), in_flight, #consumers, redis.call('LLEN', KEYS[3]), reaped}
