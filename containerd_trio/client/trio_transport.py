"""The Trio transport: the same requests as :mod:`.blocking`, for many at once (the benchmark).

Keep-alive connections are pooled: a request takes an idle one or opens another, and gives it
back once answered, so N concurrent requests use N connections and reuse them. The client's
cost per request matters here: it shares the machine's CPUs with the daemon it measures.
No deadlines inside: callers set them with cancel scopes, as Trio code does.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator

import trio

from . import protocol
from .errors import ClientError
from .protocol import RECEIVE_SIZE, Answer, Request, Retry

#: An idle connection older than this may be closing on the daemon's side (Hypercorn's
#: keep-alive timeout is 5 s): a new one is opened instead.
MAX_IDLE = 2.0
_FAILURES = (OSError, protocol.Broken, trio.BrokenResourceError, trio.ClosedResourceError)


class _Connection:
    def __init__(self, stream: trio.abc.Stream, endpoint: protocol.Endpoint) -> None:
        self.stream = stream
        self.http = protocol.Http11(endpoint)
        self.idle_since = 0.0

    async def exchange(self, request: Request, *, head_only: bool = False) -> None:
        """Send ``request`` and read its answer (up to its head only, with ``head_only``)."""
        http = self.http
        await self.stream.send_all(http.send(request))
        while not http.complete and (http.status is None or not head_only):
            await self.receive()

    async def receive(self) -> None:
        # bytes() costs nothing for the bytes a socket gives; an SSLStream gives a bytearray.
        self.http.receive(bytes(await self.stream.receive_some(RECEIVE_SIZE)))

    def closed_by_peer(self) -> bool:
        """The daemon closed this idle connection (its server died, or handed over to a new
        one), or sent something it should not have: an idle HTTP/1.1 connection has nothing
        to read. (Sent on it, a request that is not a GET could not be sent again: it was
        lost, as a migration's abort on a target whose server had just been killed.)"""
        if not isinstance(self.stream, trio.SocketStream):
            return False  # TLS may have tickets to read: MAX_IDLE decides, as in .blocking
        poller = select.poll()
        poller.register(self.stream.socket.fileno(), select.POLLIN)
        return bool(poller.poll(0))  # readable: data, its end, or an error (a reset)


class TrioTransport:
    """Requests to the daemon at ``address``, on a pool of keep-alive connections."""

    def __init__(
        self,
        address: str,
        *,
        retry_for: float = protocol.RETRY_FOR,
        on_retry: protocol.OnRetry | None = None,
        tls: protocol.Tls | None = None,
    ) -> None:
        self.endpoint = protocol.Endpoint.parse(address)
        self.retry_for = retry_for
        self.on_retry = on_retry
        self._tls = tls or protocol.Tls()
        self._idle: list[_Connection] = []

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.stream.aclose()

    async def call(self, request: Request) -> Answer:
        """Send ``request`` (again, while :class:`~.protocol.Retry` allows); its answer."""
        retry = Retry(request, self.retry_for, self.on_retry)
        while True:
            try:
                return retry.check(await self._attempt(request))
            except ClientError as failure:
                await trio.sleep(retry.pause(failure))

    async def _attempt(self, request: Request) -> Answer:
        connection = self._take() or await self._connect()
        try:
            await connection.exchange(request)
        except _FAILURES as exc:
            await trio.aclose_forcefully(connection.stream)
            raise protocol.connection_lost(self.endpoint.address, exc) from None
        except BaseException:  # not HTTP, or cancelled midway: the connection is no use
            await trio.aclose_forcefully(connection.stream)
            raise
        answer = connection.http.answer()
        if connection.http.reuse():
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            await trio.aclose_forcefully(connection.stream)
        return answer

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since < MAX_IDLE and (
                not connection.closed_by_peer()
            ):
                return connection
            trio.lowlevel.spawn_system_task(trio.aclose_forcefully, connection.stream)
        return None

    async def _connect(self) -> _Connection:
        endpoint = self.endpoint
        try:
            if endpoint.unix_path is not None:
                stream: trio.abc.Stream = await trio.open_unix_socket(endpoint.unix_path)
            else:
                stream = await self._open_tcp(str(endpoint.host), int(endpoint.port or 0))
        except OSError as exc:
            raise protocol.connect_failed(endpoint.address, exc) from None
        return _Connection(stream, endpoint)

    async def _open_tcp(self, host: str, port: int) -> trio.abc.Stream:
        # Not trio.open_tcp_stream: its happy eyeballs wrap a refusal in a group, and the
        # daemon is on one address anyway.
        family, kind, proto, _, address = (
            await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )[0]
        sock = trio.socket.socket(family, kind, proto)
        try:
            await sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        stream: trio.abc.Stream = trio.SocketStream(sock)
        if self.endpoint.tls:
            try:
                context = self._tls.context()
            except BaseException:  # TlsFilesUnusable: our own files, not the daemon's
                sock.close()
                raise
            tls_stream = trio.SSLStream(stream, context, server_hostname=host)
            try:
                await tls_stream.do_handshake()
            except trio.BrokenResourceError as exc:
                await trio.aclose_forcefully(tls_stream)
                raise OSError(f"TLS handshake failed: {exc.__cause__ or exc}") from None
            stream = tls_stream
        return stream

    async def upload(self, request: Request, media: str, pieces: AsyncIterator[bytes]) -> Answer:
        """Send ``request`` with ``pieces`` as its body, streamed (chunked) as they come, on a
        connection of its own; its answer. Never retried: a body cannot be sent twice.

        The answer is read while the body goes out: a daemon that refuses the upload midway
        answers and closes the connection, and that answer is what the caller gets.
        """
        connection = await self._connect()
        http = connection.http
        stream = connection.stream
        sent: list[BaseException] = []

        async def send_body() -> None:
            try:
                await stream.send_all(http.send_upload_head(request, media))
                async for piece in pieces:
                    await stream.send_all(http.send_piece(piece))
                await stream.send_all(http.send_end())
            except _FAILURES as exc:
                sent.append(exc)  # the answer, if one comes, says why

        lost: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_body)
                try:
                    while not http.complete:
                        await connection.receive()
                except _FAILURES as exc:
                    # Raised once out of the nursery: from its body it would come wrapped in
                    # an ExceptionGroup, which no caller's ``except ClientError`` takes (a
                    # migration's failed step said "Exceptions from Trio nursery").
                    lost = sent[0] if sent else exc
                nursery.cancel_scope.cancel()
        finally:
            await trio.aclose_forcefully(stream)
        if lost is not None:
            raise protocol.connection_lost(self.endpoint.address, lost)
        return http.answer()

    @contextlib.asynccontextmanager
    async def lines(self, request: Request) -> AsyncIterator[AsyncIterator[bytes]]:
        """The lines of an ndjson answer as they come, on a connection of its own, closed when
        the block ends. A status other than 2xx is raised as an ApiError."""
        retry = Retry(request, self.retry_for, self.on_retry)
        while True:
            try:
                connection = await self._open_stream(request)
                break
            except ClientError as failure:
                await trio.sleep(retry.pause(failure))
        try:
            async with contextlib.aclosing(self._read_lines(connection)) as lines:
                yield lines
        finally:
            await trio.aclose_forcefully(connection.stream)

    async def _open_stream(self, request: Request) -> _Connection:
        connection = await self._connect()
        try:
            await connection.exchange(request, head_only=True)
            if not 200 <= (connection.http.status or 0) < 300:
                while not connection.http.complete:
                    await connection.receive()
                raise connection.http.answer().error()  # a 503 is retried, as in call()
        except _FAILURES as exc:
            await trio.aclose_forcefully(connection.stream)
            raise protocol.connection_lost(self.endpoint.address, exc) from None
        except BaseException:
            await trio.aclose_forcefully(connection.stream)
            raise
        return connection

    async def _read_lines(self, connection: _Connection) -> AsyncGenerator[bytes, None]:
        http = connection.http
        while True:
            for line in http.lines():
                yield line
            if http.complete:
                return
            try:
                await connection.receive()
            except _FAILURES as exc:
                raise protocol.connection_lost(self.endpoint.address, exc) from None
