"""Mounts that runc and CRIU leave in the daemon's directories, and removing a tree without
crossing a mount.

runc and CRIU mount inside the daemon's directories while they run and unmount as they
return; killed on the way (a deadline, the daemon killed with them) they leave the mounts:

- ``runc restore`` bind-mounts the bundle's rootfs at ``<runc state dir>/criu-root``
  (:func:`containerd_trio.runtime.release_criu_root`);
- CRIU's restore mounts a tmpfs at ``<its work dir>/.criu.cgyard.XXXXXX`` (its cgroup yard) and
  the root of every cgroup hierarchy of the host in it, one directory per controller.

A recursive removal (``shutil.rmtree``) walks into such a mount as into any directory and
deletes what is there: every file of the rootfs, every empty cgroup of the host (an rmdir in a
cgroup hierarchy removes the cgroup). The mount itself stays, so each later removal does it
again. So every tree the daemon removes goes through :func:`remove_tree`, which detaches
CRIU's yard first and removes nothing across any other mount.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from pathlib import Path

from . import _libc

log = logging.getLogger(__name__)

#: ``umount2``'s lazy unmount: the mount (and every mount beneath it) leaves the tree at once,
#: whoever still uses it.
MNT_DETACH = 2
#: The name CRIU gives its cgroup yard (``mkdtemp(".criu.cgyard.XXXXXX")`` in its work dir).
CGROUP_YARD_PREFIX = ".criu.cgyard."
#: Detaches at one path before giving up: one mount per killed restore; more is not theirs.
_MOST_STACKED = 8
#: The escapes of ``/proc/self/mountinfo``'s paths (space, tab, newline, backslash: ``\\ooo``).
_ESCAPE = re.compile(rb"\\([0-7]{3})")
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def detach(target: Path | str) -> None:
    """Lazily unmount every mount stacked at ``target``; nothing mounted there (no such path,
    a plain directory) is nothing to do. Raises :class:`OSError` if a mount cannot be
    detached."""
    path = os.fsencode(target)
    for _ in range(_MOST_STACKED):
        if _libc.umount2(path, MNT_DETACH) != 0:
            error = _libc.last_error(os.fsdecode(path))
            if error.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):  # nothing mounted there
                return
            raise error
    raise OSError(errno.EBUSY, f"still mounted after {_MOST_STACKED} detaches", os.fsdecode(path))


def mounts_beneath(directory: str) -> list[str]:
    """The mount points strictly beneath ``directory`` (as the kernel names it: absolute, no
    link on the way), deepest first, each once, from this process's mount table."""
    prefix = directory.rstrip("/") + "/"
    with open("/proc/self/mountinfo", "rb") as mountinfo:
        # The fifth field is the mount point, relative to this process's root.
        points = {unescaped(line.split(b" ", 5)[4]) for line in mountinfo}
    return sorted((point for point in points if point.startswith(prefix)), key=len, reverse=True)


def unescaped(field: bytes) -> str:
    """A path field of a ``mountinfo`` (``\\040`` for a space, ...) as the path it names."""
    return os.fsdecode(_ESCAPE.sub(lambda found: bytes([int(found[1], 8)]), field))


def _in_cgroup_yard(point: str, directory: str) -> bool:
    """True for CRIU's cgroup yard beneath ``directory`` and for every mount in it."""
    relative = point[len(directory.rstrip("/")) + 1 :]
    return any(name.startswith(CGROUP_YARD_PREFIX) for name in relative.split("/"))


def remove_tree(path: Path | str, *, dir_fd: int | None = None, ignore_errors: bool = True) -> None:
    """Remove the directory ``path`` (relative to ``dir_fd`` if given) and all it holds, as
    ``shutil.rmtree`` does, but never across a mount: a cgroup yard that a killed CRIU left
    there is detached first (deepest mount first); any other mount beneath stops the removal,
    logged, before any subdirectory is entered.

    The mount table is read once, after the top directory's files are gone, and only if it has
    a subdirectory: no mount can be beneath a directory of files only (a container's, with its
    log; a file bind-mounted over a file is not unlinked: ``EBUSY``). Whoever mounts in a tree
    the daemon removes (runc, CRIU) has ended by then.

    Errors are :class:`OSError` (``EBUSY`` for a mount beneath), raised unless
    ``ignore_errors`` (then as much as can be is removed)."""
    with _tolerating(ignore_errors):
        directory = os.open(path, _OPEN_DIRECTORY, dir_fd=dir_fd)
        try:
            subdirectories = False
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdirectories = True
                        continue
                    with _tolerating(ignore_errors):  # the others still go
                        os.unlink(entry.name, dir_fd=directory)
            if subdirectories:
                # The path the kernel has for the directory opened: the mount table's terms.
                _release_mounts_beneath(os.readlink(f"/proc/self/fd/{directory}"))
        finally:
            os.close(directory)
        if subdirectories:
            shutil.rmtree(path, ignore_errors, dir_fd=dir_fd)
        else:
            os.rmdir(path, dir_fd=dir_fd)


def _tolerating(ignore_errors: bool) -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(OSError) if ignore_errors else contextlib.nullcontext()


def _release_mounts_beneath(directory: str) -> None:
    """Detach CRIU's cgroup yard beneath ``directory``; raise if any mount stays there."""
    kept: list[str] = []
    detached = 0
    for point in mounts_beneath(directory):  # deepest first
        if _in_cgroup_yard(point, directory):
            try:
                detach(point)
                detached += 1
                continue
            except OSError as exc:
                log.error("cannot detach %s, which a killed CRIU restore left: %s", point, exc)
        kept.append(point)
    if detached:
        log.warning(
            "detached %d mounts of the cgroup yard a killed CRIU left in %s", detached, directory
        )
    if kept:
        log.error("not removing %s: mounted beneath it: %s", directory, ", ".join(kept))
        raise OSError(errno.EBUSY, f"mounted beneath it: {', '.join(kept)}", directory)
