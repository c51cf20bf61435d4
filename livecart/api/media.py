"""Video over HTTP: WHIP ingest (RFC 9725) for the show's streamer, WHEP playback for
its viewers. Both take an SDP offer (``application/sdp``) and answer with SDP; the
resource URL in ``Location`` ends the session with DELETE. No trickle ICE: every
server candidate is in the answer, and a publisher that sends none (OBS) is learned
from its connectivity checks. Errors are the API's JSON shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import authorized, json_response, read_body, runtime_of
from livecart.api.endpoint import RAW, endpoint
from livecart.auth.roles import Action
from livecart.errors import (
    Forbidden,
    InvalidInput,
    LivecartError,
    TokenMissing,
    UnsupportedMediaType,
)
from livecart.hub.moderation import standing
from livecart.media.janus import KEEPALIVE_MS
from livecart.media.node import MediaNode, StreamElsewhere
from livecart.store.keys import check_id

SDP = "application/sdp"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Retry-After",
}


def _media(request: Request) -> MediaNode:
    node: MediaNode = request.state.media
    return node


def _show(request: Request) -> str:
    return check_id(request.path_params["show"], "show")


async def _offer(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != SDP:
        raise UnsupportedMediaType(
            f"the body must be an SDP offer sent as Content-Type: {SDP} "
            f"(got {content_type or 'none'})",
            field="content-type",
        )
    return await read_body(request, _media(request).settings.max_sdp_bytes)


def _node_url(request: Request) -> str:
    """Where viewers on other nodes are sent for this node's video: server.public_url,
    else the address the publisher reached it at."""
    public = runtime_of(request).settings.server.public_url
    return public.rstrip("/") if public else str(request.base_url).rstrip("/")


def _ice_links(request: Request) -> str:
    """RFC 9725 section 4.6: the ICE servers a client should use, as Link headers."""
    media = runtime_of(request).settings.media
    links = []
    for url in media.ice_servers.split():
        link = f'<{url}>; rel="ice-server"'
        if url.startswith(("turn:", "turns:")):
            link += f'; username="{media.ice_username}"; credential="{media.ice_credential}"'
            link += '; credential-type="password"'
        links.append(link)
    return ", ".join(links)


def _created(request: Request, location: str, session: str, answer: str) -> Response:
    headers = {**CORS, "Location": location, "ETag": f'"{session}"'}
    links = _ice_links(request)
    if links:
        headers["Link"] = links
    return Response(answer, status_code=201, media_type=SDP, headers=headers)


def _counted(request: Request, exc: LivecartError) -> None:
    refusals = _media(request).stats.refusals
    refusals[exc.code] = refusals.get(exc.code, 0) + 1


# -- WHIP ---------------------------------------------------------------------------


def _publisher(request: Request, show: str) -> str:
    """The streamer of this show (or an admin): the only ones who may go live."""
    claims = authorized(request, Action.PUBLISH, show)
    if claims is None:
        raise TokenMissing("going live needs the streamer's token (Authorization: Bearer)")
    return claims.sub


async def whip_publish(request: Request) -> Response:
    try:
        show = _show(request)
        _publisher(request, show)
        body = await _offer(request)
        session, answer = await _media(request).publish(show, body, _node_url(request))
    except LivecartError as exc:
        _counted(request, exc)
        raise
    return _created(request, f"/api/shows/{show}/whip/{session}", session, answer)


async def whip_end(request: Request) -> Response:
    show = _show(request)
    _publisher(request, show)
    session = check_id(request.path_params["session"], "session")
    await _media(request).unpublish(show, session)
    return Response(status_code=200, headers=CORS)


# -- WHEP ---------------------------------------------------------------------------


async def _may_watch(request: Request, show: str) -> None:
    """Whoever may watch the show (a token unless anonymous viewers), and not banned."""
    claims = authorized(request, Action.WATCH, show)
    banned = (
        claims is not None
        and claims.role != "admin"
        and (await standing(runtime_of(request).redis, show, claims.sub)).banned
    )
    if banned:
        raise Forbidden("you are banned from this show", code="banned")


async def whep_play(request: Request) -> Response:
    try:
        show = _show(request)
        await _may_watch(request, show)
        body = await _offer(request)
        session, answer = await _media(request).play(show, body)
    except StreamElsewhere as elsewhere:
        # 307 keeps the method and body: the player posts the same offer there.
        location = f"{elsewhere.url}/api/shows/{show}/whep"
        return Response(status_code=307, headers={**CORS, "Location": location})
    except LivecartError as exc:
        _counted(request, exc)
        raise
    return _created(request, f"/api/shows/{show}/whep/{session}", session, answer)


async def whep_end(request: Request) -> Response:
    """The resource URL is the viewer's capability (96 random bits), as WHEP intends."""
    show = _show(request)
    session = check_id(request.path_params["session"], "session")
    await _media(request).stop_playing(show, session)
    return Response(status_code=200, headers=CORS)


# -- Janus: viewers past this node's WHEP cap ------------------------------------------
#
# Janus offers and the viewer answers, so standard WHEP players cannot play from it: the
# page asks livecart for Janus' offer, answers through livecart, and keeps the session
# alive through livecart. The session id in the URL is a token naming the instance and
# Janus' session, signed by livecart: any node relays it, no page reaches another's.


def _janus_session(request: Request) -> str:
    return check_id(request.path_params["session"], "session")


async def janus_watch(request: Request) -> Response:
    try:
        show = _show(request)
        await _may_watch(request, show)
        avoid = request.query_params.get("avoid")
        if avoid is not None:
            check_id(avoid, "avoid")  # an instance's name (janus1, ...); others avoid none
        watching = await _media(request).janus_watch(show, avoid)
    except LivecartError as exc:
        _counted(request, exc)
        raise
    body = {
        "session": watching.token,
        "offer": watching.offer,
        "instance": watching.instance.name,
        "keepalive_ms": KEEPALIVE_MS,
    }
    location = f"/api/shows/{show}/janus/{watching.token}"
    response = json_response(body, status=201)
    response.headers.update({**CORS, "Location": location})
    links = _ice_links(request)
    if links:
        response.headers["Link"] = links
    return response


async def janus_answer(request: Request) -> Response:
    show = _show(request)
    session = _janus_session(request)
    _media(request).janus.session_of(show, session)  # an unknown session before the body
    answer = (await _offer(request)).decode("utf-8", errors="replace")
    if not answer.startswith("v=0"):
        raise InvalidInput("the body must be the SDP answer to Janus' offer", field="body")
    await _media(request).janus.answer(show, session, answer)
    return Response(status_code=204, headers=CORS)


async def janus_keepalive(request: Request) -> Response:
    await _media(request).janus.keepalive(_show(request), _janus_session(request))
    return Response(status_code=204, headers=CORS)


async def janus_end(request: Request) -> Response:
    await _media(request).janus.hang_up(_show(request), _janus_session(request))
    return Response(status_code=200, headers=CORS)


# -- what every WHIP/WHEP URL answers ------------------------------------------------


def _options(methods: str, *, accepts_offers: bool) -> Response:
    headers = {
        **CORS,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "86400",
        "Allow": methods,
    }
    if accepts_offers:
        headers["Accept-Post"] = SDP
    return Response(status_code=204, headers=headers)


async def endpoint_options(request: Request) -> Response:
    return _options("POST, OPTIONS", accepts_offers=True)


async def resource_options(request: Request) -> Response:
    return _options("DELETE, OPTIONS", accepts_offers=False)


async def resource_patch(request: Request) -> Response:
    """No trickle ICE and no ICE restart: the answer already holds every candidate."""
    return Response(
        b'{"error":"method_not_allowed","message":"livecart does not take trickled '
        b'candidates or ICE restarts: the answer already has every candidate"}',
        status_code=405,
        media_type="application/json",
        headers={**CORS, "Allow": "DELETE, OPTIONS"},
    )


# Offers are SDP, read by the handlers (RAW); preflights and PATCH answer as they are.
SHOW = ("show",)
routes = [
    endpoint("/api/shows/{show}/whip", "POST", whip_publish, body=RAW, exists=SHOW),
    Route("/api/shows/{show}/whip", endpoint_options, methods=["OPTIONS"]),
    endpoint("/api/shows/{show}/whip/{session}", "DELETE", whip_end, exists=SHOW),
    Route("/api/shows/{show}/whip/{session}", resource_patch, methods=["PATCH"]),
    Route("/api/shows/{show}/whip/{session}", resource_options, methods=["OPTIONS"]),
    endpoint("/api/shows/{show}/whep", "POST", whep_play, body=RAW, exists=SHOW),
    Route("/api/shows/{show}/whep", endpoint_options, methods=["OPTIONS"]),
    endpoint("/api/shows/{show}/whep/{session}", "DELETE", whep_end, exists=SHOW),
    Route("/api/shows/{show}/whep/{session}", resource_patch, methods=["PATCH"]),
    Route("/api/shows/{show}/whep/{session}", resource_options, methods=["OPTIONS"]),
    endpoint("/api/shows/{show}/janus", "POST", janus_watch, query=("avoid",), exists=SHOW),
    endpoint(
        "/api/shows/{show}/janus/{session}/answer", "POST", janus_answer, body=RAW, exists=SHOW
    ),
    endpoint("/api/shows/{show}/janus/{session}/keepalive", "POST", janus_keepalive, exists=SHOW),
    endpoint("/api/shows/{show}/janus/{session}", "DELETE", janus_end, exists=SHOW),
]
