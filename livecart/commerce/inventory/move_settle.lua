-- move_settle.lua: step (c) of a move, in the brand's slot, once the show's step has
-- answered: a move to a show becomes 'applied' (the show has the units) or 'reversed'
-- (the show refused: the units go back on hand); a move from a show becomes 'returned'
-- and the units the show gave up are credited. Only a pending move changes, so a
-- settlement asked twice (the caller and the sweep) credits once.
--
-- KEYS: see _inventory.lua
-- ARGV[1]  move id
-- ARGV[2]  outcome: 'applied' | 'reversed' | 'returned'
-- ARGV[3]  units the show gave up ('returned'; ignored otherwise)
-- ARGV[4]  the show's refusal code, or ''
--
-- Returns {'settled', move JSON} | {'unchanged', move JSON} | {'missing'}
--#include _inventory.lua

local id, outcome, given, reason = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local move, raw = load_move(id)
if not move then return {'missing'} end
if move.state == 'taken' and outcome == 'applied' then
  move.state, move.moved = 'applied', move.units
elseif move.state == 'taken' and outcome == 'reversed' then
  redis.call('HINCRBY', B.inventory, move.sku, move.units)
  move.state, move.reason = 'reversed', reason
elseif move.state == 'returning' and outcome == 'returned' then
  redis.call('HINCRBY', B.inventory, move.sku, given)
  move.state, move.moved, move.reason = 'returned', given, reason
else
  return {'unchanged', raw}
end
move.updated_ms = now_ms()
redis.call('ZREM', B.pending, id)
redis.call('ZADD', B.settled, move.updated_ms, id)
return {'settled', save_move(move)}
