"""The position marker and what livecart reads in H.264, on real x264 output."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.media import h264
from livecart.media.marker import MARKER_UUID, marker_nal, read_marker, stamp
from tests.media.clips import make_clip


@pytest.fixture(scope="module")
def access_units(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    clip = make_clip(tmp_path_factory.mktemp("units") / "short.ts", 2)
    with av.open(str(clip)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def test_keyframes_are_found_once_a_second(access_units: list[bytes]) -> None:
    keyframes = [i for i, unit in enumerate(access_units) if h264.is_keyframe(unit)]
    assert keyframes == [0, 30]


def test_the_picture_size_comes_from_the_sps_with_its_cropping(access_units: list[bytes]) -> None:
    # 360 is not a multiple of 16: the SPS codes 368 lines and crops 8.
    assert h264.picture_size(access_units[0]) == (640, 360)
    assert h264.picture_size(access_units[1]) is None  # no SPS in a P-frame


@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720), (854, 480), (1920, 1080)])
def test_sps_sizes_for_common_pictures(tmp_path: Path, width: int, height: int) -> None:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.options = {"preset": "ultrafast", "profile": "high"}
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.pts = 0
    units = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    assert h264.picture_size(units) == (width, height)


def test_a_stamped_unit_carries_its_position_before_the_first_slice(
    access_units: list[bytes],
) -> None:
    for position, unit in enumerate(access_units, start=1_795_560_402_774):
        stamped = stamp(unit, position)
        assert read_marker(stamped) == position
        kinds = [h264.nal_type(n) for n in h264.nal_units(stamped)]
        first_slice = next(i for i, k in enumerate(kinds) if k in h264.VCL_TYPES)
        assert kinds[first_slice - 1] == h264.NAL_SEI
        assert read_marker(unit) is None


def test_decoders_ignore_the_marker(access_units: list[bytes]) -> None:
    def decode(units: list[bytes]) -> list[bytes]:
        codec = av.CodecContext.create("h264", "r")
        out = []
        for unit in units:
            for frame in codec.decode(av.Packet(unit)):
                out.append(bytes(frame.planes[0]))
        return out

    plain = decode(access_units)
    marked = decode([stamp(u, 10**12 + i) for i, u in enumerate(access_units)])
    assert len(plain) == len(access_units)
    assert marked == plain


def test_stamping_again_replaces_the_old_marker(access_units: list[bytes]) -> None:
    twice = stamp(stamp(access_units[3], 111), 222)
    assert read_marker(twice) == 222
    sei = [n for n in h264.nal_units(twice) if h264.nal_type(n) == h264.NAL_SEI]
    assert sum(MARKER_UUID.bytes in n for n in sei) == 1


def test_other_sei_messages_are_kept_and_skipped(access_units: list[bytes]) -> None:
    # x264 writes its own user_data_unregistered SEI (its settings) in the first unit.
    first = access_units[0]
    x264_sei = [n for n in h264.nal_units(first) if h264.nal_type(n) == h264.NAL_SEI]
    assert x264_sei and read_marker(first) is None
    stamped = stamp(first, 42)
    assert read_marker(stamped) == 42
    assert all(n in h264.nal_units(stamped) for n in x264_sei)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_any_position_survives_emulation_prevention(position: int) -> None:
    nal = marker_nal(position)
    for i in range(len(nal) - 2):
        assert not (nal[i] == 0 and nal[i + 1] == 0 and nal[i + 2] < 3), (
            "no start-code-like run (00 00 00, 00 00 01, 00 00 02) inside a NAL unit"
        )
    unit = h264.START_CODE + b"\x65\x88\x84" + h264.START_CODE + b"\x41\x9a"
    assert read_marker(stamp(unit, position)) == position


def test_positions_outside_eight_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        marker_nal(1 << 64)
    with pytest.raises(ValueError, match="does not fit"):
        marker_nal(-1)


def test_a_unit_without_a_slice_is_left_alone() -> None:
    parameter_sets = h264.START_CODE + b"\x67\x42\x00\x1f" + h264.START_CODE + b"\x68\xce"
    assert stamp(parameter_sets, 5) == parameter_sets


def test_rbsp_escaping_round_trips() -> None:
    raw = bytes([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4])
    escaped = h264.escape_rbsp(raw)
    assert h264.unescape_rbsp(escaped) == raw
    assert b"\x00\x00\x00" not in escaped and b"\x00\x00\x01" not in escaped
