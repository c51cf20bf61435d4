"""HLS from the ingest node: a real WHIP publisher, the node's real ffmpeg (Debian's),
and the files it writes fetched over HTTP and read with PyAV: every frame of every
segment carries its marker, in order, and each segment starts on a keyframe."""

from __future__ import annotations

import asyncio
import io
import os
import re
import time
from pathlib import Path

import av
import httpx
import pytest

from livecart.config import Settings
from livecart.media.h264 import START_CODE
from livecart.media.hls import HlsOutput, ffmpeg_command, served_name
from livecart.media.marker import read_marker
from livecart.media.node import MediaNode
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer, serve_app
from tests.media.conftest import streamer
from tests.media.peers import Publisher, publish
from tests.media.test_whip_whep import wait_live

SHOW = "s1"
SEGMENT_LINE = re.compile(r"^seg-(\d+)\.m4s$", re.MULTILINE)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.with_overrides(
        {"media": {"hls": True, "hls_dir": str(tmp_path / "hls"), "ffmpeg": "/usr/bin/ffmpeg"}}
    )


def media_of(server: LiveServer) -> MediaNode:
    node: MediaNode = server.app.state.media
    return node


async def wait_playlist(
    client: httpx.AsyncClient, show: str = SHOW, segments: int = 3, within: float = 20.0
) -> str:
    """The playlist once it lists ``segments`` segments."""
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        response = await client.get(f"/hls/{show}/index.m3u8")
        if response.status_code == 200:
            text = response.text
            if len(SEGMENT_LINE.findall(text)) >= segments:
                return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"no playlist with {segments} segments within {within}s: {text!r}")


def annex_b(sample: bytes) -> bytes:
    """An MP4 sample's NAL units (4-byte lengths) as Annex B, which read_marker takes."""
    if sample.startswith((START_CODE, b"\x00\x00\x01")):
        return sample
    out = []
    i = 0
    while i + 4 <= len(sample):
        size = int.from_bytes(sample[i : i + 4], "big")
        out.append(START_CODE + sample[i + 4 : i + 4 + size])
        i += 4 + size
    return b"".join(out)


def video_samples(init: bytes, segment: bytes) -> list[tuple[bytes, bool]]:
    """(Annex B access unit, keyframe) of each video sample of one fMP4 segment."""
    with av.open(io.BytesIO(init + segment), format="mp4") as container:
        video = container.streams.video[0]
        return [
            (annex_b(bytes(packet)), packet.is_keyframe)
            for packet in container.demux(video)
            if packet.size
        ]


async def end_stream(server: LiveServer, publisher: Publisher) -> None:
    """DELETE the WHIP session, as OBS's Stop Streaming does."""
    assert publisher.location is not None
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.delete(publisher.location, headers=streamer())
    assert response.status_code == 200, response.text
    await publisher.close()


async def test_hls_segments_carry_every_frames_marker_in_order_and_go_when_the_stream_ends(
    live: LiveServer, clip: Path, settings: Settings
) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    assert publisher.response.status_code == 201, publisher.response.text
    stream = await wait_live(live)
    hls = media_of(live).hls
    async with httpx.AsyncClient(base_url=live.url, timeout=10.0) as client:
        playlist_text = await wait_playlist(client, segments=4)
        assert stream["hls_url"] == f"{live.url}/hls/{SHOW}/index.m3u8"
        assert "hls" in stream["play"]  # type: ignore[operator]
        response = await client.get(f"/hls/{SHOW}/index.m3u8")
        assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["access-control-allow-origin"] == "*"
        assert '#EXT-X-MAP:URI="init.mp4"' in playlist_text
        assert playlist_text.count("#EXT-X-PROGRAM-DATE-TIME:") >= 4
        assert "#EXT-X-ENDLIST" not in playlist_text

        init = await client.get(f"/hls/{SHOW}/init.mp4")
        assert init.status_code == 200
        assert init.headers["content-type"] == "video/mp4"
        names = [f"seg-{n}.m4s" for n in SEGMENT_LINE.findall(playlist_text)]
        markers: list[int | None] = []
        for name in names:
            segment = await client.get(f"/hls/{SHOW}/{name}")
            if segment.status_code == 404:
                continue  # deleted as the playlist moved on since it was read
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/iso.segment"
            assert "max-age" in segment.headers["cache-control"]
            samples = video_samples(init.content, segment.content)
            assert samples, name
            assert samples[0][1], f"{name} does not start on a keyframe"
            markers.extend(read_marker(unit) for unit, _ in samples)
        assert len(markers) >= 60  # two seconds of 30 fps at least
        assert None not in markers, "a frame in the HLS segments lost its marker"
        positions = [m for m in markers if m is not None]
        assert positions == sorted(positions)
        assert positions[-1] > positions[0]

        head = await client.head(f"/hls/{SHOW}/index.m3u8")
        assert head.status_code == 200

        job = hls._shows[SHOW]
        process = job.process
        assert process is not None and process.returncode is None
        directory = job.directory
        await end_stream(live, publisher)
        deadline = time.monotonic() + 10
        while SHOW in hls._shows and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert not hls.active(SHOW)
        assert process.returncode is not None  # ffmpeg is gone
        assert not directory.exists()
        gone = await client.get(f"/hls/{SHOW}/index.m3u8")
        assert gone.status_code == 404
        assert gone.json()["error"] == "not_found"


async def test_an_ffmpeg_that_exits_while_live_is_started_again_and_the_playlist_goes_on(
    live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    await wait_live(live)
    hls = media_of(live).hls
    async with httpx.AsyncClient(base_url=live.url, timeout=10.0) as client:
        before = await wait_playlist(client, segments=2)
        last_before = max(int(n) for n in SEGMENT_LINE.findall(before))
        first = hls._shows[SHOW].process
        assert first is not None
        first.kill()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = hls._shows[SHOW].process
            if now is not first and now is not None and now.returncode is None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("ffmpeg was not started again")
        # The playlist goes on: a discontinuity, then numbers past the old ones.
        deadline = time.monotonic() + 20
        after = ""
        while time.monotonic() < deadline:
            after = (await client.get(f"/hls/{SHOW}/index.m3u8")).text
            if any(int(n) > last_before + 1 for n in SEGMENT_LINE.findall(after)):
                break
            await asyncio.sleep(0.2)
        assert any(int(n) > last_before + 1 for n in SEGMENT_LINE.findall(after)), after
        assert "#EXT-X-DISCONTINUITY" in after
    await end_stream(live, publisher)


async def test_only_the_shows_hls_files_are_served(live: LiveServer, clip: Path) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    await wait_live(live)
    async with httpx.AsyncClient(base_url=live.url, timeout=10.0) as client:
        await wait_playlist(client, segments=1)
        for name in ("stream.sdp", "ffmpeg.log", "..", "seg-1.m4s.tmp", "index.m3u8.tmp"):
            response = await client.get(f"/hls/{SHOW}/{name}")
            assert response.status_code == 404, name
        for path in ("/hls/s1/..%2Fs1%2Findex.m3u8", "/hls/s1/%2e%2e", "/hls/../s1/index.m3u8"):
            assert (await client.get(path)).status_code == 404, path
        unknown = await client.get("/hls/nope/index.m3u8")
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "not_found"
    await end_stream(live, publisher)


async def test_another_node_sends_hls_requests_to_the_ingest_node(
    settings: Settings, live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, SHOW, streamer(), clip)
    await wait_live(live)
    async with serve_app(settings) as other, httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{other.url}/hls/{SHOW}/index.m3u8")
        assert response.status_code == 307
        assert response.headers["location"] == f"{live.url}/hls/{SHOW}/index.m3u8"
        assert response.headers["access-control-allow-origin"] == "*"
        assert media_of(other).hls.playlist_url(SHOW, other.url) == (
            f"{other.url}/hls/{SHOW}/index.m3u8"
        )
    await end_stream(live, publisher)


async def test_a_node_with_hls_off_serves_none(
    settings: Settings, redis: object, clip: Path
) -> None:
    off = settings.with_overrides({"media": {"hls": False}})
    async with serve_app(off) as server:
        await seed_show(server.runtime)
        publisher = await publish(server.url, SHOW, streamer(), clip)
        stream = await wait_live(server)
        assert stream.get("hls_url") is None
        await asyncio.sleep(2.0)
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get(f"/hls/{SHOW}/index.m3u8")
        assert response.status_code == 404
        assert not media_of(server).hls.active(SHOW)
        await end_stream(server, publisher)


def test_problem_names_a_missing_ffmpeg_and_an_unwritable_directory(
    settings: Settings, tmp_path: Path
) -> None:
    missing = settings.with_overrides({"media": {"ffmpeg": "/nonexistent/ffmpeg"}})
    problem = HlsOutput(missing).problem()
    assert problem is not None and "/nonexistent/ffmpeg" in problem
    not_ffmpeg = settings.with_overrides({"media": {"ffmpeg": "/bin/true"}})
    assert HlsOutput(not_ffmpeg).problem() is not None
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = settings.with_overrides({"media": {"hls_dir": str(blocker / "hls")}})
    problem = HlsOutput(unwritable).problem()
    assert problem is not None and str(blocker) in problem
    assert HlsOutput(settings).problem() is None
    off = missing.with_overrides({"media": {"hls": False}})
    assert HlsOutput(off).problem() is None


def test_the_playlist_url_is_the_nodes_or_the_cdns(settings: Settings) -> None:
    hls = HlsOutput(settings)
    assert hls.playlist_url("s1", "http://n1:8080/") == "http://n1:8080/hls/s1/index.m3u8"
    cdn = settings.with_overrides({"media": {"hls_base_url": "https://cdn.example/live/"}})
    assert HlsOutput(cdn).playlist_url("s1", "http://n1") == (
        "https://cdn.example/live/s1/index.m3u8"
    )
    default_dir = settings.with_overrides({"media": {"hls_dir": ""}})
    assert HlsOutput(default_dir).root == Path(os.path.abspath(settings.redis.data_dir)) / "hls"


def test_served_names_are_the_playlist_the_init_segment_and_numbered_segments() -> None:
    for name in ("index.m3u8", "init.mp4", "seg-0.m4s", "seg-123.m4s"):
        assert served_name(name), name
    for name in ("..", "../index.m3u8", "seg-.m4s", "seg-1.m4s/x", "stream.sdp", "seg-a.m4s"):
        assert not served_name(name), name
    command = ffmpeg_command("ffmpeg", 1.0, 6, append=True)
    assert "delete_segments+program_date_time+independent_segments+omit_endlist+append_list" in (
        command
    )
