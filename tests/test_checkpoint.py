"""Checkpoint and restore through real CRIU."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio import checkpoints, procfs
from containerd_trio.errors import InvalidRequest, quoted
from containerd_trio.procfs import state as process_state
from containerd_trio.timestamps import parse_ns

from .helpers import (
    COUNTER,
    BundleFactory,
    GatedRunc,
    HeldCriu,
    RunningDaemon,
    event_types,
    next_event,
    now,
    pid_alive,
    recorded_container,
    run_status,
    runc,
    runc_ids,
    runc_state,
    start_container,
    until_trapped,
    wait_exit,
    wait_output,
    zombie_children,
)

pytestmark = pytest.mark.deadline(90)

SEED_CHECKPOINT_BODY = """{
"exit": false,
"tcp": false,
"unixSockets": false,
"shell": false
}"""


async def log_numbers(client: httpx.AsyncClient, container_id: str) -> list[int]:
    response = await client.get(f"/containers/{container_id}/logs")
    assert response.status_code == 200
    return [
        int(json.loads(line)["data"])
        for line in response.text.splitlines()
        if json.loads(line)["data"].strip().isdigit()
    ]


async def wait_number_after(
    client: httpx.AsyncClient, container_id: str, at_least: int
) -> list[int]:
    """Follow the log until the counter passes ``at_least``; return every number seen."""
    seen: list[int] = []
    url = f"/containers/{container_id}/logs"
    async with client.stream("GET", url, params={"follow": "true"}) as response:
        async for line in response.aiter_lines():
            data = json.loads(line)["data"].strip()
            if data.isdigit():
                seen.append(int(data))
                if seen[-1] > at_least:
                    return seen
    raise AssertionError(f"the counter of {container_id} never passed {at_least}: {seen}")


async def checkpoint(
    client: httpx.AsyncClient, container_id: str, name: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/containers/{container_id}/checkpoint/{name}", json=body)


async def stopped_by_checkpoint(
    client: httpx.AsyncClient, container_id: str, bundle: Path, name: str
) -> None:
    """``bundle``'s process started as ``container_id``, once it said ``1``, checkpointed as
    ``name`` with exit, and stopped by it (SIGKILL's 137, as CRIU leaves it)."""
    created = await start_container(client, container_id, bundle)
    await wait_output(client, container_id, "1")
    since = now()
    assert (await checkpoint(client, container_id, name, exit=True)).status_code == 201
    assert await wait_exit(client, container_id, created["processes"][0]["pid"], since) == 137


async def test_seed_checkpoint_and_listing(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    created = await start_container(client, "redis", bundle)
    await wait_output(client, "redis", "3")
    response = await client.post("/containers/redis/checkpoint/test1", content=SEED_CHECKPOINT_BODY)
    assert response.status_code == 201, response.text
    first = response.json()
    assert first["name"] == "test1"
    assert (first["tcp"], first["unixSockets"], first["shell"]) == (False, False, False)
    parse_ns(first["timestamp"])
    assert (bundle / "checkpoints" / "test1" / "checkpoint.json").is_file()
    assert any(p.suffix == ".img" for p in (bundle / "checkpoints" / "test1").iterdir())
    # exit false: the container runs on.
    assert pid_alive(created["processes"][0]["pid"])
    assert (await client.get("/containers/redis")).json()["state"]["status"] == "running"

    assert (await checkpoint(client, "redis", "test2")).status_code == 201  # no body at all
    listing = (await client.get("/containers/redis/checkpoint")).json()
    assert [c["name"] for c in listing] == ["test1", "test2"]  # oldest first
    assert set(listing[0]) == {"name", "tcp", "unixSockets", "shell", "timestamp"}
    assert parse_ns(listing[0]["timestamp"]) < parse_ns(listing[1]["timestamp"])

    response = await client.delete("/containers/redis/checkpoint/test1")
    assert response.status_code == 200
    assert not (bundle / "checkpoints" / "test1").exists()
    assert [c["name"] for c in (await client.get("/containers/redis/checkpoint")).json()] == [
        "test2"
    ]
    assert (await client.delete("/containers/redis/checkpoint/test1")).status_code == 404


async def test_exit_then_restore_continues_the_counter(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    created = await start_container(client, "count", bundle)
    await wait_output(client, "count", "5")
    since = now()
    response = await checkpoint(client, "count", "cp", exit=True)
    assert response.status_code == 201, response.text
    got = (await client.get("/containers/count")).json()
    assert got["state"]["status"] == "stopped"
    assert runc_ids(daemon.config.state_dir) == []  # runc forgot it: the id is free
    assert await wait_exit(client, "count", created["processes"][0]["pid"], since) == 137
    before = await log_numbers(client, "count")
    assert before == list(range(1, len(before) + 1))

    response = await client.post(
        "/containers/count", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert response.status_code == 201, response.text
    restored = response.json()
    assert run_status(restored["state"]) == {"status": "running"}
    assert restored["processes"][0]["pid"] != created["processes"][0]["pid"]
    seen = await wait_number_after(client, "count", before[-1] + 2)
    # The same process, memory and all: the count goes on from where it was, not from 1; and
    # the log is the container's, before and after: it goes on too, with no gap and no repeat.
    assert seen == list(range(1, len(seen) + 1)), (before[-3:], seen[len(before) - 3 :])
    changes = "checkpoint,exit,delete,restore"  # not the course of each (test_criu_progress)
    types = await event_types(client, since=since, container_id="count", count=4, only=changes)
    # The stopped record is replaced by the restored container: its delete comes first.
    assert types == ["checkpoint", "exit", "delete", "restore"]


async def test_a_restore_that_fails_leaves_the_stopped_container_and_its_log(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A restore over a stopped container that fails (here: past its deadline) leaves the
    container as it was, log and all; a restore after it continues the same log."""
    client = daemon.client
    bundle = make_bundle(COUNTER)
    created = await start_container(client, "count", bundle)
    await wait_output(client, "count", "3")
    since = now()
    assert (await checkpoint(client, "count", "cp", exit=True)).status_code == 201
    assert await wait_exit(client, "count", created["processes"][0]["pid"], since) == 137
    before = (await client.get("/containers/count")).json()
    numbers = await log_numbers(client, "count")

    response = await client.post(
        "/containers/count", json={"bundlePath": str(bundle), "checkpoint": "cp", "timeout": 0.001}
    )
    assert response.status_code == 504, response.text
    assert (await client.get("/containers/count")).json() == before
    assert await log_numbers(client, "count") == numbers
    assert runc_ids(daemon.config.state_dir) == []
    # Its start had no stdin, and CRIU restores the init's /dev/null: stdin is refused (it
    # was a 201 whose record said stdin, the init reading /dev/null still).
    body = {"bundlePath": str(bundle), "checkpoint": "cp", "stdin": True}
    response = await client.post("/containers/count", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("stdin cannot be given with checkpoint 'cp'")
    assert (await client.get("/containers/count")).json() == before
    assert runc_ids(daemon.config.state_dir) == []
    changes = "exit,delete,restore,restore-started,restore-done,restore-failed"
    types = await event_types(client, since=since, container_id="count", count=3, only=changes)
    assert types == ["exit", "restore-started", "restore-failed"]  # no delete: it is there

    response = await client.post(
        "/containers/count", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert response.status_code == 201, response.text
    seen = await wait_number_after(client, "count", numbers[-1] + 1)
    assert seen == list(range(1, len(seen) + 1))  # the one log, going on
    types = await event_types(client, since=since, container_id="count", count=7, only=changes)
    assert types == [
        *["exit", "restore-started", "restore-failed"],
        # The stopped container's delete once the restored one runs, before its restore.
        *["restore-started", "restore-done", "delete", "restore"],
    ]


@pytest.mark.parametrize("fails", [False, True], ids=["restored", "failed"])
async def test_during_a_restore_over_a_stopped_container_it_is_seen_and_a_command_waits(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, fails: bool
) -> None:
    """While a restore over a stopped container runs (held here in runc restore, the stopped
    container removed from runc already), the container is the stopped one, as during a
    start again: GET and GET /state show it, a wait answers its last exit, and a DELETE and
    a next-exit wait wait for the restore. Then the DELETE removes what the restore left:
    the run it restored (whose exit the next-exit wait answers), or, if it failed (its
    images broken under it), the stopped container, put back (the next-exit wait: 404,
    removed before its next exit). Before, the restore hid the id: each was a 404
    ``container 'c' not found`` (the DELETE's too: the restored container ran on), for as
    long as CRIU took."""
    gated = GatedRunc(tmp_path, "restore")  # each runc restore waits for the test's word
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    bundle = make_bundle(COUNTER)
    dumped = (await start_container(client, "c", bundle))["processes"][0]["pid"]
    await wait_output(client, "c", "1")
    since = now()
    assert (await checkpoint(client, "c", "cp", exit=True)).status_code == 201
    assert await wait_exit(client, "c", dumped, since) == 137
    before = (await client.get("/containers/c")).json()
    answers: dict[str, httpx.Response] = {}

    async def ask(name: str, request: Awaitable[httpx.Response]) -> None:
        answers[name] = await request

    body = {"bundlePath": str(bundle), "checkpoint": "cp"}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "restore", client.post("/containers/c", json=body))
            await gated.reached()  # the restore's runc restore, held
            got = await client.get("/containers/c")
            assert got.status_code == 200, got.text
            assert got.json() == before
            listed = (await client.get("/state")).json()["containers"]
            assert [c["state"]["status"] for c in listed if c["id"] == "c"] == ["stopped"]
            waited = await client.post("/containers/c/wait")
            assert waited.status_code == 200, waited.text
            assert (waited.json()["pid"], waited.json()["exitStatus"]) == (dumped, 137)
            next_exit = client.post("/containers/c/wait", params={"condition": "next-exit"})
            nursery.start_soon(ask, "next-exit", next_exit)
            nursery.start_soon(ask, "delete", client.delete("/containers/c", params={"timeout": 0}))
            await trio.testing.wait_all_tasks_blocked()
            assert "delete" not in answers and "next-exit" not in answers  # they wait
            if fails:
                (bundle / "checkpoints" / "cp" / "inventory.img").unlink()  # CRIU fails
            await trio.Path(gated.gate).write_text("go\n")
    assert answers["delete"].status_code == 200, answers["delete"].text
    ended = answers["next-exit"]
    if fails:
        assert answers["restore"].status_code == 500, answers["restore"].text
        assert answers["delete"].json() == before  # the stopped container, put back
        assert ended.status_code == 404, ended.text
    else:
        assert answers["restore"].status_code == 201, answers["restore"].text
        restored = answers["restore"].json()["processes"][0]["pid"]
        assert ended.status_code == 200, ended.text
        assert (ended.json()["pid"], ended.json()["exitStatus"]) == (restored, 137)
    assert (await client.get("/containers/c")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []


async def test_leave_running_then_restore_elsewhere(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "origin", bundle)
    await wait_output(client, "origin", "3")
    before = (await log_numbers(client, "origin"))[-1]
    assert (await checkpoint(client, "origin", "snap")).status_code == 201
    after = (await log_numbers(client, "origin"))[-1]
    await wait_output(client, "origin", str(after + 5))  # the original runs on
    response = await client.post(
        "/containers/copy", json={"bundlePath": str(bundle), "checkpoint": "snap"}
    )
    assert response.status_code == 201, response.text
    copied = await wait_number_after(client, "copy", after + 1)
    # The copy goes on from the count at the moment of the dump, not from 1.
    assert before + 1 <= copied[0] <= after + 1, (before, after, copied[:3])
    assert sorted(runc_ids(daemon.config.state_dir)) == ["copy", "origin"]


async def test_restored_container_is_a_container_like_any(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "r", bundle)
    await wait_output(client, "r", "2")
    assert (await checkpoint(client, "r", "one", exit=True)).status_code == 201
    response = await client.post(
        "/containers/r", json={"bundlePath": str(bundle), "checkpoint": "one"}
    )
    assert response.status_code == 201
    since = now()
    process = await client.put("/containers/r/processes", json={"args": ["sh", "-c", "exit 6"]})
    assert process.status_code == 201
    assert await wait_exit(client, "r", process.json()["pid"], since) == 6
    assert (await client.patch("/containers/r", json={"status": "paused"})).status_code == 200
    assert (await client.patch("/containers/r", json={"status": "running"})).status_code == 200
    assert (await checkpoint(client, "r", "two")).status_code == 201  # a further checkpoint
    assert (await client.delete("/containers/r", params={"timeout": "0"})).status_code == 200
    assert runc_ids(daemon.config.state_dir) == []


async def test_exec_d_processes(daemon: RunningDaemon, make_bundle: BundleFactory) -> None:
    """A live exec'd process blocks a checkpoint (CRIU would drop it); so does one an exec left
    running in the background while it writes to that exec's output pipe (restored without
    its reader, it would die at its next write). One whose output goes to the init's belongs
    to the init's tree and is carried across, its output reaching the log after the restore."""
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "e", bundle)
    live = await client.put("/containers/e/processes", json={"args": ["sleep", "1000"]})
    response = await checkpoint(client, "e", "blocked", exit=True)
    assert response.status_code == 409
    assert f"pids {live.json()['pid']}" in response.json()["error"]
    assert not (bundle / "checkpoints" / "blocked").exists()
    assert (await client.get("/containers/e")).json()["state"]["status"] == "running"

    since = now()
    await client.post(f"/containers/e/process/{live.json()['pid']}", json={"signal": 9})
    await wait_exit(client, "e", live.json()["pid"], since)
    # Left behind with its output on the init's: carried across, and heard from after.
    script = "(exec >/proc/1/fd/1 2>&1; while true; do echo side-$((n=n+1)); sleep 0.1; done) &"
    await exec_leaving(client, "e", script, since)
    await wait_output(client, "e", "side-3")
    response = await checkpoint(client, "e", "with-side", exit=True)
    assert response.status_code == 201, response.text
    response = await client.post(
        "/containers/e", json={"bundlePath": str(bundle), "checkpoint": "with-side"}
    )
    assert response.status_code == 201
    restored = response.json()["processes"][0]["pid"]
    # The background loop came back with the init, its output still reaching the log: a line
    # of it written by the restored tree (the init's pipe carries the init's pid).
    async with client.stream("GET", "/containers/e/logs", params={"follow": "true"}) as stream:
        async for line in stream.aiter_lines():
            record = json.loads(line)
            if record["data"].startswith("side-") and record["pid"] == restored:
                break

    # Left behind still writing to the exec's own pipe: restored without the daemon reading
    # it, it would die at its next write. Refused, and nothing is written.
    script = "(while true; do echo own-$((n=n+1)); sleep 0.1; done) & exit 0"
    pid = await exec_leaving(client, "e", script, since)
    await wait_output(client, "e", "own-3")
    response = await checkpoint(client, "e", "with-own", exit=True)
    assert response.status_code == 409, response.text
    assert f"what exec {pid} left running still writes" in response.json()["error"]
    assert not (bundle / "checkpoints" / "with-own").exists()
    assert (await client.get("/containers/e")).json()["state"]["status"] == "running"


async def restored(client: httpx.AsyncClient, container_id: str, bundle: Path, name: str) -> int:
    """Checkpoint the running container (``exit``) and restore it: its restored init's pid."""
    response = await checkpoint(client, container_id, name, exit=True)
    assert response.status_code == 201, response.text
    response = await client.post(
        f"/containers/{container_id}", json={"bundlePath": str(bundle), "checkpoint": name}
    )
    assert response.status_code == 201, response.text
    pid: int = response.json()["processes"][0]["pid"]
    return pid


async def exec_said(client: httpx.AsyncClient, container_id: str, args: list[str]) -> str:
    """What an exec of ``args`` printed: its first line (waited for in the log), once it has
    exited (a checkpoint right after is refused while an exec still counts as running, as it
    does until its exit is told: a fresh run's 409)."""
    url = f"/containers/{container_id}/processes"
    response = await client.put(url, json={"args": args})
    assert response.status_code == 201, response.text
    pid = response.json()["pid"]
    params = {"follow": "true", "pid": str(pid)}
    said: str | None = None
    async with client.stream("GET", f"/containers/{container_id}/logs", params=params) as lines:
        async for line in lines.aiter_lines():
            said = json.loads(line)["data"].strip()
            break
    assert said is not None, f"exec {pid} in {container_id} printed nothing"
    ended = await client.post(f"/containers/{container_id}/process/{pid}/wait")
    assert ended.status_code == 200, ended.text
    return said


def left_by(init: int) -> int:
    """The loop of :data:`SIDE_LOOP` running under ``init``."""
    (left,) = [
        pid
        for pid in procfs.children(init)
        if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sh\0-c\0(exec")
    ]
    return left


#: docs/checkpoint.md's way to leave a process running: its output on the init's.
SIDE_LOOP = (
    "(exec </dev/null >/proc/1/fd/1 2>&1; while true; do echo side-$((n=n+1)); sleep 0.1; done) &"
)


async def test_an_exec_in_a_restored_container_is_in_its_init_s_time_namespace(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """CRIU restores the init into a time namespace of its own (its clocks go on from the
    dump), which runc 1.1's exec does not join: the daemon's exec joins it, so the process
    sees the container's clocks. A container never restored is in the host's, and so are its
    execs."""
    client = daemon.client
    bundle = make_bundle(COUNTER)
    host = os.readlink("/proc/self/ns/time")
    created = await start_container(client, "n", bundle)
    assert os.readlink(f"/proc/{created['processes'][0]['pid']}/ns/time") == host
    assert await exec_said(client, "n", ["readlink", "/proc/self/ns/time"]) == host

    init = await restored(client, "n", bundle, "first")
    theirs = os.readlink(f"/proc/{init}/ns/time")
    assert theirs != host
    for _ in range(2):  # the second with the init's start as seen in there already known
        assert await exec_said(client, "n", ["readlink", "/proc/self/ns/time"]) == theirs
    # The exec's runc had a root of its own for the call: nothing of it is left.
    assert list((daemon.config.state_dir / "runc-exec").iterdir()) == []


async def test_what_an_exec_left_in_a_restored_container_goes_with_its_checkpoint(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """What an exec leaves running in a restored container (re-parented to the init, its
    output on the init's, as checkpoint.md advises) is in the init's time namespace, so CRIU
    dumps one tree in one namespace and restores it: the loop runs on after a second restore.
    (Before 2026-12-05 it was in the host's, and CRIU could not restore the dump.)"""
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "t", bundle)
    await wait_output(client, "t", "2")
    init = await restored(client, "t", bundle, "first")
    await exec_leaving(client, "t", SIDE_LOOP, now())
    await wait_output(client, "t", "side-2")
    left = left_by(init)
    assert os.readlink(f"/proc/{left}/ns/time") == os.readlink(f"/proc/{init}/ns/time")

    init = await restored(client, "t", bundle, "second")
    assert (await client.get("/containers/t")).json()["state"]["status"] == "running"
    # The loop came back with the init (in its new time namespace), its output still reaching
    # the log: a line of it written by the restored tree (the init's pipe carries its pid).
    async with client.stream("GET", "/containers/t/logs", params={"follow": "true"}) as stream:
        async for line in stream.aiter_lines():
            record = json.loads(line)
            if record["data"].startswith("side-") and record["pid"] == init:
                break
    left = left_by(init)
    assert os.readlink(f"/proc/{left}/ns/time") == os.readlink(f"/proc/{init}/ns/time")


async def test_what_runc_exec_left_in_a_restored_container_is_refused(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """runc 1.1's own exec does not join a restored init's time namespace: what it left
    running there (by hand, or by a daemon before 2026-12-05 in a container adopted since)
    is in the host's. CRIU dumps such a tree but cannot restore it ("Can't restore sub-task
    in NS"), so the dump of an ``exit`` checkpoint would lose the container: 409, nothing
    written, the container running on."""
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "t", bundle)
    await wait_output(client, "t", "2")
    init = await restored(client, "t", bundle, "first")
    runc(daemon.config.state_dir, "exec", "--detach", "t", "sh", "-c", SIDE_LOOP, output=False)
    await wait_output(client, "t", "side-2")
    left = left_by(init)
    assert os.readlink(f"/proc/{left}/ns/time") != os.readlink(f"/proc/{init}/ns/time")

    response = await checkpoint(client, "t", "second", exit=True)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert str(left) in error and "time namespace" in error, error
    assert not (bundle / "checkpoints" / "second").exists()
    assert (await client.get("/containers/t")).json()["state"]["status"] == "running"


async def exec_leaving(
    client: httpx.AsyncClient, container_id: str, script: str, since: str
) -> int:
    """Run ``sh -c script`` as an exec and wait for its exit (what it left running stays)."""
    url = f"/containers/{container_id}/processes"
    pid: int = (await client.put(url, json={"args": ["sh", "-c", script]})).json()["pid"]
    await wait_exit(client, container_id, pid, since)
    return pid


async def test_checkpoint_of_a_paused_container(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "p", bundle)
    await wait_output(client, "p", "2")
    assert (await client.patch("/containers/p", json={"status": "paused"})).status_code == 200
    response = await checkpoint(client, "p", "frozen")
    assert response.status_code == 201, response.text
    got = (await client.get("/containers/p")).json()
    assert got["state"]["status"] == "paused"
    assert runc_state(daemon.config.state_dir, "p")["status"] == "paused"
    assert (await client.patch("/containers/p", json={"status": "running"})).status_code == 200
    response = await client.post(
        "/containers/thawed", json={"bundlePath": str(bundle), "checkpoint": "frozen"}
    )
    assert response.status_code == 201, response.text
    await wait_output(client, "thawed", "3")


async def test_checkpoint_errors(daemon: RunningDaemon, make_bundle: BundleFactory) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "c", bundle)
    assert (await checkpoint(client, "c", "dup")).status_code == 201
    response = await checkpoint(client, "c", "dup")
    assert response.status_code == 409
    assert "checkpoint 'dup' already exists" in response.json()["error"]
    for name in ("%2E%2E", ".x", "bad%20name", "x" * 129):
        response = await checkpoint(client, "c", name)
        assert response.status_code == 400, name
        assert "invalid checkpoint name" in response.json()["error"]
    assert (await checkpoint(client, "ghost", "x")).status_code == 404
    response = await client.post("/containers/c/checkpoint/x", json={"exit": "yes"})
    assert response.status_code == 400
    assert "exit: expected true or false" in response.json()["error"]

    response = await client.post(
        "/containers/new", json={"bundlePath": str(bundle), "checkpoint": "nope"}
    )
    assert response.status_code == 404
    assert "checkpoint 'nope' not found" in response.json()["error"]
    assert (await client.get("/containers/new")).status_code == 404
    assert (await client.delete("/containers/c/checkpoint/nope")).status_code == 404


async def test_a_directory_that_is_no_checkpoint_is_named_alike_by_every_route(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``checkpoints/junk`` made by hand (no checkpoint.json): a checkpoint of that name was a
    409 "already exists" while a delete and a restore of it were a 404 "not found", so no
    request could make it or remove it. Each now says what it is and what to do; once it is
    removed by hand the name is free."""
    bundle = make_bundle()
    await start_container(client, "c", bundle)
    (bundle / "checkpoints" / "junk").mkdir(parents=True)
    said = (
        f"checkpoint 'junk' exists in {bundle}/checkpoints but is not a checkpoint (it has no"
        " checkpoint.json: a checkpoint still being written, or a directory the daemon did not"
        " make): remove it by hand once nothing writes to it"
    )
    made = await checkpoint(client, "c", "junk")
    deleted = await client.delete("/containers/c/checkpoint/junk")
    restored = await client.post(
        "/containers/new", json={"bundlePath": str(bundle), "checkpoint": "junk"}
    )
    assert (made.status_code, made.json()) == (409, {"error": said})
    assert (deleted.status_code, deleted.json()) == (409, {"error": said})
    assert (restored.status_code, restored.json()) == (404, {"error": said})
    # Each is an answer the daemon's OpenAPI document gives its route: the delete's 409 was not.
    paths = (await client.get("/openapi.json")).json()["paths"]
    checkpoint_route = paths["/containers/{id}/checkpoint/{name}"]
    answered = {
        "made": (checkpoint_route["post"], made.status_code),
        "deleted": (checkpoint_route["delete"], deleted.status_code),
        "restored": (paths["/containers/{id}"]["post"], restored.status_code),
    }
    undeclared = [
        (what, status)
        for what, (operation, status) in answered.items()
        if str(status) not in operation["responses"]
    ]
    assert undeclared == []
    assert (bundle / "checkpoints" / "junk").is_dir()  # the client's: left as it was
    assert (await client.get("/containers/c/checkpoint")).json() == []
    (bundle / "checkpoints" / "junk").rmdir()
    assert (await checkpoint(client, "c", "junk")).status_code == 201


async def test_a_long_checkpoint_name_is_named_whole(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A valid checkpoint name is at most 128 characters, and every message names it whole,
    as one naming a container id does (docs/api.md, Limits). Checkpoints' messages cut it at
    40 characters, as for a client's arbitrary text (``'nnn...n'...``): of two long names
    alike in their first 40, the answer did not say which was meant."""
    bundle = make_bundle()
    await start_container(client, "c", bundle)
    name = "n" * 100 + "-the-part-that-tells-it"
    assert len(name) == 123
    checkpoints_dir = bundle / "checkpoints"
    missing = await client.delete(f"/containers/c/checkpoint/{name}")
    restored = await client.post(
        "/containers/new", json={"bundlePath": str(bundle), "checkpoint": name}
    )
    not_found = f"checkpoint {name!r} not found in {checkpoints_dir}"
    assert (missing.status_code, missing.json()) == (404, {"error": not_found})
    assert (restored.status_code, restored.json()) == (404, {"error": not_found})
    (checkpoints_dir / name).mkdir(parents=True)  # no checkpoint.json: not a checkpoint
    made = await checkpoint(client, "c", name)
    assert made.status_code == 409
    assert made.json()["error"].startswith(f"checkpoint {name!r} exists in {checkpoints_dir}")


async def test_a_checkpoint_into_a_read_only_bundle_is_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A bundle on a read-only mount (its owner's choice) is named in a 400, with or without
    its checkpoints directory: it was a 500, and a 500 with a traceback once the directory
    was there. The container runs on."""
    bundle = make_bundle()
    await start_container(client, "ro", bundle)
    for made in (False, True):
        if made:
            (bundle / "checkpoints").mkdir()
        await trio.run_process(["mount", "--bind", str(bundle), str(bundle)])
        try:
            await trio.run_process(["mount", "-o", "remount,ro,bind", str(bundle)])
            answer = await checkpoint(client, "ro", "c1")
        finally:
            await trio.run_process(["umount", str(bundle)])
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"].endswith(": Read-only file system")
        assert (await client.get("/containers/ro")).json()["state"]["status"] == "running"
    assert (await checkpoint(client, "ro", "c1")).status_code == 201


async def test_a_delete_of_a_checkpoint_in_a_read_only_bundle_is_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The delete's twin of the test above: it was a 500 'internal error: OSError' with a
    traceback in the daemon's log. The checkpoint stays, listed, until the bundle is writable."""
    bundle = make_bundle()
    await start_container(client, "ro", bundle)
    assert (await checkpoint(client, "ro", "c1")).status_code == 201
    await trio.run_process(["mount", "--bind", str(bundle), str(bundle)])
    try:
        await trio.run_process(["mount", "-o", "remount,ro,bind", str(bundle)])
        answer = await client.delete("/containers/ro/checkpoint/c1")
    finally:
        await trio.run_process(["umount", str(bundle)])
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": f"cannot write checkpoint 'c1' in {bundle}/checkpoints: Read-only file system"
    }
    listed = (await client.get("/containers/ro/checkpoint")).json()
    assert [info["name"] for info in listed] == ["c1"]
    assert (await client.delete("/containers/ro/checkpoint/c1")).status_code == 200


async def test_the_checkpoints_of_a_container_whose_bundle_is_gone_are_not_listed_as_none(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A running container whose bundle was moved away (or whose mount went): its checkpoints
    were listed as none, ``[]`` with 200, where a checkpoint of it says ``the bundle ... is no
    longer a directory`` and a listing that names the same path as ``bundlePath`` is a 400
    (found trying docs/checkpoint.md's listing as a new user: a user would take the
    checkpoints for lost). The listing and a delete now say it as the checkpoint does; with
    the bundle back, the checkpoint is listed and deleted, the container running on."""
    with trio.fail_after(60):
        bundle = make_bundle()
        created = await start_container(client, "moved", bundle)
        assert (await checkpoint(client, "moved", "c1")).status_code == 201
        away = bundle.with_name(bundle.name + ".away")
        bundle.rename(away)
        try:
            said = {"error": f"the bundle {bundle} is no longer a directory"}
            listed = await client.get("/containers/moved/checkpoint")
            assert (listed.status_code, listed.json()) == (400, said)
            deleted = await client.delete("/containers/moved/checkpoint/c1")
            assert (deleted.status_code, deleted.json()) == (400, said)
            made = await checkpoint(client, "moved", "c2")
            assert (made.status_code, made.json()) == (400, said)
        finally:
            away.rename(bundle)
        listed = await client.get("/containers/moved/checkpoint")
        assert [c["name"] for c in listed.json()] == ["c1"], listed.text
        assert (await client.delete("/containers/moved/checkpoint/c1")).status_code == 200
        assert pid_alive(created["processes"][0]["pid"])


async def test_criu_failure_is_500_with_its_log_and_leaves_the_container(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """An established TCP connection needs the tcp option: without it CRIU refuses."""
    client = daemon.client
    script = (
        "sleep 1000 | nc -l -p 7000 >/dev/null & sleep 0.2;"
        " (echo hi; sleep 1000) | nc 127.0.0.1 7000 & sleep 0.2; echo up; sleep 1000"
    )
    bundle = make_bundle(["sh", "-c", script])
    created = await start_container(client, "tcp", bundle)
    await wait_output(client, "tcp", "up")
    response = await checkpoint(client, "tcp", "fails", exit=True)
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith("runc checkpoint failed")
    assert "CRIU's dump.log ends with" in message
    assert "consider using --tcp-established" in message  # CRIU's own words
    # runc names CRIU's log, in a work dir removed before the answer: its lines stand in.
    assert "log file:" not in message
    assert not (bundle / "checkpoints" / "fails").exists()
    assert pid_alive(created["processes"][0]["pid"])
    assert (await client.get("/containers/tcp")).json()["state"]["status"] == "running"
    # With the option CRIU dumps the connection.
    response = await checkpoint(client, "tcp", "works", tcp=True)
    assert response.status_code == 201, response.text
    assert response.json()["tcp"] is True
    listing = (await client.get("/containers/tcp/checkpoint")).json()
    assert [(c["name"], c["tcp"]) for c in listing] == [("works", True)]


async def test_a_checkpoint_whose_metadata_cannot_be_written_leaves_no_images(
    client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRIU dumped, then the disk refused checkpoint.json: the images without it are no
    checkpoint, and they stayed, holding the name for ever (409 "not a checkpoint"). They go,
    with the half-written metadata, and the name is free again."""
    bundle = make_bundle(COUNTER)
    await start_container(client, "c", bundle)
    commit = checkpoints.commit

    def commit_on_a_full_disk(bundle: Path, info: checkpoints.CheckpointInfo) -> None:
        # The write cut short: its temporary file is there, the metadata never is.
        temporary = checkpoints.image_path(bundle, info.name) / "checkpoint.json.tmp"
        temporary.write_bytes(b'{"name": ')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(temporary))

    monkeypatch.setattr(checkpoints, "commit", commit_on_a_full_disk)
    response = await checkpoint(client, "c", "full")
    assert response.status_code == 500, response.text
    assert "No space left on device" in response.json()["error"]
    assert not (bundle / "checkpoints" / "full").exists()
    assert (await client.get("/containers/c")).json()["state"]["status"] == "running"
    monkeypatch.setattr(checkpoints, "commit", commit)
    assert (await checkpoint(client, "c", "full")).status_code == 201


async def test_restored_server_answers_on_loopback(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A listening server comes back listening, and reachable: runc restores the container's
    loopback down, and the daemon brings it up again."""
    client = daemon.client
    bundle = make_bundle(["sh", "-c", "while true; do echo served | nc -l -p 7000; done"])
    await start_container(client, "server", bundle)
    assert (await checkpoint(client, "server", "listening", exit=True)).status_code == 201
    response = await client.post(
        "/containers/server", json={"bundlePath": str(bundle), "checkpoint": "listening"}
    )
    assert response.status_code == 201, response.text
    since = now()
    probe = await client.put(
        "/containers/server/processes",
        json={"args": ["sh", "-c", "echo reply=$(nc 127.0.0.1 7000 </dev/null)"]},
    )
    assert probe.status_code == 201
    assert await wait_exit(client, "server", probe.json()["pid"], since) == 0
    await wait_output(client, "server", "reply=served")


async def test_no_criu_says_so(start_daemon: Any, make_bundle: BundleFactory) -> None:
    daemon: RunningDaemon = await start_daemon(criu=None)
    await start_container(daemon.client, "c", make_bundle())
    response = await checkpoint(daemon.client, "c", "x")
    assert response.status_code == 500
    assert "no working CRIU" in response.json()["error"]


async def test_seed_restore_body_with_broken_json(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(COUNTER)
    await start_container(client, "redis", bundle)
    await wait_output(client, "redis", "2")
    assert (await checkpoint(client, "redis", "checkpoint-name", exit=True)).status_code == 201
    broken = f'{{\n"bundlePath": "{bundle}",\n"checkpoint: "checkpoint-name"\n}}'
    response = await client.post("/containers/redis", content=broken)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "the request body is not valid JSON: Expecting ':' delimiter at line 3, column 15"
        f" (character {broken.index('checkpoint-name')})"
    )
    fixed = broken.replace('"checkpoint: ', '"checkpoint": ')
    response = await client.post("/containers/redis", content=fixed)
    assert response.status_code == 201, response.text


async def test_migration_between_state_dirs(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Checkpoint under one daemon, restore under another with its own state dir."""
    first: RunningDaemon = await start_daemon(tmp_path / "host-a")
    second: RunningDaemon = await start_daemon(tmp_path / "host-b")
    bundle = make_bundle(COUNTER)
    await start_container(first.client, "mover", bundle)
    await wait_output(first.client, "mover", "4")
    assert (await checkpoint(first.client, "mover", "move", exit=True)).status_code == 201
    last = (await log_numbers(first.client, "mover"))[-1]
    assert (await first.client.delete("/containers/mover")).status_code == 200
    listing = await second.client.get(
        "/containers/mover/checkpoint", params={"bundlePath": str(bundle)}
    )
    assert [c["name"] for c in listing.json()] == ["move"]
    response = await second.client.post(
        "/containers/mover", json={"bundlePath": str(bundle), "checkpoint": "move"}
    )
    assert response.status_code == 201, response.text
    assert (await wait_number_after(second.client, "mover", last + 1))[0] == last + 1


async def test_checkpoint_of_a_sigstopped_init_is_409(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """CRIU cannot seize a stopped process (runc would wait for its deadline): say so at once."""
    created = await start_container(client, "stopped", make_bundle(COUNTER))
    pid = created["processes"][0]["pid"]
    # Once it runs the counter: runc's start returns before its init has exec'd the program,
    # and a SIGSTOP that reaches runc init (a Go process, many threads) during its exec can be
    # lost (the exec's ending of the other threads ends a group stop under way). Once, in a
    # whole run of the suite, the init never stopped and the wait below met its deadline.
    await wait_output(client, "stopped", "1")
    assert (
        await client.post(f"/containers/stopped/process/{pid}", json={"signal": "STOP"})
    ).status_code == 200
    while process_state(pid) != "T":
        await trio.lowlevel.checkpoint()  # the kernel stops it as it runs next
    response = await checkpoint(client, "stopped", "cp")
    assert response.status_code == 409
    assert "send it SIGCONT first" in response.json()["error"]
    assert (
        await client.post(f"/containers/stopped/process/{pid}", json={"signal": "CONT"})
    ).status_code == 200
    assert (await checkpoint(client, "stopped", "cp")).status_code == 201


async def held_answer(hold: HeldCriu, request: Awaitable[httpx.Response]) -> httpx.Response:
    """The answer to ``request``, which runs into the CRIU that ``hold`` holds; given once
    that CRIU and its script have ended."""
    answers: list[httpx.Response] = []

    async def ask() -> None:
        answers.append(await request)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await hold.held()
    await hold.ended()
    return answers[0]


async def test_a_checkpoint_past_its_deadline_ends_its_criu(
    subreaper_parent: None, daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """runc execs CRIU without a parent-death signal: killed at the deadline, it left CRIU
    dumping on, the container's tasks seized (stopped) for as long as CRIU took, here for good,
    after the daemon had answered that the container runs on.

    The in-process daemon runs in a child subreaper here (as in any program that embeds it and
    is one): the killed CRIU and its script are re-parented to the daemon's own process, which
    reaps them before it answers (they were left zombies of it, for good)."""
    hold = HeldCriu(tmp_path, "network-lock")
    client = daemon.client
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    created = await start_container(client, "c", bundle)
    init = created["processes"][0]["pid"]
    with hold:
        response = await held_answer(hold, checkpoint(client, "c", "cp", timeout=1.5))
        assert response.status_code == 504, response.text
        assert zombie_children() == []  # CRIU and its script have ended: reaped, not left
        assert process_state(init) != "t"  # no longer seized: it counts on
        numbers = await log_numbers(client, "c")
        with trio.fail_after(10):
            await wait_number_after(client, "c", numbers[-1])
        assert not (bundle / "checkpoints" / "cp").exists()


async def restore_held_past_its_deadline(
    client: httpx.AsyncClient, make_bundle: BundleFactory, hold: HeldCriu
) -> dict[str, Any]:
    """Restore ``r`` from a checkpoint of a counter ``c``, its CRIU held by ``hold`` (entered,
    at ``post-restore``) past the restore's deadline of 1.5 s: a 504. Returns the restore's
    body without the deadline, for another try."""
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(client, "c", bundle)
    await wait_output(client, "c", "1")
    assert (await checkpoint(client, "c", "cp", exit=True)).status_code == 201
    body = {"bundlePath": str(bundle), "checkpoint": "cp"}
    response = await held_answer(hold, client.post("/containers/r", json={**body, "timeout": 1.5}))
    assert response.status_code == 504, response.text
    return body


async def test_a_restore_past_its_deadline_ends_its_criu(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Killed at the deadline, runc leaves its CRIU restoring on (the restored tasks its
    children); runc put that CRIU in the container's cgroup, which the roll-back empties
    before it answers: nothing restores on after the 504, and the id restores again."""
    client = daemon.client
    with HeldCriu(tmp_path, "post-restore") as hold:
        body = await restore_held_past_its_deadline(client, make_bundle, hold)
        assert runc_ids(daemon.config.state_dir) == []
        response = await client.post("/containers/r", json=body)  # not held again
        assert response.status_code == 201, response.text
        with trio.fail_after(10):
            await wait_number_after(client, "r", 0)  # it counts


def mounts_beneath(directory: Path) -> list[str]:
    """The mount points under ``directory`` in this process's mount table, deepest first."""
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return sorted((p for p in points if p.startswith(f"{directory}/")), key=len, reverse=True)


async def test_a_restore_killed_at_its_deadline_leaves_no_cgroup_yard_nor_removes_host_cgroups(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """CRIU mounts the root of every cgroup hierarchy in its work dir (``.criu.cgyard.*``, a
    tmpfs with one cgroup mount per controller); killed at the restore's deadline it never
    unmounts them. The roll-back's removal of the work dir walked into them and removed every
    empty cgroup of the host (here: a sentinel), and left the mounts for the next removal."""
    sentinel = Path("/sys/fs/cgroup/pids") / f"yard-sentinel-{uuid.uuid4().hex[:8]}"
    sentinel.mkdir()
    try:
        with HeldCriu(tmp_path, "post-restore") as hold:
            await restore_held_past_its_deadline(daemon.client, make_bundle, hold)
        assert (mounts_beneath(daemon.config.state_dir), sentinel.is_dir()) == ([], True)
    finally:
        for point in mounts_beneath(daemon.config.state_dir):  # what a failure left
            subprocess.run(["umount", "--lazy", point], check=False)
        if sentinel.is_dir():
            sentinel.rmdir()


@pytest.mark.parametrize("route", ["container", "process", "outside"])
async def test_a_sigkill_during_a_checkpoint_ends_it_at_once(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path, route: str
) -> None:
    """A SIGKILL to the init while CRIU holds its tasks seized cannot end it: the init, in
    its exit, waits for its children, whose exits go to CRIU, their tracer, which waits on the
    init. The dump never ended, the checkpoint answered only at its deadline (600 s by
    default), every command of the container waited behind it, and a shutdown took two
    runtime deadlines. The kill ends the dump instead: a 409 that says so, at once."""
    hold = HeldCriu(tmp_path, "network-lock")
    client = daemon.client
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    created = await start_container(client, "k", bundle)
    init = created["processes"][0]["pid"]
    since = now()

    async def kill() -> None:
        if route == "container":
            assert (await client.patch("/containers/k", json={"signal": "KILL"})).is_success
        elif route == "process":
            signal_9 = {"signal": 9}
            assert (await client.post(f"/containers/k/process/{init}", json=signal_9)).is_success
        else:  # a shell's kill -9, or the OOM killer's: not through the daemon at all
            os.kill(init, signal.SIGKILL)

    answers: list[httpx.Response] = []

    async def ask() -> None:
        answers.append(await checkpoint(client, "k", "cp", exit=True, timeout=60))

    with hold, trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await hold.held()  # the tasks are seized
            await kill()
        await hold.ended()
        assert answers[0].status_code == 409, answers[0].text
        killed = "cannot checkpoint container 'k': it was killed (SIGKILL) during the checkpoint"
        assert answers[0].json() == {"error": killed}
        assert await wait_exit(client, "k", init, since) == 137
        # Its course on the event stream ends (before, its checkpoint-started had no end).
        ended = await next_event(
            client, since=since, container_id="k",
            match=lambda e: e["type"] in ("checkpoint-done", "checkpoint-failed"),
        )  # fmt: skip
        assert (ended["type"], ended["error"]) == ("checkpoint-failed", killed), ended
    assert (await client.get("/containers/k")).json()["state"]["status"] == "stopped"
    assert not (bundle / "checkpoints" / "cp").exists()
    assert runc_ids(daemon.config.state_dir) in ([], ["k"])
    assert (await client.delete("/containers/k")).status_code == 200
    assert runc_ids(daemon.config.state_dir) == []


async def test_a_delete_during_a_checkpoint_ends_the_dump_at_its_timeout(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A DELETE whose container CRIU dumps sends no SIGTERM (the dump would save it pending
    in the images) and waits for the dump up to its own ``timeout``, not the checkpoint's:
    then it ends the dump (runc and CRIU killed, nothing of the checkpoint left) and kills the
    container. The checkpoint answers a 409 that says the container was deleted. Before, the
    delete waited for the whole dump (here held for 60 s; 600 s by default), past its own
    timeout of 1 s."""
    hold = HeldCriu(tmp_path, "network-lock")
    client = daemon.client
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    created = await start_container(client, "d", bundle)
    init = created["processes"][0]["pid"]
    since = now()
    answers: list[httpx.Response] = []

    async def ask() -> None:
        answers.append(await checkpoint(client, "d", "cp", timeout=60))

    with hold, trio.fail_after(15):  # the dump is held for 60 s
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await hold.held()  # the tasks are seized
            deleted = await client.delete("/containers/d", params={"timeout": 1})
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["state"]["exitStatus"] == 137
        await hold.ended()
        assert await wait_exit(client, "d", init, since) == 137
        deleted_during = "cannot checkpoint container 'd': it was deleted during the checkpoint"
        assert answers[0].status_code == 409, answers[0].text
        assert answers[0].json() == {"error": deleted_during}
        ended = await next_event(
            client, since=since, container_id="d",
            match=lambda e: e["type"] in ("checkpoint-done", "checkpoint-failed"),
        )  # fmt: skip
        assert (ended["type"], ended["error"]) == ("checkpoint-failed", deleted_during), ended
    assert (await client.get("/containers/d")).status_code == 404
    assert not (bundle / "checkpoints" / "cp").exists()
    assert runc_ids(daemon.config.state_dir) == []


async def test_a_dump_that_ends_within_a_deletes_timeout_is_kept_and_holds_no_sigterm(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A DELETE that comes while CRIU dumps the container sends its SIGTERM once the dump has
    ended, not during it (where the images would keep it pending, for their restore to
    deliver): a dump that ends within the delete's timeout keeps its checkpoint, and the
    container then takes the SIGTERM (its trap exits 3) within the rest of the grace.
    Restored, the checkpoint runs on, and takes its signals as it did."""
    hold = HeldCriu(tmp_path, "network-lock", releasable=True)
    client = daemon.client
    traps = "trap 'echo term; exit 3' TERM; trap 'echo winch' WINCH; echo ready"
    bundle, lock = await _ready_under_a_hold(daemon, make_bundle, hold, "t", traps)
    answers: dict[str, httpx.Response] = {}

    async def ask() -> None:
        answers["checkpoint"] = await checkpoint(client, "t", "cp", timeout=60)

    async def delete() -> None:
        answers["delete"] = await client.delete("/containers/t", params={"timeout": 30})

    with hold, trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await hold.held()  # the tasks are seized
            nursery.start_soon(delete)
            await _until_waiting(lock)
            hold.release()
        assert answers["checkpoint"].status_code == 201, answers["checkpoint"].text
        assert answers["delete"].status_code == 200, answers["delete"].text
        assert answers["delete"].json()["state"]["exitStatus"] == 3  # its trap, after the dump
        restore = {"bundlePath": str(bundle), "checkpoint": "cp"}
        assert (await client.post("/containers/t", json=restore)).status_code == 201
        # No SIGTERM pending in the images: it would have ended the restored shell (exit 3)
        # before it could take this WINCH, sent once the restore answered.
        assert (await client.patch("/containers/t", json={"signal": "WINCH"})).is_success
        await wait_output(client, "t", "winch")
    restored = await client.get("/containers/t")
    assert restored.json()["state"]["status"] == "running"
    assert "term" not in (await client.get("/containers/t/logs")).text
    assert (await client.delete("/containers/t", params={"timeout": 0})).status_code == 200


async def _ready_under_a_hold(
    daemon: RunningDaemon,
    make_bundle: BundleFactory,
    hold: HeldCriu,
    container_id: str,
    traps: str,
) -> tuple[Path, trio.Lock]:
    """A shell running ``traps`` (which says ready), its CRIU held by ``hold``: its bundle,
    and the container's lock, which a delete behind its dump waits for."""
    bundle = make_bundle(("sh", "-c", until_trapped(traps)), edit=hold.annotate)
    await start_container(daemon.client, container_id, bundle)
    await wait_output(daemon.client, container_id, "ready")
    assert daemon.daemon.supervisor is not None
    return bundle, daemon.daemon.supervisor.container(container_id).lock


async def _until_waiting(lock: trio.Lock) -> None:
    """Until a task waits for ``lock`` (the delete, behind the dump): no event says so."""
    while not lock.statistics().tasks_waiting:  # noqa: ASYNC110 - no event for it
        await trio.sleep(0.01)


async def test_a_delete_waiting_for_a_dump_has_the_container_refused_as_being_deleted(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A DELETE that comes while a checkpoint's dump holds the container waits for the dump
    (within its grace), and the container is being deleted from then on, as docker's rm
    marks its removal in progress before it waits for anything: another DELETE, an exec, a
    pause, a change of limits, a checkpoint and a start of its id answer 409 "being deleted"
    at once. Before, they queued behind the dump and the delete: a second DELETE's timeout of
    0 ended the dump at once, the first's grace cut short, and that DELETE then answered a
    404. The wait marks no record: a server that dies then has the next one adopt the
    container as the dump leaves it."""
    hold = HeldCriu(tmp_path, "network-lock", releasable=True)
    client = daemon.client
    # Its SIGTERM, once the dump has let go, ends it at once (a shell as pid 1 ignores it).
    bundle, lock = await _ready_under_a_hold(
        daemon, make_bundle, hold, "w", "trap 'exit 3' TERM; echo ready"
    )
    answers: dict[str, httpx.Response] = {}

    async def ask() -> None:
        answers["checkpoint"] = await checkpoint(client, "w", "cp", timeout=60)

    async def delete() -> None:
        answers["delete"] = await client.delete("/containers/w", params={"timeout": 30})

    being_deleted = {"error": "container 'w' is being deleted"}
    with hold, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await hold.held()  # the tasks are seized
            nursery.start_soon(delete)
            await _until_waiting(lock)
            with trio.fail_after(5):  # at once: not behind the dump (held until released)
                refused = {
                    "delete": await client.delete("/containers/w", params={"timeout": 0}),
                    "exec": await client.put("/containers/w/processes", json={"args": ["true"]}),
                    "pause": await client.patch("/containers/w", json={"status": "paused"}),
                    "limits": await client.patch(
                        "/containers/w", json={"resources": {"pids": {"limit": 50}}}
                    ),
                    "checkpoint": await checkpoint(client, "w", "other"),
                    "start": await client.post("/containers/w", json={"bundlePath": str(bundle)}),
                }
            for what, answer in refused.items():
                assert (what, answer.status_code, answer.json()) == (what, 409, being_deleted)
            # A GET still answers; the record is the dump's, unmarked (for a next server).
            assert (await client.get("/containers/w")).json()["state"]["status"] == "running"
            assert not recorded_container(daemon.config.journal_path, "w").get("deleting")
            assert "delete" not in answers
            hold.release()
        assert answers["checkpoint"].status_code == 201, answers["checkpoint"].text
        assert answers["delete"].status_code == 200, answers["delete"].text
        assert answers["delete"].json()["state"]["exitStatus"] == 3  # its SIGTERM, after the dump
    assert (await client.get("/containers/w")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []


async def test_a_checkpoint_being_restored_from_is_not_deleted(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A delete of a checkpoint while a restore read it answered 200 and removed the images
    under CRIU: the restore failed with a 500 in CRIU's words (``rlimit: Can't setup
    RLIMIT_NOFILE``), which named no delete. The delete is a 409 now, until the restore
    answered; then it removes the checkpoint as ever."""
    client = daemon.client
    hold = HeldCriu(tmp_path, "post-restore")
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(client, "c", bundle)
    await wait_output(client, "c", "1")
    assert (await checkpoint(client, "c", "cp", exit=True)).status_code == 201
    body = {"bundlePath": str(bundle), "checkpoint": "cp", "timeout": 3}
    answers: list[httpx.Response] = []

    async def restore() -> None:
        answers.append(await client.post("/containers/r", json=body))

    with hold, trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(restore)
            await hold.held()  # CRIU restores from the images now
            refused = await client.delete("/containers/c/checkpoint/cp")
            assert refused.status_code == 409, refused.text
            assert refused.json() == {
                "error": f"checkpoint 'cp' in {bundle}/checkpoints is being restored from"
                " (container 'r'): delete it once the restore has answered"
            }
            # Through another spelling of the bundle (a link to it): the same checkpoint,
            # named in the container's own bundle (the home of a listed one's checkpoints).
            alias = tmp_path / "alias"
            alias.symlink_to(bundle)
            params = {"bundlePath": str(alias)}
            refused = await client.delete("/containers/c/checkpoint/cp", params=params)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"].startswith(f"checkpoint 'cp' in {bundle}/checkpoints")
            # And under an id the daemon does not list, the link itself named.
            refused = await client.delete("/containers/none/checkpoint/cp", params=params)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"].startswith(f"checkpoint 'cp' in {alias}/checkpoints")
            assert (bundle / "checkpoints" / "cp" / "checkpoint.json").exists()
        assert answers[0].status_code == 504, answers[0].text  # the held CRIU, at its deadline
    assert (await client.delete("/containers/c/checkpoint/cp")).status_code == 200
    assert not (bundle / "checkpoints" / "cp").exists()


async def test_a_checkpoint_being_written_is_not_taken_for_a_foreign_directory(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """While a dump is under way its directory is there without its metadata. A delete of
    the name, another dump to it and a restore from it were the 409 (the restore the 404)
    of a directory the daemon did not make, "remove it by hand once nothing writes to it":
    the daemon's own, which a client that did so took from under the dump. Each is a 409
    that names the dump now, however the bundle is spelt; the dump then answers as ever."""
    gated = GatedRunc(tmp_path, "checkpoint")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    bundle = make_bundle()
    alias = tmp_path / "alias"
    alias.symlink_to(bundle)
    await start_container(client, "c", bundle)
    await start_container(client, "d", bundle)
    answers: list[httpx.Response] = []

    async def dump() -> None:
        answers.append(await checkpoint(client, "c", "cp"))

    writing = f"checkpoint 'cp' in {bundle}/checkpoints is being written (container 'c'):"
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dump)
            await gated.reached()  # the images directory is made, runc checkpoint held
            assert (bundle / "checkpoints" / "cp").is_dir()
            refused = await client.delete("/containers/c/checkpoint/cp")
            assert (refused.status_code, refused.json()) == (
                409,
                {"error": f"{writing} delete it once that checkpoint has answered"},
            )
            refused = await client.delete(
                "/containers/d/checkpoint/cp", params={"bundlePath": str(alias)}
            )
            assert refused.status_code == 409, refused.text
            assert "is being written (container 'c')" in refused.json()["error"]
            refused = await checkpoint(client, "d", "cp")
            assert (refused.status_code, refused.json()) == (
                409,
                {"error": f"{writing} checkpoint to it once that checkpoint has answered"},
            )
            body = {"bundlePath": str(bundle), "checkpoint": "cp"}
            refused = await client.post("/containers/r", json=body)
            assert (refused.status_code, refused.json()) == (
                409,
                {"error": f"{writing} restore from it once that checkpoint has answered"},
            )
            assert (await client.get("/containers/r")).status_code == 404
            await trio.Path(gated.gate).write_text("go\n")
        assert answers[0].status_code == 201, answers[0].text
        assert (bundle / "checkpoints" / "cp" / "checkpoint.json").exists()
        assert (await client.delete("/containers/d/checkpoint/cp")).status_code == 200
        for container_id in ("c", "d"):
            await client.delete(f"/containers/{container_id}", params={"timeout": 0})


async def test_a_dump_under_way_as_the_daemon_stops_ends_its_course(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A daemon stopped (SIGTERM, ``systemctl stop``) while a checkpoint's dump runs cancels
    the dump; the event log then says the dump failed, as the daemon is stopping. Before,
    its ``checkpoint-started`` had no end there: a watcher of the course (``ctr-trio
    events``, the status page) saw a checkpoint under way forever, the next daemon too. (A
    stop lets the commands under way finish within twice the runtime deadline: 2 s here.)"""
    daemon = await start_daemon(runtime_timeout=1)
    hold = HeldCriu(tmp_path, "network-lock")
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(daemon.client, "k", bundle)
    since = now()
    answers: list[httpx.Response | Exception] = []

    async def ask() -> None:
        try:
            answers.append(await checkpoint(daemon.client, "k", "cp", timeout=60))
        except httpx.HTTPError as exc:  # the daemon went away before it answered
            answers.append(exc)

    with hold, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await hold.held()  # the tasks are seized
            await daemon.stop()
    again = await start_daemon(daemon.config.state_dir)
    with trio.fail_after(10):
        ended = await next_event(
            again.client, since=since, container_id="k",
            match=lambda e: e["type"] in ("checkpoint-done", "checkpoint-failed"),
        )  # fmt: skip
    assert (ended["type"], ended["error"]) == (
        "checkpoint-failed",
        "cancelled: the daemon is stopping",
    ), ended
    assert ended["checkpoint"] == "cp"


async def test_a_listed_container_s_checkpoints_are_those_of_its_own_bundle(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``bundlePath`` for a container the daemon lists named another bundle's checkpoints
    under its id: a listing showed them, a delete removed them (``ctr-trio checkpoints rm web
    c1 -b /other`` deleted /other's c1, web's left), an export sent them, and a restore over
    the stopped container ran them under its labels, limits and log (found reading the
    routes against docker's and containerd's, where a container's checkpoints are its own).
    A listed container's bundle is their home now: another bundle is a 400 naming both,
    nothing touched; the same directory by another path (a link) is taken; an id the daemon
    does not list takes any bundlePath, as before."""
    client = daemon.client
    with trio.fail_after(60):
        bundle = make_bundle(COUNTER)
        await stopped_by_checkpoint(client, "ck-web", bundle, "c1")
        other = make_bundle(COUNTER)
        shutil.copytree(bundle / "checkpoints", other / "checkpoints")
        said = {
            "error": f"bundlePath {quoted(str(other))} is not the bundle of container 'ck-web'"
            f" ({bundle}):"
            " a listed container's checkpoints are in its own bundle (a restore over it"
            " restores from there): name that one, or delete the container first to use"
            " another bundle's under its id"
        }
        query = {"bundlePath": str(other)}
        for answer in (
            await client.get("/containers/ck-web/checkpoint", params=query),
            await client.delete("/containers/ck-web/checkpoint/c1", params=query),
            await client.get("/containers/ck-web/checkpoint/c1/archive", params=query),
            await client.post(
                "/containers/ck-web", json={"bundlePath": str(other), "checkpoint": "c1"}
            ),
        ):
            assert (answer.status_code, answer.json()) == (400, said), answer.text
        assert (other / "checkpoints" / "c1" / checkpoints.METADATA_NAME).exists()
        assert (await client.get("/containers/ck-web")).json()["state"]["status"] == "stopped"
        assert runc_ids(daemon.config.state_dir) == []
        # Another path to the container's own bundle is the same home.
        alias = tmp_path / "alias"
        alias.symlink_to(bundle)
        listed = await client.get(
            "/containers/ck-web/checkpoint", params={"bundlePath": str(alias)}
        )
        assert [c["name"] for c in listed.json()] == ["c1"], listed.text
        # An id the daemon does not list: the bundle named.
        listed = await client.get("/containers/ck-gone/checkpoint", params=query)
        assert [c["name"] for c in listed.json()] == ["c1"], listed.text
        deleted = await client.delete("/containers/ck-gone/checkpoint/c1", params=query)
        assert deleted.status_code == 200, deleted.text
        assert not (other / "checkpoints" / "c1").exists()
        assert (bundle / "checkpoints" / "c1" / checkpoints.METADATA_NAME).exists()
        # The container's own bundle restores it, as before.
        body = {"bundlePath": str(bundle), "checkpoint": "c1"}
        restored = await client.post("/containers/ck-web", json=body)
        assert restored.status_code == 201, restored.text


async def test_a_bundle_gone_is_one_400_for_what_a_client_asks_of_its_checkpoints(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """One rule for a bundle that is no longer a directory, in the checkpoints module: the
    supervisor checked the container's own bundle with open_bundle and a bundlePath with
    is_dir(), then the module opened it again and took a gone bundle for one without
    checkpoints (a listing ``[]``, a delete 404). The module says it now (400); and a
    bundlePath is checked as a start checks it, in a start's words: a loop of links was
    ``is not a directory`` for the listing, ``cannot be opened: Too many levels of symbolic
    links`` for a start."""
    gone = tmp_path / "gone"
    said = f"the bundle {gone} is no longer a directory"
    with pytest.raises(InvalidRequest, match=re.escape(said)):
        checkpoints.list_all(gone)
    with pytest.raises(InvalidRequest, match=re.escape(said)):
        checkpoints.delete(gone, "c1")
    with pytest.raises(InvalidRequest, match=re.escape(said)):
        checkpoints.load(gone, "c1")
    checkpoints.check_directory(gone)  # an import's: the archive may make the bundle
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    started = await client.post("/containers/ck-loop", json={"bundlePath": str(loop)})
    assert started.status_code == 400, started.text
    assert "Too many levels of symbolic links" in started.json()["error"]
    query = {"bundlePath": str(loop)}
    for answer in (
        await client.get("/containers/ck-loop/checkpoint", params=query),
        await client.delete("/containers/ck-loop/checkpoint/c1", params=query),
        await client.get("/containers/ck-loop/checkpoint/c1/archive", params=query),
    ):
        assert (answer.status_code, answer.json()) == (400, started.json()), answer.text


async def test_a_failed_restore_s_message_leads_with_criu_s_failure(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A failed restore's message opened with CRIU's ``rlimit: Can't setup RLIMIT_NOFILE for
    self`` (every restore's log has it where the hard limit is below fs/nr_open, successful
    ones too), and a user read it as the cause (found restoring from a checkpoint whose
    inventory.img was gone). The failure's error lines lead now, that one after them; the
    message still names CRIU's log."""
    client = daemon.client
    with trio.fail_after(60):
        bundle = make_bundle(COUNTER)
        await stopped_by_checkpoint(client, "ck-rl", bundle, "cp")
        (bundle / "checkpoints" / "cp" / "inventory.img").unlink()
        body = {"bundlePath": str(bundle), "checkpoint": "cp"}
        failed = await client.post("/containers/ck-rl", json=body)
    assert failed.status_code == 500, failed.text
    head, criu_lines = failed.json()["error"].split("\nCRIU's restore.log ends with:\n")
    assert head.startswith("runc restore failed: "), head
    first = criu_lines.splitlines()[0]
    assert "Error (" in first and "RLIMIT_NOFILE" not in first, criu_lines
    assert "No inventory.img image" in criu_lines


def test_criu_s_passing_error_lines_come_after_the_failure_s(tmp_path: Path) -> None:
    """The order of :func:`checkpoints.criu_log_tail`, whatever the host's limits: the error
    lines that end nothing after the others, then the log's last lines."""
    (tmp_path / "restore.log").write_text(
        "(00.01) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self:"
        " Operation not permitted\n"
        "(00.02) Error (criu/protobuf.c:72): Unexpected EOF on (empty-image)\n"
        "(00.03) No inventory.img image\n"
    )
    assert checkpoints.criu_log_tail(tmp_path, "restore.log").splitlines() == [
        "(00.02) Error (criu/protobuf.c:72): Unexpected EOF on (empty-image)",
        "(00.01) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self:"
        " Operation not permitted",
        "(00.03) No inventory.img image",
    ]


async def test_what_runc_list_shows_of_stopped_containers(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """What docs/api.md (DELETE) tells a runc user: a container whose init exited stays in
    ``runc list``, ``stopped``, until it is deleted; one stopped by a checkpoint with exit is
    gone from runc at once, though the daemon lists it stopped. (Documents what was so.)"""
    client = daemon.client
    state_dir = daemon.config.state_dir
    with trio.fail_after(60):
        since = now()
        ended = await start_container(client, "ck-ended", make_bundle(["true"]))
        assert await wait_exit(client, "ck-ended", ended["processes"][0]["pid"], since) == 0
        await stopped_by_checkpoint(client, "ck-dumped", make_bundle(COUNTER), "cp")
        assert runc_ids(state_dir) == ["ck-ended"]
        assert runc_state(state_dir, "ck-ended")["status"] == "stopped"
        listed = (await client.get("/state")).json()["containers"]
        assert sorted((c["id"], c["state"]["status"]) for c in listed) == [
            ("ck-dumped", "stopped"),
            ("ck-ended", "stopped"),
        ]
        for container_id in ("ck-ended", "ck-dumped"):
            deleted = await client.delete(f"/containers/{container_id}")
            assert deleted.status_code == 200, deleted.text
        assert runc_ids(state_dir) == []
