-- blocked_keywords.lua: replace the show's list of blocked keywords. The event carries
-- the whole new list (the hub shows it to staff only). Setting the list it already has
-- appends nothing.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  event stream length cap
-- ARGV[2]  the event's data, JSON {words, by} (made by the caller from these same words:
--          cjson would encode an empty list as {})
-- ARGV[3..] the words: casefolded, unique, sorted by code point (checked by the caller)
--
-- Returns {'changed', event id} | {'unchanged'} | {'refused', code}
--#include _hub.lua

if not show_exists() then return {'refused', 'not_found'} end
local current = redis.call('SMEMBERS', K.keywords)
table.sort(current)  -- byte order of UTF-8 is code point order, as the caller sorted
local same = #current == #ARGV - 2
if same then
  for i, word in ipairs(current) do
    if word ~= ARGV[i + 2] then same = false; break end
  end
end
if same then return {'unchanged'} end
redis.call('DEL', K.keywords)
local chunk = 1000  -- unpack() is limited by Lua's C stack
for i = 3, #ARGV, chunk do
  redis.call('SADD', K.keywords, unpack(ARGV, i, math.min(i + chunk - 1, #ARGV)))
end
return {'changed', emit(ARGV[1], 'blocked_keywords', ARGV[2])}
