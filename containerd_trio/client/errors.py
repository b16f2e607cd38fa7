"""The errors of the client: the daemon said no, or there was no daemon to say anything."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the errors this client raises."""


class ApiError(ClientError):
    """The daemon answered with a status that is not 2xx; ``message`` is its ``{"error": ...}``."""

    def __init__(self, status: int, message: str, *, moved_to: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: A 404's ``movedTo``: the container moved to that daemon (a migration).
        self.moved_to = moved_to

    def __str__(self) -> str:
        return self.message


class PathNotFound(ApiError):
    """A path that is not in the container (a HEAD of its archive route: a 404 whose container
    is there)."""


class RunRefused(ApiError):
    """The daemon refused ``run``'s start: docker's run exits 125 then, not 1, so that a script
    tells a container that never ran from a process that exited 1."""


class GaveUp(ClientError):
    """What was asked of the daemon was not done by a deadline of the client's own: a container
    its stop's SIGKILL did not end, a removal that did not come. The daemon may do it later."""


class TlsFilesUnusable(ClientError):
    """A ``--tls-ca``, ``--tls-cert`` or ``--tls-key`` file that cannot be read, or holds no
    certificate (or key) of its kind: ours to mend, not the daemon's, so never tried again."""


class DaemonUnreachable(ClientError):
    """No answer from the daemon: nothing listens at the address, or the connection broke.

    ``refused``: the connection was refused, or the socket file is missing (nothing listens
    yet, or a daemon is being restarted): the request never left. ``lost``: the connection
    broke after the request was sent, so the daemon may have acted on it.
    """

    def __init__(
        self, address: str, reason: str, *, lost: bool = False, refused: bool = False
    ) -> None:
        what = "lost the connection to" if lost else "cannot reach"
        super().__init__(f"{what} the daemon at {address}: {reason}")
        self.address = address
        self.reason = reason
        self.lost = lost
        self.refused = refused

    def for_user(self) -> str:
        """What ``ctr-trio`` says of it: a refused connection or a missing socket file is a
        daemon that is not running (or not there), and docker's client says as much (``Is the
        docker daemon running?``), where errno's words alone leave the user to guess."""
        return f"{self} (is it running?)" if self.refused else str(self)
