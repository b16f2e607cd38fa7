"""Structured log lines on stderr, in logfmt as containerd writes them (one line each)::

time=2026-11-28T15:09:14.915868934+00:00 level=info logger=supervisor
msg="container started id=redis pid=11497"
"""

from __future__ import annotations

import logging
import sys
import time

from . import timestamps


def _quote(value: str) -> str:
    if value and not any(c in value for c in ' "=\n\t'):
        return value
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


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
