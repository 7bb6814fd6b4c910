-- requeue.lua: give a delivery back; its envelope goes to the head of the ready list, so it is
-- the next task taken, with the same id.
--
-- KEYS and ARGV as in ack.lua. Returns 1 when requeued, 0 when the delivery is not held, -1 when
-- the envelope does not match.
local held = drover_holds(KEYS[3], KEYS[4], ARGV[4], ARGV[5])
if held ~= 1 then
  return held
end
redis.call('LREM', KEYS[3], 1, ARGV[5])
redis.call('SREM', KEYS[4], ARGV[4])
redis.call('LPUSH', KEYS[1], ARGV[5])
drover_release_if_idle(KEYS[2], KEYS[3], KEYS[4], ARGV[3])
return 1
