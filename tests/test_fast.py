"""The API's fast path (api/fast.py): which requests it takes, and that it answers them exactly
as the app would."""

from __future__ import annotations

import json
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing
from hypercorn.typing import ConnectionState, HTTPRequestEvent, HTTPScope
from werkzeug.exceptions import RequestTimeout

from containerd_trio.api import connections, routes, wire
from containerd_trio.api import fast as fast_module
from containerd_trio.api.fast import FastRoutes, query_args
from containerd_trio.errors import NotFound

from .helpers import (
    FOREVER,
    BundleFactory,
    RunningDaemon,
    pid_alive,
    read_to_eof,
    run_status,
    start_container,
)

#: The keep-alive time of the daemons that wait it out here (DaemonConfig's is 5 s): long
#: enough that an answer is plainly not the timer's doing, short enough not to wait 5 s.
KEEP_ALIVE_SECONDS = 2.0

MAX_BODY = 1024
#: A header that sends a request to the app (what a browser adds, for its own origin: allowed).
TO_THE_APP = {"Sec-Fetch-Site": "same-origin"}


async def _never(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("route() does not call the app")


def _scope(
    method: str, target: str, headers: dict[str, str] | None = None, version: str = "1.1"
) -> HTTPScope:
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": version,
        "method": method,
        "scheme": "http",
        "path": re.sub(r"%2F", "/", path),  # what the server decodes
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": None,
        "server": None,
        "state": ConnectionState({}),
        "extensions": {},
    }


@pytest.mark.parametrize(
    ("method", "target", "headers", "operation"),
    [
        ("POST", "/containers/web", {"content-length": "40"}, "startContainer"),
        ("GET", "/containers/web", {}, "getContainer"),
        ("DELETE", "/containers/web?timeout=0", {}, "deleteContainer"),
        ("GET", "/state", {}, "getState"),
        ("PUT", "/containers/web/processes", {"content-length": "9"}, "execProcess"),
        ("PUT", "/containers/web/process", {"content-length": "9"}, "execProcessSeed"),
        ("POST", "/containers/web/process/42", {"content-length": "9"}, "signalProcess"),
        # To the app: what a browser adds, bodies of unknown or excessive length, escapes.
        ("POST", "/containers/web", {"origin": "http://127.0.0.1:8888"}, None),
        ("GET", "/state", {"sec-fetch-site": "cross-site"}, None),
        ("POST", "/containers/web", {"transfer-encoding": "chunked"}, None),
        ("POST", "/containers/web", {"expect": "100-continue"}, None),
        ("POST", "/containers/web", {"content-length": str(MAX_BODY + 1)}, None),
        ("POST", "/containers/web", {"content-length": "-1"}, None),
        ("GET", "/containers/a%2Fb", {}, None),
        # Not fast, or not these routes.
        ("HEAD", "/state", {}, None),
        ("GET", "/containers/web/", {}, None),
        ("GET", "/events", {}, None),
        ("GET", "/containers/web/logs", {}, None),
        ("PATCH", "/containers/web", {"content-length": "2"}, None),
    ],
)
def test_which_requests_take_the_fast_path(
    method: str, target: str, headers: dict[str, str], operation: str | None
) -> None:
    fast = FastRoutes(_never, routes.api.fast, max_body_bytes=MAX_BODY)
    found = fast.route(_scope(method, target, headers))
    assert (found[0].operation_id if found else None) == operation
    if found is not None and "{id}" in found[0].path:
        assert found[1]["id"] == "web"
    # HTTP/2 goes to the app whatever it asks: its bodies need not declare a length.
    assert fast.route(_scope(method, target, headers, version="2")) is None


async def _answer_of(
    fast: FastRoutes, scope: HTTPScope, events: list[dict[str, Any]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    """What the fast path sends for a request whose body arrives as ``events`` (then nothing
    more: the next receive waits forever)."""
    sent: list[Any] = []

    async def receive() -> Any:
        if events:
            return events.pop(0)
        await trio.sleep_forever()

    async def send(message: Any) -> None:
        sent.append(message)

    await fast(scope, receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


async def test_a_body_too_large_or_too_slow_is_answered_as_the_app_does() -> None:
    fast = FastRoutes(_never, routes.api.fast, max_body_bytes=MAX_BODY, body_timeout=0.05)
    scope = _scope("POST", "/containers/web", {"content-length": str(MAX_BODY)})
    # More than the limit, whatever the length said (a peer that lies, or none given).
    chunk = {"type": "http.request", "body": b"x" * MAX_BODY, "more_body": True}
    status, headers, body = await _answer_of(fast, scope, [chunk, chunk])
    assert status == 413
    assert json.loads(body) == {"error": wire.body_limit_message(MAX_BODY)}
    assert headers[b"connection"] == b"close"
    # Declared and never sent: the app's body timeout, and its words.
    status, headers, body = await _answer_of(fast, scope, [])
    assert (status, json.loads(body)) == (408, {"error": RequestTimeout.description})
    assert headers[b"connection"] == b"close"


def test_an_exception_group_is_answered_by_its_first_member() -> None:
    """As Quart-Trio does: the first member of a group is the one answered."""
    group = ExceptionGroup("outer", [ExceptionGroup("inner", [NotFound("no such thing")])])
    reply = fast_module._error_reply(group, "GET", "/state")
    assert (reply.status, json.loads(reply.body)) == (404, {"error": "no such thing"})
    assert fast_module._error_reply(ExceptionGroup("g", [KeyError("k")]), "GET", "/").status == 500


def test_query_decoded_as_quart_decodes_it() -> None:
    args = query_args(b"timeout=0&id=a&id=b&empty=&bad=%ff")
    assert args.getlist("id") == ["a", "b"]
    assert args["timeout"] == "0"
    assert args["empty"] == ""
    assert args["bad"] == "%FF"  # invalid UTF-8 stays percent-encoded, as in werkzeug 3
    assert not query_args(b"")


async def _fast_count(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    [value] = re.findall(r"^containerd_trio_api_fast_requests_total (\S+)$", text, re.M)
    return float(value)


async def _both(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """The request through the fast path, then through the app: the same answer."""
    before = await _fast_count(client)
    fast = await client.request(method, url, **kw)
    assert await _fast_count(client) == before + 1, f"{method} {url} did not take the fast path"
    headers = {**kw.pop("headers", {}), **TO_THE_APP}
    app = await client.request(method, url, headers=headers, **kw)
    assert await _fast_count(client) == before + 1, f"{method} {url} took the fast path"
    assert (fast.status_code, fast.content) == (app.status_code, app.content)
    assert fast.headers["content-type"] == app.headers["content-type"] == "application/json"
    assert fast.headers.get("retry-after") == app.headers.get("retry-after")
    return fast


async def test_fast_and_app_answer_alike(client: httpx.AsyncClient, bundle: Path) -> None:
    body = {"bundlePath": str(bundle)}
    # Errors of every kind the fast routes raise: the body, the path, the query, the state.
    assert (await _both(client, "POST", "/containers/web", content=b"{")).status_code == 400
    answer = await _both(client, "POST", "/containers/web", json={**body, "bogus": 1})
    assert "bogus" in answer.json()["error"]
    assert (await _both(client, "POST", "/containers/-web", json=body)).status_code == 400
    answer = await _both(client, "POST", "/containers/web", json={"bundlePath": "/nonexistent"})
    assert answer.status_code in (400, 404)
    assert (await _both(client, "GET", "/containers/web")).status_code == 404
    assert (await _both(client, "DELETE", "/containers/web?timeout=0")).status_code == 404
    answer = await _both(client, "DELETE", "/containers/web?nonsense=1")
    assert answer.status_code == 400 and "nonsense" in answer.json()["error"]
    assert (await _both(client, "DELETE", "/containers/web?timeout=x")).status_code == 400

    # A running container: the same views of it both ways.
    await start_container(client, "web", bundle)
    answer = await _both(client, "GET", "/containers/web")
    assert run_status(answer.json()["state"]) == {"status": "running"}
    assert (await _both(client, "GET", "/state")).json()["containers"][0]["id"] == "web"
    assert (await _both(client, "POST", "/containers/web", json=body)).status_code == 409
    answer = await _both(client, "POST", "/containers/web/process/1", json={"signal": 999})
    assert answer.status_code == 400


async def test_a_route_that_takes_no_body_takes_none_or_an_empty_object(
    client: httpx.AsyncClient,
) -> None:
    """docs/api.md: an unknown field is a 400. A route that takes no body ignored what it was
    sent: a wait with ``{"x":1}`` waited, a reload reloaded. Now a field is a 400 naming it, on
    the fast path and in the app alike, while nothing, ``{}`` (curl's ``-d '{}'``) and
    whitespace are taken as before (here: the 404 of a container that is not there)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
    for method, url in [
        ("POST", "/containers/ghost/wait"),
        ("GET", "/containers/ghost"),
        ("DELETE", "/containers/ghost"),
    ]:
        for taken in (b"", b"{}", b" {} \n"):
            answer = await _both(client, method, url, content=taken, headers=form)
            assert answer.status_code == 404, (method, url, taken, answer.text)
        answer = await _both(client, method, url, content=b'{"x":1}', headers=form)
        assert (answer.status_code, answer.json()) == (
            400,
            {"error": "unknown field 'x': this route takes no body (send none, or {})"},
        ), (method, url)
        answer = await _both(client, method, url, content=b"[]")
        assert answer.status_code == 400, (method, url)
    answer = await client.request("DELETE", "/containers/ghost/checkpoint/c1", json={"timeout": 0})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("unknown field 'timeout': this route takes no body")
    answer = await client.post("/daemon/reload", json={"x": 1})  # was 202: it reloaded
    assert answer.status_code == 400
    assert "unknown field 'x'" in answer.json()["error"]


async def test_fast_start_exec_signal_delete(client: httpx.AsyncClient, bundle: Path) -> None:
    """A container's life through the fast path alone, each step counted by the metric."""
    before = await _fast_count(client)
    started = await client.post("/containers/fast", json={"bundlePath": str(bundle)})
    assert started.status_code == 201, started.text
    assert started.headers["content-type"] == "application/json"
    assert int(started.headers["content-length"]) == len(started.content)
    init = started.json()["processes"][0]["pid"]
    assert pid_alive(init)
    added = await client.put("/containers/fast/processes", json={"args": ["sleep", "100000"]})
    assert added.status_code == 201, added.text
    pid = added.json()["pid"]
    signalled = await client.post(f"/containers/fast/process/{pid}", json={"signal": 9})
    assert signalled.status_code == 200, signalled.text
    deleted = await client.delete("/containers/fast", params={"timeout": 0})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["id"] == "fast"
    assert await _fast_count(client) == before + 4
    assert (await client.get("/state")).json()["containers"] == []


def _requests_under_way() -> int:
    """Hypercorn's request tasks in the daemon: one per request under way."""
    found = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None  # within trio.run
    stack = [root]
    while stack:
        task = stack.pop()
        found += task.name == "hypercorn.trio.task_group._handle"
        stack += [child for nursery in task.child_nurseries for child in nursery.child_tasks]
    return found


async def test_fast_wait_answers_the_exit_or_gives_up_with_its_client(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    started = await start_container(client, "waited", make_bundle(FOREVER))
    pid = started["processes"][0]["pid"]
    assert (await _both(client, "POST", "/containers/nothing/wait")).status_code == 404

    # A client that goes away while it waits: its wait ends with it, on the daemon too.
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(
        b"POST /containers/waited/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    with trio.fail_after(10):
        while _requests_under_way() != 1:
            await trio.testing.wait_all_tasks_blocked(0.01)
        await stream.aclose()
        while _requests_under_way() != 0:
            await trio.testing.wait_all_tasks_blocked(0.01)

    # One that stays gets the exit, through the fast path.
    before = await _fast_count(client)
    async with trio.open_nursery() as nursery:
        answers: list[httpx.Response] = []

        async def wait() -> None:
            answers.append(await client.post(f"/containers/waited/process/{pid}/wait"))

        nursery.start_soon(wait)
        with trio.fail_after(10):
            while _requests_under_way() != 1:
                await trio.testing.wait_all_tasks_blocked(0.01)
        signalled = await client.post(f"/containers/waited/process/{pid}", json={"signal": 9})
        assert signalled.status_code == 200
    [answer] = answers
    assert answer.status_code == 200, answer.text
    assert answer.json()["exitStatus"] == 137
    assert await _fast_count(client) == before + 2  # the wait and the signal


@pytest.mark.parametrize("forced_to_the_app", [False, True])
async def test_connections_close_when_idle_or_when_asked(
    start_daemon: Any, forced_to_the_app: bool
) -> None:
    """The server closes a keep-alive connection left idle for its keep-alive time, and one
    whose request said ``Connection: close`` right after the answer; through the fast path and
    through the app alike (each used to cancel Hypercorn's timer with the request's task)."""
    daemon: RunningDaemon = await start_daemon(keep_alive_timeout=KEEP_ALIVE_SECONDS)
    url = httpx.URL(daemon.url)
    extra = b"Sec-Fetch-Site: same-origin\r\n" if forced_to_the_app else b""

    async def ask(*headers: bytes) -> trio.SocketStream:
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        await stream.send_all(
            b"GET /containers/none HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n"
            % (url.host.encode(), url.port or 80, b"".join((extra, *headers)))
        )
        return stream

    before = await _fast_count(daemon.client)
    idle, closing = await ask(), await ask(b"Connection: close\r\n")
    with trio.fail_after(KEEP_ALIVE_SECONDS / 2):  # not the keep-alive timer's doing
        answer = await read_to_eof(closing)
    not_found = b'{"error":"container \'none\' not found"}'
    assert answer.startswith(b"HTTP/1.1 404 ") and answer.endswith(not_found)
    with trio.fail_after(KEEP_ALIVE_SECONDS + 5):
        answer = await read_to_eof(idle)
    assert answer.startswith(b"HTTP/1.1 404 ") and answer.endswith(not_found)
    assert await _fast_count(daemon.client) == before + (0 if forced_to_the_app else 2)


async def _turns(function: Callable[..., Awaitable[object]], *args: object) -> int:
    """How many turns of the scheduler ``function(*args)`` took (its task's steps ended)."""

    class Steps(trio.abc.Instrument):
        def __init__(self, task: trio.lowlevel.Task) -> None:
            self.task, self.count = task, 0

        def after_task_step(self, task: trio.lowlevel.Task) -> None:
            self.count += task is self.task

    steps = Steps(trio.lowlevel.current_task())
    trio.lowlevel.add_instrument(steps)
    try:
        await function(*args)
    finally:
        trio.lowlevel.remove_instrument(steps)
    return steps.count


async def test_a_requests_events_reach_the_app_without_a_turn_while_its_queue_has_room() -> None:
    """Hypercorn's put of a request's events into the app's queue (the body, its end, the
    client's leaving) takes no turn of the scheduler while the queue has room, and waits when
    it is full; the app gets every event in order."""
    from hypercorn.config import Config

    received: list[Any] = []
    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any) -> None:
        while (event := await receive())["type"] != "http.disconnect":
            received.append(event["body"])

    async def send(message: Any) -> None:
        sent.append(message)

    config = Config()
    config.max_app_queue_size = 2
    async with connections._EagerTaskGroup() as group:
        put = await group.spawn_app(app, config, _scope("POST", "/"), send)
        for body in (b"a", b"b"):
            event = {"type": "http.request", "body": body, "more_body": True}
            assert await _turns(put, event) == 0
        await put({"type": "http.request", "body": b"c", "more_body": False})  # full: waits
        # The app takes the rest before the leaving comes (a leaving that finds the queue
        # full takes the body's place: test_a_clients_leaving_never_waits_on_a_full_queue).
        await trio.testing.wait_all_tasks_blocked()
        await put({"type": "http.disconnect"})
        with trio.CancelScope() as cancelled:
            cancelled.cancel()
            last: HTTPRequestEvent = {"type": "http.request", "body": b"d", "more_body": False}
            await put(last)  # cancelled, as send's is
        assert cancelled.cancelled_caught
    assert received == [b"a", b"b", b"c"]
    assert sent == [None]  # Hypercorn's word that the app ended


async def test_a_clients_leaving_is_queued_even_by_a_cancelled_caller() -> None:
    """The connection's reading task, cancelled because its client hung up, may find the
    client gone in a write of its own (a pong) and put the leaving from within that cancel:
    it was lost (the put's first step raised Cancelled), and a WebSocket's app never heard.
    A WebSocket's leaving that finds the app's queue full cancels the app instead."""
    queue = connections.AppQueue(1)
    with trio.CancelScope() as cancelled:
        cancelled.cancel()
        await queue.put({"type": "http.disconnect"})
    assert queue.client_gone and queue.receive_nowait()["type"] == "http.disconnect"

    queue = connections.AppQueue(1)
    await queue.put({"type": "websocket.receive", "bytes": b"x", "text": None})  # full now
    with trio.CancelScope() as app:
        queue.app_scope = app
        with trio.CancelScope() as cancelled:
            cancelled.cancel()
            await queue.put({"type": "websocket.disconnect", "code": 1006})
        assert app.cancel_called
        await trio.sleep_forever()  # what the app waits on ends
    assert app.cancelled_caught


async def test_a_clients_leaving_never_waits_on_a_full_queue() -> None:
    """An upload's reader stops taking while its handler has 1 MiB to read, and a handler
    that refused the upload reads no more: Hypercorn's put of the leaving, at the answer's end
    from inside the app's shielded send, waited for room for good. It takes the place of the
    body queued (nobody will use it), by a cancelled caller too, and the put of body that
    waited for room returns with it; body still waits for room, as backpressure has it."""
    queue = connections.AppQueue(2)
    for body in (b"a", b"b"):
        await queue.put({"type": "http.request", "body": body, "more_body": True})
    with trio.move_on_after(0.1) as backpressure:
        await queue.put({"type": "http.request", "body": b"c", "more_body": True})
    assert backpressure.cancelled_caught  # full: body waits for room
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            blocked = trio.Event()

            async def put_body() -> None:
                await queue.put({"type": "http.request", "body": b"d", "more_body": True})
                blocked.set()

            nursery.start_soon(put_body)
            await trio.testing.wait_all_tasks_blocked()
            assert not blocked.is_set()
            with trio.CancelScope() as cancelled:
                cancelled.cancel()
                await queue.put({"type": "http.disconnect"})
            await blocked.wait()
    assert queue.client_gone
    assert queue.receive_nowait()["type"] == "http.disconnect"
    with pytest.raises(trio.WouldBlock):
        queue.receive_nowait()


async def test_a_wait_ends_as_its_client_leaves_without_a_watching_task() -> None:
    """What a request waits for is cancelled as the client's leaving is queued (or at once if
    it was queued before the wait began); the request's other events cancel nothing."""
    queue = connections.AppQueue(10)
    waited = trio.Event()

    async def wait(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with queue.cancelled_on_leaving() as leaving:
            task_status.started(leaving)
            await waited.wait()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            leaving = await nursery.start(wait)
            await queue.put({"type": "http.request", "body": b"", "more_body": False})
            await trio.testing.wait_all_tasks_blocked()
            assert not leaving.cancel_called
            tasks = len(nursery.child_tasks)
            await queue.put({"type": "http.disconnect"})
            assert leaving.cancel_called
            assert tasks == 1  # the wait's own; nothing else read the queue
    assert leaving.cancelled_caught
    assert queue.receive_nowait()["type"] == "http.request"
    assert (await queue.receive())["type"] == "http.disconnect"

    with trio.fail_after(5), queue.cancelled_on_leaving() as late:  # it left before the wait
        await trio.sleep_forever()
    assert late.cancelled_caught
    with pytest.raises(trio.WouldBlock):
        queue.receive_nowait()


async def test_the_send_lock_takes_no_turn_when_free_and_queues_when_held() -> None:
    """A connection's writes take its send lock without a turn of the scheduler when nobody
    holds it (the write is a turn of its own), and wait in order while it is held."""
    lock = connections._SendLock()
    assert await _turns(lock.__aenter__) == 0
    with trio.CancelScope() as cancelled:
        cancelled.cancel()
        async with connections._SendLock():
            pass  # a cancelled write is cancelled, as with trio.Lock
    assert cancelled.cancelled_caught
    order: list[int] = []

    async def write(n: int) -> None:
        async with lock:
            order.append(n)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write, 1)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(write, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert order == []  # both wait while it is held
        await lock.__aexit__(None, None, None)
    assert order == [1, 2]


async def test_the_keep_alive_timer_outlives_a_deadline_that_passed_as_a_request_came(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The keep-alive deadline passes in the same turn as a new request arrives: the timer
    times the next idle spell (a cancelled scope is not revived by a later deadline), and
    the connection is closed once idle again for the keep-alive time."""
    from hypercorn.events import Updated
    from hypercorn.trio.worker_context import EventWrapper

    connection = object.__new__(connections._ContainedConnection)
    connection.config = SimpleNamespace(keep_alive_timeout=KEEP_ALIVE_SECONDS)  # type: ignore[assignment]
    connection.context = SimpleNamespace(terminated=EventWrapper())  # type: ignore[assignment]
    closed: list[float] = []

    async def close() -> None:
        closed.append(trio.current_time())

    connection._initiate_server_close = close  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection._idle_timeout)
        await trio.testing.wait_all_tasks_blocked()
        scope = connection._idle_scope
        assert scope is not None
        scope.cancel()  # what its deadline does, in the turn the request's Updated comes
        await connection.protocol_send(Updated(idle=False))
        await trio.testing.wait_all_tasks_blocked()
        assert closed == [] and connection._idle_scope is not None  # timing again
        await trio.sleep(2 * KEEP_ALIVE_SECONDS)
        assert closed == []  # busy: never closed by the timer
        idle_since = trio.current_time()
        await connection.protocol_send(Updated(idle=True))
    assert closed == [idle_since + KEEP_ALIVE_SECONDS]


async def test_a_request_busy_past_the_keep_alive_time_keeps_its_connection(
    start_daemon: Any, make_bundle: BundleFactory
) -> None:
    """The keep-alive timer runs only between answers (the daemon moves one timer's deadline
    where Hypercorn restarted a task): a request that takes longer than the keep-alive time is
    answered, its connection serves the next one, and once idle for that time it is closed."""
    daemon: RunningDaemon = await start_daemon(keep_alive_timeout=KEEP_ALIVE_SECONDS)
    client = daemon.client
    started = await start_container(client, "busy", make_bundle(FOREVER))
    pid = started["processes"][0]["pid"]
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    connection = h11.Connection(h11.CLIENT)

    async def ask(method: bytes, target: bytes) -> None:
        headers = [(b"host", b"x"), (b"content-length", b"0")]
        request = h11.Request(method=method, target=target, headers=headers)
        await stream.send_all(connection.send(request) + connection.send(h11.EndOfMessage()))

    async def answer() -> tuple[int, bytes]:
        status, body = 0, b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                connection.start_next_cycle()
                return status, body
            else:
                raise AssertionError(f"the connection ended before its answer: {event!r}")

    with trio.fail_after(10):
        await ask(b"GET", b"/containers/none")
        assert (await answer())[0] == 404  # the timer has run between two answers once
        await ask(b"POST", f"/containers/busy/process/{pid}/wait".encode())
    # Busy for longer than the keep-alive time: what is measured here is a duration.
    await trio.sleep(KEEP_ALIVE_SECONDS + 1)
    signalled = await client.post(f"/containers/busy/process/{pid}", json={"signal": 9})
    assert signalled.status_code == 200
    with trio.fail_after(10):
        status, body = await answer()
        assert status == 200 and json.loads(body)["exitStatus"] == 137
        await ask(b"GET", b"/containers/none")
        assert (await answer())[0] == 404
    with trio.fail_after(KEEP_ALIVE_SECONDS + 5):
        assert await stream.receive_some() == b""  # idle now: closed by the server
    await stream.aclose()


#: Where Linux's ``struct tcp_info`` keeps ``tcpi_data_segs_in``: the segments that carried data
#: to this socket (Linux 4.6 and later).
_DATA_SEGS_IN = 152


def _data_segments_received(stream: trio.SocketStream) -> int:
    info = stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    (count,) = struct.unpack_from("I", info, _DATA_SEGS_IN)
    return int(count)


@pytest.mark.parametrize("forced_to_the_app", [False, True], ids=["fast", "app"])
async def test_an_answer_is_one_write_and_a_streams_head_goes_at_once(
    daemon: RunningDaemon, forced_to_the_app: bool
) -> None:
    """A sized answer's head goes out with its body, in one segment: the client wakes once per
    answer, not for a head it cannot use alone (Hypercorn wrote head, body and end apart). A
    stream's head still goes at once: an ``/events`` client knows it is subscribed before any
    event comes."""
    url = httpx.URL(daemon.url)
    extra = b"Sec-Fetch-Site: same-origin\r\n" if forced_to_the_app else b""
    host = b"Host: %s:%d\r\n%s" % (url.host.encode(), url.port or 80, extra)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    request = b"GET /containers/none HTTP/1.1\r\n%s\r\n" % host
    not_found = b'{"error":"container \'none\' not found"}'
    for sent in range(1, 4):  # keep-alive: every answer on the connection alike
        await stream.send_all(request)
        answer = b""
        with trio.fail_after(10):
            while not answer.endswith(not_found):
                answer += await stream.receive_some()
        assert answer.startswith(b"HTTP/1.1 404 ")
        assert _data_segments_received(stream) == sent
    await stream.aclose()

    events = await trio.open_tcp_stream(url.host, url.port or 80)
    await events.send_all(b"GET /events HTTP/1.1\r\n%s\r\n" % host)
    head = b""
    with trio.fail_after(10):  # nothing is published meanwhile: the head comes alone
        while b"\r\n\r\n" not in head:
            head += await events.receive_some()
    assert head.startswith(b"HTTP/1.1 200 ")
    await events.aclose()


async def test_an_answers_own_error_is_raised_a_late_answer_dropped() -> None:
    """The write of a sized answer (api/connections._Http11): an app that sends more body
    than its length, or less, is an error in its task, as Hypercorn had it; an answer after
    the connection's last (Hypercorn's 400 already sent) is dropped, and nothing is written."""
    written: list[bytes] = []

    async def send(event: Any) -> None:
        written.append(event.data)

    def connection_after_request(close: bool) -> Any:
        server = h11.Connection(h11.SERVER)
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert isinstance(server.next_event(), h11.Request)
        # Its end read, as Hypercorn reads it before the app answers: an answer before the
        # end of the request's body closes the connection (connections._closing_if_body_unread).
        assert isinstance(server.next_event(), h11.EndOfMessage)
        protocol = SimpleNamespace(
            connection=server, send=send, _head=b"", _expecting=None, _framed_twice=False
        )
        headers = [(b"content-length", b"2"), *([(b"connection", b"close")] if close else [])]
        return protocol, h11.Response(status_code=200, headers=headers)

    write = connections._Http11._send_h11_event
    protocol, head = connection_after_request(close=False)
    await write(protocol, head)
    assert written == []  # held for its body
    with pytest.raises(h11.LocalProtocolError):
        await write(protocol, h11.Data(data=b"abc"))  # more than its length

    protocol, head = connection_after_request(close=True)
    await write(protocol, head)
    await write(protocol, h11.Data(data=b"ok"))
    await write(protocol, h11.EndOfMessage())
    assert written == [written[0]] and written[0].endswith(b"\r\n\r\nok")  # one write
    late = h11.Response(status_code=404, headers=[(b"content-length", b"0")])
    await write(protocol, late)  # the connection's last answer went out: dropped
    await write(protocol, h11.EndOfMessage())
    assert len(written) == 1


@pytest.mark.parametrize(
    ("request_head", "status_line"),
    [
        (b"GET /containers/none HTTP/1.1\r\n", b"HTTP/1.1 404 Not Found\r\n"),  # the fast path
        (b"GET /openapi.json HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n"),  # Quart
        (b"DELETE /containers/bad!id HTTP/1.1\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        (b"PATCH /state HTTP/1.1\r\n", b"HTTP/1.1 405 Method Not Allowed\r\n"),
        (
            b"POST /containers/x HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n",
            b"HTTP/1.1 100 Continue\r\n",
        ),
    ],
    ids=["fast-path", "app", "bad-request", "method", "continue"],
)
async def test_every_answer_s_status_line_has_its_reason_phrase(
    daemon: RunningDaemon, request_head: bytes, status_line: bytes
) -> None:
    """``HTTP/1.1 404 Not Found``, as dockerd writes it and curl -i shows it: Hypercorn's
    answers had an empty phrase (``HTTP/1.1 404 ``), the fast path's and the app's alike."""
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(request_head + b"Host: x\r\n\r\n")
    head = b""
    with trio.fail_after(10):
        while b"\r\n" not in head:
            head += await stream.receive_some()
    await stream.aclose()
    assert head.startswith(status_line), head


async def test_a_websocket_s_101_has_its_reason_phrase(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """An attach's accepted handshake: ``HTTP/1.1 101 Switching Protocols``, as the other
    answers have their phrase (the 101 is h11's InformationalResponse, not a Response: it
    went out as ``HTTP/1.1 101 `` after the reason phrases came in)."""
    started = await start_container(client, "ws", bundle)
    pid = started["processes"][0]["pid"]
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    await stream.send_all(
        b"GET /containers/ws/process/%d/attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" % pid
    )
    head = b""
    with trio.fail_after(10):
        while b"\r\n" not in head:
            head += await stream.receive_some()
    await stream.aclose()
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), head
