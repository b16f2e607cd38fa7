"""Who may use the API over loopback TCP: root, and the members of ``--socket-group``.

The same rule as the daemon's unix socket (``0600`` root's, or ``0660`` with the group), applied
to a listener that has no file permissions: the middleware learns the uid that owns each
client's socket (:mod:`containerd_trio.peer`) and answers anyone else 403, before the app sees
the request. It wraps the whole ASGI app, so plain requests, streamed answers (events, logs) and
WebSocket handshakes all pass through it.

It applies only to plain or server-only TLS listeners on a loopback address. A unix socket has
its file permissions; mutual TLS admits by client certificate; and on a non-loopback address
(``--insecure-tcp``) the peers are other machines, whose users the kernel cannot name.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd

import attrs
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope

from ..config import DaemonConfig
from ..errors import StartupError, shortened
from ..logfmt import ThrottledWarning
from ..peer import PeerUnknown, peer_uid
from . import wire

log = logging.getLogger(__name__)

ROOT = 0
#: Seconds between two lines about refused connections.
REFUSALS_LOGGED_EVERY = 10.0


@attrs.frozen
class Admission:
    """The rule for a listener: root, plus the members of ``group_name`` if one is given."""

    group_name: str | None = None
    group_id: int | None = None

    def admits(self, client: tuple[str, int], server: tuple[str, int]) -> bool:
        """Whether the owner of the connection ``client`` -> ``server`` may use the API (one
        the kernel cannot name may not). Asked once per connection, as it is accepted, to
        tell the connections of whoever may not use the API from the others
        (:class:`.connections._ContainedConnection`); each request is checked all the same."""
        try:
            uid = peer_uid(client, server)
        except (PeerUnknown, OSError, ValueError):
            return False
        return self.refusal(uid, "") is None

    def refusal(self, uid: int, where: str) -> str | None:
        """Why ``uid`` may not use the API served at ``where``, or None if it may."""
        if uid == ROOT:
            return None
        try:
            user = pwd.getpwuid(uid)
        except KeyError:
            name = None
        else:
            name = user.pw_name
            # The user database's view, as at login: the client process's own supplementary
            # groups cannot be read from its socket.
            if self.group_id is not None and self.group_id in os.getgrouplist(name, user.pw_gid):
                return None
        who = f"uid {uid} ({name})" if name is not None else f"uid {uid}"
        allowed = "root" if self.group_name is None else f"root and members of {self.group_name}"
        return (
            f"{who} may not use this API: on {where} only {allowed} may, because whoever"
            " uses it is root on this machine (see --socket-group)"
        )


def admission_for(config: DaemonConfig) -> Admission | None:
    """The rule for the daemon's listener, or None where the client's uid cannot be known."""
    listen = config.listen
    if listen.unix_path is not None or not listen.is_loopback or config.tls_client_ca is not None:
        return None
    if config.socket_group is None:
        return Admission()
    try:
        group = grp.getgrnam(config.socket_group)
    except KeyError:
        raise StartupError(f"--socket-group: no group named {config.socket_group!r}") from None
    return Admission(group_name=group.gr_name, group_id=group.gr_gid)


class PeerCheck:
    """ASGI middleware: 403 for a connection whose owner the :class:`Admission` refuses."""

    def __init__(self, app: ASGIFramework, admission: Admission) -> None:
        self.app = app
        self.admission = admission
        # Anyone who may connect can be refused as fast as they like, with any path.
        self._refusals = ThrottledWarning(log, REFUSALS_LOGGED_EVERY)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "lifespan":
            refusal = self._refusal(scope.get("client"), scope.get("server"))
            if refusal is not None:
                self._refusals.warning(
                    "refused %s %s: %s", scope["type"], shortened(scope["path"]), refusal
                )
                await _refuse(scope, receive, send, refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(
        self, client: tuple[str, int] | None, server: tuple[str, int | None] | None
    ) -> str | None:
        if client is None or server is None or server[1] is None:
            return "the connection's addresses are unknown, so its owner cannot be checked"
        try:
            uid = peer_uid(client, (server[0], server[1]))
        except (PeerUnknown, OSError, ValueError) as exc:
            return f"cannot tell which user is connecting from {_address(*client)}: {exc}"
        return self.admission.refusal(uid, _address(server[0], server[1]))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _refuse(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable, message: str
) -> None:
    reply = wire.error_reply(403, message)
    if scope["type"] == "websocket":
        await wire.refuse_handshake(scope, receive, send, reply)
        return
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(reply.body)).encode()),
        # The connection is no use to this client: close it rather than leave a request body
        # unread on a keep-alive connection.
        (b"connection", b"close"),
    ]
    await send(
        {"type": "http.response.start", "status": 403, "headers": headers, "trailers": False}
    )
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})
