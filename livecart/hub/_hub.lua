-- _hub.lua: what the chat, moderation, reaction and presence scripts share.
-- Included (not run alone) by every script in livecart/hub; all of them take the same
-- KEYS, in this order (livecart/hub/moderation.py builds the list; all keys are in the
-- show's slot):
--
-- KEYS[1]  show hash                KEYS[7]  chat settings hash (slow_mode_s)
-- KEYS[2]  event stream             KEYS[8]  blocked keywords set
-- KEYS[3]  recent chat ids list     KEYS[9]  mutes zset (user -> until ms)
-- KEYS[4]  recent chat messages     KEYS[10] bans set
-- KEYS[5]  deleted messages zset    KEYS[11] presence hash (node -> 'count:expires ms')
-- KEYS[6]  last message zset (user -> ms, slow mode only)
--
-- Every script refuses with 'not_found' before any write when the show hash is missing,
-- so nothing recreates the keys of a show that is gone. Times come from Redis TIME.
-- Numbers JSON-encoded here stay below 10^14 (cjson prints 14 significant digits).

local K = {
  show = KEYS[1], events = KEYS[2], chat_ids = KEYS[3], chat = KEYS[4],
  deleted = KEYS[5], chat_last = KEYS[6], settings = KEYS[7], keywords = KEYS[8],
  mutes = KEYS[9], bans = KEYS[10], presence = KEYS[11],
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

local function show_exists()
  return redis.call('EXISTS', K.show) == 1
end

local function emit(maxlen, kind, data)
  return redis.call('XADD', K.events, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'data', data)
end

-- The end of a user's mute (ms), or nil when not muted now. Read only: an expired
-- entry stays until the next mute prunes it, so a refused post writes nothing.
local function muted_until(user, now)
  local until_ms = tonumber(redis.call('ZSCORE', K.mutes, user))
  if until_ms and until_ms > now then return until_ms end
  return nil
end

local function slow_mode_ms()
  return tonumber(redis.call('HGET', K.settings, 'slow_mode_s') or '0') * 1000
end
