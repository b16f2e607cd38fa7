"""The daemon as its own process: SIGTERM and SIGINT shut it down cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

import pytest
import trio

from .helpers import FOREVER, IGNORES_TERM, BundleFactory, pid_alive, runc, runc_ids


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_every_container_and_exits_0(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, signum: int
) -> None:
    daemon = await spawn_daemon()
    pids = []
    for name, args in [("polite", FOREVER), ("stubborn", IGNORES_TERM)]:
        response = await daemon.client.post(
            f"/containers/{name}", json={"bundlePath": str(make_bundle(args))}
        )
        assert response.status_code == 201, response.text
        pids.append(response.json()["processes"][0]["pid"])
    assert sorted(runc_ids(daemon.state_dir)) == ["polite", "stubborn"]

    assert await daemon.signal_and_wait(signum) == 0
    assert runc_ids(daemon.state_dir) == []
    assert not any(pid_alive(pid) for pid in pids)
    assert b"shutting down" in daemon.log and b"level=error" not in daemon.log
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
        event = await next_event(
            client,
            since=since,
            container_id="z",
            match=lambda e, pid=pid: e["type"] == "exit" and e["pid"] == pid,
        )
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
