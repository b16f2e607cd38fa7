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
    ``root`` if absolute; ``..`` from a directory reached the root (its device and inode) stays
    there. A resolution that would follow more than :data:`MAX_LINKS` links is ``ELOOP``."""
    top = os.stat(".", dir_fd=root)
    at_root = (top.st_dev, top.st_ino)
    pending = [part for part in reversed(path.split("/")) if part not in ("", ".")]
    opened: list[int] = [os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)]
    links = 0
    try:
        if not pending:
            pending = ["."]
        while pending:
            part = pending.pop()
            last = not pending
            current = opened[-1]
            if part == "..":
                if len(opened) > 1 and _identity(current) != at_root:
                    os.close(opened.pop())
                if last:
                    return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=opened[-1])
                continue
            if last and part == ".":
                return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=current)
            try:
                kind = stat.S_IFMT(os.lstat(part, dir_fd=current).st_mode)
            except FileNotFoundError:
                kind = None
            if kind == stat.S_IFLNK and not (last and flags & os.O_NOFOLLOW):
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=current)
                if target.startswith("/"):
                    while len(opened) > 1:
                        os.close(opened.pop())
                pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
                if not pending:  # a link to "/" (or "."), in the last place
                    pending.append(".")
                continue
            if last:
                return os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=current)
            opened.append(
                os.open(
                    part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current
                )
            )
        raise AssertionError("unreachable")  # the last part always returns
    finally:
        for fd in opened:
            os.close(fd)


def resolve_in_root(root: int, path: str, opaque: frozenset[int] = frozenset()) -> str:
    """The absolute path (in the root) that ``path`` names once every link on its way, the
    last included, is followed inside the root as :func:`open_in_root` follows them: docker's
    ``FollowSymlinkInScope``, which its stat's ``linkTarget`` is. From the first component
    that is not there (or is no directory, with more after it) the rest is taken as written,
    ``..`` lexically. A link on a device of ``opaque`` (procfs's magic links, which read as a
    path of the host's) is not followed. More than :data:`MAX_LINKS` links: ``ELOOP``. Only a
    name, for a client to ask for again (each use resolves it in the root again)."""
    pending = [part for part in reversed(path.split("/")) if part not in ("", ".")]
    names: list[str] = []
    # The directories of ``names``, opened: each link is read where it is.
    opened: list[int] = [os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)]
    links = 0
    try:
        while pending:
            part = pending.pop()
            if part == "..":
                if names:
                    names.pop()
                    if len(opened) > 1:
                        os.close(opened.pop())
                continue
            try:
                info = os.lstat(part, dir_fd=opened[-1])
            except OSError:
                info = None
            if info is not None and stat.S_ISLNK(info.st_mode) and info.st_dev not in opaque:
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=opened[-1])
                if target.startswith("/"):
                    names.clear()
                    while len(opened) > 1:
                        os.close(opened.pop())
                pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
                continue
            names.append(part)
            inner = -1
            if info is not None and stat.S_ISDIR(info.st_mode):
                with contextlib.suppress(OSError):  # swapped meanwhile: the rest as written
                    inner = os.open(
                        part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=opened[-1],
                    )  # fmt: skip
            if inner < 0:
                for rest in reversed(pending):  # nothing there to follow: as written
                    if rest == "..":
                        if names:
                            names.pop()
                    else:
                        names.append(rest)
                break
            opened.append(inner)
        return "/" + "/".join(names)
    finally:
        for fd in opened:
            os.close(fd)


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


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
