-- _award.lua: what every auction and giveaway script shares. Included after _sale.lua
-- (whose K names KEYS[1..19]); these scripts add, all in the show's slot
-- (livecart/commerce/auctions/keys.py builds the list):
--
-- KEYS[20] the auction's or giveaway's hash
-- KEYS[21] auction: bidders hash (user -> {max, seq, name}) | giveaway: entrants hash
--          (user -> display name)
-- KEYS[22] auction: accepted bids list                      | giveaway: draw pool list
-- KEYS[23] auction: removed bidders set                     | giveaway: unused
-- KEYS[24] the show's auctions / giveaways index (zset id -> start ms)
-- KEYS[25] the show's awards-due zset ("auction:ID" / "giveaway:ID" -> when to look)
--
-- An auction or giveaway sets one unit of its sku aside when it starts (stock -> held,
-- so stock + held + sold == allocated still holds); the unit is sold to the winner
-- (held -> sold, with an order), or goes back to stock (held -> stock) when nobody won,
-- it was cancelled, or the seller released it after the winner did not pay.
--
-- Every decision about time is made here against Redis TIME: a bid 1 ms after the end
-- is refused on any node, and the first look after the end (a bid, an entry, a read or
-- the sweep) closes it.

local A = {item = KEYS[20], who = KEYS[21], list = KEYS[22], removed = KEYS[23],
           index = KEYS[24], due = KEYS[25]}

local function load_item()
  local raw = redis.call('HGETALL', A.item)
  if #raw == 0 then return nil end
  local a = {}
  for i = 1, #raw, 2 do a[raw[i]] = raw[i + 1] end
  return a
end

local function num(a, field)
  return tonumber(a[field] or '0') or 0
end

local function nullable(value)
  if value == nil or value == '' then return cjson.null end
  return value
end

local function due_member(a)
  return a.kind .. ':' .. a.id
end

-- One unit of `sku` from stock to held (the caller checked there is one).
local function set_aside(sku, maxlen)
  redis.call('HINCRBY', K.stock, sku, -1)
  redis.call('HINCRBY', K.held, sku, 1)
  emit_stock(maxlen, sku)
end

local function put_back(sku, maxlen)
  redis.call('HINCRBY', K.held, sku, -1)
  redis.call('HINCRBY', K.stock, sku, 1)
  emit_stock(maxlen, sku)
end

-- The start checks both kinds share: nil and the lineup card, or the refusal code. The
-- show's `auction_running` / `giveaway_running` field names the one running now (one
-- of each at a time); `auction` / `giveaway` names the latest, for the snapshot.
local function start_gate(sku, kind)
  local state = redis.call('HGET', K.show, 'state')
  if not state then return 'not_found' end
  if state ~= 'live' then return 'not_live' end
  local running = redis.call('HGET', K.show, kind .. '_running')
  if running and running ~= '' then return kind .. '_running' end
  local card_json = redis.call('HGET', K.lineup, sku)
  if not card_json then return 'not_in_lineup' end
  if hget_number(K.stock, sku) < 1 then return 'sold_out' end
  return nil, cjson.decode(card_json)
end

-- It stops running (ended, drawn or cancelled): nothing is due until a payment is.
local function stop_running(a)
  if redis.call('HGET', K.show, a.kind .. '_running') == a.id then
    redis.call('HDEL', K.show, a.kind .. '_running')
  end
  redis.call('ZREM', A.due, due_member(a))
end

-- The step above `price` in an increment table: rows {from, step}, ascending by from.
local function step_at(rows, price)
  local step = rows[1][2]
  for _, row in ipairs(rows) do
    if price >= row[1] then step = row[2] else break end
  end
  return step
end

local function next_bid(a)
  if (a.leader or '') == '' then return num(a, 'start_price') end
  local price = num(a, 'price')
  return price + step_at(cjson.decode(a.increments), price)
end

-- A standing second-chance offer (so a page that reloads still shows it), else null.
local function offer_of(a)
  if a.payment ~= 'offered' then return cjson.null end
  return {user = a.payee, name = a.payee_name, amount = num(a, 'amount'),
          expires_ms = num(a, 'offer_expires_ms')}
end

-- The view pages and the API show (docs/api-shows.md, "Auctions and giveaways"): what
-- both kinds share, then each one's own fields.
local function item_view(a, own)
  local card = cjson.decode(a.card)
  local view = {
    id = a.id, sku = a.sku, product = card.product or a.sku, variant = card.variant or {},
    title = card.title, image_url = nullable(card.image_url), currency = card.currency,
    started_ms = num(a, 'started_ms'), ends_ms = num(a, 'ends_ms'), state = a.state,
    winner = nullable(a.winner), winner_name = nullable(a.winner_name),
    ended_ms = a.ended_ms and num(a, 'ended_ms') or cjson.null,
    payment = nullable(a.payment), order = nullable(a.order),
    cancel_reason = nullable(a.cancel_reason),
  }
  for name, value in pairs(own) do view[name] = value end
  return view
end

local function auction_view(a)
  return item_view(a, {
    start_price = num(a, 'start_price'), increments = cjson.decode(a.increments),
    mode = a.mode, extend_s = num(a, 'extend_ms') / 1000, price = num(a, 'price'),
    bids = num(a, 'bids'), bidders = num(a, 'bidders'), leader = nullable(a.leader),
    leader_name = nullable(a.leader_name), next_bid = next_bid(a), offer = offer_of(a),
  })
end

local function giveaway_view(a)
  return item_view(a, {shipping = a.shipping, entrants = num(a, 'entrants')})
end

local function view_of(a)
  if a.kind == 'auction' then return auction_view(a) end
  return giveaway_view(a)
end

-- What the winner (or a second chance's taker) is charged for, shaped like a checkout
-- hold so checkout's order builder makes the order: one line, the unit at `unit`.
local function award_hold(a, payee, unit, attempt, now)
  local card = cjson.decode(a.card)
  local info = {unit = unit, flash = '', title = card.title,
                commission_bps = tonumber(card.commission_bps) or 0,
                currency = card.currency, product = card.product or a.sku,
                variant = card.variant or {}, options = card.options}
  return {
    id = a.kind .. '-' .. a.id .. '-' .. attempt, buyer = payee, kind = a.kind,
    source = a.id, idem = '', attempt = attempt, shipping = a.shipping or 'charged',
    brand = redis.call('HGET', K.show, 'brand'), currency = card.currency,
    created_ms = now, expires_ms = now,
    attribution = attribution(payee, '', 0, now),
    lines = {new_line(a.sku, 1, info)},
  }
end

-- The payment of `payee` begins (or begins again): a lease the sweep takes over when
-- the node paying dies. Returns the hold to charge.
local function start_charge(a, payee, payee_name, unit, attempt, now, lease_ms)
  redis.call('HSET', A.item, 'payment', 'charging', 'payee', payee, 'payee_name', payee_name,
             'amount', int(unit), 'attempt', int(attempt), 'lease_until', int(now + lease_ms))
  redis.call('ZADD', A.due, now + lease_ms, due_member(a))
  return award_hold(a, payee, unit, attempt, now)
end

-- The staff's view of a payment's move; the user concerned hears it personally.
local function emit_status(maxlen, a, payment, extra)
  local data = extra or {}
  data[a.kind] = a.id
  data.payment = payment
  emit(maxlen, a.kind .. '_status', cjson.encode(data))
end

-- An auction whose end has passed closes: the leader wins at the current price (and
-- their payment begins), or, with no bids, the unit goes back. Returns nil when it is
-- still running (or already closed), else the winner's hold (false: no winner).
local function close_auction(a, now, maxlen, lease_ms)
  if a.state ~= 'running' or now < num(a, 'ends_ms') then return nil end
  local ends = num(a, 'ends_ms')
  a.ended_ms = int(ends)
  redis.call('HSET', A.item, 'ended_ms', int(ends), 'closed_ms', int(now))
  stop_running(a)
  if (a.leader or '') == '' then
    a.state = 'unsold'
    redis.call('HSET', A.item, 'state', 'unsold')
    put_back(a.sku, maxlen)
    emit(maxlen, 'auction_ended', cjson.encode({auction = a.id, winner = cjson.null,
         winner_name = cjson.null, price = cjson.null, bids = 0, ended_ms = ends}))
    return false
  end
  a.state, a.winner, a.winner_name = 'ended', a.leader, a.leader_name
  redis.call('HSET', A.item, 'state', 'ended', 'winner', a.leader,
             'winner_name', a.leader_name)
  emit(maxlen, 'auction_ended', cjson.encode({auction = a.id, winner = a.leader,
       winner_name = a.leader_name, price = num(a, 'price'), bids = num(a, 'bids'),
       ended_ms = ends}))
  return start_charge(a, a.leader, a.leader_name, num(a, 'price'), 1, now, lease_ms)
end

-- Draw one entrant uniformly from the pool: index = rand mod size (`rand` is a 52-bit
-- random number from the caller's CSPRNG; the bias is below size / 2^52), taken out
-- of the pool by swapping with the last entry. An entrant banned since they entered is
-- taken out and another drawn among the rest, the next index from the same number by
-- MINSTD steps (exact in Lua's doubles). Returns the user, or nil.
local function draw_from_pool(rand)
  local x = rand
  while true do
    local size = redis.call('LLEN', A.list)
    if size == 0 then return nil end
    local index = math.floor(x % size)
    local user = redis.call('LINDEX', A.list, index)
    local last = redis.call('RPOP', A.list)
    if index < size - 1 then redis.call('LSET', A.list, index, last) end
    if redis.call('SISMEMBER', K.bans, user) == 0 then return user end
    x = (48271 * (x % 2147483647)) % 2147483647
  end
end

-- A giveaway whose end has passed (or that `force` ends now) draws its winner. Returns
-- nil when it is still running, else the winner's hold (false: nobody entered).
local function close_giveaway(a, now, maxlen, lease_ms, rand, force)
  if a.state ~= 'running' or (now < num(a, 'ends_ms') and not force) then return nil end
  local ends = math.min(num(a, 'ends_ms'), now)
  a.ended_ms = int(ends)
  redis.call('HSET', A.item, 'ends_ms', int(ends), 'ended_ms', int(ends), 'closed_ms', int(now),
             'draw_rand', int(rand), 'draw_size', int(redis.call('LLEN', A.list)))
  stop_running(a)
  local winner = draw_from_pool(rand)
  if not winner then
    a.state = 'no_entrants'
    redis.call('HSET', A.item, 'state', 'no_entrants')
    put_back(a.sku, maxlen)
    emit(maxlen, 'giveaway_ended', cjson.encode({giveaway = a.id, winner = cjson.null,
         winner_name = cjson.null, entrants = 0, ended_ms = ends}))
    return false
  end
  local name = redis.call('HGET', A.who, winner) or ''
  a.state, a.winner, a.winner_name = 'drawn', winner, name
  redis.call('HSET', A.item, 'state', 'drawn', 'winner', winner, 'winner_name', name)
  emit(maxlen, 'giveaway_ended', cjson.encode({giveaway = a.id, winner = winner,
       winner_name = nullable(name), entrants = num(a, 'entrants'), ended_ms = ends}))
  return start_charge(a, winner, name, 0, 1, now, lease_ms)
end

-- A second-chance offer ran out: the seller may offer the next bidder or release.
local function expire_offer(a, maxlen)
  a.payment = 'unpaid'
  redis.call('HSET', A.item, 'payment', 'unpaid')
  redis.call('ZREM', A.due, due_member(a))
  emit_status(maxlen, a, 'offer_expired', {user = a.payee, amount = num(a, 'amount')})
end

-- The common refusal: a missing item is the show's absence or an unknown id.
local function missing()
  if redis.call('EXISTS', K.show) == 0 then return {'refused', 'not_found'} end
  if string.find(A.item, ':giveaway:', 1, true) then return {'refused', 'no_giveaway'} end
  return {'refused', 'no_auction'}
end
