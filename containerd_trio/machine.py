"""Facts about the host for ``GET /state``: the CPUs the daemon may run on and total memory."""

from __future__ import annotations

import os

from .model import MachineInfo


def read_machine() -> MachineInfo:
    # The daemon's affinity, not the online CPUs: runc and every container inherit it, so a
    # daemon bound to some CPUs (taskset, a cpuset) has only those to give, as docker counts
    # them (Go's NumCPU). Until 2026-12-06 the online CPUs.
    cpus = len(os.sched_getaffinity(0))
    memory = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                # "MemTotal:       24585084 kB": the kernel's kB are KiB.
                memory = int(line.split()[1]) * 1024
                break
    return MachineInfo(cpus=cpus, memory=memory)
