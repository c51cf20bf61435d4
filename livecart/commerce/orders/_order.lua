-- _order.lua: what every order lifecycle script shares (fulfil_order, deliver_order,
-- cancel_order, refund_order). Included after _sale.lua (it uses K, now_ms, int, emit):
-- K.order (KEYS[17]) is the order's record in its show's slot, K.outbox its outbox.
--
-- A transition changes the record, appends one entry to the order's own history (who,
-- when by Redis TIME, from -> to, details), appends `order_status` to the show's event
-- stream and the whole order to the show's outbox (for webhooks and the cross-show
-- projections), all in the calling script's one atomic step. The event carries only
-- the order id and its status: the show's stream reaches staff pages, and an order's
-- address, tracking number and amounts stay out of it.
--
-- `version` counts the order's changes (1 when confirmed): the projection keeps the
-- copy with the highest version, so entries applied out of order never go backwards.
-- The history stays bounded: at most four moves (confirmed, fulfilled, delivered or
-- cancelled, refunded) plus one entry per refund, whose number refund_order caps.

local function load_order()
  local raw = redis.call('GET', K.order)
  if not raw then return nil end
  return cjson.decode(raw)
end

-- cjson writes numbers with 14 significant digits: an order whose total (its largest
-- number) has more could not be written back exactly, so its moves are refused
-- ('too_large') rather than let it be corrupted. No real order comes near.
local function load_movable_order()
  local order = load_order()
  if order and tonumber(order.total) >= 1e14 then return nil, 'too_large' end
  if not order then return nil, 'not_found' end
  return order
end

local function paid_left(order)
  return tonumber(order.total) - (tonumber(order.refunded_total) or 0)
end

-- Record the move to `to` (which may equal the current status: a partial refund), save
-- the order, emit its event and outbox entry, all at `now` (Redis TIME, ms). Returns
-- the stored order JSON.
local function transition(order, to, actor, details, outbox_type, maxlen, now)
  local from = order.status
  if type(order.history) ~= 'table' then
    order.history = {{at_ms = order.confirmed_at_ms, by = 'buyer', from = cjson.null,
                      to = 'confirmed'}}
  end
  order.history[#order.history + 1] = {at_ms = now, by = actor, from = from, to = to,
                                       details = details}
  order.status = to
  order.version = (tonumber(order.version) or 1) + 1
  order.updated_at_ms = now
  local stored = cjson.encode(order)
  redis.call('SET', K.order, stored)
  emit(maxlen, 'order_status', cjson.encode({order = order.id, status = to}))
  redis.call('XADD', K.outbox, '*', 'type', outbox_type, 'order', stored)
  return stored
end
