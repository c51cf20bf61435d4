"""HLS over HTTP: ``GET /hls/{show}/{name}`` (and HEAD) serves the playlist, init
segment and media segments the node's ffmpeg writes for a show whose ingest it holds
(livecart.media.hls). Any other node answers 307 to the ingest node's URL, as WHEP does;
a show with no HLS anywhere is 404 in the API's JSON shape.

The playlist changes every segment: ``Cache-Control: no-cache``. Segments never change
once listed: a long ``max-age``, so a CDN in front keeps them. Players on any origin may
fetch them (``Access-Control-Allow-Origin: *``).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import runtime_of
from livecart.api.endpoint import endpoint
from livecart.errors import NotFound
from livecart.media import state
from livecart.media.hls import INIT, PLAYLIST, served_name
from livecart.media.node import MediaNode
from livecart.store.keys import check_id

CORS = {"Access-Control-Allow-Origin": "*"}
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CACHE = "public, max-age=86400, immutable"


def _content(name: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) of one of a show's HLS files."""
    if name == PLAYLIST:
        return PLAYLIST_TYPE, "no-cache"
    if name == INIT:
        # Rewritten if ffmpeg restarts; only within the same stream, same parameters.
        return "video/mp4", "public, max-age=60"
    return "video/iso.segment", SEGMENT_CACHE


async def hls_file(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    name = request.path_params["name"]
    if not served_name(name):
        raise NotFound(f"{name[:80]!r} is not an HLS file of show {show!r}", field="name")
    media: MediaNode = request.state.media
    path = media.hls.path_for(show, name)
    if path is None:
        info = await state.stream_info(runtime_of(request).redis, show)
        if info is not None and info.node != media.node_id and info.url:
            location = f"{info.url}/hls/{show}/{name}"
            return Response(status_code=307, headers={**CORS, "Location": location})
        raise NotFound(f"show {show!r} has no HLS on this node", field="show")
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        # Not written yet (the stream just started) or already deleted (it moved on).
        raise NotFound(f"{name} of show {show!r} is not there (yet)", field="name") from None
    content_type, cache = _content(name)
    return Response(body, media_type=content_type, headers={**CORS, "Cache-Control": cache})


# Through the one edge (ids checked, no query, no body); GET answers HEAD too.
routes = [endpoint("/hls/{show}/{name}", "GET", hls_file)]
