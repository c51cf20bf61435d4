-- claim_webhook.lua: claim the webhook deliveries that are due, so that no two nodes
-- send the same attempt at once. A claim does not remove a delivery: it pushes its due
-- time forward by a lease longer than a delivery may take, so a node that dies while
-- delivering leaves it to be claimed again when the lease runs out, never lost.
-- Time is Redis' own (TIME): every node agrees on what is due.
--
-- KEYS[1]  due sorted set  lc:webhooks:due   delivery id -> when it may be tried (ms)
-- ARGV[1]  most deliveries to claim
-- ARGV[2]  lease, ms
--
-- Returns {now_ms, id, id, ...}: Redis' time and the claimed delivery ids, most
-- overdue first.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now),
  'LIMIT', 0, tonumber(ARGV[1]))
local leased_until = string.format('%d', now + tonumber(ARGV[2]))
local reply = {now}
for i = 1, #ids do
  redis.call('ZADD', KEYS[1], 'XX', leased_until, ids[i])
  reply[#reply + 1] = ids[i]
end
return reply
