"""kill -9 of the daemon, then a restart on the same state dir: what it adopts, and how."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from .helpers import (
    COUNTER,
    FOREVER,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    next_event,
    now,
    pid_alive,
    runc,
    runc_ids,
    runc_state,
    start_container,
    wait_exit,
    wait_output,
)

pytestmark = [pytest.mark.deadline(90), pytest.mark.usefixtures("plain_parent")]


@pytest.fixture
async def orphans() -> AsyncIterator[list[int]]:
    """Pids that may be re-parented to the test process when its daemon dies: reaped at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


async def start(daemon: DaemonProcess, container_id: str, bundle: Any) -> dict[str, Any]:
    response = await daemon.client.post(
        f"/containers/{container_id}", json={"bundlePath": str(bundle)}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_restart_adopts_what_runc_still_runs(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: list[int]
) -> None:
    first: DaemonProcess = await spawn_daemon()
    since = now()
    running = await start(first, "running", make_bundle(FOREVER))
    kept = await first.client.put("/containers/running/processes", json={"args": ["sleep", "1000"]})
    lost = await first.client.put("/containers/running/processes", json={"args": ["sleep", "1000"]})
    kept_pid, lost_pid = kept.json()["pid"], lost.json()["pid"]
    orphans += [kept_pid, lost_pid]
    paused = await start(first, "paused", make_bundle(FOREVER))
    doomed = await start(first, "doomed", make_bundle(FOREVER))
    finished = await start(first, "finished", make_bundle(["sh", "-c", "exit 3"]))
    for container in (running, paused, doomed, finished):
        orphans.append(container["processes"][0]["pid"])
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
    assert state["running"]["state"] == {"status": "running"}
    # The same init and the exec'd process that lived on, with the same pids.
    assert [p["pid"] for p in state["running"]["processes"]] == [
        running["processes"][0]["pid"],
        kept_pid,
    ]
    assert state["paused"]["state"] == {"status": "paused"}
    assert state["doomed"]["state"] == {"status": "stopped", "exitStatus": 255}  # unknowable
    assert state["finished"]["state"] == {"status": "stopped", "exitStatus": 3}  # recorded
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
    lost_exits = [e for e in events if e["type"] == "exit" and e.get("pid") == lost_pid]
    assert [e["status"] for e in lost_exits] == [255]
    assert kinds.index(("pause", "paused")) < kinds.index(("resume", "paused"))


async def test_a_restored_container_survives_a_crash_too(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: list[int]
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
    orphans.append(response.json()["processes"][0]["pid"])
    await first.kill_hard()
    second: DaemonProcess = await spawn_daemon()
    got = (await second.client.get("/containers/c")).json()
    assert got["state"]["status"] == "running"
    assert got["processes"][0]["pid"] == response.json()["processes"][0]["pid"]
    assert (await second.client.delete("/containers/c", params={"timeout": "0"})).status_code == 200


async def test_a_start_cut_short_by_the_crash_is_finished_off(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: list[int]
) -> None:
    """A container runc created but never started (the daemon died in between) is removed."""
    first: DaemonProcess = await spawn_daemon()
    await first.kill_hard()
    bundle = make_bundle(FOREVER)
    runc(first.state_dir, "create", "--bundle", str(bundle), "half", output=False)
    state = runc_state(first.state_dir, "half")
    orphans.append(state["pid"])
    assert state["status"] == "created"
    second: DaemonProcess = await spawn_daemon()
    assert (await second.client.get("/containers/half")).status_code == 404
    assert runc_ids(second.state_dir) == []


async def test_a_container_runc_knows_without_a_record_is_adopted(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: list[int]
) -> None:
    """The daemon died after runc started the container but before its record was written."""
    first: DaemonProcess = await spawn_daemon()
    await first.kill_hard()
    bundle = make_bundle(FOREVER)
    runc(first.state_dir, "run", "--detach", "--bundle", str(bundle), "norecord", output=False)
    state = runc_state(first.state_dir, "norecord")
    orphans.append(state["pid"])
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
    await start_container(client, "keep", make_bundle(["sh", "-c", "echo first; exit 3"]))
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
        (held,) = gated.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await daemon.logged(b"waiting for runc delete --force keep")
        async with gated.opened(held):  # the dead server's runc delete goes on, and ends
            await daemon.served(count + 1)
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


async def deleting(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, gated: GatedRunc, name: str
) -> tuple[DaemonProcess, Callable[[], Awaitable[None]]]:
    """A daemon on ``gated`` (a runtime deadline of 1 s) running container ``name``, and a
    DELETE of it, whose answer the server's death cuts short."""
    daemon: DaemonProcess = await spawn_daemon(
        "--runtime", str(gated.path), "--runtime-timeout", "1"
    )
    await start_container(daemon.client, name, make_bundle(FOREVER))

    async def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await daemon.client.delete(f"/containers/{name}", params={"timeout": 0})

    return daemon, delete


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
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, orphans: list[int]
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
    orphans.append(state["pid"])
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

    async def pause() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await client.patch("/containers/c", json={"status": "paused"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pause)
        await gated.reached()  # the server's runc pause is held
        (held,) = gated.running()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        first = await served_or_logged(daemon, count + 1, LEFT_RUNNING)
        async with gated.opened(held):  # the dead server's runc pause goes on, and ends
            await daemon.served(count + 1)
    info = (await client.get("/containers/c")).json()
    assert (info["state"]["status"], runc_state(daemon.state_dir, "c")["status"]) == (
        "paused",
        "paused",
    )
    assert first == "logged"  # the next server served only once that runc had ended
    assert b"waiting for runc pause c" in daemon.log
    assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
    assert runc_state(daemon.state_dir, "c")["status"] == "running"


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
    response = await client.post("/containers/c/checkpoint/cp", json={"exit": False})
    assert response.status_code == 201, response.text
    assert b"killing runc checkpoint --image-path" in daemon.log
