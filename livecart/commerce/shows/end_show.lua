-- end_show.lua: the show ends; nothing sells after this step (holds already taken may
-- still be confirmed: their buyers tapped while it was live). A running flash sale ends
-- with it, and so does the show's video ingest (its node sees its claim lost and
-- closes it).
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  event stream length cap
--
-- Returns {'ended', event id} | {'unchanged'} | {'refused', code}
--#include _sale.lua

local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'unchanged'} end
local now = now_ms()
if redis.call('HGET', K.flash, 'state') == 'on' then
  local ends = tonumber(redis.call('HGET', K.flash, 'ends_ms'))
  if ends > now then redis.call('HSET', K.flash, 'ends_ms', int(now)) end
  redis.call('HSET', K.flash, 'state', 'ended')
  emit(ARGV[1], 'flash_ended', cjson.encode({id = redis.call('HGET', K.flash, 'id'),
                                             reason = 'show_ended'}))
end
local stream = redis.call('HMGET', K.show, 'stream_session', 'stream_state')
if stream[1] and stream[1] ~= '' then
  redis.call('HDEL', K.show, 'stream_session', 'stream_state', 'stream_node', 'stream_url',
             'stream_lease_until', 'stream_codec', 'stream_width', 'stream_height',
             'stream_marker', 'stream_started_at', 'stream_play', 'stream_hls')
  if stream[2] == 'live' then
    emit(ARGV[1], 'stream_ended', cjson.encode({session = stream[1], reason = 'show_ended'}))
  end
end
redis.call('HSET', K.show, 'state', 'ended', 'ended_at', int(now))
return {'ended', emit(ARGV[1], 'show_ended', cjson.encode({ended_at_ms = now}))}
