"""Prometheus metrics, on a registry of the daemon's own (never the global one).

The daemon's process figures (``process_cpu_seconds_total``, ``process_resident_memory_bytes``)
come from prometheus-client's process collector; the bench reads them to report the daemon's CPU
per start and its RSS.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from . import procfs
from .keeper import LOGGER_MODULE
from .model import Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _ContainersByStatus(Collector):
    def __init__(self, count: Callable[[], Mapping[Status, int]]) -> None:
        self._count = count

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "containerd_trio_containers",
            "Containers the daemon lists, by status.",
            labels=["status"],
        )
        counts = self._count()
        for status in Status:
            family.add_metric([status.value], counts.get(status, 0))
        yield family


class _Helpers(Collector):
    """CPU and memory of the daemon's other processes (the keeper, the logger), so that what
    the daemon costs is all of it, not the server's share alone."""

    def __init__(self, keeper: int | None) -> None:
        self._keeper = keeper

    def _processes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if self._keeper is None:
            return found
        found["keeper"] = self._keeper
        logger = procfs.child_running(self._keeper, LOGGER_MODULE.encode())
        if logger is not None:
            found["logger"] = logger
        return found

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        # The server's reaped children: runc's commands it runs itself (delete, kill, state,
        # pause, checkpoint...); those that make container processes are the keeper's. In
        # microseconds: os.times() counts in clock ticks, and two runc deletes could add none.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        yield CounterMetricFamily(
            "containerd_trio_runtime_cpu_seconds",
            "CPU time of the programs the server ran itself and reaped (runc's commands other"
            " than run, exec and restore, which the keeper runs).",
            value=children.ru_utime + children.ru_stime,
        )
        cpu = CounterMetricFamily(
            "containerd_trio_helper_cpu_seconds",
            "CPU time of the daemon's keeper and logger processes.",
            labels=["process"],
        )
        rss = GaugeMetricFamily(
            "containerd_trio_helper_resident_memory_bytes",
            "Resident memory of the daemon's keeper and logger processes.",
            labels=["process"],
        )
        for name, pid in self._processes().items():
            seconds = procfs.cpu_seconds(pid)
            resident = procfs.resident_bytes(pid)
            if seconds is not None and resident is not None:
                cpu.add_metric([name], seconds)
                rss.add_metric([name], resident)
        yield cpu
        yield rss


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.starts = Counter(
            "containerd_trio_container_starts", "Containers started (or restored).", registry=r
        )
        self.start_failures = Counter(
            "containerd_trio_container_start_failures", "Container starts that failed.", registry=r
        )
        self.exits = Counter(
            "containerd_trio_process_exits",
            "Container processes that exited.",
            ["kind"],
            registry=r,
        )
        self.ooms = Counter("containerd_trio_ooms", "OOM kills seen in containers.", registry=r)
        self.start_latency = Histogram(
            "containerd_trio_container_start_seconds",
            "Time to start a container, from request to running init.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.runtime_latency = Histogram(
            "containerd_trio_runtime_call_seconds",
            "Duration of runc calls, by command.",
            ["command"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.runtime_failures = Counter(
            "containerd_trio_runtime_call_failures",
            "runc calls that failed.",
            ["command"],
            registry=r,
        )
        self.fast_requests = Counter(
            "containerd_trio_api_fast_requests",
            "Requests answered by the API's fast path, without Quart (api/fast.py).",
            registry=r,
        )
        self.subscribers = Gauge(
            "containerd_trio_event_subscribers", "Clients streaming /events.", registry=r
        )
        self.paused_logs = Gauge(
            "containerd_trio_paused_logs",
            "Container logs that cannot be written (a full disk): their output waits in pipes.",
            registry=r,
        )
        # Bound once: labels() takes a lock and a dict lookup on every call.
        self.init_exits = self.exits.labels("init")
        self.exec_exits = self.exits.labels("exec")
        self._runtime_by_command: dict[str, tuple[Any, Any]] = {}

    def observe_runtime_call(self, command: str, seconds: float, ok: bool) -> None:
        children = self._runtime_by_command.get(command)
        if children is None:
            children = self._runtime_by_command[command] = (
                self.runtime_latency.labels(command),
                self.runtime_failures.labels(command),
            )
        latency, failures = children
        latency.observe(seconds)
        if not ok:
            failures.inc()

    def count_containers(self, count: Callable[[], Mapping[Status, int]]) -> None:
        self.registry.register(_ContainersByStatus(count))

    def watch_helpers(self, *, keeper: int | None, logger: int | None = None) -> None:
        """Report the keeper's and the logger's CPU and memory (the logger is found anew at
        each scrape: the keeper restarts it if it dies)."""
        del logger
        self.registry.register(_Helpers(keeper))

    def render(self) -> bytes:
        return generate_latest(self.registry)
