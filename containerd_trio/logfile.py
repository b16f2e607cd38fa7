"""A container's log on disk, as the logger writes it.

Each line a process writes becomes one ndjson record::

    {"stream":"stdout","pid":1234,"timestamp":"2026-11-29T10:00:00.123456789+00:00","data":"hi\\n"}

in ``<container dir>/container.log``; ``stream`` and ``pid`` come first, always in this order, so
that a reader can filter records with a prefix test instead of decoding them. Lines longer than
:data:`MAX_LINE` are cut into several records, as Docker's json-file driver does (but never
inside a character). A terminal's output is not made of lines: each read becomes a record of
stream ``terminal`` as it came.

Output is kept byte for byte: a record whose bytes are not UTF-8 ends with ``"raw"``, its bytes
in base64 (its ``data`` decodes them with U+FFFD, for people); one of UTF-8, nearly all, is as
it always was. :func:`containerd_trio.logbytes.record_bytes` gives a record's bytes back.

When the file would pass its cap it is rotated to ``container.log.N``, N one more than the last
rotated file's (1 for the first): a rotation never replaces a file. The newest rotated file is
kept, and the older ones are deleted, but for those a follower of the log has not opened yet
(:class:`ReadersFile`: a follower that the server did not get to run for, while the log
rotated twice, found the file in between gone), at most :func:`kept_for_readers` of them. So a
chatty container holds about twice the cap on disk, and more only while a follower is behind.
(Until 2026-12-06 the log was renamed to ``container.log.1``, replacing the one before; a
reader still reads such a log, and a logger that finds one goes on from its number.)

Writes land whole or not at all. A write that the disk cuts short (ENOSPC) is cut back to the
last whole record it wrote, and the rest is kept and retried: the file never holds a torn
record, and nothing that was read from a pipe is dropped. While a log cannot be written its
container's pipes are not read (see :mod:`containerd_trio.keeper._logger`), so its processes
block on a full pipe instead of losing output.

This module has no Trio in it: the logger is a plain process with its own loop.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import errno
import fcntl
import os
import re
import struct
import time
from json.encoder import encode_basestring

from . import timestamps
from .appendfile import AppendFile

LOG_NAME = "container.log"
#: The first file rotated away (and the only one a logger before 2026-12-06 kept).
ROTATED_NAME = "container.log.1"
#: Where the log's followers say which rotated files they have not opened yet (see
#: :class:`ReadersFile`).
READERS_NAME = "container.log.readers"
_ROTATED = re.compile(r"container\.log\.([1-9][0-9]{0,17})")
#: The rotated files kept for followers that have not opened them, beyond the newest rotated
#: file: at most this many, and at most :data:`KEPT_FOR_READERS_BYTES` of output.
KEPT_FOR_READERS = 64
KEPT_FOR_READERS_BYTES = 256 * 1024 * 1024
#: How long after a process of the container starts its rotated files are all kept (within
#: the same bound): its client attaches, or follows, only once the start has answered
#: (``ctr-trio run``, ``exec``, which ask for its output from its start), and a loud process
#: had rotated its log twice by then (``seq 1 3000000`` at a 1 MiB cap: 95,431 lines gone).
NEW_PROCESS_KEEPS = 10.0
#: A line longer than this is cut into several records (of at most this many bytes).
MAX_LINE = 16 * 1024

#: Streams a record may carry.
STREAMS = ("stdout", "stderr", "terminal")


def rotated_name(generation: int) -> str:
    """The name of the log's ``generation``-th rotated file (counted from 1)."""
    return f"{LOG_NAME}.{generation}"


def rotated_generations(names: list[str]) -> list[int]:
    """The numbers of the rotated files among a directory's ``names``, the oldest first."""
    return sorted(int(m.group(1)) for name in names if (m := _ROTATED.fullmatch(name)))


def kept_for_readers(max_bytes: int) -> int:
    """How many rotated files, at most, the logger keeps beyond the newest for followers that
    have not opened them (at least one: the disk's bound is then three files)."""
    return max(1, min(KEPT_FOR_READERS, KEPT_FOR_READERS_BYTES // max_bytes))


#: ``struct flock`` (x86-64 and arm64): type, whence, start, length, pid.
_FLOCK = struct.Struct("hhqqi4x")


class ReadersFile:
    """``container.log.readers``: an empty file whose byte-range lock says which rotated files
    of the log the server's followers have not opened yet.

    The server's followers of a log share one (an fd each cost a hundred followers a hundred
    fds): it holds a read lock, the open file description's own (it goes when the fd closes,
    with the server too), from the number of the first rotated file one of them has not
    opened on: ``[N, end)``. A follower needs ``0`` on before it first looks at the directory,
    and moves on as it opens files. The logger, about to delete rotated file N, asks whether
    a lock meets ``[0, N]`` (:meth:`needed`): if one does, a follower has not opened it yet,
    and it is kept (within :func:`kept_for_readers`).
    """

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        #: (device, inode): the file, for sharing it among the followers of its log.
        self.key = key
        #: The followers' needs: from which rotated file on, how many of them.
        self._needs: dict[int, int] = {}
        self._locked_from: int | None = None

    @classmethod
    def open(cls, directory: str) -> ReadersFile | None:
        """The log's (made if need be), no need in it yet; None if the directory is not there
        (yet)."""
        path = os.path.join(directory, READERS_NAME)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return None
        try:
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, (info.st_dev, info.st_ino))

    @property
    def unneeded(self) -> bool:
        return not self._needs

    def need(self, generation: int, instead_of: int | None = None) -> None:
        """One follower needs the rotated files from ``generation`` on (``instead_of`` from
        the one it needed before)."""
        if instead_of == generation:
            return
        self._needs[generation] = self._needs.get(generation, 0) + 1
        if instead_of is not None:
            self.let_go(instead_of)
        else:
            self._lock()

    def let_go(self, generation: int) -> None:
        """One follower no longer needs the rotated files from ``generation`` on."""
        left = self._needs[generation] - 1
        if left:
            self._needs[generation] = left
        else:
            del self._needs[generation]
        self._lock()

    def _lock(self) -> None:
        least = min(self._needs, default=None)
        was = self._locked_from
        if least == was:
            return
        if least is None:
            change = (fcntl.F_UNLCK, was, 0)
        elif was is None or least < was:
            change = (fcntl.F_RDLCK, least, 0)  # taking in what it held already
        else:
            change = (fcntl.F_UNLCK, was, least - was)
        kind, start, length = change
        fcntl.fcntl(self.fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
        self._locked_from = least

    def close(self) -> None:
        os.close(self.fd)

    @staticmethod
    def needed(directory: str, generation: int) -> bool:
        """Whether a follower of the log in ``directory`` has not opened rotated file
        ``generation`` yet (the logger's question)."""
        try:
            fd = os.open(os.path.join(directory, READERS_NAME), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False  # no follower ever
            raise
        try:
            asked = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, generation + 1, 0)
            lock_type: int = _FLOCK.unpack(fcntl.fcntl(fd, fcntl.F_OFD_GETLK, asked))[0]
        finally:
            os.close(fd)
        return lock_type != fcntl.F_UNLCK


def record_prefix(stream: str, pid: int) -> bytes:
    """What every record of this stream and process starts with (see :func:`prefix_filter`)."""
    return f'{{"stream":"{stream}","pid":{pid},'.encode()


def _record(head: str, piece: bytes) -> str:
    """The record of ``piece``, ``head`` its fields up to ``"data":``.

    UTF-8 (nearly all output) is decoded strictly, which costs what decoding with "replace"
    did: the record is the one it always was. Other bytes also get ``raw``, their base64."""
    try:
        text = piece.decode()
    except UnicodeDecodeError:
        shown = encode_basestring(piece.decode("utf-8", "replace"))
        return f'{head}{shown},"raw":"{binascii.b2a_base64(piece, newline=False).decode()}"}}\n'
    return f"{head}{encode_basestring(text)}}}\n"


def _split_character(data: bytes, end: int) -> int:
    """How many of the bytes before ``end`` (at most 3) begin a UTF-8 character that they do
    not finish: a cut at ``end`` would split it. What the decoder of a stream holds back."""
    tail = data[max(0, end - 3) : end]
    return len(tail) - codecs.utf_8_decode(tail, "replace", False)[1]


def _cut(parts: list[str], head: str, line: bytes, start: int, until: int) -> int:
    """Cut pieces of MAX_LINE bytes (less a character the cut would split) off ``line`` from
    ``start`` on, as long as one starts before ``until``; their records into ``parts``. Where
    the rest begins."""
    while start < until:
        cut = start + MAX_LINE
        cut -= _split_character(line, cut)
        parts.append(_record(head, line[start:cut]))
        start = cut
    return start


class LineSource:
    """One stream of one process going into the log: turns what was read into records.

    Pipe streams are cut into lines (a trailing part is held until its newline comes, or the
    stream ends, or :meth:`release` for an ``interactive`` process's), and lines into pieces
    of :data:`MAX_LINE` bytes at most; a terminal's reads are recorded as they come. Neither
    a piece nor a read's record ends inside a character: a cut goes back to the character's
    start, and a read's record leaves the bytes it holds of the character to the next one (or
    to :meth:`release`, if the rest is late), so that UTF-8 output is recorded as text.
    """

    def __init__(self, stream: str, pid: int, *, interactive: bool = False) -> None:
        self.stream = stream
        self._head = f'{{"stream":"{stream}","pid":{pid},"timestamp":"'
        self._terminal = stream == "terminal"
        #: What it holds back is let go a moment after a read (:meth:`release`): a terminal's
        #: character, or the line without its newline of a process whose stdin is a pipe kept
        #: open (``interactive``: run -i, exec -i), which may be a prompt waiting for its
        #: answer (``printf 'Name? '``), as docker's attach shows it.
        self._releasing = self._terminal or interactive
        #: A pipe's line not ended yet; a terminal's character not ended yet.
        self._partial = b""

    def records(self, data: bytes) -> bytes:
        """The records for a chunk read from the stream (maybe none yet)."""
        stamp = timestamps.format_ns(timestamps.now_ns())
        head = f'{self._head}{stamp}","data":'
        pending = self._partial + data if self._partial else data
        if self._terminal:
            end = len(pending) - _split_character(pending, len(pending))
            self._partial = pending[end:]
            return _record(head, pending[:end]).encode() if end else b""
        parts: list[str] = []
        start = 0
        while (newline := pending.find(b"\n", start)) >= 0:
            end = newline + 1
            if end - start > MAX_LINE:
                start = _cut(parts, head, pending, start, end - MAX_LINE)
            parts.append(_record(head, pending[start:end]))
            start = end
        # The line not ended yet: what it has of pieces that can take no more bytes now.
        start = _cut(parts, head, pending, start, len(pending) - MAX_LINE + 1)
        self._partial = pending[start:]
        return "".join(parts).encode()

    @property
    def holding(self) -> bool:
        """A terminal's last read ended inside a character (or an interactive process's line
        has no newline yet): its first bytes wait for the rest (the next read's record holds
        them), or for :meth:`release`."""
        return self._releasing and bool(self._partial)

    def release(self) -> bytes:
        """The record of what a terminal holds of a character whose rest did not come (as the
        bytes they are: ``raw``), or of an interactive process's line without its newline.
        The logger calls it a moment after the read: a program whose output ends there and
        waits for its user (a prompt, a binary protocol waiting for its answer) would
        otherwise have it held back until it writes again, maybe never."""
        assert self._releasing, "a line waits for its newline"
        return self._rest()

    def close(self) -> bytes:
        """The stream ended: the record of what is left of its last line (or character)."""
        return self._rest()

    def _rest(self) -> bytes:
        rest, self._partial = self._partial, b""
        if not rest:
            return b""
        stamp = timestamps.format_ns(timestamps.now_ns())
        return _record(f'{self._head}{stamp}","data":', rest).encode()


class LogWriter:
    """Appends whole records to a container's log, rotating it at its cap.

    :meth:`append` returns False when the disk refused part of what it was given: that part is
    kept, and :meth:`retry` writes it once the disk takes it again. Until then the log is
    :attr:`paused` and :meth:`append` must not be called with more (its caller stops reading).
    """

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.path = os.path.join(directory, LOG_NAME)
        self.directory = directory
        self._max_bytes = max_bytes
        # 0600, as the daemon's umask (077) made it of 0640 before: a log may hold what a
        # container's processes print of their secrets; the daemon's API serves it to root.
        self._file = AppendFile(self.path, 0o600)
        self._opened = False  # opened on the first write: many containers never write
        self._pending = b""
        #: Why the log is paused (the disk's error), or None while it is written.
        self.paused: str | None = None
        #: Until when (time.monotonic) every rotated file is kept: see :meth:`keep_all`.
        self._keep_all_until = 0.0
        #: Rotated files beyond the newest are kept: see :meth:`let_go`.
        self.keeps_more = False

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

    def keep_all(self, seconds: float = NEW_PROCESS_KEEPS) -> None:
        """A process of the container started: its followers-to-be (its attach, a follow of
        it) have not taken their lock yet; the rotated files are kept for them meanwhile, as
        for a follower that has not opened them (:data:`NEW_PROCESS_KEEPS`)."""
        self._keep_all_until = max(self._keep_all_until, time.monotonic() + seconds)

    def _rotate(self) -> None:
        self._file.close()
        # Looked at each time (a rotation is rare): another logger (one restarted, or one of
        # before 2026-12-06) may have written this log, and its directory may be new.
        rotated = rotated_generations(os.listdir(self.directory))
        generation = rotated[-1] + 1 if rotated else 1
        # Never over a file: one a follower has not opened yet would be gone for it.
        os.rename(self.path, os.path.join(self.directory, rotated_name(generation)))
        self._file.open()
        self.let_go([*rotated, generation])

    def let_go(self, rotated: list[int] | None = None) -> None:
        """Delete the rotated files (numbered ``rotated``, the oldest first, or as the directory
        has them) before the newest, but those a follower has not opened yet (within
        :func:`kept_for_readers`): the oldest first, so that the files on disk are always a
        run of numbers. :attr:`keeps_more` says whether some were kept: the logger asks again
        now and then (a follower opens them, a new process's keep ends, with no rotation to
        come: a stopped container's log would keep them)."""
        self.keeps_more = True
        try:
            if rotated is None:
                rotated = rotated_generations(os.listdir(self.directory))
            most = 1 + kept_for_readers(self._max_bytes)
            keep_all = time.monotonic() < self._keep_all_until
            while len(rotated) > 1:
                oldest = rotated.pop(0)
                if len(rotated) < most and (keep_all or ReadersFile.needed(self.directory, oldest)):
                    return
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, rotated_name(oldest)))
        except FileNotFoundError:
            pass  # no directory: nothing kept
        except OSError:
            return  # kept until asked again (out of fds, say): the log is written
        self.keeps_more = False

    def close(self) -> None:
        self._file.close()
        self._opened = False
        self.let_go()  # the files kept for a follower that has opened them by now
