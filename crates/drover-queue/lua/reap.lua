-- reap.lua: return the tasks of every consumer whose lease expired to the head of the ready
-- list (take, extend and stats do this too, first thing).
--
-- KEYS[1] ready list, KEYS[2] leases.
-- ARGV[1] processing prefix, ARGV[2] receipts prefix.
--
-- Returns how many tasks went back.
return drover_reap(KEYS[1], KEYS[2], ARGV[1], ARGV[2], drover_now_ms())
