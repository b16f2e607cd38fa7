"""The one place that reads ``/proc/PID/stat``.

Every field the daemon needs of a process comes from that one line: its state letter, its
parent, its start time (with the pid, the name of one process for good: pids are reused, and
on a machine with ``pid_max`` 32768 they are reused within a minute under load), and its CPU
time and resident memory for the metrics. A process that is gone reads as None. The few
facts that line lacks (an owner, a capability, a signal's disposition) come from
``/proc/PID/status``, read here too (:func:`status_field`), as are a process's children and
its time namespace (which an exec into a restored container joins).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

#: Clock ticks per second, the unit of the start time and CPU times.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

# Indexes into the fields after the command name (field 3 of proc(5) is index 0 here).
_STATE, _PPID, _FLAGS = 0, 1, 6
_UTIME, _STIME, _CUTIME, _CSTIME, _START_TIME, _RSS = 11, 12, 13, 14, 19, 21
#: The kernel's task flag of a process in its exit (include/linux/sched.h): set from the moment
#: it begins to die, before it is a zombie.
_PF_EXITING = 0x4


def stat_fields(pid: int | str) -> list[bytes] | None:
    """Fields 3 onwards of ``/proc/PID/stat``, or None if there is no such process."""
    # os.open and one os.read: a third cheaper than a buffered file (the line is a few hundred
    # bytes, and procfs gives it whole), and this is read at every start.
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return _fields(data)


def _fields(data: bytes) -> list[bytes]:
    """Fields 3 onwards of a ``/proc/PID/stat`` line."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return data[data.rfind(b")") + 2 :].split()


def start_time_in(data: bytes) -> int | None:
    """The start time (field 22) in a ``/proc/PID/stat`` line read by another process (one in
    another time namespace sees it shifted by that namespace's boot-time offset); None if the
    line is not one."""
    fields = _fields(data)
    return int(fields[_START_TIME]) if len(fields) > _START_TIME else None


def state(pid: int) -> str | None:
    """The state letter: R, S, D, T (stopped by a signal), Z (zombie)..."""
    fields = stat_fields(pid)
    return None if fields is None else fields[_STATE].decode()


def exiting(pid: int) -> bool:
    """True if the process is dying (or gone): its exit begun, as a fatal signal's. A
    namespace's init that is killed stays so until its children are gone, which a tracer
    holding them (CRIU) can keep from happening."""
    fields = stat_fields(pid)
    return fields is None or bool(int(fields[_FLAGS]) & _PF_EXITING)


def parent(pid: int) -> int | None:
    fields = stat_fields(pid)
    return None if fields is None else int(fields[_PPID])


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when the process started (field 22); readable for a zombie too."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[_START_TIME])


def running_start_time(pid: int) -> int | None:
    """:func:`start_time` of a process that has not ended: None for one gone, and for a zombie
    (or one dead, state X), whose start time still reads, its exit not yet reaped. An orphan
    of a daemon that died is reaped by the machine's init (or the nearest subreaper), when
    that comes to it: a next daemon may find it a zombie still, and it has ended."""
    fields = stat_fields(pid)
    if fields is None or fields[_STATE] in (b"Z", b"X"):
        return None
    return int(fields[_START_TIME])


def started_before_ns(start_time: int) -> int:
    """A moment of the wall clock (``time.time_ns``, the log's stamps' clock) not after the
    start of a process that started ``start_time`` clock ticks after boot: the kernel counts
    that from boot (CLOCK_BOOTTIME) and rounds it down to a tick, and the wall clock's distance
    from boot is taken now; a tick less, for that reading's own error. A wall clock set since
    the process started moves it as much."""
    boot_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return boot_ns + (start_time - 1) * 1_000_000_000 // CLOCK_TICKS


def cpu_seconds(pid: int | str) -> float | None:
    """User plus system CPU time of the process."""
    times = cpu_times(pid)
    return None if times is None else times[0]


def cpu_times(pid: int | str) -> tuple[float, float] | None:
    """User plus system CPU time of the process, and of the children it has reaped."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    own = (int(fields[_UTIME]) + int(fields[_STIME])) / CLOCK_TICKS
    return own, (int(fields[_CUTIME]) + int(fields[_CSTIME])) / CLOCK_TICKS


def resident_bytes(pid: int | str) -> int | None:
    fields = stat_fields(pid)
    return None if fields is None else int(fields[_RSS]) * _PAGE


def status_field(pid: int | str, name: str) -> str | None:
    """The value of the field ``name`` of ``/proc/{pid}/status`` ("Uid", "CapEff", "SigCgt"),
    its name and the blanks around it left out; None if the process or the field is not
    there. (The few facts ``stat`` lacks: owners, capabilities, signal dispositions.)"""
    fields = status_fields(pid, (name,))
    return None if fields is None else fields[0]


def status_fields(pid: int | str, names: Sequence[str]) -> tuple[str | None, ...] | None:
    """:func:`status_field` of each of ``names``, from one read of the file (facts of one
    moment of the process); None if the process is not there."""
    prefixes = [f"{name}:".encode() for name in names]
    found: list[str | None] = [None] * len(names)
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                for index, prefix in enumerate(prefixes):
                    if line.startswith(prefix):
                        found[index] = line[len(prefix) :].strip().decode()
                if None not in found:
                    break  # the rest of the file is not read (as status_field did alone)
    except OSError:
        return None
    return tuple(found)


def is_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    letter = state(pid)
    return letter is not None and letter != "Z"


def children(pid: int | str = "self") -> set[int]:
    """The process's children (orphans are re-parented to one of its threads)."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as listing:
                found.update(int(child) for child in listing.read().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (its children, theirs...), top down; those that end during
    the walk may be left out, those started during it too."""
    found: list[int] = []
    walk = [pid]
    for current in walk:  # grows as it is walked
        below = sorted(children(current) - set(walk))
        found.extend(below)
        walk.extend(below)
    return found


def time_namespace(pid: int) -> str | None:
    """The process's time namespace (``time:[INODE]``), or None if there is no such process."""
    try:
        return os.readlink(f"/proc/{pid}/ns/time")
    except OSError:
        return None


def open_foreign_time_namespace(pid: int) -> int | None:
    """An fd on the process's time namespace if it is not this process's own (the caller's to
    close), else None; None too if there is no such process, or no time namespaces.

    CRIU restores a container's init into a time namespace of its own (its clocks go on from
    the dump); one never restored shares the host's. The fd pins the namespace that was
    compared, so a process that joins it (``nsenter --time=/proc/self/fd/N``) joins that one,
    whatever becomes of ``pid`` meanwhile."""
    try:
        fd = os.open(f"/proc/{pid}/ns/time", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        theirs, ours = os.fstat(fd), os.stat("/proc/self/ns/time")
    except OSError:
        os.close(fd)
        return None
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        os.close(fd)
        return None
    return fd


def child_running(parent: int, marker: bytes) -> int | None:
    """The child of ``parent`` whose command line holds ``marker`` (the keeper's logger, its
    server), or None."""
    for child in children(parent):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                if marker in cmdline.read():
                    return child
        except OSError:
            continue
    return None
