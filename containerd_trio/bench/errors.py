"""The bench's one error."""

from __future__ import annotations


class BenchError(Exception):
    """The bench cannot go on, or one start failed; the message says why."""
