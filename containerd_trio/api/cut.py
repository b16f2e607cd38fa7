"""A streamed answer refused after its 200: its body cut, said in one line of the log.

A streamed answer (a copy out's tar, a checkpoint's archive) reads what it sends once its
status and headers went: a copy out looks at the container twice, for its stat (its
``X-Docker-Container-Path-Stat`` header) and, past its 200, for its stream. What is refused
between the two (the container deleted, the path removed) can no longer be said as a status,
nor in the body: a tar stream has no place for words. HTTP/1.1 says it the one way it can: the
connection closed before the body's end (no last chunk), which a client takes for a cut
transfer (curl: "transfer closed with outstanding read data remaining", exit 18; httpx: an
incomplete chunked read; ``ctr-trio cp``: the connection lost), never for a whole answer.

Quart let such a refusal out of the app, and Hypercorn, which then closes the connection so,
logged it as a fault of the app: an "Error in ASGI Framework" traceback. Here the refusal (a
:class:`DaemonError`, the words a status would have carried) is a line of the log naming the
request, and the app ends without the body's end, which has Hypercorn close the connection as
it did. Anything else raised by a body is still a fault of the daemon's, with its traceback.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from hypercorn.typing import ASGISendCallable
from quart.typing import ResponseTypes

from ..errors import DaemonError, shortened
from .upload import UploadConnection

log = logging.getLogger(__name__)


class HttpConnection(UploadConnection):
    """The app's HTTP connection: streamed uploads (:class:`UploadConnection`), and answers
    whose body a refusal cuts."""

    async def _send_response(self, send: ASGISendCallable, response: ResponseTypes) -> None:
        try:
            await super()._send_response(send, response)
        except DaemonError as exc:
            # Raised by the body's iteration: the status went before it (Quart sends it first).
            # Past what a status says of the client's request (a 4xx): a warning; a 5xx, as
            # the app logs one it answers (wire.daemon_error_reply).
            level = logging.ERROR if exc.status >= 500 and exc.status != 503 else logging.WARNING
            log.log(
                level, "%s %s: its answer cut after its %d: %s",
                self.scope["method"], _target(self.scope["path"], self.scope["query_string"]),
                response.status_code, exc.message,
            )  # fmt: skip


def _target(path: str, query: bytes) -> str:
    """The request's path and query as a reader of the log reads them (``?path=/etc/passwd``
    rather than its percent-encoding), each cut short if long, as messages quote a client's
    text."""
    if not query:
        return shortened(path)
    return f"{shortened(path)}?{shortened(unquote(query.decode('latin-1')))}"
