"""What the daemon keeps on disk about each container, so that a restart can adopt it.

``<state-dir>/containers/<id>/record.json`` holds the container as clients see it, plus the start
time of each of its live processes (a pid alone could have been reused while the daemon was
down). It is rewritten, atomically by rename, whenever the container changes state. No fsync:
the record guards against the daemon crashing, which keeps the page cache; a machine that loses
power loses its containers too.
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

RECORD_NAME = "record.json"


@attrs.frozen
class ProcessStart:
    pid: int
    #: Clock ticks since boot (see :func:`process.start_time`).
    start_time: int


@attrs.frozen
class ContainerRecord:
    container: ContainerInfo
    start_times: list[ProcessStart] = attrs.Factory(list)


def write_record(directory: Path, record: ContainerRecord) -> None:
    data = json.dumps(converter.unstructure(record), separators=(",", ":")).encode()
    temporary = directory / (RECORD_NAME + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, directory / RECORD_NAME)


def read_records(containers_dir: Path) -> list[ContainerRecord]:
    """Every readable record under ``containers_dir``, oldest first; broken ones are logged."""
    records = []
    try:
        entries = list(containers_dir.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        path = entry / RECORD_NAME
        try:
            data = json.loads(path.read_bytes())
            records.append(converter.structure(data, ContainerRecord))
        except FileNotFoundError:
            continue
        except Exception as exc:  # a record we cannot read must not stop the daemon
            log.error("skipping unreadable container record %s: %s", path, exc)
    records.sort(key=lambda record: record.container.created_at)
    return records
