"""Going live and watching, end to end with real WebRTC peers: an OBS-like publisher
(no candidates in its offer, H.264 + Opus sent as they are) and WHEP viewers that read
the marker of every frame and decode the frames themselves."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import httpx

from livecart.media.marker import read_marker
from livecart.media.node import MediaNode
from tests.helpers import LiveServer
from tests.hub.live import HubClient, ws_url
from tests.media.conftest import stream_fields, streamer
from tests.media.peers import publish, watch

SHOW = "s1"


async def wait_live(
    server: LiveServer, show: str = SHOW, within: float = 10.0
) -> dict[str, object]:
    """The snapshot's ``stream`` once the show's video is live."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.url) as client:
        while time.monotonic() < deadline:
            stream = (await client.get(f"/api/shows/{show}")).json()["stream"]
            if stream is not None:
                return dict(stream)
            await asyncio.sleep(0.05)
    raise AssertionError(f"the video of {show} did not go live within {within}s")


async def test_an_obs_like_publisher_goes_live_and_a_viewer_decodes_marked_frames(
    live: LiveServer, clip: Path
) -> None:
    async with await HubClient.open(ws_url(live)) as hub:
        publisher = await publish(live.url, SHOW, streamer(), clip)
        assert publisher.response.status_code == 201, publisher.response.text
        answer = publisher.response.text
        assert answer.startswith("v=0")
        assert "a=candidate:" in answer  # every server candidate, nothing to trickle
        assert publisher.location is not None
        assert publisher.location.startswith(f"/api/shows/{SHOW}/whip/")
        assert publisher.response.headers["etag"].strip('"') in publisher.location

        started = await hub.event("stream_started", within=10)
        data = started["data"]
        assert data["codec"] == "H264"
        assert (data["width"], data["height"]) == (640, 360)
        assert data["marker"] is True
        stream = await wait_live(live)
        assert stream["session"] == data["session"]

        viewer = await watch(live.url, SHOW)
        assert viewer.response.status_code == 201, viewer.response.text
        assert "a=sendonly" in viewer.response.text
        await viewer.wait_for_frames(90)

        frames = viewer.video
        assert frames[0].keyframe, "a viewer must start on a keyframe"
        markers = [f.marker for f in frames]
        assert None not in markers, "every frame carries its position"
        assert markers == sorted(markers)
        # Positions are Redis time (ms) of arrival at the ingest: 30 fps is ~33 ms apart.
        gaps = [b - a for a, b in itertools.pairwise(markers)]
        assert 20 <= sum(gaps) / len(gaps) <= 50
        server_ms = int(data["started_at_ms"])
        assert abs(markers[0] - server_ms) < 10_000
        pictures = viewer.decoded()
        assert len(pictures) >= 85
        assert {(p.width, p.height) for p in pictures} == {(640, 360)}
        brightest = max(max(bytes(p.planes[0])) for p in pictures[:10])
        assert brightest > 200, "decoded pictures are real, not black"
        assert viewer.audio_frames > 0

        # The publisher leaves: the stream ends for everyone, and the viewer's track ends.
        async with httpx.AsyncClient(base_url=live.url) as client:
            deleted = await client.delete(publisher.location, headers=streamer())
        assert deleted.status_code == 200
        ended = await hub.event("stream_ended", within=5)
        assert ended["data"] == {"session": data["session"], "reason": "publisher_left"}
        await asyncio.wait_for(viewer.ended.wait(), 10)
        assert await stream_fields(live) == {}
        async with httpx.AsyncClient(base_url=live.url) as client:
            assert (await client.get(f"/api/shows/{SHOW}")).json()["stream"] is None
        await viewer.close()
        await publisher.close()


async def test_a_second_ingest_replaces_the_first_and_viewers_play_on(
    live: LiveServer, clip: Path
) -> None:
    first = await publish(live.url, SHOW, streamer(), clip)
    assert first.response.status_code == 201
    first_session = (await wait_live(live))["session"]
    viewer = await watch(live.url, SHOW)
    await viewer.wait_for_frames(30)

    # The streamer's network blips; OBS reconnects with a new offer while the old
    # session still looks alive to the server.
    second = await publish(live.url, SHOW, streamer(), clip)
    assert second.response.status_code == 201, second.response.text
    before = len(viewer.video)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stream = await wait_live(live)
        if stream["session"] != first_session:
            break
        await asyncio.sleep(0.05)
    assert stream["session"] != first_session
    await viewer.wait_for_frames(before + 60)

    after = viewer.video[before:]
    restart = next(i for i, f in enumerate(after) if f.keyframe)
    assert all(f.marker is not None for f in after)
    # No jump backwards in the viewer's timestamps across the switch.
    pts = [f.pts for f in viewer.video]
    assert pts == sorted(pts)
    assert len(after) - restart >= 30
    fields = await stream_fields(live)
    assert fields["stream_session"] == stream["session"]
    assert first.pc.connectionState in ("closed", "failed", "connected")
    await viewer.close()
    await first.close()
    await second.close()


async def test_a_publisher_that_never_connects_is_dropped_and_changes_nothing_visible(
    live: LiveServer, clip: Path
) -> None:
    async with await HubClient.open(ws_url(live)) as hub:
        publisher = await publish(live.url, SHOW, streamer(), clip)
        assert publisher.response.status_code == 201
        await publisher.pc.close()  # it never uses the answer
        await asyncio.sleep(live.runtime.settings.media.connect_timeout_s + 1.5)
        assert await stream_fields(live) == {}
        assert [e for e in hub.events if e["type"].startswith("stream_")] == []
    await publisher.close()


async def test_ending_the_show_ends_its_stream(live: LiveServer, clip: Path) -> None:
    async with await HubClient.open(ws_url(live)) as hub:
        publisher = await publish(live.url, SHOW, streamer(), clip)
        session = (await wait_live(live))["session"]
        viewer = await watch(live.url, SHOW)
        await viewer.wait_for_frames(10)
        async with httpx.AsyncClient(base_url=live.url) as client:
            assert (await client.post(f"/api/shows/{SHOW}/end", headers=streamer())).is_success
        ended = await hub.event("stream_ended")
        assert ended["data"] == {"session": session, "reason": "show_ended"}
        # The ingest's node sees its claim gone and closes the publisher and viewers.
        await asyncio.wait_for(viewer.ended.wait(), 10)
        assert not any(i.show == SHOW for i in _media(live).ingests.values())
        await viewer.close()
        await publisher.close()


async def test_a_dead_nodes_stream_is_ended_by_the_sweep(live: LiveServer) -> None:
    """A claim nobody renews (its node died) ends once its lease runs out."""
    from livecart.media import state

    runtime = live.runtime
    await state.claim(runtime.scripts, SHOW, "in_dead", "deadnode", "http://gone", 500)
    result = await state.go_live(
        runtime.scripts,
        SHOW,
        "in_dead",
        codec="H264",
        size=(640, 360),
        marker=True,
        lease_ms=500,
        maxlen=1000,
        play=["whep"],
        hls_url=None,
    )
    assert result == "live"
    await runtime.redis.sadd("lc:streaming_shows", SHOW)
    async with await HubClient.open(ws_url(live)) as hub:
        ended = await hub.event("stream_ended", within=runtime.settings.media.stream_lease_s * 4)
    assert ended["data"] == {"session": "in_dead", "reason": "lost"}
    assert await stream_fields(live) == {}


async def test_markers_survive_in_every_frame_for_two_viewers_at_once(
    live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    await wait_live(live)
    viewers = [await watch(live.url, SHOW), await watch(live.url, SHOW, audio=False)]
    for viewer in viewers:
        await viewer.wait_for_frames(45)
    common = {f.marker for f in viewers[0].video} & {f.marker for f in viewers[1].video}
    assert len(common) >= 20, "both viewers get the same frames with the same positions"
    for viewer in viewers:
        assert all(read_marker(f.data) == f.marker for f in viewer.video)
        await viewer.close()
    assert viewers[1].audio_frames == 0
    await publisher.close()


def _media(server: LiveServer) -> MediaNode:
    node: MediaNode = server.app.state.media
    return node


async def test_a_vp8_publisher_is_forwarded_without_markers(
    live: LiveServer, tmp_path: Path
) -> None:
    """VP8 forwards, but has no place for a marker: stream_started says so, and pages
    show its overlays on arrival."""
    from tests.media.clips import make_clip

    vp8_clip = make_clip(tmp_path / "clip.webm", 6, codec="libvpx")
    async with await HubClient.open(ws_url(live)) as hub:
        publisher = await publish(live.url, SHOW, streamer(), vp8_clip, video_codec="VP8")
        assert publisher.response.status_code == 201, publisher.response.text
        started = await hub.event("stream_started", within=10)
        assert started["data"]["codec"] == "VP8"
        assert started["data"]["marker"] is False
        assert (started["data"]["width"], started["data"]["height"]) == (640, 360)
        viewer = await watch(live.url, SHOW)
        assert viewer.response.status_code == 201, viewer.response.text
        assert "VP8/90000" in viewer.response.text and "H264" not in viewer.response.text
        await viewer.wait_for_frames(30)
        assert viewer.video[0].data[0] & 0x01 == 0, "a viewer starts on a VP8 key frame"
        assert all(frame.marker is None for frame in viewer.video)
        await viewer.close()
        await publisher.close()
