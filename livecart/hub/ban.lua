-- ban.lua: ban a user from the show's chat. Banning a banned user changes nothing and
-- appends nothing.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  user id
-- ARGV[2]  who banned (user id)
-- ARGV[3]  event stream length cap
--
-- Returns {'banned', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

local user, by = ARGV[1], ARGV[2]
if not show_exists() then return {'refused', 'not_found'} end
if redis.call('SADD', K.bans, user) == 0 then return {'unchanged'} end
return {'banned', emit(ARGV[3], 'banned', cjson.encode({user = user, by = by}))}
