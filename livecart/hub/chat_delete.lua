-- chat_delete.lua: a moderator deletes a chat message; the `message_deleted` event tells
-- every page to hide it. A message still in the recent history leaves it. One that aged
-- out of the history may still be deleted while the stream holds its `chat` event
-- (pages that joined earlier show it).
--
-- Deleting twice appends nothing: deleted ids are kept in a zset scored by their ms,
-- pruned here of ids older than the stream's first entry (those are past deleting
-- anyway), so it holds at most as many ids as the stream holds `message_deleted` events.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  message id (a stream id, checked by the caller)
-- ARGV[2]  who deleted it (user id)
-- ARGV[3]  event stream length cap
--
-- Returns {'deleted', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

local id, by = ARGV[1], ARGV[2]
if not show_exists() then return {'refused', 'not_found'} end

local function is_chat_event(entries)
  if #entries == 0 then return false end
  local fields = entries[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'type' then return fields[i + 1] == 'chat' end
  end
  return false
end

if redis.call('HDEL', K.chat, id) == 1 then
  redis.call('LREM', K.chat_ids, 1, id)
else
  if redis.call('ZSCORE', K.deleted, id) then return {'unchanged'} end
  if not is_chat_event(redis.call('XRANGE', K.events, id, id)) then
    return {'refused', 'message_not_found'}
  end
end

local oldest = redis.call('XRANGE', K.events, '-', '+', 'COUNT', 1)
if #oldest > 0 then
  local oldest_ms = string.match(oldest[1][1], '^(%d+)-')
  redis.call('ZREMRANGEBYSCORE', K.deleted, '-inf', '(' .. oldest_ms)
end
redis.call('ZADD', K.deleted, string.match(id, '^(%d+)-'), id)
return {'deleted', emit(ARGV[3], 'message_deleted', cjson.encode({message_id = id, by = by}))}
