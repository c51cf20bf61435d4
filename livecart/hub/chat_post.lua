-- chat_post.lua: post a chat message. The message's id is the stream id of its `chat`
-- event; it joins the recent history (capped; ids that fall out are dropped from the
-- messages hash in the same step).
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  user id
-- ARGV[2]  text (stripped and checked by the caller)
-- ARGV[3]  the text casefolded (blocked keywords are stored casefolded)
-- ARGV[4]  '1' when the user is staff (exempt from slow mode and blocked keywords)
-- ARGV[5]  recent history cap (messages)
-- ARGV[6]  event stream length cap
--
-- Returns {'posted', message id, sent at ms} | {'refused', code[, until ms | retry after ms]}
-- Checks in this order: banned, muted (staff too: nobody mutes staff, but a record is a
-- record), blocked keyword, slow mode; so a muted user hears "muted", not "slow down".
--#include _hub.lua

local user, text, folded = ARGV[1], ARGV[2], ARGV[3]
local staff, cap = ARGV[4] == '1', tonumber(ARGV[5])
if not show_exists() then return {'refused', 'not_found'} end
if redis.call('SISMEMBER', K.bans, user) == 1 then return {'refused', 'banned'} end
local now = now_ms()
local until_ms = muted_until(user, now)
if until_ms then return {'refused', 'muted', until_ms} end

local slow = 0
if not staff then
  for _, word in ipairs(redis.call('SMEMBERS', K.keywords)) do
    if string.find(folded, word, 1, true) then return {'refused', 'blocked_keyword'} end
  end
  slow = slow_mode_ms()
  if slow > 0 then
    local last = redis.call('ZSCORE', K.chat_last, user)
    if last and now - tonumber(last) < slow then
      return {'refused', 'slow_mode', tonumber(last) + slow - now}
    end
  end
end

local id = emit(ARGV[6], 'chat', cjson.encode({user = user, text = text, staff = staff}))
redis.call('RPUSH', K.chat_ids, id)
redis.call('HSET', K.chat, id,
  cjson.encode({user = user, text = text, staff = staff, sent_at_ms = now}))
local excess = redis.call('LLEN', K.chat_ids) - cap
if excess > 0 then
  local dropped = redis.call('LRANGE', K.chat_ids, 0, excess - 1)
  redis.call('LTRIM', K.chat_ids, excess, -1)
  redis.call('HDEL', K.chat, unpack(dropped))
end
-- Last-message times matter only within the slow-mode window: keep just those, so the
-- zset holds at most the users who posted in the last slow_mode_s (at most an hour).
if slow > 0 then
  redis.call('ZREMRANGEBYSCORE', K.chat_last, '-inf', int(now - slow))
  redis.call('ZADD', K.chat_last, int(now), user)
end
return {'posted', id, now}
