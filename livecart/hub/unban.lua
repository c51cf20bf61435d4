-- unban.lua: lift a user's ban. Unbanning a user who is not banned changes nothing and
-- appends nothing.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  user id
-- ARGV[2]  who unbanned (user id)
-- ARGV[3]  event stream length cap
--
-- Returns {'unbanned', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

local user, by = ARGV[1], ARGV[2]
if not show_exists() then return {'refused', 'not_found'} end
if redis.call('SREM', K.bans, user) == 0 then return {'unchanged'} end
return {'unbanned', emit(ARGV[3], 'unbanned', cjson.encode({user = user, by = by}))}
