"""Every Redis key livecart uses is named here, and every id is checked before it is.

Keys of one show carry the hash tag ``{s:SHOWID}`` (DESIGN.md invariant 6), so every
script that touches one show touches one Cluster slot. What spans shows (brands,
products, creators) lives outside any show's slot and is never written by a show script.

An id is 1-64 characters of letters, digits and ``_ - . @ +``: enough for SKUs, emails
and UUIDs, and never ``{ } :`` (which would break the hash tag or the key layout),
``*`` or ``?`` (glob patterns), whitespace or control characters.
"""

from __future__ import annotations

import re

from livecart.errors import InvalidInput

NAMESPACE = "lc"
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


# --- keys that span shows ----------------------------------------------------------


def shows_index() -> str:
    """Sorted set of show ids scored by creation time (ms)."""
    return f"{NAMESPACE}:shows"


def brand(brand_id: str) -> str:
    return f"{NAMESPACE}:brand:{check_id(brand_id, 'brand')}"


def brands_index() -> str:
    return f"{NAMESPACE}:brands"


def brand_products(brand_id: str) -> str:
    """Sorted set of the brand's SKUs (score 0, ordered by SKU for stable pagination)."""
    return f"{NAMESPACE}:brand:{check_id(brand_id, 'brand')}:products"


def product(sku: str) -> str:
    return f"{NAMESPACE}:product:{check_id(sku, 'sku')}"


def creator(creator_id: str) -> str:
    return f"{NAMESPACE}:creator:{check_id(creator_id, 'creator')}"
