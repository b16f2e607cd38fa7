"""Export a checkpoint (and optionally its bundle) as a tar stream, chunk by chunk.

:func:`plan_export` checks everything that can be checked before the first byte (so that an
HTTP answer can still be a 404 or a 400), then :meth:`ExportPlan.chunks` yields the archive in
chunks of about :data:`~.tarstream.CHUNK` bytes. Nothing is built in memory and nothing is
written to disk: files are read (and compressed) a chunk at a time in a worker thread.

The rootfs may be in use while it is exported (a running container, a pre-copy round): a file
that changes size between its header and its data is cut or padded to the size its header
announced (tar needs the exact size), and a file that disappears is left out. Such a copy is
only a first round: the final one, with ``changes`` since the first began, carries the file
again, because a write changes its ctime.

What no import takes (:mod:`.devices`: a device node other than the few every host offers
every user) is refused when the bundle is planned, naming each, by the walk the stream
makes, reading directories only (an entry's type comes with its name; only directories and
the rare special file are stat'ed); one made by a running container after that walk is left
out of the stream. A FIFO goes as a tar FIFO entry (never opened: its header is all there
is); a socket is left out. Each entry is pinned (``O_PATH``) and looked at before anything
opens it, and only a regular file is opened, through its pin: a container that swaps a
file for a FIFO or a device after the walk gets it left out, never opened.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tarfile
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

import attrs
import trio

from .. import beneath, checkpoints
from ..bundle import CONFIG_NAME, read_config
from ..errors import InvalidRequest, NotFound, quoted
from ..validation import check_id
from . import tarstream
from .devices import CARRIED_NAMES, refusal
from .layout import (
    CHECKPOINTS,
    INDEX_NAME,
    MANIFEST_NAME,
    PARENT_LINK,
    ROOTFS,
    BundleContent,
    ImageKind,
    Manifest,
    parent_of,
)
from .tarstream import CHUNK, Compression

log = logging.getLogger(__name__)

#: What an archive is sent as, by its compression: the export's answer, the import's body.
MEDIA_TYPES = {Compression.NONE: "application/x-tar", Compression.GZIP: "application/gzip"}


#: How many of the entries no import takes an export's refusal names (it says how many more).
NAMED_REFUSALS = 10

#: How far the filesystem's clock (a coarse one: the last timer tick) may lag ``time.time_ns()``.
CLOCK_SLACK_NS = 1_000_000_000


def rootfs_clock_ns() -> int:
    """A ``since_ns`` for a later export of ``changes``, to take before a first copy begins.

    File times come from the kernel's coarse clock, which lags the precise one by up to a
    tick: a write just after this moment may get an earlier ctime. Going back a second makes
    sure it is sent again (with a few files changed in that second, which is harmless).
    """
    return time.time_ns() - CLOCK_SLACK_NS


@attrs.frozen
class ExportOptions:
    bundle: BundleContent = BundleContent.NONE
    #: For ``changes``: rootfs entries whose ctime is at or after this (ns since the epoch);
    #: take it with :func:`rootfs_clock_ns`.
    since_ns: int | None = None
    compression: Compression = Compression.NONE
    kind: ImageKind = ImageKind.CHECKPOINT
    #: Walk the rootfs for what no import takes, and refuse the export if it holds any. A
    #: move's last copy of the changes leaves it out: it runs in the container's downtime, and
    #: its first copy was checked (an entry made since is left out of the stream, with a
    #: warning, as during any export).
    check_rootfs: bool = True


def plan_export(bundle: Path, name: str | None, options: ExportOptions | None = None) -> ExportPlan:
    """Check the checkpoint (and bundle) and plan the archive; ``name`` None: the bundle alone.

    NotFound if there is no such checkpoint (a completed one, or a pre-dump's images), and
    InvalidRequest if the bundle cannot be exported as asked, or its rootfs holds what no
    import takes. With the bundle, it reads every directory of the rootfs: call it in a
    worker thread.
    """
    options = options or ExportOptions()
    bundle = bundle.absolute()
    image_dir: Path | None = None
    if name is not None:
        check_id(name, "checkpoint name")
        image_dir = checkpoints.image_path(bundle, name)
        if options.kind is ImageKind.CHECKPOINT:
            checkpoints.load(bundle, name)  # NotFound unless it completed
        elif not (image_dir / "inventory.img").is_file():
            raise NotFound(
                f"no pre-dump images {quoted(name)} in {checkpoints.checkpoints_dir(bundle)}"
            )
        parent = image_dir / PARENT_LINK
        if parent.is_symlink() and parent_of(os.readlink(parent)) is None:
            raise InvalidRequest(f"{parent} does not name a sibling checkpoint: cannot export it")
    elif options.bundle is BundleContent.NONE:
        raise InvalidRequest("an export needs a checkpoint, the bundle, or both")
    config: bytes | None = None
    rootfs: Path | None = None
    if options.bundle is not BundleContent.NONE:
        if options.bundle is BundleContent.CHANGES and options.since_ns is None:
            raise InvalidRequest("an export of the rootfs changes needs the time they start from")
        config, rootfs = _bundle_parts(bundle, check=options.check_rootfs)
    manifest = Manifest(
        checkpoint=name,
        kind=options.kind,
        bundle=options.bundle,
        since_ns=options.since_ns if options.bundle is BundleContent.CHANGES else None,
    )
    return ExportPlan(manifest, image_dir, config, rootfs, options.compression)


def _bundle_parts(bundle: Path, *, check: bool = True) -> tuple[bytes, Path]:
    """The bundle's config (as it is, or rewritten to find its rootfs at ``rootfs`` if it was
    elsewhere), and the rootfs. The config is read as a start reads it (:mod:`..bundle`: a
    regular file of the bundle's own; a FIFO there held the daemon's one thread in open())."""
    try:
        document, config = read_config(bundle)
    except InvalidRequest as exc:
        raise InvalidRequest(f"cannot export the bundle: {exc.message}") from None
    root = config.get("root")
    path = root.get("path") if isinstance(root, dict) else None
    if not isinstance(path, str):
        raise InvalidRequest(
            f"cannot export the bundle: {bundle / CONFIG_NAME} names no root.path for its rootfs"
        )
    rootfs = bundle / path
    if not rootfs.is_dir():
        raise InvalidRequest(f"cannot export the bundle: its rootfs {rootfs} is not a directory")
    if check:
        _check_importable(rootfs)
    if path != ROOTFS:
        config["root"]["path"] = ROOTFS  # wherever it was, it lands in the bundle
        document = json.dumps(config, indent=2).encode()
    return document, rootfs


def _check_importable(rootfs: Path) -> None:
    """InvalidRequest naming what in the rootfs no import takes (:mod:`.devices`): sent, it
    would fail the import once all that came before it was copied (a move, after its first
    round). Directories are read, never followed through a link, by the export's own walk
    (:func:`_tree`); only the directories (to check the one opened is the one listed) and the
    entries that are neither directories, files nor symlinks are stat'ed."""
    refused: list[str] = []
    with _opened_directory(rootfs) as directory:
        for relative, info in _special_entries(directory, ""):
            if (reason := refusal(info)) is not None:
                refused.append(f"{quoted(relative)} ({reason})")
    if not refused:
        return
    named = ", ".join(refused[:NAMED_REFUSALS])
    more = f" and {len(refused) - NAMED_REFUSALS} more" if len(refused) > NAMED_REFUSALS else ""
    raise InvalidRequest(
        f"cannot export the bundle: its rootfs holds what no import takes: {named}{more}."
        f" An archive carries only the device nodes every host gives every user ({CARRIED_NAMES}):"
        " take the others out of the rootfs (runc makes the devices its config lists in the"
        " container's /dev at each start and restore)"
    )


def _special_entries(directory: int, relative: str) -> Iterator[tuple[str, os.stat_result]]:
    """The entries under the open ``directory`` that are neither directories, regular files
    nor symlinks, with their lstat, names sorted (:func:`_tree`'s walk: no frame a level)."""
    for path, entry, _ in _tree(directory, relative):
        try:
            if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                continue
            if not entry.is_symlink():
                yield path, entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed: the export walks what is there then


class ExportPlan:
    def __init__(
        self,
        manifest: Manifest,
        image_dir: Path | None,
        config: bytes | None,
        rootfs: Path | None,
        compression: Compression,
    ) -> None:
        self.manifest = manifest
        self.compression = compression
        self._image_dir = image_dir
        self._config = config
        self._rootfs = rootfs
        self._writer = TarWriter(compression)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.compression]

    @property
    def entries(self) -> int:
        """Entries of the last :meth:`chunks` run."""
        return self._writer.entries

    @property
    def data_bytes(self) -> int:
        """Data bytes (before compression) of the last :meth:`chunks` run."""
        return self._writer.data_bytes

    async def chunks(self) -> AsyncIterator[bytes]:
        """The archive, in chunks. Each call produces a new archive (a new walk, new reads)."""
        self._writer = TarWriter(self.compression)
        index: list[str] = []
        async for chunk in self._writer.chunks(self._members(index)):
            yield chunk

    # --- what goes in ---------------------------------------------------------------------------

    def _members(self, index: list[str]) -> Iterator[Member]:
        name = self.manifest.checkpoint
        yield Member(MANIFEST_NAME, data=self.manifest.to_json())
        if name is not None and self._image_dir is not None:
            yield Member(CHECKPOINTS, data=None, directory=True)
            with _opened_directory(self._image_dir) as images:
                yield Member(f"{CHECKPOINTS}/{name}", at=(images, "."))
                # The walk yields each entry while its directory's fd is open: read at once.
                for relative, info, at in walk(images, ""):
                    yield Member(f"{CHECKPOINTS}/{name}/{relative}", at=at, info=info)
        if self._config is None or self._rootfs is None:
            return
        yield Member(CONFIG_NAME, data=self._config)
        since = self.manifest.since_ns
        with _opened_directory(self._rootfs) as rootfs:
            yield Member(ROOTFS, at=(rootfs, "."))
            for relative, info, at in walk(rootfs, ""):
                index.append(relative)
                changed = since is None or info.st_ctime_ns >= since
                if stat.S_ISDIR(info.st_mode) or changed:
                    yield Member(f"{ROOTFS}/{relative}", at=at, info=info)
        if self.manifest.bundle is BundleContent.CHANGES:
            yield Member(INDEX_NAME, data=json.dumps(index).encode())


#: File bytes one worker thread's turn of :class:`TarWriter` reads at most (a few tens of ms).
MAX_READ_PER_TURN = 8 * CHUNK


class TarWriter:
    """A tar stream of members (:class:`Member`), in chunks of about :data:`~.tarstream.CHUNK` bytes
    (compressed as asked): the export's, and ``docker cp``'s (:mod:`.paths`). A file with
    several names goes once, the others as hard links to it.

    Each chunk is made in a worker thread, members walked, opened and read there: a
    container's mounts may be a FUSE server's, which must never hold the event loop. One
    thread's turn makes a whole chunk, as many members as fill it: a turn for each member
    and for each piece of its file (about 90 us apiece here) made a copy of 5000 small
    files take 1.9 s."""

    def __init__(
        self,
        compression: Compression = Compression.NONE,
        *,
        owners: Callable[[int, int], tuple[int, int]] | None = None,
    ) -> None:
        self._compressor = tarstream.Compressor(compression)
        #: The owner (uid, gid) each header names for a file's host owner: a container's
        #: view through its user namespace (:mod:`.idmap`); None: the host's ids as they are.
        self._owners = owners
        self._links: dict[tuple[int, int], str] = {}
        #: Entries and data bytes (before compression) so far.
        self.entries = 0
        self.data_bytes = 0
        #: File bytes read in the current turn (:meth:`_next_chunk`).
        self._read = 0

    async def chunks(self, members: Iterator[Member]) -> AsyncIterator[bytes]:
        """The archive of ``members``, ended by the end-of-archive marker."""
        pieces = self._pieces(members)
        try:
            while (chunk := await trio.to_thread.run_sync(self._next_chunk, pieces)) is not None:
                if chunk:  # all that turn read compressed to nothing yet
                    yield chunk
        finally:
            # A client that leaves mid-stream: the open file and directories closed now, not
            # when the collector gets to them (no thread runs it: each turn is awaited). In a
            # thread, and shielded: a close waits for its file system (a FUSE server's FLUSH,
            # which may never come), and the event loop must not.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(pieces.close)

    def _next_chunk(self, pieces: Iterator[bytes]) -> bytes | None:
        """In a worker thread: the archive's next chunk, pieces joined up to about
        :data:`~.tarstream.CHUNK` bytes; None past its end. A turn reads at most
        :data:`MAX_READ_PER_TURN` of files, for what it reads may compress to almost nothing
        (zeros: 229 to 1 at gzip's level 1), and a cancelled export waits for its turn."""
        chunk: list[bytes] = []
        size = 0
        self._read = 0
        for piece in pieces:
            chunk.append(piece)
            size += len(piece)
            if size >= CHUNK or self._read >= MAX_READ_PER_TURN:
                break
        return b"".join(chunk) if chunk else None

    def _pieces(self, members: Iterator[Member]) -> Generator[bytes, None, None]:
        """In worker threads (a turn each chunk): every member's header and data, compressed,
        then the end-of-archive marker."""
        for member in members:
            self.entries += 1
            yield from self._member_pieces(member)
        yield self._compressor.feed(tarstream.END_OF_ARCHIVE) + self._compressor.finish()

    def _member_pieces(self, member: Member) -> Iterator[bytes]:
        """The member's header and data, compressed, a chunk at a time; nothing if its file
        vanished (or changed kind) since the walk saw it."""
        if member.at is None:
            info = tarfile.TarInfo(member.name)
            info.mtime = int(time.time())
            if member.directory:
                info.type, info.mode = tarfile.DIRTYPE, 0o700  # checkpoints/: memory images
                yield self._compressor.feed(tarstream.header(info))
                return
            data = member.data or b""
            info.size, info.mode = len(data), 0o644
            self.data_bytes += info.size
            yield self._compressor.feed(
                tarstream.header(info) + data + tarstream.padding(info.size)
            )
            return
        try:
            opened, info = _open_member(member, self._links)
        except (FileNotFoundError, NotADirectoryError, _Changed):
            return
        if self._owners is not None:
            info.uid, info.gid = self._owners(info.uid, info.gid)
        yield self._compressor.feed(tarstream.header(info))
        if opened is None:
            return
        with opened:
            remaining = info.size
            while remaining:
                length = min(CHUNK, remaining)
                data = opened.read(length)
                self._read += length
                if len(data) < length:  # shrunk since its header: zeros past its end
                    data += b"\0" * (length - len(data))
                yield self._compressor.feed(data)
                remaining -= length
            yield self._compressor.feed(tarstream.padding(info.size))
        self.data_bytes += info.size


class _Changed(Exception):
    """The entry changed kind between the walk and its reading."""


@attrs.frozen
class Member:
    name: str
    data: bytes | None = None
    directory: bool = False
    #: Where the entry is: an open directory fd and the name in it ("." for the directory).
    at: tuple[int, str] | None = None
    #: What the walk saw there (its lstat): what is opened must still be of its kind.
    info: os.stat_result | None = None
    #: Its header alone, as an empty directory or an empty file: a container's mount point,
    #: for an export that leaves out what is mounted there (docker export's).
    empty: bool = False


# A rootfs may belong to a running container, which can swap a directory for a symlink to the
# host's /etc at any moment: every name is resolved relative to an open directory fd with
# O_NOFOLLOW, never as a path, so the export never leaves the tree it walks.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: An entry pinned to be looked at (:func:`_open_member`): a link itself, and nothing opened.
_PIN_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def _opened_directory(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_member(
    member: Member, links: dict[tuple[int, int], str]
) -> tuple[BinaryIO | None, tarfile.TarInfo]:
    """The entry's tar header, and the entry opened for reading if it is a regular file.

    The entry is pinned first (``O_PATH``, which opens nothing: no FIFO's open, no device's),
    and the header is the pin's; only a regular file is opened, through the pin
    (:func:`..beneath.reopen`), so that what is read is the inode the header describes. A
    container can swap the entry at any moment: one no longer of the kind the walk saw (a
    file that is a FIFO or a device now) is left out, as one that vanished is.

    ``links`` maps the (device, inode) of files with several names to the first name archived:
    a further name becomes a hard link member.
    """
    assert member.at is not None
    directory, entry = member.at
    pinned = os.open(entry, _PIN_FLAGS, dir_fd=directory)
    try:
        return _pinned_member(member, pinned, links)
    finally:
        os.close(pinned)


def _pinned_member(
    member: Member, pinned: int, links: dict[tuple[int, int], str]
) -> tuple[BinaryIO | None, tarfile.TarInfo]:
    name = member.name
    info = os.fstat(pinned)
    if member.info is not None and stat.S_IFMT(info.st_mode) != stat.S_IFMT(member.info.st_mode):
        log.warning("%s left out: it changed kind after the walk saw it", name)
        raise _Changed
    tar = tarfile.TarInfo(name)
    tar.mode = stat.S_IMODE(info.st_mode)
    tar.uid, tar.gid = info.st_uid, info.st_gid
    tar.mtime = int(info.st_mtime)
    opened: BinaryIO | None = None
    key = (info.st_dev, info.st_ino)
    if member.empty:
        # A mount point: what the container's rootfs has there is hidden by the mount, and
        # is what its runtime made for it (an empty directory, or an empty file for a file
        # bind-mounted there); the header says so, with what the mount shows of it.
        tar.type = tarfile.DIRTYPE if stat.S_ISDIR(info.st_mode) else tarfile.REGTYPE
    elif stat.S_ISREG(info.st_mode) and key in links:
        tar.type, tar.linkname = tarfile.LNKTYPE, links[key]
    elif stat.S_ISREG(info.st_mode):
        opened = os.fdopen(beneath.reopen(pinned, os.O_RDONLY), "rb", buffering=0)
        if info.st_nlink > 1:
            links[key] = name
        tar.type, tar.size = tarfile.REGTYPE, info.st_size
    elif stat.S_ISDIR(info.st_mode):
        tar.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(info.st_mode):
        tar.type, tar.linkname = tarfile.SYMTYPE, os.readlink("", dir_fd=pinned)
    elif (reason := refusal(info)) is not None:
        # Made after the plan's check (a running container's mknod): no import takes it.
        log.warning("export: %s left out, %s that no import takes", name, reason)
        raise _Changed
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        tar.type = tarfile.CHRTYPE if stat.S_ISCHR(info.st_mode) else tarfile.BLKTYPE
        tar.devmajor, tar.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
    elif stat.S_ISFIFO(info.st_mode):
        tar.type = tarfile.FIFOTYPE
    else:
        raise _Changed  # a socket: tar has no type for it, left out (as docker and tar do)
    return opened, tar


#: A directory whose path in the walk is this long is listed, not entered: nothing under it has
#: a name the kernel takes whole (PATH_MAX), so no path-based tool makes it again, and the walk
#: holds an fd for each level it is down (a container can nest directories without end).
MAX_WALK_NAME = 4096


def walk(
    directory: int,
    relative: str,
    skip: frozenset[int] = frozenset(),
    keep_out: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, os.stat_result, tuple[int, str]]]:
    """Every entry under the open ``directory``, each directory before what it holds, names
    sorted: its path, its lstat, and where it is (valid until the walk goes on). A directory
    is entered as :func:`enter` enters it: not one on a device of ``skip`` (a container's
    /proc: yielded, not entered), nor one whose path is :data:`MAX_WALK_NAME` bytes or longer,
    nor one whose path is in ``keep_out`` (a container's mount points, for an export that
    leaves its mounts out: yielded, not entered)."""
    for path, entry, current in _tree(directory, relative, skip, keep_out):
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        yield path, info, (current, entry.name)


def _tree(
    directory: int,
    relative: str,
    skip: frozenset[int] = frozenset(),
    keep_out: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, os.DirEntry[str], int]]:
    """Every entry under the open ``directory``, each directory before what it holds, names
    sorted: its path, its entry (its type from the listing, its lstat once asked for), and
    the fd of its directory (valid until the walk goes on). Each directory is entered after
    it is yielded, if :func:`enter` enters it and its path is not in ``keep_out``.

    A stack of the directories it is in, not a call a level: a tree deeper than Python's
    recursion limit (a container's ``mkdir -p`` can make one) is walked whole."""
    # Each level: its fd (the caller's for the first), its path, its entries still to go.
    levels: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
    try:
        levels.append((directory, relative, _sorted_entries(directory)))
        while levels:
            current, prefix, entries = levels[-1]
            entry = next(entries, None)
            if entry is None:
                levels.pop()
                if current != directory:
                    os.close(current)
                continue
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            yield path, entry, current
            if path in keep_out:
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                seen = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed meanwhile
            inner = enter(current, entry.name, seen, path, skip)
            if inner is None:
                continue
            try:
                listing = _sorted_entries(inner)
            except BaseException:
                os.close(inner)
                raise
            levels.append((inner, path, listing))
    finally:
        for fd, _, _ in levels:
            if fd != directory:
                os.close(fd)


def enter(
    directory: int, name: str, seen: os.stat_result, path: str, skip: frozenset[int]
) -> int | None:
    """An fd on the directory ``name`` in ``directory`` to walk into, or None: not if the
    lstat ``seen`` says it is on a device of ``skip``, nor if ``path`` is too long; and only
    the directory ``seen`` describes. It is opened by name with ``O_NOFOLLOW`` (never
    through a link), then checked to be that inode: a container may swap it, or mount its
    /proc over it, between the look and the open, and the look decided to enter it."""
    if seen.st_dev in skip:
        return None
    if len(os.fsencode(path)) >= MAX_WALK_NAME:
        log.warning("%s is not entered: its path is past %d bytes", path, MAX_WALK_NAME)
        return None
    try:
        inner = os.open(name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=directory)
    except OSError:
        return None  # removed, or no longer a directory (O_NOFOLLOW: a symlink fails here)
    now = os.fstat(inner)
    if (now.st_dev, now.st_ino) != (seen.st_dev, seen.st_ino):
        os.close(inner)
        log.warning("%s is not entered: it was replaced (or mounted over) after it was seen", path)
        return None
    return inner


def _sorted_entries(directory: int) -> Iterator[os.DirEntry[str]]:
    with os.scandir(directory) as listing:
        return iter(sorted(listing, key=lambda entry: entry.name))
