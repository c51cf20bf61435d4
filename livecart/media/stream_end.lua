-- stream_end.lua: the show's ingest ends: the publisher left (DELETE, or its connection
-- failed), it timed out, its node stopped, or its lease ran out because its node died.
-- A live stream announces `stream_ended` in the same step; a pending one ends quietly.
--
-- KEYS: see _stream.lua
-- ARGV[1]  session id, or '' for whichever session holds the show
-- ARGV[2]  reason (publisher_left, connection_failed, no_media, node_stopping, lost)
-- ARGV[3]  '1': end only if the lease has run out (the sweep for dead nodes)
-- ARGV[4]  event stream length cap
--
-- Returns {'ended', event id or ''} | {'unchanged'}
--#include _stream.lua

local cur = redis.call('HMGET', SHOW, 'stream_session', 'stream_state', 'stream_lease_until')
if not cur[1] or cur[1] == '' then return {'unchanged'} end
if ARGV[1] ~= '' and cur[1] ~= ARGV[1] then return {'unchanged'} end
if ARGV[3] == '1' and tonumber(cur[3] or '0') > now_ms() then return {'unchanged'} end
redis.call('HDEL', SHOW, unpack(STREAM_FIELDS))
if cur[2] ~= 'live' then return {'ended', ''} end
return {'ended', emit(ARGV[4], 'stream_ended', cjson.encode({session = cur[1],
                                                              reason = ARGV[2]}))}
