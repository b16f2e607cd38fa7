"""Structured log lines on stderr, in logfmt as containerd writes them (one line each)::

time=2026-11-28T15:09:14.915868934+00:00 level=info logger=supervisor
msg="container started id=redis pid=11497"
"""

from __future__ import annotations

import logging
import sys

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
