-- move_in.lua: step (b) of a move to a show, in the show's slot: add the units to the
-- sku's stock and allocation with the stock event (invariant 1), once per move id.
-- A show that has ended, or a sku not in its lineup, is refused, and the refusal is
-- remembered too: asked again (a retry, the sweep), the move gets the same answer, so
-- the brand's reversal can never meet a late application.
--
-- KEYS: the sale keys, see _sale.lua; KEYS[20] the show's inventory moves hash
-- ARGV[1]  move id
-- ARGV[2]  sku (a sellable's)
-- ARGV[3]  units (> 0)
-- ARGV[4]  event stream length cap
--
-- Returns {'applied', units, stock, allocated} | {'refused', code}
--       | {'seen', the outcome stored for this move id}
--#include _sale.lua

local moves, id, sku, units = KEYS[20], ARGV[1], ARGV[2], tonumber(ARGV[3])
local seen = redis.call('HGET', moves, id)
if seen then return {'seen', seen} end
local state = redis.call('HGET', K.show, 'state')
local code = nil
if not state then
  code = 'not_found'
elseif state == 'ended' then
  code = 'show_ended'
elseif redis.call('HEXISTS', K.lineup, sku) == 0 then
  code = 'not_in_lineup'
end
if code then
  redis.call('HSET', moves, id, 'refused:' .. code)
  return {'refused', code}
end
local stock = redis.call('HINCRBY', K.stock, sku, units)
local allocated = redis.call('HINCRBY', K.allocated, sku, units)
redis.call('HSET', moves, id, 'applied:' .. units)
emit_stock(ARGV[4], sku)
return {'applied', units, stock, allocated}
