"""The source's side of a migration: one container moved to another daemon, step by step.

The steps (each reported as it ends, see :class:`~.model.MigrationStep`):

1. **session**: the checkpoint's directory is reserved in the bundle (a fresh random name),
   then the target opens a session for the container (``POST /migrations``). If the target
   sees that directory, the two share the bundle and nothing will be copied.
2. **bundle** (``withBundle``): the whole bundle streamed to the target while the container
   runs on; the time is taken first, so that the final copy carries what changed since.
3. **pre-copy** rounds: the memory, while the container runs on (each round only what changed
   since the one before). Only where the kernel tracks dirty pages (checked before anything).
4. **freeze**: the container is paused. The downtime starts here.
5. **checkpoint**: CRIU dumps the paused container and leaves it paused (not killed: if
   anything fails from here on, it is simply resumed).
6. **transfer**: the checkpoint streamed to the target, with the rootfs changes since step 2.
7. **restore**: the target restores it (in a cgroup of its own). The downtime ends.
8. **finish**: the target keeps it; the source kills its frozen copy and forgets it.

Any failure after step 1 rolls back: the target is told to abort (it removes all the session
made, the restored container included), the container is resumed here, the images removed.
Once the target was asked to restore the container, though, it is resumed here only if the
target says that it does not run it (:meth:`Outgoing._roll_back`): a container never runs in
both places.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from .. import checkpoints
from ..archive import BundleContent, ExportOptions, ImageKind, plan_export, rootfs_clock_ns
from ..container import Container, Moving
from ..convert import structure
from ..errors import DaemonError
from ..model import ContainerInfo
from ..runtime import CriuOptions
from .incoming import pre_copy_name
from .model import MigrationStep, StepName
from .target import Target

log = logging.getLogger(__name__)

Report = Callable[[MigrationStep], None]


@attrs.frozen
class Plan:
    """What the client asked for."""

    to: str
    pre_copy: int
    with_bundle: bool
    target_bundle: str | None
    options: CriuOptions


@attrs.frozen
class _Undone:
    """A failed move's end: the container resumed here (``rolled_back``: and nothing of it
    left on the target), or not."""

    rolled_back: bool
    #: Why the container stays paused here (the target may run it), and what to do.
    paused: str | None = None


@attrs.frozen
class _Kept:
    """A failed move's end after all: the target runs the container (its answer to the
    finish was lost, or its server restarted after the restore)."""

    container: ContainerInfo


class Outgoing:
    """One migration of ``container`` (run by the supervisor, in its nursery)."""

    def __init__(
        self,
        container: Container,
        plan: Plan,
        *,
        cleanup_timeout: float,
        removed: Callable[[], None],
    ) -> None:
        self.container = container
        self.plan = plan
        self.cleanup_timeout = cleanup_timeout
        self._removed = removed
        self.name = f"migration-{secrets.token_hex(6)}"
        self.target = Target(plan.to)
        self._images: list[str] = []  # what this migration made in the source bundle
        self._sent = 0
        #: The target sees the source's bundle: nothing to copy.
        self.shared = False
        #: The ``createdAt`` of the target's container of this id before the move (a stopped
        #: one), to tell the moved container from it.
        self._there_before: str | None = None
        #: The target was asked to restore the container: it may run it from then on.
        self._restore_asked = False
        self._frozen = 0.0  # perf_counter() at the freeze
        self._downtime: float | None = None

    async def run(self, report: Report, *, task_status: trio.TaskStatus[None]) -> None:
        """Report each step; ``task_status.started()`` once the target agreed (before that, a
        failure is raised to the caller and nothing is left anywhere)."""
        began = time.perf_counter()
        container = self.container
        bundle = container.bundle
        try:
            async with container.moving() as moving:
                checkpoints.reserve(bundle, self.name)
                self._images.append(self.name)
                try:
                    session = await self._open(report)
                except BaseException:
                    self._discard_images()
                    raise
                task_status.started()
                try:
                    await self._move(moving, session, report, began)
                except BaseException as exc:
                    await self._settle(moving, session, exc, report, began)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            with trio.move_on_after(self.cleanup_timeout, shield=True):
                await self.target.aclose()

    async def _settle(
        self, moving: Moving, session: str, exc: BaseException, report: Report, began: float
    ) -> None:
        """A step failed, or the daemon's shutdown ended the move: roll it back (shielded,
        within the cleanup deadline) and end the stream with what came of it."""
        if isinstance(exc, Exception):
            message = exc.message if isinstance(exc, DaemonError) else str(exc)
            log.warning("migration of %s failed: %s", self.container.id, message)
        else:  # the stream still says how it ended
            message = "the daemon is shutting down: the migration was ended"
        outcome: _Undone | _Kept = _Undone(False)  # unless settled in time
        with trio.move_on_after(self.cleanup_timeout, shield=True):
            outcome = await self._roll_back(moving, session)
        if isinstance(outcome, _Kept):
            log.warning("migration of %s: the target runs it all the same", self.container.id)
            await self._done(moving, outcome.container, report, began, time.perf_counter())
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
        there = await self.target.container(self.container.id)  # a stopped one, say
        self._there_before = None if there is None else there["createdAt"]
        answer = await self.target.open(
            self.container.id, bundle_path, self.name, with_bundle=plan.with_bundle
        )
        self.shared = bool(answer.get("sharedBundle"))
        report(MigrationStep(StepName.SESSION, _since(started), target=plan.to))
        return str(answer["id"])

    async def _move(self, moving: Moving, session: str, report: Report, began: float) -> None:
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
            await moving.pre_dump(name, parent)
            sent = _size(checkpoints.checkpoints_dir(bundle) / name)
            if not self.shared:
                sent = await self._send(session, name, ExportOptions(kind=ImageKind.PRE_DUMP))
            report(MigrationStep(StepName.PRE_COPY, _since(started), bytes=sent, round=number))
            parent = name

        self._frozen = time.perf_counter()
        await moving.freeze()
        report(MigrationStep(StepName.FREEZE, _since(self._frozen)))
        started = time.perf_counter()
        await moving.dump(self.name, plan.options, parent, reserved=True)
        images = _size(checkpoints.checkpoints_dir(bundle) / self.name)
        report(MigrationStep(StepName.CHECKPOINT, _since(started), bytes=images))
        if not self.shared:
            started = time.perf_counter()
            content = BundleContent.CHANGES if plan.with_bundle else BundleContent.NONE
            sent = await self._send(
                session, self.name, ExportOptions(bundle=content, since_ns=since)
            )
            report(MigrationStep(StepName.TRANSFER, _since(started), bytes=sent))
        started = time.perf_counter()
        self._restore_asked = True  # from here on the container may run on the target
        restored = structure(await self.target.restore(session), ContainerInfo)
        self._downtime = _since(self._frozen)
        report(MigrationStep(StepName.RESTORE, _since(started), container=restored))
        started = time.perf_counter()
        await self.target.finish(session)
        # From here on the container is the target's: nothing is rolled back.
        await self._done(moving, restored, report, began, started)

    async def _done(
        self,
        moving: Moving,
        restored: ContainerInfo,
        report: Report,
        began: float,
        finishing: float,
    ) -> None:
        """The target keeps the container: end the copy here, and say so."""
        await self._give_up(moving)
        report(MigrationStep(StepName.FINISH, _since(finishing)))
        # Found out after a failure, the container ran on the target before this moment.
        downtime = self._downtime if self._downtime is not None else _since(self._frozen)
        report(
            MigrationStep(
                StepName.DONE, _since(began), bytes=self._sent, downtime=downtime,
                container=restored,
            )
        )  # fmt: skip

    async def _send(self, session: str, name: str | None, options: ExportOptions) -> int:
        export = plan_export(self.container.bundle, name, options)
        sent = await self.target.send_archive(session, export.media_type, export.chunks())
        self._sent += sent
        return sent

    async def _give_up(self, moving: Moving) -> None:
        """The container runs on the target: end its frozen copy here. Whatever happens, it
        leaves this daemon's table; a copy not removed in time keeps its record marked
        deleting, for the next server to finish (a copy left listed, marked so, would
        refuse every command on its id)."""
        try:
            with trio.move_on_after(self.cleanup_timeout, shield=True) as deadline:
                await moving.end()
            if deadline.cancelled_caught:
                log.error(
                    "migrated container %s: its frozen copy here was not removed within %s s;"
                    " the next server removes it", self.container.id, self.cleanup_timeout,
                )  # fmt: skip
        except DaemonError as exc:
            log.error(
                "migrated container %s: its frozen copy here could not be removed: %s",
                self.container.id, exc.message,
            )  # fmt: skip
        finally:
            self._removed()
            self._discard_images()

    async def _roll_back(self, moving: Moving, session: str) -> _Undone | _Kept:
        """After a failure: abort the target's session and resume the container here.

        Once the target has been asked to restore the container, the container may run there,
        and it is resumed here only when the target says that it does not:
        - the target aborted the session: it holds nothing of the container any more;
        - the target no longer had the session (it finished it, it aborted it after 60 s
          without word, or its server restarted): then its container of this id tells. One
          made since the move began is the moved one, which no session can abort any more:
          the move is done after all (:class:`_Kept`). None, or the one it had before: the
          container is resumed here;
        - no answer: the container stays paused here, and the error says what to do.
        Before that request the target cannot run it, and the container is resumed whatever
        the target answers (a session it does not hear from aborts itself).
        """
        aborted: bool | None = None
        try:
            aborted = await self.target.abort(session)
        except DaemonError as exc:
            unanswered = exc.message
            log.error("migration of %s: the target keeps its session: %s", self.container.id,
                      unanswered)  # fmt: skip
        if self._restore_asked and aborted is not True:
            try:
                if aborted is None:
                    raise DaemonError(unanswered)
                there = await self.target.container(self.container.id)
            except DaemonError as exc:
                self._discard_images()
                return _Undone(False, paused=_left_paused(self.container.id, exc.message))
            if there is not None and there.get("createdAt") != self._there_before:
                return _Kept(structure(there, ContainerInfo))
        rolled_back = aborted is not None
        try:
            await moving.thaw()
        except DaemonError as exc:
            rolled_back = False
            log.error("migration of %s: cannot resume it: %s", self.container.id, exc.message)
        self._discard_images()
        return _Undone(rolled_back)

    def _discard_images(self) -> None:
        directory = checkpoints.checkpoints_dir(self.container.bundle)
        for name in self._images:
            checkpoints.discard(directory / name)
        self._images.clear()


def _left_paused(container_id: str, reason: str) -> str:
    return (
        f"the container is left paused here, since the target may run it ({reason}). If the"
        f" target has no container {container_id!r} after 60 s (a session it hears nothing of"
        f' aborts itself), resume it here: PATCH /containers/{container_id} with {{"status":'
        ' "running"}'
    )


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
