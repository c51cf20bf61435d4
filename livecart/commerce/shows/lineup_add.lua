-- lineup_add.lua: add a sellable (a plain product, or one variant of a product) to a
-- show's lineup with units allocated to the show; each variant is its own entry with
-- its own stock. The card (price included) is the catalog's as of now (made by
-- shows/records.py product_card): later catalog edits do not change a running show. A
-- SKU already in the lineup is refused (adjust its stock).
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  sku (the sellable's)
-- ARGV[2]  product card JSON
-- ARGV[3]  units allocated
-- ARGV[4]  event stream length cap
--
-- Returns {'added', event id} | {'refused', code}
--#include _sale.lua

local sku, units = ARGV[1], tonumber(ARGV[3])
local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'refused', 'show_ended'} end
if redis.call('HEXISTS', K.lineup, sku) == 1 then return {'refused', 'in_lineup'} end
redis.call('HSET', K.lineup, sku, ARGV[2])
redis.call('HSET', K.stock, sku, units)
redis.call('HSET', K.allocated, sku, units)
local card = cjson.decode(ARGV[2])
card.stock = units
return {'added', emit(ARGV[4], 'lineup_added', cjson.encode({sku = sku, product = card}))}
