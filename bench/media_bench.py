"""Video: server CPU per WHEP viewer, livecart's forwarding against aiortc's re-encoding.

livecart forwards the publisher's encoded frames; stock aiortc decodes the ingest and
re-encodes it for every viewer. Both at each viewer count, in one run.

    python bench/media_bench.py [--viewers 1,10,40] [--seconds 20] [--warmup 5]
                                [--stock-buffered]

The large-audience paths, also in one run (bench/media_paths.py; Debian's ``janus`` and
``ffmpeg`` must be installed, ``apt-get install janus ffmpeg``, as tests/run does):

    python bench/media_bench.py --servers livecart,janus,hls [--extra-rows hls:200]

- livecart:  as below: the node's own WHEP viewers
- janus:     a fresh Debian ``janus`` (tests/janus.py: docs/janus's configs, started
             from this process, so in its namespace) and a ``livecart serve`` with
             media.janus_urls pointing at it, which creates the show's Streaming
             mountpoint and sends it the forwarded frames as plain RTP; the viewers
             watch through livecart's relay as a page does (POST /janus, the answer,
             keepalives: bench/media_paths.py), pass-through seam installed, never
             decoding. Server CPU is Janus' process; the node's (ingest, RTP out to
             Janus, the relay's requests) is its own column
- hls:       ``livecart serve`` with media.hls on: its ffmpeg (``-c copy``, 1 s fMP4
             segments) and the node serving /hls/; the viewers are HLS players (httpx,
             one connection each) that poll the playlist every target duration and
             download each new segment once, as hls.js does live. Server CPU is the
             node plus its ffmpeg; the player reports segments and bytes per second
             (``--ready-segments``: what each must have downloaded first)

That mode prints another table: ``added / viewer`` is (server CPU - the same processes'
CPU with the publisher and no viewer) / viewers, the marginal cost a larger audience
is extrapolated from; ``node``, ``Janus`` and ``ffmpeg`` are each process's CPU in
cores. ``--extra-rows SERVER:N,...`` adds rows after the others (HLS players are cheap
enough for hundreds; aiortc viewers use about a core per 40 on this machine).

Run as root (or where unprivileged user namespaces are allowed): the bench first moves
itself into a fresh network namespace (tests/netns.py) with one private address,
10.77.0.1, since ICE never gathers loopback; every process it starts inherits it. HTTP
goes to 127.0.0.1 inside the namespace, media to 10.77.0.1; nothing leaves the machine.

The clip, made once per run with PyAV: 854x480, 30 fps H.264 (Constrained Baseline, a
keyframe every second, about 1 Mbit/s from x264 ``veryfast`` at a 1 Mbit/s rate limit)
and Opus stereo, in MPEG-TS (Annex B). Each frame is a textured field that pans, with a
box of fresh noise moving across it, so x264 spends its whole budget on every frame.

Servers, each at every viewer count, each its own process with a fresh publisher:
- livecart:  ``livecart serve`` as it ships (its Redis is the bundled valkey-server,
             started by the bench): WHIP ingest, encoded frames stamped with the stream
             marker and forwarded to every WHEP viewer, never decoded
- aiortc:    the peer a user would otherwise write with stock aiortc, as its examples
             do: the ingest's receiver decodes (aiortc's own decoder thread), a
             ``MediaRelay`` hands the decoded frames to every viewer, and each viewer's
             sender re-encodes them (aiortc's libx264 encoder: its default preset,
             1 Mbit/s target adjusted by the viewer's REMB) and decodes and re-encodes
             the Opus audio. The relay is ``buffered=False`` (a viewer whose encoder
             falls behind skips to the newest frame) unless ``--stock-buffered``: the
             examples' default queues every frame for every viewer without bound once
             the encoders fall behind, which costs memory and latency, not CPU per
             frame. The same HTTP stack (Starlette on uvicorn, uvloop) and the same
             WHIP/WHEP paths as livecart.

The publisher (an OBS-like WHIP client: tests/media/peers.py, the clip's H.264 and Opus
sent as they are, no candidates in its offer) is its own process. The viewers are
aiortc WHEP clients split over two processes; livecart's pass-through seam is installed
there, so they never decode: each counts the encoded video frames (and audio frames,
and bytes) it receives. Both servers answer them in H.264, with Opus audio.

Measured over ``seconds``, after every viewer has received ``--ready-frames`` video
frames and ``warmup`` more seconds:
- server CPU: utime + stime of the server process and all its threads (/proc/PID/stat)
  per second of wall time, in cores; per viewer: that divided by the viewers
- video fps per viewer: frames each viewer received per second, mean and the slowest
  viewer (30 is every frame); kbit/s: video bytes (RTP payload, reassembled) per viewer
- ms per frame: server CPU per video frame delivered to a viewer, which stays fair when
  a server cannot keep up and delivers fewer frames
- x pass-through: aiortc's row over livecart's at the same count, per viewer (CPU per
  viewer) and per frame (ms per frame): the second is the fair one when aiortc cannot
  keep up with every viewer at 30 fps
- clients, others: CPU of the two viewer processes, and of everything on the machine
  that is not this bench (/proc/stat busy time minus the bench's processes): other
  engineers' test runs share these cores, and a figure is only good when this is low

After the table, per row: the server's CPU before anyone connected (idle) and with the
publisher alone (``--baseline-seconds`` each; stock aiortc decodes the ingest even with
no viewer), whether every viewer got going, datagrams the namespace
dropped for a full socket buffer (/proc/net/snmp and /proc/net/udp, which count this
namespace alone; by the process whose socket it was), the publisher's video packets
sent and its connection state at the end of the window and, for livecart, its own
counters (video frames in, forwarded, skipped by a viewer waiting for a keyframe,
keyframe requests sent to the publisher) over the same window.

Writes nothing but stdout (stderr: one JSON line per row); bench/RESULTS.md holds runs
with their command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av
import uvloop

from livecart.app import NODE_WORKERS
from livecart.auth.tokens import issue_token
from livecart.config import Settings
from livecart.runtime import running
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import LivecartProcess
from tests.netns import TEST_ADDRESS, enter_test_network, network_problem

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("livecart", "aiortc")  # the default; also "janus" and "hls"
CLIENT_PROCESSES = 2

WIDTH, HEIGHT, FPS = 854, 480, 30
VIDEO_BITRATE = 1_000_000
SAMPLE_RATE, AUDIO_FRAME = 48_000, 960  # 20 ms Opus frames
PAN_X, PAN_Y = 600, 300  # how far the texture pans before it wraps
NOISE_BOX = (160, 120)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process and all its threads (not its children), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def udp_errors() -> dict[str, int]:
    """The network namespace's UDP error counters (/proc/net/snmp is per namespace, and
    this one holds nothing but the bench): datagrams dropped for a full socket buffer."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    counters = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:]), strict=True))
    return {k: counters[k] for k in ("InErrors", "RcvbufErrors", "SndbufErrors")}


def udp_drops(pids: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    """Datagrams dropped so far by each UDP socket of each role (the ``drops`` column of
    this namespace's /proc/net/udp), by role, then socket inode."""
    drops_by_inode = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            cols = line.split()
            drops_by_inode[cols[9]] = int(cols[12])
    found: dict[str, dict[str, int]] = {role: {} for role in pids}
    for role, role_pids in pids.items():
        for pid in role_pids:
            with contextlib.suppress(OSError):
                for fd in os.scandir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        inode = os.readlink(fd.path).removeprefix("socket:[")[:-1]
                        if inode in drops_by_inode:
                            found[role][inode] = drops_by_inode[inode]
    return found


def media_metrics(url: str) -> dict[str, float]:
    """livecart's own media counters (GET /metrics)."""
    import httpx

    wanted = {
        "frames_in": 'livecart_media_frames_in_total{kind="video"}',
        "frames_forwarded": 'livecart_media_frames_forwarded_total{kind="video"}',
        "frames_dropped": "livecart_media_frames_dropped_total",
        "keyframe_requests": 'livecart_media_keyframe_requests_total{outcome="sent"}',
    }
    found: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        for name, metric in wanted.items():
            if line.startswith(metric + " "):
                found[name] = float(line.split()[-1])
    return found


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def h264_preferences() -> list[Any]:
    """aiortc's H.264 capabilities and RTX: what both servers and every viewer offer."""
    from livecart.media.codecs import preferences

    return preferences("video", "H264")


# --- the clip ---------------------------------------------------------------------------


def _texture(width: int, height: int, seed: int, spread: int) -> list[bytes]:
    """Rows of a field of 24-pixel blocks with fine grain and diagonal stripes, values
    within ``spread`` of mid-grey: detail at several scales, as a camera would see."""
    rnd = random.Random(seed)
    blocks = [[rnd.randrange(256) for _ in range(width // 24 + 2)] for _ in range(height // 24 + 2)]
    rows = []
    for y in range(height):
        block_row = blocks[y // 24]
        grain = rnd.randbytes(width)
        rows.append(
            bytes(
                128
                + (((block_row[x // 24] * 3 + grain[x]) // 4 * 7 // 8 + (x + y) % 32) - 127)
                * spread
                // 128
                for x in range(width)
            )
        )
    return rows


class ClipPictures:
    """Frame ``index`` of the clip: the texture panned by (3, 1) pixels a frame, a box of
    fresh noise moving across it (what x264 cannot predict), chroma panning with it."""

    def __init__(self) -> None:
        self.luma = _texture(WIDTH + PAN_X, HEIGHT + PAN_Y, 1, 128)
        self.chroma = _texture((WIDTH + PAN_X) // 2, (HEIGHT + PAN_Y) // 2, 2, 48)

    def frame(self, index: int) -> av.VideoFrame:
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        dx, dy = (index * 3) % PAN_X, index % PAN_Y
        rows = [self.luma[dy + y][dx : dx + WIDTH] for y in range(HEIGHT)]
        box_w, box_h = NOISE_BOX
        bx, by = (index * 7) % (WIDTH - box_w), (index * 5) % (HEIGHT - box_h)
        for y in range(by, by + box_h):
            rows[y] = rows[y][:bx] + os.urandom(box_w) + rows[y][bx + box_w :]
        plane = frame.planes[0]
        pad = bytes(plane.line_size - WIDTH)
        plane.update(b"".join(row + pad for row in rows))
        half_w, half_h = WIDTH // 2, HEIGHT // 2
        for k, plane in enumerate(frame.planes[1:]):
            pad = bytes(plane.line_size - half_w)
            x0 = (dx // 2 + 50 * k) % (PAN_X // 2)
            y0 = dy // 2 + 40 * k
            plane.update(
                b"".join(
                    self.chroma[(y0 + y) % len(self.chroma)][x0 : x0 + half_w] + pad
                    for y in range(half_h)
                )
            )
        frame.pts = index
        frame.time_base = fractions.Fraction(1, FPS)
        return frame


def make_clip(path: Path, seconds: float) -> float:
    """Write the clip; returns its video bitrate in kbit/s."""
    pictures = ClipPictures()
    pcm = bytearray()  # one second of a 440 Hz tone: a whole number of periods
    for i in range(SAMPLE_RATE):
        value = int(3000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE))
        sample = value.to_bytes(2, "little", signed=True)
        pcm += sample + sample
    frames = int(seconds * FPS)
    video_bytes = 0
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height = WIDTH, HEIGHT
        video.pix_fmt = "yuv420p"
        video.bit_rate = VIDEO_BITRATE
        video.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "profile": "baseline",
            "g": str(FPS),
            "keyint_min": str(FPS),
            "sc_threshold": "0",
            "bf": "0",
            "maxrate": str(VIDEO_BITRATE),
            "bufsize": str(VIDEO_BITRATE),
        }
        video.codec_context.profile = "Baseline"
        audio = container.add_stream("libopus", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        samples_done = 0
        for index in range(frames + 1):
            for packet in video.encode(pictures.frame(index) if index < frames else None):
                video_bytes += packet.size
                container.mux(packet)
            while samples_done < min(index + 1, frames) * SAMPLE_RATE // FPS:
                chunk = AUDIO_FRAME * 4
                at = (samples_done % SAMPLE_RATE) * 4
                block = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME)
                block.planes[0].update(bytes(pcm[at : at + chunk]))
                block.sample_rate = SAMPLE_RATE
                block.pts = samples_done
                block.time_base = fractions.Fraction(1, SAMPLE_RATE)
                for packet in audio.encode(block):
                    container.mux(packet)
                samples_done += AUDIO_FRAME
        for packet in audio.encode(None):
            container.mux(packet)
    return video_bytes * 8 / seconds / 1000


# --- stock aiortc (run as `media_bench.py --serve-stock`) -------------------------------


async def serve_stock(buffered: bool) -> None:
    """WHIP in, WHEP out, written with stock aiortc as its examples are: the ingest is
    decoded and every viewer's sender re-encodes it. livecart's seam is not installed
    here (the check below makes sure of it)."""
    import aiortc.rtcrtpreceiver
    import uvicorn
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay
    from aiortc.mediastreams import MediaStreamTrack
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if aiortc.rtcrtpreceiver.decoder_worker.__module__ != "aiortc.rtcrtpreceiver":
        raise SystemExit("stock aiortc must decode: the receiver's decoder was replaced")
    relay = MediaRelay()
    sources: dict[str, MediaStreamTrack] = {}
    peers: set[RTCPeerConnection] = set()
    sdp = "application/sdp"

    async def whip(request: Request) -> Response:
        offer = RTCSessionDescription((await request.body()).decode(), "offer")
        pc = RTCPeerConnection()
        peers.add(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            sources[track.kind] = track

        # The publisher sends H.264 it did not encode here: receive it as H.264.
        pc.addTransceiver("video", direction="recvonly").setCodecPreferences(h264_preferences())
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setRemoteDescription(offer)
        await pc.setLocalDescription(await pc.createAnswer())
        headers = {"Location": f"/api/shows/{SHOW}/whip/1"}
        return Response(pc.localDescription.sdp, 201, media_type=sdp, headers=headers)

    async def whep(request: Request) -> Response:
        if "video" not in sources:
            return Response(status_code=409, headers={"Retry-After": "1"})
        offer = RTCSessionDescription((await request.body()).decode(), "offer")
        pc = RTCPeerConnection()
        peers.add(pc)
        await pc.setRemoteDescription(offer)
        for track in sources.values():
            pc.addTrack(relay.subscribe(track, buffered=buffered))
        await pc.setLocalDescription(await pc.createAnswer())
        headers = {"Location": f"/api/shows/{SHOW}/whep/{len(peers)}"}
        return Response(pc.localDescription.sdp, 201, media_type=sdp, headers=headers)

    app = Starlette(
        routes=[
            Route("/api/shows/{show}/whip", whip, methods=["POST"]),
            Route("/api/shows/{show}/whep", whep, methods=["POST"]),
        ]
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", loop="none")
    server = uvicorn.Server(config)
    print(f"listening http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    try:
        await server.serve(sockets=[listener])
    finally:
        await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)


# --- the publisher (run as `media_bench.py --publish URL CLIP TOKEN`) ---------------------


async def run_publisher(url: str, clip: str, token: str) -> None:
    """Go live with the clip, then obey stdin: ``start`` and ``stop`` (which reports the
    video packets sent in between and the connection's state), anything else closes."""
    from tests.media.peers import publish

    publisher = await publish(url, SHOW, {"Authorization": f"Bearer {token}"}, Path(clip))
    status = publisher.response.status_code
    print(json.dumps({"status": status, "body": publisher.response.text[:300]}), flush=True)
    if status != 201:
        return
    video = next(s for s in publisher.pc.getSenders() if s.track and s.track.kind == "video")

    async def packets_sent() -> int:
        report = await video.getStats()
        return sum(s.packetsSent for s in report.values() if s.type == "outbound-rtp")

    loop = asyncio.get_running_loop()
    sent0 = t0 = 0.0
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "start":
            sent0, t0 = await packets_sent(), time.monotonic()
        elif line == "stop":
            rate = (await packets_sent() - sent0) / (time.monotonic() - t0)
            print(json.dumps({"rtp_s": rate, "state": publisher.pc.connectionState}), flush=True)
        else:
            await publisher.close()
            return


# --- the viewers (run as `media_bench.py --view URL N TOKEN`) ---------------------------


@dataclass
class Tally:
    video: int = 0
    audio: int = 0
    video_bytes: int = 0
    decoded: int = 0  # frames a receiver decoded: must stay 0
    ready: bool = False  # it has received ``ready_frames`` video frames


@dataclass
class Viewers:
    ready_frames: int
    expected: int
    ready: int = 0
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    tallies: list[Tally] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def post_offer(url: str, sdp: str, token: str, within: float) -> str:
    """POST a WHEP offer until it is answered (409 while the stream is starting)."""
    import httpx

    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=30.0) as client:
        while True:
            response = await client.post(
                f"{url}/api/shows/{SHOW}/whep", content=sdp, headers=headers
            )
            if response.status_code == 201:
                return response.text
            if response.status_code not in (409, 503) or time.monotonic() > deadline:
                raise RuntimeError(f"WHEP answered {response.status_code}: {response.text[:300]}")
            await asyncio.sleep(0.2)


async def count_frames(viewers: Viewers, tally: Tally, track: Any) -> None:
    from aiortc.mediastreams import MediaStreamError

    with contextlib.suppress(MediaStreamError):
        while True:
            packet = await track.recv()
            if not isinstance(packet, av.Packet):
                tally.decoded += 1
            if track.kind == "video":
                tally.video += 1
                tally.video_bytes += packet.size if isinstance(packet, av.Packet) else 0
                if tally.video == viewers.ready_frames and not tally.ready:
                    tally.ready = True
                    viewers.ready += 1
                    if viewers.ready == viewers.expected:
                        viewers.all_ready.set()
            else:
                tally.audio += 1


async def add_viewer(url: str, token: str, viewers: Viewers) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    viewers.peers.append(pc)
    pc.addTransceiver("video", direction="recvonly").setCodecPreferences(h264_preferences())
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await post_offer(url, pc.localDescription.sdp, token, within=60)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    tally = Tally()
    viewers.tallies.append(tally)
    for transceiver in pc.getTransceivers():
        track = transceiver.receiver.track
        if track is not None:
            viewers.tasks.append(asyncio.create_task(count_frames(viewers, tally, track)))


async def run_viewers(
    url: str, count: int, token: str, ready_frames: int, ready_timeout: float, path: str = "whep"
) -> None:
    """``count`` WHEP viewers (``path`` "janus": viewers through livecart's Janus relay,
    bench/media_paths.py) that never decode; then obey stdin: ``start`` counts, ``stop``
    reports, anything else closes them."""
    from livecart.media import passthrough

    passthrough.install()
    raise_open_files()
    viewers = Viewers(ready_frames=ready_frames, expected=count)
    gate = asyncio.Semaphore(4)
    if path == "janus":
        from bench.media_paths import add_janus_viewer as add
    else:
        add = add_viewer

    async def one() -> None:
        async with gate:
            await add(url, token, viewers)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(viewers.all_ready.wait(), ready_timeout)
    waited = time.monotonic() - started
    print(json.dumps({"viewers": count, "ready": viewers.ready, "seconds": waited}), flush=True)
    loop = asyncio.get_running_loop()
    me = os.getpid()
    cpu0 = t0 = 0.0
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "start":
            for tally in viewers.tallies:
                tally.video = tally.audio = tally.video_bytes = 0
            cpu0, t0 = cpu_seconds(me), time.monotonic()
        elif line == "stop":
            elapsed, cpu = time.monotonic() - t0, cpu_seconds(me) - cpu0
            report = {
                "seconds": elapsed,
                "cpu_s": cpu,
                "video": [t.video for t in viewers.tallies],
                "audio": [t.audio for t in viewers.tallies],
                "video_bytes": [t.video_bytes for t in viewers.tallies],
                "decoded": sum(t.decoded for t in viewers.tallies),
                "connected": sum(pc.connectionState == "connected" for pc in viewers.peers),
            }
            print(json.dumps(report), flush=True)
        else:
            for task in viewers.tasks:
                task.cancel()
            await asyncio.gather(*(pc.close() for pc in viewers.peers), return_exceptions=True)
            return


# --- the driver -------------------------------------------------------------------------


class Child:
    """A helper process of this bench: the stock server, the publisher or viewers."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def line(self, within: float = 120.0) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), within)
        if not line:
            raise RuntimeError(f"{self.proc.args!r} exited with {self.proc.wait()}")
        return line.strip()

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)


async def start_server(
    server: str, redis_url: str, workdir: Path, buffered: bool, extra_env: dict[str, str]
) -> tuple[int, str, Any]:
    """(pid, base url, handle) of a server under test: ``livecart serve`` (with
    ``extra_env``: the Janus or HLS settings) or the stock aiortc server."""
    if server != "aiortc":
        env = {
            "LIVECART_REDIS_URL": redis_url,
            "LIVECART_AUTH_SECRET": SECRET,
            "LIVECART_AUTH_ADMIN_API_KEY": ADMIN_KEY,
            "LIVECART_SERVER_LOG_LEVEL": "warning",
            **extra_env,
        }
        node = LivecartProcess(["serve", "--port", "0"], cwd=workdir, env=env)
        url = await asyncio.to_thread(node.wait_for_url, 30.0)
        return node.proc.pid, url, node
    child = Child(["--serve-stock", *(["--stock-buffered"] if buffered else [])])
    url = (await child.line(30)).split()[-1]
    return child.proc.pid, url, child


async def stop_server(handle: Any) -> None:
    if isinstance(handle, LivecartProcess):
        handle.signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(handle.wait, 20)
        finally:
            handle.kill()
    else:
        await handle.stop()


def split(viewers: int) -> list[int]:
    """Viewers per client process: as even as it goes, no process without viewers."""
    shares = [
        viewers // CLIENT_PROCESSES + (i < viewers % CLIENT_PROCESSES)
        for i in range(CLIENT_PROCESSES)
    ]
    return [n for n in shares if n]


@dataclass
class Run:
    args: argparse.Namespace
    clip: Path
    redis: EmbeddedRedis
    workdir: Path
    streamer_token: str
    viewer_token: str


async def cores_of(pids: list[int], seconds: float) -> float:
    """The CPU of ``pids`` together over the next ``seconds``, in cores."""
    cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.monotonic()
    await asyncio.sleep(seconds)
    return (sum(cpu_seconds(p) for p in pids) - cpu0) / (time.monotonic() - t0)


def viewer_args(run: Run, server: str, url: str, count: int) -> list[str]:
    """A viewer process's arguments for the path ``server`` serves."""
    args = run.args
    if server == "hls":
        ready = str(args.ready_segments)
        return ["--view-hls", url, str(count), ready, str(args.ready_timeout)]
    flag = "--view-janus" if server == "janus" else "--view"
    ready = str(args.ready_frames)
    return [flag, url, str(count), run.viewer_token, ready, str(args.ready_timeout)]


async def one_row(run: Run, server: str, viewers: int) -> dict[str, Any]:
    """One server (livecart, aiortc, janus or hls) at one viewer count. ``janus``: a
    Janus of its own and a livecart node feeding it; ``hls``: a livecart node with
    media.hls on, whose ffmpeg is found once the stream is live."""
    from bench import media_paths

    args = run.args
    janus: Any = None
    extra_env: dict[str, str] = {}
    if server == "janus":
        janus_dir = run.workdir / f"janus-{viewers}"
        janus = await asyncio.to_thread(media_paths.start_janus, janus_dir)
        extra_env = media_paths.janus_env(janus)
    elif server == "hls":
        extra_env = media_paths.hls_env(run.workdir / f"hls-{viewers}")
    publisher: Child | None = None
    clients: list[Child] = []
    handle: Any = None
    try:
        pid, url, handle = await start_server(
            server, run.redis.url, run.workdir, args.stock_buffered, extra_env
        )
        # What serves the viewers: the node (WHEP), Janus, or the node and its ffmpeg.
        janus_pid = janus.pid if janus is not None else None
        serving = [janus_pid] if janus_pid is not None else [pid]
        idle = await cores_of(serving, args.baseline_seconds)
        publisher = Child(["--publish", url, str(run.clip), run.streamer_token])
        published = json.loads(await publisher.line(60))
        if published["status"] != 201:
            raise RuntimeError(f"{server} refused the publisher: {published}")
        ffmpeg = None
        if server == "hls":
            ffmpeg = await media_paths.wait_for_ffmpeg(pid)
            serving.append(ffmpeg)
        await asyncio.sleep(3)  # connected and past its first keyframe
        ingest_alone = await cores_of(serving, args.baseline_seconds)
        clients = [Child(viewer_args(run, server, url, n)) for n in split(viewers)]
        joined = [json.loads(await c.line(300)) for c in clients]
        await asyncio.sleep(args.warmup)
        roles = {
            "server": [pid],
            "publisher": [publisher.proc.pid],
            "viewers": [c.proc.pid for c in clients],
        }
        if janus_pid is not None:
            roles["janus"] = [janus_pid]
        if ffmpeg is not None:
            roles["ffmpeg"] = [ffmpeg]
        ours = [p for role in roles.values() for p in role] + [os.getpid()]
        if run.redis.pid is not None:
            ours.append(run.redis.pid)
        node0 = await asyncio.to_thread(media_metrics, url) if server != "aiortc" else {}
        udp0 = udp_errors()
        drops0 = udp_drops(roles)
        cpu0 = {p: cpu_seconds(p) for p in ours}
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        for child in (publisher, *clients):
            child.tell("start")
        await asyncio.sleep(args.seconds)
        for child in (publisher, *clients):
            child.tell("stop")
        elapsed = time.monotonic() - t0
        cpu = {p: max(0.0, cpu_seconds(p) - cpu0[p]) for p in ours}  # 0: it exited
        busy = machine_busy_seconds() - busy0
        udp = {k: v - udp0[k] for k, v in udp_errors().items()}
        drops = {
            role: sum(n - drops0[role].get(inode, 0) for inode, n in sockets.items())
            for role, sockets in udp_drops(roles).items()
        }
        ffmpeg_same = ffmpeg is None or media_paths.ffmpeg_child(pid) == ffmpeg
        node = await asyncio.to_thread(media_metrics, url) if server != "aiortc" else {}
        seen = [json.loads(await c.line(60)) for c in clients]
        sent = json.loads(await publisher.line(60))
    finally:
        for client in clients:
            client.tell("exit")
        for client in clients:
            await client.stop()
        if publisher is not None:
            publisher.tell("exit")
            await publisher.stop()
        if handle is not None:
            await stop_server(handle)
        if janus is not None:
            await asyncio.to_thread(janus.stop)
    cores = sum(cpu[p] for p in serving) / elapsed
    row: dict[str, Any] = {
        "server": server,
        "viewers": viewers,
        "ready": sum(j["ready"] for j in joined),
        "join_s": max(j["seconds"] for j in joined),
        "connected": sum(s["connected"] for s in seen),
        "idle_cores": idle,
        "ingest_alone_cores": ingest_alone,
        "server_cores": cores,
        "per_viewer_cores": cores / viewers,
        "added_per_viewer_cores": (cores - ingest_alone) / viewers,
        "node_cores": cpu[pid] / elapsed,
        "janus_cores": cpu[janus_pid] / elapsed if janus_pid is not None else None,
        "ffmpeg_cores": cpu[ffmpeg] / elapsed if ffmpeg is not None else None,
        "ffmpeg_restarted": not ffmpeg_same,
        "client_cores": sum(s["cpu_s"] for s in seen) / elapsed,
        "publisher_cores": cpu[publisher.proc.pid] / elapsed,
        "others_cores": max(0.0, busy - sum(cpu.values())) / elapsed,
        "udp_errors": udp,
        "udp_drops": drops,
        "publisher_rtp_s": sent["rtp_s"],
        "publisher_state": sent["state"],
        "node": {k: v - node0.get(k, 0) for k, v in node.items()},
        "seconds": elapsed,
    }
    if server == "hls":
        seg_s = [n / s["seconds"] for s in seen for n in s["segments"]]
        media = [m / s["seconds"] for s in seen for m in s["media_s"]]
        kbits = [b * 8 / s["seconds"] / 1000 for s in seen for b in s["bytes"]]
        row.update(
            segments_s_mean=sum(seg_s) / len(seg_s),
            segments_s_min=min(seg_s),
            media_s_mean=sum(media) / len(media),
            media_s_min=min(media),
            kbit_s_mean=sum(kbits) / len(kbits),
            http_errors=sum(s["errors"] for s in seen),
            decoded_by_viewers=0,
            ms_per_frame=float("nan"),
        )
        return row
    fps = [n / s["seconds"] for s in seen for n in s["video"]]
    audio_fps = [n / s["seconds"] for s in seen for n in s["audio"]]
    kbits = [b * 8 / s["seconds"] / 1000 for s in seen for b in s["video_bytes"]]
    delivered = sum(fps) * elapsed
    row.update(
        decoded_by_viewers=sum(s["decoded"] for s in seen),
        fps_mean=sum(fps) / len(fps),
        fps_min=min(fps),
        audio_fps_mean=sum(audio_fps) / len(audio_fps),
        kbit_s_mean=sum(kbits) / len(kbits),
        ms_per_frame=cores * elapsed / delivered * 1000 if delivered else float("nan"),
    )
    return row


def table(rows: list[dict[str, Any]]) -> str:
    base = {r["viewers"]: r for r in rows if r["server"] == "livecart"}
    out = [
        "| server   | viewers | server CPU | CPU / viewer | video fps / viewer (min) "
        "| kbit/s / viewer | ms / frame | x pass-through / viewer | x pass-through / frame "
        "| clients | others |",
        "|----------|--------:|-----------:|-------------:|-------------------------:"
        "|----------------:|-----------:|------------------------:|-----------------------:"
        "|--------:|-------:|",
    ]
    for r in rows:
        forwarded = base.get(r["viewers"])
        per_viewer = per_frame = "-"
        if forwarded is not None and r is not forwarded:
            per_viewer = f"{r['per_viewer_cores'] / forwarded['per_viewer_cores']:.1f}"
            per_frame = f"{r['ms_per_frame'] / forwarded['ms_per_frame']:.1f}"
        fps = f"{r['fps_mean']:.1f} ({r['fps_min']:.1f})"
        out.append(
            f"| {r['server']:<8} | {r['viewers']:>7} | {r['server_cores']:>10.3f} "
            f"| {r['per_viewer_cores']:>12.4f} | {fps:>24} | {r['kbit_s_mean']:>15.0f} "
            f"| {r['ms_per_frame']:>10.3f} | {per_viewer:>23} | {per_frame:>22} "
            f"| {r['client_cores']:>7.2f} | {r['others_cores']:>6.2f} |"
        )
    return "\n".join(out)


PATHS = {"livecart": "WHEP", "aiortc": "aiortc", "janus": "Janus", "hls": "HLS"}


def paths_table(rows: list[dict[str, Any]]) -> str:
    """The large-audience table: what serves the viewers on each path, its CPU in all
    and per viewer (and above the ingest alone), the node's, Janus' and ffmpeg's shares,
    what each viewer got, the viewers' own CPU and the rest of the machine."""
    out = [
        "| path   | viewers | server CPU | CPU / viewer | added / viewer |  node | Janus "
        "| ffmpeg | video fps or HLS segments/s / viewer (min) | kbit/s / viewer "
        "| clients | others |",
        "|--------|--------:|-----------:|-------------:|---------------:|------:|------:"
        "|-------:|-------------------------------------------:|----------------:"
        "|--------:|-------:|",
    ]

    def cores(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for r in rows:
        if r["server"] == "hls":
            got = f"{r['segments_s_mean']:.2f} seg/s ({r['segments_s_min']:.2f})"
        else:
            got = f"{r['fps_mean']:.1f} fps ({r['fps_min']:.1f})"
        out.append(
            f"| {PATHS[r['server']]:<6} | {r['viewers']:>7} | {r['server_cores']:>10.3f} "
            f"| {r['per_viewer_cores']:>12.4f} | {r['added_per_viewer_cores']:>14.4f} "
            f"| {r['node_cores']:>5.3f} | {cores(r['janus_cores']):>5} "
            f"| {cores(r['ffmpeg_cores']):>6} | {got:>42} | {r['kbit_s_mean']:>15.0f} "
            f"| {r['client_cores']:>7.2f} | {r['others_cores']:>6.2f} |"
        )
    return "\n".join(out)


def row_notes(args: argparse.Namespace, r: dict[str, Any]) -> str:
    """What a row's table line leaves out."""
    if r["server"] == "hls":
        got = (
            f"{r['ready']} downloaded {args.ready_segments} segments in {r['join_s']:.1f} s, "
            f"{r['connected']} with their last request answered, {r['http_errors']} failed "
            f"requests; media per viewer {r['media_s_mean']:.2f} s/s "
            f"(slowest {r['media_s_min']:.2f}); ffmpeg "
            f"{'restarted in the window' if r['ffmpeg_restarted'] else 'ran throughout'}"
        )
    else:
        got = (
            f"{r['ready']} reached {args.ready_frames} frames in {r['join_s']:.1f} s, "
            f"{r['connected']} connected at the end, {r['decoded_by_viewers']} frames decoded "
            f"by viewers, audio {r['audio_fps_mean']:.1f} frames/s"
        )
    drops = ", ".join(f"{role} {n}" for role, n in r["udp_drops"].items())
    line = (
        f"{PATHS[r['server']]}, {r['viewers']} viewers: {got}; datagrams dropped for a full "
        f"socket buffer: {r['udp_errors']['RcvbufErrors']} ({drops}); publisher "
        f"{r['publisher_cores']:.2f} core, video RTP sent {r['publisher_rtp_s']:.0f}/s, "
        f"{r['publisher_state']}; server CPU idle {r['idle_cores']:.3f}, with the ingest "
        f"and no viewer {r['ingest_alone_cores']:.3f}"
    )
    node = r["node"]
    if node:
        line += (
            f"; node: video frames in {node['frames_in'] / r['seconds']:.1f}/s, "
            f"forwarded {node['frames_forwarded'] / r['seconds']:.0f}/s, dropped "
            f"{node['frames_dropped']:.0f}, keyframe requests {node['keyframe_requests']:.0f}"
        )
    return line


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    levels = [int(v) for v in args.viewers.split(",")]
    servers = args.servers.split(",")
    extras = [e.partition(":")[0] for e in args.extra_rows.split(",") if e]
    unknown = set(servers + extras) - set(PATHS)
    if unknown:
        raise SystemExit(f"--servers: no such server {', '.join(sorted(unknown))}")
    if {"janus", "hls"} & set(servers + extras):
        from bench.media_paths import missing_binaries

        if missing := missing_binaries():
            raise SystemExit(
                f"the janus and hls rows need Debian's {' and '.join(missing)}: "
                f"apt-get install {' '.join(missing)}"
            )
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcm") as tmp:
        root = Path(tmp)
        clip = root / "clip.ts"
        clip_seconds = args.warmup + args.seconds + args.ready_timeout + args.clip_margin
        started = time.monotonic()
        kbit_s = await asyncio.to_thread(make_clip, clip, clip_seconds)
        print(
            f"clip: {clip_seconds:g} s, {WIDTH}x{HEIGHT} {FPS} fps H.264 at {kbit_s:.0f} kbit/s "
            f"+ Opus, made in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        redis = EmbeddedRedis(root / "r", binary=bundled_server_binary(), appendfsync="everysec")
        await redis.start()
        try:
            settings = Settings().with_overrides(
                {
                    "redis": {"url": redis.url},
                    "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
                    "server": {"log_level": "warning"},
                }
            )
            async with running(settings, workers=NODE_WORKERS) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime)
            run = Run(
                args=args,
                clip=clip,
                redis=redis,
                workdir=root,
                streamer_token=issue_token(
                    SECRET, sub="c1", role="streamer", show=SHOW, ttl_s=86_400
                ),
                viewer_token=issue_token(SECRET, sub="bench", role="viewer", ttl_s=86_400),
            )
            plan = [(server, viewers) for viewers in levels for server in servers]
            for extra in filter(None, args.extra_rows.split(",")):
                server, _, count = extra.partition(":")
                plan.append((server, int(count)))
            for server, viewers in plan:
                row = await one_row(run, server, viewers)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            await redis.stop()
    load_after = load_average()
    print(
        f"video benchmark: {WIDTH}x{HEIGHT} {FPS} fps H.264 ({kbit_s:.0f} kbit/s, keyframe every "
        f"1 s) + Opus; {args.seconds:g} s measured after {args.warmup:g} s warm-up; "
        f"{os.cpu_count()} cores; load average {load_before} before, {load_after} after"
    )
    paths = any(r["server"] in ("janus", "hls") for r in rows)
    print(paths_table(rows) if paths else table(rows))
    for r in rows:
        print(row_notes(args, r))


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--viewers", default="1,10,40")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument(
        "--extra-rows",
        default="",
        help="rows after the others, SERVER:VIEWERS comma-separated (e.g. hls:200,janus:80)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=5.0,
        help="server CPU measured idle, then with the ingest and no viewer, before viewers join",
    )
    parser.add_argument(
        "--ready-frames", type=int, default=30, help="video frames every viewer gets first"
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds the viewers get to reach --ready-frames (then the row is measured anyway)",
    )
    parser.add_argument(
        "--ready-segments",
        type=int,
        default=5,
        help="HLS segments every player downloads first (the first three at once: the live edge)",
    )
    parser.add_argument(
        "--clip-margin",
        type=float,
        default=60.0,
        help="clip seconds beyond warm-up, measurement and --ready-timeout",
    )
    parser.add_argument(
        "--stock-buffered",
        action="store_true",
        help="aiortc's MediaRelay with buffered=True (its default): unbounded queues",
    )
    parser.add_argument("--serve-stock", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--publish", nargs=3, metavar=("URL", "CLIP", "TOKEN"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--view",
        nargs=5,
        metavar=("URL", "N", "TOKEN", "READY", "TIMEOUT"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--view-janus",
        nargs=5,
        metavar=("URL", "N", "TOKEN", "READY", "TIMEOUT"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--view-hls", nargs=4, metavar=("URL", "N", "READY", "TIMEOUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.view_janus:
        url, count, token, ready, timeout = args.view_janus
        uvloop.run(run_viewers(url, int(count), token, int(ready), float(timeout), "janus"))
    elif args.view_hls:
        from bench.media_paths import run_hls_players

        url, count, ready, timeout = args.view_hls
        uvloop.run(run_hls_players(url, int(count), int(ready), float(timeout)))
    elif args.serve_stock:
        uvloop.run(serve_stock(args.stock_buffered))
    elif args.publish:
        uvloop.run(run_publisher(*args.publish))
    elif args.view:
        url, count, token, ready, timeout = args.view
        uvloop.run(run_viewers(url, int(count), token, int(ready), float(timeout)))
    else:
        # Before any thread or child process: all of them inherit the namespace.
        enter_test_network()
        problem = network_problem()
        if problem is not None:
            raise SystemExit(f"media_bench needs its own network namespace: {problem}")
        print(f"network namespace entered; ICE on {TEST_ADDRESS}", file=sys.stderr)
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
