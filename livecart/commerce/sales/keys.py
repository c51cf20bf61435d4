"""The KEYS list every sale script takes, in the order ``_sale.lua`` names them.

One list for all of them keeps the Lua fragment's names (K.stock, K.holds, ...) the same
in every script; places a script does not use are filled with a key nothing writes.
"""

from __future__ import annotations

from livecart.store import keys


def sale_keys(
    show: str,
    *,
    buyer: str | None = None,
    idempotency_key: str | None = None,
    order_id: str | None = None,
) -> list[str]:
    unused = keys.show_unused(show)
    return [
        keys.show(show),
        keys.show_lineup(show),
        keys.show_stock(show),
        keys.show_held(show),
        keys.show_sold(show),
        keys.show_holds(show),
        keys.show_hold_expiry(show),
        keys.show_bought(show),
        keys.show_flash(show),
        keys.show_flash_bought(show),
        keys.show_events(show),
        keys.show_refs(show),
        keys.show_idempotency(show, buyer, idempotency_key)
        if buyer is not None and idempotency_key
        else unused,
        keys.show_cart(show, buyer) if buyer is not None else unused,
        keys.show_allocated(show),
        keys.show_orders(show),
        keys.show_order(show, order_id) if order_id is not None else unused,
        keys.show_outbox(show),
        keys.show_bans(show),  # read only: the hub's moderation writes it
    ]
