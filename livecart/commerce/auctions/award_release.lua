-- award_release.lua: the seller gives up on an unpaid auction or giveaway: the unit it
-- set aside goes back to stock.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] event stream length cap   ARGV[2] who released it
--
-- Returns {'released', view JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local a = load_item()
if not a then return missing() end
if a.payment ~= 'unpaid' then return {'refused', 'not_unpaid'} end
a.payment = 'released'
redis.call('HSET', A.item, 'payment', 'released')
redis.call('ZREM', A.due, due_member(a))
put_back(a.sku, ARGV[1])
emit_status(ARGV[1], a, 'released', {by = ARGV[2]})
return {'released', cjson.encode(view_of(a))}
