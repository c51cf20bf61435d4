"""Every Redis key livecart uses is named here, and every id is checked before it is.

Keys of one show carry the hash tag ``{s:SHOWID}`` (DESIGN.md invariant 6), so every
script that touches one show touches one Cluster slot. What spans shows lives outside
any show's slot and is never written by a show script: the catalog in a slot of its own
(``{cat}``), each creator's ledger in its creator's (``{c:ID}``), each brand's stock in
its brand's (``{b:ID}``), and single-key records (order copies, webhook deliveries,
buyer profiles) wherever their key falls.

An id is 1-64 characters of letters, digits and ``_ - . @ +``: enough for SKUs, emails
and UUIDs, and never ``{ } :`` (which would break the hash tag or the key layout),
``*`` or ``?`` (glob patterns), whitespace or control characters.
"""

from __future__ import annotations

import re

from livecart.errors import InvalidInput

NAMESPACE = "lc"
# The catalog (brands, products, variants, creators, their indexes and settings) in one
# slot: a merchant's edit checks and writes several of them in one MULTI (a product,
# its brand's index, its variants' owners), which a Cluster allows only within a slot.
# Catalog writes are rare and small; what viewers do touches shows' slots only.
CATALOG = f"{NAMESPACE}:{{cat}}"
# Key prefixes before the catalog had its slot: ``migrate_catalog_layout`` renames them.
OLD_CATALOG_PREFIXES = ("brand:", "creator:", "product:", "variant:")
OLD_CATALOG_KEYS = ("brands", "creators")
ID_PATTERN = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
ID_RULE = "1-64 characters of letters, digits and _ - . @ +"


def check_id(value: object, field: str) -> str:
    """Return ``value`` when it is a well-formed id, else refuse naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string id ({ID_RULE})", field=field)
    if ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"{field} {value[:80]!r} is not a valid id: {ID_RULE}", field=field)
    return value


def _show_slot(show_id: str) -> str:
    return f"{NAMESPACE}:{{s:{check_id(show_id, 'show')}}}"


# --- one show's keys: all in the show's slot --------------------------------------


def show(show_id: str) -> str:
    """Hash: title, creator, brand, state, pinned sku, sales state, created/started/ended."""
    return f"{_show_slot(show_id)}:show"


def show_events(show_id: str) -> str:
    """Stream: every change to the show, appended by the script that made it."""
    return f"{_show_slot(show_id)}:events"


def show_lineup(show_id: str) -> str:
    """Hash sku -> JSON product card as allocated to the show (price fixed for the show)."""
    return f"{_show_slot(show_id)}:lineup"


def show_stock(show_id: str) -> str:
    """Hash sku -> units still available to buy in this show."""
    return f"{_show_slot(show_id)}:stock"


def show_allocated(show_id: str) -> str:
    """Hash sku -> units the merchant has given the show (changed by restocks)."""
    return f"{_show_slot(show_id)}:allocated"


def show_unused(show_id: str) -> str:
    """A key of the show's slot that nothing writes: fills a script's unused KEYS place."""
    return f"{_show_slot(show_id)}:-"


def show_held(show_id: str) -> str:
    """Hash sku -> units reserved by holds (taps being paid, carts) not yet confirmed."""
    return f"{_show_slot(show_id)}:held"


def show_sold(show_id: str) -> str:
    """Hash sku -> units in confirmed orders. stock + held + sold == allocated, always."""
    return f"{_show_slot(show_id)}:sold"


def show_holds(show_id: str) -> str:
    """Hash hold id -> hold JSON (buyer, lines, kind, idempotency key, expiry)."""
    return f"{_show_slot(show_id)}:holds"


def show_hold_expiry(show_id: str) -> str:
    """Sorted set hold id -> expiry (ms, Redis TIME): what the reaper scans."""
    return f"{_show_slot(show_id)}:hold_expiry"


def show_bought(show_id: str) -> str:
    """Hash 'buyer|sku' -> units held or bought by that buyer: the per-user limit."""
    return f"{_show_slot(show_id)}:bought"


def show_flash(show_id: str) -> str:
    """Hash: the show's flash sale (id, sku, price, quantity, remaining, limit, window)."""
    return f"{_show_slot(show_id)}:flash"


def show_flash_bought(show_id: str) -> str:
    """Hash 'flash id|buyer' -> units that buyer took in that flash sale."""
    return f"{_show_slot(show_id)}:flash_bought"


def show_idempotency(show_id: str, buyer: str, key: str) -> str:
    """String: a buy's first result (or its in-flight state), kept checkout.idempotency_ttl_s."""
    return (
        f"{_show_slot(show_id)}:idem:{check_id(buyer, 'buyer')}:{check_id(key, 'idempotency_key')}"
    )


def show_cart(show_id: str, buyer: str) -> str:
    """String: the buyer's cart hold id in this show."""
    return f"{_show_slot(show_id)}:cart:{check_id(buyer, 'buyer')}"


def show_refs(show_id: str) -> str:
    """Hash buyer -> 'creator|ms': the last affiliate ref the buyer arrived with."""
    return f"{_show_slot(show_id)}:refs"


def show_orders(show_id: str) -> str:
    """Sorted set order id -> confirmation time (ms): the show's orders, authoritative."""
    return f"{_show_slot(show_id)}:orders"


def show_order(show_id: str, order_id: str) -> str:
    """String: one confirmed order's JSON (see docs/api.md, "Order")."""
    return f"{_show_slot(show_id)}:order:{check_id(order_id, 'order')}"


def show_order_refund_lock(show_id: str, order_id: str) -> str:
    """String with a TTL: held (by a refund id) while a refund of the order is being
    asked of the payment provider, so two refunds of one order never overlap."""
    return f"{_show_slot(show_id)}:order:{check_id(order_id, 'order')}:refunding"


def show_outbox(show_id: str) -> str:
    """Stream of order events (``type``: order.confirmed, order.fulfilled, ...; ``order``:
    the order JSON as it stands after the event) for the consumers that deliver webhooks
    and build cross-show projections (invariant 6)."""
    return f"{_show_slot(show_id)}:outbox"


# --- a show's auctions and giveaways (livecart/commerce/auctions/) -----------------


def show_auction(show_id: str, auction_id: str) -> str:
    """Hash: one auction (its item, rules, price, leader, end, winner and payment)."""
    return f"{_show_slot(show_id)}:auction:{check_id(auction_id, 'auction')}"


def show_auction_bidders(show_id: str, auction_id: str) -> str:
    """Hash user -> JSON {max, seq, name}: each bidder's maximum (a proxy bid's ceiling,
    never shown to others) and when it was set, for proxy bidding and second chances."""
    return f"{show_auction(show_id, auction_id)}:bidders"


def show_auction_bids(show_id: str, auction_id: str) -> str:
    """List of accepted bids' JSON, in order (capped by auctions.max_bids)."""
    return f"{show_auction(show_id, auction_id)}:bids"


def show_auction_removed(show_id: str, auction_id: str) -> str:
    """Set of users a moderator removed from the auction: their bids are refused."""
    return f"{show_auction(show_id, auction_id)}:removed"


def show_auctions(show_id: str) -> str:
    """Sorted set auction id -> start time (ms): the show's auctions, newest last."""
    return f"{_show_slot(show_id)}:auctions"


def show_giveaway(show_id: str, giveaway_id: str) -> str:
    """Hash: one giveaway (its item, end, entrant count, draw, winner and payment)."""
    return f"{_show_slot(show_id)}:giveaway:{check_id(giveaway_id, 'giveaway')}"


def show_giveaway_entrants(show_id: str, giveaway_id: str) -> str:
    """Set of users who entered: one entry per user."""
    return f"{show_giveaway(show_id, giveaway_id)}:entrants"


def show_giveaway_pool(show_id: str, giveaway_id: str) -> str:
    """List of entrants not drawn yet: the draw picks an index uniformly and takes that
    entry out (swap with the last), so a redraw never picks the same user."""
    return f"{show_giveaway(show_id, giveaway_id)}:pool"


def show_giveaways(show_id: str) -> str:
    """Sorted set giveaway id -> start time (ms): the show's giveaways, newest last."""
    return f"{_show_slot(show_id)}:giveaways"


def show_awards_due(show_id: str) -> str:
    """Sorted set ``auction:ID`` / ``giveaway:ID`` -> when it must next be looked at (ms,
    Redis TIME): a running one's end, a winner's payment lease, an offer's expiry. The
    sweep looks at what is due; the look itself decides by Redis TIME."""
    return f"{_show_slot(show_id)}:awards_due"


# --- keys that span shows ----------------------------------------------------------


def shows_index() -> str:
    """Sorted set of every show id (score 0, id order): the listing without filters."""
    return f"{NAMESPACE}:shows"


def shows_by_start() -> str:
    """Sorted set, score 0, of ``START:SHOW`` (START: the show's scheduled start, else its
    creation, ms zero-padded to 16 digits): every show in start order, for the listing's
    date range (see commerce/shows/listing.py)."""
    return f"{NAMESPACE}:shows:by_start"


def brand_shows(brand_id: str) -> str:
    """Sorted set of the brand's show ids (score 0, id order): the listing's brand filter."""
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}:shows"


def creator_shows(creator_id: str) -> str:
    """Sorted set of the creator's show ids (score 0, id order): the listing's creator
    filter. A brand's own show (no creator) is in no creator's index."""
    return f"{CATALOG}:creator:{check_id(creator_id, 'creator')}:shows"


def brand(brand_id: str) -> str:
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}"


def brands_index() -> str:
    return f"{CATALOG}:brands"


def brand_shipping(brand_id: str) -> str:
    """String: the brand's shipping rule JSON (flat fee, free-over threshold)."""
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}:shipping"


def brand_webhook(brand_id: str) -> str:
    """String: the brand's webhook endpoint JSON (url, signing secret)."""
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}:webhook"


def brand_products(brand_id: str) -> str:
    """Sorted set of the brand's SKUs (score 0, ordered by SKU for stable pagination)."""
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}:products"


def product(sku: str) -> str:
    return f"{CATALOG}:product:{check_id(sku, 'sku')}"


def variant_owner(sku: str) -> str:
    """String: the SKU of the product that sells ``sku`` as one of its variants. Kept
    with the product in one transaction, so a variant SKU names one product catalog-wide."""
    return f"{CATALOG}:variant:{check_id(sku, 'sku')}"


def creator(creator_id: str) -> str:
    return f"{CATALOG}:creator:{check_id(creator_id, 'creator')}"


def creators_index() -> str:
    return f"{CATALOG}:creators"


def creator_showcase(creator_id: str) -> str:
    """Sorted set of the SKUs a creator showcases (score: position)."""
    return f"{CATALOG}:creator:{check_id(creator_id, 'creator')}:showcase"


def active_shows() -> str:
    """Set of shows the hold reaper watches: added when a show starts, removed once it
    has ended and holds nothing."""
    return f"{NAMESPACE}:active_shows"


def streaming_shows() -> str:
    """Set of shows with a video ingest claimed (added at the claim, removed once ended):
    where every node's sweep looks for streams whose node died."""
    return f"{NAMESPACE}:streaming_shows"


def outbox_shows() -> str:
    """Set of show ids whose outbox the order consumers read (added when a show starts)."""
    return f"{NAMESPACE}:outbox:shows"


# --- projections built from the outboxes (each order applied once, by order id) -------


def _creator_slot(creator_id: str) -> str:
    return f"{NAMESPACE}:{{c:{check_id(creator_id, 'creator')}}}"


def creator_ledger(creator_id: str) -> str:
    """Hash order id -> commission entry JSON (HSETNX makes an order count once);
    ``ORDER.vN`` -> the reversal of order version N (cancel, refund) and
    ``ORDER.reversed`` -> what of the order's commission was reversed so far."""
    return f"{_creator_slot(creator_id)}:ledger"


def creator_ledger_by_time(creator_id: str) -> str:
    """Sorted set ledger entry id (an order id, or ``ORDER.vN`` for a reversal) -> its
    time (ms): the ledger in time order."""
    return f"{_creator_slot(creator_id)}:ledger:by_time"


def creator_earnings(creator_id: str) -> str:
    """Hash currency -> commission earned (minor units) and ``reversed:CURRENCY`` ->
    commission reversed by cancels and refunds, updated with the ledger."""
    return f"{_creator_slot(creator_id)}:earnings"


def order(order_id: str) -> str:
    """String: a copy of the order's JSON, found by id alone (the highest ``version``
    projected so far: it follows the order's lifecycle, a moment behind)."""
    return f"{NAMESPACE}:order:{check_id(order_id, 'order')}"


def orders_index() -> str:
    """Sorted set order id -> confirmation time (ms), every show."""
    return f"{NAMESPACE}:orders"


def buyer_orders(buyer: str) -> str:
    """Sorted set order id -> confirmation time (ms), one buyer's orders."""
    return f"{NAMESPACE}:buyer:{check_id(buyer, 'buyer')}:orders"


# --- webhook deliveries (at least once, from the outboxes) ----------------------------


def webhook(delivery_id: str) -> str:
    """String: one delivery's JSON (brand, payload, attempts, last error)."""
    return f"{NAMESPACE}:webhook:{check_id(delivery_id, 'webhook')}"


def webhooks_due() -> str:
    """Sorted set delivery id -> when it may next be tried (ms); a claim pushes it forward."""
    return f"{NAMESPACE}:webhooks:due"


def webhooks_dead() -> str:
    """Sorted set delivery id -> when it was dead-lettered (ms)."""
    return f"{NAMESPACE}:webhooks:dead"


def brand_webhook_deliveries(brand_id: str) -> str:
    """Sorted set delivery id -> when it was created (ms): the brand's deliveries, newest
    last, capped and trimmed when new ones are added (see commerce/orders/webhooks.py)."""
    return f"{CATALOG}:brand:{check_id(brand_id, 'brand')}:webhook:deliveries"


# --- The hub: chat, moderation, presence (all in the show's slot) -----------------


def show_chat_ids(show_id: str) -> str:
    """List of recent chat message ids (stream ids), oldest first, capped at hub.chat_history."""
    return f"{_show_slot(show_id)}:chat:ids"


def show_chat_messages(show_id: str) -> str:
    """Hash message id -> JSON {user, text, staff, sent_at_ms}: the ids in show_chat_ids."""
    return f"{_show_slot(show_id)}:chat:messages"


def show_chat_deleted(show_id: str) -> str:
    """Sorted set message id -> its ms: deleted messages the stream still holds."""
    return f"{_show_slot(show_id)}:chat:deleted"


def show_chat_last(show_id: str) -> str:
    """Sorted set user -> ms of their last message, kept only within the slow-mode window."""
    return f"{_show_slot(show_id)}:chat:last"


def show_chat_settings(show_id: str) -> str:
    """Hash of the chat's settings: slow_mode_s (0 or missing: off)."""
    return f"{_show_slot(show_id)}:chat:settings"


def show_blocked_keywords(show_id: str) -> str:
    """Set of casefolded words a viewer's chat message may not contain."""
    return f"{_show_slot(show_id)}:chat:blocked"


def show_mutes(show_id: str) -> str:
    """Sorted set user -> muted until (ms, Redis TIME); expired entries are pruned."""
    return f"{_show_slot(show_id)}:mutes"


def show_bans(show_id: str) -> str:
    """Set of users banned from the show's chat."""
    return f"{_show_slot(show_id)}:bans"


def show_presence(show_id: str) -> str:
    """Hash node -> 'viewers:expires_ms': each node's local viewer count of the show."""
    return f"{_show_slot(show_id)}:presence"


# --- buyers: people who signed up on a viewer page -----------------------------------


def buyer_profile(buyer: str) -> str:
    """String: the buyer's profile JSON (name, email, shipping address), read before a
    buy and copied into the order (never read by a show's script: invariant 6)."""
    return f"{NAMESPACE}:buyer:{check_id(buyer, 'buyer')}:profile"


def signup_count(client_digest: str) -> str:
    """String counter with a TTL: sign-ups from one client address in the current window.
    The address is kept only as a digest (an IPv6 address would not be a valid id)."""
    return f"{NAMESPACE}:signups:{check_id(client_digest, 'client')}"


# --- a brand's inventory: in the brand's own slot (issue 11) -------------------------
# Units move between a brand's inventory and a show in two steps keyed by a move id, one
# script per slot (invariant 6): see livecart/commerce/inventory/moves.py.


def _brand_slot(brand_id: str) -> str:
    return f"{NAMESPACE}:{{b:{check_id(brand_id, 'brand')}}}"


def brand_inventory(brand_id: str) -> str:
    """Hash sellable sku -> units on hand at the brand. A sku with a field here is
    tracked: its units reach shows only by moves."""
    return f"{_brand_slot(brand_id)}:inventory"


def brand_moves(brand_id: str) -> str:
    """Hash move id -> the move's JSON (kind, show, sku, units, state, units moved)."""
    return f"{_brand_slot(brand_id)}:moves"


def brand_moves_pending(brand_id: str) -> str:
    """Sorted set move id -> when it began (ms, Redis TIME): moves whose show step or
    settlement has not been seen to finish; the inventory sweep finishes old ones."""
    return f"{_brand_slot(brand_id)}:moves:pending"


def brand_move_shows(brand_id: str) -> str:
    """Sorted set show id -> when units last moved to or from it (ms): the shows that
    may hold the brand's tracked units (the report's units out, the sweep's returns)."""
    return f"{_brand_slot(brand_id)}:move_shows"


def inventory_brands() -> str:
    """Set of brands that track inventory: where the sweep looks (spans brands, so
    written beside the brand's scripts, never by them)."""
    return f"{NAMESPACE}:inventory:brands"


def show_moves(show_id: str) -> str:
    """Hash move id -> what the show did with that inventory move (``applied:N``,
    ``refused:CODE``, ``returned:N`` or ``returned:0:CODE``): each move is applied to
    the show once, whatever retries or sweeps ask again."""
    return f"{_show_slot(show_id)}:inventory_moves"


def brand_moves_settled(brand_id: str) -> str:
    """Sorted set move id -> when it settled (ms): the sweep forgets moves settled more
    than inventory.MOVE_RETENTION_MS ago (their id may then name a new move)."""
    return f"{_brand_slot(brand_id)}:moves:settled"


# --- the nodes: heartbeats, outside every show's slot (one key per command) -----------


def nodes() -> str:
    """Zset: node name -> Redis time (ms) the node started: the nodes to watch."""
    return f"{NAMESPACE}:nodes"


def node_heartbeat(name: str) -> str:
    """String with a short TTL: present while the node ``name`` is alive."""
    return f"{NAMESPACE}:node:{name}"


def node_takeover(name: str) -> str:
    """String: the survivor taking over the dead node ``name``'s work."""
    return f"{NAMESPACE}:node:{name}:takeover"


def show_durable_mark(show_id: str) -> str:
    """String (short TTL) a confirmation writes last, so a WAITAOF on its connection
    waits for everything before it (store/durability.py)."""
    return f"{show(show_id)}:durable"
