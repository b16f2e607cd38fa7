"""The daemon's errors, each carrying the HTTP status it answers with.

Every layer raises these; only the api layer turns them into responses. Messages are one clear
sentence naming what was wrong, because clients print them verbatim.
"""

from __future__ import annotations

from typing import ClassVar


class DaemonError(Exception):
    """Base of every error a client may see."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DaemonError):
    status = 400


class NotFound(DaemonError):
    status = 404


class Conflict(DaemonError):
    status = 409


class PayloadTooLarge(DaemonError):
    status = 413


class RuntimeFailure(DaemonError):
    """runc (or CRIU under it) failed; the message carries runc's own words."""

    status = 500


class RuntimeTimeout(DaemonError):
    """A runtime call passed its deadline; the runc process was killed."""

    status = 504


class ShuttingDown(DaemonError):
    status = 503


class StartupError(Exception):
    """The daemon cannot start; the message says why and what to do."""
