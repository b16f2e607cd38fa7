"""The stopped container a move into this daemon replaced, kept until the move's session ends.

A container moved here replaces a stopped container of its id, as a start does (one moved
there and back lands on its stopped copy). But until the session is finished the move is not
done: the source may abort it (its crash, an error, a lost answer), and an abort leaves this
daemon as it was before the move. So the stopped container's directory (its log, its state)
is not removed once the restore has replaced it, as a start's is: it waits under a name of
the session's, beside the containers' directories, and its record (the container as a GET
showed it) is in the session's entry (:class:`~.ledger.SessionEntry`). A finish removes the
directory; an abort, once the restored container is deleted, puts the stopped one back, its
directory in place and its record in the journal. A server that dies mid-session leaves both
to the next, which puts it back unless it keeps the moved container (:meth:`.Incoming
.clear_left`).

The supervisor holds the table of containers and makes the stopped one again
(:meth:`.Supervisor.put_back_moved_over`); this module names and moves the directories.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import attrs

from ..container import remove_directory
from .ledger import Replaced

log = logging.getLogger(__name__)


@attrs.define
class _Restoring:
    session: str
    replaced: Replaced | None = None


class MovedOver:
    """Where the stopped containers replaced by the moves into this daemon wait: one
    directory each, named after its id and the session, in ``containers_dir``."""

    def __init__(self, containers_dir: Path) -> None:
        self._containers_dir = containers_dir
        #: The restores of moves under way, by container id.
        self._restoring: dict[str, _Restoring] = {}

    def directory(self, container_id: str, session: str) -> Path:
        """Where the stopped container ``container_id`` waits for ``session`` to end (a
        name no id has: ids never begin with a dot; nor swept as a replaced start's is)."""
        return self._containers_dir / f".{container_id}.moved-over-{session}"

    def restoring(self, container_id: str, session: str) -> None:
        """``session`` restores ``container_id`` from now on: a stopped container it replaces
        is kept (:meth:`keep`), not removed."""
        self._restoring[container_id] = _Restoring(session)

    def restored(self, container_id: str) -> Replaced | None:
        """The restore has ended: the stopped container it replaced, if it kept one."""
        found = self._restoring.pop(container_id, None)
        return None if found is None else found.replaced

    def keep(self, container_id: str, aside: Path, replaced: Replaced) -> bool:
        """Keep the directory ``aside`` of the stopped container that a restore, done,
        replaced, if the restore was a move's (:meth:`restoring`): False if it was not (the
        directory is the caller's to remove)."""
        found = self._restoring.get(container_id)
        if found is None:
            return False
        kept = self.directory(container_id, found.session)
        try:
            remove_directory(kept)  # one a dead server left under that name: not this one
            os.rename(aside, kept)
        except OSError as exc:
            log.error(
                "container %s: the stopped container the move replaced cannot be kept, and"
                " an abort will not put it back: %s", container_id, exc,
            )  # fmt: skip
            return False
        found.replaced = replaced
        return True

    def take(self, container_id: str, session: str, directory: Path) -> bool:
        """Move the kept directory back to ``directory`` (the container's): False if there
        is none (the restore replaced no stopped container, or it was not kept)."""
        kept = self.directory(container_id, session)
        if not kept.is_dir():
            return False
        remove_directory(directory)  # what the deleted moved container left, if anything
        os.rename(kept, directory)
        return True

    def discard(self, container_id: str, session: str) -> None:
        """The move is done (or its stopped container cannot come back): remove what was
        kept of it."""
        remove_directory(self.directory(container_id, session))
