-- _inventory.lua: what the brand-slot scripts of inventory moves share.
-- Included (not run alone) by move_take, move_intent and move_settle; all of them take
-- the same KEYS, in this order (livecart/commerce/inventory/moves.py builds the list;
-- every key is in the brand's slot, {b:BRAND}):
--
-- KEYS[1]  inventory hash (sku -> units on hand)
-- KEYS[2]  moves hash (move id -> move JSON)
-- KEYS[3]  pending zset (move id -> when it began, ms)
-- KEYS[4]  move shows zset (show id -> when units last moved to or from it, ms)
-- KEYS[5]  settled zset (move id -> when it settled, ms): what the sweep prunes
--
-- A move's JSON: id, kind ('to_show' | 'from_show'), show, sku, units (asked; -1: all
-- the show's stock), exact (from_show: refuse rather than take fewer), state
-- ('taken' -> 'applied' | 'reversed' for to_show; 'returning' -> 'returned' for
-- from_show), moved (units that reached their side), reason ('' or the show's refusal
-- code), created_ms, updated_ms.
--
-- Invariant kept with the show scripts (move_in, move_out): for every tracked sku,
-- on hand + units of moves in flight + allocated over the shows never changes by a move.

local B = {inventory = KEYS[1], moves = KEYS[2], pending = KEYS[3], shows = KEYS[4],
           settled = KEYS[5]}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load_move(id)
  local raw = redis.call('HGET', B.moves, id)
  if not raw then return nil, nil end
  return cjson.decode(raw), raw
end

local function save_move(move)
  local raw = cjson.encode(move)
  redis.call('HSET', B.moves, move.id, raw)
  return raw
end

-- A move id names one move: a retry must ask for the same one. Returns the refusal to
-- give when the stored move is another, else nil.
local function other_move(stored, kind, show, sku, units, exact)
  if stored.kind ~= kind or stored.show ~= show or stored.sku ~= sku
      or tonumber(stored.units) ~= units or (stored.exact or false) ~= exact then
    return {'refused', 'move_id_conflict', cjson.encode(stored)}
  end
  return nil
end

local function new_move(id, kind, show, sku, units, exact, state, now)
  return {id = id, kind = kind, show = show, sku = sku, units = units, exact = exact,
          state = state, moved = 0, reason = '', created_ms = now, updated_ms = now}
end
