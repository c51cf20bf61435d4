"""Lua scripts: one ``.lua`` file per operation, next to the module that calls it.

Every ``*.lua`` file in the package is registered by its file name (names are unique
across the package) and run by EVALSHA. Files whose name starts with ``_`` are
fragments: a script line ``--#include _name.lua`` is replaced by that fragment's text
before the script is hashed, so scripts that must make the same checks (every way of
taking stock) share one copy of them instead of drifting apart.

redis-py's ``AsyncScript`` loads a script again when the server answers NOSCRIPT (after
a restart without persistence of the script cache, a ``SCRIPT FLUSH``, or a failover),
so callers never see that error. ``preload`` loads every script at start-up, so a
syntax error stops the node before it serves.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecart.store.client import cluster_of

PACKAGE_DIR = Path(__file__).resolve().parent.parent


INCLUDE = "--#include "


def find_script_files(root: Path = PACKAGE_DIR, *, fragments: bool = False) -> dict[str, Path]:
    """Script name (file stem) -> path, refusing two files with the same name. With
    ``fragments``, the ``_*.lua`` fragments instead of the scripts."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.lua")):
        if path.name.startswith("_") != fragments:
            continue
        if path.stem in found:
            raise RuntimeError(
                f"two Lua scripts named {path.stem!r}: {found[path.stem]} and {path}"
            )
        found[path.stem] = path
    return found


def script_source(path: Path) -> str:
    """The script's text with its ``--#include`` lines replaced by the fragments, found
    by name anywhere in the package (an order script in ``orders/`` includes the sale
    checks of ``sales/_sale.lua``)."""
    fragments = _package_fragments()
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith(INCLUDE):
            name = line[len(INCLUDE) :].strip()
            fragment = fragments.get(name.removesuffix(".lua"))
            if fragment is None or not name.endswith(".lua"):
                raise RuntimeError(f"{path}: cannot include {name!r}")
            lines.append(fragment.read_text())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@functools.cache
def _package_fragments() -> dict[str, Path]:
    return find_script_files(fragments=True)


@functools.cache
def _package_sources() -> dict[str, str]:
    """The package's scripts, read once per process: a node (and every test's runtime)
    registers them again without walking the package tree once per script."""
    return {name: script_source(path) for name, path in find_script_files().items()}


class Scripts(Mapping[str, AsyncScript]):
    """The package's scripts, registered on one client: ``await scripts["name"](keys, args)``."""

    def __init__(self, client: Redis, files: Mapping[str, Path] | None = None) -> None:
        sources = (
            _package_sources()
            if files is None
            else {name: script_source(path) for name, path in files.items()}
        )
        self._client = client
        self._scripts = {name: client.register_script(text) for name, text in sources.items()}

    def __getitem__(self, name: str) -> AsyncScript:
        return self._scripts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scripts)

    def __len__(self) -> int:
        return len(self._scripts)

    async def preload(self) -> None:
        scripts = list(self._scripts.values())
        if cluster_of(self._client) is not None:  # SCRIPT LOAD goes to every primary
            for script in scripts:
                script.sha = await self._client.script_load(script.script)
            return
        # One round trip: with ``appendfsync always`` each load alone waits for its fsync.
        async with self._client.pipeline(transaction=False) as pipe:
            for script in scripts:
                pipe.script_load(script.script)
            shas = await pipe.execute()
        for script, sha in zip(scripts, shas, strict=True):
            script.sha = sha
