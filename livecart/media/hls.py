"""HLS for large audiences: the ingest node's ffmpeg turns a show's forwarded RTP into
fMP4 segments and a live playlist, with ``-c copy``, so the frames in the segments are
the ones WHEP viewers get, SEI markers and all, and a CDN can serve them to any number
of players.

One ffmpeg per live H.264 show, a child of the node, reading the relay's RTP copy
(livecart.media.rtp_out) on two loopback UDP ports named in an SDP file. It writes into
``<hls_dir>/<show>/``: ``index.m3u8`` (``#EXT-X-PROGRAM-DATE-TIME`` on every segment),
``init.mp4`` and ``seg-N.m4s``, the oldest deleted as the playlist moves on. The
directory's name is the show id, so a CDN in front of ``hls_dir`` serves the same paths
as the node's ``/hls/``.

- An ffmpeg that exits while the stream is live is started again, with backoff; the
  restarted one appends to the playlist (``append_list``: numbering goes on, after an
  ``#EXT-X-DISCONTINUITY``), so players carry on rather than start over.
- The playlist never gets ``#EXT-X-ENDLIST`` (``omit_endlist``): a crashed ffmpeg must not
  tell players the show is over. When the stream ends its directory is deleted at once,
  so a player gets 404 (pages stop on ``stream_ended`` anyway), and the next stream of
  the show starts from an empty directory: a playlist of the last stream is never
  served as live.
- VP8 streams get no HLS: an fMP4 of VP8 carries no marker, and few players play it.
- ffmpeg's stderr (warnings only) goes to ``ffmpeg.log`` in the show's directory, kept
  under ``LOG_BYTES`` (one older file beside it); the last lines are logged when it exits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from livecart.config import Settings
from livecart.media.relay import StreamRelay
from livecart.media.rtp_out import AUDIO_PT, VIDEO_PT, Destination, RtpOut

log = logging.getLogger("livecart.media")

DESTINATION = "hls"  # this output's name among the relay's RTP destinations
PLAYLIST = "index.m3u8"
INIT = "init.mp4"
SEGMENT = re.compile(r"seg-[0-9]{1,12}\.m4s")
SDP_FILE = "stream.sdp"
LOG_FILE = "ffmpeg.log"
LOG_BYTES = 256 * 1024
LOG_TAIL_LINES = 12
STOP_GRACE_S = 2.0  # SIGTERM, then SIGKILL: with no RTP coming ffmpeg takes ~10 s to quit
RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
STABLE_S = 30.0  # an ffmpeg that ran this long restarts without the backoff it had
KEYFRAME_AFTER_S = 0.5  # ask the publisher for a keyframe once ffmpeg listens
FLAGS = "delete_segments+program_date_time+independent_segments+omit_endlist"


def hls_root(settings: Settings) -> Path:
    """Where every show's HLS directory is: ``media.hls_dir``, else
    ``<redis.data_dir>/hls``, made absolute (ffmpeg runs in the show's directory)."""
    configured = settings.media.hls_dir or os.path.join(settings.redis.data_dir, "hls")
    return Path(configured).absolute()


def served_name(name: str) -> bool:
    """The only files of a show's directory that are served: nothing else (the SDP
    file, ffmpeg's log, a path with a slash or ``..``) ever is."""
    return name in (PLAYLIST, INIT) or SEGMENT.fullmatch(name) is not None


def show_dir_name(show: str) -> bool:
    """A show id that is safe as a directory name (ids may be ``.`` or ``..``)."""
    return show not in ("", ".", "..") and "/" not in show and "\0" not in show


def sdp(video_port: int, audio_port: int) -> str:
    """The SDP ffmpeg reads: the payload types and clocks RtpOut sends."""
    return (
        "v=0\r\n"
        "o=- 0 0 IN IP4 127.0.0.1\r\n"
        "s=livecart\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=video {video_port} RTP/AVP {VIDEO_PT}\r\n"
        f"a=rtpmap:{VIDEO_PT} H264/90000\r\n"
        f"a=fmtp:{VIDEO_PT} packetization-mode=1\r\n"
        f"m=audio {audio_port} RTP/AVP {AUDIO_PT}\r\n"
        f"a=rtpmap:{AUDIO_PT} opus/48000/2\r\n"
    )


def ffmpeg_command(
    ffmpeg: str, segment_s: float, playlist_segments: int, *, append: bool
) -> list[str]:
    """ffmpeg's arguments, run in the show's directory (Debian's ffmpeg 5.1)."""
    flags = FLAGS + ("+append_list" if append else "")
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "warning",
        "-protocol_whitelist",
        "file,udp,rtp",
        "-i",
        SDP_FILE,
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_segment_type",
        "fmp4",
        "-hls_time",
        f"{segment_s:g}",
        "-hls_list_size",
        str(playlist_segments),
        "-hls_flags",
        flags,
        "-hls_fmp4_init_filename",
        INIT,
        "-hls_segment_filename",
        "seg-%d.m4s",
        PLAYLIST,
    ]


def free_port_pair() -> tuple[int, int]:
    """Two loopback UDP ports for ffmpeg: ``(video, audio)``, each even with the odd
    port after it free too (ffmpeg opens RTP port + 1 for RTCP). Free when checked:
    another process may take one before ffmpeg binds it, and then ffmpeg exits and is
    started again on new ports."""
    for _ in range(50):
        held: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(first)
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
            if base % 2 or base + 3 > 65535:
                continue
            for port in range(base + 1, base + 4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return base, base + 2
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise OSError("no four consecutive free UDP ports on 127.0.0.1 for ffmpeg")


@dataclass
class _ShowHls:
    """One show's ffmpeg and where it writes."""

    show: str
    relay: StreamRelay
    rtp_out: RtpOut
    directory: Path
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    stopping: bool = False
    launches: int = 0
    log_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=LOG_TAIL_LINES)
    )


class HlsOutput:
    """The HLS writer of one node, owned by its MediaNode: ``start_show`` when a show's
    stream goes live here, ``stop_show`` when it ends, ``stop`` when the node stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.media
        self.root = hls_root(settings)
        self._shows: dict[str, _ShowHls] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._problem: str | None = None
        self._checked = False

    # -- state ---------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """HLS is on and can run on this node."""
        return self.settings.hls and self.problem() is None

    def problem(self) -> str | None:
        """Why HLS cannot run although ``media.hls`` is on (ffmpeg missing or not
        runnable, ``hls_dir`` not writable); None when it can or when it is off.
        Checked once, at the first call (the node's start)."""
        if not self.settings.hls:
            return None
        if not self._checked:
            self._problem = self._ffmpeg_problem() or self._dir_problem()
            self._checked = True
        return self._problem

    def _ffmpeg_problem(self) -> str | None:
        binary = self.settings.ffmpeg
        found = shutil.which(binary)
        if found is None:
            return f"media.hls is on but the ffmpeg binary {binary!r} was not found (media.ffmpeg)"
        try:
            run = subprocess.run(
                [found, "-hide_banner", "-h", "muxer=hls"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"media.hls is on but the ffmpeg binary {found!r} does not run: {exc}"
        if run.returncode != 0 or b"hls_time" not in run.stdout:
            return f"media.hls is on but {found!r} does not run as ffmpeg with an HLS muxer"
        return None

    def _dir_problem(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-check-"):
                pass
        except OSError as exc:
            return f"media.hls is on but its directory {str(self.root)!r} is not writable: {exc}"
        return None

    def active(self, show: str) -> bool:
        """This node writes HLS for the show now."""
        job = self._shows.get(show)
        return job is not None and not job.stopping

    def playlist_url(self, show: str, node_url: str) -> str:
        """Where players fetch the show's playlist: through ``media.hls_base_url`` (a CDN
        in front of ``hls_dir``) when set, else from the ingest node itself."""
        base = self.settings.hls_base_url.rstrip("/") or f"{node_url.rstrip('/')}/hls"
        return f"{base}/{show}/{PLAYLIST}"

    def path_for(self, show: str, name: str) -> Path | None:
        """The file to serve for ``/hls/{show}/{name}``, or None when this node writes no
        HLS for the show or ``name`` is none of its files. The file itself may not be
        written yet (or already be deleted): the caller answers 404 then."""
        job = self._shows.get(show)
        if job is None or job.stopping or not served_name(name):
            return None
        return job.directory / name

    # -- lifecycle -----------------------------------------------------------------

    async def start_show(self, show: str, relay: StreamRelay) -> None:
        """The show's stream went live on this node: write its HLS, when HLS is on and
        the stream is H.264. Called again for the same stream (a publisher replaced on
        this node) it changes nothing, unless the relay's RTP copy was replaced (the
        codec changed): then ffmpeg starts over on the new one, or stops for VP8."""
        async with self._lock(show):
            rtp_out = relay.rtp_out
            current = self._shows.get(show)
            if current is not None:
                if current.rtp_out is rtp_out and rtp_out is not None and not current.stopping:
                    return
                await self._stop_locked(show)
            if not self.enabled or relay.codec != "H264" or rtp_out is None:
                return
            if not show_dir_name(show):
                log.warning("no HLS for show %r: its id cannot name a directory", show)
                return
            directory = self.root / show
            # A directory left by a node that died: its playlist is not this stream's.
            await asyncio.to_thread(_reset_dir, directory)
            job = _ShowHls(show, relay, rtp_out, directory)
            self._shows[show] = job
            job.task = asyncio.create_task(self._run(job), name=f"hls-{show}")

    async def stop_show(self, show: str) -> None:
        """The show's stream ended on this node: its ffmpeg stops and its files go."""
        async with self._lock(show):
            await self._stop_locked(show)

    async def stop(self) -> None:
        """The node stops: every show's ffmpeg with it."""
        await asyncio.gather(*(self.stop_show(show) for show in list(self._shows)))

    def _lock(self, show: str) -> asyncio.Lock:
        return self._locks.setdefault(show, asyncio.Lock())

    async def _stop_locked(self, show: str) -> None:
        """Idempotent, and safe to cancel: the show is forgotten only once its ffmpeg
        is gone, so a stop cut short (the node stopping) is finished by ``stop()``."""
        job = self._shows.get(show)
        if job is None:
            return
        job.stopping = True
        job.rtp_out.remove(DESTINATION)
        if job.process is not None:
            await _end_process(job.process)
        if job.task is not None:
            job.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job.task
        await asyncio.to_thread(shutil.rmtree, job.directory, True)
        del self._shows[show]
        log.info("HLS of show %s stopped", show)

    # -- ffmpeg --------------------------------------------------------------------

    async def _run(self, job: _ShowHls) -> None:
        """Run the show's ffmpeg until ``stop_show``, starting it again when it exits."""
        failures = 0
        while not job.stopping:
            started = time.monotonic()
            returncode: int | str
            try:
                returncode = await self._run_once(job)
            except OSError as exc:
                returncode = f"not started: {exc}"
            if job.stopping:
                return
            ran = time.monotonic() - started
            failures = 0 if ran >= STABLE_S else failures + 1
            delay = min(RESTART_MAX_S, RESTART_MIN_S * 2 ** (failures - 1)) if failures else 0.0
            log.warning(
                "ffmpeg for the HLS of show %s exited (%s) after %.1f s; starting it again "
                "in %.1f s. Its last lines: %s",
                job.show,
                returncode,
                ran,
                delay,
                " | ".join(job.log_tail) or "none",
            )
            await asyncio.sleep(delay)

    async def _run_once(self, job: _ShowHls) -> int:
        video_port, audio_port = free_port_pair()
        await asyncio.to_thread(_write_text, job.directory / SDP_FILE, sdp(video_port, audio_port))
        command = ffmpeg_command(
            self.settings.ffmpeg,
            self.settings.hls_segment_s,
            self.settings.hls_playlist_segments,
            append=job.launches > 0 and (job.directory / PLAYLIST).exists(),
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=job.directory,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a ^C on the node's terminal is the node's to handle
        )
        job.process = process
        job.launches += 1
        log.info(
            "HLS of show %s: ffmpeg %s reads RTP on 127.0.0.1:%s (video) and :%s (audio), "
            "writes %s",
            job.show,
            process.pid,
            video_port,
            audio_port,
            job.directory,
        )
        job.rtp_out.add(
            DESTINATION,
            Destination(video=("127.0.0.1", video_port), audio=("127.0.0.1", audio_port)),
        )
        stderr = asyncio.create_task(_keep_log(process, job), name=f"hls-log-{job.show}")
        try:
            # ffmpeg starts on a keyframe: ask for one rather than wait for the next.
            await asyncio.sleep(KEYFRAME_AFTER_S)
            job.relay.request_keyframe()
            return await process.wait()
        finally:
            if process.returncode is None:
                await _end_process(process)
            await stderr


async def _end_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after ``STOP_GRACE_S``."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _keep_log(process: asyncio.subprocess.Process, job: _ShowHls) -> None:
    """ffmpeg's stderr into ``ffmpeg.log`` (at most ``LOG_BYTES``, then it moves to
    ``ffmpeg.log.1``), its last lines kept for the node's log."""
    assert process.stderr is not None
    path = job.directory / LOG_FILE
    while True:
        line = await process.stderr.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").rstrip()
        job.log_tail.append(text)
        with contextlib.suppress(OSError):  # the directory is gone: the show stopped
            if path.exists() and path.stat().st_size > LOG_BYTES:
                path.replace(path.with_name(LOG_FILE + ".1"))
            with path.open("a", encoding="utf-8") as out:
                out.write(text + "\n")


def _reset_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
