"""What livecart reads in an H.264 access unit without decoding it: where its NAL units
are, whether it starts a picture a new viewer can decode from, and the picture size its
sequence parameter set declares.

Access units arrive as Annex B byte streams (start code + NAL unit), which is how
aiortc's depayloader hands them over and how its packetizer takes them back.
"""

from __future__ import annotations

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
VCL_TYPES = frozenset(range(1, 6))  # coded slices: the picture itself

START_CODE = b"\x00\x00\x00\x01"


def nal_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each NAL unit's bytes (header included, start code excluded)."""
    spans: list[tuple[int, int]] = []
    n = len(data)
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = n if nxt == -1 else nxt
        # A 4-byte start code's leading zero (and trailing_zero_8bits) belongs to no unit.
        while end > start and data[end - 1] == 0:
            end -= 1
        if end > start:
            spans.append((start, end))
        i = nxt
    return spans


def nal_units(data: bytes) -> list[bytes]:
    return [data[start:end] for start, end in nal_spans(data)]


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def join_nal_units(units: list[bytes]) -> bytes:
    return b"".join(START_CODE + unit for unit in units)


def is_keyframe(access_unit: bytes) -> bool:
    """True when the access unit holds an IDR slice: decoding can start here."""
    return any(access_unit[start] & 0x1F == NAL_IDR for start, _ in nal_spans(access_unit))


def escape_rbsp(payload: bytes) -> bytes:
    """Insert emulation-prevention bytes: no 00 00 0x (x <= 3) may appear in a NAL unit."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (the 03 in 00 00 03)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    """A reader of the exp-Golomb coded fields of a parameter set."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        if self.pos >= len(self.data) * 8:
            raise ValueError("the parameter set ends early")
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an exp-Golomb code is too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def sps_picture_size(sps: bytes) -> tuple[int, int]:
    """(width, height) in pixels that an SPS NAL unit declares, cropping applied.

    Raises ValueError for a unit that is not an SPS or ends early.
    """
    if not sps or nal_type(sps) != NAL_SPS:
        raise ValueError("not a sequence parameter set")
    r = _Bits(unescape_rbsp(sps[1:]))
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags, reserved bits, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = r.bit()
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = r.ue()
    if pic_order_cnt_type == 0:
        r.ue()
    elif pic_order_cnt_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()  # mb_adaptive_frame_field_flag
    r.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if r.bit():  # frame_cropping_flag
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    width = width_mbs * 16
    height = height_map_units * 16 * (2 - frame_mbs_only)
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    crop_x = 1 if chroma_array_type == 0 else (2 if chroma_array_type in (1, 2) else 1)
    crop_y = (1 if chroma_array_type != 1 else 2) * (2 - frame_mbs_only)
    if chroma_array_type == 0:
        crop_y = 2 - frame_mbs_only
    left, right, top, bottom = crop
    return width - crop_x * (left + right), height - crop_y * (top + bottom)


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last, nxt = 8, 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = nxt if nxt != 0 else last


def picture_size(access_unit: bytes) -> tuple[int, int] | None:
    """The size declared by the access unit's SPS, or None when it carries none."""
    for start, end in nal_spans(access_unit):
        if access_unit[start] & 0x1F == NAL_SPS:
            try:
                return sps_picture_size(access_unit[start:end])
            except ValueError:
                return None
    return None
