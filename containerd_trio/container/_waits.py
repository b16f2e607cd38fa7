"""The waits on a container: for a process's exit, its init's (this run's, or the next run's
of its id), and its removal; and :class:`Removal`, what the waiters for the removal wait on.

Apart from :class:`.Container`: what a wait answers (a remembered exit, the event log's word,
a 404 once the container went first) is the waits' alone; they read the container's state and
its events (stopped, removed), which the container sets as its processes end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio

from .. import timestamps
from ..errors import NotFound
from ..event_types import INIT_EXIT_FIELD
from ..model import ExitInfo, Status
from ._exits import moved_exit

if TYPE_CHECKING:
    from ._container import Container


@attrs.define(eq=False)
class Removal:
    """A container's removal, shared with its revival (:meth:`Container.revived`): its waiters
    wait for the container they asked about, whichever object holds it by then."""

    #: Set once it is forgotten: runc, its record and its files are gone.
    done: trio.Event = attrs.Factory(trio.Event)
    #: The container a start of its id put in its place, if that is how it went (set before
    #: ``done``; a delete or an autoRemove leaves it None).
    successor: Container | None = None


def _told_exit(container: Container, pid: int) -> ExitInfo | None:
    """How process ``pid`` ended, as the event stream's kept log told it: the last ``exit`` of that
    pid, unless a ``delete`` of the id (a former container's end) or this container's
    creation comes after it (so across its restart policy's runs and its starts again, which
    publish no delete); None if it keeps none. For a wait, where the container remembers no
    exit of ``pid``: a server that took over after a crash or a reload remembers none of
    those before it, and one that ended before the container's last
    :data:`._exits._EXITS_KEPT` is forgotten."""
    created_ns = container.created_ns
    told = container._ctx.events.latest(
        container.id,
        lambda event: (
            event.timestamp_ns < created_ns
            or event.type == "delete"
            or (event.type == "exit" and event.pid == pid)
        ),
    )
    if told is None or told.type != "exit" or told.status is None:
        return None
    if told.unseen() and told.detail is not None and told.detail.get(INIT_EXIT_FIELD) is True:
        # An init that ended while no daemon ran: its status alone, as the container's wait
        # answers it (api.md, events.md's unseen): its time is unknown, and the event's
        # stamp is when it was found gone. Before, this wait answered the pid and that stamp
        # as its exitedAt, and the container's wait did not: ctr-trio wait --json, which asks
        # the init's wait again after a crash, printed them.
        return ExitInfo(id=container.id, exit_status=told.status)
    at = timestamps.format_ns(told.exited_ns())  # its exitedAt: as the live server answered
    info = ExitInfo(id=container.id, pid=pid, exit_status=told.status, exited_at=at)
    return moved_exit(info, told.detail)


async def wait_process(container: Container, pid: int) -> ExitInfo:
    """How process ``pid`` ended, once it has (at once if it already had): a process the
    container no longer remembers is answered from the event log (:func:`_told_exit`),
    where its wait was a 404 that said it was never the container's while the event
    stream still told its exit."""
    try:
        found = container.known_process(pid)
    except NotFound:
        if container.deleted or (told := _told_exit(container, pid)) is None:
            raise
        return told
    if isinstance(found, ExitInfo):
        return found
    # Not at its death: once its exit is reported, as a container's wait answers, so that
    # its output (a child of it may still be writing) is all in the log by the answer.
    await _unless_removed(container, found.reported)
    if not found.exited.is_set():
        raise NotFound(f"container {container.id!r} was deleted before process {pid} exited")
    return container.exit_of(found)


async def wait(container: Container) -> ExitInfo:
    """How the init ended, once it has (at once if the container is stopped)."""
    if container.deleted:
        raise container.gone()
    return await container.wait_run()


async def wait_run(container: Container) -> ExitInfo:
    """How the init's run ended, once it has, deleted since or not: for a waiter that holds
    this container, not its id (a wait for the next exit that came during the start of
    this run: the container may have exited and been deleted before that waiter's turn)."""
    if container.status is not Status.STOPPED:
        await _unless_removed(container, container._stopped)
    if container.status is not Status.STOPPED or container.exit_status is None:
        raise NotFound(f"container {container.id!r} was deleted before it stopped")
    return container.ended()


async def wait_gone(container: Container) -> ExitInfo:
    """How the init ended, once the container is removed (deleted, by autoRemove or
    replaced by a start of its id)."""
    gone = container
    await gone._gone.done.wait()
    while (successor := gone._gone.successor) is not None and successor.continues:
        # A restart's run (or a start again's) is the same container to its user: its
        # removal is awaited, in a
        # loop (awaiting each one's wait_gone from within the last one's nested a frame
        # per restart: past Python's recursion limit, the RecursionError broke trio).
        gone = successor
        await gone._gone.done.wait()
    if gone.status is not Status.STOPPED or gone.exit_status is None:
        raise NotFound(f"container {container.id!r} was removed before it stopped")
    return gone.ended()


async def wait_next_exit(container: Container) -> ExitInfo:
    """How the init's next run ends (docker's ``next-exit``): this one, if it has not
    ended; for a stopped container, that of the start of its id (or the restore) that
    takes its place, whose exit is the id's next one. A removal before that (a delete, an
    autoRemove) is a 404 as a delete before the stop is to :func:`wait`."""
    if container.status is not Status.STOPPED:
        return await container.wait()
    await container._gone.done.wait()
    if container._gone.successor is None:
        raise NotFound(f"container {container.id!r} was removed before its next exit")
    return await container._gone.successor.wait()


async def _unless_removed(container: Container, event: trio.Event) -> None:
    """Wait for ``event``, or for the container's removal if that comes first."""
    if event.is_set():
        return
    async with trio.open_nursery() as nursery:

        async def on_removed() -> None:
            await container._removed.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(on_removed)
        await event.wait()
        nursery.cancel_scope.cancel()
