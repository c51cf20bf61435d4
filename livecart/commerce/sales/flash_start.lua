-- flash_start.lua: announce a flash sale on one product: its price, how many units,
-- how many per buyer, and its window (a countdown, then a duration), timed by Redis
-- TIME so every node agrees when it opens and closes. One flash sale at a time.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  flash sale id (made by the caller)
-- ARGV[2]  sku
-- ARGV[3]  flash price, minor units
-- ARGV[4]  units offered (at most the product's stock now)
-- ARGV[5]  most units per buyer (0: no limit beyond the product's own)
-- ARGV[6]  countdown before it opens, ms
-- ARGV[7]  how long it stays open, ms
-- ARGV[8]  event stream length cap
--
-- Returns {'started', flash JSON} | {'refused', code}
--#include _sale.lua

local id, sku = ARGV[1], ARGV[2]
local price, units, per_buyer = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'refused', 'show_ended'} end
if not redis.call('HGET', K.lineup, sku) then return {'refused', 'not_in_lineup'} end
local now = now_ms()
if redis.call('HGET', K.flash, 'state') == 'on'
    and tonumber(redis.call('HGET', K.flash, 'ends_ms')) > now then
  return {'refused', 'flash_running'}
end
if hget_number(K.stock, sku) < units then return {'refused', 'not_enough_stock'} end

local starts = now + tonumber(ARGV[6])
local ends = starts + tonumber(ARGV[7])
redis.call('DEL', K.flash)
redis.call('HSET', K.flash, 'id', id, 'sku', sku, 'price', price, 'quantity', units,
  'remaining', units, 'per_buyer_limit', per_buyer, 'starts_ms', int(starts),
  'ends_ms', int(ends), 'state', 'on')
local flash = cjson.encode({id = id, sku = sku, price = price, quantity = units,
                            per_buyer_limit = per_buyer, starts_ms = starts, ends_ms = ends})
emit(ARGV[8], 'flash_started', flash)
return {'started', flash}
