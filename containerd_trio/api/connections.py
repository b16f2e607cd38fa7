"""How Hypercorn serves this daemon's connections: Hypercorn 0.18's edges, mended in place.

The API is HTTP/1.1, as Docker's and containerd's REST APIs are, and as curl speaks it by
default. Hypercorn 0.18 would also take HTTP/2 on any listener, with prior knowledge (``curl
--http2-prior-knowledge``), an ``Upgrade: h2c`` header or TLS's ALPN, with no setting to turn
it off; and its HTTP/2 code has paths a client can walk at will, found on 2026-11-30: a DATA
frame for a stream already answered raised and ended the server process, and an answer that
can never be sent (a connection closed, or a flow-control window of zero) holds its socket
until the server runs out of file descriptors and stops answering for good. Any local user can
reach a loopback listener, even one whose every request is refused. So here:

- a connection that opens with HTTP/2's preface is closed at once (:class:`_Http11Only`);
- a request's head (its line and headers) past 16 KiB is answered 431 and its connection
  closed however it came (:meth:`_Http11._check_protocol`): h11 bounded only a head that
  came in parts, and took one that came in a single read up to 64 KiB;
- ``Upgrade: h2c`` is ignored, and the request answered in HTTP/1.1, as RFC 9110 lets a server
  do (:class:`_Http11`); TLS offers only ``http/1.1`` (``server.hypercorn_config``); a request
  h11 cannot read is answered ``{"error": ...}``, as the app answers;
- Hypercorn serves each connection in a task of ``trio.serve_listeners``, whose handler lets
  any exception through to end every connection and the process: an error inside Hypercorn's
  handling of one connection is logged and closes that connection only
  (:class:`_ContainedConnection`). Bytes sent right after a WebSocket handshake the app refuses
  take such a path (Hypercorn answers 400, then trips over the app's own answer);
- at most half the server's fds go to connections; more are closed unserved, but for those of
  whoever may not use the API (a TLS connection before its handshake, a uid the listener
  refuses): the oldest of them is closed to make room, so they cannot keep anyone out;
- a client that goes away in the middle of its answer is logged at debug, not with a
  traceback (:class:`_ClientGoneIsNoError`);
- a client that hangs up while Hypercorn has stopped reading its connection (a request
  pipelined behind a stream's answer, or WebSocket messages an attach does not take while the
  process's stdin is full) is noticed all the same, and its request ended
  (:meth:`_ContainedConnection._cancel_if_hung_up`): Hypercorn learns of a leaving only by
  reading, and such a connection, its fd and its request's task stayed for good;
- a shutdown that its connections do not let end in time closes their sockets
  (:func:`close_every_connection`);
- the app's answers end outside the reach of its request task's cancel
  (:func:`finish_shielded`), so that Hypercorn's keep-alive timer lives;
- a request's task can tell whether its connection's socket is full, the client (or its link)
  not taking what was sent (:func:`sending_is_backed_up`): an attach whose output outran it
  says by it whose side was slow, where Hypercorn gives the app no way to the socket;
- a connection's keep-alive timer is one task for the connection's life, whose deadline each
  request moves (:class:`_ContainedConnection`): Hypercorn stopped it at each request and
  started a new task at each answer's end, two locks and a task each time; and a write takes
  the connection's send lock without a turn of the scheduler when it is free (:class:`_SendLock`);
  the request's body and end reach the app without a turn each, and a request that waits
  is cancelled by its client's leaving without a task that watches for it (:class:`AppQueue`);
  and that leaving never waits on a full queue: an upload refused while its client still sent
  put it, at the answer's end, into a queue nobody would read again, and its connection and
  the shutdown waited for good;
- an answer of known length goes out in one write, its head with its body (:class:`_Http11`):
  Hypercorn wrote them apart, and the client woke for each;
- a WebSocket message past the limit is not held (:class:`_BoundedMessage`), and no message
  comes compressed (:class:`_NoCompression`);
- a client that sent ``Expect: 100-continue`` gets its ``100 Continue`` when the app first asks
  for the body (:class:`_Continue`), not as soon as the head is read: a request refused
  without its body (a 403, a 413 by its length, a 400 for its path) gets its answer and no
  invitation to send megabytes first;
- a request framed by both ``Content-Length`` and ``Transfer-Encoding`` is answered
  ``Connection: close`` and its connection closed (:func:`_framed_twice`): what followed its
  chunks within its length was read as a next request.
- a TLS handshake the server refuses (mutual TLS: a client without a certificate, or with
  one the CA did not sign) sends the client OpenSSL's alert before the connection closes
  (:func:`_send_the_alert`): trio's ``SSLStream`` left it unsent, and the client saw the
  connection end with no reason (curl: "Empty reply from server").
- plain HTTP sent to the TLS port is answered as Go's net/http (dockerd's server) answers it,
  ``HTTP/1.0 400 Bad Request`` and ``Client sent an HTTP request to an HTTPS server.``, then
  closed (:func:`_answer_plain_http`): it was closed in silence. The first bytes are peeked
  (``MSG_PEEK``: the handshake reads them as before, no round trip added); a TLS client's
  first byte, 0x16, is enough to go on.

:func:`patch_hypercorn` puts these classes where Hypercorn looks its own up: each is a few
lines over Hypercorn's own, for one edge a client could reach.
"""

from __future__ import annotations

import contextlib
import http
import logging
import math
import resource
import select
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

import h11
import hypercorn.protocol
import hypercorn.protocol.h11
import hypercorn.protocol.ws_stream
import hypercorn.trio.run
import hypercorn.trio.task_group
import hypercorn.trio.tcp_server
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.events import Body, EndBody, Response
from hypercorn.protocol.h11 import (
    H2CProtocolRequiredError,
    H2ProtocolAssumedError,
    H11Protocol,
    H11WSConnection,
)
from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer, WSStream
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.typing import ASGIReceiveEvent, ASGISendCallable, H11SendableEvent, Scope
from wsproto.events import Message
from wsproto.extensions import Extension

from ..convert import dump_json
from ..errors import HeadersTooLarge
from ..logfmt import ThrottledWarning

log = logging.getLogger("containerd_trio.api")


#: How often a busy connection looks whether its client hung up while its reading waits
#: (:meth:`_ContainedConnection._cancel_if_hung_up`).
HANG_UP_CHECK_SECONDS = 2.0

#: Whether the API serves the owner of a connection from ``client`` to ``server`` (the
#: listener's uid rule, :meth:`.access.Admission.admits`).
Admits = Callable[[tuple[str, int], tuple[str, int]], bool]
#: The attribute of the Hypercorn config that holds the listener's :data:`Admits`, if it has a
#: uid rule (``server.hypercorn_config``).
ADMITS = "connection_admits"

#: Each status code's reason phrase (``200 OK``), which Hypercorn leaves empty (h11 writes
#: ``HTTP/1.1 200 ``): curl -i and a client's logs show the phrase, as dockerd's answers have it.
_REASONS = {status.value: status.phrase.encode("ascii") for status in http.HTTPStatus}

#: What a client that goes away in the middle of its answer leaves in Hypercorn (its close
#: races the answer's send): the client's doing, not a failure of the server's.
_CLIENT_GONE = (trio.BrokenResourceError, trio.BusyResourceError, trio.ClosedResourceError)


#: How long a refused client has to take its TLS alert: a client that does not read must not
#: hold its connection.
ALERT_SECONDS = 1.0


async def _send_the_alert(stream: trio.SSLStream[trio.abc.Stream]) -> None:
    """Send what OpenSSL wrote for the client as it refused the handshake: its alert
    (``certificate required``, ``unknown ca``), which tells the client why. trio's
    ``SSLStream`` raises as OpenSSL refuses, with the alert still in its outgoing buffer, and
    never sends it (python-trio/trio#3413); the buffer is its ``_outgoing``, looked up with
    care so that a trio without it only loses the alert again."""
    outgoing = getattr(stream, "_outgoing", None)
    if not isinstance(outgoing, ssl.MemoryBIO) or not outgoing.pending:
        return
    with trio.move_on_after(ALERT_SECONDS), contextlib.suppress(*_CLIENT_GONE):
        await stream.transport_stream.send_all(outgoing.read())


#: What Go's net/http (dockerd's server) answers plain HTTP sent to a TLS port, word for word.
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)
#: The first byte of a TLS handshake record (a ClientHello): every TLS client's first.
_TLS_HANDSHAKE = 0x16
#: How many first bytes tell an HTTP request line from a TLS record's header (Go reads the
#: record's 5-byte header, and compares it with the starts of request lines).
_HEAD = 5
#: The first five bytes of an HTTP request line, for each method (``GET /``, ``DELETE``...).
_HTTP_STARTS = tuple(
    f"{method} ".encode()[:_HEAD]
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
)
#: How much of a plain HTTP request is read (and dropped) after its answer, before the close:
#: a socket closed with unread bytes sends a reset, which may reach the client before it read
#: the answer.
_PLAIN_DRAIN_BYTES = 64 * 1024


async def _first_bytes(sock: Any) -> bytes:
    """The first bytes the client sent, left in the socket for the handshake (``MSG_PEEK``):
    no read more than the handshake's own, no round trip. A TLS client's first byte is enough;
    a client that sent fewer than five bytes which may start a request line is waited for
    until it sent five (or stopped sending): ``SO_RCVLOWAT`` makes the socket readable then."""
    data: bytes = await sock.recv(_HEAD, socket.MSG_PEEK)
    if len(data) >= _HEAD or not data or data[0] == _TLS_HANDSHAKE:
        return data
    if not any(start.startswith(data) for start in _HTTP_STARTS):
        return data
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, _HEAD)
    try:
        await trio.lowlevel.wait_readable(sock)
        more: bytes = await sock.recv(_HEAD, socket.MSG_PEEK)
        return more
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)


def _looks_like_http(data: bytes) -> bool:
    """Whether the first bytes are an HTTP request line's, not a TLS record's (Go's
    ``tlsRecordHeaderLooksLikeHTTP``, with every method)."""
    return len(data) >= _HEAD and data[:_HEAD].startswith(_HTTP_STARTS)


async def _answer_plain_http(transport: trio.SocketStream) -> None:
    """Go's answer to plain HTTP on a TLS port, in plain text; then the end of our sending,
    what the client sent read and dropped (a bounded amount, until it closes), and the close:
    the caller's. Logged at debug: a stray client, not a fault of the server."""
    log.debug("plain HTTP on the TLS port: answered 400, closed")
    await transport.send_all(PLAIN_HTTP_ANSWER)
    with contextlib.suppress(OSError):
        transport.socket.shutdown(socket.SHUT_WR)
    with trio.move_on_after(ALERT_SECONDS), contextlib.suppress(*_CLIENT_GONE):
        drained = 0
        while drained < _PLAIN_DRAIN_BYTES and (data := await transport.receive_some()):
            drained += len(data)


class _ContainedConnection(TCPServer):
    """Hypercorn's handler of one connection; an error in it ends that connection only."""

    #: The connections being served (see :func:`close_every_connection`).
    live: ClassVar[set[_ContainedConnection]] = set()
    #: The most served at once: half the server's fds (set by :func:`patch_hypercorn`). The
    #: rest are the containers' (pidfds, pipes, logs): connections held open by clients that
    #: may connect must not leave the server unable to start one, or to answer at all.
    limit: ClassVar[int] = 1 << 30

    #: Of those, the ones not known to be a client's the API serves, oldest first: a TLS
    #: connection until its handshake ends (mutual TLS admits by it), and on a listener that
    #: checks uids one whose owner the rule refuses (it is still answered 403). A connection
    #: that finds the limit reached closes the oldest of them and is served in its place
    #: (:meth:`_make_room`): whoever may not use the API cannot keep out whoever may.
    strangers: ClassVar[dict[_ContainedConnection, None]] = {}

    async def run(self) -> None:
        tls = isinstance(self.stream, trio.SSLStream)
        known = self._owner_admitted()
        if len(self.live) >= self.limit and not self._make_room():
            await self.stream.aclose()
            _unserved.warning(
                "connection(s) closed unserved: %d are open, the most the server takes",
                len(self.live),
            )
            return
        self.live.add(self)
        if tls or not known:
            self.strangers[self] = None
        try:
            if tls and not await self._handshake():
                return
            if known:
                self.strangers.pop(self, None)
            # For the requests' tasks, which Hypercorn starts from this one (each copies it).
            _CONNECTION_SOCKET.set(_socket_of(self.stream))
            await super().run()
        except* _CLIENT_GONE as gone:
            log.debug("a client went away in the middle of its answer: %r", gone.exceptions[0])
        except* Exception as failure:  # a cancel (a shutdown) goes on up
            log.warning(
                "a connection failed inside the HTTP server and was closed: %r",
                failure.exceptions[0],
            )
        finally:
            self.live.discard(self)
            self.strangers.pop(self, None)

    def _owner_admitted(self) -> bool:
        """Whether the listener's uid rule serves the connection's owner (True where the
        listener has none: a unix socket's permissions, mutual TLS, a non-loopback address)."""
        admits: Admits | None = getattr(self.config, ADMITS, None)
        if admits is None:
            return True
        sock = _socket_of(self.stream)
        try:
            client, server = sock.getpeername(), sock.getsockname()
        except OSError:
            return False  # gone already
        return admits((client[0], client[1]), (server[0], server[1]))

    async def _handshake(self) -> bool:
        """The TLS handshake, as Hypercorn does it first (its own finds it done); False, the
        connection closed, if it failed or took too long. Hypercorn left such a socket to the
        garbage collector, an fd the limit no longer counted."""
        stream: Any = self.stream
        plain = False
        try:
            with trio.fail_after(self.config.ssl_handshake_timeout):
                # Plain HTTP is answered as Go answers it (dockerd), not closed in silence.
                plain = _looks_like_http(await _first_bytes(stream.transport_stream.socket))
                if plain:
                    await _answer_plain_http(stream.transport_stream)
                else:
                    await stream.do_handshake()
        except (
            trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError,
        ) as exc:  # fmt: skip
            with trio.CancelScope(shield=True):
                if isinstance(exc, trio.BrokenResourceError) and not plain:
                    await _send_the_alert(stream)
                await stream.aclose()  # https_compatible: the socket, no close_notify
            return False
        if plain:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            return False
        return True

    @classmethod
    def _make_room(cls) -> bool:
        """Close the oldest stranger's socket (its task ends as when its client hangs up),
        and say whether there was one."""
        oldest = next(iter(cls.strangers), None)
        if oldest is None:
            return False
        del cls.strangers[oldest]
        cls.live.discard(oldest)
        _socket_of(oldest.stream).close()
        log.debug("closed a connection not known to be a client's, to serve a new one")
        return True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.send_lock = _SendLock()  # type: ignore[assignment]

    # Hypercorn's keep-alive timer, the same rules at a deadline's cost per request: it closes
    # a connection idle (between answers) for ``keep_alive_timeout``, and an idle one at once
    # when the server stops; a busy one is closed by Hypercorn at its answer's end then.
    # Hypercorn cancelled its timer task at each request and started a new one at each
    # answer's end (``TrioSingleTask.restart``: a lock, a cancel, ``Nursery.start``); here
    # ``run`` starts this task once (through that same ``restart``) and requests move its
    # deadline.

    #: Between answers (a new connection is, until its first request).
    _idle = True
    #: The running timer's scope; None before it starts and once it ended.
    _idle_scope: trio.CancelScope | None = None
    #: Closed, or nothing more to read: the timer ends without closing anything.
    _ended = False

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):
            self._idle = event.idle
            if self._idle_scope is not None:
                self._idle_scope.deadline = self._idle_deadline()
            return
        if isinstance(event, Closed):
            self._end_timer()
        await super().protocol_send(event)

    #: The connection's reading (and the protocol's taking of what was read): cancelled when
    #: the client hung up while the taking waited (:meth:`_cancel_if_hung_up`).
    _reading: trio.CancelScope | None = None

    async def _read_data(self) -> None:
        try:
            await self._read_until_closed()
        finally:
            # Nothing more is read from this connection (its client closed it, or a read
            # failed): the timer has nothing left to time. Hypercorn's own had ended at the
            # request (a busy connection then ends with its answer), or waited out its time
            # for nothing (an idle one).
            self._end_timer()

    async def _read_until_closed(self) -> None:
        """Hypercorn's reading loop, which ends (as at the end of what the client sent) if
        the client hangs up while the hand-over of the bytes read to the protocol waits.

        That hand-over waits as long as the request does not take what came: h11 holds a
        request pipelined behind one being answered (a stream's answer never ends), and a
        WebSocket's messages wait in the app's queue while the app does not receive (an
        attach whose process does not read its stdin). Nothing is read meanwhile, so the
        client's leaving would never be seen. One scope for the whole loop, not one for each
        hand-over: a scope's enter and exit are a hundredth of a start's server time."""
        with trio.CancelScope() as self._reading:
            while True:
                try:
                    with trio.fail_after(self.config.read_timeout or math.inf):
                        data = await self.stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                await self.protocol.handle(RawData(bytes(data)))
                if data == b"":
                    break
        self._reading = None
        await self.protocol.handle(Closed())

    def _cancel_if_hung_up(self) -> None:
        """End the wait of the bytes read for the protocol if the client hung up meanwhile:
        the connection is then closed as when a read finds its end, and its request hears of
        the leaving (its answer could not reach the client anyway)."""
        if self._reading is None:
            return
        stream: Any = self.stream
        poll = select.poll()
        # The peer's FIN (RDHUP), however much it sent before is still unread; a reset (HUP,
        # ERR). The socket is open here: the connection has not ended (_idle_timeout).
        poll.register(getattr(stream, "transport_stream", stream).socket, select.POLLRDHUP)
        if poll.poll(0):
            log.debug("a client hung up while its connection's reading waited")
            self._reading.cancel()

    def _end_timer(self) -> None:
        """The connection is done: the timer ends, closing nothing."""
        self._ended = True
        if self._idle_scope is not None:
            self._idle_scope.cancel()

    def _idle_deadline(self) -> float:
        if not self._idle:
            # Busy: the timer closes nothing, but looks now and then whether the client hung
            # up while the reading waits (_cancel_if_hung_up).
            return trio.current_time() + HANG_UP_CHECK_SECONDS
        return trio.current_time() + self.config.keep_alive_timeout

    async def _idle_timeout(self) -> None:
        while not self._ended:
            with trio.CancelScope(deadline=self._idle_deadline()) as scope:
                self._idle_scope = scope
                await self.context.terminated.wait()
            self._idle_scope = None
            if self._ended:
                return
            stopping = self.context.terminated.is_set()
            # Idle past the timeout, or the server stops. Not a busy spell's deadline that
            # passed as the answer ended (the idle deadline it was moved to has not).
            if self._idle and (stopping or trio.current_time() >= scope.deadline):
                with trio.CancelScope(shield=True):
                    await self._initiate_server_close()
                return
            if stopping:
                return  # busy as the server stops: Hypercorn closes it at the answer's end
            # Busy for another spell (its client may have hung up meanwhile), or its deadline
            # passed as a request came in (a cancel is not undone by a later deadline): time
            # the next spell with a scope of its own.
            self._cancel_if_hung_up()


class _SendLock:
    """Hypercorn's lock around a connection's socket writes, taken without a turn of the
    scheduler when nobody holds it: the write it guards is a turn of its own (a trio socket's
    send is a checkpoint), so each answer was two turns where one does. Held, it queues
    fairly, as a ``trio.Lock`` does (a free lock has nobody waiting for it)."""

    def __init__(self) -> None:
        self._lock = trio.Lock()

    async def __aenter__(self) -> None:
        if self._lock.locked():
            await self._lock.acquire()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()  # a turn only if cancelled
            self._lock.acquire_nowait()

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()


#: Connections past the limit come as fast as a client opens them: a line each 10 s at most.
_unserved = ThrottledWarning(log, 10.0)


class _ClientGoneIsNoError(logging.Filter):
    """Hypercorn logs an app's exception with its traceback ("Error in ASGI Framework"): for a
    client gone in the middle of its answer, a line at debug instead. Any local user can close
    connections as fast as they like, and a traceback each would fill the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, _CLIENT_GONE) and record.levelno > logging.DEBUG:
            log.debug("a client went away in the middle of its answer: %r", error)
            return False
        return True


def close_every_connection() -> None:
    """Close the socket of every connection still served, at the end of a shutdown.

    Hypercorn shields its writes to a socket from cancellation, so a client that does not read
    (an answer of megabytes, a log) would hold a shutdown for ever; a closed socket ends the
    write that waits on it with an error, which Hypercorn takes as the connection's end.
    """
    for connection in list(_ContainedConnection.live):
        _socket_of(connection.stream).close()


def _socket_of(stream: Any) -> Any:
    """The trio socket under a connection's stream (TLS or not)."""
    return getattr(stream, "transport_stream", stream).socket


#: The socket of the connection a request came on, in that request's tasks.
_CONNECTION_SOCKET: ContextVar[Any] = ContextVar("connection_socket", default=None)


def sending_is_backed_up() -> Callable[[], bool | None]:
    """For the request being served (call it in its task): whether its connection's socket
    is full now, the kernel's send buffer holding as much as it takes (POLLOUT not set): its
    client (or the link to it) has not taken what was sent. None if that cannot be told (no
    socket known, or it is closed). An attach tells by it whose side is slow."""
    sock = _CONNECTION_SOCKET.get()

    def backed_up() -> bool | None:
        if sock is None:
            return None
        try:
            fd = sock.fileno()
            if fd < 0:
                return None
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            events = poller.poll(0)
        except (OSError, ValueError):
            return None
        ready = events[0][1] if events else 0
        if ready & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            return None  # gone: its leaving ends the session anyway
        return not ready & select.POLLOUT

    return backed_up


_LEAVINGS = frozenset({"http.disconnect", "websocket.disconnect"})


class AppQueue:
    """A request's events on their way to its app (its body, its end, its client's leaving),
    and the cancel of what the request waits for when its client leaves.

    Hypercorn put each event with a trio channel's ``send``, which is a turn of the scheduler
    even when the queue has room: three per request in the connection's task. Here an event
    goes in without one while there is room, and a full queue is waited on as before. And a
    route that may wait long (an exit) had a task of its own that read the queue for
    the client's leaving, with a nursery around the wait: a task, a nursery and five turns of
    the scheduler per lifecycle. Here the put of that leaving cancels the wait itself
    (:meth:`cancelled_on_leaving`). A leaving never waits for room: on a full queue it takes
    the place of the body queued (:meth:`put`).

    And the first :meth:`receive` of a request whose client waits for a ``100 Continue``
    sends it (:attr:`expecting`), as ASGI servers do: an app that answers without asking for
    the body never invites it.
    """

    #: The request's client sent ``Expect: 100-continue`` and waits for the 100 before its
    #: body: what sends it, at the app's first :meth:`receive`. None for any other request,
    #: once sent, and once the client left (a class default: no work for the others).
    expecting: _Continue | None = None

    def __init__(self, size: float) -> None:
        self._put_end, self._take_end = trio.open_memory_channel[ASGIReceiveEvent](size)
        #: The client left: ``http.disconnect`` was put.
        self.client_gone = False
        self._on_leaving: trio.CancelScope | None = None
        #: The scope a WebSocket's app runs in (:class:`_EagerTaskGroup`; an HTTP request's
        #: app takes what it is sent, and goes without the scope's cost).
        self.app_scope: trio.CancelScope | None = None

    async def put(self, event: ASGIReceiveEvent) -> None:
        if event["type"] not in _LEAVINGS:
            await trio.lowlevel.checkpoint_if_cancelled()  # a turn only if cancelled
        # A leaving is put even by a cancelled caller: the connection's reading task, ended
        # by a hang-up (_cancel_if_hung_up), that finds the client gone in a write of its own
        # (a pong, a close) puts it once, from within that cancel. Lost, the app never heard
        # its client had left, and its tasks stayed.
        if event["type"] == "http.disconnect":
            self.client_gone = True
            self.expecting = None  # nobody to invite any more
            if self._on_leaving is not None:
                self._on_leaving.cancel()
        try:
            self._put_end.send_nowait(event)
        except trio.WouldBlock:
            if event["type"] == "websocket.disconnect" and self.app_scope is not None:
                # A WebSocket's app takes messages when it wants them (an attach waits while
                # the process's stdin is full), so the queue may never have room again: the
                # app is cancelled, as Quart cancels it once it reads this, and the
                # connection's end no longer waits on it.
                self.app_scope.cancel()
                return
            if event["type"] == "http.disconnect":
                # Nor does an HTTP leaving wait for room. The queue's reader may never take
                # again: an upload's reader waits for its handler to read what it holds
                # (StreamedBody.wait_for_room), and a handler that refused the upload reads
                # no more; Hypercorn puts this leaving at the answer's end, from inside the
                # app's own shielded send (finish_shielded), which then waited for good,
                # its connection open and the shutdown held. The events queued before it
                # are body the app has no use for: its client left, or it has answered (and
                # its reader, once it takes the leaving, ends the request anyway).
                self._drop_queued()
                with contextlib.suppress(trio.WouldBlock):  # a queue of size 0 waits
                    self._put_end.send_nowait(event)
                    return
            await self._put_end.send(event)

    def _drop_queued(self) -> None:
        """Empty the queue: what it holds, and what the puts that wait on it hold (each
        such put returns as if its event were taken)."""
        with contextlib.suppress(trio.WouldBlock):
            while True:
                self._take_end.receive_nowait()

    async def receive(self) -> ASGIReceiveEvent:
        if self.expecting is not None:
            # The app asks for the body: now, and not before, its client is told to send it.
            expecting, self.expecting = self.expecting, None
            await expecting.send()
        return await self._take_end.receive()

    @property
    def awaits_continue(self) -> bool:
        """The client still waits for a ``100 Continue`` before it sends the body, which the
        next :meth:`receive` sends: an app that may answer without the body should not
        receive before it knows it needs it."""
        return self.expecting is not None and self.expecting.pending

    def receive_nowait(self) -> ASGIReceiveEvent:
        """The next event if one is queued; :class:`trio.WouldBlock` if none is."""
        return self._take_end.receive_nowait()

    @contextlib.contextmanager
    def cancelled_on_leaving(self) -> Iterator[trio.CancelScope]:
        """A cancel scope cancelled when the client leaves (at once if it has left)."""
        with trio.CancelScope() as scope:
            if self.client_gone:
                scope.cancel()
            self._on_leaving = scope
            try:
                yield scope
            finally:
                self._on_leaving = None


def queue_of(receive: object) -> AppQueue | None:
    """The daemon's queue behind an app's ``receive``; None for any other server's."""
    queue = getattr(receive, "__self__", None)
    return queue if isinstance(queue, AppQueue) else None


class _EagerTaskGroup(hypercorn.trio.task_group.TaskGroup):
    """Hypercorn's task group for one connection, whose requests get their events through an
    :class:`AppQueue`."""

    #: The 100 Continue of the request whose app is spawned next, if its client waits for one
    #: (set by :meth:`_Http11._check_protocol`, which reads the request's head first).
    expecting: _Continue | None = None

    async def spawn_app(
        self, app: Any, config: Config, scope: Scope, send: Any
    ) -> Callable[[ASGIReceiveEvent], Awaitable[None]]:
        queue = AppQueue(config.max_app_queue_size)
        if self.expecting is not None:
            queue.expecting, self.expecting = self.expecting, None

        async def with_queue(
            scope: Scope, receive: object, send: Any, sync_spawn: Any, call_soon: Any
        ) -> None:
            # Hypercorn's own queue (``receive``) stays empty: the events go to ours.
            if scope["type"] != "websocket":
                await app(scope, queue.receive, send, sync_spawn, call_soon)
                return
            with trio.CancelScope() as queue.app_scope:
                await app(scope, queue.receive, send, sync_spawn, call_soon)

        await super().spawn_app(with_queue, config, scope, send)
        return queue.put


class _Http11(H11Protocol):
    """Hypercorn's HTTP/1.1, which never switches to HTTP/2, which says what it could not
    read as every error of the API says it, and which writes a sized answer's head with its
    body."""

    #: The head of a sized answer, kept until its body's first bytes (or its end) go out.
    _head = b""
    #: The request being refused before the app had it is a HEAD: its answer has no body.
    _refusing_head = False
    #: The request's client waits for a 100 Continue (:class:`_Continue`); None for the
    #: others (a class default), and once the request's answer started.
    _expecting: _Continue | None = None
    #: The request said both Content-Length and Transfer-Encoding: its answer closes the
    #: connection (:func:`_framed_twice`).
    _framed_twice = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Hypercorn sends the 100 as soon as the request's head is read; here the app's first
        # receive does (_Continue). One connection object more per TCP connection.
        self.connection = _ContinueOnAsk(
            h11.SERVER, max_incomplete_event_size=self.config.h11_max_incomplete_size
        )

    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        # Hypercorn writes an answer's head, then its body, then its end, each with its own
        # write: the client wakes for a head it cannot use without the body. A head that
        # declares its length (every answer but a stream's) waits for the body's first bytes,
        # or for the answer's end if it has none: one write and one wake of the client for
        # the API's answers. A stream's head (/events, a log followed) goes at once, so that
        # its client knows it is subscribed before anything comes.
        late = _answered(self.connection)  # before the send: a failed send is ERROR too
        if isinstance(event, h11.InformationalResponse):
            # A WebSocket's 101 (Hypercorn's, as its handshake is accepted); the 100 has its own.
            event = _with_reason(event)
        if isinstance(event, h11.Response):
            event = _with_reason(event)
            if self._expecting is not None:
                # Answered: no 100 goes now (an app's answer, or Hypercorn's own 404 or 500,
                # whose request no app took).
                self._expecting = None
                if isinstance(self.task_group, _EagerTaskGroup):
                    self.task_group.expecting = None
            event = _closing_if_body_unread(self.connection, event, self._framed_twice)
        try:
            data = self.connection.send(event)
        except h11.LocalProtocolError as refused:
            if self.connection.their_state != h11.ERROR and not late:
                raise
            # The connection's one answer went out already: Hypercorn's 400 for bytes sent
            # right behind a WebSocket handshake, while the app's answer to the handshake was
            # on its way. The late answer has nowhere to go (it raised in the app's task,
            # a traceback in the log for each such connection).
            if isinstance(event, h11.Response):
                log.debug("an answer after the connection's last was dropped: %s", refused)
            return
        if isinstance(event, h11.Response) and _sized(event):
            self._head = data
            return
        if self._head:
            data, self._head = self._head + data, b""
        # A WebSocket handshake answered "no, and I close" (Hypercorn's 400 for bytes behind
        # it): Hypercorn would leave the connection open, with no idle timer, for good.
        refused_and_closing = (
            isinstance(self.connection, H11WSConnection)
            and self.connection.h11_connection.our_state is h11.MUST_CLOSE
        )
        if data:  # a sized answer's end is no bytes: no write, no turn of the send lock
            await self.send(RawData(data=data))
        if refused_and_closing:
            await self.send(Closed())

    async def _check_protocol(self, event: h11.Request) -> None:
        if event.method == b"PRI" and event.target == b"*" and event.http_version == b"2.0":
            raise H2ProtocolAssumedError(b"")  # HTTP/2's preface: _Http11Only closes
        # Anything else, Upgrade: h2c included, is an HTTP/1.1 request like any other.
        self._framed_twice = _framed_twice(event)
        if _head_size(event) > self.config.h11_max_incomplete_size:
            # h11's limit (Hypercorn's h11_max_incomplete_size, 16 KiB) bounds only a head
            # still incomplete: one that came whole in a read was taken up to the read's size
            # (64 KiB). The same 431 as h11's, for every head past the limit; a HEAD's
            # without its body (h11 refused to send one, and the connection failed unanswered).
            self._refusing_head = event.method == b"HEAD"
            await self._send_error_response(431)
            raise _HeadTooLarge()
        # A request's head: h11's connection (a WebSocket's wraps it only once it is read).
        if self.connection.client_is_waiting_for_100_continue:  # type: ignore[union-attr]
            # Its app, spawned next, sends the 100 when it first asks for the body.
            self._expecting = _Continue(self)
            if isinstance(self.task_group, _EagerTaskGroup):
                self.task_group.expecting = self._expecting

    async def _send_error_response(self, status_code: int) -> None:
        # h11 could not read the request (a bad Content-Length or chunk size, no Host, a line
        # too long...): Hypercorn answered an empty body; the API answers {"error": ...}.
        body, headers = _closing_error(_unreadable(status_code))
        headers += self.config.response_headers("h11")
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        if not self._refusing_head:
            await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


class _ContinueOnAsk(h11.Connection):
    """h11's connection, which tells Hypercorn that no client ever waits for a 100 Continue:
    Hypercorn's reading loop sends it whenever one does (as soon as a request's head is read,
    before its app ran), and here the app's first ``receive`` does (:class:`_Continue`).
    h11's own ``client_is_waiting_for_100_continue`` still says whether the client waits."""

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        return False


class _Continue:
    """The ``100 Continue`` of one request whose client waits for it before sending its body
    (``Expect: 100-continue``; curl sends it for a POST over 1 MiB and for ``-T``), sent when its
    request's app first asks for the body (:meth:`AppQueue.receive`), as uvicorn does.

    Hypercorn sent it as soon as it read the request's head, before any app ran: a request
    refused before its body (a uid the listener refuses, a length over ``--max-body-bytes``,
    an invalid id in its path) had its client send the whole body first, for nothing
    (850 KB before a 403, measured). Answered without the body, the request's connection
    closes (:func:`_closing_if_body_unread`)."""

    __slots__ = ("_connection", "_protocol")

    def __init__(self, protocol: _Http11) -> None:
        self._protocol = protocol
        self._connection = protocol.connection

    @property
    def pending(self) -> bool:
        """The client still waits: no 100 and no answer went, and no byte of the body came
        (h11 clears its flag at either), and the connection is not a WebSocket's."""
        connection = self._connection
        return (
            self._protocol.connection is connection
            and isinstance(connection, h11.Connection)
            and connection.client_is_waiting_for_100_continue
        )

    async def send(self) -> None:
        if self.pending:
            protocol = self._protocol
            headers = protocol.config.response_headers("h11")
            await protocol._send_h11_event(
                h11.InformationalResponse(status_code=100, headers=headers, reason=b"Continue")
            )


class _HeadTooLarge(Exception):
    """A request's head was past the limit, and answered 431: its connection is closed."""


def _head_size(request: h11.Request) -> int:
    """The bytes of the request's line and headers as h11 read them (less the whitespace it
    strips around values): half a microsecond for curl's six headers, on every request."""
    return (
        len(request.method) + len(request.target) + 12  # 2 spaces, "HTTP/1.1", CRLF
        + sum(len(name) + len(value) + 4 for name, value in request.headers.raw_items())
        + 2  # the blank line that ends the head
    )  # fmt: skip


def _answered(connection: Any) -> bool:
    """The h11 connection has sent its last answer (a WebSocket's wraps one)."""
    state = getattr(connection, "h11_connection", connection).our_state
    return state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def _sized(response: h11.Response) -> bool:
    return any(name == b"content-length" for name, _ in response.headers)


def _closing_if_body_unread(
    connection: Any, response: h11.Response, framed_twice: bool = False
) -> h11.Response:
    """A request's answer, which closes the connection if the request's body has not come
    whole: RFC 9110 (10.1.1) has a server that answers before the body say whether it reads
    on or closes, and Hypercorn closes a connection whose request did not end (its client
    may still send the body, which must not be read as a next request). That is a client
    waiting for a ``100 Continue`` never sent (:class:`_Continue`), and one whose body came
    in part only: sent unasked behind its ``Expect`` (its wait ran out), or with none, to a
    request refused unread (a 413 by its ``Content-Length``): their answers said nothing of
    it until 2026-12-05, the connection closed all the same. Any other request's answer
    comes after its body's end (read by the app, or read away: app.drain_unread_body).

    With ``framed_twice`` (:func:`_framed_twice`) the answer closes the connection whatever
    was read of the body."""
    if _closes(response) or not (
        framed_twice
        or (
            isinstance(connection, h11.Connection)  # a WebSocket's wraps h11's
            and connection.their_state is h11.SEND_BODY
        )
    ):
        return response
    return h11.Response(
        status_code=response.status_code,
        headers=[*response.headers.raw_items(), (b"connection", b"close")],
        reason=response.reason,
    )


_Head = TypeVar("_Head", h11.Response, h11.InformationalResponse)


def _with_reason(response: _Head) -> _Head:
    """The answer (or a 1xx: a WebSocket's 101) with its status code's reason phrase, if it has
    none (Hypercorn's never do); its headers are taken as they are (validated when it was
    made)."""
    if response.reason or (reason := _REASONS.get(response.status_code)) is None:
        return response
    return type(response)(
        status_code=response.status_code,
        headers=response.headers,
        http_version=response.http_version,
        reason=reason,
        _parsed=True,
    )


def _framed_twice(request: h11.Request) -> bool:
    """The request says both its length (``Content-Length``) and chunks
    (``Transfer-Encoding``). h11 reads the chunks, as RFC 9112 (6.3) has it, and the daemon
    answered on a kept connection: what came after the chunks' end, within the length, was
    read as the client's next request and answered too (tried: a raw socket, a POST whose
    body is ``0``, then a GET, two answers). The client meant one request, or a proxy before
    the daemon framed it by its length: the same RFC has such a request's server close the
    connection after its answer (nginx refuses it, 400). Its answer says so and closes."""
    headers = request.headers
    return any(name == b"transfer-encoding" for name, _ in headers) and any(
        name == b"content-length" for name, _ in headers
    )


def _closes(response: h11.Response) -> bool:
    """The answer says ``Connection: close`` already."""
    return any(
        name == b"connection" and b"close" in value.lower() for name, value in response.headers
    )


def _closing_error(message: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and head of an error answered before the app had the request (the API's
    ``{"error": ...}``), after which the connection closes."""
    body = dump_json({"error": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    return body, headers


def _unreadable(status_code: int) -> str:
    if status_code == HeadersTooLarge.status:
        return HeadersTooLarge().message
    return (
        "the request is not valid HTTP/1.1 (its request line, headers, Content-Length or"
        " chunked encoding): the daemon could not read it"
    )


class _Http11Only(ProtocolWrapper):
    """Hypercorn's protocol switch, which closes a connection that speaks HTTP/2."""

    async def handle(self, event: Event) -> None:
        try:
            await self.protocol.handle(event)
        except (H2ProtocolAssumedError, H2CProtocolRequiredError, _HeadTooLarge):
            await self.send(Closed())


def finish_shielded(send: ASGISendCallable) -> ASGISendCallable:
    """``send``, with the answer's last message shielded from the request task's cancel.

    Hypercorn 0.18 completes an HTTP/1 exchange inside the send of the answer's last message:
    it puts ``http.disconnect`` to the app, then starts the connection's keep-alive timer (or
    closes the connection, after ``Connection: close``). Quart-Trio cancels the request's task
    as soon as its reader sees that ``http.disconnect``, which lands in the middle of the same
    send: the timer, started in the cancelled task, is cancelled with it, and the connection
    was never closed, however long it stayed idle. Hypercorn's own socket write is shielded
    already; this shields the rest of that send.
    """

    async def finish_shielded(message: Any) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            with trio.CancelScope(shield=True):
                await send(message)
        else:
            await send(message)

    return finish_shielded


class _WebsocketStream(WSStream):
    """Hypercorn's WebSocket stream, whose refusals before the handshake's answer say why, as
    every error of the API does (Hypercorn's had an empty body)."""

    async def _send_error_response(self, status_code: int) -> None:
        body, headers = _closing_error(self._refusal(status_code))
        await self.send(
            Response(stream_id=self.stream_id, status_code=status_code, headers=headers)
        )
        await self.send(Body(stream_id=self.stream_id, data=body))
        await self.send(EndBody(stream_id=self.stream_id))
        await self.config.log.access(
            self.scope, {"status": status_code, "headers": []}, time.time() - self.start_time
        )

    def _refusal(self, status_code: int) -> str:
        if status_code == 400 and not self.handshake.is_valid():
            return (
                "not a WebSocket handshake: it needs Connection: Upgrade, Upgrade: websocket,"
                " a Sec-WebSocket-Key and Sec-WebSocket-Version: 13 (RFC 6455)"
            )
        if status_code == 400:
            return "data came before the WebSocket handshake was answered"
        if status_code == 403:
            return "the WebSocket was refused before its handshake was answered"
        if status_code == 404:
            return "no such server name"
        return "the WebSocket failed before its handshake was answered"


class _BoundedMessage(WebsocketBuffer):
    """Hypercorn's buffer of one WebSocket message, which stops holding what a client sends
    past the limit: Hypercorn closes with 1009 but goes on reading, and its own buffer took
    every later part (a client could grow the server's memory by sending)."""

    def extend(self, event: Message[Any]) -> None:
        if self.length + len(event.data) > self.max_length:
            self.length = self.max_length + 1  # over it for good: every later part too
            raise FrameTooLargeError()
        super().extend(event)


class _NoCompression(Extension):
    """permessage-deflate, always declined: wsproto inflates a message with no bound, and a
    few MB of compressed zeros became gigabytes. An attach's messages are small anyway."""

    name = "permessage-deflate"

    def offer(self) -> bool:
        return False  # a server never offers

    def accept(self, offer: str) -> None:
        return None


def patch_hypercorn() -> None:
    """From now on, ``hypercorn.trio.serve`` serves every connection with the classes above
    (Hypercorn names the classes it serves with in its modules)."""
    hypercorn.trio.run.TCPServer = _ContainedConnection  # type: ignore[attr-defined]
    _ContainedConnection.limit = max(64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)
    errors = logging.getLogger("hypercorn.error")
    if not any(isinstance(f, _ClientGoneIsNoError) for f in errors.filters):
        errors.addFilter(_ClientGoneIsNoError())
    hypercorn.trio.tcp_server.ProtocolWrapper = _Http11Only  # type: ignore[attr-defined]
    hypercorn.trio.tcp_server.TaskGroup = _EagerTaskGroup  # type: ignore[attr-defined]
    hypercorn.protocol.H11Protocol = _Http11  # type: ignore[attr-defined]
    hypercorn.protocol.ws_stream.WebsocketBuffer = _BoundedMessage  # type: ignore[misc]
    hypercorn.protocol.h11.WSStream = _WebsocketStream  # type: ignore[attr-defined]
    hypercorn.protocol.ws_stream.PerMessageDeflate = _NoCompression  # type: ignore[attr-defined,assignment]
