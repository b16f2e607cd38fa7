"""``docker cp``: a container's files as a tar stream, and a tar stream into a container.

Paths are the container's, resolved as the container sees them (:func:`..beneath.open_in_root`):
from its init's root, ``/proc/PID/root``, while it runs or is paused (so its mounts show: a
tmpfs, a bind mount), from its bundle's rootfs once it has stopped. Links are followed inside
that root only: a link to ``/etc/shadow`` names the container's, never the host's, and ``..``
stops at its ``/``.

Out (:func:`plan_copy_out`): the path (a file, a link, or a directory with all it holds) as a
tar stream whose names start with its last component (``/etc`` gives ``etc``, ``etc/passwd``,
...; ``/etc/.``, ``./passwd``, ...), written as a checkpoint's export writes its rootfs
(:class:`.export.TarWriter`): a link goes as a link, a file with several names once, the
device nodes no import takes are left out, a socket too. The container's view of the kernel
(proc, sysfs, cgroup and their kind, :data:`PSEUDO_FILESYSTEMS`) is not entered: its
``/proc/kcore`` alone would be a 128 TiB archive. Its stat (:class:`PathStat`) is what
docker's ``X-Docker-Container-Path-Stat`` header says.

In (:func:`copy_in`): a tar stream (plain or gzip) read by the import's reader
(:class:`.tarstream.TarReader`) under the import's limits (:class:`.unpack.ImportLimits`) and
its rules for names (:func:`.unpack.member_parts`: no absolute name, no ``..``). Each entry's
directory is opened in the container's root, so a link in the container on the way is followed
there (an entry ``x/passwd`` under a link ``x -> /etc`` lands in the container's ``/etc``), and
the entry made in it by name, without following a link in its last place. A hard link must
name a file this archive made. Device nodes are refused; FIFOs are made. What is there is
replaced, as docker's ``cp`` replaces it: a file or a link is removed first, a directory kept
(its mode, owner and time the archive's); a directory where the archive has a file, or a file
where it has a directory, is refused, as docker's ``cp`` refuses it. Owners are the
container's root (uid and gid 0) unless ``copy_owner`` (``docker cp -a``) keeps the archive's;
setuid and setgid bits are dropped, as an import drops them (the rootfs is on the host).

Owners are the container's ids both ways: through its user namespace, if it has one
(:mod:`.idmap`, the :class:`Root`'s ``ids``), to the host's going in (an id it does not map is
a 400, before anything of its entry is made) and back coming out.

Unlike an import, a copy is not staged: what the archive wrote before a bad entry stays, as
docker's does (a 400 names the entry). File I/O runs in worker threads (out: the walk and each
open too), a chunk at a time: a mount of the container's that hangs holds its copy, never the
daemon's event loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path

import attrs
import trio

from .. import beneath, mounts, procfs, timestamps
from ..bundle import DAEMON_ERRNOS
from ..client import pathstat
from ..errors import Conflict, DaemonError, InvalidRequest, NotFound, quoted
from ..validation import doc
from . import idmap
from .export import Member, TarWriter, enter, walk
from .idmap import IdMapping
from .tarstream import CHUNK, ArchiveError, Entry, Kind, TarReader
from .unpack import ImportLimits, member_parts, set_metadata

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/x-tar"

#: Filesystems that are the kernel's view (never files to copy): not entered by a copy out.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "bpf",
        "configfs", "fusectl", "pstore", "efivarfs", "binfmt_misc", "autofs",
    }
)  # fmt: skip

#: How an entry's directory and a directory to copy into are opened.
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY
#: The mode of a directory a copy makes that its archive leaves out (docker's, moby's
#: ImpliedDirectoryMode).
IMPLIED_DIRECTORY_MODE = 0o755
_NOT_THERE = (errno.ENOENT, errno.ENOTDIR)


def go_mode(mode: int) -> int:
    """An ``st_mode`` as Go's ``os.FileMode``: the permission bits, and a bit for its kind
    and for setuid, setgid and sticky."""
    go = pathstat
    bits = stat.S_IMODE(mode) & 0o777
    for flag, bit in ((stat.S_ISUID, go.GO_SETUID), (stat.S_ISGID, go.GO_SETGID),
                      (stat.S_ISVTX, go.GO_STICKY)):  # fmt: skip
        if mode & flag:
            bits |= bit
    kinds = {
        stat.S_IFDIR: go.GO_DIR, stat.S_IFLNK: go.GO_SYMLINK, stat.S_IFIFO: go.GO_NAMED_PIPE,
        stat.S_IFSOCK: go.GO_SOCKET, stat.S_IFBLK: go.GO_DEVICE,
        stat.S_IFCHR: go.GO_DEVICE | go.GO_CHAR_DEVICE, stat.S_IFREG: 0,
    }  # fmt: skip
    return bits | kinds.get(stat.S_IFMT(mode), go.GO_IRREGULAR)


@attrs.frozen
class PathStat:
    """A path in a container, as docker's ``X-Docker-Container-Path-Stat`` describes it."""

    name: str
    size: int
    #: Go's ``os.FileMode`` (:func:`go_mode`).
    mode: int
    #: RFC 3339, with nanoseconds.
    mtime: str
    #: For a link: where it leads, as an absolute path in the container, the chain of links
    #: followed to its end in the root (docker's; :func:`..beneath.resolve_in_root`). Else "".
    link_target: str = ""

    def document(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }

    def header(self) -> str:
        """The header's value (:data:`..client.pathstat.STAT_HEADER`), as docker sends it."""
        return pathstat.encode(self.document())


# --- the container's root -----------------------------------------------------------------------


class Root:
    """An fd on a container's ``/`` (closed with the context), the devices of the
    filesystems a copy out does not enter, its user namespace's mapping of owners (None
    in the host's: owners go as they are), and its mount points below ``/`` (absolute in
    it; none for a stopped container's rootfs)."""

    def __init__(
        self,
        fd: int,
        pseudo: frozenset[int] = frozenset(),
        ids: IdMapping | None = None,
        mount_points: frozenset[str] = frozenset(),
    ) -> None:
        self.fd = fd
        self.pseudo = pseudo
        self.ids = ids
        self.mount_points = mount_points

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def process_root(pid: int, start_time: int | None, container_id: str) -> Root:
    """The root of process ``pid`` (a container's init) as it sees it, its mounts with it;
    Conflict if the pid is no longer that process (it exited meanwhile).

    Everything is read through one fd on ``/proc/PID``, checked after it is opened to be that
    process (its start time: the pid could have been reused before the open). From then on
    that fd is that process or nothing: once it has ended, a read through it fails (the fd
    names the process, not the number), where a read by pid would read whoever took the pid,
    whose mountinfo would leave the container's /proc unknown, to be walked."""
    try:
        process = os.open(f"/proc/{pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise _stopped(container_id) from None
    try:
        if start_time is not None and procfs.start_time(pid) != start_time:
            raise _stopped(container_id)
        try:
            fd = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=process)
        except OSError:
            raise _stopped(container_id) from None
        try:
            with open(os.open("mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=process), "rb") as f:
                mountinfo = f.read()
            pseudo = pseudo_devices(mountinfo)
            # The kernel's mapping, as the host reads it: what the container runs with now.
            ids = idmap.from_process(process)
        except OSError:
            os.close(fd)
            raise _stopped(container_id) from None
    finally:
        os.close(process)
    return Root(fd, pseudo, ids, mount_points(mountinfo))


def _stopped(container_id: str) -> Conflict:
    return Conflict(f"container {container_id!r} stopped as its files were looked at: try again")


def rootfs_root(rootfs: Path, ids: IdMapping | None = None) -> Root:
    """A stopped container's root: its bundle's rootfs (the bundle's ``root.path``), its
    owners mapped by ``ids`` (its bundle's, :func:`.idmap.from_config`)."""
    try:
        return Root(beneath.open_directory(rootfs), ids=ids)
    except OSError as exc:
        raise InvalidRequest(f"cannot open the rootfs {rootfs}: {exc.strerror}") from None


def pseudo_devices(mountinfo: bytes) -> frozenset[int]:
    """The devices (``st_dev``) of the :data:`PSEUDO_FILESYSTEMS` mounted, from a
    ``/proc/PID/mountinfo`` (``ID PARENT MAJOR:MINOR ROOT POINT OPTIONS ... - TYPE ...``)."""
    found = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            kind = fields[fields.index(b"-") + 1].decode(errors="replace")
            major, minor = (int(number) for number in fields[2].split(b":"))
        except (ValueError, IndexError):
            continue
        if kind in PSEUDO_FILESYSTEMS:
            found.add(os.makedev(major, minor))
    return frozenset(found)


def mount_points(mountinfo: bytes) -> frozenset[str]:
    """The mount points below ``/`` in a ``/proc/PID/mountinfo`` (its fifth field: absolute,
    relative to that process's root, with no link on the way; what is mounted outside that
    root is not listed). ``/`` itself, the rootfs as a mount, is none of them: it is the root."""
    found = set()
    for line in mountinfo.splitlines():
        fields = line.split(b" ", 5)
        if len(fields) < 5 or not fields[4].startswith(b"/"):
            continue
        point = mounts.unescaped(fields[4])
        if point != "/":
            found.add(point)
    return frozenset(found)


def _missing(container_id: str, path: str) -> NotFound:
    return NotFound(f"no such file or directory in container {container_id!r}: {quoted(path)}")


def _refused(root: Root, container_id: str, path: str, exc: OSError) -> DaemonError:
    """The answer to a ``path`` the resolution in ``root`` failed on: 400 naming the link of
    the container's procfs on its way if one stopped it (:func:`procfs_link_on_the_way`), else
    404 if it is not there, else 400 with the kernel's words. Blocking (it looks again)."""
    link = procfs_link_on_the_way(root, path)
    if link is not None:
        return InvalidRequest(f"cannot reach {quoted(path)} in container {container_id!r}: {link}")
    if exc.errno in _NOT_THERE:
        return _missing(container_id, path)
    return InvalidRequest(
        f"cannot reach {quoted(path)} in container {container_id!r}: {exc.strerror}"
    )


@attrs.frozen
class ProcfsLink:
    """A link of the container's procfs that a resolution in its root does not follow: a magic
    link (``/proc/1/root``, ``/proc/PID/fd/N``: ``RESOLVE_NO_MAGICLINKS``), or one whose target
    names its reader (``/proc/self``), which the daemon, in none of the container's pid
    namespaces, cannot read. ``where``: the path the link was found at, as resolved text
    (``/proc/net/dev`` through ``/proc/net -> self/net`` finds ``/proc/self``); ``by``: the
    first link of the path asked that led there, if it is another."""

    where: str
    magic: bool
    by: str | None = None

    def __str__(self) -> str:
        by = f" (which {quoted(self.by)} leads through)" if self.by else ""
        if self.magic:
            return (
                f"it goes through {quoted(self.where)}{by}, a magic link of the container's"
                " procfs (a process's root, cwd, exe, fd or namespace), which a copy never"
                " follows: it can lead out of the container's root"
            )
        return (
            f"it goes through {quoted(self.where)}{by}, a link of the container's procfs that"
            " names its reader, which only the container's own processes can read; a copy"
            " follows no such link, nor the magic links it leads to (/proc/PID/root, ...)"
        )


def procfs_link_on_the_way(
    root: Root, path: str, by: str | None = None, links: int = 0
) -> ProcfsLink | None:
    """The link of the container's procfs (a link on one of ``root``'s pseudo filesystems)
    that stops the resolution of ``path`` in ``root``, if one does: the first prefix of the
    path that does not resolve, followed, where its last component is such a link. None if
    the path resolves, or fails elsewhere (not there, a loop of plain links). A link of procfs
    that the daemon can read and that resolves no further (``/proc/net -> self/net``) is
    looked through: its target, in its place, is looked at the same way (at most
    :data:`.beneath.MAX_LINKS` such)."""
    if not root.pseudo:
        return None  # a stopped container's rootfs: no procfs mounted there
    parts = [part for part in path.split("/") if part not in ("", ".")]
    failures: dict[int, int | None] = {}

    def resolves(count: int) -> bool:
        try:
            os.close(beneath.open_in_root(root.fd, "/" + "/".join(parts[:count]), os.O_PATH))
        except OSError as exc:
            failures[count] = exc.errno
            return False
        return True

    # The first prefix that does not resolve (every longer one fails too, its walk goes
    # through it): bisected, so that a long path costs a few walks, not one a component.
    low, high = 1, len(parts) + 1
    while low < high:
        middle = (low + high) // 2
        if resolves(middle):
            low = middle + 1
        else:
            high = middle
    if low > len(parts):
        return None  # it resolves (now): no link stopped it
    prefix = "/" + "/".join(parts[:low])
    try:
        # The last component itself, unfollowed (for a magic link too, with O_PATH).
        pinned = beneath.open_in_root(root.fd, prefix, os.O_PATH | os.O_NOFOLLOW)
    except OSError:
        return None  # the failure is before it: no link of procfs stopped it
    try:
        info = os.fstat(pinned)
        if not stat.S_ISLNK(info.st_mode) or info.st_dev not in root.pseudo:
            return None
        try:
            target = os.readlink("", dir_fd=pinned)
        except OSError:
            return ProcfsLink(prefix, magic=False, by=by)
    finally:
        os.close(pinned)
    if failures[low] == errno.ELOOP:
        return ProcfsLink(prefix, magic=True, by=by)
    # A plain link of procfs that resolves no further: the fault is on its target's way.
    if links >= beneath.MAX_LINKS:
        return None
    through = posixpath.join(posixpath.dirname(prefix), target, *parts[low:])
    return procfs_link_on_the_way(root, through, by or prefix, links + 1)


# --- out ----------------------------------------------------------------------------------------


class Located:
    """A path found in a container: an fd on its directory (close it), its name there, and
    what it is; and, for a copy that leaves the container's mounts out, the mount points at
    or under it, relative to it ("" for itself)."""

    def __init__(self, parent: int, entry: str, name: str, info: os.stat_result,
                 stat_: PathStat, pseudo: frozenset[int],
                 mounted: frozenset[str] = frozenset()) -> None:  # fmt: skip
        self.parent = parent
        self.entry = entry
        #: The first component of the archive's names.
        self.name = name
        self.info = info
        self.stat = stat_
        self._pseudo = pseudo
        self._mounted = mounted

    def close(self) -> None:
        if self.parent >= 0:
            fd, self.parent = self.parent, -1
            os.close(fd)

    def members(self) -> Iterator[Member]:
        """The path, and what it holds if a directory (not on a pseudo filesystem); each as
        it was when located or walked, or left out (:class:`.export.TarWriter`). A mount
        point of :attr:`_mounted` goes as its header alone (an empty directory or file), what
        is mounted there left out."""
        mounted = self._mounted
        yield Member(self.name, at=(self.parent, self.entry), info=self.info, empty="" in mounted)
        if not stat.S_ISDIR(self.info.st_mode) or "" in mounted:
            return
        # Gone, a link now, or another directory: not entered (its header went as it is).
        inner = enter(self.parent, self.entry, self.info, self.name, self._pseudo)
        if inner is None:
            return
        try:
            for relative, info, at in walk(inner, "", self._pseudo, mounted):
                yield Member(f"{self.name}/{relative}", at=at, info=info, empty=relative in mounted)
        finally:
            os.close(inner)


class CopyOut:
    """A path of a container, its stat, and (:meth:`chunks`) its tar stream. Nothing is held
    open between the two (an answer whose body is never sent holds no fd): the stream finds
    the path again as it begins, as docker's stat and archive are two looks too."""

    def __init__(
        self,
        open_root: Callable[[], Root],
        path: str,
        container_id: str,
        stat_: PathStat,
        *,
        exclude_mounts: bool = False,
    ) -> None:
        #: The stream's look: past its 200, where the stat's look could still be a 409.
        self._open_root = open_root
        self._path = path
        self._container_id = container_id
        self._exclude_mounts = exclude_mounts
        self.stat = stat_
        self.media_type = MEDIA_TYPE

    async def chunks(self) -> AsyncIterator[bytes]:
        with self._open_root() as root:
            located = await trio.to_thread.run_sync(
                partial(
                    locate, root, self._path, self._container_id,
                    exclude_mounts=self._exclude_mounts,
                )
            )  # fmt: skip
        # Owners as the container names them (its user namespace's view of the host's ids).
        owners = None if root.ids is None else root.ids.to_container
        try:
            async for chunk in TarWriter(owners=owners).chunks(located.members()):
                yield chunk
        finally:
            located.close()


async def plan_copy_out(
    open_root: Callable[[], Root],
    path: str,
    container_id: str,
    *,
    exclude_mounts: bool = False,
    reopen_root: Callable[[], Root] | None = None,
) -> CopyOut:
    """``path`` in the container whose root ``open_root`` opens: its stat (404 if it is not
    there, 400 if it cannot be reached), and its archive to come; with ``exclude_mounts``,
    its mount points as empty entries and nothing of what is mounted there (docker export's).
    ``reopen_root``: the root the stream opens again (``open_root`` if None)."""
    with open_root() as root:
        located = await trio.to_thread.run_sync(locate, root, path, container_id)
    located.close()
    return CopyOut(
        reopen_root or open_root, path, container_id, located.stat, exclude_mounts=exclude_mounts
    )


def locate(root: Root, path: str, container_id: str, *, exclude_mounts: bool = False) -> Located:
    """Find ``path`` in the container (404 if it is not there, 400 if it cannot be reached);
    with ``exclude_mounts``, the root's mount points at or under it too. In a worker thread:
    the lookup may wait on a slow mount."""
    parts = [part for part in path.split("/") if part]
    last = parts[-1] if parts else "."
    whole = last in (".", "..")
    parent_path = path if whole else "/".join(parts[:-1]) or "."
    try:
        parent = beneath.open_in_root(root.fd, parent_path, os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        raise _refused(root, container_id, path, exc) from None
    try:
        entry = "." if whole else last
        try:
            info = os.stat(entry, dir_fd=parent, follow_symlinks=False)
        except OSError as exc:
            raise _refused(root, container_id, path, exc) from None
        if path.endswith("/") and stat.S_ISLNK(info.st_mode):
            # "/data/etc-link/" names the directory the link leads to, as the kernel reads it
            # and docker's daemon sends it (its names from the link's, as asked); followed in
            # the root, as any link on the way. A link to a file so named is none (below).
            try:
                followed = beneath.open_in_root(root.fd, path, os.O_PATH | os.O_DIRECTORY)
            except OSError as exc:
                if exc.errno != errno.ENOTDIR:
                    raise _refused(root, container_id, path, exc) from None
            else:
                os.close(parent)
                parent, entry = followed, "."
                info = os.stat(entry, dir_fd=parent)
        if path.endswith("/") and not stat.S_ISDIR(info.st_mode):
            # "/etc/hostname/" names a directory, as the kernel reads it (docker: the same)
            raise InvalidRequest(f"{quoted(path)} in container {container_id!r} is not a directory")
        if stat.S_ISLNK(info.st_mode):
            # Its target is what the archive holds of it: one the daemon cannot read would be
            # left out, and the copy a 200 with an empty archive. /proc/self and
            # /proc/thread-self of the container's procfs are such links: they name the
            # reader's own process, and the daemon is none of the container's (ENOENT).
            try:
                os.readlink(entry, dir_fd=parent)
            except OSError as exc:
                why = (
                    " (a link of the container's procfs that names its reader, which only the"
                    " container's own processes can read)"
                    if info.st_dev in root.pseudo
                    else ""
                )
                raise InvalidRequest(
                    f"cannot read the link {quoted(path)} in container {container_id!r}:"
                    f" {exc.strerror}{why}"
                ) from None
        # The archive's names start with the last component, as docker's: "." for "/x/."
        # and for "/" (docker's "/" is no name a tar may hold).
        name = "." if whole or not parts else last
        link = ""
        if stat.S_ISLNK(info.st_mode):
            # Where the chain of links ends, in the root, as docker's linkTarget: what cp -L
            # copies and what a copy into a link goes into, neither of which may be a link.
            try:
                link = beneath.resolve_in_root(root.fd, path, root.pseudo)
            except OSError:  # a loop: the link's own target, from its directory
                target = os.readlink(entry, dir_fd=parent)
                directory = "/" + "/".join(parts[:-1])
                link = "/" + posixpath.normpath(posixpath.join(directory, target)).lstrip("/")
        described = PathStat(
            name=parts[-1] if parts else "/",
            size=info.st_size,
            mode=go_mode(info.st_mode),
            mtime=timestamps.format_ns(info.st_mtime_ns),
            link_target=link,
        )
        mounted = frozenset[str]()
        if exclude_mounts and root.mount_points:
            # Where it is in the container, links on the way followed in the root: the mount
            # points are named so (the walk below it follows none).
            try:
                if entry == ".":
                    where = beneath.resolve_in_root(root.fd, path, root.pseudo)
                else:
                    directory = beneath.resolve_in_root(root.fd, parent_path, root.pseudo)
                    where = posixpath.join(directory, entry)
            except OSError as exc:
                raise _refused(root, container_id, path, exc) from None
            mounted = _mounted_under(root.mount_points, where)
        return Located(parent, entry, name, info, described, root.pseudo, mounted)
    except BaseException:
        os.close(parent)
        raise


def _mounted_under(points: frozenset[str], where: str) -> frozenset[str]:
    """The mount ``points`` at ``where`` or under it, relative to it ("" for ``where``)."""
    prefix = where.rstrip("/") + "/"
    found = {point[len(prefix) :] for point in points if point.startswith(prefix)}
    if where in points:
        found.add("")
    return frozenset(found)


# --- in -----------------------------------------------------------------------------------------


@attrs.frozen
class CopiedIn:
    """A tar stream, copied into a container."""

    entries: int = attrs.field(metadata=doc("Members of the archive."))
    bytes: int = attrs.field(metadata=doc("Bytes of file data written."))
    archive_bytes: int = attrs.field(metadata=doc("Bytes of the archive as it arrived."))


@attrs.define
class _Directory:
    relative: str
    entry: Entry


@attrs.frozen
class _Queued:
    """An entry to make whole in a worker thread: a file's data all in hand (b"" for the
    other kinds)."""

    entry: Entry
    parts: list[str]
    key: str
    data: bytes


#: Entries made in one turn of a worker thread at most (and :data:`~.tarstream.CHUNK` bytes of
#: data): a turn each (about 90 us here, more than making a small file) made a copy of 5000
#: small files take 2.4 s. What a turn holds up (a cancelled copy waits for it) stays short.
QUEUED_ENTRIES = 128


async def copy_in(
    chunks: AsyncIterable[bytes],
    root: Root,
    path: str,
    container_id: str,
    *,
    limits: ImportLimits | None = None,
    copy_owner: bool = False,
) -> CopiedIn:
    """Unpack the uploaded tar stream into the directory ``path`` of the container whose root
    ``root`` is. 404 if ``path`` is not there, 400 if it is no directory, or for the first
    entry that breaks a rule (what came before it stays, as it does when the upload ends
    early: a client gone, a 408)."""
    try:
        directory = await trio.to_thread.run_sync(
            beneath.open_in_root, root.fd, path, os.O_PATH | os.O_DIRECTORY
        )
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise InvalidRequest(
                f"{quoted(path)} in container {container_id!r} is not a directory: a copy"
                " goes into a directory"
            ) from None
        # It looks again at the path (a mount of the container's may be slow): in a thread.
        raise await trio.to_thread.run_sync(_refused, root, container_id, path, exc) from None
    os.close(directory)
    unpacker = _CopyIn(
        root, path.rstrip("/") or "/", limits or ImportLimits(), copy_owner, container_id
    )
    reader = TarReader(aiter(chunks))
    try:
        try:
            while (entry := await reader.next_entry()) is not None:
                await unpacker.unpack(reader, entry)
        except BaseException:
            # What came whole before the end stays, made in order, however the copy ended: an
            # entry that broke a rule, a body that stopped coming (408), a client that left
            # (a cancel: shielded, one turn at most). Queued, it was read but not made yet.
            with trio.CancelScope(shield=True):
                try:
                    await unpacker.flush()
                finally:
                    # ... and the directories it made get the archive's mode, owner and time
                    # as at a copy's end: made 0700, what stays in them was reachable by root
                    # alone (docker's cp makes each with its mode at once).
                    await trio.to_thread.run_sync(unpacker.finish_after_failure)
            raise
        await unpacker.flush()
        await trio.to_thread.run_sync(unpacker.finish)
    except DestinationRefused as exc:
        # The container's side is at fault, not the archive: said as it is, naming the place.
        raise InvalidRequest(str(exc)) from None
    except ArchiveError as exc:
        raise InvalidRequest(f"invalid archive: {exc}") from None
    return CopiedIn(reader.entries, unpacker.data_bytes, reader.raw_bytes)


class DestinationRefused(ArchiveError):
    """A place in the container an entry cannot be made in, whatever the archive holds: one of
    the kernel's file systems (``cp f web:/proc/x``), or a directory where the entry is a file
    (or the other way), as docker's cp refuses it. Its message is the answer whole, without
    the ``invalid archive:`` of a broken archive: it names the container's path."""


class _CopyIn:
    def __init__(
        self, root: Root, target: str, limits: ImportLimits, copy_owner: bool, container_id: str
    ) -> None:
        self.root = root
        self.target = target
        self.limits = limits
        self.copy_owner = copy_owner
        self.container_id = container_id
        self.data_bytes = 0
        #: The files this copy made, by archive name: what a hard link may name.
        self.files: dict[str, tuple[int, int]] = {}
        #: Directories whose metadata is set at the end (children first), so that their
        #: times are not changed by what goes into them afterwards.
        self.directories: list[_Directory] = []
        #: Entries read and checked, to be made in the next turn of a worker thread, in order.
        self._queued: list[_Queued] = []
        self._queued_bytes = 0

    async def unpack(self, reader: TarReader, entry: Entry) -> None:
        self.limits.check(entry, reader.entries, self.data_bytes)
        if entry.name.strip("/") in ("", "."):
            return  # the directory copied into: docker's cp leaves it as it is
        parts = member_parts(entry.name)
        if entry.kind in (Kind.CHAR_DEVICE, Kind.BLOCK_DEVICE):
            raise ArchiveError(
                f"{quoted(entry.name)} is a {entry.kind.value}: a copy into a container makes"
                " no device nodes"
            )
        if entry.kind is Kind.OTHER:
            raise ArchiveError(f"{quoted(entry.name)} is of an unknown type, which is not allowed")
        if not self.copy_owner:
            entry = attrs.evolve(entry, uid=0, gid=0)
        if self.root.ids is not None:
            # Checked before anything of the entry is made (its directories neither).
            whose = "its owner's" if self.copy_owner else "the container's root's"
            uid, gid = self._on_host(entry.name, entry.uid, entry.gid, whose)
            entry = attrs.evolve(entry, uid=uid, gid=gid)
        key = "/".join(parts)
        data = b""
        if entry.kind is Kind.FILE:
            data = await reader.read_data()
            if reader.data_left:  # more than a piece: written as it comes, after the queue
                await self.flush()
                with _made(entry, self.container_id):
                    await self._write_file(reader, entry, parts, key, data)
                return
            self.data_bytes += len(data)
        self._queued.append(_Queued(entry, parts, key, data))
        self._queued_bytes += len(data)
        if len(self._queued) >= QUEUED_ENTRIES or self._queued_bytes >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        """Make the queued entries, in order, in one turn of a worker thread."""
        if self._queued:
            await trio.to_thread.run_sync(self._make_queued)

    def _make_queued(self) -> None:
        """In a worker thread: each entry made; the first that cannot be stops the rest. The
        queue is taken here, not before the thread is asked: to_thread raises a cancel that
        came first without running this, and the queue must then be there to flush still."""
        queued, self._queued, self._queued_bytes = self._queued, [], 0
        for item in queued:
            with _made(item.entry, self.container_id):
                if item.entry.kind is Kind.FILE:
                    self.files[item.key] = self._write_whole(item.entry, item.parts, item.data)
                else:
                    self._make(item.entry, item.parts, item.key)

    def _on_host(self, name: str, uid: int, gid: int, whose: str) -> tuple[int, int]:
        """The container's ``uid`` and ``gid`` as the host names them, through its user
        namespace; 400 for an id it does not map (no host id would show as it inside), as
        docker's (its ``ToHost``)."""
        ids = self.root.ids
        assert ids is not None
        host_uid, host_gid = ids.to_host(uid, gid)
        for kind, value, host, ranges in (("uid", uid, host_uid, ids.uids),
                                          ("gid", gid, host_gid, ids.gids)):  # fmt: skip
            if host is None:
                raise InvalidRequest(
                    f"cannot copy {quoted(name)} into container {self.container_id!r}: {whose}"
                    f" {kind} {value} is not mapped by its user namespace (it maps {kind}s"
                    f" {idmap.describe(ranges)})"
                )
        assert host_uid is not None and host_gid is not None
        return host_uid, host_gid

    # --- where ----------------------------------------------------------------------------------

    def _in_target(self, parts: list[str]) -> str:
        return posixpath.join(self.target, *parts)

    def _parent(self, parts: list[str]) -> int:
        """The entry's directory, opened in the container's root (links on the way followed
        there, never out of it); made where it is missing (an archive may leave a directory
        out and name what it holds), as tar makes it."""
        try:
            return self._directory(self._in_target(parts[:-1]))
        except FileNotFoundError:
            pass
        # Owned by the container's root, as docker's (its root as the host names it).
        owner = None
        if self.root.ids is not None:
            whose = "the container's root's (the owner of a directory a copy makes)"
            owner = self._on_host("/".join(parts[:-1]), 0, 0, whose)
        directory = self._directory(self.target)
        for depth, part in enumerate(parts[:-1], 1):
            made = False
            try:
                try:
                    os.mkdir(part, IMPLIED_DIRECTORY_MODE, dir_fd=directory)
                    made = True
                    if owner is not None:
                        os.chown(part, *owner, dir_fd=directory, follow_symlinks=False)
                except FileExistsError:
                    pass
                # Again from the root: what is there now may be a link (the container's own).
                inner = self._directory(self._in_target(parts[:depth]))
            finally:
                os.close(directory)
            directory = inner
            if made:
                # docker's 0755: mkdir's went through the daemon's umask (077), making 0700.
                try:
                    os.fchmod(directory, IMPLIED_DIRECTORY_MODE)
                except BaseException:
                    os.close(directory)
                    raise
        return directory

    def _directory(self, path: str) -> int:
        """A directory of the container opened in its root; never one of the kernel's own
        filesystems (a mkdir in a cgroup file system makes a cgroup)."""
        fd = beneath.open_in_root(self.root.fd, path, _DIRECTORY)
        if os.fstat(fd).st_dev in self.root.pseudo:
            os.close(fd)
            raise DestinationRefused(
                f"cannot copy into {quoted(path)} in container {self.container_id!r}: it is in"
                " one of the kernel's file systems (proc, sysfs, cgroup), where a copy writes"
                " nothing"
            )
        return fd

    def _clear(self, parent: int, name: str, entry: Entry) -> None:
        """Make room for ``entry`` as docker's cp does: a file or link there is removed, a
        directory kept for a directory; a directory for a file, or the other way, refused."""
        try:
            there = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        directory = stat.S_ISDIR(there.st_mode)
        if directory and entry.kind is Kind.DIRECTORY:
            return
        if directory:
            raise DestinationRefused(
                f"cannot overwrite the directory {quoted(name)} with the non-directory"
                f" {quoted(entry.name)}"
            )
        if entry.kind is Kind.DIRECTORY:
            raise DestinationRefused(
                f"cannot overwrite the non-directory {quoted(name)} with the directory"
                f" {quoted(entry.name)}"
            )
        os.unlink(name, dir_fd=parent)  # a link itself, never what it names

    # --- what -----------------------------------------------------------------------------------

    def _make(self, entry: Entry, parts: list[str], key: str) -> None:
        """In a worker thread: a directory, link, hard link or FIFO, in its directory."""
        name = parts[-1]
        parent = self._parent(parts)
        try:
            self._clear(parent, name, entry)
            if entry.kind is Kind.DIRECTORY:
                with contextlib.suppress(FileExistsError):  # kept: _clear saw a directory
                    os.mkdir(name, 0o700, dir_fd=parent)  # its own mode at the end
                self.directories.append(_Directory(self._in_target(parts), entry))
            elif entry.kind is Kind.SYMLINK:
                if not entry.linkname or "\0" in entry.linkname:
                    raise ArchiveError(f"the symlink {quoted(entry.name)} has no target")
                # Any target: it is read in the container, whose root it cannot leave.
                os.symlink(entry.linkname, name, dir_fd=parent)
                os.chown(name, entry.uid, entry.gid, dir_fd=parent, follow_symlinks=False)
                os.utime(name, (entry.mtime, entry.mtime), dir_fd=parent, follow_symlinks=False)
            elif entry.kind is Kind.FIFO:
                os.mkfifo(name, 0o600, dir_fd=parent)
                fd = _reopen_fifo(parent, name, entry)
                try:
                    set_metadata(fd, entry, self.limits.mode(entry))
                finally:
                    os.close(fd)
            else:
                self._hard_link(parent, name, entry)
        finally:
            os.close(parent)

    def _hard_link(self, parent: int, name: str, entry: Entry) -> None:
        """A hard link to a file this copy made: its directory found again in the root, and
        the link checked to be that file (a container may have swapped it meanwhile)."""
        try:
            source = member_parts(entry.linkname)
        except ArchiveError:
            source = []
        made = self.files.get("/".join(source))
        if made is None:
            raise ArchiveError(
                f"the hard link {quoted(entry.name)} must name a file this archive made before"
                f" it, not {quoted(entry.linkname)}"
            )
        source_parent = self._parent(source)
        try:
            os.link(source[-1], name, src_dir_fd=source_parent, dst_dir_fd=parent,
                    follow_symlinks=False)  # fmt: skip
        finally:
            os.close(source_parent)
        linked = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if (linked.st_dev, linked.st_ino) != made:
            os.unlink(name, dir_fd=parent)
            raise ArchiveError(
                f"the hard link {quoted(entry.name)}: {quoted(entry.linkname)} was replaced"
                " in the container meanwhile"
            )

    async def _write_file(
        self, reader: TarReader, entry: Entry, parts: list[str], key: str, data: bytes
    ) -> None:
        """A file larger than a piece, written a piece at a time (its first is ``data``)."""
        fd = await trio.to_thread.run_sync(self._create, entry, parts)
        try:
            while data:
                await trio.to_thread.run_sync(_write_all, fd, data)
                self.data_bytes += len(data)
                data = await reader.read_data()
            # Its identity in the same turn: an fstat asks the file system too (a FUSE
            # server's GETATTR, which may never come), never in the event loop.
            self.files[key] = await trio.to_thread.run_sync(self._finish_file, fd, entry)
        except BaseException:
            # A file cut short (a full file system, a client that left mid-file) is not left
            # half-written: it is removed, as a cancelled copy's too (shielded).
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._discard, fd, parts)
            raise
        finally:
            # A close flushes (a FUSE mount's may wait): in a thread, and shielded, so that a
            # cancelled copy still closes what it opened.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(os.close, fd)

    def _write_whole(self, entry: Entry, parts: list[str], data: bytes) -> tuple[int, int]:
        """In a worker thread: the file made with all its ``data`` and metadata, closed; its
        (device, inode), which a hard link to it must find."""
        fd = self._create(entry, parts)
        try:
            _write_all(fd, data)
            return self._finish_file(fd, entry)
        except BaseException:
            self._discard(fd, parts)
            raise
        finally:
            os.close(fd)

    def _discard(self, fd: int, parts: list[str]) -> None:
        """In a worker thread: the file this copy created at ``parts`` (open as ``fd``) and could
        not write whole, removed; before, it stayed, mode 0600 and cut short, where a full
        tmpfs stayed full of it. Only if its name still holds it (the container may have put
        something else there meanwhile: that is left as it is); a failure here is logged, the
        copy's own error being the one to answer."""
        try:
            made = os.fstat(fd)
            parent = self._directory(self._in_target(parts[:-1]))
            try:
                there = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                if (there.st_dev, there.st_ino) == (made.st_dev, made.st_ino):
                    os.unlink(parts[-1], dir_fd=parent)
            finally:
                os.close(parent)
        except (ArchiveError, OSError) as exc:
            log.info("copy in: %s, cut short, left in place: %s", "/".join(parts), exc)

    def _finish_file(self, fd: int, entry: Entry) -> tuple[int, int]:
        """In a worker thread: the written file's metadata set; its (device, inode)."""
        set_metadata(fd, entry, self.limits.mode(entry))
        info = os.fstat(fd)
        return info.st_dev, info.st_ino

    def _create(self, entry: Entry, parts: list[str]) -> int:
        parent = self._parent(parts)
        try:
            self._clear(parent, parts[-1], entry)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.open(parts[-1], flags, 0o600, dir_fd=parent)
        finally:
            os.close(parent)

    def finish(self) -> None:
        """In a worker thread: each directory's mode, owner and time, children first; each
        opened in the root without following a link in its last place, and none of the
        kernel's file systems changed."""
        for directory in reversed(self.directories):
            self._finish_directory(directory)

    def finish_after_failure(self) -> None:
        """In a worker thread: :meth:`finish` for a copy that failed, each directory that
        can be finished finished (the copy's own error is the one to answer)."""
        for directory in reversed(self.directories):
            try:
                self._finish_directory(directory)
            except (ArchiveError, OSError) as exc:
                log.info("copy in: %s left unfinished after a failed copy: %s",
                         directory.relative, exc)  # fmt: skip

    def _finish_directory(self, directory: _Directory) -> None:
        try:
            fd = beneath.open_in_root(self.root.fd, directory.relative, _DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise ArchiveError(
                f"{quoted(directory.entry.name)} cannot be finished: {exc.strerror}"
            ) from None
        try:
            # The kernel's own (the archive's proc/ or sys/, as a copy out of / sends them
            # back; or what a link the container swapped in leads to): left as they are.
            if os.fstat(fd).st_dev not in self.root.pseudo:
                set_metadata(fd, directory.entry, self.limits.mode(directory.entry))
        finally:
            os.close(fd)


@contextlib.contextmanager
def _made(entry: Entry, container_id: str) -> Iterator[None]:
    """A failure to make ``entry`` as the client's 400, naming it; the daemon's own (a full
    disk, too many open files) as they are. A read-only file system is the container's side,
    not the archive's: said so, where it was ``invalid archive: 'f' cannot be made: Read-only
    file system``, as docker's cp says ``container rootfs is marked read-only``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DAEMON_ERRNOS:
            raise
        if exc.errno == errno.EROFS:
            raise DestinationRefused(
                f"cannot copy {quoted(entry.name)} into container {container_id!r}: the file"
                " system there is read-only (the bundle's root.readonly, or a read-only mount)"
            ) from None
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DestinationRefused(
                f"cannot copy {quoted(entry.name)} into container {container_id!r}: the file"
                f" system there is full ({exc.strerror})"
            ) from None
        raise ArchiveError(f"{quoted(entry.name)} cannot be made: {exc.strerror}") from None


def _reopen_fifo(parent: int, name: str, entry: Entry) -> int:
    """The FIFO this copy just made, opened for its metadata; refused if it is a FIFO no more:
    the container may have swapped it meanwhile (a device node of its own, or its file
    hard-linked there), which the archive's mode and owner must not go to. Pinned and looked
    at first (``O_PATH``), so that what is not a FIFO is never opened."""
    pinned = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        if not stat.S_ISFIFO(os.fstat(pinned).st_mode):
            raise ArchiveError(
                f"the FIFO {quoted(entry.name)} was replaced in the container meanwhile"
            )
        return beneath.reopen(pinned, os.O_RDONLY | os.O_NONBLOCK)
    finally:
        os.close(pinned)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
