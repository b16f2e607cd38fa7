"""How the containers removed here without their user's delete ended, for what asks after.

Two kinds, each with a bound of its own: those autoRemove removed at their exit (docker run
--rm's), whose waits answer how they ended, and those a move ended here (their copy's end),
whose waits say where they went, and whose 404s too (:meth:`.Supervisor._not_found`). One
shared bound let a stream of quick ``--rm`` containers push a move out within seconds, where
its user would then meet a plain "not found" for a container that runs on elsewhere; a move
is rare, and what is remembered of it small.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .model import ExitInfo

#: How many containers autoRemove removed are remembered, for the waits that come after.
AUTO_REMOVED_KEPT = 256
#: How many containers that moved away are remembered, apart from those.
MOVED_KEPT = 256


class Removals:
    """The last :data:`AUTO_REMOVED_KEPT` containers autoRemove removed and the last
    :data:`MOVED_KEPT` that moved away, by id: how each ended (``moved`` says which kind).
    An id is in one of them at most, as its last removal left it."""

    def __init__(self, moved: Mapping[str, ExitInfo]) -> None:
        #: Those that moved away, oldest first: a server that starts takes them up from the
        #: kept event log (:func:`.migration.moved_away.moved_away`); autoRemove's are not.
        self._moved: OrderedDict[str, ExitInfo] = OrderedDict(moved)
        self._auto_removed: OrderedDict[str, ExitInfo] = OrderedDict()

    def get(self, container_id: str) -> ExitInfo | None:
        """How the container removed under ``container_id`` ended, if it is remembered."""
        ended = self._moved.get(container_id)
        return ended if ended is not None else self._auto_removed.get(container_id)

    def remember(self, ended: ExitInfo) -> None:
        """A container was removed as ``ended`` says (a move's end if ``ended.moved``): it
        replaces what was remembered of its id, and the oldest of its kind past the bound
        is forgotten."""
        self.forget(ended.id)
        kept, most = (
            (self._moved, MOVED_KEPT) if ended.moved else (self._auto_removed, AUTO_REMOVED_KEPT)
        )
        kept[ended.id] = ended
        while len(kept) > most:
            kept.popitem(last=False)

    def forget(self, container_id: str) -> None:
        """A container was made under ``container_id`` here: the id is its now."""
        self._moved.pop(container_id, None)
        self._auto_removed.pop(container_id, None)
