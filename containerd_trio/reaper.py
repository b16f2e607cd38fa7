"""Reaping what runc leaves behind, and running the daemon's own child processes.

The daemon is the child subreaper, so every orphan of the container machinery lands on it: the
container processes it watches (their watchers reap them, through pidfds), but also runc's own
leftovers, such as the ``runc:[1:CHILD]`` stage of a ``runc exec`` that failed against a dying
container. Nobody else will reap those; left alone they pile up as zombies.

:func:`reap_strays` reaps each zombie child of the daemon that is neither watched (a container
process) nor spawned and waited for by the daemon itself (runc, helpers: Trio reaps those, and
reaping them first would turn a failed runc into a success). It runs whenever a runc call
ends, which is when runc's orphans arrive (they are re-parented before runc's own exit is
seen), and every few seconds for anything else. No SIGCHLD handler: Python's signal handlers
are per-process, and two daemons in one process (as in the tests) would tread on each other's.
A start or an exec holds the reaper (:func:`reaper_held`) from before runc runs until the new
process's pidfd is open, because the process may exit, and be a zombie of ours, in that gap; a
scan asked for meanwhile runs when the hold ends. ``waitpid(-1)`` is never called.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import trio

#: Pids with an open pidfd watcher (see process.ProcessHandle): their watchers reap them.
watched: set[int] = set()
#: Pids of processes the daemon spawned and waits for itself.
spawned: set[int] = set()

_holds = 0
_scan_pending = False


@attrs.frozen
class ChildResult:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run_child(
    argv: Sequence[str],
    *,
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
    capture_stdout: bool = False,
    capture_stderr: bool = False,
    pass_fds: Sequence[int] = (),
) -> ChildResult:
    """Run a program to its end, as ``trio.run_process`` does, with its pid kept in
    :data:`spawned` while it runs. If cancelled, the program is killed at once (SIGKILL)."""
    options: dict[str, Any] = {
        "stdin": stdin,
        "stdout": subprocess.PIPE if capture_stdout else stdout,
        "stderr": subprocess.PIPE if capture_stderr else stderr,
        "pass_fds": tuple(pass_fds),
    }
    process = await trio.lowlevel.open_process(list(argv), **options)
    spawned.add(process.pid)
    out = bytearray()
    err = bytearray()
    try:
        async with trio.open_nursery() as nursery:
            if process.stdout is not None:
                nursery.start_soon(_drain, process.stdout, out)
            if process.stderr is not None:
                nursery.start_soon(_drain, process.stderr, err)
            await process.wait()
    except BaseException:
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
        raise
    finally:
        spawned.discard(process.pid)
        request_scan()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()
    assert process.returncode is not None  # waited for above
    return ChildResult(returncode=process.returncode, stdout=bytes(out), stderr=bytes(err))


async def _drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
    while chunk := await stream.receive_some(65536):
        into += chunk


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
