"""How the containers removed here without their user's delete ended, for what asks after.

Two kinds, each with a bound of its own: those autoRemove removed at their exit (docker run
--rm's), whose waits answer how they ended, and those a move ended here (their copy's end),
whose waits say where they went, and whose 404s too (:meth:`.Supervisor._not_found`). One
shared bound let a stream of quick ``--rm`` containers push a move out within seconds, where
its user would then meet a plain "not found" for a container that runs on elsewhere; a move
is rare, and what is remembered of it small.

A server that starts takes both up from the kept event log (its file survives the server):
the moves from each copy's end (:func:`.migration.moved_away.moved_away`), autoRemove's from
each removal's ``delete``, marked ``autoRemove`` (:func:`auto_removed`), so that a wait asked
again after a crash or a live upgrade (``ctr-trio wait`` asks again, and the next server may
have finished the removal the last one began) answers as the server that saw the removal did,
not a plain 404.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from . import timestamps
from .event_types import AUTO_REMOVED_FIELD, INIT_EXIT_FIELD
from .events import Event
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
        #: kept event log (:func:`.migration.moved_away.moved_away`); autoRemove's once it has
        #: adopted (:meth:`take_up_auto_removed`).
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

    def take_up_auto_removed(self, auto_removed: Mapping[str, ExitInfo]) -> None:
        """autoRemove's removals as the kept event log says them (:func:`auto_removed`), oldest
        first, in place of those remembered: a server that starts reads them once its
        adoption is done, so that the removals it finished (the last server's, cut short)
        are among them; those it made meanwhile are too (each ``delete`` was published
        before it was remembered). An id that moved away since is left to the move."""
        self._auto_removed = OrderedDict(
            (container_id, ended)
            for container_id, ended in auto_removed.items()
            if container_id not in self._moved
        )

    def forget(self, container_id: str) -> None:
        """A container was made under ``container_id`` here: the id is its now."""
        self._moved.pop(container_id, None)
        self._auto_removed.pop(container_id, None)


#: The events of a container made here under an id (a start, a restore: a move in too): the
#: id is no longer that of the container removed (or moved away) before.
MADE_HERE = frozenset({"start-container", "restore"})


def auto_removed(events: Iterable[Event], most: int) -> OrderedDict[str, ExitInfo]:
    """How the last ``most`` containers autoRemove removed ended, by id, oldest first, as
    their waits answer it: from ``events``, the kept log in the order published, each
    removal's ``delete`` marked ``autoRemove`` with its container's last init ``exit`` before
    it (its pid, status and time: its ``exitedAt``, which the server that saw it answered,
    :meth:`.Event.exited_ns`; its status alone for one no daemon saw, :meth:`.Event.unseen`,
    as the server that found it answered), for the ids no container was made under since."""
    removed: OrderedDict[str, ExitInfo] = OrderedDict()
    last_exits: dict[str, Event] = {}
    for event in events:
        if event.type in MADE_HERE:
            removed.pop(event.id, None)
            last_exits.pop(event.id, None)
        elif event.type == "exit" and event.detail and event.detail.get(INIT_EXIT_FIELD) is True:
            last_exits[event.id] = event
        elif event.type == "delete":
            exit_ = last_exits.pop(event.id, None)
            if not (event.detail and event.detail.get(AUTO_REMOVED_FIELD) is True):
                continue
            if exit_ is None or exit_.status is None:
                continue  # its exit is no longer kept: nothing to answer with
            if exit_.unseen():
                # Ended while no daemon ran: the server that found it answered neither a pid
                # nor a time (its wait's, api.md), nor does this one (before, the event's pid
                # and its stamp, the time it was found).
                removed[event.id] = ExitInfo(id=event.id, exit_status=exit_.status)
            else:
                at = timestamps.format_ns(exit_.exited_ns())  # its own time, not its stamp
                removed[event.id] = ExitInfo(
                    id=event.id, pid=exit_.pid, exit_status=exit_.status, exited_at=at
                )
            removed.move_to_end(event.id)
            if len(removed) > most:
                removed.popitem(last=False)
    return removed
