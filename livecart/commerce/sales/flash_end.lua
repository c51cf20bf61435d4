-- flash_end.lua: end the flash sale: now (stopped by the streamer: ARGV[1] = '1'), or,
-- when its window has passed by Redis TIME, mark it ended and tell viewers (any node's
-- reaper, ARGV[1] = '0'). Ending an ended sale changes nothing.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  '1': stop now; '0': only if its window has passed
-- ARGV[2]  event stream length cap
--
-- Returns {'ended', event id} | {'unchanged'}
--#include _sale.lua

if redis.call('HGET', K.flash, 'state') ~= 'on' then return {'unchanged'} end
local now = now_ms()
local ends = tonumber(redis.call('HGET', K.flash, 'ends_ms'))
if ARGV[1] ~= '1' and ends > now then return {'unchanged'} end
if ends > now then redis.call('HSET', K.flash, 'ends_ms', int(now)) end
redis.call('HSET', K.flash, 'state', 'ended')
local id = redis.call('HGET', K.flash, 'id')
local reason = ARGV[1] == '1' and 'stopped' or 'time'
return {'ended', emit(ARGV[2], 'flash_ended', cjson.encode({id = id, reason = reason}))}
