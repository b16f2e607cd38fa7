"""Who made the other end of a loopback TCP connection, from the kernel's socket diagnostics.

A unix socket has file permissions; a TCP port on 127.0.0.1 has none, and every local user can
connect to it. The kernel still knows who made the client's socket: ``NETLINK_SOCK_DIAG``
answers an exact lookup of one TCP socket by its addresses and ports (``inet_diag_req_v2``,
without ``NLM_F_DUMP``) with an ``inet_diag_msg`` that carries the socket's owner
(``idiag_uid``, the fsuid of the process that called ``socket()``).

The socket asked about is the client's own: its source is the connection's client address and
port, its destination the server's. While the daemon holds its end of the connection, no other
socket can have that address quadruple, so the answer is about this connection and no other.

Only a socket that some process still holds tells its owner: once the client has closed it,
the kernel keeps an orphan (or a time-wait socket, whose uid reads as 0) with no inode. Such an
answer is refused rather than believed, since a client could send a request and close at once
to pass as root.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from itertools import count

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
#: idiag_cookie meaning "any socket with these addresses" (the kernel checks no cookie).
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
ALL_STATES = 0xFFFFFFFF

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_REQUEST = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
_PORTS = struct.Struct("!HH")  # sport, dport: network order
_ADDRESS_BYTES = 16  # IPv4 addresses take the first 4 of 16
_IF_COOKIE = struct.Struct("=III")  # if, cookie[2]
_MESSAGE_HEAD = struct.Struct("=BBBB")  # family, state, timer, retrans
_SOCKID_SIZE = _PORTS.size + 2 * _ADDRESS_BYTES + _IF_COOKIE.size
_MESSAGE_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode
_ERRNO = struct.Struct("=i")
_V4_MAPPED = bytes(10) + b"\xff\xff"

_sequence = count(1)


class PeerUnknown(Exception):
    """The kernel could not say who made the client's socket; the message says why."""


def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int:
    """The uid that owns the client's end of the TCP connection ``client`` -> ``server``.

    Both addresses are as the server sees them (``getpeername()``, ``getsockname()``).
    Raises :class:`PeerUnknown` when the socket cannot be found or nobody holds it any more.
    """
    family, source, destination = _addresses(client[0], server[0])
    request = _request(family, source, client[1], destination, server[1])
    sequence = next(_sequence) & 0xFFFFFFFF
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, sequence, 0
    )
    # A socket per lookup: nothing shared between daemons in one process, nothing stale to
    # drain after an error, and the whole exchange costs microseconds (docs/security.md).
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG
    ) as diag:
        diag.sendall(header + request)
        # The kernel answers an exact lookup inside sendmsg(): the reply is already queued.
        reply = diag.recv(8192, socket.MSG_DONTWAIT)
    return _parse_reply(reply, sequence, request)


def _addresses(client: str, server: str) -> tuple[int, bytes, bytes]:
    """The family and packed addresses to ask about (inet_pton: a fifth of ipaddress's cost)."""
    try:
        return socket.AF_INET, socket.inet_pton(socket.AF_INET, client), _v4(server)
    except OSError:
        pass
    source = socket.inet_pton(socket.AF_INET6, client.partition("%")[0])
    destination = socket.inet_pton(socket.AF_INET6, server.partition("%")[0])
    if source.startswith(_V4_MAPPED) and destination.startswith(_V4_MAPPED):
        # An IPv4 connection to a dual-stack listener: asked about as IPv4 (whatever the
        # family of the client's socket: see _is_the_socket_asked_about).
        return socket.AF_INET, source[12:], destination[12:]
    return socket.AF_INET6, source, destination


def _v4(address: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, address)
    except OSError:
        raise PeerUnknown(f"server address {address} is not IPv4 like its client's") from None


def _request(family: int, source: bytes, sport: int, destination: bytes, dport: int) -> bytes:
    sockid = (
        _PORTS.pack(sport, dport)
        + source.ljust(_ADDRESS_BYTES, b"\0")
        + destination.ljust(_ADDRESS_BYTES, b"\0")
        + _IF_COOKIE.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    )
    return _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_STATES) + sockid


def _parse_reply(reply: bytes, sequence: int, request: bytes) -> int:
    offset = 0
    while offset + _NLMSGHDR.size <= len(reply):
        length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(reply, offset)
        if length < _NLMSGHDR.size:
            break
        body = reply[offset + _NLMSGHDR.size : offset + length]
        offset += (length + 3) & ~3
        if seq != sequence:
            continue
        if kind == NLMSG_ERROR:
            (error,) = _ERRNO.unpack_from(body)
            if -error == errno.ENOENT:
                raise PeerUnknown("the kernel knows no client socket for this connection")
            raise PeerUnknown(f"socket diagnostics failed: {os.strerror(-error)}")
        if kind != SOCK_DIAG_BY_FAMILY or len(body) < _reply_size():
            break
        sockid = body[_MESSAGE_HEAD.size : _MESSAGE_HEAD.size + _SOCKID_SIZE]
        if not _is_the_socket_asked_about(sockid, request):
            raise PeerUnknown("socket diagnostics answered about another socket")
        _expires, _rqueue, _wqueue, uid, inode = _MESSAGE_TAIL.unpack_from(
            body, _MESSAGE_HEAD.size + _SOCKID_SIZE
        )
        if inode == 0:
            raise PeerUnknown("the client has already closed its socket: its owner is unknown")
        return int(uid)
    raise PeerUnknown("socket diagnostics gave no answer")


def _is_the_socket_asked_about(sockid: bytes, request: bytes) -> bool:
    """Whether the answer's ports and addresses are the ones asked about (its interface and
    cookie may differ)."""
    wanted = request[_REQUEST.size : _REQUEST.size + _PORTS.size + 2 * _ADDRESS_BYTES]
    if sockid[: len(wanted)] == wanted:
        return True
    if request[0] != socket.AF_INET:
        return False
    # An IPv4 connection whose client socket is an AF_INET6 one, connected to a v4-mapped
    # address (curl http://[::ffff:127.0.0.1]:8888/): the kernel finds it by its IPv4
    # addresses, as asked, and names them as that socket holds them, v4-mapped. The same
    # ports and addresses: the same connection.
    ports, source, destination = _split_sockid(wanted)
    mapped = ports + _V4_MAPPED + source[:4] + _V4_MAPPED + destination[:4]
    return sockid[: len(mapped)] == mapped


def _split_sockid(sockid: bytes) -> tuple[bytes, bytes, bytes]:
    """The ports, source and destination of an ``inet_diag_sockid``'s first fields."""
    source = _PORTS.size
    destination = source + _ADDRESS_BYTES
    return (
        sockid[:source],
        sockid[source:destination],
        sockid[destination : destination + _ADDRESS_BYTES],
    )


def _reply_size() -> int:
    return _MESSAGE_HEAD.size + _SOCKID_SIZE + _MESSAGE_TAIL.size
