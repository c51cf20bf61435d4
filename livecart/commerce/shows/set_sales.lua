-- set_sales.lua: pause or resume sales. Applied atomically: every reserve that runs
-- after this step sees the new state, on every node. Setting the state it already has
-- changes nothing and appends nothing.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  'paused' or 'open'
-- ARGV[2]  reason shown to viewers ('' for none)
-- ARGV[3]  who did it (user id)
-- ARGV[4]  event stream length cap
--
-- Returns {'changed', event id} | {'unchanged'} | {'refused', code}

--#include _sale.lua
local wanted, reason, actor = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', K.show, 'sales')
if not current then return {'refused', 'not_found'} end
if current == wanted then return {'unchanged'} end
redis.call('HSET', K.show, 'sales', wanted, 'sales_reason', reason)
local kind = wanted == 'paused' and 'sales_paused' or 'sales_resumed'
return {'changed', emit(ARGV[4], kind, cjson.encode({reason = reason, by = actor}))}
