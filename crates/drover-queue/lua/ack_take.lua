-- ack_take.lua: ack deliveries of this consumer and take up to `max` tasks, in one round trip
-- (a draining pod's hot path). Each ack is exactly ack.lua; each take is exactly take.lua's,
-- and every task taken is a delivery of its own (its own sequence number in the receipts set),
-- held under the consumer's lease like any other. The acks and the takes each cost a few
-- commands, however many tasks they cover (see drover_remove_many and drover_take_many).
--
-- KEYS[1] ready list, KEYS[2] leases, KEYS[3] processing list of the consumer,
-- KEYS[4] receipts set of the consumer, KEYS[5] id counter.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix, ARGV[3] consumer id,
-- ARGV[4] lease in ms, ARGV[5] sequence number of the first new delivery (the i-th task taken
-- gets ARGV[5] + i - 1; the caller reserves `max` numbers), ARGV[6] max: the most tasks to take,
-- ARGV[7] spread: take at most a 1/spread share of the ready list (rounded up), so that the
-- last tasks of a queue are shared between consumers,
-- ARGV[8], ARGV[9], ...: sequence number and envelope of each delivery to ack (none or more).
--
-- Returns {acks, envelopes, ready}: acks holds one result per delivery, in order: 1 (acked),
-- 0 (not held: lease lost) or -1 (envelope mismatch), as ack.lua; envelopes the tasks taken, in
-- the ready list's order (none when it is empty); ready what the ready list still holds.
local seqs = {}
local envelopes = {}
for i = 8, #ARGV, 2 do
  seqs[#seqs + 1] = ARGV[i]
  envelopes[#envelopes + 1] = ARGV[i + 1]
end
local acks = drover_remove_many(KEYS[3], KEYS[4], seqs, envelopes)
drover_release_if_idle(KEYS[2], KEYS[3], KEYS[4], ARGV[3])
local now = drover_now_ms()
drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
local ready = redis.call('LLEN', KEYS[1])
local share = math.ceil(ready / math.max(1, tonumber(ARGV[7])))
local want = math.min(tonumber(ARGV[6]), math.max(1, share))
local taken = drover_take_many(KEYS[1], KEYS[3], KEYS[5], now, want)
if #taken > 0 then
  local first = tonumber(ARGV[5])
  local received = {}
  for i = 1, #taken do
    received[i] = string.format('%d', first + i - 1)
  end
  redis.call('SADD', KEYS[4], unpack(received))
  -- GT does not prevent adding a consumer that holds no lease yet.
  redis.call('ZADD', KEYS[2], 'GT', now + tonumber(ARGV[4]), ARGV[3])
end
return {acks, taken, ready - #taken}
