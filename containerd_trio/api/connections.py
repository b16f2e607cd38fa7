"""One client's connection failing in the HTTP server ends that connection, not the server.

Hypercorn serves each connection in a task of ``trio.serve_listeners``, whose handler lets any
exception through: one raised inside Hypercorn's own protocol code for one connection ends
every connection and the whole server process. Hypercorn 0.18 has such paths that a client can
walk at will: bytes sent right after a WebSocket handshake the app refuses (Hypercorn answers
400, then the app's answer trips h11's state machine), an HTTP/2 DATA frame for a stream it
has already answered (see :mod:`.http2`). Any local user can send those to a loopback
listener, even one whose every request is refused.

:func:`contain_connection_failures` makes Hypercorn serve each connection through
:class:`_ContainedConnection`, whose failure is logged and closes that connection only: its
socket is closed by Hypercorn on the way out, as after any connection.
"""

from __future__ import annotations

import logging

import hypercorn.trio.run
from hypercorn.trio.tcp_server import TCPServer

log = logging.getLogger("containerd_trio.api")


class _ContainedConnection(TCPServer):
    """Hypercorn's handler of one connection; an error in it ends that connection only."""

    async def run(self) -> None:
        try:
            await super().run()
        except* Exception as failure:  # a cancel (a shutdown) goes on up
            log.warning(
                "a connection failed inside the HTTP server and was closed: %r",
                failure.exceptions[0],
            )


def contain_connection_failures() -> None:
    """Serve every connection of ``hypercorn.trio.serve`` from now on as
    :class:`_ContainedConnection` (it names the class it serves with in its module)."""
    hypercorn.trio.run.TCPServer = _ContainedConnection  # type: ignore[attr-defined]
