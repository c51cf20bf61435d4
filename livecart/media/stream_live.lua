-- stream_live.lua: the ingest's first keyframe arrived (or its codec or picture size
-- changed): the stream is live and every viewer hears of it in the same step.
--
-- KEYS: see _stream.lua
-- ARGV[1]  session id
-- ARGV[2]  codec ('H264' or 'VP8')
-- ARGV[3]  width, ARGV[4] height (0 when unknown)
-- ARGV[5]  '1' when frames carry the position marker, else '0'
-- ARGV[6]  lease, ms
-- ARGV[7]  event stream length cap
-- ARGV[8]  the ways pages may watch, comma-separated, in order ('whep,janus,hls')
-- ARGV[9]  the HLS playlist's URL, '' when none
--
-- Returns {'live', event id} | {'unchanged'} | {'lost'} (the session is no longer the
-- show's ingest: replaced, ended, or the show ended)
--#include _stream.lua

local cur = redis.call('HMGET', SHOW, 'stream_session', 'stream_state', 'stream_codec',
                       'stream_width', 'stream_height', 'stream_started_at', 'state',
                       'stream_play', 'stream_hls')
if cur[1] ~= ARGV[1] or cur[7] == 'ended' then return {'lost'} end
local now = now_ms()
redis.call('HSET', SHOW, 'stream_lease_until', int(now + tonumber(ARGV[6])))
if cur[2] == 'live' and cur[3] == ARGV[2] and cur[4] == ARGV[3] and cur[5] == ARGV[4]
   and cur[8] == ARGV[8] and cur[9] == ARGV[9] then
  return {'unchanged'}
end
local started = tonumber(cur[6] or '') or now
redis.call('HSET', SHOW, 'stream_state', 'live', 'stream_codec', ARGV[2],
           'stream_width', ARGV[3], 'stream_height', ARGV[4], 'stream_marker', ARGV[5],
           'stream_started_at', int(started), 'stream_play', ARGV[8], 'stream_hls', ARGV[9])
local play = {}
for way in string.gmatch(ARGV[8], '[^,]+') do play[#play + 1] = way end
return {'live', emit(ARGV[7], 'stream_started', cjson.encode({
  session = ARGV[1], codec = ARGV[2], width = tonumber(ARGV[3]),
  height = tonumber(ARGV[4]), marker = ARGV[5] == '1', started_at_ms = started,
  play = play, hls_url = ARGV[9] ~= '' and ARGV[9] or cjson.null,
}))}
