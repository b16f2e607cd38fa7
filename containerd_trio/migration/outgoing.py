"""The source's side of a migration: one container moved to another daemon, step by step.

The steps (each reported as it ends, see :class:`~.model.MigrationStep`):

1. **session**: the checkpoint's directory is reserved in the bundle (a fresh random name),
   then the target opens a session for the container (``POST /migrations``). If the target
   sees that directory, the two share the bundle and nothing will be copied. An open without
   an answer fails the move, and the session the target may have opened is aborted by the
   checkpoint's name (the source knows no id).
2. **bundle** (``withBundle``): the whole bundle streamed to the target while the container
   runs on; the time is taken first, so that the final copy carries what changed since. A
   bundle no import would take (a device node no archive carries, :mod:`..archive.devices`)
   is refused before step 1, as an error of the migrate itself.
3. **pre-copy** rounds: the memory, while the container runs on (each round only what changed
   since the one before). Only where the kernel tracks dirty pages (checked before anything).
4. **freeze**: the container is paused. The downtime starts here.
5. **checkpoint**: CRIU dumps the paused container and leaves it paused (not killed: if
   anything fails from here on, it is simply resumed).
6. **transfer**: the checkpoint streamed to the target, with the rootfs changes since step 2.
7. **restore**: the target restores it (in a cgroup of its own). The downtime ends.
8. **finish**: the target keeps it; the source kills its frozen copy and forgets it. A finish
   unanswered (the target's server killed: its next one goes on with the session) is sent
   again, within the cleanup deadline from the first (:meth:`Outgoing._finish`).

Each move is recorded (:class:`~.ledger.MoveEntry`) before it makes anything, and again before
each step that changes who may run the container (the session opened, the pause, the restore
asked): a server that dies mid-move leaves the next one the means to settle it (:mod:`.left`).

Any failure after step 1 rolls back: the target is told to abort (it removes all the session
made, the restored container included), the container is resumed here, the images removed.
Once the target was asked to restore the container, though, it is resumed here only if the
target says that it does not run it (:func:`verdict`): a container never runs in both places.
A target that may run it but cannot say leaves the copy here paused, and the move, its record
kept, to the same settling as a move a dead server left (:class:`~.left.LeftMove`): the target
is asked again until it says.
The restored container carries the source's labels and :data:`~.model.MIGRATION_LABEL`, by
which the source knows it for the one it moved, the source's autoRemove, its restart
policy with the count of restarts made, and its createdAt.
"""

from __future__ import annotations

import base64
import enum
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

import attrs
import trio

from .. import checkpoints
from ..archive import (
    BundleContent,
    ExportOptions,
    ExportPlan,
    ImageKind,
    plan_export,
    rootfs_clock_ns,
)
from ..beside import beside
from ..container import Container, Moving
from ..convert import structure
from ..errors import DaemonError, InvalidRequest
from ..model import ContainerInfo, Status
from ..runtime import CriuOptions
from ..timestamps import format_ns
from . import incoming
from .incoming import pre_copy_name
from .ledger import MoveEntry, MoveLedger
from .model import MIGRATION_LABEL, MigrationStep, StepName
from .target import Target, TargetError

log = logging.getLogger(__name__)

Report = Callable[[MigrationStep], None]

T = TypeVar("T")


@attrs.frozen
class Plan:
    """What the client asked for."""

    to: str
    pre_copy: int
    with_bundle: bool
    target_bundle: str | None
    options: CriuOptions
    #: The seconds each dump here (each pre-copy round, the final dump) may take; None: the
    #: daemon's --checkpoint-timeout. (The target restores under its own.)
    timeout: float | None = None


class Verdict(enum.Enum):
    """What a failed move does with the container here."""

    RESUME = "resume"  # the target cannot run it
    KEPT = "kept"  # the target runs it: the copy here ends, the move is done after all
    UNSURE = "unsure"  # the target may run it: it stays paused here


def verdict(
    *,
    restore_asked: bool,
    aborted: bool | None,
    there: ContainerInfo | None,
    migration: str,
    auto_remove: bool = False,
) -> Verdict:
    """After a failure: ``aborted`` is the target's answer to the abort (True: it removed all
    the session made; False: it had no such session: it finished it, or aborted it for
    silence, or its server restarted; None: no answer, or it failed to abort it); ``there``
    its container of this id (asked only if the session was gone and the restore asked), the
    moved one if it carries ``migration`` as :data:`~.model.MIGRATION_LABEL`.

    Before the restore was asked the target cannot run the container, whatever it answers.
    After, the container is resumed here only on the target's word that it has none of this
    id, and the copy here ends only if the target runs the moved one (running or paused,
    with this move's label). Anything else is unsure: the moved one stopped or created there
    (it ended, or a failed abort or roll-back left it), one without the label (a restore its
    server adopted from runc's word alone, its record unwritten; or a stopped one that a
    roll-back whose runc delete failed put back, runc's leftover beside it). None there is
    unsure too for a container with ``auto_remove``: the moved one may have ended there, and
    been removed, after a finish whose answer was lost; resumed here, it would run twice."""
    if not restore_asked or aborted is True:
        return Verdict.RESUME
    if aborted is None:
        return Verdict.UNSURE
    if there is None:
        return Verdict.UNSURE if auto_remove else Verdict.RESUME
    moved = there.labels.get(MIGRATION_LABEL) == migration
    if moved and there.state.status in (Status.RUNNING, Status.PAUSED):
        return Verdict.KEPT
    return Verdict.UNSURE


#: How soon an abort the target did not get (or whose connection was lost) is asked again.
_ABORT_AGAIN = 0.1


class TargetLink(Protocol):
    """What :func:`consult` asks of the target (:class:`~.target.Target`)."""

    async def abort(self, migration: str) -> bool: ...

    async def container(self, container_id: str) -> ContainerInfo | None: ...


@attrs.frozen
class Consulted:
    """What the target said after a failure, and what follows from it."""

    verdict: Verdict
    #: The target holds nothing of the move: it aborted the session, or had none.
    clean: bool
    #: Its container of this id (asked only if the session was gone after the restore).
    there: ContainerInfo | None
    #: Verdict.UNSURE: why the target may run the container.
    reason: str


async def consult(
    target: TargetLink,
    session: str,
    container_id: str,
    migration: str,
    *,
    restore_asked: bool,
    within: float,
    auto_remove: bool = False,
) -> Consulted:
    """Ask the target to abort the session and, if it had none and may have run the
    container, which container of this id it has: the inputs of :func:`verdict`, within
    ``within`` seconds. An abort that fails (the target could not delete its copy, or it
    is shutting down) says nothing of what it runs."""
    aborted: bool | None = None
    there: ContainerInfo | None = None
    reason = f"no answer to the abort within {within:g} s"
    with trio.move_on_after(within):
        while True:
            try:
                aborted = await target.abort(session)
                break
            except TargetError as exc:
                reason = exc.message
                if exc.target_status is not None:
                    break  # it answered: it could not abort
            # Unreached, or the connection lost (a target whose server just died, whose next
            # one takes the request; a keep-alive connection closed as it was reused): asked
            # again, as an abort may be (one that came through and whose answer was lost is
            # answered "no such session", which the verdict reads). It was asked once, and a
            # move the target's next server would have rolled back said it was not.
            await trio.sleep(_ABORT_AGAIN)
        if aborted is False and restore_asked:
            aborted, reason = None, f"no answer within {within:g} s"
            try:
                there = await target.container(container_id)
                aborted = False
            except TargetError as exc:
                reason = exc.message
    if aborted is None:
        log.error("migration of %s: the target did not settle it: %s", container_id, reason)
    decided = verdict(
        restore_asked=restore_asked, aborted=aborted, there=there, migration=migration,
        auto_remove=auto_remove,
    )  # fmt: skip
    if decided is Verdict.UNSURE and there is None and aborted is False:
        reason = (
            "it has no container of this id, and the container was to be removed at its exit"
            " (autoRemove): the moved one may have run there, and ended"
        )
    if decided is Verdict.UNSURE and there is not None:
        status = there.state.status.value
        if there.labels.get(MIGRATION_LABEL) == migration:
            reason = (
                f"it has the moved container, {status}: it ended there, or a failed abort or"
                " roll-back left it"
            )
        else:
            reason = f"it has a container of this id, {status}, without this move's label"
    return Consulted(decided, aborted is not None, there, reason)


@attrs.frozen
class _Undone:
    """A failed move's end: the container resumed here, and ``rolled_back`` if nothing of
    the move is left on the target; or left paused here (``paused`` says why, and what
    follows)."""

    rolled_back: bool
    paused: str | None = None


@attrs.frozen
class _Kept:
    """A failed move's end after all: the target runs the container (its answer to the
    finish was lost, or its server restarted after the restore)."""

    container: ContainerInfo


class Move:
    """What a move out of this daemon made here, and its record (:class:`~.ledger.MoveEntry`):
    what the live move (:class:`Outgoing`) and the next server's settling of one a server
    left (:class:`~.left.LeftMove`) share."""

    def __init__(
        self,
        entry: MoveEntry,
        *,
        ledger: MoveLedger,
        cleanup_timeout: float,
        removed: Callable[[], None],
    ) -> None:
        self.name = entry.id
        self.container_id = entry.container_id
        self.bundle = Path(entry.bundle)
        self.address = entry.target
        self.cleanup_timeout = cleanup_timeout
        self._ledger = ledger
        self._removed = removed
        self._images = list(entry.images)  # what this migration made in the source bundle
        self._session = entry.session
        #: The move pauses the container (and resumes it if the move is undone).
        self._pausing = entry.pausing
        #: The target was asked to restore the container: it may run it from then on.
        self._restore_asked = entry.restore_asked
        #: The seconds each dump may take (None: the daemon's --checkpoint-timeout).
        self.timeout = entry.timeout
        #: The input the copy had not read, taken out of its pipe for the target.
        self._stdin = b"" if entry.stdin is None else base64.b64decode(entry.stdin)
        #: The target said it has that input (its hand-off answered).
        self._stdin_handed = False
        #: That input is back in the copy too, which reads it if it runs here again: it is
        #: kept only to hand it on, should the target keep the container.
        self._stdin_in_copy = entry.stdin_in_copy

    def entry(self) -> MoveEntry:
        """The move's record as it stands."""
        stdin = base64.b64encode(self._stdin).decode() if self._stdin else None
        return MoveEntry(
            self.name, self.container_id, str(self.bundle), self.address, self._session,
            list(self._images), self._pausing, self._restore_asked, self.timeout, stdin,
            bool(self._stdin) and self._stdin_in_copy,
        )  # fmt: skip

    def _record(self) -> None:
        """Write the move's record as it stands: before each thing it is about to do."""
        self._ledger.write(self.entry())

    def _forget(self) -> None:
        """The move has ended: no next server is to settle it."""
        self._ledger.remove(self.name)

    async def _give_back_stdin(self, moving: Moving, *, for_the_target_too: bool = False) -> None:
        """Put back into the copy's pipe (or terminal) the input taken out of it for the
        target (:meth:`.Outgoing._hand_on_stdin`, :meth:`.LeftMove._take_stdin`), ahead of
        what was typed since, if anything was: the copy here reads it. Not waited for past
        what its input takes at once (:meth:`.Moving.give_back_stdin`): the rest goes in as
        the copy, resumed, reads. ``for_the_target_too``: it is kept (and recorded) to hand
        on to a target that may yet keep the container (a move left unsure)."""
        data = self._stdin
        if for_the_target_too:
            self._stdin_in_copy = True
        else:
            self._stdin = b""
        self._record()  # in the copy's input again: not the next server's to put back
        with trio.move_on_after(self.cleanup_timeout) as late:
            await moving.give_back_stdin(data)
        if late.cancelled_caught:
            log.error(
                "migration of %s: the input it had not read could not all be put back",
                self.container_id,
            )

    async def _give_up(self, moving: Moving) -> None:
        """The container runs on the target: end its frozen copy here. Whatever happens, it
        leaves this daemon's table; a copy not removed in time keeps its record marked
        deleting, for the next server to finish (a copy left listed, marked so, would
        refuse every command on its id)."""
        try:
            with trio.move_on_after(self.cleanup_timeout, shield=True) as deadline:
                await moving.end(self.address)
            if deadline.cancelled_caught:
                log.error(
                    "migrated container %s: its frozen copy here was not removed within %s s;"
                    " the next server removes it", self.container_id, self.cleanup_timeout,
                )  # fmt: skip
        except Exception as exc:  # the move stands: its copy here is the next server's to end
            log.error(
                "migrated container %s: its frozen copy here could not be removed: %s",
                self.container_id, _said(exc),
            )  # fmt: skip
        finally:
            self._removed()
            self._discard_images()

    async def _thaw(self, moving: Moving) -> str | None:
        """Resume what the move paused, within the deadline; what went wrong, if it could
        not (then it stays paused: the user's to resume)."""
        problem = f"no answer within {self.cleanup_timeout:g} s"
        with trio.move_on_after(self.cleanup_timeout):
            try:
                await moving.thaw()
                return None
            except Exception as exc:
                problem = _said(exc)
        log.error("migration of %s: cannot resume it: %s", self.container_id, problem)
        return problem

    async def _abort_unanswered_open(self, target: Target) -> None:
        """The open had no answer (it timed out, its connection broke once it was sent, the
        move was cancelled meanwhile, or the server that sent it died before it recorded
        one): the target may have opened the session all the same, which would refuse every
        other move of the container there until it ended for silence. Abort it by the name
        it was opened with (the target may know none of that name: then there is nothing to
        abort, or the open reaches it after the abort, and the session ends itself, idle)."""
        with trio.move_on_after(self.cleanup_timeout):
            try:
                if await target.abort(self.name):
                    log.warning(
                        "migration of %s: the target opened the session, its answer lost:"
                        " aborted", self.container_id,
                    )  # fmt: skip
                return
            except TargetError as exc:
                log.warning("migration of %s: %s", self.container_id, exc.message)
                return
        log.warning(
            "migration of %s: the target did not answer the abort of an unanswered open within"
            " %g s: a session it opened ends itself, idle", self.container_id,
            self.cleanup_timeout,
        )  # fmt: skip

    def _discard_images(self) -> None:
        directory = checkpoints.checkpoints_dir(self.bundle)
        for name in self._images:
            checkpoints.discard(directory / name)
        self._images.clear()


class Outgoing(Move):
    """One migration of ``container`` (run by the supervisor, in its nursery). A move whose
    target may run the container but cannot say is handed, its record kept, to
    ``settle_later``, which asks the target again until it says (:class:`~.left.LeftMove`,
    as for a move a dead server left), while the move still holds the container."""

    def __init__(
        self,
        container: Container,
        plan: Plan,
        *,
        ledger: MoveLedger,
        cleanup_timeout: float,
        restore_timeout: float,
        removed: Callable[[], None],
        settle_later: Callable[[MoveEntry], Awaitable[None]],
    ) -> None:
        name = f"migration-{secrets.token_hex(6)}"
        # Its checkpoint's directory is the first thing it makes.
        entry = MoveEntry(
            name, container.id, str(container.bundle), plan.to, images=[name],
            timeout=plan.timeout,
        )  # fmt: skip
        super().__init__(entry, ledger=ledger, cleanup_timeout=cleanup_timeout, removed=removed)
        self.container = container
        self.plan = plan
        self.target = Target(plan.to, answer_within=cleanup_timeout, restore_within=restore_timeout)
        self._sent = 0
        #: The target sees the source's bundle: nothing to copy.
        self.shared = False
        self._frozen = 0.0  # perf_counter() at the freeze
        self._settle_later = settle_later
        #: The target may run the container and could not say: the move's record and images
        #: stay, for the settling (:mod:`.left`): this server's, or, if the daemon's end cut
        #: the move short, the next server's.
        self._unsettled = False
        #: This daemon's own target side was asked for the session (:meth:`_open`): ``to``
        #: names this daemon itself. Set by the supervisor, which finds the move by its name
        #: in the request (:meth:`.Supervisor.moving_away`).
        self.to_itself = False

    async def run(self, report: Report, *, task_status: trio.TaskStatus[None]) -> None:
        """Report each step; ``task_status.started()`` once the target agreed (before that, a
        failure is raised to the caller and nothing is left anywhere)."""
        began = time.perf_counter()
        container = self.container
        bundle = container.bundle
        try:
            if self.plan.with_bundle:
                # Before anything is made: a bundle the target would refuse (a device node no
                # archive carries) is refused now, not once its copy has been sent.
                await self._plan_export(None, ExportOptions(bundle=BundleContent.FULL))
            async with container.moving() as moving:
                self._record()  # before the images it names are made
                checkpoints.reserve(bundle, self.name)
                try:
                    session = await self._open(report)
                except BaseException as exc:
                    self._discard_images()
                    if not isinstance(exc, Exception) or (
                        isinstance(exc, TargetError) and exc.unanswered
                    ):
                        with trio.CancelScope(shield=True):  # it has its own deadline
                            await self._abort_unanswered_open(self.target)
                    raise
                self._record()  # the session, for the next server to ask about it
                task_status.started()
                try:
                    restored, downtime, finishing = await self._move(moving, session, report)
                except BaseException as exc:
                    with trio.CancelScope(shield=True):  # each of its parts has a deadline
                        await self._settle(moving, session, exc, report, began)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    # The target keeps the container: nothing is rolled back from here on.
                    await self._done(moving, restored, report, began, finishing, downtime)
        finally:
            # Ended here, however: done, or rolled back; but for a move left unsure, which
            # the settling ends.
            if not self._unsettled:
                self._forget()
            with trio.move_on_after(self.cleanup_timeout, shield=True):
                await self.target.aclose()

    async def _settle(
        self, moving: Moving, session: str, exc: BaseException, report: Report, began: float
    ) -> None:
        """A step failed, or the daemon's shutdown ended the move: roll it back and end the
        stream with what came of it."""
        if isinstance(exc, Exception):
            message = _said(exc)
            log.warning("migration of %s failed: %s", self.container.id, message)
        else:  # the stream still says how it ended
            message = "the daemon is shutting down: the migration was ended"
        ending = not isinstance(exc, Exception)
        outcome = await self._roll_back(moving, session, ending=ending)
        if isinstance(outcome, _Kept):
            log.warning("migration of %s: the target runs it all the same", self.container.id)
            # Found out after a failure: the container ran there before this moment.
            downtime = _since(self._frozen)
            await self._done(moving, outcome.container, report, began, time.perf_counter(),
                             downtime)  # fmt: skip
            return
        if outcome.paused is not None:
            message = f"{message}; {outcome.paused}"
        report(
            MigrationStep(
                StepName.FAILED, _since(began), error=message, rolled_back=outcome.rolled_back
            )
        )

    async def _open(self, report: Report) -> str:
        started = time.perf_counter()
        plan = self.plan
        bundle_path = plan.target_bundle or str(self.container.bundle)
        try:
            answer = await self.target.open(
                self.container.id, bundle_path, self.name, with_bundle=plan.with_bundle,
                labels=self.container.labels, auto_remove=self.container.auto_remove,
                process=self.container.start_process,
                restart_policy=self.container.restart_policy,
                restart_count=self.container.restart_count,
                created_at=format_ns(self.container.created_ns),
            )  # fmt: skip
        except TargetError:
            if self.to_itself:
                # The client's mistake, not a target's failure (a 502): said as such. Before
                # (until 2026-12-06) it was the 502 of the target's "runs here already".
                raise InvalidRequest(
                    f"cannot migrate container {self.container.id!r} to {plan.to}: that is"
                    " this daemon itself; name another daemon as the target"
                ) from None
            raise
        self.shared = bool(answer.get("sharedBundle"))
        self._session = str(answer["id"])
        report(MigrationStep(StepName.SESSION, _since(started), target=plan.to))
        return self._session

    async def _move(
        self, moving: Moving, session: str, report: Report
    ) -> tuple[ContainerInfo, float, float]:
        """The steps up to the target's finish: the container as the target lists it, the
        downtime, and when the finish began."""
        plan, bundle = self.plan, self.container.bundle
        since: int | None = None
        if plan.with_bundle:
            started = time.perf_counter()
            since = rootfs_clock_ns()
            sent = await self._send(session, None, ExportOptions(bundle=BundleContent.FULL))
            report(MigrationStep(StepName.BUNDLE, _since(started), bytes=sent))
        parent: str | None = None
        for number in range(1, plan.pre_copy + 1):
            started = time.perf_counter()
            name = pre_copy_name(self.name, number)
            self._images.append(name)
            self._record()
            await self._keeping_alive(
                session, partial(moving.pre_dump, name, parent, deadline=plan.timeout)
            )
            sent = _size(checkpoints.checkpoints_dir(bundle) / name)
            if not self.shared:
                sent = await self._send(session, name, ExportOptions(kind=ImageKind.PRE_DUMP))
            report(MigrationStep(StepName.PRE_COPY, _since(started), bytes=sent, round=number))
            parent = name

        self._frozen = time.perf_counter()
        self._pausing = self.container.status is not Status.PAUSED
        self._record()
        await self._keeping_alive(session, moving.freeze)
        report(MigrationStep(StepName.FREEZE, _since(self._frozen)))
        started = time.perf_counter()
        await self._keeping_alive(
            session,
            partial(
                moving.dump, self.name, plan.options, parent, reserved=True,
                deadline=plan.timeout, console_size=self.target.takes_console_size,
            ),
        )  # fmt: skip
        images = _size(checkpoints.checkpoints_dir(bundle) / self.name)
        report(MigrationStep(StepName.CHECKPOINT, _since(started), bytes=images))
        if not self.shared:
            started = time.perf_counter()
            content = BundleContent.CHANGES if plan.with_bundle else BundleContent.NONE
            sent = await self._send(
                session,
                self.name,
                # In the downtime: the rootfs was checked before the first copy.
                ExportOptions(bundle=content, since_ns=since, check_rootfs=False),
            )
            report(MigrationStep(StepName.TRANSFER, _since(started), bytes=sent))
        started = time.perf_counter()
        self._restore_asked = True  # from here on the container may run on the target
        self._record()
        restored = structure(await self.target.restore(session), ContainerInfo)
        downtime = _since(self._frozen)
        report(MigrationStep(StepName.RESTORE, _since(started), container=restored))
        finishing = time.perf_counter()
        await self._hand_on_stdin(moving, session)
        await self._finish(session)
        return restored, downtime, finishing

    async def _finish(self, session: str) -> None:
        """:meth:`.Target.finish`, sent again while it gets no answer because its connection
        was lost or the target was unreached (the target's server killed after the hand-off:
        its next one goes on with the session, :meth:`.Incoming.find_left`, and finishes it),
        until the cleanup deadline from the first: a finish that waited out its own deadline
        for an answer is not sent again, so the move ends within the time it took before.
        One that came through, its answer lost, is answered "no such session" (404): a
        failure, whose roll-back finds the moved container there and ends the move done; a
        session the next server did not go on with (not restored there, or its container
        gone) is one too, which the roll-back settles by what the target has, as before.
        Safe to send again: the input handed on is in the container's input there once (its
        session's record says so), and the container is the target's only once it answers.
        Until 2026-12-05 it was sent once: the move rolled back, the target's next server
        deleting the container it had restored and kept."""
        deadline = trio.current_time() + self.cleanup_timeout
        try:
            await self.target.finish(session)
            return
        except TargetError as exc:
            failure = exc
        if failure.target_status is None and trio.current_time() < deadline:
            log.warning(
                "migration of %s: %s; the finish is sent again (for up to %g s in all)",
                self.container.id, failure.message, self.cleanup_timeout,
            )  # fmt: skip
        # Each one under its own deadline for an answer, and all of them within the first's.
        with trio.CancelScope(deadline=deadline):
            while failure.target_status is None and trio.current_time() < deadline:
                await trio.sleep(_ABORT_AGAIN)
                try:
                    await self.target.finish(session)
                    return
                except TargetError as exc:
                    failure = exc
        raise failure

    async def _hand_on_stdin(self, moving: Moving, session: str) -> None:
        """The input the copy here had not read at the freeze waits in its stdin pipe, or its
        terminal's input queue, which goes with it: taken out, it is written into the restored
        container's stdin (or terminal) first (a target older than that: put back, lost with
        the copy). A move undone puts it back (:meth:`_roll_back`), and so does one left
        unsure (:meth:`_keep_stdin_here`)."""
        self._stdin = moving.take_stdin()
        if self._stdin:
            # In the server's memory alone, it would die with it: the next server hands it
            # on (or puts it back) from the record (:mod:`.left`); until 2026-12-05 it was
            # lost with a server killed before the target had it.
            self._record()
        if self._stdin and not await self._send_stdin(session):
            log.warning(
                "migration of %s: the target takes no stdin (older than that): the %d bytes"
                " the container had not read stay here", self.container.id, len(self._stdin),
            )  # fmt: skip
            await self._give_back_stdin(moving)

    async def _send_stdin(self, session: str) -> bool:
        """:meth:`.Target.send_stdin`, sent again while it is not answered (its connection
        lost, the target unreached, no answer in time), for the cleanup deadline from the
        first failure: the target's server may have been killed after the restore, and its
        next server goes on with the session (:meth:`.Incoming.find_left`); or the answer
        was lost on its way. The target answers one it had written already as done, without
        writing it again. Until 2026-12-05 the move settled with the input in hand: where the
        target's next server kept the container, the input was lost with the copy here. A
        session gone on a hand-off sent again (404) is a failure, not a target older than
        hand-offs: the move settles by what the target has."""
        deadline: float | None = None
        again = False
        while True:
            try:
                taken = await self.target.send_stdin(session, self._stdin)
            except TargetError as exc:
                if deadline is None:
                    deadline = trio.current_time() + self.cleanup_timeout
                if exc.target_status is not None or trio.current_time() >= deadline:
                    raise
                log.warning(
                    "migration of %s: %s; the hand-off is sent again", self.container.id,
                    exc.message,
                )  # fmt: skip
                again = True
                await trio.sleep(_ABORT_AGAIN)
                continue
            if taken:
                self._stdin_handed = True
                return True
            if again:
                raise TargetError(
                    f"the target {self.address} no longer knows migration {session}: the"
                    " hand-off of the input the container had not read could not be sent"
                    " again", 404,
                )  # fmt: skip
            return False

    async def _keep_stdin_here(self, moving: Moving) -> None:
        """The move ends unsure (the target may run the container, or not): the input it took
        goes back into the paused copy's pipe or terminal all the same, ahead of what is held
        (:meth:`_give_back_stdin`), where the copy reads it if it runs here again: resumed by
        the user, or by the settling once the target says it has none (until 2026-12-05 it
        was lost then). Where the target keeps the container (which took it before the
        finish, unless its answer to that was what failed), or the user deletes the copy, it
        goes with the copy, as what a container had not read does: said now, for the frozen
        copy reads none of it before either happens. Unless the target answered its
        hand-off, it is kept, and recorded, for the target too (:meth:`_give_back_stdin`):
        the settling hands it on before it asks for the finish (the target writes it once,
        if its server did not already), for the target may run the container without it
        (the hand-off lost on its way, its server killed and back too late); the copy that
        ends there goes with its own (until 2026-12-05 the settling finished without it, and
        it was lost with the copy)."""
        taken = len(self._stdin)
        await self._give_back_stdin(moving, for_the_target_too=not self._stdin_handed)
        log.warning(
            "migration of %s: the %d bytes of input the container had not read are put back"
            " into its copy here, paused: it reads them if it is resumed here, and they go with"
            " it if it is removed (the target keeps the container, or the copy is deleted)",
            self.container.id, taken,
        )  # fmt: skip

    async def _keeping_alive(self, session: str, work: Callable[[], Awaitable[T]]) -> T:
        """``work``'s result, the target's session touched meanwhile: the target aborts a
        session idle for :data:`~.incoming.IDLE_SECONDS`, and a dump, which sends it nothing,
        may take as long as the move's ``timeout`` allows."""
        result = await beside(work, partial(self._keep_alive, session))
        return result.unwrap()

    async def _keep_alive(self, session: str) -> None:
        """Touch the session every third of the target's idle limit (this daemon's: a
        target of another version may have another), at once first (the last request may
        be a while ago), until cancelled, or until the target does not know the session (it
        ended: the next step finds out) or the request (a target older than it)."""
        every = incoming.IDLE_SECONDS / 3
        while True:
            try:
                if not await self.target.touch(session, within=every):
                    return
            except TargetError as exc:  # the next touch may get through, in time
                log.warning("migration of %s: %s", self.container.id, exc.message)
            await trio.sleep(every)

    async def _done(
        self,
        moving: Moving,
        restored: ContainerInfo,
        report: Report,
        began: float,
        finishing: float,
        downtime: float,
    ) -> None:
        """The target keeps the container: end the copy here, and say so."""
        await self._give_up(moving)
        report(MigrationStep(StepName.FINISH, _since(finishing)))
        report(
            MigrationStep(
                StepName.DONE, _since(began), bytes=self._sent, downtime=downtime,
                container=restored,
            )
        )  # fmt: skip

    async def _plan_export(self, name: str | None, options: ExportOptions) -> ExportPlan:
        """The export planned in a worker thread: with the bundle, it reads every directory of
        the rootfs."""
        return await trio.to_thread.run_sync(plan_export, self.container.bundle, name, options)

    async def _send(self, session: str, name: str | None, options: ExportOptions) -> int:
        export = await self._plan_export(name, options)
        sent = await self.target.send_archive(session, export.media_type, export.chunks())
        self._sent += sent
        return sent

    async def _roll_back(self, moving: Moving, session: str, *, ending: bool) -> _Undone | _Kept:
        """Abort the target's session, and resume the container here unless the target may
        run it (:func:`verdict`). Each part has its own deadline; the images go whatever
        happens, but for a move left unsettled. If the target may run the container, the
        copy here stays paused and the target is asked again until it says (its restore may
        still be running: then no abort is answered in time, and the session would otherwise
        end for silence, deleting what it restored, while the copy here stayed paused: the
        container would run nowhere): by this server (``settle_later``), or by the next one
        if ``ending`` (the daemon's end cut the move short)."""
        try:
            consulted = await consult(
                self.target, session, self.container.id, self.name,
                restore_asked=self._restore_asked, within=self.cleanup_timeout,
                auto_remove=self.container.auto_remove,
            )  # fmt: skip
            if consulted.verdict is Verdict.KEPT:
                assert consulted.there is not None
                if self._stdin and not self._stdin_handed:
                    log.error(
                        "migration of %s: the target runs the container, but its hand-off of"
                        " the %d bytes of input the container had not read was not answered:"
                        " they may not have reached it", self.container.id, len(self._stdin),
                    )  # fmt: skip
                return _Kept(consulted.there)
            if consulted.verdict is Verdict.UNSURE:
                self._unsettled = True
                if self._stdin:
                    await self._keep_stdin_here(moving)
                if not ending:  # before the failed step is told: the client may act on it
                    await self._settle_later(self.entry())
                return _Undone(False, paused=self._left_paused(consulted.reason, ending=ending))
            if self._stdin:
                await self._give_back_stdin(moving)
            problem = await self._thaw(moving)
            if problem is None:
                return _Undone(consulted.clean)
            return _Undone(
                False,
                paused=f"the container could not be resumed here ({problem}): it stays paused;"
                f" resume it with PATCH /containers/{self.container.id}"
                ' {"status": "running"}',
            )  # fmt: skip
        finally:
            # But for a move left unsettled: a target sharing the bundle may still restore
            # from them. The settling removes them once the target has said.
            if not self._unsettled:
                self._discard_images()

    def _left_paused(self, reason: str, *, ending: bool) -> str:
        """The failed step's word on a container left paused here (Verdict.UNSURE)."""
        who = "the daemon's next server asks" if ending else "this daemon asks"
        return (
            f"the container is left paused here, since the target may run it ({reason});"
            f" {who} the target again in the background until it can say, and settles the"
            " move as it says: the copy here is resumed, or removed if the target keeps the"
            " container (a resume or delete event); resuming or deleting the copy meanwhile"
            " ends the questions (and the target is asked to abort its session)"
        )


def _said(exc: Exception) -> str:
    """What an error says: a daemon error's message, or the exception's text."""
    return exc.message if isinstance(exc, DaemonError) else str(exc)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 6)


def _size(directory: Path) -> int:
    """The bytes of the files of a CRIU image directory (it has no subdirectories)."""
    total = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    except OSError:
        pass
    return total
