"""HTTP/2 requests are read to their end before their answer ends.

Hypercorn 0.18 forgets an HTTP/2 stream once its answer is complete; a DATA frame of the
request that arrives after that makes its protocol handler raise ``KeyError`` outside the
app, which ends the whole server process. Any answer sent before the request's body is whole
does it: a 413 for a body over the limit, the 403 of a peer the listener refuses, a 404 for an
unknown route with a body. With prior knowledge (``curl --http2-prior-knowledge``) any local
user could reach it on a plain TCP listener, and Hypercorn has no setting to turn HTTP/2 off.

:class:`WholeRequestFirst` holds an HTTP/2 answer until the request's body has been received to
its end (or its client has gone): what the app did not read is read and dropped. The whole
answer waits, not only its end: a client that sees the status of an error stops sending but
keeps the stream open, and would never see the body of the answer. The client pays for every
byte it sends; the server reads a body it refused at the rate it comes, as it would have to
anyway to keep the connection's flow control open.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope


class WholeRequestFirst:
    """ASGI middleware: an HTTP/2 answer begins once the whole request is in."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope.get("http_version") != "2":
            await self.app(scope, receive, send)
            return
        request = _RequestBody(receive)

        async def send_after_request(message: Any) -> None:
            if message["type"] == "http.response.start":
                await request.read_to_end()
            await send(message)

        await self.app(scope, request.receive, send_after_request)


class _RequestBody:
    """The request's events as the app receives them, noting when the body is whole."""

    def __init__(self, receive: ASGIReceiveCallable) -> None:
        self._receive = receive
        self.whole = False
        #: Tasks waiting in receive() now (Quart-Trio keeps one reading the whole time).
        self._readers = 0
        self._reader_left: trio.Event | None = None

    async def receive(self) -> Any:
        self._readers += 1
        try:
            event: Any = await self._receive()
        finally:
            self._readers -= 1
            if self._reader_left is not None:
                self._reader_left.set()
        if event["type"] == "http.disconnect" or not event.get("more_body", False):
            self.whole = True
        return event

    async def read_to_end(self) -> None:
        while not self.whole:
            if self._readers:
                # The app's own reader takes the next event: wait until it has.
                self._reader_left = trio.Event()
                await self._reader_left.wait()
            else:
                await self.receive()
