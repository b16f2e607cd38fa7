"""A container's log on disk, as the logger writes it.

Each line a process writes becomes one ndjson record::

    {"stream":"stdout","pid":1234,"timestamp":"2026-11-29T10:00:00.123456789+00:00","data":"hi\\n"}

in ``<container dir>/container.log``; ``stream`` and ``pid`` come first, always in this order, so
that a reader can filter records with a prefix test instead of decoding them. Lines longer than
:data:`MAX_LINE` are cut into several records, as Docker's json-file driver does. A terminal's
output is not made of lines: each read becomes a record of stream ``terminal`` as it came.
When the file would pass its cap it is rotated to ``container.log.1`` (one rotated file is kept),
so a chatty container holds at most twice the cap on disk.

Writes land whole or not at all. A write that the disk cuts short (ENOSPC) is cut back to the
last whole record it wrote, and the rest is kept and retried: the file never holds a torn
record, and nothing that was read from a pipe is dropped. While a log cannot be written its
container's pipes are not read (see :mod:`containerd_trio.keeper._logger`), so its processes
block on a full pipe instead of losing output.

This module has no Trio in it: the logger is a plain process with its own loop.
"""

from __future__ import annotations

import codecs
import os
from json.encoder import encode_basestring

from . import timestamps
from .appendfile import AppendFile

LOG_NAME = "container.log"
ROTATED_NAME = "container.log.1"
#: A line longer than this is cut into several records.
MAX_LINE = 16 * 1024

#: Streams a record may carry.
STREAMS = ("stdout", "stderr", "terminal")


def record_prefix(stream: str, pid: int) -> bytes:
    """What every record of this stream and process starts with (see :func:`prefix_filter`)."""
    return f'{{"stream":"{stream}","pid":{pid},'.encode()


class LineSource:
    """One stream of one process going into the log: turns what was read into records.

    Pipe streams are cut into lines (a trailing part is held until its newline comes, or the
    stream ends); a terminal's reads are recorded as they come, decoded incrementally so that a
    character split between two reads is not mangled.
    """

    def __init__(self, stream: str, pid: int) -> None:
        self.stream = stream
        self._head = f'{{"stream":"{stream}","pid":{pid},"timestamp":"'
        self._partial = b""
        self._decoder = (
            codecs.getincrementaldecoder("utf-8")("replace") if stream == "terminal" else None
        )

    def records(self, data: bytes) -> bytes:
        """The records for a chunk read from the stream (maybe none yet)."""
        stamp = timestamps.format_ns(timestamps.now_ns())
        head = f'{self._head}{stamp}","data":'
        if self._decoder is not None:
            text = self._decoder.decode(data)
            return f"{head}{encode_basestring(text)}}}\n".encode() if text else b""
        pending = self._partial + data if self._partial else data
        parts: list[str] = []
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = pending[start : end + 1]
            for piece in range(0, len(line), MAX_LINE):
                text = line[piece : piece + MAX_LINE].decode("utf-8", "replace")
                parts.append(f"{head}{encode_basestring(text)}}}\n")
            start = end + 1
        rest = pending[start:]
        while len(rest) >= MAX_LINE:
            text = rest[:MAX_LINE].decode("utf-8", "replace")
            parts.append(f"{head}{encode_basestring(text)}}}\n")
            rest = rest[MAX_LINE:]
        self._partial = rest
        return "".join(parts).encode()

    def close(self) -> bytes:
        """The stream ended: the record of what is left of its last line."""
        if self._decoder is not None:
            text = self._decoder.decode(b"", final=True)
        else:
            text = self._partial.decode("utf-8", "replace")
            self._partial = b""
        if not text:
            return b""
        stamp = timestamps.format_ns(timestamps.now_ns())
        return f'{self._head}{stamp}","data":{encode_basestring(text)}}}\n'.encode()


class LogWriter:
    """Appends whole records to a container's log, rotating it at its cap.

    :meth:`append` returns False when the disk refused part of what it was given: that part is
    kept, and :meth:`retry` writes it once the disk takes it again. Until then the log is
    :attr:`paused` and :meth:`append` must not be called with more (its caller stops reading).
    """

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.path = os.path.join(directory, LOG_NAME)
        self.rotated_path = os.path.join(directory, ROTATED_NAME)
        self.directory = directory
        self._max_bytes = max_bytes
        # 0600, as the daemon's umask (077) made it of 0640 before: a log may hold what a
        # container's processes print of their secrets; the daemon's API serves it to root.
        self._file = AppendFile(self.path, 0o600)
        self._opened = False  # opened on the first write: many containers never write
        self._pending = b""
        #: Why the log is paused (the disk's error), or None while it is written.
        self.paused: str | None = None

    def append(self, records: bytes) -> bool:
        assert self.paused is None, "append on a paused log"
        self._pending = records
        return self.retry()

    def retry(self) -> bool:
        """Write what is held; True once it all landed (the log runs again)."""
        try:
            if not self._opened:
                self._open()
            while self._file.flush() and self._pending:
                room = self._max_bytes - self._file.size
                if len(self._pending) <= room:
                    chunk, self._pending = self._pending, b""
                    self._file.append(chunk)
                    continue
                cut = self._pending.rfind(b"\n", 0, room) + 1
                if not cut:
                    if self._file.size:
                        self._rotate()  # the next record does not fit: a new file
                        continue
                    # One record larger than the cap: it has a file of its own.
                    cut = self._pending.find(b"\n") + 1 or len(self._pending)
                chunk, self._pending = self._pending[:cut], self._pending[cut:]
                self._file.append(chunk)
        except OSError as exc:
            self.paused = exc.strerror or str(exc)
            return False
        if self._file.holding:
            self.paused = self._file.error or "the disk refused the write"
            return False
        self.paused = None
        return True

    def _open(self) -> None:
        try:
            self._file.open()
        except FileNotFoundError:
            # The container's directory is made when it first has something to hold.
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._file.open()
        self._opened = True

    def _rotate(self) -> None:
        self._file.close()
        os.replace(self.path, self.rotated_path)
        self._file.open()

    def close(self) -> None:
        self._file.close()
        self._opened = False
