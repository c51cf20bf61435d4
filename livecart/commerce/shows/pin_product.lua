-- pin_product.lua: pin a product of the lineup over the video, or unpin (sku '').
-- The pinned event carries the product card and its live stock, so a page can show it
-- without another read.
--
-- A product sold by variants is pinned whole: naming the product's SKU (with variants
-- of it in the lineup) or one variant's SKU pins the product, and the show's `pinned`
-- holds the product's SKU. Its card is the first variant's (by the product's variant
-- order, `position`) standing for the product: `sku` the product's, no `variant` or
-- `position`, `stock` the variants' total, and `variants`: {sku, variant, price,
-- image_url, stock} for each of its variants in the lineup. A plain product's card is
-- as it always was (no `variants`). shows/records.py pinned_card builds the same shape
-- for the snapshot. The lineup is read whole to find the variants: lineups are small
-- (MAX_LINEUP cards).
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  sku, or '' to unpin
-- ARGV[2]  event stream length cap
--
-- Returns {'changed', event id, pinned sku} | {'unchanged', pinned sku} | {'refused', code}
-- (the pinned sku is the product's when a variant was named, '' when unpinned)
--#include _sale.lua

-- The card of the product `product` sold by variants, or nil when none is in the lineup.
local function variants_card(product)
  local variants = {}
  local all = redis.call('HGETALL', K.lineup)
  for i = 1, #all, 2 do
    local card = cjson.decode(all[i + 1])
    if card.product == product and card.sku ~= product then
      card.stock = hget_number(K.stock, card.sku)
      table.insert(variants, card)
    end
  end
  if #variants == 0 then return nil end
  table.sort(variants, function(a, b)
    if a.position ~= b.position then return (a.position or 0) < (b.position or 0) end
    return a.sku < b.sku
  end)
  local group = cjson.decode(cjson.encode(variants[1]))
  group.variant, group.position = nil, nil
  group.sku = product
  group.stock = 0
  group.variants = {}
  for _, card in ipairs(variants) do
    group.stock = group.stock + card.stock
    table.insert(group.variants, {sku = card.sku, variant = card.variant, price = card.price,
                                  image_url = card.image_url, stock = card.stock})
  end
  return group
end

local sku = ARGV[1]
local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'refused', 'show_ended'} end
local current = redis.call('HGET', K.show, 'pinned')
if sku == '' then
  if current == '' then return {'unchanged', ''} end
  redis.call('HSET', K.show, 'pinned', '')
  return {'changed', emit(ARGV[2], 'unpinned', cjson.encode({sku = current})), ''}
end

local card
local card_json = redis.call('HGET', K.lineup, sku)
if card_json then
  card = cjson.decode(card_json)
  if card.product and card.product ~= sku then
    sku = card.product -- a variant named: its product is pinned
    card = variants_card(sku)
  else
    card.stock = hget_number(K.stock, sku)
  end
else
  card = variants_card(sku)
end
if not card then return {'refused', 'not_in_lineup'} end
if current == sku then return {'unchanged', sku} end
redis.call('HSET', K.show, 'pinned', sku)
return {'changed', emit(ARGV[2], 'pinned', cjson.encode({sku = sku, product = card})), sku}
