"""What the tests share besides fixtures: bundles' processes, daemons in and out of process,
and the helpers that read the daemon's answers, events, runc's view and /proc.

Fixtures (``daemon``, ``client``, ``make_bundle``, ``spawn_daemon``, ...) are in conftest.py;
tests import everything else from here.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import select
import signal
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import trio

from containerd_trio import cgroups, procfs, timestamps
from containerd_trio.busybox import make_busybox_bundle
from containerd_trio.client.trio_transport import MAX_IDLE
from containerd_trio.config import DaemonConfig, Listen
from containerd_trio.convert import unstructure
from containerd_trio.migration.ledger import Replaced
from containerd_trio.model import ContainerInfo
from containerd_trio.procfs import children
from containerd_trio.records import RecordJournal
from containerd_trio.server import Daemon

# --- bundles --------------------------------------------------------------------------------

#: The tests' HTTP clients keep an idle connection as long as ctr-trio's own client does, well
#: within the daemon's keep-alive timeout (5 s): httpx's default of 5 s reused a connection
#: the daemon was closing that moment (a test waiting 5 s on a browser got a reset).
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=MAX_IDLE)


def unix_client(socket: Path, *, timeout: float = 60.0, **options: Any) -> httpx.AsyncClient:
    """An HTTP client of the daemon serving on the unix socket ``socket``, its idle
    connections kept within the daemon's keep-alive (:data:`CLIENT_LIMITS`); ``options`` are
    httpx's (``event_hooks``), and ``retries`` the transport's connect retries."""
    retries = options.pop("retries", 0)
    transport = httpx.AsyncHTTPTransport(uds=str(socket), limits=CLIENT_LIMITS, retries=retries)
    return httpx.AsyncClient(
        transport=transport, base_url="http://daemon", timeout=timeout, **options
    )


FOREVER = ("sleep", "100000")
IGNORES_TERM = ("sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
COUNTER = ("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done")


#: docker's rm without -f: remove the container only if it is stopped (and stays so).
STOPPED_ONLY = {"status": "stopped"}


def not_removable(container_id: str, state: str) -> str:
    """The daemon's 409 for a delete of stopped containers only, of one ``state`` (docker's
    words: its daemon's cannot remove container ...)."""
    if state == "paused":
        why = "container is paused and must be unpaused first"
    else:
        why = f"container is {state}: stop the container before removing or force remove"
    return f"cannot remove container {container_id!r}: {why}"


def until_trapped(script: str) -> str:
    """``script`` (which sets the traps, and may say something first), then a wait for ever
    that forks nothing while it waits: one ``sleep`` started before the traps, and the
    ``wait`` builtin, which POSIX has return at once on a trapped signal (a trap that does
    not exit waits again). The loop it replaced, ``while true; do usleep 5000; done``, forked
    200 processes a second in each such container: CPU and pids the suite's other workers
    and its pid-forcing tests compete for."""
    return f"sleep 1000000 & {script}; while true; do wait; done"


class BundleFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._numbers = itertools.count(1)

    def __call__(self, args: Sequence[str] = FOREVER, **options: Any) -> Path:
        return make_busybox_bundle(self.root / f"bundle-{next(self._numbers)}", args, **options)


# --- the daemon -----------------------------------------------------------------------------


def daemon_config(state_dir: Path, **overrides: Any) -> DaemonConfig:
    settings: dict[str, Any] = {
        "listen": Listen(host="127.0.0.1", port=0),
        "state_dir": state_dir,
        "runtime_timeout": 30.0,
        "shutdown_timeout": 0.3,  # teardown: busybox sleep as pid 1 ignores SIGTERM
    }
    settings.update(overrides)
    return DaemonConfig(**settings)


class RunningDaemon:
    """An in-process daemon on a port-0 server, with an HTTP client pointed at it."""

    def __init__(self, daemon: Daemon, client: httpx.AsyncClient, finished: trio.Event) -> None:
        self.daemon = daemon
        self.client = client
        self.finished = finished

    @property
    def config(self) -> DaemonConfig:
        return self.daemon.config

    @property
    def url(self) -> str:
        return self.daemon.binds[0]

    async def stop(self) -> None:
        self.daemon.request_stop()
        await self.finished.wait()


def recorded_container(journal_path: Path, container_id: str) -> dict[str, Any]:
    """The container as its record in the journal says it (the view a next server adopts),
    read from a copy: a load rewrites the journal it reads."""
    copy = journal_path.parent / "journal-copy"
    copy.write_bytes(journal_path.read_bytes())
    journal = RecordJournal(copy)
    try:
        (record,) = [r for r in journal.load() if r.container.id == container_id]
    finally:
        journal.close()
    container: dict[str, Any] = unstructure(record.container)
    return container


# --- cgroups --------------------------------------------------------------------------------


def cgroup_dir(pid: int, controller: str) -> Path:
    """The directory of the process's cgroup in the hierarchy of ``controller`` ("" for the
    cgroup v2 one, "name=systemd" for a named one)."""
    directory = cgroups.process_cgroup(pid, controller)
    assert directory is not None, f"no {controller} cgroup for pid {pid}"
    return Path(directory)


class LoggerOfOneProcess:
    """A logger run in the test's process, its channel's other end never read, holding the
    pipes of one process (pid 7) of container ``c``, whose log is in ``directory``: what it
    is given to read (:meth:`reads`), and what it wrote (:meth:`records`)."""

    def __init__(self, directory: Path, *, stdin: bool = False) -> None:
        from containerd_trio.keeper._logger import Logger
        from containerd_trio.keeper._wire import Channel, pair

        self.directory = directory
        self._ours, self._theirs = pair()
        self._reading, self._writing = os.pipe()
        self._stderr = os.dup(self._reading)
        self.logger = Logger(Channel(self._ours))
        add = {"op": "add", "cid": "c", "dir": str(directory), "max_bytes": 1 << 20}
        process = {"key": "c/init", "pid": 7, "stdin": stdin}
        self.logger._handle({**add, **process}, [self._reading, self._stderr])

    def reads(self, data: bytes) -> None:
        """The process writes ``data`` to its stdout, and the logger reads it."""
        os.write(self._writing, data)
        self.logger._read(self.logger._streams[self._reading])

    def records(self) -> list[dict[str, Any]]:
        lines = (self.directory / "container.log").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def close(self) -> None:
        for fd in (self._reading, self._writing, self._stderr):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._ours.close()
        self._theirs.close()
        self.logger._epoll.close()


#: A hybrid host's cgroup v2 hierarchy (beside the v1 ones), where runc 1.1 makes a
#: container's cgroup under the root, whatever cgroup its caller is in: a test that makes a
#: container of a path of its own there removes what runc leaves of it.
UNIFIED = Path("/sys/fs/cgroup/unified")


def own_cgroup(controller: str) -> Path:
    """This process's cgroup for ``controller``: runc makes a container's cgroups (named after
    its id unless the bundle says otherwise) under the cgroups of the process that runs it,
    the keeper, whose cgroups are those of the test process that started it."""
    return cgroup_dir(os.getpid(), controller)


def enter_own_cgroups(name: str) -> list[Path]:
    """Move this process into a child cgroup ``name`` of its cgroup in every hierarchy; the
    cgroups made (or found), for :func:`leave_own_cgroups`.

    Each test does it first (``conftest.cgroups_of_this_test``): the tests give their
    containers the same ids ("web"), and runc would otherwise put two workers' "web" into one
    cgroup, where a pause of one freezes the other and a delete of one fails on the other's
    processes; and a process an earlier test left (a held CRIU at its end, which writes the
    freezer of the cgroup it dumped by its path) would reach a later test's container of the
    same id. Each test is then as a daemon on a host of its own."""
    entered = []
    for controllers, directory in cgroups.process_cgroups("self"):
        parent = Path(directory)
        own = parent / name
        own.mkdir(exist_ok=True)
        if "cpuset" in controllers.split(","):
            # A cpuset cgroup starts with no CPU and no memory node: it takes no process so.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (own / knob).write_text((parent / knob).read_text())
        (own / "cgroup.procs").write_text(str(os.getpid()))
        entered.append(own)
    return entered


#: The cgroups :func:`leave_own_cgroups` could not remove (a process in its exit was still
#: there, or a container's cgroup): :func:`remove_stale_cgroups` tries again at the end.
STALE_CGROUPS: list[Path] = []


def remove_stale_cgroups() -> None:
    """Remove the cgroups in :data:`STALE_CGROUPS` that have emptied since (deepest first):
    a run of the suite leaves none behind on the machine but those still in use."""
    while STALE_CGROUPS:
        own = STALE_CGROUPS.pop()
        for directory in sorted(own.glob("**/"), key=lambda d: len(d.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()


#: Where :func:`leave_own_cgroups` notes the processes a test left in its cgroups, if set.
LEFTOVERS_ENV = "CONTAINERD_TRIO_TEST_LEFTOVERS"


def leave_own_cgroups(entered: Sequence[Path], test: str = "") -> None:
    """Back into the parents of the cgroups :func:`enter_own_cgroups` entered, which are
    removed if nothing was left in them. What was (a process of ``test``'s still running: a
    session's browser, or a leak) is appended to the file ``$CONTAINERD_TRIO_TEST_LEFTOVERS``
    names, when it names one."""
    _note_cpu(entered, test)
    _end_left_containers(entered)
    left: set[int] = set()
    for own in entered:
        (own.parent / "cgroup.procs").write_text(str(os.getpid()))
        try:
            own.rmdir()
        except OSError:
            STALE_CGROUPS.append(own)
            with contextlib.suppress(OSError):
                left.update(int(pid) for pid in (own / "cgroup.procs").read_text().split())
    if left and (notes := os.environ.get(LEFTOVERS_ENV)):
        lines = [
            f"{test} {entered[0].name} {_described(pid)} parent {procfs.parent(pid)}\n"
            for pid in sorted(left)
        ]
        with open(notes, "a") as file:
            file.writelines(lines)


def _end_left_containers(entered: Sequence[Path]) -> None:
    """SIGKILL to what runs in the cgroups beneath the test's own once it is over: a
    container its daemon left (a test that failed before its delete: its daemon's stop may
    wait for ever for a ``stopTimeout`` -1), thawed first if frozen. Left, it ran on through
    the rest of the suite: one whose rootfs was removed with the test's files looped on its
    missing ``sleep``, a quarter of a CPU for the run's remaining 50 minutes (2026-12-06).
    What is in the test's own cgroup (a session's browser) is left as it was. Its cgroups
    are then removed if empty, or later (:data:`STALE_CGROUPS`)."""
    beneath = [
        directory
        for own in entered
        for directory in sorted(own.glob("*/**/"), key=lambda d: len(d.parts), reverse=True)
    ]
    for directory in beneath:
        with contextlib.suppress(OSError):
            if (directory / "freezer.state").exists():
                (directory / "freezer.state").write_text("THAWED")
    for directory in beneath:
        with contextlib.suppress(OSError):
            for pid in (directory / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    for directory in beneath:
        with contextlib.suppress(OSError):
            directory.rmdir()


#: Where :func:`leave_own_cgroups` notes each test's CPU time, if set: ``make test-cpu``.
CPU_ENV = "CONTAINERD_TRIO_TEST_CPU"


def _note_cpu(entered: Sequence[Path], test: str) -> None:
    """Append ``test``'s CPU seconds to the file ``$CONTAINERD_TRIO_TEST_CPU`` names, when it
    names one: its cpuacct cgroup's, which holds the worker's own time during the test and
    that of all it ran (daemons, keepers, servers, runc, CRIU, the containers in their cgroups
    beneath), the processes that ended in it included. The suite is CPU-bound on this
    machine's two cores, so this, not its wall time, says which tests make it long."""
    notes = os.environ.get(CPU_ENV)
    accounted = [own for own in entered if (own / "cpuacct.usage").exists()]
    if not notes or not accounted:
        return
    seconds = int((accounted[0] / "cpuacct.usage").read_text()) / 1e9
    with open(notes, "a") as file:
        file.write(f"{seconds:.3f} {test}\n")


def cgroup_snapshot(entered: Sequence[Path]) -> str:
    """What runs in a test's cgroups (:func:`enter_own_cgroups`) and its containers' under
    them, for a failed test to say: each process's state, kernel wait channel and command
    line (the daemon's, a runc under way, the containers'; :func:`_described`), each cgroup's
    freezer state. A test that timed out waiting then says what everything was doing."""
    freezers = [own for own in entered if str(own).startswith("/sys/fs/cgroup/freezer/")]
    top = next(iter(freezers or entered), None)
    if top is None:
        return "no cgroups of its own"
    lines = [f"what ran in {top} as the test failed:"]
    for directory in [top, *sorted(d for d in top.iterdir() if d.is_dir())]:
        frozen = _read_or(f"{directory}/freezer.state")
        procs = _read_or(f"{directory}/cgroup.procs")
        lines.append(f"  {directory.name} (freezer {frozen}, processes {len(procs.split())}):")
        if procs.startswith("("):  # its read failed: said, not taken for no process
            lines.append(f"    cgroup.procs: {procs}")
            continue
        lines.extend(f"    {_described(int(pid))}" for pid in procs.split())
    return "\n".join(lines)


def _described(pid: int) -> str:
    """A process as a failed test's snapshot tells it: its pid, state, signals pending and
    caught (a trap's signal sent and never taken shows there), kernel wait channel, command
    line."""
    signals = procfs.status_fields(pid, ("State", "SigPnd", "ShdPnd", "SigCgt"))
    wchan = _read_or(f"/proc/{pid}/wchan")
    return f"{pid} {signals} {wchan} {_command_line(pid)[:160]}"


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


# --- answers, events, runc and /proc ---------------------------------------------------------


def now() -> str:
    """An RFC 3339 timestamp for ``?since=``: events from here on will be replayed."""
    return timestamps.format_ns(time.time_ns())


def run_status(state: Mapping[str, Any]) -> dict[str, Any]:
    """A container's ``state`` without the times of its run (``startedAt``, ``finishedAt``),
    which a test that compares the rest (status, exitStatus, restarting) cannot know."""
    return {key: value for key, value in state.items() if key not in ("startedAt", "finishedAt")}


async def start_container(
    client: httpx.AsyncClient, container_id: str, bundle: Path, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/containers/{container_id}", json={"bundlePath": str(bundle), **body}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def copy_checkpoint(
    client: httpx.AsyncClient, container_id: str, bundle: Path, to_id: str, to_bundle: Path
) -> None:
    """Export checkpoint ``cp`` of ``container_id`` (at ``bundle``) with its whole bundle, and
    import it as ``to_id``'s at ``to_bundle``: the checkpoint as another host gets it."""
    query = {"withBundle": "full", "bundlePath": str(bundle)}
    exported = await client.get(f"/containers/{container_id}/checkpoint/cp/archive", params=query)
    assert exported.status_code == 200, exported.text
    imported = await client.put(
        f"/containers/{to_id}/checkpoint/cp/archive", params={"bundlePath": str(to_bundle)},
        content=exported.content,
    )  # fmt: skip
    assert imported.status_code == 201, imported.text


async def next_event(
    client: httpx.AsyncClient,
    *,
    since: str,
    container_id: str | None = None,
    match: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """The first event from ``since`` on that ``match`` accepts (replayed or live)."""
    params = {"since": since}
    if container_id is not None:
        params["id"] = container_id
    async with client.stream("GET", "/events", params=_pairs(params)) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            event: dict[str, Any] = json.loads(line)
            if match(event):
                return event
    raise AssertionError("the event stream ended before the event came")


async def answers_of_state_during(
    client: httpx.AsyncClient, work: Callable[[], Awaitable[Any]]
) -> tuple[Any, int]:
    """Await ``work()`` while asking ``GET /state`` again and again (each answer must be a
    200): its result, and how many answers came meanwhile (the daemon kept serving)."""
    answers = 0

    async def ask() -> None:
        nonlocal answers
        while True:
            assert (await client.get("/state")).status_code == 200
            answers += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        result = await work()
        nursery.cancel_scope.cancel()
    return result, answers


async def wait_exit(client: httpx.AsyncClient, container_id: str, pid: int, since: str) -> int:
    event = await next_event(
        client,
        since=since,
        container_id=container_id,
        match=lambda e: e["type"] == "exit" and e.get("pid") == pid,
    )
    status: int = event["status"]
    return status


async def wait_output(
    client: httpx.AsyncClient, container_id: str, text: str, *, pid: int | None = None
) -> None:
    """Follow the container's log (or ``pid``'s part of it) until a record's data contains
    ``text``."""
    url = f"/containers/{container_id}/logs"
    params = {"follow": "true"} if pid is None else {"follow": "true", "pid": str(pid)}
    async with client.stream("GET", url, params=params) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if text in json.loads(line)["data"]:
                return
    raise AssertionError(f"the log of {container_id} ended without {text!r}")


async def read_to_eof(stream: trio.SocketStream) -> bytes:
    """Everything the daemon sends on a raw connection until it closes it; then ours closes."""
    answer = b""
    while chunk := await stream.receive_some():
        answer += chunk
    await stream.aclose()
    return answer


def zombie_children(parent: int | None = None) -> list[int]:
    """Pids of ``parent``'s (default: this process's) children that exited but were never reaped."""
    me = os.getpid() if parent is None else parent
    zombies = []
    for entry in os.listdir("/proc"):
        fields = procfs.stat_fields(entry) if entry.isdigit() else None
        if fields is not None and fields[0] == b"Z" and int(fields[1]) == me:
            zombies.append(int(entry))
    return zombies


async def wait_catching(pid: int, signum: int) -> None:
    """Until process ``pid`` has a handler for ``signum`` (a shell has run its ``trap``): a
    signal sent before that takes its default action (SIGUSR1's ends the process). Nothing
    signals this: look.

    A container's init is ``runc init`` until it executes the container's process, a moment
    after the start has answered; runc init, a Go program, catches every signal and drops
    SIGUSR1. So the handler counts once the process is no longer runc's (its name
    ``runc:[2:INIT]``): a SIGUSR1 sent in that moment was lost, and the test waited for an
    exit that never came."""
    bit = 1 << (signum - 1)
    while True:
        fields = procfs.status_fields(pid, ("Name", "SigCgt"))
        assert fields is not None, f"process {pid} is gone"
        name, caught = fields
        if _ran(name) and caught is not None and int(caught, 16) & bit:
            return
        await trio.sleep(0.01)


async def wait_ran(pid: int) -> None:
    """Until the container's init ``pid`` runs the container's process, no longer runc's
    init (see :func:`wait_catching`): a SIGTERM that reaches runc init, a Go program as the
    pid namespace's init, ends it with status 2 (Go's runtime cannot die of the signal there,
    and exits 2), where the tests of an init that ignores SIGTERM (:data:`IGNORES_TERM`)
    want the SIGKILL of the grace, 137 (a fresh run's DELETE right after the start: 2).
    Once the shell runs, a SIGTERM before its ``trap`` is dropped as well: the kernel sends
    a namespace's init only the signals it handles."""
    while True:
        fields = procfs.status_fields(pid, ("Name",))
        assert fields is not None, f"process {pid} is gone"
        if _ran(fields[0]):
            return
        await trio.sleep(0.01)


def _ran(name: str | None) -> bool:
    """A process named ``name`` is no longer runc's init (``runc:[2:INIT]``): it has
    executed the container's process."""
    return name is not None and not name.startswith("runc:")


def _read_or(path: str) -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError as exc:
        return f"({exc.strerror})"


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie. Asked after a process's end, it may answer
    of another (the pid given again at once, see :func:`pidfd_ended`): :class:`WatchedProcess`."""
    return procfs.is_alive(pid)


def pidfd_ended(pidfd: int) -> bool:
    """True once the process of ``pidfd`` (opened while it ran) has ended. Unlike
    :func:`pid_alive`, never fooled by the pid given again: tests that rewind
    ``ns_last_pid`` (``test_logs.exec_at_pid``'s way) have the kernel hand out a pid freed a
    moment ago at once, to whatever another worker starts then."""
    readable, _, _ = select.select([pidfd], [], [], 0)
    return bool(readable)


class WatchedProcess:
    """A process watched through a pidfd opened while it surely ran (just started, not yet
    signalled): whether it has ended, asked of the process itself rather than of its pid,
    which may be another's by then (:func:`pidfd_ended`). A process still running keeps its
    pid: :func:`pid_alive` is right for that. The pidfd is closed by :meth:`close`, at the end
    of a ``with``, or once the object is dropped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = os.pidfd_open(pid)
        self._close = weakref.finalize(self, os.close, self.fd)

    def __enter__(self) -> WatchedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._close()

    def ended(self) -> bool:
        """True once it has ended: a zombie, or reaped (what ``not pid_alive`` said)."""
        return pidfd_ended(self.fd)

    def reaped(self) -> bool:
        """True once it has ended and been reaped: its ``/proc/PID`` gone (a zombie's is not)."""
        try:
            signal.pidfd_send_signal(self.fd, 0)
        except ProcessLookupError:
            return True
        return False

    async def wait_reaped(self) -> None:
        """Until it has ended and its parent (init, for an orphan) has reaped it: nothing but
        the pidfd announces the end, and nothing at all the reaping (a look every 10 ms)."""
        await trio.lowlevel.wait_readable(self.fd)
        while not self.reaped():  # noqa: ASYNC110 (nothing announces a reaping)
            await trio.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL to it, through the pidfd: to nobody if it has ended, whenever that was (a
        kill by its pid might reach the process given the pid since, another test's)."""
        with contextlib.suppress(ProcessLookupError):  # reaped already
            signal.pidfd_send_signal(self.fd, signal.SIGKILL)


@contextlib.contextmanager
def killed_at_end(pid: int) -> Iterator[WatchedProcess]:
    """``pid``, a process that runs still (just started, not yet signalled), watched for the
    block (:class:`WatchedProcess`); SIGKILL to it through the pidfd once the block ends,
    however it ends, then the pidfd closed: never a kill of its pid given again."""
    watched = WatchedProcess(pid)
    try:
        yield watched
    finally:
        with watched:
            watched.kill()


def _argv_of(pid: str) -> list[bytes]:
    """``/proc/PID/cmdline`` split at its NULs; [] once the process has ended (a zombie's
    is empty too)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return []
    return argv if argv != [b""] else []


def pids_matching(matches: Callable[[list[bytes]], bool]) -> list[int]:
    """The pids of the processes running now whose command line (``/proc/PID/cmdline``, split
    at its NULs) ``matches``. Only for a look: to kill them, :func:`watch_processes`."""
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and (argv := _argv_of(entry)) and matches(argv)
    ]


def watch_processes(matches: Callable[[list[bytes]], bool]) -> list[WatchedProcess]:
    """The processes running now whose command line (``/proc/PID/cmdline``, split at its
    NULs) ``matches``, each watched (:class:`WatchedProcess`), for a kill that reaches them
    and nobody else. Each pidfd is opened before the command line is read: if the process
    it was opened on has ended by then, what was read may be a later process's (its pid
    given again), but a kill through the pidfd reaches nobody. The caller closes them."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            watched = WatchedProcess(int(entry))
        except OSError:  # ended since the listing
            continue
        if (argv := _argv_of(entry)) and matches(argv):
            found.append(watched)
        else:
            watched.close()
    return found


def ended_since(pid: int, start_time: int) -> bool:
    """True if the process that ran as ``pid``, started ``start_time`` clock ticks after boot
    (:func:`procfs.start_time`), has ended: no process has that pid, or a zombie has, or one
    started at another time (the pid given again). For a pid learnt only once the process
    may have ended, too late to open a pidfd (:class:`WatchedProcess`), with its start time."""
    fields = procfs.stat_fields(pid)
    # Fields 3 and 22 of proc(5): the state letter and the start time.
    return fields is None or fields[0] == b"Z" or int(fields[19]) != start_time


def kill_unless_ended(pid: int, start_time: int) -> None:
    """SIGKILL to the process that ran as ``pid``, started ``start_time`` clock ticks after
    boot, unless it has ended (:func:`ended_since`): for a pid learnt too late for a pidfd
    opened while it surely ran. The pidfd is opened first, the start time compared after:
    the same then, the pidfd is that process's, and the kill goes through it."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:  # ended and reaped
        return
    try:
        if not ended_since(pid, start_time):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def stat_pid_and_start_time(line: str) -> tuple[int, int]:
    """The pid and the start time (field 22) in a line of ``/proc/PID/stat``, as a script
    saves it for :func:`ended_since` (``cat /proc/$$/stat > file``)."""
    after_name = line[line.rfind(")") + 2 :].split()
    return int(line.split(maxsplit=1)[0]), int(after_name[19])


def runc(state_dir: Path, *args: str, check: bool = True, output: bool = True) -> bytes:
    """Run runc against a daemon's runc root (stdin and stderr on /dev/null); its stdout.

    ``output=False`` for runc run and create: they hand their stdio to the container, whose
    stdout pipe would then never end.
    """
    import subprocess

    return (
        subprocess.run(
            ["runc", "--root", str(state_dir / "runc"), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if output else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=check,
        ).stdout
        or b""
    )


def runc_ids(state_dir: Path) -> list[str]:
    import subprocess

    if not (state_dir / "runc").exists():
        return []
    for _ in range(2):
        try:
            out = runc(state_dir, "list", "--format", "json")
            break
        except subprocess.CalledProcessError:
            # runc 1.1's list fails whole (exit 1) when a container it found is deleted
            # while it reads its state (a fresh run: a test polling for a delete's end):
            # asked again, it lists what is there then.
            continue
    else:
        out = runc(state_dir, "list", "--format", "json")  # a third failure is raised
    return [entry["id"] for entry in json.loads(out or b"null") or []]


def runc_pids(state_dir: Path, container_id: str) -> list[int]:
    """The host pids of the processes runc finds in a container's cgroup, sorted."""
    return sorted(json.loads(runc(state_dir, "ps", "--format", "json", container_id)))


def runc_state(state_dir: Path, container_id: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(runc(state_dir, "state", container_id))
    return state


def _pairs(params: dict[str, str] | list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``params`` as httpx takes them typed: a tuple of pairs (a list's type is invariant)."""
    return tuple(params.items() if isinstance(params, dict) else params)


async def collect_events(
    client: httpx.AsyncClient, params: dict[str, str] | list[tuple[str, str]], count: int
) -> list[dict[str, Any]]:
    """The first ``count`` events of ``GET /events`` with ``params`` (replayed, then live;
    pairs for a parameter given several times)."""
    events: list[dict[str, Any]] = []
    async with client.stream("GET", "/events", params=_pairs(params)) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "application/x-ndjson"
        async for line in response.aiter_lines():
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def event_types(
    client: httpx.AsyncClient,
    *,
    since: str,
    container_id: str,
    count: int,
    only: str | None = None,
) -> list[str]:
    """The types of the first ``count`` events of a container from ``since`` on (of the
    comma-separated types ``only``, if given)."""
    params = {"since": since, "id": container_id, **({"type": only} if only else {})}
    return [event["type"] for event in await collect_events(client, params, count)]


# --- the daemon as a separate process (shutdown, crash and restart) --------------------------


async def read_fifo_line(path: Path) -> str:
    """The first line a writer puts in the fifo ``path``, cancellable: opened for reading and
    writing (which never blocks), then read once readable. A read through a thread
    (``trio.Path.read_text``) blocks in its ``open`` until a writer comes, and no deadline can
    end it: a wrapper that never got there held the test past its bound, forever."""
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        data = b""
        while not data.endswith(b"\n"):
            await trio.lowlevel.wait_readable(fd)
            try:
                data += os.read(fd, 4096)
            except BlockingIOError:
                continue  # another reader took it first
        return data.decode()
    finally:
        os.close(fd)


class HeldHook:
    """A bundle's ``createRuntime`` hook (:meth:`edit`) that holds runc mid-start, once runc
    has made the container's cgroups and put its init in them: it says its pid on a fifo,
    then waits for a line on another (:meth:`release`, which a test does at its end whatever
    came: runc killed meanwhile leaves the hook to the keeper, which reaps it then)."""

    def __init__(self, directory: Path) -> None:
        self.said = directory / "hook-said"
        self.gate = directory / "hook-gate"
        os.mkfifo(self.said)
        os.mkfifo(self.gate)
        self._hook: int | None = None

    def edit(self, config: dict[str, Any]) -> None:
        script = f"echo $$ > {self.said}; read line < {self.gate}"
        config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}

    async def reached(self) -> None:
        """Return once runc is held in the hook."""
        self._hook = os.pidfd_open(int(await read_fifo_line(self.said)))

    async def release(self) -> None:
        """Let the hook end (if it has not: runc's tree killed), and wait for its end."""
        if self._hook is None:
            return
        gate = os.open(self.gate, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(gate, b"go\n")
            with trio.fail_after(10):
                await trio.lowlevel.wait_readable(self._hook)
        finally:
            os.close(gate)
            os.close(self._hook)
            self._hook = None


def runc_deletes(config: dict[str, Any]) -> None:
    """A bundle's edit (``make_bundle(edit=runc_deletes)``): a poststop hook that does
    nothing, so that the delete of the container once stopped is a ``runc delete``, which a
    test's wrapper (:func:`refusing_runc`, :class:`GatedRunc`) can refuse or hold. Without
    one the daemon removes a stopped container itself, as runc would
    (:mod:`containerd_trio.runc_destroy`), and spawns no runc for it."""
    config.setdefault("hooks", {}).setdefault("poststop", []).append({"path": "/bin/true"})


def refusing_runc(directory: Path, when: str) -> Path:
    """A runc wrapper, made in ``directory``, whose ``runc delete`` fails as runc's own
    failures do (its error on stderr: "refused on cue") while the shell condition ``when``
    holds; every other call is runc's own. A stopped container's delete is a runc delete
    only if its bundle says so (:func:`runc_deletes`)."""
    wrapper = directory / "refusing-runc"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = delete ] && {when}'
        ' && echo \'{"level":"error","msg":"refused on cue"}\' >&2 && exit 1; done\n'
        'exec runc "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


class GatedRunc:
    """A runc wrapper for a test: runc ``command`` says so on a fifo (:attr:`said`), then
    waits for a line on another (:attr:`gate`, which a test may never open) before it runs;
    every other command is runc's own. ``once``: only the first ``command`` is held, the
    later ones are runc's own too. ``after``: held once runc has run it, not before (it
    ends with runc's status). ``runc``: what it runs for runc (another wrapper's
    :attr:`path`, to hold two commands; each wrapper needs a directory of its own). A
    stopped container's delete is a runc delete only if its bundle says so
    (:func:`runc_deletes`)."""

    #: The wrappers made in this process and not yet cleaned up after their test
    #: (``conftest.no_gated_runc_left``).
    made: ClassVar[list[GatedRunc]] = []

    def __init__(
        self,
        directory: Path,
        command: str,
        *,
        once: bool = False,
        after: bool = False,
        runc: str = "runc",
    ) -> None:
        GatedRunc.made.append(self)
        self.path = directory / "gated-runc"
        self.said = directory / f"{command}-said"
        self.gate = directory / f"{command}-gate"
        os.mkfifo(self.said)
        os.mkfifo(self.gate)
        # mkdir succeeds for one wrapper only: the first to get there is held.
        first = f" && mkdir {directory / f'{command}-held'} 2>/dev/null" if once else ""
        hold = (
            f'for a in "$@"; do [ "$a" = {command} ]{first} && echo {command} > {self.said}'
            f" && read line < {self.gate}; done\n"
        )
        if after:
            script = f'{runc} "$@"; status=$?\n{hold}exit $status\n'
        else:
            script = f'{hold}exec {runc} "$@"\n'
        self.path.write_text(f"#!/bin/sh\n{script}")
        self.path.chmod(0o755)

    async def reached(self) -> None:
        """Return once runc's command is held at the gate."""
        assert (await read_fifo_line(self.said)).strip()

    @contextlib.asynccontextmanager
    async def opened(self, held: int | None) -> AsyncIterator[None]:
        """Within the block, every command goes through: the one held by the wrapper ``held``
        (a pid of :meth:`running`; None if the test killed it), which has ended when the block
        begins, and every later one. Both fifos are held open for reading and writing (which
        never blocks), the gate full of lines."""
        fds = [] if held is None else [os.pidfd_open(held)]
        fds.append(os.open(self.said, os.O_RDWR | os.O_NONBLOCK))
        fds.append(gate := os.open(self.gate, os.O_RDWR | os.O_NONBLOCK))
        try:
            os.write(gate, b"go\n" * 64)
            if held is not None:
                with trio.fail_after(10):
                    await trio.lowlevel.wait_readable(fds[0])
            yield
        finally:
            for fd in fds:
                os.close(fd)

    def kill_held(self) -> None:
        """Kill the wrappers still running: a test that failed before it opened the gate would
        leave them waiting for good (orphans of init, once their daemon is killed). Through
        pidfds (:func:`watch_processes`): one that ends between the look and the kill has its
        pid free, perhaps given at once to another worker's process."""
        for wrapper in watch_processes(self._runs):
            with wrapper:
                wrapper.kill()

    def running(self) -> list[int]:
        """The pids of the wrappers still running (held, or not yet runc): a shell running the
        script (a daemon given it as ``--runtime`` is not one)."""
        return pids_matching(self._runs)

    async def crash_through_delete(self, daemon: DaemonProcess, container_id: str) -> None:
        """kill -9 of ``daemon``'s server while its ``runc delete`` of ``container_id`` is
        held here (:meth:`reached`); return once the next server serves. It waits for the dead
        one's runc delete (its log says so), which the gate then lets go on, and end."""
        (held,) = self.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await daemon.logged(f"waiting for runc delete --force {container_id}".encode())
        async with self.opened(held):
            await daemon.served(count + 1)

    def _runs(self, argv: list[bytes]) -> bool:
        """Whether ``argv`` is a wrapper's: a shell running the script."""
        return str(self.path).encode() in argv[:2]


class HeldCriu:
    """A CRIU config for a bundle's ``org.criu.config`` annotation (runc hands it to CRIU)
    whose action script holds CRIU at ``action``, once: it says its pid on a fifo, then sleeps
    (its parent is CRIU). At a dump's ``network-lock`` the container's tasks are seized
    already; at a restore's ``post-restore`` they are restored, not yet resumed.
    ``releasable``: instead of sleeping, it waits for :meth:`release`, then lets CRIU go on."""

    #: CRIU's pid, once it is held (:meth:`held`).
    criu: int

    def __init__(self, directory: Path, action: str, *, releasable: bool = False) -> None:
        self.config = directory / "criu.conf"
        self.said = directory / f"{action}-said"
        os.mkfifo(self.said)
        release = directory / f"{action}-release"
        wait = f"read line < {release}\n" if releasable else "exec sleep 60\n"
        script = directory / "hold"
        script.write_text(
            f'#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = {action} ] || exit 0\n'
            f"mkdir {directory / 'held-once'} 2>/dev/null || exit 0\n"
            f"echo $$ > {self.said}\n{wait}"
        )
        script.chmod(0o755)
        self.config.write_text(f"action-script {script}\n")
        self._pidfds: list[int] = []
        # Open for reading and writing (which never blocks), from here to the block's end: a
        # line written before the script opens the fifo waits there for it.
        self._releaser: int | None = None
        if releasable:
            os.mkfifo(release)
            self._releaser = os.open(release, os.O_RDWR | os.O_NONBLOCK)

    def annotate(self, config: dict[str, Any]) -> None:
        config.setdefault("annotations", {})["org.criu.config"] = str(self.config)

    async def held(self) -> None:
        """Return once CRIU is held; the script and CRIU are then watched through pidfds
        (opened while both run), which the block this is used in closes, killing both."""
        script = int(await read_fifo_line(self.said))
        criu = procfs.parent(script)
        assert criu is not None
        self.criu = criu  # its parent is the runc that runs it
        self._pidfds = [os.pidfd_open(script), os.pidfd_open(criu)]

    async def ended(self) -> None:
        """Return once the script and CRIU have both ended: at once after a SIGKILL, never
        while CRIU is held."""
        with trio.fail_after(10):
            for pidfd in self._pidfds:
                await trio.lowlevel.wait_readable(pidfd)

    def release(self) -> None:
        """Let a ``releasable`` hold's CRIU go on."""
        assert self._releaser is not None, "not a releasable hold"
        os.write(self._releaser, b"go\n")

    def __enter__(self) -> HeldCriu:
        self._pidfds = []
        return self

    def kill(self) -> None:
        """SIGKILL to the script and CRIU (watched still, see :meth:`ended`)."""
        for pidfd in self._pidfds:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        for pidfd in self._pidfds:
            os.close(pidfd)
        if self._releaser is not None:
            os.close(self._releaser)


class DaemonProcess:
    """``python -m containerd_trio`` on a unix socket in the test's directory."""

    def __init__(
        self,
        state_dir: Path,
        socket: Path,
        extra: Sequence[str] = (),
        wrapper: Sequence[str] = (),
    ) -> None:
        self.state_dir = state_dir
        self.socket = socket
        self.extra = list(extra)
        #: A command the daemon runs under, which execs it (its pid stays the keeper's).
        self.wrapper = list(wrapper)
        self.process: trio.Process | None = None
        self.log = bytearray()
        #: How many times a server said it serves (each restart or hand-over adds one).
        self.servings = 0
        self._served = trio.Event()
        self._ready = trio.Event()
        self._more_log = trio.Event()
        self.client = unix_client(socket)

    async def start(self, nursery: trio.Nursery) -> None:
        import sys

        argv = [
            *self.wrapper, sys.executable, "-m", "containerd_trio",
            "--listen", f"unix:{self.socket}",
            "--state-dir", str(self.state_dir),
            "--shutdown-timeout", "1",
            *self.extra,
        ]  # fmt: skip
        self._ready = trio.Event()
        self.process = await trio.lowlevel.open_process(argv, stderr=subprocess_pipe())
        nursery.start_soon(self._read_log, self.process)
        await self._ready.wait()

    async def _read_log(self, process: trio.Process) -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            self.log += chunk
            self._more_log.set()
            self._more_log = trio.Event()
            count = self.log.count(b"serving on")
            if count != self.servings:
                self.servings = count
                self._ready.set()
                self._served.set()
                self._served = trio.Event()
        self._ready.set()  # it exited: whoever waits finds out from returncode
        self._served.set()
        self._more_log.set()

    @property
    def keeper_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def server_pid(self) -> int:
        """The serving process: the keeper's child that runs containerd_trio.server."""
        return self._child_running(b"containerd_trio.server")

    def logger_pid(self) -> int:
        """The keeper's child that runs the logger."""
        return self._child_running(b"containerd_trio.keeper._logger")

    def _child_running(self, module: bytes) -> int:
        for child in children(self.keeper_pid):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                    if module in cmdline.read().split(b"\0"):
                        return child
            except OSError:
                continue
        raise AssertionError(f"the keeper runs no {module.decode()}")

    async def served(self, count: int) -> None:
        """Wait until a server has said "serving on" ``count`` times in all."""
        while self.servings < count:
            assert self.process is not None and self.process.returncode is None, self.log[-2000:]
            await self._served.wait()

    async def logged(self, text: bytes, times: int = 1) -> None:
        """Wait until the daemon's log holds ``text`` (``times`` times)."""
        while self.log.count(text) < times:
            assert self.process is not None and self.process.returncode is None, self.log[-2000:]
            await self._more_log.wait()

    async def kill_server(self) -> None:
        """kill -9 of the serving process; returns once the keeper's new server serves."""
        count = self.servings
        os.kill(self.server_pid(), signal.SIGKILL)
        await self.served(count + 1)

    async def signal_and_wait(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return await self.process.wait()

    async def wait_exit(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def kill_hard(self) -> None:
        """kill -9: the crash the daemon must survive."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()


@contextlib.contextmanager
def servers_cannot_start(daemon: DaemonProcess) -> Iterator[None]:
    """Within it, a new server of ``daemon`` fails as it starts (status 1, before it serves):
    its journal is a directory. The serving server goes on writing to the file it has open,
    wherever it is named; the file is put back at the end."""
    journal = daemon.state_dir / "containers.journal"
    aside = journal.with_name("containers.journal.aside")
    journal.rename(aside)
    journal.mkdir()
    try:
        yield
    finally:
        journal.rmdir()
        aside.rename(journal)


def subprocess_pipe() -> int:
    import subprocess

    return subprocess.PIPE


class TargetHost:
    """What a migration's target session needs of the daemon (``migration.incoming.Host``),
    for the ledger's and the session's own tests: it holds the containers named (labelled as
    moved by their migration) and others of the bundles named, and never restores."""

    def __init__(self, moved: set[tuple[str, str]], bundles: set[Path]) -> None:
        self.moved = moved
        self.bundles = bundles

    def running_here(self, container_id: str) -> bool:
        return False

    def moving_away(self, migration: str) -> bool:
        return False  # no moves out of here

    async def restore_moved(
        self, *args: Any, **kwargs: Any
    ) -> tuple[ContainerInfo, Replaced | None]:
        raise AssertionError("no restore here")

    def put_back_moved_over(self, session: str, replaced: Replaced) -> bool:
        raise AssertionError("no restore here: nothing replaced")

    def discard_moved_over(self, container_id: str, session: str) -> None:
        pass  # nothing kept: no restore here

    async def write_stdin(self, container_id: str, data: bytes, *, run: int | None) -> bool:
        raise AssertionError("no restore here: no stdin")

    def hand_off_over(self, container_id: str) -> None:
        pass  # no restore here: no input waits

    async def delete(self, container_id: str, timeout: float) -> ContainerInfo:
        raise AssertionError("no delete here")

    def moved_here(self, container_id: str, migration: str) -> bool:
        return (container_id, migration) in self.moved

    def take_up_moved(
        self, container_id: str, migration: str, *, handed_off: bool, run: int | None
    ) -> bool:
        return (container_id, migration) in self.moved

    def uses_bundle(self, bundle: Path) -> bool:
        return bundle in self.bundles

    async def runs_none_of(self, container_id: str) -> bool:
        return not any(moved_id == container_id for moved_id, _ in self.moved)


class WrittenOutput(io.StringIO):
    """What a ctr-trio run in a thread writes, as the test (in Trio) waits for it: ``first``
    is set at its first write, ``more`` at each write (a new event after each), and at the
    run's end by whoever ran it (``wake``)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = trio.Event()
        self.more = trio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        trio.from_thread.run_sync(self.wake)
        return written

    def wake(self) -> None:
        self.first.set()
        self.more.set()
        self.more = trio.Event()


def log_files_held(directory: Path) -> list[str]:
    """The files of the log in ``directory`` this process (a daemon's server started by
    ``start_daemon`` runs in the test's process) holds open: its files (``container.log.N
    (deleted)`` once the logger deleted them) and its readers file (the followers' lock)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{directory}/container.log"):
                held.append(target)
    return held
