"""The large-audience paths of bench/media_bench.py (``--servers ...,janus,hls``): the
Janus that a ``janus`` row starts, the viewers that watch through livecart's Janus relay,
and the HLS players. Each viewer process is ``media_bench.py --view-janus`` or
``--view-hls`` and obeys the same stdin commands as the WHEP viewers (``start``,
``stop``, anything else closes).

- Janus viewers: aiortc peers with livecart's pass-through seam installed (they never
  decode), exactly as a page: POST /api/shows/{show}/janus for Janus' offer, the answer
  with every candidate, POST .../answer, a keepalive every ``keepalive_ms``
  (tests/media/janus_peer.py does the same for the tests; this one only counts).
- HLS players: one httpx client (its own connection) per player, as hls.js does live:
  fetch the playlist, download init.mp4 and the last ``LIVE_EDGE_SEGMENTS`` segments,
  then reload the playlist every target duration (half of it when nothing was new) and
  download each new segment once. They count segments, bytes and the seconds of media
  (EXTINF) they got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.commerce.conftest import SHOW

LIVE_EDGE_SEGMENTS = 3  # hls.js starts three target durations behind the live edge
JANUS_BLOCK = 20000  # Janus' HTTP port, then its UDP ports (below the ephemeral range)
JANUS_PORTS = 600  # three quarters for viewers (one UDP port each), a quarter for mountpoints
JANUS_SECRET = "bench-janus-api-secret-0123456789"
JANUS_ADMIN = "bench-janus-admin-key-0123456789"


# --- Janus ------------------------------------------------------------------------------


def start_janus(base_dir: Path) -> Any:
    """A running Debian ``janus`` with docs/janus's configs (tests/janus.py), in this
    process's network namespace; ``.pid``, ``.url``, ``.stop()``."""
    from tests.janus import JanusServer

    janus = JanusServer(
        base_dir,
        http_port=JANUS_BLOCK,
        rtp_range=(JANUS_BLOCK + 1, JANUS_BLOCK + JANUS_PORTS - 1),
        api_secret=JANUS_SECRET,
        admin_key=JANUS_ADMIN,
        name="janus-bench",
    )
    janus.start()
    return janus


def janus_env(janus: Any) -> dict[str, str]:
    """What points a livecart node at ``janus``."""
    return {
        "LIVECART_MEDIA_JANUS_URLS": janus.url,
        "LIVECART_MEDIA_JANUS_API_SECRET": JANUS_SECRET,
        "LIVECART_MEDIA_JANUS_ADMIN_KEY": JANUS_ADMIN,
    }


def hls_env(hls_dir: Path) -> dict[str, str]:
    return {"LIVECART_MEDIA_HLS": "true", "LIVECART_MEDIA_HLS_DIR": str(hls_dir)}


def ffmpeg_child(node_pid: int) -> int | None:
    """The pid of the node's ffmpeg (its child), if one runs."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(entry.path, "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == node_pid and name == "ffmpeg":
                return int(entry.name)
    return None


async def wait_for_ffmpeg(node_pid: int, within: float = 20.0) -> int:
    deadline = time.monotonic() + within
    while (pid := ffmpeg_child(node_pid)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the node started no ffmpeg within {within:g} s")
        await asyncio.sleep(0.1)
    return pid


def missing_binaries() -> list[str]:
    return [b for b in ("janus", "ffmpeg") if shutil.which(b) is None]


# --- viewers through Janus ----------------------------------------------------------------


async def post_janus(url: str, token: str, within: float) -> dict[str, Any]:
    """POST /janus until Janus has the show's mountpoint (409/503 while it starts)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=30.0, headers=headers) as client:
        while True:
            response = await client.post(f"{url}/api/shows/{SHOW}/janus")
            if response.status_code == 201:
                body: dict[str, Any] = response.json()
                return body
            if response.status_code not in (409, 503) or time.monotonic() > deadline:
                raise RuntimeError(f"/janus answered {response.status_code}: {response.text[:300]}")
            await asyncio.sleep(0.2)


async def keep_alive(url: str, token: str, session: str, interval: float) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10.0, headers=headers) as client:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(httpx.TransportError):
                await client.post(f"{url}/api/shows/{SHOW}/janus/{session}/keepalive")


async def add_janus_viewer(url: str, token: str, viewers: Any) -> None:
    """One viewer through livecart's relay, counted as media_bench's WHEP viewers are
    (``viewers`` is its ``Viewers``); never decodes (the seam is installed)."""
    import httpx
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from bench.media_bench import Tally, count_frames

    body = await post_janus(url, token, within=60)
    pc = RTCPeerConnection()
    viewers.peers.append(pc)
    await pc.setRemoteDescription(RTCSessionDescription(body["offer"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())  # every candidate: no trickle
    tally = Tally()
    viewers.tallies.append(tally)
    for transceiver in pc.getTransceivers():
        track = transceiver.receiver.track
        if track is not None:
            viewers.tasks.append(asyncio.create_task(count_frames(viewers, tally, track)))
    session = str(body["session"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    async with httpx.AsyncClient(timeout=30.0) as client:
        answered = await client.post(
            f"{url}/api/shows/{SHOW}/janus/{session}/answer",
            content=pc.localDescription.sdp,
            headers=headers,
        )
    if answered.status_code != 204:
        raise RuntimeError(f"the answer got {answered.status_code}: {answered.text[:300]}")
    interval = int(body["keepalive_ms"]) / 1000
    viewers.tasks.append(asyncio.create_task(keep_alive(url, token, session, interval)))


# --- HLS players --------------------------------------------------------------------------


@dataclass
class Player:
    segments: int = 0
    bytes: int = 0
    media_s: float = 0.0
    errors: int = 0
    ok: bool = False  # its last request succeeded
    ready: bool = False
    seen: set[int] = field(default_factory=set)


_TARGET = re.compile(r"#EXT-X-TARGETDURATION:([0-9.]+)")
_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:([0-9]+)")


def parse_playlist(text: str) -> tuple[float, list[tuple[int, float, str]]]:
    """(target duration, [(media sequence number, duration, uri)]) of a live playlist."""
    target = float(m.group(1)) if (m := _TARGET.search(text)) else 1.0
    number = int(m.group(1)) if (m := _SEQUENCE.search(text)) else 0
    entries = []
    duration = 0.0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#"):
            entries.append((number, duration, line))
            number += 1
    return target, entries


async def play(base: str, player: Player, ready: int, on_ready: Any) -> None:
    """One player until cancelled."""
    import httpx

    playlist = f"{base}/hls/{SHOW}/index.m3u8"
    async with httpx.AsyncClient(timeout=10.0) as client:
        started = False
        while True:
            target = 1.0
            try:
                response = await client.get(playlist)
                if response.status_code != 200:  # 404 until ffmpeg's first playlist
                    player.ok = False
                    await asyncio.sleep(0.5)
                    continue
                target, entries = parse_playlist(response.text)
                if not started and entries:
                    init = await client.get(f"{base}/hls/{SHOW}/init.mp4")
                    init.raise_for_status()
                    player.bytes += len(init.content)
                    player.seen.update(n for n, _, _ in entries[:-LIVE_EDGE_SEGMENTS])
                    started = True
                new = [e for e in entries if e[0] not in player.seen]
                for number, duration, uri in new:
                    segment = await client.get(f"{base}/hls/{SHOW}/{uri}")
                    segment.raise_for_status()
                    player.seen.add(number)
                    player.segments += 1
                    player.bytes += len(segment.content)
                    player.media_s += duration
                    if player.segments >= ready and not player.ready:
                        player.ready = True
                        on_ready()
                player.ok = True
            except httpx.HTTPError:
                player.errors += 1
                player.ok = False
                new = []
            await asyncio.sleep(target if new else target / 2)


async def run_hls_players(url: str, count: int, ready: int, ready_timeout: float) -> None:
    """``count`` HLS players; then obey stdin as the WHEP viewers do."""
    from bench.media_bench import cpu_seconds, raise_open_files

    raise_open_files()
    players = [Player() for _ in range(count)]
    all_ready = asyncio.Event()
    done = 0

    def one_ready() -> None:
        nonlocal done
        done += 1
        if done == count:
            all_ready.set()

    started = time.monotonic()
    tasks = [asyncio.create_task(play(url, p, ready, one_ready)) for p in players]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_ready.wait(), ready_timeout)
    waited = time.monotonic() - started
    print(json.dumps({"viewers": count, "ready": done, "seconds": waited}), flush=True)
    loop = asyncio.get_running_loop()
    me = os.getpid()
    cpu0 = t0 = 0.0
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "start":
            for p in players:
                p.segments = p.bytes = p.errors = 0
                p.media_s = 0.0
            cpu0, t0 = cpu_seconds(me), time.monotonic()
        elif line == "stop":
            report = {
                "seconds": time.monotonic() - t0,
                "cpu_s": cpu_seconds(me) - cpu0,
                "segments": [p.segments for p in players],
                "bytes": [p.bytes for p in players],
                "media_s": [p.media_s for p in players],
                "errors": sum(p.errors for p in players),
                "connected": sum(p.ok for p in players),
            }
            print(json.dumps(report), flush=True)
        else:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return
