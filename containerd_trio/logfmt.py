"""Structured log lines on stderr, in logfmt as containerd writes them (one line each)::

time=2026-11-28T15:09:14.915868934+00:00 level=info logger=supervisor
msg="container started id=redis pid=11497"
"""

from __future__ import annotations

import logging
import sys
import time

from . import timestamps

#: How a character a terminal would act on is written in a line (the rest: \xNN, \uNNNN).
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quote(value: str) -> str:
    """``value`` as a logfmt value: bare if it can be, else quoted, and with every character
    that is not printable escaped (``str.isprintable``: controls, line separators, bidi
    overrides). Messages quote what clients and containers chose (a refused request's path,
    a container's file names), and the log is read on terminals: ESC, BEL or CR written as
    they are would set a title, clear the screen or write over the line for whoever tails it.
    """
    printable = value.isprintable()
    if value and printable and not any(c in value for c in ' "='):
        return value
    if printable:  # the usual case: a message with spaces
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (
        '"'
        + "".join(c if c.isprintable() and c not in _ESCAPES else _escaped(c) for c in value)
        + '"'
    )


def _escaped(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = timestamps.format_ns(int(record.created * 1e9))
        name = record.name.removeprefix("containerd_trio.")
        line = (
            f"time={stamp} level={record.levelname.lower()} logger={_quote(name)}"
            f" msg={_quote(record.getMessage())}"
        )
        if record.exc_info:
            line += f" error={_quote(self.formatException(record.exc_info))}"
        return line


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Hypercorn's per-connection chatter is noise unless debugging.
    logging.getLogger("hypercorn.error").setLevel(max(logging.WARNING, root.level))


class ThrottledWarning:
    """Warnings of one kind, at most a line each ``every`` seconds, each saying how many it
    stands for: for what a client can make happen as fast as it likes, where a line each
    would fill the log."""

    def __init__(self, logger: logging.Logger, every: float) -> None:
        self._logger = logger
        self._every = every
        self._next_line = 0.0
        self._unlogged = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next_line:
            self._unlogged += 1
            return
        if self._unlogged:
            message, args = message + " (and %d more since the last line)", (*args, self._unlogged)
        self._logger.warning(message, *args)
        self._unlogged = 0
        self._next_line = now + self._every
