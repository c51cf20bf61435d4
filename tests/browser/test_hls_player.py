"""The HLS path of the player in a real browser, independent of the node's HLS writer:
the test makes its own live fMP4 playlist with livecart's markers in the frames and
checks that Chromium (hls.js, static/vendor/hls.mjs) knows the position of every frame
it presents, and that the overlay scheduler fires an event with that very frame.

The clip is tests/media/clips.py's (a bright bar that moves 8 px a frame), every
access unit stamped with livecart.media.marker.stamp as the relay does, its timestamps
moved 1000 s on (a live stream's are far from zero, so hls.js' initPTS offset is not
nothing), then remuxed by ffmpeg -c copy into fMP4 segments. A small Starlette app
serves the page modules and the segments behind a playlist that grows a segment a
second, as a live one does.

The page reads the bar's place from the presented frame's pixels, so the test checks
the position against the picture itself, not only against timestamps; and it records
each marker's hls.js sample time next to each presented frame's mediaTime (the
timeline finding in player-hls.js)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
import uvicorn
from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from livecart.api.pages import static_dir
from livecart.media.marker import stamp
from tests.media.clips import FPS, make_clip

pytestmark = pytest.mark.browser

START_MS = 1_795_560_402_774  # the first frame's position; later frames every 33 ms
FRAME_MS = 33
SHIFT_S = 1000  # the stamped stream's timestamps start this far from zero
CLIP_SECONDS = 9
SEGMENTS_AT_START = 3
WINDOW = 6
BAR_STEP = 8  # px the clip's bar moves per frame (tests/media/clips.py)
BAR_PERIOD = 80  # frames until the bar is back at x = 0 (640 / 8)

PAGE = """<!doctype html>
<meta charset="utf-8">
<video playsinline autoplay muted width="640" height="360"></video>
<script type="module">
import { watchShow } from "/static/js/player.js";
import { createScheduler } from "/static/js/overlay-scheduler.js";

const video = document.querySelector("video");
const canvas = new OffscreenCanvas(640, 1);
const context = canvas.getContext("2d", { willReadFrequently: true });
const rec = { states: [], marked: [], presented: [], events: [] };
window.rec = rec;
let onScreen = null;

// The bar's left edge on the middle row of the presented frame, in pixels.
function barAt() {
  context.drawImage(video, 0, 180, 640, 1, 0, 0, 640, 1);
  const row = context.getImageData(0, 0, 640, 1).data;
  for (let x = 0; x < 640; x++) if (row[x * 4] > 172) return x;
  return null;
}

const scheduler = createScheduler();
const player = watchShow(video, {
  show: "hls-test",
  scheduler,
  onState: ({ state, message, path }) => rec.states.push({ state, message, path }),
  observe: {
    marked: (pos, time) => rec.marked.push({ pos, time }),
    presented(pos, meta) {
      if (pos !== null) onScreen = pos;
      rec.presented.push({ pos, mediaTime: meta.mediaTime, bar: barAt() });
    },
  },
});
player.streamStarted({
  session: "hls-test-1", codec: "H264", marker: true, width: 640, height: 360,
  play: (new URLSearchParams(location.search).get("play") ?? "hls").split(","),
  hls_url: "/hls/index.m3u8",
});
window.player = player;
window.schedule = (pos) => {
  const entry = { pos, shownAt: null };
  rec.events.push(entry);
  scheduler.at(pos, () => { entry.shownAt = onScreen; });
};
</script>
"""


def stamped_clip(workdir: Path) -> tuple[Path, list[int]]:
    """The clip in MPEG-TS with every frame marked as the relay marks it, timestamps
    SHIFT_S on; returns it and the stamped positions in frame order."""
    clip = make_clip(workdir / "clip.ts", CLIP_SECONDS)
    stamped = workdir / "stamped.ts"
    positions: list[int] = []
    shift = SHIFT_S * 90_000  # MPEG-TS time base
    with av.open(str(clip)) as source, av.open(str(stamped), "w", format="mpegts") as out:
        video_in, audio_in = source.streams.video[0], source.streams.audio[0]
        video_out = out.add_stream_from_template(video_in)
        audio_out = out.add_stream_from_template(audio_in)
        for packet in source.demux():
            pts, dts = packet.pts, packet.dts
            if packet.size == 0 or pts is None or dts is None:
                continue  # the demuxer's flush packets
            if packet.stream is video_in:
                position = START_MS + len(positions) * FRAME_MS
                marked = av.Packet(stamp(bytes(packet), position))
                marked.time_base = packet.time_base
                marked.is_keyframe = packet.is_keyframe
                positions.append(position)
                packet = marked
                packet.stream = video_out
            else:
                packet.stream = audio_out
            packet.pts, packet.dts = pts + shift, dts + shift
            out.mux(packet)
    return stamped, positions


def stamped_hls(workdir: Path) -> tuple[Path, list[int]]:
    """The stamped clip as fMP4 HLS (a VOD playlist, served live below); returns its
    folder and the stamped positions in frame order."""
    stamped, positions = stamped_clip(workdir)
    folder = workdir / "hls"
    folder.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(stamped),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_segment_type",
            "fmp4",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-hls_segment_filename",
            str(folder / "seg-%d.m4s"),
            str(folder / "index.m3u8"),
        ],
        check=True,
        timeout=30,
    )
    return folder, positions


class LivePlaylist:
    """Serves a finished VOD playlist as a live one: a window of the last WINDOW
    segments, starting with SEGMENTS_AT_START and growing by one per segment duration
    from the first request; #EXT-X-ENDLIST once every segment is out."""

    def __init__(self, folder: Path) -> None:
        lines = (folder / "index.m3u8").read_text().splitlines()
        self.segments = [
            (lines[i], lines[i + 1]) for i, line in enumerate(lines) if line.startswith("#EXTINF")
        ]
        self.started: float | None = None

    def render(self) -> str:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        count = min(len(self.segments), SEGMENTS_AT_START + int(now - self.started))
        first = max(0, count - WINDOW)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            "#EXT-X-TARGETDURATION:1",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            '#EXT-X-MAP:URI="init.mp4"',
        ]
        for extinf, uri in self.segments[first:count]:
            lines += [extinf, uri]
        if count == len(self.segments):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def serve(folder: Path, refusals: list[str]) -> AsyncIterator[str]:
    """The page, its modules and the live playlist; WHEP and Janus refuse for load, as
    a node at max_whep_viewers and Janus instances at their cap do (each refusal is
    recorded in ``refusals``)."""
    playlist = LivePlaylist(folder)

    async def whep(_: Request) -> Response:
        refusals.append("whep")
        return JSONResponse(
            {"error": "viewer_cap", "message": "This node is full"},
            status_code=503,
            headers={"Retry-After": "10"},
        )

    async def janus(_: Request) -> Response:
        refusals.append("janus")
        return JSONResponse(
            {"error": "janus_unavailable", "message": "No Janus has room"},
            status_code=503,
            headers={"Retry-After": "10"},
        )

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE)

    async def index(_: Request) -> Response:
        return PlainTextResponse(
            playlist.render(),
            media_type="application/vnd.apple.mpegurl",
            headers={"Cache-Control": "no-cache"},
        )

    async def segment(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {"init.mp4"} | {uri for _, uri in playlist.segments}:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(folder / name, media_type="video/mp4")

    app = Starlette(
        routes=[
            Route("/page.html", page),
            Route("/api/shows/{show}/whep", whep, methods=["POST"]),
            Route("/api/shows/{show}/janus", janus, methods=["POST"]),
            Route("/hls/index.m3u8", index),
            Route("/hls/{name}", segment),
            Mount("/static", StaticFiles(directory=static_dir())),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_hls_path_knows_the_position_of_every_presented_frame(
    browser: Browser, tmp_path: Path
) -> None:
    folder, positions = stamped_hls(tmp_path)
    index_of = {pos: i for i, pos in enumerate(positions)}
    async with serve(folder, []) as url:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{url}/page.html")
        await page.wait_for_function(
            "rec.presented.filter((f) => f.pos !== null).length > 20", timeout=15_000
        )
        # Events a little ahead of the picture: each must fire with its own frame.
        ahead: list[int] = await page.evaluate(
            """() => {
                const shown = rec.presented.filter((f) => f.pos !== null).at(-1).pos;
                return rec.marked.map((m) => m.pos).filter((p) => p > shown + 10 * 33)
                    .filter((_, i) => i % 7 === 3).slice(0, 6);
            }"""
        )
        assert len(ahead) >= 3, ahead
        for pos in ahead:
            await page.evaluate("(pos) => schedule(pos)", pos)
        await page.wait_for_function(
            "rec.events.every((e) => e.shownAt !== null) && rec.presented.length > 90",
            timeout=15_000,
        )
        rec: dict[str, Any] = await page.evaluate("rec")
        stats: dict[str, Any] = await page.evaluate("player.stats()")
        await page.close()

    assert errors == []
    assert stats["path"] == "hls"
    assert {"state": "playing", "message": None, "path": "hls"} in rec["states"]
    presented = [f for f in rec["presented"] if f["pos"] is not None]
    assert len(presented) == len(rec["presented"]), "a presented frame had no position"
    shown = [f["pos"] for f in presented]
    assert set(shown) <= set(positions)
    assert shown == sorted(set(shown)), "positions on screen went back or repeated"

    # The picture itself: the bar's place says which frame of the clip is on screen.
    wrong = [
        (f["pos"], f["bar"])
        for f in presented
        if f["bar"] is None
        or round(f["bar"] / BAR_STEP) % BAR_PERIOD != index_of[f["pos"]] % BAR_PERIOD
    ]
    assert wrong == [], f"frames whose picture is not the frame of their position: {wrong[:5]}"

    # hls.js' sample time for each marker is the frame's mediaTime: no offset to add.
    sample_time = {m["pos"]: m["time"] for m in rec["marked"]}
    gaps = [f["mediaTime"] - sample_time[f["pos"]] for f in presented]
    first = presented[0]
    print(
        f"\nHLS: {len(presented)} frames presented, first mediaTime {first['mediaTime']:.6f} "
        f"(frame {index_of[first['pos']]}, raw fMP4 time "
        f"{SHIFT_S + index_of[first['pos']] / FPS:.3f} s); mediaTime - sample pts in "
        f"[{min(gaps) * 1000:.3f}, {max(gaps) * 1000:.3f}] ms"
    )
    assert all(abs(gap) < 0.002 for gap in gaps), (min(gaps), max(gaps))

    # The scheduler fires each event with the first presented frame at or past it.
    for event in rec["events"]:
        expected = next(p for p in shown if p >= event["pos"])
        assert event["shownAt"] == expected, (event, expected)
    on_own_frame = sum(event["shownAt"] == event["pos"] for event in rec["events"])
    print(f"HLS: {on_own_frame}/{len(rec['events'])} events shown on their own frame")
    assert on_own_frame >= len(rec["events"]) - 1


async def test_a_page_refused_by_whep_and_janus_for_load_plays_over_hls(
    browser: Browser, tmp_path: Path
) -> None:
    folder, positions = stamped_hls(tmp_path)
    refusals: list[str] = []
    async with serve(folder, refusals) as url:
        page = await browser.new_page()
        await page.goto(f"{url}/page.html?play=whep,janus,hls")
        await page.wait_for_function(
            "rec.presented.filter((f) => f.pos !== null).length > 10", timeout=15_000
        )
        rec: dict[str, Any] = await page.evaluate("rec")
        await page.close()
    assert refusals == ["whep", "janus"]  # each asked once, in the stream's order
    tried = [s["path"] for s in rec["states"] if s["state"] == "connecting"]
    assert tried == ["whep", "janus", "hls"]
    assert rec["states"][-1] == {"state": "playing", "message": None, "path": "hls"}
    shown = [f["pos"] for f in rec["presented"] if f["pos"] is not None]
    assert set(shown) <= set(positions)
