-- move_out.lua: step (b) of a move from a show back to the brand, in the show's slot:
-- take up to `units` (or all) of the sku's stock, never held or sold units, out of
-- the show's stock and allocation with the stock event (invariant 1), once per move
-- id, remembering how many it took: the brand credits exactly that many.
--
-- KEYS: the sale keys, see _sale.lua; KEYS[20] the show's inventory moves hash
-- ARGV[1]  move id
-- ARGV[2]  sku (a sellable's)
-- ARGV[3]  units (> 0), or -1: all of the stock
-- ARGV[4]  '1': take exactly `units` or nothing (not_enough_stock); '0': up to `units`
-- ARGV[5]  event stream length cap
--
-- Returns {'returned', units taken, code or ''} | {'seen', the outcome stored}
--#include _sale.lua

local moves, id, sku = KEYS[20], ARGV[1], ARGV[2]
local units, exact = tonumber(ARGV[3]), ARGV[4] == '1'
local seen = redis.call('HGET', moves, id)
if seen then return {'seen', seen} end
local code = nil
if not redis.call('HGET', K.show, 'state') then
  code = 'not_found'
elseif redis.call('HEXISTS', K.lineup, sku) == 0 then
  code = 'not_in_lineup'
end
local stock = hget_number(K.stock, sku)
local take = stock
if units >= 0 then take = math.min(units, stock) end
if not code and exact and take < units then code = 'not_enough_stock' end
if code then
  redis.call('HSET', moves, id, 'returned:0:' .. code)
  return {'returned', 0, code}
end
if take > 0 then
  redis.call('HINCRBY', K.stock, sku, -take)
  redis.call('HINCRBY', K.allocated, sku, -take)
  emit_stock(ARGV[5], sku)
end
redis.call('HSET', moves, id, 'returned:' .. take)
return {'returned', take, ''}
