"""A FUSE mount whose file ``hang`` is never answered: a process that opens it waits in the
kernel, uninterruptibly once it has a SIGKILL pending (``D`` in ps), as on a hung NFS or FUSE
mount, until :meth:`HungMount.release` answers. Real kernel FUSE (``/dev/fuse``), served by a
thread of the test: what a container that outlives its SIGKILL looks like, with nothing faked.

The server speaks the least of the protocol the kernel needs: ``INIT``, ``GETATTR`` and
``STATFS`` of the root (a path walk or a bind mount of it asks them), ``ENOENT`` for any other
name looked up, an open of the root, ``ENOSYS`` for the rest (:class:`_Holding`). The
lookup of ``hang`` is read and held: once the server has read a request, a fatal signal no
longer ends the kernel's wait for its answer (``fs/fuse/dev.c``, ``request_wait_answer``).

:func:`flush_held_mount` is another such mount: one file that opens and reads as any does,
and whose close (``FLUSH``, which ``close(2)`` waits for) is held; and
:func:`stat_held_mount` one where a file can be made, and a look at it (``GETATTR``) once its
metadata is set is held.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from containerd_trio import _libc

#: The name whose lookup is held.
HUNG = b"hang"

_IN_HEADER = struct.Struct("<IIQQIIIHH")  # fuse_in_header: len, opcode, unique, nodeid, ...
_OUT_HEADER = struct.Struct("<IiQ")  # fuse_out_header: len, error, unique
# fuse_init_out: major, minor, max_readahead, flags, max_background, congestion_threshold,
# max_write, time_gran, max_pages, map_alignment, flags2, max_stack_depth, unused[6].
_INIT_OUT = struct.Struct("<IIIIHHIIHHII24x")
# fuse_attr_out: attr_valid, attr_valid_nsec, dummy; fuse_attr: ino, size, blocks, atime,
# mtime, ctime, their nsecs, mode, nlink, uid, gid, rdev, blksize, flags.
_ATTR_OUT = struct.Struct("<QII" + "QQQQQQ" + "III" + "IIIIIII")
# fuse_kstatfs: blocks, bfree, bavail, files, ffree, bsize, namelen, frsize, padding, spare[6].
_STATFS_OUT = struct.Struct("<QQQQQIIII24x")
_LOOKUP, _GETATTR, _STATFS, _INIT, _DESTROY = 1, 3, 17, 26, 38
_NO_ANSWER = (2, 36, 42)  # FORGET, INTERRUPT, BATCH_FORGET: the kernel waits for none
_ROOT_MODE = 0o40755
_MS_NOSUID, _MS_NODEV = 2, 4

_mount = ctypes.CDLL(None, use_errno=True).mount
_mount.argtypes = (
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
)
_mount.restype = ctypes.c_int


# --- servers that hold one kind of request -----------------------------------------------------

_FILE_NODE = 2
_FILE_MODE = 0o100644
_SETATTR, _OPEN, _READ, _WRITE, _RELEASE, _FLUSH = 4, 14, 15, 16, 18, 25
_OPENDIR, _RELEASEDIR, _CREATE = 27, 29, 35
# fuse_entry_out: nodeid, generation, entry_valid, attr_valid, their nsecs; then a fuse_attr.
_ENTRY_OUT = struct.Struct("<QQQQII" + "QQQQQQ" + "III" + "IIIIIII")
_OPEN_OUT = struct.Struct("<QII")  # fuse_open_out: fh, open_flags, padding
_IO_IN = struct.Struct("<QQI")  # fuse_read_in, fuse_write_in: fh, offset, size (then flags)
_WRITE_OUT = struct.Struct("<II")  # fuse_write_out: size, padding


class _Holding:
    """A server of a root directory and one file (node 2, :attr:`size` bytes of zeros to
    read), which holds the requests :meth:`_serve_one` says: :attr:`asked` is set once one
    came. They are answered by :meth:`release`, or by the server itself after ``hold``
    seconds (then :attr:`gave_up` is set; None: never): a request that held the thread of
    the test's own event loop must not hold it for good."""

    def __init__(self, fd: int, hold: float | None, size: int = 0) -> None:
        self.fd = fd
        self.size = size
        self.asked = threading.Event()
        self.gave_up = threading.Event()
        self._held: list[int] = []
        self._lock = threading.Lock()
        self._released = False
        self._hold = hold
        self._thread = threading.Thread(target=self._serve, name="fuse-held", daemon=True)

    def release(self) -> None:
        with self._lock:
            self._released = True
            held, self._held = self._held, []
        for unique in held:
            self._answer_held(unique)

    def _answer_held(self, unique: int) -> None:
        self._reply(unique)

    def _give_up(self) -> None:
        with self._lock:
            if self._held:
                self.gave_up.set()
        self.release()

    def _held_now(self, unique: int) -> bool:
        """Hold the request, unless released already (then the caller answers it)."""
        with self._lock:
            if self._released:
                return False
            self._held.append(unique)
            self.asked.set()
        if self._hold is not None:
            threading.Timer(self._hold, self._give_up).start()
        return True

    def _reply(self, unique: int, error: int = 0, body: bytes = b"") -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, _OUT_HEADER.pack(_OUT_HEADER.size + len(body), error, unique) + body)

    def _attr(self, node: int) -> bytes:
        if node == _FILE_NODE:
            return _ATTR_OUT.pack(0, 0, 0, node, self.size, (self.size + 511) // 512, 0, 0, 0, 0,
                                  0, 0, _FILE_MODE, 1, 0, 0, 0, 4096, 0)  # fmt: skip
        return _ATTR_OUT.pack(0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, _ROOT_MODE, 2, 0, 0, 0, 4096, 0)

    def _entry(self) -> bytes:
        return _ENTRY_OUT.pack(_FILE_NODE, 0, 0, 0, 0, 0, *_ATTR_OUT.unpack(self._attr(2))[3:])

    def _serve_one(self, opcode: int, unique: int, node: int, body: bytes) -> bool:
        """Answer (or hold) a request of the file system's own kind; False for the rest."""
        raise NotImplementedError

    def _serve(self) -> None:
        # The thread closes the fd as it ends (the file system gone): only then is no more
        # answer written to it, and ``_served`` need not wait for that (see there).
        try:
            self._serve_all()
        finally:
            os.close(self.fd)

    def _serve_all(self) -> None:
        while True:
            try:
                request = os.read(self.fd, 1 << 20)
            except OSError:  # ENODEV: unmounted, the connection aborted
                return
            _, opcode, unique, node, _, _, _, _, _ = _IN_HEADER.unpack_from(request)
            body = request[_IN_HEADER.size :]
            if self._serve_one(opcode, unique, node, body):
                continue
            if opcode == _INIT:
                _major, _minor, readahead = struct.unpack_from("<III", body)
                self._reply(
                    unique, body=_INIT_OUT.pack(7, 26, readahead, 0, 0, 0, 1 << 17, 1, 0, 0, 0, 0)
                )
            elif opcode == _GETATTR:
                self._reply(unique, body=self._attr(node))
            elif opcode == _STATFS:
                self._reply(unique, body=_STATFS_OUT.pack(0, 0, 0, 0, 0, 4096, 255, 4096, 0))
            elif opcode == _LOOKUP:
                self._reply(unique, -errno.ENOENT)
            elif opcode in (_OPEN, _OPENDIR):
                self._reply(unique, body=_OPEN_OUT.pack(1, 0, 0))
            elif opcode in (_FLUSH, _RELEASE, _RELEASEDIR):
                self._reply(unique)
            elif opcode == _DESTROY:
                self._reply(unique)
                return
            elif opcode not in _NO_ANSWER:
                self._reply(unique, -errno.ENOSYS)


class HungMount(_Holding):
    """The server of one mount: :attr:`asked` is set once the lookup of ``hang`` came. It
    is answered (no such file) by :meth:`release` only: the processes go on then, to die of
    their SIGKILL if one is pending; lookups of ``hang`` after it are answered at once."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, hold=None)

    def _answer_held(self, unique: int) -> None:
        self._reply(unique, -errno.ENOENT)

    def _serve_one(self, opcode: int, unique: int, node: int, body: bytes) -> bool:
        if opcode == _LOOKUP and body.rstrip(b"\0") == HUNG:
            if not self._held_now(unique):
                self._answer_held(unique)
            return True
        return False


@contextlib.contextmanager
def hung_mount(point: Path) -> Iterator[HungMount]:
    """Mount the hung file system on ``point`` (a directory) for the block; at its end, the held
    lookups are answered and it is unmounted (lazily: a process may still be in it)."""
    with _served(point, b"hung", HungMount) as server:
        yield server


@contextlib.contextmanager
def _served(point: Path, source: bytes, serve: Callable[[int], Any]) -> Iterator[Any]:
    """A FUSE file system mounted on ``point`` for the block, served by ``serve(fd)`` (a
    server with ``_thread`` and ``release``, which closes ``fd`` as it ends); at its end,
    what it holds is answered and it is unmounted (lazily: a process may still be in it)."""
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        options = f"fd={fd},rootmode={_ROOT_MODE:o},user_id=0,group_id=0".encode()
        if _mount(source, os.fsencode(point), b"fuse", _MS_NOSUID | _MS_NODEV, options) != 0:
            raise _libc.last_error(str(point))
        server = serve(fd)
        server._thread.start()
    except BaseException:
        os.close(fd)
        raise
    try:
        yield server
    finally:
        server.release()
        _libc.umount2(os.fsencode(point), 2)  # MNT_DETACH
        # The server ends (and closes the fd) once the file system is gone: at once when
        # nothing else holds it, else when its last holder lets go (a container that binds
        # it, deleted by the test's fixtures after this block). It is not waited for here:
        # a join took its whole timeout (10 s) for such a container. The fd is the thread's
        # to close, so an answer it writes later cannot land on a file that took its number.


def bound_at(point: Path, destination: str = "/hung") -> Callable[[dict[str, Any]], None]:
    """A bundle's edit (``make_bundle(edit=...)``) that binds ``point`` (the hung mount) at
    ``destination`` in the container."""

    def bind(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {"destination": destination, "type": "bind", "source": str(point), "options": ["rbind"]}
        )

    return bind


class FlushHeldMount(_Holding):
    """One file, ``big``, that reads as any file does; its close (the kernel's ``FLUSH``,
    which ``close(2)`` waits for) is held."""

    def _serve_one(self, opcode: int, unique: int, node: int, body: bytes) -> bool:
        if opcode == _LOOKUP and body.rstrip(b"\0") == b"big":
            self._reply(unique, body=self._entry())
        elif opcode == _READ:
            _, offset, size = _IO_IN.unpack_from(body)
            self._reply(unique, body=bytes(max(0, min(size, self.size - offset))))
        elif opcode == _FLUSH:
            if not self._held_now(unique):
                self._reply(unique)
        else:
            return False
        return True


class StatHeldMount(_Holding):
    """One file can be made there (any name, written as any file is): once its owner, mode
    and time are set (three ``SETATTR``, as a copy in sets them), a look at it (``GETATTR``:
    an ``fstat``) is held."""

    def __init__(self, fd: int, hold: float) -> None:
        super().__init__(fd, hold)
        self._name: bytes | None = None
        self._setattrs = 0

    def _answer_held(self, unique: int) -> None:
        self._reply(unique, body=self._attr(_FILE_NODE))

    def _serve_one(self, opcode: int, unique: int, node: int, body: bytes) -> bool:
        if opcode == _GETATTR and node == _FILE_NODE and self._setattrs >= 3:
            if not self._held_now(unique):
                self._answer_held(unique)
        elif opcode == _SETATTR:
            self._setattrs += 1
            self._reply(unique, body=self._attr(node))
        elif opcode == _LOOKUP and self._name is not None and body.rstrip(b"\0") == self._name:
            self._reply(unique, body=self._entry())
        elif opcode == _CREATE:
            self._name = body[16:].rstrip(b"\0")  # after fuse_create_in's four u32
            self._reply(unique, body=self._entry() + _OPEN_OUT.pack(1, 0, 0))
        elif opcode == _WRITE:
            _, offset, size = _IO_IN.unpack_from(body)
            self.size = max(self.size, offset + size)
            self._reply(unique, body=_WRITE_OUT.pack(size, 0))
        else:
            return False
        return True


@contextlib.contextmanager
def flush_held_mount(point: Path, size: int, hold: float = 5.0) -> Iterator[FlushHeldMount]:
    """Mount on ``point``, for the block, a file system whose one file ``big`` (``size``
    bytes) has its close held (:class:`FlushHeldMount`)."""
    with _served(point, b"held", lambda fd: FlushHeldMount(fd, hold, size)) as server:
        yield server


@contextlib.contextmanager
def stat_held_mount(point: Path, hold: float = 5.0) -> Iterator[StatHeldMount]:
    """Mount on ``point``, for the block, a file system where a file made has its look after
    its metadata held (:class:`StatHeldMount`)."""
    with _served(point, b"held", lambda fd: StatHeldMount(fd, hold)) as server:
        yield server
