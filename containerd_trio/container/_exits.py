"""The exits a container remembers of its processes, by pid, so that a wait for one that already
ended answers at once (the last :data:`_EXITS_KEPT`).

Apart from :class:`.Container`: what is kept of an exit, how many, and which of two processes
given the same pid is the pid's, are rules of their own, whatever the container does.
"""

from __future__ import annotations

import attrs

from .. import timestamps
from ..model import ExitInfo
from ..process import Process

#: How many exits of its processes a container remembers for waits.
_EXITS_KEPT = 256


@attrs.frozen
class _Ended:
    """A remembered exit, and when that process's output may have begun (its records are
    those of its pid from then on: :meth:`Container.output_since`)."""

    info: ExitInfo
    since_ns: int
    #: Its start by the kernel's count (clock ticks since boot, as :attr:`Process.start_time`):
    #: which of two processes given the same pid is the later, whatever the wall clock did.
    start_time: int | None


def _started_after(start_time: int | None, other: int | None) -> bool:
    """A process that started at ``start_time`` (ticks since boot) certainly started after
    one at ``other``: a later tick (the same tick, or one not known, says nothing)."""
    return start_time is not None and other is not None and start_time > other


def _exit_info(container_id: str, process: Process) -> ExitInfo:
    assert process.exit_status is not None
    at = timestamps.format_ns(process.exit_ns) if process.exit_ns is not None else None
    return ExitInfo(id=container_id, pid=process.pid, exit_status=process.exit_status, exited_at=at)
