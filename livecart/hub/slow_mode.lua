-- slow_mode.lua: set the chat's slow mode, the seconds a viewer waits between two
-- messages (0 turns it off). Setting the value it already has appends nothing. Turning
-- it off forgets the last-message times, which only slow mode needs.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  seconds (0..3600, checked by the caller)
-- ARGV[2]  who set it (user id)
-- ARGV[3]  event stream length cap
--
-- Returns {'changed', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

local seconds, by = tonumber(ARGV[1]), ARGV[2]
if not show_exists() then return {'refused', 'not_found'} end
if slow_mode_ms() == seconds * 1000 then return {'unchanged'} end
redis.call('HSET', K.settings, 'slow_mode_s', int(seconds))
if seconds == 0 then redis.call('DEL', K.chat_last) end
return {'changed', emit(ARGV[3], 'slow_mode', cjson.encode({seconds = seconds, by = by}))}
