"""The show's video ingest as Redis holds it: who streams, from which node, in what
codec and size. Every change is one script that also appends its event when viewers
must hear of it (invariant 1): ``stream_started`` when the first keyframe arrives,
``stream_ended`` when a live stream stops. The node that holds an ingest renews a lease;
when that node dies, any node's sweep ends the stream once the lease has run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from livecart.errors import Conflict, NotFound
from livecart.store import keys
from livecart.store.scripts import Scripts


def stream_keys(show: str) -> list[str]:
    return [keys.show(show), keys.show_events(show)]


@dataclass(frozen=True)
class Claimed:
    replaced_session: str | None
    replaced_node: str | None


async def claim(
    scripts: Scripts, show: str, session: str, node: str, url: str, lease_ms: int
) -> Claimed:
    reply: list[Any] = await scripts["stream_claim"](
        keys=stream_keys(show), args=[session, node, url, lease_ms]
    )
    if reply[0] == "refused":
        if reply[1] == "not_found":
            raise NotFound(f"show {show!r} does not exist", field="show")
        raise Conflict("the show has ended", code="show_ended")
    return Claimed(replaced_session=reply[1] or None, replaced_node=reply[2] or None)


async def go_live(
    scripts: Scripts,
    show: str,
    session: str,
    *,
    codec: str,
    size: tuple[int, int] | None,
    marker: bool,
    lease_ms: int,
    maxlen: int,
    play: list[str],
    hls_url: str | None,
) -> str:
    """'live' (announced now), 'unchanged', or 'lost' (no longer the show's ingest).
    ``play``: the ways pages may watch, in the order they try them."""
    width, height = size or (0, 0)
    reply: list[Any] = await scripts["stream_live"](
        keys=stream_keys(show),
        args=[
            session,
            codec,
            width,
            height,
            "1" if marker else "0",
            lease_ms,
            maxlen,
            ",".join(play),
            hls_url or "",
        ],
    )
    return str(reply[0])


async def renew(scripts: Scripts, show: str, session: str, lease_ms: int) -> bool:
    """False when the session no longer holds the show's stream."""
    reply: list[Any] = await scripts["stream_renew"](
        keys=stream_keys(show), args=[session, lease_ms]
    )
    return bool(reply[0] == "renewed")


async def end(
    scripts: Scripts,
    show: str,
    session: str | None,
    reason: str,
    *,
    maxlen: int,
    only_if_expired: bool = False,
) -> bool:
    """True when this call ended the stream."""
    reply: list[Any] = await scripts["stream_end"](
        keys=stream_keys(show),
        args=[session or "", reason, "1" if only_if_expired else "0", maxlen],
    )
    return bool(reply[0] == "ended")


@dataclass(frozen=True)
class StreamInfo:
    session: str
    state: str  # 'pending' or 'live'
    node: str
    url: str
    codec: str | None


async def stream_info(redis: Redis, show: str) -> StreamInfo | None:
    """Where the show's ingest is, or None when it has none (or does not exist)."""
    values = await redis.hmget(
        keys.show(show),
        ["stream_session", "stream_state", "stream_node", "stream_url", "stream_codec"],
    )
    session, state, node, url, codec = (str(v) if v is not None else "" for v in values)
    if not session:
        return None
    return StreamInfo(session, state or "pending", node, url, codec or None)


def stream_view(show_hash: dict[str, str]) -> dict[str, Any] | None:
    """The snapshot's ``stream``: null unless the show's video is live."""
    if show_hash.get("stream_state") != "live":
        return None
    return {
        "session": show_hash["stream_session"],
        "codec": show_hash.get("stream_codec"),
        "width": int(show_hash.get("stream_width") or 0),
        "height": int(show_hash.get("stream_height") or 0),
        "marker": show_hash.get("stream_marker") == "1",
        "started_at_ms": int(show_hash.get("stream_started_at") or 0),
        "play": (show_hash.get("stream_play") or "whep").split(","),
        "hls_url": show_hash.get("stream_hls") or None,
    }
