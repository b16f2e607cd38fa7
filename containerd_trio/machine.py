"""Facts about the host for ``GET /state``: online CPUs and total memory."""

from __future__ import annotations

import os

from .model import MachineInfo


def read_machine() -> MachineInfo:
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    memory = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                # "MemTotal:       24585084 kB": the kernel's kB are KiB.
                memory = int(line.split()[1]) * 1024
                break
    return MachineInfo(cpus=cpus, memory=memory)
