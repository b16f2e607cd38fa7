"""What a phase drives: the daemon through its API, or runc directly, or a peer (:mod:`.peers`).

A target starts a container, runs one through its whole life (start, exit, delete), removes
one, and tells its cumulative CPU figures, so that one phase (:mod:`.phase`) can time any of
them alike.

The raw runc baseline is the daemon's own runtime wrapper, :class:`containerd_trio.runtime.Runc`,
configured as the daemon configures it (its deadline, its limit of runc processes at once), so
both sides spawn runc the same way (``posix_spawn`` and a pidfd, the cheapest the machine
allows) and pay the same for it; the containers' inits are watched and reaped through the
daemon's own :class:`containerd_trio.children.Child`.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import trio

from ..children import Child
from ..config import DaemonConfig
from ..errors import RuntimeFailure
from ..runtime import Runc, Stdio
from ..spawn import dev_null
from .api import DaemonApi
from .errors import BenchError
from .probes import process_cpu, process_cpu_clock

TAG_DAEMON = "containerd-trio"
TAG_RUNC = "runc"
#: How long a removed container's init may take to die before it is killed.
REAP_GRACE = 10.0


class Counters(NamedTuple):
    """A target's cumulative figures at one moment (None where it has none)."""

    daemon_cpu: float | None = None
    daemon_rss: float | None = None
    runc_cpu: float | None = None
    #: The daemon's CPU seconds by process (server, keeper, logger), where it says.
    daemon_cpu_parts: dict[str, float] | None = None


class Target:
    """One system to start containers with; see the subclasses."""

    tag: str
    #: It has a daemon of its own, whose CPU and memory the report shows.
    has_daemon = False
    #: What the CPU of the processes the bench runs and reaps is: runc's (the raw baseline) or
    #: a client's (ctr, podman); None when the bench runs none.
    children: Literal["runc", "client"] | None = None
    #: The runtime that makes the containers (the report's CPU line names it).
    runtime = "runc"

    def how(self, *, cycle: bool = False) -> str:
        """``through ...`` or ``with ...``, for the phase's first line (of lifecycles with
        ``cycle``)."""
        raise NotImplementedError

    async def start(self, container_id: str, bundle: Path) -> None:
        raise NotImplementedError

    async def cycle(self, container_id: str, bundle: Path) -> None:
        """Start a container whose process exits at once, wait for its exit, delete it."""
        raise NotImplementedError

    async def remove(self, container_id: str) -> None:
        """Remove a container this target may have started; one that is not there is fine."""
        raise NotImplementedError

    async def counters(self) -> Counters:
        return Counters()

    async def init_cpu(self, container_ids: Sequence[str]) -> float | None:
        """The CPU seconds the running containers' inits have run so far (see
        :func:`inits_cpu`); None where the target cannot say for all of them."""
        return None


class DaemonTarget(Target):
    """containerd-trio through its REST API."""

    tag = TAG_DAEMON
    has_daemon = True

    def __init__(self, api: DaemonApi, *, pid: int | None = None, rm: bool = False) -> None:
        self.api = api
        #: The daemon's pid when the bench runs it: then runc's CPU is the daemon's children's.
        self.pid = pid
        #: Lifecycles as docker run --rm: the daemon removes each container at its exit.
        self.rm = rm

    def how(self, *, cycle: bool = False) -> str:
        how = f"through {self.api.address}"
        if self.pid is not None:
            how = f"through own daemon (pid {self.pid}) at {self.api.address}"
        if self.rm:
            how += " (lifecycles as docker run --rm: autoRemove, then a wait for the removal)"
        return how

    async def start(self, container_id: str, bundle: Path) -> None:
        await self.api.start(container_id, bundle)

    async def cycle(self, container_id: str, bundle: Path) -> None:
        if self.rm:
            await self.api.start(container_id, bundle, auto_remove=True)
            await self.api.wait_exit(container_id, condition="removed")
            return
        pid = await self.api.start(container_id, bundle)
        await self.api.wait_exit(container_id, pid)
        await self.api.delete(container_id)

    async def remove(self, container_id: str) -> None:
        await self.api.delete(container_id)

    async def counters(self) -> Counters:
        figures = await self.api.figures()
        cpu = None if self.pid is None else process_cpu(self.pid)
        runc_cpu = None
        if cpu is not None:
            # runc's CPU: the keeper's children (run, and the containers' processes) and the
            # server's (delete, kill...), so that a lifecycle counts all of it as the raw
            # phase does. (A server that restarted within a phase would count its own CPU
            # here, reaped by the keeper, and start its children's again from 0.)
            runc_cpu = cpu.children + (figures.server_children_cpu or 0.0)
        return Counters(figures.cpu_seconds, figures.rss_bytes, runc_cpu, figures.cpu_by_process)

    async def init_cpu(self, container_ids: Sequence[str]) -> float | None:
        if self.pid is None:  # a daemon of another machine's, maybe: its pids are not ours
            return None
        inits: dict[str, int | None] = {}
        for container in json.loads(await self.api.state())["containers"]:
            processes = container.get("processes") or [{}]
            inits[container["id"]] = processes[0].get("pid")
        return inits_cpu([inits.get(container_id) for container_id in container_ids])


def inits_cpu(pids: Sequence[int | None]) -> float | None:
    """What the containers' inits have run so far, summed: with runc, ``runc init`` until its
    exec of the container's program (then the program, which sleeps). runc's processes that
    the bench or the daemon reaped are in ``runc cpu``; the init, the last process of runc's
    start, is reaped only once its container ends, after the phase's figures: without this
    a start's runc work reads a third short. None if any is gone or unknown."""
    seconds = 0.0
    for pid in pids:
        cpu = None if pid is None else process_cpu_clock(pid)
        if cpu is None:
            return None
        seconds += cpu
    return seconds


def runc_like_the_daemon(config: DaemonConfig, root: Path, criu: str | None) -> Runc:
    """The daemon's runtime wrapper with the daemon's settings, on a root of the bench's."""
    return Runc(
        binary=config.runtime, root=root, criu=criu,
        timeout=config.runtime_timeout, concurrency=config.runtime_concurrency,
    )  # fmt: skip


class RuncTarget(Target):
    """``runc run -d`` from the bench itself, which is the containers' subreaper."""

    tag = TAG_RUNC
    children = "runc"

    def __init__(self, runc: Runc, workdir: Path) -> None:
        self.runc = runc
        self.pid_dir = workdir / "pids"
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self._inits: dict[str, Child] = {}
        # Nothing to read from a container of the bench: all three on /dev/null.
        devnull = dev_null()
        self.stdio = Stdio(devnull, devnull, devnull)

    def how(self, *, cycle: bool = False) -> str:
        calls = "runc run in the foreground" if cycle else "runc run -d"
        return f"with {self.runc.binary} directly ({calls}, root {self.runc.root})"

    async def run(self, container_id: str, bundle: Path, stdio: Stdio | None = None) -> int:
        """``runc run -d``; the init's pid, watched from now on."""
        pid_file = self.pid_dir / f"{container_id}.pid"
        try:
            pid = (await self.runc.run(container_id, bundle, pid_file, stdio or self.stdio)).pid
        except RuntimeFailure as exc:
            raise BenchError(f"{container_id}: {exc}") from None
        finally:
            pid_file.unlink(missing_ok=True)  # left by a failed run
        self.watch(container_id, pid)
        return pid

    def watch(self, container_id: str, pid: int) -> None:
        """Watch the container's init (re-parented to the bench), to wait for it and reap it."""
        with contextlib.suppress(ProcessLookupError):  # gone and reaped already
            self._inits[container_id] = Child(pid)

    async def start(self, container_id: str, bundle: Path) -> None:
        await self.run(container_id, bundle)

    async def init_cpu(self, container_ids: Sequence[str]) -> float | None:
        handles = [self._inits.get(container_id) for container_id in container_ids]
        return inits_cpu([None if handle is None else handle.pid for handle in handles])

    async def cycle(self, container_id: str, bundle: Path) -> None:
        # runc run in the foreground, which waits for the exit and deletes: one runc process
        # where `run -d`, a wait and `delete` take two, a fifth less of the machine's CPU per
        # lifecycle (docs/performance.md, "The lifecycles' baseline"). The cheapest lifecycle
        # runc has is the honest baseline, as `ctr run --rm` and `podman run --rm` are the
        # peers'.
        try:
            await self.runc.run_to_exit(container_id, bundle, self.stdio)
        except RuntimeFailure as exc:
            raise BenchError(f"{container_id}: {exc}") from None

    async def wait_init(self, container_id: str, *, grace: float = float("inf")) -> None:
        """Wait for the container's init to exit and reap it; SIGKILL it after ``grace``."""
        handle = self._inits.pop(container_id, None)
        if handle is None:
            return
        try:
            with trio.move_on_after(grace):
                await handle.wait()
                return
            with contextlib.suppress(ProcessLookupError):
                handle.signal(signal.SIGKILL)
            with trio.move_on_after(5):
                await handle.wait()
        finally:
            handle.close()

    async def delete(self, container_id: str) -> None:
        try:
            await self.runc.delete(container_id, force=True)
        except RuntimeFailure as exc:
            raise BenchError(f"{container_id}: {exc}") from None

    async def remove(self, container_id: str) -> None:
        try:
            await self.delete(container_id)
        finally:
            await self.wait_init(container_id, grace=REAP_GRACE)
