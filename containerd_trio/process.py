"""Watching and signalling a container's processes through pidfds, and their stdio pipes.

The daemon is the child subreaper: once ``runc run -d`` (or ``exec -d``, ``restore -d``) exits,
the container's process is re-parented to us. A pidfd names that process for good, so a signal
can never hit a recycled pid, and it becomes readable when the process exits; ``waitid`` on it
then reaps exactly that child. We never call ``waitpid(-1)``: it would steal the exit statuses
of Trio's own subprocesses (runc itself).
"""

from __future__ import annotations

import os
import select
import signal

import trio

from . import reaper
from .runtime import Stdio

#: The exit status reported when it cannot be known: the process was not our child (adopted
#: after a daemon restart) or it vanished while the daemon was down. Docker uses 255 likewise.
UNKNOWN_EXIT_STATUS = 255


def exit_status(info: os.waitid_result) -> int:
    """The shell's convention: the exit code, or 128+N for death by signal N."""
    if info.si_code == os.CLD_EXITED:
        return int(info.si_status)
    return 128 + int(info.si_status)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat).

    A pid together with its start time names one process for good: records kept across a daemon
    restart use it to tell the original process from a later one that reused the pid.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    return int(fields[19])


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, D, T for stopped, Z...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()[0].decode()


class ProcessHandle:
    """A pidfd on one process: wait for its exit, signal it, without pid-reuse races."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._fd: int | None = pidfd
        reaper.watched.add(pid)
        self.exit_status: int | None = None
        #: Set once the exit is known (and, for our own children, the process reaped).
        self.exited_event = trio.Event()

    @classmethod
    def open(cls, pid: int) -> ProcessHandle:
        """Raises ProcessLookupError when no process (not even a zombie) has this pid."""
        return cls(pid, os.pidfd_open(pid))

    @property
    def exited(self) -> bool:
        return self.exit_status is not None

    async def wait(self) -> int:
        """Wait for the process to exit, reap it if it is our child, and return its status."""
        if self.exit_status is not None:
            return self.exit_status
        assert self._fd is not None
        await trio.lowlevel.wait_readable(self._fd)
        try:
            # The pidfd is readable: the process has exited, so this does not block.
            info = os.waitid(os.P_PIDFD, self._fd, os.WEXITED)  # noqa: ASYNC222
        except ChildProcessError:
            # Not our child (adopted after a restart): its status went to its real parent.
            status = UNKNOWN_EXIT_STATUS
        else:
            status = UNKNOWN_EXIT_STATUS if info is None else exit_status(info)
        self.exit_status = status
        self.exited_event.set()
        self.close()
        return status

    def reap_if_exited(self) -> None:
        """Reap without waiting, if the process has exited: a zombie must not outlive us."""
        if self._fd is None or self.exit_status is not None:
            return
        try:
            info = os.waitid(os.P_PIDFD, self._fd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return
        if info is not None:
            self.exit_status = exit_status(info)
            self.exited_event.set()

    def has_exited(self) -> bool:
        """True if the process has exited, even if its watcher has not run yet."""
        if self._fd is None or self.exit_status is not None:
            return True
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(0))

    def signal(self, signum: int) -> None:
        """Send a signal; ProcessLookupError if the process has exited."""
        if self._fd is None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._fd, signum)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            reaper.watched.discard(self.pid)
            trio.lowlevel.notify_closing(fd)
            os.close(fd)


class Pipes:
    """The stdio of one container process: stdin on /dev/null, stdout and stderr on pipes.

    Pipes (not files) because CRIU can checkpoint and restore a process whose stdio is a pipe,
    but not one whose stdio is a file on the host. The write ends go to runc, which hands them to
    the container; the daemon must close its own copies at once, or it would never see EOF.
    """

    def __init__(self, devnull: int) -> None:
        self.stdout_r, self.stdout_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.stderr_r, self.stderr_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            os.close(self.stdout_r)
            os.close(self.stdout_w)
            raise
        self.child = Stdio(stdin=devnull, stdout=self.stdout_w, stderr=self.stderr_w)
        self._child_open = True
        self._readers_taken = False

    def close_child_ends(self) -> None:
        if self._child_open:
            self._child_open = False
            os.close(self.stdout_w)
            os.close(self.stderr_w)

    def duplicate_child(self) -> Stdio:
        """New fds on the same write ends, for another process; the caller closes them."""
        if not self._child_open:
            raise ProcessLookupError("the container's stdio is closed: its init has exited")
        stdout = os.dup(self.stdout_w)
        try:
            stderr = os.dup(self.stderr_w)
        except OSError:
            os.close(stdout)
            raise
        return Stdio(stdin=self.child.stdin, stdout=stdout, stderr=stderr)

    def take_readers(self) -> tuple[int, int]:
        """Hand over the read ends (the caller now owns them)."""
        self._readers_taken = True
        return self.stdout_r, self.stderr_r

    def close(self) -> None:
        self.close_child_ends()
        if not self._readers_taken:
            self._readers_taken = True
            os.close(self.stdout_r)
            os.close(self.stderr_r)
