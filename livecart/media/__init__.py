"""Video: WHIP ingest and WHEP playback, forwarded without re-encoding, every frame
marked with its stream position."""
