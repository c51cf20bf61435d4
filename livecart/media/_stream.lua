-- _stream.lua: what the stream scripts share. Included (not run alone) by
-- stream_claim, stream_live, stream_renew and stream_end; all take the same KEYS
-- (livecart/media/state.py builds them; both keys are in the show's slot):
--
-- KEYS[1]  show hash (its stream_* fields hold the show's video ingest)
-- KEYS[2]  event stream
--
-- The stream fields of the show hash:
--   stream_session      the ingest's id (WHIP resource), '' or missing when none
--   stream_state        'pending' (connecting, no frame yet) or 'live'
--   stream_node         id of the node that holds the ingest
--   stream_url          that node's base URL (WHEP on another node is redirected there)
--   stream_lease_until  ms (Redis TIME) after which a silent ingest counts as lost
--   stream_codec, stream_width, stream_height, stream_marker ('1': frames carry the
--   position marker), stream_started_at (ms)
--   stream_play         the ways pages may watch, in order ('whep,janus,hls')
--   stream_hls          the HLS playlist's URL, '' when the stream has none

local SHOW, EVENTS = KEYS[1], KEYS[2]
local STREAM_FIELDS = {
  'stream_session', 'stream_state', 'stream_node', 'stream_url', 'stream_lease_until',
  'stream_codec', 'stream_width', 'stream_height', 'stream_marker', 'stream_started_at',
  'stream_play', 'stream_hls',
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

local function emit(maxlen, kind, data)
  return redis.call('XADD', EVENTS, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'data', data)
end
