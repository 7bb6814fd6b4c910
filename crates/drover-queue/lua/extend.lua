-- extend.lua: reap expired leases, then push the consumer's lease expiry to now+lease. One lease
-- per consumer covers all its deliveries, so the expiry never shrinks (another delivery of the
-- same consumer may have asked for longer).
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] processing list of the consumer,
-- KEYS[4] receipts set of the consumer.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix, ARGV[3] consumer id,
-- ARGV[4] delivery sequence number, ARGV[5] envelope, ARGV[6] lease in ms.
--
-- Returns 1 when extended, 0 when the delivery is not held (an expired lease is reaped first,
-- so extending too late fails and the task is already back in the ready list), -1 when the
-- envelope does not match.
local now = drover_now_ms()
drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
local held = drover_holds(KEYS[3], KEYS[4], ARGV[4], ARGV[5])
if held ~= 1 then
  return held
end
redis.call('ZADD', KEYS[2], 'XX', 'GT', now + tonumber(ARGV[6]), ARGV[3])
return 1
