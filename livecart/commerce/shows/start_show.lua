-- start_show.lua: the show goes live (from scheduled). Starting a live show changes
-- nothing and appends nothing; an ended show cannot start again.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  event stream length cap
--
-- Returns {'started', event id} | {'unchanged'} | {'refused', code}
--#include _sale.lua

local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'live' then return {'unchanged'} end
if state == 'ended' then return {'refused', 'show_ended'} end
local now = now_ms()
redis.call('HSET', K.show, 'state', 'live', 'started_at', int(now))
return {'started', emit(ARGV[1], 'show_started', cjson.encode({started_at_ms = now}))}
