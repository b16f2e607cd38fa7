"""Request bodies read as they arrive: the streamed uploads (checkpoint archives).

Quart reads a request's body in a task of its own and appends it to a buffer without waiting
for the handler, and bounds the buffer by ``MAX_CONTENT_LENGTH`` (``--max-body-bytes``, a
413). Both are right for a JSON body and wrong for an archive of gigabytes: the whole upload
would pile up in memory whenever the disk is slower than the network, and the limit would
refuse it. So a route declared with ``body=Upload`` gets a :class:`StreamedBody`:

- no size limit of the app's (the route bounds what it takes: the archive's import limits);
- a deadline per part instead of one for the whole body: an upload that stops coming for the
  app's body timeout (60 s) is answered 408;
- backpressure: once :data:`HIGH_WATER` bytes wait unread, the task that reads the request
  stops receiving until the handler has taken them, so the server stops reading the socket
  and TCP slows the client down. At most about that much of an upload is in memory.

:class:`UploadConnection` is the app's ASGI connection class: it gives the streamed routes
their body, by method and path (:class:`StreamedRoutes`), before anything of the request is
read; and it holds the reading of a body whose client waits for a ``100 Continue`` until the
handler asks for it (:class:`AskedBody`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Generator, Iterable
from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest
from werkzeug.exceptions import RequestTimeout

from .connections import queue_of

#: Unread bytes of an upload past which the server stops receiving more.
HIGH_WATER = 1 << 20


class Upload:
    """Declares a route's body as a streamed upload (``Api.route(body=Upload)``): its handler
    is given an async iterator of the body's chunks instead of a structured body."""


class AskedBody(TrioBody):
    """Quart-Trio's request body, which can hold its reading until the handler asks for it.

    Quart reads a body in a task of its own from the request's start, and the server sends a
    ``100 Continue`` at the app's first receive (:class:`~.connections.AppQueue`): a client
    that sent ``Expect: 100-continue`` was invited to send its body even to a request
    refused without it (a 413 by its ``Content-Length``, a 400 for its path). Such a body is
    :meth:`held` (:class:`UploadConnection`): its reading waits until the handler awaits it
    or iterates it, and starts only then. Any other body is read as Quart reads it.
    """

    #: The reading waits for the handler to ask (a class default: no work for the others).
    held = False
    _asked: trio.Event | None = None

    def hold(self) -> None:
        self.held = True
        self._asked = trio.Event()

    async def until_asked(self) -> None:
        if self._asked is not None:
            await self._asked.wait()

    def _ask(self) -> None:
        # A body refused by its length alone (_must_raise: over the app's limit) raises
        # without being read: no invitation for it either.
        if self._must_raise is None and self._asked is not None:
            self.held = False
            self._asked.set()

    def __await__(self) -> Generator[Any, None, Any]:
        if self.held:
            self._ask()
        return super().__await__()

    async def __anext__(self) -> bytes:
        if self.held:
            self._ask()
        return await super().__anext__()


class ApiRequest(TrioRequest):
    """Quart-Trio's request, with an :class:`AskedBody`."""

    body_class = AskedBody


class StreamedBody(AskedBody):
    """A request body read as it arrives, with backpressure and no size limit."""

    def __init__(self, expected_content_length: int | None, *, idle_timeout: float) -> None:
        super().__init__(expected_content_length, None)
        #: How long the handler waits for the next part before the upload is given up (408).
        self.idle_timeout = idle_timeout
        self._room = trio.Event()
        self._room.set()
        #: The handler read it to its end (the connection can serve another request).
        self.finished = False

    def append(self, data: bytes) -> None:
        super().append(data)
        if len(self._data) >= HIGH_WATER:
            self._room = trio.Event()

    async def wait_for_room(self) -> None:
        """Until the handler has read what waits (or the request ends)."""
        await self._room.wait()

    async def __anext__(self) -> bytes:
        try:
            with trio.fail_after(self.idle_timeout):
                data = await super().__anext__()
        except StopAsyncIteration:
            self.finished = True
            raise
        except trio.TooSlowError:
            # A client that stops sending holds the request, its connection and the route's
            # work open: give up, as the app does with a JSON body that does not come.
            raise RequestTimeout(
                f"no part of the upload came for {self.idle_timeout:g} seconds"
            ) from None
        self._room.set()
        return data

    def chunks(self) -> AsyncIterator[bytes]:
        return aiter(self)


class StreamedRoutes:
    """Which requests are streamed uploads: methods and path templates (``/a/{b}/c``)."""

    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        self._patterns = [
            (
                method,
                re.compile("^" + re.sub(r"\\\{[A-Za-z_]+\\\}", "[^/]+", re.escape(path)) + "$"),
            )
            for method, path in routes
        ]

    def __contains__(self, request: tuple[str, str]) -> bool:
        method, path = request
        return any(m == method and p.match(path) for m, p in self._patterns)


class UploadConnection(TrioASGIHTTPConnection):
    """Quart-Trio's HTTP connection, with a :class:`StreamedBody` for the streamed routes,
    and a body read only once asked for if its client waits for a 100 Continue."""

    #: The request's client waits for a 100 Continue before it sends its body.
    _awaits_continue = False

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        # Known before Quart's two tasks start: either may run first, and a handler that
        # answers before the reading began must find the body held.
        queue = queue_of(receive)
        self._awaits_continue = queue is not None and queue.awaits_continue
        await super().__call__(receive, send)

    def _create_request_from_scope(self, send: ASGISendCallable) -> Request:
        request = super()._create_request_from_scope(send)
        streamed: StreamedRoutes = self.app.extensions["streamed_routes"]
        if (request.method, request.path) in streamed:
            request.body = StreamedBody(
                request.content_length, idle_timeout=self.app.config["BODY_TIMEOUT"]
            )
        if self._awaits_continue and isinstance(request.body, AskedBody):
            request.body.hold()
        return request

    async def handle_messages(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        body: Any = request.body
        if isinstance(body, AskedBody) and body.held:
            # The first receive invites the body: only once the handler asks for it. One that
            # answers without it ends this task unread (its connection then closes), and a
            # client that leaves meanwhile ends the request as ever.
            queue = queue_of(receive)
            assert queue is not None, "held only for the daemon's own queue"
            with queue.cancelled_on_leaving():
                await body.until_asked()
            if queue.client_gone:
                nursery.cancel_scope.cancel()
                return
        if not isinstance(body, StreamedBody):
            await super().handle_messages(nursery, request, receive)
            return
        while True:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
                await body.wait_for_room()
            elif message["type"] == "http.disconnect":
                break
        nursery.cancel_scope.cancel()
