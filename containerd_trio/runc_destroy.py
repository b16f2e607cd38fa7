"""``runc delete`` of a stopped container, done here instead of by a runc process.

Once a container's init has exited, what ``runc delete`` does (runc 1.1,
``libcontainer/state_linux.go``'s ``destroy``) is small: remove the container's cgroup
directories (each with any sub-cgroup in it, innermost first), remove its state directory
(``<root>/<id>``), and run its ``poststop`` hooks. Spawning runc for that costs 3.5-4 ms of
CPU, about a sixth of a whole lifecycle's (``ctr-trio bench --cycle``): a Go program started,
its state file read, then a dozen syscalls. Here they are the same syscalls without the
program (docs/performance.md, "The delete done in the daemon").

Only where runc would do no more than that; anything else is runc's, and :func:`destroy_stopped`
answers False, having changed nothing runc cannot take from where it left (a cgroup
already gone is one runc skips):

- its init is gone: no process has its pid with the start time runc recorded, or that process
  is a zombie (runc's own test, ``runType``). A created or running container is runc's to kill;
- its cgroup is not frozen (runc calls a frozen container paused, and refuses or kills it);
- it has a pid namespace of its own, so the kernel killed every other process of it with the
  init (without one, runc SIGKILLs what is left in the cgroup);
- no ``poststop`` hook, no Intel RDT group, and the cgroupfs driver (systemd's would have a unit
  to stop);
- every cgroup directory goes at the first try: one still busy (a process of it still
  dying) is left to runc, which tries again over 150 ms on cgroup v1 (once on v2);
- its state file reads as runc 1.1 writes it; a state directory without one (a create cut
  short) is runc's too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from . import procfs

#: The file that says whether a cgroup is frozen, by the key of its path in runc's state file
#: (cgroup v1's freezer controller; v2's, or the unified hierarchy's of a hybrid machine, "").
_FREEZE_FILES = {"freezer": ("freezer.state", b"THAWED"), "": ("cgroup.freeze", b"0")}


def destroy_stopped(state_dir: Path) -> bool:
    """Remove the stopped container whose runc state directory is ``state_dir`` (its cgroups,
    then the directory) as ``runc delete`` would; False if it is not one that this may do
    (see the module's docstring), and it is left for runc."""
    try:
        state = json.loads((state_dir / "state.json").read_bytes())
        paths = _cgroup_paths_if_plain(state)
        if paths is None or _frozen(paths) or _init_alive(state):
            return False
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False  # a state file runc 1.1 would not write: runc's to judge
    for path in paths.values():
        if not _remove_cgroup(path):
            return False
    try:
        shutil.rmtree(state_dir)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def own_pid_namespace(state_dir: Path) -> bool | None:
    """Whether runc's container at ``state_dir`` has a pid namespace made for it (not the
    host's, nor one joined), whose init's death ends every other process of it; None where
    its state file does not say (none: runc has forgotten the container, or not as runc 1.1
    writes it)."""
    try:
        state = json.loads((state_dir / "state.json").read_bytes())
        return _own_pid_namespace(state["config"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _own_pid_namespace(config: dict[str, Any]) -> bool:
    namespaces = config["namespaces"] or []
    return any(ns["type"] == "NEWPID" and not ns.get("path") for ns in namespaces)


def _cgroup_paths_if_plain(state: dict[str, Any]) -> dict[str, str] | None:
    """The container's cgroup directories, if its delete is no more than their removal and
    its state directory's (None if it has more to it)."""
    config = state["config"]
    cgroups = config["cgroups"]
    if cgroups.get("Systemd") is not False or state.get("intel_rdt_path"):
        return None
    if (config.get("Hooks") or {}).get("poststop"):
        return None
    if not _own_pid_namespace(config):
        return None
    paths = state["cgroup_paths"]
    if not paths or not all(isinstance(p, str) and p.startswith("/") for p in paths.values()):
        return None
    return {str(key): path for key, path in paths.items()}


def _init_alive(state: dict[str, Any]) -> bool:
    """runc's test of a container's init: a process of its pid, started when runc recorded,
    not yet a zombie."""
    started = procfs.running_start_time(int(state["init_process_pid"]))
    return started is not None and started == int(state["init_process_start"])


def _frozen(paths: dict[str, str]) -> bool:
    """Whether the container's cgroup is frozen or freezing, or cannot be told (runc's to
    say then); a file that is gone (a kernel without cgroup.freeze, a cgroup removed
    already) says not, as runc's GetFreezerState has it."""
    for key, (name, thawed) in _FREEZE_FILES.items():
        if key not in paths:
            continue
        try:
            with open(os.path.join(paths[key], name), "rb") as file:
                if file.read().strip() != thawed:
                    return True
        except OSError as exc:
            # ENODEV: the cgroup was removed between the open and the read (another delete
            # of it meanwhile: a second one of this id, or on a hybrid host another
            # container's of its path in the shared unified hierarchy), gone as well.
            if exc.errno not in (errno.ENOENT, errno.ENODEV):
                return True
    return False


def _remove_cgroup(path: str) -> bool:
    """Remove a cgroup directory and its sub-cgroups, innermost first (runc's RemovePath,
    without its retries); True once it is gone."""
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            return False
    # A cgroup directory's files are the kernel's and go with it; its sub-directories are
    # sub-cgroups (the container made some), which rmdir refuses to take along.
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False) and not _remove_cgroup(entry.path):
                return False
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
