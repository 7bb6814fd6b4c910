-- ack.lua: the consumer is done with a delivery; remove its envelope from the consumer's own
-- processing list. Envelopes carry the task's id, so equal bodies are distinct values; and
-- other consumers' lists are never touched.
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] processing list of the consumer,
-- KEYS[4] receipts set of the consumer.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix, ARGV[3] consumer id,
-- ARGV[4] delivery sequence number, ARGV[5] envelope (as take.lua returned it).
--
-- Returns 1 when acked, 0 when the delivery is not held (its lease was reaped and the task went
-- back to the ready list, or it was acked or requeued already), -1 when the envelope does not
-- match.
-- Does not reap: a lease that expired but was not reaped yet still holds the task (nobody else
-- can have it), so acking it is exact.
local held = drover_holds(KEYS[3], KEYS[4], ARGV[4], ARGV[5])
if held ~= 1 then
  return held
end
redis.call('LREM', KEYS[3], 1, ARGV[5])
redis.call('SREM', KEYS[4], ARGV[4])
drover_release_if_idle(KEYS[2], KEYS[3], KEYS[4], ARGV[3])
return 1
