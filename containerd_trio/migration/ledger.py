"""What migrations, on either side, have under way, on disk, so that none outlives its server.

The target's side: a session lives in the server's memory; what it receives (the bundle,
checkpoint images, the staging directories of the archives being unpacked) lives in the
bundle's directory. A server that dies, or hands over to a new one, mid-migration used to
leave those files for good: its successor knew nothing of the session, and answered the
source's abort with 404. So each session has a file here, ``<state-dir>/migrations/<session>
.json``, written when it opens and each time it takes something, removed when it ends; the
next server reads what is left (:meth:`Ledger.leftovers`) before it serves, and removes what
those sessions made, but a container restored and kept there (see :mod:`.incoming`).

The source's side: a move (:mod:`.outgoing`) pauses the container and dumps it beside its
bundle. A source server that died mid-move left the container paused for good, its images
behind, and the target perhaps running it too. So each move has a file,
``<state-dir>/outgoing/<migration>.json``, written before the move makes anything (its images)
and each time it does something that changes who may run the container (the session it
opened, the pause, the restore asked of the target), removed when the move ends; the next
server settles what is left (:mod:`.left`) before it serves the container, under the move's
own deadline for the dump it left running.

Written whole by rename: a crash leaves the old entry or the new one, never half of one. No
fsync, as for the journal: they guard against the server dying, not the machine.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar

import attrs

from ..archive import Placement
from ..convert import dump_json, structure, unstructure
from ..errors import InvalidRequest
from ..model import ContainerInfo

log = logging.getLogger(__name__)


@attrs.frozen
class EmptyDirectory:
    """The empty directory that was at a bundle path before the session's bundle took it:
    put back, as it was, when the bundle goes."""

    mode: int
    uid: int
    gid: int


@attrs.frozen
class Replaced:
    """A stopped container that a move's restore replaced (:mod:`.moved_over`): as a GET
    showed it, and its init's pid (None for one that ended while no daemon ran), for its
    wait."""

    container: ContainerInfo
    ended_pid: int | None = None
    #: Its CPU limits its user set (``Container.user_cpu``), which its view does not show.
    user_cpu: list[str] | None = None


@attrs.frozen
class SessionEntry:
    """A session as its file tells it (in the daemon's JSON: camelCase, as the API's)."""

    id: str
    container_id: str
    bundle: str
    checkpoint: str
    #: The source's checkpoint directory is seen here: the images are the source's own.
    shared: bool
    #: The bundle comes as an archive: its staging directory beside ``bundle`` is the
    #: session's.
    with_bundle: bool = False
    #: The bundle at ``bundle`` was made by the session (its archive is in place).
    made_bundle: bool = False
    #: The checkpoints (and pre-copy rounds) the session took, in place.
    imported: list[str] = attrs.Factory(list)
    #: What an archive under way was moving into place, once all of it had passed, recorded
    #: before the move: the directory found there with that identity is the session's (the
    #: move happened), any other is not.
    placing: list[Placement] = attrs.Factory(list)
    #: The empty directory the session's bundle replaced.
    bundle_was: EmptyDirectory | None = None
    #: The stopped container of the id that the restore replaced, kept aside until the
    #: session ends: an abort puts it back.
    replaced: Replaced | None = None
    #: The container is restored (and recorded): if the next server finds it here, the
    #: session goes on there (:meth:`.Incoming.find_left`), to take the hand-off and the
    #: finish (or the abort) the source sends again.
    restored: bool = False
    #: The input the source handed on is in the container's input (recorded just before it
    #: is written: a server killed between the two loses it rather than write it twice):
    #: a hand-off sent again is answered as done, and not written again.
    handed_off: bool = False
    #: The session is being aborted (recorded before the abort deletes what it restored):
    #: the next server does not take it up again, it clears it.
    aborting: bool = False
    #: The pid of the restored init: the run the hand-off is for (not a restart's).
    init_pid: int | None = None


@attrs.frozen
class MoveEntry:
    """A move out of this daemon as its file tells it (in the daemon's JSON, as the API's)."""

    #: The migration's name: its checkpoint's, and the label the moved container carries.
    id: str
    container_id: str
    bundle: str
    #: The target's address, as the client gave it.
    target: str
    #: The target's session, once it opened one.
    session: str | None = None
    #: The images the move made in the bundle's checkpoints directory (each recorded before
    #: it is made).
    images: list[str] = attrs.Factory(list)
    #: The move pauses the container (recorded before the pause; not for one paused before
    #: the move, which stays paused if the move is undone).
    pausing: bool = False
    #: The target was asked to restore the container (recorded before it was): it may run it.
    restore_asked: bool = False
    #: The seconds each dump of the move may take, as the client gave them (its ``timeout``):
    #: a dump the move's server left running is killed past them, as that server would
    #: have. None: the daemon's --checkpoint-timeout (and a record written before moves
    #: kept their timeout).
    timeout: float | None = None
    #: The input the container had not read, taken out of its copy for the target (base64;
    #: recorded before its hand-off, and gone once it is put back into the copy): the next
    #: server hands it on again before it asks for the finish (the target writes it once),
    #: or puts it back into the copy if that runs here again.
    stdin: str | None = None
    #: That input is also back in the paused copy (a move left unsure before the target
    #: answered its hand-off, :meth:`.Outgoing._keep_stdin_here`): the copy has it if it
    #: runs here again, so it is not put back again; the target is still handed it before
    #: the finish, should it keep the container (False: a record older than that).
    stdin_in_copy: bool = False


class _Entry(Protocol):
    @property
    def id(self) -> str: ...


E = TypeVar("E", bound=_Entry)


class Ledger(Generic[E]):
    """One entry a file, named after its id, in ``directory``."""

    entry_type: ClassVar[type]

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, entry: E) -> None:
        """Record the entry (again). A disk that refuses is logged, not raised: the
        migration goes on, and only a crash in its middle would leave its files."""
        path = self.directory / f"{entry.id}.json"
        staged = self.directory / f".{entry.id}.json.new"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            staged.write_bytes(dump_json(unstructure(entry)))
            os.replace(staged, path)
        except OSError as exc:
            log.warning("cannot record migration %s in %s: %s", entry.id, self.directory, exc)

    def remove(self, entry_id: str) -> None:
        self._unlink(self.directory / f"{entry_id}.json")

    def leftovers(self) -> list[E]:
        """The entries a server before this one left (and each unreadable file removed,
        with a word in the log)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("cannot read the migration records in %s: %s", self.directory, exc)
            return []
        entries: list[E] = []
        for name in names:
            path = self.directory / name
            if not name.endswith(".json") or name.startswith("."):
                self._unlink(path)  # a write cut short
                continue
            try:
                entries.append(structure(json.loads(path.read_bytes()), self.entry_type))
            except (OSError, ValueError, InvalidRequest, RecursionError) as exc:
                log.error("skipping the unreadable migration record %s: %s", path, exc)
                self._unlink(path)
        return entries

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a directory there, say: logged, never in the server's way
            log.error("cannot remove %s: %s", path, exc)


class SessionLedger(Ledger[SessionEntry]):
    """The target's sessions (``<state-dir>/migrations/``)."""

    entry_type = SessionEntry


class MoveLedger(Ledger[MoveEntry]):
    """The source's moves (``<state-dir>/outgoing/``)."""

    entry_type = MoveEntry
