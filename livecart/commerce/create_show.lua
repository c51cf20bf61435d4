-- create_show.lua: create a show with its lineup and stock, and open its event stream
-- with the show_created event, in one atomic step (invariant 1). Safe to run twice:
-- a second run finds the show and changes nothing.
--
-- KEYS[1]  show hash     lc:{s:ID}:show
-- KEYS[2]  lineup hash   lc:{s:ID}:lineup   sku -> product card JSON
-- KEYS[3]  stock hash    lc:{s:ID}:stock    sku -> units available
-- KEYS[4]  event stream  lc:{s:ID}:events
-- ARGV[1]  show id
-- ARGV[2]  title
-- ARGV[3]  creator id
-- ARGV[4]  brand id
-- ARGV[5]  scheduled start, ms since the epoch, or '' when unscheduled
-- ARGV[6]  the stream's approximate length cap (XADD MAXLEN ~)
-- ARGV[7]  the show_created event's data, JSON (made by the caller from these same ARGV)
-- ARGV[8..] triples: sku, product card JSON, units allocated to the show
--
-- Returns {'created', epoch, event id} or {'exists', epoch}.
-- The epoch (Redis TIME in microseconds when the stream was made) tells a client
-- resuming with an old event id that the stream it knew is gone.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists', redis.call('HGET', KEYS[1], 'epoch')}
end

local t = redis.call('TIME')
local now_ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local epoch = t[1] .. string.format('%06d', tonumber(t[2]))

-- Nothing of a show that does not exist may survive into the new one.
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 8, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
end

redis.call('HSET', KEYS[1],
  'id', ARGV[1], 'title', ARGV[2], 'creator', ARGV[3], 'brand', ARGV[4],
  'scheduled_at', ARGV[5], 'state', 'scheduled', 'sales', 'open', 'pinned', '',
  'created_at', now_ms, 'epoch', epoch)

local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*',
  'type', 'show_created', 'data', ARGV[7])
return {'created', epoch, id}
