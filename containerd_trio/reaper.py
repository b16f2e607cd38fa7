"""Reaping what runc leaves behind, and running the daemon's own child processes.

The daemon is the child subreaper, so every orphan of the container machinery lands on it: the
container processes it watches (their watchers reap them, through pidfds), but also runc's own
leftovers, such as the ``runc:[1:CHILD]`` stage of a ``runc exec`` that failed against a dying
container. Nobody else will reap those; left alone they pile up as zombies.

:func:`reap_strays` reaps each zombie child of the daemon that is neither watched (a container
process) nor spawned and waited for by the daemon itself (runc, helpers: the daemon reaps those
itself, and reaping them first would turn a failed runc into a success). It runs whenever a
runc call fails, which is when runc leaves orphans (they are re-parented before runc's own exit
is seen), and every few seconds for anything else. No SIGCHLD handler: Python's signal handlers
are per-process, and two daemons in one process (as in the tests) would tread on each other's.
A start or an exec holds the reaper (:func:`reaper_held`) from before runc runs until the new
process's pidfd is open, because the process may exit, and be a zombie of ours, in that gap; a
scan asked for meanwhile runs when the hold ends. ``waitpid(-1)`` is never called.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import attrs
import trio

#: Pids with an open pidfd watcher (see process.ProcessHandle): their watchers reap them.
watched: set[int] = set()
#: Pids of processes the daemon spawned and waits for itself.
spawned: set[int] = set()

_holds = 0
_scan_pending = False

# Taken once: os.environ decodes every key and value on each pass, which cost more than the
# spawn itself. The daemon never changes its environment after start.
_ENVIRONMENT = dict(os.environ)
_devnull: int | None = None


def dev_null() -> int:
    """The daemon's one /dev/null fd (close-on-exec), for any child's stdio."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


@attrs.frozen
class ChildResult:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run_child(
    argv: Sequence[str],
    *,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    capture_stdout: bool = False,
    capture_stderr: bool = False,
    pass_fds: Sequence[int] = (),
) -> ChildResult:
    """Run a program to its end and return its exit status and what it printed.

    The program is started with ``posix_spawnp``, in this thread (glibc spawns with a vfork:
    a fraction of a millisecond, where a hop to a worker thread for ``Popen`` costs more), its
    exit is awaited on a pidfd, and captured output goes to memfds, so no task has to drain a
    pipe while it runs. Its pid is in :data:`spawned` while it runs. ``stdin``, ``stdout`` and
    ``stderr`` are fds for the child (/dev/null when None); ``pass_fds`` keep their numbers.
    If cancelled, the program is killed at once (SIGKILL) and reaped.
    """
    opened: list[int] = []

    def new_fd(fd: int) -> int:
        opened.append(fd)
        return fd

    try:
        devnull = dev_null()
        out = new_fd(os.memfd_create("stdout", os.MFD_CLOEXEC)) if capture_stdout else None
        err = new_fd(os.memfd_create("stderr", os.MFD_CLOEXEC)) if capture_stderr else None
        child_stdio = (
            devnull if stdin is None else stdin,
            out if out is not None else (devnull if stdout is None else stdout),
            err if err is not None else (devnull if stderr is None else stderr),
        )
        # dup2 onto itself clears close-on-exec in the child (glibc 2.29+): that is how an fd
        # is passed under its own number.
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(child_stdio)]
        actions += [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in pass_fds]
        # A vfork: back in a fraction of a millisecond, once the child has exec'd.
        pid = os.posix_spawnp(argv[0], list(argv), _ENVIRONMENT, file_actions=actions)  # noqa: ASYNC221
        spawned.add(pid)
        try:
            pidfd = os.pidfd_open(pid)
        except BaseException:  # no pidfd (out of fds?): the child must not be left unreaped
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # noqa: ASYNC222 - killed: it exits at once
            spawned.discard(pid)
            raise
        failed = True
        try:
            returncode = await _wait_child(pid, pidfd)
            failed = returncode != 0
        finally:
            os.close(pidfd)
            spawned.discard(pid)
            if failed:
                # A runc that failed (or was killed) is what leaves orphans behind; they are
                # ours now. A scan costs a pass over all children, so only then.
                request_scan()
        return ChildResult(
            returncode=returncode,
            stdout=read_fd(out) if out is not None else b"",
            stderr=read_fd(err) if err is not None else b"",
        )
    finally:
        for fd in opened:
            os.close(fd)


async def _wait_child(pid: int, pidfd: int) -> int:
    try:
        await trio.lowlevel.wait_readable(pidfd)
    except BaseException:
        # Cancelled (a deadline passed, or the daemon stops): the program must not outlive it.
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)  # noqa: ASYNC222 - killed: it exits at once
        raise
    finally:
        trio.lowlevel.notify_closing(pidfd)
    info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)  # noqa: ASYNC222 - readable: it has exited
    assert info is not None
    return int(info.si_status) if info.si_code == os.CLD_EXITED else -int(info.si_status)


def read_fd(fd: int) -> bytes:
    """All of a file (a memfd) from its start, whatever was written to it."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def reaper_held() -> Iterator[None]:
    global _holds
    _holds += 1
    try:
        yield
    finally:
        _holds -= 1
        if _holds == 0 and _scan_pending:
            reap_strays()


def request_scan() -> None:
    global _scan_pending
    if _holds:
        _scan_pending = True
    else:
        reap_strays()


def _children() -> set[int]:
    """This process's children (orphans are re-parented to one of its threads)."""
    children: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children", "rb") as listing:
                children.update(int(pid) for pid in listing.read().split())
        except OSError:
            continue
    return children


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] == b"Z"


def reap_strays() -> list[int]:
    """Reap zombie children that nobody else will; returns their pids."""
    global _scan_pending
    _scan_pending = False
    reaped = []
    for pid in _children() - watched - spawned:
        if not _is_zombie(pid):
            continue
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            continue
        reaped.append(pid)
    return reaped


async def reap_periodically(interval: float = 5.0) -> None:
    """The safety net for strays that arrive between runc calls; runs until cancelled."""
    while True:
        request_scan()
        await trio.sleep(interval)
