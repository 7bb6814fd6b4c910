-- take.lua: reap expired leases, then move the head of the ready list to this consumer's
-- processing list (as an envelope carrying the task's id, see lib.lua), record the delivery and
-- extend the consumer's lease, all atomically.
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] processing list of the consumer,
-- KEYS[4] receipts set of the consumer, KEYS[5] id counter.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix, ARGV[3] consumer id,
-- ARGV[4] lease in ms, ARGV[5] delivery sequence number (unique per consumer).
--
-- Returns the envelope, or nil when the ready list is empty (nothing else changes then, apart
-- from the reaping). The lease never shrinks: the consumer's expiry becomes
-- max(current, now+lease).
local now = drover_now_ms()
drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
local envelope = drover_take_one(KEYS[1], KEYS[3], KEYS[5], now)
if not envelope then
  return false
end
redis.call('SADD', KEYS[4], ARGV[5])
-- GT does not prevent adding a consumer that holds no lease yet.
redis.call('ZADD', KEYS[2], 'GT', now + tonumber(ARGV[4]), ARGV[3])
return envelope
