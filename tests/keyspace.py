"""A snapshot of the whole Redis keyspace, to show that a refused request changed nothing.

Every key is read with its type, its value (``DUMP``: the exact serialised value, so a
changed hash field, a reordered list or a new set member all show) and its absolute
expiry (``PEXPIRETIME``: a refused request that refreshes a TTL shows too). Valkey's
``DEBUG DIGEST`` would be cheaper, but the bundled server runs with debug commands off.

What changes on its own, whatever the requests do, is left out or read so that it does
not count. Found by running the node idle with a live show, open sockets, an order, a
cart, a flash sale and a failing webhook, and reading the keyspace every 250 ms for ten
seconds (see the report of issue 15):

- ``lc:{s:SHOW}:presence`` (left out): each node rewrites its own viewer count of every
  show it serves each ``hub.presence_interval_ms``, with a fresh expiry in the value.
- the ``viewers`` field of ``lc:{s:SHOW}:show`` and the ``viewers`` events of
  ``lc:{s:SHOW}:events`` (left out of those two keys only): the presence loop sums the
  reports and appends a ``viewers`` event when the total changes, which opening or
  closing a socket does a moment later.
- streams are compared by their entries (``XRANGE``), not their ``DUMP``: a consumer
  group's bookkeeping (a consumer's seen-time, delivery counts) changes each time a node
  polls the outbox, and is no request's doing.
- a show's outbox ``lc:{s:SHOW}:outbox`` is compared by what was ever appended to it
  (``XINFO STREAM``: entries-added, last-generated-id), not by its entries: the order
  consumers trim what both groups have acknowledged (XTRIM MINID) a moment after an
  order, whatever the requests since.
- what the order consumers build from the outboxes (left out): the order copies
  ``lc:order:*`` and their index ``lc:orders``, each buyer's ``lc:buyer:*:orders``,
  each creator's ``lc:{c:*}:*`` ledger and earnings, and the webhook deliveries
  ``lc:webhook:*``, ``lc:webhooks:due``, ``lc:webhooks:dead``,
  ``lc:{cat}:brand:*:webhook:deliveries`` (retries rewrite these until delivered). They are
  written a moment after an order, by a node's loop; an order a request made shows at
  once in the show's own keys (``:orders``, ``:order:ID``, ``:events``, the outbox),
  which are compared.

Other background work changes keys only when there is work to do: the hold reaper
(holds that expire: minutes after a cart change), the flash sale sweep (a sale whose
window passed), signup counters expiring. The tests' worlds hold none of those, so they
are not excluded: a key they touch would be a request's doing. Rate-limit buckets of
the hub live in the node's memory, not in Redis; the one counter kept in Redis
(``lc:signups:*``) must not move for a refused sign-up, so it is compared like
everything else.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from redis.asyncio import Redis

# Keys rewritten by a node's own loops, never by a request (see above).
VOLATILE = re.compile(
    rb"^lc:(\{s:[^}]*\}:presence"  # each node's viewer counts, every presence interval
    rb"|order:.*|orders|buyer:.*:orders|\{c:[^}]*\}:.*"  # projections of the outboxes
    rb"|webhook:.*|webhooks:due|webhooks:dead|\{cat\}:brand:.*:webhook:deliveries"  # deliveries
    rb"|node:.*|nodes"  # each node's heartbeat, every half second
    rb"|\{s:[^}]*\}:show:durable)$"  # a confirmation's marker for WAITAOF (short TTL)
)
SHOW_HASH = re.compile(rb"^lc:\{s:[^}]*\}:show$")
OUTBOX = re.compile(rb"^lc:\{s:[^}]*\}:outbox$")

Snapshot = dict[bytes, tuple[bytes, Any, int]]


async def snapshot(redis: Redis) -> Snapshot:
    """Every key but the volatile ones: key -> (type, value, absolute expiry in ms or -1).
    ``redis`` must not decode responses (DUMP is bytes)."""
    names = [key async for key in redis.scan_iter(count=1000) if not VOLATILE.match(key)]
    async with redis.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.type(key)
            pipe.pexpiretime(key)
        typed = await pipe.execute()
    kinds: list[bytes] = typed[0::2]
    expiries: list[int] = typed[1::2]
    async with redis.pipeline(transaction=False) as pipe:
        for key, kind in zip(names, kinds, strict=True):
            if kind == b"stream" and OUTBOX.match(key):
                pipe.xinfo_stream(key)
            elif kind == b"stream":
                pipe.xrange(key)
            elif kind == b"hash" and SHOW_HASH.match(key):
                pipe.hgetall(key)
            else:
                pipe.dump(key)
        values = await pipe.execute()
    state: Snapshot = {}
    for key, kind, expiry, value in zip(names, kinds, expiries, values, strict=True):
        if kind == b"none":
            continue  # expired or deleted between the SCAN and the read
        if kind == b"stream" and OUTBOX.match(key):
            value = (value["entries-added"], value["last-generated-id"])
        elif kind == b"stream":
            value = [entry for entry in value if entry[1].get(b"type") != b"viewers"]
        elif kind == b"hash" and SHOW_HASH.match(key):
            value = {k: v for k, v in value.items() if k != b"viewers"}
        state[key] = (kind, value, expiry)
    return state


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed, one line per key, for a failure message."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            lines.append(f"created {key.decode(errors='replace')} ({after[key][0].decode()})")
        elif key not in after:
            lines.append(f"deleted {key.decode(errors='replace')}")
        elif before[key] != after[key]:
            kind, old, old_expiry = before[key]
            _, new, new_expiry = after[key]
            what = "expiry" if old == new else "value"
            detail = ""
            if kind == b"stream" and what == "value" and isinstance(new, list):
                added = [
                    (entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
                    for entry_id, fields in new
                    if (entry_id, fields) not in old
                ]
                detail = f": appended {orjson.dumps(added).decode()[:300]}"
            elif what == "expiry":
                detail = f": {old_expiry} -> {new_expiry}"
            lines.append(f"changed {what} of {key.decode(errors='replace')}{detail}")
    return lines
