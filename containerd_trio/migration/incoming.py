"""The target's side of a migration: sessions that take archives and restore the container.

A session is opened by the source (``POST /migrations``) for one container, one bundle path
and one checkpoint name, and records everything it makes on this daemon: the bundle (if it
came as an archive), each checkpoint or pre-copy round imported, the restored container.
Aborting (``DELETE /migrations/{m}``) removes all of it; so does the session itself once it
has had no request for :data:`IDLE_SECONDS` (the source died, or lost its way here); a source
busy with what sends nothing here (a dump) touches it meanwhile (:meth:`Incoming.touch`). Finishing
(``POST /migrations/{m}/finish``) is the source saying it has given the container up: the
container stays, the images it was restored from go, the session ends.

Until then the container belongs to the source, whose copy waits frozen: a restored container
whose session aborts is deleted here, and the source's runs on. The restored container keeps
the source's labels and gets one more, :data:`~.model.MIGRATION_LABEL`, by which a source that
lost track (an answer lost, this server restarted) knows it for the one it moved; it keeps the
source's autoRemove too (this daemon removes it once its init exits), its restart policy
with the count of restarts made (this daemon restarts it by that policy, counting on), and
its createdAt (the same container, moved: its run here begins with the restore).

What a session makes outlives a server that dies (or hands over) mid-migration only until
the next one starts: each session is recorded on disk (:mod:`.ledger`), and the next server
removes what those left open made, as an abort would, but a container restored and kept here
(the source knows it by its label, and ends its own copy). A session that had restored its
container, which the next server adopted, goes on in that server instead (:meth:`Incoming
.find_left`): the source sends again the hand-off of the input its copy had not read, which
the record says whether this daemon wrote already, and finishes (or aborts) the session.

Shared bundles: the source reserves its checkpoint's directory (a fresh random name) before it
opens the session. If this daemon sees that directory under the bundle path it was given, the
two share the bundle (one machine, or shared storage), and nothing needs to be copied.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Protocol

import attrs
import trio

from .. import checkpoints, restarts
from ..archive import (
    BundleContent,
    ImageKind,
    ImportResult,
    Manifest,
    Placement,
    import_archive,
)
from ..errors import Conflict, DaemonError, InvalidRequest, NotFound, RuntimeFailure, quoted
from ..model import ContainerInfo, RestartPolicy, StartProcess
from ..mounts import remove_tree
from ..timestamps import parse_ns
from ..validation import check_id
from .ledger import EmptyDirectory, Replaced, SessionEntry, SessionLedger
from .model import MIGRATION_LABEL, ImportedArchive, MigrationSession

log = logging.getLogger(__name__)

#: A session with no request for this long aborts itself. Its source touches it every third
#: of this while it dumps (see :mod:`.outgoing`): both read it here, when they use it.
IDLE_SECONDS = 60.0
#: How often idle sessions are looked for.
_REAP_SECONDS = 1.0


class Host(Protocol):
    """What a session needs of the daemon (the supervisor)."""

    def running_here(self, container_id: str) -> bool: ...

    def moving_away(self, migration: str) -> bool:
        """A move out of this daemon is named ``migration`` (the checkpoint name a source
        sends with its session's request): that source is this daemon itself. The move is
        told so, to answer its client that its target is this daemon."""
        ...

    async def restore_moved(
        self,
        container_id: str,
        bundle: Path,
        checkpoint: str,
        cgroups_path: str,
        labels: Mapping[str, str],
        auto_remove: bool,
        process: StartProcess | None,
        restart_policy: RestartPolicy | None = None,
        restart_count: int = 0,
        created_ns: int | None = None,
        session: str = "",
    ) -> tuple[ContainerInfo, Replaced | None]:
        """The container restored, and the stopped container of its id that it replaced,
        kept aside until ``session`` ends (:mod:`.moved_over`)."""
        ...

    def put_back_moved_over(self, session: str, replaced: Replaced) -> bool:
        """The stopped container ``session``'s restore replaced, back as it was: True if it
        is."""
        ...

    def discard_moved_over(self, container_id: str, session: str) -> None:
        """What was kept of the stopped container ``session``'s restore replaced goes."""
        ...

    async def delete(self, container_id: str, timeout: float) -> ContainerInfo: ...

    async def write_stdin(self, container_id: str, data: bytes, *, run: int | None) -> bool:
        """Write ``data`` into the stdin of the container's init ahead of all input to come,
        without waiting for it to read what its input cannot take yet (a 409 if it takes
        none): True. False, written nowhere, if its init is no longer the process of pid
        ``run`` (the restored one), but a restart's, by its policy (None: whichever runs)."""
        ...

    def hand_off_over(self, container_id: str) -> None:
        """The session of the container restored here ends, finished (or aborted, the
        container left here): the input clients here type into its init goes on, behind
        what was handed on (:meth:`write_stdin`), if anything was. Until then it waits
        (:meth:`.Process.expect_hand_off`)."""
        ...

    def moved_here(self, container_id: str, migration: str) -> bool:
        """A container of that id is here, labelled as moved by that migration."""
        ...

    def take_up_moved(
        self, container_id: str, migration: str, *, handed_off: bool, run: int | None
    ) -> bool:
        """The container that migration restored here (the last server's session, whose
        restore it recorded) is here, adopted, and no delete of it is under way: True, and
        unless ``handed_off`` the input clients here type into its init waits, as it waited
        under the last server, for the source's hand-off or the session's end
        (:meth:`.Process.expect_hand_off`, :meth:`hand_off_over`), if that init is still
        the restored one (of pid ``run``), not a restart's."""
        ...

    def uses_bundle(self, bundle: Path) -> bool:
        """A container here, of any id or state, has that bundle."""
        ...

    async def runs_none_of(self, container_id: str) -> bool:
        """Nothing of that id runs here: no container of it but a stopped one, and runc has
        none of it but a stopped one (a failed roll-back's leftover may run)."""
        ...


def pre_copy_name(checkpoint: str, round: int) -> str:
    """The images of a pre-copy round, beside the checkpoint they lead to."""
    return f"{checkpoint}-pd{round}"


#: What :func:`pre_copy_name` adds to the checkpoint's name, as a pattern (rounds 1 to 999).
_ROUND = r"-pd[1-9][0-9]{0,2}"


class Session:
    def __init__(
        self,
        session_id: str,
        container_id: str,
        bundle: Path,
        checkpoint: str,
        shared: bool,
        labels: Mapping[str, str],
        *,
        with_bundle: bool = False,
        auto_remove: bool = False,
        process: StartProcess | None = None,
        restart_policy: RestartPolicy | None = None,
        restart_count: int = 0,
        created_ns: int | None = None,
    ) -> None:
        self.id = session_id
        self.container_id = container_id
        self.bundle = bundle
        self.checkpoint = checkpoint
        self.shared = shared
        self.labels = {**labels, MIGRATION_LABEL: checkpoint}
        #: The source's autoRemove: the restored container is removed here once it exits.
        self.auto_remove = auto_remove
        #: What its start ran instead of the bundle's process: its record here keeps it.
        self.process = process
        #: The source's restart policy, and the restarts it made: this daemon restarts the
        #: restored container by it, counting on.
        self.restart_policy = restart_policy
        self.restart_count = restart_count
        #: The source's createdAt of the container, which it keeps here (None: the source
        #: did not say, the restore's time).
        self.created_ns = created_ns
        self.lock = trio.Lock()
        self.with_bundle = with_bundle
        self.made_bundle = False
        self.imported: list[str] = []
        #: What an archive is moving into place (recorded before the move).
        self.placing: list[Placement] = []
        #: The empty directory the bundle replaced, put back when the bundle goes.
        self.bundle_was: EmptyDirectory | None = None
        self.restored = False
        #: The stopped container of the id that the restore replaced: an abort puts it back.
        self.replaced: Replaced | None = None
        #: The source's hand-off is in the container's input: one sent again is not written.
        self.handed_off = False
        #: The pid of the restored init, the run the hand-off is for (None: not listed, it
        #: ended at once).
        self.init_pid: int | None = None
        #: The abort has begun: the next server clears the session, not take it up again.
        self.aborting = False
        self.idle_since = trio.current_time()
        self._rounds = re.compile(re.escape(checkpoint) + _ROUND)

    def entry(self) -> SessionEntry:
        return SessionEntry(
            id=self.id,
            container_id=self.container_id,
            bundle=str(self.bundle),
            checkpoint=self.checkpoint,
            shared=self.shared,
            with_bundle=self.with_bundle,
            made_bundle=self.made_bundle,
            imported=list(self.imported),
            placing=list(self.placing),
            bundle_was=self.bundle_was,
            replaced=self.replaced,
            restored=self.restored,
            handed_off=self.handed_off,
            aborting=self.aborting,
            init_pid=self.init_pid,
        )

    @classmethod
    def taken_up(cls, entry: SessionEntry) -> Session:
        """The session a server before this one left open once it had restored its
        container, as its record has it: it goes on here (:meth:`Incoming.find_left`). What
        only its restore needed (the labels, the process, the restart policy...) is not in
        the record, nor needed any more."""
        session = cls(
            entry.id, entry.container_id, Path(entry.bundle), entry.checkpoint, entry.shared, {},
            with_bundle=entry.with_bundle,
        )  # fmt: skip
        session.made_bundle = entry.made_bundle
        session.imported = list(entry.imported)
        session.bundle_was = entry.bundle_was
        session.replaced = entry.replaced
        session.restored = True
        session.handed_off = entry.handed_off
        session.init_pid = entry.init_pid
        return session

    def info(self) -> MigrationSession:
        return MigrationSession(
            id=self.id,
            container_id=self.container_id,
            bundle_path=str(self.bundle),
            checkpoint=self.checkpoint,
            shared_bundle=self.shared,
        )

    def accept(self, manifest: Manifest) -> None:
        """Refuse an archive that is not one this session waits for (before it is unpacked)."""
        name = manifest.checkpoint
        if self.restored:
            raise Conflict(f"migration {self.id} has restored its container: it takes no more")
        if name is None:
            if manifest.bundle is not BundleContent.FULL or self.made_bundle:
                raise InvalidRequest(
                    f"migration {self.id} takes the whole bundle once, before its checkpoint"
                )
            return
        if manifest.kind is ImageKind.PRE_DUMP and self._rounds.fullmatch(name):
            return
        if manifest.kind is ImageKind.CHECKPOINT and name == self.checkpoint:
            return
        raise InvalidRequest(
            f"migration {self.id} waits for checkpoint {quoted(self.checkpoint)} (or its"
            f" pre-copy rounds), not the {manifest.kind.value} {quoted(name)}"
        )


class Incoming:
    """The sessions of migrations into this daemon."""

    def __init__(self, host: Host, ledger: SessionLedger) -> None:
        self._host = host
        self._ledger = ledger
        self._sessions: dict[str, Session] = {}

        #: What the sessions of a server before this one left (see :meth:`find_left`).
        self._left: list[_Left] = []
        #: What became of those, by their id and their checkpoint's name, once cleared: True
        #: if nothing of them is here (rolled back), False if their container was kept; None
        #: until :meth:`clear_left` has said. An abort of one is answered by it (:meth:`abort`).
        self._left_outcome: dict[str, bool | None] = {}
        self._left_cleared = trio.Event()

    def find_left(self) -> None:
        """Take stock of what the sessions a server before this one left open made: their
        records, and the archives they were unpacking (their staging directories); and go
        on with those that had restored their container, adopted here (:meth:`_take_up`).
        Before this server serves: a session opened from then on, and what it unpacks, is
        its own, and the source's hand-off and finish find those taken up."""
        for entry in self._ledger.leftovers():
            try:
                if self._take_up(entry):
                    continue
                # Its container adopted here, as the adoption found it: kept (one that then
                # exits and is removed, autoRemove's, ran here all the same).
                adopted = self._host.moved_here(entry.container_id, entry.checkpoint)
                self._left.append(_Left(_with_placed(entry), _staging_of(entry), adopted))
            except Exception as exc:  # one bad record must not keep the server from serving
                log.error("cannot read what migration %s left: %s", entry.id, exc)
                self._ledger.remove(entry.id)
                continue
            self._left_outcome[entry.id] = self._left_outcome[entry.checkpoint] = None

    def _take_up(self, entry: SessionEntry) -> bool:
        """Go on with a session the last server left once it had restored the container,
        if the container is here (adopted, no delete of it under way): True if it does. Its
        source, which may not know of the restart, sends what it had not yet had answered
        (the hand-off of the input its copy had not read, the finish), or aborts it; until
        the hand-off (or the session's end) the input typed here into the container waits.
        Else (until 2026-12-05) it was cleared, the container kept: the source, finding no
        session and the container here, ended its copy, and the input it had not yet handed
        on went with it."""
        if not entry.restored or entry.aborting:
            return False
        handed_off = entry.handed_off
        if not self._host.take_up_moved(
            entry.container_id, entry.checkpoint, handed_off=handed_off, run=entry.init_pid
        ):
            return False
        session = Session.taken_up(entry)
        self._sessions[session.id] = session
        log.warning(
            "migration %s of %s was left open by the last server, its container restored:"
            " the session goes on (%s)", entry.id, entry.container_id,
            "the input handed on was written" if handed_off
            else "the input typed here waits for the source's hand-off, or the session's end",
        )  # fmt: skip
        return True

    async def clear_left(self) -> None:
        """Remove what :meth:`find_left` found, as an abort would: the images it took, the
        archives half unpacked, the bundle it made. A container here of that bundle stays,
        and with it the bundle (the moved container, restored and adopted: its source ends
        its own copy on seeing it). Once the runc commands of the server before have ended
        (a restore may still read the images)."""
        left, self._left = self._left, []
        try:
            for files in left:
                await self._clear_one(files)
        finally:
            for name, outcome in self._left_outcome.items():
                if outcome is None:  # not cleared: no word on it (the abort says 404)
                    self._left_outcome[name] = False
            self._left_cleared.set()

    async def _clear_one(self, files: _Left) -> None:
        """Remove what one session left open made (see :meth:`clear_left`), and say what
        became of it: rolled back if its container is not kept and nothing of its id runs."""
        entry = files.entry
        kept = files.adopted or self._host.moved_here(entry.container_id, entry.checkpoint)
        in_use = kept or self._host.uses_bundle(Path(entry.bundle))
        failure: Exception | None = None
        try:
            await trio.to_thread.run_sync(_remove_left, files, in_use)
        except Exception as exc:  # what is left stays: the server serves on
            failure = exc
        # A restore that was not kept (rolled back, or its container gone) leaves the
        # stopped container it replaced to come back, as an abort would put it back.
        back = False
        if entry.replaced is not None and not kept:
            back = self._host.put_back_moved_over(entry.id, entry.replaced)
        else:
            self._host.discard_moved_over(entry.container_id, entry.id)
        rolled_back = not kept and await self._host.runs_none_of(entry.container_id)
        self._left_outcome[entry.id] = self._left_outcome[entry.checkpoint] = rolled_back
        # The record goes before the log says what came of the session: whoever acts on
        # that word (an operator, a test reading the log) finds no record of it left.
        self._ledger.remove(entry.id)
        if failure is not None:
            log.error("cannot remove what migration %s left: %s", entry.id, failure)
        else:
            log.warning(
                "migration %s of %s was left open by the last server: removed what it"
                " received%s%s", entry.id, entry.container_id,
                " (its container was restored, and stays)" if kept
                else " but the bundle, which a container here uses"
                if in_use and entry.made_bundle else "",
                "; the stopped container it replaced is back" if back else "",
            )  # fmt: skip

    async def reap(self) -> None:
        """Abort the sessions left idle (run in the supervisor's nursery)."""
        while True:
            await trio.sleep(_REAP_SECONDS)
            now = trio.current_time()
            for session in list(self._sessions.values()):
                if not session.lock.locked() and now - session.idle_since > IDLE_SECONDS:
                    log.warning(
                        "migration %s of %s: no word from the source for %gs; aborting",
                        session.id, session.container_id, IDLE_SECONDS,
                    )  # fmt: skip
                    await self._abort(session)

    def open(
        self,
        container_id: str,
        bundle_path: str,
        checkpoint: str,
        *,
        with_bundle: bool,
        labels: Mapping[str, str] | None = None,
        auto_remove: bool = False,
        process: StartProcess | None = None,
        restart_policy: RestartPolicy | None = None,
        restart_count: int = 0,
        created_at: str | None = None,
    ) -> MigrationSession:
        check_id(container_id)
        check_id(checkpoint, "checkpoint name")
        if self._host.moving_away(checkpoint):
            # The name is the source's own move's (random, made for it): a source whose
            # target is itself. Asked first: any other refusal (it "runs here already")
            # would not name the mistake.
            raise Conflict(
                f"migration {checkpoint!r} is this daemon's own: its source is this daemon"
                " itself, and a migration's target must be another daemon"
            )
        restart_policy = restarts.in_force(restart_policy)
        # Refused now, not at the restore, once the images have come.
        restarts.refuse_with_auto_remove(restart_policy, auto_remove)
        if self._host.running_here(container_id):
            raise Conflict(f"container {container_id!r} runs here already")
        if self.moving_here(container_id):
            raise Conflict(f"container {container_id!r} is moving here already")
        bundle = Path(bundle_path)
        shared = (checkpoints.checkpoints_dir(bundle) / checkpoint).is_dir()
        if with_bundle and shared:
            raise Conflict(
                f"this daemon sees the source's bundle at {bundle} (shared storage, or the same"
                " machine): move it without its bundle, or to another bundle path"
            )
        if with_bundle and bundle.exists() and (not bundle.is_dir() or any(bundle.iterdir())):
            raise Conflict(f"the target bundle {bundle} exists already: name another one")
        if not with_bundle and not (bundle / "config.json").is_file():
            raise NotFound(
                f"there is no bundle at {bundle} here: move the container with its bundle,"
                " or copy the bundle first"
            )
        session = Session(
            secrets.token_hex(8), container_id, bundle, checkpoint, shared, labels or {},
            with_bundle=with_bundle, auto_remove=auto_remove, process=process,
            restart_policy=restart_policy, restart_count=restart_count,
            created_ns=None if created_at is None else parse_ns(created_at),
        )  # fmt: skip
        self._sessions[session.id] = session
        self._ledger.write(session.entry())
        return session.info()

    def moving_here(self, container_id: str) -> bool:
        """A session of this container is open here: restored or not, it is the source's
        until the finish (or the abort), whose copy waits frozen."""
        return any(s.container_id == container_id for s in self._sessions.values())

    def touch(self, session_id: str) -> MigrationSession:
        """The session, which its source still drives: its idle time starts again. Without
        its lock: a touch must not wait behind an archive being unpacked (a session that
        holds its lock is not reaped anyway)."""
        session = self._session(session_id)
        session.idle_since = trio.current_time()
        return session.info()

    def _session(self, session_id: str) -> Session:
        check_id(session_id, "migration id")
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"migration {session_id!r} not found (finished, aborted or never)")
        return session

    async def _in_session(
        self, session_id: str, work: Callable[[Session], Awaitable[object]]
    ) -> object:
        session = self._session(session_id)
        async with session.lock:
            if self._sessions.get(session.id) is not session:
                raise NotFound(f"migration {session_id!r} ended meanwhile")
            try:
                return await work(session)
            finally:
                session.idle_since = trio.current_time()

    async def receive(self, session_id: str, pieces: AsyncIterator[bytes]) -> ImportedArchive:
        async def work(session: Session) -> ImportedArchive:
            def placing(placement: Placement) -> None:
                # Recorded before the move, so that a server that dies in its middle leaves
                # its successor the means to tell whether it happened (see _with_placed).
                session.placing = [placement]
                if placement.destination == session.bundle:
                    session.bundle_was = _empty_directory(session.bundle)
                self._ledger.write(session.entry())

            try:
                result = await import_archive(
                    pieces, session.bundle, accept=session.accept, placing=placing
                )
            except BaseException:
                if session.placing:  # the move failed: nothing was placed
                    session.placing = []
                    session.bundle_was = None
                    self._ledger.write(session.entry())
                raise
            session.placing = []
            if result.bundle_content is BundleContent.FULL:  # alone, or with the checkpoint
                session.made_bundle = True
            if result.checkpoint is not None:
                session.imported.append(result.checkpoint)
            self._ledger.write(session.entry())  # what to remove if this server dies
            return imported(result)

        answer = await self._in_session(session_id, work)
        assert isinstance(answer, ImportedArchive)
        return answer

    async def restore(self, session_id: str) -> ContainerInfo:
        async def work(session: Session) -> ContainerInfo:
            if session.restored:
                raise Conflict(f"migration {session.id} has restored its container already")
            if not session.shared and session.checkpoint not in session.imported:
                raise Conflict(f"migration {session.id} has not received its checkpoint yet")
            info, replaced = await self._host.restore_moved(
                session.container_id,
                session.bundle,
                session.checkpoint,
                # runc names cgroups after container ids: the source's copy still has one.
                cgroups_path=f"{session.container_id}-moved-{session.id}",
                labels=session.labels,
                auto_remove=session.auto_remove,
                process=session.process,
                restart_policy=session.restart_policy,
                restart_count=session.restart_count,
                created_ns=session.created_ns,
                session=session.id,
            )
            session.restored = True
            session.replaced = replaced
            session.init_pid = info.processes[0].pid if info.processes else None
            # For the next server, if this one dies: it goes on with the session (the hand-off
            # and the finish to come), or puts back the stopped container the restore replaced.
            self._ledger.write(session.entry())
            return info

        answer = await self._in_session(session_id, work)
        assert isinstance(answer, ContainerInfo)
        return answer

    async def stdin(self, session_id: str, data: bytes) -> None:
        """Write what the source's copy had not read at the freeze into the restored
        container's stdin: once restored, before the finish (the source sends it first).
        Clients here may have attached to the container since its restore, and typed: their
        writes wait for this (:meth:`.Process.expect_hand_off`), so it goes in before them,
        and waits for no lock of theirs. Answered once it is ahead of all input to come, not
        once written: what the new terminal (or pipe) cannot take until the container reads
        is written as it reads, behind nothing and holding no move."""

        async def work(session: Session) -> None:
            if not session.restored:
                raise Conflict(f"migration {session.id} has not restored its container")
            if session.handed_off:
                # Sent again: its answer was lost (this server's, or the last one's, which
                # wrote it and died before it answered). Written once.
                log.warning(
                    "migration %s of %s: the hand-off came again; it was written already",
                    session.id, session.container_id,
                )  # fmt: skip
                return
            # Recorded first: a server killed between the two loses the input, rather than
            # have its successor write it again when the source sends it again. Nothing in
            # between waits (the write of what the input takes at once is made at once).
            session.handed_off = True
            self._ledger.write(session.entry())
            try:
                written = await self._host.write_stdin(
                    session.container_id, data, run=session.init_pid
                )
            except BaseException:
                session.handed_off = False
                self._ledger.write(session.entry())
                raise
            if not written:
                # Its restored run ended before the hand-off (and maybe its restart policy
                # started another): what that run had not read goes with it, as what its pipe
                # held would have gone at the source, not into a new run (until 2026-12-05 it
                # did, and ungated: behind what clients had typed into the new run).
                log.warning(
                    "migration %s of %s: the %d bytes of input handed on were for its restored"
                    " run, which has ended: dropped",
                    session.id, session.container_id, len(data),
                )  # fmt: skip

        await self._in_session(session_id, work)

    async def finish(self, session_id: str) -> None:
        async def work(session: Session) -> None:
            if not session.restored:
                raise Conflict(f"migration {session.id} has not restored its container")
            del self._sessions[session.id]
            # Input typed here goes on (behind what was handed on, if anything was): first,
            # so that nothing below that fails can leave the writes waiting for good.
            self._host.hand_off_over(session.container_id)
            for name in session.imported:
                checkpoints.discard(checkpoints.checkpoints_dir(session.bundle) / name)
            # The move is done: the stopped container it replaced is gone for good.
            self._host.discard_moved_over(session.container_id, session.id)
            self._ledger.remove(session.id)

        await self._in_session(session_id, work)

    async def abort(self, session_id: str) -> None:
        """Abort the session: by its id, or by the checkpoint name it was opened with, which
        its source chose. A source whose open went unanswered (it timed out, its connection
        broke) knows no id, and must not leave the session it may have opened: until it
        ended for silence, it refused every other move of the container here."""

        async def work(session: Session) -> None:
            await self._abort_locked(session)

        if session_id not in self._sessions:
            opened = (s.id for s in self._sessions.values() if s.checkpoint == session_id)
            session_id = next(opened, session_id)
        if session_id not in self._sessions and session_id in self._left_outcome:
            # A session the last server left open, which this one rolls back (or has): the
            # abort is answered as done once it is, nothing of it here. Its source could not
            # tell otherwise from a stopped container of the id (one the restore had
            # replaced, put back by the roll-back), and kept its copy paused, unsure.
            await self._left_cleared.wait()
            if self._left_outcome[session_id]:
                return
        await self._in_session(session_id, work)

    async def _abort(self, session: Session) -> None:
        async with session.lock:
            if self._sessions.get(session.id) is session:
                with contextlib.suppress(DaemonError):  # logged: the container stays listed
                    await self._abort_locked(session)

    async def _abort_locked(self, session: Session) -> None:
        """Remove whatever the session made: the container, the images, the bundle (unless
        a container here uses it); shielded (a source that hangs up must not leave half of
        it). The session is known until then, so that no one is told it is gone while its
        container is still here. A container that could not be deleted is raised as one
        error (500), once the rest is gone: the source must not resume its copy on the word
        of this abort. The session ends either way."""
        failure: DaemonError | None = None
        with trio.CancelScope(shield=True):
            try:
                if session.restored:
                    # A server killed from here on leaves the session to be cleared, not
                    # taken up again with a container its delete may have ended.
                    session.aborting = True
                    self._ledger.write(session.entry())
                    try:
                        await self._host.delete(session.container_id, 0)
                    except NotFound:
                        pass
                    except DaemonError as exc:
                        failure = exc
                        # It stays (listed, its 500 said): input typed into it goes on.
                        self._host.hand_off_over(session.container_id)
                    if session.replaced is not None and failure is None:
                        # As it was before the move: the stopped container of the id that
                        # the restore replaced is back (the move's label said it was going).
                        self._host.put_back_moved_over(session.id, session.replaced)
                    else:  # its id held by the container that could not be deleted
                        self._host.discard_moved_over(session.container_id, session.id)
                for name in session.imported:
                    checkpoints.discard(checkpoints.checkpoints_dir(session.bundle) / name)
                if session.made_bundle and failure is None:
                    # A container here that runs from the bundle (of another id: the
                    # session's own is deleted above) keeps it, as clear_left does.
                    if self._host.uses_bundle(session.bundle):
                        log.warning(
                            "migration %s of %s aborted: its bundle %s stays, a container"
                            " here uses it", session.id, session.container_id, session.bundle,
                        )  # fmt: skip
                    else:
                        await trio.to_thread.run_sync(
                            _remove_bundle, session.bundle, session.bundle_was
                        )
            finally:
                del self._sessions[session.id]
                self._ledger.remove(session.id)
        if failure is not None:
            message = (
                f"migration {session.id} is aborted, but its container {session.container_id!r}"
                f" could not be deleted here: {failure.message}"
            )
            log.error("%s", message)
            raise RuntimeFailure(message)


def imported(result: ImportResult) -> ImportedArchive:
    """The answer of an archive upload."""
    return ImportedArchive(
        checkpoint=result.checkpoint,
        kind=result.kind,
        bundle=result.bundle_content,
        bundle_path=str(result.bundle),
        entries=result.entries,
        bytes=result.data_bytes,
        archive_bytes=result.archive_bytes,
    )


@attrs.frozen
class _Left:
    """A session a server before this one left open: its record, and the staging
    directories of the archives it was unpacking (found before this server served)."""

    entry: SessionEntry
    staging: list[Path]
    #: Its container was adopted here, labelled as moved by it: kept.
    adopted: bool = False


#: An import's staging token (see :mod:`containerd_trio.archive.unpack`).
_TOKEN = r"-[0-9a-f]{8}"


def _staging_of(entry: SessionEntry) -> list[Path]:
    """The staging directories of the session's archives: named after its checkpoint (a
    fresh random name the source reserved) inside the bundle, or after the bundle beside it
    (its own archive)."""
    bundle = Path(entry.bundle)
    found = []
    if not entry.shared:
        pattern = r"\.import-" + re.escape(entry.checkpoint) + f"({_ROUND})?" + _TOKEN
        found += [bundle / name for name in _matching(bundle, pattern)]
    if entry.with_bundle:
        pattern = r"\." + re.escape(bundle.name) + r"\.import" + _TOKEN
        found += [bundle.parent / name for name in _matching(bundle.parent, pattern)]
    return found


def _remove_left(left: _Left, bundle_in_use: bool) -> None:
    """What a session left open made: the checkpoints it took (by name, as its record has
    them), the archives it was unpacking, and the bundle it made, unless a container uses
    it."""
    entry = left.entry
    bundle = Path(entry.bundle)
    for name in entry.imported:
        checkpoints.discard(checkpoints.checkpoints_dir(bundle) / name)
    for staging in left.staging:
        remove_tree(staging)
    if entry.made_bundle and not bundle_in_use:
        _remove_bundle(bundle, entry.bundle_was)


def _remove_bundle(bundle: Path, was: EmptyDirectory | None) -> None:
    """Remove the bundle a session made, and put back the empty directory it replaced (a
    user's, made for it: an abort leaves the path as the session found it)."""
    remove_tree(bundle)
    if was is None:
        return
    try:
        os.mkdir(bundle, 0o700)
        os.chown(bundle, was.uid, was.gid)
        os.chmod(bundle, was.mode)
    except OSError as exc:  # what is in the way stays, and so does the abort's word
        log.error("cannot put back the empty directory %s: %s", bundle, exc)


def _empty_directory(path: Path) -> EmptyDirectory | None:
    """The (empty: the import checked) directory at ``path`` that a move will replace."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode):
        return None
    return EmptyDirectory(stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid)


def _with_placed(entry: SessionEntry) -> SessionEntry:
    """The record as its server would have written it after the moves it was making that
    did happen: the directory at each path is the one that was moved (a rename keeps its
    identity), or another's, which stays."""
    bundle = Path(entry.bundle)
    made_bundle, imported = entry.made_bundle, list(entry.imported)
    for placing in entry.placing:
        path = placing.destination
        try:
            found = os.lstat(path)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) != (placing.device, placing.inode):
            continue
        if path == bundle:
            made_bundle = True
        elif path.parent == checkpoints.checkpoints_dir(bundle) and path.name not in imported:
            imported.append(path.name)
    return attrs.evolve(entry, made_bundle=made_bundle, imported=imported, placing=[])


def _matching(directory: Path, pattern: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [name for name in names if re.fullmatch(pattern, name)]
