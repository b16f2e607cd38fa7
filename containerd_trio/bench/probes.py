"""What the bench reads off the machine: CPU clocks, a process's CPU and memory, the kernel's
count of network namespaces, and the daemon's own figures from its ``/metrics``.

Clocks are read before and after a phase (:class:`Snapshot`); :func:`settle` waits before one
until the machine has finished with the phase before it.
"""

from __future__ import annotations

import os
import re
import resource
import time
from typing import NamedTuple

import trio

from .. import procfs

_TICK = os.sysconf("SC_CLK_TCK")


class Snapshot(NamedTuple):
    """CPU clocks at one moment, to take differences over a phase (all in seconds)."""

    wall: float
    #: This process's CPU.
    bench: float
    #: CPU of this process's reaped children (the runc, ctr or podman processes it ran).
    children: float
    #: CPU of the whole machine, busy and all (None off Linux).
    machine_busy: float | None
    machine_all: float | None

    @classmethod
    def take(cls) -> Snapshot:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, total = machine_cpu()
        return cls(
            wall=time.perf_counter(),
            bench=own.ru_utime + own.ru_stime,
            children=children.ru_utime + children.ru_stime,
            machine_busy=busy,
            machine_all=total,
        )


def machine_cpu() -> tuple[float | None, float | None]:
    """(busy, total) CPU seconds of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None, None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    total = sum(fields)
    idle = fields[3] + fields[4]
    return (total - idle) / _TICK, total / _TICK


class ProcessCpu(NamedTuple):
    """A process's own CPU seconds, and those of the children it has reaped (runc, for a
    daemon that spawns and reaps it)."""

    own: float
    children: float


def process_cpu(pid: int) -> ProcessCpu | None:
    """From ``/proc/PID/stat``: utime + stime, cutime + cstime. None if it is gone."""
    times = procfs.cpu_times(pid)
    return None if times is None else ProcessCpu(*times)


#: clock_getcpuclockid(3)'s clock for a whole process, which Python does not offer: the
#: kernel's ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``.
_CPUCLOCK_SCHED = 2


def process_cpu_clock(pid: int) -> float | None:
    """The CPU seconds process ``pid`` has run so far, all its threads' (those that ended too),
    to the nanosecond: its process CPU clock. None if it is gone.

    ``/proc/PID/stat``'s figures are whole clock ticks (10 ms here): a container's init, which
    has run a few milliseconds of runc init before its exec, reads 0 there; and
    ``/proc/PID/schedstat`` is one thread's (runc init's Go threads end at its exec)."""
    try:
        return time.clock_gettime_ns((~pid << 3) | _CPUCLOCK_SCHED) / 1e9
    except OSError:  # EINVAL: no such process
        return None


def process_rss(pid: int) -> float | None:
    """Resident memory of ``pid`` in bytes, None if it is gone."""
    size = procfs.resident_bytes(pid)
    return None if size is None else float(size)


def network_namespaces() -> int | None:
    """How many network namespaces the kernel holds, dying ones included (/proc/slabinfo)."""
    try:
        with open("/proc/slabinfo", "rb") as slabinfo:
            for line in slabinfo:
                if line.startswith(b"net_namespace "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


#: Network namespaces when the bench began: a phase waits until the kernel is back to it.
_NAMESPACES_AT_START = network_namespaces()


async def settle(quiet: float = 0.15, longest: float = 30.0) -> tuple[float, bool]:
    """Wait until the machine is nearly idle (busy under ``quiet`` over half a second) and the
    kernel has finished tearing down the network namespaces of removed containers.

    The kernel tears down a thousand removed containers for a while after their removal is
    answered (cgroups, namespaces, mounts). Network namespaces go last and slowest, in a
    workqueue that runs in bursts: the CPUs can look idle for a moment while hundreds wait, and
    a phase that started then would pay for the phase before it (a third more CPU per start,
    measured). Returns the seconds waited (about ``longest`` at most) and whether it settled.
    """
    began = time.perf_counter()
    busy, total = machine_cpu()
    if busy is None or total is None or longest <= 0:
        return 0.0, True
    while time.perf_counter() - began + 0.5 <= longest:
        await trio.sleep(0.5)
        busy_now, total_now = machine_cpu()
        if busy_now is None or total_now is None:
            break
        share = (busy_now - busy) / (total_now - total) if total_now > total else 1.0
        namespaces = network_namespaces()
        torn_down = (
            namespaces is None
            or _NAMESPACES_AT_START is None
            or namespaces <= _NAMESPACES_AT_START + 16
        )
        if share < quiet and torn_down:
            return time.perf_counter() - began, True
        busy, total = busy_now, total_now
    return time.perf_counter() - began, False


_PROCESS_LABEL = re.compile(r'process="([^"]*)"')


class DaemonFigures(NamedTuple):
    rss_bytes: float | None
    #: The CPU seconds of each of the daemon's processes ("server", "keeper", "logger").
    cpu_by_process: dict[str, float]
    #: The CPU seconds of the runc commands the server ran itself and reaped (a delete, a
    #: kill): runc's CPU, like that of the keeper's children, which the bench reads itself.
    server_children_cpu: float | None = None

    @property
    def cpu_seconds(self) -> float | None:
        """All of its processes' CPU seconds (None if it said nothing of them)."""
        return sum(self.cpu_by_process.values()) if self.cpu_by_process else None


def parse_figures(text: str) -> DaemonFigures:
    """The daemon's CPU seconds and RSS from its Prometheus text (None where it does not say):
    all of its processes, the server's own figures plus its keeper's and logger's
    (``containerd_trio_helper_*{process=...}``)."""
    rss: float | None = None
    by_process: dict[str, float] = {}
    server_children: float | None = None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        family, _, labels = name.partition("{")
        try:
            number = float(value.split()[0])
        except (ValueError, IndexError):
            continue
        if family in ("process_cpu_seconds_total", "containerd_trio_helper_cpu_seconds_total"):
            process = _PROCESS_LABEL.search(labels)
            by_process[process.group(1) if process else "server"] = number
        elif family in (
            "process_resident_memory_bytes",
            "containerd_trio_helper_resident_memory_bytes",
        ):
            rss = (rss or 0.0) + number
        elif family == "containerd_trio_runtime_cpu_seconds_total":
            server_children = number
    return DaemonFigures(rss, by_process, server_children)
