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
read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart import Request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody
from werkzeug.exceptions import RequestTimeout

#: Unread bytes of an upload past which the server stops receiving more.
HIGH_WATER = 1 << 20


class Upload:
    """Declares a route's body as a streamed upload (``Api.route(body=Upload)``): its handler
    is given an async iterator of the body's chunks instead of a structured body."""


class StreamedBody(TrioBody):
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
    """Quart-Trio's HTTP connection, with a :class:`StreamedBody` for the streamed routes."""

    def _create_request_from_scope(self, send: ASGISendCallable) -> Request:
        request = super()._create_request_from_scope(send)
        streamed: StreamedRoutes = self.app.extensions["streamed_routes"]
        if (request.method, request.path) in streamed:
            request.body = StreamedBody(
                request.content_length, idle_timeout=self.app.config["BODY_TIMEOUT"]
            )
        return request

    async def handle_messages(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        body: Any = request.body
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
