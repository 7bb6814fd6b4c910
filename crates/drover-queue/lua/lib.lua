-- lib.lua: helpers prepended to every script (see redis_queue.rs). Redis runs each script
-- atomically, so a script is one step of the queue's state machine.
--
-- Key layout, all derived from the queue name `q`:
--   q                    list: ready tasks; producers RPUSH, take pops the head (LEFT)
--   q:leases             sorted set: consumer id -> lease expiry (ms, Redis' own clock)
--   q:processing:<c>     list: bodies consumer c holds, in the order it took them
--   q:receipts:<c>       set: delivery sequence numbers consumer c holds
--   q:dead               list: dead-lettered tasks (read by stats only, for now)
--
-- Invariant kept by every script: q:processing:<c> is non-empty <=> q:receipts:<c> is non-empty
-- <=> c is in q:leases, and LLEN q:processing:<c> == SCARD q:receipts:<c>. A task is therefore
-- always in exactly one of: the ready list, a processing list whose owner holds a lease (so the
-- reaper will find it), or gone (acked).
--
-- The per-consumer keys are built from prefixes passed in ARGV rather than declared in KEYS:
-- the reaper must visit lists it only learns about from q:leases. This is fine on a standalone
-- Redis (or one primary), which is all Drover supports; it would not be on Redis Cluster.

-- Redis' clock in milliseconds, so that clients' clocks never matter.
local function drover_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Returns every task held by a consumer whose lease expired (expiry <= now) to the head of the
-- ready list, keeping the tasks' relative order (the oldest taken ends up first), and forgets
-- the consumer. Returns how many tasks went back.
local function drover_reap(ready, leases, processing_prefix, receipts_prefix, now)
  local returned = 0
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, consumer in ipairs(expired) do
    local processing = processing_prefix .. consumer
    -- Tail of the processing list (newest) to the head of the ready list, until empty.
    while redis.call('LMOVE', processing, ready, 'RIGHT', 'LEFT') do
      returned = returned + 1
    end
    redis.call('DEL', processing, receipts_prefix .. consumer)
    redis.call('ZREM', leases, consumer)
  end
  return returned
end

-- Called after a task left a consumer's processing list: a consumer that holds nothing gives
-- up its lease entry (an idle consumer is not counted as holding leases).
local function drover_release_if_idle(leases, processing, receipts, consumer)
  if redis.call('LLEN', processing) == 0 then
    redis.call('DEL', receipts)
    redis.call('ZREM', leases, consumer)
  end
end

-- Checks that `consumer` holds delivery `seq` with body `body`. Returns 1 if it does, 0 if the
-- delivery is not held (acked already, or reaped), -1 if the delivery is held but the body is
-- not in the processing list (the caller changed the task's body).
local function drover_holds(processing, receipts, seq, body)
  if redis.call('SISMEMBER', receipts, seq) == 0 then
    return 0
  end
  if not redis.call('LPOS', processing, body) then
    return -1
  end
  return 1
end
