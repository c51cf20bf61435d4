-- project_order.lua: keep the cross-show copy of an order at its newest version. The
-- outbox may deliver an order's events again or, after a reclaim, out of order; a copy
-- is only ever replaced by a higher version, so re-applying changes nothing and an old
-- event never takes an order back to an earlier status.
--
-- KEYS[1]  the copy   lc:order:ORDER   (one key: no hash tag needed)
-- ARGV[1]  the order JSON as the outbox entry carries it
-- ARGV[2]  its version (1 when confirmed, one more per lifecycle move)
--
-- Returns 1 when the copy was written now, 0 when it held this version or a newer one.

local stored = redis.call('GET', KEYS[1])
if stored then
  local version = tonumber(cjson.decode(stored).version) or 1
  if version >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
