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

The killed descendants are orphans once runc is dead: the kernel re-parents them to the nearest
child subreaper above runc. Under the keeper that is the keeper, whose sweep reaps every child
it has. A server embedded (:class:`~containerd_trio.server.Daemon` run in-process) in a
program that is a child subreaper (the test suite, once test_bench.py made it one as the bench
makes itself) is in that subreaper, and nothing there reaps children it does not know: the
killed CRIU and its helpers stayed zombies of it for good. So :func:`kill_tree` reaps them
itself, through a pidfd opened for each while it is stopped, once they are all gone: the
killed that are the caller's children by then are reaped; another's (the keeper's, init's) are
left to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

import trio

from . import procfs

log = logging.getLogger(__name__)

#: How long to wait for one process to stop before its children are read all the same (one in
#: uninterruptible sleep, writing to a slow disk, stops only once it leaves it).
_STOP_WAIT = 0.05
_STOPPED = frozenset("tTZ")
#: How long the killed may take to be gone (a SIGKILL ends a process at once, unless it is in
#: uninterruptible sleep: then once that ends).
_GONE_WAIT = 5.0


async def kill_tree(pid: int, pidfd: int) -> None:
    """SIGKILL ``pid`` (through its ``pidfd``) and every process under it (its children,
    theirs...); return once all are gone, the descendants that were re-parented to us reaped.
    ``pid`` itself is left to its parent to reap.

    A clean-up, called where a runc's wait was cancelled: it runs to its end, shielded from
    cancellation, within its own bound (:data:`_GONE_WAIT`; past it, what is still there is
    logged and left).

    Each is stopped (SIGSTOP) before its children are read: a stopped process can neither start
    another nor reap one, so none escapes the walk, and each child's pidfd is opened while its
    stopped parent holds its pid (a zombie's too), so the signals and the reaping below reach
    that very process and never one that reused the pid."""
    descendants: list[int] = []  # their pidfds
    try:
        with trio.CancelScope(shield=True):  # each process's stop is bounded (_STOP_WAIT)
            tree = await _stop_tree(pid, pidfd, descendants)
        for member in tree:
            _signal(member, signal.SIGKILL)
        with trio.move_on_after(_GONE_WAIT, shield=True) as waited:
            for member in tree:
                await trio.lowlevel.wait_readable(member)
        # A process's children are re-parented before its pidfd turns readable: with all
        # gone, whoever holds a dead descendant now holds it for good.
        for member in descendants:
            with contextlib.suppress(ChildProcessError):  # not ours: the keeper's, init's
                os.waitid(os.P_PIDFD, member, os.WEXITED | os.WNOHANG)  # noqa: ASYNC222 - WNOHANG
        if waited.cancelled_caught:
            log.error(
                "a killed runc (pid %d) or a process under it did not end within %g s; "
                "any of those re-parented to us is left unreaped",
                pid, _GONE_WAIT,
            )  # fmt: skip
    finally:
        for member in descendants:
            trio.lowlevel.notify_closing(member)
            os.close(member)


async def _stop_tree(pid: int, pidfd: int, descendants: list[int]) -> list[int]:
    """SIGSTOP ``pid`` and the processes under it, top down; their pidfds, ``pidfd`` first.
    Those it opens are appended to ``descendants`` (the caller's to close) as they are."""
    walk = [(pid, pidfd)]
    for current, current_fd in walk:  # grows as it is walked
        if not _signal(current_fd, signal.SIGSTOP):
            continue
        await _wait_stopped(current)
        for child in procfs.children(current) - {member for member, _ in walk}:
            with contextlib.suppress(ProcessLookupError):
                descendants.append(os.pidfd_open(child))
                walk.append((child, descendants[-1]))
    return [member_fd for _, member_fd in walk]


def _signal(pidfd: int, signum: int) -> bool:
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signum)
        return True
    return False


async def _wait_stopped(pid: int) -> None:
    # A signal is delivered when the process next runs: most often at once. The other tasks
    # run meanwhile (a process in uninterruptible sleep takes the whole wait).
    with trio.move_on_after(_STOP_WAIT):
        # Polled: nothing tells of the stop of a process that is not our child.
        while (state := procfs.state(pid)) is not None and state not in _STOPPED:  # noqa: ASYNC110
            await trio.sleep(0.0005)
