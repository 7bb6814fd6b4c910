-- inspect.lua: count, changing nothing (the dashboard's read-only figures; no reaping).
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] dead-letter list.
-- ARGV[1] processing prefix.
--
-- Returns {ready, in_flight, consumers, dead_lettered}: in_flight sums the processing lists of
-- every consumer in the leases (an expired lease's tasks are out until someone reaps them),
-- consumers counts the leases that have not expired (Redis' clock).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local consumers = redis.call('ZRANGE', KEYS[2], 0, -1)
local in_flight = 0
for _, consumer in ipairs(consumers) do
  in_flight = in_flight + redis.call('LLEN', ARGV[1] .. consumer)
end
local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
return {redis.call('LLEN', KEYS[1]), in_flight, live, redis.call('LLEN', KEYS[3])}
