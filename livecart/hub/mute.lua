-- mute.lua: mute a user in the show's chat until Redis TIME + the given seconds. A new
-- mute replaces the user's current one (longer or shorter), so it always changes the
-- state and always appends its event. Expired mutes are pruned here.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  user id
-- ARGV[2]  seconds (1..7 days, checked by the caller)
-- ARGV[3]  who muted (user id)
-- ARGV[4]  event stream length cap
--
-- Returns {'muted', until ms, event id} | {'refused', code}
--#include _hub.lua

local user, by = ARGV[1], ARGV[3]
if not show_exists() then return {'refused', 'not_found'} end
local now = now_ms()
local until_ms = now + tonumber(ARGV[2]) * 1000
redis.call('ZREMRANGEBYSCORE', K.mutes, '-inf', int(now))
redis.call('ZADD', K.mutes, int(until_ms), user)
local id = emit(ARGV[4], 'muted', cjson.encode({user = user, until_ms = until_ms, by = by}))
return {'muted', until_ms, id}
