"""``POST /containers/{id}/start``: docker's start of a stopped container, from its own record.

``ctr-trio start ID`` read the container (``GET``) and sent a start with a body made of what it
read (``POST /containers/{id}``): a change of limits that came between the two was undone for
that start, and every REST client had to make that body itself. The daemon now reads the
record and starts the container under its lock, in one step. Real daemon, real runc; cgroup v1
files read as tests/test_resources.py reads them.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio.client import commands
from containerd_trio.client.http import Client
from containerd_trio.client.types import Container
from containerd_trio.model import MemoryResources, Resources

from .helpers import (
    FOREVER,
    BundleFactory,
    GatedRunc,
    RunningDaemon,
    next_event,
    now,
    run_status,
    runc_ids,
    start_container,
    until_trapped,
    wait_catching,
    wait_exit,
    wait_output,
)
from .test_resources import cgroup_value
from .test_restart_policy import RESTARTING_COMMAND, _exited_into_backoff, _restart_held

#: Prints its MARK, then runs until SIGUSR1 and exits 3 (a failure: on-failure restarts it).
MARKED_UNTIL_USR1 = ("sh", "-c", until_trapped("echo run-$MARK; trap 'exit 3' USR1"))


async def start_again(client: httpx.AsyncClient, container_id: str) -> httpx.Response:
    return await client.post(f"/containers/{container_id}/start")


async def _ended_by_usr1(client: httpx.AsyncClient, container_id: str, pid: int) -> None:
    """SIGUSR1 to ``pid`` (not the daemon's signal: no user's stop), once its trap is in
    place; return at its exit."""
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)
    assert await wait_exit(client, container_id, pid, since) == 3


async def test_a_stopped_container_starts_again_from_its_record(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """What ``ctr-trio start ID`` sent, the daemon takes from the record: the bundle, labels,
    stdin, the process its start ran, its restart policy (its count from 0 again, a user's
    start), and the limits in force: the start's with an update made while it was stopped
    laid over them, in the new init's cgroups. 201 and the container, the same one to its
    user, as docker's start: its createdAt kept (its run's startedAt anew), its log
    continued with every run's output, no ``delete`` of the run before published (until
    2026-12-06 a new one, its log begun anew, as a fresh start of the id). A terminal its
    start's process gave it, it has again."""
    client = daemon.client
    process = {"args": list(MARKED_UNTIL_USR1), "env": ["MARK=one"]}
    policy = {"name": "on-failure", "maximumRetryCount": 1}
    with trio.fail_after(60):
        since = now()
        first = await start_container(
            client, "again", make_bundle(), labels={"team": "infra"}, stdin=True,
            resources={"pids": {"limit": 20}}, process=process, restartPolicy=policy,
        )  # fmt: skip
        # Its one restart by the policy, then its last exit: stopped, restarted once.
        first_pid = first["processes"][0]["pid"]
        await _ended_by_usr1(client, "again", first_pid)
        restarted = await next_event(
            client, since=since, container_id="again",
            match=lambda e: e["type"] == "start-container" and e["pid"] != first_pid,
        )  # fmt: skip
        await _ended_by_usr1(client, "again", restarted["pid"])
        change = {"memory": {"limit": 32 << 20}, "cpu": {"shares": 512}}
        patched = await client.patch("/containers/again", json={"resources": change})
        assert patched.status_code == 200, patched.text
        before = (await client.get("/containers/again")).json()
        assert run_status(before["state"]) == {"status": "stopped", "exitStatus": 3}
        assert before["restartCount"] == 1

        response = await start_again(client, "again")
        assert response.status_code == 201, response.text
        again = response.json()
        assert run_status(again["state"]) == {"status": "running"}
        limits = {**change, "pids": {"limit": 20}}
        assert (again["bundlePath"], again["labels"], again["stdin"]) == (
            before["bundlePath"], {"team": "infra"}, True,
        )  # fmt: skip
        assert (again["resources"], again["process"]) == (limits, process)
        assert (again["restartPolicy"], again["restartCount"]) == (policy, 0)
        assert "autoRemove" not in again
        assert again["createdAt"] == before["createdAt"]
        assert again["state"]["startedAt"] > before["state"]["startedAt"]
        [init] = again["processes"]
        assert init["pid"] not in (first_pid, restarted["pid"])
        assert (init["args"], init["stdin"], init["terminal"]) == (process["args"], True, False)
        assert cgroup_value(init["pid"], "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(init["pid"], "cpu", "cpu.shares") == "512"
        assert cgroup_value(init["pid"], "pids", "pids.max") == "20"
        assert (await client.get("/containers/again")).json() == again
        await wait_output(client, "again", "run-one")
        logged = (await client.get("/containers/again/logs")).text.splitlines()
        # Its log goes on: the first run's, the restart's, then this one's.
        pids = [json.loads(line)["pid"] for line in logged]
        assert list(dict.fromkeys(pids)) == [first_pid, restarted["pid"], init["pid"]]
        replayed = await client.get(
            "/events", params={"since": since, "until": now(), "id": "again"}
        )
        kinds = [json.loads(line)["type"] for line in replayed.text.splitlines()]
        assert kinds.count("start-container") == 3 and "delete" not in kinds, kinds

        # A terminal the start's process gave a bundle without one: given again.
        tty = await start_container(
            client, "tty", make_bundle(), process={"terminal": True, "args": list(FOREVER)}
        )
        since = now()
        assert (await client.patch("/containers/tty", json={"signal": 9})).status_code == 200
        await wait_exit(client, "tty", tty["processes"][0]["pid"], since)
        response = await start_again(client, "tty")
        assert response.status_code == 201, response.text
        assert response.json()["processes"][0]["terminal"] is True
        for container_id in ("again", "tty"):
            await client.delete(f"/containers/{container_id}", params={"timeout": 0})


async def test_a_change_of_limits_under_way_is_in_force_in_the_run_it_starts(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A PATCH of limits whose runc update the init's exit overtook (held here, the exit let
    come meanwhile) holds the container's lock: what a GET says then is the limits from
    before, which a client's start body would have put in force again, the PATCH's 200
    notwithstanding. The start again waits for the PATCH's end, then starts from the record
    that has its change: both answer, and the new init's cgroup has the change."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    answers: dict[str, httpx.Response] = {}
    change = {"pids": {"limit": 33}}

    async def update() -> None:
        answers["patch"] = await client.patch("/containers/racy", json={"resources": change})

    async def start() -> None:
        answers["start"] = await start_again(client, "racy")

    with trio.fail_after(30):
        started = await start_container(
            client, "racy", make_bundle(), resources={"pids": {"limit": 20}}
        )
        pid = started["processes"][0]["pid"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(update)
            await gated.reached()  # the PATCH's runc update, holding the container
            since = now()
            os.kill(pid, signal.SIGKILL)  # not the daemon's signal
            await wait_exit(client, "racy", pid, since)
            read = (await client.get("/containers/racy")).json()
            assert (read["state"]["status"], read["resources"]) == (
                "stopped",
                {"pids": {"limit": 20}},
            )
            nursery.start_soon(start)
            await trio.testing.wait_all_tasks_blocked()
            supervisor = daemon.daemon.supervisor
            assert supervisor is not None
            # The start again waits for the lock the PATCH holds, and has not answered.
            assert supervisor.container("racy").lock.statistics().tasks_waiting == 1
            assert "start" not in answers
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["patch"].status_code == 200, answers["patch"].text
        assert answers["patch"].json()["resources"] == change
        assert answers["start"].status_code == 201, answers["start"].text
        again = answers["start"].json()
        assert (run_status(again["state"]), again["resources"]) == ({"status": "running"}, change)
        assert cgroup_value(again["processes"][0]["pid"], "pids", "pids.max") == "33"
    await client.delete("/containers/racy", params={"timeout": 0})


async def test_what_is_not_stopped_is_a_409_and_an_unknown_id_a_404(
    client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker's start of a running (or restarting) container answers 304 and does nothing, of
    a paused one 409: here each is a 409 that says which (an answer with a body, as every
    error of the API), the container left as it is. An unknown or deleted id is a 404; the
    route takes no body, as a wait's."""
    with trio.fail_after(30):
        await start_container(client, "live", make_bundle())
        live = (await client.get("/containers/live")).json()
        for status, why in (
            (None, "it is running already"),
            ("paused", "it is paused; resume it first"),
        ):
            if status is not None:
                paused = await client.patch("/containers/live", json={"status": status})
                assert paused.status_code == 200, paused.text
            refused = await start_again(client, "live")
            assert refused.status_code == 409, refused.text
            assert refused.json() == {"error": f"cannot start container 'live': {why}"}
            got = (await client.get("/containers/live")).json()
            assert got["processes"] == live["processes"] and got["createdAt"] == live["createdAt"]

        # Restarting (its policy's delay): its policy starts it; the delay goes on.
        await _exited_into_backoff(client, "looping", make_bundle, monkeypatch)
        waiting = (await client.get("/containers/looping")).json()
        refused = await start_again(client, "looping")
        assert refused.status_code == 409, refused.text
        assert refused.json() == {"error": RESTARTING_COMMAND.format("start", "looping")}
        assert (await client.get("/containers/looping")).json() == waiting

        for path, code in (("/containers/ghost/start", 404), ("/containers/-a/start", 400)):
            answer = await client.post(path)
            assert answer.status_code == code, answer.text
        assert (await client.post("/containers/ghost/start")).json() == {
            "error": "container 'ghost' not found"
        }
        body = await client.post("/containers/live/start", json={"bundlePath": "/containers/x"})
        assert body.status_code == 400, body.text
        assert "this route takes no body" in body.json()["error"]
        for container_id in ("live", "looping"):
            deleted = await client.delete(f"/containers/{container_id}", params={"timeout": 0})
            assert deleted.status_code == 200, deleted.text
        assert (await start_again(client, "live")).status_code == 404


async def test_during_the_restarts_own_start_it_waits_then_is_a_409(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """While the restart by its policy is in its own start (held in runc run), a start again
    waits for it, as a command does, and acts on what it left: the run it started, a 409;
    that run is the restart's (its count 1), not replaced."""
    daemon, gated, _ = await _restart_held(start_daemon, make_bundle, tmp_path, "svc")
    client = daemon.client
    answers: list[httpx.Response] = []

    async def start() -> None:
        answers.append(await start_again(client, "svc"))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(start)
            await trio.testing.wait_all_tasks_blocked()
            assert answers == []
            await trio.Path(gated.gate).write_text("go\n")  # the restart's start goes on
        assert answers[0].status_code == 409, answers[0].text
        assert answers[0].json() == {"error": "cannot start container 'svc': it is running already"}
        got = (await client.get("/containers/svc")).json()
        assert (run_status(got["state"]), got["restartCount"]) == ({"status": "running"}, 1)
        deleted = await client.delete("/containers/svc", params={"timeout": 0})
        assert deleted.status_code == 200, deleted.text


async def test_a_start_again_that_fails_leaves_the_stopped_container_as_it_was(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A limit the kernel refuses as runc starts the container (below what its first process
    holds; an update of the stopped container is checked as the start's body is, not as the
    kernel will) fails the start with the 400 a start with that body gets; the stopped
    container is there as it was, its record, its log, and nothing of it in runc. With a
    limit it can run under, it starts. The page's limit is given through the supervisor: a
    client's is held to docker's floor (6 MiB), which runc's init fits under, but a record
    may hold one a daemon before the floor took."""
    client = daemon.client
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    with trio.fail_after(30):
        first = await start_container(client, "tiny", make_bundle(("sh", "-c", "echo was; exit 4")))
        assert (await client.post("/containers/tiny/wait")).json()["exitStatus"] == 4
        page = Resources(memory=MemoryResources(limit=4096))
        assert (await supervisor.update("tiny", resources=page)).resources == page
        before = (await client.get("/containers/tiny")).json()
        logged = (await client.get("/containers/tiny/logs")).text

        refused = await start_again(client, "tiny")
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"].startswith(
            "cannot start container 'tiny' with resources.memory.limit 4096: "
        )
        assert (await client.get("/containers/tiny")).json() == before
        assert (await client.get("/containers/tiny/logs")).text == logged
        assert runc_ids(daemon.config.state_dir) == []

        limit = {"memory": {"limit": 64 << 20}}
        assert (
            await client.patch("/containers/tiny", json={"resources": limit})
        ).status_code == 200
        response = await start_again(client, "tiny")
        assert response.status_code == 201, response.text
        assert response.json()["processes"][0]["pid"] != first["processes"][0]["pid"]
        assert response.json()["resources"] == limit


async def _updates_held(
    start_daemon: Callable[..., Any], tmp_path: Path
) -> tuple[RunningDaemon, GatedRunc, list[httpx.Response]]:
    """A daemon whose runc update waits at a gate; the answers of the starts again that
    :func:`_start_again_into` sends."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    return daemon, gated, []


async def _hold_a_patch(
    client: httpx.AsyncClient, nursery: trio.Nursery, container_id: str, gated: GatedRunc
) -> None:
    """Send a PATCH of the container's pids limit (9) in ``nursery``; return once its runc
    update is held at ``gated``, the PATCH holding the container."""
    change = {"resources": {"pids": {"limit": 9}}}
    nursery.start_soon(partial(client.patch, f"/containers/{container_id}", json=change))
    await gated.reached()


async def _start_again_into(
    answers: list[httpx.Response], client: httpx.AsyncClient, container_id: str
) -> None:
    answers.append(await start_again(client, container_id))


async def test_two_starts_again_behind_a_command_start_it_once(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Two starts again of one stopped container while a command holds it (a PATCH whose runc
    update the exit overtook, held here): once it ends, one starts the container, the other
    answers for what that left, the 409 of a running container (docker's 304: ctr-trio
    start prints its id, exit 0). Before, each woke with the lock, let it go to the other
    and waited for it again, for ever: neither answered."""
    daemon, gated, answers = await _updates_held(start_daemon, tmp_path)
    client = daemon.client
    with trio.fail_after(30):
        started = await start_container(client, "twice", make_bundle())
        pid = started["processes"][0]["pid"]
        async with trio.open_nursery() as nursery:
            await _hold_a_patch(client, nursery, "twice", gated)
            since = now()
            os.kill(pid, signal.SIGKILL)
            await wait_exit(client, "twice", pid, since)
            nursery.start_soon(_start_again_into, answers, client, "twice")
            nursery.start_soon(_start_again_into, answers, client, "twice")
            await trio.testing.wait_all_tasks_blocked()
            supervisor = daemon.daemon.supervisor
            assert supervisor is not None
            # Both wait (neither has answered), behind the PATCH's hold on the container.
            assert supervisor.container("twice").lock.statistics().tasks_waiting >= 1
            assert answers == []
            await trio.Path(gated.gate).write_text("go\n")
    assert sorted(answer.status_code for answer in answers) == [201, 409], answers
    [refused] = [answer for answer in answers if answer.status_code == 409]
    assert refused.json() == {"error": "cannot start container 'twice': it is running already"}
    got = (await client.get("/containers/twice")).json()
    [ran] = [answer.json() for answer in answers if answer.status_code == 201]
    assert got["processes"] == ran["processes"] and got["resources"] == {"pids": {"limit": 9}}
    await client.delete("/containers/twice", params={"timeout": 0})


async def test_a_start_again_of_a_restarting_container_behind_a_command_is_a_409_at_once(
    start_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container whose exit overtook a PATCH's runc update (held here), with a restart
    policy: its restart waits for the PATCH's end. A start again then is the 409 of a
    restarting container at once, as without the PATCH; the restart, once the PATCH ends,
    runs under its change. Before, the start again waited for the lock too, and the two
    handed it to each other for ever once the PATCH let it go: neither the start's answer
    nor the restart came."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 0.0)
    daemon, gated, answers = await _updates_held(start_daemon, tmp_path)
    client = daemon.client
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    with trio.fail_after(30):
        started = await start_container(
            client, "policed", make_bundle(MARKED_UNTIL_USR1), restartPolicy={"name": "always"}
        )
        pid = started["processes"][0]["pid"]
        async with trio.open_nursery() as nursery:
            await _hold_a_patch(client, nursery, "policed", gated)
            since = now()
            await _ended_by_usr1(client, "policed", pid)
            await trio.testing.wait_all_tasks_blocked()  # the restart waits for the PATCH
            assert supervisor.container("policed").lock.statistics().tasks_waiting == 1
            nursery.start_soon(_start_again_into, answers, client, "policed")
            await trio.testing.wait_all_tasks_blocked()
            await trio.Path(gated.gate).write_text("go\n")
            restarted = await next_event(
                client, since=since, container_id="policed",
                match=lambda e: e["type"] == "start-container",
            )  # fmt: skip
    [refused] = answers
    assert refused.status_code == 409, refused.text
    assert refused.json() == {"error": RESTARTING_COMMAND.format("start", "policed")}
    got = (await client.get("/containers/policed")).json()
    assert (run_status(got["state"]), got["restartCount"]) == ({"status": "running"}, 1)
    assert got["processes"][0]["pid"] == restarted["pid"]
    assert cgroup_value(restarted["pid"], "pids", "pids.max") == "9"
    await client.delete("/containers/policed", params={"timeout": 0})


async def test_during_a_start_again_the_container_is_seen_and_a_command_waits_for_it(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """While a start again runs (held here in runc run), the container is the stopped one it
    starts: GET shows it, a wait answers its last exit, and a signal (ctr-trio stop of a
    second ``ctr-trio restart``) waits for the start and reaches the run it started. Before,
    the start hid the id: each was a 404 ``container 'web' not found``, and of two
    ``ctr-trio restart web`` at once one failed so."""
    gated = GatedRunc(tmp_path, "run")  # each runc run waits for the test's word
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(start_container, client, "web", make_bundle(FOREVER)))
            await gated.reached()
            await trio.Path(gated.gate).write_text("go\n")  # the first start goes through
        first = (await client.get("/containers/web")).json()["processes"][0]["pid"]
        await client.patch("/containers/web", json={"signal": "KILL"})
        assert (await client.post("/containers/web/wait")).json()["exitStatus"] == 137
        answers: dict[str, httpx.Response] = {}

        async def ask(name: str, request: Any) -> None:
            answers[name] = await request

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "start", start_again(client, "web"))
            await gated.reached()  # the start again's runc run, held
            got = await client.get("/containers/web")
            assert got.status_code == 200, got.text
            assert run_status(got.json()["state"]) == {"status": "stopped", "exitStatus": 137}
            waited = await client.post("/containers/web/wait")
            assert waited.status_code == 200, waited.text
            assert (waited.json()["pid"], waited.json()["exitStatus"]) == (first, 137)
            nursery.start_soon(
                ask, "signal", client.patch("/containers/web", json={"signal": "KILL"})
            )
            await trio.testing.wait_all_tasks_blocked()
            assert "signal" not in answers  # it waits for the start
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["start"].status_code == 201, answers["start"].text
        assert answers["signal"].status_code == 200, answers["signal"].text
        second = answers["start"].json()["processes"][0]["pid"]
        ended = (await client.post("/containers/web/wait")).json()
        assert (ended["pid"], ended["exitStatus"]) == (second, 137)


async def test_a_restart_that_finds_its_container_started_by_another_succeeds(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Two ``ctr-trio restart web`` at once: the second read the container stopped (by the
    first's stop) and started it again while the first's start ran; the daemon's 409 (it
    runs by then) was its failure, exit 1. docker's restart succeeds there (its start of a
    running container does nothing): so does this one now, the container left running."""
    gated = GatedRunc(tmp_path, "run")  # each runc run waits for the test's word
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    asked = threading.Event()

    class Watched(Client):
        def start_again(self, container_id: str) -> Container:
            asked.set()  # read stopped: the second restart's start
            return super().start_again(container_id)

    def second_restart() -> Container:
        with Watched(daemon.url) as api:
            return commands.restart(api, "web", "TERM", 10)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(start_container, client, "web", make_bundle(FOREVER)))
            await gated.reached()
            await trio.Path(gated.gate).write_text("go\n")
        await client.patch("/containers/web", json={"signal": "KILL"})
        await client.post("/containers/web/wait")  # stopped, as by the first restart's stop
        answers: list[httpx.Response] = []
        ran: list[Container] = []

        async def first_start() -> None:
            answers.append(await start_again(client, "web"))

        async def second() -> None:
            ran.append(await trio.to_thread.run_sync(second_restart, abandon_on_cancel=True))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_start)
            await gated.reached()  # the first restart's start, held in runc run
            nursery.start_soon(second)
            await trio.to_thread.run_sync(asked.wait, abandon_on_cancel=True)
            await trio.Path(gated.gate).write_text("go\n")
        assert answers[0].status_code == 201, answers[0].text
        started = answers[0].json()["processes"][0]["pid"]
        assert run_status(ran[0]["state"]) == {"status": "running"}
        assert ran[0]["processes"][0]["pid"] == started
