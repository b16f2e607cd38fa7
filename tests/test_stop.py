"""docker's stop done by the daemon (``POST /containers/{id}/stop``) and docker's ``rm -f``
(``DELETE ?force=true``), through the API and through ``ctr-trio``, on real runc.

Each test is bounded (``trio.fail_after``) and waits on events (an exit, a log line, a trap
in place), not on sleeps; a restart that must not come is looked for over a span longer than
the policy's next delay (``_no_more_starts``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import procfs
from containerd_trio.process import UNKNOWN_EXIT_STATUS, Process
from containerd_trio.timestamps import parse_ns

from .fusehang import bound_at, hung_mount
from .helpers import (
    IGNORES_TERM,
    BundleFactory,
    DaemonProcess,
    RunningDaemon,
    WatchedProcess,
    collect_events,
    next_event,
    now,
    run_status,
    start_container,
    until_trapped,
    wait_catching,
    wait_exit,
    wait_output,
    wait_ran,
)
from .test_cli import run_cli
from .test_migration import two_daemons
from .test_restart_policy import UNTIL_USR1, _exited_into_backoff, _no_more_starts

#: Exits 5 on SIGQUIT, its stop signal in these tests, and 3 on SIGUSR1.
QUITS_OR_USR1 = ("sh", "-c", until_trapped("trap 'exit 5' QUIT; trap 'exit 3' USR1"))
#: Its trap on SIGTERM leaves a mark in its rootfs (which outlives the container), then exits 3.
MARKS_TERM = ("sh", "-c", until_trapped("trap 'touch /termed; exit 3' TERM"))


async def test_a_stop_with_another_signal_than_the_stop_signal_is_final(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio stop -s USR1`` of an ``always`` container whose stop signal is QUIT: its
    user's stop, whatever the signal, as docker's stop. Before, ctr-trio sent the USR1 as a
    PATCH, which (another signal than the container's, docker's kill) left the policy armed:
    the exit it brought was restarted."""
    started = await start_container(
        client, "svc", make_bundle(QUITS_OR_USR1), stopSignal="QUIT",
        restartPolicy={"name": "always"},
    )  # fmt: skip
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    with trio.fail_after(20):
        stopped = await run_cli("--address", daemon.url, "stop", "-s", "USR1", "-t", "30", "svc")
    assert (stopped.code, stopped.out, stopped.err) == (0, "svc\n", ""), stopped
    await _no_more_starts(client, "svc", since)
    shown = (await client.get("/containers/svc")).json()
    assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": 3}, shown


async def test_the_stop_route_answers_the_container_as_it_ended(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The signal the query names (else the container's stop signal), the exit waited for,
    the container answered stopped; it stays. An ``always`` policy does not restart it, with
    the stop signal or another one."""
    for name, query, status in (("own", {}, 5), ("other", {"signal": "usr1"}, 3)):
        started = await start_container(
            client, name, make_bundle(QUITS_OR_USR1), stopSignal="QUIT",
            restartPolicy={"name": "always"},
        )  # fmt: skip
        await wait_catching(started["processes"][0]["pid"], signal.SIGUSR1)
        since = now()
        with trio.fail_after(20):
            answer = await client.post(f"/containers/{name}/stop", params=query)
        assert answer.status_code == 200, answer.text
        assert run_status(answer.json()["state"]) == {"status": "stopped", "exitStatus": status}
        await _no_more_starts(client, name, since)
        assert (await client.get(f"/containers/{name}")).json() == answer.json()


@pytest.mark.parametrize("route", ["stop", "delete"])
async def test_a_grace_of_any_length_the_api_takes_is_kept(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, route: str
) -> None:
    """A stop's or a delete's ``timeout`` of 1e300 s (finite: taken) sends the stop signal
    and waits for the exit. Before, the end of the grace, for the record, overflowed (the
    int of an infinite float): a 500, and no signal went."""
    started = await start_container(client, "svc", make_bundle(SAYS_TERM_EXITS_USR1))
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    answers: list[httpx.Response] = []

    async def ask() -> None:
        method, url = (
            ("POST", "/containers/svc/stop") if route == "stop" else ("DELETE", "/containers/svc")
        )
        answer = await client.request(method, url, params={"timeout": "1e300"})
        assert answer.status_code == 200, answer.text  # not before the exit
        answers.append(answer)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            await wait_output(client, "svc", "termed")  # its signal came
            assert not answers, answers[0].text  # it waits for the exit
            os.kill(pid, signal.SIGUSR1)
    assert run_status(answers[0].json()["state"]) == {"status": "stopped", "exitStatus": 3}


async def test_the_stop_route_s_refusals(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """404 unknown; 400 for a signal or a timeout it does not take, naming it; 409 for a
    stopped container (docker's 304: the error object of every refusal here). (One being
    deleted: test_containers' commands refused at once.)"""
    with trio.fail_after(30):
        missing = await client.post("/containers/ghost/stop")
        assert (missing.status_code, missing.json()) == (
            404,
            {"error": "container 'ghost' not found"},
        )
        await start_container(client, "deaf", make_bundle(IGNORES_TERM))
        for query, said in (
            ({"signal": "NOPE"}, "query parameter signal: unknown signal 'NOPE'"),
            ({"signal": "65"}, "query parameter signal: signal '65' is out of range"),
            ({"timeout": "-2"}, "query parameter timeout must be -1 (no SIGKILL"),
            ({"timeout": "nan"}, "query parameter timeout must be a number, not 'nan'"),
            ({"timeout": "1e999"}, "query parameter timeout must be -1"),
        ):
            refused = await client.post("/containers/deaf/stop", params=query)
            assert refused.status_code == 400, (query, refused.text)
            assert refused.json()["error"].startswith(said), (query, refused.text)
        shown = (await client.get("/containers/deaf")).json()
        assert shown["state"]["status"] == "running"  # none of them sent anything

        await start_container(client, "done", make_bundle(("true",)))
        await client.post("/containers/done/wait")
        refused = await client.post("/containers/done/stop")
        assert (refused.status_code, refused.json()) == (
            409,
            {"error": "cannot stop container 'done': it is stopped"},
        )


async def test_the_stop_resumes_a_paused_container_and_cancels_a_restart(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A paused container is resumed to take the signal (its trap's exit, not the SIGKILL of
    the grace); a restarting one (waiting out its policy's delay) has its restart cancelled,
    answered stopped, as docker's stop of a restarting container."""
    started = await start_container(client, "frozen", make_bundle(QUITS_OR_USR1))
    await wait_catching(started["processes"][0]["pid"], signal.SIGUSR1)
    paused = await client.patch("/containers/frozen", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    with trio.fail_after(20):
        answer = await client.post("/containers/frozen/stop", params={"signal": "USR1"})
    assert answer.status_code == 200, answer.text
    assert run_status(answer.json()["state"]) == {"status": "stopped", "exitStatus": 3}

    since = await _exited_into_backoff(client, "pending", make_bundle, monkeypatch)
    stopped = now()
    with trio.fail_after(10):
        answer = await client.post("/containers/pending/stop")
    assert answer.status_code == 200, answer.text
    assert run_status(answer.json()["state"]) == {"status": "stopped", "exitStatus": 1}
    params = {"since": since, "id": "pending"}
    with trio.fail_after(10):
        types = [e["type"] for e in await collect_events(client, params, 3)]
    assert types == ["start-container", "exit", "restart-cancelled"]
    await _no_more_starts(client, "pending", stopped)


async def test_a_stop_goes_on_once_its_client_left(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The client gives up before the grace ends: the stop is not cut short, its SIGKILL
    comes, and the container stays, stopped."""
    started = await start_container(client, "deaf", make_bundle(IGNORES_TERM))
    pid = started["processes"][0]["pid"]
    await wait_ran(pid)  # a SIGTERM to runc's init ends it, 2
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/containers/deaf/stop", params={"timeout": 1}, timeout=0.2)
    with trio.fail_after(20):
        ended = await client.post(f"/containers/deaf/process/{pid}/wait")
    assert ended.json()["exitStatus"] == 128 + signal.SIGKILL, ended.text
    shown = (await client.get("/containers/deaf")).json()
    assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": 137}, shown


async def test_rm_f_sends_sigkill_alone(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker's rm -f (ForceRemove) kills: SIGKILL alone, a trap on SIGTERM never runs.
    ``ctr-trio rm -f`` sent a DELETE with a grace of 0, which sent SIGTERM, then SIGKILL at
    once. Without -f (containers delete) the stop signal comes first, as before. The signals
    the daemon sends each init are recorded: the trap's run alone would be a race with the
    SIGKILL."""
    sent: list[tuple[int, int]] = []
    send = Process.signal

    def recorded(process: Process, signum: int) -> None:
        sent.append((process.pid, signum))
        send(process, signum)

    monkeypatch.setattr(Process, "signal", recorded)
    bundles: dict[str, Path] = {}
    pids: dict[str, int] = {}
    for name in ("forced", "graced"):
        bundles[name] = make_bundle(MARKS_TERM)
        started = await start_container(client, name, bundles[name])
        pids[name] = started["processes"][0]["pid"]
        await wait_catching(pids[name], signal.SIGTERM)
    with trio.fail_after(20):
        removed = await run_cli("--address", daemon.url, "rm", "-f", "forced")
        assert (removed.code, removed.out, removed.err) == (0, "deleted forced\n", ""), removed
        # The group's delete (the top level's rm, docker's, refuses a running container).
        removed = await run_cli("--address", daemon.url, "containers", "delete", "graced")
        assert (removed.code, removed.out, removed.err) == (0, "deleted graced\n", ""), removed
    assert [s for pid, s in sent if pid == pids["forced"]] == [signal.SIGKILL]
    assert not (bundles["forced"] / "rootfs" / "termed").exists()
    assert [s for pid, s in sent if pid == pids["graced"]] == [signal.SIGTERM]
    assert (bundles["graced"] / "rootfs" / "termed").exists()


async def test_force_and_timeout_are_one_or_the_other(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """force has no grace: beside a timeout it is a 400 that says so; alone, the SIGKILL."""
    await start_container(client, "box", make_bundle(UNTIL_USR1))
    refused = await client.delete("/containers/box", params={"force": "true", "timeout": "5"})
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "give force or timeout, not both: force sends SIGKILL at once, without a grace"},
    )
    with trio.fail_after(20):
        deleted = await client.delete("/containers/box", params={"force": "1"})
    assert deleted.status_code == 200, deleted.text
    assert run_status(deleted.json()["state"]) == {"status": "stopped", "exitStatus": 137}


#: Says so on SIGTERM, and runs on (its stop's SIGKILL ends it).
SAYS_TERM = ("sh", "-c", until_trapped("trap 'echo termed' TERM"))


@pytest.mark.deadline(120)
@pytest.mark.usefixtures("plain_parent")
async def test_a_container_being_stopped_is_not_migrated(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A migration that comes during a stop's grace (the stop waits for the exit without the
    container's lock) is refused, 409, and the stop ends the container here, its SIGKILL and
    all. Before, the move went ahead: the stop answered 200, the copy here killed by the
    move, and the container ran on at the target, its stop forgotten."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    started = await start_container(source.client, "svc", make_bundle(SAYS_TERM))
    await wait_catching(started["processes"][0]["pid"], signal.SIGTERM)
    answers: list[httpx.Response] = []

    async def stop() -> None:
        # A grace of 4 s: the refusal below (the container's lock, no runc) has most of it.
        answers.append(await source.client.post("/containers/svc/stop", params={"timeout": 4}))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(source.client, "svc", "termed")  # its grace has begun
            body = {"to": f"unix:{target.socket}"}
            refused = await source.client.post("/containers/svc/migrate", json=body)
            assert refused.status_code == 409, refused.text  # not the move's steps
            assert refused.json() == {
                "error": "cannot migrate container 'svc': it is being stopped"
            }
    (stopped,) = answers
    assert stopped.status_code == 200, stopped.text
    assert run_status(stopped.json()["state"]) == {"status": "stopped", "exitStatus": 137}
    assert (await target.client.get("/containers/svc")).status_code == 404


async def test_a_container_being_stopped_is_not_checkpointed(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A checkpoint that comes during a stop's grace (the stop waits for the exit without
    the container's lock) is refused, 409, as a migration is, and the stop ends the
    container, its SIGKILL and all; no checkpoint is left. Before, the checkpoint went
    ahead: the stop's SIGKILL ended its dump, or images of a container its user had stopped
    were left, for a restore to run it again."""
    bundle = make_bundle(SAYS_TERM)
    started = await start_container(client, "svc", bundle)
    await wait_catching(started["processes"][0]["pid"], signal.SIGTERM)
    answers: list[httpx.Response] = []

    async def stop() -> None:
        answers.append(await client.post("/containers/svc/stop", params={"timeout": 5}))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(client, "svc", "termed")  # its grace has begun
            refused = await client.post("/containers/svc/checkpoint/during", json={})
            assert (refused.status_code, refused.json()) == (
                409,
                {"error": "cannot checkpoint container 'svc': it is being stopped"},
            ), refused.text
    (stopped,) = answers
    assert stopped.status_code == 200, stopped.text
    assert run_status(stopped.json()["state"]) == {"status": "stopped", "exitStatus": 137}
    assert not (bundle / "checkpoints" / "during").exists()


async def _signal_pending(pid: int) -> None:
    """Until process ``pid`` has a signal pending (one the kernel holds it from taking: on a
    hung mount). Nothing says so: look."""
    while True:
        fields = procfs.status_fields(pid, ("SigPnd", "ShdPnd"))
        assert fields is not None, f"process {pid} is gone"
        if any(int(mask or "0", 16) for mask in fields):
            return
        await trio.sleep(0.01)


async def test_a_stop_whose_container_a_forced_delete_removed_answers_as_it_ended(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A DELETE during a stop's grace, of an init the kernel holds past its SIGKILL (on a
    hung FUSE mount): the delete forces (runc delete --force) once its deadline after its
    SIGKILL has passed, and the stop's own deadline passes meanwhile. The stop answers as
    the delete ended the container (200, stopped, 137), as it does when a delete ends it in
    its grace, once the mount lets the init go and the delete has removed it. Before, the
    stop answered 504 at its deadline, the container said to run on, while the delete went on
    to remove it."""
    daemon = await start_daemon(runtime_timeout=5.0)
    client = daemon.client
    point = tmp_path / "hung"
    point.mkdir()
    answers: dict[str, httpx.Response] = {}

    async def ask(name: str, method: str, url: str, params: dict[str, Any]) -> None:
        answers[name] = await client.request(method, url, params=params)

    with hung_mount(point) as hung:
        bundle = make_bundle(("cat", "/hung/hang"), edit=bound_at(point))
        pid = (await start_container(client, "held", bundle))["processes"][0]["pid"]
        assert await trio.to_thread.run_sync(hung.asked.wait, 20), "cat never asked"
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                began = trio.current_time()
                # Its SIGKILL in 2 s, its deadline 5 s later (7 s); the delete's SIGKILL at
                # once, and its runc delete --force from 5 s on, until 10 s.
                nursery.start_soon(ask, "stop", "POST", "/containers/held/stop", {"timeout": 2})
                await _signal_pending(pid)  # the stop's SIGTERM: its grace has begun
                nursery.start_soon(ask, "delete", "DELETE", "/containers/held", {"timeout": 0})
                await trio.sleep_until(began + 7.5)  # the stop's deadline has passed
                assert "stop" not in answers, answers["stop"].text  # not the 504
                hung.release()  # the init dies of its SIGKILL: the delete removes it
    for name in ("stop", "delete"):
        assert answers[name].status_code == 200, (name, answers[name].text)
        ended = answers[name].json()["state"]
        assert run_status(ended) == {"status": "stopped", "exitStatus": 137}, (name, ended)
    assert (await client.get("/containers/held")).status_code == 404


#: Says so on SIGTERM and runs on; exits 3 on SIGUSR1.
SAYS_TERM_EXITS_USR1 = ("sh", "-c", until_trapped("trap 'echo termed' TERM; trap 'exit 3' USR1"))


@pytest.mark.usefixtures("plain_parent")
@pytest.mark.parametrize("route", ["stop", "kill"])
async def test_a_stop_the_dead_server_left_is_kept_by_its_record(
    spawn_daemon: Any, make_bundle: BundleFactory, route: str
) -> None:
    """kill -9 of the server during a stop's grace (or after a ``PATCH`` SIGTERM, docker's
    kill): the run its user stopped is not restarted by its policy (``unless-stopped``,
    which docker keeps stopped across its daemon's restart: its HasBeenManuallyStopped is on
    disk before the signal) when it exits under the next server. Before, the server alone
    knew of the stop: the next one restarted the exit."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    started = await start_container(
        client, "svc", make_bundle(SAYS_TERM_EXITS_USR1),
        restartPolicy={"name": "unless-stopped"},
    )  # fmt: skip
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)

    async def stop() -> None:
        if route == "kill":
            signalled = await client.patch("/containers/svc", json={"signal": "TERM"})
            assert signalled.status_code == 200, signalled.text
            return
        with contextlib.suppress(httpx.TransportError):  # its server dies under it
            await client.post("/containers/svc/stop", params={"timeout": 60})

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(client, "svc", "termed")  # the signal came (the stop's grace)
            await daemon.kill_server()
        shown = (await client.get("/containers/svc")).json()
        assert shown["state"]["status"] == "running", shown  # adopted, in the stop's grace still
        since = now()
        os.kill(pid, signal.SIGUSR1)
        ended = await client.post(f"/containers/svc/process/{pid}/wait")
        assert ended.json()["exitStatus"] == 3, ended.text
    await _no_more_starts(client, "svc", since)
    shown = (await client.get("/containers/svc")).json()
    assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": 3}, shown


@pytest.mark.usefixtures("plain_parent")
@pytest.mark.parametrize("death", ["server", "daemon"])
async def test_a_stop_the_dead_server_left_in_its_grace_is_ended_by_the_next(
    spawn_daemon: Any, make_bundle: BundleFactory, death: str
) -> None:
    """kill -9 during the grace of two stops of containers that outlive their SIGTERM: the
    next server sends the SIGKILL of the one with a ``timeout`` at the end of its grace, as
    its record says (the server alone, its keeper adopting: during the grace; the whole
    daemon, the next one started after the grace: at once), its exit (137, or unknown where
    no keeper saw it) final for its ``always`` policy; the one with ``timeout=-1`` (no
    SIGKILL) runs on. Before, the next server sent no SIGKILL: the container its user
    stopped ran on for good."""
    first: DaemonProcess = await spawn_daemon()
    grace = 4.0
    pids: dict[str, int] = {}
    for name in ("svc", "patient"):
        started = await start_container(
            first.client, name, make_bundle(SAYS_TERM_EXITS_USR1),
            restartPolicy={"name": "always"},
        )  # fmt: skip
        pids[name] = started["processes"][0]["pid"]
        await wait_catching(pids[name], signal.SIGUSR1)
    since = now()

    async def stop(name: str, timeout: float) -> None:
        with contextlib.suppress(httpx.TransportError):  # its server dies under it
            await first.client.post(f"/containers/{name}/stop", params={"timeout": timeout})

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop, "svc", grace)
            nursery.start_soon(stop, "patient", -1)
            for name in pids:
                await wait_output(first.client, name, "termed")  # its grace has begun
            if death == "server":
                await first.kill_server()
                second = first
            else:
                await first.kill_hard()
                await trio.sleep_until(trio.current_time() + grace)  # its grace has passed
                second = await spawn_daemon()
        client = second.client
        # A status the keeper saw; an exit no keeper saw (the whole daemon's death) is unknown.
        killed = 137 if death == "server" else UNKNOWN_EXIT_STATUS
        assert await wait_exit(client, "svc", pids["svc"], since) == killed
        shown = (await client.get("/containers/svc")).json()
        assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": killed}, shown
        # Not before its grace ended (counted from before the stop was asked).
        assert parse_ns(shown["state"]["finishedAt"]) - parse_ns(since) >= grace * 1e9, shown
        patient = (await client.get("/containers/patient")).json()
        assert patient["state"]["status"] == "running", patient
        ended = now()
        os.kill(pids["patient"], signal.SIGUSR1)
        assert await wait_exit(client, "patient", pids["patient"], since) == (
            3 if death == "server" else UNKNOWN_EXIT_STATUS
        )
    for name in pids:
        await _no_more_starts(client, name, ended)


async def _always_svc(spawn_daemon: Any, make_bundle: BundleFactory) -> tuple[DaemonProcess, int]:
    """A daemon of its own running ``svc`` (``always``), which says TERM and exits at USR1,
    its handlers in place: the daemon and the init's pid."""
    daemon: DaemonProcess = await spawn_daemon()
    started = await start_container(
        daemon.client, "svc", make_bundle(SAYS_TERM_EXITS_USR1), restartPolicy={"name": "always"}
    )
    pid: int = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    return daemon, pid


async def _termed_times(client: httpx.AsyncClient, container_id: str, times: int) -> None:
    """Follow the container's log until it said "termed" ``times`` times (a signal each)."""
    seen = 0
    params = {"follow": "true"}
    async with client.stream("GET", f"/containers/{container_id}/logs", params=params) as response:
        async for line in response.aiter_lines():
            seen += json.loads(line)["data"].count("termed")
            if seen >= times:
                return
    raise AssertionError(f"the log of {container_id} ended with {seen} of {times} 'termed'")


@pytest.mark.usefixtures("plain_parent")
async def test_a_delete_in_a_stop_s_grace_left_by_a_dead_server_keeps_the_stop_s_sigkill(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """kill -9 during a stop's grace (3 s) and a longer DELETE's that came in it (20 s): the
    next server finishes the delete with its SIGKILL at the stop's end, the first, as the
    stop of the dead server would have sent it. Before, the delete's end had replaced the
    stop's in the record: the container its user stopped ran on to the delete's."""
    daemon, pid = await _always_svc(spawn_daemon, make_bundle)
    client = daemon.client
    grace = 3.0
    since = now()

    async def ask(method: str, url: str, timeout: float) -> None:
        with contextlib.suppress(httpx.TransportError):  # its server dies under it
            await client.request(method, url, params={"timeout": timeout})

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "POST", "/containers/svc/stop", grace)
            await _termed_times(client, "svc", 1)  # the stop's grace has begun
            nursery.start_soon(ask, "DELETE", "/containers/svc", 20)
            await _termed_times(client, "svc", 2)  # the delete's signal too: it is recorded
            await daemon.kill_server()
        assert await wait_exit(client, "svc", pid, since) == 137
        removed = await next_event(
            client, since=since, container_id="svc", match=lambda e: e["type"] == "delete"
        )
    took = (parse_ns(removed["timestamp"]) - parse_ns(since)) / 1e9
    assert grace <= took < grace + 5, took
    assert (await client.get("/containers/svc")).status_code == 404


@pytest.mark.usefixtures("plain_parent")
async def test_a_stop_whose_container_exited_while_no_server_ran_sends_no_sigkill(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """A stop's grace (1 s) passes while its server hangs, the container exits by itself
    (3), then the server dies (kill -9): the keeper keeps the exit, and the next server
    reports it, 3, not restarted by its ``always`` policy, and finishes no stop: no SIGKILL
    (its pid may name another process by now). Before, it logged a SIGKILL "sent" at the
    grace that had passed (the pidfd had no process left, so none went)."""
    daemon, pid = await _always_svc(spawn_daemon, make_bundle)
    client = daemon.client
    since = now()

    async def stop() -> None:
        with contextlib.suppress(httpx.TransportError):  # its server dies under it
            await client.post("/containers/svc/stop", params={"timeout": 1})

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(client, "svc", "termed")  # its grace has begun
            server = daemon.server_pid()
            os.kill(server, signal.SIGSTOP)  # it sends no SIGKILL: no server runs, as it were
            pidfd = os.pidfd_open(pid)
            try:
                os.kill(pid, signal.SIGUSR1)
                await trio.lowlevel.wait_readable(pidfd)  # it exited
                await trio.sleep(1.5)  # its grace has passed
            finally:
                os.close(pidfd)
                count = daemon.servings
                os.kill(server, signal.SIGKILL)
            await daemon.served(count + 1)
        assert await wait_exit(client, "svc", pid, since) == 3
        await _no_more_starts(client, "svc", since)
    shown = (await client.get("/containers/svc")).json()
    assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": 3}, shown
    assert b"sending SIGKILL" not in daemon.log, daemon.log[-2000:]


@pytest.mark.deadline(120)
async def test_a_stop_waiting_for_its_exit_does_not_hold_the_daemon_s_shutdown(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """A stop without SIGKILL (``timeout=-1``) of an init that survives its signal, under way
    as the daemon is asked to end: its wait holds nothing, and the shutdown stops the
    container in its own time (its --shutdown-timeout: SIGKILL after 1 s), which the stop
    answers, as a wait would. Before, the shutdown first waited for the stop as for a command
    that holds a container: twice the runtime deadline (60 s), the daemon's end held that
    long."""
    daemon: DaemonProcess = await spawn_daemon("--shutdown-timeout", "1")
    started = await start_container(daemon.client, "deaf", make_bundle(SAYS_TERM))
    init = started["processes"][0]["pid"]
    await wait_catching(init, signal.SIGTERM)
    answers: list[httpx.Response] = []

    async def stop() -> None:
        answers.append(await daemon.client.post("/containers/deaf/stop", params={"timeout": -1}))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(daemon.client, "deaf", "termed")  # its wait has begun
            assert await daemon.signal_and_wait(signal.SIGTERM) == 0
    (stopped,) = answers
    assert stopped.status_code == 200, stopped.text
    assert run_status(stopped.json()["state"]) == {"status": "stopped", "exitStatus": 137}
    assert not os.path.exists(f"/proc/{init}")


@pytest.mark.usefixtures("plain_parent")
async def test_a_stopped_run_that_ended_while_no_daemon_ran_is_not_started_again(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """kill -9 of the whole daemon during a stop's grace, and the init killed while none
    runs (the host's end, say): the next daemon, which starts again the containers of a
    policy that ended so, leaves this one stopped: its record says its user stopped it.
    Before, the next daemon started it again."""
    first: DaemonProcess = await spawn_daemon()
    started = await start_container(
        first.client, "svc", make_bundle(SAYS_TERM_EXITS_USR1),
        restartPolicy={"name": "unless-stopped"},
    )  # fmt: skip
    pid = started["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    since = now()

    async def stop() -> None:
        with contextlib.suppress(httpx.TransportError):  # its daemon dies under it
            await first.client.post("/containers/svc/stop", params={"timeout": 60})

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(first.client, "svc", "termed")  # its grace has begun
            await first.kill_hard()
        with WatchedProcess(pid) as init:
            init.kill()
            await init.wait_reaped()  # by init: no zombie for the next daemon to adopt
        second: DaemonProcess = await spawn_daemon()
        assert await wait_exit(second.client, "svc", pid, since) == 255
    await _no_more_starts(second.client, "svc", since)
    shown = (await second.client.get("/containers/svc")).json()
    assert run_status(shown["state"]) == {"status": "stopped", "exitStatus": 255}, shown
