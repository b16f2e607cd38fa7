"""The daemon's errors, each carrying the HTTP status it answers with.

Every layer raises these; only the api layer turns them into responses. Messages are one clear
sentence naming what was wrong, because clients print them verbatim. Each class's docstring says
when a client meets it: the OpenAPI document's table of errors is made from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

#: How much of a client's text a message quotes: enough to recognise it, never a whole body.
QUOTED_MAX = 40


def shortened(text: str) -> str:
    """A client's text as a message shows it unquoted (a path): cut short if it is long."""
    return text if len(text) <= QUOTED_MAX else text[:QUOTED_MAX] + "..."


def quoted(text: str) -> str:
    """A client's text as an error message shows it: repr'd, cut short if it is long."""
    return repr(text) if len(text) <= QUOTED_MAX else repr(text[:QUOTED_MAX]) + "..."


class DaemonError(Exception):
    """Base of every error a client may see."""

    status: ClassVar[int] = 500

    #: Fields of the error's JSON beside its ``error`` sentence, for a client that acts on
    #: them (a 404's ``movedTo``: :func:`container_not_found` sets them); none for most.
    fields: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DaemonError):
    """Malformed JSON, wrong types, unknown fields or query parameters, an invalid id or signal."""

    status = 400


class Forbidden(DaemonError):
    """On a loopback TCP address, a client that is neither root nor in --socket-group."""

    status = 403


class NotFound(DaemonError):
    """Unknown container, process or checkpoint (or no such endpoint)."""

    status = 404


#: The JSON field of a 404 for a container that moved away from this daemon: the target's
#: address (:func:`container_not_found`).
MOVED_TO_ERROR_FIELD = "movedTo"


def container_not_found(
    container_id: str, *, moved: bool = False, to: str | None = None, at: str | None = None
) -> NotFound:
    """The 404 of a container this daemon does not have. One that ``moved`` away from here (a
    migration: its copy here killed once the target kept it) says where (``to``, the target's
    address, as the move's ``to`` named it, also in the error's ``movedTo``) and when (``at``,
    RFC 3339: its copy's end), so that its user follows it there, where a plain "not found"
    told them it was gone."""
    message = f"container {container_id!r} not found"
    if not moved:
        return NotFound(message)
    when = "" if at is None else f" at {at}"
    error = NotFound(f"{message}: it moved to {to or 'another daemon'}{when}")
    if to is not None:
        error.fields = {MOVED_TO_ERROR_FIELD: to}
    return error


class Conflict(DaemonError):
    """The container is not in a state that allows this, or the name is taken."""

    status = 409


class PayloadTooLarge(DaemonError):
    """The request body is larger than the daemon's limit."""

    status = 413


class HeadersTooLarge(DaemonError):
    """The request's line and headers come to more than 16 KiB: answered before any route,
    and the connection is closed."""

    status = 431

    def __init__(self, message: str = "the request's headers are too large") -> None:
        super().__init__(message)


class InternalError(DaemonError):
    """Nothing the client did: a fault in the daemon; the message names it."""

    status = 500


class RuntimeFailure(DaemonError):
    """runc (or CRIU) failed; the message carries its own words."""

    status = 500


class BadGateway(DaemonError):
    """A migration's target daemon could not be reached, or refused; the message says which."""

    status = 502


class ShuttingDown(DaemonError):
    """The daemon is shutting down."""

    status = 503


class RuntimeTimeout(DaemonError):
    """A runtime call passed its deadline; the runc process was killed."""

    status = 504


class StartupError(Exception):
    """The daemon cannot start; the message says why and what to do."""
