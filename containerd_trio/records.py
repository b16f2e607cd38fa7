"""What the daemon keeps on disk about its containers, so that a restart can adopt them.

One append-only journal, ``<state-dir>/containers.journal``: a line ``{"put": record}`` each time
a container changes (it starts, a process starts or exits, it pauses, it stops) and
``{"remove": id}`` when it is deleted. A record holds the container as clients see it, plus the
start time of each live process (a pid alone could have been reused while the daemon was down).

Why a journal and not a file per container: on ext4, creating and renaming a file costs about
a third of a millisecond, two or three times per container, which was a tenth of everything the
daemon spent on a start; an append costs a few microseconds. When the journal grows to several
times what is live it is rewritten with the live records only, atomically by rename.

No fsync: the journal guards against the daemon crashing, which keeps the page cache; a machine
that loses power loses its containers too. A line torn by a crash mid-write is skipped.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import attrs

from .convert import converter
from .model import ContainerInfo

log = logging.getLogger(__name__)

JOURNAL_NAME = "containers.journal"
#: Rewrite the journal once it holds this many times more lines than live records (and more
#: than a floor, so that a few containers do not mean constant rewrites).
_COMPACT_FACTOR = 4
_COMPACT_FLOOR = 1000


@attrs.frozen
class ProcessStart:
    pid: int
    #: Clock ticks since boot (see :func:`process.start_time`).
    start_time: int


@attrs.frozen
class ContainerRecord:
    container: ContainerInfo
    start_times: list[ProcessStart] = attrs.Factory(list)


class RecordJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        #: id -> the record's journal line, in the order the containers were first put.
        self._live: dict[str, bytes] = {}
        self._lines = 0
        self._fd: int | None = None

    def load(self) -> list[ContainerRecord]:
        """Replay the journal: the last record of every container not removed, oldest first.

        Then start a fresh journal holding just those.
        """
        self._live.clear()
        try:
            with open(self.path, "rb") as journal:
                for line in journal:
                    self._replay(line)
        except FileNotFoundError:
            pass
        records = []
        for container_id, line in list(self._live.items()):
            try:
                records.append(converter.structure(json.loads(line)["put"], ContainerRecord))
            except Exception as exc:  # a record we cannot read must not stop the daemon
                log.error("skipping the unreadable record of container %s: %s", container_id, exc)
                del self._live[container_id]
        records.sort(key=lambda record: record.container.created_at)
        self._rewrite()
        return records

    def _replay(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            if "put" in entry:
                container_id = str(entry["put"]["container"]["id"])
                self._live.pop(container_id, None)  # keep first-put order for re-puts too
                self._live[container_id] = line.rstrip(b"\n")
            else:
                self._live.pop(str(entry["remove"]), None)
        except (ValueError, KeyError, TypeError):
            pass  # a line torn by a crash mid-write

    def put(self, record: ContainerRecord) -> None:
        body = {"put": converter.unstructure(record)}
        line = json.dumps(body, separators=(",", ":")).encode()
        self._live[record.container.id] = line
        self._append(line)

    def remove(self, container_id: str) -> None:
        if self._live.pop(container_id, None) is not None:
            self._append(json.dumps({"remove": container_id}).encode())

    def _append(self, line: bytes) -> None:
        try:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            os.write(self._fd, line + b"\n")
            self._lines += 1
            if self._lines > max(_COMPACT_FLOOR, _COMPACT_FACTOR * len(self._live)):
                self._rewrite()
        except OSError as exc:
            # The containers run on; only their adoption after a crash is at stake.
            log.error("cannot write the container journal %s: %s", self.path, exc)

    def _rewrite(self) -> None:
        temporary = self.path.with_name(JOURNAL_NAME + ".tmp")
        with open(temporary, "wb") as journal:
            journal.writelines(line + b"\n" for line in self._live.values())
        os.replace(temporary, self.path)
        self.close()
        self._open()
        self._lines = len(self._live)

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o600)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
