"""A container's dumps (a checkpoint's, a migration's, a pre-copy round's) and what ends one
before its end: a SIGKILL to the init, the daemon's or another's, and a delete whose grace
ends during a checkpoint's (:class:`DumpGuard`).

Apart from :class:`.Container`: the dump under way, who holds the lock for it, and the deletes
waiting behind it are state that only the dumps, the signals and the delete read; the guard is
given the container's lock, and the init's pid for each dump, and needs nothing else of it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

import trio

from .. import procfs
from ..beside import beside
from ..criu_progress import CriuProgress
from ..errors import Conflict
from ..events import STOPPING_ERROR

log = logging.getLogger("containerd_trio.container")

T = TypeVar("T")

#: How often a dump looks for its init dying of a signal the daemon did not send, and how long
#: it lets a dying init be before it ends the dump (:meth:`DumpGuard._end_if_init_dies`).
_DUMP_WATCH_INTERVAL = 0.1
_DYING_INIT_GRACE = 5.0
#: What a dump's 409 says the container was during it, as the dump ended for it.
_KILLED = "killed (SIGKILL)"
_DELETED = "deleted"


class DumpGuard:
    """The dump under way of one container, and the hold of its lock for one."""

    # Made with each container (each start), as its fields were: slots keep that cheap.
    __slots__ = (
        "_container_id", "_deletable", "_deleted_during", "_ended_as", "_lock", "_scope",
        "deletes_waiting", "held",
    )  # fmt: skip

    def __init__(self, container_id: str, lock: trio.Lock) -> None:
        self._container_id = container_id
        self._lock = lock
        #: A checkpoint or a migration holds the lock (:meth:`holding`): the container stays
        #: as that command leaves it, and a SIGKILL sent to it paused stays pending (see
        #: Supervisor._may_thaw). Any other holder is let end first (:meth:`.Container
        #: .resume_killed`).
        self.held = False
        #: Deletes waiting for the lock (a checkpoint's dump holds it, or another command):
        #: see :attr:`.Container.being_deleted`.
        self.deletes_waiting = 0
        #: The dump of a checkpoint under way, which a SIGKILL to the init ends (see
        #: :meth:`kill_ends`), and a delete whose grace ends during a checkpoint's
        #: (:meth:`locked_for_delete`).
        self._scope: trio.CancelScope | None = None
        #: Whether that dump is a checkpoint's (a delete ends it), not a migration's.
        self._deletable = False
        #: What ended the dump under way, as its 409 says the container was during it; None
        #: for a kill the daemon did not send (:meth:`_end_if_init_dies`): killed too.
        self._ended_as: str | None = None
        #: A delete's grace ended while it waited for the lock: a checkpoint's dump that
        #: begins before the delete's turn (one queued ahead of it) is ended at once.
        self._deleted_during = False

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Hold the lock for a checkpoint or a migration (one this server runs, or one the
        last server left, being settled): CRIU dumps the container as it finds it, and leaves
        it so; a SIGKILL to it paused meanwhile thaws nothing (:attr:`held`)."""
        async with self._lock:
            self.held = True
            try:
                yield
            finally:
                self.held = False

    def kill_ends(self, signum: int) -> None:
        """A SIGKILL to the init ends a checkpoint's dump under way. CRIU holds the tasks
        seized (ptrace): the dying init waits for its children, whose exits go to CRIU, their
        tracer, which waits on the init; neither ends until the checkpoint's deadline (600 s
        by default), and every command of the container waits behind it. Killing runc and
        CRIU lets the init end, as its user asked."""
        if signum == signal.SIGKILL and self._scope is not None:
            log.info(
                "container %s killed during its checkpoint: ending the dump", self._container_id
            )
            self._end(_KILLED)

    def _end(self, ended_as: str) -> None:
        """End the dump under way (its runc and CRIU killed, nothing of its images left), for
        a 409 that says the container was ``ended_as`` during it (the first reason given)."""
        if self._scope is None:
            return
        if self._ended_as is None:
            self._ended_as = ended_as
        self._scope.cancel()

    async def _end_if_init_dies(self, dump: trio.CancelScope, pid: int) -> None:
        """End the ``dump`` if the init (``pid``) dies of a signal the daemon did not send (a
        shell's kill -9, the OOM killer's), which :meth:`kill_ends` does not see: the init, in
        its exit, waits for its children, which CRIU holds seized, and CRIU waits on it, until
        the checkpoint's deadline. Nothing wakes on a process beginning its exit (its pidfd
        does only at its end), so it is looked for. A dump with exit, whose CRIU kills the
        init itself once the images are written, ends within milliseconds of that: the grace
        leaves it to end so."""
        while not procfs.exiting(pid):  # noqa: ASYNC110 - no event to wait on: the kernel's
            await trio.sleep(_DUMP_WATCH_INTERVAL)
        await trio.sleep(_DYING_INIT_GRACE)
        log.info("container %s: its init died during its dump: ending the dump", self._container_id)
        dump.cancel()

    async def unless_killed(
        self,
        dump: Callable[[], Awaitable[T]],
        init_pid: int,
        action: str,
        during: str,
        progress: CriuProgress | None = None,
        *,
        deletable: bool = False,
    ) -> T:
        """``dump()`` (a runc checkpoint: a checkpoint's, a migration's, a pre-copy round's),
        ended by a SIGKILL of the init (``init_pid``), the daemon's (:meth:`kill_ends`) or
        another's (:meth:`_end_if_init_dies`): the dump's runc and CRIU killed (no images
        left), its course on the event stream (``progress``'s) ended with
        ``checkpoint-failed``, and a 409 that says the container was killed ``during`` it.
        Before, a migration's dump was neither: the kill deadlocked with CRIU until the move's
        deadline (600 s by default), the move and every command of the container waiting; and
        a checkpoint's killed dump left its ``checkpoint-started`` without an end. So did one a
        stopping daemon cancelled (its cancel reaches the progress's companion task too, and
        ends :meth:`CriuProgress.dump` before it can say it): its course ends here.

        ``deletable``: a checkpoint's dump, which a delete whose grace ends during it ends too
        (:meth:`locked_for_delete`), a 409 that says the container was deleted."""
        scope = trio.CancelScope()
        self._scope = scope
        self._deletable = deletable
        self._ended_as = None
        if deletable and self._deleted_during:
            self._end(_DELETED)
        try:
            with scope:
                # The dump's failure comes out as it is (beside's outcome), not in a group: its
                # callers (a move's failed step) say its message.
                watcher = partial(self._end_if_init_dies, scope, init_pid)
                return (await beside(dump, watcher)).unwrap()
        except BaseException:
            if progress is not None:  # a no-op where the dump said its end itself
                progress.failed_outside(STOPPING_ERROR)
            raise
        finally:
            self._scope = None
            self._deletable = False
        ended_as = self._ended_as or _KILLED
        killed = Conflict(
            f"cannot {action} container {self._container_id!r}: it was {ended_as} during {during}"
        )
        if progress is not None:
            progress.failed_outside(killed.message)
        raise killed

    @contextlib.asynccontextmanager
    async def locked_for_delete(self, grace: float) -> AsyncIterator[None]:
        """The lock, for a delete whose grace ends in ``grace`` seconds. A checkpoint's dump
        that holds it then is ended (as a SIGKILL ends it: runc and CRIU killed, nothing of
        the checkpoint left, a 409 that says the container was deleted during it); so is
        one that begins before the delete's turn. The container then gets its SIGKILL from
        the delete's stop, its grace spent. No SIGTERM meanwhile: sent as CRIU dumps, it
        would be saved pending in the images, and delivered at their restore. Before, the
        delete waited for the whole dump (up to its deadline, 600 s by default), past its
        own grace. A migration's dumps are not ended: the move holds the container until it
        ends."""
        # Released however this ends once taken: a cancel that reaches the nursery's end,
        # after the lock came, would otherwise leave the container locked for good.
        acquired = False
        try:
            if not self._lock.locked():
                await self._lock.acquire()  # nothing to wait for: no task to watch the grace
                acquired = True
            else:
                self.deletes_waiting += 1  # being deleted from now on, in memory only
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._end_dumps_after, grace)
                        await self._lock.acquire()
                        acquired = True
                        nursery.cancel_scope.cancel()
                finally:
                    self.deletes_waiting -= 1
            # Nothing dumps while the delete holds the lock; once it lets go (a failed
            # removal, the container kept), checkpoints run again.
            self._deleted_during = False
            yield
        finally:
            if acquired:
                self._lock.release()

    async def _end_dumps_after(self, grace: float) -> None:
        await trio.sleep(grace)
        self._deleted_during = True
        if self._deletable:
            log.info(
                "container %s deleted during its checkpoint: ending the dump", self._container_id
            )
            self._end(_DELETED)
