"""Show events as the hub carries them: read from the show's stream, folded per tick,
encoded once and framed once per audience.

Each event is encoded once, when it is read (``HubEvent.raw``); a frame is the raw
events joined, so neither a tick nor a replay re-encodes anything per viewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from livecart.hub.wire import text_frame

StreamId = tuple[int, int]

_STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")

# Events only staff sockets receive: who was muted or banned, the blocked-word list, an
# order's lifecycle move (another buyer's order is none of a viewer's business).
STAFF_ONLY = frozenset(
    {
        "muted",
        "unmuted",
        "banned",
        "unbanned",
        "blocked_keywords",
        "order_status",
        "auction_status",  # a winner's payment: declined, offered to the runner-up, paid
        "giveaway_status",
    }
)
# Events of which a tick keeps only the latest per auction or giveaway: each carries
# the whole running state (price, leader, end; entrant count).
LATEST_PER_ITEM = {"bid": "auction", "auction_extended": "auction", "giveaway_entries": "giveaway"}
# State a viewer gets again in full (latest stock per product, the viewer count) or that
# is only a count (reactions): a frame made only of these may be skipped for a socket
# that is behind, and a resume carries their current values.
COALESCABLE = frozenset({"stock", "viewers", "reactions"})


def parse_stream_id(value: str) -> StreamId | None:
    """``"1700000000000-3"`` -> (1700000000000, 3); None when it is not a stream id."""
    match = _STREAM_ID.match(value)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


@dataclass(slots=True)
class HubEvent:
    id: str
    key: StreamId
    type: str
    data: dict[str, Any]
    raw: bytes  # {"id":..,"type":..,"data":..} as every client receives it
    staff_only: bool

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> HubEvent:
        kind = fields.get("type", "unknown")
        data_json = fields.get("data") or "{}"
        try:
            data = orjson.loads(data_json)
        except orjson.JSONDecodeError:
            data, data_json = {}, "{}"
        if not isinstance(data, dict):
            data, data_json = {"value": data}, orjson.dumps({"value": data}).decode()
        body: dict[str, Any] = {"id": entry_id, "type": kind}
        # The stored JSON goes out as it is: only the envelope is encoded here.
        raw = orjson.dumps(body)[:-1] + b',"data":' + data_json.encode() + b"}"
        key = parse_stream_id(entry_id) or (0, 0)
        return cls(entry_id, key, kind, data, raw, kind in STAFF_ONLY)

    @classmethod
    def made(cls, entry_id: str, kind: str, data: dict[str, Any]) -> HubEvent:
        raw = orjson.dumps({"id": entry_id, "type": kind, "data": data})
        key = parse_stream_id(entry_id) or (0, 0)
        return cls(entry_id, key, kind, data, raw, kind in STAFF_ONLY)


def fold(events: Sequence[HubEvent]) -> list[HubEvent]:
    """One tick's events, folded: the latest stock per product, the latest viewer count
    and the latest bid, extension and entrant count per auction or giveaway replace
    earlier ones (each kept where its latest copy stood); reaction counts are summed into
    one event at the place of the last; everything else keeps its order."""
    latest: dict[tuple[str, str], int] = {}
    reaction_totals: dict[str, int] = {}
    last_reactions = -1
    for index, event in enumerate(events):
        if event.type == "stock":
            latest[("stock", str(event.data.get("sku")))] = index
        elif event.type == "viewers":
            latest[("viewers", "")] = index
        elif event.type in LATEST_PER_ITEM:
            latest[(event.type, str(event.data.get(LATEST_PER_ITEM[event.type])))] = index
        elif event.type == "reactions":
            last_reactions = index
            counts = event.data.get("counts")
            if isinstance(counts, dict):
                for kind, n in counts.items():
                    if isinstance(n, int):
                        reaction_totals[kind] = reaction_totals.get(kind, 0) + n
    keep = set(latest.values())
    folded: list[HubEvent] = []
    for index, event in enumerate(events):
        if event.type in ("stock", "viewers") or event.type in LATEST_PER_ITEM:
            if index in keep:
                folded.append(event)
        elif event.type == "reactions":
            if index == last_reactions:
                if reaction_totals == event.data.get("counts"):
                    folded.append(event)
                else:
                    folded.append(HubEvent.made(event.id, "reactions", {"counts": reaction_totals}))
        else:
            folded.append(event)
    return folded


def events_payload(
    epoch: str, last_id: str, events: Iterable[HubEvent], *, replay: bool = False
) -> bytes:
    """The JSON of an ``events`` message; ``last`` is the newest stream id it covers
    (events the audience does not receive included), the id a client resumes from."""
    head = b'{"type":"events","epoch":' + orjson.dumps(epoch) + b',"last":' + orjson.dumps(last_id)
    if replay:
        head += b',"replay":true'
    return head + b',"events":[' + b",".join(e.raw for e in events) + b"]}"


def events_frame(
    epoch: str, last_id: str, events: Iterable[HubEvent], *, replay: bool = False
) -> bytes:
    return text_frame(events_payload(epoch, last_id, events, replay=replay))
