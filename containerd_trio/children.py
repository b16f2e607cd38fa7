"""Running a program of the server's own to its end: runc's commands that create no process.

The program is started with :func:`containerd_trio.spawn.spawn` (a vfork: a fraction of a
millisecond, where a hop to a worker thread for ``Popen`` costs more), its exit is awaited on a
pidfd, and captured output goes to memfds, so no task has to drain a pipe while it runs.
The runc commands that create container processes (``run``, ``exec``, ``restore``) are not run
here but by the keeper (:mod:`containerd_trio.keeperlink`), so that those processes are its.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping, Sequence

import attrs
import trio

from .proctree import kill_tree
from .spawn import exit_status, spawn


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
    fds: Mapping[int, int] | None = None,
    env: Mapping[str, str] | None = None,
    umask: int | None = None,
) -> ChildResult:
    """Run a program to its end; return its exit status and what it printed.

    ``stdin``, ``stdout`` and ``stderr`` are fds for the child (/dev/null when None); ``fds``
    places more fds by number; ``env`` is its environment (the daemon's if None). If
    cancelled, the program is killed at once (SIGKILL) with every process it started
    (:func:`~containerd_trio.proctree.kill_tree`: runc's CRIU), and reaped with those of them
    that were re-parented to us.
    A negative return code is death by that signal.
    """
    opened: list[int] = []
    try:
        if capture_stdout:
            stdout = os.memfd_create("stdout", os.MFD_CLOEXEC)
            opened.append(stdout)
        if capture_stderr:
            stderr = os.memfd_create("stderr", os.MFD_CLOEXEC)
            opened.append(stderr)
        pid = spawn(argv, stdin=stdin, stdout=stdout, stderr=stderr, fds=fds, env=env, umask=umask)
        try:
            pidfd = os.pidfd_open(pid)
        except BaseException:  # no pidfd (out of fds?): the child must not be left unreaped
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # noqa: ASYNC222 - killed: it exits at once
            raise
        try:
            returncode = await _wait_child(pid, pidfd)
        finally:
            os.close(pidfd)
        return ChildResult(
            returncode=returncode,
            stdout=read_fd(stdout) if capture_stdout and stdout is not None else b"",
            stderr=read_fd(stderr) if capture_stderr and stderr is not None else b"",
        )
    finally:
        for fd in opened:
            os.close(fd)


async def _wait_child(pid: int, pidfd: int) -> int:
    try:
        await trio.lowlevel.wait_readable(pidfd)
    except BaseException:
        # Cancelled (a deadline passed, or the daemon stops): the program must not outlive it,
        # nor what it started (kill_tree is shielded: it reaps those re-parented to us).
        await kill_tree(pid, pidfd)
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)  # noqa: ASYNC222 - killed: it exits at once
        raise
    finally:
        trio.lowlevel.notify_closing(pidfd)
    info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)  # noqa: ASYNC222 - readable: it has exited
    assert info is not None
    return int(info.si_status) if info.si_code == os.CLD_EXITED else -int(info.si_status)


async def end_process(pid: int, *, grace: float = 0.0, tree: bool = False) -> bool:
    """End process ``pid``, which is not a child of ours (the keeper's): let it run for
    ``grace`` seconds, then SIGKILL it (``tree``: with every process it started, as a runc's
    CRIU) and wait for it to be gone, briefly. Whether it had to be killed."""
    with contextlib.suppress(ProcessLookupError):
        pidfd = os.pidfd_open(pid)
        try:
            with trio.move_on_after(grace) as waited:
                await trio.lowlevel.wait_readable(pidfd)
            if waited.cancelled_caught:
                if tree:
                    await kill_tree(pid, pidfd)
                else:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                with trio.move_on_after(2):
                    await trio.lowlevel.wait_readable(pidfd)
                return True
        finally:
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)
    return False


def read_fd(fd: int) -> bytes:
    """All of a file (a memfd) from its start, whatever was written to it."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class Child:
    """A child of ours (or an orphan re-parented to us, a subreaper), reaped through a pidfd:
    what a program that runs runc itself needs (the bench's raw baseline)."""

    def __init__(self, pid: int) -> None:
        """Raises ProcessLookupError if no such process (not even a zombie) is there."""
        self.pid = pid
        self._fd: int | None = os.pidfd_open(pid)

    async def wait(self) -> int:
        """Wait for it to exit and reap it: its status (128+N for a signal; 255 if not ours)."""
        assert self._fd is not None
        await trio.lowlevel.wait_readable(self._fd)
        try:
            info = os.waitid(os.P_PIDFD, self._fd, os.WEXITED)  # noqa: ASYNC222 - it exited
        except ChildProcessError:
            return 255
        assert info is not None
        return exit_status(info)

    def signal(self, signum: int) -> None:
        if self._fd is not None:
            signal.pidfd_send_signal(self._fd, signum)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)
