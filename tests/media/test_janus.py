"""Large audiences through Janus, end to end: a real Janus pair (Debian's package, in the
test network), an OBS-like publisher on a real node, and aiortc viewers that watch
through livecart's relay and read the markers of the frames Janus forwards."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from livecart.config import Settings
from livecart.media.janus import mountpoint_id
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer, serve_app, until
from tests.janus import JanusServer, janus_pair, janus_settings
from tests.media.conftest import clip, live, streamer
from tests.media.janus_peer import JanusViewer, watch_janus
from tests.media.peers import Publisher, publish, watch
from tests.media.test_whip_whep import wait_live

__all__ = ["clip", "janus_pair", "live"]

SHOW = "s1"
Pair = tuple[JanusServer, JanusServer]


@pytest.fixture
def settings(settings: Settings, janus_pair: Pair) -> Settings:
    return janus_settings(settings, janus_pair).with_overrides({"media": {"max_whep_viewers": 1}})


async def live_on_janus(server: LiveServer, clip: Path, pair: Pair) -> tuple[Publisher, int]:
    """An OBS-like publisher live on ``server``, and its stream's mountpoint, once both
    Janus instances have it."""
    publisher = await publish(server.url, SHOW, streamer(), clip)
    assert publisher.response.status_code == 201, publisher.response.text
    stream = await wait_live(server, SHOW)
    mountpoint = mountpoint_id(SHOW, str(stream["session"]))
    for janus in pair:
        await until(lambda j=janus: mountpoint in j.mountpoint_ids(), 5, f"mountpoint on {janus}")
    return publisher, mountpoint


async def test_past_the_whep_cap_viewers_watch_marked_frames_through_janus(
    live: LiveServer, clip: Path, janus_pair: Pair
) -> None:
    publisher, _ = await live_on_janus(live, clip, janus_pair)
    stream = await wait_live(live)
    assert stream["play"] == ["whep", "janus"]
    assert stream["hls_url"] is None

    first = await watch(live.url, SHOW)  # the node's one WHEP seat
    assert first.response.status_code == 201
    refused = await watch(live.url, SHOW)
    assert refused.response.status_code == 503
    assert refused.response.json()["error"] == "viewer_cap"

    viewers = [await watch_janus(live.url, SHOW) for _ in range(3)]
    try:
        for viewer in viewers:
            assert viewer.status == 201, viewer.response.text
            assert viewer.answer_response is not None
            assert viewer.answer_response.status_code == 204, viewer.answer_response.text
        # Least loaded first: the three viewers are spread over both instances.
        assert {v.instance for v in viewers} == {"janus1", "janus2"}
        for viewer in viewers:
            await viewer.wait_for_markers(40)
            markers = viewer.markers
            # In arrival order (two frames that reach the ingest in the same millisecond,
            # a burst after a stall, share a position: seen in CI).
            assert markers == sorted(markers)
        # The same frames as the node's own WHEP viewer: Janus forwards, never re-encodes.
        await first.wait_for_frames(40)
        whep_markers = {f.marker for f in first.video if f.marker is not None}
        common = whep_markers & set(viewers[0].markers)
        assert len(common) >= 20
        async with httpx.AsyncClient(base_url=live.url) as client:
            metrics = (await client.get("/metrics")).text
        assert 'livecart_media_janus_up{instance="janus1"} 1.0' in metrics
        assert 'livecart_media_janus_up{instance="janus2"} 1.0' in metrics
        sent = next(
            line
            for line in metrics.splitlines()
            if line.startswith('livecart_media_rtp_packets_total{outcome="sent"}')
        )
        assert float(sent.split()[-1]) > 0
    finally:
        for viewer in viewers:
            await viewer.close()
        await first.close()
        await refused.close()
        await publisher.close()


async def test_a_killed_janus_loses_its_viewers_to_the_other_and_comes_back_with_its_mountpoint(
    live: LiveServer, clip: Path, janus_pair: Pair
) -> None:
    publisher, mountpoint = await live_on_janus(live, clip, janus_pair)
    viewer = await watch_janus(live.url, SHOW, keepalive_s=0.3)
    moved: JanusViewer | None = None
    try:
        assert viewer.status == 201, viewer.response.text
        await viewer.wait_for_markers(10)
        dead = janus_pair[0] if viewer.instance == "janus1" else janus_pair[1]
        dead.kill()
        # The page hears of it at its next keepalive and connects again elsewhere.
        await asyncio.wait_for(viewer.dropped.wait(), 5)
        moved = await watch_janus(live.url, SHOW, avoid=viewer.instance)
        assert moved.status == 201, moved.response.text
        assert moved.instance != viewer.instance
        await moved.wait_for_markers(20)
        # A restarted Janus has forgotten its mountpoints: the node makes them again.
        dead.start()
        took = await until(lambda: mountpoint in dead.mountpoint_ids(), 5, "mountpoint back")
        print(f"\nmountpoint recreated {took:.2f}s after the restarted Janus answered")
        again = await watch_janus(live.url, SHOW, avoid=moved.instance)
        try:
            assert again.status == 201, again.response.text
            await again.wait_for_markers(20)
        finally:
            await again.close()
    finally:
        await viewer.close()
        if moved is not None:
            await moved.close()
        await publisher.close()


async def test_the_end_of_the_stream_or_the_show_removes_its_mountpoints(
    live: LiveServer, clip: Path, janus_pair: Pair
) -> None:
    publisher, mountpoint = await live_on_janus(live, clip, janus_pair)
    await publisher.close()  # DELETE: the stream ends
    for janus in janus_pair:
        await until(lambda j=janus: mountpoint not in j.mountpoint_ids(), 5, "mountpoint gone")
    async with httpx.AsyncClient(base_url=live.url) as client:
        response = await client.post(f"/api/shows/{SHOW}/janus")
    assert response.status_code == 409
    assert response.json()["error"] == "stream_offline"

    publisher, mountpoint = await live_on_janus(live, clip, janus_pair)
    async with httpx.AsyncClient(base_url=live.url, headers=streamer()) as client:
        assert (await client.post(f"/api/shows/{SHOW}/end")).is_success
    try:
        for janus in janus_pair:
            took = await until(lambda j=janus: mountpoint not in j.mountpoint_ids(), 5, "gone")
        print(f"\nmountpoints gone {took:.2f}s after the show ended")
    finally:
        await publisher.close()


async def test_each_instance_takes_at_most_its_cap(
    settings: Settings, redis: object, clip: Path, janus_pair: Pair
) -> None:
    capped = settings.with_overrides({"media": {"janus_viewer_cap": 1, "viewer_path": "janus"}})
    async with serve_app(capped) as server:
        await seed_show(server.runtime)
        publisher, _ = await live_on_janus(server, clip, janus_pair)
        assert (await wait_live(server))["play"] == ["janus", "whep"]  # Janus first for all
        first = await watch_janus(server.url, SHOW)
        second = await watch_janus(server.url, SHOW)
        third = await watch_janus(server.url, SHOW)
        try:
            assert (first.status, second.status) == (201, 201)
            assert {first.instance, second.instance} == {"janus1", "janus2"}
            assert third.status == 503
            assert third.response.json()["error"] == "janus_unavailable"
            assert third.response.headers["retry-after"]
        finally:
            for viewer in (first, second, third):
                await viewer.close()
            await publisher.close()


async def test_a_forged_or_stale_session_is_refused_and_changes_nothing(
    live: LiveServer, clip: Path, janus_pair: Pair
) -> None:
    publisher, _ = await live_on_janus(live, clip, janus_pair)
    viewer = await watch_janus(live.url, SHOW)
    try:
        assert viewer.status == 201
        assert viewer.session is not None
        index, session, handle, mac = viewer.session.split("-")
        forged = f"{index}-{int(session) + 1}-{handle}-{mac}"
        async with httpx.AsyncClient(base_url=live.url) as client:
            base = f"/api/shows/{SHOW}/janus"
            cases = {
                f"{base}/{forged}/keepalive": 404,
                f"/api/shows/s2/janus/{viewer.session}/keepalive": 404,  # another show
                f"{base}/not-a-token/keepalive": 404,
            }
            for url, status in cases.items():
                response = await client.post(url)
                assert response.status_code == status, (url, response.text)
            assert response.json()["field"] == "session"
            response = await client.post(
                f"{base}/{viewer.session}/answer",
                content=b"not sdp",
                headers={"Content-Type": "application/sdp"},
            )
            assert response.status_code == 400
            assert response.json()["field"] == "body"
            response = await client.post(
                f"{base}/{viewer.session}/answer",
                content=b"v=0",
                headers={"Content-Type": "text/plain"},
            )
            assert response.status_code == 415
            response = await client.post(base, params={"avoid": "../x"})
            assert response.status_code == 400
            assert response.json()["field"] == "avoid"
            response = await client.post(base, params={"nope": "1"})
            assert response.status_code == 400
            # The real viewer was not disturbed by any of it.
            response = await client.post(f"{base}/{viewer.session}/keepalive")
            assert response.status_code == 204
        await viewer.wait_for_markers(10)
        async with httpx.AsyncClient(base_url=live.url) as client:
            assert (await client.delete(f"{base}/{viewer.session}")).status_code == 200
            gone = await client.post(f"{base}/{viewer.session}/keepalive")
            assert gone.status_code == 404
    finally:
        await viewer.close()
        await publisher.close()


async def test_bad_janus_settings_are_reported_without_stopping_the_show(
    settings: Settings, redis: object, janus_pair: Pair
) -> None:
    wrong = settings.with_overrides(
        {
            "media": {
                "janus_urls": f"{janus_pair[0].url} http://127.0.0.1:9/janus",
                "janus_api_secret": "not-the-secret",
            }
        }
    )
    async with serve_app(wrong) as server:
        await seed_show(server.runtime)
        async with httpx.AsyncClient(base_url=server.url, headers=streamer()) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            problems = ready.json()["video"]
            assert len(problems) == 2, problems
            assert "janus1" in problems[0] and "media.janus_api_secret" in problems[0]
            assert "janus2" in problems[1] and "127.0.0.1:9" in problems[1]
            # The show's other features work: a pin is made and read back.
            pinned = await client.put(f"/api/shows/{SHOW}/pin", json={"sku": "p-plain"})
            assert pinned.status_code == 200, pinned.text
    wrong_key = settings.with_overrides({"media": {"janus_admin_key": "not-the-key"}})
    async with serve_app(wrong_key) as server, httpx.AsyncClient(base_url=server.url) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        problems = ready.json()["video"]
        assert len(problems) == 2, problems
        assert all("media.janus_admin_key" in problem for problem in problems)


async def test_a_janus_that_stalls_for_a_while_keeps_its_mountpoint_and_its_viewers(
    live: LiveServer, clip: Path, janus_pair: Pair
) -> None:
    """An instance that misses monitor rounds (here stopped with SIGSTOP for longer than
    a request's timeout) is marked unhealthy and its RTP stops; when it answers again its
    mountpoint, which it kept, gets the RTP again, on the ports it had: nothing is made
    again, its viewers keep their sessions and new viewers start on it."""
    publisher, mountpoint = await live_on_janus(live, clip, janus_pair)
    viewer = await watch_janus(live.url, SHOW)
    try:
        assert viewer.status == 201, viewer.response.text
        await viewer.wait_for_markers(10)
        stalled = janus_pair[0] if viewer.instance == "janus1" else janus_pair[1]
        node = live.app.state.media
        instance = next(i for i in node.janus.instances if i.name == viewer.instance)
        assert stalled.pid is not None
        os.kill(stalled.pid, signal.SIGSTOP)
        try:
            await until(lambda: not instance.healthy, 10, "the stalled instance marked")
            assert viewer.instance not in node.relays[SHOW].rtp_out.destinations
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
        await until(lambda: instance.healthy, 10, "the instance healthy again")
        assert viewer.instance in node.relays[SHOW].rtp_out.destinations
        assert mountpoint in stalled.mountpoint_ids()
        # The old session carries on: its audio flows again (an aiortc viewer's video
        # did not resume here, for a reason not found; a page connects again after 3 s
        # without frames), and a new viewer starts on the same mountpoint.
        audio = viewer.audio_frames
        await until(lambda: viewer.audio_frames > audio + 25, 5, "the old session's audio")
        assert (await viewer.keepalive()) == 204
        other = "janus2" if viewer.instance == "janus1" else "janus1"
        again = await watch_janus(live.url, SHOW, avoid=other)
        try:
            assert again.instance == viewer.instance, again.response.text
            await again.wait_for_markers(30)
        finally:
            await again.close()
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_mountpoint_left_by_a_dead_ingest_node_is_removed(
    live: LiveServer, janus_pair: Pair
) -> None:
    """A node that died with a live stream never took its mountpoints away: any node
    that sees one whose stream is no longer the show's removes it."""
    left = mountpoint_id(SHOW, "in_dead")
    janus_pair[0].streaming(
        {
            "request": "create",
            "type": "rtp",
            "id": left,
            "description": f"livecart {SHOW} in_dead",
            "media": [{"type": "video", "mid": "v", "port": 0, "pt": 96, "codec": "vp8"}],
        }
    )
    unrelated = 4242  # not livecart's: never touched
    janus_pair[0].streaming(
        {
            "request": "create",
            "type": "rtp",
            "id": unrelated,
            "description": "someone else's",
            "media": [{"type": "video", "mid": "v", "port": 0, "pt": 96, "codec": "vp8"}],
        }
    )
    took = await until(lambda: left not in janus_pair[0].mountpoint_ids(), 15, "removed")
    print(f"\nthe dead node's mountpoint removed after {took:.1f}s")
    assert unrelated in janus_pair[0].mountpoint_ids()


async def test_a_node_that_stops_takes_its_mountpoints_away(
    settings: Settings, redis: object, clip: Path, janus_pair: Pair
) -> None:
    async with serve_app(settings) as server:
        await seed_show(server.runtime)
        publisher, mountpoint = await live_on_janus(server, clip, janus_pair)
    # The node stopped (its ingest ended with node_stopping): nothing left on Janus.
    for janus in janus_pair:
        assert mountpoint not in janus.mountpoint_ids()
    await publisher.close()
