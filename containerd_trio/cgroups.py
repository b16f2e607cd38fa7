"""Where runc puts a container's cgroups, removing what an aborted start left there, and
letting a killed process of a paused container die.

runc makes the cgroups early in a start and writes its ``state.json`` late; killed in between
(a deadline, or the daemon killed with its runc), it leaves cgroups that ``runc delete`` cannot
see: delete removes the half-made state dir of such a container, never its cgroups. Nobody else
will remove them, and the next start of that id would trip on them.

A hybrid host (cgroup v1 controllers, and a cgroup v2 hierarchy at ``/sys/fs/cgroup/unified``
that has none) has one more: runc 1.1 makes the container's directory there too, at its
cgroups path from that hierarchy's root, whatever the cgroup of the process that runs runc
(checked on this host: a runc run from ``/lo-hand`` made ``pids:/lo-hand/web`` and
``unified/web``; ``/x/y`` made ``unified/x/y``). Every container of that path on the host,
whichever daemon's, shares it: it is only ever removed empty (:func:`remove_start_cgroups`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import signal

import attrs
import trio

_ROOT = "/sys/fs/cgroup"

log = logging.getLogger(__name__)


def container_cgroups(container_id: str, cgroups_path: str | None = None) -> list[str]:
    """The container's cgroup directories in every hierarchy but a hybrid host's cgroup v2
    one (:func:`unified_cgroup`), as runc (cgroupfs driver) makes them: ``linux.cgroupsPath``
    from the mount's root if absolute, else under the cgroup of the process that ran runc (the
    keeper, whose cgroups the server shares); the id if unset. This daemon's alone: another
    daemon runs runc from cgroups of its own (:class:`CgroupPlace`)."""
    name = cgroups_path or container_id
    hybrid = _hybrid()
    paths = []
    for controllers, own in _memberships("self"):
        if controllers == "" and hybrid:
            continue  # not under its own cgroup, and not this daemon's alone: apart
        base = "" if name.startswith("/") else own.rstrip("/")
        paths.append(f"{_mount(controllers)}{base}/{name.lstrip('/')}")
    return paths


def unified_cgroup(container_id: str, cgroups_path: str | None = None) -> str | None:
    """The container's directory in a hybrid host's cgroup v2 hierarchy, where runc 1.1 makes
    it at its cgroups path (the id if unset) from the root, relative or not; None on a host
    that is not hybrid."""
    if not _hybrid():
        return None
    name = cgroups_path or container_id
    return f"{_ROOT}/unified/{name.lstrip('/')}"


def _hybrid() -> bool:
    """Whether the host mounts a cgroup v2 hierarchy beside the v1 ones (systemd's hybrid
    layout, this host's)."""
    return os.path.isdir(f"{_ROOT}/unified")


def _memberships(pid: int | str) -> list[tuple[str, str]]:
    """The process's cgroups, from ``/proc/{pid}/cgroup``: (controllers, path) per hierarchy,
    the controllers "" for cgroup v2's."""
    with open(f"/proc/{pid}/cgroup") as listing:
        return [_membership(line) for line in listing]


def _membership(line: str) -> tuple[str, str]:
    _, controllers, path = line.rstrip("\n").split(":", 2)
    return controllers, path


@functools.cache
def accounts_swap() -> bool:
    """Whether the kernel counts swap in the memory controller (cgroup v1's
    ``memory.memsw.*`` files: swap accounting on), which a swap limit needs: runc fails to
    start a config with one where it does not. Read once: it is the boot's."""
    return os.path.exists(f"{_mount('memory')}/memory.memsw.limit_in_bytes")


def _mount(controllers: str) -> str:
    """Where the hierarchy of ``controllers`` (as ``/proc/{pid}/cgroup`` names them) is."""
    if controllers == "":
        return f"{_ROOT}/unified" if os.path.isdir(f"{_ROOT}/unified") else _ROOT
    if controllers.startswith("name="):
        return f"{_ROOT}/{controllers[5:]}"
    return f"{_ROOT}/{controllers.split(',')[0]}"


def process_cgroups(pid: int | str) -> list[tuple[str, str]]:
    """The process's cgroup directories, one per hierarchy: (its controllers as
    ``/proc/{pid}/cgroup`` names them, "" for cgroup v2's; the directory)."""
    return [
        (controllers, f"{_mount(controllers)}{path.rstrip('/')}")
        for controllers, path in _memberships(pid)
    ]


def process_cgroup(pid: int | str, controller: str) -> str | None:
    """The directory of the process's cgroup in the hierarchy of ``controller`` ("" for the
    cgroup v2 one, "name=systemd" for a named one); None where there is none."""
    for controllers, directory in process_cgroups(pid):
        if controller in controllers.split(","):
            return directory
    return None


@attrs.frozen
class CgroupPlace:
    """Where runc puts a container's cgroup in one hierarchy (the v1 freezer's where there
    is one, else cgroup v2's), to see at a start whether a process is there already.

    runc names a container's cgroup after its id unless the bundle's ``linux.cgroupsPath``
    says otherwise, under the cgroup of the process that runs it (cgroup v2: under that
    cgroup's parent, which holds no process). Two daemons of one host (a second one for a
    migration, a test daemon) starting a container of the same id so put both into one
    cgroup, and runc 1.1 says nothing (1.2 refuses: "container's cgroup is not empty"):
    a pause of one froze the other, a delete of one (``runc kill --all``) killed the
    other's processes. A start into a cgroup that holds processes is refused instead.

    Made once per daemon: reading ``/proc/self/cgroup`` costs 50 us, the look at a start
    6 (a failed ``stat``)."""

    #: The hierarchy's mount point: an absolute ``cgroupsPath`` is from there.
    mount: str
    #: Where runc puts a relative one (the id).
    base: str

    @classmethod
    def of_self(cls) -> CgroupPlace | None:
        """The place for containers this process runs runc for (the server shares the
        keeper's cgroups); None where no hierarchy is known."""
        memberships = dict(_memberships("self"))
        for controllers, own in memberships.items():
            if "freezer" in controllers.split(","):
                mount = _mount(controllers)
                return cls(mount, f"{mount}{own.rstrip('/')}")
        unified = memberships.get("")
        if unified is None:
            return None
        mount = _mount("")
        return cls(mount, f"{mount}{os.path.dirname(unified.rstrip('/') or '/').rstrip('/')}")

    def held(self, container_id: str, cgroups_path: str | None) -> tuple[str, int] | None:
        """The cgroup runc would put the container in and the number of processes in it, if
        there are any (another's: none of this daemon's containers is there before its
        start, and a start that failed killed what it left)."""
        name = cgroups_path or container_id
        directory = (
            f"{self.mount}/{name.lstrip('/')}" if name.startswith("/") else f"{self.base}/{name}"
        )
        try:
            os.stat(directory)  # half the cost of a failed open of its cgroup.procs
        except OSError:
            return None  # not there: the usual case
        try:
            procs = os.open(f"{directory}/cgroup.procs", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None  # removed meanwhile
        try:
            pids = os.read(procs, 65536).split()
        except OSError:
            return None
        finally:
            os.close(procs)
        return (directory, len(pids)) if pids else None


def _freezer(pid: int | str) -> str | None:
    """The directory of the process's cgroup v1 freezer; None where there is none (cgroup v2,
    whose freezer lets a fatal signal kill a frozen process)."""
    return process_cgroup(pid, "freezer")


def frozen(pid: int) -> bool:
    """Whether the process's cgroup v1 freezer is frozen (or freezing): a container paused with
    runc by hand, which the daemon still takes for running. False where there is none (cgroup
    v2), and for a process that is gone."""
    try:
        return _frozen_freezer(pid) is not None
    except OSError:
        return False


def _frozen_freezer(pid: int) -> str | None:
    """The directory of the process's cgroup v1 freezer if it is frozen (or freezing)."""
    directory = _freezer(pid)
    if directory is None:
        return None
    with open(f"{directory}/freezer.state") as state:
        return None if state.read().strip() == "THAWED" else directory


def release_killed(pid: int) -> None:
    """Let a process sent SIGKILL die although its cgroup v1 freezer is frozen (a paused
    container), without thawing the rest of the container.

    A task frozen by cgroup v1 sleeps in the refrigerator, where no signal wakes it: it dies of
    a SIGKILL only once thawed, and thawing its cgroup would let every other process of the
    container run meanwhile. But the kernel thaws a task moved out of a frozen freezer cgroup
    into one that is not: moved into the daemon's own freezer cgroup (not frozen: the daemon
    runs), it wakes, takes the pending SIGKILL before it runs another instruction of its own,
    and dies; the rest stays frozen. Only the freezer moves it: it stays in the container's
    other cgroups (memory, pids) while it dies. Writing its tgid to ``cgroup.procs`` moves all
    its threads. The pid cannot name another process meanwhile: a frozen process cannot exit,
    and one that does stays a zombie until the keeper reaps it.
    """
    try:
        frozen = _frozen_freezer(pid)
        if frozen is None:
            return
        own = _freezer("self")
        if own is None or own == frozen:
            return
        with open(f"{own}/cgroup.procs", "w") as procs:
            procs.write(str(pid))
    except (FileNotFoundError, ProcessLookupError):
        pass  # it died meanwhile (thawed by a resume): as wanted
    except OSError as exc:
        # The signal was sent: it stays pending until the container is resumed, as before.
        log.warning("could not move killed process %d out of its frozen cgroup: %s", pid, exc)


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


async def remove_start_cgroups(container_id: str, cgroups_path: str | None = None) -> None:
    """Remove what a start rolled back (failed, cut by a deadline, or left by a server that
    died) left of the container's cgroups, which ``runc delete`` does not see when runc never
    recorded the container: its own (:func:`container_cgroups`), what they hold killed; then,
    on a hybrid host, its cgroup v2 directory (:func:`unified_cgroup`), which runc 1.1 makes
    too and only its delete of a container it knows removes (before, it stayed, empty, for
    good). That one is shared by every container of its cgroups path on the host, another
    daemon's "web" with this one's: it is removed only if empty (rmdir, never what it holds
    killed, never its children), so never from under a container that runs there."""
    await remove_cgroups(container_cgroups(container_id, cgroups_path))
    unified = unified_cgroup(container_id, cgroups_path)
    if unified is not None:
        await _remove_if_empty(unified)


async def _remove_if_empty(path: str) -> None:
    """rmdir the cgroup v2 directory if it holds no process and no cgroup. The start's own
    processes are dead by now (their v1 cgroups are gone), but the kernel may count a dying
    one a moment longer (EBUSY with nothing in it): looked at again then."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return  # runc made none (it failed before), or removed it itself
        except OSError as exc:
            if exc.errno != errno.EBUSY or _in_use(path):
                log.debug("left the cgroup %s, another's: %s", path, exc)
                return
        await trio.sleep(0.02)
    log.warning("cannot remove the cgroup %s a rolled-back start left", path)


def _in_use(path: str) -> bool:
    """Whether the cgroup v2 directory lists a process (another container's, running) or
    holds a cgroup (another container's path is under it)."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as procs:
            if procs.read().strip():
                return True
        return any(entry.is_dir(follow_symlinks=False) for entry in os.scandir(path))
    except OSError:
        return True  # gone meanwhile, or unreadable: let it be
