"""Opening paths beneath a directory without following links out of it.

Bundles belong to clients, and whoever can write into a bundle can plant a symbolic link where
the daemon expects a directory of its own (``checkpoints``) or a file (``config.json``): a
plain ``open()`` would then write checkpoint images, delete, or read wherever the link points.
So paths under a client's directory are resolved from an fd on that directory with
``openat2(2)``: ``RESOLVE_BENEATH`` (never above it, no absolute paths), and
``RESOLVE_NO_MAGICLINKS`` (no ``/proc/PID/fd`` jumps), plus ``RESOLVE_NO_SYMLINKS`` where no
link at all is acceptable, which is the default here.

Python has no binding for ``openat2``, so it goes through libc's ``syscall()``. Where the
system call is missing (a kernel before 5.6, a seccomp filter, an architecture whose number is
not known here) the path is walked one component at a time with ``O_NOFOLLOW``, which refuses
every link: stricter, never looser.

Errors are plain ``OSError``: ``ELOOP`` for a link where none is allowed, ``EXDEV`` for a path
that would leave the directory (``..``, an absolute path, or a link pointing out).

A container's own paths (``docker cp``: :mod:`.archive.paths`) are resolved otherwise, with
:func:`open_in_root`: as the container sees them, its root taken for ``/``. Links are followed,
but an absolute link and every ``..`` start again from, or stop at, that root
(``RESOLVE_IN_ROOT``): a link in the container to ``/etc/shadow`` names the container's
``/etc/shadow``, never the host's. Where ``openat2`` is missing, the same is done in user space,
one component at a time (:func:`walk_in_root`), each opened with ``O_NOFOLLOW`` from the fd of
the directory before it and each link read and resolved again from the root's fd.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import stat

from . import _libc

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
#: How many links one resolution in a root may follow (the kernel's MAXSYMLINKS).
MAX_LINKS = 40
#: How many times :func:`open_in_root` asks again when openat2 says EAGAIN (a rename or mount
#: elsewhere on the host while it resolved ".."): a few do, on a busy host.
IN_ROOT_ATTEMPTS = 64

#: ``SYS_openat2`` where it has been checked: 437 in the table every new architecture shares.
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine())


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


#: Cleared the first time the kernel says it has no openat2: the walk is used from then on.
_have_openat2 = _SYS_OPENAT2 is not None


def open_beneath(
    directory: int, path: str, flags: int, mode: int = 0o600, *, links: bool = False
) -> int:
    """Open ``path`` relative to the ``directory`` fd, never resolving outside it.

    ``links=True`` follows symbolic links that stay beneath the directory; by default any link
    on the way (the last component included) fails with ``ELOOP``. The fd is close-on-exec.
    """
    global _have_openat2
    if _have_openat2:
        try:
            return openat2(directory, path, flags, mode, links=links)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                raise
            _have_openat2 = False
    return walk_open(directory, path, flags, mode)


def openat2(directory: int, path: str, flags: int, mode: int = 0o600, *, links: bool) -> int:
    """The ``openat2`` system call itself (``ENOSYS`` where it is missing)."""
    resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
    if not links:
        resolve |= RESOLVE_NO_SYMLINKS
    return _openat2(directory, path, flags, mode, resolve)


def _openat2(directory: int, path: str, flags: int, mode: int, resolve: int) -> int:
    if _SYS_OPENAT2 is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), path)
    # openat2 refuses a mode without O_CREAT or O_TMPFILE (EINVAL), unlike openat.
    creates = flags & os.O_CREAT or flags & os.O_TMPFILE == os.O_TMPFILE
    how = _OpenHow(flags=flags | os.O_CLOEXEC, mode=mode if creates else 0, resolve=resolve)
    fd = _libc.syscall_openat2(
        _SYS_OPENAT2, directory, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)
    )
    if fd < 0:
        raise _libc.last_error(path)
    return fd


def open_in_root(root: int, path: str, flags: int, mode: int = 0o600) -> int:
    """Open ``path`` as a process whose root is the ``root`` fd would: links followed, but an
    absolute path or link starts from ``root`` and ``..`` stops there. ``O_NOFOLLOW`` in
    ``flags`` leaves a link in the last place unfollowed (with ``O_PATH``, the link itself is
    opened; otherwise ``ELOOP``). Never a magic link (``/proc/PID/fd/N``). Close-on-exec."""
    global _have_openat2
    if _have_openat2:
        # EAGAIN: a rename or mount anywhere on the host while a ".." was resolved, which the
        # kernel cannot tell from an escape; openat2(2) says to try again.
        for attempt in range(IN_ROOT_ATTEMPTS):
            try:
                return _openat2(root, path, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
            except OSError as exc:
                if exc.errno == errno.EAGAIN and attempt + 1 < IN_ROOT_ATTEMPTS:
                    continue
                if exc.errno != errno.ENOSYS:
                    raise
                _have_openat2 = False
                break
    return walk_in_root(root, path, flags, mode)


def walk_in_root(root: int, path: str, flags: int, mode: int = 0o600) -> int:
    """The fallback of :func:`open_in_root`: each component opened with ``O_NOFOLLOW`` from the
    directory before it; a link read (``readlinkat``) and its target walked in its place, from
    ``root`` if absolute; ``..`` back to the directory before, never above ``root``
    (:class:`_InRoot`). A resolution that would follow more than :data:`MAX_LINKS` links is
    ``ELOOP``. A path that ends in ``/`` or ``/.`` names a directory, as the kernel reads it
    (a link in the last place is followed then, ``O_NOFOLLOW`` or not), and so does a link in
    the last place whose target ends so."""
    walk = _InRoot(root, path)
    directory = path.endswith(("/", "/."))
    try:
        while walk.pending:
            part = walk.pending.pop()
            last = not walk.pending
            if part == "..":
                walk.up()
                continue
            try:
                kind = stat.S_IFMT(os.lstat(part, dir_fd=walk.here).st_mode)
            except FileNotFoundError:
                kind = None
            if kind == stat.S_IFLNK and not (last and flags & os.O_NOFOLLOW and not directory):
                target = walk.follow(part)
                # A link in the last place to "x/" names a directory too.
                directory |= last and target.endswith(("/", "/."))
                continue
            if last:
                flags |= os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
                return os.open(part, flags, mode, dir_fd=walk.here)
            walk.down(part)
        # An empty path, a last "..", or a last link to "/": the directory reached.
        return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=walk.here)
    finally:
        walk.close()


def resolve_in_root(root: int, path: str, opaque: frozenset[int] = frozenset()) -> str:
    """The absolute path (in the root) that ``path`` names once every link on its way, the
    last included, is followed inside the root as :func:`open_in_root` follows them: docker's
    ``FollowSymlinkInScope``, which its stat's ``linkTarget`` is. From the first component
    that is not there (or is no directory, with more after it) the rest is taken as written,
    ``..`` lexically. A link on a device of ``opaque`` (procfs's magic links, which read as a
    path of the host's) is not followed. More than :data:`MAX_LINKS` links: ``ELOOP``. Only a
    name, for a client to ask for again (each use resolves it in the root again)."""
    walk = _InRoot(root, path)
    try:
        while walk.pending:
            part = walk.pending.pop()
            if part == "..":
                walk.up()
                continue
            try:
                info: os.stat_result | None = os.lstat(part, dir_fd=walk.here)
            except OSError:
                info = None
            if info is not None and stat.S_ISLNK(info.st_mode) and info.st_dev not in opaque:
                walk.follow(part)
                continue
            entered = False
            if info is not None and stat.S_ISDIR(info.st_mode):
                with contextlib.suppress(OSError):  # swapped meanwhile: the rest as written
                    walk.down(part)
                    entered = True
            if not entered:  # nothing there to follow: the rest as written
                names = [*walk.names, part]
                for rest in reversed(walk.pending):
                    if rest != "..":
                        names.append(rest)
                    elif names:
                        names.pop()
                return "/" + "/".join(names)
        return "/" + "/".join(walk.names)
    finally:
        walk.close()


class _InRoot:
    """A resolution in a root under way, one component at a time, for :func:`walk_in_root`
    and :func:`resolve_in_root`: the components still to go, and the directories reached,
    each opened (``O_PATH``, from the one before it, never through a link) with its name.
    ``..`` goes back to the directory before, and stops at the root; a link's target is
    walked in its place, from the root if absolute."""

    def __init__(self, root: int, path: str) -> None:
        self.path = path
        #: The components to go, the next last.
        self.pending = _components(path)
        #: The directories reached, the root first (a dup of the caller's fd).
        self.opened = [os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)]
        #: Their names, from the root down (one fewer: the root has none).
        self.names: list[str] = []
        self.links = 0

    @property
    def here(self) -> int:
        return self.opened[-1]

    def up(self) -> None:
        if self.names:
            self.names.pop()
            os.close(self.opened.pop())

    def down(self, part: str) -> None:
        """Into the directory ``part`` of the current one (``ENOENT``, ``ENOTDIR``, and
        ``ELOOP`` for a link, as the kernel says them)."""
        flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        self.opened.append(os.open(part, flags, dir_fd=self.here))
        self.names.append(part)

    def follow(self, part: str) -> str:
        """The link ``part`` of the current directory: its target (returned) walked in its
        place."""
        self.links += 1
        if self.links > MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), self.path)
        target = os.readlink(part, dir_fd=self.here)
        if target.startswith("/"):
            self.names.clear()
            while len(self.opened) > 1:
                os.close(self.opened.pop())
        self.pending.extend(_components(target))
        return target

    def close(self) -> None:
        while self.opened:
            os.close(self.opened.pop())


def _components(path: str) -> list[str]:
    """The components of ``path`` to walk, the first last (a stack)."""
    return [part for part in reversed(path.split("/")) if part not in ("", ".")]


def walk_open(directory: int, path: str, flags: int, mode: int = 0o600) -> int:
    """The fallback: one component at a time, each opened with ``O_NOFOLLOW``."""
    parts = path.split("/")
    if path.startswith("/") or any(part == ".." for part in parts):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), path)  # as openat2 says it
    parts = [part for part in parts if part not in ("", ".")]
    if not parts:
        parts = ["."]
    current = directory
    try:
        for part in parts[:-1]:
            following = _open_component(
                current, part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, 0
            )
            if current != directory:
                os.close(current)
            current = following
        return _open_component(current, parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    finally:
        if current != directory:
            os.close(current)


def _open_component(directory: int, name: str, flags: int, mode: int) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=directory)
    except NotADirectoryError:
        # O_DIRECTORY on a link says ENOTDIR before O_NOFOLLOW can say ELOOP: say what openat2
        # would have said.
        if stat.S_ISLNK(os.lstat(name, dir_fd=directory).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise


def open_directory(path: str | os.PathLike[str]) -> int:
    """An ``O_PATH`` fd on a directory the client named (links in its own path are its own)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def reopen(pinned: int, flags: int) -> int:
    """The file of the ``O_PATH`` fd ``pinned``, opened again with ``flags`` (no ``O_NOFOLLOW``:
    the magic link ``/proc/self/fd/N`` is what leads to it). The same inode whatever its name
    leads to now: pin an entry, look at what it is (an ``fstat`` of the pin, which opens
    nothing), then open it only if it is what may be opened. An open by name after a look
    could open a FIFO or a device swapped in between, and a device's open runs its driver's
    (a watchdog's starts its timer) as the daemon. Close-on-exec."""
    return os.open(f"/proc/self/fd/{pinned}", flags | os.O_CLOEXEC)


class NotRegularFile(OSError):
    """What :func:`read_regular` found is no regular file (a FIFO, a device, a directory)."""


def read_regular(directory: int, name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``name`` beneath ``directory`` (no link on
    the way). Opened non-blocking: a FIFO planted there would hold the caller in ``open``
    until a writer came; what is not a regular file raises :class:`NotRegularFile`."""
    fd = open_beneath(directory, name, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", name)
        return file.read(limit)
