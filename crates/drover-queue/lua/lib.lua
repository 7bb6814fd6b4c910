-- lib.lua: helpers prepended to every script (see redis_queue.rs). Redis runs each script
-- atomically, so a script is one step of the queue's state machine.
--
-- Key layout, all derived from the queue name `q`:
--   q                    list: ready tasks; producers RPUSH, take pops the head (LEFT)
--   q:leases             sorted set: consumer id -> lease expiry (ms, Redis' own clock)
--   q:processing:<c>     list: envelopes consumer c holds, in the order it took them
--   q:receipts:<c>       set: delivery sequence numbers consumer c holds
--   q:ids                string: counter of the task ids handed out (INCR), never deleted
--   q:dead               list: dead-lettered tasks (read by stats only, for now)
--
-- Producers push plain bodies. The first take of a plain body gives it a task id and rewrites
-- it, in the processing list, as an envelope: "\0drover\0" .. id .. "\0" .. body. From then on
-- the envelope is what moves (requeue and reap push it back to the ready list), so every later
-- take returns the same id. A value that already is an envelope is taken as it is.
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

-- Checks that `consumer` holds delivery `seq` of the envelope `envelope`. Returns 1 if it does,
-- 0 if the delivery is not held (acked already, or reaped), -1 if the delivery is held but the
-- envelope is not in the processing list (the caller changed the task's id or body).
local function drover_holds(processing, receipts, seq, envelope)
  if redis.call('SISMEMBER', receipts, seq) == 0 then
    return 0
  end
  if not redis.call('LPOS', processing, envelope) then
    return -1
  end
  return 1
end

-- The first bytes of an envelope. A NUL starts it, so no text body is mistaken for one.
local DROVER_MARKER = '\0drover\0'

-- Whether `value` is an envelope: the marker, an id of 1 to 128 characters from
-- [A-Za-z0-9._:-], a NUL, then the body (anything, empty included). Anything else is a plain
-- body, even one that starts with the marker.
local function drover_is_envelope(value)
  if string.sub(value, 1, 8) ~= DROVER_MARKER then
    return false
  end
  local nul = string.find(value, '\0', 9, true)
  if not nul or nul == 9 or nul > 9 + 128 then
    return false
  end
  return string.find(string.sub(value, 9, nul - 1), '^[A-Za-z0-9%._:%-]+$') ~= nil
end

-- Moves up to `n` tasks from the head of the ready list to the tail of `processing`, as
-- envelopes, exactly as `n` calls of drover_take_one would (one id drawn per plain body, in
-- order), in a handful of commands whatever `n`. Returns the envelopes taken, in order.
local function drover_take_many(ready, processing, ids, now, n)
  if n <= 0 then
    return {}
  end
  local values = redis.call('LRANGE', ready, 0, n - 1)
  if #values == 0 then
    return values
  end
  redis.call('LTRIM', ready, #values, -1)
  local plain = 0
  for i = 1, #values do
    if not drover_is_envelope(values[i]) then
      plain = plain + 1
    end
  end
  local next_id = 0
  if plain > 0 then
    next_id = redis.call('INCRBY', ids, plain) - plain
  end
  for i = 1, #values do
    if not drover_is_envelope(values[i]) then
      next_id = next_id + 1
      values[i] = DROVER_MARKER .. string.format('%d-%d', now, next_id) .. '\0' .. values[i]
    end
  end
  redis.call('RPUSH', processing, unpack(values))
  return values
end

-- Removes the deliveries `seqs` (sequence numbers) of envelopes `envelopes` from a consumer's
-- processing list and receipts set, as ack.lua does for each, in a handful of commands however
-- many there are. Returns one result per delivery, in order: 1 (removed), 0 (not held: acked
-- already, or reaped) or -1 (held, but its envelope is not in the list: the caller changed the
-- task's id or body; the delivery stays held).
local function drover_remove_many(processing, receipts, seqs, envelopes)
  local results = {}
  if #seqs == 0 then
    return results
  end
  local member = redis.call('SMISMEMBER', receipts, unpack(seqs))
  -- How many times each envelope is in the list.
  local list = redis.call('LRANGE', processing, 0, -1)
  local count = {}
  for _, value in ipairs(list) do
    count[value] = (count[value] or 0) + 1
  end
  local remove = {}
  local seen = {}
  local gone = {}
  for i = 1, #seqs do
    if member[i] == 0 or seen[seqs[i]] then
      results[i] = 0
    elseif (count[envelopes[i]] or 0) == 0 then
      results[i] = -1
    else
      seen[seqs[i]] = true
      count[envelopes[i]] = count[envelopes[i]] - 1
      remove[envelopes[i]] = (remove[envelopes[i]] or 0) + 1
      gone[#gone + 1] = seqs[i]
      results[i] = 1
    end
  end
  if #gone == 0 then
    return results
  end
  -- The longest head of the list made only of envelopes to remove goes in one LTRIM (acks
  -- usually come in the order of the takes); the others one LREM each.
  local head = 0
  local left = {}
  for k, v in pairs(remove) do
    left[k] = v
  end
  for _, value in ipairs(list) do
    if (left[value] or 0) == 0 then
      break
    end
    left[value] = left[value] - 1
    head = head + 1
  end
  if head > 0 then
    redis.call('LTRIM', processing, head, -1)
  end
  for value, n in pairs(left) do
    if n > 0 then
      redis.call('LREM', processing, n, value)
    end
  end
  redis.call('SREM', receipts, unpack(gone))
  return results
end

-- Moves the head of the ready list to the tail of `processing` and returns it as an envelope
-- (false when the ready list is empty). A plain body gets the id "<now>-<n>", n from INCR on
-- `ids`, and is rewritten in place. The Redis time in front keeps ids unique even if `ids` is
-- deleted or rolled back (a restart that lost the tail of the AOF), as long as Redis' clock
-- moves forward.
local function drover_take_one(ready, processing, ids, now)
  local value = redis.call('LMOVE', ready, processing, 'LEFT', 'RIGHT')
  if not value then
    return false
  end
  if not drover_is_envelope(value) then
    local id = string.format('%d-%d', now, redis.call('INCR', ids))
    value = DROVER_MARKER .. id .. '\0' .. value
    redis.call('LSET', processing, -1, value)
  end
  return value
end
