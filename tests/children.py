"""Server processes the tests start (Valkey Cluster nodes, Janus): each in its own
session, its output appended to a log file, and killed if the test process dies.

PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so a child
forked from a short-lived worker thread would die with it: every child is forked from
one long-lived thread, which lives until ``close()``.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
from pathlib import Path

from livecart.store.embedded import _die_with_parent


class ChildSpawner:
    def __init__(self, name: str) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"{name}-spawner"
        )

    def spawn(self, command: list[str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
        def fork() -> subprocess.Popen[bytes]:
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    command,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # from the long-lived thread
                )

        return self._thread.submit(fork).result()

    def close(self) -> None:
        self._thread.shutdown(wait=True)
