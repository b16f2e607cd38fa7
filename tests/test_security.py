"""Who may connect: owner-only unix sockets, the uid check on loopback TCP, no plain TCP off
loopback, TLS and mutual TLS.

The loopback tests run curl as other users (setpriv) against a real daemon, as an unlucky
operator's neighbour would.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from containerd_trio.api.access import Admission, admission_for
from containerd_trio.config import Listen
from containerd_trio.errors import StartupError
from containerd_trio.listener import open_listener
from containerd_trio.logfmt import LogfmtFormatter
from containerd_trio.peer import PeerUnknown, peer_uid
from containerd_trio.server import Daemon

from .helpers import (
    BundleFactory,
    DaemonProcess,
    RunningDaemon,
    daemon_config,
    now,
    read_to_eof,
    runc_ids,
    unix_client,
    wait_exit,
)


async def test_unix_socket_is_owner_only(start_daemon: Any, tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    daemon: RunningDaemon = await start_daemon(listen=Listen(unix_path=path))
    info = path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == 0
    async with unix_client(path) as client:
        assert (await client.get("/state")).status_code == 200
    await daemon.stop()
    assert not path.exists()  # no dead socket left for the next client to trip on


async def test_socket_group_makes_it_0660(start_daemon: Any, tmp_path: Path) -> None:
    group = grp.getgrgid(1)  # "daemon" on Debian
    path = tmp_path / "api.sock"
    await start_daemon(listen=Listen(unix_path=path), socket_group=group.gr_name)
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == group.gr_gid


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_plain_tcp_off_loopback_is_refused(tmp_path: Path, host: str) -> None:
    daemon = Daemon(daemon_config(tmp_path / "state", listen=Listen(host=host, port=0)))
    with pytest.raises(StartupError, match=r"refusing plain TCP on .* a non-loopback address"):
        await daemon.run()
    assert not (tmp_path / "state").exists()  # refused before touching anything


async def test_insecure_tcp_must_be_asked_for(start_daemon: Any) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0), insecure_tcp=True
    )
    port = int(daemon.url.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/state")).status_code == 200


async def test_insecure_tcp_warns_at_start_up(spawn_daemon: Any) -> None:
    """As dockerd warns of a TCP socket without TLS: the daemon's log says, once as it starts,
    that --insecure-tcp serves the network plain HTTP and what that gives away. It started
    without a word of it."""
    daemon: DaemonProcess = await spawn_daemon("--listen", "0.0.0.0:0", "--insecure-tcp")
    log = daemon.log.decode()
    warnings = [line for line in log.splitlines() if "--insecure-tcp" in line]
    assert len(warnings) == 1, log
    assert "level=warning" in warnings[0]
    assert "plain HTTP on 0.0.0.0:0, a non-loopback address, without TLS" in warnings[0]
    assert "root on this machine" in warnings[0]
    assert "serving on http://0.0.0.0:" in log


# --- who may connect over loopback TCP -------------------------------------------------------

NOBODY = ("--reuid=nobody", "--regid=nogroup", "--clear-groups")


async def curl_as(user: tuple[str, ...], url: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run curl as another user (``setpriv`` options); the status and the JSON answer."""
    result = await trio.run_process(
        ["setpriv", *user, "curl", "-sS", "-g", "--max-time", "20", "-w", "\n%{http_code}",
         *args, url],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body, _, code = result.stdout.decode().rpartition("\n")
    return int(code), json.loads(body) if body.strip() else {}


def bind_mount_bundle(make_bundle: BundleFactory, host_dir: Path) -> Path:
    """The issue's bundle: it bind-mounts a host directory and writes a file into it as root."""

    def mount_host_dir(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {"destination": "/host", "type": "bind", "source": str(host_dir),
             "options": ["rbind", "rw"]}
        )  # fmt: skip

    return make_bundle(("touch", "/host/written-by-the-container"), edit=mount_host_dir)


async def test_loopback_tcp_refuses_other_users_and_creates_nothing(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    written = host_dir / "written-by-the-container"
    bundle = bind_mount_bundle(make_bundle, host_dir)
    start = ("-X", "POST", "-H", "content-type: application/json",
             "-d", json.dumps({"bundlePath": str(bundle)}))  # fmt: skip

    status, answer = await curl_as(NOBODY, f"{daemon.url}/containers/intruder", *start)
    assert status == 403
    assert "uid 65534 (nobody) may not use this API" in answer["error"]
    assert "only root may" in answer["error"]
    assert not written.exists()
    assert (await daemon.client.get("/state")).json()["containers"] == []
    assert runc_ids(daemon.config.state_dir) == []
    assert not (daemon.config.containers_dir / "intruder").exists()

    # Streams and WebSocket handshakes are refused before anything of the app runs.
    status, answer = await curl_as(NOBODY, f"{daemon.url}/events")
    assert status == 403 and "nobody" in answer["error"]
    status, answer = await curl_as(
        NOBODY, f"{daemon.url}/events",
        "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
        "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    )  # fmt: skip
    assert status == 403 and "nobody" in answer["error"]

    # Root, the seed's curl user, gets in; the same bundle does what nobody was refused.
    since = now()
    status, answer = await curl_as(("--reuid=root",), f"{daemon.url}/containers/owner", *start)
    assert status == 201, answer
    assert await wait_exit(daemon.client, "owner", answer["processes"][0]["pid"], since) == 0
    assert written.stat().st_uid == 0


async def test_loopback_tcp_over_ipv6(start_daemon: Any) -> None:
    daemon: RunningDaemon = await start_daemon(listen=Listen(host="::1", port=0))
    assert daemon.url.startswith("http://[::1]:")
    status, answer = await curl_as(NOBODY, f"{daemon.url}/state")
    assert status == 403 and "nobody" in answer["error"]
    assert f"on {daemon.url.removeprefix('http://')} only root may" in answer["error"]
    assert (await daemon.client.get("/state")).status_code == 200


async def test_loopback_tcp_on_a_v4_mapped_address(start_daemon: Any) -> None:
    """``--listen [::ffff:127.0.0.1]:PORT`` is 127.0.0.1's loopback, checked as it is: it was
    refused at start as "a non-loopback address" (Python 3.11's is_loopback)."""
    daemon: RunningDaemon = await start_daemon(listen=Listen(host="::ffff:127.0.0.1", port=0))
    port = httpx.URL(daemon.url).port
    for url in (daemon.url, f"http://127.0.0.1:{port}"):
        status, answer = await curl_as(("--reuid=root",), f"{url}/state")
        assert status == 200, answer
        status, answer = await curl_as(NOBODY, f"{url}/state")
        assert status == 403 and "nobody" in answer["error"]


async def test_a_refused_user_is_not_invited_to_send_a_body(daemon: RunningDaemon) -> None:
    """A refused request's body is not read, nor asked for: a request that waits for a ``100
    Continue`` before its body (curl's ``Expect: 100-continue``, its default for a large one)
    gets the 403 alone, and the connection closed. Hypercorn sent the 100 as soon as it read
    the head, and curl sent its body (1 MiB, measured) before it read the 403."""
    url = httpx.URL(daemon.url)
    head = (
        "POST /containers/intruder HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    # A raw connection from a process of nobody's: the system's Python, for its socket alone.
    client = (
        "import socket, sys\n"
        f"s = socket.create_connection(({url.host!r}, {url.port}), timeout=10)\n"
        f"s.sendall({head.encode()!r})\n"
        "while chunk := s.recv(65536):\n"
        "    sys.stdout.buffer.write(chunk)\n"
    )
    result = await trio.run_process(
        ["setpriv", *NOBODY, "/usr/bin/python3", "-c", client],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # the server closed it (no recv timeout)
    answer = result.stdout
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert b"\r\nconnection: close\r\n" in answer.partition(b"\r\n\r\n")[0]
    assert b"uid 65534 (nobody) may not use this API" in answer


async def test_http2_is_not_served(daemon: RunningDaemon) -> None:
    """HTTP/1.1 only (api/connections.py): Hypercorn's HTTP/2 could be made to end the server
    process, or to hold each connection's socket until no fd was left. HTTP/2 with prior
    knowledge is closed at once, for root and for anyone; Upgrade: h2c is ignored."""
    url = httpx.URL(daemon.url)

    async def curl(*args: str, user: tuple[str, ...] = ("--reuid=root",)) -> tuple[int, bytes]:
        result = await trio.run_process(
            ["setpriv", *user, "curl", "-sS", "--max-time", "20", "-w", "%{http_version}",
             *args, f"{daemon.url}/state"],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
        return result.returncode, result.stdout

    fds = len(os.listdir("/proc/self/fd"))
    for user in (("--reuid=root",), NOBODY):
        code, _ = await curl("--http2-prior-knowledge", user=user)
        assert code != 0  # closed without an answer
    code, answer = await curl("--http2")  # asks to upgrade: answered in HTTP/1.1
    assert code == 0 and answer.endswith(b"}1.1"), answer
    # What used to leave a socket held for good: HTTP/2's preface and a request, then gone.
    preface = bytes.fromhex("505249202a20485454502f322e300d0a0d0a534d0d0a0d0a")  # PRI * ...
    for _ in range(20):
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        await stream.send_all(preface + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # SETTINGS
        with trio.fail_after(10):
            assert await stream.receive_some() == b""  # closed by the server, unanswered
        await stream.aclose()
    with trio.fail_after(daemon.config.keep_alive_timeout + 5):
        while len(os.listdir("/proc/self/fd")) > fds:  # noqa: ASYNC110 (no event to wait on)
            await trio.sleep(0.1)
    assert not daemon.finished.is_set()
    assert (await daemon.client.get("/state")).status_code == 200


async def test_a_connection_that_breaks_the_http_server_ends_alone(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes right after a WebSocket handshake the app refuses make Hypercorn 0.18 answer 400
    while the app's answer is on its way, and trip over the second answer (it raised, in the
    connection's task or in the app's, a traceback in the log each time): the 400 is that
    connection's last answer and the app's is dropped, the connection is closed, and the server,
    its other connections included, goes on with nothing in its log (api/connections.py)."""
    url = httpx.URL(daemon.url)
    bystander = await daemon.client.get("/state")  # a keep-alive connection, open throughout
    assert bystander.status_code == 200
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    handshake = (
        b"GET /nothing HTTP/1.1\r\nHost: %s:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ) % (url.host.encode(), url.port or 80)
    await stream.send_all(handshake + b"GET /state HTTP/1.1\r\nHost: x\r\n\r\n")
    with trio.fail_after(10):
        answer = await read_to_eof(stream)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.count(b"HTTP/1.1 ") == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not daemon.finished.is_set()
    assert (await daemon.client.get("/state")).status_code == 200


async def test_clients_that_close_at_once_fill_no_log(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A request sent and its connection closed at once: refused (its owner is gone) while the
    close races the answer's send in Hypercorn. Any local user can do it as fast as they like,
    so no traceback (a few KB each) reaches the log for it, and the server serves on."""
    url = httpx.URL(daemon.url)
    request = b"POST /containers/x HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 100\r\n\r\n" % (
        url.host.encode(),
        url.port or 80,
    )
    caplog.set_level(logging.INFO)
    for _ in range(50):
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        await stream.send_all(request)
        await stream.aclose()
    await trio.testing.wait_all_tasks_blocked(0.2)
    assert (await daemon.client.get("/state")).status_code == 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]
    assert noisy == [], noisy[0].getMessage() if noisy else ""
    assert "Error in ASGI Framework" not in caplog.text
    # The refusals themselves: a line for the first, the rest counted in the next line.
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused http")]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]


async def test_a_refusal_logs_a_short_line(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever is refused chooses the path: the log quotes 40 characters of it."""
    caplog.set_level(logging.INFO)
    status, answer = await curl_as(NOBODY, f"{daemon.url}/{'a' * 8000}")
    assert status == 403 and "nobody" in answer["error"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert f"refused http /{'a' * 39}...: uid 65534 (nobody) may not use this API" in line
    assert len(line) < 400


async def test_a_refused_path_writes_no_control_character_into_the_log(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever is refused chooses the path, and a percent-escape in it is any character: ESC,
    BEL and CR went into the daemon's log as they were, for the terminal of whoever reads it
    (``tail -f``: a title set, the screen cleared, the line written over). The daemon's
    lines escape every character that is not printable."""
    caplog.set_level(logging.INFO)
    path = "%1b%5d0%3bowned%07%1b%5b2J%0dlevel=info%c2%9b%e2%80%ae"
    status, answer = await curl_as(NOBODY, f"{daemon.url}/{path}")
    assert status == 403 and "nobody" in answer["error"]
    [record] = [r for r in caplog.records if r.getMessage().startswith("refused")]
    line = LogfmtFormatter().format(record)  # as the daemon writes it (setup_logging)
    assert line.isprintable(), line
    assert "refused http /\\x1b]0;owned\\x07\\x1b[2J\\rlevel=info\\x9b\\u202e: uid 65534" in line


async def test_connections_past_the_limit_are_closed_unserved(
    daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At most half the server's fds go to connections (here 3, for the test): the next is
    closed at once, the ones open are served, and once they go new ones are served again."""
    from containerd_trio.api.connections import _ContainedConnection

    assert _ContainedConnection.limit >= 64  # half the fd limit, as the daemon set it
    monkeypatch.setattr(_ContainedConnection, "limit", 3)
    url = httpx.URL(daemon.url)
    request = b"GET /state HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (url.host.encode(), url.port or 80)
    await daemon.client.aclose()  # its own keep-alive connection would count
    held = [await trio.open_tcp_stream(url.host, url.port or 80) for _ in range(3)]
    with trio.fail_after(10):
        for stream in held:  # each is served
            await stream.send_all(request)
            assert (await stream.receive_some()).startswith(b"HTTP/1.1 200 ")
        extra = await trio.open_tcp_stream(url.host, url.port or 80)
        with contextlib.suppress(trio.BrokenResourceError):
            await extra.send_all(request)
        assert await extra.receive_some() == b""  # closed unserved
        await extra.aclose()
        assert "connection(s) closed unserved" in caplog.text
        for stream in held:
            await stream.aclose()
        while True:  # the server lets them go as it sees them closed
            again = await trio.open_tcp_stream(url.host, url.port or 80)
            await again.send_all(request)
            answer = await again.receive_some()
            await again.aclose()
            if answer:
                break
            await trio.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200 ")


#: Opens N connections to HOST:PORT and holds them, sending nothing, until its stdin closes.
_HOLD_CONNECTIONS = """
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [socket.create_connection((host, port)) for _ in range(count)]
print("ready", flush=True)
sys.stdin.read()
"""


@contextlib.asynccontextmanager
async def connections_held_as(
    user: tuple[str, ...], host: str, port: int, count: int
) -> AsyncIterator[None]:
    """``count`` idle connections to the daemon, made and held by ``user`` (``setpriv``)."""
    process = await trio.lowlevel.open_process(
        ["setpriv", *user, sys.executable, "-c", _HOLD_CONNECTIONS, host, str(port), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        said = b""
        while not said.endswith(b"\n"):
            part = await process.stdout.receive_some()
            assert part, f"the holder of the connections ended: {said!r}"
            said += part
        assert said == b"ready\n"
        yield
    finally:
        await process.stdin.aclose()
        with trio.move_on_after(5) as late:
            await process.wait()
        if late.cancelled_caught:
            process.kill()
            await process.wait()


def accepted(monkeypatch: pytest.MonkeyPatch, count: int) -> trio.Event:
    """An event set once the server has ``count`` connections open."""
    from containerd_trio.api.connections import _ContainedConnection

    reached = trio.Event()

    class Counted(set[Any]):
        def add(self, connection: Any) -> None:
            super().add(connection)
            if len(self) >= count:
                reached.set()

    monkeypatch.setattr(_ContainedConnection, "live", Counted(_ContainedConnection.live))
    return reached


async def test_connections_of_a_refused_user_never_keep_root_out(
    start_daemon: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A user the API refuses could hold the connections' half of the server's fds (idle
    connections, never a request), and every connection of root's was then closed unserved.
    A connection that finds the limit reached (3 here) now closes the oldest of those of
    whoever may not use the API, and is served."""
    from containerd_trio.api.connections import _ContainedConnection

    # Idle connections are closed after the keep-alive time: not while the test runs.
    daemon: RunningDaemon = await start_daemon(keep_alive_timeout=60.0)
    caplog.set_level(logging.DEBUG, logger="containerd_trio.api")
    monkeypatch.setattr(_ContainedConnection, "limit", 3)
    url = httpx.URL(daemon.url)
    host, port = url.host, url.port or 80
    request = b"GET /state HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port)
    await daemon.client.aclose()  # its own keep-alive connection would count
    all_held = accepted(monkeypatch, 3)
    roots: list[trio.SocketStream] = []
    with trio.fail_after(20):
        async with connections_held_as(NOBODY, host, port, 3):
            await all_held.wait()
            for _ in range(2):  # each closes one of nobody's, and stays open
                stream = await trio.open_tcp_stream(host, port)
                roots.append(stream)
                with contextlib.suppress(trio.BrokenResourceError):
                    await stream.send_all(request)
                assert (await stream.receive_some()).startswith(b"HTTP/1.1 200 ")
            assert "connection(s) closed unserved" not in caplog.text
            assert "closed a connection not known to be a client's" in caplog.text
            assert len(_ContainedConnection.live) == 3
            assert len(_ContainedConnection.strangers) == 1  # nobody's newest
            # A third of root's closes nobody's last.
            third = await trio.open_tcp_stream(host, port)
            with contextlib.suppress(trio.BrokenResourceError):
                await third.send_all(request)
            assert (await third.receive_some()).startswith(b"HTTP/1.1 200 ")
            await third.aclose()
            assert len(_ContainedConnection.strangers) == 0
        for stream in roots:
            await stream.aclose()


async def test_tls_handshakes_never_made_keep_no_client_out(
    start_daemon: Any, pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With mutual TLS anyone who reaches the port could hold the server's connections by
    connecting and never starting the handshake (Hypercorn waits 60 s for it): a client with
    a certificate was then closed unserved. Such a connection is now the first to go when
    the limit (3 here) is reached, the oldest first."""
    from containerd_trio.api.connections import _ContainedConnection

    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="127.0.0.1", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    await daemon.client.aclose()
    monkeypatch.setattr(_ContainedConnection, "limit", 3)
    port = int(daemon.url.rsplit(":", 1)[1])
    all_held = accepted(monkeypatch, 3)
    with trio.fail_after(20):
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(3)]
        await all_held.wait()
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}", verify=_client_context(pki, with_certificate=True)
        ) as client:
            assert (await client.get("/state")).status_code == 200
        assert await silent[0].receive_some() == b""  # the oldest made room
        for stream in silent:
            await stream.aclose()


@pytest.fixture
def group_member() -> Iterator[tuple[str, str]]:
    """A throwaway group and a user in it (removed afterwards): ``(group, user)``."""
    suffix = secrets.token_hex(3)
    group, user = f"ctrtrio-g{suffix}", f"ctrtrio-u{suffix}"
    subprocess.run(["groupadd", group], check=True)
    try:
        subprocess.run(
            ["useradd", "--no-create-home", "--no-user-group", "--groups", group,
             "--shell", "/usr/sbin/nologin", user],
            check=True,
        )  # fmt: skip
        try:
            yield group, user
        finally:
            subprocess.run(["userdel", user], check=True)
    finally:
        subprocess.run(["groupdel", group], check=True)


async def test_loopback_tcp_admits_the_socket_group(
    start_daemon: Any, group_member: tuple[str, str]
) -> None:
    group, user = group_member
    daemon: RunningDaemon = await start_daemon(socket_group=group)
    member = (f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups")
    status, answer = await curl_as(member, f"{daemon.url}/state")
    assert status == 200 and answer["containers"] == []
    status, answer = await curl_as(NOBODY, f"{daemon.url}/state")
    assert status == 403
    assert f"only root and members of {group} may" in answer["error"]


def connects_as(user: tuple[str, ...], path: Path) -> subprocess.CompletedProcess[bytes]:
    """Connect to the unix socket ``path`` as another user (``setpriv`` options), nothing sent."""
    code = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
    return subprocess.run(
        ["setpriv", *user, "/usr/bin/python3", "-c", code, str(path)],
        capture_output=True,
        check=False,
    )


def test_a_socket_groups_member_reaches_a_socket_in_directories_made_for_it(
    group_member: tuple[str, str],
) -> None:
    # `--listen unix:/run/containerd-trio/api.sock --socket-group G` with no such directory
    # yet: the daemon makes it, under its umask 077 (daemon.py). Made 0700, it kept every
    # member of G from the 0660 socket inside (EACCES), whatever the socket's own mode.
    group, user = group_member
    base = Path(tempfile.mkdtemp(prefix="ctrtrio-sock-"))
    os.chmod(base, 0o711)  # as /run is: anyone may pass through
    path = base / "made" / "for" / "api.sock"
    previous = os.umask(0o077)  # the daemon's
    try:
        listener = open_listener(Listen(unix_path=path), socket_group=group)
    finally:
        os.umask(previous)
    try:
        for made in (base / "made", base / "made" / "for"):
            info = made.stat()
            assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o711, 0)  # passed, not listed
        member = (f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups")
        reached = connects_as(member, path)
        assert reached.returncode == 0, reached.stderr
        refused = connects_as(NOBODY, path)  # the socket's own mode still keeps others out
        assert b"PermissionError" in refused.stderr
    finally:
        listener.close()
        shutil.rmtree(base)


async def test_socket_group_must_exist(start_daemon: Any) -> None:
    with pytest.raises(StartupError, match="no group named 'no-such-group-here'"):
        await start_daemon(socket_group="no-such-group-here")


def test_peer_uid_of_a_loopback_connection() -> None:
    for family, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
        with socket.socket(family) as listener:
            listener.bind((host, 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname()[:2])
            accepted, address = listener.accept()
            with accepted:
                server = accepted.getsockname()[:2]
                assert peer_uid(address[:2], server) == os.getuid()
                # A client that sent its request and closed at once cannot pass for anyone.
                client.close()
                with pytest.raises(PeerUnknown, match="already closed"):
                    peer_uid(address[:2], server)
                with pytest.raises(PeerUnknown, match="no client socket"):
                    peer_uid((host, 1), server)  # no such connection


def test_peer_uid_of_an_ipv4_connection_from_an_ipv6_socket() -> None:
    """A client that connects an AF_INET6 socket to a v4-mapped address (``curl
    http://[::ffff:127.0.0.1]:8888/``) makes an IPv4 connection, to an IPv4 listener as to a
    dual-stack one; the kernel names its socket's addresses v4-mapped. It was "answered about
    another socket", and root was refused."""
    for family, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")]:
        with socket.socket(family) as listener:
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            listener.bind((host, 0))
            listener.listen()
            with socket.socket(socket.AF_INET6) as client:
                client.connect(("::ffff:127.0.0.1", listener.getsockname()[1]))
                accepted, address = listener.accept()
                with accepted:
                    server = accepted.getsockname()[:2]
                    assert peer_uid(address[:2], server) == os.getuid()
                    with pytest.raises(PeerUnknown, match="no client socket"):
                        peer_uid((address[0], 1), server)  # no such connection


async def test_loopback_tcp_through_a_v4_mapped_address(daemon: RunningDaemon) -> None:
    """``http://[::ffff:127.0.0.1]:PORT`` reaches an IPv4 listener on 127.0.0.1 (curl
    connects an AF_INET6 socket there): root is served, nobody is refused, as through
    127.0.0.1. It was a 403 for root too ("socket diagnostics answered about another
    socket")."""
    port = httpx.URL(daemon.url).port
    mapped = f"http://[::ffff:127.0.0.1]:{port}/state"
    status, answer = await curl_as(("--reuid=root",), mapped)
    assert status == 200, answer
    assert answer["containers"] == []
    status, answer = await curl_as(NOBODY, mapped)
    assert status == 403 and "uid 65534 (nobody) may not use this API" in answer["error"]


def test_which_listeners_check_uids() -> None:
    def rule(**overrides: Any) -> Admission | None:
        return admission_for(daemon_config(Path("/nonexistent"), **overrides))

    assert rule() == Admission()
    assert rule(listen=Listen(host="::1", port=1)) is not None
    assert rule(listen=Listen(host="localhost", port=1)) is not None
    assert rule(tls_cert=Path("c"), tls_key=Path("k")) is not None  # TLS alone names nobody
    assert rule(tls_cert=Path("c"), tls_key=Path("k"), tls_client_ca=Path("ca")) is None
    assert rule(listen=Listen(unix_path=Path("/run/x.sock"))) is None  # file permissions
    assert rule(listen=Listen(host="0.0.0.0", port=1), insecure_tcp=True) is None
    root_group = rule(socket_group="root")
    assert root_group is not None and root_group.group_id == 0
    assert root_group.refusal(0, "127.0.0.1:8888") is None
    nobody = root_group.refusal(65534, "127.0.0.1:8888")
    assert nobody is not None and "uid 65534 (nobody)" in nobody
    assert "on 127.0.0.1:8888 only root and members of root may" in nobody


# --- TLS ------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from openssl."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=d,
    )
    for name, extension in [
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ]:
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(extension + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
            cwd=d,
        )
    return d


def _client_context(pki: Path, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if with_certificate:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


async def test_tls(start_daemon: Any, pki: Path) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
    )
    assert daemon.url.startswith("https://")
    port = int(daemon.url.rsplit(":", 1)[1])
    context = _client_context(pki, with_certificate=False)
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{port}", verify=context, http2=True
    ) as client:
        answer = await client.get("/state")
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/1.1"  # TLS offers only HTTP/1.1 (no h2 in ALPN)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
        refused = await plain.get("/state")  # Go's answer (below), not a silent close
        assert refused.status_code == 400
        assert refused.text == "Client sent an HTTP request to an HTTPS server.\n"


#: What Go's net/http, dockerd's server, answers plain HTTP on its TLS port.
GO_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


async def tls_daemon(start_daemon: Any, pki: Path) -> int:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="127.0.0.1", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
    )
    return int(daemon.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    "request_line",
    [b"GET /state HTTP/1.1", b"DELETE /containers/x HTTP/1.1", b"PUT /x HTTP/1.0"],
    ids=["GET", "DELETE", "PUT"],
)
async def test_plain_http_on_the_tls_port_is_told_so(
    start_daemon: Any, pki: Path, request_line: bytes
) -> None:
    """As dockerd (Go's net/http) answers it: a 400 in plain text that says what happened, then
    the close. It was closed in silence (curl: "Empty reply from server")."""
    port = await tls_daemon(start_daemon, pki)
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(request_line + b"\r\nHost: x\r\n\r\n")
        assert await read_to_eof(stream) == GO_PLAIN_HTTP_ANSWER


async def test_curl_http_to_the_tls_port_is_told_so(start_daemon: Any, pki: Path) -> None:
    port = await tls_daemon(start_daemon, pki)
    with trio.fail_after(30):
        result = await trio.run_process(
            ["curl", "-sS", "-i", "--max-time", "20", f"http://127.0.0.1:{port}/state"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == GO_PLAIN_HTTP_ANSWER
    # And the TLS port serves TLS as before.
    with trio.fail_after(30):
        result = await trio.run_process(
            ["curl", "-sS", "--max-time", "20", "--cacert", str(pki / "ca.pem"),
             f"https://127.0.0.1:{port}/state"],
            capture_stdout=True,
            check=False,
        )  # fmt: skip
    assert result.returncode == 0
    assert json.loads(result.stdout)["containers"] == []


async def test_what_is_neither_tls_nor_http_is_closed_in_silence(
    start_daemon: Any, pki: Path
) -> None:
    """Only what starts as a request line gets the 400: other bytes fail the handshake as
    before."""
    port = await tls_daemon(start_daemon, pki)
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"hello there\r\n")
        assert await read_to_eof(stream) == b""


async def test_a_request_line_that_comes_in_pieces_is_recognised() -> None:
    """A client whose first segment holds fewer than five bytes (``GE``) is waited for until
    five came, as Go's reading of a record's header waits: then told apart from TLS."""
    from containerd_trio.api.connections import _first_bytes, _looks_like_http

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    seen: list[bytes] = []

    async def peek() -> None:
        seen.append(await _first_bytes(server.socket))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await client.send_all(b"GE")
            nursery.start_soon(peek)
            await trio.testing.wait_all_tasks_blocked()
            assert seen == []  # two bytes are not enough to tell
            await client.send_all(b"T / HTTP/1.1\r\n\r\n")
    assert seen == [b"GET /"] and _looks_like_http(seen[0])
    # Left in the socket for whoever reads it next (the handshake, or the answer's drain).
    assert await server.receive_some() == b"GET / HTTP/1.1\r\n\r\n"
    for resource in (client, server, *listeners):
        await resource.aclose()


async def test_mutual_tls_requires_a_client_certificate(start_daemon: Any, pki: Path) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    url = f"https://127.0.0.1:{daemon.url.rsplit(':', 1)[1]}"
    async with httpx.AsyncClient(
        base_url=url, verify=_client_context(pki, with_certificate=True)
    ) as client:
        assert (await client.get("/state")).status_code == 200
    async with httpx.AsyncClient(
        base_url=url, verify=_client_context(pki, with_certificate=False)
    ) as stranger:
        with pytest.raises(httpx.HTTPError):
            await stranger.get("/state")


async def test_mutual_tls_tells_a_refused_client_why(start_daemon: Any, pki: Path) -> None:
    """A client without a certificate gets the TLS alert that says so (curl: "tlsv13 alert
    certificate required"). It saw its connection end with no reason (curl: "Empty reply from
    server"): trio left the alert OpenSSL wrote unsent."""
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    url = f"https://127.0.0.1:{daemon.url.rsplit(':', 1)[1]}/state"
    with trio.fail_after(30):
        result = await trio.run_process(
            ["curl", "-sS", "--max-time", "20", "--cacert", str(pki / "ca.pem"), url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode != 0 and result.stdout == b""
    assert b"alert certificate required" in result.stderr, result.stderr


async def test_state_dir_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    daemon = Daemon(daemon_config(blocker / "state"))
    with pytest.raises(StartupError, match=r"the state dir .* is not writable"):
        await daemon.run()


async def test_startup_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    import sys

    result = await trio.run_process(
        [
            sys.executable,
            "-m",
            "containerd_trio",
            "--state-dir",
            str(blocker / "state"),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "level=error" in lines[0] and "is not writable" in lines[0]
    assert os.path.exists(blocker)
