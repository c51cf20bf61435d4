"""A clip made with PyAV for the video tests: H.264 (Annex B, keyframe every second) and
Opus in MPEG-TS, the shape OBS sends. MPEG-TS keeps H.264 in Annex B, which aiortc's
packetizer takes as it is (MP4 and Matroska hold length-prefixed units instead).

Each frame draws a bright bar whose place moves with the frame number on a mid-grey
field, so a decoded frame is never black and motion shows that frames advance.
"""

from __future__ import annotations

import fractions
import math
from pathlib import Path

import av

WIDTH, HEIGHT, FPS = 640, 360, 30
SAMPLE_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms of Opus


def make_clip(path: Path, seconds: float, *, codec: str = "libx264") -> Path:
    """Write the clip to ``path`` (H.264 by default; ``libvpx`` makes VP8 in WebM)."""
    frames = int(seconds * FPS)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=FPS)
        video.width, video.height = WIDTH, HEIGHT
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "profile": "baseline",
                "g": str(FPS),
                "keyint_min": str(FPS),
                "bf": "0",
            }
            video.codec_context.profile = "Baseline"
        else:
            video.options = {"g": str(FPS), "deadline": "realtime", "cpu-used": "8"}
        audio = container.add_stream("libopus", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        samples_done = 0
        for index in range(frames):
            for packet in video.encode(_video_frame(index)):
                container.mux(packet)
            while samples_done < (index + 1) * SAMPLE_RATE // FPS:
                for packet in audio.encode(_audio_frame(samples_done)):
                    container.mux(packet)
                samples_done += AUDIO_FRAME
        for packet in video.encode(None):
            container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    return path


def _video_frame(index: int) -> av.VideoFrame:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    bar = (index * 8) % WIDTH
    row = bytearray([110]) * WIDTH
    row[bar : bar + 40] = bytes([235]) * len(row[bar : bar + 40])
    luma = bytes(row) * HEIGHT
    y_plane = frame.planes[0]
    if y_plane.line_size == WIDTH:
        y_plane.update(luma)
    else:
        pad = bytes(y_plane.line_size - WIDTH)
        y_plane.update(b"".join(bytes(row) + pad for _ in range(HEIGHT)))
    for plane in frame.planes[1:]:
        plane.update(bytes([128]) * (plane.line_size * plane.height))
    frame.pts = index
    frame.time_base = fractions.Fraction(1, FPS)
    return frame


def _audio_frame(first_sample: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME)
    pcm = bytearray()
    for i in range(AUDIO_FRAME):
        value = int(3000 * math.sin(2 * math.pi * 440 * (first_sample + i) / SAMPLE_RATE))
        sample = value.to_bytes(2, "little", signed=True)
        pcm += sample + sample
    frame.planes[0].update(bytes(pcm))
    frame.sample_rate = SAMPLE_RATE
    frame.pts = first_sample
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return frame
