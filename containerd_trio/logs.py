"""A container's captured stdout and stderr: written as ndjson, read back with tail and follow.

Each line a process writes becomes one record ``{"stream", "timestamp", "data"}`` in
``<container dir>/container.log``, so that the logs endpoint can stream the file as it is,
without decoding and encoding every line again. Lines longer than :data:`MAX_LINE` are cut into
several records, as Docker's json-file driver does. When the file passes its cap it is rotated
to ``container.log.1`` (one rotated file is kept), so a chatty container holds at most twice the
cap on disk.

Writes are plain blocking ``os.write`` calls on a regular file: they land in the page cache in
microseconds, far cheaper than a hop to a worker thread, and the event loop never waits on a
disk for them.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from . import timestamps

LOG_NAME = "container.log"
ROTATED_NAME = "container.log.1"
#: A line longer than this is cut into several records.
MAX_LINE = 16 * 1024
_READ_CHUNK = 64 * 1024


def _record(stream: str, data: bytes) -> bytes:
    entry = {
        "stream": stream,
        "timestamp": timestamps.format_ns(timestamps.now_ns()),
        "data": data.decode("utf-8", errors="replace"),
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class LogSource:
    """One pipe's output going into the log: holds the part of a line not yet ended."""

    def __init__(self, writer: LogWriter, stream: str) -> None:
        self._writer = writer
        self._stream = stream
        self._partial = b""

    def write(self, data: bytes) -> None:
        """Take a chunk read from the pipe; whole lines are written, a trailing part is held."""
        pending = self._partial + data if self._partial else data
        records = []
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = pending[start : end + 1]
            for piece in range(0, len(line), MAX_LINE):
                records.append(_record(self._stream, line[piece : piece + MAX_LINE]))
            start = end + 1
        rest = pending[start:]
        while len(rest) >= MAX_LINE:
            records.append(_record(self._stream, rest[:MAX_LINE]))
            rest = rest[MAX_LINE:]
        self._partial = rest
        if records:
            self._writer.append(records)

    def close(self) -> None:
        """The pipe reached EOF: write what is left of its last line."""
        if self._partial:
            self._writer.append([_record(self._stream, self._partial)])
            self._partial = b""


class LogWriter:
    """Appends a container's output to its log file; wakes whoever follows it."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.path = directory / LOG_NAME
        self.rotated_path = directory / ROTATED_NAME
        self._max_bytes = max_bytes
        self._fd: int | None = None  # opened on the first write: many containers never write
        self._size = 0
        self._lot = trio.lowlevel.ParkingLot()
        #: True once no process can write here any more; followers end then.
        self.finished = False

    def source(self, stream: str) -> LogSource:
        return LogSource(self, stream)

    def finish(self) -> None:
        """No more output will come: close the file and end every follower."""
        self.finished = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._lot.unpark_all()

    def append(self, records: list[bytes]) -> None:
        """Write whole records, rotating before one would take the file past its cap."""
        if self.finished:
            return
        if self._fd is None:
            self._fd = _open_for_append(self.path)
            self._size = os.fstat(self._fd).st_size
        batch: list[bytes] = []
        batch_size = 0
        for record in records:
            if self._size + batch_size + len(record) > self._max_bytes and self._size + batch_size:
                self._write(batch, batch_size)
                batch, batch_size = [], 0
                self._rotate()
            batch.append(record)
            batch_size += len(record)
        self._write(batch, batch_size)
        self._lot.unpark_all()

    def _write(self, batch: list[bytes], size: int) -> None:
        if batch:
            assert self._fd is not None
            os.write(self._fd, b"".join(batch))
            self._size += size

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        os.replace(self.path, self.rotated_path)
        self._fd = _open_for_append(self.path)
        self._size = 0

    async def wait_for_more(self) -> None:
        """Return after the next write (or once the writer is finished)."""
        if not self.finished:
            await self._lot.park()


def _open_for_append(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o640)
    except FileNotFoundError:
        # The container's directory is made when it first has something to hold.
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o640)


def read_tail(directory: Path, tail: int | None) -> tuple[list[bytes], _Position]:
    """The last ``tail`` records (all when None) and where the live file was read up to."""
    lines: deque[bytes] = deque(maxlen=tail)
    for path in (directory / ROTATED_NAME, directory / LOG_NAME):
        try:
            with open(path, "rb") as log:
                for line in log:
                    if line.endswith(b"\n"):
                        lines.append(line)
        except FileNotFoundError:
            pass
    position = _Position.of(directory / LOG_NAME)
    return list(lines), position


class _Position:
    """Where a follower stands in the live log file: its inode and offset."""

    def __init__(self, inode: int | None, offset: int) -> None:
        self.inode = inode
        self.offset = offset

    @classmethod
    def of(cls, path: Path) -> _Position:
        try:
            info = path.stat()
        except FileNotFoundError:
            return cls(None, 0)
        return cls(info.st_ino, info.st_size)


def _read_from(path: Path, position: _Position) -> list[bytes]:
    """Records written since ``position``, following one rotation if it happened meanwhile."""
    out: list[bytes] = []
    try:
        info = path.stat()
    except FileNotFoundError:
        return out
    if position.inode is not None and info.st_ino != position.inode:
        # Rotated: finish the old file (now the .1) from where we stood, then start the new one.
        rotated = path.with_name(ROTATED_NAME)
        try:
            if rotated.stat().st_ino == position.inode:
                out += _read_range(rotated, position.offset)
        except FileNotFoundError:
            pass
        position.inode, position.offset = info.st_ino, 0
    if position.inode is None:
        position.inode = info.st_ino
    data = _read_range(path, position.offset)
    position.offset += sum(len(line) for line in data)
    out += data
    return out


def _read_range(path: Path, offset: int) -> list[bytes]:
    with open(path, "rb") as log:
        log.seek(offset)
        data = log.read()
    # Only whole records: a write is one os.write of whole lines, so this only guards the edge.
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(keepends=True)


async def follow(
    directory: Path, writer: LogWriter | None, tail: int | None
) -> AsyncIterator[bytes]:
    """Yield records: the tail first, then (with a live writer) new ones until it finishes."""
    lines, position = read_tail(directory, tail)
    for line in lines:
        yield line
    if writer is None:
        return
    while True:
        finished = writer.finished
        for line in _read_from(directory / LOG_NAME, position):
            yield line
        if finished:
            return
        await writer.wait_for_more()
