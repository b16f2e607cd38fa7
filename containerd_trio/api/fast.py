"""The hottest routes served as plain ASGI, inside the same Hypercorn, beside Quart.

A start through the daemon is one small JSON request, and Quart's machinery for a request (its
request and response objects, the contexts it pushes, the task that reads the body, the URL map,
the before- and after-request hooks) cost more of the server's CPU than the start's own work:
about 40% of it, measured with the stand-in runtime (docs/performance.md, "Where the time
goes"). So the routes declared ``fast=True`` (:meth:`~.endpoints.Api.route`) are answered here
when the request is in its plain form, and by the app otherwise.

Plain means: HTTP/1.x, no percent-escape in the path, no header a browser adds (``Origin``,
``Sec-Fetch-Site``) nor a browser's ``User-Agent``, a body of a declared length within the
limit, and no ``Expect`` or ``Transfer-Encoding``. Everything else (escaped paths, browsers,
chunked or oversized bodies, ``HEAD``, unknown routes) goes to the app, whose checks answer it
as before: so the fast path never needs a check of its own, and cannot answer differently from
the app. The route's
parameters, body and handler are the same :class:`~.endpoints.Endpoint` the app serves; the
handler's :class:`~.wire.Reply` is sent as it stands, and its errors become the same answers
(``wire.daemon_error_reply``, ``wire.unexpected_error_reply``). Like the app, an answer that
waits (for an exit) ends when its client goes away.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl

import attrs
import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    Scope,
)
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import RequestTimeout

from ..errors import DaemonError
from . import wire
from .browsers import BROWSER_AGENT
from .connections import finish_shielded, queue_of
from .endpoints import Endpoint

#: Headers whose presence sends a request to the app (browsers, bodies of unknown length).
_TO_THE_APP = frozenset((b"origin", b"sec-fetch-site", b"expect", b"transfer-encoding"))
#: A browser's User-Agent sends a request to the app too (:mod:`.browsers`).
_BROWSER_AGENT = BROWSER_AGENT.encode()
_NO_QUERY: MultiDict[str, str] = ImmutableMultiDict()
_HTTP1 = frozenset(("1.0", "1.1"))


def query_args(query_string: bytes) -> MultiDict[str, str]:
    """The query string's parameters, decoded as Quart's ``request.args`` decodes them."""
    if not query_string:
        return _NO_QUERY
    return ImmutableMultiDict(
        parse_qsl(query_string.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    )


class FastRoutes:
    """ASGI middleware: the plain requests of the fast endpoints, answered without the app.

    ``context``: context variables set for every request, fast or not (the handlers find the
    daemon's supervisor in one; each request runs in a task of its own, so the value is that
    task's). ``answered``: called for each request the fast path answers (a metric).

    ``refusing``: while it gives an error for a request's scope (the daemon stops: a shutdown or
    a hand-over; a shutdown still serves the event stream), every such new HTTP request, fast or
    not, is answered with it here, its body read first, and its
    connection closed: a client that sends a request on a connection it holds open gets an
    answer it can retry (a 503 with ``Retry-After``), not a connection closed under it, and
    its retry goes out on a new connection (to the next server, after a hand-over). A
    WebSocket's handshake gets the same answer instead of its accept.
    """

    def __init__(
        self,
        app: ASGIFramework,
        endpoints: Iterable[Endpoint],
        *,
        max_body_bytes: int,
        body_timeout: float = 60.0,
        context: Iterable[tuple[ContextVar[Any], Any]] = (),
        answered: Callable[[], object] = lambda: None,
        refusing: Callable[[Scope], DaemonError | None] = lambda scope: None,
    ) -> None:
        self.app = app
        self._answered = answered
        self._refusing = refusing
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self._context = tuple(context)
        self._routes: dict[str, list[tuple[re.Pattern[str], Endpoint]]] = {}
        for endpoint in endpoints:
            if endpoint.websocket or not endpoint.fast:
                raise ValueError(f"{endpoint.operation_id} is not declared fast")
            self._routes.setdefault(endpoint.method, []).append((endpoint.path_pattern(), endpoint))

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        for variable, value in self._context:
            variable.set(value)
        if scope["type"] == "http":
            refusal = self._refusing(scope)
            if refusal is not None:
                await self._refuse(scope, receive, send, refusal)
                return
            found = self.route(scope)
            if found is not None:
                await self._serve(scope, receive, send, *found)
                return
            send = finish_shielded(send)
        elif scope["type"] == "websocket":
            refusal = self._refusing(scope)
            if refusal is not None:
                # Before the handshake is accepted: an attach to a server that stops would be
                # cut within seconds; refused, its client attaches again (to the next server,
                # after a hand-over), as it retries any request.
                reply = wire.daemon_error_reply(refusal, "GET", scope["path"])
                await wire.refuse_handshake(scope, receive, send, reply)
                return
        await self.app(scope, receive, send)

    def route(self, scope: Any) -> tuple[Endpoint, dict[str, str]] | None:
        """The fast endpoint for the request and its path values; None if the app answers."""
        routes = self._routes.get(scope["method"])
        if routes is None or b"%" in scope.get("raw_path", b"%"):
            return None
        if scope.get("http_version") not in _HTTP1:
            # HTTP/2 (never served by this daemon, api/connections.py): its body may come
            # without a length. Plain is decided here, whatever the server serves.
            return None
        path: str = scope["path"]
        found = next(
            ((endpoint, match) for pattern, endpoint in routes if (match := pattern.match(path))),
            None,
        )
        if found is None:
            return None
        for name, value in scope["headers"]:
            if name in _TO_THE_APP:
                return None
            if name == b"user-agent" and value.startswith(_BROWSER_AGENT):
                return None  # a browser too old to say so otherwise: the app checks it
            if name == b"content-length" and not (
                value.isdigit() and int(value) <= self.max_body_bytes
            ):
                return None
        endpoint, match = found
        return endpoint, match.groupdict()

    async def _serve(
        self,
        scope: Any,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        endpoint: Endpoint,
        path: dict[str, str],
    ) -> None:
        # The whole body first, whether the route takes one or not: an answer sent before it
        # was read would leave the keep-alive connection stuck (see drain_unread_body in app.py).
        body = await self._read_body(receive)
        if body is None:
            return  # the client went away before its request was whole
        if isinstance(body, wire.Reply):
            # Too large, or too slow to come: answered as the app answers, and the connection
            # closed, since what is left of the body will not be read.
            await _send(send, attrs.evolve(body, headers=(*body.headers, ("Connection", "close"))))
            return
        query = query_args(scope["query_string"])
        answering = _answer(endpoint, scope, path, query, body)
        reply = await (_until_disconnect(answering, receive) if endpoint.waits else answering)
        if reply is None:
            return  # its client went away first
        self._answered()
        # Sent outside the watcher's reach: Hypercorn completes the exchange inside the last
        # send (it starts the connection's keep-alive timer, or closes it), and a cancel there
        # would leave the connection open for good (see connections.finish_shielded).
        await _send(send, reply)

    async def _refuse(
        self,
        scope: Any,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        refusal: DaemonError,
    ) -> None:
        """Answer the request with ``refusal`` and close its connection."""
        # Its body is read first, as for any answer (see _serve), within the same bounds; but
        # for a client that waits for a 100 Continue before it sends it: not invited, it sends
        # nothing, and the answer goes at once.
        queue = queue_of(receive)
        if (queue is None or not queue.awaits_continue) and await self._read_body(receive) is None:
            return  # the client went away
        reply = wire.daemon_error_reply(refusal, scope["method"], scope["path"])
        await _send(send, attrs.evolve(reply, headers=(*reply.headers, ("Connection", "close"))))

    async def _read_body(self, receive: ASGIReceiveCallable) -> bytes | wire.Reply | None:
        """The request's body; or the answer when it is larger than the limit (HTTP/1.x gives
        its length first, but a peer may still send more) or does not arrive within the app's
        body timeout; None if the client went away."""
        chunks: list[bytes] = []
        size = 0
        waiting = _without_waiting(receive)
        # The timeout's cancel scope only once an event has to be awaited: a small request's
        # events are all queued before its task runs, and the scope costs more than the rest.
        deadline: float | None = None
        event: ASGIReceiveEvent | None
        while True:
            try:
                event = waiting()
            except trio.WouldBlock:
                if deadline is None:
                    deadline = trio.current_time() + self.body_timeout
                event = None
                with trio.move_on_at(deadline):
                    event = await receive()
                if event is None:
                    return wire.error_reply(408, RequestTimeout.description)
            if event["type"] == "http.disconnect":
                return None
            chunk: bytes = event.get("body", b"")  # type: ignore[assignment]
            size += len(chunk)
            if size > self.max_body_bytes:
                return wire.error_reply(413, wire.body_limit_message(self.max_body_bytes))
            chunks.append(chunk)
            if not event.get("more_body", False):
                return b"".join(chunks)


def _without_waiting(receive: ASGIReceiveCallable) -> Callable[[], ASGIReceiveEvent]:
    """What takes an event the server has queued already, without a turn of the scheduler;
    :class:`trio.WouldBlock` when none is there.

    The daemon's Hypercorn queues a request's events (its body, then its end) before the
    app's task first runs (:class:`~.connections.AppQueue`): taking them at once spares a
    small request two of the twenty turns a start takes. Any other ``receive`` (another
    server, a test's) is awaited as ASGI has it.
    """
    queue = queue_of(receive)
    return _never_ready if queue is None else queue.receive_nowait


def _never_ready() -> ASGIReceiveEvent:
    raise trio.WouldBlock


async def _answer(
    endpoint: Endpoint, scope: Any, path: dict[str, str], query: MultiDict[str, str], body: bytes
) -> wire.Reply:
    try:
        return await endpoint.answer(path, query, scope["query_string"], body)
    except Exception as exc:
        return _error_reply(exc, scope["method"], scope["path"])


def _error_reply(exc: Exception, method: str, path: str) -> wire.Reply:
    """The app's answer to an exception: the first of a group, as Quart-Trio takes it."""
    while isinstance(exc, ExceptionGroup):
        exc = exc.exceptions[0]
    if isinstance(exc, DaemonError):
        return wire.daemon_error_reply(exc, method, path)
    return wire.unexpected_error_reply(exc, method, path)


async def _send(send: ASGISendCallable, reply: wire.Reply) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", b"%d" % len(reply.body)),
    ]
    headers += [(name.lower().encode(), value.encode()) for name, value in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


async def _until_disconnect(
    answer: Awaitable[wire.Reply], receive: ASGIReceiveCallable
) -> wire.Reply | None:
    """The answer, or None if its client goes away first: a wait for an exit must not outlive
    its client. (Only for the routes that may wait; a quick answer to a client that left is
    dropped by Hypercorn.)"""
    queue = queue_of(receive)
    if queue is not None:
        # The daemon's Hypercorn cancels the wait as it queues the client's leaving.
        with queue.cancelled_on_leaving() as leaving:
            reply = await answer
        return None if leaving.cancelled_caught else reply
    # Any other server: a task reads the queue for the leaving.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
        answered = await answer
        nursery.cancel_scope.cancel()
        return answered
    return None  # cancelled by the leaving


async def _cancel_on_disconnect(receive: ASGIReceiveCallable, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
