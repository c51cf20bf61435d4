-- adjust_stock.lua: the merchant restocks (delta > 0) or withdraws (delta < 0) units of
-- a sellable (a plain product, or one variant) from a show. Withdrawing more than is available (not held, not sold) is
-- refused: stock never goes below zero, and held or sold units are never taken back.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  sku (the sellable's: stock is kept per variant)
-- ARGV[2]  delta, units
-- ARGV[3]  event stream length cap
--
-- Returns {'adjusted', stock, allocated} | {'refused', code}
--#include _sale.lua

local sku, delta = ARGV[1], tonumber(ARGV[2])
if not redis.call('HGET', K.show, 'state') then return {'refused', 'not_found'} end
if not redis.call('HGET', K.lineup, sku) then return {'refused', 'not_in_lineup'} end
if hget_number(K.stock, sku) + delta < 0 then return {'refused', 'not_enough_stock'} end
local stock = redis.call('HINCRBY', K.stock, sku, delta)
local allocated = redis.call('HINCRBY', K.allocated, sku, delta)
emit_stock(ARGV[3], sku)
return {'adjusted', stock, allocated}
