"""``ctr-trio bench``: start many containers through the daemon, time them, compare with runc.

``ctr-trio bench --count N --concurrency C [--address A] [--bundle DIR] [--baseline] [--cycle]
[--checkpoint]`` starts N containers (at most C requests in flight) with ``POST /containers/{id}``,
scrapes the daemon's ``/metrics`` before and after, then removes them, and prints the timings in
the format of the 2015 containerd README's "Performance" section::

    [containerd-trio] 2026/11/28 15:00:54 count: 1000
    [containerd-trio] 2026/11/28 15:00:54 min: 23ms
    ...

- Without an address it runs a daemon of its own (``python -m containerd_trio`` on a unix socket
  in a temporary directory) and stops it at the end.
- ``--baseline`` also starts N containers with the runc CLI directly (the same ``runc run -d``
  that the daemon runs), with the same statistics under a ``[runc]`` tag, and the ratios.
- ``--cycle`` times whole lifecycles instead of starts: start a container whose process is
  ``true``, wait for its exit on the event stream, delete it.
- ``--checkpoint`` then times checkpoint (with exit) and restore of min(N, 20) containers, one
  after the other, through the daemon and with runc directly.

After the seed's lines come ``rate`` (starts per second over the whole phase), ``daemon cpu``
per start (from ``process_cpu_seconds_total`` in ``/metrics``), ``daemon rss`` with all N running
(``process_resident_memory_bytes``), ``runc cpu`` per start (the runc processes the daemon or the
bench reaped; for the daemon only when the bench runs it), ``bench cpu`` per start (this process:
its HTTP client or its runc spawning competes for the same CPUs), and ``machine cpu`` per start
(all CPUs, from ``/proc/stat``, with how busy they were: when they are all busy, the start rate
is the machine's CPU divided by what each start costs it). Before each timed phase the bench
waits (``--settle``) for the machine to be nearly idle, and says so when it never was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import trio

from .. import timestamps
from ..busybox import make_busybox_bundle
from ..config import default_criu

TAG_DAEMON = "containerd-trio"
TAG_RUNC = "runc"
SEED_LINES = ("count", "min", "max", "mean", "stddev", "median", "75%", "95%", "99%", "99.9%")
#: How many containers ``--checkpoint`` takes through checkpoint and restore, at most.
CHECKPOINT_COUNT = 20
#: Bound of any one request or runc call: a hung one fails the bench, it never hangs it.
CALL_TIMEOUT = 300.0
MIB = 1024 * 1024


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


# --- options --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    count: int = 100
    concurrency: int = 8
    #: ``HOST:PORT``, ``http://HOST:PORT`` or ``unix:PATH``; None: run a daemon of our own.
    address: str | None = None
    #: A bundle to start (all containers share it); None: a busybox bundle made for the run.
    bundle: Path | None = None
    baseline: bool = False
    #: Run the runc baseline before the daemon's phase rather than after it.
    baseline_first: bool = False
    cycle: bool = False
    checkpoint: bool = False
    #: Where the bundles, the raw runc root and our daemon's state go; None: a temporary dir.
    workdir: Path | None = None
    runc: str = "runc"
    #: CRIU for the raw runc checkpoints; None: :func:`containerd_trio.config.default_criu`.
    criu: str | None = None
    #: Seconds to wait at most, before each timed phase, for the machine to be nearly idle.
    settle: float = 90.0
    #: Extra arguments for the daemon the bench runs itself.
    daemon_args: tuple[str, ...] = ()
    #: A progress line on stderr; None: when stderr is a terminal.
    progress: bool | None = None
    #: Where the report lines go; None: stdout.
    out: TextIO | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        address = getattr(args, "bench_address", None) or getattr(args, "address", None)
        return cls(
            count=args.count,
            concurrency=args.concurrency,
            address=address,
            bundle=args.bundle,
            baseline=args.baseline,
            baseline_first=args.baseline_first,
            cycle=args.cycle,
            checkpoint=args.checkpoint,
            workdir=args.workdir,
            runc=args.runc,
            criu=args.criu,
            settle=args.settle,
            daemon_args=tuple(args.daemon_arg or ()),
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add bench's options to the ``bench`` subparser."""
    add = parser.add_argument
    add(
        "--count",
        type=_positive_int,
        default=100,
        metavar="N",
        help="containers to start (default %(default)s)",
    )
    add(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="C",
        help="requests (and runc calls) in flight at most (default %(default)s)",
    )
    add(
        "--address",
        dest="bench_address",
        default=None,
        metavar="HOST:PORT|unix:PATH",
        help="the daemon to measure (default: run a daemon of the bench's own on a unix socket)",
    )
    add(
        "--bundle",
        type=Path,
        default=None,
        metavar="DIR",
        help="the OCI bundle every container starts from (default: a busybox bundle made for the"
        " run; with --cycle its process must exit by itself)",
    )
    add(
        "--baseline",
        action="store_true",
        help="also start the containers with runc directly and print daemon/runc ratios",
    )
    add(
        "--baseline-first",
        action="store_true",
        help="with --baseline: run runc's phase first (to see that the order does not matter)",
    )
    add(
        "--cycle",
        action="store_true",
        help="time whole lifecycles (start a container running `true`, wait for its exit,"
        " delete it) instead of starts",
    )
    add(
        "--checkpoint",
        action="store_true",
        help=f"then time checkpoint and restore of min(N, {CHECKPOINT_COUNT}) containers, through"
        " the daemon and with runc directly",
    )
    add(
        "--workdir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the bench's files (bundles, raw runc root, its daemon's state) in DIR"
        " (default: a temporary directory, removed at the end)",
    )
    add(
        "--settle",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="before each timed phase, wait up to this long for the machine to be nearly idle"
        " (the kernel tears removed containers down for a while; default %(default)s)",
    )
    add("--runc", default="runc", metavar="PATH", help="the runc binary (default runc)")
    add(
        "--criu",
        default=None,
        metavar="PATH",
        help="the CRIU for raw runc checkpoints (default: the one the daemon would use)",
    )
    add(
        "--daemon-arg",
        action="append",
        metavar="ARG",
        help="an extra argument for the bench's own daemon (repeat for several)",
    )


def run(args: argparse.Namespace) -> int:
    """``ctr-trio bench``: the exit code (0 all went well, 1 something failed, 130 interrupted)."""
    options = Options.from_args(args)
    try:
        report = trio.run(bench, options)
    except BenchError as exc:
        print(f"ctr-trio bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctr-trio bench: interrupted", file=sys.stderr)
        return 130
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            print("ctr-trio bench: interrupted", file=sys.stderr)
            return 130
        raise
    return 0 if report.ok else 1


def _first_bench_error(group: BaseExceptionGroup[BaseException]) -> BenchError | None:
    """The BenchError of a group that holds nothing else (nurseries wrap what they raise)."""
    rest = group.subgroup(lambda exc: not isinstance(exc, (BenchError, BaseExceptionGroup)))
    if rest is not None:
        return None
    for exc in group.exceptions:
        if isinstance(exc, BenchError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_bench_error(exc)
            if found is not None:
                return found
    return None


# --- statistics -----------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """go-metrics' rule (which the seed's figures came from): interpolate at p * (n + 1)."""
    size = len(ordered)
    if size == 0:
        return math.nan
    position = p * (size + 1)
    if position < 1.0:
        return ordered[0]
    if position >= size:
        return ordered[-1]
    lower = ordered[int(position) - 1]
    upper = ordered[int(position)]
    return lower + (position - math.floor(position)) * (upper - lower)


@dataclass(frozen=True)
class Stats:
    """The seed's figures of a set of latencies, in seconds."""

    count: int
    min: float
    max: float
    mean: float
    stddev: float
    median: float
    p75: float
    p95: float
    p99: float
    p999: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        ordered = sorted(samples)
        count = len(ordered)
        if count == 0:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        mean = sum(ordered) / count
        variance = sum((x - mean) ** 2 for x in ordered) / count  # population, as go-metrics
        return cls(
            count=count,
            min=ordered[0],
            max=ordered[-1],
            mean=mean,
            stddev=math.sqrt(variance),
            median=percentile(ordered, 0.5),
            p75=percentile(ordered, 0.75),
            p95=percentile(ordered, 0.95),
            p99=percentile(ordered, 0.99),
            p999=percentile(ordered, 0.999),
        )

    def seed_lines(self) -> list[str]:
        """``count: 1000``, ``min: 23ms``, ... as the seed prints them."""
        return [f"count: {self.count}"] + [
            f"{name}: {_ms(value)}"
            for name, value in (
                ("min", self.min), ("max", self.max), ("mean", self.mean),
                ("stddev", self.stddev), ("median", self.median), ("75%", self.p75),
                ("95%", self.p95), ("99%", self.p99), ("99.9%", self.p999),
            )
        ]  # fmt: skip


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    return f"{round(seconds * 1000)}ms"


def _ms_precise(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.2f}ms"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or not theirs or math.isnan(ours) or math.isnan(theirs):
        return "n/a"
    return f"{ours / theirs:.2f}x"


@dataclass
class Phase:
    """One timed run of N starts (or cycles), through the daemon or with runc directly."""

    tag: str
    #: "start" or "cycle"
    unit: str
    count: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Seconds from the first request to the last answer.
    wall: float = 0.0
    #: CPU seconds the bench process itself spent over the phase.
    bench_cpu: float = 0.0
    #: CPU seconds the daemon spent (from its /metrics), None if it did not say.
    daemon_cpu: float | None = None
    #: The daemon's RSS in bytes with all N running (after the cycles with --cycle).
    daemon_rss: float | None = None
    #: CPU seconds of the runc processes (run by the bench, or by the bench's own daemon).
    runc_cpu: float | None = None
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

    def per_item(self, seconds: float | None) -> float | None:
        done = len(self.latencies)
        return None if seconds is None or done == 0 else seconds / done


@dataclass
class CheckpointPhase:
    count: int
    daemon_checkpoint: list[float] = field(default_factory=list)
    daemon_restore: list[float] = field(default_factory=list)
    runc_checkpoint: list[float] = field(default_factory=list)
    runc_restore: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    main: Phase | None = None
    raw: Phase | None = None
    checkpoint: CheckpointPhase | None = None
    lines: list[str] = field(default_factory=list)
    #: The raw runc root and, with a daemon of the bench's own, its state dir (gone unless
    #: a workdir was given).
    runc_root: Path | None = None
    daemon_state_dir: Path | None = None
    #: The exit code of the bench's own daemon, once stopped.
    daemon_exit: int | None = None

    @property
    def ok(self) -> bool:
        phases: list[Phase | CheckpointPhase | None] = [self.main, self.raw, self.checkpoint]
        return all(phase is None or not phase.errors for phase in phases)


# --- output ---------------------------------------------------------------------------------


class Printer:
    """Report lines, ``[tag] 2006/01/02 15:04:05 text`` (Go's log format); a progress line."""

    def __init__(self, out: TextIO, progress: bool) -> None:
        self.out = out
        self.lines: list[str] = []
        self._progress = progress
        self._shown = False
        self._last = 0.0

    def line(self, tag: str, text: str) -> None:
        self.clear_progress()
        line = f"[{tag}] {time.strftime('%Y/%m/%d %H:%M:%S')} {text}"
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def progress(self, what: str, done: int, total: int) -> None:
        if not self._progress:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return  # a terminal redrawn 10 times a second is enough; the bench's CPU counts
        self._last = now
        sys.stderr.write(f"\r{what} {done}/{total}\x1b[K")
        sys.stderr.flush()
        self._shown = True

    def clear_progress(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


@dataclass(frozen=True)
class Snapshot:
    """CPU clocks at one moment, to take differences over a phase (all in seconds)."""

    wall: float
    #: This process's CPU.
    bench: float
    #: CPU of this process's reaped children (the runc processes it ran).
    children: float
    #: CPU of the whole machine, busy and all (None off Linux).
    machine_busy: float | None
    machine_all: float | None
    #: CPU of the reaped children of the bench's own daemon: the runc it ran.
    daemon_children: float | None

    @classmethod
    def take(cls, daemon_pid: int | None = None) -> Snapshot:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, total = _machine_cpu()
        return cls(
            wall=time.perf_counter(),
            bench=own.ru_utime + own.ru_stime,
            children=children.ru_utime + children.ru_stime,
            machine_busy=busy,
            machine_all=total,
            daemon_children=None if daemon_pid is None else _children_cpu_of(daemon_pid),
        )


_TICK = os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float | None, float | None]:
    """(busy, total) CPU seconds of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None, None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    total = sum(fields)
    idle = fields[3] + fields[4]
    return (total - idle) / _TICK, total / _TICK


def network_namespaces() -> int | None:
    """How many network namespaces the kernel holds, dying ones included (/proc/slabinfo)."""
    try:
        with open("/proc/slabinfo", "rb") as slabinfo:
            for line in slabinfo:
                if line.startswith(b"net_namespace "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


#: Network namespaces when the bench began: a phase waits until the kernel is back to it.
_NAMESPACES_AT_START = network_namespaces()


async def settle(quiet: float = 0.15, longest: float = 30.0) -> tuple[float, bool]:
    """Wait until the machine is nearly idle (busy under ``quiet`` over half a second) and the
    kernel has finished tearing down the network namespaces of removed containers.

    The kernel tears down a thousand removed containers for a while after their removal is
    answered (cgroups, namespaces, mounts). Network namespaces go last and slowest, in a
    workqueue that runs in bursts: the CPUs can look idle for a moment while hundreds wait, and
    a phase that started then would pay for the phase before it (a third more CPU per start,
    measured). Returns the seconds waited (about ``longest`` at most) and whether it settled.
    """
    began = time.perf_counter()
    busy, total = _machine_cpu()
    if busy is None or total is None or longest <= 0:
        return 0.0, True
    while time.perf_counter() - began + 0.5 <= longest:
        await trio.sleep(0.5)
        busy_now, total_now = _machine_cpu()
        if busy_now is None or total_now is None:
            break
        share = (busy_now - busy) / (total_now - total) if total_now > total else 1.0
        namespaces = network_namespaces()
        torn_down = (
            namespaces is None
            or _NAMESPACES_AT_START is None
            or namespaces <= _NAMESPACES_AT_START + 16
        )
        if share < quiet and torn_down:
            return time.perf_counter() - began, True
        busy, total = busy_now, total_now
    return time.perf_counter() - began, False


def _children_cpu_of(pid: int) -> float | None:
    """cutime + cstime of ``pid``: the CPU of the children it has reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        fields = data[data.rfind(b")") + 2 :].split()
        return (int(fields[13]) + int(fields[14])) / _TICK
    except (OSError, ValueError, IndexError):
        return None


def _account(phase: Phase, before: Snapshot, after: Snapshot) -> None:
    """Set the phase's wall and CPU figures from two snapshots around it."""
    phase.wall = after.wall - before.wall
    phase.bench_cpu = after.bench - before.bench
    if phase.tag == TAG_RUNC:
        phase.runc_cpu = after.children - before.children
    elif after.daemon_children is not None and before.daemon_children is not None:
        phase.runc_cpu = after.daemon_children - before.daemon_children
    busy0, busy1 = before.machine_busy, after.machine_busy
    all0, all1 = before.machine_all, after.machine_all
    if busy0 is not None and busy1 is not None and all0 is not None and all1 is not None:
        phase.machine_cpu = busy1 - busy0
        phase.machine_busy = phase.machine_cpu / (all1 - all0) if all1 > all0 else None


async def _workers(count: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
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


# --- the daemon's API -----------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonFigures:
    cpu_seconds: float | None
    rss_bytes: float | None


class ConnectionClosed(Exception):
    """The server closed the connection before the whole answer came."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        """The daemon's ``{"error": ...}`` sentence, or the start of whatever it said."""
        try:
            return str(self.json()["error"])
        except (ValueError, KeyError, TypeError):
            return self.body[:500].decode(errors="replace")


class _Connection:
    """One keep-alive HTTP/1.1 connection and what was read past the last answer."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.idle_since = time.monotonic()
        self.reusable = True

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise ConnectionClosed("the daemon closed the connection")
        self.buffer += chunk

    async def _until(self, marker: bytes) -> bytes:
        """Bytes up to ``marker`` (consumed, not returned)."""
        start = 0
        while (end := self.buffer.find(marker, start)) < 0:
            start = max(0, len(self.buffer) - len(marker) + 1)
            await self._fill()
        data = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return data

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def head(self) -> tuple[int, dict[bytes, bytes]]:
        lines = (await self._until(b"\r\n\r\n")).split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise ConnectionClosed(f"not an HTTP answer: {lines[0][:80]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"close" in headers.get(b"connection", b"").lower():
            self.reusable = False  # hypercorn closes after keep_alive_max_requests answers
        return status, headers

    async def chunks(self, headers: dict[bytes, bytes]) -> AsyncGenerator[bytes, None]:
        """The body as it comes: chunked, sized, or up to the end of the connection."""
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            while size := int((await self._until(b"\r\n")).split(b";")[0], 16):
                yield await self._exactly(size)
                await self._exactly(2)
            await self._until(b"\r\n")  # no trailers from hypercorn: the empty line
        elif b"content-length" in headers:
            yield await self._exactly(int(headers[b"content-length"]))
        else:
            self.reusable = False
            if self.buffer:
                yield bytes(self.buffer)
                self.buffer.clear()
            while chunk := await self.stream.receive_some(65536):
                yield bytes(chunk)


class Http:
    """A lean HTTP/1.1 client on trio: keep-alive connections, JSON bodies, ndjson streams.

    The bench shares the machine's CPUs with the daemon and runc, so its own cost per request
    counts: httpx spends about 0.85 ms of CPU per request on this machine, this about 0.13 ms.
    It speaks plain HTTP to a unix socket or a TCP port, which is what a local bench needs.
    """

    #: An idle connection older than this may be closing on the server's side (hypercorn's
    #: keep-alive timeout is 5 s): open a new one instead.
    MAX_IDLE = 2.0

    def __init__(self, address: str) -> None:
        self.address = address
        self._unix: str | None = None
        self._host = "containerd-trio"
        self._port = 0
        if address.startswith("unix:"):
            self._unix = address[len("unix:") :]
        else:
            rest = address
            if "://" in rest:
                scheme, _, rest = rest.partition("://")
                if scheme != "http":
                    raise BenchError(f"--address {address}: the bench speaks plain http (or unix:)")
            rest = rest.rstrip("/")
            host, sep, port = rest.rpartition(":")
            if not sep or not port.isdigit():
                raise BenchError(
                    f"--address {address}: not HOST:PORT, http://HOST:PORT or unix:PATH"
                )
            self._host, self._port = host.strip("[]") or "127.0.0.1", int(port)
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        try:
            if self._unix is not None:
                stream: trio.abc.Stream = await trio.open_unix_socket(self._unix)
            else:
                stream = await trio.open_tcp_stream(self._host, self._port)
        except OSError as exc:
            raise BenchError(f"no daemon answers at {self.address}: {exc}") from None
        return _Connection(stream)

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since < self.MAX_IDLE:
                return connection
            trio.lowlevel.spawn_system_task(connection.stream.aclose)
        return None

    def _request_bytes(self, method: str, target: str, body: Any) -> bytes:
        host = self._host if self._unix is None else "containerd-trio"
        head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
        if body is None:
            if method in ("POST", "PUT", "PATCH"):
                head += "Content-Length: 0\r\n"
            return (head + "\r\n").encode()
        data = json.dumps(body).encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

    async def request(self, method: str, target: str, body: Any = None) -> Answer:
        """One request; its answer. Raises BenchError when the daemon cannot be reached."""
        request = self._request_bytes(method, target, body)
        for attempt in (1, 2):
            connection = self._take()
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            try:
                await connection.stream.send_all(request)
                status, headers = await connection.head()
                data = b"".join([chunk async for chunk in connection.chunks(headers)])
            except (ConnectionClosed, trio.BrokenResourceError, OSError) as exc:
                with trio.CancelScope(shield=True):
                    await connection.stream.aclose()
                if reused and attempt == 1 and isinstance(exc, ConnectionClosed):
                    continue  # the server closed an idle connection just as we used it
                raise BenchError(f"{method} {target}: {type(exc).__name__}: {exc}") from None
            except BaseException:
                with trio.CancelScope(shield=True):
                    await connection.stream.aclose()
                raise
            if connection.reusable:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                await connection.stream.aclose()
            return Answer(status, data)
        raise AssertionError("unreachable")

    async def lines(self, target: str) -> AsyncGenerator[bytes, None]:
        """GET a ndjson stream on a connection of its own; its lines, as they come."""
        connection = await self._connect()
        try:
            await connection.stream.send_all(self._request_bytes("GET", target, None))
            status, headers = await connection.head()
            if status != 200:
                body = b"".join([chunk async for chunk in connection.chunks(headers)])
                raise BenchError(f"GET {target}: {status} {Answer(status, body).error}")
            pending = b""
            async with contextlib.aclosing(connection.chunks(headers)) as chunks:
                async for chunk in chunks:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        if line:
                            yield line
        except (ConnectionClosed, trio.BrokenResourceError, OSError) as exc:
            raise BenchError(f"GET {target}: {type(exc).__name__}: {exc}") from None
        finally:
            with trio.CancelScope(shield=True):
                await connection.stream.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.stream.aclose()


class Api:
    """The few requests the bench makes, on a pool of keep-alive connections."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.http = Http(address)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(
        self, method: str, target: str, expect: Sequence[int], body: Any = None
    ) -> Answer:
        try:
            with trio.fail_after(CALL_TIMEOUT):
                answer = await self.http.request(method, target, body)
        except trio.TooSlowError:
            raise BenchError(f"{method} {target}: no answer within {CALL_TIMEOUT:g}s") from None
        if answer.status not in expect:
            raise BenchError(f"{method} {target}: {answer.status} {answer.error}")
        return answer

    async def check(self) -> None:
        """Fail early, and clearly, when nothing answers at the address."""
        await self._call("GET", "/state", (200,))

    async def start(self, container_id: str, bundle: Path, checkpoint: str | None = None) -> int:
        """POST /containers/{id}; the init's pid."""
        body: dict[str, Any] = {"bundlePath": str(bundle)}
        if checkpoint is not None:
            body["checkpoint"] = checkpoint
        answer = await self._call("POST", f"/containers/{container_id}", (201,), body)
        pid: int = answer.json()["processes"][0]["pid"]
        return pid

    async def delete(self, container_id: str) -> None:
        """DELETE /containers/{id}?timeout=0; a container already gone is fine."""
        await self._call("DELETE", f"/containers/{container_id}?timeout=0", (200, 404))

    async def checkpoint(self, container_id: str, name: str) -> None:
        target = f"/containers/{container_id}/checkpoint/{name}"
        await self._call("POST", target, (201,), {"exit": True})

    async def delete_checkpoint(self, container_id: str, name: str, bundle: Path) -> None:
        query = urlencode({"bundlePath": str(bundle)})
        target = f"/containers/{container_id}/checkpoint/{name}?{query}"
        await self._call("DELETE", target, (200, 404))

    async def wait_exit(self, container_id: str, pid: int, since: str) -> int:
        """The exit status of ``pid``, from GET /events?id=...&since=... (replayed or live)."""
        target = "/events?" + urlencode({"id": container_id, "since": since})
        async with contextlib.aclosing(self.http.lines(target)) as lines:
            async for line in lines:
                event = json.loads(line)
                if event.get("type") == "exit" and event.get("pid") == pid:
                    status: int = event.get("status", -1)
                    return status
        raise BenchError(f"the event stream ended before container {container_id} exited")

    async def figures(self) -> DaemonFigures:
        """The daemon's CPU seconds and RSS, from GET /metrics (None where it does not say)."""
        try:
            answer = await self._call("GET", "/metrics", (200,))
        except BenchError:
            return DaemonFigures(None, None)
        return parse_figures(answer.body.decode(errors="replace"))

    async def containers(self) -> list[str]:
        answer = await self._call("GET", "/state", (200,))
        return [c["id"] for c in answer.json()["containers"]]


def parse_figures(text: str) -> DaemonFigures:
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
            with contextlib.suppress(ValueError):
                values[name] = float(value.split()[0])
    return DaemonFigures(
        values.get("process_cpu_seconds_total"), values.get("process_resident_memory_bytes")
    )


# --- a daemon of the bench's own ------------------------------------------------------------


class OwnDaemon:
    """``python -m containerd_trio`` on a unix socket in the bench's directory."""

    def __init__(self, workdir: Path, runc: str, extra: Sequence[str]) -> None:
        self.socket = workdir / "api.sock"
        self.state_dir = workdir / "state"
        self.argv = [
            sys.executable, "-m", "containerd_trio",
            "--listen", f"unix:{self.socket}",
            "--state-dir", str(self.state_dir),
            *(["--runtime", runc] if runc != "runc" else []),
            *extra,
        ]  # fmt: skip
        self.process: trio.Process | None = None
        self._log = bytearray()
        self._ready = trio.Event()

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self, nursery: trio.Nursery) -> None:
        self.process = await trio.lowlevel.open_process(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        nursery.start_soon(self._read_log, self.process)
        with trio.move_on_after(60):
            await self._ready.wait()
        if self.process.returncode is not None or b"serving on" not in self._log:
            tail = self.log_tail()
            await self.stop()
            raise BenchError(f"the bench's daemon did not come up ({' '.join(self.argv)}):\n{tail}")

    async def _read_log(self, process: trio.Process) -> None:
        # Read stderr to the end, always: a daemon whose log pipe fills up blocks.
        assert process.stderr is not None
        async for chunk in process.stderr:
            self._log += chunk
            if not self._ready.is_set() and b"serving on" in self._log:
                self._ready.set()
            if len(self._log) > 65536:
                del self._log[:-32768]
        self._ready.set()  # it exited: start() finds out from returncode

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log.decode(errors="replace").splitlines()[-lines:])

    async def stop(self) -> int | None:
        """SIGTERM (the daemon removes what it still runs), then wait; SIGKILL if it hangs."""
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        with trio.CancelScope(shield=True):
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(120):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        self.socket.unlink(missing_ok=True)  # hypercorn leaves it behind
        return process.returncode


# --- runc directly --------------------------------------------------------------------------

Stdio = tuple[int, int, int]
DEVNULL_STDIO: Stdio = (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL)


class RawRunc:
    """runc run by the bench itself, as the daemon runs it (with a memfd ``--log``)."""

    def __init__(self, binary: str, root: Path, criu: str | None, work: Path) -> None:
        self.binary = binary
        self.root = root
        self.criu = criu
        self.pid_dir = work / "pids"
        self.pid_dir.mkdir(parents=True, exist_ok=True)

    async def call(self, command: str, args: Sequence[str], stdio: Stdio = DEVNULL_STDIO) -> None:
        log_fd = os.memfd_create(f"runc-{command}-log", os.MFD_CLOEXEC)
        try:
            argv = [self.binary, "--root", str(self.root)]
            argv += ["--log", f"/proc/self/fd/{log_fd}", "--log-format", "json"]
            if command in ("checkpoint", "restore"):
                if not self.criu:
                    raise BenchError("no CRIU found: install it (make install does) or pass --criu")
                argv += ["--criu", self.criu]
            argv += [command, *args]
            stdin, stdout, stderr = stdio
            with trio.fail_after(CALL_TIMEOUT):
                result = await trio.run_process(
                    argv, stdin=stdin, stdout=stdout, stderr=stderr, check=False, pass_fds=(log_fd,)
                )
            if result.returncode != 0:
                raise BenchError(f"runc {command} {args[-1]}: {_runc_error(log_fd)}")
        except trio.TooSlowError:
            raise BenchError(f"runc {command} did not finish within {CALL_TIMEOUT:g}s") from None
        finally:
            os.close(log_fd)

    def pid_file(self, container_id: str) -> Path:
        return self.pid_dir / f"{container_id}.pid"

    def read_pid(self, container_id: str) -> int:
        try:
            return int(self.pid_file(container_id).read_text().strip())
        except (OSError, ValueError) as exc:
            raise BenchError(f"runc left no usable pid file for {container_id}: {exc}") from None

    async def run(self, container_id: str, bundle: Path, stdio: Stdio = DEVNULL_STDIO) -> int:
        """``runc run -d``: the init's pid (re-parented to this process, the subreaper)."""
        pid_file = self.pid_file(container_id)
        args = ["--detach", "--bundle", str(bundle), "--pid-file", str(pid_file), container_id]
        await self.call("run", args, stdio)
        return self.read_pid(container_id)

    async def delete(self, container_id: str, pid: int | None) -> None:
        """``runc delete --force``, then reap the init (a zombie of ours otherwise)."""
        try:
            await self.call("delete", ["--force", container_id])
        finally:
            if pid is not None:
                await reap(pid)
            self.pid_file(container_id).unlink(missing_ok=True)

    async def checkpoint(self, container_id: str, image_path: Path) -> None:
        await self.call("checkpoint", ["--image-path", str(image_path), container_id])

    async def restore(self, container_id: str, bundle: Path, image_path: Path, stdio: Stdio) -> int:
        pid_file = self.pid_file(container_id)
        args = [
            "--detach", "--image-path", str(image_path), "--bundle", str(bundle),
            "--pid-file", str(pid_file), container_id,
        ]  # fmt: skip
        await self.call("restore", args, stdio)
        return self.read_pid(container_id)

    def list_ids(self) -> list[str]:
        out = subprocess.run(
            [self.binary, "--root", str(self.root), "list", "--format", "json"],
            capture_output=True, check=False,
        ).stdout  # fmt: skip
        try:
            return [entry["id"] for entry in json.loads(out or b"null") or []]
        except ValueError:
            return []


def _runc_error(log_fd: int) -> str:
    os.lseek(log_fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(log_fd, 65536):
        chunks.append(chunk)
    messages = []
    for raw in b"".join(chunks).splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            messages.append(str(entry.get("msg", "")))
    return "; ".join(dict.fromkeys(messages)) or "failed (runc logged no error)"


async def reap(pid: int, grace: float = 10.0) -> None:
    """Wait for ``pid`` (a child of ours) to exit and reap it; SIGKILL it after ``grace``."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone and reaped already
    try:
        with trio.move_on_after(grace):
            await trio.lowlevel.wait_readable(pidfd)
            grace = 0
        if grace:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with trio.move_on_after(5):
                await trio.lowlevel.wait_readable(pidfd)
        with contextlib.suppress(ChildProcessError):  # not ours after all: init reaps it
            os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - it has exited: this does not block
    finally:
        os.close(pidfd)


def _pipes() -> tuple[Stdio, list[int]]:
    """Pipes for a container's stdin, stdout, stderr: (the container's ends, ours)."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    return (stdin_r, stdout_w, stderr_w), [stdin_w, stdout_r, stderr_r]


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# --- the phases -----------------------------------------------------------------------------


def _note_error(errors: list[str], message: str) -> None:
    errors.append(message)


async def _measure(
    api: Api,
    daemon_pid: int | None,
    phase: Phase,
    count: int,
    concurrency: int,
    work: Callable[[int], Awaitable[None]],
    measured: Callable[[Phase], None],
) -> None:
    """Run ``work`` for each of ``count`` items and take the phase's figures around it: the
    clocks, and the daemon's CPU and RSS from its /metrics."""
    before = await api.figures()
    clocks = Snapshot.take(daemon_pid)
    await _workers(count, concurrency, work)
    _account(phase, clocks, Snapshot.take(daemon_pid))
    after = await api.figures()
    if before.cpu_seconds is not None and after.cpu_seconds is not None:
        phase.daemon_cpu = after.cpu_seconds - before.cpu_seconds
    phase.daemon_rss = after.rss_bytes
    measured(phase)


async def daemon_starts(
    api: Api, printer: Printer, ids: Sequence[str], bundle: Path, concurrency: int,
    measured: Callable[[Phase], None] = lambda phase: None, daemon_pid: int | None = None,
) -> Phase:  # fmt: skip
    """N starts through the daemon; ``measured(phase)`` once timed; then their removal."""
    phase = Phase(TAG_DAEMON, "start", len(ids))
    started: list[str] = []
    done = 0

    async def start(index: int) -> None:
        nonlocal done
        container_id = ids[index]
        began = time.perf_counter()
        try:
            await api.start(container_id, bundle)
        except BenchError as exc:
            _note_error(phase.errors, str(exc))
        else:
            phase.latencies.append(time.perf_counter() - began)
            started.append(container_id)
        done += 1
        printer.progress("starting", done, len(ids))

    try:
        await _measure(api, daemon_pid, phase, len(ids), concurrency, start, measured)
    finally:
        phase.remove_wall = await _remove(api, printer, list(ids), concurrency, phase.errors)
    return phase


async def _remove(
    api: Api, printer: Printer, ids: Sequence[str], concurrency: int, errors: list[str]
) -> float:
    """DELETE every container the bench may have started, even when interrupted."""
    done = 0

    async def remove(index: int) -> None:
        nonlocal done
        try:
            await api.delete(ids[index])
        except BenchError as exc:
            _note_error(errors, str(exc))
        done += 1
        printer.progress("removing", done, len(ids))

    began = time.perf_counter()
    with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
        await _workers(len(ids), concurrency, remove)
    return time.perf_counter() - began


async def daemon_cycles(
    api: Api, printer: Printer, ids: Sequence[str], bundle: Path, concurrency: int,
    measured: Callable[[Phase], None] = lambda phase: None, daemon_pid: int | None = None,
) -> Phase:  # fmt: skip
    """N lifecycles through the daemon: start, wait for the exit event, delete."""
    phase = Phase(TAG_DAEMON, "cycle", len(ids))
    pending: set[str] = set()
    done = 0

    async def cycle(index: int) -> None:
        nonlocal done
        container_id = ids[index]
        began = time.perf_counter()
        since = timestamps.format_ns(time.time_ns())
        pending.add(container_id)
        try:
            pid = await api.start(container_id, bundle)
            with trio.fail_after(CALL_TIMEOUT):
                await api.wait_exit(container_id, pid, since)
            await api.delete(container_id)
        except (BenchError, trio.TooSlowError) as exc:
            _note_error(phase.errors, f"{container_id}: {exc or 'no exit event in time'}")
        else:
            phase.latencies.append(time.perf_counter() - began)
            pending.discard(container_id)
        done += 1
        printer.progress("cycles", done, len(ids))

    try:
        await _measure(api, daemon_pid, phase, len(ids), concurrency, cycle, measured)
    finally:
        if pending:
            await _remove(api, printer, sorted(pending), concurrency, phase.errors)
    return phase


async def raw_starts(
    runc: RawRunc, printer: Printer, ids: Sequence[str], bundle: Path, concurrency: int,
    measured: Callable[[Phase], None] = lambda phase: None,
) -> Phase:  # fmt: skip
    """N ``runc run -d`` at the same concurrency, then ``runc delete --force`` of each."""
    phase = Phase(TAG_RUNC, "start", len(ids))
    pids: dict[str, int | None] = {}
    done = 0

    async def start(index: int) -> None:
        nonlocal done
        container_id = ids[index]
        pids[container_id] = None  # from here on it may exist: delete it at the end
        began = time.perf_counter()
        try:
            pids[container_id] = await runc.run(container_id, bundle)
        except BenchError as exc:
            _note_error(phase.errors, str(exc))
        else:
            phase.latencies.append(time.perf_counter() - began)
        done += 1
        printer.progress("runc run", done, len(ids))

    clocks = Snapshot.take()
    try:
        await _workers(len(ids), concurrency, start)
        _account(phase, clocks, Snapshot.take())
        measured(phase)
    finally:
        phase.remove_wall = await _raw_remove(runc, printer, pids, concurrency, phase.errors)
    return phase


async def _raw_remove(
    runc: RawRunc, printer: Printer, pids: dict[str, int | None], concurrency: int,
    errors: list[str],
) -> float:  # fmt: skip
    ids = list(pids)
    done = 0

    async def remove(index: int) -> None:
        nonlocal done
        try:
            await runc.delete(ids[index], pids[ids[index]])
        except BenchError as exc:
            _note_error(errors, str(exc))
        done += 1
        printer.progress("runc delete", done, len(ids))

    began = time.perf_counter()
    with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
        await _workers(len(ids), concurrency, remove)
    return time.perf_counter() - began


async def raw_cycles(
    runc: RawRunc, printer: Printer, ids: Sequence[str], bundle: Path, concurrency: int,
    measured: Callable[[Phase], None] = lambda phase: None,
) -> Phase:  # fmt: skip
    """N lifecycles with runc: ``run -d``, wait for the init's exit (we reap it), ``delete``."""
    phase = Phase(TAG_RUNC, "cycle", len(ids))
    pending: dict[str, int | None] = {}
    done = 0

    async def cycle(index: int) -> None:
        nonlocal done
        container_id = ids[index]
        pending[container_id] = None
        began = time.perf_counter()
        try:
            pid = pending[container_id] = await runc.run(container_id, bundle)
            await reap(pid, grace=CALL_TIMEOUT)
            await runc.delete(container_id, None)
        except BenchError as exc:
            _note_error(phase.errors, str(exc))
        else:
            phase.latencies.append(time.perf_counter() - began)
            del pending[container_id]
        done += 1
        printer.progress("runc cycles", done, len(ids))

    clocks = Snapshot.take()
    try:
        await _workers(len(ids), concurrency, cycle)
        _account(phase, clocks, Snapshot.take())
        measured(phase)
    finally:
        if pending:
            await _raw_remove(runc, printer, pending, concurrency, phase.errors)
    return phase


async def checkpoints(
    api: Api, runc: RawRunc, printer: Printer, prefix: str, count: int, bundle: Path,
    image_root: Path,
) -> CheckpointPhase:  # fmt: skip
    """Start, checkpoint (exit), restore, delete: ``count`` times through each, one at a time.

    The daemon's rounds and runc's alternate (and take turns going first), so that a load that
    comes and goes on the machine weighs on both alike.
    """
    phase = CheckpointPhase(count)
    for index in range(count):
        rounds = [
            partial(_daemon_checkpoint, api, phase, f"{prefix}-ck-{index}", bundle),
            partial(
                _raw_checkpoint, runc, phase, f"{prefix}-raw-ck-{index}", bundle,
                image_root / str(index),
            ),
        ]  # fmt: skip
        for round_ in rounds if index % 2 == 0 else reversed(rounds):
            await round_()
        printer.progress("checkpoints", index + 1, count)
    return phase


async def _daemon_checkpoint(
    api: Api, phase: CheckpointPhase, container_id: str, bundle: Path
) -> None:
    name = container_id
    try:
        await api.start(container_id, bundle)
        began = time.perf_counter()
        await api.checkpoint(container_id, name)
        phase.daemon_checkpoint.append(time.perf_counter() - began)
        began = time.perf_counter()
        await api.start(container_id, bundle, checkpoint=name)
        phase.daemon_restore.append(time.perf_counter() - began)
    except BenchError as exc:
        _note_error(phase.errors, str(exc))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
            try:
                await api.delete(container_id)
                await api.delete_checkpoint(container_id, name, bundle)
            except BenchError as exc:
                _note_error(phase.errors, str(exc))


async def _raw_checkpoint(
    runc: RawRunc, phase: CheckpointPhase, container_id: str, bundle: Path, image_path: Path
) -> None:
    # CRIU cannot dump a process whose stdio is a host file: give the container pipes.
    theirs, ours = _pipes()
    pid: int | None = None
    try:
        try:
            pid = await runc.run(container_id, bundle, theirs)
        finally:
            _close(theirs)
        await trio.Path(image_path).mkdir(parents=True)
        began = time.perf_counter()
        await runc.checkpoint(container_id, image_path)
        phase.runc_checkpoint.append(time.perf_counter() - began)
        # runc has removed the container; its init is our zombie until reaped, and CRIU
        # restores the same pid: reap it first.
        await reap(pid)
        pid = None
        _close(ours)
        theirs, ours = _pipes()
        began = time.perf_counter()
        try:
            pid = await runc.restore(container_id, bundle, image_path, theirs)
        finally:
            _close(theirs)
        phase.runc_restore.append(time.perf_counter() - began)
    except BenchError as exc:
        _note_error(phase.errors, str(exc))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
            try:
                await runc.delete(container_id, pid)
            except BenchError as exc:
                _note_error(phase.errors, str(exc))
        _close(ours)
        shutil.rmtree(image_path, ignore_errors=True)


# --- the report -----------------------------------------------------------------------------


def print_phase(printer: Printer, phase: Phase) -> None:
    tag = phase.tag
    for line in phase.stats.seed_lines():
        printer.line(tag, line)
    unit = phase.unit
    done = len(phase.latencies)
    printer.line(tag, f"rate: {phase.rate:.1f} {unit}s/s ({done} in {phase.wall:.2f}s)")
    if phase.tag == TAG_DAEMON:
        printer.line(tag, f"daemon cpu: {_ms_precise(phase.per_item(phase.daemon_cpu))} per {unit}")
        if phase.daemon_rss is not None:
            running = f"with {done} running" if unit == "start" else f"after {done} cycles"
            printer.line(tag, f"daemon rss: {phase.daemon_rss / MIB:.1f}MiB {running}")
        else:
            printer.line(tag, "daemon rss: n/a")
    if phase.runc_cpu is not None:
        printer.line(tag, f"runc cpu: {_ms_precise(phase.per_item(phase.runc_cpu))} per {unit}")
    printer.line(tag, f"bench cpu: {_ms_precise(phase.per_item(phase.bench_cpu))} per {unit}")
    if phase.machine_cpu is not None and phase.machine_busy is not None:
        printer.line(
            tag,
            f"machine cpu: {_ms_precise(phase.per_item(phase.machine_cpu))} per {unit}"
            f" ({100 * phase.machine_busy:.0f}% of {os.cpu_count()} cpus busy)",
        )


def print_end(printer: Printer, phase: Phase) -> None:
    """After the removal: its time, and what failed over the whole phase."""
    tag = phase.tag
    if phase.unit == "start" and phase.remove_wall > 0:
        removed = phase.count / phase.remove_wall
        printer.line(tag, f"removed {phase.count} in {phase.remove_wall:.2f}s ({removed:.1f}/s)")
    if phase.errors:
        printer.line(tag, f"failures: {len(phase.errors)} (first: {phase.errors[0]})")


def print_ratios(printer: Printer, ours: Phase, raw: Phase) -> None:
    a, b = ours.stats, raw.stats
    printer.line(
        TAG_DAEMON,
        f"daemon/runc: rate {_ratio(ours.rate, raw.rate)} median {_ratio(a.median, b.median)}"
        f" p99 {_ratio(a.p99, b.p99)}",
    )


def print_checkpoints(printer: Printer, phase: CheckpointPhase) -> None:
    rows = (
        (TAG_DAEMON, "checkpoint", phase.daemon_checkpoint),
        (TAG_DAEMON, "restore", phase.daemon_restore),
        (TAG_RUNC, "checkpoint", phase.runc_checkpoint),
        (TAG_RUNC, "restore", phase.runc_restore),
    )
    for tag, what, samples in rows:
        stats = Stats.of(samples)
        printer.line(
            tag, f"{what}: count {stats.count} mean {_ms(stats.mean)} median {_ms(stats.median)}"
        )
    for what, ours, theirs in (
        ("checkpoint", phase.daemon_checkpoint, phase.runc_checkpoint),
        ("restore", phase.daemon_restore, phase.runc_restore),
    ):
        a, b = Stats.of(ours), Stats.of(theirs)
        printer.line(
            TAG_DAEMON,
            f"{what} daemon/runc: mean {_ratio(a.mean, b.mean)}"
            f" median {_ratio(a.median, b.median)}",
        )
    if phase.errors:
        first = phase.errors[0]
        printer.line(TAG_DAEMON, f"checkpoint failures: {len(phase.errors)} (first: {first})")


# --- the whole run --------------------------------------------------------------------------


async def bench(options: Options) -> Report:
    """Run the bench as ``options`` say; print the report lines as they come and return them."""
    if options.bundle is not None and not (options.bundle / "config.json").is_file():
        raise BenchError(f"--bundle {options.bundle}: no config.json there")
    out = options.out if options.out is not None else sys.stdout
    show_progress = options.progress if options.progress is not None else sys.stderr.isatty()
    printer = Printer(out, show_progress)
    report = Report(lines=printer.lines)
    criu = options.criu or default_criu()
    if options.checkpoint and not criu:
        raise BenchError("--checkpoint needs CRIU: install it (make install does) or pass --criu")
    if options.baseline or options.checkpoint:
        # runc exits after `run -d`: the container's init is re-parented to the nearest
        # subreaper, which must be us, so that we can reap it once deleted.
        from ..daemon import become_subreaper

        become_subreaper()
    with contextlib.ExitStack() as stack:
        if options.workdir is not None:
            workdir = options.workdir.absolute()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            temporary = tempfile.TemporaryDirectory(prefix="ctr-trio-bench-")
            workdir = Path(stack.enter_context(temporary))
        try:
            await _until_terminated(_bench_in(options, workdir, criu, printer, report))
        except BaseExceptionGroup as group:
            error = _first_bench_error(group)
            if error is None:
                raise
            raise error from None
    return report


async def _until_terminated(work: Awaitable[None]) -> None:
    """Run ``work``; on SIGTERM or SIGHUP cancel it (its clean-up is shielded) and say so.

    Without this a ``kill`` would leave the containers, and the bench's own daemon, behind.
    Signals can be caught only in the main thread: elsewhere ``work`` just runs.
    """
    terminated: list[int] = []
    async with trio.open_nursery() as nursery:
        if threading.current_thread() is threading.main_thread():

            async def watch() -> None:
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
                    async for signum in signals:
                        terminated.append(signum)
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(watch)
        await work
        nursery.cancel_scope.cancel()
    if terminated:
        name = signal.Signals(terminated[0]).name
        raise BenchError(f"stopped by {name}; what the bench had started is removed")


def _waited(settled: tuple[float, bool]) -> str:
    seconds, quiet = settled
    if not quiet:
        return (
            f"; WARNING: the machine stayed busy for {seconds:.0f}s before this phase:"
            " other load on it skews what follows"
        )
    return f", after {seconds:.1f}s for the machine to settle" if seconds >= 1 else ""


async def _bench_in(
    options: Options, workdir: Path, criu: str | None, printer: Printer, report: Report
) -> None:
    sleeper = true_bundle = options.bundle
    if options.bundle is None:
        if not options.cycle or options.checkpoint:
            sleeper = await trio.to_thread.run_sync(
                make_busybox_bundle, workdir / "bundle", ["sleep", "100000"]
            )
        if options.cycle:
            true_bundle = await trio.to_thread.run_sync(
                make_busybox_bundle, workdir / "bundle-true", ["true"]
            )
    prefix = f"bench-{secrets.token_hex(3)}"
    count, concurrency = options.count, options.concurrency
    runc = RawRunc(options.runc, workdir / "raw-runc", criu, workdir / "raw")
    report.runc_root = runc.root
    async with trio.open_nursery() as nursery:
        own: OwnDaemon | None = None
        address = options.address
        if address is None:
            own = OwnDaemon(workdir, options.runc, options.daemon_args)
            report.daemon_state_dir = own.state_dir
            await own.start(nursery)
            address = own.address
        try:
            api = Api(address)
            try:
                await api.check()
                mode = "lifecycles of" if options.cycle else "starting"
                where = f"own daemon (pid {own.pid}) at {address}" if own else address
                daemon_pid = own.pid if own else None

                def measured(phase: Phase) -> None:
                    print_phase(printer, phase)

                async def through_daemon() -> Phase:
                    waited = _waited(await settle(longest=options.settle))
                    printer.line(
                        TAG_DAEMON,
                        f"{mode} {count} containers, {concurrency} at once,"
                        f" through {where}{waited}",
                    )
                    ids = [f"{prefix}-{i}" for i in range(count)]
                    if options.cycle:
                        assert true_bundle is not None
                        phase = await daemon_cycles(
                            api, printer, ids, true_bundle, concurrency, measured, daemon_pid
                        )
                    else:
                        assert sleeper is not None
                        phase = await daemon_starts(
                            api, printer, ids, sleeper, concurrency, measured, daemon_pid
                        )
                    print_end(printer, phase)
                    return phase

                async def with_runc() -> Phase:
                    waited = _waited(await settle(longest=options.settle))
                    printer.line(
                        TAG_RUNC,
                        f"{mode} {count} containers, {concurrency} at once,"
                        f" with {options.runc} directly (root {runc.root})"
                        f"{waited}",
                    )
                    ids = [f"{prefix}-raw-{i}" for i in range(count)]
                    if options.cycle:
                        assert true_bundle is not None
                        phase = await raw_cycles(
                            runc, printer, ids, true_bundle, concurrency, measured
                        )
                    else:
                        assert sleeper is not None
                        phase = await raw_starts(runc, printer, ids, sleeper, concurrency, measured)
                    print_end(printer, phase)
                    return phase

                if options.baseline and options.baseline_first:
                    report.raw = await with_runc()
                report.main = await through_daemon()
                if options.baseline and not options.baseline_first:
                    report.raw = await with_runc()
                if report.raw is not None:
                    print_ratios(printer, report.main, report.raw)
                if options.checkpoint:
                    assert sleeper is not None
                    k = min(count, CHECKPOINT_COUNT)
                    waited = _waited(await settle(longest=options.settle))
                    printer.line(
                        TAG_DAEMON,
                        f"checkpoint and restore of {k} containers, one at a"
                        " time, through the daemon and with runc directly"
                        f"{waited}",
                    )
                    report.checkpoint = await checkpoints(
                        api, runc, printer, prefix, k, sleeper, workdir / "raw-checkpoints"
                    )
                    print_checkpoints(printer, report.checkpoint)
            finally:
                printer.clear_progress()
                with trio.CancelScope(shield=True):
                    await api.aclose()
        finally:
            if own is not None:
                report.daemon_exit = await own.stop()
