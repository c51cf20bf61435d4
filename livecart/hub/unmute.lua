-- unmute.lua: lift a user's mute before it ends. A user who is not muted, or whose mute
-- has already ended by Redis TIME, is left as is: nothing changes, nothing is appended.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  user id
-- ARGV[2]  who unmuted (user id)
-- ARGV[3]  event stream length cap
--
-- Returns {'unmuted', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

local user, by = ARGV[1], ARGV[2]
if not show_exists() then return {'refused', 'not_found'} end
if not muted_until(user, now_ms()) then return {'unchanged'} end
redis.call('ZREM', K.mutes, user)
return {'unmuted', emit(ARGV[3], 'unmuted', cjson.encode({user = user, by = by}))}
