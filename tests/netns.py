"""The test run's own network: a fresh network namespace with loopback and one private
address, so WebRTC has an interface that is not loopback (aioice and Chromium never
gather 127.0.0.1) and nothing a test does can reach or be reached from outside.

The whole pytest process enters it at start-up (``pytest_configure``); every thread and
child process started afterwards (Redis, servers, Chromium) inherits it. Root (as in
CI) unshares the network namespace directly; another user goes through a user namespace
where it is root. An address inside the namespace is all a test ever targets.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

#: The namespace's one non-loopback address: where ICE candidates are gathered.
TEST_ADDRESS = "10.77.0.1"
_PEER_ADDRESS_END = "lcpeer0"
_HOST_END = "lctest0"

_entered: str | None = None  # why the namespace could not be made, or "" once made


def enter_test_network() -> None:
    """Move this process into a new network namespace with ``TEST_ADDRESS`` on a veth
    pair (a dummy interface would do, but the kernel here has no dummy module). Records
    why it failed instead of raising, so tests that need it can say so by name."""
    global _entered
    if _entered is not None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        _entered = f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}"
        return
    if uid != 0:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    # No IPv6 in the namespace: its duplicate-address detection would finish a second or
    # two after the interfaces come up, and Chromium aborts requests in flight when it
    # sees addresses change (net::ERR_NETWORK_CHANGED), failing a page that loads then.
    for conf in ("all", "default"):
        try:
            with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as f:
                f.write("1")
        except OSError:
            pass  # no IPv6 in this kernel at all, or not ours to set: nothing to wait for
    ip = shutil.which("ip") or "/usr/sbin/ip"
    commands = [
        [ip, "link", "set", "lo", "up"],
        [ip, "link", "add", _HOST_END, "type", "veth", "peer", "name", _PEER_ADDRESS_END],
        [ip, "addr", "add", f"{TEST_ADDRESS}/24", "dev", _HOST_END],
        [ip, "link", "set", _HOST_END, "up"],
        [ip, "link", "set", _PEER_ADDRESS_END, "up"],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            _entered = f"{' '.join(command)} failed: {done.stderr.strip()}"
            return
    _entered = ""


def network_problem() -> str | None:
    """None when the process runs in the test network, else why it does not."""
    if _entered is None:
        return "enter_test_network() was not called"
    return _entered or None
