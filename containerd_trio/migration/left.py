"""A move out of this daemon that a server before this one left under way: settled by this one;
and a live move that this server's roll-back left unsure, settled the same way.

A source server that dies mid-move (kill -9, the OOM killer) leaves its container as the move
had it: paused from the freeze on, its images beside its bundle, and from the restore on perhaps
running on the target too. Each move is recorded (:class:`~.ledger.MoveEntry`) before it makes
anything and before each step that changes who may run the container, so the next server
knows what was under way, and settles it as the dead one would have:

1. It holds the container (its lock, taken before the server serves: no command finds it
   half-moved), and waits for the runc checkpoint the dead server left running (a dump, or a
   pre-copy round: runc is the keeper's orphan now, and goes on), within the move's deadline
   for a dump (its ``timeout``, kept in its record; else the checkpoint deadline), past which
   it is killed, as its server would have killed it. Meanwhile a
   command that would wait for the lock is refused at once (409, naming the reason) instead
   of waiting up to that deadline; reads and signals answer as ever. Then CRIU's work
   directories go, and the move's images, unless the restore was asked: a target that shares
   the bundle may be restoring from them still, so they go once it has said.
2. It asks the target what became of the move (:meth:`LeftMove.settle`):

   - the restore was never asked (or the target never named its session): the target cannot
     run the container. Its session is aborted (by the name it was opened with, if the target
     never named it; if it does not answer, it aborts the session itself once idle, and its
     next server clears what a lost one made), and the copy here is resumed, if the move
     paused it;
   - the restore was asked: the input the copy had not read is handed on (taken out of the
     copy first, if the dead server had not), and the target is asked to finish the session,
     as the dead server would have once the restore answered. A hand-off the target refuses
     (an error status) fails the move there, as it fails a live move: no finish, the
     session is aborted, and the copy here resumed with its input put back (the abort
     answered). Finished: the target keeps the container, and the
     copy here ends as a completed move ends it (its ``delete`` event). Not restored (409:
     the restore failed, or never came): the session is aborted and the copy here resumed.
     No such session (404: it ended, or the target's server restarted): what the target has
     of the container decides, as after a live move's failure (:func:`~.outgoing.consult`);
   - the target does not answer, or cannot say: it may run the container, so the copy here
     stays paused (listed, for the user to act on), and the target is asked again, after 1 s,
     then twice as long each time up to :data:`RETRY_MAX_SECONDS`, until it says. Meanwhile
     its session may end for silence, which deletes what it restored: then the copy here is
     resumed. A user who resumes or deletes the copy meanwhile takes the move into their own
     hands: no more questions (one that ended the copy here after a resume would end the
     user's choice), and the target's session is asked to abort (:meth:`LeftMove.abandon`).

A live move (:mod:`.outgoing`) whose target may run the container but cannot say
(:data:`~.outgoing.Verdict.UNSURE`: the finish and then the abort unanswered, say) keeps its
record and images and hands the move here, to the server's nursery, while it still holds the
container: the questions of step 2 begin after the first pause (it has just asked; nothing of
it runs on), and end as above. A server that stops meanwhile leaves the record to the next one.

Never two copies running, and never none because of the source: the copy here ends only on the
target's word that it keeps the moved container, and runs again only on its word that it has
none (or where it cannot have one).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import trio

from .. import procfs
from ..children import end_process
from ..container import Container, Moving
from ..criu import dump_work
from ..model import Status
from ..mounts import remove_tree
from .ledger import MoveEntry, MoveLedger
from .outgoing import Move, Verdict, consult
from .target import Target, TargetError

log = logging.getLogger(__name__)

#: The longest wait between two questions to a target that does not answer.
RETRY_MAX_SECONDS = 30.0


class LeftMove(Move):
    """A move a server before this one left: its record, and the container's directory (where
    CRIU's work directories are)."""

    def __init__(
        self,
        entry: MoveEntry,
        *,
        keeper_pid: int | None,
        directory: Path,
        ledger: MoveLedger,
        cleanup_timeout: float,
        restore_timeout: float,
        removed: Callable[[], None],
    ) -> None:
        """``keeper_pid``: the keeper of the server that left the move under way (its dump
        may run on, the keeper's orphan); None for a live move of this server whose roll-back
        could not learn whether the target runs the container (its record kept for this)."""
        super().__init__(entry, ledger=ledger, cleanup_timeout=cleanup_timeout, removed=removed)
        self._keeper_pid = keeper_pid
        self._directory = directory
        self._restore_timeout = restore_timeout
        #: What left the move to be settled, for the log.
        self._left = "left unsure when it failed"
        if keeper_pid is not None:
            self._left = "left under way by the last server"
        #: The copy here was to be removed at its exit: see :func:`.outgoing.verdict`.
        self._auto_remove = False

    async def run(
        self,
        container: Container | None,
        *,
        dump_within: float,
        taken: trio.Event,
        task_status: trio.TaskStatus[None],
    ) -> None:
        """Settle the move: hold ``container`` (None: no longer here) and report started, so
        that no command finds it half-moved, then settle it once the dump the last server left
        running has ended (:meth:`clear_dumps`, within ``dump_within``). While the target
        cannot say whether it runs the container, the copy stays paused, its lock free between
        two questions (for the user), and the target is asked again; ``taken`` is set when the
        user resumes or deletes the copy meanwhile, which ends the questions (:meth:`abandon`).
        A live move's (no ``keeper_pid``) has nothing left running, and its roll-back has just
        asked the target: its first question comes after the first pause, the copy's lock
        free meanwhile (the move has let it go).
        """

        self._auto_remove = container is not None and container.auto_remove

        def holding() -> contextlib.AbstractAsyncContextManager[object]:
            return contextlib.nullcontext() if container is None else container.holding_for_dump()

        def taken_by_user() -> str | None:
            """What the user did to the copy the move left paused, between two questions.
            (A resume that another lock holder beat to the lock is seen by the status: its
            event comes after.)"""
            if container is None:
                return None
            if container.deleted:
                return "deleted"
            if container.status is Status.STOPPED:
                return "stopped"
            if taken.is_set() or container.status is not Status.PAUSED:
                return "resumed"
            return None

        async def attempt(*, first: bool) -> bool:
            settled = False
            try:
                if first and self._keeper_pid is not None:
                    with self._held_for_the_dump(container, dump_within):
                        await self.clear_dumps(self._keeper_pid, within=dump_within)
                held = None if container is None or container.deleted else Moving(container)
                with trio.CancelScope(shield=True):  # each of its steps has a deadline
                    settled = await self.settle(held)
            except Exception as exc:  # one move must not end the server: said, asked again
                log.exception("cannot settle migration %s: %s", self.name, exc)
            return settled

        if self._keeper_pid is None:
            task_status.started()
            settled = False
        else:
            async with holding():
                task_status.started()
                settled = await attempt(first=True)
        pause = 1.0
        while not settled:
            with trio.move_on_after(pause):
                await taken.wait()
            pause = min(2 * pause, RETRY_MAX_SECONDS)
            async with holding():
                user = taken_by_user()
                if user is None:
                    settled = await attempt(first=False)
            if user is not None:
                try:
                    await self.abandon(user)
                except Exception as exc:  # as in attempt: never the server's end
                    log.exception("cannot end the settling of migration %s: %s", self.name, exc)
                return

    @contextlib.contextmanager
    def _held_for_the_dump(self, container: Container | None, within: float) -> Iterator[None]:
        """While the dump the last server left runs on (up to ``within`` seconds), a command
        on ``container`` is refused at once (409) rather than left waiting for its lock as
        long: the user learns why, and what to do."""
        if container is None:
            yield
            return
        container.held_for = (
            f"being settled after migration {self.name}, which the last server left under"
            f" way: this server waits for the runc checkpoint that server left running (up to"
            f" {within:g} s); try again shortly"
        )
        try:
            yield
        finally:
            container.held_for = None

    async def clear_dumps(self, keeper_pid: int, within: float) -> None:
        """Wait for the runc checkpoint of this move the last server left running (the
        keeper's orphan: its command line names the move's work directory) for ``within``
        seconds, and kill it past that; then remove the move's work directories, and its
        images unless the target was asked to restore from them: one that shares the bundle
        may be reading them still (they go once the target has said, :meth:`settle`)."""
        marker = os.fsencode(dump_work(self._directory, self.name))
        waited: set[int] = set()
        while (pid := procfs.child_running(keeper_pid, marker)) is not None and pid not in waited:
            waited.add(pid)  # once: one that a SIGKILL does not end is past waiting for
            if await end_process(pid, grace=within, tree=True):
                log.error("killed the runc checkpoint (pid %d) the last server left running", pid)
        for name in self._images:
            remove_tree(dump_work(self._directory, name))
        if not self._restore_asked:
            self._discard_images()

    async def settle(self, moving: Moving | None) -> bool:
        """Ask the target what became of the move, and end it here as that says (``moving``:
        the container held, None if it is no longer here). True once settled (its record
        removed); False if the target could not say: the copy stays paused, to ask again."""
        taken_here = 0
        if moving is not None and self._restore_asked and self._session is not None:
            taken_here = self._take_stdin(moving)
        async with self._target() as target:
            decided, reason = await self._ask(target)
        what = self._what()
        if decided is Verdict.UNSURE:
            if moving is not None and taken_here:
                # As a live move left unsure does (:meth:`.Outgoing._keep_stdin_here`): back
                # into the paused copy, which reads it if it runs here again, and kept (and
                # recorded) to hand on before the finish asked again.
                await self._give_back_stdin(moving, for_the_target_too=True)
            log.error(
                "%s, %s: the target may run the container (%s); its copy here stays paused"
                " until the target says", what, self._left, reason,
            )  # fmt: skip
            return False
        if moving is None:
            outcome = f"the target says {decided.value}, and the container is no longer here"
        elif decided is Verdict.KEPT:
            outcome = "the target runs the container: its copy here is removed"
            if taken_here and not self._stdin_handed:
                # Taken out of the copy by this server (the last one died before it did):
                # the target's session had ended without it, which never had it.
                outcome += (
                    f", and with it the {taken_here} bytes of input it had not read, which"
                    " the target's session, ended before they could be handed on, never"
                    " took: they are lost"
                )
            elif self._stdin and not self._stdin_handed:
                # Sent again, the hand-off found the session ended: by the finish (the last
                # server's, sent only once the target had answered the hand-off: it has the
                # input), or without one (its next server kept the container: it has not).
                outcome += (
                    f", and with it the {len(self._stdin)} bytes of input it had not read,"
                    " which the target's session, ended when they were handed on again, took"
                    " only if it was finished"
                )
            await self._give_up(moving)
        else:
            outcome = "the target does not run the container: the copy here is the one"
            moving.frozen = self._pausing and moving.container.status is Status.PAUSED
            if self._stdin and not self._stdin_in_copy:
                # Taken out of it for the target by the last server: back where it was,
                # ahead of what is typed from now on (unless it was put back already).
                await self._give_back_stdin(moving)
            if (problem := await self._thaw(moving)) is not None:
                outcome = f"the target does not run the container; it stays paused ({problem})"
        self._discard_images()
        self._forget()
        log.warning("%s was %s: %s", what, self._left, outcome)
        return True

    def _take_stdin(self, moving: Moving) -> int:
        """What the copy had not read of its input, taken out of its pipe or terminal to hand
        on before the finish, as the live move does once the restore answered
        (:meth:`.Outgoing._hand_on_stdin`), if the last server died before it took it (during
        the target's restore, say): else the copy removed once the target keeps the
        container took it along, untold (until 2026-12-05). Recorded before it is handed on:
        a server killed meanwhile leaves it to the next. The bytes taken (0: none, or taken
        already)."""
        if self._stdin:  # taken by the last server (recorded), or by an earlier attempt
            return 0
        self._stdin = moving.take_stdin()
        self._stdin_in_copy = False
        if self._stdin:
            self._record()
        return len(self._stdin)

    async def abandon(self, taken: str) -> None:
        """The user ``taken`` the copy here (resumed it, deleted it) while the target could
        not say: the move is theirs now. No more questions, and the target is asked once to
        abort its session, which deletes what it restored: a copy resumed here must not run
        there too (unanswered, the session aborts itself after a minute of silence)."""
        aborted = "the target's session, unanswered, aborts itself once idle"
        if self._session is not None:
            async with self._target() as target:
                with trio.move_on_after(self.cleanup_timeout):
                    try:
                        had = await target.abort(self._session)
                    except TargetError as exc:
                        aborted = f"{aborted} ({exc.message})"
                    else:
                        aborted = f"the target {'aborted its' if had else 'had no'} session"
        self._discard_images()
        self._forget()
        if self._stdin and not self._stdin_in_copy:
            aborted += (
                f"; the {len(self._stdin)} bytes of input the copy had not read, taken out of"
                " it for the target by the last server, are not put back"
            )
        log.warning(
            "%s, %s: the user %s the copy here while the target could not say; no more"
            " questions, and %s", self._what(), self._left, taken, aborted,
        )  # fmt: skip

    def _what(self) -> str:
        return f"migration {self.name} of {self.container_id} to {self.address}"

    @contextlib.asynccontextmanager
    async def _target(self) -> AsyncIterator[Target]:
        target = Target(
            self.address, answer_within=self.cleanup_timeout, restore_within=self._restore_timeout
        )
        try:
            yield target
        finally:
            with trio.move_on_after(self.cleanup_timeout, shield=True):
                await target.aclose()

    async def _ask(self, target: Target) -> tuple[Verdict, str]:
        """What the target says became of the move, and why when it cannot say."""
        session = self._session
        if session is None:
            # Opened or not, the target cannot run it; but a session it opened, whose answer
            # the last server never recorded, is aborted by its name, as a live move's
            # unanswered open is: else it refused the container's next move there (409,
            # "moving here already") until it ended itself, idle, a minute later.
            await self._abort_unanswered_open(target)
            return Verdict.RESUME, ""
        refused = False
        if self._restore_asked and self._stdin and not self._stdin_handed:
            # What the copy had not read (taken out of it for the target, by the dead server
            # or by this one), which may not have been handed on: before the finish, as the
            # dead server would have (the target writes it once).
            try:
                self._stdin_handed = await target.send_stdin(session, self._stdin)
            except TargetError as exc:
                if exc.target_status is None:
                    return Verdict.UNSURE, exc.message
                # Refused (409: not restored there; or it could not take it): the move fails
                # there, as the live move's does (:meth:`.Outgoing._send_stdin`), and the
                # session is aborted below. Finished, the target would keep the container
                # without its input, which would go with the copy (until 2026-12-05).
                refused = True
                log.warning(
                    "%s, %s: %s; the target's session is aborted", self._what(), self._left,
                    exc.message,
                )  # fmt: skip
        if self._restore_asked and not refused:
            try:
                await target.finish(session)
            except TargetError as exc:
                if exc.target_status not in (404, 409):
                    return Verdict.UNSURE, exc.message
            else:
                return Verdict.KEPT, ""
        consulted = await consult(
            target, session, self.container_id, self.name,
            restore_asked=self._restore_asked, within=self.cleanup_timeout,
            auto_remove=self._auto_remove,
        )  # fmt: skip
        return consulted.verdict, consulted.reason
