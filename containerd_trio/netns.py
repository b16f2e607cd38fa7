"""Bring a restored container's loopback back up.

``runc restore`` leaves the loopback device of a container with its own network namespace down
(CRIU restores the link but not its state; criu issue #590), so a restored server cannot be
reached on 127.0.0.1 from inside its own container. After a restore the daemon sets ``lo`` up
in the init's network namespace.

setns() moves only the calling thread, so the work runs in a thread started for it alone, which
ends with it: never in Trio's worker threads, which are reused and must stay in the daemon's
namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading

import trio

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: the name, then the flags of the union


def has_own_network_namespace(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def _set_loopback_up_here(pid: int) -> None:
    """In a thread of its own: join the process's network namespace and set lo up."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns: {os.strerror(errno)}")
    finally:
        os.close(fd)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(probe, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


async def set_loopback_up(pid: int) -> None:
    """Raises OSError if it could not be done."""
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _set_loopback_up_here(pid)
        except BaseException as exc:
            failure.append(exc)
        finally:
            token.run_sync_soon(done.set)

    threading.Thread(target=work, name=f"loopback-up-{pid}", daemon=True).start()
    await done.wait()
    if failure:
        raise OSError(str(failure[0])) from failure[0]
