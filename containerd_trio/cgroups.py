"""Where runc puts a container's cgroups, and removing what an aborted start left there.

runc makes the cgroups early in a start and writes its ``state.json`` late; killed in between
(a deadline, or the daemon killed with its runc), it leaves cgroups that ``runc delete`` cannot
see: delete removes the half-made state dir of such a container, never its cgroups. Nobody else
will remove them, and the next start of that id would trip on them.
"""

from __future__ import annotations

import contextlib
import os
import signal

import trio

_ROOT = "/sys/fs/cgroup"


def container_cgroups(container_id: str, cgroups_path: str | None = None) -> list[str]:
    """The container's cgroup directories in every hierarchy, as runc (cgroupfs driver) makes
    them: ``linux.cgroupsPath`` from the mount's root if absolute, else under the cgroup of the
    process that ran runc (the keeper, whose cgroups the server shares); the id if unset."""
    name = cgroups_path or container_id
    paths = []
    with open("/proc/self/cgroup") as listing:
        for line in listing:
            _, controllers, own = line.rstrip("\n").split(":", 2)
            if controllers == "":
                mount = f"{_ROOT}/unified" if os.path.isdir(f"{_ROOT}/unified") else _ROOT
            elif controllers.startswith("name="):
                mount = f"{_ROOT}/{controllers[5:]}"
            else:
                mount = f"{_ROOT}/{controllers.split(',')[0]}"
            base = "" if name.startswith("/") else own.rstrip("/")
            paths.append(f"{mount}{base}/{name.lstrip('/')}")
    return paths


async def remove_cgroups(paths: list[str]) -> None:
    """Kill what each cgroup still holds and remove it (a killed process leaves it a moment
    later); cgroups that are not there are skipped."""
    for path in paths:
        for _ in range(50):
            try:
                with open(os.path.join(path, "cgroup.procs")) as procs:
                    pids = [int(line) for line in procs if line.strip()]
            except OSError:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(path)
                break
            except OSError:
                await trio.sleep(0.02)
