"""Killing a runc with everything it started: CRIU does not die with the runc that runs it.

runc execs CRIU (``criu swrk``) as its child without a parent-death signal, and CRIU stays in
runc's process group and session. A runc killed at its deadline left its CRIU working on
(checked with runc 1.1.5 and CRIU 4.1.1): a dump went on writing its images into the
checkpoint directory for as long as the dump took, and the container's tasks stayed
ptrace-seized, stopped, until CRIU gave up at its next report to the dead runc (one that
hangs, in an action script or on a slow disk, holds them for good). A restore's CRIU goes on
too, but runc moved it into the container's cgroup, which the restore's roll-back empties.

So a runc the server kills is killed with its descendants, found through
``/proc/PID/task/TID/children``, not with its process group: runc runs in the group of whoever
spawned it (the keeper, or the server), so a kill of the group would take the daemon with it.
Nothing but runc's own is among them: the server runs the runc commands that create no
container process (``run``, ``exec`` and ``restore`` are the keeper's), and a dump's CRIU
seizes the container's tasks with ptrace, which does not make them its children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from . import procfs

#: How long to wait for one process to stop before its children are read all the same (one in
#: uninterruptible sleep, writing to a slow disk, stops only once it leaves it).
_STOP_WAIT = 0.05
_STOPPED = frozenset("tTZ")


def kill_tree(pid: int, pidfd: int | None = None) -> None:
    """SIGKILL ``pid`` and every process under it (its children, theirs...). ``pid`` is
    signalled through its ``pidfd`` if given (a pid alone may be another's by now, unless it
    is an unreaped child of the caller's).

    Each is stopped (SIGSTOP) before its children are read: a stopped process can neither start
    another nor reap one, so none escapes the walk and no pid read below the first is reused
    before the kill. The killed descendants are re-parented to the subreaper (the keeper),
    which reaps them."""
    found = [pid]
    for current in found:  # grows as it is walked
        if not _signal(current, pidfd if current == pid else None, signal.SIGSTOP):
            continue
        _wait_stopped(current)
        found += [child for child in procfs.children(current) if child not in found]
    for member in found:
        _signal(member, pidfd if member == pid else None, signal.SIGKILL)


def _signal(pid: int, pidfd: int | None, signum: int) -> bool:
    with contextlib.suppress(ProcessLookupError):
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signum)
        else:
            os.kill(pid, signum)
        return True
    return False


def _wait_stopped(pid: int) -> None:
    # A signal is delivered when the process next runs: microseconds, not a wait for the loop.
    give_up = time.monotonic() + _STOP_WAIT
    while (state := procfs.state(pid)) is not None and state not in _STOPPED:
        if time.monotonic() > give_up:
            return
        time.sleep(0.0005)
