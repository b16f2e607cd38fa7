"""Append-only files of lines that never hold a torn line: the journal, the event log, the logs.

A write the disk cuts short (ENOSPC, EDQUOT) is cut back to the last whole line it wrote, and
the rest is held and retried whole (:meth:`AppendFile.flush`); a line torn by a process that
died mid-write is cut off when the file is next opened. So the next line can never be fused
onto a torn one, which is how a full disk used to lose the line after it (and could bring a
deleted container back).

A file may also keep room ahead of its end (``reserve``): blocks allocated with
``fallocate(FALLOC_FL_KEEP_SIZE)`` past its end, which appends fill without asking the disk for
more. The journal and the event log keep a MiB so: a disk that fills up does not stop them from
recording a delete (which, lost, would bring the container back after a crash).

No fsync: these files guard against the daemon dying, which keeps the page cache; a machine
that loses power loses its containers too.
"""

from __future__ import annotations

import contextlib
import os

from . import _libc

_FALLOC_FL_KEEP_SIZE = 1


class AppendFile:
    def __init__(self, path: str, mode: int = 0o600, *, reserve: int = 0) -> None:
        self.path = path
        self._mode = mode
        self._reserve = reserve
        #: The end of the room allocated for the file (its size or more).
        self._reserved_to = 0
        self._fd: int | None = None
        self.size = 0
        self._held = b""
        #: Why the last write failed (the disk's words), or None.
        self.error: str | None = None

    @property
    def holding(self) -> bool:
        """Lines wait for the disk."""
        return bool(self._held)

    def append(self, data: bytes) -> bool:
        """Append whole lines (after anything held); False if the disk refused some of it."""
        self._held += data
        return self.flush()

    def flush(self) -> bool:
        """Write what is held; True once all of it landed."""
        if not self._held:
            return True
        try:
            if self._fd is None:
                self.open()
            assert self._fd is not None
            view = memoryview(self._held)
            done = 0
            try:
                while done < len(view):
                    done += os.write(self._fd, view[done:])
            except OSError:
                # Keep the whole lines that landed; cut the torn one off the file.
                cut = self._held.rfind(b"\n", 0, done) + 1
                if cut != done:
                    os.ftruncate(self._fd, self.size + cut)
                self.size += cut
                view.release()
                self._held = self._held[cut:]
                raise
            view.release()
            self.size += done
            self._held = b""
            if self._reserve and self.size + self._reserve // 2 > self._reserved_to:
                self._keep_room()
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            return False
        self.error = None
        return True

    def open(self) -> None:
        """Open for appending (made if missing), cutting off a torn last line."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self._mode)
        try:
            self.size = cut_torn_tail(fd, os.fstat(fd).st_size)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._reserved_to = self.size
        if self._reserve:
            self._keep_room()

    def _keep_room(self) -> None:
        """Allocate ``reserve`` bytes past the end (best effort: a full disk has no room to
        give, and then the file simply has none ahead)."""
        assert self._fd is not None
        if _libc.fallocate(self._fd, _FALLOC_FL_KEEP_SIZE, self.size, self._reserve) == 0:
            self._reserved_to = self.size + self._reserve

    def replace(self, data: bytes) -> None:
        """Make the file hold exactly ``data``, atomically (a temporary file, then a rename).

        Raises OSError if the disk refuses; then the file is as it was and no temporary is left.
        """
        temporary = self.path + ".tmp"
        try:
            fd = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self._mode
            )
            try:
                view = memoryview(data)
                done = 0
                while done < len(data):
                    done += os.write(fd, view[done:])
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self.close()
        self.open()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def cut_torn_tail(fd: int, size: int) -> int:
    """If the file does not end with a newline, cut it back to its last one; the new size."""
    keep = end_of_last_line(fd, size)
    if keep != size:
        os.ftruncate(fd, keep)
    return keep


def end_of_last_line(fd: int, size: int) -> int:
    """The offset just past the last newline in ``fd[:size]`` (0 if there is none)."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0
