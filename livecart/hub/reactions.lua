-- reactions.lua: append one `reactions` event with the taps a node folded over one
-- interval. Counts only: no state changes, so the event is the whole of it.
--
-- KEYS: the hub keys, see _hub.lua
-- ARGV[1]  event stream length cap
-- ARGV[2]  the event's data, JSON {counts: {kind: n}} (checked and made by the caller)
--
-- Returns {'published', event id} | {'refused', code}
--#include _hub.lua

if not show_exists() then return {'refused', 'not_found'} end
return {'published', emit(ARGV[1], 'reactions', ARGV[2])}
