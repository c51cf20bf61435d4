-- stream_renew.lua: the ingest's node is alive and still holds the show's stream.
--
-- KEYS: see _stream.lua
-- ARGV[1]  session id
-- ARGV[2]  lease, ms
--
-- Returns {'renewed'} | {'lost'} (replaced by another session, ended, or the show ended:
-- the node closes the ingest)
--#include _stream.lua

local cur = redis.call('HMGET', SHOW, 'stream_session', 'state')
if cur[1] ~= ARGV[1] or cur[2] == 'ended' then return {'lost'} end
redis.call('HSET', SHOW, 'stream_lease_until', int(now_ms() + tonumber(ARGV[2])))
return {'renewed'}
