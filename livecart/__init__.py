"""livecart: a real-time live-shopping server."""

__version__ = "0.1.0"
