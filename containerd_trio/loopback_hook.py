"""A runc hook that sets ``lo`` up in the network namespace of the process it is told about.

runc runs a bundle's ``createRuntime`` (and ``prestart``) hooks during ``runc restore`` when
CRIU has created the restored container's namespaces and before it restores any file or socket
(CRIU's ``setup-namespaces`` action). runc always restores a container's own network namespace
empty (it passes CRIU ``--empty-ns net``: "runc doesn't manage network devices"), so ``lo`` is
down at that point, and CRIU fails to reconnect an established TCP connection over it ("soccr:
Can't connect inet socket back: Network is unreachable"). This hook brings it up in time.

runc writes the container's OCI state (JSON with the restored init's ``pid``) on the hook's
stdin. The hook is a shell's (``restore_net.loopback_hook_entry``: nsenter and ip, a few ms);
this script is what it runs where those are missing, given the pid it read: ``python -I -S
loopback_hook.py PID``, standard library only, so it starts in ~30 ms (importing the package
would pull in trio and cost ~200 ms of downtime). Without an argument it reads the OCI state on
its stdin itself.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import socket
import struct
import sys

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: the name, then the flags of the union


def set_loopback_up_in(pid: int) -> None:
    """Join ``pid``'s network namespace and set ``lo`` up there.

    setns() moves the calling thread only: call this from a process or thread of its own.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into the network namespace of {pid}: {os.strerror(errno)}")
    finally:
        os.close(fd)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(probe, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def pid_from_state(document: bytes) -> int:
    """The ``pid`` of an OCI state document; ValueError if it has none."""
    state = json.loads(document)
    pid = state.get("pid") if isinstance(state, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise ValueError(f"the OCI state on stdin has no usable pid: {pid!r}")
    return pid


def main() -> int:
    try:
        given = sys.argv[1:]
        pid = int(given[0]) if given else pid_from_state(sys.stdin.buffer.read())
        set_loopback_up_in(pid)
    except (OSError, ValueError) as exc:
        # runc shows a failed hook's stderr in its error, which the daemon passes on.
        print(f"loopback hook: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
