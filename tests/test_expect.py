"""``Expect: 100-continue``: the client is told to send its body only once the app asks for it
(api/connections._Continue), so a request refused without its body is answered at once and
its body never comes; one the app reads gets its ``100 Continue``, then its answer.

Raw connections to a real daemon, parsed by an h11 client, which sends the head alone and its
body only once invited, as curl does (for up to a second, ``--expect100-timeout``)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

import h11
import httpx
import pytest
import trio

from containerd_trio.api import wire

from .helpers import BundleFactory, RunningDaemon, read_to_eof

#: The limit of the daemons here (``--max-body-bytes``), and a body past it.
MAX_BODY = 4096
TOO_LARGE = MAX_BODY + 1

#: How long a test waits for an answer: an answer that needs the body never sent would wait
#: for the app's body timeout (60 s).
ANSWER_SECONDS = 10


class Exchange:
    """One HTTP/1.1 connection to the daemon, driven by an h11 client."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.connection = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, daemon: RunningDaemon) -> Exchange:
        url = httpx.URL(daemon.url)
        return cls(await trio.open_tcp_stream(url.host, url.port or 80))

    def head(self, method: str, target: str, length: int) -> bytes:
        """A request's head that announces a body of ``length`` bytes and a wait for a 100."""
        headers = [
            ("Host", "x"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(length)),
            ("Expect", "100-continue"),
        ]
        return self.connection.send(h11.Request(method=method, target=target, headers=headers))

    def body(self, body: bytes) -> bytes:
        return self.connection.send(h11.Data(data=body)) + self.connection.send(h11.EndOfMessage())

    async def send_head(self, method: str, target: str, length: int) -> None:
        await self.stream.send_all(self.head(method, target, length))

    async def send_body(self, body: bytes) -> None:
        await self.stream.send_all(self.body(body))

    async def next_event(self) -> object:
        while True:
            event = self.connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.connection.receive_data(await self.stream.receive_some())

    async def answer(self) -> tuple[list[int], int, list[tuple[bytes, bytes]], bytes]:
        """The statuses of the informational answers that came (a 100), then the final
        answer's status, headers and body."""
        informational: list[int] = []
        while isinstance(event := await self.next_event(), h11.InformationalResponse):
            informational.append(event.status_code)
        assert isinstance(event, h11.Response), event
        body = b""
        while isinstance(part := await self.next_event(), h11.Data):
            body += part.data
        assert isinstance(part, h11.EndOfMessage), part
        return informational, event.status_code, list(event.headers), body

    async def invited(self) -> bool:
        """Whether what comes next is a 100 Continue (not the final answer)."""
        event = await self.next_event()
        return isinstance(event, h11.InformationalResponse) and event.status_code == 100

    async def closed_by_the_server(self) -> bool:
        return await self.stream.receive_some() == b""


@pytest.fixture
async def daemon(start_daemon: Callable[..., Any]) -> RunningDaemon:
    handle: RunningDaemon = await start_daemon(max_body_bytes=MAX_BODY)
    return handle


@pytest.mark.parametrize(
    ("method", "target", "length", "status", "error"),
    [
        # Its length alone is past the limit: the app's 413 (the fast path leaves Expect to it).
        ("POST", "/containers/big", TOO_LARGE, 413, wire.body_limit_message(MAX_BODY)),
        # Its path is refused before its body is read.
        ("POST", "/containers/bad!id", 100, 400, "invalid container id 'bad!id'"),
        ("POST", "/nowhere", 100, 404, "no such endpoint: POST /nowhere"),
        # A streamed upload, refused before it reads a byte.
        ("PUT", "/containers/none/archive?path=/tmp", 10_000, 404, "'none' not found"),
    ],
    ids=["too-large", "bad-id", "no-route", "archive-of-none"],
)
async def test_a_request_refused_before_its_body_never_invites_it(
    daemon: RunningDaemon, method: str, target: str, length: int, status: int, error: str
) -> None:
    """The answer comes at once, with no 100 Continue before it, and says it closes the
    connection (the body the client did not send will never come: RFC 9110, 10.1.1), which
    the server then closes. Hypercorn sent the 100 as soon as it read the head, and the client
    sent its whole body for nothing (the 400 and 404 even waited for it, to drain it)."""
    exchange = await Exchange.open(daemon)
    await exchange.send_head(method, target, length)
    with trio.fail_after(ANSWER_SECONDS):
        informational, answered, headers, body = await exchange.answer()
        assert informational == []
        assert answered == status
        assert error in json.loads(body)["error"]
        assert (b"connection", b"close") in headers
        assert await exchange.closed_by_the_server()
    await exchange.stream.aclose()
    # The daemon serves on, and a request without Expect is as it was.
    assert (await daemon.client.get("/containers/none")).status_code == 404


async def test_a_request_whose_body_is_read_is_invited_then_answered_on_a_kept_connection(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A start with a JSON body, through the app (Expect sends it there), and a copy into the
    container (a streamed upload): each gets its 100 Continue, its body is read, its answer
    comes, and the connection serves the next request."""
    exchange = await Exchange.open(daemon)
    start = json.dumps({"bundlePath": str(make_bundle()), "labels": {"pad": "x" * 1500}})
    with trio.fail_after(ANSWER_SECONDS):
        await exchange.send_head("POST", "/containers/invited", len(start))
        assert await exchange.invited()
        await exchange.send_body(start.encode())
        informational, status, _, body = await exchange.answer()
        assert (informational, status) == ([], 201), body
        assert json.loads(body)["state"]["status"] == "running"
        exchange.connection.start_next_cycle()

        archive = _tar({"sent.txt": b"y" * 3000})
        await exchange.send_head("PUT", "/containers/invited/archive?path=/tmp", len(archive))
        assert await exchange.invited()
        await exchange.send_body(archive)
        informational, status, headers, body = await exchange.answer()
        assert (informational, status) == ([], 200), body
        assert not any(name == b"connection" for name, _ in headers)
        exchange.connection.start_next_cycle()

        # Kept alive: a next request on the same connection (no Expect, no body).
        request = h11.Request(method="GET", target="/containers/invited", headers=[("Host", "x")])
        await exchange.stream.send_all(
            exchange.connection.send(request) + exchange.connection.send(h11.EndOfMessage())
        )
        informational, status, _, body = await exchange.answer()
        assert (informational, status) == ([], 200), body
    await exchange.stream.aclose()
    copied = await daemon.client.get(
        "/containers/invited/archive", params={"path": "/tmp/sent.txt"}
    )
    assert copied.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(copied.content)) as tar:
        member = tar.extractfile("sent.txt")
        assert member is not None and member.read() == b"y" * 3000


async def test_a_body_sent_without_waiting_is_read_as_before(daemon: RunningDaemon) -> None:
    """A client that sends its body right behind its head (curl once its wait for the 100 has
    run out) is served as any request: no 100 (it was not waiting any more), the body read
    away after a refusal, and the connection kept."""
    exchange = await Exchange.open(daemon)
    with trio.fail_after(ANSWER_SECONDS):
        for _ in range(2):
            # In one write: the server reads the body with the head, before the app runs.
            head = exchange.head("POST", "/containers/bad!id", 2)
            await exchange.stream.send_all(head + exchange.body(b"{}"))
            informational, status, headers, _ = await exchange.answer()
            assert (informational, status) == ([], 400)
            assert not any(name == b"connection" for name, _ in headers)
            exchange.connection.start_next_cycle()
    await exchange.stream.aclose()


@pytest.mark.parametrize("expect", [True, False], ids=["stopped-waiting", "no-expect"])
async def test_a_request_refused_with_its_body_partly_sent_says_it_closes(
    daemon: RunningDaemon, expect: bool
) -> None:
    """A client that stopped waiting for its 100 Continue (curl's wait ran out) and sent part
    of its body, or one that sent no Expect, to a request refused without its body read (a
    413 by its Content-Length): the answer says ``Connection: close``, and the server closes
    the connection, where the rest of the body would come. It said nothing of it (the
    server closed all the same): only a client still waiting was told."""
    exchange = await Exchange.open(daemon)
    head = exchange.head("POST", "/containers/big", TOO_LARGE)
    if not expect:
        head = head.replace(b"Expect: 100-continue\r\n", b"")
        assert b"Expect" not in head
    # In one write: the server reads the part with the head, and the client waits no more.
    part = exchange.connection.send(h11.Data(data=b"x" * 100))
    await exchange.stream.send_all(head + part)
    with trio.fail_after(ANSWER_SECONDS):
        informational, status, headers, body = await exchange.answer()
        assert (informational, status) == ([], 413), body
        assert json.loads(body)["error"] == wire.body_limit_message(MAX_BODY)
        assert (b"connection", b"close") in headers
        assert await exchange.closed_by_the_server()
    await exchange.stream.aclose()


@pytest.mark.parametrize(
    ("target", "chunks", "status"),
    [
        # Its path refused before its body is read, which is read away (drained).
        ("/nowhere", b"", 404),
        # Its body read by the app: a start with no bundlePath.
        ("/containers/twice", b"2\r\n{}\r\n", 400),
    ],
    ids=["drained", "read"],
)
async def test_a_request_framed_by_length_and_chunks_is_answered_then_closed(
    daemon: RunningDaemon, target: str, chunks: bytes, status: int
) -> None:
    """A request with both Content-Length and Transfer-Encoding: chunked: h11 reads the
    chunks (RFC 9112 6.3: they override the length), and what followed their end within the
    length, a whole GET, was read as a next request and answered (two answers to one request,
    the connection kept). The same RFC has the server close the connection after its answer
    to such a request: one answer, which says ``Connection: close``, and the close."""
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    body = chunks + b"0\r\n\r\n" + b"GET /state HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
    ) % (target.encode(), len(body))
    await stream.send_all(head + body)
    with trio.fail_after(ANSWER_SECONDS):
        answer = await read_to_eof(stream)  # the daemon's keep-alive timeout is 5 s
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    answer_head = answer.partition(b"\r\n\r\n")[0].lower()
    assert answer_head.startswith(b"http/1.1 %d " % status), answer
    assert b"\r\nconnection: close" in answer_head, answer
    assert (await daemon.client.get("/state")).status_code == 200


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
