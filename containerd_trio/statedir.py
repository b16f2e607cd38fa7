"""The daemon's state dir: made writable, and held by one daemon at a time.

Two daemons on one state dir would both adopt the same containers, rename the journal from
under each other, and each report the other's exits: the second one must refuse, touching
nothing. The first holds an exclusive ``flock`` on ``<state-dir>/daemon.lock`` for its whole
life (the kernel drops it when the process dies, however it dies), with its pid written inside
for the second one's message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from .errors import StartupError

LOCK_NAME = "daemon.lock"


def prepare(state_dir: Path, containers_dir: Path) -> list[Path]:
    """Make the state dir and its containers dir (0700: root's alone, docs/security.md); fail in
    one line if we can't.

    Returns the directories it made, outermost first, for :func:`unmake`.
    """
    made = [path for path in (*reversed(state_dir.parents), state_dir) if not path.exists()]
    if not containers_dir.exists():
        made.append(containers_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        containers_dir.mkdir(exist_ok=True, mode=0o700)
        if not os.access(state_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StartupError(f"the state dir {state_dir} is not writable: {reason}") from None
    return made


def unmake(state_dir: Path, made: list[Path]) -> None:
    """Undo :func:`prepare` and :func:`lock` for a daemon that did not start (its port was
    taken, say): a refused start leaves nothing behind. Only what they made goes, and a
    directory only while it is empty. Call it with the lock still held."""
    if state_dir in made:
        with contextlib.suppress(OSError):
            os.unlink(state_dir / LOCK_NAME)
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir()


def lock(state_dir: Path) -> int:
    """Take the state dir for this process; the returned fd holds the lock (close-on-exec)."""
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StartupError(
            f"the state dir {state_dir} is in use by another containerd-trio (pid {holder}):"
            " stop it first, or give this one its own --state-dir"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, only the message lacks the pid
    return fd
