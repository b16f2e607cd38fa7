"""Checks on what clients name: container and checkpoint ids, signals.

Ids become path components (state dir, bundle checkpoints, runc's root), so the pattern is
strict: it rules out ``..``, slashes, NUL and anything a shell or a filesystem treats specially.
"""

from __future__ import annotations

import re
import signal

from .errors import InvalidRequest

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_ID = re.compile(ID_PATTERN)

# Names runc and kill(1) accept, with or without the SIG prefix. Realtime signals go by number.
_SIGNALS_BY_NAME = {
    sig.name: int(sig)
    for sig in signal.Signals
    if not sig.name.startswith("SIGRT") and sig.name.startswith("SIG")
}
MAX_SIGNAL = 64


def check_id(value: str, what: str = "container id") -> str:
    if not _ID.fullmatch(value):  # not match(): "$" also matches before a final newline
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidRequest(
            f"invalid {what} {shown!r}: it must match {ID_PATTERN} (letters, digits, '_', '.', '-';"
            " at most 128 characters; not starting with a punctuation mark)"
        )
    return value


def parse_signal(value: object) -> int:
    """An integer 1..64 or a name such as ``"SIGTERM"`` or ``"TERM"`` (any case)."""
    if isinstance(value, bool):
        raise InvalidRequest(f"signal must be an integer 1..{MAX_SIGNAL} or a name, not {value!r}")
    if isinstance(value, int):
        if 1 <= value <= MAX_SIGNAL:
            return value
        raise InvalidRequest(f"signal {value} is out of range: it must be 1..{MAX_SIGNAL}")
    if isinstance(value, str):
        name = value.strip().upper()
        if name.isascii() and name.isdecimal():
            return parse_signal(int(name))
        if not name.startswith("SIG"):
            name = "SIG" + name
        if name in _SIGNALS_BY_NAME:
            return _SIGNALS_BY_NAME[name]
        raise InvalidRequest(f"unknown signal {value!r}: use a number 1..{MAX_SIGNAL} or a name")
    raise InvalidRequest(f"signal must be an integer 1..{MAX_SIGNAL} or a name, not {value!r}")
