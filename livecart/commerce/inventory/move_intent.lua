-- move_intent.lua: step (a) of a move from a show back to the brand, in the brand's
-- slot: record the intent ('returning', pending) before the show gives anything up, so
-- that whatever the show's step takes is credited even if the caller dies right after.
-- Nothing is credited here; move_settle credits what the show's step took.
--
-- KEYS: see _inventory.lua
-- ARGV[1]  move id
-- ARGV[2]  show id
-- ARGV[3]  sku (a sellable's)
-- ARGV[4]  units (> 0), or -1: all of the show's stock of the sku
-- ARGV[5]  '1': take exactly `units` or nothing; '0': take what stock there is, up to it
--
-- Returns {'recorded', move JSON} | {'exists', move JSON}
--       | {'refused', 'not_tracked', '0'}
--       | {'refused', 'move_id_conflict', the stored move JSON}
--#include _inventory.lua

local id, show, sku, units, exact = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1'
local stored, raw = load_move(id)
if stored then
  return other_move(stored, 'from_show', show, sku, units, exact) or {'exists', raw}
end
if redis.call('HEXISTS', B.inventory, sku) == 0 then return {'refused', 'not_tracked', '0'} end
local now = now_ms()
redis.call('ZADD', B.pending, now, id)
redis.call('ZADD', B.shows, now, show)
return {'recorded', save_move(new_move(id, 'from_show', show, sku, units, exact, 'returning', now))}
