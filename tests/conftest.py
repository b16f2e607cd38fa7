"""Shared fixtures. The rules every test here keeps:

- Real parts only: containers are real runc containers from busybox bundles made with
  ``runc spec``; the API is a real Hypercorn server on a loopback port chosen by the kernel
  (port 0); checkpoints go through real CRIU. The suite runs as root, as CI does.
- Every test is bounded in time: each runs under ``trio.fail_after`` (60 s unless a
  ``deadline(seconds)`` marker says otherwise), and waits on events, never on sleeps.
- Each test gets its own state dir (and so its own runc root): nothing leaks between tests.
- ``make test`` runs workers side by side (pytest-xdist): each test gets cgroups of its own, and
  a test looks only at what its own daemons made (their runc root, their processes, the cgroups
  under its own), never at the whole machine's.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import signal
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import console, host
from containerd_trio.server import Daemon

from .helpers import (
    CLIENT_LIMITS,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    cgroup_snapshot,
    daemon_config,
    enter_own_cgroups,
    leave_own_cgroups,
    remove_stale_cgroups,
    runc_ids,
    unix_client,
)

DEFAULT_DEADLINE = 60.0

if os.geteuid() != 0:  # pragma: no cover - CI and these machines run as root
    pytest.exit("the suite drives runc and CRIU and must run as root", returncode=2)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deadline(seconds): the test's time bound (default 60 s)")
    # A suite started in the background of a non-interactive shell (`make test &`) inherits
    # SIGINT ignored, as POSIX has it, and so would every process it spawns: the tests that
    # press Ctrl-C in a real ctr-trio (test_cli.py) would wait on a process that cannot hear
    # it. The suite's processes hear SIGINT as they would from a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Likewise a suite started under nohup inherits SIGHUP ignored, and the test that hangs
    # up a ctr-trio (test_interactive's --sig-proxy=false) waited on one that could not hear
    # it. Caught here, not defaulted: the suite itself still outlives a hangup, as nohup
    # asked, and a caught signal is default again in every program the suite execs.
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _outlive_hangup)


def _outlive_hangup(signum: int, frame: object) -> None:
    """SIGHUP to the suite under nohup: nothing, as ignored (see :func:`pytest_configure`)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every async test under ``trio.fail_after``: a hung test fails, it never hangs CI."""
    for item in items:
        function = getattr(item, "obj", None)
        if not inspect.iscoroutinefunction(function):
            continue
        marker = item.get_closest_marker("deadline")
        seconds = float(marker.args[0]) if marker else DEFAULT_DEADLINE
        item.obj = _bounded(function, seconds, item)  # type: ignore[attr-defined]


#: Why an async test skipped itself, by its item: pytest-trio raises a skip that comes out of
#: the test's nursery again with no message (its report says only "Skipped", at pytest's own
#: python.py), and :func:`pytest_runtest_makereport` puts the reason back.
_skip_reasons: pytest.StashKey[str] = pytest.StashKey()


def _bounded(function: Callable[..., Any], seconds: float, item: pytest.Item) -> Callable[..., Any]:
    @functools.wraps(function)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        try:
            with trio.fail_after(seconds):
                return await function(*args, **kwargs)
        except pytest.skip.Exception as exc:
            item.stash[_skip_reasons] = exc.msg or "no reason given"
            raise
        except Exception as exc:  # not a skip (pytest's are BaseExceptions)
            # Before the fixtures' teardown stops the test's daemons: what was running then.
            exc.add_note(cgroup_snapshot(_test_cgroups))
            raise

    return bounded


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skip of an async test reported with its own reason and place (see
    :data:`_skip_reasons`), as pytest reports a synchronous test's."""
    report = yield
    reason = item.stash.get(_skip_reasons, None)
    if report.skipped and reason is not None and isinstance(report.longrepr, tuple):
        path, line, _ = item.location
        report.longrepr = (path, (line or 0) + 1, f"Skipped: {reason}")
    return report


@pytest.fixture(autouse=True)
def cgroups_of_this_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test runs its containers in cgroups of its own (see
    :func:`~tests.helpers.enter_own_cgroups`), entered before any other fixture and left after
    all of them: two workers side by side, and a process an earlier test left behind (a held
    CRIU that wakes up, a daemon that outlived its test), cannot freeze, limit or kill this
    test's containers, which share their ids ("svc", "web") with other tests'. What is still
    in them when the test is over is noted (:func:`~tests.helpers.leave_own_cgroups`)."""
    entered = enter_own_cgroups(f"containerd-trio-test-{os.getpid()}-{next(_test_numbers)}")
    _test_cgroups[:] = entered
    yield
    _test_cgroups.clear()
    leave_own_cgroups(entered, request.node.nodeid)


@pytest.fixture(scope="session", autouse=True)
def no_stale_cgroups() -> Iterator[None]:
    """At the end, the test cgroups that could not be removed at their test's end (a process
    was in its exit there) are removed, once empty."""
    yield
    remove_stale_cgroups()


_test_numbers = itertools.count()
#: The running test's cgroups, for a failure's snapshot (:func:`_bounded`).
_test_cgroups: list[Path] = []


@pytest.fixture(autouse=True)
def no_gated_runc_left() -> Iterator[None]:
    """A test that fails while a :class:`~tests.helpers.GatedRunc` holds a runc command leaves
    no wrapper behind waiting at its gate."""
    yield
    while GatedRunc.made:
        GatedRunc.made.pop().kill_held()


# --- bundles --------------------------------------------------------------------------------


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    return BundleFactory(tmp_path / "bundles")


@pytest.fixture
def bundle(make_bundle: BundleFactory) -> Path:
    """A bundle whose process sleeps (and, as pid 1, ignores SIGTERM)."""
    return make_bundle()


# --- the daemon -----------------------------------------------------------------------------


@pytest.fixture
async def start_daemon(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Callable[..., Any]]:
    """Start a daemon (or several, or one again on the same state dir) for this test."""
    running: list[RunningDaemon] = []

    async def start(state_dir: Path | None = None, **overrides: Any) -> RunningDaemon:
        config = daemon_config(state_dir or tmp_path / "state", **overrides)
        daemon = Daemon(config)
        finished = trio.Event()

        async def run(*, task_status: trio.TaskStatus[Daemon]) -> None:
            try:
                await daemon.run(task_status=task_status)
            finally:
                finished.set()

        await nursery.start(run)
        unix_path = config.listen.unix_path
        client = (
            unix_client(unix_path)
            if unix_path is not None
            else httpx.AsyncClient(base_url=daemon.binds[0], timeout=60.0, limits=CLIENT_LIMITS)
        )
        handle = RunningDaemon(daemon, client, finished)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        await handle.client.aclose()
        if not handle.finished.is_set():
            with trio.move_on_after(30):
                await handle.stop()


@pytest.fixture
async def daemon(start_daemon: Callable[..., Any]) -> RunningDaemon:
    handle: RunningDaemon = await start_daemon()
    return handle


@pytest.fixture
def client(daemon: RunningDaemon) -> httpx.AsyncClient:
    return daemon.client


# --- the daemon as a separate process (shutdown, crash and restart) --------------------------


@pytest.fixture
def plain_parent() -> None:
    """Make the test process an ordinary parent again, not a child subreaper.

    The tests that make it one (test_bench.py's, as the bench makes itself one) put back what
    was before them (``subreaper_parent``); this makes sure. A subreaper test process would
    inherit what a killed daemon process orphans and never reap it, and a container's init
    cannot finish dying while zombies of its pid namespace wait. Under systemd or a shell such
    orphans go to init, which reaps them: that is what the crash tests must see.
    """
    host.set_subreaper(False)


@pytest.fixture
def subreaper_parent() -> Iterator[None]:
    """Make the test process a child subreaper for one test, as a program embedding a server
    may be: the orphans of what an in-process daemon runs itself are then
    re-parented to the daemon's own process, where only the daemon can reap them. The setting
    the suite had is put back after."""
    was = host.is_subreaper()
    host.set_subreaper(True)
    yield
    host.set_subreaper(was)


@pytest.fixture
async def spawn_daemon(
    tmp_path: Path, nursery: trio.Nursery, plain_parent: None
) -> AsyncIterator[Callable[..., Any]]:
    # plain_parent: a daemon process killed by the test orphans its children to init, as in
    # production, never to this process (which would leave them as zombies for later tests).
    spawned: list[DaemonProcess] = []

    async def spawn(
        *extra: str,
        state_dir: Path | None = None,
        socket: Path | None = None,
        wrapper: Sequence[str] = (),
    ) -> DaemonProcess:
        daemon = DaemonProcess(
            state_dir or tmp_path / "state", socket or tmp_path / "api.sock", extra, wrapper
        )
        await daemon.start(nursery)
        spawned.append(daemon)
        return daemon

    yield spawn
    for daemon in spawned:
        await daemon.client.aclose()
        if daemon.process is not None and daemon.process.returncode is None:
            daemon.process.kill()
            await daemon.process.wait()
        # A daemon killed mid-test leaves its containers: remove them, or a frozen cgroup
        # (runc names it after the container id) would break the next run that uses the id.
        for container_id in runc_ids(daemon.state_dir):
            await trio.run_process(
                [
                    "runc",
                    "--root",
                    str(daemon.state_dir / "runc"),
                    "delete",
                    "--force",
                    container_id,
                ],
                check=False,
            )
        # Its terminals' socket directory (in /run, named after the state dir): a killed
        # daemon leaves it, and each test's state dir is another.
        console.remove_socket_directory(daemon.state_dir)
