"""The supervisor driven directly, in-process, with no HTTP in between."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from containerd_trio.convert import dump_json, unstructure
from containerd_trio.errors import Conflict, InvalidRequest, NotFound
from containerd_trio.events import EventBus
from containerd_trio.keeper._wire import encode, pair
from containerd_trio.keeperlink import KeeperLink
from containerd_trio.metrics import Metrics
from containerd_trio.model import ProcessSpec, Status
from containerd_trio.runtime import Runc
from containerd_trio.supervisor import Supervisor

from .helpers import FOREVER, BundleFactory, daemon_config, pid_alive, runc_ids


@pytest.fixture
async def supervisor(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Supervisor]:
    config = daemon_config(tmp_path / "state")
    config.containers_dir.mkdir(parents=True)
    metrics = Metrics()
    events = EventBus(None)
    keeper = KeeperLink.start_keeper()
    welcome = await keeper.hello()
    runtime = Runc(
        binary="runc",
        root=config.runc_root,
        criu=config.criu,
        timeout=30,
        concurrency=4,
        observer=metrics.observe_runtime_call,
        keeper=keeper,
    )
    supervisor = Supervisor(config, runtime=runtime, events=events, metrics=metrics, keeper=keeper)
    await nursery.start(supervisor.run, welcome)
    yield supervisor
    with trio.move_on_after(30):
        await supervisor.shutdown()
    await keeper.aclose()


async def _exit_of(supervisor: Supervisor, container_id: str, pid: int) -> int:
    with supervisor.events.subscribe(
        since_ns=0, container_ids=frozenset({container_id})
    ) as subscription:
        async for event in subscription:
            if event.type == "exit" and event.pid == pid:
                assert event.status is not None
                return event.status
    raise AssertionError("no exit event")


async def test_start_exit_delete(supervisor: Supervisor, make_bundle: BundleFactory) -> None:
    started = await supervisor.start("s1", str(make_bundle(["sh", "-c", "exit 9"])))
    info = started.info()
    assert info.state.status is Status.RUNNING
    # The start's JSON (the container's own, made for its record) is the info's encoding.
    assert started.json == dump_json(unstructure(info))
    pid = info.processes[0].pid
    assert await _exit_of(supervisor, "s1", pid) == 9
    assert supervisor.get("s1").state.exit_status == 9
    final = await supervisor.delete("s1", timeout=1)
    assert final.state.exit_status == 9
    with pytest.raises(NotFound):
        supervisor.get("s1")
    assert runc_ids(supervisor.config.state_dir) == []


async def test_exec_and_signal(supervisor: Supervisor, bundle: Path) -> None:
    await supervisor.start("s2", str(bundle))
    process = await supervisor.exec("s2", ProcessSpec(args=["sleep", "1000"]))
    assert pid_alive(process.pid)
    await supervisor.signal_process("s2", process.pid, signal.SIGTERM)
    assert await _exit_of(supervisor, "s2", process.pid) == 128 + signal.SIGTERM
    with pytest.raises(NotFound):
        await supervisor.signal_process("s2", process.pid, signal.SIGTERM)


async def test_concurrent_starts_of_one_id(supervisor: Supervisor, bundle: Path) -> None:
    """Exactly one of several simultaneous starts under one id wins; the rest get 409."""
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await supervisor.start("same", str(bundle))
            outcomes.append("started")
        except Conflict:
            outcomes.append("conflict")

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(attempt)
    assert sorted(outcomes) == ["conflict"] * 4 + ["started"]
    assert runc_ids(supervisor.config.state_dir) == ["same"]


async def test_validation_happens_before_anything_is_made(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest):
        await supervisor.start("../escape", str(tmp_path))
    with pytest.raises(InvalidRequest):
        await supervisor.start("ok", "relative")
    assert os.listdir(supervisor.config.containers_dir) == []


async def test_failed_start_frees_the_id(
    supervisor: Supervisor, make_bundle: BundleFactory
) -> None:
    with pytest.raises(InvalidRequest, match="cannot run '/missing'"):
        await supervisor.start("retry", str(make_bundle(["/missing"])))
    info = (await supervisor.start("retry", str(make_bundle(FOREVER)))).info()
    assert info.state.status is Status.RUNNING


async def test_a_runc_command_the_last_server_left_ends_in_time_for_the_adoption(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The keeper's word that a runc command of the server before ended (a migration's
    restore held when that server died, say) may come as soon as the welcome is read, before
    the supervisor runs: its adoption takes it, and serves at once. (Before, the supervisor,
    which had no adoption yet, dropped it, and the adoption waited out the runtime deadline
    and 5 s more before it served: the source of that migration, whose abort got no answer
    within its own deadline, left its copy paused, unsure.)"""
    config = daemon_config(tmp_path / "state", runtime_timeout=600.0)
    config.containers_dir.mkdir(parents=True)
    keeper_end, server_end = pair()
    keeper = KeeperLink(server_end)
    metrics = Metrics()
    runtime = Runc(
        binary="runc", root=config.runc_root, criu=config.criu, timeout=600, concurrency=4,
        observer=metrics.observe_runtime_call, keeper=keeper,
    )  # fmt: skip
    supervisor = Supervisor(
        config, runtime=runtime, events=EventBus(None), metrics=metrics, keeper=keeper
    )
    try:
        said = {"op": "welcome", "keeper": os.getpid(), "logger": None, "inflight": [7]}
        keeper_end.send(encode(said))
        welcome = await keeper.hello()
        assert welcome.inflight == [7]
        keeper_end.send(encode({"op": "done", "id": 7, "status": 0}))
        with trio.fail_after(10):  # not the 605 s it would wait for a word it lost
            await nursery.start(supervisor.run, welcome)
        await supervisor.shutdown()
    finally:
        await keeper.aclose()
        keeper_end.close()
