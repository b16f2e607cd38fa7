"""Restart policies (docker's ``--restart``): a container whose init exits is started again as
its ``restartPolicy`` says, with docker's backoff; a user's stop is final; a delete during the
backoff leaves nothing; a server killed while such a container runs leaves a next one that
keeps its policy. Real runc, a real daemon; every wait is on the event stream, bounded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio import timestamps
from containerd_trio.client import routes
from containerd_trio.client.http import Client, _Run

from .helpers import (
    STOPPED_ONLY,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    collect_events,
    copy_checkpoint,
    event_types,
    next_event,
    not_removable,
    now,
    recorded_container,
    run_status,
    runc_ids,
    start_container,
    until_trapped,
    wait_catching,
    wait_output,
)
from .test_auto_remove import _left
from .test_cli import run_cli
from .test_containers import _host_pids
from .test_logs import PID_AIMS, PID_TRIES, PidAim, PidHeld
from .test_recovery import Orphans, orphans  # noqa: F401 (a fixture)
from .test_resources import UNLIMITED, cgroup_value, memory_and_swap
from .wsclient import Rejected, attach

FAIL = ("sh", "-c", "echo failing; exit 1")
SUCCEED = ("sh", "-c", "echo done; exit 0")
#: Runs until SIGUSR1, then exits 3 (the trap is in place once wait_catching says so); as pid
#: 1 it would ignore SIGTERM without its trap.
UNTIL_USR1 = ("sh", "-c", until_trapped("trap 'exit 3' USR1; trap 'exit 143' TERM"))
#: What a restarting container (during its delay and its restart's own start alike) answers,
#: with a 409, to a command that needs it running (the action, the id), to its top and to its
#: stats (the id): docker's "is restarting, wait until the container is running".
RESTARTING_COMMAND = "cannot {} container {!r}: it is restarting; wait until it is running"
RESTARTING_TOP = "container {!r} is restarting: it has no processes; wait until it is running"
RESTARTING_STATS = "container {!r} is restarting: it has no live figures; wait until it is running"


async def _starts_and_exits(
    client: httpx.AsyncClient, container_id: str, since: str, count: int
) -> list[tuple[str, Any]]:
    """The first ``count`` start-container and exit events of the container from ``since``."""
    params = {"since": since, "id": container_id, "type": "start-container,exit"}
    events = await collect_events(client, params, count)
    return [(e["type"], e.get("status")) for e in events]


async def _next_start(client: httpx.AsyncClient, container_id: str, since: str) -> dict[str, Any]:
    """The container's first start-container event from ``since`` on (within 20 s)."""
    with trio.fail_after(20):
        return await next_event(
            client,
            since=since,
            container_id=container_id,
            match=lambda e: e["type"] == "start-container",
        )


async def _running_always(
    client: httpx.AsyncClient, container_id: str, make_bundle: BundleFactory
) -> int:
    """Start an ``always`` container whose init exits 3 at SIGUSR1; its pid, once it has its
    trap in place."""
    policy = {"name": "always"}
    info = await start_container(
        client, container_id, make_bundle(UNTIL_USR1), restartPolicy=policy
    )
    pid: int = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    return pid


async def _wait_removed(
    client: httpx.AsyncClient, container_id: str, answers: list[httpx.Response]
) -> None:
    """Ask for the container's removal (condition=removed); the answer goes in ``answers``.

    The wait may outlast the client's read timeout (60 s: hundreds of restarts on a slow CI
    machine do), so it has none of its own: the test's deadline bounds it."""
    params = {"condition": "removed"}
    path = f"/containers/{container_id}/wait"
    answers.append(await client.post(path, params=params, timeout=None))


def self_breaking_bundle(make_bundle: BundleFactory) -> Path:
    """A bundle whose init takes its config.json away (to config.off) and exits 1: a restart
    of it fails to start."""
    bundle = make_bundle(("sh", "-c", "mv /bundle/config.json /bundle/config.off; exit 1"))
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    # The bundle's own directory in the container: its init takes its config.json away.
    mount = {"destination": "/bundle", "type": "bind", "source": str(bundle)}
    config["mounts"].append({**mount, "options": ["rbind", "rw"]})
    config_path.write_text(json.dumps(config))
    return bundle


async def _no_more_starts(client: httpx.AsyncClient, container_id: str, since: str) -> None:
    """No start of the container comes from ``since`` for 1.5 s: the next backoff delay of
    the tests that call this is at most 400 ms, so a restart would have come by then."""
    params = {"since": since, "id": container_id, "type": "start-container"}
    with trio.move_on_after(1.5):
        events = await collect_events(client, params, 1)
        raise AssertionError(f"restarted: {events}")


async def test_on_failure_restarts_up_to_its_count_then_stays_stopped(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    policy = {"name": "on-failure", "maximumRetryCount": 2}
    info = await start_container(client, "flaky", make_bundle(FAIL), restartPolicy=policy)
    assert info["restartPolicy"] == policy and info["restartCount"] == 0
    with trio.fail_after(20):
        seen = await _starts_and_exits(client, "flaky", since, 6)
    assert seen == [("start-container", None), ("exit", 1)] * 3
    after = now()
    got = (await client.get("/containers/flaky")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1}
    assert got["restartCount"] == 2 and got["restartPolicy"] == policy
    await _no_more_starts(client, "flaky", after)
    # A start of it again (ctr-trio start ID) re-arms the policy and counts anew.
    again = now()
    started = await start_container(client, "flaky", make_bundle(FAIL), restartPolicy=policy)
    assert started["restartCount"] == 0
    with trio.fail_after(20):
        assert len(await _starts_and_exits(client, "flaky", again, 6)) == 6
    got = (await client.get("/containers/flaky")).json()
    assert got["restartCount"] == 2


async def test_a_restart_keeps_the_containers_created_at_and_place(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A restart by the policy is the same container: its ``createdAt`` stays its creation's
    (docker's Created; only its run's start moves) and it keeps its place in GET /state
    (oldest first), while the backoff still counts each run from its own start (the second
    delay is twice the first). A user's start of the id is a new container: a new createdAt,
    listed newest. Before, each restart had its run's start for createdAt, and was listed
    newest."""
    since = now()
    policy = {"name": "on-failure", "maximumRetryCount": 2}
    info = await start_container(client, "aged", make_bundle(FAIL), restartPolicy=policy)
    created = info["createdAt"]
    await start_container(client, "aged-later", make_bundle(UNTIL_USR1))
    with trio.fail_after(20):
        params = {"since": since, "id": "aged", "type": "start-container,exit"}
        events = await collect_events(client, params, 6)
    assert [e["type"] for e in events] == ["start-container", "exit"] * 3
    got = (await client.get("/containers/aged")).json()
    assert got["restartCount"] == 2
    assert got["createdAt"] == created
    listed = (await client.get("/state")).json()["containers"]
    assert [c["id"] for c in listed if c["id"].startswith("aged")] == ["aged", "aged-later"]
    assert [c["createdAt"] for c in listed if c["id"] == "aged"] == [created]
    # docker's backoff: 100 ms, then 200 ms, each from the exit of a run that was short.
    stamps = [timestamps.parse_ns(e["timestamp"]) for e in events]
    assert stamps[4] - stamps[3] >= 190_000_000, stamps
    # A user's start of the stopped id: a new container.
    started = await start_container(client, "aged", make_bundle(FAIL))
    assert started["createdAt"] > created
    listed = (await client.get("/state")).json()["containers"]
    assert [c["id"] for c in listed if c["id"].startswith("aged")] == ["aged-later", "aged"]
    await client.delete("/containers/aged-later", params={"timeout": 0})


async def test_a_restart_moves_started_at_not_created_at(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``state.startedAt`` is the current run's start (docker's State.StartedAt): a restart by
    the policy begins a run of its own, after the exit before it and by its own
    start-container event, while createdAt stays; the run has no finishedAt until it ends,
    and then its init's exit (the wait's exitedAt). Before, no startedAt was there."""
    since = now()
    pid = await _running_always(client, "again", make_bundle)
    first = (await client.get("/containers/again")).json()
    assert first["state"]["startedAt"] == first["createdAt"]
    os.kill(pid, signal.SIGUSR1)
    with trio.fail_after(20):
        params = {"since": since, "id": "again", "type": "exit,start-container"}
        _, exited, restarted = await collect_events(client, params, 3)
    assert (exited["type"], restarted["type"]) == ("exit", "start-container")
    got = (await client.get("/containers/again")).json()
    assert got["restartCount"] == 1 and got["createdAt"] == first["createdAt"]
    started = got["state"]["startedAt"]
    assert exited["timestamp"] < started <= restarted["timestamp"], (exited, got, restarted)
    assert "finishedAt" not in got["state"]
    # Its user's stop ends the run for good: finishedAt is its exit's, startedAt stays.
    await client.patch("/containers/again", json={"signal": "KILL"})
    with trio.fail_after(10):
        waited = (await client.post("/containers/again/wait")).json()
    stopped = (await client.get("/containers/again")).json()
    assert stopped["state"]["finishedAt"] == waited["exitedAt"], (stopped, waited)
    assert stopped["state"]["startedAt"] == started


async def test_ctr_trio_wait_asked_again_follows_the_policys_restarts(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio wait`` asked again (after a crash) names the run it waits for by the
    record's ``createdAt``, which a restart by the policy keeps now, and ``restartCount``: a
    next-exit wait of the stopped run asked again answers the restarts' last exit at once
    (before, with createdAt alone, it took the restarted container for the run asked of and
    waited on for a run that would never come), and a removed wait asked again once the
    container is gone answers the last run's exit (before, its first run's)."""
    since = now()
    policy = {"name": "on-failure", "maximumRetryCount": 2}
    info = await start_container(client, "asked", make_bundle(FAIL), restartPolicy=policy)
    with trio.fail_after(20):
        params = {"since": since, "id": "asked", "type": "start-container,exit"}
        events = await collect_events(client, params, 6)
    last_pid = events[4]["pid"]
    assert events[0]["pid"] != last_pid
    stale = _Run(info["createdAt"], 0, None)  # its record as the wait was first asked

    def asked_again() -> tuple[Any, Any]:
        with Client(daemon.url) as api:
            return api._asked_again("asked", routes.wait("asked"), stale)

    request, run = await trio.to_thread.run_sync(asked_again)
    assert (request.target, run) == (routes.wait("asked").target, None)
    deleted = await client.delete("/containers/asked")
    assert deleted.status_code == 200, deleted.text

    def removed_exit() -> Any:
        with Client(daemon.url) as api:
            return api._exit_of("asked", stale, removed=True)

    with trio.fail_after(20):
        ended = await trio.to_thread.run_sync(removed_exit)
    assert (ended["pid"], ended["exitStatus"]) == (last_pid, 1)


async def test_on_failure_leaves_a_clean_exit_stopped(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    policy = {"name": "on-failure"}
    await start_container(client, "clean", make_bundle(SUCCEED), restartPolicy=policy)
    with trio.fail_after(10):
        assert await _starts_and_exits(client, "clean", since, 2) == [
            ("start-container", None),
            ("exit", 0),
        ]
    await _no_more_starts(client, "clean", now())
    got = (await client.get("/containers/clean")).json()
    assert got["restartCount"] == 0 and got["restartPolicy"] == {"name": "on-failure"}


async def test_always_restarts_after_a_clean_exit_with_the_same_process(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    process = {"args": ["sh", "-c", "echo $WHO; exit 0"], "env": ["WHO=again"]}
    await start_container(
        client,
        "looping",
        make_bundle(),
        restartPolicy={"name": "always"},
        process=process,
        labels={"team": "infra"},
    )
    with trio.fail_after(20):
        seen = await _starts_and_exits(client, "looping", since, 4)
    assert seen == [("start-container", None), ("exit", 0)] * 2
    got = (await client.get("/containers/looping")).json()
    assert got["restartCount"] >= 1
    assert got["process"] == process and got["labels"] == {"team": "infra"}
    deleted = await client.delete("/containers/looping")
    assert deleted.status_code == 200, deleted.text
    assert _left(daemon, "looping") == []


async def test_a_wait_answers_at_the_first_exit_of_a_restarting_container(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    pid = await _running_always(client, "waited", make_bundle)
    answers: list[httpx.Response] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def wait(condition: str) -> None:
                answers.append(
                    await client.post("/containers/waited/wait", params={"condition": condition})
                )

            nursery.start_soon(wait, "not-running")
            nursery.start_soon(wait, "next-exit")
            await trio.testing.wait_all_tasks_blocked()
            os.kill(pid, signal.SIGUSR1)  # not the daemon's signal: no user's stop
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["pid"] == pid and answer.json()["exitStatus"] == 3
    await client.delete("/containers/waited", params={"timeout": 0})


async def test_a_wait_for_the_removal_outlasts_restarts(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """condition=removed: a restart is no removal (it starts the id again, as a user's start
    of a stopped container would, which answers such a wait): the wait answers at the
    delete, with the last run's exit."""
    pid = await _running_always(client, "kept", make_bundle)
    answers: list[httpx.Response] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_wait_removed, client, "kept", answers)
            await trio.testing.wait_all_tasks_blocked()
            since = now()
            os.kill(pid, signal.SIGUSR1)
            second = (await _next_start(client, "kept", since))["pid"]
            await trio.testing.wait_all_tasks_blocked()
            assert answers == []  # restarted, not removed
            deleted = await client.delete("/containers/kept", params={"timeout": 0})
            assert deleted.status_code == 200, deleted.text
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["pid"] == second


#: The recursion limit while the test below runs (Python's is 1000): the daemon runs in the
#: test's process, and a lower limit lets fewer restarts prove the same in far less time. The
#: test's own deepest stacks need under 100 (it fails with 70): 200 leaves them twice that.
_RECURSION_LIMIT = 200


@pytest.mark.deadline(240)
async def test_a_wait_for_the_removal_outlasts_more_restarts_than_the_recursion_limit(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wait for the removal of a container its policy restarted more times than Python's
    recursion limit (an always container whose runs last 10 s restarts 1000 times in under
    3 hours) answers at the delete: it follows the restarts one after the other, not each
    from within the last one's wait. The delay is made 1 ms, and the recursion limit (in this
    process, the daemon's) lowered, so that the test takes seconds."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 0.001)
    monkeypatch.setattr("containerd_trio.restarts.RESTART_MAX_DELAY", 0.001)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_RECURSION_LIMIT)
    try:
        await _wait_removed_through_restarts(client, make_bundle, _RECURSION_LIMIT + 50)
    finally:
        sys.setrecursionlimit(limit)


async def _wait_removed_through_restarts(
    client: httpx.AsyncClient, make_bundle: BundleFactory, restarts: int
) -> None:
    policy = {"name": "on-failure", "maximumRetryCount": restarts}
    # The first run waits for SIGUSR1 (the wait is asked of it, running); the others exit 1
    # at once.
    script = "[ -e /ran ] && exit 1; touch /ran; " + until_trapped("trap 'exit 1' USR1")
    since = now()
    info = await start_container(
        client, "tireless", make_bundle(("sh", "-c", script)), restartPolicy=policy
    )
    pid = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    answers: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_wait_removed, client, "tireless", answers)
        await trio.testing.wait_all_tasks_blocked()
        os.kill(pid, signal.SIGUSR1)
        params = {"since": since, "id": "tireless", "type": "exit"}
        with trio.fail_after(200):
            await collect_events(client, params, restarts + 1)  # the last run's exit
        got = (await client.get("/containers/tireless")).json()
        assert got["restartCount"] == restarts and got["state"]["status"] == "stopped"
        assert answers == [], answers[0].text  # restarted, not removed
        deleted = await client.delete("/containers/tireless", params={"timeout": 0})
        assert deleted.status_code == 200, deleted.text
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["exitStatus"] == 1


@pytest.mark.parametrize("how", ["stop", "kill", "signal"])
async def test_a_users_stop_is_final(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, how: str
) -> None:
    """ctr-trio stop and kill signal through PATCH, as docker's stop and kill: the exit they
    bring is not undone by the policy (docker marks the container stopped by the user, and
    cancels its restart manager, for any signal to a container without a stop signal)."""
    pid = await _running_always(client, "service", make_bundle)
    since = now()
    sent = {"stop": "TERM", "kill": "KILL", "signal": "USR1"}[how]
    patched = await client.patch("/containers/service", json={"signal": sent})
    assert patched.status_code == 200, patched.text
    with trio.fail_after(10):
        ended = await client.post("/containers/service/wait")
    assert ended.json()["pid"] == pid
    await _no_more_starts(client, "service", since)
    assert (await client.get("/containers/service")).json()["state"]["status"] == "stopped"
    # A start of it again re-arms the policy: its next exit is restarted.
    again = await start_container(
        client, "service", make_bundle(UNTIL_USR1), restartPolicy={"name": "always"}
    )
    second = again["processes"][0]["pid"]
    await wait_catching(second, signal.SIGUSR1)
    restarted = now()
    os.kill(second, signal.SIGUSR1)
    event = await _next_start(client, "service", restarted)
    assert event["pid"] != second
    await client.delete("/containers/service", params={"timeout": 0})


async def test_a_signal_that_does_not_end_the_run_still_disarms_it(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """As docker's kill -s of a container without a stop signal: the run its user signalled
    is not restarted at its exit, whatever ends it later, and a policy given after the signal
    changes nothing for that run."""
    script = until_trapped("trap ':' USR2; trap 'exit 3' USR1")
    info = await start_container(client, "hup", make_bundle(("sh", "-c", script)))
    pid = info["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    await wait_catching(pid, signal.SIGUSR2)
    signalled = await client.patch("/containers/hup", json={"signal": "USR2"})
    assert signalled.status_code == 200, signalled.text
    policy = {"restartPolicy": {"name": "always"}}
    assert (await client.patch("/containers/hup", json=policy)).status_code == 200
    assert (await client.get("/containers/hup")).json()["state"]["status"] == "running"
    os.kill(pid, signal.SIGUSR1)
    with trio.fail_after(10):
        ended = await client.post("/containers/hup/wait")
    assert ended.json()["exitStatus"] == 3
    await _no_more_starts(client, "hup", now())


async def _exited_into_backoff(
    client: httpx.AsyncClient,
    container_id: str,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Start an ``always`` container that exits 1 at once, under a first delay long enough
    that what the test does next surely comes within it (and must cut it); return once it
    has exited (its restart waiting), with the moment it was started from."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 30.0)
    since = now()
    policy = {"name": "always"}
    await start_container(client, container_id, make_bundle(FAIL), restartPolicy=policy)
    with trio.fail_after(10):
        await _starts_and_exits(client, container_id, since, 2)
    return since


async def test_a_delete_during_the_backoff_leaves_nothing(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    since = await _exited_into_backoff(client, "pending", make_bundle, monkeypatch)
    with trio.fail_after(10):
        deleted = await client.delete("/containers/pending")
    assert deleted.status_code == 200, deleted.text
    assert _left(daemon, "pending") == []
    assert runc_ids(daemon.config.state_dir) == []
    assert (await client.get("/containers/pending")).status_code == 404
    params = {"since": since, "id": "pending"}
    with trio.fail_after(10):
        types = [e["type"] for e in await collect_events(client, params, 4)]
    assert types == ["start-container", "exit", "restart-cancelled", "delete"]


async def test_a_stop_during_the_backoff_cancels_the_restart(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _exited_into_backoff(client, "held", make_bundle, monkeypatch)
    # docker kill of a restarting container: accepted, and the restart is off.
    patched = await client.patch("/containers/held", json={"signal": "TERM"})
    assert patched.status_code == 200, patched.text
    assert run_status(patched.json()["state"]) == {"status": "stopped", "exitStatus": 1}
    # A start of the id now is a start, not a 409 (nothing is pending any more).
    started = await start_container(client, "held", make_bundle())
    assert "restartPolicy" not in started
    await client.delete("/containers/held", params={"timeout": 0})


async def test_a_restarting_container_refuses_what_needs_it_running_and_says_why(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During its delay, what needs the container running (an exec, a pause, a resume, a
    checkpoint; its top and its stats) is a 409 that says it is
    restarting, as docker's "is restarting, wait until the container is running". Before,
    each said it was stopped, as of a container that stays so. Its log, and an attach to its
    last run's init (that run's output, its exit status), answer as for a stopped container:
    that output is why it restarts. None of it calls the restart off."""
    await _exited_into_backoff(client, "looping", make_bundle, monkeypatch)
    records = [
        json.loads(line)
        for line in (await client.get("/containers/looping/logs")).text.splitlines()
    ]
    assert [record["data"] for record in records] == ["failing\n"]
    pid = records[0]["pid"]
    commands = [
        ("exec into", "PUT", "/containers/looping/processes", {"args": ["true"]}),
        ("pause", "PATCH", "/containers/looping", {"status": "paused"}),
        ("resume", "PATCH", "/containers/looping", {"status": "running"}),
        ("checkpoint", "POST", "/containers/looping/checkpoint/c1", {}),
    ]
    for action, method, url, body in commands:
        answer = await client.request(method, url, json=body)
        assert answer.status_code == 409, (action, answer.text)
        assert answer.json() == {"error": RESTARTING_COMMAND.format(action, "looping")}
    top = await client.get("/containers/looping/top")
    assert (top.status_code, top.json()) == (409, {"error": RESTARTING_TOP.format("looping")})
    stats = await client.get("/containers/looping/stats")
    assert stats.status_code == 409
    assert stats.json() == {"error": RESTARTING_STATS.format("looping")}
    session = await attach(daemon.url, "looping", pid, query="logs=true")
    with trio.fail_after(10):
        assert await session.to_end() == 1
    assert bytes(session.output) == b"failing\n"
    got = (await client.get("/containers/looping")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1, "restarting": True}
    assert (await client.delete("/containers/looping")).status_code == 200


async def test_an_update_during_the_backoff_is_in_force_in_the_restarted_run(
    client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker update of a restarting container: accepted, shown at once, and in force in the
    cgroups of the run its restart starts (the restart's start takes the record's limits, as
    ``ctr-trio start ID`` does); the restart still comes. Before, a 409 "cannot update
    container 'grow': it is restarting", and the restarted run had the old limits. A first
    delay of 2 s, so that the update (milliseconds) surely comes within it: its answer says
    the container is restarting still."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 2.0)
    with trio.fail_after(30):
        pid = await _running_always(client, "grow", make_bundle)
        since = now()
        os.kill(pid, signal.SIGUSR1)  # not the daemon's signal: no user's stop
        await next_event(
            client, since=since, container_id="grow", match=lambda e: e["type"] == "exit"
        )
        change = {"memory": {"limit": 32 << 20}, "pids": {"limit": 50}}
        patched = await client.patch("/containers/grow", json={"resources": change})
        assert patched.status_code == 200, patched.text
        restarting = {"status": "stopped", "exitStatus": 3, "restarting": True}
        assert run_status(patched.json()["state"]) == restarting
        assert patched.json()["resources"] == change
        started = await _next_start(client, "grow", since)
        assert started["pid"] != pid
        assert cgroup_value(started["pid"], "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(started["pid"], "pids", "pids.max") == "50"
        got = (await client.get("/containers/grow")).json()
        assert (got["restartCount"], got["resources"]) == (1, change)
    await client.delete("/containers/grow", params={"timeout": 0})


async def test_a_memory_limit_set_after_the_swap_was_lifted_is_in_force_in_the_restarted_run(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A running container whose memory limit an update lifted (and the bundle's swap limit,
    cgroup v1's memory and swap together, with it), then set above the bundle's swap: its
    restart by its policy runs under what it had at its end, the limit and no swap limit.
    Before, the record said nothing of the swap, the restart laid the limit over the
    bundle's swap and was refused (restart-failed), and the container stayed stopped."""
    bundle = make_bundle(UNTIL_USR1, memory_limit=32 << 20)  # swap limited to the same
    lifted = {"memory": {"limit": 64 << 20, "swap": -1}}
    with trio.fail_after(30):
        started = await start_container(client, "grow", bundle, restartPolicy={"name": "always"})
        pid = started["processes"][0]["pid"]
        for limit in (-1, 64 << 20):
            change = {"resources": {"memory": {"limit": limit}}}
            patched = await client.patch("/containers/grow", json=change)
            assert patched.status_code == 200, patched.text
        assert patched.json()["resources"] == lifted
        await wait_catching(pid, signal.SIGUSR1)
        since = now()
        os.kill(pid, signal.SIGUSR1)  # not the daemon's signal: no user's stop
        restarted = await next_event(
            client, since=since, container_id="grow",
            match=lambda e: e["type"] in ("start-container", "restart-failed"),
        )  # fmt: skip
        assert restarted["type"] == "start-container", restarted
        assert memory_and_swap(restarted["pid"]) == (str(64 << 20), UNLIMITED)
        got = (await client.get("/containers/grow")).json()
        assert (got["restartCount"], got["resources"]) == (1, lifted)
    await client.delete("/containers/grow", params={"timeout": 0})


async def test_an_update_the_exit_overtakes_is_in_force_in_the_restarted_run(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A change of limits whose runc update the init's exit overtakes (held here, the exit
    let come meanwhile) is taken as that of the stopped container it now is: answered 200,
    kept in its record, and in force in the run its restart starts, which waits for it.
    Before, a 409 "cannot update container 'grow': it stopped", though the same PATCH a
    moment later was taken, and the restart ran under the old limits."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    answers: list[httpx.Response] = []
    change = {"pids": {"limit": 33}}

    async def update() -> None:
        answers.append(await client.patch("/containers/grow", json={"resources": change}))

    with trio.fail_after(30):
        pid = await _running_always(client, "grow", make_bundle)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(update)
            await gated.reached()  # the update's runc update, holding the container
            since = now()
            os.kill(pid, signal.SIGUSR1)  # not the daemon's signal: no user's stop
            await next_event(
                client, since=since, container_id="grow", match=lambda e: e["type"] == "exit"
            )
            await trio.Path(gated.gate).write_text("go\n")
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json()["resources"] == change
        started = await _next_start(client, "grow", since)
        assert cgroup_value(started["pid"], "pids", "pids.max") == "33"
        got = (await client.get("/containers/grow")).json()
        assert (got["restartCount"], got["resources"]) == (1, change)
    await client.delete("/containers/grow", params={"timeout": 0})


async def _restart_held(
    start_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    container_id: str,
    args: tuple[str, ...] = UNTIL_USR1,
) -> tuple[RunningDaemon, GatedRunc, int]:
    """A daemon whose ``runc run`` waits at a gate, running an ``always`` container (its first
    start let through; ``args``: its process, which exits 3 at SIGUSR1, as UNTIL_USR1's);
    return once its init has exited 3 and its restart's own start is held in runc run (the
    stopped run already removed from runc, the new one not yet running): the daemon, the
    gate, and the first run's pid."""
    gated = GatedRunc(tmp_path, "run")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    started: list[dict[str, Any]] = []

    async def start() -> None:
        policy = {"name": "always"}
        bundle = make_bundle(args)
        started.append(
            await start_container(daemon.client, container_id, bundle, restartPolicy=policy)
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start)
        await gated.reached()
        await trio.Path(gated.gate).write_text("go\n")  # the first start goes through
    pid: int = started[0]["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    os.kill(pid, signal.SIGUSR1)  # not the daemon's signal: no user's stop
    try:
        # 0.1 s of delay, the exit's notice and a runc delete: 30 s for a slow CI hour.
        with trio.fail_after(30):
            await gated.reached()  # the restart's runc run
    except trio.TooSlowError:
        # The init's processes, the daemon's and any runc's: the failure's snapshot (conftest).
        state = (await daemon.client.get(f"/containers/{container_id}")).text
        raise AssertionError(
            f"no restart in 30 s of init {pid}'s exit; the container: {state}"
        ) from None
    return daemon, gated, pid


async def test_the_container_is_seen_throughout_its_restarts_own_start(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """While the restart's own start runs (held here in runc run), the container is what it
    was during the delay, docker's Restarting: GET and GET /state show it stopped, with its
    exit status, restarting; a wait (not-running) answers that exit at once, as during the
    delay, and so does its init's process wait; its logs are there, its top is a 409 that
    says it is restarting; a wait for its removal waits on through the restart. Before, the
    start's record hid the id: each of these was a 404 (docker wait of a restarting container
    failed), and GET /state left it out."""
    daemon, gated, pid = await _restart_held(start_daemon, make_bundle, tmp_path, "svc")
    client = daemon.client
    restarting = {"status": "stopped", "exitStatus": 3, "restarting": True}
    got = await client.get("/containers/svc")
    assert got.status_code == 200, got.text
    assert run_status(got.json()["state"]) == restarting and got.json()["restartCount"] == 0
    listed = (await client.get("/state")).json()["containers"]
    assert [(c["id"], run_status(c["state"])) for c in listed] == [("svc", restarting)]
    waited = await client.post("/containers/svc/wait")
    assert waited.status_code == 200, waited.text
    assert (waited.json()["pid"], waited.json()["exitStatus"]) == (pid, 3)
    of_pid = await client.post(f"/containers/svc/process/{pid}/wait")
    assert of_pid.status_code == 200, of_pid.text
    assert of_pid.json()["exitStatus"] == 3
    assert (await client.get("/containers/svc/logs")).status_code == 200
    top = await client.get("/containers/svc/top")
    assert top.status_code == 409
    assert top.json() == {"error": RESTARTING_TOP.format("svc")}
    answers: list[httpx.Response] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_wait_removed, client, "svc", answers)
            await trio.testing.wait_all_tasks_blocked()
            assert answers == []  # a restart is no removal
            since = now()
            await trio.Path(gated.gate).write_text("go\n")  # the restart's start goes on
            second = (await _next_start(client, "svc", since))["pid"]
            await trio.testing.wait_all_tasks_blocked()
            assert answers == []
            got = await client.get("/containers/svc")
            assert run_status(got.json()["state"]) == {"status": "running"}
            assert got.json()["restartCount"] == 1
            deleted = await client.delete("/containers/svc", params={"timeout": 0})
            assert deleted.status_code == 200, deleted.text
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["pid"] == second


async def test_an_attach_during_the_restarts_own_start_is_answered_as_during_the_delay(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """An attach to a process of the container's last run while its restart's own start runs
    gets what it gets during the delay: that run's output and its exit status (``ctr-trio run
    --restart`` attaches to the init it started, which may have exited by then); a pid that
    was never the container's is a process's 404. Its stats are the 409 of a restarting
    container, as its top. Before, the attach was a 404 "container 'svc' not found", for
    any pid, of a container that GET showed."""
    args = ("sh", "-c", f"echo up; {UNTIL_USR1[2]}")
    daemon, gated, pid = await _restart_held(start_daemon, make_bundle, tmp_path, "svc", args)
    client = daemon.client
    with pytest.raises(Rejected) as refused:
        await attach(daemon.url, "svc", 4000000)
    assert refused.value.status == 404
    assert json.loads(refused.value.body) == {
        "error": "process 4000000 is not a process of container 'svc'"
    }
    session = await attach(daemon.url, "svc", pid, query="logs=true")
    with trio.fail_after(10):
        assert await session.to_end() == 3
    assert bytes(session.output) == b"up\n"
    stats = await client.get("/containers/svc/stats")
    assert (stats.status_code, stats.json()) == (409, {"error": RESTARTING_STATS.format("svc")})
    got = (await client.get("/containers/svc")).json()  # the start was held throughout
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 3, "restarting": True}
    since = now()
    await trio.Path(gated.gate).write_text("go\n")
    await _next_start(client, "svc", since)
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


#: Says "up", then runs until SIGUSR1 (exit 3), as UNTIL_USR1: a run's output to replay.
SAYS_UP = ("sh", "-c", f"echo up; {UNTIL_USR1[2]}")


async def _restarted(client: httpx.AsyncClient, container_id: str, pid: int) -> int:
    """End the run of init ``pid`` (exit 3, no user's stop) and return once its restart by
    the policy has completed: the pid of the next run's init, which runs its trap."""
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)
    second: int = (await _next_start(client, container_id, since))["pid"]
    await wait_catching(second, signal.SIGUSR1)
    return second


def exit_of(pid: int) -> Callable[[dict[str, Any]], bool]:
    """A match of :func:`.next_event`: the exit of process ``pid``."""
    return lambda event: event["type"] == "exit" and event.get("pid") == pid


async def _restarted_at(
    client: httpx.AsyncClient, container_id: str, pid: int, wanted: int
) -> tuple[int, bool]:
    """:func:`_restarted` until the next run's init gets pid ``wanted`` (:class:`.PidAim`):
    the last run's init pid, and whether it is ``wanted``; not once another process holds
    ``wanted`` for good (:class:`.PidHeld`)."""
    aim = PidAim(wanted)
    for _ in range(PID_TRIES):
        hint = aim.hint()
        pid = await _restarted(client, container_id, pid)
        if aim.got(hint, pid):
            return pid, True
        try:
            await aim.free()
        except PidHeld:
            return pid, False  # the run goes on at another pid: the next aim restarts it
    pytest.skip(f"the kernel would not give pid {wanted} to a restart's init")


async def test_an_attach_to_the_last_runs_init_once_it_restarted_gets_that_run(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Once a restart by the policy has completed, an attach to a process of an earlier run
    (the init ``ctr-trio run --restart`` started, and attaches to) still gets that run's
    output and its exit status, as during the delay, and so does that process's wait, also
    after a second restart: the container keeps its processes' last exits across its
    restarts, under the one bound. Before, the restart's run had none of them: each was the
    404 "process N is not a process of container 'svc'"."""
    policy = {"name": "always"}
    info = await start_container(client, "svc", make_bundle(SAYS_UP), restartPolicy=policy)
    first: int = info["processes"][0]["pid"]
    second = await _restarted(client, "svc", first)
    got = (await client.get("/containers/svc")).json()
    assert run_status(got["state"]) == {"status": "running"} and got["restartCount"] == 1
    for _ in range(2):
        session = await attach(daemon.url, "svc", first, query="logs=true")
        with trio.fail_after(10):
            assert await session.to_end() == 3
        assert bytes(session.output) == b"up\n"  # its own output, not the next run's
        waited = await client.post(f"/containers/svc/process/{first}/wait")
        assert (waited.status_code, waited.json()["exitStatus"]) == (200, 3), waited.text
        second = await _restarted(client, "svc", second)  # once more: the first run is kept
    with pytest.raises(Rejected) as refused:
        await attach(daemon.url, "svc", 4000000)
    assert refused.value.status == 404
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


async def test_the_exits_kept_across_restarts_keep_their_bound(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a restart carries over is under the container's one bound of remembered exits
    (256; 1 here), not one per run: the oldest run's init is forgotten first, its attach a 404
    again, however often the container restarts; its wait answers from the event log (its
    exit event), as for any process the container no longer remembers."""
    monkeypatch.setattr("containerd_trio.container._exits._EXITS_KEPT", 1)
    policy = {"name": "always"}
    info = await start_container(client, "svc", make_bundle(SAYS_UP), restartPolicy=policy)
    first: int = info["processes"][0]["pid"]
    second = await _restarted(client, "svc", first)
    assert (await client.post(f"/containers/svc/process/{first}/wait")).status_code == 200
    await _restarted(client, "svc", second)
    with pytest.raises(Rejected) as refused:
        await attach(daemon.url, "svc", first)
    assert refused.value.status == 404
    forgotten = await client.post(f"/containers/svc/process/{first}/wait")
    assert (forgotten.status_code, forgotten.json()["exitStatus"]) == (200, 3), forgotten.text
    waited = await client.post(f"/containers/svc/process/{second}/wait")
    assert (waited.status_code, waited.json()["exitStatus"]) == (200, 3), waited.text
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


async def test_an_exec_the_restart_ends_is_answered_once_it_restarted(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A container in the host's pid namespace: an exec'd process does not die with its
    init; the daemon ends it at the init's exit (SIGKILL, ``runc kill --all``; until
    2026-12-06 it ran on, and its restart's own start ended it, with runc delete --force, as
    any start over a stopped container does), its exit reported before the init's. That exit
    is carried with the run's others: once the restart completed, the process's wait and an
    attach to it answer it (its output, its status). Before, the exits were carried before
    the stopped run's removal: each was a 404 "process N is not a process of container
    'svc'"."""
    policy = {"name": "always"}
    bundle = make_bundle(SAYS_UP, edit=_host_pids)
    info = await start_container(client, "svc", bundle, restartPolicy=policy)
    first: int = info["processes"][0]["pid"]
    made = await client.put(
        "/containers/svc/processes", json={"args": ["sh", "-c", "echo exec; exec sleep 1000"]}
    )
    assert made.status_code == 201, made.text
    pid: int = made.json()["pid"]
    with trio.fail_after(20):
        await wait_output(client, "svc", "exec")
        await _restarted(client, "svc", first)
    waited = await client.post(f"/containers/svc/process/{pid}/wait")
    assert waited.status_code == 200, waited.text
    assert waited.json()["exitStatus"] == 128 + signal.SIGKILL  # ended at the init's exit
    session = await attach(daemon.url, "svc", pid, query="logs=true")
    with trio.fail_after(10):
        assert await session.to_end() == 128 + signal.SIGKILL
    assert bytes(session.output) == b"exec\n"
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


@pytest.mark.parametrize("how", ["delete", "kill"])
async def test_a_command_during_the_restarts_own_start_waits_for_it(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path, how: str
) -> None:
    """A DELETE (docker rm -f) or a signal (docker kill) of the container while its restart's
    own start runs waits for that start (milliseconds, as a command waits for another's
    turn), then acts on the container it left: the run it started is deleted, or killed and
    not restarted (a user's stop). Before, either was a 404 at once, and the container ran
    on."""
    daemon, gated, _ = await _restart_held(start_daemon, make_bundle, tmp_path, "svc")
    client = daemon.client
    answers: list[httpx.Response] = []

    async def command() -> None:
        if how == "delete":
            answers.append(await client.delete("/containers/svc", params={"timeout": 0}))
        else:
            answers.append(await client.patch("/containers/svc", json={"signal": "KILL"}))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(command)
            await trio.testing.wait_all_tasks_blocked()
            assert answers == [], answers[0].text  # it waits for the start
            await trio.Path(gated.gate).write_text("go\n")
    assert answers[0].status_code == 200, answers[0].text
    since = now()  # the restart's start-container came before the answer
    if how == "delete":
        assert runc_ids(daemon.config.state_dir) == []
        assert (await client.get("/containers/svc")).status_code == 404
        return
    with trio.fail_after(10):
        ended = await client.post("/containers/svc/wait")
    assert ended.json()["exitStatus"] == 137
    await _no_more_starts(client, "svc", since)
    got = (await client.get("/containers/svc")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 137}
    assert got["restartCount"] == 1
    await client.delete("/containers/svc")


async def test_a_restart_due_waits_for_a_command_holding_the_container(
    start_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command that holds the container as its restart comes due (a leave-running
    checkpoint, held here in runc checkpoint, whose container's init exits meanwhile) is let
    end first: the restart waits its turn, the container restarting meanwhile, then comes.
    Before, the restart's start was a 409 (the container held), and the container stayed
    stopped for good. No delay here, so that the restart is due as soon as the exit is seen."""
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 0.0)
    gated = GatedRunc(tmp_path, "checkpoint")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    pid = await _running_always(client, "svc", make_bundle)
    answers: list[httpx.Response] = []

    async def checkpoint() -> None:
        body = {"exit": False}  # docker checkpoint create --leave-running
        answers.append(await client.post("/containers/svc/checkpoint/cp", json=body))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(checkpoint)
            await gated.reached()  # the checkpoint holds the container, in runc checkpoint
            since = now()
            os.kill(pid, signal.SIGUSR1)  # exits 3: not its user's stop
            await next_event(
                client, since=since, container_id="svc", match=lambda e: e["type"] == "exit"
            )
            await trio.testing.wait_all_tasks_blocked()  # the restart is due, and waits
            got = (await client.get("/containers/svc")).json()
            assert run_status(got["state"]) == {
                "status": "stopped",
                "exitStatus": 3,
                "restarting": True,
            }
            await trio.Path(gated.gate).write_text("go\n")  # runc checkpoint goes on, and ends
        assert len(answers) == 1  # the checkpoint has answered (its container had stopped)
        event = await _next_start(client, "svc", since)
    assert event["pid"] != pid
    got = (await client.get("/containers/svc")).json()
    assert run_status(got["state"]) == {"status": "running"} and got["restartCount"] == 1
    await client.delete("/containers/svc", params={"timeout": 0})


@pytest.mark.parametrize("cancel", ["signal", "policy no", "ctr-trio stop", "start"])
async def test_a_cancelled_restart_is_published(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
    cancel: str,
) -> None:
    """A restart waiting out its delay that is called off publishes ``restart-cancelled``,
    live and in the replay: a watcher (the status page) that saw the container restarting
    learns it is not, without asking. A user's start of the id publishes it before the
    stopped container's ``delete`` and the new ``start-container``."""
    since = await _exited_into_backoff(client, "called-off", make_bundle, monkeypatch)
    async with client.stream("GET", "/events", params={"id": "called-off"}) as live:
        assert live.status_code == 200  # registered: what the change publishes comes on it
        if cancel == "signal":
            patched = await client.patch("/containers/called-off", json={"signal": "TERM"})
            assert patched.status_code == 200, patched.text
        elif cancel == "policy no":
            body = {"restartPolicy": {"name": "no"}}
            patched = await client.patch("/containers/called-off", json=body)
            assert patched.status_code == 200, patched.text
        elif cancel == "ctr-trio stop":
            stopped = await run_cli("--address", daemon.url, "stop", "called-off")
            assert stopped.code == 0, stopped
        else:
            await start_container(client, "called-off", make_bundle())
        with trio.fail_after(10):
            first = json.loads(await anext(live.aiter_lines()))
    assert first["type"] == "restart-cancelled", first
    assert sorted(first) == ["id", "timestamp", "type"]
    after = ["delete", "start-container"] if cancel == "start" else []
    params = {"since": since, "id": "called-off"}
    with trio.fail_after(10):
        replayed = await collect_events(client, params, 3 + len(after))
    assert [e["type"] for e in replayed] == ["start-container", "exit", "restart-cancelled", *after]
    assert replayed[2] == first
    if cancel != "start":
        got = (await client.get("/containers/called-off")).json()
        assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1}
    await client.delete("/containers/called-off", params={"timeout": 0})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"restartPolicy": {"name": "sometimes"}},
            "restartPolicy: name must be one of no, always, on-failure, unless-stopped, not the"
            " string 'sometimes'",
        ),
        (
            {"restartPolicy": {"name": "always", "maximumRetryCount": 3}},
            "restartPolicy: maximumRetryCount is for on-failure only, not for 'always' (docker's"
            " --restart on-failure:N)",
        ),
        (
            {"restartPolicy": {"name": "on-failure", "maximumRetryCount": -1}},
            "restartPolicy: maximumRetryCount must be 0 or more, not -1",
        ),
        (
            {"restartPolicy": {"name": "on-failure", "color": 1}},
            "unknown field 'color' in restartPolicy",
        ),
        (
            {"restartPolicy": "always"},
            "restartPolicy: expected an object, got the string 'always'",
        ),
        (
            {"restartPolicy": {"name": "always"}, "autoRemove": True},
            "autoRemove cannot be given with restartPolicy 'always': a container removed at its"
            " exit cannot be started again (docker's --rm and --restart conflict)",
        ),
    ],
)
async def test_a_bad_restart_policy_is_a_400_naming_the_field(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    body: dict[str, Any],
    message: str,
) -> None:
    response = await client.post("/containers/bad", json={"bundlePath": str(make_bundle()), **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == message
    assert (await client.get("/containers/bad")).status_code == 404
    assert runc_ids(daemon.config.state_dir) == []


@pytest.mark.parametrize("name", ["no", "always", "unless-stopped"])
async def test_a_retry_count_of_0_beside_another_policy_is_none(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, name: str
) -> None:
    """docker's shape: its clients send ``MaximumRetryCount`` 0 beside every policy (0 is
    none, Go's zero), and moby refuses a count beside another policy only when it is not 0.
    (It was a 400, ``maximumRetryCount is for on-failure only``, for a body copied from
    docker's.) Kept as given, as docker inspect shows it; a PATCH takes it too."""
    policy = {"name": name, "maximumRetryCount": 0}
    response = await client.post(
        "/containers/zero", json={"bundlePath": str(make_bundle()), "restartPolicy": policy}
    )
    assert response.status_code == 201, response.text
    patched = await client.patch("/containers/zero", json={"restartPolicy": policy})
    assert patched.status_code == 200, patched.text
    await client.delete("/containers/zero", params={"timeout": 0})


async def test_an_empty_policy_name_is_no(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """moby's ``{"Name": ""}`` (its API's "empty string means not to restart", which old
    clients send) is "no" where moby takes it so: a start takes it and shows no policy, as
    docker's create makes it "no". A PATCH of it leaves the container's policy as it is, as
    docker's update does (moby changes the policy only for a name: ``docker update`` sends
    the empty one whenever ``--restart`` is not given, or given empty); it took the policy
    away. (Both were a 400, ``name must be one of no, always, ...``.) A count but 0 beside it
    is still refused, as beside "no"."""
    bundle = str(make_bundle(UNTIL_USR1))
    empty = {"name": ""}
    started = await client.post(
        "/containers/empty", json={"bundlePath": bundle, "restartPolicy": empty}
    )
    assert started.status_code == 201, started.text
    assert "restartPolicy" not in started.json()
    armed = await client.patch("/containers/empty", json={"restartPolicy": {"name": "always"}})
    assert armed.json()["restartPolicy"] == {"name": "always"}, armed.text
    patched = await client.patch("/containers/empty", json={"restartPolicy": empty})
    assert patched.status_code == 200, patched.text
    assert patched.json()["restartPolicy"] == {"name": "always"}, patched.text
    shown = await client.get("/containers/empty")
    assert shown.json()["restartPolicy"] == {"name": "always"}, shown.text
    counted = await client.patch(
        "/containers/empty", json={"restartPolicy": {"name": "", "maximumRetryCount": 2}}
    )
    assert counted.status_code == 400, counted.text
    assert counted.json()["error"] == (
        "restartPolicy: maximumRetryCount is for on-failure only, not for '' (docker's"
        " --restart on-failure:N)"
    )
    await client.delete("/containers/empty", params={"timeout": 0})


@pytest.mark.parametrize(
    ("offer", "message"),
    [
        (
            {"restartPolicy": {"name": "always"}, "autoRemove": True},
            "autoRemove cannot be given with restartPolicy 'always': a container removed at its"
            " exit cannot be started again (docker's --rm and --restart conflict)",
        ),
        (
            {"restartPolicy": {"name": "always"}, "restartCount": -1},
            "restartCount must be 0 or more, not -1",
        ),
    ],
)
async def test_a_migration_offer_with_a_bad_policy_is_a_400(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    offer: dict[str, Any],
    message: str,
) -> None:
    """A move's target refuses, at the session's open, a policy no start could have given
    it: before the images come, not at the restore."""
    body = {"id": "moving", "bundlePath": str(make_bundle()), "checkpoint": "m1", **offer}
    response = await client.post("/migrations", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == message


async def test_patch_changes_the_restart_policy(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    info = await start_container(client, "changed", make_bundle(UNTIL_USR1))
    assert "restartPolicy" not in info
    pid = info["processes"][0]["pid"]
    patched = await client.patch("/containers/changed", json={"restartPolicy": {"name": "always"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["restartPolicy"] == {"name": "always"}
    refused = await client.patch(
        "/containers/changed", json={"restartPolicy": {"name": "always", "maximumRetryCount": 1}}
    )
    assert refused.status_code == 400
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)
    await _next_start(client, "changed", since)
    await client.delete("/containers/changed", params={"timeout": 0})


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_the_next_server_keeps_watching_the_policy(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """kill -9 of the server while an ``always`` container runs: the keeper's next server
    adopts it, and restarts it at its exit."""
    daemon: DaemonProcess = await spawn_daemon()
    response = await daemon.client.post(
        "/containers/kept",
        json={"bundlePath": str(make_bundle(UNTIL_USR1)), "restartPolicy": {"name": "always"}},
    )
    assert response.status_code == 201, response.text
    pid = response.json()["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    await daemon.kill_server()
    since = now()
    os.kill(pid, signal.SIGUSR1)
    event = await _next_start(daemon.client, "kept", since)
    assert event["pid"] != pid
    got = (await daemon.client.get("/containers/kept")).json()
    assert got["restartPolicy"] == {"name": "always"} and got["restartCount"] == 1
    assert got["state"]["status"] == "running"
    await daemon.client.delete("/containers/kept", params={"timeout": 0})


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_the_next_server_shows_the_runs_times_as_they_were(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """kill -9 of the server: the next one adopts a container restarted by its policy with
    the same startedAt (its restart's, kept in its record) and createdAt, and a stopped one
    with the same startedAt and finishedAt, which its wait's exitedAt says too. Before, no
    startedAt nor finishedAt was there, and that wait had no exitedAt."""
    daemon: DaemonProcess = await spawn_daemon()
    pid = await _running_always(daemon.client, "kept", make_bundle)
    since = now()
    os.kill(pid, signal.SIGUSR1)
    await _next_start(daemon.client, "kept", since)
    ended = await start_container(daemon.client, "ended", make_bundle(FAIL))
    with trio.fail_after(10):
        assert (await daemon.client.post("/containers/ended/wait")).json()["exitStatus"] == 1
    before = {c: (await daemon.client.get(f"/containers/{c}")).json() for c in ("kept", "ended")}
    assert before["kept"]["state"]["startedAt"] > before["kept"]["createdAt"], before
    assert before["ended"]["state"]["startedAt"] == ended["createdAt"]
    assert before["ended"]["state"]["finishedAt"] > ended["createdAt"], before
    await daemon.kill_server()
    for container_id, was in before.items():
        got = (await daemon.client.get(f"/containers/{container_id}")).json()
        assert (got["createdAt"], got["state"]) == (was["createdAt"], was["state"]), got
    # The wait of the stopped one says its exit's time still (before, none once adopted).
    waited = (await daemon.client.post("/containers/ended/wait")).json()
    assert waited["exitedAt"] == before["ended"]["state"]["finishedAt"], waited
    await daemon.client.delete("/containers/kept", params={"timeout": 0})


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_a_restart_due_as_the_server_dies_is_made_by_the_next(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """kill -9 of the server while an ``always`` container waits out its delay: the record
    says its restart is due, and the next server makes it. The delay is docker's, grown to
    3.2 s by six quick failures: the kill surely comes within it."""
    daemon: DaemonProcess = await spawn_daemon()
    since = now()
    response = await daemon.client.post(
        "/containers/looping",
        json={"bundlePath": str(make_bundle(FAIL)), "restartPolicy": {"name": "always"}},
    )
    assert response.status_code == 201, response.text
    with trio.fail_after(30):
        seen = await _starts_and_exits(daemon.client, "looping", since, 12)
    assert seen == [("start-container", None), ("exit", 1)] * 6
    killed = now()
    await daemon.kill_server()
    event = await _next_start(daemon.client, "looping", killed)
    assert event["timestamp"] > killed
    got = (await daemon.client.get("/containers/looping")).json()
    assert got["restartCount"] >= 6
    # The next server's restart keeps the container's creation, as this server's did.
    assert got["createdAt"] == response.json()["createdAt"]
    await daemon.client.delete("/containers/looping", params={"timeout": 0})


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_a_restart_that_failed_is_not_made_by_the_next_server(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """A restart whose start fails (its bundle has no config.json by then) leaves the
    container stopped, as docker's, and says so on the stream (``restart-failed``, with the
    start's error: a watcher that saw it restarting learns it is not); its record no more
    says a restart is due, so the next server (kill -9 of this one), once the bundle is whole
    again, does not start it."""
    bundle = self_breaking_bundle(make_bundle)
    config_path = bundle / "config.json"
    daemon: DaemonProcess = await spawn_daemon()
    since = now()
    body = {"bundlePath": str(bundle), "restartPolicy": {"name": "always"}}
    response = await daemon.client.post("/containers/broken", json=body)
    assert response.status_code == 201, response.text
    with trio.fail_after(10):
        assert await _starts_and_exits(daemon.client, "broken", since, 2) == [
            ("start-container", None),
            ("exit", 1),
        ]
        await daemon.logged(b"container broken could not be restarted")
        params = {"since": since, "id": "broken"}
        *_, failed = await collect_events(daemon.client, params, 3)
    assert failed["type"] == "restart-failed", failed
    assert sorted(failed) == ["error", "id", "timestamp", "type"]
    assert "config.json" in failed["error"], failed
    got = (await daemon.client.get("/containers/broken")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1}  # not restarting
    (bundle / "config.off").rename(config_path)
    killed = now()
    await daemon.kill_server()
    got = (await daemon.client.get("/containers/broken")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 1}
    await _no_more_starts(daemon.client, "broken", killed)
    await daemon.client.delete("/containers/broken", params={"timeout": 0})


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_containers_that_ended_while_no_daemon_ran_start_again_by_their_policy(
    spawn_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    orphans: Orphans,  # noqa: F811 (the fixture imported above)
) -> None:
    """kill -9 of the whole daemon (keeper and all: what a reboot does to the daemon), then of
    the containers' inits: the next daemon lists them stopped (255, unknown) and starts again
    those whose policy says so, as dockerd does at its start."""
    first: DaemonProcess = await spawn_daemon()
    policies = {"always": {"name": "always"}, "failing": {"name": "on-failure"}, "plain": None}
    inits = {}
    for name, policy in policies.items():
        body = {"bundlePath": str(make_bundle()), **({"restartPolicy": policy} if policy else {})}
        response = await first.client.post(f"/containers/{name}", json=body)
        assert response.status_code == 201, response.text
        inits[name] = response.json()["processes"][0]["pid"]
    watched = [orphans.add(pid) for pid in inits.values()]
    await first.kill_hard()
    for init in watched:
        init.kill()
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(init.fd)  # it has exited
    since = now()
    second: DaemonProcess = await spawn_daemon()
    for name in ("always", "failing"):
        event = await _next_start(second.client, name, since)
        assert event["pid"] != inits[name]
        got = (await second.client.get(f"/containers/{name}")).json()
        assert got["restartCount"] == 1 and got["restartPolicy"] == policies[name]
    plain = (await second.client.get("/containers/plain")).json()
    assert run_status(plain["state"]) == {"status": "stopped", "exitStatus": 255}
    for name in ("always", "failing", "plain"):
        await second.client.delete(f"/containers/{name}", params={"timeout": 0})


#: Holds a server's end: its init says "term" at SIGTERM and runs on, so that a DELETE of it
#: (a command the end lets finish) lasts its whole timeout, until the SIGKILL.
TERM_SAYER = ("sh", "-c", until_trapped("trap 'echo term' TERM"))


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
@pytest.mark.parametrize("how", ["reload", "keep-containers"])
async def test_an_exit_as_the_server_leaves_its_containers_is_restarted_by_the_next(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, how: str
) -> None:
    """The init of an ``always`` container exits while its server ends leaving the containers
    running (a hand-over to a new server, or a stop with --keep-containers): that server sees
    the exit (its event comes on a stream opened to it) and marks the restart due in the
    record, and the next server makes it, once. Before, the record said only stopped, and no
    server restarted it. The end is held by a DELETE under way (it lets commands finish),
    of a container that outlives its SIGTERM for the delete's 5 s."""
    daemon: DaemonProcess = await spawn_daemon(*(("--keep-containers",) if how != "reload" else ()))
    client = daemon.client
    pid = await _running_always(client, "kept", make_bundle)
    await start_container(client, "holder", make_bundle(TERM_SAYER))
    since = now()
    exits: list[dict[str, Any]] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:

            async def exits_seen_by_this_server(task_status: trio.TaskStatus[None]) -> None:
                params = {"since": since, "id": "kept", "type": "exit"}
                async with client.stream("GET", "/events", params=params) as response:
                    assert response.status_code == 200
                    task_status.started()
                    async for line in response.aiter_lines():
                        exits.append(json.loads(line))
                        return

            async def delete_holder() -> None:
                deleted = await client.delete("/containers/holder", params={"timeout": 5})
                assert deleted.status_code == 200, deleted.text

            await nursery.start(exits_seen_by_this_server)
            nursery.start_soon(delete_holder)
            await wait_output(client, "holder", "term")  # the delete is under way
            count = daemon.servings
            if how == "reload":
                assert (await client.post("/daemon/reload")).status_code == 202
                await daemon.logged(b'msg="handing over"\n')
            else:
                assert daemon.process is not None
                daemon.process.send_signal(signal.SIGTERM)
                await daemon.logged(b'msg="shutting down"\n')
            killed = now()
            os.kill(pid, signal.SIGUSR1)  # exits 3: not its user's stop
        assert [(e["pid"], e["status"]) for e in exits] == [(pid, 3)]
        if how == "reload":
            await daemon.served(count + 1)
        else:
            assert await daemon.wait_exit() == 0
            daemon = await spawn_daemon()
    event = await _next_start(daemon.client, "kept", killed)
    assert event["pid"] != pid
    starts = []  # one restart, and no other for 1.5 s (its next delay would be 200 ms)
    params = {"since": killed, "id": "kept", "type": "start-container"}
    with trio.move_on_after(1.5):
        async with daemon.client.stream("GET", "/events", params=params) as response:
            async for line in response.aiter_lines():
                starts.append(json.loads(line)["pid"])
    assert starts == [event["pid"]]
    got = (await daemon.client.get("/containers/kept")).json()
    assert got["state"]["status"] == "running" and got["restartCount"] == 1
    await daemon.client.delete("/containers/kept", params={"timeout": 0})


async def _dumped(client: httpx.AsyncClient, container_id: str, bundle: Path, **start: Any) -> None:
    """Start ``container_id`` with ``start``, and checkpoint it as ``cp`` with exit (it stops,
    and its restart policy, if any, leaves that exit alone)."""
    info = await start_container(client, container_id, bundle, **start)
    await wait_catching(info["processes"][0]["pid"], signal.SIGUSR1)
    answer = await client.post(f"/containers/{container_id}/checkpoint/cp", json={"exit": True})
    assert answer.status_code == 201, answer.text


@pytest.mark.deadline(120)
async def test_a_checkpoint_keeps_the_labels_and_the_restart_policy(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A restore with no record of its container (it was deleted, or the checkpoint was
    imported elsewhere) has the labels and restart policy of the container dumped, as the
    checkpoint kept them (its count from 0: a user's start), and is restarted by that
    policy. Before, the checkpoint kept neither: the restored container had none."""
    bundle = make_bundle(UNTIL_USR1)
    policy = {"name": "on-failure", "maximumRetryCount": 5}
    await _dumped(client, "kept", bundle, labels={"team": "infra"}, restartPolicy=policy)
    deleted = await client.delete("/containers/kept", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text
    elsewhere = tmp_path / "elsewhere" / "bundle"
    await copy_checkpoint(client, "kept", bundle, "moved", elsewhere)
    restored = await start_container(client, "kept", bundle, checkpoint="cp")
    assert restored["labels"] == {"team": "infra"}
    assert (restored["restartPolicy"], restored["restartCount"]) == (policy, 0)
    there = await start_container(client, "moved", elsewhere, checkpoint="cp", labels={"n": "2"})
    assert there["labels"] == {"team": "infra", "n": "2"}  # those given are added
    assert there["restartPolicy"] == policy
    pid = there["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)  # exits 3: restarted by the kept policy
    event = await _next_start(client, "moved", since)
    assert event["pid"] != pid
    for container_id in ("kept", "moved"):
        await client.delete(f"/containers/{container_id}", params={"timeout": 0})


async def test_a_checkpoint_keeps_auto_remove(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A container started with autoRemove, checkpointed, deleted and restored is removed at
    its exit again, as the checkpoint kept it; a policy given to the restore meets the kept
    autoRemove as it meets a record's, with the start's 400."""
    bundle = make_bundle(UNTIL_USR1)
    await _dumped(client, "once", bundle, autoRemove=True)
    deleted = await client.delete("/containers/once", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text
    body = {"bundlePath": str(bundle), "checkpoint": "cp", "restartPolicy": {"name": "always"}}
    refused = await client.post("/containers/once", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"].startswith("autoRemove cannot be given with restartPolicy")
    restored = await start_container(client, "once", bundle, checkpoint="cp")
    assert restored.get("autoRemove") is True
    pid = restored["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    os.kill(pid, signal.SIGUSR1)
    with trio.fail_after(20):
        removed = await client.post("/containers/once/wait", params={"condition": "removed"})
    assert removed.status_code == 200, removed.text
    assert (await client.get("/containers/once")).status_code == 404


async def test_a_checkpoint_and_a_restore_keep_the_stop_signal_and_timeout(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A start's stopSignal and stopTimeout (docker's StopSignal, StopTimeout) are the
    container's: a restore over the stopped container keeps its, one whose container was
    deleted has the dumped one's, as its checkpoint kept them; those given to the restore
    win. A restart by the policy keeps them; a signal other than the stop signal (or SIGKILL)
    leaves the policy armed, as docker's kill does."""
    bundle = make_bundle(UNTIL_USR1)
    await _dumped(client, "stops", bundle, stopSignal="QUIT", stopTimeout=7)
    restored = await start_container(client, "stops", bundle, checkpoint="cp")
    assert (restored["stopSignal"], restored["stopTimeout"]) == ("SIGQUIT", 7), restored
    await wait_catching(restored["processes"][0]["pid"], signal.SIGUSR1)
    answer = await client.post("/containers/stops/checkpoint/cp2", json={"exit": True})
    assert answer.status_code == 201, answer.text
    deleted = await client.delete("/containers/stops", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text
    restored = await start_container(client, "stops", bundle, checkpoint="cp2", stopTimeout=-1)
    assert (restored["stopSignal"], restored["stopTimeout"]) == ("SIGQUIT", -1), restored
    await client.delete("/containers/stops", params={"timeout": 0})

    started = await start_container(client, "again", make_bundle(UNTIL_USR1), stopSignal=10,
                                    restartPolicy={"name": "always"})  # fmt: skip
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)  # exits 3: restarted by its policy
    await _next_start(client, "again", since)
    shown = (await client.get("/containers/again")).json()
    assert shown["stopSignal"] == "SIGUSR1" and "stopTimeout" not in shown, shown
    await client.delete("/containers/again", params={"timeout": 0})

    # docker's kill: to a container with a stop signal, only that one (or SIGKILL) is its
    # user's stop; another's exit is the policy's to restart (before, any signal was final).
    started = await start_container(client, "quitter", make_bundle(UNTIL_USR1), stopSignal="QUIT",
                                    restartPolicy={"name": "always"})  # fmt: skip
    await wait_catching(started["processes"][0]["pid"], signal.SIGUSR1)
    since = now()
    signalled = await client.patch("/containers/quitter", json={"signal": "USR1"})
    assert signalled.status_code == 200, signalled.text
    event = await _next_start(client, "quitter", since)
    assert event["pid"] != started["processes"][0]["pid"]
    await client.delete("/containers/quitter", params={"timeout": 0})


async def test_a_restore_over_a_stopped_container_takes_its_policy_over_the_checkpoints(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The stopped container a restore replaces is the container as it is now: its labels
    and policy (changed since the dump, here) win over what the checkpoint kept; a policy
    the restore gives wins over both, {"name": "no"} too (before, "no" let the record's
    stand)."""
    bundle = make_bundle(UNTIL_USR1)
    await _dumped(client, "svc", bundle, labels={"v": "1"}, restartPolicy={"name": "always"})
    changed = {"name": "on-failure", "maximumRetryCount": 1}
    patched = await client.patch("/containers/svc", json={"restartPolicy": changed})
    assert patched.status_code == 200, patched.text
    restored = await start_container(client, "svc", bundle, checkpoint="cp")
    assert restored["restartPolicy"] == changed and restored["labels"] == {"v": "1"}
    answer = await client.post("/containers/svc/checkpoint/cp2", json={"exit": True})
    assert answer.status_code == 201, answer.text
    body = {"checkpoint": "cp2", "restartPolicy": {"name": "no"}}
    again = await start_container(client, "svc", bundle, **body)
    assert "restartPolicy" not in again
    await client.delete("/containers/svc", params={"timeout": 0})


# --- ctr-trio ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("always", {"name": "always"}),
        ("unless-stopped", {"name": "unless-stopped"}),
        ("on-failure", {"name": "on-failure"}),
        ("on-failure:3", {"name": "on-failure", "maximumRetryCount": 3}),
        ("no", None),
        ("", None),  # docker's CLI takes it as no
    ],
)
async def test_ctr_trio_run_restart(
    daemon: RunningDaemon, make_bundle: BundleFactory, given: str, sent: dict[str, Any] | None
) -> None:
    """run -d --restart in docker's syntax; inspect shows it; start ID of the stopped container
    starts it with it again (its count from 0); update --restart changes it."""
    bundle = str(make_bundle(UNTIL_USR1))
    cli = ("--address", daemon.url)
    started = await run_cli(*cli, "run", "-d", "-b", bundle, "--restart", given, "web")
    assert started.code == 0, started
    inspected = await run_cli(*cli, "inspect", "web")
    assert json.loads(inspected.out)[0].get("restartPolicy") == sent
    stopped = await run_cli(*cli, "stop", "-t", "5", "web")
    assert stopped.code == 0, stopped
    again = await run_cli(*cli, "start", "web")
    assert again.code == 0, again
    info = (await daemon.client.get("/containers/web")).json()
    assert info.get("restartPolicy") == sent and info["state"]["status"] == "running"
    updated = await run_cli(*cli, "update", "web", "--restart", "on-failure:1")
    assert updated.code == 0, updated
    assert updated.out == "updated web: restart on-failure:1\n"
    info = (await daemon.client.get("/containers/web")).json()
    assert info["restartPolicy"] == {"name": "on-failure", "maximumRetryCount": 1}
    described = await run_cli(*cli, "containers", "get", "web")
    assert "RESTART   on-failure:1, restarted 0 times\n" in described.out, described
    await daemon.client.delete("/containers/web", params={"timeout": 0})


async def test_ctr_trio_get_says_one_restart_in_the_singular(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``containers get``'s RESTART line said ``restarted 1 times``; now ``1 time``."""
    cli = ("--address", daemon.url)
    bundle = str(make_bundle(UNTIL_USR1))
    with trio.fail_after(30):
        since = now()
        started = await run_cli(
            *cli, "--json", "run", "-d", "-b", bundle, "--restart", "on-failure:2", "web"
        )
        assert started.code == 0, started
        first = json.loads(started.out)["processes"][0]["pid"]
        await wait_catching(first, signal.SIGUSR1)
        # From inside, not through the daemon (whose signal would be its user's stop). The
        # init's end kills what is left in its pid namespace: the exec'd kill too, if it has
        # not exited by then (137, seen once in a fresh clone's run), its signal sent.
        sent = await run_cli(*cli, "exec", "web", "kill", "-USR1", "1")
        assert sent.code in (0, 128 + signal.SIGKILL), sent
        await next_event(
            daemon.client,
            since=since,
            container_id="web",
            match=lambda event: event["type"] == "start-container" and event["pid"] != first,
        )
        described = await run_cli(*cli, "containers", "get", "web")
    assert "RESTART   on-failure:2, restarted 1 time\n" in described.out, described


async def test_ctr_trio_update_restart_empty_leaves_the_policy(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """update --restart '' changes no policy, as docker's update (its CLI parses --restart
    only when it is not empty, and its daemon changes a policy only for a name), where run
    --restart '' is no: it took the container's policy away ("restart no"). With a limit, the
    limit alone changes; alone, the container as it was."""
    cli = ("--address", daemon.url)
    bundle = str(make_bundle(UNTIL_USR1))
    with trio.fail_after(30):
        started = await run_cli(*cli, "run", "-d", "-b", bundle, "--restart", "always", "web")
        assert started.code == 0, started
        kept = await run_cli(*cli, "update", "web", "--restart", "")
        limited = await run_cli(*cli, "update", "-m", "64m", "--restart", "", "web")
        info = (await daemon.client.get("/containers/web")).json()
    assert (kept.code, kept.out) == (0, "updated web: restart always\n"), kept
    assert (limited.code, limited.out) == (0, "updated web: memory 64.0 MiB, restart always\n")
    assert info["restartPolicy"] == {"name": "always"}
    assert info["resources"] == {"memory": {"limit": 64 << 20}}
    await daemon.client.delete("/containers/web", params={"timeout": 0})


async def test_ctr_trio_update_with_limits_and_a_refused_restart_changes_nothing(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """update -m 64m --restart always of a container removed at its exit (run --rm): the
    daemon refuses the policy (docker's --rm and --restart conflict), and did so after the
    limits' PATCH, so the update failed, exit 1, and left the new memory limit in force.
    Refused now before either, as docker's, the container as it was; the other ids go on,
    and --restart no with limits is no conflict."""
    cli = ("--address", daemon.url)
    bundle = str(make_bundle(UNTIL_USR1))
    with trio.fail_after(30):
        for name, options in (("once", ["--rm"]), ("web", [])):
            started = await run_cli(*cli, "run", "-d", *options, "-b", bundle, name)
            assert started.code == 0, started
        before = (await daemon.client.get("/containers/once")).json()
        updated = await run_cli(*cli, "update", "-m", "64m", "--restart", "always", "once", "web")
        after = (await daemon.client.get("/containers/once")).json()
        web = (await daemon.client.get("/containers/web")).json()
        lifted = await run_cli(*cli, "update", "-m", "32m", "--restart", "no", "once")
    assert updated.code == 1, updated
    assert after["resources"] == before["resources"] == {}
    assert "restartPolicy" not in after
    assert updated.err == (
        "ctr-trio: cannot update container 'once': restart policy 'always' given to a container"
        " removed at its exit (autoRemove, --rm): docker's --rm and --restart conflict; nothing"
        " was changed\n"
    )
    assert updated.out == "updated web: memory 64.0 MiB, restart always\n"
    assert (web["resources"], web["restartPolicy"]) == (
        {"memory": {"limit": 64 << 20}},
        {"name": "always"},
    )
    assert (lifted.code, lifted.out) == (0, "updated once: memory 32.0 MiB, restart no\n"), lifted
    for name in ("once", "web"):
        await daemon.client.delete(f"/containers/{name}", params={"timeout": 0})


async def test_ctr_trio_run_restart_attached_gets_the_first_run_after_its_restart(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ctr-trio run --restart always`` (attached) whose attach comes only once the restart
    of the run it started has completed (held here between the start's answer and the
    attach) still ends as docker run does: with that first run's output and its exit
    status, the container running on, restarted. Before, the attach was a 404 and run
    printed "process N is not a process of container 'svc'", exit 1."""
    from containerd_trio.client.http import Client as HttpClient

    reached, released = trio.Event(), threading.Event()
    connect = HttpClient.websocket

    def held(self: HttpClient, target: str, subprotocols: Any) -> Any:
        trio.from_thread.run_sync(reached.set)
        assert released.wait(20), "the test never let the attach go"
        return connect(self, target, subprotocols)

    monkeypatch.setattr(HttpClient, "websocket", held)
    bundle = str(make_bundle(SAYS_UP))
    results: list[Any] = []

    async def run() -> None:
        argv = ("--address", daemon.url, "run", "--restart", "always", "-b", bundle, "svc")
        results.append(await run_cli(*argv))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            try:
                await reached.wait()  # started, its attach held
                first = (await client.get("/containers/svc")).json()["processes"][0]["pid"]
                await _restarted(client, "svc", first)
            finally:
                released.set()
    (result,) = results
    assert (result.code, result.out, result.err) == (3, "up\n", ""), result
    got = (await client.get("/containers/svc")).json()
    assert run_status(got["state"]) == {"status": "running"} and got["restartCount"] == 1
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


async def test_ctr_trio_attach_to_a_restarting_container_says_it_is_restarting(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ctr-trio attach ID`` of a restarting container (no run under way, the next one to
    come) says so, as docker's "You cannot attach to a restarting container, wait until it
    is running"; before, it said the container was stopped, as of one that stays so. Its
    last run's init is still there for ``--pid``: that run's output and exit status."""
    await _exited_into_backoff(client, "looping", make_bundle, monkeypatch)
    cli = ("--address", daemon.url)
    refused = await run_cli(*cli, "attach", "looping")
    assert (refused.code, refused.out) == (1, ""), refused
    assert refused.err == (
        "ctr-trio: container looping is restarting: it has no process to attach to;"
        " wait until it is running\n"
    )
    pid = (await client.post("/containers/looping/wait")).json()["pid"]
    with trio.fail_after(10):
        ended = await run_cli(*cli, "attach", "--logs", "--pid", str(pid), "looping")
    assert (ended.code, ended.out, ended.err) == (1, "failing\n", ""), ended
    assert (await client.delete("/containers/looping")).status_code == 200


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--restart", "sometimes"], "argument --restart: 'sometimes' is not no, always,"),
        (["--restart", "always:3"], "argument --restart: 'always:3' is not no, always,"),
        (["--restart", "on-failure:x"], "argument --restart: 'on-failure:x' is not no, always,"),
        (["--restart", "always", "--rm"], "--restart and --rm conflict"),
    ],
)
async def test_ctr_trio_run_refuses_a_bad_restart(
    daemon: RunningDaemon, make_bundle: BundleFactory, argv: list[str], message: str
) -> None:
    result = await run_cli(
        "--address", daemon.url, "run", "-d", "-b", str(make_bundle()), *argv, "web"
    )
    assert result.code != 0 and message in result.err, result
    assert (await daemon.client.get("/containers/web")).status_code == 404


def _recorded_state(daemon: RunningDaemon, container_id: str) -> dict[str, Any]:
    """The container's state as its record in the journal says it (the view a next server
    adopts)."""
    state: dict[str, Any] = recorded_container(daemon.config.journal_path, container_id)["state"]
    return state


async def test_a_container_waiting_out_its_delay_says_it_is_restarting(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker's Restarting: during the delay the container, its GET /state listing and its
    record say restarting (stopped still, with its exit status); once the restart is off
    (a signal cancels it), none of them does, GET /state's cached view included."""
    await _exited_into_backoff(client, "looping", make_bundle, monkeypatch)
    restarting = {"status": "stopped", "exitStatus": 1, "restarting": True}
    assert run_status((await client.get("/containers/looping")).json()["state"]) == restarting
    (listed,) = (await client.get("/state")).json()["containers"]
    assert run_status(listed["state"]) == restarting
    assert run_status(_recorded_state(daemon, "looping")) == restarting
    patched = await client.patch("/containers/looping", json={"signal": "TERM"})
    assert patched.status_code == 200, patched.text
    stopped = {"status": "stopped", "exitStatus": 1}
    assert run_status(patched.json()["state"]) == stopped
    assert run_status((await client.get("/containers/looping")).json()["state"]) == stopped
    (listed,) = (await client.get("/state")).json()["containers"]
    assert run_status(listed["state"]) == stopped
    assert run_status(_recorded_state(daemon, "looping")) == stopped


async def test_ctr_trio_ps_lists_a_restarting_container_and_prune_leaves_it(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker's ps lists a restarting container without -a (running, paused, restarting),
    its status filter names it restarting (exited: not it), and prune leaves it."""
    await start_container(client, "plain", make_bundle(FAIL))
    with trio.fail_after(10):
        assert (await client.post("/containers/plain/wait")).json()["exitStatus"] == 1
    await _exited_into_backoff(client, "looping", make_bundle, monkeypatch)
    cli = ("--address", daemon.url)
    listed = await run_cli(*cli, "ps", "--format", "{{.ID}} {{.Status}} {{.State}}")
    assert (listed.code, listed.out) == (0, "looping restarting (exit 1) restarting\n"), listed
    for wanted, ids in (("restarting", "looping\n"), ("exited", "plain\n")):
        filtered = await run_cli(*cli, "ps", "-q", "-f", f"status={wanted}")
        assert (filtered.code, filtered.out) == (0, ids), filtered
    pruned = await run_cli(*cli, "prune")
    assert (pruned.code, pruned.out) == (0, "deleted plain\n"), pruned
    # docker's start of a restarting container does nothing (and succeeds): it waits still,
    # the same run (a start, even of a run that exits at once, is another createdAt).
    waiting = (await client.get("/containers/looping")).json()
    assert waiting["state"]["restarting"] is True
    started = await run_cli(*cli, "start", "looping")
    assert (started.code, started.out) == (0, "looping\n"), started
    assert (await client.get("/containers/looping")).json() == waiting
    await client.delete("/containers/looping")


async def test_rm_without_force_refuses_a_restarting_container_as_docker_s(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker's rm refuses a restarting container without -f, as it refuses a running one:
    the API's ``DELETE ?status=stopped`` is a 409 in docker's words, and so is ``ctr-trio
    rm`` (exit 1), the container left restarting, its restart still due; ``rm -f`` removes
    it, nothing of it left. Until 2026-12-06 ``ctr-trio rm`` (the plain DELETE) removed it."""
    await _exited_into_backoff(client, "o3-looping", make_bundle, monkeypatch)
    before = (await client.get("/containers/o3-looping")).json()
    assert before["state"]["restarting"] is True
    refusal = not_removable("o3-looping", "restarting")
    refused = await client.delete("/containers/o3-looping", params=STOPPED_ONLY)
    assert (refused.status_code, refused.json()) == (409, {"error": refusal})
    removed = await run_cli("--address", daemon.url, "rm", "o3-looping")
    assert (removed.code, removed.out, removed.err) == (1, "", f"ctr-trio: {refusal}\n")
    assert (await client.get("/containers/o3-looping")).json() == before
    forced = await run_cli("--address", daemon.url, "rm", "-f", "o3-looping")
    assert (forced.code, forced.out) == (0, "deleted o3-looping\n"), forced
    assert (await client.get("/containers/o3-looping")).status_code == 404
    assert _left(daemon, "o3-looping") == []
    assert runc_ids(daemon.config.state_dir) == []


async def test_rm_without_force_refuses_a_container_in_its_restarts_own_start(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """During its restart's own start (held here in runc run) the container is restarting:
    ``DELETE ?status=stopped`` is docker's 409 for a restarting one at once, where a plain
    DELETE waits for that start and removes the run it started; the start goes on, and the
    container runs."""
    daemon, gated, _ = await _restart_held(start_daemon, make_bundle, tmp_path, "o3-svc")
    client = daemon.client
    with trio.fail_after(10):  # at once: not after the held start
        refused = await client.delete("/containers/o3-svc", params=STOPPED_ONLY)
    refusal = not_removable("o3-svc", "restarting")
    assert (refused.status_code, refused.json()) == (409, {"error": refusal})
    since = now()
    await trio.Path(gated.gate).write_text("go\n")
    started = await _next_start(client, "o3-svc", since)
    got = (await client.get("/containers/o3-svc")).json()
    assert (got["state"]["status"], got["processes"][0]["pid"]) == ("running", started["pid"])
    assert got["restartCount"] == 1
    refused = await client.delete("/containers/o3-svc", params=STOPPED_ONLY)
    assert refused.json() == {"error": not_removable("o3-svc", "running")}
    assert (await client.delete("/containers/o3-svc", params={"timeout": 0})).status_code == 200


async def test_a_restarts_init_given_an_earlier_processs_pid_replays_its_own_output(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart by the policy continues the log, and the kernel gives pids again (pid_max
    32768): forced here (ns_last_pid, :func:`.test_logs.exec_at_pid`'s way), a restart's init
    gets the pid of an exec'd process of an earlier run. logs?pid= and an attach with
    logs=true to that init replay its run's output alone. Before, the earlier process's came
    first: records were selected by the pid alone, from the log's start."""
    # A short delay, not doubling: as many tries as the kernel needs, as exec_at_pid's.
    monkeypatch.setattr("containerd_trio.restarts.RESTART_FIRST_DELAY", 0.01)
    monkeypatch.setattr("containerd_trio.restarts.RESTART_MAX_DELAY", 0.01)
    policy = {"name": "always"}
    info = await start_container(client, "svc", make_bundle(SAYS_UP), restartPolicy=policy)
    init: int = info["processes"][0]["pid"]
    with trio.fail_after(90):
        for _ in range(PID_AIMS):  # a new "old" for each pid another process held for good
            since = now()
            args = ["echo", "old"]
            response = await client.put("/containers/svc/processes", json={"args": args})
            wanted: int = response.json()["pid"]
            await next_event(client, since=since, match=exit_of(wanted))
            init, at_wanted = await _restarted_at(client, "svc", init, wanted)
            if at_wanted:
                break
        else:
            pytest.skip(f"each of {PID_AIMS} pids aimed at was held by another process")
        # The run's "up" reaches the log through the logger, a moment after the init printed
        # it: followed until it is there (the first record; the earlier process's "old" came
        # first before the mend), then read whole.
        selected = {"pid": str(wanted)}
        url = "/containers/svc/logs"
        async with client.stream("GET", url, params={**selected, "follow": "true"}) as followed:
            first = await anext(aiter(followed.aiter_lines()))
        assert json.loads(first)["data"] == "up\n"
        got = await client.get(url, params=selected)
        assert [json.loads(line)["data"] for line in got.text.splitlines()] == ["up\n"]
        session = await attach(daemon.url, "svc", wanted, query="logs=true")
        assert await session.read_until("up\n")
        assert bytes(session.output) == b"up\n"
        await session.detach()
    assert (await client.delete("/containers/svc", params={"timeout": 0})).status_code == 200


async def test_an_exit_says_whether_the_policy_restarts_the_container(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """An init's ``exit`` carries ``"restarting": true`` when the policy starts the container
    again, so that a watcher shows it restarting at once (the status page showed it stopped
    until it read it again): on-failure's first exit, not its last (its one retry spent), nor
    the exit of a container its user stopped, nor one without a policy."""
    since = now()
    policy = {"name": "on-failure", "maximumRetryCount": 1}
    await start_container(client, "retried", make_bundle(FAIL), restartPolicy=policy)
    await start_container(client, "stopped", make_bundle(), restartPolicy={"name": "always"})
    await start_container(client, "plain", make_bundle(FAIL))
    with trio.fail_after(30):
        retried = await collect_events(client, {"since": since, "id": "retried", "type": "exit"}, 2)
        assert (await client.post("/containers/stopped/stop", params={"timeout": 0})).is_success
        [stopped] = await collect_events(
            client, {"since": since, "id": "stopped", "type": "exit"}, 1
        )
        [plain] = await collect_events(client, {"since": since, "id": "plain", "type": "exit"}, 1)
    assert [e.get("restarting") for e in retried] == [True, None], retried
    assert all(e["init"] is True for e in (*retried, stopped, plain))
    assert "restarting" not in stopped and "restarting" not in plain, (stopped, plain)
    final = (await client.get("/containers/retried")).json()
    assert run_status(final["state"]) == {"status": "stopped", "exitStatus": 1}, final


async def test_patches_of_auto_remove_and_a_policy_queued_together_do_not_give_both(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A PATCH of autoRemove and one of a restart policy that wait together for a command
    that holds the container (a change of limits, its runc update held here) give it one of
    them, the other a 400: each is judged against what the container has once its turn
    comes. Before, each was judged as it came, against the container as it was before either
    (neither set), and both answered 200: a container removed at its exit with a policy
    that starts it again at its exit, which a start's body refuses."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    answers: dict[str, httpx.Response] = {}

    async def patch(name: str, body: dict[str, Any]) -> None:
        answers[name] = await client.patch("/containers/both", json=body)

    with trio.fail_after(30):
        await start_container(client, "both", make_bundle())
        supervisor = daemon.daemon.supervisor
        assert supervisor is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(patch, "resources", {"resources": {"pids": {"limit": 33}}})
            await gated.reached()  # the change of limits holds the container
            nursery.start_soon(patch, "autoRemove", {"autoRemove": True})
            nursery.start_soon(patch, "restartPolicy", {"restartPolicy": {"name": "always"}})
            await trio.testing.wait_all_tasks_blocked()
            # Both wait for the lock the change of limits holds, unanswered.
            assert supervisor.container("both").lock.statistics().tasks_waiting == 2
            assert answers.keys() == {"resources"} or not answers
            await trio.Path(gated.gate).write_text("go\n")
        assert answers["resources"].status_code == 200, answers["resources"].text
        codes = sorted(answers[name].status_code for name in ("autoRemove", "restartPolicy"))
        assert codes == [200, 400], {name: a.text for name, a in answers.items()}
        refused = next(a for a in answers.values() if a.status_code == 400)
        assert refused.json()["error"].startswith("autoRemove cannot be given with restartPolicy")
        got = (await client.get("/containers/both")).json()
        assert not (got.get("autoRemove") and "restartPolicy" in got), got
    await client.delete("/containers/both", params={"timeout": 0})


async def test_a_patch_of_a_policy_or_of_auto_remove_publishes_update(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's update event comes for any change of a container's settings (docker update
    --restart too), so that a watcher reads the container again: a PATCH of a restart policy
    or of autoRemove publishes ``update`` as one of limits does, after its own
    restart-cancelled (a policy of "no" that calls a restart off) and before the delete of
    a removal it brings at once. The empty name, which leaves the policy as it is, publishes
    none. Before, only a change of limits did: a watcher never learnt of the new policy (the
    status page showed the one it had read)."""
    since = now()
    await start_container(client, "settings", make_bundle())
    for body in (
        {"restartPolicy": {"name": "on-failure", "maximumRetryCount": 2}},
        {"restartPolicy": {"name": ""}},  # leaves it as it is: no event
        {"restartPolicy": {"name": "no"}},
        {"autoRemove": True},
    ):
        answer = await client.patch("/containers/settings", json=body)
        assert answer.status_code == 200, answer.text
    deleted = await client.delete("/containers/settings", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text
    kinds = await event_types(client, since=since, container_id="settings", count=6)
    assert kinds == ["start-container", "update", "update", "update", "exit", "delete"]

    # A stopped container given autoRemove: its update, then its removal's delete.
    since = now()
    info = await start_container(client, "later", make_bundle(("sh", "-c", "exit 3")))
    with trio.fail_after(10):
        waited = await client.post("/containers/later/wait")
    assert waited.json()["exitStatus"] == 3, waited.text
    answer = await client.patch("/containers/later", json={"autoRemove": True})
    assert answer.status_code == 200, answer.text
    kinds = await event_types(client, since=since, container_id="later", count=4)
    assert kinds == ["start-container", "exit", "update", "delete"], info
