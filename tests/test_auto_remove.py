"""``autoRemove`` (docker run --rm): a container removed by the daemon once its init exits; the
wait for its removal (``condition=removed``), and for its next exit (``condition=next-exit``);
``ctr-trio run --rm``. Real runc, a real daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio import attach as attach_module
from containerd_trio import procfs
from containerd_trio import supervisor as supervisor_module
from containerd_trio.client.http import Client, _Run
from containerd_trio.records import RecordJournal
from containerd_trio.timestamps import parse_ns

from .helpers import (
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    WatchedProcess,
    event_types,
    next_event,
    now,
    read_fifo_line,
    refusing_runc,
    run_status,
    runc_deletes,
    runc_ids,
    start_container,
    until_trapped,
    wait_catching,
    wait_exit,
    wait_output,
)
from .test_cli import run_cli
from .wsclient import attach

QUICK = ("sh", "-c", "echo out; echo err >&2; exit 3")
#: Exits 3 on SIGTERM (a DELETE's) or on SIGUSR1 (its own end, as it were).
TERM_OR_USR1 = ("sh", "-c", until_trapped("trap 'exit 3' TERM; trap 'exit 3' USR1"))


def _left(daemon: RunningDaemon, container_id: str) -> list[str]:
    """What is left of the container: its runc container, its directory, its record."""
    config = daemon.config
    left = []
    if container_id in runc_ids(config.state_dir):
        left.append("runc")
    if (config.containers_dir / container_id).exists():
        left.append("directory")
    if container_id in _recorded(daemon):
        left.append("record")
    return left


def _recorded(daemon: RunningDaemon) -> set[str]:
    """The ids the journal holds a live record of: what a restarted server would adopt, as
    its replay reads them (from a copy: a load rewrites the journal it reads)."""
    copy = daemon.config.state_dir.parent / "journal-copy"
    copy.write_bytes(daemon.config.journal_path.read_bytes())
    journal = RecordJournal(copy)
    try:
        return {record.container.id for record in journal.load()}
    finally:
        journal.close()


async def test_a_container_started_with_auto_remove_is_gone_after_its_exit(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    info = await start_container(client, "quick", make_bundle(QUICK), autoRemove=True)
    assert info["autoRemove"] is True
    pid = info["processes"][0]["pid"]
    with trio.fail_after(20):
        removed = await client.post("/containers/quick/wait", params={"condition": "removed"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["exitStatus"] == 3 and removed.json()["pid"] == pid
    assert (await client.get("/containers/quick")).status_code == 404
    assert "quick" not in [c["id"] for c in (await client.get("/state")).json()["containers"]]
    assert _left(daemon, "quick") == []
    with trio.fail_after(10):
        types = await event_types(client, since=since, container_id="quick", count=3)
    assert types == ["start-container", "exit", "delete"]
    # A wait that comes after the removal is answered all the same, by the container's id or
    # its init's pid; another pid was never its.
    late = await client.post("/containers/quick/wait")
    assert late.status_code == 200 and late.json() == removed.json()
    by_pid = await client.post(f"/containers/quick/process/{pid}/wait")
    assert by_pid.status_code == 200 and by_pid.json() == removed.json()
    assert (await client.post("/containers/quick/process/1/wait")).status_code == 404
    # The id is free at once: a start right after the answer is a start, not a 409.
    again = await start_container(client, "quick", make_bundle())
    assert "autoRemove" not in again
    # ... and the id's waits are the new container's from then on.
    with trio.move_on_after(0.5) as waiting:
        await client.post("/containers/quick/wait")
    assert waiting.cancelled_caught  # it runs


async def test_a_wait_for_removal_outlasts_the_exit_until_a_delete(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "kept", bundle)
    answers: dict[str, httpx.Response] = {}
    exited = trio.Event()
    async with trio.open_nursery() as nursery:

        async def wait(name: str, condition: str) -> None:
            answers[name] = await client.post(
                "/containers/kept/wait", params={"condition": condition}
            )
            if name == "exit":
                exited.set()

        nursery.start_soon(wait, "removed", "removed")
        nursery.start_soon(wait, "exit", "not-running")
        await trio.testing.wait_all_tasks_blocked()
        await client.patch("/containers/kept", json={"signal": "KILL"})
        with trio.fail_after(10):
            await exited.wait()
        # Stopped, and not started with autoRemove: it stays, and so does its removal's wait.
        assert (await client.get("/containers/kept")).json()["state"]["status"] == "stopped"
        assert "removed" not in answers
        deleted = await client.delete("/containers/kept")
        assert deleted.status_code == 200
    assert answers["exit"].json()["exitStatus"] == 137
    assert answers["removed"].status_code == 200
    assert answers["removed"].json() == answers["exit"].json()


async def test_a_wait_for_removal_outlasts_a_start_again_until_a_delete(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """docker's start is no removal (the same container): a removal's wait asked of the
    stopped container waits on through its start again, and answers the exit of the run
    its delete ended. Until 2026-12-06 it answered the start again with the stopped run's
    exit, as for a start of the id with a body (another container)."""
    await start_container(client, "again", bundle)
    await client.patch("/containers/again", json={"signal": "KILL"})
    assert (await client.post("/containers/again/wait")).json()["exitStatus"] == 137
    answers: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:

        async def wait_removed() -> None:
            answers.append(
                await client.post("/containers/again/wait", params={"condition": "removed"})
            )

        nursery.start_soon(wait_removed)
        await trio.testing.wait_all_tasks_blocked()
        started = await client.post("/containers/again/start")
        assert started.status_code == 201, started.text
        pid = started.json()["processes"][0]["pid"]
        # Its start done (the stopped run marked gone, its waits woken): the removal's
        # waits on, once all that is woken has run (the daemon is in this process).
        await trio.testing.wait_all_tasks_blocked()
        assert answers == [], answers[0].text
        deleted = await client.delete("/containers/again", params={"timeout": "0"})
        assert deleted.status_code == 200, deleted.text
    [removed] = answers
    assert removed.status_code == 200, removed.text
    assert (removed.json()["pid"], removed.json()["exitStatus"]) == (pid, 137)


async def test_a_wait_for_the_next_exit_of_a_stopped_container_answers_its_next_run(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, bundle: Path
) -> None:
    """docker's next-exit: a stopped container's next exit is that of the next start of its
    id. The wait outlasts a start that fails (the stopped container stays) and answers the
    exit of the run that the next start began, not the old one."""
    await start_container(client, "again", make_bundle(QUICK))
    with trio.fail_after(10):
        assert (await client.post("/containers/again/wait")).json()["exitStatus"] == 3
    answers: list[httpx.Response] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:

            async def wait_next() -> None:
                answers.append(
                    await client.post("/containers/again/wait", params={"condition": "next-exit"})
                )

            nursery.start_soon(wait_next)
            await trio.testing.wait_all_tasks_blocked(0.05)  # the wait is in the daemon
            assert answers == []  # stopped: its next exit is yet to come
            nope = make_bundle(["/nope"])
            failed = await client.post("/containers/again", json={"bundlePath": str(nope)})
            assert failed.status_code == 400, failed.text
            await trio.testing.wait_all_tasks_blocked(0.05)
            assert answers == []  # no run began
            started = await start_container(client, "again", bundle)
            await trio.testing.wait_all_tasks_blocked(0.05)
            assert answers == []  # the new run goes on
            await client.patch("/containers/again", json={"signal": "KILL"})
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["exitStatus"] == 137
    assert answers[0].json()["pid"] == started["processes"][0]["pid"]


async def test_a_wait_for_the_next_exit_during_a_start_waits_for_the_start(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A wait for the next exit that comes while a start of the id is under way: the exit of
    that start's run, if it starts; if it fails, the id's as before it (a stopped container's
    next run; a 404 for an id with none). It was a 404 whatever came of the start."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)

    def gated(code: int) -> Callable[[dict[str, Any]], None]:
        def edit(config: dict[str, Any]) -> None:
            # runc runs it before the container's process: it waits for the test's word.
            hook = {"path": "/bin/sh", "args": ["sh", "-c", f"read line < {gate}; exit {code}"]}
            config["hooks"] = {"createRuntime": [hook]}

        return edit

    async def under_way(container_id: str, bundle: Path) -> tuple[httpx.Response, int]:
        """Start ``bundle`` as ``container_id``; while runc is in its hook, ask for the id's
        next exit; then let the start go on. The start's answer, and the wait's once the
        start has ended (0 while it waits on)."""
        started: list[httpx.Response] = []
        waited: list[httpx.Response] = []

        async def start() -> None:
            body = {"bundlePath": str(bundle)}
            started.append(await client.post(f"/containers/{container_id}", json=body))

        async def wait_next() -> None:
            url = f"/containers/{container_id}/wait"
            waited.append(await client.post(url, params={"condition": "next-exit"}))

        nursery.start_soon(start)
        writer = await trio.to_thread.run_sync(partial(open, gate, "w"), abandon_on_cancel=True)
        with writer:
            nursery.start_soon(wait_next)
            await trio.testing.wait_all_tasks_blocked(0.05)  # the wait is in the daemon
            assert waited == []
            writer.write("go on\n")
        while not started:
            await trio.testing.wait_all_tasks_blocked(0.05)
        await trio.testing.wait_all_tasks_blocked(0.05)
        waits.append(waited)
        return started[0], len(waited)

    waits: list[list[httpx.Response]] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            # A fresh id, whose start succeeds: its run's exit.
            created, answered = await under_way("fresh", make_bundle(edit=gated(0)))
            assert created.status_code == 201, created.text
            assert answered == 0  # it runs
            await client.patch("/containers/fresh", json={"signal": "KILL"})
            # A fresh id, whose start fails: nothing runs under it.
            failed, answered = await under_way("doomed", make_bundle(edit=gated(1)))
            assert failed.status_code == 500, failed.text
            assert answered == 1
            # A stopped container, whose replacing start fails: it is back, and its next run's
            # exit is yet to come.
            await start_container(client, "again", make_bundle(QUICK))
            assert (await client.post("/containers/again/wait")).json()["exitStatus"] == 3
            failed, answered = await under_way("again", make_bundle(edit=gated(1)))
            assert failed.status_code == 500, failed.text
            assert answered == 0
            assert (await client.get("/containers/again")).json()["state"]["exitStatus"] == 3
            await start_container(client, "again", make_bundle(["sh", "-c", "exit 7"]))
    fresh, doomed, again = waits
    assert fresh[0].status_code == 200, fresh[0].text
    assert fresh[0].json()["exitStatus"] == 137
    assert fresh[0].json()["pid"] == created.json()["processes"][0]["pid"]
    assert doomed[0].status_code == 404, doomed[0].text
    assert doomed[0].json() == {"error": "container 'doomed' not found"}
    assert again[0].status_code == 200, again[0].text
    assert again[0].json()["exitStatus"] == 7


class _HeldWake:
    """A start's ``start_ended`` for a test: the start sets it as it does the real one, but a
    waiter on it goes on only once the test lets it (:attr:`let_go`). The instant between the
    start's end and the waiter's turn, made as long as the test needs."""

    def __init__(self) -> None:
        self.ended = trio.Event()
        #: A waiter is on it.
        self.waiting = trio.Event()
        self.let_go = trio.Event()

    def set(self) -> None:
        self.ended.set()

    def is_set(self) -> bool:
        return self.ended.is_set()

    async def wait(self) -> None:
        self.waiting.set()
        await self.ended.wait()
        await self.let_go.wait()


async def test_a_wait_for_the_next_exit_during_a_start_answers_that_run_deleted_since(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wait for the next exit that came during a start answers that start's run even if,
    by the waiter's turn, the container has exited and been deleted: found in review, the
    waiter looked the id up again once the start ended, and found nothing (a 404) instead of
    the exit it waited for. The waiter's turn is held until the container is gone."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)

    def gated(config: dict[str, Any]) -> None:
        # runc runs it before the container's process: it waits for the test's word.
        hook = {"path": "/bin/sh", "args": ["sh", "-c", f"read line < {gate}"]}
        config["hooks"] = {"createRuntime": [hook]}

    bundle = make_bundle(["sh", "-c", "exit 7"], edit=gated)
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    started: list[httpx.Response] = []
    start_answered = trio.Event()
    waited: list[httpx.Response] = []

    async def start() -> None:
        started.append(await client.post("/containers/brief", json={"bundlePath": str(bundle)}))
        start_answered.set()

    async def wait_next() -> None:
        waited.append(
            await client.post("/containers/brief/wait", params={"condition": "next-exit"})
        )

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(start)
            writer = await trio.to_thread.run_sync(partial(open, gate, "w"), abandon_on_cancel=True)
            with writer:  # runc is in the hook: the start is under way
                held = _HeldWake()
                monkeypatch.setattr(supervisor._containers["brief"], "start_ended", held)
                nursery.start_soon(wait_next)
                await held.waiting.wait()  # the wait waits for the start
                writer.write("go on\n")
            await start_answered.wait()
            assert started[0].status_code == 201, started[0].text
            exited = await client.post("/containers/brief/wait")
            assert exited.json()["exitStatus"] == 7
            assert (await client.delete("/containers/brief")).status_code == 200
            assert waited == []
            held.let_go.set()
    assert waited[0].status_code == 200, waited[0].text
    assert waited[0].json() == exited.json()
    assert waited[0].json()["pid"] == started[0].json()["processes"][0]["pid"]


async def test_a_wait_for_the_next_exit_of_a_running_container_answers_its_exit(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, bundle: Path
) -> None:
    """A running container's next exit is its own; a stopped one removed before its next exit
    is a 404, as is an id whose container autoRemove removed already (no next exit comes to
    it) and an unknown one."""
    answers: list[httpx.Response] = []

    async def wait_next() -> None:
        answers.append(
            await client.post("/containers/runs/wait", params={"condition": "next-exit"})
        )

    started = await start_container(client, "runs", bundle)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_next)
            await trio.testing.wait_all_tasks_blocked(0.05)
            assert answers == []
            await client.patch("/containers/runs", json={"signal": "KILL"})
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["exitStatus"] == 137
    assert answers[0].json()["pid"] == started["processes"][0]["pid"]
    # Stopped now: a delete before its next start ends the wait for it.
    answers.clear()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_next)
            await trio.testing.wait_all_tasks_blocked(0.05)
            assert answers == []
            assert (await client.delete("/containers/runs")).status_code == 200
    assert answers[0].status_code == 404
    assert answers[0].json() == {"error": "container 'runs' was removed before its next exit"}
    await start_container(client, "quick", make_bundle(QUICK), autoRemove=True)
    with trio.fail_after(20):
        await client.post("/containers/quick/wait", params={"condition": "removed"})
    for gone in ("quick", "ghost"):
        answer = await client.post(f"/containers/{gone}/wait", params={"condition": "next-exit"})
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"error": f"container {gone!r} not found"}


async def test_an_attached_client_gets_all_output_and_the_status_before_the_removal(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(["sh", "-c", "read line; echo got $line; echo bye >&2; exit 4"])
    info = await start_container(client, "talk", bundle, autoRemove=True, stdin=True)
    pid = info["processes"][0]["pid"]
    session = await attach(daemon.url, "talk", pid, query="logs=true")
    await session.type("hello\n")
    with trio.fail_after(20):
        assert await session.to_end() == 4
    assert session.output == b"got hello\n" and session.stderr == b"bye\n"
    with trio.fail_after(20):
        removed = await client.post("/containers/talk/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 4
    assert _left(daemon, "talk") == []


async def test_a_slow_reader_that_keeps_reading_gets_all_output_before_the_removal(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The removal waited for the attach sessions _ATTACHED_GRACE seconds at most: a client
    still reading a big output slowly (never pausing for that long, but taking longer than
    that in all) had its session outlived by the removal. It waits as long as the sessions
    go on sending; only a session that sends nothing for _ATTACHED_GRACE (a reader that
    stopped) is given up on. The grace (5 s) is made 2 s here, so that a reading that takes
    well over it takes seconds, not tens: still a hundred times the reader's pauses."""
    monkeypatch.setattr(supervisor_module, "_ATTACHED_GRACE", 2.0)
    size = 3 * 1024 * 1024
    line = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    bundle = make_bundle(
        ["sh", "-c", f"read go; yes {line.decode().strip()} | head -c {size}; exit 5"]
    )
    info = await start_container(client, "flood", bundle, autoRemove=True, stdin=True)
    pid = info["processes"][0]["pid"]
    session = await attach(daemon.url, "flood", pid, query="logs=true")
    # Small reads and a small receive buffer, so that the server sends at our pace: 3 MiB at
    # 16 KiB a read, 20 ms apart, takes over 4 s (the removal of old came 2 s after the exit,
    # with some 1.5 MiB read: short of the 2 MiB asserted below).
    session.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    session.read_size, session.pause = 16 * 1024, 0.02
    removed_at: list[int] = []
    async with trio.open_nursery() as nursery:

        async def removal() -> None:
            await client.post("/containers/flood/wait", params={"condition": "removed"})
            removed_at.append(len(session.output))

        nursery.start_soon(removal)
        await session.type("go\n")
        with trio.fail_after(40):
            assert await session.to_end() == 5
    assert len(session.output) == size
    assert bytes(session.output) == (line * (size // len(line) + 1))[:size]
    # The removal came once the session had sent it all: what we read after its answer was in
    # the sockets' buffers by then (far less than a MiB; of old, 2 s of reading were left).
    assert removed_at and removed_at[0] >= size - 1024 * 1024, removed_at
    assert _left(daemon, "flood") == []


async def test_a_reader_that_stopped_reading_is_given_up_on_after_the_grace(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session that sends nothing (its client stopped reading) is given up on once it has
    sent nothing for _ATTACHED_GRACE seconds: the removal does not wait for the session's own
    end (the send timeout, made a minute here)."""
    monkeypatch.setattr(supervisor_module, "_ATTACHED_GRACE", 0.5)
    monkeypatch.setattr(attach_module, "SEND_TIMEOUT", 60.0)
    bundle = make_bundle(["sh", "-c", "read go; yes 0123456789 | head -c 4194304; exit 5"])
    info = await start_container(client, "stuck", bundle, autoRemove=True, stdin=True)
    pid = info["processes"][0]["pid"]
    session = await attach(daemon.url, "stuck", pid, query="logs=true")
    session.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    await session.type("go\n")  # and read nothing
    with trio.fail_after(20):
        removed = await client.post("/containers/stuck/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 5
    assert _left(daemon, "stuck") == []
    await session.drop()


async def test_auto_remove_set_and_refused_through_patch(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, bundle: Path
) -> None:
    # A stopped container is removed at once.
    await start_container(client, "done", make_bundle(QUICK))
    with trio.fail_after(10):
        await client.post("/containers/done/wait")
    patched = await client.patch("/containers/done", json={"autoRemove": True})
    assert patched.status_code == 200, patched.text
    with trio.fail_after(20):
        removed = await client.post("/containers/done/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 3
    assert _left(daemon, "done") == []
    # A running one once it exits; false takes it back.
    await start_container(client, "later", bundle)
    assert (await client.patch("/containers/later", json={"autoRemove": True})).json()[
        "autoRemove"
    ] is True
    back = await client.patch("/containers/later", json={"autoRemove": False})
    assert "autoRemove" not in back.json()
    await client.patch("/containers/later", json={"autoRemove": True})
    await client.patch("/containers/later", json={"signal": "KILL"})
    with trio.fail_after(20):
        removed = await client.post("/containers/later/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 137
    # One thing at a time, and a boolean.
    await start_container(client, "box", bundle)
    both = await client.patch("/containers/box", json={"autoRemove": True, "signal": "KILL"})
    assert both.status_code == 400
    assert '"signal" and "autoRemove"' in both.json()["error"]
    word = await client.patch("/containers/box", json={"autoRemove": "yes"})
    assert word.status_code == 400 and "autoRemove" in word.json()["error"]
    assert (await client.get("/containers/box")).json()["state"]["status"] == "running"
    assert (await client.patch("/containers/ghost", json={"autoRemove": True})).status_code == 404


async def test_bad_auto_remove_and_condition_are_400s_that_leave_nothing(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    bad = await client.post("/containers/bad", json={"bundlePath": str(bundle), "autoRemove": 1})
    assert bad.status_code == 400
    assert "autoRemove" in bad.json()["error"]
    assert (await client.get("/containers/bad")).status_code == 404
    assert _left(daemon, "bad") == []
    await start_container(client, "box", bundle)
    wrong = await client.post("/containers/box/wait", params={"condition": "gone"})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == (
        "query parameter condition must be one of not-running, next-exit, removed, not 'gone'"
    )
    assert (await client.post("/containers/ghost/wait?condition=removed")).status_code == 404


async def test_run_rm_removes_the_container_after_its_output_and_status(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, bundle: Path
) -> None:
    ctr = ("--address", daemon.url)
    quick = str(make_bundle(QUICK))
    for _ in range(3):  # the same id again at once: the last one is gone by the time we end
        ran = await run_cli(*ctr, "run", "--rm", "-b", quick, "rr")
        assert (ran.code, ran.out, ran.err) == (3, "out\n", "err\n")
        assert (await client.get("/containers/rr")).status_code == 404
        waited = await run_cli(*ctr, "wait", "rr")  # its status, though it is gone
        assert (waited.code, waited.out) == (0, "3\n"), waited.err
    assert _left(daemon, "rr") == []
    # Detached: the daemon removes it at its exit.
    started = await run_cli(*ctr, "run", "-d", "--rm", "-b", str(bundle), "bg")
    assert started.code == 0, started.err
    info = (await client.get("/containers/bg")).json()
    assert info["autoRemove"] is True
    assert (await run_cli(*ctr, "kill", "-s", "KILL", "bg")).code == 0
    waited = await run_cli(*ctr, "wait", "bg")  # its status, if it is removed already too
    assert (waited.code, waited.out) == (0, "137\n")
    with trio.fail_after(20):
        await client.post("/containers/bg/wait", params={"condition": "removed"})
    assert _left(daemon, "bg") == []


async def test_a_container_that_exits_while_no_server_runs_is_removed_by_the_next(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    daemon = await spawn_daemon()
    http = daemon.client
    started = await http.post(
        "/containers/gone", json={"bundlePath": str(bundle), "autoRemove": True}
    )
    assert started.status_code == 201, started.text
    pid = started.json()["processes"][0]["pid"]
    server = daemon.server_pid()
    pidfd = os.pidfd_open(pid)
    os.kill(server, signal.SIGSTOP)  # no server runs from here on
    try:
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
        await daemon.kill_server()  # SIGKILL ends a stopped process too
    with trio.fail_after(20):
        removed = await http.post("/containers/gone/wait", params={"condition": "removed"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["exitStatus"] == 137  # the keeper kept it
    assert (await http.get("/containers/gone")).status_code == 404
    assert "gone" not in runc_ids(daemon.state_dir)
    assert not (daemon.state_dir / "containers" / "gone").exists()


async def test_a_checkpoint_that_stops_it_keeps_it_for_its_restore(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A checkpoint with exit stops the container to restore it later: that is no exit to
    remove it for. It stays, stopped, and its restore (at once) continues its log and keeps
    autoRemove, and its labels (those the restore gives are added: it dropped them all, as a
    review found; docker start --checkpoint keeps them); the restored one is removed once it
    exits."""
    bundle = make_bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"])
    labels = {"team": "infra", "tier": "a"}
    await start_container(client, "saved", bundle, autoRemove=True, labels=labels)
    await wait_output(client, "saved", "3\n")
    checkpoint = await client.post("/containers/saved/checkpoint/k", json={"exit": True})
    assert checkpoint.status_code == 201, checkpoint.text
    kept = (await client.get("/containers/saved")).json()
    assert kept["state"]["status"] == "stopped" and kept["autoRemove"] is True
    restored = await client.post(
        "/containers/saved",
        json={"bundlePath": str(bundle), "checkpoint": "k", "labels": {"tier": "b"}},
    )
    assert restored.status_code == 201, restored.text
    assert restored.json()["autoRemove"] is True
    assert restored.json()["labels"] == {"team": "infra", "tier": "b"}
    log = (await client.get("/containers/saved/logs")).text
    assert '"data":"1\\n"' in log  # the output from before the checkpoint is still there
    await client.patch("/containers/saved", json={"signal": "KILL"})
    with trio.fail_after(20):
        removed = await client.post("/containers/saved/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 137
    assert _left(daemon, "saved") == []


async def test_a_wait_for_removal_outlives_a_start_that_failed_to_replace_it(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A start of a stopped container's id removes it first; if the start fails, the stopped
    one is back: not removed, so its removal's waiters wait on, until it is."""
    await start_container(client, "back", make_bundle(QUICK))
    with trio.fail_after(10):
        await client.post("/containers/back/wait")
    answers: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:

        async def wait_removed() -> None:
            answers.append(
                await client.post("/containers/back/wait", params={"condition": "removed"})
            )

        nursery.start_soon(wait_removed)
        await trio.testing.wait_all_tasks_blocked()
        failed = await client.post(
            "/containers/back", json={"bundlePath": str(make_bundle(["/no/such/binary"]))}
        )
        assert failed.status_code == 400, failed.text
        assert (await client.get("/containers/back")).json()["state"]["exitStatus"] == 3
        await trio.testing.wait_all_tasks_blocked(0.05)  # a wrong answer would be in by now
        assert answers == []  # it is back, not removed
        assert (await client.delete("/containers/back")).status_code == 200
    assert answers[0].status_code == 200 and answers[0].json()["exitStatus"] == 3


async def test_a_wait_after_a_server_restart_answers_a_container_auto_remove_removed(
    spawn_daemon: Any, make_bundle: BundleFactory, bundle: Path, plain_parent: None
) -> None:
    # The removal's memory survives the server (from the kept log's ``delete``, marked
    # autoRemove): a client whose wait a crash cut asks again, and meets the answer it would
    # have had, not a 404 (until 2026-12-05 a restarted server remembered none of these).
    daemon = await spawn_daemon()
    http = daemon.client
    started = await http.post(
        "/containers/quick", json={"bundlePath": str(make_bundle(QUICK)), "autoRemove": True}
    )
    assert started.status_code == 201, started.text
    pid = started.json()["processes"][0]["pid"]
    with trio.fail_after(20):
        removed = await http.post("/containers/quick/wait", params={"condition": "removed"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["exitStatus"] == 3 and removed.json()["pid"] == pid
    # A container its user deleted is not one autoRemove removed: its waits are 404s, as
    # they were before the restart.
    await start_container(http, "deleted", bundle)
    assert (await http.delete("/containers/deleted", params={"timeout": 0})).status_code == 200
    await daemon.kill_server()
    # As the live server's answer, its time too: its ``exit`` event's exitedAt, not the
    # event's stamp (see the test below).
    answer = removed.json()
    for condition in ("not-running", "removed"):
        again = await http.post("/containers/quick/wait", params={"condition": condition})
        assert again.status_code == 200, again.text
        assert again.json() == answer
    by_pid = await http.post(f"/containers/quick/process/{pid}/wait")
    assert by_pid.status_code == 200 and by_pid.json() == answer
    next_exit = await http.post("/containers/quick/wait", params={"condition": "next-exit"})
    assert next_exit.status_code == 404  # no next exit comes to it, as before the restart
    assert (await http.get("/containers/quick")).status_code == 404
    assert (await http.post("/containers/deleted/wait")).status_code == 404
    # A start of the id makes it another container's: the memory of the removed one goes,
    # and once its user deleted that one too, the id's waits are 404s across a restart.
    await start_container(http, "quick", bundle)
    assert (await http.delete("/containers/quick", params={"timeout": 0})).status_code == 200
    assert (await http.post("/containers/quick/wait")).status_code == 404
    await daemon.kill_server()
    assert (await http.post("/containers/quick/wait")).status_code == 404


async def _reaped(pid: int) -> None:
    """Until process ``pid`` is reaped (or was): the keeper takes an exit's time as it reaps.
    Nothing tells another process than the parent of a reap: look, as wait_catching does.
    Its start time tells it from a process given the pid again since."""
    started = procfs.start_time(pid)
    while True:
        if started is None or procfs.start_time(pid) != started:
            return
        await trio.sleep(0.01)


async def test_a_wait_after_a_server_restart_answers_the_exit_s_time_not_its_event_s_stamp(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, plain_parent: None
) -> None:
    """An init that exits before the server publishes its start (held here after runc run
    until the keeper reaped the init): its ``exit`` is stamped after the ``start-container``,
    the log's timestamps strictly increasing, so later than the exit. The wait for its removal
    asked again after a kill -9 of the server answers the exit's own time, as the server that
    saw it did: the event carries it (``exitedAt``). Before, the next server answered the
    event's stamp (12:03:19.121847747 where the first answered 12:03:19.120897712)."""
    gated = GatedRunc(tmp_path, "run", after=True)
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    http = daemon.client
    since = now()
    started: list[httpx.Response] = []

    async def start() -> None:
        body = {"bundlePath": str(make_bundle(QUICK)), "autoRemove": True}
        started.append(await http.post("/containers/quick", json=body))

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(start)
            await gated.reached()  # runc run has run; the server has published no start
            state = daemon.state_dir / "runc" / "quick" / "state.json"
            pid = json.loads(state.read_text())["init_process_pid"]
            await _reaped(pid)  # its exit's time taken, before the start is published
            (held,) = gated.running()
            async with gated.opened(held):
                pass  # the start goes on (and every later one, were there any)
        assert started[0].status_code == 201, started[0].text
        assert started[0].json()["processes"][0]["pid"] == pid
        removed = await http.post("/containers/quick/wait", params={"condition": "removed"})
        exited = await next_event(
            http, since=since, container_id="quick", match=lambda e: e["type"] == "exit"
        )
    assert removed.status_code == 200, removed.text
    answer = removed.json()
    assert (answer["exitStatus"], answer["pid"]) == (3, pid), answer
    # What the hold arranged: the event stamped after the exit.
    assert parse_ns(exited["timestamp"]) > parse_ns(answer["exitedAt"]), (exited, answer)
    with trio.fail_after(30):
        await daemon.kill_server()
    for condition in ("not-running", "removed"):
        again = await http.post("/containers/quick/wait", params={"condition": condition})
        assert (again.status_code, again.json()) == (200, answer), (condition, again.text)
    by_pid = await http.post(f"/containers/quick/process/{pid}/wait")
    assert (by_pid.status_code, by_pid.json()) == (200, answer), by_pid.text
    # The event says the exit's time as the wait does (the stream's readers have it too).
    assert exited["exitedAt"] == answer["exitedAt"], (exited, answer)


async def test_an_exit_no_daemon_saw_is_answered_alike_by_the_server_that_found_it_and_the_next(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    """An init that ended while no daemon ran at all (keeper and server killed): its status
    and time are unknown, and the wait of the container autoRemove removed at its adoption
    says neither its pid nor a time (api.md), as its record has neither. A next server (kill
    -9 of the server) takes the removal up from the kept log, and answered the ``exit``'s pid
    and its stamp (when it was found) as the time: the event did not tell such an exit from
    one kept from before ``exitedAt``. Now it says ``unseen``, and both servers answer alike;
    so they do for a plain container (its record), and for both inits' process waits."""
    first: DaemonProcess = await spawn_daemon()
    since = now()
    inits = {}
    created = {}
    for container_id, auto_remove in (("rm", True), ("plain", False)):
        body = {"bundlePath": str(bundle), "autoRemove": auto_remove}
        started = await first.client.post(f"/containers/{container_id}", json=body)
        assert started.status_code == 201, started.text
        inits[container_id] = started.json()["processes"][0]["pid"]
        created[container_id] = started.json()["createdAt"]
    with WatchedProcess(inits["rm"]) as rm, WatchedProcess(inits["plain"]) as plain:
        await first.kill_hard()  # the keeper: its server goes with it
        for init in (rm, plain):
            init.kill()
        with trio.fail_after(10):
            for init in (rm, plain):
                await init.wait_reaped()  # by init: no zombie left for a server to adopt

    second: DaemonProcess = await spawn_daemon()
    http = second.client

    async def answers() -> dict[str, tuple[int, Any]]:
        """Each wait's status and body, and the plain container's view."""
        asked = {
            f"{container_id} {condition}": await http.post(
                f"/containers/{container_id}/wait", params={"condition": condition}
            )
            for container_id in ("rm", "plain")
            for condition in ("not-running", "removed")
            if (container_id, condition) != ("plain", "removed")  # it stays: waits for ever
        }
        for container_id, pid in inits.items():
            asked[f"{container_id} {pid}"] = await http.post(
                f"/containers/{container_id}/process/{pid}/wait"
            )
        asked["plain view"] = await http.get("/containers/plain")
        return {name: (response.status_code, response.json()) for name, response in asked.items()}

    with trio.fail_after(20):  # the removal first waits 5 s for attach sessions to come back
        removed = await http.post("/containers/rm/wait", params={"condition": "removed"})
    assert (removed.status_code, removed.json()) == (200, {"id": "rm", "exitStatus": 255})
    found = await answers()
    assert found["rm removed"] == found["rm not-running"] == (200, removed.json()), found
    assert found["plain not-running"] == (200, {"id": "plain", "exitStatus": 255}), found
    assert "finishedAt" not in found["plain view"][1]["state"], found
    with trio.fail_after(30):
        await second.kill_server()
    again = await answers()
    assert again == found
    # What tells the next server: the exit says no daemon saw it, and has no time of its own.
    exited = await next_event(
        http, since=since, container_id="rm", match=lambda e: e["type"] == "exit"
    )
    assert (exited["pid"], exited["status"], exited.get("unseen")) == (inits["rm"], 255, True)
    assert "exitedAt" not in exited, exited
    # ctr-trio wait, asked again once the record is gone, reads the exit from the log: it
    # answers as the daemon's wait, the status alone (before, the pid and the stamp).
    run = _Run(created["rm"], 0, inits["rm"])  # the record as the wait was first asked

    def from_the_log() -> Any:
        with Client(f"unix:{second.socket}") as api:
            return api._exit_of("rm", run, removed=True)

    with trio.fail_after(20):
        assert await trio.to_thread.run_sync(from_the_log) == removed.json()
    response = await http.delete("/containers/plain", params={"timeout": 0})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("remover", ["user", "autoRemove"])
async def test_a_removal_a_crash_cut_after_the_exit_is_finished_as_whose_it_was(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, plain_parent: None, remover: str
) -> None:
    """kill -9 of the server while the runc delete of an autoRemove container, which has
    exited, is held: one its user's DELETE ended (its SIGTERM came first), or one that ended
    by itself. The next server finishes the removal as the one it was: its ``delete`` says
    ``autoRemove`` for autoRemove's alone, and a wait asked again answers the exit of that
    one only, a 404 for the user's, as the server that saw it would have (a container its user
    deleted is not remembered). Before, the record said nothing of whose the delete was: the
    next server called both autoRemove's, and a wait for the user's answered its exit."""
    gated = GatedRunc(tmp_path, "delete")
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    since = now()
    bundle = make_bundle(TERM_OR_USR1, edit=runc_deletes)
    started = await start_container(client, "rm", bundle, autoRemove=True)
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)

    async def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await client.delete("/containers/rm", params={"timeout": 10})

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            if remover == "user":
                nursery.start_soon(delete)
            else:
                os.kill(pid, signal.SIGUSR1)
            assert await wait_exit(client, "rm", pid, since) == 3
            await gated.reached()  # the removal's runc delete is held, after the exit
            await gated.crash_through_delete(daemon, "rm")
        removed = await next_event(
            client, since=since, container_id="rm", match=lambda e: e["type"] == "delete"
        )
    assert (await client.get("/containers/rm")).status_code == 404
    waited = await client.post("/containers/rm/wait", params={"condition": "removed"})
    if remover == "user":
        assert "autoRemove" not in removed, removed
        assert waited.status_code == 404, waited.text
    else:
        assert removed.get("autoRemove") is True, removed
        assert waited.status_code == 200, waited.text
        assert (waited.json()["exitStatus"], waited.json()["pid"]) == (3, pid)


async def test_a_delete_after_a_failed_removal_is_its_user_s(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """autoRemove's removal fails (runc cannot forget the container): it stays listed
    stopped, and the DELETE that removes it later is its user's, as its ``delete`` says (no
    ``autoRemove``), and its waits after it are 404s. Before, that ``delete`` said autoRemove
    removed it (and a next server, taking the removals up from the log, answered its wait)."""
    refused = tmp_path / "refused"
    os.mkfifo(refused)
    # The first runc delete fails, and says so; the rest are runc's own.
    wrapper = refusing_runc(
        tmp_path, f"mkdir {tmp_path / 'once'} 2>/dev/null && echo refused > {refused}"
    )
    daemon: RunningDaemon = await start_daemon(runtime=str(wrapper))
    client = daemon.client
    since = now()
    await start_container(client, "stuck", make_bundle(QUICK, edit=runc_deletes), autoRemove=True)
    with trio.fail_after(10):
        assert await read_fifo_line(refused) == "refused\n"  # autoRemove's runc delete
        # Its removal's failure is on its way in the daemon: until then, a 409.
        while (answer := await client.delete("/containers/stuck")).status_code == 409:
            assert "is being deleted" in answer.text, answer.text
    assert answer.status_code == 200, answer.text
    assert run_status(answer.json()["state"]) == {"status": "stopped", "exitStatus": 3}
    removed = await next_event(
        client, since=since, container_id="stuck", match=lambda e: e["type"] == "delete"
    )
    assert "autoRemove" not in removed, removed
    assert (await client.post("/containers/stuck/wait")).status_code == 404
