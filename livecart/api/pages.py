"""The browser pages: HTML, CSS and ES modules from ``static/``, served by the node
itself (no CDN, no build step).

``static/`` sits at the top of the repository; a wheel carries it as
``livecart/static`` (pyproject maps it), and a checkout or an editable install reads it
in place. The first of the two that exists is served.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from livecart.store.keys import ID_PATTERN

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


# Pages change with every release and are small: the browser asks again each time
# (a 304 when nothing changed), so a fixed page is never served stale.
_HEADERS = {"Cache-Control": "no-cache"}


def page(path: str, file: str, *, ids: tuple[str, ...] = ()) -> Route:
    """A route serving ``static/<file>`` at ``path``. Path parameters named in ``ids``
    must be valid ids (shows, creators); anything else gets the not-found page, with
    404, before any page loads. The page itself reads its data from the API and the hub.
    """
    directory = static_dir()

    async def serve(request: Request) -> Response:
        for name in ids:
            if ID_PATTERN.fullmatch(request.path_params[name]) is None:
                return not_found_page()
        return FileResponse(directory / file, headers=_HEADERS)

    return Route(path, serve, methods=["GET", "HEAD"])


def not_found_page() -> Response:
    return FileResponse(static_dir() / "404.html", status_code=404, headers=_HEADERS)


# One line per page; the pages of other parts (studio, moderator, showcase, merchant)
# are added here the same way.
routes: list[BaseRoute] = [
    page("/", "index.html"),
    page("/shows/{show}", "viewer.html", ids=("show",)),
    page("/merchant", "merchant.html"),
    page("/c/{creator}", "showcase.html", ids=("creator",)),
    page("/studio/{show}", "studio.html", ids=("show",)),
    page("/moderate/{show}", "moderate.html", ids=("show",)),
    Mount("/static", app=StaticFiles(directory=static_dir()), name="static"),
]
