"""Starting a program the cheapest way: ``posix_spawn`` (a vfork in glibc), fds placed by number.

Both the keeper (runc commands that create container processes, the server, the logger) and the
server (runc's other commands) start programs through :func:`spawn`. Nothing here waits for the
program: the keeper reaps its children in its loop, the server awaits a pidfd.

Every fd the daemon opens is close-on-exec, so a child gets exactly its stdio and the fds named
in ``fds``, under the numbers given there (``--log /proc/self/fd/3`` needs fd 3 to be the log).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping, Sequence

# Taken once: os.environ decodes every key and value on each pass, which cost more than the
# spawn itself. The daemon never changes its environment after start.
ENVIRONMENT: dict[str, str] = dict(os.environ)

_devnull: int | None = None


def dev_null() -> int:
    """The process's one /dev/null fd (close-on-exec), for any child's stdio."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


def spawn(
    argv: Sequence[str],
    *,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    fds: Mapping[int, int] | None = None,
    env: Mapping[str, str] | None = None,
    setsid: bool = False,
) -> int:
    """Start ``argv`` and return its pid.

    ``stdin``, ``stdout`` and ``stderr`` are fds for the child (/dev/null when None); ``fds``
    maps a number in the child to an fd of ours. Raises OSError (FileNotFoundError for a
    missing program) if it could not start.
    """
    devnull = dev_null()
    placed = {0: stdin, 1: stdout, 2: stderr}
    wanted: dict[int, int] = {
        target: devnull if fd is None else fd for target, fd in placed.items()
    }
    wanted.update(fds or {})
    # The child applies the dup2s in order: a source whose number is another's target would be
    # overwritten before its own turn. Move such sources above every target first.
    ceiling = max(wanted) + 1
    moved: list[int] = []
    try:
        actions = []
        for target, fd in wanted.items():
            if fd < ceiling and fd != target:
                fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, ceiling)
                moved.append(fd)
            # dup2 onto itself clears close-on-exec in the child (glibc 2.29+).
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
        return os.posix_spawnp(
            argv[0], list(argv), dict(env) if env is not None else ENVIRONMENT,
            file_actions=actions, setsid=setsid,
        )  # fmt: skip
    finally:
        for fd in moved:
            os.close(fd)


def exit_status(info: os.waitid_result) -> int:
    """The shell's convention: the exit code, or 128+N for death by signal N."""
    if info.si_code == os.CLD_EXITED:
        return int(info.si_status)
    return 128 + int(info.si_status)
