"""One timed phase: N starts (or whole lifecycles) of any target, C at a time, then removal;
or N answers to one request (:func:`time_jobs` times any job alike).

The same code times the daemon, raw runc and the peers, so that what differs between their
figures is the system, not the measuring. Around the work it takes the clocks
(:class:`~.probes.Snapshot`) and the target's own counters; the removal is not timed in the
seed's figures (it has a line of its own), and always runs, even when the phase is
interrupted, so that nothing the bench started is left behind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import trio

from .api import CALL_TIMEOUT
from .errors import BenchError
from .probes import Snapshot
from .stats import Stats
from .targets import Counters, Target

#: What a phase times: starts, whole lifecycles, or answers to a request.
Unit = Literal["start", "cycle", "answer"]


@dataclass
class Phase:
    """One timed run of N starts (or cycles, or answers) of one target."""

    tag: str
    unit: Unit
    count: int
    has_daemon: bool = False
    #: The runtime the containers were made with, as the CPU line names it.
    runtime: str = "runc"
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Seconds from the first request to the last answer.
    wall: float = 0.0
    #: CPU seconds the bench process itself spent over the phase.
    bench_cpu: float = 0.0
    #: CPU seconds the target's daemon spent, and its RSS in bytes with all N running (after
    #: the cycles with --cycle); None if it has none, or did not say.
    daemon_cpu: float | None = None
    daemon_rss: float | None = None
    #: The daemon's CPU seconds by process (server, keeper, logger), where it says.
    daemon_cpu_parts: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the runtime's processes (run by the bench, or by the bench's own daemon).
    runc_cpu: float | None = None
    #: CPU seconds the started containers' inits had run once the starts were done (see
    #: :func:`.targets.inits_cpu`): runc's work that ``runc_cpu`` has not counted yet.
    #: None for lifecycles (their inits are reaped within the phase, and counted there).
    init_cpu: float | None = None
    #: CPU seconds of the client processes the bench ran (ctr, podman).
    client_cpu: float | None = None
    #: CPU seconds the whole machine was busy over the phase, and the busy share of all CPUs.
    machine_cpu: float | None = None
    machine_busy: float | None = None
    #: Seconds to remove what was started.
    remove_wall: float = 0.0

    @property
    def stats(self) -> Stats:
        return Stats.of(self.latencies)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else math.nan

    @property
    def runc_cpu_with_init(self) -> float | None:
        """runc's whole CPU for the phase's starts: what was reaped, and the inits' so far."""
        if self.runc_cpu is None or self.init_cpu is None:
            return None
        return self.runc_cpu + self.init_cpu

    def per_item(self, seconds: float | None) -> float | None:
        done = len(self.latencies)
        return None if seconds is None or done == 0 else seconds / done

    def account(
        self,
        target: Target,
        clocks: tuple[Snapshot, Snapshot],
        counters: tuple[Counters, Counters],
    ) -> None:
        """Set the figures from the clocks and the target's counters around the phase."""
        before, after = clocks
        self.wall = after.wall - before.wall
        self.bench_cpu = after.bench - before.bench
        children = after.children - before.children
        if target.children == "runc":
            self.runc_cpu = children
        elif target.children == "client":
            self.client_cpu = children
        first, last = counters
        self.daemon_cpu = _difference(first.daemon_cpu, last.daemon_cpu)
        parts0, parts1 = first.daemon_cpu_parts or {}, last.daemon_cpu_parts or {}
        self.daemon_cpu_parts = {
            name: seconds - parts0[name] for name, seconds in parts1.items() if name in parts0
        }
        self.daemon_rss = last.daemon_rss
        runc_cpu = _difference(first.runc_cpu, last.runc_cpu)
        if runc_cpu is not None:
            self.runc_cpu = runc_cpu
        busy0, busy1 = before.machine_busy, after.machine_busy
        all0, all1 = before.machine_all, after.machine_all
        if busy0 is not None and busy1 is not None and all0 is not None and all1 is not None:
            self.machine_cpu = busy1 - busy0
            self.machine_busy = self.machine_cpu / (all1 - all0) if all1 > all0 else None


def _difference(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def workers(count: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
    """Run ``job(0..count-1)``, ``concurrency`` at a time."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            await job(index)

    async with trio.open_nursery() as nursery:
        for _ in range(min(concurrency, count)):
            nursery.start_soon(worker)


Progress = Callable[[str, int, int], None]


async def time_jobs(
    target: Target,
    phase: Phase,
    concurrency: int,
    job: Callable[[int], Awaitable[None]],
    progress: Progress,
) -> None:
    """``job(0..phase.count-1)``, ``concurrency`` at a time, each timed (or its BenchError
    kept); then the phase's figures from the clocks and the target's counters around them."""
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        began = time.perf_counter()
        try:
            await job(index)
        except BenchError as exc:
            phase.errors.append(str(exc))
        else:
            phase.latencies.append(time.perf_counter() - began)
        done += 1
        progress(f"{phase.unit}s", done, phase.count)

    counters = await target.counters()
    clocks = Snapshot.take()
    await workers(phase.count, concurrency, one)
    phase.account(target, (clocks, Snapshot.take()), (counters, await target.counters()))


async def run_phase(
    target: Target,
    unit: Unit,
    ids: Sequence[str],
    bundle: Path,
    concurrency: int,
    *,
    progress: Progress,
    measured: Callable[[Phase], None],
    while_running: Callable[[], Awaitable[None]] | None = None,
) -> Phase:
    """``unit`` ("start" or "cycle") for each id, ``concurrency`` at a time; ``measured(phase)``
    once timed, then ``while_running()`` with the started containers still there; then every
    container the phase may have left is removed."""
    phase = Phase(target.tag, unit, len(ids), has_daemon=target.has_daemon, runtime=target.runtime)
    act = target.start if unit == "start" else target.cycle
    left: list[str] = []  # what may exist: removed at the end

    async def one(index: int) -> None:
        container_id = ids[index]
        left.append(container_id)
        await act(container_id, bundle)
        if unit == "cycle":
            left.remove(container_id)  # it deleted itself

    try:
        await time_jobs(target, phase, concurrency, one, progress)
        if unit == "start" and not phase.errors:
            phase.init_cpu = await target.init_cpu(left)
        measured(phase)
        if while_running is not None:
            await while_running()
    finally:
        phase.remove_wall = await remove_all(target, left, concurrency, phase.errors, progress)
    return phase


async def remove_all(
    target: Target, ids: Sequence[str], concurrency: int, errors: list[str], progress: Progress
) -> float:
    """Remove each of ``ids``, even when interrupted; the seconds it took."""
    done = 0

    async def remove(index: int) -> None:
        nonlocal done
        try:
            await target.remove(ids[index])
        except BenchError as exc:
            errors.append(str(exc))
        done += 1
        progress("removing", done, len(ids))

    began = time.perf_counter()
    with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
        await workers(len(ids), concurrency, remove)
    return time.perf_counter() - began
