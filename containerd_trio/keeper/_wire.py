"""Messages between the keeper, the logger and the server.

One JSON object per datagram of a ``SOCK_SEQPACKET`` socket, with file descriptors beside it
(``SCM_RIGHTS``). Seqpacket keeps message boundaries and refuses to let a message be read in
part, so no framing of our own is needed; the fds arrive with the message they belong to.

:class:`Channel` is the non-blocking end the keeper's and the logger's loops use: a send never
blocks (a message the peer has no room for waits in a queue, with duplicates of its fds, until
the socket is writable again), so a stuck peer can never stall the process that keeps the
containers. The server's end is Trio's (:mod:`containerd_trio.keeperlink`).
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import select
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

#: The largest message; a message is one container process or one command, far below this.
MAX_MESSAGE = 64 * 1024
#: The most fds one message carries (the kernel's limit is 253).
MAX_FDS = 16
#: The daemon's stop goes from the keeper to its server as a ``stop`` message on their link,
#: not as a signal (which the server then ignores: systemd signals every process of the unit
#: at once, and two signals ended the server at once). Each side says it speaks so, for a live
#: upgrade runs a keeper and a server of two installs: the keeper in its server's environment
#: (this name, "1"), the server in its ``ready`` message (this key, true). A server whose keeper
#: did not say it answers its own signals; a keeper whose server did not say it signals it.
STOP_ON_LINK = "CONTAINERD_TRIO_STOP_ON_LINK"

Message = dict[str, Any]

log = logging.getLogger(__name__)


#: ``json.dumps(message, separators=(",", ":"))``, the same text, from one encoder: ``json.dumps``
#: with an argument of its own makes a new one at each call (two messages per start).
_encode_compact = json.JSONEncoder(separators=(",", ":")).encode


def encode(message: Message) -> bytes:
    return _encode_compact(message).encode()


def decode(data: bytes) -> Message:
    message = json.loads(data)
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ValueError(f"not a message: {data[:80]!r}")
    return message


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair (close-on-exec; the caller makes the child's end inheritable)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def receive_fds(sock: socket.socket, size: int, max_fds: int) -> tuple[bytes, list[int]]:
    """One message and the fds that came with it, close-on-exec.

    ``socket.recv_fds`` ignores its ``flags`` before Python 3.13, so its fds are inheritable
    whatever one asks: every program the keeper started next (servers, runc, the logger) would
    hold a copy of each stdin pipe and terminal received so far, and a stdin closed here would
    never reach EOF. ``MSG_CMSG_CLOEXEC`` sets the flag as the kernel installs them.
    """
    data, ancillary, _, _ = sock.recvmsg(
        size, socket.CMSG_LEN(max_fds * array.array("i").itemsize), socket.MSG_CMSG_CLOEXEC
    )
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


#: Messages waiting for room in the peer's socket, each with the duplicates of its fds it owns.
Queue = deque[tuple[bytes, list[int]]]


def send_first(sock: socket.socket, queue: Queue) -> None:
    """Send the first of ``queue``, then take it off and close its fds' duplicates: the
    keeper's :class:`Channel` and the server's link own their queued copies alike. Raises
    BlockingIOError while the peer has no room (it stays first), OSError once the peer is
    gone."""
    data, fds = queue[0]
    socket.send_fds(sock, [data], fds)
    queue.popleft()
    for fd in fds:
        os.close(fd)


def drop_queue(queue: Queue) -> None:
    """Empty ``queue`` unsent, closing the fds' duplicates it owns (the peer is gone)."""
    while queue:
        _, fds = queue.popleft()
        for fd in fds:
            os.close(fd)


class PeerGone(Exception):
    """The other end closed (or died)."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._queue: Queue = deque()
        self.closed = False
        #: The epoll it is registered with wakes for room to write too (see :meth:`flush_in`).
        self._awaiting_room = False

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return bool(self._queue)

    def send(self, message: Message, fds: Sequence[int] = ()) -> None:
        """Send, or queue; the caller keeps its fds either way. A gone peer is ignored here
        (its end shows up as :class:`PeerGone` on the next receive)."""
        if self.closed:
            return
        data = encode(message)
        if not self._queue:
            try:
                socket.send_fds(self.sock, [data], list(fds))
                return
            except BlockingIOError:
                pass
            except OSError:  # EPIPE, ECONNRESET: the peer died
                return
        copies: list[int] = []
        try:
            for fd in fds:
                copies.append(os.dup(fd))
        except OSError as exc:
            # No fd for a copy (EMFILE: at the fd limit); the error ended the keeper's loop.
            # The message cannot wait for room without them, nor can the peer go on without
            # it (a logger never handed a process's output, a server never told of a
            # terminal): the peer is let go, told so by the end of what it reads. It exits (a
            # logger, a server), and its successor is told afresh what is held; what it wrote
            # meanwhile is still read.
            for fd in copies:
                os.close(fd)
            log.error("cannot queue a message with fds for a peer (%s): letting it go", exc)
            self._drop_queue()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
            return
        self._queue.append((data, copies))

    def flush(self) -> None:
        """Send what waits, as far as the peer takes it."""
        while self._queue:
            try:
                send_first(self.sock, self._queue)
            except BlockingIOError:
                return
            except OSError:
                self._drop_queue()
                return

    def flush_in(self, epoll: select.epoll) -> None:
        """:meth:`flush`, then have ``epoll``, where a loop watches the channel for reading,
        wake for room to write as well while anything waits, and no longer once nothing does.
        Else what the peer could not take at once waited for whatever woke the loop next: the
        rest of a new server's welcome of a thousand processes, for good on an idle host,
        while the server waited for it and answered nobody."""
        self.flush()
        if self.closed or self.wants_write == self._awaiting_room:
            return
        self._awaiting_room = self.wants_write
        epoll.modify(
            self.fileno(), select.EPOLLIN | (select.EPOLLOUT if self._awaiting_room else 0)
        )

    def receive(self) -> list[tuple[Message, list[int]]]:
        """Every message waiting now. Raises PeerGone at the end of the stream."""
        received: list[tuple[Message, list[int]]] = []
        while True:
            try:
                data, fds = receive_fds(self.sock, MAX_MESSAGE, MAX_FDS)
            except BlockingIOError:
                return received
            except OSError as exc:
                if received:
                    return received
                raise PeerGone(str(exc)) from None
            if not data and not fds:
                if received:
                    return received
                raise PeerGone("end of stream")
            try:
                message = decode(data)
            except ValueError:
                for fd in fds:
                    os.close(fd)
                continue
            received.append((message, fds))

    def _drop_queue(self) -> None:
        drop_queue(self._queue)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._drop_queue()
            self.sock.close()
