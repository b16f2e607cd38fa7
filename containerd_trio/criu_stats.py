"""CRIU's own figures of a dump or a restore: how long the container was frozen, how many pages.

CRIU writes ``stats-dump`` and ``stats-restore`` into its work directory (``runc checkpoint
--work-path``): a CRIU image (two magic words, then one length-prefixed protobuf message, a
``stats_entry`` of images/stats.proto). The message is small and flat, so it is read here with a
few lines of protobuf varint decoding instead of a protobuf dependency.
"""

from __future__ import annotations

import struct
from pathlib import Path

import attrs

_SERVICE_MAGIC = 0x55105940
_STATS_MAGIC = 0x57093306
PAGE_SIZE = 4096
#: The dump's statistics in its work directory: CRIU writes them only once a dump succeeded.
DUMP_STATS = "stats-dump"


@attrs.frozen
class DumpStats:
    """``dump_stats_entry``: times in microseconds."""

    freezing_us: int  # from the start of freezing to all tasks frozen
    frozen_us: int  # how long the tasks stayed frozen: the dump's downtime
    memdump_us: int
    memwrite_us: int
    pages_scanned: int
    pages_skipped_parent: int  # unchanged since the parent (pre-dump) images
    pages_written: int
    pages_lazy: int  # left for the lazy-pages daemon to fetch (post-copy)

    @property
    def bytes_written(self) -> int:
        return self.pages_written * PAGE_SIZE


@attrs.frozen
class RestoreStats:
    pages_compared: int
    pages_skipped_cow: int
    forking_us: int
    restore_us: int
    pages_restored: int


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _fields(data: bytes) -> dict[int, int | bytes]:
    """A protobuf message's fields by number (varints and length-delimited ones)."""
    fields: dict[int, int | bytes] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[number], position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            fields[number] = data[position : position + length]
            position += length
        elif wire in (1, 5):
            position += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    return fields


def _stats_entry(path: Path, field: int) -> dict[int, int | bytes] | None:
    try:
        data = path.read_bytes()
        service, magic, length = struct.unpack_from("<III", data)
        if (service, magic) != (_SERVICE_MAGIC, _STATS_MAGIC):
            return None
        inner = _fields(data[12 : 12 + length]).get(field)
        return _fields(inner) if isinstance(inner, bytes) else None
    except (OSError, struct.error, ValueError):
        return None


def _int(fields: dict[int, int | bytes], number: int) -> int:
    value = fields.get(number, 0)
    return value if isinstance(value, int) else 0


def read_dump_stats(work_dir: Path) -> DumpStats | None:
    """The figures of the last dump whose work directory this is; None if there are none."""
    fields = _stats_entry(work_dir / DUMP_STATS, 1)
    if fields is None:
        return None
    return DumpStats(*(_int(fields, n) for n in (1, 2, 3, 4, 5, 6, 7, 9)))


def read_restore_stats(work_dir: Path) -> RestoreStats | None:
    fields = _stats_entry(work_dir / "stats-restore", 2)
    if fields is None:
        return None
    return RestoreStats(*(_int(fields, n) for n in (1, 2, 3, 4, 5)))
