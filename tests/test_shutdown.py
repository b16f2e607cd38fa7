"""The daemon as its own process: SIGTERM and SIGINT shut it down cleanly."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import containerd_trio
from containerd_trio.client import cli
from containerd_trio.config import parse_args
from containerd_trio.procfs import children
from containerd_trio.server import GRACEFUL_SECONDS

from .helpers import (
    COUNTER,
    FOREVER,
    IGNORES_TERM,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    WatchedProcess,
    WrittenOutput,
    killed_at_end,
    next_event,
    now,
    pid_alive,
    read_to_eof,
    runc,
    runc_ids,
    servers_cannot_start,
    start_container,
    unix_client,
    until_trapped,
    wait_catching,
    wait_output,
    wait_ran,
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_every_container_and_exits_0(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, signum: int
) -> None:
    daemon = await spawn_daemon()
    inits = []
    for name, args in [("polite", FOREVER), ("stubborn", IGNORES_TERM)]:
        response = await daemon.client.post(
            f"/containers/{name}", json={"bundlePath": str(make_bundle(args))}
        )
        assert response.status_code == 201, response.text
        inits.append(WatchedProcess(response.json()["processes"][0]["pid"]))
    assert sorted(runc_ids(daemon.state_dir)) == ["polite", "stubborn"]

    assert await daemon.signal_and_wait(signum) == 0
    assert runc_ids(daemon.state_dir) == []
    assert all(init.ended() for init in inits)
    assert b"shutting down" in daemon.log and b"level=error" not in daemon.log
    # The server hears the signal its keeper got (a Ctrl-C was logged "received SIGTERM").
    assert f"received {signal.Signals(signum).name}".encode() in daemon.log, daemon.log[-2000:]
    assert not daemon.socket.exists() or not _socket_accepts(str(daemon.socket))


async def test_keep_containers_leaves_them_running(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    daemon = await spawn_daemon("--keep-containers")
    response = await daemon.client.post("/containers/kept", json={"bundlePath": str(make_bundle())})
    pid = response.json()["processes"][0]["pid"]
    assert await daemon.signal_and_wait(signal.SIGTERM) == 0
    try:
        assert pid_alive(pid)
        assert runc_ids(daemon.state_dir) == ["kept"]
    finally:
        runc(daemon.state_dir, "delete", "--force", "kept")
        _reap(pid)


async def test_stop_containers_keeps_them_stopped_and_the_next_daemon_restarts_by_policy(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """--stop-containers: docker's daemon stop. Each container is stopped (its stop signal,
    the shutdown's grace, SIGKILL) and kept, stopped, with its log; one started with
    autoRemove is removed. The next daemon on the state dir lists them, and starts again
    those whose policy says so: ``always`` (killed after its grace: 137), ``on-failure``
    that exited 3 at its SIGTERM; not ``on-failure`` that exited 0, nor an ``always`` one
    its user stopped before, nor one without a policy. Until 2026-12-06 a stop deleted every
    container (or, with --keep-containers, left them running)."""
    daemon = await spawn_daemon("--stop-containers", "--shutdown-timeout", "1")
    client = daemon.client
    exits_0 = make_bundle(("sh", "-c", until_trapped("trap 'exit 0' TERM")))
    exits_3 = make_bundle(("sh", "-c", until_trapped("trap 'exit 3' TERM")))
    always, on_failure = {"name": "always"}, {"name": "on-failure"}
    with trio.fail_after(60):
        counter = await start_container(client, "counter", make_bundle(COUNTER))
        await start_container(client, "always", make_bundle(FOREVER), restartPolicy=always)
        polite = await start_container(client, "polite", exits_0, restartPolicy=on_failure)
        failing = await start_container(client, "failing", exits_3, restartPolicy=on_failure)
        await start_container(client, "user", make_bundle(FOREVER), restartPolicy=always)
        await start_container(client, "rm", make_bundle(FOREVER), autoRemove=True)
        for started in (polite, failing):
            await wait_catching(started["processes"][0]["pid"], signal.SIGTERM)
        stopped = await client.post("/containers/user/stop", params={"timeout": "0"})
        assert stopped.status_code == 200, stopped.text
        await wait_output(client, "counter", "3")
        inits = [
            WatchedProcess(c["processes"][0]["pid"])
            for c in (await client.get("/state")).json()["containers"]
            if c["processes"]
        ]
        assert len(inits) == 5

        stopping = now()
        assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
        assert all(init.ended() for init in inits)
        assert b"level=error" not in daemon.log, daemon.log[-2000:]

        since = now()
        daemon = await spawn_daemon()
        client = daemon.client
        for restarted in ("always", "failing"):
            event = await next_event(
                client, since=since, container_id=restarted,
                match=lambda e: e["type"] == "start-container",
            )  # fmt: skip
            assert event["pid"]
        listed = {c["id"]: c for c in (await client.get("/state")).json()["containers"]}
        assert sorted(listed) == ["always", "counter", "failing", "polite", "user"]
        status = {
            cid: (c["state"]["status"], c["state"].get("exitStatus"), c.get("restartCount", 0))
            for cid, c in listed.items()
        }
        assert status == {
            "counter": ("stopped", 137, 0),  # its pid 1 took no SIGTERM: killed at the grace
            "always": ("running", None, 1),
            "failing": ("running", None, 1),
            "polite": ("stopped", 0, 0),
            "user": ("stopped", 137, 0),
        }, status
        # The stop's exits said which the next daemon restarts; rm's removal followed its.
        params = {"since": stopping, "until": since, "type": "exit,delete"}
        replayed = (await client.get("/events", params=params)).text.splitlines()
        told = [(e["type"], e["id"], e.get("restarting", False)) for e in map(json.loads, replayed)]
        assert sorted(told) == [
            ("delete", "rm", False),
            ("exit", "always", True),
            ("exit", "counter", False),
            ("exit", "failing", True),
            ("exit", "polite", False),
            ("exit", "rm", False),
        ], told
        # Its log kept, each line once, from 1 on.
        logged = (await client.get("/containers/counter/logs")).text.splitlines()
        numbers = [int(json.loads(line)["data"]) for line in logged]
        assert numbers[:3] == [1, 2, 3] and numbers == list(range(1, len(numbers) + 1))
        assert counter["processes"][0]["pid"] == json.loads(logged[0])["pid"]
        for cid in listed:
            await client.delete(f"/containers/{cid}", params={"timeout": 0})


def _host_pids(config: dict[str, Any]) -> None:
    """A container in the host's pid namespace: its init's death ends no other process."""
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "pid"]


@pytest.mark.parametrize("host_pids", [True, False], ids=["host-pid-namespace", "own"])
async def test_stop_containers_ends_what_an_init_left_and_reports_its_exit(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, host_pids: bool
) -> None:
    """--stop-containers, a container with a process added to it (which outlives a
    SIGTERM). In the host's pid namespace its init's death ends no other process, and the
    daemon's stop ends that one too (SIGKILL), as docker's (containerd's shim kills what is
    left of such a container at its init's exit); in a pid namespace of its own the kernel
    does. Either way its exit is reported before the daemon ends, and the next daemon lists
    the container stopped, with no process. Before, in the host's pid namespace, the added
    process ran on after the daemon had stopped, its output read by nobody, and the next
    daemon adopted the container running, that process taken for its init."""
    daemon = await spawn_daemon("--stop-containers", "--shutdown-timeout", "1")
    client = daemon.client
    with trio.fail_after(60):
        bundle = make_bundle(edit=_host_pids) if host_pids else make_bundle()
        started = await start_container(client, "shared", bundle)
        init = WatchedProcess(started["processes"][0]["pid"])
        added = await client.put(
            "/containers/shared/processes",
            json={"args": ["sh", "-c", until_trapped("trap 'echo kept on' TERM")]},
        )
        assert added.status_code == 201, added.text
        pid = added.json()["pid"]
        execd = WatchedProcess(pid)
        await wait_catching(pid, signal.SIGTERM)
        stopping = now()
        assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
        assert init.ended()
        assert execd.ended(), "the added process outlived the daemon's stop"
        assert b"level=error" not in daemon.log, daemon.log[-2000:]

        since = now()
        daemon = await spawn_daemon()
        client = daemon.client
        shown = (await client.get("/containers/shared")).json()
        assert shown["state"]["status"] == "stopped", shown
        assert shown["processes"] == [], shown
        params = {"since": stopping, "until": since, "type": "exit"}
        replayed = (await client.get("/events", params=params)).text.splitlines()
        exits = {e["pid"]: e["status"] for e in map(json.loads, replayed)}
        assert exits[pid] == 128 + signal.SIGKILL, exits
        assert (await client.delete("/containers/shared")).status_code == 200


@pytest.mark.parametrize("mode", ["delete", "--stop-containers"])
async def test_a_daemon_stop_gives_each_container_its_own_stop_timeout(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, mode: str
) -> None:
    """docker's daemon stop gives each container its own StopTimeout: three that ignore
    SIGTERM, under a --shutdown-timeout of 2 s. The one started with stopTimeout 1 gets its
    SIGKILL after its 1 s; the one without, after the daemon's 2 s; the one with -1 never
    (the daemon's stop waits for its exit, here a SIGKILL from the test). The log says the
    grace each waited. Until 2026-12-06 each had the daemon's 2 s, its own stopTimeout
    ignored (the short one's log said "waited 1.9997s", and the -1 one was killed)."""
    extra = ("--stop-containers",) if mode != "delete" else ()
    daemon = await spawn_daemon("--shutdown-timeout", "2", *extra)
    client = daemon.client
    deaf = make_bundle(IGNORES_TERM)
    with contextlib.ExitStack() as stack, trio.fail_after(60):
        inits = {}
        for name, own in (("o4-short", {"stopTimeout": 1}), ("o4-plain", {}),
                          ("o4-endless", {"stopTimeout": -1})):  # fmt: skip
            started = await start_container(client, name, deaf, **own)
            pid = started["processes"][0]["pid"]
            inits[name] = stack.enter_context(killed_at_end(pid))
            await wait_ran(pid)  # a SIGTERM to runc's init ends it, 2
        daemon.process.send_signal(signal.SIGTERM)
        for name, at_least, at_most in (("o4-short", 0, 1), ("o4-plain", 1, 2)):
            said = b"container " + name.encode() + b" did not exit in its stop's grace"
            await daemon.logged(said)
            # What was left of its grace when the wait for its exit began (a delete's
            # takes a turn of its own first), up to the whole.
            waited = re.search(re.escape(said) + rb" \(waited ([0-9.e-]+)s here\)", daemon.log)
            assert waited is not None, daemon.log[-2000:]
            assert at_least < float(waited[1]) <= at_most, daemon.log[-2000:]
            await trio.lowlevel.wait_readable(inits[name].fd)  # its SIGKILL's end
        assert not inits["o4-endless"].ended(), daemon.log[-2000:]
        assert b"o4-endless did not exit" not in daemon.log, daemon.log[-2000:]
        assert daemon.process.returncode is None  # it waits for the exit, however long
        inits["o4-endless"].kill()
        assert await daemon.wait_exit() == 0, daemon.log[-2000:]
    assert b"level=error" not in daemon.log, daemon.log[-2000:]
    kept = ["o4-endless", "o4-plain", "o4-short"] if extra else []
    assert sorted(runc_ids(daemon.state_dir)) == kept


async def test_keep_and_stop_containers_do_not_go_together() -> None:
    with pytest.raises(SystemExit) as refused, contextlib.redirect_stderr(io.StringIO()) as err:
        parse_args(["--keep-containers", "--stop-containers"])
    assert refused.value.code == 2
    assert "--keep-containers and --stop-containers do not go together" in err.getvalue()


async def _started_and_watched(
    daemon: DaemonProcess, container_id: str, bundle: Path
) -> WatchedProcess:
    """``container_id`` started on ``daemon``; its init, watched (to see it end)."""
    started = await start_container(daemon.client, container_id, bundle)
    return WatchedProcess(started["processes"][0]["pid"])


async def test_a_signal_while_no_server_serves_stops_the_containers_once_the_next_serves(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    # systemctl stop while the server restarts after a crash: the keeper exited at once
    # (status 0, "stopped" nowhere in its log) or passed the signal to a server still
    # importing, which died of it; every container ran on in runc, its pipes unread.
    daemon = await spawn_daemon()
    init = await _started_and_watched(daemon, "web", make_bundle())
    os.kill(daemon.server_pid(), signal.SIGKILL)
    # The keeper has seen its server die and started the next, which does not serve yet.
    await daemon.logged(b"died (signal 9); starting a new one")
    assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()
    assert b"the daemon stops once its server serves" in daemon.log
    assert b"shutting down" in daemon.log, daemon.log[-2000:]


async def test_a_signal_during_the_pause_before_a_restart_stops_the_containers_once_one_serves(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    # No server at all: the next ones failed as they started (their journal a directory for a
    # while), and the keeper waits out its pause before the next. The keeper exited at once,
    # status 0, nothing in its log, the container left running.
    daemon = await spawn_daemon()
    init = await _started_and_watched(daemon, "web", make_bundle())
    with servers_cannot_start(daemon):
        os.kill(daemon.server_pid(), signal.SIGKILL)
        await daemon.logged(b"died (status 1); starting a new one in 1 s")
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        await daemon.logged(b"the daemon stops once its server serves")
    assert await daemon.wait_exit() == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()


async def test_a_server_killed_during_the_stop_is_followed_by_one_that_finishes_it(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    # The stop holds on a container that ignores SIGTERM (its grace, 1 s here); a kill -9 of
    # the server then took the keeper with it, and left the container running.
    daemon = await spawn_daemon()
    init = await _started_and_watched(daemon, "stubborn", make_bundle(IGNORES_TERM))
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    await daemon.logged(b"shutting down")
    os.kill(daemon.server_pid(), signal.SIGKILL)
    assert await daemon.wait_exit() == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()
    assert daemon.log.count(b"shutting down") == 2, daemon.log[-2000:]


async def test_follows_a_crash_broke_during_the_stop_are_taken_up_to_the_stop_s_end(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """Followers whose streams the server's crash broke during the stop ask again, from their
    last event or record, of the next server, which finishes the stop: the event stream gets
    the container's exit and delete, the log follow what it printed meanwhile, each then its
    end, whole. Other requests are refused as before. Until 2026-12-06 the streams' requests
    were 503s too: the followers (ctr-trio events and logs -f, trial7) retried until the
    daemon was gone, exit 3, and never saw how the container ended nor its last output."""
    daemon = await spawn_daemon("--shutdown-timeout", "8")
    since = now()
    init = await _started_and_watched(daemon, "stubborn", make_bundle(_COUNTS_IGNORING_TERM))
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    await daemon.logged(b"shutting down")
    os.kill(daemon.server_pid(), signal.SIGKILL)
    killed = now()
    with trio.fail_after(30):
        await daemon.logged(b"shutting down", times=2)  # the next server finishes the stop
        query = urllib.parse.urlencode({"since": since})
        events = await _open(daemon, f"GET /events?{query} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        path = f"/containers/stubborn/logs?follow=true&{query}"
        logs = await _open(daemon, f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        other = await _open(daemon, b"GET /containers HTTP/1.1\r\nHost: d\r\n\r\n")
        _refused_as_stopping(await read_to_eof(other))
        streamed = _whole(await read_to_eof(events))
        output = _whole(await read_to_eof(logs))
        assert daemon.log.count(b"shutting down") == 2, daemon.log[-2000:]
        assert await daemon.wait_exit() == 0, daemon.log[-2000:]
    for answer in (streamed, output):
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    kinds = [(event["type"], event["id"]) for event in _records(streamed)]
    assert kinds[0] == ("start-container", "stubborn"), kinds  # replayed from since
    assert kinds[-2:] == [("exit", "stubborn"), ("delete", "stubborn")], kinds
    printed = _records(output)
    assert printed[0]["data"] == "1\n", printed[:3]  # from since: every line
    assert [int(record["data"]) for record in printed] == list(range(1, len(printed) + 1))
    assert printed[-1]["timestamp"] > killed, (printed[-1], killed)  # and what came after
    assert init.ended()
    assert runc_ids(daemon.state_dir) == []


#: Prints a line every 0.1 s, and ignores SIGTERM: a stop waits its shutdown timeout for it.
_COUNTS_IGNORING_TERM = (
    "sh",
    "-c",
    "trap '' TERM; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done",
)


def _records(answer: bytes) -> list[Any]:
    """The ndjson records of a chunked answer (its head included)."""
    return [json.loads(line) for line in _dechunked(answer).splitlines() if line]


def _dechunked(body: bytes) -> bytes:
    """The content of a chunked answer's body (past its head)."""
    content, rest = b"", body.partition(b"\r\n\r\n")[2]
    while True:
        size, _, rest = rest.partition(b"\r\n")
        length = int(size, 16)
        if length == 0:
            return content
        content, rest = content + rest[:length], rest[length + 2 :]


async def test_a_signal_during_a_reload_s_hand_over_stops_the_containers_once_the_new_serves(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    # The old server, handing over, took the keeper's SIGTERM for a second signal and exited
    # at once (status 1); the keeper killed the new server and exited with it, every
    # container left running. A download the old server answers holds its hand-over (up to
    # Hypercorn's graceful time) long enough to signal the keeper in it.
    daemon = await spawn_daemon()
    init = await _started_and_watched(daemon, "web", make_bundle())
    async with (
        unix_client(daemon.socket) as downloader,
        downloader.stream("GET", "/containers/web/archive", params={"path": "/bin"}) as download,
    ):
        assert download.status_code == 200
        await download.aiter_raw().__anext__()  # under way, and then not read
        assert (await daemon.client.post("/daemon/reload")).status_code == 202
        await daemon.logged(b"handing over to a new server")
        assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()
    assert b"the daemon stops once its server serves" in daemon.log
    assert b"second SIGTERM" not in daemon.log, daemon.log[-2000:]


async def test_a_signal_to_every_process_of_the_daemon_is_one_stop(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    # systemd's stop (KillMode=control-group, its default) signals every process of the unit:
    # the server heard its own SIGTERM and then the keeper's, took that for a second one and
    # exited at once (status 1), every container left running; the logger died of its own.
    daemon = await spawn_daemon()
    init = await _started_and_watched(daemon, "web", make_bundle())
    for child in children(daemon.keeper_pid):
        os.kill(child, signal.SIGTERM)
    # Answered (200, or the stop's 503 where the server stops by itself): the server's loop
    # has had its signal by now.
    assert (await daemon.client.get("/state")).status_code in (200, 503)
    assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()
    assert daemon.log.count(b"received SIGTERM") == 1, daemon.log[-2000:]


#: The keeper before the stop went on the link (1556ec7): it signals its server, and says
#: nothing of the link in the server's environment.
_OLD_KEEPER = (
    ("keeper/_keeper.py", ', **{STOP_ON_LINK: "1"})', ")"),
    ("keeper/_keeper.py", "if server.stops_on_link:", "if False:"),
)
#: The server before it: it answers its own signals, does not know a "stop" message, and its
#: "ready" says nothing of the link.
_OLD_SERVER = (
    ("server.py", 'os.environ.pop(STOP_ON_LINK, None) == "1" and keeper_fd is not None', "False"),
    ("keeperlink.py", 'elif op == "stop" and', 'elif op == "stop (unknown)" and'),
    ("keeperlink.py", '{"op": "ready", STOP_ON_LINK: True}', '{"op": "ready"}'),
)


def _install(to: Path, patches: tuple[tuple[str, str, str], ...]) -> None:
    """The package at ``to`` as another install holds it: this one's, with ``patches`` (file,
    old, new), in place of what ``to`` held."""
    shutil.rmtree(to, ignore_errors=True)
    package = Path(containerd_trio.__file__).parent
    shutil.copytree(package, to, ignore=shutil.ignore_patterns("__pycache__"))
    for name, old, new in patches:
        text = (to / name).read_text()
        assert old in text, (name, old)
        (to / name).write_text(text.replace(old, new))


@pytest.mark.parametrize("older", ["keeper", "server"])
async def test_a_stop_reaches_a_server_of_another_install_after_a_live_upgrade(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path, older: str
) -> None:
    """A live upgrade runs the keeper of one install with the server of the next (or of the
    last, after a downgrade). Once the stop went on the link, a keeper of before it signalled
    its new server, which ignored the signal; a keeper of after it told an older server a
    "stop" it did not know: either way SIGTERM stopped nothing. Each side now says it speaks
    so (keeper._wire.STOP_ON_LINK), and the stop goes as the other takes it."""
    install = tmp_path / "install"
    first, then = (_OLD_KEEPER, ()) if older == "keeper" else ((), _OLD_SERVER)
    _install(install / "containerd_trio", first)
    # From its own directory, with it first on the path: the keeper runs that install, and the
    # servers it starts (python -P) the install there at their start.
    daemon = await spawn_daemon(wrapper=["env", "-C", str(install), f"PYTHONPATH={install}"])
    init = await _started_and_watched(daemon, "web", make_bundle())
    _install(install / "containerd_trio", then)  # the upgrade (or the downgrade)
    assert (await daemon.client.post("/daemon/reload")).status_code == 202
    await daemon.logged(b"handed over")
    await daemon.served(2)
    with trio.fail_after(60):
        assert await daemon.signal_and_wait(signal.SIGTERM) == 0, daemon.log[-2000:]
    assert runc_ids(daemon.state_dir) == []
    assert init.ended()
    assert b"level=error" not in daemon.log, daemon.log[-2000:]


async def test_a_second_signal_stops_the_server_at_once_and_the_next_daemon_finishes(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A second SIGTERM during the stop's grace: the server exits at once, its log naming the
    signal sent (the keeper passed a second signal on as SIGINT: "second SIGINT"), the
    container left running in runc; the next daemon started on the state dir finishes the
    delete the stop had begun, its SIGKILL at the end of the stop's grace."""
    term = tmp_path / "term"
    os.mkfifo(term)

    def with_fifo(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {"destination": "/term", "type": "bind", "source": str(term), "options": ["bind"]}
        )

    # It says when the stop's SIGTERM reaches it, and runs on. The grace (3 s) need only
    # outlast the second signal's delivery; the next daemon waits out what is left of it.
    daemon = await spawn_daemon("--shutdown-timeout", "3")
    bundle = make_bundle(
        ["sh", "-c", "trap 'echo term > /term' TERM; while true; do sleep 0.1; done"],
        edit=with_fifo,
    )
    created = await start_container(daemon.client, "stubborn", bundle)
    init = WatchedProcess(created["processes"][0]["pid"])
    since = now()
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    assert await trio.Path(term).read_text() == "term\n"  # the stop is under way
    assert await daemon.signal_and_wait(signal.SIGTERM) == 1
    assert b"second SIGTERM: exiting at once" in daemon.log, daemon.log[-2000:]
    assert not init.ended()
    assert runc_ids(daemon.state_dir) == ["stubborn"]

    daemon = await spawn_daemon()
    await daemon.logged(b"finishing the delete of container stubborn that was in flight")
    exited = await next_event(
        daemon.client, since=since, container_id="stubborn", match=lambda e: e["type"] == "exit"
    )
    assert exited["status"] == 255, exited  # init's child now: its status is not ours to see
    await next_event(
        daemon.client, since=since, container_id="stubborn", match=lambda e: e["type"] == "delete"
    )
    assert init.ended()
    assert runc_ids(daemon.state_dir) == []


def _socket_accepts(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
        return True


def _reap(pid: int) -> None:
    """The kept container was re-parented to us (the suite's process is a subreaper too)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


async def test_daemon_process_leaves_no_zombies(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    from .helpers import next_event, now, zombie_children

    daemon = await spawn_daemon()
    client = daemon.client
    since = now()
    response = await client.post("/containers/z", json={"bundlePath": str(make_bundle(FOREVER))})
    assert response.status_code == 201
    for n in range(3):
        response = await client.put(
            "/containers/z/processes", json={"args": ["sh", "-c", f"exit {n}"]}
        )
        assert response.status_code == 201
        pid = response.json()["pid"]

        def its_exit(e: dict[str, object], pid: int = pid) -> bool:
            return e["type"] == "exit" and e["pid"] == pid

        event = await next_event(client, since=since, container_id="z", match=its_exit)
        assert event["status"] == n
    response = await client.post(
        "/containers/short", json={"bundlePath": str(make_bundle(["true"]))}
    )
    await next_event(client, since=since, container_id="short", match=lambda e: e["type"] == "exit")
    assert (await client.delete("/containers/short")).status_code == 200
    assert (await client.delete("/containers/z", params={"timeout": "0"})).status_code == 200
    assert daemon.process is not None
    assert zombie_children(daemon.process.pid) == []


async def test_a_client_that_does_not_read_does_not_hold_the_shutdown(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """A log of megabytes asked for by a client that never reads it: Hypercorn's write to it
    waits for ever and no cancel reaches it; the shutdown closes the socket and ends."""
    daemon = await spawn_daemon("--shutdown-timeout", "1")
    response = await daemon.client.post(
        "/containers/loud", json={"bundlePath": str(make_bundle(FOREVER))}
    )
    assert response.status_code == 201, response.text
    writer = await daemon.client.put(
        "/containers/loud/processes",
        json={"args": ["sh", "-c", "yes a-line-of-the-log | head -c 20000000"]},
    )
    assert writer.status_code == 201, writer.text
    # Its exit is answered once all its output is in the log.
    waited = await daemon.client.post(f"/containers/loud/process/{writer.json()['pid']}/wait")
    assert waited.json()["exitStatus"] == 0
    stalled = await trio.open_unix_socket(str(daemon.socket))
    stalled.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await stalled.send_all(b"GET /containers/loud/logs HTTP/1.1\r\nHost: daemon\r\n\r\n")
    await stalled.receive_some(1)  # the answer has begun: the daemon is writing the log
    with trio.fail_after(40):
        assert await daemon.signal_and_wait(signal.SIGTERM) == 0
    assert runc_ids(daemon.state_dir) == []
    await stalled.aclose()


async def _open(daemon: DaemonProcess, request: bytes) -> trio.SocketStream:
    """A raw connection to the daemon that has sent ``request``."""
    stream = await trio.open_unix_socket(str(daemon.socket))
    await stream.send_all(request)
    return stream


async def _head_of(stream: trio.SocketStream) -> bytes:
    """The head of the answer coming on ``stream`` (what follows it is dropped)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = await stream.receive_some()
        assert chunk, f"the connection closed before the answer's head: {received!r}"
        received += chunk
    return received.partition(b"\r\n\r\n")[0]


def _refused_as_stopping(answer: bytes, *, closing: bool = True) -> None:
    """The stop's 503: retry in a second; ``closing``, on a new connection."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), answer
    lines = head.lower().split(b"\r\n")
    assert b"retry-after: 1" in lines, head
    assert not closing or b"connection: close" in lines, head
    assert json.loads(body) == {"error": "the daemon is shutting down"}


def _whole(body: bytes) -> bytes:
    """The body of a chunked answer (past its head), which the daemon ended whole: its last,
    empty chunk came."""
    assert body.endswith(b"0\r\n\r\n"), f"the stream was cut, not ended: {body[-300:]!r}"
    return body


def _ignoring_term(make_bundle: BundleFactory, tmp_path: Path) -> tuple[Path, Path]:
    """A bundle whose container ignores SIGTERM, so that a stop waits its shutdown timeout
    for it, and the fifo in which it says it got one: the stop is under way."""
    term = tmp_path / "term"
    os.mkfifo(term)

    def with_fifo(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {"destination": "/term", "type": "bind", "source": str(term), "options": ["bind"]}
        )

    holder = make_bundle(
        ["sh", "-c", "trap 'echo term > /term' TERM; while true; do sleep 0.1; done"],
        edit=with_fifo,
    )
    return holder, term


async def test_a_shutdown_answers_its_clients_and_ends_their_streams_whole(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """While the stop waits for a container longer than Hypercorn's graceful time: a request
    on a connection held open, and one on a new connection, are answered 503 with
    Retry-After; the event stream, a log follow and a wait stay open, get what the stop does
    (the container's exit and delete), and end whole; ctr-trio events says the daemon closed
    its stream, and exits 3. Before, the idle connection was closed under its request, the new
    one waited unaccepted until the daemon's end reset it, and the streams were cut 5 s into
    the stop, their answers incomplete."""
    # The container ignores the SIGTERM (it says when it got it): the stop kills it after
    # the shutdown timeout, past Hypercorn's graceful time.
    holder, term = _ignoring_term(make_bundle, tmp_path)
    daemon: DaemonProcess = await spawn_daemon("--shutdown-timeout", str(GRACEFUL_SECONDS + 2))
    since = now()
    await start_container(daemon.client, "holder", holder)
    out, err = WrittenOutput(), io.StringIO()
    argv = ["--address", f"unix:{daemon.socket}", "--retry", "1", "events", "--since", since]
    codes: list[int] = []

    async def follow() -> None:
        codes.append(await trio.to_thread.run_sync(cli.run, argv, out, err))
        out.wake()

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            try:
                kept = await _open(daemon, b"GET /containers/holder HTTP/1.1\r\nHost: d\r\n\r\n")
                await _head_of(kept)  # answered: the connection is open and idle
                events = await _open(daemon, b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
                logs = await _open(
                    daemon, b"GET /containers/holder/logs?follow=true HTTP/1.1\r\nHost: d\r\n\r\n"
                )
                wait = await _open(
                    daemon,
                    b"POST /containers/holder/wait HTTP/1.1\r\nHost: d\r\n"
                    b"Content-Length: 0\r\n\r\n",
                )
                for stream in (events, logs):
                    await _head_of(stream)  # subscribed
                # A round trip on a later connection: the wait's request, read before, waits.
                assert (await daemon.client.get("/containers/holder")).status_code == 200
                nursery.start_soon(follow)
                await out.first.wait()  # it printed the start, replayed: it follows

                assert daemon.process is not None
                daemon.process.send_signal(signal.SIGTERM)
                assert await trio.Path(term).read_text() == "term\n"  # the stop is under way
                body = b'{"args": ["true"]}'
                await kept.send_all(
                    b"PUT /containers/holder/processes HTTP/1.1\r\nHost: d\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                _refused_as_stopping(await read_to_eof(kept))
                fresh = await _open(daemon, b"GET /containers HTTP/1.1\r\nHost: d\r\n\r\n")
                _refused_as_stopping(await read_to_eof(fresh))

                streamed = _whole(await read_to_eof(events))
                assert b'"type":"exit","id":"holder"' in streamed, streamed
                assert b'"type":"delete","id":"holder"' in streamed, streamed
                _whole(await read_to_eof(logs))
                answer = await read_to_eof(wait)
                assert answer.startswith(b"HTTP/1.1 200 "), answer
                assert json.loads(answer.partition(b"\r\n\r\n")[2])["exitStatus"] == 137
                assert await daemon.wait_exit() == 0
            except BaseException:
                # The follow's thread cannot be cancelled: it ends with its stream.
                assert daemon.process is not None
                daemon.process.kill()
                raise
    assert codes == [3], err.getvalue()
    assert "closed the event stream" in err.getvalue(), err.getvalue()
    assert "delete" in out.getvalue()
    assert runc_ids(daemon.state_dir) == []


async def test_a_shutdown_refuses_a_websocket_handshake_as_it_refuses_a_request(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """An attach's handshake during the stop gets the stop's 503 (Retry-After: 1, the JSON
    error, Connection: close) instead of its accept, as any request does: ctr-trio retries
    it (to the next server, after a hand-over). Before, it was accepted, into a session the
    stop was about to cut."""
    holder, term = _ignoring_term(make_bundle, tmp_path)
    daemon: DaemonProcess = await spawn_daemon("--shutdown-timeout", "5")
    pid = (await start_container(daemon.client, "holder", holder))["processes"][0]["pid"]
    handshake = (
        b"GET /containers/holder/process/%d/attach HTTP/1.1\r\nHost: d\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" % pid
    )
    with trio.fail_after(30):
        # Before the stop the same handshake is accepted.
        accepted = await _open(daemon, handshake)
        assert (await _head_of(accepted)).startswith(b"HTTP/1.1 101 ")
        await accepted.aclose()
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        assert await trio.Path(term).read_text() == "term\n"  # the stop is under way
        _refused_as_stopping(await read_to_eof(await _open(daemon, handshake)))
        assert await daemon.wait_exit() == 0
    assert runc_ids(daemon.state_dir) == []


async def test_a_stop_that_keeps_the_containers_answers_the_waits_for_them(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """With --keep-containers a wait for a container's exit has none to answer: it gets the
    stop's 503 (Retry-After: 1), and the event stream ends whole. Before, both were cut at
    the end of Hypercorn's graceful time, the wait with no answer at all."""
    daemon: DaemonProcess = await spawn_daemon("--keep-containers")
    pid = (await start_container(daemon.client, "kept", make_bundle()))["processes"][0]["pid"]
    try:
        with trio.fail_after(30):
            events = await _open(daemon, b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n")
            wait = await _open(
                daemon,
                b"POST /containers/kept/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
            )
            await _head_of(events)
            # A round trip on a later connection: the wait's request, read before, waits.
            assert (await daemon.client.get("/containers/kept")).status_code == 200
            assert await daemon.signal_and_wait(signal.SIGTERM) == 0
            _refused_as_stopping(await read_to_eof(wait), closing=False)
            _whole(await read_to_eof(events))
        assert pid_alive(pid)
    finally:
        runc(daemon.state_dir, "delete", "--force", "kept")
        _reap(pid)


async def _checkpointed(daemon: RunningDaemon, bundle: Path) -> Path:
    """A container "moving" of ``bundle``, checkpointed as "cp" and stopped: ready for a
    restore."""
    await start_container(daemon.client, "moving", bundle)
    answer = await daemon.client.post("/containers/moving/checkpoint/cp", json={"exit": True})
    assert answer.status_code == 201, answer.text
    return bundle


async def _restore(daemon: RunningDaemon, bundle: Path, outcome: list[int]) -> None:
    """Restore "moving" from "cp" (within 100 s); its answer's status into ``outcome``, if
    the server answers before it closes."""
    with contextlib.suppress(httpx.HTTPError):
        body = {"bundlePath": str(bundle), "checkpoint": "cp", "timeout": 100}
        outcome.append((await daemon.client.post("/containers/moving", json=body)).status_code)


@pytest.mark.deadline(120)
async def test_a_shutdown_rolls_back_a_restore_still_under_way(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A start is shielded from its client, not from a shutdown: a restore still under way
    when the shutdown's grace for commands (twice the runtime deadline) has run out is rolled
    back and refused, as when it ran in a command task of its own, and the shutdown ends."""
    gated = GatedRunc(tmp_path, "restore")  # never let through
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path), runtime_timeout=1.0)
    bundle = await _checkpointed(daemon, make_bundle(COUNTER))
    outcome: list[int] = []

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_restore, daemon, bundle, outcome)
        await gated.reached()  # runc restore is running
        with trio.fail_after(60):  # not the restore's 100 s
            await daemon.stop()
    assert outcome in ([], [503])
    assert runc_ids(daemon.config.state_dir) == []


@pytest.mark.deadline(120)
async def test_a_shutdown_ends_its_commands_before_it_stops_the_containers(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A restore still under way when the shutdown's grace for commands has run out is ended
    before the containers are stopped, not after: one that finished during the stop would
    have left a container running that the stop had not seen."""
    gated = GatedRunc(tmp_path, "restore")
    term = tmp_path / "term"
    os.mkfifo(term)
    daemon: RunningDaemon = await start_daemon(
        runtime=str(gated.path), runtime_timeout=1.0, shutdown_timeout=5.0
    )

    def with_fifo(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {"destination": "/term", "type": "bind", "source": str(term), "options": ["bind"]}
        )

    # It says when the stop reaches it, then takes its time (SIGKILL after 5 s).
    holder = make_bundle(
        ["sh", "-c", "trap 'echo term > /term' TERM; while true; do sleep 1; done"], edit=with_fifo
    )
    await start_container(daemon.client, "holder", holder)
    bundle = await _checkpointed(daemon, make_bundle(COUNTER))
    outcome: list[int] = []

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_restore, daemon, bundle, outcome)
        await gated.reached()
        nursery.start_soon(daemon.stop)
        assert await trio.Path(term).read_text() == "term\n"  # the stop is under way
        # Open the gate, if the restore still waits there: it would finish now, during the
        # stop. (An open for writing that finds no reader fails: the restore was ended.)
        with contextlib.suppress(OSError):
            os.close(os.open(gated.gate, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome in ([], [503])
    assert runc_ids(daemon.config.state_dir) == []


@pytest.mark.deadline(60)
async def test_a_migration_opening_with_a_silent_target_ends_within_the_runtime_deadline(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory
) -> None:
    """A migration opening its session with a target that takes the connection and never
    answers, while the daemon shuts down: the target has the runtime deadline to answer, so
    the migration ends with a 502 that says so, within the shutdown's grace for commands
    (twice that deadline), and the shutdown ends. (Before the targets' requests had
    deadlines, it held on until the grace ran out, and was refused with 503.)"""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    reached, answered = trio.Event(), trio.Event()
    held: list[trio.socket.SocketType] = []
    answers: list[httpx.Response] = []

    async def silent_target() -> None:  # takes the connection, never answers
        while True:
            held.append((await listener.accept())[0])
            reached.set()

    daemon: RunningDaemon = await start_daemon(runtime_timeout=1.0, shutdown_timeout=0.5)
    await start_container(daemon.client, "moving", make_bundle())

    async def migrate() -> None:
        body = {"to": f"127.0.0.1:{port}"}
        answers.append(await daemon.client.post("/containers/moving/migrate", json=body))
        answered.set()

    with listener:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(silent_target)
            nursery.start_soon(migrate)
            await reached.wait()  # the migration is opening its session
            with trio.fail_after(30):
                await daemon.stop()
                await answered.wait()
            nursery.cancel_scope.cancel()
    for connection in held:
        connection.close()
    assert answers[0].status_code == 502, answers[0].text
    assert answers[0].json() == {
        "error": f"the target 127.0.0.1:{port} did not open a migration session within 1 s"
    }
