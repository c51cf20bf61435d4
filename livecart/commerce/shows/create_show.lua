-- create_show.lua: create a show with its lineup and stock, and open its event stream
-- with the show_created event, in one atomic step (invariant 1). Safe to run twice:
-- a second run finds the show and changes nothing.
--
-- KEYS: the sale keys, see _sale.lua (uses show, lineup, stock, allocated, events)
-- ARGV[1]  show id
-- ARGV[2]  title
-- ARGV[3]  creator id, or '' for a brand's own show (no creator: nobody is credited
--          by the show itself; see attribution in _sale.lua)
-- ARGV[4]  brand id
-- ARGV[5]  scheduled start, ms since the epoch, or '' when unscheduled
-- ARGV[6]  the stream's approximate length cap (XADD MAXLEN ~)
-- ARGV[7]  the show_created event's data, JSON (made by the caller from these same ARGV)
-- ARGV[8..] triples: sku (a sellable's: a plain product or one variant), its card JSON,
--           units allocated to the show
--
-- Returns {'created', epoch, event id} or {'exists', epoch}.
-- The epoch (Redis TIME in microseconds when the stream was made) tells a client
-- resuming with an old event id that the stream it knew is gone.
--#include _sale.lua

if redis.call('EXISTS', K.show) == 1 then
  return {'exists', redis.call('HGET', K.show, 'epoch')}
end

local t = redis.call('TIME')
local epoch = t[1] .. string.format('%06d', tonumber(t[2]))

-- Nothing of a show that does not exist may survive into the new one.
redis.call('DEL', K.lineup, K.stock, K.allocated, K.held, K.sold, K.events, K.flash)
for i = 8, #ARGV, 3 do
  redis.call('HSET', K.lineup, ARGV[i], ARGV[i + 1])
  redis.call('HSET', K.stock, ARGV[i], ARGV[i + 2])
  redis.call('HSET', K.allocated, ARGV[i], ARGV[i + 2])
end

redis.call('HSET', K.show,
  'id', ARGV[1], 'title', ARGV[2], 'creator', ARGV[3], 'brand', ARGV[4],
  'scheduled_at', ARGV[5], 'state', 'scheduled', 'sales', 'open', 'sales_reason', '',
  'pinned', '', 'created_at', int(now_ms()), 'epoch', epoch)

local id = emit(ARGV[6], 'show_created', ARGV[7])
return {'created', epoch, id}
