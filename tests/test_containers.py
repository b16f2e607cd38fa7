"""Starting, listing, stopping and deleting containers over real HTTP (the foundation issue)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio.errors import quoted
from containerd_trio.ids import invalid_id
from containerd_trio.machine import read_machine
from containerd_trio.records import RecordJournal

from .helpers import (
    COUNTER,
    FOREVER,
    IGNORES_TERM,
    STOPPED_ONLY,
    UNIFIED,
    BundleFactory,
    GatedRunc,
    HeldHook,
    RunningDaemon,
    WatchedProcess,
    collect_events,
    event_types,
    next_event,
    not_removable,
    now,
    own_cgroup,
    pid_alive,
    read_to_eof,
    refusing_runc,
    run_status,
    runc_deletes,
    runc_ids,
    runc_state,
    start_container,
    wait_exit,
    wait_output,
    wait_ran,
    zombie_children,
)


async def test_seed_start_and_state(client: httpx.AsyncClient, bundle: Path) -> None:
    """The seed's POST /containers/redis and GET /state, with the seed's response shape."""
    response = await client.post(
        "/containers/redis",
        content=f'{{\n"bundlePath": "{bundle}"\n}}',
        headers={"content-type": "application/x-www-form-urlencoded"},  # what curl -d sends
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] == "redis"
    assert created["bundlePath"] == str(bundle)
    assert run_status(created["state"]) == {"status": "running"}
    [init] = created["processes"]
    assert init["args"] == list(FOREVER)
    assert init["user"] == {"uid": 0, "gid": 0}
    assert init["terminal"] is False
    assert any(v.startswith("PATH=") for v in init["env"])
    assert pid_alive(init["pid"])

    state = (await client.get("/state")).json()
    assert [c["id"] for c in state["containers"]] == ["redis"]
    assert state["containers"][0]["processes"][0]["pid"] == init["pid"]
    machine = read_machine()
    assert state["machine"] == {"cpus": machine.cpus, "memory": machine.memory}
    assert state["machine"]["cpus"] == os.sysconf("SC_NPROCESSORS_ONLN")


async def test_get_container_matches_state(client: httpx.AsyncClient, bundle: Path) -> None:
    created = await start_container(client, "one", bundle, labels={"team": "infra"})
    got = (await client.get("/containers/one")).json()
    assert got == created
    assert got["labels"] == {"team": "infra"}
    assert got["createdAt"].endswith("+00:00") and len(got["createdAt"].split(".")[1]) == 15


async def test_exit_status_is_kept(client: httpx.AsyncClient, make_bundle: BundleFactory) -> None:
    since = now()
    created = await start_container(client, "three", make_bundle(["sh", "-c", "exit 3"]))
    pid = created["processes"][0]["pid"]
    assert await wait_exit(client, "three", pid, since) == 3
    got = (await client.get("/containers/three")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 3}
    assert got["processes"] == []
    # A stopped container stays listed until deleted.
    assert [c["id"] for c in (await client.get("/state")).json()["containers"]] == ["three"]


async def test_a_run_says_when_it_started_and_when_it_finished(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """``state.startedAt`` is when the run began (a start's: its createdAt, the same
    instant), there while it runs and once it stopped; ``state.finishedAt``, once stopped,
    is its init's exit: the instant the wait's ``exitedAt`` and the ``exit`` event give.
    GET /state says the same. Before, neither was there (docker's State.StartedAt and
    State.FinishedAt): the exit's time was only in its event."""
    since = now()
    created = await start_container(client, "timed", bundle)
    assert created["state"]["startedAt"] == created["createdAt"], created
    assert "finishedAt" not in created["state"]
    init = created["processes"][0]["pid"]
    await client.post(f"/containers/timed/process/{init}", json={"signal": 9})
    with trio.fail_after(20):
        exited = await next_event(
            client, since=since, container_id="timed", match=lambda e: e["type"] == "exit"
        )
    waited = (await client.post("/containers/timed/wait")).json()
    got = (await client.get("/containers/timed")).json()
    assert got["state"]["finishedAt"] == waited["exitedAt"] == exited["timestamp"], got
    assert got["state"]["startedAt"] == created["state"]["startedAt"]
    assert got["state"]["startedAt"] < got["state"]["finishedAt"]
    [listed] = (await client.get("/state")).json()["containers"]
    assert listed["state"] == got["state"]


async def test_containers_are_listed_in_the_order_they_were_created(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Oldest first, as the next server lists them after a crash or a reload (it orders the
    journal's records by creation): a start that replaces a stopped container is the newest.
    (Before, it took the place of the one it replaced, and a reload changed the order.)"""
    since = now()
    first = await start_container(client, "a", make_bundle(["true"]))
    await wait_exit(client, "a", first["processes"][0]["pid"], since)
    await start_container(client, "b", make_bundle(FOREVER))
    await start_container(client, "a", make_bundle(FOREVER))  # replaces the stopped one
    listed = (await client.get("/state")).json()["containers"]
    assert [c["id"] for c in listed] == ["b", "a"]
    assert listed[0]["createdAt"] < listed[1]["createdAt"]


async def test_state_follows_each_change(client: httpx.AsyncClient, bundle: Path) -> None:
    """GET /state keeps each container's encoded view between answers and encodes it again
    only when it changed: each change shows, as GET /containers/{id} (built afresh) shows it,
    in the same bytes (the kept view is encoded in parts, Container._encode_info)."""

    async def listed() -> dict[str, Any]:
        state = await client.get("/state")
        containers: list[dict[str, Any]] = state.json()["containers"]
        [entry] = [c for c in containers if c["id"] == "follow"]
        afresh = await client.get("/containers/follow")
        assert entry == afresh.json()
        assert afresh.content in state.content
        return entry

    created = await start_container(client, "follow", bundle)
    assert await listed() == created
    update = {"resources": {"pids": {"limit": 50}}}
    assert (await client.patch("/containers/follow", json=update)).status_code == 200
    assert (await listed())["resources"] == {"pids": {"limit": 50}}
    since = now()
    added = await client.put("/containers/follow/processes", json={"args": ["sleep", "1000"]})
    assert added.status_code == 201, added.text
    pid = added.json()["pid"]
    assert [p["pid"] for p in (await listed())["processes"]] == [
        created["processes"][0]["pid"],
        pid,
    ]
    await client.post(f"/containers/follow/process/{pid}", json={"signal": 9})
    await wait_exit(client, "follow", pid, since)
    assert (await listed())["processes"] == created["processes"]
    init = created["processes"][0]["pid"]
    await client.post(f"/containers/follow/process/{init}", json={"signal": 9})
    await wait_exit(client, "follow", init, since)
    entry = await listed()
    assert run_status(entry["state"]) == {"status": "stopped", "exitStatus": 137}
    assert entry["processes"] == []


async def test_death_by_signal_is_128_plus_n(client: httpx.AsyncClient, bundle: Path) -> None:
    since = now()
    created = await start_container(client, "killed", bundle)
    pid = created["processes"][0]["pid"]
    os.kill(pid, signal.SIGKILL)  # from outside the container, as an OOM killer would
    assert await wait_exit(client, "killed", pid, since) == 128 + signal.SIGKILL
    got = (await client.get("/containers/killed")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 137}


@pytest.mark.deadline(30)
async def test_delete_escalates_to_sigkill(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    created = await start_container(client, "stubborn", make_bundle(IGNORES_TERM))
    init = WatchedProcess(created["processes"][0]["pid"])
    await wait_ran(init.pid)  # a SIGTERM to runc's init ends it, 2
    began = trio.current_time()
    response = await client.delete("/containers/stubborn", params={"timeout": "1"})
    elapsed = trio.current_time() - began
    assert response.status_code == 200, response.text
    assert run_status(response.json()["state"]) == {"status": "stopped", "exitStatus": 137}
    assert elapsed >= 1.0  # it waited the grace period before SIGKILL
    assert init.ended()
    assert (await client.get("/containers/stubborn")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "stubborn").exists()


async def test_delete_lets_a_cooperative_container_exit(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    args = ["sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done"]
    await start_container(client, "polite", make_bundle(args))
    await wait_output(client, "polite", "ready")  # the trap is set
    response = await client.delete("/containers/polite", params={"timeout": "20"})
    assert response.status_code == 200
    assert run_status(response.json()["state"]) == {"status": "stopped", "exitStatus": 0}
    assert runc_ids(daemon.config.state_dir) == []


#: An init that ends on SIGQUIT (5) or SIGTERM (3): pid 1 takes only the signals it handles.
QUITS = (
    "sh",
    "-c",
    "trap 'exit 5' QUIT; trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done",
)


async def test_a_delete_that_names_none_takes_the_container_s_stop_signal_and_timeout(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker's StopSignal and StopTimeout (run --stop-signal, --stop-timeout): a start's
    stopSignal and stopTimeout are the container's (its view shows them, a start again keeps
    them), and a DELETE without timeout sends that signal first and waits that grace before
    its SIGKILL. Before, the start refused them (unknown field), and every delete sent SIGTERM
    and waited its timeout, 10 s unless given."""
    client = daemon.client
    with trio.fail_after(30):
        quits = make_bundle(QUITS)
        started = await start_container(client, "quits", quits, stopSignal="quit")
        assert started["stopSignal"] == "SIGQUIT" and "stopTimeout" not in started, started
        await wait_output(client, "quits", "ready")
        deleted = await client.delete("/containers/quits")  # no timeout: its own signal
        assert deleted.status_code == 200, deleted.text
        assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 5}
        # Named: the DELETE's timeout, still the container's signal.
        await start_container(client, "quits", quits, stopSignal=3)
        await wait_output(client, "quits", "ready")
        deleted = await client.delete("/containers/quits", params={"timeout": "30"})
        assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 5}

        # Its grace: SIGTERM ignored, SIGKILL once its 1 s passed (the default is 10).
        started = await start_container(client, "deaf", make_bundle(IGNORES_TERM), stopTimeout=1)
        assert started["stopTimeout"] == 1 and "stopSignal" not in started, started
        init = WatchedProcess(started["processes"][0]["pid"])
        await wait_ran(init.pid)  # a SIGTERM to runc's init ends it, 2
        deleted = await client.delete("/containers/deaf")
        assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 137}
        assert init.ended()

        # A start again (and a restart by its policy) keeps them; one without shows none.
        await start_container(client, "kept", make_bundle(QUITS), stopSignal="SIGRTMIN+3",
                              stopTimeout=-1)  # fmt: skip
        await wait_output(client, "kept", "ready")
        since = now()
        patched = await client.patch("/containers/kept", json={"signal": "KILL"})
        assert patched.status_code == 200, patched.text
        await next_event(
            client, since=since, container_id="kept", match=lambda e: e["type"] == "exit"
        )
        again = await client.post("/containers/kept/start")
        assert again.status_code == 201, again.text
        shown = (await client.get("/containers/kept")).json()
        assert (shown["stopSignal"], shown["stopTimeout"]) == ("SIGRTMIN+3", -1), shown
        plain = await start_container(client, "plain", make_bundle(FOREVER))
        assert "stopSignal" not in plain and "stopTimeout" not in plain, plain
        # Its SIGRTMIN+3 does not end it (an init is sent only the signals it handles): the
        # daemon's stop at the test's end would wait for it without end, as its -1 says.
        deleted = await client.delete("/containers/kept", params={"timeout": 0})
        assert deleted.status_code == 200, deleted.text


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"stopSignal": "NOPE"}, "stopSignal: unknown signal 'NOPE'"),
        ({"stopSignal": 0}, "stopSignal: signal 0 is out of range: it must be 1..64"),
        ({"stopSignal": ""}, "stopSignal: unknown signal ''"),
        ({"stopTimeout": -2}, "stopTimeout must be -1 (no SIGKILL"),
        ({"stopTimeout": 1.5}, "stopTimeout: expected an integer, got the number 1.5"),
        ({"stopTimeout": "10"}, "stopTimeout: expected an integer"),
    ],
)
async def test_a_bad_stop_signal_or_timeout_is_400(
    client: httpx.AsyncClient, bundle: Path, field: dict[str, Any], message: str
) -> None:
    response = await client.post("/containers/bad", json={"bundlePath": str(bundle), **field})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"], response.text
    assert (await client.get("/containers/bad")).status_code == 404


async def test_delete_ends_what_the_init_left_and_reports_each_exit(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A container in the host's pid namespace: the init's death does not end its other
    processes; the delete's ``runc delete --force`` does, and each one's exit is reported
    before the container's delete."""

    client = daemon.client
    since = now()
    created = await start_container(client, "shared", make_bundle(edit=_host_pids))
    answer = await client.put(
        "/containers/shared/processes", json={"args": ["sh", "-c", "echo up; exec sleep 1000"]}
    )
    assert answer.status_code == 201, answer.text
    pid = answer.json()["pid"]
    await wait_output(client, "shared", "up")  # the logger holds its pipes
    execd = WatchedProcess(pid)
    response = await client.delete("/containers/shared", params={"timeout": "5"})
    assert response.status_code == 200, response.text
    assert response.json()["processes"] == []
    assert execd.ended()
    assert runc_ids(daemon.config.state_dir) == []
    # start-container, start-process, then the two exits in either order, then the delete
    events = await collect_events(client, {"since": since, "id": "shared"}, 5)
    assert [e["type"] for e in events] == [
        "start-container",
        "start-process",
        "exit",
        "exit",
        "delete",
    ]
    exits = {e["pid"]: e["status"] for e in events if e["type"] == "exit"}
    init = created["processes"][0]["pid"]
    assert set(exits) == {init, pid}
    assert exits[init] == 128 + signal.SIGTERM  # not a pid 1, which would ignore it
    assert exits[pid] == 128 + signal.SIGKILL  # ended by runc delete --force


def _host_pids(config: dict[str, Any]) -> None:
    """A container in the host's pid namespace: its init's death ends no other process."""
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "pid"]


async def test_an_init_s_exit_ends_what_it_left_in_the_host_pid_namespace(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A container in the host's pid namespace: its init's death ends no other process of
    it, and the daemon ends them then (SIGKILL, ``runc kill --all``), as containerd's shim
    does (docker's ``exec -d`` into a ``--pid=host`` container ends with it): the process
    added to it exits 137, its exit reported (and answered to a wait on it) before the
    init's, and the container, stopped, lists no process. Before 2026-12-06 the added process
    ran on in the stopped container until its removal or a start of its id; a next server
    took it for the init."""
    client = daemon.client
    since = now()
    old = await start_container(client, "swap", make_bundle(edit=_host_pids))
    init = old["processes"][0]["pid"]
    answer = await client.put(
        "/containers/swap/processes", json={"args": ["sh", "-c", "echo up; exec sleep 1000"]}
    )
    assert answer.status_code == 201, answer.text
    pid = answer.json()["pid"]
    execd = WatchedProcess(pid)
    await wait_output(client, "swap", "up")
    waited: list[httpx.Response] = []

    async def wait_for_exec() -> None:
        waited.append(await client.post(f"/containers/swap/process/{pid}/wait"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_exec)
        await trio.testing.wait_all_tasks_blocked(0.05)  # the wait is in the daemon
        killed = await client.post(f"/containers/swap/process/{init}", json={"signal": 9})
        assert killed.is_success, killed.text
        assert await wait_exit(client, "swap", init, since) == 128 + signal.SIGKILL
        assert execd.ended(), "the added process outlived its container's init"
    assert waited[0].status_code == 200, waited[0].text
    assert waited[0].json()["exitStatus"] == 128 + signal.SIGKILL
    shown = (await client.get("/containers/swap")).json()
    assert (shown["state"]["status"], shown["processes"]) == ("stopped", []), shown
    events = await collect_events(client, {"since": since, "id": "swap"}, 4)
    assert [(e["type"], e.get("pid"), e.get("status")) for e in events] == [
        ("start-container", init, None),
        ("start-process", pid, None),
        ("exit", pid, 128 + signal.SIGKILL),
        ("exit", init, 128 + signal.SIGKILL),
    ]
    await start_container(client, "swap", make_bundle())  # replaces it, nothing left to end
    await client.delete("/containers/swap", params={"timeout": "0"})


@pytest.mark.deadline(30)
async def test_a_container_being_started(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Until its start answers, a container is not there for a query (a GET, its logs, GET
    /state), and its id is taken; a command (a DELETE, a wait) waits for the start and answers
    for what it left: a start that fails leaves nothing, a 404."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)

    def failing_hook(config: dict[str, Any]) -> None:
        # runc runs it before the container's process: it waits for the test, then fails.
        hook = {"path": "/bin/sh", "args": ["sh", "-c", f"read line < {gate}; exit 1"]}
        config["hooks"] = {"createRuntime": [hook]}

    client = daemon.client
    bundle = make_bundle(edit=failing_hook)
    started: list[httpx.Response] = []
    commanded: dict[str, httpx.Response] = {}

    async def start() -> None:
        started.append(await client.post("/containers/doomed", json={"bundlePath": str(bundle)}))

    async def command(method: str, path: str) -> None:
        commanded[method] = await client.request(method, path)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start)
        # Opening the fifo to write returns once the hook has it open to read: the start is
        # under way, runc in its hook.
        writer = await trio.to_thread.run_sync(partial(open, gate, "w"), abandon_on_cancel=True)
        with writer:
            nursery.start_soon(command, "POST", "/containers/doomed/wait")
            nursery.start_soon(command, "DELETE", "/containers/doomed")
            for method, path in [
                ("GET", "/containers/doomed"),
                ("GET", "/containers/doomed/logs"),
            ]:
                answer = await client.request(method, path)
                assert answer.status_code == 404, (method, path, answer.text)
                assert answer.json() == {"error": "container 'doomed' not found"}
            assert [c["id"] for c in (await client.get("/state")).json()["containers"]] == []
            again = await client.post("/containers/doomed", json={"bundlePath": str(bundle)})
            assert again.status_code == 409, again.text
            assert again.json() == {"error": "container 'doomed' is being started"}
            assert commanded == {}, {k: a.text for k, a in commanded.items()}
            writer.write("fail now\n")
    assert started[0].status_code == 500, started[0].text
    for method, answer in commanded.items():
        assert answer.status_code == 404, (method, answer.text)
        assert answer.json() == {"error": "container 'doomed' not found"}
    assert commanded.keys() == {"POST", "DELETE"}
    assert "runc run failed" in started[0].json()["error"]
    assert (await client.get("/containers/doomed")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "doomed").exists()
    # Its record is gone too: the journal, replayed as the next server would (from a copy),
    # holds no container.
    copy = tmp_path / "journal"
    copy.write_bytes(daemon.config.journal_path.read_bytes())
    entries = [json.loads(line) for line in copy.read_bytes().splitlines()]
    # It was recorded as it started, then removed...
    assert [next(iter(e)) for e in entries] == ["put", "remove"]
    assert entries[0]["put"]["container"]["id"] == entries[1]["remove"] == "doomed"
    journal = RecordJournal(copy)
    assert journal.load() == []  # ...so the next server has nothing to adopt
    journal.close()


async def test_a_start_that_fails_leaves_the_stopped_container_it_would_replace(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A start of a stopped container's id that fails leaves the id as it found it: the
    stopped container, its exit and its log, and no delete among the events. A start that
    succeeds then replaces it, log and all."""
    client = daemon.client
    since = now()
    old = await start_container(client, "keep", make_bundle(["sh", "-c", "echo first; exit 3"]))
    init = old["processes"][0]["pid"]
    assert await wait_exit(client, "keep", init, since) == 3
    await wait_output(client, "keep", "first")
    before = (await client.get("/containers/keep")).json()
    waited = (await client.post("/containers/keep/wait")).json()
    assert (waited["exitStatus"], waited["pid"]) == (3, init)

    failed = await client.post("/containers/keep", json={"bundlePath": str(make_bundle(["/nope"]))})
    assert failed.status_code == 400, failed.text
    assert "cannot run '/nope' in container 'keep'" in failed.json()["error"]
    assert (await client.get("/containers/keep")).json() == before
    assert [c["id"] for c in (await client.get("/state")).json()["containers"]] == ["keep"]
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["first\n"]
    assert (await client.post("/containers/keep/wait")).json() == waited
    assert runc_ids(daemon.config.state_dir) == []  # the failed start's removal stays
    assert sorted(os.listdir(daemon.config.containers_dir)) == ["keep"]  # nothing left aside
    # Its record is back as it was: the next server lists it stopped (a copy of the journal).
    copy = tmp_path / "journal"
    copy.write_bytes(daemon.config.journal_path.read_bytes())
    journal = RecordJournal(copy)
    [record] = journal.load()
    journal.close()
    assert record.container.state.status.value == "stopped"
    assert record.container.state.exit_status == 3

    again = await start_container(client, "keep", make_bundle(["sh", "-c", "echo second"]))
    await wait_output(client, "keep", "second")
    logged = (await client.get("/containers/keep/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["second\n"]  # a new log
    assert sorted(os.listdir(daemon.config.containers_dir)) == ["keep"]
    events = await collect_events(client, {"since": since, "id": "keep"}, 4)
    assert [(e["type"], e.get("pid")) for e in events] == [
        ("start-container", init),
        ("exit", init),
        ("delete", None),  # the old container's: published by the start that succeeded
        ("start-container", again["processes"][0]["pid"]),
    ]


async def test_a_stopped_container_that_cannot_be_replaced_stays_as_it_was(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """When runc cannot delete the stopped container a start would replace (or a DELETE
    would remove), the start (or the delete) fails and the container stays the stopped
    container it was, not half-deleted: a later delete removes it."""
    refuse = tmp_path / "refuse-delete"
    wrapper = refusing_runc(tmp_path, f"[ -e {refuse} ]")  # while the file is there
    daemon: RunningDaemon = await start_daemon(runtime=str(wrapper))
    client = daemon.client
    since = now()
    old_bundle = make_bundle(["sh", "-c", "echo old; exit 4"], edit=runc_deletes)
    old = await start_container(client, "stuck", old_bundle)
    assert await wait_exit(client, "stuck", old["processes"][0]["pid"], since) == 4
    await wait_output(client, "stuck", "old")
    before = (await client.get("/containers/stuck")).json()

    refuse.touch()
    failed = await client.post("/containers/stuck", json={"bundlePath": str(make_bundle())})
    assert failed.status_code == 500, failed.text
    assert "refused on cue" in failed.json()["error"]
    assert (await client.get("/containers/stuck")).json() == before
    logged = (await client.get("/containers/stuck/logs")).text.splitlines()
    assert [json.loads(line)["data"] for line in logged] == ["old\n"]
    assert runc_ids(daemon.config.state_dir) == ["stuck"]  # runc still has it, stopped
    copy = tmp_path / "journal"
    copy.write_bytes(daemon.config.journal_path.read_bytes())
    journal = RecordJournal(copy)
    [record] = journal.load()
    journal.close()
    assert not record.deleting  # not left for the next server to delete unasked

    # Nor does a delete that fails leave it half-deleted: a second one is not refused as
    # "being deleted", and deletes it once runc can.
    answer = await client.delete("/containers/stuck", params={"timeout": "0"})
    assert answer.status_code == 500, answer.text
    assert (await client.get("/containers/stuck")).json() == before
    refuse.unlink()
    answer = await client.delete("/containers/stuck", params={"timeout": "0"})
    assert answer.status_code == 200, answer.text
    assert runc_ids(daemon.config.state_dir) == []
    await start_container(client, "stuck", make_bundle())
    assert runc_state(daemon.config.state_dir, "stuck")["status"] == "running"


async def test_a_prune_removes_the_stopped_containers_and_says_which_it_could_not(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``DELETE /containers?status=stopped`` (docker's container prune): every stopped
    container goes, as its DELETE would remove it (its ``delete`` event, nothing left in
    runc); a running one stays (and one whose restart is due: test_restart_policy's
    prune test); one whose removal fails stays, stopped, named in ``failed`` with runc's
    words, and the others go on. Without ``status=stopped`` it is a 400 that removes
    nothing."""
    refuse = tmp_path / "refuse-delete"
    wrapper = refusing_runc(tmp_path, f"[ -e {refuse} ]")
    daemon: RunningDaemon = await start_daemon(runtime=str(wrapper))
    client = daemon.client
    since = now()
    await start_container(client, "live", make_bundle(FOREVER))
    for name, bundle in (
        ("done", make_bundle(["true"])),
        ("stuck", make_bundle(["true"], edit=runc_deletes)),  # its removal is runc's
        ("last", make_bundle(["true"])),
    ):
        await start_container(client, name, bundle)
        assert (await client.post(f"/containers/{name}/wait")).status_code == 200

    for params in ({}, {"status": "running"}):
        refused = await client.delete("/containers", params=params)
        assert refused.status_code == 400, refused.text
        assert "status" in refused.json()["error"], refused.text
    refuse.touch()
    answer = await client.delete("/containers", params={"status": "stopped"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert [c["id"] for c in report["deleted"]] == ["done", "last"], report
    assert [c["state"]["status"] for c in report["deleted"]] == ["stopped", "stopped"]
    [failure] = report["failed"]
    assert failure["id"] == "stuck" and "refused on cue" in failure["error"], failure
    listed = {c["id"]: c["state"] for c in (await client.get("/state")).json()["containers"]}
    assert listed.keys() == {"live", "stuck"}, listed
    assert listed["stuck"]["status"] == "stopped" and listed["live"]["status"] == "running"
    assert sorted(runc_ids(daemon.config.state_dir)) == ["live", "stuck"]
    for name in ("done", "last"):
        types = await event_types(client, since=since, container_id=name, count=3)
        assert types == ["start-container", "exit", "delete"], (name, types)


async def test_a_prune_says_a_stopped_container_a_command_holds_and_does_not_wait_for_it(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """An exec held in runc holds ``held``'s lock while its init exits: the prune removes the
    others at once and names ``held`` in ``failed``, kept. Before, it waited for the exec to
    end (a move's hold: up to its checkpoint deadline), every container after ``held`` with
    it, and ``held`` refused other commands meanwhile as being deleted."""
    gated = GatedRunc(tmp_path, "exec", once=True)
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    await start_container(client, "held", make_bundle(["sleep", "1"]))
    await start_container(client, "after", make_bundle(["true"]))
    assert (await client.post("/containers/after/wait")).status_code == 200
    answers: dict[str, httpx.Response] = {}

    async def exec_in_held() -> None:
        answers["exec"] = await client.put("/containers/held/processes", json={"args": ["true"]})

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(exec_in_held)
            await gated.reached()  # the exec holds the lock, its runc exec held
            assert (await client.post("/containers/held/wait")).status_code == 200
            pruned = await client.delete("/containers", params={"status": "stopped"})
            assert pruned.status_code == 200, pruned.text
            report = pruned.json()
            assert [c["id"] for c in report["deleted"]] == ["after"], report
            [failure] = report["failed"]
            assert failure["id"] == "held", failure
            assert "another command holds it" in failure["error"], failure
            await trio.Path(gated.gate).write_text("go\n")
    assert answers["exec"].status_code in (201, 409), answers["exec"].text
    held = (await client.get("/containers/held")).json()
    assert held["state"]["status"] == "stopped", held
    gone = await client.delete("/containers", params={"status": "stopped"})
    assert [c["id"] for c in gone.json()["deleted"]] == ["held"], gone.text


@pytest.mark.deadline(30)
async def test_commands_on_a_container_being_deleted_are_refused_at_once(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """While a delete waits for the container to stop, another delete, an exec, a pause, a
    change of limits or a stop answers 409 at once, where it would have waited for the delete and
    then found nothing. A signal and a GET still answer."""
    client = daemon.client
    # pid 1 with a handler: SIGTERM is seen (and said) but does not end it.
    script = "trap 'echo got-term' TERM; echo up; while true; do sleep 1; done"
    await start_container(client, "slow", make_bundle(["sh", "-c", script]))
    await wait_output(client, "slow", "up")
    deleted: list[httpx.Response] = []

    async def delete() -> None:
        deleted.append(await client.delete("/containers/slow", params={"timeout": "3"}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete)
        await wait_output(client, "slow", "got-term")  # the delete is under way
        refused = "container 'slow' is being deleted"
        with trio.fail_after(2):  # at once: not after the delete's 3 s
            for method, path, body in [
                ("DELETE", "/containers/slow", None),
                ("PUT", "/containers/slow/processes", {"args": ["true"]}),
                ("PATCH", "/containers/slow", {"status": "paused"}),
                ("PATCH", "/containers/slow", {"status": "running"}),
                ("PATCH", "/containers/slow", {"resources": {"pids": {"limit": 50}}}),
                ("POST", "/containers/slow/checkpoint/c1", None),
                ("POST", "/containers/slow/migrate", {"to": "127.0.0.1:1"}),
                ("POST", "/containers/slow", {"bundlePath": str(make_bundle())}),
                ("POST", "/containers/slow/stop", None),
            ]:
                answer = await client.request(method, path, json=body)
                assert answer.status_code == 409, (method, path, answer.text)
                assert answer.json() == {"error": refused}, (method, path)
            assert (await client.get("/containers/slow")).status_code == 200
            answer = await client.patch("/containers/slow", json={"signal": "USR1"})
            assert answer.status_code == 200, answer.text
        assert not deleted  # the delete still waits out its timeout
    assert deleted[0].status_code == 200, deleted[0].text
    assert deleted[0].json()["state"]["exitStatus"] == 128 + signal.SIGKILL
    assert (await client.get("/containers/slow")).status_code == 404


@pytest.mark.parametrize("stop_timeout", [-1, 60])
async def test_a_forced_delete_ends_a_delete_waiting_for_the_stop_and_answers_its_end(
    daemon: RunningDaemon, make_bundle: BundleFactory, stop_timeout: int
) -> None:
    """docker's ``rm -f`` while a delete waits for the container to stop (a ``stopTimeout``
    of -1, or a long one, with an init that ignores its stop signal): SIGKILL now, and both
    DELETEs answer 200 with the container as it ended. Until 2026-12-06 the forced one was a
    409 (being deleted), and with -1 only a signal could end the first."""
    client = daemon.client
    script = "trap 'echo got-term' TERM; echo up; while true; do sleep 1; done"
    bundle = make_bundle(["sh", "-c", script])
    await start_container(client, "endless", bundle, stopTimeout=stop_timeout)
    await wait_output(client, "endless", "up")
    deleted: list[httpx.Response] = []

    async def delete() -> None:
        deleted.append(await client.delete("/containers/endless"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete)
        await wait_output(client, "endless", "got-term")  # the delete is under way
        with trio.fail_after(10):  # not after the stop's timeout, -1: never
            forced = await client.delete("/containers/endless", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert deleted[0].status_code == 200, deleted[0].text
    for answer in (forced, deleted[0]):
        assert run_status(answer.json()["state"]) == {"status": "stopped", "exitStatus": 137}
    assert (await client.get("/containers/endless")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []


async def test_delete_stopped_container(daemon: RunningDaemon, make_bundle: BundleFactory) -> None:
    client = daemon.client
    since = now()
    created = await start_container(client, "done", make_bundle(["true"]))
    await wait_exit(client, "done", created["processes"][0]["pid"], since)
    assert runc_ids(daemon.config.state_dir) == ["done"]  # stopped, still known to runc
    response = await client.delete("/containers/done")
    assert response.status_code == 200
    assert response.json()["state"]["exitStatus"] == 0
    assert runc_ids(daemon.config.state_dir) == []
    event = await next_event(
        client, since=since, container_id="done", match=lambda e: e["type"] == "delete"
    )
    assert event["id"] == "done"


async def test_a_delete_of_a_stopped_container_only_refuses_a_live_one_leaving_it_as_it_was(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``DELETE ?status=stopped`` is docker's rm without -f: a running or a paused container
    is a 409 that names its state in docker's words, and runs on, the same init, its log and
    record there, no signal sent; a stopped one is removed. Before, there was no such
    parameter (a 400), and ctr-trio's rm sent the plain DELETE, which stopped and removed
    the container a docker user's rm of the wrong id named. With force or timeout, a 400."""
    client = daemon.client
    since = now()
    started = await start_container(client, "o3-live", make_bundle(COUNTER))
    pid = started["processes"][0]["pid"]
    with trio.fail_after(30):
        await wait_output(client, "o3-live", "3")
        for state in ("running", "paused"):
            if state == "paused":
                paused = await client.patch("/containers/o3-live", json={"status": "paused"})
                assert paused.status_code == 200, paused.text
            refused = await client.delete("/containers/o3-live", params=STOPPED_ONLY)
            assert (refused.status_code, refused.json()) == (
                409,
                {"error": not_removable("o3-live", state)},
            ), state
            got = (await client.get("/containers/o3-live")).json()
            assert (got["state"]["status"], got["processes"][0]["pid"]) == (state, pid)
        assert (await client.patch("/containers/o3-live", json={"status": "running"})).is_success
        assert pid_alive(pid)
        logged = await client.get("/containers/o3-live/logs")
        assert json.loads(logged.text.splitlines()[0])["data"] == "1\n", logged.text
        await wait_output(client, "o3-live", "12")  # it counts on
        assert runc_state(daemon.config.state_dir, "o3-live")["status"] == "running"
        for extra in ({"force": "true"}, {"timeout": "0"}):
            bad = await client.delete("/containers/o3-live", params={**STOPPED_ONLY, **extra})
            assert (bad.status_code, bad.json()) == (
                400,
                {
                    "error": "give status=stopped alone: it removes a stopped container only,"
                    " which has no stop to force or to give a grace"
                },
            ), extra
        killed = await client.patch("/containers/o3-live", json={"signal": "KILL"})
        assert killed.status_code == 200, killed.text
        assert await wait_exit(client, "o3-live", pid, since) == 128 + signal.SIGKILL
        removed = await client.delete("/containers/o3-live", params=STOPPED_ONLY)
        assert removed.status_code == 200, removed.text
        assert removed.json()["state"]["exitStatus"] == 128 + signal.SIGKILL
    assert (await client.get("/containers/o3-live")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []


async def test_stopped_record_is_replaced(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    first = await start_container(client, "again", make_bundle(["sh", "-c", "exit 5"]))
    await wait_exit(client, "again", first["processes"][0]["pid"], since)
    second = await start_container(client, "again", make_bundle(FOREVER))
    assert run_status(second["state"]) == {"status": "running"}
    assert second["processes"][0]["pid"] != first["processes"][0]["pid"]
    assert len((await client.get("/state")).json()["containers"]) == 1
    kinds = await event_types(client, since=since, container_id="again", count=4)
    assert kinds == ["start-container", "exit", "delete", "start-container"]


@pytest.mark.deadline(60)
async def test_commands_during_a_start_wait_for_it(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A command sent while the start of a new id is under way (runc run held) waits for the
    start and acts on the container it leaves, as it does during a start again or a restore
    over a stopped container: a signal, a wait for the exit and a DELETE sent right after the
    start (docker's commands wait for its start). Before, each was a 404 "not found" for a
    container there a moment later (its 201 after), which ran on. A GET stays a 404 until
    the start answers (docs/api.md)."""
    gated = GatedRunc(tmp_path, "run")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    answers: dict[str, httpx.Response] = {}

    async def ask(name: str, method: str, path: str, **kwargs: Any) -> None:
        answers[name] = await client.request(method, path, **kwargs)

    with trio.fail_after(50):
        async with trio.open_nursery() as nursery:
            body = {"bundlePath": str(make_bundle(FOREVER))}
            nursery.start_soon(partial(ask, "start", "POST", "/containers/held", json=body))
            await gated.reached()  # the start is in runc run
            nursery.start_soon(partial(ask, "wait", "POST", "/containers/held/wait"))
            nursery.start_soon(
                partial(ask, "kill", "PATCH", "/containers/held", json={"signal": "KILL"})
            )
            await trio.testing.wait_all_tasks_blocked()
            assert (await client.get("/containers/held")).status_code == 404
            # Neither answered: each waits for the start.
            assert not answers.keys() & {"wait", "kill"}, {k: a.text for k, a in answers.items()}
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["start"].status_code == 201, answers["start"].text
        pid = answers["start"].json()["processes"][0]["pid"]
        assert answers["kill"].status_code == 200, answers["kill"].text
        assert answers["wait"].status_code == 200, answers["wait"].text
        assert answers["wait"].json()["exitStatus"] == 128 + signal.SIGKILL
        assert answers["wait"].json()["pid"] == pid

        async with trio.open_nursery() as nursery:
            body = {"bundlePath": str(make_bundle(FOREVER))}
            nursery.start_soon(partial(ask, "start", "POST", "/containers/gone", json=body))
            await gated.reached()
            nursery.start_soon(
                partial(ask, "delete", "DELETE", "/containers/gone", params={"force": "true"})
            )
            await trio.testing.wait_all_tasks_blocked()
            assert "delete" not in answers, answers["delete"].text
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["start"].status_code == 201, answers["start"].text
        assert answers["delete"].status_code == 200, answers["delete"].text
        assert answers["delete"].json()["id"] == "gone"
        assert (await client.get("/containers/gone")).status_code == 404
        assert sorted(runc_ids(daemon.config.state_dir)) == ["held"]


async def test_a_start_over_a_stopped_container_waits_for_a_command_that_holds_it(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A PATCH of limits whose runc update the init's exit overtook (held here, the exit let
    come meanwhile) holds the stopped container's lock. A start of its id then waits for the
    PATCH's end and replaces the stopped container, as a start again waits for it
    (tests/test_start_again.py): before, it was a 409 "container 'racy' already exists and is
    stopped", which no rule of the start says (a stopped container is replaced), and the
    same start a moment later was a 201."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    answers: dict[str, httpx.Response] = {}

    async def update() -> None:
        change = {"resources": {"pids": {"limit": 33}}}
        answers["patch"] = await client.patch("/containers/racy", json=change)

    async def start() -> None:
        body = {"bundlePath": str(make_bundle(FOREVER))}
        answers["start"] = await client.post("/containers/racy", json=body)

    with trio.fail_after(30):
        started = await start_container(client, "racy", make_bundle())
        pid = started["processes"][0]["pid"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(update)
            await gated.reached()  # the PATCH's runc update, holding the container
            since = now()
            os.kill(pid, signal.SIGKILL)  # not the daemon's signal
            await wait_exit(client, "racy", pid, since)
            nursery.start_soon(start)
            await trio.testing.wait_all_tasks_blocked()
            supervisor = daemon.daemon.supervisor
            assert supervisor is not None
            # The start waits for the lock the PATCH holds, and has not answered.
            assert "start" not in answers, answers["start"].text
            assert supervisor.container("racy").lock.statistics().tasks_waiting == 1
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["patch"].status_code == 200, answers["patch"].text
        assert answers["start"].status_code == 201, answers["start"].text
        new = answers["start"].json()
        assert run_status(new["state"]) == {"status": "running"}
        assert new["processes"][0]["pid"] != pid
        assert runc_ids(daemon.config.state_dir) == ["racy"]
        listed = (await client.get("/state")).json()["containers"]
        assert [(c["id"], c["state"]["status"]) for c in listed] == [("racy", "running")]
        # The PATCH's update came first, then the start's removal of the stopped container.
        kinds = await event_types(client, since=since, container_id="racy", count=4)
        assert kinds == ["exit", "update", "delete", "start-container"]
    await client.delete("/containers/racy", params={"timeout": 0})


async def test_no_zombies_left(client: httpx.AsyncClient, make_bundle: BundleFactory) -> None:
    since = now()
    pids = []
    for n in range(4):
        created = await start_container(client, f"z{n}", make_bundle(["sh", "-c", f"exit {n}"]))
        pids.append(created["processes"][0]["pid"])
    for n, pid in enumerate(pids):
        assert await wait_exit(client, f"z{n}", pid, since) == n
    for n in range(4):
        assert (await client.delete(f"/containers/z{n}")).status_code == 200
    assert zombie_children() == []


# --- errors ---------------------------------------------------------------------------------


async def test_unknown_container_is_404(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/containers/ghost"),
        ("DELETE", "/containers/ghost"),
        ("PATCH", "/containers/ghost"),
        ("PUT", "/containers/ghost/processes"),
    ]:
        # GET and DELETE take no body (it was sent them, and ignored, before a body-less
        # route refused a field).
        body = {"GET": None, "DELETE": None, "PATCH": {"status": "paused"}}.get(
            method, {"args": ["true"]}
        )
        response = await client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"error": "container 'ghost' not found"}


async def test_running_id_is_409(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "busy", bundle)
    response = await client.post("/containers/busy", json={"bundlePath": str(bundle)})
    assert response.status_code == 409
    assert "already exists and is running" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"bundlePath": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "missing required field 'bundlePath'"),
        ('{"bundlePath": 7}', "bundlePath: expected a string"),
        ('{"bundlePath": "/x", "colour": "red"}', "unknown field 'colour'"),
        ('{"bundlePath": "relative/path"}', "must be an absolute path"),
        ('{"bundlePath": "/nonexistent/bundle"}', "is not a directory"),
        ('{"bundlePath": "/tmp"}', "has no config.json"),
        ('{"bundlePath": "/tmp", "labels": ["a"]}', "labels: expected an object"),
        # Which of the two was meant cannot be told (the last one was taken, without a word).
        (
            '{"bundlePath": "/tmp", "bundlePath": "/x"}',
            "the request body names 'bundlePath' 2 times in one object: give it once",
        ),
        (
            '{"bundlePath": "/tmp", "labels": {"a": "1", "b": "2", "a": "3"}}',
            "the request body names 'a' 2 times in one object: give it once",
        ),
    ],
)
async def test_bad_start_request_is_400(client: httpx.AsyncClient, body: str, message: str) -> None:
    response = await client.post("/containers/bad", content=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await client.get("/containers/bad")).status_code == 404


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"": "x"}, "labels holds a label with an empty name: give every label a name"),
        ({"a\0b": "x"}, "label 'a\\x00b' in labels has a control character ('\\x00') in its name"),
        ({"team\n": "x"}, "label 'team\\n' in labels has a control character ('\\n') in its"),
        ({"a\x7f": "x"}, "label 'a\\x7f' in labels has a control character ('\\x7f')"),
        ({"a\x85": "x"}, "label 'a\\x85' in labels has a control character ('\\x85')"),  # C1
        ({"team": "in\0fra"}, "label 'team' in labels has NUL in its value: a value may not"),
    ],
)
async def test_a_label_no_one_can_read_back_is_400(
    client: httpx.AsyncClient, bundle: Path, labels: dict[str, str], message: str
) -> None:
    """An empty label name, a control character in a name, or NUL in a value, were kept (and
    a name with a newline listed as two lines by ps): refused, naming the label, and nothing
    is made. A value keeps its tabs and newlines (ps shows them in their cell)."""
    response = await client.post(
        "/containers/labelled", json={"bundlePath": str(bundle), "labels": labels}
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"], response.text
    assert (await client.get("/containers/labelled")).status_code == 404
    kept = {"team": "in\tfra\nstructure", "é名": "x", "a.b/c-d_e": ""}
    started = await start_container(client, "labelled", bundle, labels=kept)
    assert started["labels"] == kept


async def test_a_bundle_path_with_dot_dot_is_400_on_every_route_that_takes_one(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """bundlePath /containers/../containers/redis was taken and kept as written (the container
    listed under it, runc given it). ".." is refused, not resolved: the kernel takes it after a
    symbolic link, where reading it away would name another directory, and the daemon takes a
    bundle's path as its client wrote it, links included (security.md). Every route that takes
    a bundle's path: start, restore, the checkpoint routes, import, migrate, the target's
    session."""
    dotted = f"{bundle.parent}/../{bundle.parent.name}/{bundle.name}"
    assert Path(dotted).resolve() == bundle.resolve()
    query = {"bundlePath": dotted}
    for response in (
        await client.post("/containers/dots", json={"bundlePath": dotted}),
        await client.post("/containers/dots", json={"bundlePath": dotted, "checkpoint": "cp"}),
        await client.get("/containers/dots/checkpoint", params=query),
        await client.delete("/containers/dots/checkpoint/cp", params=query),
        await client.get("/containers/dots/checkpoint/cp/archive", params=query),
        await client.put("/containers/dots/checkpoint/cp/archive", params=query, content=b"x"),
        await client.post(
            "/containers/dots/migrate", json={"to": "127.0.0.1:1", "targetBundlePath": dotted}
        ),
        await client.post(
            "/migrations", json={"id": "dots", "bundlePath": dotted, "checkpoint": "cp"}
        ),
    ):
        assert response.status_code == 400, (response.request.url, response.text)
        error = response.json()["error"]
        assert "undlePath must not hold '..': " in error, error
        assert quoted(dotted) in error or dotted[:40] in error, error
    assert (await client.get("/containers/dots")).status_code == 404
    assert (await client.get("/state")).json()["containers"] == []
    started = await start_container(client, "dots", bundle)  # by its path, as ever
    assert started["bundlePath"] == str(bundle)


async def test_a_bundle_path_that_cannot_be_opened_is_400(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A path the kernel refuses to open (here a loop of links: ELOOP; EACCES and EIO come the
    same way) is the client's, not the daemon's fault: it was a 500 with a traceback."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for bundle_path in (loop, loop / "bundle"):
        response = await client.post("/containers/bad", json={"bundlePath": str(bundle_path)})
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": f"bundlePath {quoted(str(bundle_path))} cannot be opened:"
            " Too many levels of symbolic links"
        }
    assert (await client.get("/containers/bad")).status_code == 404


@pytest.mark.parametrize(
    "container_id",
    [
        "%2E%2E",
        ".hidden",
        "a" * 129,
        "b" * 200,
        "has space",
        "semi;colon",
        "a%2Fb",
        "a%00b",
        "%2E%2E%2Fetc",
    ],
)
async def test_invalid_id_is_400(
    client: httpx.AsyncClient, bundle: Path, container_id: str
) -> None:
    response = await client.post(f"/containers/{container_id}", json={"bundlePath": str(bundle)})
    assert response.status_code == 400, response.text
    assert "invalid container id" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/containers/a%20b", invalid_id("a b")),  # the words of any invalid id
        ("GET", "/containers/a%2Fb", invalid_id("a/b")),
        ("GET", "/containers/a%2Fb/logs", invalid_id("a/b")),
        ("DELETE", "/containers/a%2Fb", invalid_id("a/b")),
        ("GET", "/containers/a%00b", invalid_id("a\0b")),
        ("GET", "/containers/%2E%2E%2F", invalid_id("../")),
        ("POST", "/containers/web/checkpoint/c%2F1", invalid_id("c/1", "checkpoint name")),
        ("GET", "/containers/a%2Fb/checkpoint/c%2F1/archive", invalid_id("a/b")),
        ("GET", "/migrations/m%2F1", invalid_id("m/1", "migration id")),
        ("POST", "/containers/web/process/1%2F2", "pid must be a whole number, not '1/2'"),
        (
            "GET",
            "/containers/web/a%2Fb",
            "invalid path segment 'a/b': no part of a path may hold '/' or NUL, encoded (%2F,"
            " %00) or not",
        ),
    ],
)
async def test_an_encoded_slash_is_refused_as_any_invalid_value_of_its_place(
    client: httpx.AsyncClient, method: str, path: str, message: str
) -> None:
    """An id the client had to percent-encode (as ``ctr-trio`` and every HTTP library send
    ``a/b``) is refused by the rule of the path's parameter it stands in, in the same words as
    an id with a space (``invalid container id 'a/b': it must match ... (letters, digits,
    ...)``), named as the client meant it. Until 2026-12 it got a shorter sentence of its own,
    ``invalid container id or checkpoint name 'a/b'`` wherever it was, a pid's place too."""
    response = await client.request(method, path)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": message}


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("-1", "timeout must be 0 or more"),
        ("soon", "timeout must be a number"),
        ("nan", "timeout must be a number, not 'nan'"),
        ("inf", "timeout must be a number, not 'inf'"),
    ],
)
async def test_bad_delete_timeout_is_400(
    client: httpx.AsyncClient, bundle: Path, timeout: str, message: str
) -> None:
    await start_container(client, "t", bundle)
    response = await client.delete("/containers/t", params={"timeout": timeout})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await client.get("/containers/t")).json()["state"]["status"] == "running"


async def test_body_too_large_is_413(start_daemon: object, bundle: Path) -> None:
    daemon: RunningDaemon = await start_daemon(max_body_bytes=1000)  # type: ignore[operator]
    big = '{"bundlePath": "' + "x" * 2000 + '"}'
    response = await daemon.client.post("/containers/big", content=big)
    assert response.status_code == 413
    assert "larger than the limit of 1000 bytes" in response.json()["error"]
    assert (await daemon.client.get("/state")).status_code == 200


def _without_uts_namespace(bundle: Path) -> Path:
    """A bundle runc refuses: a hostname without a UTS namespace of its own."""
    config = json.loads((bundle / "config.json").read_text())
    config["hostname"] = "box"
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "uts"]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


@pytest.mark.parametrize(
    ("broken", "status", "message"),
    [
        (
            lambda make: _without_uts_namespace(make()),
            500,
            "runc run failed: unable to set hostname without a private UTS namespace",
        ),
        # The client's program, not runc's fault (Docker answers 400 too).
        (
            lambda make: make(["/no/such/binary"]),
            400,
            "cannot run '/no/such/binary' in container 'broken': no such file or directory"
            " (the program of process.args in ",
        ),
        (
            lambda make: make(["nosuch"]),
            400,
            "cannot run 'nosuch' in container 'broken': executable file not found in $PATH",
        ),
        # runc makes a cwd that is not there; one under a file it cannot (it was a 500).
        (
            lambda make: make(edit=lambda config: config["process"].update(cwd="/bin/sh/x")),
            400,
            "cannot use cwd '/bin/sh/x' in container 'broken': not a directory (process.cwd in ",
        ),
    ],
)
async def test_a_start_runc_refuses_says_why_and_leaves_nothing(
    daemon: RunningDaemon,
    make_bundle: BundleFactory,
    broken: Callable[[BundleFactory], Path],
    status: int,
    message: str,
) -> None:
    await daemon.client.get("/state")  # the keep-alive connection is open before counting
    fds_before = sorted(os.listdir("/proc/self/fd"))
    bundle = broken(make_bundle)
    response = await daemon.client.post("/containers/broken", json={"bundlePath": str(bundle)})
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(message)
    # Nothing half-made: not listed, not in runc, no files, no fds.
    assert (await daemon.client.get("/containers/broken")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "broken").exists()
    assert sorted(os.listdir("/proc/self/fd")) == fds_before
    assert zombie_children() == []


_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: A stack limit under which execve takes 256 KiB of arguments and environment (a quarter),
#: whatever the test machine's own is; and more than that.
_STACK_1_MIB = [{"type": "RLIMIT_STACK", "soft": 1 << 20, "hard": 1 << 20}]
_300_KB = [f"A{n}=" + "x" * 100_000 for n in range(3)]


def _root_a_link(bundle: Path, config: dict[str, Any]) -> None:
    (bundle / "link").symlink_to("rootfs")
    config["root"]["path"] = "link"


#: config.json edits that runc refused in a 500 ("runc run failed: args must not be empty"),
#: or took and then failed in words of no help, and what the daemon's 400 says instead.
_UNSTARTABLE: dict[str, tuple[Callable[[Path, dict[str, Any]], object], str]] = {
    "empty object": (lambda _, c: c.clear(), "{config} has no process object"),
    "no process.args": (
        lambda _, c: c["process"].pop("args"),
        "process.args in {config} must be a list of strings, the program to run first",
    ),
    "empty process.args": (
        lambda _, c: c["process"].update(args=[]),
        "process.args in {config} must be a list of strings",
    ),
    "no process.cwd": (
        lambda _, c: c["process"].pop("cwd"),
        "process.cwd in {config} must be an absolute path",
    ),
    "no root": (lambda _, c: c.pop("root"), "{config} names no root.path"),
    # runc took the bundle itself for the rootfs: "cannot run 'sleep'", a 400 that misled.
    "no root.path": (lambda _, c: c["root"].pop("path"), "{config} names no root.path"),
    "root.path not there": (
        lambda _, c: c["root"].update(path="nope"),
        "root.path in {config} names {bundle}/nope: No such file or directory",
    ),
    "root.path a file": (
        lambda _, c: c["root"].update(path="config.json"),
        "root.path in {config} names {bundle}/config.json, which is not a directory (it is a"
        " regular file)",
    ),
    "root.path a link": (
        _root_a_link,
        "root.path in {config} names {bundle}/link, a symbolic link",
    ),
    # These were a 201, and then the process "exited 1": "argument list too long".
    "an env string too long": (
        lambda _, c: c["process"].update(env=[_PATH, "A=" + "x" * 131070]),
        "process.env[1] in {config} is 131072 bytes: a process's argument or environment string"
        " may be at most 131071 bytes",
    ),
    "args and env too long": (
        lambda _, c: c["process"].update(rlimits=_STACK_1_MIB, env=[_PATH, *_300_KB]),
        "process.args and process.env in {config} come to 300",
    ),
    "too many groups": (
        lambda _, c: c["process"]["user"].update(additionalGids=list(range(65537))),
        "{config}: process.user.additionalGids holds 65537 gids: a process may have at most 65536",
    ),
}


@pytest.mark.parametrize("case", list(_UNSTARTABLE))
async def test_a_config_runc_cannot_start_from_is_400_before_runc(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path, case: str
) -> None:
    """Each was a 500 in runc's words (and a failed runc run in the metrics), a 400 naming the
    wrong program, or a 201 whose process then "exited 1": now a 400 that names the field and
    the file, and no runc command runs."""
    edit, message = _UNSTARTABLE[case]
    bundle = make_bundle()
    config = json.loads((bundle / "config.json").read_text())
    edit(bundle, config)
    (bundle / "config.json").write_text(json.dumps(config))
    client = daemon.client
    response = await client.post("/containers/broken", json={"bundlePath": str(bundle)})
    assert response.status_code == 400, response.text
    expected = message.format(config=bundle / "config.json", bundle=bundle)
    assert response.json()["error"].startswith(expected)
    # Nothing half-made, and runc never ran: not listed, not in runc, not in the journal.
    assert (await client.get("/containers/broken")).status_code == 404
    assert (await client.get("/state")).json()["containers"] == []
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "broken").exists()
    assert 'command="run"' not in (await client.get("/metrics")).text
    copy = tmp_path / "journal"
    copy.write_bytes(daemon.config.journal_path.read_bytes())
    journal = RecordJournal(copy)
    assert journal.load() == []
    journal.close()


async def test_a_rootfs_path_through_a_symbolic_link_is_400(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """runc refuses a root.path with a link in the middle (the daemon's lstat sees the last
    part only): that was runc's 500, "invalid rootfs: not an absolute path, or a symlink". Now
    the 400 names the link, and nothing is left."""
    real = make_bundle()
    (tmp_path / "via").symlink_to(real)

    def through_link(config: dict[str, Any]) -> None:
        config["root"]["path"] = str(tmp_path / "via" / "rootfs")

    bundle = make_bundle(edit=through_link)
    client = daemon.client
    response = await client.post("/containers/linked", json={"bundlePath": str(bundle)})
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": f"root.path in {bundle / 'config.json'} names {tmp_path / 'via' / 'rootfs'},"
        f" whose part {tmp_path / 'via'} is a symbolic link: runc takes the root filesystem"
        " only by a path without one"
    }
    assert (await client.get("/state")).json()["containers"] == []
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "linked").exists()
    # The same bundle, its root named by the real path, starts.
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(real / "rootfs")
    (bundle / "config.json").write_text(json.dumps(config))
    await start_container(client, "linked", bundle)


async def test_a_rootfs_named_absolute_or_beside_the_bundle_starts(
    client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """What runc takes is not refused: root.path relative to the bundle (up a level too), or
    absolute."""
    shared = make_bundle()
    for n, path in enumerate([str(shared / "rootfs"), f"../{shared.name}/rootfs"]):

        def elsewhere(config: dict[str, Any], path: str = path) -> None:
            config["root"]["path"] = path

        bundle = make_bundle(edit=elsewhere)
        await start_container(client, f"c{n}", bundle)


async def test_invalid_config_json_is_400_before_runc(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    bad = make_bundle()
    (bad / "config.json").write_text("{ this is not json")
    response = await daemon.client.post("/containers/badjson", json={"bundlePath": str(bad)})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "config.json is not valid JSON: Expecting property name" in message
    assert "this is not json" not in message  # where it broke, never what it says
    assert runc_ids(daemon.config.state_dir) == []


@pytest.mark.deadline(30)
async def test_runtime_deadline_is_504_and_rolls_back(
    start_daemon: object, tmp_path: Path, bundle: Path
) -> None:
    hung = tmp_path / "hung-runc"
    hung.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = run ] && exec sleep 60; done\nexec runc "$@"\n'
    )
    hung.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(runtime=str(hung), runtime_timeout=1.0)  # type: ignore[operator]
    response = await daemon.client.post("/containers/slow", json={"bundlePath": str(bundle)})
    assert response.status_code == 504
    assert "did not finish within 1 seconds" in response.json()["error"]
    assert (await daemon.client.get("/containers/slow")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []
    assert zombie_children() == []


@pytest.mark.deadline(30)
async def test_a_start_past_its_deadline_leaves_no_cgroup(
    start_daemon: object, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    """runc run killed at the runtime deadline once it made the container's cgroups (held
    in a hook): the roll-back removes them all, the one runc 1.1 makes in a hybrid host's
    cgroup v2 hierarchy (under its root) too, which runc's delete of a container it never
    recorded does not know. Before, that one stayed, empty."""
    hook = HeldHook(tmp_path)
    daemon: RunningDaemon = await start_daemon(runtime_timeout=1.0)  # type: ignore[operator]
    container_id = f"past-deadline-{os.getpid()}"  # the v2 one is the host's, not the test's
    body = {"bundlePath": str(make_bundle(edit=hook.edit))}
    made = [own_cgroup("pids") / container_id, own_cgroup("freezer") / container_id]
    if UNIFIED.is_dir():
        made.append(UNIFIED / container_id)
    answers: list[httpx.Response] = []

    async def start() -> None:
        answers.append(await daemon.client.post(f"/containers/{container_id}", json=body))

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(start)
            await hook.reached()
            assert [path for path in made if path.is_dir()] == made
        assert answers[0].status_code == 504, answers[0].text
        assert [path for path in made if path.is_dir()] == []
        assert runc_ids(daemon.config.state_dir) == []
    finally:
        await hook.release()
        for path in made:  # what a failure left
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /containers/x HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        b"POST /containers/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /state HTTP/1.1\r\n\r\n",  # no Host
        b"GET /state HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n",
    ],
)
async def test_what_http_cannot_read_is_a_json_400(
    daemon: RunningDaemon, request_bytes: bytes
) -> None:
    """Hypercorn answers these itself (the app never sees them): with {"error": ...} too."""
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(request_bytes)
    with trio.fail_after(10):
        answer = await read_to_eof(stream)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/json" in head.lower()
    assert "not valid HTTP/1.1" in json.loads(body)["error"]
    assert (await daemon.client.get("/state")).status_code == 200


@pytest.mark.parametrize("head_bytes", [16 * 1024, 16 * 1024 + 1, 65_100, 70_100])
async def test_a_head_past_16_kib_is_431_however_it_comes(
    daemon: RunningDaemon, head_bytes: int
) -> None:
    """docs/api.md's 16 KiB of request line and headers: h11 bounded only a head that came in
    parts, so one sent whole (up to the 64 KiB of a read) was served: 65,000 a's in a header
    got 200, 70,000 got 431. Now the limit holds to the byte, and every 431 says the same."""
    url = httpx.URL(daemon.url)
    start = b"GET /state HTTP/1.1\r\nHost: h\r\nX-Big: "
    filler = head_bytes - len(start) - len(b"\r\n\r\n")
    request = start + b"a" * filler + b"\r\n\r\n"
    assert len(request) == head_bytes
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(request + b"GET /state HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    with trio.fail_after(10):
        answer = await read_to_eof(stream)
    head, _, body = answer.partition(b"\r\n\r\n")
    if head_bytes <= 16 * 1024:
        assert head.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert answer.count(b"HTTP/1.1 200 ") == 2  # and the connection serves on
        return
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"error": "the request's headers are too large"}  # and closed
    assert (await daemon.client.get("/state")).status_code == 200


async def test_a_head_request_past_16_kib_is_431_without_a_body(daemon: RunningDaemon) -> None:
    """A HEAD's 431 has the head alone, as every answer to a HEAD: its body was sent too, which
    h11 refused, and the connection failed unanswered (``make fuzz``, 2026-12-04: HEAD
    /containers/{id}/archive with a path of 18 KB)."""
    url = httpx.URL(daemon.url)
    path = "/containers/box/archive?path=" + "%C2%AC" * 3000
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(f"HEAD {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    with trio.fail_after(10):
        answer = await read_to_eof(stream)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"content-type: application/json" in head.lower() and body == b"", answer[:300]
    assert (await daemon.client.get("/state")).status_code == 200


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "no such endpoint: GET /nope"}
    long = "/" + "x" * 10_000  # within the 16 KiB of a head; quoted cut short in the answer
    response = await client.get(long)
    assert response.json() == {"error": f"no such endpoint: GET {long[:40]}..."}
    response = await client.put("/state")
    assert response.status_code == 405
    assert "not allowed" in response.json()["error"]
    # An empty segment names no endpoint: werkzeug merged the slashes with a 308 and an HTML
    # page, which a client that does not follow redirects (a POST's) took for the answer.
    for method, path in [("GET", "/containers//box"), ("POST", "/containers/box/process/1//wait")]:
        response = await client.request(method, path)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": f"no such endpoint: {method} {path}"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/state", "GET, HEAD"),
        ("OPTIONS", "/state", "GET, HEAD"),
        ("PUT", "/containers/box", "DELETE, GET, HEAD, PATCH, POST"),
        ("GET", "/containers/box/wait", "POST"),
        ("PUT", "/containers/box/checkpoint/c1", "DELETE, POST"),
        ("POST", "/containers/box/process/1/attach", "GET, HEAD"),
    ],
)
async def test_a_405_names_the_allowed_methods(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    """RFC 9110 (15.5.6): a 405 carries Allow, the methods the path takes. The JSON answer that
    replaced werkzeug's had lost it."""
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.json() == {"error": f"method {method} is not allowed on {path}"}
    assert response.headers["allow"] == allowed


LONG = "x" * 3000


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("PATCH", "/containers/box", {"status": [LONG]}, "not a list"),
        ("PATCH", "/containers/box", {"status": True}, "not a boolean"),
        ("PATCH", "/containers/box", {"signal": [LONG]}, "or a name, not a list"),
        ("POST", "/containers/box/process/1", {"signal": None}, "or a name, not null"),
        ("POST", "/containers/box/migrate", {"to": LONG}, "is not HOST:PORT, unix:PATH, http://"),
        ("POST", "/containers/box/migrate", {"to": f"http://h:{LONG}"}, "has no valid port"),
    ],
    ids=["status-list", "status-true", "signal-list", "signal-null", "to", "to-port"],
)
async def test_a_bad_value_is_said_as_json_and_cut_short(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], message: str
) -> None:
    """docs/api.md: a message quotes at most 40 characters of what the client sent. These
    quoted all of it (a status or signal of a list of long strings, 3 KB; an address), and in
    Python's words (True, None)."""
    response = await client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error
    assert len(error) < 200, error


async def test_a_long_bundle_path_is_cut_short_and_a_checkpoint_name_named_whole(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """A bundlePath in 40 characters (3.8 KB of it was quoted whole); a valid checkpoint name
    whole, as a container id (docs/api.md, Limits), in a restore's 404 and a delete's (until
    2026-12-04 cut at 40 characters too: two long names that share their first 40 were told
    apart by nothing)."""
    path = "/" + "/".join(["p" * 100] * 38)  # no name past 255 bytes, 3.8 KB in all
    name = "x" * 100
    said = {
        "listing": (
            await client.get("/containers/box/checkpoint", params={"bundlePath": path}),
            f"bundlePath {quoted(path)} is not a directory",
        ),
        "start": (
            await client.post("/containers/box", json={"bundlePath": path}),
            f"bundlePath {quoted(path)} is not a directory",
        ),
        "relative": (
            await client.post("/containers/box", json={"bundlePath": path[1:]}),
            f"bundlePath must be an absolute path, not {quoted(path[1:])}",
        ),
        "restore": (
            await client.post(
                "/containers/box", json={"bundlePath": str(bundle), "checkpoint": name}
            ),
            f"checkpoint '{name}' not found in {bundle}/checkpoints",
        ),
        "delete": (
            await client.delete(
                f"/containers/box/checkpoint/{name}", params={"bundlePath": str(bundle)}
            ),
            f"checkpoint '{name}' not found in {bundle}/checkpoints",
        ),
    }
    for what, (response, error) in said.items():
        assert response.json() == {"error": error}, what
        assert f"{'x' * 100}'" in error or f"{'p' * 39}'..." in error, what


@pytest.mark.parametrize("through_the_app", [False, True], ids=["fast", "app"])
async def test_start_survives_client_hangup(
    start_daemon: Any, tmp_path: Path, bundle: Path, through_the_app: bool
) -> None:
    """A client that goes away mid-start cannot cancel it half-way: it completes. (Quart-Trio
    cancels a request's handler when its client goes away; the fast path lets a start run.)"""
    started, proceed = tmp_path / "started", tmp_path / "proceed"
    os.mkfifo(started)
    os.mkfifo(proceed)
    gated = tmp_path / "gated-runc"
    gated.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = run ] && echo run > {started} && read go < {proceed}; done\n'
        'exec runc "$@"\n'
    )
    gated.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(runtime=str(gated))
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    body = f'{{"bundlePath": "{bundle}"}}'.encode()
    stream = await trio.open_tcp_stream(host, int(port))
    to_the_app = b"Sec-Fetch-Site: same-origin\r\n" if through_the_app else b""
    await stream.send_all(
        b"POST /containers/orphan HTTP/1.1\r\nHost: %s:%s\r\n%sContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n%s"
        % (host.encode(), port.encode(), to_the_app, len(body), body)
    )
    assert await trio.Path(started).read_text() == "run\n"  # runc is starting it now
    await stream.aclose()  # the client hangs up mid-start
    # Opening the fifo waits for its reader, the gated runc: abandoned at the test's deadline
    # if a cancelled start killed it (the test then fails, in time).
    await trio.to_thread.run_sync(proceed.write_text, "go\n", abandon_on_cancel=True)
    got = await _wait_listed(daemon.client, "orphan")
    assert got["state"]["status"] == "running"
    assert runc_ids(daemon.config.state_dir) == ["orphan"]


async def _wait_listed(client: httpx.AsyncClient, container_id: str) -> dict[str, Any]:
    event = await next_event(
        client,
        since="1970-01-01T00:00:00Z",
        container_id=container_id,
        match=lambda e: e["type"] == "start-container",
    )
    assert event["id"] == container_id
    got: dict[str, Any] = (await client.get(f"/containers/{container_id}")).json()
    return got


async def test_a_container_of_an_id_another_daemon_runs_on_this_host_is_refused(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """runc puts a container's cgroup under the cgroup of the process that runs it, named
    after its id: two daemons of one host (a second one for a migration) starting "web" put
    both into one cgroup, where a pause of one froze the other and a delete of one (runc
    kill --all) killed the other's processes. The second start is a 409 that says why;
    nothing of it is left; the first runs on, untouched; once it is gone the id is free."""
    first = await start_daemon(tmp_path / "first")
    second = await start_daemon(tmp_path / "second")
    running = await start_container(first.client, "web", make_bundle())
    pid = running["processes"][0]["pid"]
    refused = await second.client.post("/containers/web", json={"bundlePath": str(make_bundle())})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error.startswith("cannot start container 'web': its cgroup "), error
    assert "holds 1 process of another container" in error, error
    assert (await second.client.get("/containers/web")).status_code == 404
    assert runc_ids(second.config.state_dir) == []
    assert (await second.client.get("/state")).json()["containers"] == []
    # The first's container was not touched by the refused start's clean-up.
    assert pid_alive(pid)
    assert (await first.client.get("/containers/web")).json()["state"]["status"] == "running"
    assert (await first.client.delete("/containers/web", params={"timeout": 0})).is_success
    again = await second.client.post("/containers/web", json={"bundlePath": str(make_bundle())})
    assert again.status_code == 201, again.text
    assert (await second.client.delete("/containers/web", params={"timeout": 0})).is_success
