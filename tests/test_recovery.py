"""kill -9 of the daemon, then a restart on the same state dir: what it adopts, and how."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from containerd_trio import procfs
from containerd_trio.model import Status
from containerd_trio.records import RecordJournal
from containerd_trio.timestamps import parse_ns

from .fusehang import hung_mount
from .helpers import (
    COUNTER,
    FOREVER,
    UNIFIED,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    HeldCriu,
    HeldHook,
    WatchedProcess,
    cgroup_dir,
    next_event,
    now,
    own_cgroup,
    pid_alive,
    run_status,
    runc,
    runc_deletes,
    runc_ids,
    runc_pids,
    runc_state,
    servers_cannot_start,
    start_container,
    until_trapped,
    wait_catching,
    wait_exit,
    wait_output,
)

pytestmark = [pytest.mark.deadline(90), pytest.mark.usefixtures("plain_parent")]


class Orphans:
    """Processes that may be re-parented to the test process when their daemon dies, each
    watched from when its pid is learnt, while it surely runs (:meth:`add`): killed and
    reaped at the end through its pidfd, never by its pid, which another worker's process
    may have by then (the tests that rewind ``ns_last_pid`` have freed pids given again at
    once). Their pidfds are closed there."""

    def __init__(self) -> None:
        self.watched: list[WatchedProcess] = []

    def add(self, pid: int) -> WatchedProcess:
        """Watch ``pid``, a process that runs still (just started, not yet signalled)."""
        self.watched.append(watched := WatchedProcess(pid))
        return watched

    def end(self) -> None:
        """SIGKILL to those still running, and a wait for those that are the test process's
        children (only the ones whose daemon it was a subreaper for)."""
        for watched in self.watched:
            with watched:
                watched.kill()
                with contextlib.suppress(ChildProcessError):  # not a child of this process
                    os.waitid(os.P_PIDFD, watched.fd, os.WEXITED)


@pytest.fixture
async def orphans() -> AsyncIterator[Orphans]:
    """Processes that may be re-parented to the test process when its daemon dies: killed
    and reaped at the end (:class:`Orphans`)."""
    watched = Orphans()
    try:
        yield watched
    finally:
        watched.end()


@pytest.fixture
def spawn_daemon(orphans: Orphans, spawn_daemon: Callable[..., Any]) -> Callable[..., Any]:
    """conftest's, set up after :func:`orphans` and so torn down before it: the daemons are
    killed (and their runc containers deleted) before the orphans are. The other way round, a
    daemon still running saw an orphan's kill as its container's exit, and a restart policy's
    ``runc run``, cut short by the daemon's kill, left a ``runc init`` waiting on its exec
    fifo after the test (seen once, in the restartPolicy case of the checkpoint-completed
    test)."""
    return spawn_daemon


async def start(daemon: DaemonProcess, container_id: str, bundle: Any) -> dict[str, Any]:
    response = await daemon.client.post(
        f"/containers/{container_id}", json={"bundlePath": str(bundle)}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_restart_adopts_what_runc_still_runs(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    first: DaemonProcess = await spawn_daemon()
    since = now()
    running = await start(first, "running", make_bundle(FOREVER))
    kept = await first.client.put("/containers/running/processes", json={"args": ["sleep", "1000"]})
    lost = await first.client.put("/containers/running/processes", json={"args": ["sleep", "1000"]})
    kept_pid, lost_pid = kept.json()["pid"], lost.json()["pid"]
    orphans.add(kept_pid)
    orphans.add(lost_pid)
    paused = await start(first, "paused", make_bundle(FOREVER))
    doomed = await start(first, "doomed", make_bundle(FOREVER))
    finished = await start(first, "finished", make_bundle(["sh", "-c", "exit 3"]))
    for container in (running, paused, doomed):  # finished's is reaped by its wait below
        orphans.add(container["processes"][0]["pid"])
    assert await wait_exit(first.client, "finished", finished["processes"][0]["pid"], since) == 3
    assert (
        await first.client.patch("/containers/paused", json={"status": "paused"})
    ).status_code == 200

    await first.kill_hard()
    # While no daemon runs, one container dies, and one exec'd process.
    os.kill(doomed["processes"][0]["pid"], signal.SIGKILL)
    os.kill(lost_pid, signal.SIGKILL)
    assert pid_alive(running["processes"][0]["pid"])

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    state = {c["id"]: c for c in (await client.get("/state")).json()["containers"]}
    assert set(state) == {"running", "paused", "doomed", "finished"}
    assert run_status(state["running"]["state"]) == {"status": "running"}
    # The same init and the exec'd process that lived on, with the same pids.
    assert [p["pid"] for p in state["running"]["processes"]] == [
        running["processes"][0]["pid"],
        kept_pid,
    ]
    assert run_status(state["paused"]["state"]) == {"status": "paused"}
    assert run_status(state["doomed"]["state"]) == {
        "status": "stopped",
        "exitStatus": 255,
    }  # unknowable
    assert run_status(state["finished"]["state"]) == {
        "status": "stopped",
        "exitStatus": 3,
    }  # recorded
    assert state["running"]["createdAt"] == running["createdAt"]

    # The exec'd process that lived on is watched like the init.
    exec_since = now()
    await client.post(f"/containers/running/process/{kept_pid}", json={"signal": 9})
    assert await wait_exit(client, "running", kept_pid, exec_since) == 255
    # The adopted containers can be driven like any other.
    assert (await client.patch("/containers/paused", json={"status": "running"})).status_code == 200
    exec_since = now()
    process = await client.put(
        "/containers/running/processes", json={"args": ["sh", "-c", "echo adopted; exit 5"]}
    )
    assert process.status_code == 201
    assert await wait_exit(client, "running", process.json()["pid"], exec_since) == 5
    logs = (await client.get("/containers/running/logs")).text
    assert "adopted" in logs  # an exec after the restart has pipes of its own
    response = await client.post("/containers/running/checkpoint/after-crash", json={"exit": False})
    assert response.status_code == 201, response.text
    pid = running["processes"][0]["pid"]
    assert (
        await client.post(f"/containers/running/process/{pid}", json={"signal": 9})
    ).status_code == 200
    assert await wait_exit(client, "running", pid, exec_since) == 255  # not our child any more
    for container_id in state:
        response = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
        assert response.status_code == 200, (container_id, response.text)
    assert runc_ids(second.state_dir) == []

    # The event log carried on across the crash, in one sequence.
    events = []
    async with client.stream("GET", "/events", params={"since": since}) as stream:
        async for line in stream.aiter_lines():
            events.append(json.loads(line))
            if events[-1]["type"] == "delete" and events[-1]["id"] == "finished":
                break
    kinds = [(e["type"], e["id"]) for e in events]
    starts = [k for k in kinds if k[0] == "start-container"]
    assert starts == [("start-container", c) for c in ("running", "paused", "doomed", "finished")]
    assert ("exit", "doomed") in kinds  # found dead at restart
    # An init's exit says so (docker's die), also one the next server found: an exec'd
    # process's does not (ctr-trio events -f event=die keeps the first).
    doomed_exits = [e for e in events if e["type"] == "exit" and e["id"] == "doomed"]
    assert [(e["status"], e.get("init")) for e in doomed_exits] == [(255, True)]
    lost_exits = [e for e in events if e["type"] == "exit" and e.get("pid") == lost_pid]
    assert [(e["status"], e.get("init")) for e in lost_exits] == [(255, None)]
    assert kinds.index(("pause", "paused")) < kinds.index(("resume", "paused"))


async def test_an_exec_gone_while_no_daemon_ran_is_answered_by_its_wait(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """An exec'd process that died and was reaped (by init) while no daemon ran: the next
    server publishes its exit, 255, and its wait answers the same, as for a process still
    a zombie then (see the next test). Its wait was a 404 that said it was never a process
    of the container, while the event stream had just said it exited."""
    first: DaemonProcess = await spawn_daemon()
    since = now()
    started = await start(first, "box", make_bundle(FOREVER))
    orphans.add(started["processes"][0]["pid"])
    lost = await first.client.put("/containers/box/processes", json={"args": list(FOREVER)})
    assert lost.status_code == 201, lost.text
    lost_pid = lost.json()["pid"]
    lost_process = WatchedProcess(lost_pid)
    await first.kill_hard()
    signal.pidfd_send_signal(lost_process.fd, signal.SIGKILL)
    with trio.fail_after(10):
        await lost_process.wait_reaped()  # by init

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    assert await wait_exit(client, "box", lost_pid, since) == 255
    waited = await client.post(f"/containers/box/process/{lost_pid}/wait")
    assert waited.status_code == 200, waited.text
    assert waited.json()["exitStatus"] == 255
    assert waited.json()["pid"] == lost_pid
    events = []
    async with client.stream("GET", "/events", params={"since": since, "id": "box"}) as stream:
        async for line in stream.aiter_lines():
            events.append(json.loads(line))
            if events[-1]["type"] == "exit":
                break
    # The wait's time is the exit event's, as for any exit; no exitedAt: the exit's own time
    # is not known (nobody kept it, the event says unseen), the event's is when it was found
    # gone.
    assert events[-1] == {
        "type": "exit", "id": "box", "pid": lost_pid, "status": 255, "unseen": True,
        "timestamp": waited.json()["exitedAt"],
    }  # fmt: skip
    deleted = await client.delete("/containers/box", params={"timeout": "0"})
    assert deleted.status_code == 200, deleted.text


async def test_an_init_gone_while_no_daemon_ran_is_answered_alike_by_both_its_waits(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """A plain container (no autoRemove) whose init died while no daemon ran (the keeper
    killed, then the init): the next server finds it stopped, 255, its exit ``unseen``. Its
    wait answers the status alone (no pid, no exitedAt: its time is unknown, api.md), and so
    does its init's process wait, the same exit by another route. That one answered the pid
    and the exit event's stamp (when it was found gone) as its exitedAt, and ``ctr-trio wait
    --json``, which asks it again after a crash, printed them. A next server (the server
    killed) answers both alike from the kept log."""
    first: DaemonProcess = await spawn_daemon()
    since = now()
    init = (await start(first, "gone", make_bundle(FOREVER)))["processes"][0]["pid"]
    watched = orphans.add(init)
    await first.kill_hard()
    watched.kill()
    with trio.fail_after(10):
        await watched.wait_reaped()  # by init: nobody kept its status

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    exited = await next_event(
        client, since=since, container_id="gone", match=lambda e: e["type"] == "exit"
    )
    assert (exited["pid"], exited["status"], exited.get("unseen")) == (init, 255, True)
    for server in ("the server that found it", "a next server, from the kept log"):
        waited = await client.post("/containers/gone/wait")
        assert (waited.status_code, waited.json()) == (200, {"id": "gone", "exitStatus": 255})
        by_pid = await client.post(f"/containers/gone/process/{init}/wait")
        assert (by_pid.status_code, by_pid.json()) == (200, waited.json()), server
        if server == "the server that found it":
            await second.kill_server()
    deleted = await client.delete("/containers/gone")
    assert deleted.status_code == 200, deleted.text


async def test_an_init_gone_while_no_daemon_ran_says_its_policy_restarts_it(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """An ``always`` container whose init died while no daemon ran (the keeper killed, then
    the init): the next server publishes its exit (unseen) and starts it again, as its policy
    says. The exit says so (``restarting: true``), as the watch's exit does (events.md): it
    did not, and a watcher (the status page) showed it stopped for good until it read it."""
    first: DaemonProcess = await spawn_daemon()
    since = now()
    answer = await first.client.post(
        "/containers/looped",
        json={"bundlePath": str(make_bundle(FOREVER)), "restartPolicy": {"name": "always"}},
    )
    assert answer.status_code == 201, answer.text
    init = answer.json()["processes"][0]["pid"]
    watched = orphans.add(init)
    await first.kill_hard()
    watched.kill()
    with trio.fail_after(10):
        await watched.wait_reaped()

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    exited = await next_event(
        client, since=since, container_id="looped", match=lambda e: e["type"] == "exit"
    )
    assert (exited["pid"], exited.get("unseen")) == (init, True)
    started = await next_event(
        client,
        since=exited["timestamp"],
        container_id="looped",
        match=lambda e: e["type"] == "start-container",
    )
    assert started["pid"] != init  # restarted, as the exit says:
    assert exited.get("restarting") is True
    deleted = await client.delete("/containers/looped", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text


#: A parent for a daemon (``DaemonProcess``'s wrapper) that reaps nothing: a child subreaper,
#: so what the daemon orphans as it dies comes to it, as it would to the machine's init, but
#: stays a zombie there until this parent is killed (its orphans then go to init, which reaps
#: them). Its one child is the keeper.
NON_REAPING_PARENT = (
    sys.executable, "-c",
    "import os, signal, sys\n"
    "from containerd_trio import host\n"
    "host.set_subreaper(True)\n"
    "if os.fork() == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "while True:\n"
    "    signal.pause()\n",
)  # fmt: skip


async def test_processes_still_zombies_at_the_next_start_ended_while_no_daemon_ran(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """The whole daemon killed (keeper and server), then a container's init and another's
    exec'd process killed: re-parented to the machine's init (here, a parent of the test's
    that reaps nothing), they may be zombies still when the next daemon starts. They ended
    while no daemon ran, as ones reaped already: their exits are ``unseen`` (status 255, no
    time), the container's ``finishedAt`` left out. Before, a zombie's start time, which still
    reads, passed the adoption's check: it was taken for running, and its exit, seen at once,
    was reported then, with that moment as its time (the init's the container's finishedAt)."""
    first: DaemonProcess = await spawn_daemon(wrapper=NON_REAPING_PARENT)
    reaper = first.keeper_pid  # the wrapper's pid: the daemon's is its one child
    (keeper,) = procfs.children(reaper)
    since = now()
    gone_init = (await start(first, "gone", make_bundle(FOREVER)))["processes"][0]["pid"]
    orphans.add((await start(first, "box", make_bundle(FOREVER)))["processes"][0]["pid"])
    lost = await first.client.put("/containers/box/processes", json={"args": list(FOREVER)})
    assert lost.status_code == 201, lost.text
    lost_pid = lost.json()["pid"]
    ended = [orphans.add(gone_init), orphans.add(lost_pid)]
    with WatchedProcess(keeper) as watched_keeper:
        watched_keeper.kill()  # its server dies with it (PR_SET_PDEATHSIG)
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(watched_keeper.fd)
    with trio.fail_after(10):
        for process in ended:
            process.kill()
            await trio.lowlevel.wait_readable(process.fd)  # ended: a zombie, or reaped
    # Zombies of the parent that reaps nothing, until it is killed below.
    for pid in (gone_init, lost_pid):
        assert (procfs.state(pid), procfs.parent(pid)) == ("Z", reaper), pid

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    waited = await client.post("/containers/gone/wait", params={"condition": "not-running"})
    assert (waited.status_code, waited.json()) == (200, {"id": "gone", "exitStatus": 255})
    view = (await client.get("/containers/gone")).json()
    assert view["state"]["status"] == "stopped", view
    assert "finishedAt" not in view["state"], view
    for container_id, pid, init in (("gone", gone_init, True), ("box", lost_pid, None)):

        def exit_of(event: dict[str, Any], pid: int = pid) -> bool:
            return event["type"] == "exit" and event.get("pid") == pid

        exited = await next_event(client, since=since, container_id=container_id, match=exit_of)
        assert (exited["status"], exited.get("unseen"), exited.get("init")) == (255, True, init)
        assert "exitedAt" not in exited, exited
    by_pid = await client.post(f"/containers/box/process/{lost_pid}/wait")
    assert by_pid.status_code == 200, by_pid.text
    assert by_pid.json()["exitStatus"] == 255
    assert (await client.get("/containers/box")).json()["state"]["status"] == "running"
    # Zombies still all along: what the adoption found.
    for pid in (gone_init, lost_pid):
        assert procfs.state(pid) == "Z", pid
    await first.kill_hard()  # the parent that reaps nothing: init reaps its zombies
    with trio.fail_after(10):
        for process in ended:
            await process.wait_reaped()
    for container_id in ("gone", "box"):
        deleted = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
        assert deleted.status_code == 200, deleted.text


async def test_a_process_that_ended_before_a_crash_is_answered_by_its_wait(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """An exec'd process that ended, its exit told, and then the server was killed: the next
    server's wait for it answers as the first one's did, from the event stream's kept log
    (``docker exec -d`` and a wait later, a crash between the two). It was a 404 that said it
    was never a process of the container. A start again is the same container (docker's
    start): its wait still answers. A process of a former container of the id (a start with
    a body replaced it) is a 404."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    bundle = make_bundle(FOREVER)
    await start(daemon, "box", bundle)
    ran = await client.put("/containers/box/processes", json={"args": ["sh", "-c", "exit 7"]})
    assert ran.status_code == 201, ran.text
    pid = ran.json()["pid"]
    first = await client.post(f"/containers/box/process/{pid}/wait")
    assert first.status_code == 200, first.text
    assert first.json()["exitStatus"] == 7
    await daemon.kill_server()
    waited = await client.post(f"/containers/box/process/{pid}/wait")
    assert waited.status_code == 200, waited.text
    # As the first server answered, its time too: the exit event's exitedAt, not its stamp,
    # which is later where the stream stamped it after a later event (a process this quick
    # ends before its start-process is published). Until 2026-12-05 the stamp.
    assert waited.json() == first.json()
    # Nor once started again (until 2026-12-06 a 404, its delete on the stream): the same
    # container, whose exits go on as across a restart by its policy.
    assert (await client.patch("/containers/box", json={"signal": 9})).status_code == 200
    assert (await client.post("/containers/box/wait")).json()["exitStatus"] == 137
    assert (await client.post("/containers/box/start")).status_code == 201
    kept = await client.post(f"/containers/box/process/{pid}/wait")
    assert kept.json() == first.json()
    await daemon.kill_server()
    kept = await client.post(f"/containers/box/process/{pid}/wait")
    assert kept.json() == first.json()
    # Not once a start of the id with a body replaced it: another container (its delete on
    # the stream).
    assert (await client.patch("/containers/box", json={"signal": 9})).status_code == 200
    assert (await client.post("/containers/box/wait")).json()["exitStatus"] == 137
    await start(daemon, "box", bundle)
    gone = await client.post(f"/containers/box/process/{pid}/wait")
    assert gone.status_code == 404, gone.text
    deleted = await client.delete("/containers/box", params={"timeout": "0"})
    assert deleted.status_code == 200, deleted.text


#: An init that ends on SIGQUIT (5) and ignores SIGTERM: pid 1 takes only what it handles.
_QUITS_ONLY = (
    "sh",
    "-c",
    "trap 'exit 5' QUIT; trap '' TERM; echo ready; while :; do sleep 0.1; done",
)


async def test_a_next_server_keeps_the_stop_signal_and_timeout_of_the_start(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """A start's stopSignal and stopTimeout (docker's StopSignal, StopTimeout) are in the
    container's record: after a kill -9 of the server, the next one shows them and its DELETE
    without timeout sends that signal first (SIGQUIT: 5), or kills once that grace passed."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    quits = make_bundle(_QUITS_ONLY)
    with trio.fail_after(60):
        await start_container(client, "quits", quits, stopSignal="QUIT", stopTimeout=600)
        await start_container(client, "deaf", make_bundle(_QUITS_ONLY), stopTimeout=0)
        await wait_output(client, "quits", "ready")
        await daemon.kill_server()
        shown = (await client.get("/containers/quits")).json()
        assert (shown["stopSignal"], shown["stopTimeout"]) == ("SIGQUIT", 600), shown
        deleted = await client.delete("/containers/quits")
        assert deleted.status_code == 200, deleted.text
        assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 5}
        deleted = await client.delete("/containers/deaf")  # SIGTERM ignored: no grace
        assert deleted.status_code == 200, deleted.text
        assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 137}


async def test_the_exits_a_restart_publishes_are_counted_in_the_metrics(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """The exits the next daemon publishes for what ended while no daemon ran (status 255:
    an init, an exec'd process) are counted in containerd_trio_process_exits_total, as every
    other exit on the stream is. They were published and not counted: after a restart the
    counter said 0 where the stream had two exits."""
    first: DaemonProcess = await spawn_daemon()
    since = now()
    gone = await start(first, "gone", make_bundle(FOREVER))
    box = await start(first, "box", make_bundle(FOREVER))
    orphans.add(box["processes"][0]["pid"])
    lost = await first.client.put("/containers/box/processes", json={"args": list(FOREVER)})
    assert lost.status_code == 201, lost.text
    lost_pid = lost.json()["pid"]
    with WatchedProcess(gone["processes"][0]["pid"]) as init, WatchedProcess(lost_pid) as process:
        await first.kill_hard()
        for ending in (init, process):
            ending.kill()
        with trio.fail_after(10):
            # Reaped by init: gone, not a zombie a next server would adopt.
            await init.wait_reaped()
            await process.wait_reaped()

    second: DaemonProcess = await spawn_daemon()
    client = second.client
    assert await wait_exit(client, "gone", gone["processes"][0]["pid"], since) == 255
    assert await wait_exit(client, "box", lost_pid, since) == 255
    metrics = (await client.get("/metrics")).text
    assert 'containerd_trio_process_exits_total{kind="init"} 1.0' in metrics.splitlines()
    assert 'containerd_trio_process_exits_total{kind="exec"} 1.0' in metrics.splitlines()
    for container_id in ("gone", "box"):
        response = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
        assert response.status_code == 200, response.text


async def test_a_restored_container_survives_a_crash_too(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    first: DaemonProcess = await spawn_daemon()
    bundle = make_bundle(COUNTER)
    await start(first, "c", bundle)
    response = await first.client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201
    response = await first.client.post(
        "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert response.status_code == 201
    orphans.add(response.json()["processes"][0]["pid"])
    await first.kill_hard()
    second: DaemonProcess = await spawn_daemon()
    got = (await second.client.get("/containers/c")).json()
    assert got["state"]["status"] == "running"
    assert got["processes"][0]["pid"] == response.json()["processes"][0]["pid"]
    assert (await second.client.delete("/containers/c", params={"timeout": "0"})).status_code == 200


async def test_a_start_cut_short_by_the_crash_is_finished_off(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """A container runc created but never started (the daemon died in between) is removed."""
    first: DaemonProcess = await spawn_daemon()
    await first.kill_hard()
    bundle = make_bundle(FOREVER)
    runc(first.state_dir, "create", "--bundle", str(bundle), "half", output=False)
    state = runc_state(first.state_dir, "half")
    orphans.add(state["pid"])
    assert state["status"] == "created"
    second: DaemonProcess = await spawn_daemon()
    assert (await second.client.get("/containers/half")).status_code == 404
    assert runc_ids(second.state_dir) == []


async def test_a_start_cut_short_by_the_crash_leaves_no_cgroup(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc run is held in a hook, the container's cgroups
    made, runc's record of it not yet: the next server rolls the start back (past the
    runtime deadline: the left run killed) and removes its cgroups, the one runc 1.1 makes
    in a hybrid host's cgroup v2 hierarchy too (under that hierarchy's root). Before, that
    one stayed, empty: runc's delete does not know a container it never recorded."""
    hook = HeldHook(tmp_path)
    daemon: DaemonProcess = await spawn_daemon("--runtime-timeout", "1")
    container_id = f"cut-short-{os.getpid()}"  # the v2 one is the host's, not the test's
    body = {"bundlePath": str(make_bundle(FOREVER, edit=hook.edit))}
    made = [own_cgroup("pids") / container_id, own_cgroup("freezer") / container_id]
    if UNIFIED.is_dir():
        made.append(UNIFIED / container_id)

    async def cut_short() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await daemon.client.post(f"/containers/{container_id}", json=body)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cut_short)
            await hook.reached()
            assert [path for path in made if path.is_dir()] == made
            count = daemon.servings
            os.kill(daemon.server_pid(), signal.SIGKILL)
            await daemon.served(count + 1)
        assert f"rolling back the start of container {container_id}".encode() in daemon.log
        assert [path for path in made if path.is_dir()] == []
        assert (await daemon.client.get(f"/containers/{container_id}")).status_code == 404
        assert runc_ids(daemon.state_dir) == []
    finally:
        await hook.release()
        for path in made:  # what a failure left
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


async def test_a_container_runc_knows_without_a_record_is_adopted(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """The daemon died after runc started the container but before its record was written."""
    first: DaemonProcess = await spawn_daemon()
    await first.kill_hard()
    bundle = make_bundle(FOREVER)
    runc(first.state_dir, "run", "--detach", "--bundle", str(bundle), "norecord", output=False)
    state = runc_state(first.state_dir, "norecord")
    orphans.add(state["pid"])
    second: DaemonProcess = await spawn_daemon()
    got = (await second.client.get("/containers/norecord")).json()
    assert got["state"]["status"] == "running"
    assert got["processes"][0]["pid"] == state["pid"]
    assert got["processes"][0]["args"] == list(FOREVER)
    since = now()
    assert (
        await second.client.delete("/containers/norecord", params={"timeout": "0"})
    ).status_code == 200
    await next_event(
        second.client, since=since, container_id="norecord", match=lambda e: e["type"] == "delete"
    )
    assert runc_ids(second.state_dir) == []


async def test_a_container_s_terminal_is_in_its_view_and_kept_by_its_record(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """``terminal`` says the init has one (docker's Config.Tty), a stopped container's too,
    and the next server has it from the record: what ``ctr-trio start -ai`` refuses by."""
    daemon: DaemonProcess = await spawn_daemon()
    await start_container(
        daemon.client, "ended", make_bundle(["sh", "-c", "exit 3"], terminal=True), stdin=True
    )
    ended = await daemon.client.post("/containers/ended/wait")
    assert ended.json()["exitStatus"] == 3, ended.text
    await start_container(daemon.client, "tty", make_bundle(FOREVER, terminal=True))
    await start_container(daemon.client, "plain", make_bundle(FOREVER))
    await daemon.kill_server()
    views = {
        name: (await daemon.client.get(f"/containers/{name}")).json()
        for name in ("ended", "tty", "plain")
    }
    assert [(view["processes"] == [], view.get("terminal")) for view in views.values()] == [
        (True, True),
        (False, True),
        (False, None),
    ], views
    assert views["tty"]["processes"][0]["terminal"] is True


async def test_a_server_dying_in_a_replacing_start_leaves_the_stopped_container(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start of a stopped container's id is held in runc run:
    the next server rolls the start back and the stopped container is there as it was, its
    exit and its log, with nothing left aside."""
    gated = GatedRunc(tmp_path, "run")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    answers: list[int] = []

    async def start_held(bundle: Path) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server may die first
            body = {"bundlePath": str(bundle)}
            answers.append((await client.post("/containers/keep", json=body)).status_code)

    async with trio.open_nursery() as nursery:  # the first start goes through the gate
        nursery.start_soon(start_held, make_bundle(["sh", "-c", "echo first; exit 3"]))
        await gated.reached()
        await trio.Path(gated.gate).write_text("go\n")
    assert answers == [201]
    assert (await client.post("/containers/keep/wait")).json()["exitStatus"] == 3
    await wait_output(client, "keep", "first")
    before = (await client.get("/containers/keep")).json()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_held, make_bundle(FOREVER))
        await gated.reached()  # the replacing start is in runc run
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await trio.Path(gated.gate).write_text("go\n")  # the keeper's runc goes on
        await daemon.served(count + 1)
    assert answers == [201]  # the second never answered
    assert (await client.get("/containers/keep")).json() == before
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["first\n"]
    assert runc_ids(daemon.state_dir) == []  # the held start, rolled back
    assert sorted(os.listdir(daemon.state_dir / "containers")) == ["keep"]


async def test_a_server_dying_while_a_start_removes_the_stopped_container_keeps_it(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start of a stopped container's id is removing it (held
    in its runc delete, before the start's own record): the next server waits for that runc
    delete, which goes on, then adopts the stopped container as it was, exit and log, since
    its record was never marked deleting; deleting it then works."""
    gated = GatedRunc(tmp_path, "delete")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    first = make_bundle(["sh", "-c", "echo first; exit 3"], edit=runc_deletes)
    await start_container(client, "keep", first)
    assert (await client.post("/containers/keep/wait")).json()["exitStatus"] == 3
    await wait_output(client, "keep", "first")
    before = (await client.get("/containers/keep")).json()
    answers: list[int] = []

    async def replace() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            body = {"bundlePath": str(make_bundle(FOREVER))}
            answers.append((await client.post("/containers/keep", json=body)).status_code)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(replace)
        await gated.reached()  # the old container's runc delete is held
        await gated.crash_through_delete(daemon, "keep")
    assert answers == []  # the start never answered
    assert "keep" not in runc_ids(daemon.state_dir)  # that runc delete's work
    assert (await client.get("/containers/keep")).json() == before
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["first\n"]
    assert sorted(os.listdir(daemon.state_dir / "containers")) == ["keep"]
    async with gated.opened(None):
        answer = await client.delete("/containers/keep")
    assert answer.status_code == 200, answer.text
    assert runc_ids(daemon.state_dir) == []
    assert os.listdir(daemon.state_dir / "containers") == []


async def test_a_server_dying_while_a_start_waits_for_its_cgroup_keeps_the_stopped_container(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start of a stopped container's id waits for the cgroup
    it is to run in to empty (after the stopped container's removal, before the start's own
    record: as a restart's start waits for what its last run's removal killed to leave):
    the next server adopts the stopped container as it was, exit and log. (Before, its
    record went with its removal: the next server knew no such container, and its log was
    left behind; an ``always`` container vanished so under a chaos run's kills.)"""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    first = make_bundle(["sh", "-c", "echo first; exit 3"], edit=runc_deletes)
    await start_container(client, "keep", first)
    assert (await client.post("/containers/keep/wait")).json()["exitStatus"] == 3
    await wait_output(client, "keep", "first")
    before = (await client.get("/containers/keep")).json()
    replacing = make_bundle(FOREVER)
    config = json.loads((replacing / "config.json").read_text())
    config["linux"]["cgroupsPath"] = "keep-held-by-another"
    (replacing / "config.json").write_text(json.dumps(config))
    # Another's process in that cgroup: the start waits up to a second for it to leave.
    held = cgroup_dir(daemon.keeper_pid, "freezer") / "keep-held-by-another"
    held.mkdir()
    stranger = await trio.lowlevel.open_process(["sleep", "1000"])
    answers: list[int] = []

    async def replace() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            body = {"bundlePath": str(replacing)}
            answers.append((await client.post("/containers/keep", json=body)).status_code)

    try:
        (held / "cgroup.procs").write_text(f"{stranger.pid}\n")
        aside = daemon.state_dir / "containers" / ".keep.replaced"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(replace)
            # Removed, its log aside: the start waits now (nothing announces it but the disk).
            while not aside.exists():  # noqa: ASYNC110
                await trio.sleep(0.002)
            await daemon.kill_server()
    finally:
        stranger.kill()
        await stranger.wait()
        held.rmdir()
    assert answers == []  # killed in the wait: the start never answered
    assert (await client.get("/containers/keep")).json() == before
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["first\n"]
    assert sorted(os.listdir(daemon.state_dir / "containers")) == ["keep"]
    assert runc_ids(daemon.state_dir) == []


async def deleting(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, gated: GatedRunc, name: str
) -> tuple[DaemonProcess, Callable[[], Awaitable[None]]]:
    """A daemon on ``gated`` (a runtime deadline of 1 s) running container ``name`` (whose
    delete is a runc delete even once it stopped: :func:`runc_deletes`), and a DELETE of
    it, whose answer the server's death cuts short."""
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    await start_container(daemon.client, name, make_bundle(FOREVER, edit=runc_deletes))

    async def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await daemon.client.delete(f"/containers/{name}", params={"timeout": 0})

    return daemon, delete


async def test_a_delete_the_dead_server_left_waiting_ends_as_it_would_have(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """kill -9 of the server while its DELETE waits out the grace of a process that ends in
    its own time after the SIGTERM: the next server finishes that delete as it would have
    ended. Nothing is killed before the grace has passed, the process's exit (its own
    status) is published, then the delete; meanwhile it is being deleted (409). (Before, the
    next server ran runc delete --force at once: killed in its trap, and no exit.)"""
    daemon: DaemonProcess = await spawn_daemon()
    script = until_trapped("trap 'echo term; read line < /gate; exit 5' TERM")
    bundle = make_bundle(["sh", "-c", script])
    gate = bundle / "rootfs" / "gate"
    os.mkfifo(gate)
    init = (await start_container(daemon.client, "slow", bundle))["processes"][0]["pid"]
    await wait_catching(init, signal.SIGTERM)
    since = now()

    async def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # its server dies first
            await daemon.client.delete("/containers/slow", params={"timeout": "60"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete)
        await wait_output(daemon.client, "slow", "term")  # in its trap, the delete waits
        await daemon.kill_server()
    assert pid_alive(init)  # its grace has not passed: not killed
    again = await daemon.client.delete("/containers/slow", params={"timeout": "0"})
    assert (again.status_code, again.json()["error"]) == (
        409,
        "container 'slow' is being deleted",
    ), again.text
    await trio.Path(gate).write_text("go\n")  # its trap ends: exit 5
    exited = await next_event(
        daemon.client, since=since, container_id="slow", match=lambda e: e["type"] == "exit"
    )
    assert exited["status"] == 5, exited
    await next_event(
        daemon.client, since=since, container_id="slow", match=lambda e: e["type"] == "delete"
    )
    assert (await daemon.client.get("/containers/slow")).status_code == 404
    assert runc_ids(daemon.state_dir) == []


async def test_a_delete_that_runc_cannot_finish_after_a_crash_does_not_stop_the_next_server(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server during a delete (held in its runc delete, which the next server
    kills past the runtime deadline); the next server's runc delete of it is held too, past
    its deadline: the server serves all the same (it did not start at all before), lists the
    container stopped, and a DELETE then removes it from runc."""
    gated = GatedRunc(tmp_path, "delete")
    daemon, delete = await deleting(spawn_daemon, make_bundle, gated, "stuck")
    client = daemon.client

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete)
        await gated.reached()  # the delete's runc delete is held
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await gated.reached()  # the next server's, held past its deadline
        await daemon.served(count + 1)
    info = (await client.get("/containers/stuck")).json()
    assert info["state"]["status"] == "stopped", info
    assert b"killed runc delete --force stuck" in daemon.log  # the dead server's, first
    assert "it is listed stopped, for a DELETE to try again" in daemon.log.decode()
    assert gated.running() == []  # each killed at its deadline: the DELETE's runc must run
    assert "stuck" in runc_ids(daemon.state_dir)
    async with gated.opened(None):
        answer = await client.delete("/containers/stuck")
    assert answer.status_code == 200, answer.text
    assert runc_ids(daemon.state_dir) == []
    assert os.listdir(daemon.state_dir / "containers") == []


async def test_what_a_failed_start_left_in_runc_does_not_take_the_stopped_container(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: Orphans
) -> None:
    """A stopped container, and in runc a container of its id in the created state: what a
    start that replaced it leaves when its roll-back's runc delete fails (made here with runc
    create itself). The next daemon removes that from runc and keeps the stopped container,
    its exit and its log; before, it took the pair for a start in flight and removed both."""
    first: DaemonProcess = await spawn_daemon()
    await start_container(first.client, "keep", make_bundle(["sh", "-c", "echo first; exit 3"]))
    assert (await first.client.post("/containers/keep/wait")).json()["exitStatus"] == 3
    await wait_output(first.client, "keep", "first")
    before = (await first.client.get("/containers/keep")).json()
    await first.kill_hard()
    runc(first.state_dir, "delete", "keep")  # the stopped one, as the replacing start did
    runc(first.state_dir, "create", "--bundle", str(make_bundle(FOREVER)), "keep", output=False)
    state = runc_state(first.state_dir, "keep")
    orphans.add(state["pid"])
    assert state["status"] == "created"
    second: DaemonProcess = await spawn_daemon()
    assert (await second.client.get("/containers/keep")).json() == before
    logged = (await second.client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["first\n"]
    assert runc_ids(second.state_dir) == []


#: What the next server logs as it waits for a runc command the dead server left running.
LEFT_RUNNING = b"which the last server left running"


async def served_or_logged(daemon: DaemonProcess, count: int, text: bytes) -> str:
    """Which comes first, a server's ``count``-th "serving on" or ``text`` in the log:
    "served" or "logged"."""
    first: list[str] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:

            async def served() -> None:
                await daemon.served(count)
                first.append("served")
                nursery.cancel_scope.cancel()

            async def logged() -> None:
                await daemon.logged(text)
                first.append("logged")
                nursery.cancel_scope.cancel()

            nursery.start_soon(served)
            nursery.start_soon(logged)
    return first[0]


async def killed_with_runc_held(
    daemon: DaemonProcess,
    gated: GatedRunc,
    request: Callable[[], Awaitable[object]],
    *,
    keeper: bool = False,
) -> str:
    """kill -9 of the server (of the whole daemon, its ``keeper`` too) while the runc command
    of ``request`` is held at ``gated``'s gate; that runc goes on (the keeper's orphan, or
    init's) once let go, and has ended on return: once the next server has begun (and then
    serves), or with no daemon running. Which came first: "logged" (the next server said
    it waits for that runc) or "served"; "" if the keeper was killed."""

    async def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await request()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await gated.reached()  # the server's runc is held
        (held,) = gated.running()
        if keeper:
            await daemon.kill_hard()
            async with gated.opened(held):  # the runc goes on, and ends
                return ""
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        first = await served_or_logged(daemon, count + 1, LEFT_RUNNING)
        async with gated.opened(held):  # the dead server's runc goes on, and ends
            await daemon.served(count + 1)
    return first


async def test_a_pause_the_dead_server_left_running_is_waited_for(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc pause is held: that runc is the keeper's orphan
    and goes on. The next server waits for it before it reads runc's list, and adopts the
    container paused, as it is. (Before, it adopted it running, and the pause landed after:
    listed running while frozen, an exec into it a 500 from runc.)"""
    gated = GatedRunc(tmp_path, "pause")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    await start_container(client, "c", make_bundle(FOREVER))
    since = now()
    first = await killed_with_runc_held(
        daemon, gated, partial(client.patch, "/containers/c", json={"status": "paused"})
    )
    info = (await client.get("/containers/c")).json()
    assert (info["state"]["status"], runc_state(daemon.state_dir, "c")["status"]) == (
        "paused",
        "paused",
    )
    assert first == "logged"  # the next server served only once that runc had ended
    assert b"waiting for runc pause c" in daemon.log
    assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
    assert runc_state(daemon.state_dir, "c")["status"] == "running"
    # The pause is published, once, before the resume that follows it (before, never).
    assert await types_until(client, since, "c", "resume") == ["pause", "resume"]


async def types_until(
    client: httpx.AsyncClient, since: str, container_id: str, last: str
) -> list[str]:
    """The types of a container's events from ``since`` on, up to the first of type ``last``."""
    types: list[str] = []
    params = {"since": since, "id": container_id}
    async with client.stream("GET", "/events", params=params) as stream:
        async for line in stream.aiter_lines():
            types.append(json.loads(line)["type"])
            if types[-1] == last:
                return types
    raise AssertionError(f"the event stream ended before a {last!r} event: {types}")


def freezer_state(pid: int) -> str:
    return (cgroup_dir(pid, "freezer") / "freezer.state").read_text().strip()


def limits_in_force(pid: int) -> tuple[str, str]:
    """The memory and pids limits of the process's cgroups, as the kernel has them."""
    return (
        (cgroup_dir(pid, "memory") / "memory.limit_in_bytes").read_text().strip(),
        (cgroup_dir(pid, "pids") / "pids.max").read_text().strip(),
    )


async def test_a_resume_the_dead_server_left_running_is_waited_for(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc resume of a paused container is held: the next
    server waits for it, and adopts the container running, as runc and its freezer have it,
    and publishes its resume."""
    gated = GatedRunc(tmp_path, "resume")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    init = (await start_container(client, "c", make_bundle(FOREVER)))["processes"][0]["pid"]
    assert (await client.patch("/containers/c", json={"status": "paused"})).status_code == 200
    assert freezer_state(init) == "FROZEN"
    since = now()
    first = await killed_with_runc_held(
        daemon, gated, partial(client.patch, "/containers/c", json={"status": "running"})
    )
    assert first == "logged"  # the next server served only once that runc had ended
    assert b"waiting for runc resume c" in daemon.log
    info = (await client.get("/containers/c")).json()
    assert (info["state"]["status"], runc_state(daemon.state_dir, "c")["status"]) == (
        "running",
        "running",
    )
    assert freezer_state(init) == "THAWED"
    assert (await client.patch("/containers/c", json={"status": "paused"})).status_code == 200
    assert freezer_state(init) == "FROZEN"
    # The resume is published, once, before the pause that follows it (before, never).
    assert await types_until(client, since, "c", "pause") == ["resume", "pause"]


#: What the update the tests below leave to the next server asks for: 64 MiB, 100 pids.
CHANGE = {"memory": {"limit": 64 << 20}, "pids": {"limit": 100}}


async def check_the_change_in_force(client: httpx.AsyncClient, init: int, since: str) -> None:
    """The container's record, its cgroups and its events after the next server's adoption
    of :data:`CHANGE`, left under way: the change in force, once."""
    info = (await client.get("/containers/c")).json()
    assert (info["resources"], limits_in_force(init)) == (CHANGE, (str(64 << 20), "100"))
    assert (await client.patch("/containers/c", json={"status": "paused"})).status_code == 200
    assert await types_until(client, since, "c", "pause") == ["update", "pause"]
    assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
    # Its memory cgroup can kill it now, and this server watches for that.
    eat = {"args": ["dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"]}
    oom_since = now()
    pid = (await client.put("/containers/c/processes", json=eat)).json()["pid"]
    assert await wait_exit(client, "c", pid, oom_since) == 137
    await next_event(client, since=oom_since, container_id="c", match=lambda e: e["type"] == "oom")
    # A later change goes over it, as over any other.
    response = await client.patch("/containers/c", json={"resources": {"pids": {"limit": 50}}})
    assert response.status_code == 200, response.text
    assert limits_in_force(init) == (str(64 << 20), "50")
    assert response.json()["resources"] == {**CHANGE, "pids": {"limit": 50}}


async def test_an_update_the_dead_server_left_running_is_in_force_and_recorded(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc update is held: the next server waits for it,
    and the container's limits, as it lists them, are those that runc update put in the
    cgroups. (Before, they were the record's from before the change: the cgroups had 64 MiB
    and 100 pids, the daemon said none, and watched for no OOM kill.)"""
    gated = GatedRunc(tmp_path, "update", once=True)  # the next server's go through
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    init = (await start_container(client, "c", make_bundle(FOREVER)))["processes"][0]["pid"]
    since = now()
    first = await killed_with_runc_held(
        daemon, gated, partial(client.patch, "/containers/c", json={"resources": CHANGE})
    )
    assert first == "logged"
    assert b"waiting for runc update --resources" in daemon.log
    await check_the_change_in_force(client, init, since)


async def test_an_update_that_ended_while_no_daemon_ran_is_in_force_and_recorded(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
) -> None:
    """kill -9 of the whole daemon while its runc update is held: that runc (init's orphan
    now) goes on and ends before the next daemon starts, which finds nothing left running,
    and must still list the limits runc put in force (before, the record's from before)."""
    gated = GatedRunc(tmp_path, "update")
    first: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    init = (await start_container(first.client, "c", make_bundle(FOREVER)))["processes"][0]["pid"]
    orphans.add(init)
    since = now()
    update = partial(first.client.patch, "/containers/c", json={"resources": CHANGE})
    await killed_with_runc_held(first, gated, update, keeper=True)
    assert limits_in_force(init) == (str(64 << 20), "100")
    second: DaemonProcess = await spawn_daemon()
    assert LEFT_RUNNING not in second.log
    await check_the_change_in_force(second.client, init, since)


async def test_a_delete_the_dead_server_left_past_its_deadline_is_killed_before_serving(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc delete --force is held past the runtime deadline:
    the next server kills it (as its own server would have at that deadline) before it
    finishes the delete and serves. (Before, it served at once, and a start of the id that
    came next was killed and removed from runc under it when that old runc delete went on.)"""
    gated = GatedRunc(tmp_path, "delete", once=True)  # the next server's goes through
    daemon, delete = await deleting(spawn_daemon, make_bundle, gated, "c")
    client = daemon.client

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete)
        await gated.reached()  # the server's runc delete is held
        await daemon.kill_server()
    assert (await client.get("/containers/c")).status_code == 404  # the delete was finished
    started = await start_container(client, "c", make_bundle(FOREVER))  # the id again
    async with gated.opened(gated.running()[0] if gated.running() else None):
        pass  # the dead server's runc delete goes on, if it still can
    info = (await client.get("/containers/c")).json()
    assert info["state"]["status"] == "running", info
    assert runc_state(daemon.state_dir, "c")["status"] == "running"
    assert pid_alive(started["processes"][0]["pid"])
    assert b"killed runc delete --force c" in daemon.log


async def test_a_checkpoint_the_dead_server_left_running_is_ended_at_once(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc checkpoint (with exit) is held: nobody can
    complete that checkpoint now (its metadata was its server's to write), so the next server
    kills it at once and removes its images: the container runs on, and the name is free.
    (Before, it went on once let through: the container stopped for a checkpoint that never
    came to be, and its images without metadata held the name for good.)"""
    gated = GatedRunc(tmp_path, "checkpoint", once=True)  # the next server's go through
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    started = await start_container(client, "c", make_bundle(FOREVER))
    since = now()

    async def checkpoint() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await client.post("/containers/c/checkpoint/cp", json={"exit": True})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(checkpoint)
        await gated.reached()  # the server's runc checkpoint is held
        await daemon.kill_server()
    async with gated.opened(gated.running()[0] if gated.running() else None):
        pass  # the dead server's runc checkpoint goes on, if it still can
    info = (await client.get("/containers/c")).json()
    assert info["state"]["status"] == "running", info
    assert pid_alive(started["processes"][0]["pid"])
    # Its course, begun on the event stream, is closed there: a watcher is not left waiting.
    with trio.fail_after(10):
        failed = await next_event(
            client, since=since, container_id="c", match=lambda e: e["type"] == "checkpoint-failed"
        )
    assert failed["checkpoint"] == "cp"
    assert "server died" in failed["error"], failed
    response = await client.post("/containers/c/checkpoint/cp", json={"exit": False})
    assert response.status_code == 201, response.text
    assert b"killing runc checkpoint --image-path" in daemon.log


async def test_a_restore_the_dead_server_left_under_way_ends_its_course_on_the_stream(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc restore is held: the next server rolls the start
    back (the stopped container put back) and closes the restore's course on the event
    stream with ``restore-failed``. (Before, its ``restore-started`` had no end there: a
    watcher waited for good.) The checkpoint then restores the container. The container put
    back keeps what its record does not show: the period its user set holds a cpu.cpus off."""
    gated = GatedRunc(tmp_path, "restore", once=True)  # the next server's go through
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    bundle = make_bundle(FOREVER)
    await start_container(client, "c", bundle, resources={"cpu": {"period": 50000}})
    response = await client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    since = now()
    restore = partial(
        client.post, "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )

    async def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await restore()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await gated.reached()  # the server's runc restore is held
        (held,) = gated.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        async with gated.opened(held):  # the restore goes on, the next server rolls it back
            await daemon.served(count + 1)
    with trio.fail_after(10):
        failed = await next_event(
            client,
            since=since,
            container_id="c",
            match=lambda e: "restore-" in e["type"] and e["type"] != "restore-started",
        )
    assert (failed["type"], failed["checkpoint"]) == ("restore-failed", "cp"), failed
    assert "server died" in failed["error"], failed
    assert (await client.get("/containers/c")).json()["state"]["status"] == "stopped"
    cpus = await client.patch("/containers/c", json={"resources": {"cpu": {"cpus": 0.5}}})
    assert cpus.status_code == 409, cpus.text
    assert "cpu.period was set by its start" in cpus.json()["error"]
    restored = await restore()
    assert restored.status_code == 201, restored.text


async def test_a_checkpoint_whose_criu_finished_before_the_kill_is_completed(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
) -> None:
    """kill -9 of the server once CRIU has finished a checkpoint with exit, its runc (here a
    wrapper of it) not yet ended: the next server kills that runc at once, as any checkpoint
    left running, but the dump was done and the container is gone: the checkpoint is
    completed, as one whose runc had ended, and restores the container. (Before, its images
    were removed with the work dir: nothing was left of the container.)"""
    gated = GatedRunc(tmp_path, "checkpoint", after=True)
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    bundle = make_bundle(COUNTER)
    init = (await start_container(client, "c", bundle))["processes"][0]["pid"]
    watched = orphans.add(init)
    await wait_output(client, "c", "1")
    since = now()
    checkpoint = partial(client.post, "/containers/c/checkpoint/cp", json={"exit": True})
    assert await killed_with_runc_held(daemon, gated, checkpoint) == "logged"
    assert b"killing runc checkpoint --image-path" in daemon.log
    assert watched.ended()
    # Its course is closed as a live one's: checkpoint-done (with its figures), checkpoint.
    with trio.fail_after(10):
        course = await types_until(client, since, "c", "checkpoint")
    assert [kind for kind in course if kind.startswith("checkpoint")] == [
        "checkpoint-started",
        "checkpoint-done",
        "checkpoint",
    ], course
    listed = (await client.get("/containers/c/checkpoint")).json()
    assert [checkpoint["name"] for checkpoint in listed] == ["cp"]
    assert (await client.get("/containers/c")).json()["state"]["status"] == "stopped"
    restored = await client.post(
        "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert restored.status_code == 201, restored.text
    orphans.add(restored.json()["processes"][0]["pid"])


@pytest.mark.parametrize(
    ("exit", "settings"),
    [
        (False, {}),
        (True, {}),
        (True, {"autoRemove": True}),
        (True, {"restartPolicy": {"name": "always"}}),
    ],
    ids=["leave-running", "exit", "exit-autoRemove", "exit-restartPolicy"],
)
async def test_a_checkpoint_that_finished_while_no_daemon_ran_is_completed(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
    exit: bool,
    settings: dict[str, Any],
) -> None:
    """kill -9 of the whole daemon while its runc checkpoint is held: that runc (init's
    orphan now) goes on and finishes the dump before the next daemon starts, leaving the
    images without the metadata its server was to write, and CRIU's work dir. The next
    daemon completes the checkpoint: its metadata written, the ``checkpoint`` event, the work
    dir gone. With ``exit`` the container is stopped and the checkpoint restores it; with
    autoRemove too it is kept for that restore, which keeps autoRemove, as its server would
    have kept it (before, the next daemon took the stop for an exit and removed it); with a
    restart policy it is not started again (before, it was, from its bundle): its exit's
    status, which nobody kept, is unknown (255). (Before,
    the images were removed: with ``exit`` nothing was left of the container.) The same is
    left when the server alone is killed and its runc ends before the next server looks."""
    gated = GatedRunc(tmp_path, "checkpoint")
    bundle = make_bundle(COUNTER)
    first: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    started = await start_container(first.client, "c", bundle, **settings)
    init = started["processes"][0]["pid"]
    watched = orphans.add(init)
    await wait_output(first.client, "c", "1")
    checkpoint = partial(first.client.post, "/containers/c/checkpoint/cp", json={"exit": exit})
    await killed_with_runc_held(first, gated, checkpoint, keeper=True)
    images = bundle / "checkpoints" / "cp"
    work = first.state_dir / "containers" / "c" / "criu-dump-cp"
    assert (images.is_dir(), (images / "checkpoint.json").exists(), work.is_dir()) == (
        True,
        False,
        True,
    )
    if exit:
        # Ended by the dump's kill, and reaped by init, before the next daemon looks (as after
        # a long dump): no server saw its exit, no keeper kept its status.
        with trio.fail_after(10):
            await watched.wait_reaped()
    since = now()
    second: DaemonProcess = await spawn_daemon()
    assert ((images / "checkpoint.json").exists(), work.exists()) == (True, False)
    listed = (await second.client.get("/containers/c/checkpoint")).json()
    assert [(checkpoint["name"], checkpoint["tcp"]) for checkpoint in listed] == [("cp", False)]
    assert parse_ns(listed[0]["timestamp"]) < parse_ns(since)  # when CRIU ended, not now
    await next_event(
        second.client, since=since, container_id="c", match=lambda e: e["type"] == "checkpoint"
    )
    if not exit:
        await _runs_on_thawed(second, init)
        again = await second.client.post("/containers/c/checkpoint/cp", json={"exit": False})
        assert again.status_code == 409, again.text
        return
    auto_remove = settings.get("autoRemove")
    answer = await second.client.get("/containers/c")
    assert answer.status_code == 200, answer.text  # not removed by autoRemove
    info = answer.json()
    # Not restarted by its policy: no restart waits, and it stays stopped.
    assert (info["state"], info.get("autoRemove")) == (
        {**info["state"], "status": "stopped", "exitStatus": 255},
        auto_remove,
    ), info
    assert "restarting" not in info["state"], info
    exited = await next_event(
        second.client, since=since, container_id="c", match=lambda e: e["type"] == "exit"
    )
    assert (exited["status"], exited.get("init")) == (255, True), exited  # its init's
    assert watched.ended()
    restored = await second.client.post(
        "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert restored.status_code == 201, restored.text
    orphans.add(restored.json()["processes"][0]["pid"])
    info = (await second.client.get("/containers/c")).json()
    assert (info["state"]["status"], info.get("autoRemove")) == ("running", auto_remove)


async def test_a_checkpoint_that_never_ran_while_no_daemon_ran_leaves_its_name_free(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
) -> None:
    """kill -9 of the whole daemon while its runc checkpoint is held, and of that runc: its
    reserved images directory and CRIU's work dir stay, with no dump in them. The next
    daemon removes both, as that server would have: the container runs on, thawed, and the
    name is free. (Before, it was held for good: a checkpoint of it and its delete both
    answered 409, "not a checkpoint".)"""
    gated = GatedRunc(tmp_path, "checkpoint")
    bundle = make_bundle(FOREVER)
    first: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    init = (await start_container(first.client, "c", bundle))["processes"][0]["pid"]
    orphans.add(init)
    since = now()

    async def checkpoint() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the daemon dies first
            await first.client.post("/containers/c/checkpoint/cp", json={"exit": False})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(checkpoint)
        await gated.reached()
        (held,) = gated.running()
        await first.kill_hard()
        pidfd = os.pidfd_open(held)
        try:
            os.kill(held, signal.SIGKILL)
            await trio.lowlevel.wait_readable(pidfd)
        finally:
            os.close(pidfd)
    images = bundle / "checkpoints" / "cp"
    work = first.state_dir / "containers" / "c" / "criu-dump-cp"
    assert (images.is_dir(), work.is_dir()) == (True, True)
    second: DaemonProcess = await spawn_daemon()
    assert (images.exists(), work.exists()) == (False, False)
    with trio.fail_after(10):  # its course, begun by the first daemon, is closed
        failed = await next_event(
            second.client, since=since, container_id="c", match=lambda e: "failed" in e["type"]
        )
    assert (failed["type"], failed["checkpoint"]) == ("checkpoint-failed", "cp"), failed
    await _runs_on_thawed(second, init)
    response = await second.client.post("/containers/c/checkpoint/cp", json={"exit": False})
    assert response.status_code == 201, response.text
    listed = (await second.client.get("/containers/c/checkpoint")).json()
    assert [checkpoint["name"] for checkpoint in listed] == ["cp"]


@pytest.mark.parametrize("killed", ["server", "daemon"])
async def test_a_paused_container_a_killed_checkpoint_left_thawed_is_adopted_frozen(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
    killed: str,
) -> None:
    """A checkpoint of a paused container, its CRIU held once it holds the tasks (at the
    dump's ``network-lock``): CRIU has thawed the cgroup (it does once the tasks are seized,
    and sets back the state it found only at its end). Then kill -9 of the server (the next
    server kills that runc and CRIU at once), or of the whole daemon, runc and CRIU (the
    dump's work dir left for the next daemon to undo): nothing freezes the container back
    but the next server, which puts the freezer back as the record says. The container is
    listed paused, runc says paused, its freezer is FROZEN, and no ``resume`` is published.
    (Before, adoption only ever thawed: runc said running, so the container was adopted
    running, a ``resume`` nobody asked for published, its user's pause gone.)"""
    hold = HeldCriu(tmp_path, "network-lock")
    first: DaemonProcess = await spawn_daemon()
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    init = (await start_container(first.client, "c", bundle))["processes"][0]["pid"]
    orphans.add(init)
    response = await first.client.patch("/containers/c", json={"status": "paused"})
    assert response.status_code == 200, response.text
    assert freezer_state(init) == "FROZEN"
    since = now()

    async def checkpoint() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await first.client.post("/containers/c/checkpoint/cp", json={"exit": False})

    with hold, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(checkpoint)
            await hold.held()  # the tasks are CRIU's, the cgroup thawed
            assert freezer_state(init) == "THAWED"
            if killed == "server":
                await first.kill_server()
                await hold.ended()  # killed by the next server, with its runc
                assert b"killing runc checkpoint --image-path" in first.log
                daemon = first
            else:
                runc_checkpoint = procfs.parent(hold.criu)
                assert runc_checkpoint is not None
                pidfd = os.pidfd_open(runc_checkpoint)
                try:
                    await first.kill_hard()
                    os.kill(runc_checkpoint, signal.SIGKILL)  # as systemd kills its cgroup
                    await trio.lowlevel.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
                hold.kill()
                await hold.ended()
    if killed == "daemon":
        work = first.state_dir / "containers" / "c" / "criu-dump-cp"
        assert work.is_dir()  # the dump's, for the next daemon to undo
        daemon = await spawn_daemon()
        assert not work.exists()
    client = daemon.client
    info = (await client.get("/containers/c")).json()
    assert (
        info["state"]["status"],
        runc_state(daemon.state_dir, "c")["status"],
        freezer_state(init),
    ) == ("paused", "paused", "FROZEN")
    assert b"was left thawed by a failed checkpoint: freezing it again" in daemon.log
    assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
    assert freezer_state(init) == "THAWED"
    # The checkpoint's course is closed; the one resume is the user's, just now.
    kinds = await types_until(client, since, "c", "resume")
    assert (kinds.count("resume"), "checkpoint-failed" in kinds) == (1, True), kinds


async def _runs_on_thawed(daemon: DaemonProcess, init: int) -> None:
    """Container ``c`` runs, as the daemon and runc say, and its init is not frozen."""
    info = (await daemon.client.get("/containers/c")).json()
    assert (info["state"]["status"], runc_state(daemon.state_dir, "c")["status"]) == (
        "running",
        "running",
    )
    assert freezer_state(init) == "THAWED"


def _named_as_a_dump(
    tmp_path: Path, daemon: DaemonProcess
) -> tuple[Path, Path, list[str], list[str]]:
    """Two host directories that hold a file (a work dir, a checkpoint's images), and the
    command lines of a container's process that loops: named as a runc on the daemon's runc
    root, and as a runc checkpoint of those two directories."""
    work = tmp_path / "host-directory"
    images = tmp_path / "host-bundle" / "checkpoints" / "precious"
    for directory in (work / "inside", images):
        directory.mkdir(parents=True)
        (directory / "file").write_text("kept\n")
    loop = ["sh", "-c", "while :; do sleep 1; done", "sh", "--root", str(daemon.state_dir / "runc")]
    dump = [*loop, "checkpoint", "--image-path", str(images), "--work-path", str(work), "c"]
    return work, images, loop, dump


async def test_a_container_process_named_like_a_left_runc_is_left_alone(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container's processes are the keeper's children too, and a container picks its own
    command line: one named as a runc checkpoint on the daemon's runc root, whose
    ``--work-path`` and ``--image-path`` name host directories, and one named as a runc
    delete. The next server (after a crash, as after every live upgrade) takes neither for a
    runc its last server left: both containers run on, and the host's directories stay.
    (Before, it killed the first at once and removed both directories, as root, from the
    host's mount namespace: any container could have a host directory removed; and it
    waited the runtime deadline for the second, then killed it.)"""
    daemon: DaemonProcess = await spawn_daemon("--runtime-timeout", "2")
    client = daemon.client
    work, images, loop, dump = _named_as_a_dump(tmp_path, daemon)
    delete = [*loop, "delete", "--force", "c"]
    inits = []
    for container_id, args in (("dump", dump), ("delete", delete)):
        started = await start_container(client, container_id, make_bundle(args))
        inits.append(started["processes"][0]["pid"])
    await daemon.kill_server()
    assert [(work / "inside" / "file").read_text(), (images / "file").read_text()] == ["kept\n"] * 2
    for container_id, init in zip(("dump", "delete"), inits, strict=True):
        info = (await client.get(f"/containers/{container_id}")).json()
        assert (info["state"]["status"], info["processes"][0]["pid"]) == ("running", init)
        assert pid_alive(init)
    assert LEFT_RUNNING not in daemon.log
    for command in (b"checkpoint", b"delete"):
        assert b"is named as runc %b on this daemon's runc root" % command in daemon.log


def _unprivileged_root_on_the_host(config: dict[str, Any]) -> None:
    """A container of the host's mount and user namespaces whose process is root (uid 0, as
    the keeper) without a capability: it sees the host's directories and cannot remove one
    root does not own (no CAP_DAC_OVERRIDE), nor gain a capability (no new privileges)."""
    linux = config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] not in ("mount", "user")]
    # Masking and read-only paths are mounts: in the host's mount namespace they would be
    # the host's.
    linux.pop("maskedPaths", None)
    linux.pop("readonlyPaths", None)
    config["mounts"] = []
    config["root"] = {"path": "/"}
    config["process"]["user"] = {"uid": 0, "gid": 0}
    config["process"]["capabilities"] = {}
    config["process"]["noNewPrivileges"] = True


async def test_a_root_container_process_of_the_host_mount_namespace_is_no_left_runc(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container may share the host's mount namespace, its process run as root (uid 0, as
    the daemon's runc), its capabilities taken away: its process then has the keeper's
    mount namespace and user ids, and names itself as a runc checkpoint on the daemon's
    runc root. The next server takes it for no runc of its last server: it runs on, and the
    host directories it names stay. (Before, the mount namespace and the user ids were the
    whole test: it killed the container's process and removed, with all of root's
    privilege, directories that process could not have removed itself.)

    The daemon runs in a mount namespace of its own, the container's "host" one: runc's
    start of a container without one binds its root onto itself there, which, in the test
    machine's, would stay over its root for good (CRIU then refuses every later dump of a
    file beneath)."""
    private = ["unshare", "--mount", "--propagation", "private"]
    daemon: DaemonProcess = await spawn_daemon("--runtime-timeout", "2", wrapper=private)
    client = daemon.client
    work, images, _, dump = _named_as_a_dump(tmp_path, daemon)
    started = await start_container(
        client, "dump", make_bundle(dump, edit=_unprivileged_root_on_the_host)
    )
    init = started["processes"][0]["pid"]
    await daemon.kill_server()
    assert [(work / "inside" / "file").read_text(), (images / "file").read_text()] == ["kept\n"] * 2
    info = (await client.get("/containers/dump")).json()
    assert (info["state"]["status"], info["processes"][0]["pid"]) == ("running", init)
    assert pid_alive(init)
    assert LEFT_RUNNING not in daemon.log
    assert b"is named as runc checkpoint on this daemon's runc root" in daemon.log


async def test_a_new_server_s_spawns_do_not_take_the_ids_of_the_dead_one_s_in_flight(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its first start's `runc run` is held; the next server
    adopts once the runtime deadline and its grace have passed (the run still held), serves,
    and makes its first start. Each server numbered its spawns from 1, so the keeper held two
    spawns of one id: the second overwrote the first, and when the held run ended, the keeper
    died on the id it no longer had (and every container's pipes with it). The container the
    held run makes after the adoption is undone as it comes."""
    gated = GatedRunc(tmp_path, "run", once=True)
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    keeper = daemon.keeper_pid
    client = daemon.client
    body = {"bundlePath": str(make_bundle(FOREVER))}
    held = await _held_past_the_adoption(
        daemon, gated, partial(client.post, "/containers/held", json=body)
    )
    await start_container(client, "after", make_bundle(FOREVER))
    async with gated.opened(held):  # the dead server's run ends
        pass
    # The held run's exit is read by the keeper no later than this start's message (it
    # exited first), and this start's answer comes from a later turn of the keeper's loop.
    await start_container(client, "later", make_bundle(FOREVER))
    assert daemon.process is not None and daemon.process.poll() is None, daemon.log[-3000:]
    assert pid_alive(keeper)
    answer = await client.get("/containers/after")
    assert answer.json()["state"]["status"] == "running", answer.text
    # The held run made its container after the adoption: nobody asked for it any more (the
    # start's record was rolled back), so it is undone as it comes, not left running in runc.
    assert (await client.get("/containers/held")).status_code == 404
    with trio.fail_after(10):
        while "held" in runc_ids(daemon.state_dir):  # noqa: ASYNC110 (runc is all there is to ask)
            await trio.sleep(0.02)


async def test_an_exec_that_ends_after_the_adoption_is_undone(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while an exec's `runc exec` is held, until the next server has
    adopted (the runtime deadline and its grace passed): the process the exec makes then was
    asked for by a client that never heard of it, and no record names it. It is undone as it
    comes, as one that came in time would have been; the container runs on alone."""
    gated = GatedRunc(tmp_path, "exec", once=True)
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    client = daemon.client
    await start_container(client, "c", make_bundle(FOREVER))
    [init] = [int(pid) for pid in runc_pids(daemon.state_dir, "c")]
    exec_held = partial(client.put, "/containers/c/processes", json={"args": FOREVER})
    held = await _held_past_the_adoption(daemon, gated, exec_held)
    async with gated.opened(held):  # the dead server's exec ends
        pass
    with trio.fail_after(10):
        while runc_pids(daemon.state_dir, "c") != [init]:  # noqa: ASYNC110 (runc is all there is to ask)
            await trio.sleep(0.02)
    info = (await client.get("/containers/c")).json()
    assert info["state"]["status"] == "running", info
    assert [process["pid"] for process in info["processes"]] == [init]


async def test_an_undone_exec_takes_the_processes_it_started_with_it(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while an exec's `runc exec` has run (its process made, and its
    shell's child with it) and the wrapper around it is held until the next server has
    adopted: the exec is undone, and so is the child its shell started, which is in the
    process group the exec's process leads (runc exec makes it a session's leader). Before,
    only the exec's own pid was killed: its shell's `sleep` ran on in the container, an
    orphan of its init that no record named (seen by hand: a shell's `sleep 30` of an exec
    whose server was killed 30 ms after its request)."""
    gated = GatedRunc(tmp_path, "exec", once=True, after=True)
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    client = daemon.client
    await start_container(client, "c", make_bundle(FOREVER))
    [init] = [int(pid) for pid in runc_pids(daemon.state_dir, "c")]
    forks = {"args": ["sh", "-c", "sleep 1000; :"]}  # `; :`: the shell waits, not execs
    exec_held = partial(client.put, "/containers/c/processes", json=forks)
    held = await _held_past_the_adoption(daemon, gated, exec_held)
    with trio.fail_after(10):
        while len(runc_pids(daemon.state_dir, "c")) < 3:  # noqa: ASYNC110 (runc is all there is to ask)
            await trio.sleep(0.02)  # the init, the exec's shell, and its sleep
    async with gated.opened(held):  # the dead server's exec ends, and is undone
        pass
    with trio.fail_after(10):
        while runc_pids(daemon.state_dir, "c") != [init]:  # noqa: ASYNC110 (runc is all there is to ask)
            await trio.sleep(0.02)
    info = (await client.get("/containers/c")).json()
    assert [process["pid"] for process in info["processes"]] == [init]


async def test_a_replacing_start_that_ends_after_the_adoption_leaves_nothing_in_runc(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start of a stopped container's id is held in runc run,
    until the next server has adopted: the start is rolled back, the stopped container put
    back (runc has none of its id: the start removed it). The container the held run makes
    then is undone as it comes, and removed from runc: the stopped container is there as
    it was, and a start of its id works. (Before, its init was killed and it stayed in runc,
    stopped, with its cgroup, unknown to the server: the stopped container the server lists
    was taken for its owner.)"""
    gated = GatedRunc(tmp_path, "run")
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    client = daemon.client
    body = {"bundlePath": str(make_bundle(["sh", "-c", "exit 3"]))}
    async with gated.opened(None):  # the first start goes through
        assert (await client.post("/containers/keep", json=body)).status_code == 201
    assert (await client.post("/containers/keep/wait")).json()["exitStatus"] == 3
    before = (await client.get("/containers/keep")).json()
    body = {"bundlePath": str(make_bundle(FOREVER))}
    held = await _held_past_the_adoption(
        daemon, gated, partial(client.post, "/containers/keep", json=body)
    )
    assert (await client.get("/containers/keep")).json() == before
    assert "keep" not in runc_ids(daemon.state_dir)
    async with gated.opened(held):  # the dead server's run ends, and makes its container
        with trio.fail_after(10):
            await daemon.logged(b"undoing process keep/init-")
            while "keep" in runc_ids(daemon.state_dir):  # noqa: ASYNC110 (runc is all there is to ask)
                await trio.sleep(0.02)
        assert (await client.get("/containers/keep")).json() == before
        started = await start_container(client, "keep", make_bundle(FOREVER))
    assert runc_state(daemon.state_dir, "keep")["pid"] == started["processes"][0]["pid"]
    assert (await client.delete("/containers/keep", params={"timeout": 0})).status_code == 200


async def test_a_start_that_ends_while_the_adoption_runs_leaves_nothing_in_runc(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start's runc run is held, and an update of another
    container (started after it) too. The next server waits the runtime deadline and its
    grace for the run (still held), kills the update, rolls the start back (runc has no
    container of its id yet), and makes the update again, held as well: the held run ends
    then, before the adoption's end, and makes its container. That container is removed
    before the server serves, as one that comes later is. (Before, its init was killed,
    and it stayed in runc, stopped, unknown to the server.)"""
    for name in ("run", "update"):
        (tmp_path / name).mkdir()
    run = GatedRunc(tmp_path / "run", "run", once=True)
    update = GatedRunc(tmp_path / "update", "update", runc=str(run.path))
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(update.path), "--runtime-timeout", "1"
    )
    client = daemon.client

    async def cut_short(request: Awaitable[object]) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await request

    async with trio.open_nursery() as nursery:
        body = {"bundlePath": str(make_bundle(FOREVER))}
        nursery.start_soon(cut_short, client.post("/containers/held", json=body))
        await run.reached()
        [held] = run.running()
        await start_container(client, "u", make_bundle(FOREVER))  # sorted after "held"
        change = client.patch("/containers/u", json={"resources": CHANGE})
        nursery.start_soon(cut_short, change)
        await update.reached()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        with trio.fail_after(30):
            await update.reached()  # the next server's update of "u", after the roll-back
    assert b"rolling back the start of container held" in daemon.log
    async with run.opened(held):  # the dead server's run ends, and makes its container
        with trio.fail_after(10):
            while "held" not in runc_ids(daemon.state_dir):  # noqa: ASYNC110 (runc is all there is to ask)
                await trio.sleep(0.02)
    async with update.opened(None):
        await daemon.served(count + 1)
    assert runc_ids(daemon.state_dir) == ["u"]
    assert (await client.get("/containers/held")).status_code == 404


async def _held_past_the_adoption(
    daemon: DaemonProcess, gated: GatedRunc, request: Callable[[], Awaitable[object]]
) -> int:
    """kill -9 of the server while the runc command of ``request`` is held at ``gated``'s
    gate, and the next server serving (past the runtime deadline and its grace: the command
    still held). The held wrapper's pid."""

    async def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await request()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await gated.reached()
        [held] = gated.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await daemon.served(count + 1)
    return held


@pytest.mark.parametrize("held_at", ["work-dir", "intent"])
async def test_a_server_killed_as_its_checkpoint_reserves_the_name_leaves_it_free(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    orphans: Orphans,
    held_at: str,
) -> None:
    """kill -9 of the server while its checkpoint is held (in the kernel, on a FUSE mount
    that does not answer) as it makes CRIU's work dir (``work-dir``), or as it writes the
    dump's intent into it (``intent``): on each side of the name's reservation in the
    bundle, before any runc ran. The next server leaves the name free (the reserved,
    empty images directory removed), CRIU's work dir gone, and the container runs on,
    thawed: a checkpoint of the name succeeds. (Before, the server reserved the name first
    and made the work dir after: killed in between, it left the images directory with no
    work dir to tell the next server of it, and the name was held for good: a checkpoint
    of it and its delete both answered 409, "not a checkpoint".)"""
    point = tmp_path / "hung"
    point.mkdir()
    with hung_mount(point) as hung:
        daemon: DaemonProcess = await spawn_daemon()
        init = (await start_container(daemon.client, "c", make_bundle(FOREVER)))["processes"][0]
        orphans.add(init["pid"])
        work = daemon.state_dir / "containers" / "c" / "criu-dump-cp"
        work.parent.mkdir(exist_ok=True)  # made by the first thing that needs it: a dump
        # The hold: a lookup of the mount's "hang", which the dump's next step makes.
        if held_at == "work-dir":
            work.symlink_to(point / "hang")  # mkdir's EEXIST, then its check that it is a dir
        else:
            work.mkdir()
            (work / "checkpoint-intent.json").symlink_to(point / "hang")
        served = daemon.servings

        async def checkpoint() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies first
                await daemon.client.post("/containers/c/checkpoint/cp", json={"exit": False})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(checkpoint)
            assert await trio.to_thread.run_sync(hung.asked.wait, 20), "the hold never came"
            os.kill(daemon.server_pid(), signal.SIGKILL)  # pending until the lookup is answered
            hung.release()
            await daemon.served(served + 1)
    bundle = Path((await daemon.client.get("/containers/c")).json()["bundlePath"])
    images = bundle / "checkpoints" / "cp"
    assert not images.exists(), sorted(p.name for p in images.iterdir())
    if held_at == "work-dir":
        work.unlink()  # the test's hold: the server leaves what is not a dir of its own alone
    else:
        assert b"undoing checkpoint cp of container c, left under way" in daemon.log
    assert not work.exists()
    await _runs_on_thawed(daemon, init["pid"])
    response = await daemon.client.post("/containers/c/checkpoint/cp", json={"exit": False})
    assert response.status_code == 201, response.text


async def _restore_events_until_restored(
    client: httpx.AsyncClient, since: str, restore: Callable[[], Awaitable[httpx.Response]]
) -> list[dict[str, Any]]:
    """The container c's restore course events from ``since`` on, up to the end of a
    ``restore`` made now (which succeeds): all the stream will ever say of those before."""
    restored = await restore()
    assert restored.status_code == 201, restored.text
    events: list[dict[str, Any]] = []
    params = {"since": since, "id": "c"}
    async with client.stream("GET", "/events", params=params) as response:
        async for line in response.aiter_lines():
            event = json.loads(line)
            if event["type"].startswith("restore-"):
                events.append(event)
            if event["type"] == "restore":
                return events
    raise AssertionError(f"the event stream ended: {events}")


async def test_a_restore_that_ends_after_the_adoption_ends_its_course_once(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc restore is held until the next server has
    adopted (the runtime deadline and its grace passed), and the held restore then goes on:
    the adoption's roll-back of the start (its record says created: a restore's record is
    written before its restore-started) closes the restore's course (``restore-failed``)
    before the late restore ends, and what that one does after (here it makes no process;
    one that did would be undone by :meth:`Adoption._undo_late`) closes nothing again:
    exactly one end, before the next restore's course. (Pinned: it was so.)"""
    gated = GatedRunc(tmp_path, "restore", once=True)
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    client = daemon.client
    bundle = make_bundle(FOREVER)
    await start_container(client, "c", bundle)
    response = await client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    since = now()
    restore = partial(
        client.post, "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    held = await _held_past_the_adoption(daemon, gated, restore)
    assert (await client.get("/containers/c")).json()["state"]["status"] == "stopped"
    async with gated.opened(held):  # the dead server's restore goes on, and ends
        with trio.fail_after(20):
            while gated.running():  # noqa: ASYNC110 (the wrapper's end: nothing to wait on)
                await trio.sleep(0.02)
    with trio.fail_after(30):
        events = await _restore_events_until_restored(client, since, restore)
    assert [(e["type"], e["checkpoint"]) for e in events] == [
        ("restore-started", "cp"),
        ("restore-failed", "cp"),
        ("restore-started", "cp"),
        ("restore-done", "cp"),
    ], events
    assert events[1]["error"] == (
        "the server died during the restore: the next server rolled it back"
    )
    assert (await client.delete("/containers/c", params={"timeout": 0})).status_code == 200


async def test_a_restore_whose_roll_back_fails_after_a_crash_ends_its_course_once(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while its runc restore is held; the next server's roll-back
    of the start cannot finish (its runc delete held past the runtime deadline): it lists
    the container stopped, for a DELETE to try again, and closes the restore's course with
    ``restore-failed`` saying so, once. Before, only a roll-back that succeeded closed it:
    this restore-started had no end on the stream."""
    for name in ("restore", "delete"):
        (tmp_path / name).mkdir()
    restoring = GatedRunc(tmp_path / "restore", "restore", once=True)
    deleting = GatedRunc(tmp_path / "delete", "delete", runc=str(restoring.path))
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(deleting.path), "--runtime-timeout", "1"
    )
    client = daemon.client
    bundle = make_bundle(FOREVER)
    async with deleting.opened(None):
        await start_container(client, "c", bundle)
        response = await client.post("/containers/c/checkpoint/cp", json={"exit": True})
        assert response.status_code == 201, response.text
    since = now()
    restore = partial(
        client.post, "/containers/c", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )

    async def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await restore()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await restoring.reached()
        [held] = restoring.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        with trio.fail_after(30):
            await deleting.reached()  # the next server's roll-back, held past its deadline
            await daemon.served(count + 1)
    assert "it is listed stopped, for a DELETE to try again" in daemon.log.decode()
    with trio.fail_after(10):
        failed = await next_event(
            client, since=since, container_id="c",
            match=lambda e: e["type"] in ("restore-done", "restore-failed"),
        )  # fmt: skip
    assert (failed["type"], failed["checkpoint"]) == ("restore-failed", "cp"), failed
    assert failed["error"] == (
        "the server died during the restore: the next server could not roll it back, and"
        " lists the container stopped (a DELETE tries again)"
    )
    async with restoring.opened(held), deleting.opened(None):
        with trio.fail_after(20):
            while restoring.running():  # noqa: ASYNC110 (the wrapper's end: nothing to wait on)
                await trio.sleep(0.02)
        with trio.fail_after(30):
            events = await _restore_events_until_restored(client, since, restore)
        assert [e["type"] for e in events] == [
            "restore-started", "restore-failed", "restore-started", "restore-done",
        ], events  # fmt: skip
        assert (await client.delete("/containers/c", params={"timeout": 0})).status_code == 200


async def test_a_server_dying_in_a_start_again_leaves_the_stopped_container(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the server while a start again (``POST /containers/{id}/start``, which
    continues the log in place, not moved aside) is held in runc run: the next server rolls
    it back and the stopped container is there as it was, its exit, its createdAt and its
    log (with what the rolled-back run wrote, which ran), nothing left aside."""
    gated = GatedRunc(tmp_path, "run")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    answers: list[int] = []
    bundle = make_bundle(["sh", "-c", "echo run; exec sleep 100000"])

    async def start_held(again: bool) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server may die first
            if again:
                answers.append((await client.post("/containers/keep/start")).status_code)
            else:
                body = {"bundlePath": str(bundle)}
                answers.append((await client.post("/containers/keep", json=body)).status_code)

    async with trio.open_nursery() as nursery:  # the first start goes through the gate
        nursery.start_soon(start_held, False)
        await gated.reached()
        await trio.Path(gated.gate).write_text("go\n")
    assert answers == [201]
    await wait_output(client, "keep", "run")
    assert (await client.patch("/containers/keep", json={"signal": 9})).status_code == 200
    assert (await client.post("/containers/keep/wait")).json()["exitStatus"] == 137
    before = (await client.get("/containers/keep")).json()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_held, True)
        await gated.reached()  # the start again is in runc run
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await trio.Path(gated.gate).write_text("go\n")  # the keeper's runc goes on
        await daemon.served(count + 1)
    assert answers == [201]  # the second never answered
    assert (await client.get("/containers/keep")).json() == before
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert json.loads(logged[0])["data"] == "run\n"
    assert runc_ids(daemon.state_dir) == []  # the held start, rolled back
    assert sorted(os.listdir(daemon.state_dir / "containers")) == ["keep"]
    async with gated.opened(None):
        again = await client.post("/containers/keep/start")
    assert again.status_code == 201, again.text
    assert again.json()["createdAt"] == before["createdAt"]
    await client.delete("/containers/keep", params={"timeout": "0"})


def _host_pids(config: dict[str, Any]) -> None:
    """A container in the host's pid namespace: its init's death ends no other process."""
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "pid"]


def _record_stopped(state_dir: Path, container_id: str, exit_status: int) -> None:
    """Write the record of ``container_id`` as a server before 2026-12-06 wrote it once the
    container's init had exited (``exit_status``), what it left running listed: stopped,
    its processes those that ran on (the init's gone from them), its init's pid kept."""
    journal = RecordJournal(state_dir / "containers.journal")
    try:
        (record,) = [r for r in journal.load() if r.container.id == container_id]
        info = record.container
        init_pid = info.processes[0].pid
        state = attrs.evolve(info.state, status=Status.STOPPED, exit_status=exit_status)
        journal.put(
            attrs.evolve(
                record,
                container=attrs.evolve(info, state=state, processes=info.processes[1:]),
                start_times=[s for s in record.start_times if s.pid != init_pid],
                ended_pid=init_pid,
            )
        )
    finally:
        journal.close()


@pytest.mark.parametrize(
    ("how", "stopped"),
    [
        ("reload", "served"),
        ("server", "served"),
        ("keeper", "served"),
        ("server", "unserved"),
        ("keeper", "unserved"),
        ("keeper", "recorded"),
    ],
)
async def test_a_stopped_container_without_its_own_pid_namespace_is_adopted_stopped(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    orphans: Orphans,
    how: str,
    stopped: str,
) -> None:
    """A container in the host's pid namespace, a process added to it that outlives a
    SIGTERM (and a child of it), then its init's exit (143): through a stop of the server's
    (``served``), while no server runs (``unserved``: the server or the whole daemon killed
    first), or so and its record made as a server before 2026-12-06 made it at that exit
    (``recorded``: stopped, the added process listed, running on). Then a new server adopts
    it (a reload, kill -9 of the server, or of the keeper and a new daemon): it is listed
    stopped, with its init's exit status and no process, and what the init left has ended,
    the added process's exit reported: killed (SIGKILL) at the init's exit, or as the
    stopped container is adopted, as containerd's shim ends the rest of such a container.
    Before, the added process ran on past the init's exit, and a next server that found the
    container stopped took it for the init and listed the container running."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    since = now()
    with trio.fail_after(60):
        started = await start(daemon, "shared", make_bundle(FOREVER, edit=_host_pids))
        init_pid = started["processes"][0]["pid"]
        init = orphans.add(init_pid)
        added = await client.put(
            "/containers/shared/processes",
            json={"args": ["sh", "-c", until_trapped("trap 'echo kept on' TERM")]},
        )
        assert added.status_code == 201, added.text
        pid = added.json()["pid"]
        execd = orphans.add(pid)
        await wait_catching(pid, signal.SIGTERM)
        if stopped == "served":
            answer = await client.post("/containers/shared/stop", params={"timeout": "20"})
            assert answer.status_code == 200, answer.text
            before = (await client.get("/containers/shared")).json()
            assert before["state"]["status"] == "stopped", before
            assert before["state"]["exitStatus"] == 128 + signal.SIGTERM, before
        if how == "reload":
            count = daemon.servings
            assert (await client.post("/daemon/reload")).status_code == 202
            await daemon.served(count + 1)
        elif how == "server" and stopped == "served":
            await daemon.kill_server()
        elif how == "server":
            with servers_cannot_start(daemon):
                count = daemon.servings
                os.kill(daemon.server_pid(), signal.SIGKILL)
                signal.pidfd_send_signal(init.fd, signal.SIGTERM)
                await init.wait_reaped()  # by the keeper, which keeps its status
            await daemon.served(count + 1)
        else:
            await daemon.kill_hard()
            if stopped != "served":
                signal.pidfd_send_signal(init.fd, signal.SIGTERM)
                await init.wait_reaped()  # by init
            if stopped == "recorded":
                _record_stopped(daemon.state_dir, "shared", 128 + signal.SIGTERM)
            daemon = await spawn_daemon()
            client = daemon.client
        if stopped != "recorded":  # (there no server saw the init's exit)
            await wait_exit(client, "shared", init_pid, since)
        # What the init left is ended, its exit reported, before the init's exit (live), or
        # before the adopting server serves.
        shown = (await client.get("/containers/shared")).json()
        assert shown["state"]["status"] == "stopped", shown
        assert shown["processes"] == [], shown
        assert execd.ended(), "the added process outlived its container's init"
        status = await wait_exit(client, "shared", pid, since)
    # Its true status where a keeper reaped it; 255 (unknown) where none did (its own died).
    assert status == (128 + signal.SIGKILL if how != "keeper" or stopped == "served" else 255)
    unseen = (how, stopped) == ("keeper", "unserved")  # nothing kept the init's status
    assert shown["state"]["exitStatus"] == (255 if unseen else 128 + signal.SIGTERM)
    assert runc_ids(daemon.state_dir) == ["shared"]
    deleted = await client.delete("/containers/shared")
    assert deleted.status_code == 200, deleted.text
