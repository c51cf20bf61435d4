"""Every WHIP and WHEP refusal: the right status, a JSON body that names the problem,
and nothing changed (no claim on the show, no event, no session on the node)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from livecart.config import Settings
from livecart.media.node import MediaNode
from tests.commerce.conftest import seed_show
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer, serve_app
from tests.media.conftest import stream_fields, streamer
from tests.media.peers import post_sdp, publish, watch
from tests.media.test_whip_whep import wait_live

SHOW = "s1"

AV1_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 98\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 "
    + ":".join(["AB"] * 32)
    + "\r\na=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:96 AV1/90000\r\na=rtpmap:98 H265/90000\r\n"
)


def media(server: LiveServer) -> MediaNode:
    node: MediaNode = server.app.state.media
    return node


async def events_count(server: LiveServer) -> int:
    return int(await server.runtime.redis.xlen(f"lc:{{s:{SHOW}}}:events"))


async def assert_unchanged(server: LiveServer, events_before: int) -> None:
    assert await stream_fields(server) == {}
    assert await events_count(server) == events_before
    assert media(server).ingests == {}
    assert media(server).viewers == {}


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        (None, 401, "token_missing"),
        ("forged", 401, "token_invalid"),
        (("ana", "viewer", None), 403, "forbidden"),
        (("mo", "moderator", SHOW), 403, "forbidden"),
        (("c1", "streamer", "other-show"), 403, "forbidden"),
    ],
)
async def test_only_the_shows_streamer_or_an_admin_may_go_live(
    live: LiveServer, clip: Path, who: object, status: int, code: str
) -> None:
    if who is None:
        headers = {}
    elif who == "forged":
        headers = {"Authorization": "Bearer not-a-token"}
    else:
        sub, role, show = who  # type: ignore[misc]
        headers = bearer(sub, role, show)  # minted now: a long run must not expire it
    before = await events_count(live)
    publisher = await publish(live.url, SHOW, headers, clip)
    assert publisher.response.status_code == status
    assert publisher.response.json()["error"] == code
    await assert_unchanged(live, before)
    await publisher.close()


async def test_an_admin_token_may_go_live(live: LiveServer, clip: Path) -> None:
    publisher = await publish(live.url, SHOW, bearer("root", "admin"), clip)
    assert publisher.response.status_code == 201
    await wait_live(live)
    await publisher.close()


async def test_whip_refuses_a_body_that_is_not_sdp(live: LiveServer) -> None:
    before = await events_count(live)
    async with httpx.AsyncClient(base_url=live.url) as client:
        wrong_type = await client.post(
            f"/api/shows/{SHOW}/whip",
            content=AV1_OFFER,
            headers={**streamer(), "Content-Type": "application/json"},
        )
        not_sdp = await client.post(
            f"/api/shows/{SHOW}/whip",
            content="hello",
            headers={**streamer(), "Content-Type": "application/sdp"},
        )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"] == "unsupported_media_type"
    assert "application/sdp" in wrong_type.json()["message"]
    assert not_sdp.status_code == 400
    assert not_sdp.json() == {
        "error": "invalid",
        "message": "the body is not an SDP offer (it must start with v=0)",
        "field": "body",
    }
    await assert_unchanged(live, before)


async def test_whip_refuses_av1_and_hevc_with_the_reason(live: LiveServer) -> None:
    before = await events_count(live)
    response = await post_sdp(f"{live.url}/api/shows/{SHOW}/whip", AV1_OFFER, streamer())
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "codec_unsupported"
    assert "AV1, H265" in body["message"] and "H.264" in body["message"]
    await assert_unchanged(live, before)


async def test_whip_refuses_h264_it_cannot_packetize(live: LiveServer) -> None:
    """Packetization mode 0 (one NAL unit per packet) only: nothing to negotiate."""
    before = await events_count(live)
    offer = AV1_OFFER.replace("a=rtpmap:96 AV1/90000\r\na=rtpmap:98 H265/90000\r\n", "")
    offer = offer.replace("SAVPF 96 98", "SAVPF 96") + (
        "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=0;profile-level-id=42e01f\r\n"
    )
    response = await post_sdp(f"{live.url}/api/shows/{SHOW}/whip", offer, streamer())
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "codec_unsupported"
    assert "packetization-mode=1" in response.json()["message"]
    await assert_unchanged(live, before)


async def test_whip_to_a_show_that_does_not_exist_or_has_ended(
    live: LiveServer, clip: Path
) -> None:
    missing = await publish(live.url, "nope", bearer("c1", "streamer", "nope"), clip)
    assert missing.response.status_code == 404
    assert missing.response.json()["field"] == "show"
    async with httpx.AsyncClient(base_url=live.url) as client:
        await client.post(f"/api/shows/{SHOW}/end", headers=streamer())
    before = await events_count(live)
    ended = await publish(live.url, SHOW, streamer(), clip)
    assert ended.response.status_code == 409
    assert ended.response.json()["error"] == "show_ended"
    await assert_unchanged(live, before)
    await missing.close()
    await ended.close()


async def test_whep_before_the_stream_is_live_says_when_to_retry(live: LiveServer) -> None:
    before = await events_count(live)
    viewer = await watch(live.url, SHOW)
    assert viewer.response.status_code == 409
    assert viewer.response.json()["error"] == "stream_offline"
    assert viewer.response.headers["retry-after"] == "2"
    missing = await watch(live.url, "nope")
    assert missing.response.status_code == 404
    await assert_unchanged(live, before)


async def test_whep_past_the_nodes_cap_is_refused_and_points_at_the_large_audience_path(
    settings: Settings, redis: object, clip: Path
) -> None:
    capped = settings.with_overrides({"media": {"max_whep_viewers": 1}})
    async with serve_app(capped) as server:
        await seed_show(server.runtime)
        publisher = await publish(server.url, SHOW, streamer(), clip)
        await wait_live(server)
        first = await watch(server.url, SHOW)
        assert first.response.status_code == 201
        refused = await watch(server.url, SHOW)
        assert refused.response.status_code == 503
        body = refused.response.json()
        assert body["error"] == "viewer_cap"
        assert "docs/video.md" in body["message"]
        assert refused.response.headers["retry-after"] == "10"
        assert len(media(server).viewers) == 1
        await first.close()
        await publisher.close()


async def test_whep_refuses_a_banned_viewer_and_an_offer_that_does_not_receive(
    live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    await wait_live(live)
    await live.runtime.redis.sadd(f"lc:{{s:{SHOW}}}:bans", "bob")
    banned = await watch(live.url, SHOW, bearer("bob"))
    assert banned.response.status_code == 403
    assert banned.response.json()["error"] == "banned"
    sending = AV1_OFFER.replace("AV1/90000", "H264/90000")
    wrong = await post_sdp(f"{live.url}/api/shows/{SHOW}/whep", sending)
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "wrong_direction"
    assert media(live).viewers == {}
    await publisher.close()


async def test_whip_and_whep_resources_answer_options_patch_and_unknown_delete(
    live: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        options = await client.options(f"/api/shows/{SHOW}/whip")
        patch = await client.patch(f"/api/shows/{SHOW}/whip/in_x", headers=streamer())
        unknown = await client.delete(f"/api/shows/{SHOW}/whip/in_x", headers=streamer())
        unknown_viewer = await client.delete(f"/api/shows/{SHOW}/whep/wh_x")
        not_mine = await client.delete(f"/api/shows/{SHOW}/whip/in_x", headers=bearer())
    assert options.status_code == 204
    assert options.headers["accept-post"] == "application/sdp"
    assert options.headers["access-control-allow-origin"] == "*"
    for header in ("Authorization", "Content-Type", "If-Match"):
        assert header in options.headers["access-control-allow-headers"]
    for header in ("Location", "ETag", "Link"):
        assert header in options.headers["access-control-expose-headers"]
    assert patch.status_code == 405
    assert patch.headers["allow"] == "DELETE, OPTIONS"
    assert unknown.status_code == 404
    assert unknown_viewer.status_code == 404
    assert not_mine.status_code == 403


async def test_video_can_be_turned_off(settings: Settings, redis: object, clip: Path) -> None:
    off = settings.with_overrides({"media": {"enabled": False}})
    async with serve_app(off) as server:
        await seed_show(server.runtime)
        publisher = await publish(server.url, SHOW, streamer(), clip)
        assert publisher.response.status_code == 503
        assert publisher.response.json()["error"] == "media_disabled"
        await publisher.close()


async def test_the_merchant_api_key_is_not_a_publisher_token(live: LiveServer, clip: Path) -> None:
    publisher = await publish(live.url, SHOW, {"X-API-Key": STRONG_ADMIN_KEY}, clip)
    assert publisher.response.status_code == 401
    await publisher.close()
