-- presence.lua: one node reports how many of the show's viewers it serves. Each node's
-- count lives until its expiry (Redis TIME + ttl), so the counts of a node that stopped
-- reporting (crashed) drop out; the live ones are summed into the show's `viewers`
-- field, and a `viewers` event is appended only when that total changes.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  node id
-- ARGV[2]  the node's viewers of this show (0 removes its entry)
-- ARGV[3]  ttl of this report, ms
-- ARGV[4]  event stream length cap
--
-- Returns {total, event id or ''} | {'refused', code}
--#include _hub.lua

local node, count, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not show_exists() then return {'refused', 'not_found'} end
local now = now_ms()
if count > 0 then
  redis.call('HSET', K.presence, node, int(count) .. ':' .. int(now + ttl))
else
  redis.call('HDEL', K.presence, node)
end

local total = 0
local entries = redis.call('HGETALL', K.presence)
for i = 1, #entries, 2 do
  local n, expires = string.match(entries[i + 1], '^(%d+):(%d+)$')
  if n and tonumber(expires) > now then
    total = total + tonumber(n)
  else
    redis.call('HDEL', K.presence, entries[i])
  end
end

if tonumber(redis.call('HGET', K.show, 'viewers') or '0') == total then return {total, ''} end
redis.call('HSET', K.show, 'viewers', int(total))
return {total, emit(ARGV[4], 'viewers', cjson.encode({count = total}))}
