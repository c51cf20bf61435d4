-- award_view.lua: an auction's or giveaway's view, read only (the snapshot's; a read
-- that may close it is award_look.lua).
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] none: it takes no arguments
-- Returns the view JSON, or false when there is no such item.
--#include _sale.lua
--#include _award.lua

local a = load_item()
if not a then return false end
return cjson.encode(view_of(a))
