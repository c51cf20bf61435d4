-- stream_claim.lua: a publisher's WHIP offer was accepted: its session becomes the
-- show's ingest, replacing any other (a streamer reconnecting after a network blip must
-- never be locked out by their own stale session). The stream is 'pending' until its
-- first keyframe (stream_live.lua); nothing is announced yet.
--
-- KEYS: see _stream.lua
-- ARGV[1]  session id
-- ARGV[2]  node id
-- ARGV[3]  node base URL
-- ARGV[4]  lease, ms
--
-- Returns {'claimed', replaced session or '', its node or '', its state or ''}
--       | {'refused', code}
--#include _stream.lua

local state = redis.call('HGET', SHOW, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'refused', 'show_ended'} end
local old = redis.call('HMGET', SHOW, 'stream_session', 'stream_node', 'stream_state')
redis.call('HDEL', SHOW, unpack(STREAM_FIELDS))
redis.call('HSET', SHOW, 'stream_session', ARGV[1], 'stream_state', 'pending',
           'stream_node', ARGV[2], 'stream_url', ARGV[3],
           'stream_lease_until', int(now_ms() + tonumber(ARGV[4])))
return {'claimed', old[1] or '', old[2] or '', old[3] or ''}
