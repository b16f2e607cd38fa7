"""The containers that moved away from this daemon, as a server that starts finds them.

A move done ends the container's copy here (:meth:`.Moving.end`): it leaves the table, and the
server remembers how its copy ended, which says where it went (its waits answer that, and the
404s of its id say it: :meth:`.Supervisor._not_found`), for the last 256 containers that
moved away (autoRemove's removals have a bound of their own: :mod:`...removals`), until a
start of its id makes another container here. That
memory is the server's; the kept event log (:mod:`..events`, its file survives the server)
holds each copy's end, the init's ``exit`` marked ``moved`` (and ``movedTo``), so a server
that starts, after a restart, a kill -9 or a live upgrade, takes the memory of the moves up
from it, where its user would otherwise meet a plain "not found" for a container that runs on
elsewhere. (autoRemove's removals are taken up from the log too: :func:`..removals.auto_removed`.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from .. import timestamps
from ..container import moved_exit
from ..event_types import MOVED_EXIT_FIELD
from ..events import Event
from ..model import ExitInfo
from ..removals import MADE_HERE


def moved_away(events: Iterable[Event], most: int) -> OrderedDict[str, ExitInfo]:
    """How the copies here of the last ``most`` containers that moved away ended, by id, oldest
    first, as their waits answer it (``moved``, ``movedTo``): from ``events``, the kept log in
    the order published, those whose id no container was made under since."""
    moved: OrderedDict[str, ExitInfo] = OrderedDict()
    for event in events:
        if event.type in MADE_HERE:
            moved.pop(event.id, None)
        elif (
            event.type == "exit"
            and event.detail is not None
            and event.detail.get(MOVED_EXIT_FIELD) is True
            and event.status is not None
        ):
            at = timestamps.format_ns(event.exited_ns())  # as the live server answered it
            ended = ExitInfo(id=event.id, pid=event.pid, exit_status=event.status, exited_at=at)
            moved[event.id] = moved_exit(ended, event.detail)
            moved.move_to_end(event.id)
            if len(moved) > most:
                moved.popitem(last=False)
    return moved
