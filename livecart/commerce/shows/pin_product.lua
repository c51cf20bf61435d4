-- pin_product.lua: pin a product of the lineup over the video, or unpin (sku '').
-- The pinned event carries the product card and its live stock, so a page can show it
-- without another read.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  sku, or '' to unpin
-- ARGV[2]  event stream length cap
--
-- Returns {'changed', event id} | {'unchanged'} | {'refused', code}
--#include _sale.lua

local sku = ARGV[1]
local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'refused', 'show_ended'} end
local current = redis.call('HGET', K.show, 'pinned')
if current == sku then return {'unchanged'} end
if sku == '' then
  redis.call('HSET', K.show, 'pinned', '')
  return {'changed', emit(ARGV[2], 'unpinned', cjson.encode({sku = current}))}
end
local card_json = redis.call('HGET', K.lineup, sku)
if not card_json then return {'refused', 'not_in_lineup'} end
redis.call('HSET', K.show, 'pinned', sku)
local card = cjson.decode(card_json)
card.stock = hget_number(K.stock, sku)
return {'changed', emit(ARGV[2], 'pinned', cjson.encode({sku = sku, product = card}))}
