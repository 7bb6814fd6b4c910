-- ack_take.lua: ack deliveries of this consumer and take the next task, in one round trip
-- (a draining pod's hot path). Each ack is exactly ack.lua; the take is exactly take.lua.
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] processing list of the consumer,
-- KEYS[4] receipts set of the consumer, KEYS[5] id counter.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix, ARGV[3] consumer id,
-- ARGV[4] lease in ms, ARGV[5] sequence number for the new delivery,
-- ARGV[6], ARGV[7], ...: sequence number and envelope of each delivery to ack (none or more).
--
-- Returns {acks, envelope}: acks holds one result per delivery, in order: 1 (acked), 0 (not
-- held: lease lost) or -1 (envelope mismatch), as ack.lua; envelope is the next task's, or nil
-- when the ready list is empty.
local acks = {}
for i = 6, #ARGV, 2 do
  local held = drover_holds(KEYS[3], KEYS[4], ARGV[i], ARGV[i + 1])
  if held == 1 then
    redis.call('LREM', KEYS[3], 1, ARGV[i + 1])
    redis.call('SREM', KEYS[4], ARGV[i])
  end
  acks[#acks + 1] = held
end
drover_release_if_idle(KEYS[2], KEYS[3], KEYS[4], ARGV[3])
local now = drover_now_ms()
drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
local envelope = drover_take_one(KEYS[1], KEYS[3], KEYS[5], now)
if not envelope then
  return {acks, false}
end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', now + tonumber(ARGV[4]), ARGV[3])
return {acks, envelope}
