"""Reading a container's log back: whole, its tail, filtered, and followed live.

The logger writes the log (:mod:`containerd_trio.logfile`); the server only reads it. A reader
holds the log's files open from the moment it looks at them: a file that rotates away (renamed
to ``container.log.N``, later deleted) stays readable through the reader's fd, and an inode the
reader holds cannot be given to a new file, so "the same inode" means "the same file" for as
long as the reader cares. A follower learns of a new file from inotify, and opens it right
then, in the watcher's task, however far behind its client reads; a rotated file it has not
opened yet is kept for it by the logger (its lock in the log's readers file, shared by the
server's followers of the log: :data:`READERS_FILES`), however long the server takes to run
that task, within the logger's bound. So a follower never loses a file to rotation, however
many rotations pass while its client is slow or its server busy, and never reads one twice;
only a reader whose client has taken nothing for half a minute lets the oldest go
(:data:`MAX_FILES_HELD`), and one whose server did not run for more rotations than the
logger's bound (:func:`~containerd_trio.logfile.kept_for_readers`) loses the oldest, and says
so (:attr:`_Chain.lost_files`, a warning). An attach's reader is bounded besides: further
behind than :func:`behind_at_most` files, it lets go of them all and reads no more
(:class:`Outrun`), its session ended saying so.

Answers are sent in chunks of whole records (up to 1 MiB), not a chunk per record.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import attrs
import trio

from . import _libc
from .appendfile import end_of_last_line
from .logfile import (
    LOG_NAME,
    STREAMS,
    ReadersFile,
    kept_for_readers,
    record_prefix,
    rotated_generations,
    rotated_name,
)
from .timestamps import format_ns

log = logging.getLogger(__name__)

#: The largest chunk of an answer.
CHUNK = 1024 * 1024
#: The most of a log's files a stalled reader holds unread: the two in the directory and two
#: rotated away. A follower whose client has taken nothing for :data:`STALLED_AFTER` seconds
#: and is further behind its log (about ``2 x --log-max-bytes`` of output) skips the oldest:
#: every rotation would cost it another fd and another file's space on the disk for as long
#: as its client stays connected. A follower that reads, however far behind, loses nothing.
MAX_FILES_HELD = 4
STALLED_AFTER = 30.0
#: How many times a reader looks at its log's directory for one notice, at most, while the
#: logger rotates the log between its two opens (see :meth:`_Chain._look`).
_LOOKS = 8
#: How long after its ``until`` a follow ends: the logger stamps a record when it reads it and
#: writes it a moment later, so one stamped just before ``until`` may not be in the log yet.
UNTIL_GRACE_NS = 1_000_000_000
_TIMESTAMP = b'"timestamp":"'
_STAMP_LENGTH = len("2026-11-29T10:00:00.000000000+00:00")


def behind_at_most(max_bytes: int) -> int:
    """How many of its log's files an attach's reader may be behind (the files after the one
    it reads, the log among them), at most, at a cap of ``max_bytes``: twice what the logger
    keeps of the log for a follower that has not opened its files (the newest rotated file and
    :func:`~containerd_trio.logfile.kept_for_readers` more). So a reader that begins with all
    the logger kept for it (an attach with ``logs=true`` to a loud process started a moment
    ago) is never cut at once; one cut fell a whole such keep further behind as it read, which
    the process's output outran. 34 files (about 544 MiB) at the default 16 MiB cap, 130 at
    1 MiB or less.

    Without it, a session the server itself was too slow for held every file the log rotated
    away meanwhile, deleted but open, for as long as it lasted: four attaches to one ``yes``
    held 243 of them (about 4 GB) after 70 s, 56 MB more each second."""
    return 2 * (1 + kept_for_readers(max_bytes))


class Outrun(Exception):
    """A reader fell further behind its log than it may (``behind_at_most``): its files were let
    go (the rotated ones, deleted but held open, freed), and it reads no more."""

    def __init__(self, files: int, behind: int, held_up: bool | None = None) -> None:
        super().__init__(
            f"the reader fell more than {files} of its log's files ({size_text(behind)}) behind"
        )
        #: The bound it passed, and how many bytes of the log it had still to read.
        self.files = files
        self.behind = behind
        #: Whether what it read for was held up downstream at that moment (its client's socket
        #: full), as the reader's ``held_up`` said; None if not told.
        self.held_up = held_up


def size_text(count: int) -> str:
    return f"{count / (1 << 20):.0f} MiB" if count >= 1 << 20 else f"{count // 1024} KiB"


@attrs.frozen
class LogQuery:
    tail: int | None = None
    pid: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None


class _Filter:
    """Which records a query wants, judged on their bytes (no JSON decoding)."""

    def __init__(self, query: LogQuery) -> None:
        self.prefixes = (
            tuple(record_prefix(stream, query.pid) for stream in STREAMS)
            if query.pid is not None
            else None
        )
        self.since = format_ns(query.since_ns).encode() if query.since_ns is not None else None
        self.until = format_ns(query.until_ns).encode() if query.until_ns is not None else None
        self.everything = self.prefixes is None and self.since is None and self.until is None

    def wants(self, record: bytes) -> bool:
        if self.prefixes is not None and not record.startswith(self.prefixes):
            return False
        if self.since is None and self.until is None:
            return True
        at = record.find(_TIMESTAMP)
        if at < 0:
            return False
        stamp = record[at + len(_TIMESTAMP) : at + len(_TIMESTAMP) + _STAMP_LENGTH]
        if self.since is not None and stamp < self.since:
            return False
        return self.until is None or stamp <= self.until

    def select(self, data: bytes) -> bytes:
        if self.everything:
            return data
        if self.since is None and self.until is None and self._all_wanted(data):
            return data
        return b"".join(line for line in data.splitlines(keepends=True) if self.wants(line))

    def _all_wanted(self, data: bytes) -> bool:
        """Whether every record of ``data`` (whole lines) is of the query's pid, counted at C
        speed: a chunk of a loud process's log is nearly always all its own, and one test of
        each line, in Python, cost as much as an attach's decoding of it (1.7M records/s)."""
        assert self.prefixes is not None
        # A prefix is a record's start: inside a record, its quotes would be escaped. The
        # first record's stream first: one stream's, most chunks take two scans, not four.
        first = next((p for p in self.prefixes if data.startswith(p)), None)
        if first is None:
            return False
        lines = data.count(b"\n")
        starting = 1 + data.count(b"\n" + first)
        if starting < lines:
            others = (p for p in self.prefixes if p is not first)
            starting += sum(data.count(b"\n" + prefix) for prefix in others)
        return starting == lines


class _OpenFiles:
    """The log files open for readers: one fd per file, however many readers hold it.

    Each reader holds every file rotated away since it last read (it reads with ``pread``, at
    offsets of its own): with an fd of each reader's own, a hundred followers that did not
    read for the 30 s after which one lets go (:data:`STALLED_AFTER`) held a hundred fds per
    rotation, and a loud container rotates its log several times a second: 10,500 of the
    server's 20,000 fds in 30 s for 50 followers here. Shared, they hold one per file, however
    many follow: at most the files rotated away in those 30 s, not that times the followers. A
    file stays open while a reader holds it, so its inode is never another file's meanwhile.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], list[int]] = {}  # (device, inode): [fd, readers]

    def share(self, fd: int, key: tuple[int, int]) -> int:
        """The fd of the file ``key`` that ``fd`` (just opened, handed over) is open on, one
        more reader holding it."""
        held = self._held.get(key)
        if held is None:
            self._held[key] = [fd, 1]
            return fd
        os.close(fd)
        held[1] += 1
        return held[0]

    def release(self, key: tuple[int, int]) -> None:
        """A reader lets go of the file ``key``: closed once no reader holds it."""
        held = self._held[key]
        held[1] -= 1
        if held[1] == 0:
            del self._held[key]
            os.close(held[0])

    def __len__(self) -> int:
        return len(self._held)


#: Every reader's files (the daemon runs on one thread: no lock).
OPEN_FILES = _OpenFiles()


class _SharedReadersFiles:
    """The logs' :class:`ReadersFile`\\ s open for followers: one per log, however many follow
    it (an fd each, and a lock each, cost a hundred followers a hundred fds)."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], ReadersFile] = {}

    def need(self, directory: str) -> ReadersFile | None:
        """The log's readers file, one more follower needing every rotated file (from 0 on);
        None if the directory is not there (yet)."""
        opened = ReadersFile.open(directory)
        if opened is None:
            return None
        readers = self._held.get(opened.key)
        if readers is None:
            readers = self._held[opened.key] = opened
        else:
            opened.close()
        try:
            readers.need(0)
        except BaseException:
            self._drop_if_unneeded(readers)
            raise
        return readers

    def let_go(self, readers: ReadersFile, generation: int) -> None:
        """A follower that needed from ``generation`` on leaves."""
        try:
            readers.let_go(generation)
        finally:
            self._drop_if_unneeded(readers)

    def _drop_if_unneeded(self, readers: ReadersFile) -> None:
        if readers.unneeded and self._held.get(readers.key) is readers:
            del self._held[readers.key]
            readers.close()

    def __len__(self) -> int:
        return len(self._held)


#: Every follower's readers files.
READERS_FILES = _SharedReadersFiles()


class _File:
    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        #: (device, inode): which file it is, for the reader and for :data:`OPEN_FILES`.
        self.key = key
        self.offset = 0

    def close(self) -> None:
        OPEN_FILES.release(self.key)


class _Chain:
    """The log's files a reader holds open, oldest first, and where it stands in the oldest.

    A follower's chain (``follows``) also holds a lock in the log's :class:`ReadersFile` from
    the first rotated file it has not opened on: the logger keeps such a file for it (within
    :func:`kept_for_readers`) however long the server takes to run its watcher."""

    def __init__(
        self,
        directory: Path,
        *,
        follows: bool = False,
        behind_at_most: int | None = None,
        held_up: Callable[[], bool | None] | None = None,
    ) -> None:
        self.directory = directory
        self.files: deque[_File] = deque()
        #: Files read to their end that may still be on disk: held so their inodes stay theirs.
        self._done: list[_File] = []
        #: Files let go unread because the reader stalled far behind (see MAX_FILES_HELD).
        self.skipped_files = 0
        #: Rotated files gone before the reader opened them (kept for it no longer: the
        #: logger's bound, :func:`kept_for_readers`, passed).
        self.lost_files = 0
        #: Why the watcher's task could not open a new file of this log for the reader (see
        #: :meth:`LogWatch.run`): the reader's follow ends with it.
        self.failed: OSError | None = None
        #: How many files after the one it reads the reader may hold (None: any number), and
        #: whether it held more: set, its files are let go and :meth:`read` raises it.
        self._behind_at_most = behind_at_most
        self.outrun: Outrun | None = None
        #: Asked as it is let go, whose side was slow (see :class:`Outrun`).
        self._held_up = held_up
        self._last_read = time.monotonic()
        self._follows = follows
        #: The log's readers file, and from which rotated file on this follower needs the log.
        self._readers: ReadersFile | None = None
        self._needs_from = 0
        #: The number of the newest rotated file looked at: the older ones are not looked at
        #: again (a rotated file's name is its file's for good); that one is, for a logger of
        #: before 2026-12-06, which renamed the log over ``container.log.1`` at each rotation.
        self._newest = 0
        #: The file opened as ``container.log`` last: rotated away, it has the number after
        #: :attr:`_newest` (which the reader need not find, holding it).
        self._current: tuple[int, int] | None = None
        self._looked = False
        try:
            self.notice()
        except BaseException:
            self.close()
            raise

    def notice(self) -> bool:
        """Open any file of the log that is new to us; True if one was."""
        if self.outrun is not None:
            return False  # let go for good: nothing is opened (nor a lock taken) again
        if self._follows and self._readers is None:
            # Before the look: what it finds is kept for the follower until it has it open.
            self._readers = READERS_FILES.need(str(self.directory))
            self._needs_from = 0
        held = {f.key for f in self.files} | {f.key for f in self._done}
        found = False
        present = set()
        looked = self._look()  # the older first
        rotated = [generation for generation, _, _ in looked if generation]
        if self._looked and rotated and rotated[0] > self._newest + 1:
            self._lost(rotated[0] - self._newest - 1, {key for _, _, key in looked})
        for generation, fd, key in looked:
            present.add(key)
            if generation:
                self._newest = max(self._newest, generation)
            else:
                self._current = key
            if key in held:
                os.close(fd)
            else:
                self.files.append(_File(OPEN_FILES.share(fd, key), key))
                found = True
        self._looked = True
        if self._readers is not None and self._needs_from != self._newest + 1:
            self._readers.need(self._newest + 1, instead_of=self._needs_from)
            self._needs_from = self._newest + 1
        for done in [f for f in self._done if f.key not in present]:
            # Not looked at again (older than the newest rotated file), or gone.
            self._done.remove(done)
            done.close()
        stalled = time.monotonic() - self._last_read > STALLED_AFTER
        while stalled and len(self.files) > MAX_FILES_HELD:
            # A reader whose client takes nothing would otherwise hold every file rotated away
            # since (an fd each, and their space on the disk): it skips the oldest.
            skipped = self.files.popleft()
            skipped.close()
            self.skipped_files += 1
        if self._behind_at_most is not None and len(self.files) - 1 > self._behind_at_most:
            self._let_go_outrun(self._behind_at_most)
        return found

    def _let_go_outrun(self, most: int) -> None:
        """The reader is more than ``most`` files behind (the watcher opened each as the log
        rotated, the reader slower than the process's output): every file it holds is let go
        here, in the watcher's task, at once (the rotated ones, deleted, are freed; the lock
        keeps nothing more for it), not when its reader next runs; its next read raises."""
        behind = 0
        for file in self.files:
            with contextlib.suppress(OSError):
                behind += os.fstat(file.fd).st_size - file.offset
        held_up = self._held_up() if self._held_up is not None else None
        self.outrun = Outrun(most, behind, held_up)
        log.info("a reader of %s let go of its log: %s", self.directory, self.outrun)
        self.close()

    def _lost(self, missing: int, present: set[tuple[int, int]]) -> None:
        """Rotated files numbered between the newest looked at and the first found now are
        gone; the one that was the log when last looked at is among them, held."""
        if self._current is not None and self._current not in present:
            missing -= 1
        if missing > 0:
            self.lost_files += missing
            log.warning(
                "a follower of %s lost %d of its log's files: rotated and deleted before the"
                " server opened them",
                self.directory, missing,
            )  # fmt: skip

    def _look(self) -> list[tuple[int, int, tuple[int, int]]]:
        """The log's files in the directory not looked at before, the older first, each
        opened: its number (0 for ``container.log``), its fd (ours to close) and which file
        it is (device, inode).

        The files are opened one after the other, and the logger may rotate between the opens
        (the log renamed to a new number, a new log made): the new log was then taken for the
        one after the files opened before it, and the file rotated away between them came
        after the new log at the next look. The reader read the new log before it, and once
        that older file followed, took the new log for read to its end: what came to the log
        after was never read. So once the log is open, the name after the newest rotated file
        opened is looked at (and that file's, for a logger that renamed the log over
        ``container.log.1``): if the log rotated meanwhile, the directory is looked at afresh
        (a rotation is rare: the second look is the last, but for a logger that rotates at
        every open, :data:`_LOOKS` bounds it). A file deleted meanwhile is not read: a
        follower has it kept for it, or held it already; a reader that begins does so with the
        log as it is after the rotation."""
        directory = str(self.directory)
        looks = 0
        while True:
            looks += 1
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                return []
            generations = [g for g in rotated_generations(names) if g >= self._newest]
            opened: list[tuple[int, int, tuple[int, int]]] = []
            try:
                for generation in [*generations, 0]:
                    name = rotated_name(generation) if generation else LOG_NAME
                    try:
                        fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        continue
                    try:
                        info = os.fstat(fd)
                    except BaseException:
                        os.close(fd)
                        raise
                    opened.append((generation, fd, (info.st_dev, info.st_ino)))
                rotated = [(g, key) for g, _, key in opened if g]
                newest, key = rotated[-1] if rotated else (self._newest, None)
                if os.path.exists(os.path.join(directory, rotated_name(newest + 1))):
                    moved = True
                elif key is None:
                    moved = False
                else:
                    try:
                        info = os.stat(os.path.join(directory, rotated_name(newest)))
                        moved = (info.st_dev, info.st_ino) != key
                    except FileNotFoundError:
                        moved = False  # deleted: the logger's, older than the log
            except BaseException:
                for _, fd, _ in opened:
                    os.close(fd)
                raise
            if not moved or looks == _LOOKS:
                return opened
            for _, fd, _ in opened:  # rotated between the opens: look again
                os.close(fd)

    def read(self, limit: int = CHUNK) -> bytes:
        """Whole records from where we stand, up to about ``limit`` bytes; b"" if none now.
        Raises :class:`Outrun` once the reader was let go for being too far behind."""
        if self.outrun is not None:
            raise self.outrun
        self._last_read = time.monotonic()
        while self.files:
            current = self.files[0]
            data = os.pread(current.fd, limit, current.offset)
            end = data.rfind(b"\n") + 1
            if end:
                current.offset += end
                return data[:end]
            if len(self.files) == 1:
                return b""
            # A newer file was noticed before this read, so this one was complete before it:
            # we have read it to its end.
            self.files.popleft()
            self._done.append(current)
        return b""

    def skip_to_tail(self, count: int, wanted: _Filter) -> list[bytes]:
        """Move to the end, returning the last ``count`` wanted records before it."""
        found: deque[bytes] = deque()
        for position in range(len(self.files) - 1, -1, -1):
            file = self.files[position]
            size = os.fstat(file.fd).st_size
            end = end_of_last_line(file.fd, size)
            if count == 0:
                break
            for line in _lines_backwards(file.fd, end):
                if wanted.wants(line):
                    found.appendleft(line)
                    if len(found) == count:
                        break
            if len(found) == count:
                break
        for file in self.files:
            file.offset = end_of_last_line(file.fd, os.fstat(file.fd).st_size)
        while len(self.files) > 1:
            self._done.append(self.files.popleft())
        return list(found)

    def close(self) -> None:
        for file in [*self.files, *self._done]:
            file.close()
        self.files.clear()
        self._done.clear()
        if self._readers is not None:
            readers, self._readers = self._readers, None
            READERS_FILES.let_go(readers, self._needs_from)  # nothing more kept for it


def _lines_backwards(fd: int, end: int, block_size: int = 256 * 1024) -> Iterator[bytes]:
    """The records of ``fd[:end]`` from the last to the first."""
    rest = b""
    while end > 0:
        start = max(0, end - block_size)
        block = os.pread(fd, end - start, start) + rest
        end = start
        lines = block.split(b"\n")
        rest = lines[0] if start > 0 else b""
        body = lines[1:] if start > 0 else lines
        for line in reversed(body):
            if line:
                yield line + b"\n"
    if rest:
        yield rest + b"\n"


def read_log(
    directory: Path,
    query: LogQuery,
    *,
    follow: LogWatch | None = None,
    finished: trio.Event | None = None,
    behind_at_most: int | None = None,
    held_up: Callable[[], bool | None] | None = None,
) -> AsyncIterator[bytes]:
    """Chunks of the records a query wants; with ``follow``, new ones until ``finished``.
    With ``behind_at_most`` (:func:`behind_at_most`), a follower further behind than that
    many files raises :class:`Outrun`, its files let go at that moment (in the watcher's
    task), and ``held_up`` asked then whether what it reads for was held up downstream.

    The query's filter is made here, before the first chunk: a query it cannot take fails the
    request, where a stream already answered 200 could only break off."""
    return _read_log(directory, query, _Filter(query), follow, finished, behind_at_most, held_up)


async def _read_log(
    directory: Path,
    query: LogQuery,
    wanted: _Filter,
    follow: LogWatch | None,
    finished: trio.Event | None,
    behind_at_most: int | None,
    held_up: Callable[[], bool | None] | None,
) -> AsyncIterator[bytes]:
    chain = _Chain(
        directory, follows=follow is not None, behind_at_most=behind_at_most, held_up=held_up
    )
    try:
        if query.tail is not None:
            tail = chain.skip_to_tail(query.tail, wanted)
            for start in range(0, len(tail), 4096):
                yield b"".join(tail[start : start + 4096])
        # A log still to be written may have no directory yet (it is made when the log first
        # has something to hold): the watch makes it. One whose writing ended does not: a
        # deleted container's would come back, empty, for good.
        writing = finished is not None and not finished.is_set()
        watch = follow.watch(directory, chain, make=writing) if follow is not None else None
        with watch if watch is not None else contextlib.nullcontext():
            while True:
                if chain.failed is not None:
                    raise chain.failed  # this follower's own end: its stream breaks off
                done = finished is None or finished.is_set() or watch is None or follow.closed  # type: ignore[union-attr]
                while data := chain.read():
                    if selected := wanted.select(data):
                        yield selected  # its answer's send lets the server's other tasks run
                    else:
                        # None of this chunk is wanted (another process's output, or records
                        # before ``since``): let them run all the same. Without it, a reader
                        # of a quiet process in a loud container went through megabytes of
                        # the others' records in one step, every request waiting (GET /state
                        # took up to 3 s with four such followers of a ``yes`` container's
                        # exec).
                        await trio.lowlevel.checkpoint()
                if done:
                    if watch is None or not chain.notice():
                        return
                    continue
                assert watch is not None and finished is not None
                if query.until_ns is None:
                    await watch.changed(finished)
                    continue
                ends_ns = query.until_ns + UNTIL_GRACE_NS
                if time.time_ns() > ends_ns:
                    return
                # Woken then too: a log that stays quiet would otherwise hold the answer open
                # past ``until``, until its next record or the container's end.
                with trio.move_on_after((ends_ns - time.time_ns()) / 1e9):
                    await watch.changed(finished)
    finally:
        chain.close()


# --- inotify ----------------------------------------------------------------------------------

_IN_MODIFY = 0x002
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_IGNORED = 0x8000
_EVENT = struct.Struct("iIII")


class _DirectoryWatch:
    def __init__(self, watcher: LogWatch, wd: int | None, directory: str) -> None:
        self.watcher = watcher
        self.wd = wd
        self.directory = directory
        self.chains: list[_Chain] = []
        self.lot = trio.lowlevel.ParkingLot()


class Watch:
    """One follower's registration with the :class:`LogWatch`."""

    def __init__(self, directory: _DirectoryWatch, chain: _Chain) -> None:
        self._directory = directory
        self._chain = chain

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._directory.watcher.unwatch(self._directory, self._chain)

    async def changed(self, finished: trio.Event) -> None:
        """Return once the log changed, or ``finished`` is set, or (without inotify) soon."""
        async with trio.open_nursery() as nursery:

            async def on_finish() -> None:
                await finished.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(on_finish)
            if self._directory.watcher.closed:
                pass
            elif self._directory.wd is None:
                # No inotify: look again soon, opening what is new (the file a rotation made),
                # as inotify's notice would. Until 2026-12-06 the follower read on in the
                # file it had, renamed away, and never opened the new one.
                await trio.sleep(0.1)
                LogWatch._notice(self._chain)
            else:
                await self._directory.lot.park()
            nursery.cancel_scope.cancel()


class LogWatch:
    """One inotify for all of the server's followers, read by one task (:meth:`run`)."""

    def __init__(self) -> None:
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            log.warning("no inotify (%s): followers poll", _libc.last_error().strerror)
        self._by_directory: dict[str, _DirectoryWatch] = {}
        self._by_wd: dict[int, _DirectoryWatch] = {}
        #: Set when the server stops: every follower reads to the end and stops.
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for entry in self._by_directory.values():
            entry.lot.unpark_all()

    def watch(self, directory: Path, chain: _Chain, *, make: bool) -> Watch:
        """Wake ``chain``'s follower at each change of ``directory`` (made first if ``make``,
        so that inotify can watch it)."""
        key = str(directory)
        wd: int | None = None
        if self._fd >= 0:
            # Asked of the kernel every time, not only for a directory new to us: the answer
            # says whether the path still names the directory our entry watches. A container
            # deleted (its directory and its watch gone with it) and started again under its id
            # while a follower of the old one still held the entry (its client reading nothing)
            # gets a new wd, so a new entry: on the old one, its followers would never be woken.
            if make:
                os.makedirs(key, mode=0o700, exist_ok=True)
            mask = _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO
            wd = _libc.inotify_add_watch(self._fd, os.fsencode(key), mask)
            if wd < 0:
                error = _libc.last_error()
                # No directory, not made: the log's writing ended (its container deleted
                # between the request's routing and its stream's start): the follower reads
                # what it holds and ends, with nothing to watch.
                if error.errno != errno.ENOENT:
                    log.warning("inotify on %s: %s", key, error.strerror)
                wd = None
        entry = self._by_directory.get(key)
        if entry is None or entry.wd != wd:
            # The old entry, if any, stays its own followers' until they leave.
            entry = self._by_directory[key] = _DirectoryWatch(self, wd, key)
            if wd is not None:
                self._by_wd[wd] = entry
        entry.chains.append(chain)
        try:
            chain.notice()  # the directory may have changed before the watch began
        except BaseException:
            # No Watch for the follower to leave by: it leaves here (its stream breaks off,
            # and closes the chain). Left on the entry, the chain was the watcher's for good,
            # closed: each rotation opened its files again, and nobody closed them.
            self.unwatch(entry, chain)
            raise
        return Watch(entry, chain)

    def unwatch(self, entry: _DirectoryWatch, chain: _Chain) -> None:
        entry.chains.remove(chain)
        if entry.chains:
            return
        # A newer entry may have the path by now: leave it be. The kernel ended the watch of a
        # directory that is gone (IN_IGNORED took its wd out of _by_wd): nothing to remove.
        if self._by_directory.get(entry.directory) is entry:
            del self._by_directory[entry.directory]
        if entry.wd is not None and self._by_wd.get(entry.wd) is entry:
            del self._by_wd[entry.wd]
            _libc.inotify_rm_watch(self._fd, entry.wd)

    async def run(self) -> None:
        if self._fd < 0:
            await trio.sleep_forever()
        try:
            while True:
                await trio.lowlevel.wait_readable(self._fd)
                changed: set[int] = set()
                while True:
                    try:
                        data = os.read(self._fd, 64 * 1024)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if exc.errno == errno.EINTR:
                            continue
                        raise
                    offset = 0
                    while offset < len(data):
                        wd, mask, _, length = _EVENT.unpack_from(data, offset)
                        offset += _EVENT.size + length
                        if mask & _IN_IGNORED:
                            self._by_wd.pop(wd, None)
                        changed.add(wd)
                for wd in changed:
                    entry = self._by_wd.get(wd)
                    if entry is None:
                        continue
                    for chain in entry.chains:
                        if chain.failed is None:
                            self._notice(chain)
                    entry.lot.unpark_all()
        finally:
            trio.lowlevel.notify_closing(self._fd)
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def _notice(chain: _Chain) -> None:
        """Open the new files of a follower's log now, before any newer rotation can pass
        them by; a failure (EMFILE, EACCES) is that follower's alone.

        This task is every follower's, in the supervisor's nursery: an error out of it ended
        every follow and the supervisor. The follower, woken with the others, ends with the
        error instead, as if its own open had failed."""
        try:
            chain.notice()
        except OSError as failure:
            log.warning("a follower of %s could not open its log: %s", chain.directory, failure)
            chain.failed = failure
