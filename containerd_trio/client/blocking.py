"""The blocking transport: plain sockets, for the CLI and :class:`~.http.Client`.

One keep-alive connection is kept between requests (a client of this kind sends one request at
a time); a stream gets a connection of its own, closed when the caller stops reading.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator

from .errors import ClientError
from .protocol import (
    RECEIVE_SIZE,
    Answer,
    Broken,
    Endpoint,
    Http11,
    OnRetry,
    Request,
    Retry,
    Tls,
    connect_failed,
    connection_lost,
)

#: An idle connection older than this may be closing on the daemon's side (Hypercorn's
#: keep-alive timeout is 5 s): a new one is opened instead.
MAX_IDLE = 2.0


class _Connection:
    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        self.sock = sock
        self.http = Http11(endpoint)
        self.idle_since = 0.0

    def receive(self) -> None:
        self.http.receive(self.sock.recv(RECEIVE_SIZE))

    def closed_by_peer(self) -> bool:
        """The daemon closed this idle connection (or sent something it should not have)."""
        self.sock.settimeout(0)  # with a timeout, Python would wait for something to read
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False  # nothing to read: still open
        except ValueError:
            return False  # TLS takes no flags (and may have tickets to read): MAX_IDLE decides
        except OSError:
            pass
        return True


class BlockingTransport:
    """Requests to the daemon at ``endpoint`` over blocking sockets.

    ``timeout`` bounds each request (connect, send and the whole answer); ``retry_for`` is how
    long a request is tried again (see :class:`~.protocol.Retry`), ``on_retry`` told of each.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float,
        connect_timeout: float,
        retry_for: float,
        on_retry: OnRetry | None = None,
        tls: Tls,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry_for = retry_for
        self.on_retry = on_retry
        self._tls = tls
        self._idle: _Connection | None = None

    def twin(self) -> BlockingTransport:
        """A transport to the same daemon, as this one was made, with no connection yet: for
        requests sent from another thread, as this one's idle connection is for one at a time."""
        return BlockingTransport(
            self.endpoint,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            retry_for=self.retry_for,
            on_retry=self.on_retry,
            tls=self._tls,
        )

    def close(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.sock.close()

    def call(self, request: Request, *, timeout: float | None = None, once: bool = False) -> Answer:
        """Send ``request`` (again, while :class:`Retry` allows) and return its answer.
        ``once``: never again, for a caller that decides what to ask again itself (a 503 is
        raised as an ApiError, a broken connection as DaemonUnreachable)."""
        retry = Retry(request, self.retry_for, self.on_retry)
        if once:
            return retry.check(self._attempt(request, timeout or self.timeout))
        while True:
            try:
                return retry.check(self._attempt(request, timeout or self.timeout))
            except ClientError as failure:
                time.sleep(retry.pause(failure))

    def _attempt(self, request: Request, timeout: float) -> Answer:
        connection = self._reusable() or self._connect()
        connection.sock.settimeout(timeout)
        try:
            connection.sock.sendall(connection.http.send(request))
            while not connection.http.complete:
                connection.receive()
        except (OSError, Broken) as exc:
            connection.sock.close()
            raise connection_lost(self.endpoint.address, exc) from None
        except BaseException:  # not HTTP, or interrupted: the connection is no use any more
            connection.sock.close()
            raise
        answer = connection.http.answer()
        if connection.http.reuse():
            connection.idle_since = time.monotonic()
            self.close()
            self._idle = connection
        else:
            connection.sock.close()
        return answer

    def _reusable(self) -> _Connection | None:
        connection, self._idle = self._idle, None
        if connection is None:
            return None
        if time.monotonic() - connection.idle_since < MAX_IDLE and not connection.closed_by_peer():
            return connection
        connection.sock.close()
        return None

    def open_socket(self) -> socket.socket:
        """A connection of its own to the daemon (a WebSocket's); DaemonUnreachable if none."""
        return self._connect().sock

    def _connect(self) -> _Connection:
        endpoint = self.endpoint
        sock: socket.socket | None = None
        try:
            if endpoint.unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout)
                sock.connect(endpoint.unix_path)
            else:
                address = (str(endpoint.host), int(endpoint.port or 0))
                sock = socket.create_connection(address, timeout=self.connect_timeout)
                # Each request goes out in one send: no point waiting to fill a segment.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if endpoint.tls:
                    sock = self._tls.context().wrap_socket(sock, server_hostname=endpoint.host)
        except BaseException as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, OSError):  # ssl.SSLError is one too
                raise connect_failed(endpoint.address, exc) from None
            raise  # TlsFilesUnusable (our own files), or an interrupt
        return _Connection(sock, endpoint)

    @contextlib.contextmanager
    def stream(self, request: Request) -> Iterator[Iterator[bytes]]:
        """The lines of an ndjson answer, as they come, on a connection of its own; no read
        deadline once the answer has begun (a stream may stay quiet for as long as it likes:
        the daemon ends it, an event stream at its ``until``)."""
        connection = self._answered(request)
        try:
            yield self._taken(connection, connection.http.lines)
        finally:
            connection.sock.close()

    @contextlib.contextmanager
    def download(self, request: Request) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
        """The headers and the body of a 2xx answer, the body in pieces as they come, on a
        connection of its own (tried again as :meth:`stream` is); any other status raised as
        an ApiError."""
        connection = self._answered(request)
        try:
            yield connection.http.headers, self._pieces(connection)
        finally:
            connection.sock.close()

    def _answered(self, request: Request) -> _Connection:
        """:meth:`_open_stream`, tried again while :class:`Retry` allows."""
        retry = Retry(request, self.retry_for, self.on_retry)
        while True:
            try:
                return self._open_stream(request)
            except ClientError as failure:
                time.sleep(retry.pause(failure))

    def _pieces(self, connection: _Connection) -> Iterator[bytes]:
        http = connection.http
        return self._taken(connection, lambda: [data] if (data := http.take_body()) else [])

    def upload(
        self, request: Request, media: str, write_body: Callable[[Callable[[bytes], None]], None]
    ) -> Answer:
        """Send ``request`` with a body that ``write_body`` writes, piece by piece, through the
        function it is given (chunked: its length need not be known), on a connection of its
        own; its answer. Never tried again: a body cannot be sent twice. A daemon that refuses
        the body midway answers and closes: that answer is what comes back."""
        connection = self._connect()
        sock, http = connection.sock, connection.http
        sock.settimeout(self.timeout)
        refused: list[OSError] = []

        def send(data: bytes) -> None:
            if not refused:
                try:
                    sock.sendall(http.send_piece(data))
                except OSError as exc:
                    refused.append(exc)  # the answer, read below, says why

        try:
            try:
                sock.sendall(http.send_upload_head(request, media))
                write_body(send)
                if not refused:
                    sock.sendall(http.send_end())
            except OSError as exc:
                refused.append(exc)
            while not http.complete:
                connection.receive()
        except (OSError, Broken) as exc:
            raise connection_lost(self.endpoint.address, refused[0] if refused else exc) from None
        finally:
            sock.close()
        return http.answer()

    def _open_stream(self, request: Request) -> _Connection:
        """A connection on which ``request`` was answered 2xx (its head read); raises an
        ApiError for any other status."""
        connection = self._connect()
        try:
            connection.sock.settimeout(self.timeout)
            connection.sock.sendall(connection.http.send(request))
            while connection.http.status is None:
                connection.receive()
            if connection.http.status // 100 != 2:
                while not connection.http.complete:
                    connection.receive()
                raise connection.http.answer().error()  # a 503 is retried, as in call()
        except (OSError, Broken) as exc:
            connection.sock.close()
            raise connection_lost(self.endpoint.address, exc) from None
        except BaseException:
            connection.sock.close()
            raise
        connection.sock.settimeout(None)
        return connection

    def _taken(self, connection: _Connection, take: Callable[[], list[bytes]]) -> Iterator[bytes]:
        """What ``take`` takes of the answer as it comes (lines, or pieces), to its end."""
        while True:
            yield from take()
            if connection.http.complete:
                return
            try:
                connection.receive()
            except (OSError, Broken) as exc:
                raise connection_lost(self.endpoint.address, exc) from None
