"""Moving data written by an older livecart to the key names this one reads.

The catalog's keys gained the ``{cat}`` hash tag (one Cluster slot for the catalog's
transactions, see ``keys.CATALOG``): ``lc:brand:b1`` became ``lc:{cat}:brand:b1``. A
node starting on one Redis renames what it finds under the old names, once; a marker
key says it was done, so later starts skip the scan. RENAMENX never overwrites: a key
already written under the new name (by a node of this version) wins over an old one.

A Cluster needs no move: livecart ran on one only with the new names.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from livecart.store import keys

log = logging.getLogger("livecart.layout")

LAYOUT_VERSION = "2"
SCAN_COUNT = 1000


def layout_marker() -> str:
    """String: the key layout this Redis holds, written once the move is done."""
    return f"{keys.CATALOG}:layout"


async def migrate_catalog_layout(redis: Redis) -> int:
    """Rename the catalog's keys from their old names; returns how many were moved."""
    if await redis.get(layout_marker()) == LAYOUT_VERSION:
        return 0
    old_names = [f"{keys.NAMESPACE}:{name}" for name in keys.OLD_CATALOG_KEYS]
    for prefix in keys.OLD_CATALOG_PREFIXES:
        async for name in redis.scan_iter(f"{keys.NAMESPACE}:{prefix}*", count=SCAN_COUNT):
            old_names.append(name)
    moved = 0
    for old in old_names:
        new = f"{keys.CATALOG}:{old.removeprefix(keys.NAMESPACE + ':')}"
        try:
            moved += bool(await redis.renamenx(old, new))
        except ResponseError:  # gone meanwhile: another node starting moved it
            continue
    await redis.set(layout_marker(), LAYOUT_VERSION)
    if moved:
        log.info("moved %d catalog keys to their {cat} names (livecart's new key layout)", moved)
    return moved
