-- _sale.lua: what every script that sells, holds or returns units shares.
-- Included (not run alone) by reserve, cart_add, cart_remove, checkout_cart, confirm,
-- release and the show-control scripts; all of them take the same KEYS, in this order
-- (livecart/commerce/sales/keys.py builds the list; all keys are in the show's slot):
--
-- KEYS[1]  show hash          KEYS[7]  hold expiry zset    KEYS[13] idempotency key
-- KEYS[2]  lineup hash        KEYS[8]  bought hash         KEYS[14] cart pointer
-- KEYS[3]  stock hash         KEYS[9]  flash hash          KEYS[15] allocated hash
-- KEYS[4]  held hash          KEYS[10] flash bought hash   KEYS[16] orders zset
-- KEYS[5]  sold hash          KEYS[11] event stream        KEYS[17] order key
-- KEYS[6]  holds hash         KEYS[12] refs hash           KEYS[18] outbox stream
--                                                          KEYS[19] bans set (hub)
--
-- Invariant kept by every script: for each sku, stock + held + sold == allocated, and
-- stock >= 0. Only take() and give_back() move units between stock and held.
-- Numbers JSON-encoded here stay below 10^14 (cjson prints 14 significant digits):
-- unit prices, quantities and millisecond times; totals are computed by the caller.

local K = {
  show = KEYS[1], lineup = KEYS[2], stock = KEYS[3], held = KEYS[4], sold = KEYS[5],
  holds = KEYS[6], expiry = KEYS[7], bought = KEYS[8], flash = KEYS[9],
  flash_bought = KEYS[10], events = KEYS[11], refs = KEYS[12], idem = KEYS[13],
  cart = KEYS[14], allocated = KEYS[15], orders = KEYS[16], order = KEYS[17],
  outbox = KEYS[18], bans = KEYS[19],
}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

local function hget_number(key, field)
  return tonumber(redis.call('HGET', key, field) or '0')
end

local function emit(maxlen, kind, data)
  return redis.call('XADD', K.events, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'data', data)
end

local function emit_stock(maxlen, sku)
  emit(maxlen, 'stock', cjson.encode({sku = sku, stock = hget_number(K.stock, sku)}))
end

-- nil when the show sells to this buyer now, else the refusal code. A ban (the set the
-- hub's ban.lua writes) comes right after the show's existence: it is about the buyer
-- and outlasts a pause or the show's state, so it is what a banned buyer hears. Every
-- way of taking units (reserve, cart_add, checkout_cart) passes through here, in the
-- same atomic step as the take, so a ban cannot be raced.
local function sales_gate(buyer)
  local state = redis.call('HMGET', K.show, 'state', 'sales')
  if not state[1] then return 'not_found' end
  if redis.call('SISMEMBER', K.bans, buyer) == 1 then return 'banned' end
  if state[1] ~= 'live' then return 'not_live' end
  if state[2] == 'paused' then return 'sales_paused' end
  return nil
end

-- The show's flash sale when it is on this sku (running, coming or just ended), else nil.
local function flash_on(sku)
  local raw = redis.call('HGETALL', K.flash)
  if #raw == 0 then return nil end
  local f = {}
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  if f.sku ~= sku then return nil end
  f.price = tonumber(f.price)
  f.remaining = tonumber(f.remaining)
  f.per_buyer_limit = tonumber(f.per_buyer_limit)
  f.starts_ms = tonumber(f.starts_ms)
  f.ends_ms = tonumber(f.ends_ms)
  return f
end

-- Decide one line: nil plus what the line needs (unit price, flash id or '', the
-- card's title, product and variant) when it may be taken now, else the refusal code.
-- `sku` is a sellable's: a plain product or one variant, each with its own stock.
-- `expected` is the unit price the buyer saw (-1: not given).
-- Order of checks: product, price and flash window, per-buyer limits, then stock, so a
-- late tap at the flash price hears "flash ended", not "sold out".
local function decide_line(buyer, sku, qty, expected, now)
  local card_json = redis.call('HGET', K.lineup, sku)
  if not card_json then return 'not_in_lineup' end
  local card = cjson.decode(card_json)
  local f = flash_on(sku)
  local unit, flash_id = card.price, ''
  if f and now >= f.starts_ms and now < f.ends_ms then
    unit, flash_id = f.price, f.id
    if expected >= 0 and expected ~= unit then return 'price_changed' end
    if f.per_buyer_limit > 0 then
      local had = hget_number(K.flash_bought, f.id .. '|' .. buyer)
      if had + qty > f.per_buyer_limit then return 'limit_reached' end
    end
    if f.remaining < qty then return 'sold_out' end
  elseif expected >= 0 and expected ~= unit then
    if f and expected == f.price then
      if now >= f.ends_ms then return 'flash_ended' end
      return 'flash_not_started'
    end
    return 'price_changed'
  end
  local limit = tonumber(card.per_user_limit) or 0
  if limit > 0 and hget_number(K.bought, buyer .. '|' .. sku) + qty > limit then
    return 'limit_reached'
  end
  if hget_number(K.stock, sku) < qty then return 'sold_out' end
  return nil, {unit = unit, flash = flash_id, title = card.title,
               commission_bps = tonumber(card.commission_bps) or 0,
               currency = card.currency, product = card.product or sku,
               variant = card.variant or {}, options = card.options}
end

-- A hold's line for `qty` units of `sku` as decide_line found it. `product` and
-- `variant` (option name -> value; `options` gives their order, absent for a plain
-- product) tell fulfilment what to ship; cards from before variants have neither.
local function new_line(sku, qty, info)
  return {sku = sku, qty = qty, unit = info.unit, flash = info.flash, title = info.title,
          commission_bps = info.commission_bps, product = info.product,
          variant = info.variant, options = info.options}
end

-- Move units from stock to held for a buyer (and from the flash sale's remainder).
local function take(buyer, sku, qty, flash_id)
  redis.call('HINCRBY', K.stock, sku, -qty)
  redis.call('HINCRBY', K.held, sku, qty)
  redis.call('HINCRBY', K.bought, buyer .. '|' .. sku, qty)
  if flash_id ~= '' then
    redis.call('HINCRBY', K.flash, 'remaining', -qty)
    redis.call('HINCRBY', K.flash_bought, flash_id .. '|' .. buyer, qty)
  end
end

-- Return a hold's units to stock. Flash units go back to the flash sale only while it
-- is the same sale; the buyer's counts shrink so a released hold does not use up limits.
local function give_back(hold, maxlen)
  local current_flash = redis.call('HGET', K.flash, 'id')
  for _, line in ipairs(hold.lines) do
    redis.call('HINCRBY', K.stock, line.sku, line.qty)
    redis.call('HINCRBY', K.held, line.sku, -line.qty)
    redis.call('HINCRBY', K.bought, hold.buyer .. '|' .. line.sku, -line.qty)
    if line.flash ~= '' then
      redis.call('HINCRBY', K.flash_bought, line.flash .. '|' .. hold.buyer, -line.qty)
      if line.flash == current_flash then
        redis.call('HINCRBY', K.flash, 'remaining', line.qty)
      end
    end
    emit_stock(maxlen, line.sku)
  end
end

-- The stored result of a buy, replayed to a retry with the same idempotency key.
local function remember(result_json, ttl)
  redis.call('SET', K.idem, result_json, 'EX', ttl)
end

-- What a buy or checkout with this key has already come to: nil for a new key, else
-- the reply to give at once ({'conflict'} when the key came with other parameters).
local function replay_or_conflict(fingerprint)
  local stored = redis.call('GET', K.idem)
  if not stored then return nil end
  if cjson.decode(stored).fp ~= fingerprint then return {'conflict'} end
  return {'replay', stored}
end

-- Refuse a buy or checkout, remembering the refusal as the key's first outcome (but
-- not a missing show: nothing about that show exists to keep a record next to).
local function refuse_and_remember(fingerprint, ttl, code, sku)
  if code ~= 'not_found' then
    remember(cjson.encode({fp = fingerprint, state = 'done',
                           result = {status = 'refused', code = code, sku = sku}}), ttl)
  end
  return {'refused', code, sku}
end

local function load_hold(hold_id)
  local raw = redis.call('HGET', K.holds, hold_id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_hold(hold)
  redis.call('HSET', K.holds, hold.id, cjson.encode(hold))
  redis.call('ZADD', K.expiry, hold.expires_ms, hold.id)
end

local function drop_hold(hold)
  redis.call('HDEL', K.holds, hold.id)
  redis.call('ZREM', K.expiry, hold.id)
end

-- Who brought the buyer: a ref given now (remembered, last one wins), else a ref
-- remembered within the window, else the show's creator; nobody (null) in a brand's own
-- show (no creator) that no ref led to.
local function attribution(buyer, ref, window_ms, now)
  if ref ~= '' then
    redis.call('HSET', K.refs, buyer, ref .. '|' .. int(now))
  else
    local stored = redis.call('HGET', K.refs, buyer)
    if stored then
      local creator, at = string.match(stored, '^(.*)|(%d+)$')
      if creator and now - tonumber(at) <= window_ms then ref = creator end
    end
  end
  local show_creator = redis.call('HGET', K.show, 'creator')
  if ref == '' and (not show_creator or show_creator == '') then return cjson.null end
  if ref == '' or ref == show_creator then
    return {creator = show_creator, source = 'show'}
  end
  return {creator = ref, source = 'link'}
end
