"""Bring a restored container's loopback back up.

``runc restore`` leaves the loopback device of a container with its own network namespace down
(CRIU restores the link but not its state; criu issue #590), so a restored server cannot be
reached on 127.0.0.1 from inside its own container. After a restore the daemon sets ``lo`` up
in the init's network namespace. It does so in a short-lived child process: setns() changes the
namespace of the calling thread, which no thread of the daemon must ever do.
"""

from __future__ import annotations

import os
import sys

from .reaper import run_child

# Runs in the child: enter the namespace, read lo's flags, set IFF_UP.
_SET_LOOPBACK_UP = """
import ctypes, fcntl, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(f"/proc/{int(sys.argv[1])}/ns/net", os.O_RDONLY)
if libc.setns(fd, 0x40000000) != 0:
    sys.exit(f"setns: {os.strerror(ctypes.get_errno())}")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    request = struct.pack("16sH14x", b"lo", 0)
    flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, request))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))
"""


def has_own_network_namespace(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


async def set_loopback_up(pid: int) -> None:
    """Raises RuntimeError with the child's message if it could not be done."""
    result = await run_child(
        [sys.executable, "-I", "-S", "-c", _SET_LOOPBACK_UP, str(pid)], capture_stderr=True
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode(errors="replace").strip() or "failed")
