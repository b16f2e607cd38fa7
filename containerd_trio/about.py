"""What the daemon says of itself: ``GET /version`` (``docker version``'s server part) and
``GET /info`` (``docker info``).

Every field is read from the thing it names: the versions of runc and CRIU from their own
``--version`` (each server asks them once, on the first ``/version``, and keeps the answer: a
request costs no process), the host from ``uname`` and ``/etc/os-release``, the figures from the
container table, ``/proc`` and ``/sys/fs/cgroup`` at each ``/info``. Nothing here is made up:
a value not found is left out (a runc that printed no commit line has none in the answer).
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import trio

from . import __version__, procfs
from .cgroups import accounts_swap
from .children import run_child
from .config import DaemonConfig
from .machine import read_machine
from .model import CriuVersion, DaemonInfo, RuncVersion, Status, VersionInfo
from .spawn import ENVIRONMENT
from .timestamps import format_ns

#: Where a v2-only (unified) host lists its controllers; a v1 or hybrid host has no such file.
CGROUP2_CONTROLLERS = Path("/sys/fs/cgroup/cgroup.controllers")
OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))

#: runc --version's lines after the first, by their key: "commit: 1.1.5+ds1-1+deb12u1".
_RUNC_KEYS = ("commit", "spec", "go", "libseccomp")


def parse_runc_version(text: str, path: str) -> RuncVersion:
    """``runc --version``'s lines: ``runc version 1.1.5``, then ``key: value`` lines."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("runc version "):
            fields["version"] = line.removeprefix("runc version ").strip()
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() in _RUNC_KEYS and value.strip():
            fields[key.strip()] = value.strip()
    return RuncVersion(path=path, **fields)


def parse_criu_version(text: str, path: str) -> CriuVersion:
    """``criu --version``'s ``Version: 4.2.1`` (a build from git adds a ``GitID:`` line)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Version" and value.strip():
            return CriuVersion(path=path, version=value.strip())
    return CriuVersion(path=path)


def operating_system() -> str:
    """PRETTY_NAME of os-release (``Debian GNU/Linux 12 (bookworm)``), else uname -s."""
    for path in OS_RELEASE:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key == "PRETTY_NAME" and value.strip().strip("\"'"):
                return value.strip().strip("\"'")
    return os.uname().sysname


def cgroup_version() -> str:
    """docker's CgroupVersion: 2 on a unified host, 1 on a v1 or hybrid one."""
    return "2" if CGROUP2_CONTROLLERS.exists() else "1"


def _binary(name: str) -> str:
    """The program the daemon runs under that name: its path on PATH (the name if none)."""
    return shutil.which(name) or name


async def _version_output(argv: list[str], timeout: float) -> str | None:
    """What ``PROGRAM --version`` printed, or None if it failed or passed its deadline."""
    try:
        with trio.fail_after(timeout):
            result = await run_child(
                argv, capture_stdout=True, capture_stderr=True, env=ENVIRONMENT
            )
    except (OSError, trio.TooSlowError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode(errors="replace")


class About:
    """The answers of ``GET /version`` and ``GET /info`` for one server."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        #: The daemon's pid: the keeper's (set when the server meets its keeper).
        self.keeper_pid: int | None = None
        #: The keeper's start as it says it (the same to every server it runs, across
        #: reloads), if it does.
        self.keeper_started_ns: int | None = None
        self._version: VersionInfo | None = None
        self._asking = trio.Lock()
        self._started: dict[int, int] = {}

    async def version(self) -> VersionInfo:
        """The versions, runc's and CRIU's asked of them on the first call and kept (a
        failed ask is not kept: the next call asks again)."""
        async with self._asking:
            if self._version is not None:
                return self._version
            version, complete = await self._read_version()
            if complete:
                self._version = version
            return version

    async def _read_version(self) -> tuple[VersionInfo, bool]:
        """The versions, and whether runc (and CRIU) said theirs."""
        config = self.config
        timeout = config.runtime_timeout
        runc = _binary(config.runtime)
        runc_said = await _version_output([runc, "--version"], timeout)
        criu: CriuVersion | None = None
        criu_said: str | None = ""
        if config.criu is not None:
            criu_path = _binary(config.criu)
            criu_said = await _version_output([criu_path, "--version"], timeout)
            criu = parse_criu_version(criu_said or "", criu_path)
        uname = os.uname()
        version = VersionInfo(
            version=__version__,
            python_version=platform.python_version(),
            os=uname.sysname.lower(),
            arch=uname.machine,
            kernel_version=uname.release,
            runc=parse_runc_version(runc_said or "", runc),
            criu=criu,
        )
        return version, runc_said is not None and criu_said is not None

    def info(self, counts: Mapping[Status, int]) -> DaemonInfo:
        """The figures as they are now; ``counts``: how many listed containers have each
        status (:meth:`.Supervisor.count_by_status`)."""
        config = self.config
        total = sum(counts.values())
        running, paused = counts.get(Status.RUNNING, 0), counts.get(Status.PAUSED, 0)
        machine = read_machine()
        uname = os.uname()
        keeper_pid = self.keeper_pid if self.keeper_pid is not None else os.getpid()
        started_ns = (
            self.keeper_started_ns
            if self.keeper_started_ns is not None and self.keeper_pid is not None
            else self._started_ns(keeper_pid)
        )
        server_started_ns = self._started_ns(os.getpid())
        now_ns = time.time_ns()
        return DaemonInfo(
            server_version=__version__,
            name=uname.nodename,
            containers=total,
            containers_running=running,
            containers_paused=paused,
            containers_stopped=total - running - paused,
            state_dir=str(config.state_dir),
            runtime=_binary(config.runtime),
            runtime_root=str(config.runc_root),
            cgroup_version=cgroup_version(),
            cgroup_driver="cgroupfs",
            swap_limit=_swap_limit(),
            keep_containers=config.keep_containers,
            stop_containers=config.stop_containers,
            cpus=machine.cpus,
            memory=machine.memory,
            operating_system=operating_system(),
            os_type=uname.sysname.lower(),
            architecture=uname.machine,
            kernel_version=uname.release,
            pid=keeper_pid,
            started_at=format_ns(started_ns),
            uptime_seconds=round(max(now_ns - started_ns, 0) / 1e9, 3),
            server_pid=os.getpid(),
            server_started_at=format_ns(server_started_ns),
            criu=None if config.criu is None else _binary(config.criu),
            warnings=self._warnings(),
        )

    def _started_ns(self, pid: int) -> int:
        """When the process started, on the wall clock: its start in ticks since boot, read
        from /proc once (the wall clock's distance from boot, taken at each reading, would move
        it by a few microseconds from one answer to the next)."""
        if pid not in self._started:
            ticks = procfs.start_time(pid)
            self._started[pid] = (
                time.time_ns() if ticks is None else procfs.started_before_ns(ticks + 1)
            )
        return self._started[pid]

    def _warnings(self) -> list[str]:
        config = self.config
        warnings = []
        if config.insecure_tcp and not config.tls and not config.listen.is_loopback:
            warnings.append(
                f"WARNING: the API is served on {config.listen} without encryption"
                " (--insecure-tcp): whoever reaches it is root on this machine"
            )
        if not _swap_limit():
            warnings.append("WARNING: No swap limit support")
        if config.criu is None:
            warnings.append("WARNING: no checkpoints: the daemon runs without CRIU (--criu none)")
        return warnings


def _swap_limit() -> bool:
    """Whether the kernel accounts swap in cgroups: v1's memory.memsw files, or v2's
    memory.swap.max (a v2 host always has it where the kernel was built with swap)."""
    if cgroup_version() == "2":
        return next(Path("/sys/fs/cgroup").glob("*/memory.swap.max"), None) is not None
    return accounts_swap()
