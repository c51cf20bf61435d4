-- move_take.lua: step (a) of a move to a show, in the brand's slot: take the units off
-- the brand's hand and record the move 'taken' (pending until the show's step is seen
-- to finish). A retry with the same move id answers the move as it stands.
--
-- KEYS: see _inventory.lua
-- ARGV[1]  move id
-- ARGV[2]  show id
-- ARGV[3]  sku (a sellable's)
-- ARGV[4]  units (> 0)
--
-- Returns {'taken', move JSON} | {'exists', move JSON}
--       | {'refused', 'not_tracked' | 'insufficient_inventory', units on hand}
--       | {'refused', 'move_id_conflict', the stored move JSON}
--#include _inventory.lua

local id, show, sku, units = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local stored, raw = load_move(id)
if stored then
  return other_move(stored, 'to_show', show, sku, units, false) or {'exists', raw}
end
local on_hand = redis.call('HGET', B.inventory, sku)
if not on_hand then return {'refused', 'not_tracked', '0'} end
if tonumber(on_hand) < units then return {'refused', 'insufficient_inventory', on_hand} end
local now = now_ms()
redis.call('HINCRBY', B.inventory, sku, -units)
redis.call('ZADD', B.pending, now, id)
redis.call('ZADD', B.shows, now, show)
return {'taken', save_move(new_move(id, 'to_show', show, sku, units, false, 'taken', now))}
