"""A WebSocket to the daemon on a blocking socket: the client end of attach.

The handshake and framing are wsproto's (a dependency of Hypercorn, pure Python, no I/O of
its own); the socket is the one :class:`~.blocking.BlockingTransport` connects (unix, TCP or
TLS), so an attach reaches the daemon wherever a request does. A refused handshake (the
daemon answers 404, 400, 503 with a JSON error) is raised as the :class:`~.errors.ApiError` a
request would get.
"""

from __future__ import annotations

import contextlib
import socket
import time

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.utilities import LocalProtocolError

from .blocking import BlockingTransport
from .errors import ClientError
from .protocol import RECEIVE_SIZE, Answer, Retry, connection_lost
from .protocol import Request as HttpRequest


class Closed(Exception):
    """The WebSocket closed: ``code`` is the daemon's close code (None if the connection just
    broke), ``reason`` its words."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(reason or f"closed ({code})")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, sock: socket.socket, ws: WSConnection, subprotocol: str | None) -> None:
        self.sock = sock
        self.subprotocol = subprotocol
        self._ws = ws
        self._partial = bytearray()
        self._closed: Closed | None = None
        #: What came in the same read as the handshake's answer (all of a process that had
        #: already ended: its output, status and close) waits in wsproto, unparsed, until
        #: asked for: the first receive takes it before reading the socket.
        self._unread = True

    @classmethod
    def connect(
        cls, transport: BlockingTransport, target: str, subprotocols: tuple[str, ...]
    ) -> WebSocket:
        """Open the WebSocket at ``target`` (path and query); tried again as a GET would be
        while the daemon restarts (refused, 503)."""
        retry = Retry(HttpRequest("GET", target), transport.retry_for, transport.on_retry)
        while True:
            try:
                return cls._attempt(transport, target, subprotocols)
            except ClientError as failure:
                time.sleep(retry.pause(failure))

    @classmethod
    def _attempt(
        cls, transport: BlockingTransport, target: str, subprotocols: tuple[str, ...]
    ) -> WebSocket:
        sock = transport.open_socket()
        ws = WSConnection(ConnectionType.CLIENT)
        try:
            sock.settimeout(transport.timeout)
            host = transport.endpoint.authority
            sock.sendall(
                ws.send(Request(host=host, target=target, subprotocols=list(subprotocols)))
            )
            status, reason, body = 0, "", bytearray()
            while True:
                data = sock.recv(RECEIVE_SIZE)
                if not data:
                    raise ConnectionResetError("the daemon closed the connection")
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        sock.settimeout(None)
                        return cls(sock, ws, event.subprotocol)
                    if isinstance(event, RejectConnection):
                        status, reason = event.status_code, f"HTTP {event.status_code}"
                        if not event.has_body:
                            raise Answer(status, reason, b"").error()
                    elif isinstance(event, RejectData):
                        body += event.data
                        if event.body_finished:
                            raise Answer(status, reason, bytes(body)).error()
        except (OSError, LocalProtocolError) as exc:
            sock.close()
            raise connection_lost(transport.endpoint.address, exc) from None
        except BaseException:
            sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> bool:
        """Send one binary message; False if it could not go (the WebSocket is closed)."""
        if self._closed is not None:
            return False
        try:
            self.sock.sendall(self._ws.send(BytesMessage(data=data)))
        except (OSError, LocalProtocolError):
            self._closed = Closed(None, "the connection broke")
            return False
        return True

    def pending(self) -> bool:
        """Data already read off the socket (TLS keeps some): read it before waiting."""
        pending = getattr(self.sock, "pending", None)
        return self._unread or bool(pending and pending())

    def receive(self) -> list[bytes]:
        """The messages one read of the socket completes (maybe none); raises :class:`Closed`
        once the WebSocket closed."""
        if self._closed is not None:
            raise self._closed
        if self._unread:
            self._unread = False
        else:
            try:
                data = self.sock.recv(RECEIVE_SIZE)
            except OSError:
                data = b""
            if not data:
                self._closed = Closed(None, "the connection broke")
                raise self._closed
            self._ws.receive_data(data)
        messages = []
        for event in self._ws.events():
            if isinstance(event, BytesMessage):
                self._partial += event.data
                if event.message_finished:
                    messages.append(bytes(self._partial))
                    self._partial.clear()
            elif isinstance(event, Ping):
                self._send_event(event.response())
            elif isinstance(event, CloseConnection):
                self._send_event(event.response())
                self._closed = Closed(event.code, event.reason or "")
                break
        if not messages and self._closed is not None:
            raise self._closed
        return messages

    def _send_event(self, event: Pong | CloseConnection) -> None:
        with contextlib.suppress(OSError, LocalProtocolError):
            self.sock.sendall(self._ws.send(event))

    def close(self, code: int = 1000) -> None:
        """Close (a detach): say so to the daemon, then close the socket."""
        if self._closed is None:
            self._send_event(CloseConnection(code=code))
            self._closed = Closed(code, "closed by us")
        self.sock.close()
