"""What livecart checks in a WHIP or WHEP offer before it builds a peer connection, so a
refusal names the problem (no video, a codec livecart cannot forward, the wrong
direction) instead of a failure deep in aiortc.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.sdp import SessionDescription

from livecart.errors import InvalidInput, Unprocessable

#: Video codecs livecart forwards, by preference. H.264 carries the position marker;
#: VP8 forwards but cannot carry it, so its overlays show on arrival.
FORWARDED_VIDEO = ("H264", "VP8")
FORWARDED_AUDIO = ("opus",)
SENDING = frozenset({"sendonly", "sendrecv"})
RECEIVING = frozenset({"recvonly", "sendrecv"})


@dataclass(frozen=True)
class MediaLine:
    kind: str
    direction: str
    codecs: tuple[str, ...]  # rtpmap names as offered ("H264", "AV1", "opus", "rtx"...)


@dataclass(frozen=True)
class Offer:
    sdp: str
    lines: tuple[MediaLine, ...]

    def line(self, kind: str) -> MediaLine | None:
        return next((m for m in self.lines if m.kind == kind), None)


def read_offer(body: bytes, max_bytes: int) -> Offer:
    """The offer's media lines; refused (400, naming ``body``) when it is not an SDP
    offer livecart can read."""
    if len(body) > max_bytes:
        raise InvalidInput(f"the SDP offer is larger than {max_bytes} bytes", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the SDP offer is not UTF-8 text", field="body") from None
    if not text.startswith("v=0"):
        raise InvalidInput("the body is not an SDP offer (it must start with v=0)", field="body")
    try:
        parsed = SessionDescription.parse(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise InvalidInput(f"the SDP offer cannot be read: {exc}", field="body") from None
    lines = []
    for media in parsed.media:
        codecs = tuple(codec.mimeType.split("/", 1)[-1] for codec in media.rtp.codecs)
        lines.append(MediaLine(media.kind, media.direction or "sendrecv", codecs))
    if not lines:
        raise InvalidInput("the SDP offer has no media (m=) line", field="body")
    kinds = [m.kind for m in lines]
    for kind in ("audio", "video"):
        if kinds.count(kind) > 1:
            raise Unprocessable(
                f"the offer has {kinds.count(kind)} {kind} lines; livecart takes one",
                code="too_many_tracks",
            )
    return Offer(text, tuple(lines))


def check_publish(offer: Offer) -> str:
    """The video codec a WHIP offer will be received in, or a refusal that says why."""
    video = offer.line("video")
    if video is None:
        raise Unprocessable("the offer has no video to publish", code="no_video")
    if video.direction not in SENDING:
        raise Unprocessable(
            f"the offer's video is {video.direction}; a WHIP publisher sends "
            "(sendonly or sendrecv)",
            code="wrong_direction",
        )
    chosen = _first_forwarded(video.codecs, FORWARDED_VIDEO)
    if chosen is None:
        offered = ", ".join(c for c in video.codecs if c.lower() not in ("rtx", "red", "ulpfec"))
        raise Unprocessable(
            f"livecart forwards H.264 (or VP8, without frame-exact overlays) and the offer "
            f"has only {offered or 'no video codec'}: set the encoder to H.264",
            code="codec_unsupported",
        )
    audio = offer.line("audio")
    if audio is not None and _first_forwarded(audio.codecs, FORWARDED_AUDIO) is None:
        raise Unprocessable(
            f"livecart forwards Opus audio and the offer has only {', '.join(audio.codecs)}",
            code="codec_unsupported",
        )
    return chosen


def check_play(offer: Offer, codec: str) -> None:
    """Refuse a WHEP offer that cannot receive the show's video in ``codec``."""
    video = offer.line("video")
    if video is None:
        raise Unprocessable("the offer has no video to receive", code="no_video")
    if video.direction not in RECEIVING:
        raise Unprocessable(
            f"the offer's video is {video.direction}; a WHEP player receives (recvonly)",
            code="wrong_direction",
        )
    if _first_forwarded(video.codecs, (codec,)) is None:
        raise Unprocessable(
            f"the show's video is {codec} and the offer does not accept it "
            f"(it offers {', '.join(video.codecs)})",
            code="codec_unsupported",
        )


def _first_forwarded(offered: tuple[str, ...], wanted: tuple[str, ...]) -> str | None:
    names = {c.lower() for c in offered}
    return next((w for w in wanted if w.lower() in names), None)
