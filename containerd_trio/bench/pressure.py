"""``ctr-trio bench --pressure``: does output at any volume stall the API?

Two measurements, each with the API's own requests, one after the other (latency, not
throughput):

1. the latency of ``GET /state``, a start, an exec and a delete, first on an idle daemon, then
   with ``--writers`` containers writing as fast as they can (busybox ``yes``); the goal is a
   p99 within 3x of the idle one;
2. what capturing that output costs: lines and bytes per second the logger takes from the
   writers' pipes (they are slowed by their full pipes, never stopped), and the logger's CPU
   per MB of output, for 2-byte lines (``yes``) and 100-byte lines.

The capture figures need the daemon's state dir (the log files' sizes): they are measured on
the bench's own daemon only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from .. import procfs
from ..busybox import make_busybox_bundle
from ..client import routes
from ..keeper import LOGGER_MODULE
from .api import DaemonApi
from .report import Printer
from .stats import percentile

TAG = "pressure"
#: A 100-byte line (with its newline).
_LONG_LINE = "x" * 99


@attrs.define
class Latencies:
    """Seconds per request, by operation."""

    by_operation: dict[str, list[float]] = attrs.Factory(dict)

    def add(self, operation: str, seconds: float) -> None:
        self.by_operation.setdefault(operation, []).append(seconds)

    def p(self, operation: str, q: float) -> float:
        return percentile(sorted(self.by_operation[operation]), q / 100)


async def _timed(latencies: Latencies, operation: str, call: Awaitable[object]) -> None:
    began = time.perf_counter()
    await call
    latencies.add(operation, time.perf_counter() - began)


async def measure_latencies(api: DaemonApi, bundle: Path, rounds: int, prefix: str) -> Latencies:
    latencies = Latencies()
    for n in range(rounds):
        container_id = f"{prefix}-{n}"
        await _timed(latencies, "GET /state", api._call(routes.state(), (200,)))
        await _timed(latencies, "start", api.start(container_id, bundle))
        await _timed(
            latencies, "exec", api._call(routes.exec_process(container_id, ["true"]), (201,))
        )
        await _timed(latencies, "delete", api.delete(container_id))
    return latencies


@attrs.frozen
class Capture:
    writers: int
    line_bytes: int
    seconds: float
    lines: int
    logger_cpu: float | None

    @property
    def output_mb_per_second(self) -> float:
        return self.lines * self.line_bytes / self.seconds / 1e6

    @property
    def cpu_per_mb(self) -> float | None:
        mb = self.lines * self.line_bytes / 1e6
        return None if self.logger_cpu is None or not mb else self.logger_cpu / mb


def _log_records(directory: Path) -> int:
    """About how many records a writer's log holds: its size over the size of its first record
    (a writer's records differ only in their timestamps, all of one width). The bench's daemon
    runs with a cap large enough that nothing rotates away meanwhile."""
    path = directory / "container.log"
    try:
        with open(path, "rb") as log:
            first = log.readline()
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    return size // len(first) if first else 0


async def measure_capture(
    api: DaemonApi,
    containers_dir: Path,
    bundle: Path,
    writers: int,
    line_bytes: int,
    prefix: str,
    logger_cpu: Callable[[], float | None],
    seconds: float = 5.0,
) -> Capture:
    ids = [f"{prefix}-{n}" for n in range(writers)]
    try:
        for container_id in ids:
            await api.start(container_id, bundle)
        await trio.sleep(1.0)  # past the start: the steady state
        lines_before = sum(_log_records(containers_dir / i) for i in ids)
        cpu_before, began = logger_cpu(), time.perf_counter()
        await trio.sleep(seconds)
        lines_after = sum(_log_records(containers_dir / i) for i in ids)
        cpu_after, elapsed = logger_cpu(), time.perf_counter() - began
    finally:
        for container_id in ids:
            await api.delete(container_id)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Capture(writers, line_bytes, elapsed, lines_after - lines_before, cpu)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def print_latencies(printer: Printer, idle: Latencies, loaded: Latencies, writers: int) -> None:
    for operation in idle.by_operation:
        idle99, loaded99 = idle.p(operation, 99), loaded.p(operation, 99)
        printer.line(
            TAG,
            f"{operation:<11} idle p50 {_ms(idle.p(operation, 50))} p99 {_ms(idle99)};"
            f" with {writers} writers p50 {_ms(loaded.p(operation, 50))} p99 {_ms(loaded99)}"
            f" ({loaded99 / idle99:.2f}x)",
        )


def print_capture(printer: Printer, capture: Capture) -> None:
    per_mb = capture.cpu_per_mb
    cost = f", logger CPU {per_mb:.2f}s per MB of output" if per_mb is not None else ""
    printer.line(
        TAG,
        f"capture of {capture.writers} writers of {capture.line_bytes}-byte lines:"
        f" {capture.lines / capture.seconds:,.0f} lines/s"
        f" ({capture.output_mb_per_second:.2f} MB/s of output,"
        f" {capture.lines / capture.seconds / capture.writers:,.0f} lines/s per container){cost}",
    )


async def pressure(
    api: DaemonApi,
    printer: Printer,
    workdir: Path,
    *,
    rounds: int,
    writers: int,
    prefix: str,
    containers_dir: Path | None,
    logger_pid: Callable[[], int | None],
) -> tuple[Latencies, Latencies, list[Capture]]:
    sleeper = await trio.to_thread.run_sync(
        make_busybox_bundle, workdir / "bundle", ["sleep", "100000"]
    )
    short = await trio.to_thread.run_sync(make_busybox_bundle, workdir / "yes", ["yes"])
    long = await trio.to_thread.run_sync(
        make_busybox_bundle, workdir / "yes-long", ["yes", _LONG_LINE]
    )
    printer.line(TAG, f"{rounds} rounds of GET /state, start, exec, delete on an idle daemon")
    idle = await measure_latencies(api, sleeper, rounds, f"{prefix}-idle")
    ids = [f"{prefix}-writer-{n}" for n in range(writers)]
    printer.line(TAG, f"the same with {writers} containers running yes")
    try:
        for container_id in ids:
            await api.start(container_id, short)
        await trio.sleep(1.0)
        loaded = await measure_latencies(api, sleeper, rounds, f"{prefix}-loaded")
    finally:
        for container_id in ids:
            await api.delete(container_id)
    print_latencies(printer, idle, loaded, writers)
    captures = []
    if containers_dir is not None:

        def cpu() -> float | None:
            pid = logger_pid()
            return None if pid is None else procfs.cpu_seconds(pid)

        for bundle, line_bytes in ((short, 2), (long, len(_LONG_LINE) + 1)):
            capture = await measure_capture(
                api, containers_dir, bundle, writers, line_bytes, f"{prefix}-cap{line_bytes}", cpu
            )
            print_capture(printer, capture)
            captures.append(capture)
    return idle, loaded, captures


def find_logger(keeper: int | None) -> int | None:
    """The logger process, among the keeper's children."""
    return None if keeper is None else procfs.child_running(keeper, LOGGER_MODULE.encode())
