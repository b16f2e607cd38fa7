"""The client's HTTP/1.1 (``containerd_trio.client``): both transports, one protocol core.

Most cases are ones a healthy daemon does not produce on demand (a 503 during a hand-over, a
connection dropped after the request went out, an idle connection closed under the client), so
they are played by a real HTTP/1.1 server on loopback written with h11's server side, answering
each request by the next step of a script. The refused-then-served case uses a real daemon.
The blocking transport runs in a worker thread, as the CLI's tests run the CLI.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import h11
import pytest
import trio

from containerd_trio.client import routes
from containerd_trio.client.blocking import BlockingTransport
from containerd_trio.client.errors import ApiError, ClientError, DaemonUnreachable
from containerd_trio.client.http import Client, parse_address
from containerd_trio.client.protocol import (
    Endpoint,
    Http11,
    Request,
    Retry,
    Tls,
    make_request,
)
from containerd_trio.client.trio_transport import TrioTransport
from containerd_trio.config import Listen

from .helpers import RunningDaemon

# --- a scripted server ------------------------------------------------------------------------

Step = Callable[[h11.Connection, trio.SocketStream], Awaitable[bool]]


def answer(status: int, body: Any = None, *headers: tuple[str, str]) -> Step:
    """Answer with ``body`` as JSON (and Content-Length); keep the connection."""
    data = b"" if body is None else json.dumps(body).encode()

    async def step(http: h11.Connection, stream: trio.SocketStream) -> bool:
        head = [("content-length", str(len(data))), *headers]
        await stream.send_all(http.send(h11.Response(status_code=status, headers=head)))
        # The body in a segment of its own, after a pause: the client must wait for it.
        await trio.sleep(0.005)
        await stream.send_all(http.send(h11.Data(data=data)) + http.send(h11.EndOfMessage()))
        return http.our_state is h11.DONE

    return step


def chunked(*pieces: bytes) -> Step:
    """Answer 200 with a chunked body, one chunk per piece (lines split across chunks)."""

    async def step(http: h11.Connection, stream: trio.SocketStream) -> bool:
        await stream.send_all(http.send(h11.Response(status_code=200, headers=[])))
        for piece in pieces:
            await stream.send_all(http.send(h11.Data(data=piece)))
        await stream.send_all(http.send(h11.EndOfMessage()))
        return True

    return step


async def hang_up(http: h11.Connection, stream: trio.SocketStream) -> bool:
    """Close the connection without a word, as a daemon that dies mid-request does."""
    return False


class ScriptedServer:
    """A real HTTP/1.1 server (h11, server side) answering request N with step N."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[tuple[str, str, bytes]] = []
        self.connections = 0
        self.closed = trio.Event()  # set each time the server closes a connection

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        http = h11.Connection(h11.SERVER)
        try:
            while (request := await self._request(http, stream)) is not None:
                self.requests.append(request)
                if not self.steps or not await self.steps.pop(0)(http, stream):
                    return
                http.start_next_cycle()
        finally:
            await stream.aclose()
            self.closed.set()

    async def _request(
        self, http: h11.Connection, stream: trio.SocketStream
    ) -> tuple[str, str, bytes] | None:
        method = target = b""
        body = b""
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                method, target = event.method, event.target
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return method.decode(), target.decode(), body
            else:  # the client closed the connection
                return None


@pytest.fixture
async def serve(nursery: trio.Nursery) -> Callable[..., Awaitable[tuple[ScriptedServer, str]]]:
    async def start(*steps: Step) -> tuple[ScriptedServer, str]:
        server = ScriptedServer(steps)
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        return server, f"127.0.0.1:{port}"

    return start


# --- the two transports, one interface for the tests ------------------------------------------


class Blocking:
    """BlockingTransport, each call in a worker thread."""

    def __init__(self, address: str, **options: Any) -> None:
        self.transport = BlockingTransport(
            Endpoint.parse(address),
            timeout=10,
            connect_timeout=5,
            retry_for=options.pop("retry_for", 15.0),
            tls=Tls(),
            **options,
        )

    async def call(self, request: Request) -> Any:
        return await trio.to_thread.run_sync(self.transport.call, request)

    async def lines(self, request: Request) -> list[bytes]:
        def read() -> list[bytes]:
            with self.transport.stream(request) as lines:
                return list(lines)

        return await trio.to_thread.run_sync(read)

    async def aclose(self) -> None:
        self.transport.close()


class Async:
    """TrioTransport."""

    def __init__(self, address: str, **options: Any) -> None:
        self.transport = TrioTransport(address, **options)

    async def call(self, request: Request) -> Any:
        return await self.transport.call(request)

    async def lines(self, request: Request) -> list[bytes]:
        async with self.transport.lines(request) as lines:
            return [line async for line in lines]

    async def aclose(self) -> None:
        await self.transport.aclose()


Transport = Blocking | Async


@pytest.fixture(params=[Blocking, Async], ids=["blocking", "trio"])
def transport(request: pytest.FixtureRequest) -> Iterator[Callable[..., Transport]]:
    made: list[Transport] = []

    def make(address: str, **options: Any) -> Transport:
        made.append(request.param(address, **options))
        return made[-1]

    yield make
    for each in made:
        if isinstance(each, Blocking):
            each.transport.close()


GET = Request("GET", "/state")
POST = make_request("POST", "/containers/x", body={"bundlePath": "/b"})


# --- the cases --------------------------------------------------------------------------------


async def test_answers_keep_alive_and_ndjson_streams(
    serve: Any, transport: Callable[..., Transport]
) -> None:
    server, address = await serve(
        answer(201, {"pid": 4242}),
        answer(404, {"error": "container 'x' does not exist"}),
        answer(200, {"last": True}, ("connection", "close")),
        answer(200, {}),
        chunked(b'{"a":', b'1}\n{"b":2}\n', b'{"c":3}'),  # the last line has no newline
    )
    client = transport(address)
    first = await client.call(POST)
    assert (first.status, first.json(address)) == (201, {"pid": 4242})
    missing = await client.call(GET)
    assert (missing.status, missing.error().message) == (404, "container 'x' does not exist")
    assert (await client.call(GET)).json(address) == {"last": True}
    assert server.connections == 1  # kept alive until the server said "connection: close"
    assert (await client.call(GET)).status == 200
    assert server.connections == 2
    assert await client.lines(routes.events(since="x", types=["exit", "oom"])) == [
        b'{"a":1}',
        b'{"b":2}',
        b'{"c":3}',
    ]
    assert server.connections == 3  # a stream has a connection of its own
    method, target, body = server.requests[0]
    assert (method, target, json.loads(body)) == ("POST", "/containers/x", {"bundlePath": "/b"})
    assert server.requests[-1][1] == "/events?since=x&type=exit%2Coom"
    await client.aclose()


async def test_503_is_retried_until_answered(
    serve: Any, transport: Callable[..., Transport]
) -> None:
    shutting_down = answer(503, {"error": "the daemon is shutting down"})
    server, address = await serve(shutting_down, shutting_down, answer(201, {"pid": 1}))
    pauses: list[float] = []
    client = transport(address, on_retry=lambda failure, pause: pauses.append(pause))
    assert (await client.call(POST)).status == 201  # a POST too: a 503 means nothing was done
    assert len(server.requests) == 3
    assert pauses == [0.05, 0.1]
    await client.aclose()


async def test_503_for_longer_than_the_budget(
    serve: Any, transport: Callable[..., Transport]
) -> None:
    steps = [answer(503, {"error": "shutting down"})] * 20
    server, address = await serve(*steps)
    client = transport(address, retry_for=0.2)
    with pytest.raises(ApiError) as caught:
        await client.call(GET)
    assert (caught.value.status, caught.value.message) == (503, "shutting down")
    assert 2 <= len(server.requests) < 20
    await client.aclose()


async def test_a_broken_connection_is_retried_for_a_get_only(
    serve: Any, transport: Callable[..., Transport]
) -> None:
    server, address = await serve(hang_up, answer(200, {"ok": 1}), hang_up, answer(201, {}))
    client = transport(address)
    assert (await client.call(GET)).json(address) == {"ok": 1}
    assert len(server.requests) == 2
    # The daemon may have started the container before it went away: never send that twice.
    with pytest.raises(DaemonUnreachable) as caught:
        await client.call(POST)
    assert caught.value.lost
    # In words, not h11's ("can't handle event type ConnectionClosed when role=SERVER ...")
    assert str(caught.value) == (
        f"lost the connection to the daemon at {address}: it closed the connection before it"
        " answered"
    )
    assert len(server.requests) == 3
    await client.aclose()


async def test_a_stream_that_breaks_midway_is_lost(
    serve: Any, transport: Callable[..., Transport]
) -> None:
    async def half(http: h11.Connection, stream: trio.SocketStream) -> bool:
        await stream.send_all(http.send(h11.Response(status_code=200, headers=[])))
        await stream.send_all(http.send(h11.Data(data=b'{"a":1}\n{"b"')))
        return False  # and hang up

    server, address = await serve(half)
    client = transport(address)
    with pytest.raises(DaemonUnreachable, match="lost the connection"):
        await client.lines(GET)
    assert len(server.requests) == 1  # lines had come: not opened again
    await client.aclose()


async def test_an_upload_whose_connection_breaks_midway_is_lost(nursery: trio.Nursery) -> None:
    """The daemon hangs up while an upload's body goes out (it died, as a migration's target
    killed mid-archive): the upload raises the loss as a ClientError, as any request does.
    (It came wrapped in an ExceptionGroup from the upload's nursery, which no caller's
    ``except ClientError`` took: a migration's failed step said "Exceptions from Trio
    nursery (1 sub-exception)".)"""

    async def hang_up_midway(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)  # the head and the first pieces
        await stream.aclose()

    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, hang_up_midway, 0, host="127.0.0.1")
    )
    address = f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"

    async def pieces() -> AsyncIterator[bytes]:
        while True:  # more than any socket buffer takes
            yield b"x" * 65536
            await trio.lowlevel.checkpoint()

    transport = TrioTransport(address, retry_for=0)
    with trio.fail_after(10), pytest.raises(DaemonUnreachable) as caught:
        await transport.upload(routes.migration_archive("m"), "application/x-tar", pieces())
    assert caught.value.lost
    assert str(caught.value).startswith(f"lost the connection to the daemon at {address}: ")
    await transport.aclose()


async def test_an_idle_connection_the_daemon_closed_is_not_used(serve: Any) -> None:
    """Hypercorn closes idle keep-alive connections: the next request, a POST that must not be
    sent twice, goes on a new connection instead of failing."""

    async def answer_then_close(http: h11.Connection, stream: trio.SocketStream) -> bool:
        await answer(200, {})(http, stream)
        return False

    server, address = await serve(answer_then_close, answer(201, {"pid": 7}))
    with Client(address) as client:
        await trio.to_thread.run_sync(client.state)
        await server.closed.wait()
        started = await trio.to_thread.run_sync(client.start, "x", "/b")
    assert dict(started) == {"pid": 7}  # what the daemon answered, whole
    assert server.connections == 2


async def test_an_idle_connection_the_daemon_closed_is_not_used_by_the_trio_transport(
    serve: Any,
) -> None:
    """The same for the Trio transport (a migration's client of its target): a daemon whose
    server died or handed over closed the pooled connection, and the next request, a DELETE
    that is not sent twice, went out on it and was lost (a migration's abort failed, so the
    move was not rolled back, on a target whose next server would have answered)."""

    async def answer_then_close(http: h11.Connection, stream: trio.SocketStream) -> bool:
        await answer(200, {})(http, stream)
        return False

    server, address = await serve(answer_then_close, answer(200, {}))
    transport = TrioTransport(address, retry_for=0)
    assert (await transport.call(GET)).status == 200
    await server.closed.wait()
    await trio.sleep(0.05)  # the close reaches the client's side of the connection
    aborted = await transport.call(routes.abort_migration("m"))
    assert aborted.status == 200  # what the daemon answered, on a new connection
    assert server.connections == 2
    await transport.aclose()


async def test_not_http_at_all(nursery: trio.Nursery) -> None:
    async def garbage(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await stream.aclose()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, garbage, 0, host="127.0.0.1"))
    address = f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    with Client(address) as client, pytest.raises(ClientError) as caught:
        await trio.to_thread.run_sync(client.metrics)
    assert str(caught.value).startswith(f"the answer from {address} is not HTTP: ")


@pytest.mark.deadline(30)
async def test_refused_until_the_daemon_listens(
    start_daemon: Callable[..., Awaitable[RunningDaemon]], tmp_path: Path
) -> None:
    """No socket file yet (a daemon restarting): the client tries again until one answers."""
    socket = tmp_path / "api.sock"
    refused = trio.Event()
    reasons: list[ClientError] = []
    token = trio.lowlevel.current_trio_token()

    def on_retry(failure: ClientError, pause: float) -> None:
        reasons.append(failure)
        trio.from_thread.run_sync(refused.set, trio_token=token)

    def ask() -> list[Any]:
        with Client(f"unix:{socket}", on_retry=on_retry) as client:
            return client.containers()

    async with trio.open_nursery() as nursery:
        answers: list[list[Any]] = []

        async def asking() -> None:
            answers.append(await trio.to_thread.run_sync(ask, abandon_on_cancel=True))

        nursery.start_soon(asking)
        await refused.wait()
        await start_daemon(listen=Listen(unix_path=socket))
    assert answers == [[]]
    assert isinstance(reasons[0], DaemonUnreachable) and reasons[0].refused


# --- the parts --------------------------------------------------------------------------------


def test_addresses() -> None:
    assert Endpoint.parse("127.0.0.1:8888")[1:] == ("127.0.0.1", 8888, None, False)
    assert Endpoint.parse("unix:/run/x.sock")[1:] == (None, None, "/run/x.sock", False)
    assert Endpoint.parse("http://unix:/run/x.sock").unix_path == "/run/x.sock"
    assert Endpoint.parse("https://[::1]:9000/")[1:] == ("::1", 9000, None, True)
    assert Endpoint.parse("https://[::1]:9000").authority == "[::1]:9000"
    assert Endpoint.parse("https://example.com").port == 443
    assert Endpoint.parse("unix:/run/x.sock").authority == "localhost"
    assert parse_address("127.0.0.1:8888") == ("http://127.0.0.1:8888", None)
    assert parse_address("unix:/x.sock") == ("http://localhost", "/x.sock")
    assert Endpoint.parse("my_service.local:80").host == "my_service.local"
    assert Endpoint.parse("fe80::1%eth0:80").host == "fe80::1%eth0"
    for bad in ("http://", "nowhere", "unix:", "http://h:99999", "1.2.3.4:x", "ftp://x:1", "h:0"):
        with pytest.raises(ValueError):  # noqa: PT011 - each says why in its own words
            Endpoint.parse(bad)


def test_retry_decisions() -> None:
    unreachable = DaemonUnreachable("a", "gone")
    refused = DaemonUnreachable("a", "refused", refused=True)
    lost = DaemonUnreachable("a", "reset", lost=True)
    busy = ApiError(503, "shutting down")
    for request, failure, again in [
        (GET, refused, True),
        (POST, refused, True),  # nothing was sent
        (POST, busy, True),  # nothing was done
        (GET, lost, True),
        (POST, lost, False),  # may have been done
        (GET, unreachable, False),  # a timeout, a TLS failure: not a restart
        (GET, ApiError(500, "runc failed"), False),
    ]:
        retry = Retry(request, 10.0)
        if again:
            assert retry.pause(failure) == 0.05, (request, failure)
        else:
            with pytest.raises(ClientError) as caught:
                retry.pause(failure)
            assert caught.value is failure
    retry = Retry(GET, 100.0)
    assert [retry.pause(busy) for _ in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    with pytest.raises(ApiError):
        Retry(GET, 0.0).pause(busy)


def test_retry_tries_a_last_time_at_the_end_of_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--retry 2`` tries again for 2 s, as its help says: its last pause is what is left of
    the budget, so that a daemon that listens again at 1.9 s is reached. It gave up at 1.55 s
    (the pauses 0.05 to 0.8 s, then a whole 1 s that would have passed the budget), a quarter
    of the time asked for unseen, up to 1 s of any budget."""
    now = [1000.0]
    monkeypatch.setattr("containerd_trio.client.protocol.time.monotonic", lambda: now[0])
    busy = ApiError(503, "shutting down")
    retry = Retry(GET, 2.0)
    pauses: list[float] = []

    def pause_until_given_up() -> None:
        while True:
            pauses.append(retry.pause(busy))
            now[0] += pauses[-1]

    with pytest.raises(ApiError):
        pause_until_given_up()
    assert pauses == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 0.45])
    assert now[0] == pytest.approx(1002.0)  # the last try at the budget's end, none after


def test_http11_framing() -> None:
    http = Http11(Endpoint.parse("unix:/x.sock"))
    sent = http.send(make_request("PUT", "/c/x/processes", body={"args": ["true"]}))
    assert sent.startswith(b"PUT /c/x/processes HTTP/1.1\r\nhost: localhost\r\n")
    assert sent.endswith(b'\r\n\r\n{"args":["true"]}')
    assert b"content-length: 17\r\n" in sent
    for piece in (b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n", b"\r\n", b"{}", b"\n\n"):
        http.receive(piece)
    assert http.complete and http.answer().body == b"{}\n\n"
    assert http.reuse()
    assert b"content-length: 0" in http.send(Request("POST", "/x"))


async def test_the_cli_sends_times_and_types_as_typed(serve: Any) -> None:
    """``logs --since/--until`` go to the daemon as RFC 3339: a time as the user wrote it, a
    duration as the time it names (which takes 1.5h and 250ms, as docker does, where the
    daemon's own durations are whole d, h, m, s); ``events --type`` as one comma-separated
    ``type``."""
    import io
    import urllib.parse

    from containerd_trio import timestamps
    from containerd_trio.client import cli

    server, address = await serve(chunked(b""), chunked(b""))
    argv = [
        "--address",
        address,
        "logs",
        "web",
        "--since",
        "10m",
        "--until",
        "2026-11-29T10:00:00Z",
    ]
    out, err = io.StringIO(), io.StringIO()
    before = timestamps.now_ns()
    assert await trio.to_thread.run_sync(cli.run, argv, out, err) == 0, err.getvalue()
    after = timestamps.now_ns()
    # The stream's end is taken up again (a reload ends it too), from the time events began:
    # this server then closes the connection unanswered, and --retry 0 ends it there.
    events = ["--address", address, "--retry", "0", "events", "--type", "exit,oom"]
    events += ["--type", "start-container"]
    assert await trio.to_thread.run_sync(cli.run, events, out, err) == cli.EXIT_UNREACHABLE
    targets = [target for _, target, _ in server.requests]
    logs, query = targets[0].split("?")
    assert (logs, targets[1]) == (
        "/containers/web/logs",
        "/events?type=exit%2Coom%2Cstart-container",
    )
    sent = dict(urllib.parse.parse_qsl(query))
    assert (sent["follow"], sent["until"]) == ("false", "2026-11-29T10:00:00Z")
    ten_minutes = 600 * 10**9
    assert before - ten_minutes <= timestamps.parse_ns(sent["since"]) <= after - ten_minutes
    [again] = targets[2:]
    assert again.startswith("/events?since=")
    assert again.endswith("&type=exit%2Coom%2Cstart-container")
