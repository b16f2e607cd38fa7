"""The attach sessions that follow a container's output, for an auto-removal that lets them
finish first: how many there are, whether those of the last server are due back, and the
waits on them (:class:`AttachSessions`).

Apart from :class:`.Container`: the sessions' count and the removal waiting on it are read by
the attach route and the auto-removal alone, nothing of the container's lifecycle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import trio


class AttachSessions:
    """The attach sessions following one container's output, and the auto-removal waiting on
    them: woken as they come, by each message they send, and by their end."""

    # Made with each container (each start), as its fields were: slots keep that cheap.
    __slots__ = ("_count", "_moved", "due")

    def __init__(self) -> None:
        self._count = 0
        self._moved = trio.lowlevel.ParkingLot()
        #: Its init's exit came while no server ran (this one learnt it at its adoption): the
        #: attach sessions the last server had may be on their way back (their clients connect
        #: again), and an auto-removal gives them the time to (:meth:`wait_back`). Cleared
        #: once a session attaches.
        self.due = False

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """An attach session follows the container's output: an auto-removal waits for it to
        send all of it and the exit status (:meth:`wait_detached`)."""
        self._count += 1
        self.due = False
        self._moved.unpark_all()  # a removal waiting for sessions to come back
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._moved.unpark_all()

    def sent(self) -> None:
        """An attach session sent a message: its client reads, the removal waits on."""
        self._moved.unpark_all()  # no one parked (no removal waiting): next to nothing

    async def wait_back(self, within: float) -> None:
        """Return once an attach session comes (one the last server had, coming back), or
        ``within`` seconds have passed; at once unless :attr:`due`."""
        if not self.due:  # an exit this server saw: its sessions are here already
            return
        with trio.move_on_after(within):
            while self.due:
                await self._moved.park()

    async def wait_detached(self, stalled_after: float) -> None:
        """Return once no attach session follows the container's output, or once they have
        sent nothing for ``stalled_after`` seconds (a client that stopped reading): a slow
        client that goes on reading gets all of it, however long that takes."""
        if not self._count:  # most often: then no cancel scope
            return
        with trio.move_on_after(stalled_after) as stalled:
            while self._count:
                await self._moved.park()
                stalled.deadline = trio.current_time() + stalled_after
