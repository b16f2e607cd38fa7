"""What the daemon's processes ask of the host: to be the subreaper, more fds, OOM protection."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys
from typing import NoReturn

from . import _libc
from .errors import StartupError

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def become_subreaper() -> None:
    """Orphaned container processes (runc exits after ``run -d``) are re-parented to us."""
    try:
        set_subreaper(True)
    except OSError as exc:
        raise StartupError(f"cannot become the child subreaper: {exc.strerror}") from None


def set_subreaper(on: bool) -> None:
    """Be the child subreaper (the orphans of our descendants come to us), or no longer."""
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise _libc.last_error()


def is_subreaper() -> bool:
    """Whether this process is a child subreaper."""
    flag = ctypes.c_int(0)
    if _libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.addressof(flag), 0, 0, 0) != 0:
        raise _libc.last_error()
    return bool(flag.value)


def raise_fd_limit() -> None:
    """Each container holds a pidfd and a few pipes: a thousand of them need more than 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


#: The keeper's OOM score: the OOM killer picks anything else first.
KEEPER_OOM_SCORE = -999


def protect_from_oom_killer(score: int = KEEPER_OOM_SCORE) -> int | None:
    """Make the kernel's OOM killer pick anything but this process, as containerd does for
    itself: the keeper holds every container's pipes. Best effort: a score below the lowest
    this process had needs CAP_SYS_RESOURCE (the caller reads whether it took).

    Returns the score it had before (None if unreadable): the one its container processes are
    to get instead of this one."""
    before = oom_score_adj()
    set_oom_score_adj(score)
    return before


def oom_score_adj() -> int | None:
    """This process's OOM score adjustment (None if unreadable)."""
    # Read at each of the keeper's spawns: os.open and one read take 4 us, a Python file 9.
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return int(os.read(fd, 32))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None


def set_oom_score_adj(score: int) -> bool:
    """Set this process's OOM score adjustment; False if refused (a score below the lowest
    this process has set or inherited, ``oom_score_adj_min``, needs CAP_SYS_RESOURCE; some
    hosts refuse any negative one)."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"%d" % score)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def exit_now(code: int) -> NoReturn:
    """End this process (the keeper's, or the logger's) once its work is done, without the
    interpreter's teardown. What is left is the kernel's to do (fds, memory) and has no
    buffer of ours (logs and records are written with os.write, log lines flushed as they
    go): the teardown only held up the exit, 10 ms of CPU each, the logger's at nice 10
    (whose exit the keeper waits for), the keeper's past its socket's close and its
    children's reaping (whose exit ``make run``, systemd or an embedding server waits for).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stdout ends nothing here
            stream.flush()
    os._exit(code)


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the parent dies: a keeper's server or logger must not outlive
    it (they would hold its socket and write its logs alone)."""
    parent = os.getppid()
    _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was in place
        os._exit(1)
