"""The exits a container remembers of its processes, by pid, so that a wait for one that already
ended answers at once (the last :data:`_EXITS_KEPT`): :class:`ExitBook`.

Apart from :class:`.Container`: what is kept of an exit, how many, and which of two processes
given the same pid is the pid's, are rules of their own, whatever the container does. The
container asks its book (:attr:`.Container.exits`) with the pid's live process, which it
holds itself, in front.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs

from .. import timestamps
from ..event_types import MOVED_EXIT_FIELD, MOVED_TO_FIELD
from ..model import ExitInfo
from ..process import Process

#: How many exits of its processes a container remembers for waits.
_EXITS_KEPT = 256
#: How long a stopped container's output may take to reach its log before its exit is
#: reported (a child its process left may hold its pipes open), or a delete goes on.
DRAIN_SECONDS = 2.0


@attrs.frozen
class Ended:
    """A remembered exit, and when that process's output may have begun (its records are
    those of its pid from then on: :meth:`.Container.output_since`)."""

    info: ExitInfo
    since_ns: int
    #: Its start by the kernel's count (clock ticks since boot, as :attr:`Process.start_time`):
    #: which of two processes given the same pid is the later, whatever the wall clock did.
    start_time: int | None


class ExitBook(OrderedDict[int, Ended]):
    """The last exits of a container's processes, by pid, the oldest first.

    The mapping itself, not a class that holds one: a container makes its book with each start,
    and a subclass of the mapping costs next to nothing more to make than the mapping did (1 to
    4 ns, 2026-12), where an object around one would be a second object to make per start."""

    __slots__ = ()

    def keep(self, pid: int, ended: Ended) -> None:
        """Keep ``ended`` as the exit of ``pid``, the newest; the oldest beyond the bound go."""
        newer = self.get(pid)
        if newer is not None and _started_after(newer.start_time, ended.start_time):
            # A process given its pid while its report waited (see _watching._forget_live)
            # ended before it: that one is the pid's last process, its exit the pid's.
            return
        self[pid] = ended
        self.move_to_end(pid)
        while len(self) > _EXITS_KEPT:
            self.popitem(last=False)


def _started_after(start_time: int | None, other: int | None) -> bool:
    """A process that started at ``start_time`` (ticks since boot) certainly started after
    one at ``other``: a later tick (the same tick, or one not known, says nothing)."""
    return start_time is not None and other is not None and start_time > other


def exit_info(container_id: str, process: Process) -> ExitInfo:
    assert process.exit_status is not None
    at = timestamps.format_ns(process.exit_ns) if process.exit_ns is not None else None
    return ExitInfo(id=container_id, pid=process.pid, exit_status=process.exit_status, exited_at=at)


def moved_exit(info: ExitInfo, detail: Mapping[str, Any] | None) -> ExitInfo:
    """``info`` as a wait answers it, given the fields of its ``exit`` event (``detail``): that
    of an init whose copy a move killed says the container moved, and where, if known."""
    if not detail or detail.get(MOVED_EXIT_FIELD) is not True:
        return info
    to = detail.get(MOVED_TO_FIELD)
    return attrs.evolve(info, moved=True, moved_to=to if isinstance(to, str) else None)
