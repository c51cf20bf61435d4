"""The browser pages: HTML, CSS and ES modules from ``static/``, served by the node
itself (no CDN, no build step).

``static/`` sits at the top of the repository; a wheel carries it as
``livecart/static`` (pyproject maps it), and a checkout or an editable install reads it
in place. The first of the two that exists is served.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def static_dir() -> Path:
    """Where the pages are: inside the installed package, else next to it (a checkout)."""
    for candidate in (_PACKAGE_DIR / "static", _PACKAGE_DIR.parent / "static"):
        if (candidate / "js").is_dir():
            return candidate
    raise RuntimeError(
        f"livecart's pages are missing: neither {_PACKAGE_DIR / 'static'} nor "
        f"{_PACKAGE_DIR.parent / 'static'} exists (reinstall livecart)"
    )


routes = [
    Mount("/static", app=StaticFiles(directory=static_dir()), name="static"),
]
