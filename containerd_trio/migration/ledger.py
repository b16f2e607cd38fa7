"""What the target's migration sessions made, on disk, so that none outlives its server.

A session lives in the server's memory; what it receives (the bundle, checkpoint images, the
staging directories of the archives being unpacked) lives in the bundle's directory. A server
that dies, or hands over to a new one, mid-migration used to leave those files for good: its
successor knew nothing of the session, and answered the source's abort with 404. So each
session has a file here, ``<state-dir>/migrations/<session>.json``, written when it opens and
each time it takes something, removed when it ends; the next server reads what is left
(:meth:`SessionLedger.leftovers`) before it serves, and removes what those sessions made,
but a container restored and kept there (see :mod:`.incoming`).

Written whole by rename: a crash leaves the old entry or the new one, never half of one. No
fsync, as for the journal: they guard against the server dying, not the machine.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import attrs

from ..archive import Placement
from ..convert import dump_json, structure, unstructure
from ..errors import InvalidRequest

log = logging.getLogger(__name__)


@attrs.frozen
class EmptyDirectory:
    """The empty directory that was at a bundle path before the session's bundle took it:
    put back, as it was, when the bundle goes."""

    mode: int
    uid: int
    gid: int


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


class SessionLedger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, entry: SessionEntry) -> None:
        """Record the session (again). A disk that refuses is logged, not raised: the
        migration goes on, and only a crash in its middle would leave its files."""
        path = self.directory / f"{entry.id}.json"
        staged = self.directory / f".{entry.id}.json.new"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            staged.write_bytes(dump_json(unstructure(entry)))
            os.replace(staged, path)
        except OSError as exc:
            log.warning("cannot record migration %s in %s: %s", entry.id, self.directory, exc)

    def remove(self, session_id: str) -> None:
        self._unlink(self.directory / f"{session_id}.json")

    def leftovers(self) -> list[SessionEntry]:
        """The sessions a server before this one left open (and each unreadable file
        removed, with a word in the log)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("cannot read the migration records in %s: %s", self.directory, exc)
            return []
        entries = []
        for name in names:
            path = self.directory / name
            if not name.endswith(".json") or name.startswith("."):
                self._unlink(path)  # a write cut short
                continue
            try:
                entries.append(structure(json.loads(path.read_bytes()), SessionEntry))
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
