-- purge.lua: delete the ready list. Tasks in flight are left alone (their acks still work, and
-- a requeue or a reap recreates the list).
--
-- KEYS[1] ready list. Returns how many tasks it held.
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return n
