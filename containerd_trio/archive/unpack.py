"""Import a checkpoint archive: unpack an untrusted upload under a bundle, checking everything.

The archive is unpacked into a staging directory beside its destination and moved into place
only once all of it has arrived and passed every check, so a broken, truncated or hostile
archive leaves nothing behind (the staging directory is removed, also when the upload is
cancelled). Every refusal is an :class:`~containerd_trio.errors.InvalidRequest` (400) naming the
member and the problem, or a :class:`~containerd_trio.errors.Conflict` (409) if the checkpoint
or bundle exists already. What is checked:

- the layout (see :mod:`.layout`): the manifest first, then only the checkpoint it names, and
  the bundle's parts if it says they come; no absolute name, no ``..``, no name twice;
- no member is written through a symlink or a file: each name's directories are directories
  this import made, and files are created with ``O_EXCL | O_NOFOLLOW``;
- symlinks: only in the rootfs, where a relative target must stay inside the rootfs (an
  absolute one is a path in the container, as in any image), and the ``parent`` link of a
  checkpoint to a sibling checkpoint; hard links only to a file of this archive, same area;
- device nodes only in the rootfs, and only the character devices every host gives every
  user (:mod:`.devices`: null, zero, full, random, urandom, tty, ptmx, and console for root
  alone), made owned by root with at most a host's mode; no other device (a ``dev/sda``
  readable by all is a way to root for any host user who can reach the bundle directory), no
  unknown member types; setuid and setgid bits are dropped unless the limits keep them (a
  setuid-root program in a bundle is the same way to root);
- FIFOs only in the rootfs, made with ``mkfifo`` (which makes the name itself, never through a
  link) and given the owner, mode and time as a file is;
- sizes: per file, in total, and the number of entries (:class:`ImportLimits`); the manifest,
  config.json and the index are bounded small;
- completeness: CRIU's ``inventory.img``, the checkpoint's metadata (for a checkpoint), and
  ``config.json`` with its root at ``rootfs`` when the bundle comes along; what a checkpoint
  kept of its container (its limits, its start's process), if it came, must read as its
  restore reads it.

With ``changes``, the bundle exists on the target and is updated: its config.json replaced, the
changed entries moved in, what the index does not list removed, each directory of the rootfs
opened beneath it without a link (:mod:`..beneath`): a container that runs from the rootfs may
swap one for a link to a host directory meanwhile, which fails the import instead of being
followed. That last step runs after the whole archive was checked, but is not atomic: an I/O
error in it (a full disk) leaves the rootfs partly updated, which the error then says.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from pathlib import Path

import attrs
import trio

from .. import beneath, checkpoints
from ..bundle import CONFIG_NAME, MAX_CONFIG_BYTES
from ..errors import Conflict, InvalidRequest, NotFound, quoted
from ..ids import quoted_id
from ..mounts import remove_tree
from ..validation import check_id
from .devices import CARRIED_NAMES, CarriedDevice, carried, device_kind
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
from .tarstream import MAX_METADATA, ArchiveError, Entry, Kind, TarReader

#: What the kernel refuses because of what the archive holds (not of the disk): a name or a
#: link target too long (for the path it is unpacked at), too many links to one file.
_ARCHIVE_FAULTS = frozenset({errno.ENAMETOOLONG, errno.EMLINK})
MAX_INDEX = 64 << 20
_SETID = stat.S_ISUID | stat.S_ISGID
#: What a member may be (a device node only as :meth:`_Unpacker._carried_device` allows, a
#: FIFO only in the rootfs).
_MEMBER_KINDS = frozenset(
    {
        Kind.FILE, Kind.DIRECTORY, Kind.SYMLINK, Kind.HARDLINK, Kind.CHAR_DEVICE,
        Kind.BLOCK_DEVICE, Kind.FIFO,
    }
)  # fmt: skip


@attrs.frozen
class ImportLimits:
    """What an untrusted archive may hold: an import's, and ``docker cp``'s (:mod:`.paths`)."""

    max_total_bytes: int = 32 << 30
    max_file_bytes: int = 16 << 30
    max_entries: int = 500_000
    keep_setuid: bool = False

    def check(self, entry: Entry, entries: int, data_bytes: int) -> None:
        """ArchiveError if ``entry``, the ``entries``-th, takes the archive past a limit
        (``data_bytes``: what came before it)."""
        if entries > self.max_entries:
            raise ArchiveError(f"it has more than {self.max_entries} entries")
        if entry.size > self.max_file_bytes:
            raise ArchiveError(
                f"{quoted(entry.name)} has {entry.size} bytes, more than the"
                f" {self.max_file_bytes} allowed per file"
            )
        if data_bytes + entry.size > self.max_total_bytes:
            raise ArchiveError(
                f"it holds more than the {self.max_total_bytes} bytes allowed in total"
            )

    def mode(self, entry: Entry) -> int:
        """The mode ``entry`` is made with: setuid and setgid dropped unless kept."""
        return entry.mode if self.keep_setuid else entry.mode & ~_SETID


@attrs.frozen
class Placement:
    """A directory an import is about to move into place (the bundle, or the checkpoint's
    directory): where it goes, and its identity, which the rename keeps. Whoever must know
    later whether the move happened (a server that died meanwhile) finds the destination
    with that identity, or not: never another's directory taken for it."""

    destination: Path
    device: int
    inode: int


@attrs.frozen
class ImportResult:
    checkpoint: str | None  # None: the bundle alone
    kind: ImageKind
    bundle_content: BundleContent
    bundle: Path
    entries: int
    data_bytes: int
    archive_bytes: int


async def import_archive(
    chunks: AsyncIterable[bytes],
    bundle: Path,
    *,
    limits: ImportLimits | None = None,
    name: str | None = None,
    accept: Callable[[Manifest], None] | None = None,
    placing: Callable[[Placement], None] | None = None,
) -> ImportResult:
    """Unpack the uploaded archive under ``bundle``; ``name``, if given, is the checkpoint it
    must hold, and ``accept``, if given, is shown the manifest before anything is unpacked
    (it raises a DaemonError to refuse it). ``placing``, if given, is told what is about to
    be moved into place, once all of it has passed; if the import then fails, it was not
    moved. Raises InvalidRequest (400), Conflict (409) or
    NotFound (404, a ``changes`` or checkpoint-only archive for a bundle that is not
    there)."""
    if name is not None:
        check_id(name, "checkpoint name")
    if not bundle.is_absolute():
        raise InvalidRequest(f"the target bundle path {quoted(str(bundle))} is not absolute")
    unpacker = _Unpacker(bundle, limits or ImportLimits())
    try:
        return await unpacker.run(aiter(chunks), name, accept, placing)
    except ArchiveError as exc:
        raise InvalidRequest(f"invalid checkpoint archive: {exc}") from None
    finally:
        with trio.move_on_after(60, shield=True):
            await unpacker.discard()


@attrs.define
class _Directory:
    path: Path
    mode: int
    uid: int
    gid: int
    mtime: float


class _Unpacker:
    def __init__(self, bundle: Path, limits: ImportLimits) -> None:
        self.bundle = bundle
        self.limits = limits
        self.staging: Path | None = None
        self.manifest = Manifest(checkpoint="-")
        self.kinds: dict[str, Kind] = {}  # what this import made, by archive name
        self.implicit: set[str] = set()  # directories made for a member before their own entry
        self.directories: list[_Directory] = []  # their metadata, applied at the end
        self.data_bytes = 0
        self.config: bytes | None = None
        self.index: bytes | None = None
        self.made_parents: list[Path] = []  # directories made for a new bundle, outermost first
        self.done = False

    async def discard(self) -> None:
        """Remove whatever an import that did not complete made."""
        if self.staging is not None:
            await trio.to_thread.run_sync(remove_tree, self.staging)
            self.staging = None
        if not self.done:
            for directory in reversed(self.made_parents):
                try:
                    directory.rmdir()  # only if still empty: never what others put there
                except OSError:
                    break

    async def run(
        self,
        chunks: AsyncIterator[bytes],
        name: str | None,
        accept: Callable[[Manifest], None] | None,
        placing: Callable[[Placement], None] | None,
    ) -> ImportResult:
        reader = TarReader(chunks)
        first = await reader.next_entry()
        if first is None or first.name != MANIFEST_NAME or first.kind is not Kind.FILE:
            raise ArchiveError(f"the archive does not start with its manifest {MANIFEST_NAME}")
        self.manifest = Manifest.from_json(await _read_small(reader, first, MAX_METADATA))
        held = self.manifest.checkpoint
        if name is not None and held != name:
            holds = "no checkpoint" if held is None else f"checkpoint {quoted_id(held)}"
            raise ArchiveError(f"it holds {holds}, not {quoted_id(name)}")
        if accept is not None:
            accept(self.manifest)
        self.staging = self._make_staging()
        while (entry := await reader.next_entry()) is not None:
            await self._unpack(reader, entry)
        self._check_complete()
        if placing is not None and (placement := self._placement()) is not None:
            placing(placement)
        await trio.to_thread.run_sync(self._commit)
        self.done = True
        return ImportResult(
            checkpoint=self.manifest.checkpoint,
            kind=self.manifest.kind,
            bundle_content=self.manifest.bundle,
            bundle=self.bundle,
            entries=reader.entries,
            data_bytes=self.data_bytes,
            archive_bytes=reader.raw_bytes,
        )

    # --- where it goes --------------------------------------------------------------------------

    @property
    def _destination(self) -> Path | None:
        name = self.manifest.checkpoint
        return None if name is None else checkpoints.checkpoints_dir(self.bundle) / name

    def _placement(self) -> Placement | None:
        """What :meth:`_commit` will move into place: the whole staging directory onto the
        bundle (a checkpoint within it goes along), or the checkpoint's directory."""
        assert self.staging is not None
        if self.manifest.bundle is BundleContent.FULL:
            moved, destination = self.staging, self.bundle
        elif (destination_or_none := self._destination) is not None:
            moved, destination = self._staged_checkpoint(), destination_or_none
        else:
            return None
        identity = os.lstat(moved)
        return Placement(destination, identity.st_dev, identity.st_ino)

    def _staged_checkpoint(self) -> Path:
        assert self.staging is not None and self.manifest.checkpoint is not None
        return checkpoints.checkpoints_dir(self.staging) / self.manifest.checkpoint

    def _make_staging(self) -> Path:
        """Check the target, then make the staging directory on the same filesystem."""
        token = secrets.token_hex(4)
        if self.manifest.bundle is BundleContent.FULL:
            if self.bundle.exists() and (not self.bundle.is_dir() or any(self.bundle.iterdir())):
                raise Conflict(f"the target bundle {self.bundle} exists already")
            missing = [p for p in reversed(self.bundle.parents) if not p.exists()]
            for directory in missing:
                self._make_directory(directory, parent=True)
                self.made_parents.append(directory)
            staging = self.bundle.parent / f".{self.bundle.name}.import-{token}"
        else:
            if not (self.bundle / CONFIG_NAME).is_file():
                raise NotFound(
                    f"the target bundle {self.bundle} has no {CONFIG_NAME}: send the archive"
                    " with its bundle"
                )
            if self.manifest.bundle is BundleContent.CHANGES:
                self._check_rootfs()
            if self._destination is not None:
                checkpoints.check_directory(self.bundle)  # 400 for a link or a file
            staging = self.bundle / f".import-{self.manifest.checkpoint or 'bundle'}-{token}"
        if self._destination is not None and self._destination.exists():
            raise Conflict(
                f"checkpoint {quoted_id(self._destination.name)} already exists in"
                f" {self._destination.parent}"
            )
        self._make_directory(staging, 0o700)
        return staging

    def _check_rootfs(self) -> None:
        """The rootfs that changes update is a directory of the bundle's own: through a link,
        the update removed what the index does not list wherever the link pointed."""
        rootfs = self.bundle / ROOTFS
        kind = _lstat_kind(rootfs)
        if kind == stat.S_IFLNK:
            raise _linked_rootfs(rootfs)
        if kind != stat.S_IFDIR:
            raise NotFound(f"the target bundle {self.bundle} has no rootfs to update")

    def _open_rootfs(self, bundle: Path) -> int:
        """An fd on ``bundle``'s rootfs, a directory of its own (checked before the archive
        came, by :meth:`_check_rootfs`, and again here: a link put there since is refused)."""
        directory = beneath.open_directory(bundle)
        try:
            return beneath.open_beneath(directory, ROOTFS, _DIRECTORY)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _linked_rootfs(bundle / ROOTFS) from None
            raise InvalidRequest(f"cannot open {bundle / ROOTFS}: {exc.strerror}") from None
        finally:
            os.close(directory)

    def _make_directory(self, path: Path, mode: int = 0o777, *, parent: bool = False) -> None:
        """mkdir on the client's path: 400 where the kernel will not (a file or a link loop on
        the way, a read-only filesystem); a ``parent`` made meanwhile is fine."""
        try:
            path.mkdir(mode=mode)
            return
        except FileExistsError:
            if path.is_dir():
                if parent:
                    return
                raise
            reason = "it is not a directory"  # a link loop says EEXIST
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        raise InvalidRequest(f"cannot make {path} for the bundle {self.bundle}: {reason}")

    # --- one member -----------------------------------------------------------------------------

    async def _unpack(self, reader: TarReader, entry: Entry) -> None:
        self.limits.check(entry, reader.entries, self.data_bytes)
        parts = member_parts(entry.name)
        key = "/".join(parts)
        area = self._area(parts, entry)
        if key in self.kinds and not (entry.kind is Kind.DIRECTORY and key in self.implicit):
            raise ArchiveError(f"{quoted(entry.name)} appears twice")
        if entry.kind not in _MEMBER_KINDS:
            raise ArchiveError(
                f"{quoted(entry.name)} is a {entry.kind.value}, which is not allowed"
            )
        if key == INDEX_NAME:
            self.index = await _read_small(reader, entry, MAX_INDEX)
            self.kinds[key] = Kind.FILE
            return
        try:
            await self._make(reader, entry, parts, area)
        except OSError as exc:
            if exc.errno not in _ARCHIVE_FAULTS:
                raise
            raise ArchiveError(f"{quoted(entry.name)} cannot be unpacked: {exc.strerror}") from None
        self.kinds[key] = entry.kind

    async def _make(self, reader: TarReader, entry: Entry, parts: list[str], area: str) -> None:
        key = "/".join(parts)
        path = self._parent_directories(parts)
        mode = self.limits.mode(entry)
        if entry.kind is Kind.DIRECTORY:
            if key in self.implicit:
                self.implicit.discard(key)
            else:
                path.mkdir(mode=0o700)
            self.directories.append(_Directory(path, mode, entry.uid, entry.gid, entry.mtime))
        elif entry.kind is Kind.FILE:
            limit = MAX_CONFIG_BYTES if key == CONFIG_NAME else entry.size
            if entry.size > limit:
                raise ArchiveError(f"{quoted(entry.name)} is larger than {limit} bytes")
            await self._write_file(reader, entry, path, mode)
        elif entry.kind is Kind.SYMLINK:
            self._check_symlink(parts, area, entry)
            os.symlink(entry.linkname, path)
            os.chown(path, entry.uid, entry.gid, follow_symlinks=False)
            os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)
        elif entry.kind is Kind.CHAR_DEVICE or entry.kind is Kind.BLOCK_DEVICE:
            self._make_device(path, area, entry)
        elif entry.kind is Kind.FIFO:
            self._make_fifo(path, area, entry, mode)
        else:
            source = self._hardlink_source(parts, area, entry)
            os.link(source, path, follow_symlinks=False)

    def _area(self, parts: list[str], entry: Entry) -> str:
        """Which part of the layout the member belongs to; refuses anything else."""
        content = self.manifest.bundle
        head = parts[0]
        if head == CHECKPOINTS:
            if len(parts) == 1 or (len(parts) == 2 and parts[1] == self.manifest.checkpoint):
                if entry.kind is not Kind.DIRECTORY:
                    raise ArchiveError(f"{quoted(entry.name)} must be a directory")
                return CHECKPOINTS
            if len(parts) == 3 and parts[1] == self.manifest.checkpoint:
                return CHECKPOINTS
        elif parts == [CONFIG_NAME] and content is not BundleContent.NONE:
            if entry.kind is not Kind.FILE:
                raise ArchiveError(f"{quoted(entry.name)} must be a regular file")
            return CONFIG_NAME
        elif head == ROOTFS and content is not BundleContent.NONE:
            return ROOTFS
        elif parts == [INDEX_NAME] and content is BundleContent.CHANGES:
            if entry.kind is not Kind.FILE:
                raise ArchiveError(f"{quoted(entry.name)} must be a regular file")
            return INDEX_NAME
        raise ArchiveError(f"{quoted(entry.name)} is outside the archive's layout")

    def _parent_directories(self, parts: list[str]) -> Path:
        """The member's path in staging, its directories made (by this import, never found)."""
        assert self.staging is not None
        for depth in range(1, len(parts)):
            key = "/".join(parts[:depth])
            kind = self.kinds.get(key)
            if kind is None:
                (self.staging / key).mkdir(mode=0o700)
                self.kinds[key] = Kind.DIRECTORY
                self.implicit.add(key)
            elif kind is not Kind.DIRECTORY:
                raise ArchiveError(
                    f"{quoted('/'.join(parts))} goes through the {kind.value} {quoted(key)}"
                )
        return self.staging.joinpath(*parts)

    async def _write_file(self, reader: TarReader, entry: Entry, path: Path, mode: int) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            while data := await reader.read_data():
                os.write(fd, data)  # a regular file: short writes only on a full disk
                self.data_bytes += len(data)
            set_metadata(fd, entry, mode)
        finally:
            os.close(fd)

    def _make_fifo(self, path: Path, area: str, entry: Entry, mode: int) -> None:
        """A FIFO of the rootfs, with the owner, time and ``mode`` (setid as for a file) the
        archive says: a FIFO reaches nothing of the host, whoever owns it. mkfifo makes the
        name itself (it fails on whatever is there, a link included), and the metadata is set
        on the FIFO opened: without following a link, and without waiting for a writer."""
        if area != ROOTFS:
            raise ArchiveError(
                f"{quoted(entry.name)} is a FIFO: an archive carries FIFOs only in its rootfs"
            )
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            set_metadata(fd, entry, mode)
        finally:
            os.close(fd)

    def _make_device(self, path: Path, area: str, entry: Entry) -> None:
        """A node of a device the archive may carry (:mod:`.devices`), owned by root (its
        owner could widen the mode), with at most the mode a host gives it (the console:
        root's alone); the group stays, with no more than those bits."""
        device = self._carried_device(area, entry)
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(entry.devmajor, entry.devminor))
        except PermissionError as exc:
            raise ArchiveError(
                f"{quoted(entry.name)} cannot be unpacked: this daemon may not make device"
                f" nodes ({exc.strerror})"
            ) from None
        os.chown(path, 0, entry.gid, follow_symlinks=False)
        os.chmod(path, entry.mode & device.modes)  # no setid, sticky or wider bits
        os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)

    def _carried_device(self, area: str, entry: Entry) -> CarriedDevice:
        block = entry.kind is Kind.BLOCK_DEVICE
        kind = device_kind(block, entry.devmajor, entry.devminor)
        if area != ROOTFS:
            raise ArchiveError(
                f"{quoted(entry.name)} is {kind}: an archive carries device nodes only in its"
                " rootfs"
            )
        device = carried(block, entry.devmajor, entry.devminor)
        if device is None:
            raise ArchiveError(
                f"{quoted(entry.name)} is {kind}, which no archive may carry: only the"
                f" character devices {CARRIED_NAMES}"
            )
        return device

    def _check_symlink(self, parts: list[str], area: str, entry: Entry) -> None:
        target = entry.linkname
        if area == CHECKPOINTS and parts[-1] == PARENT_LINK and parent_of(target) is not None:
            return
        if area != ROOTFS:
            raise ArchiveError(f"{quoted(entry.name)} is a symlink, allowed only in the rootfs")
        if not target or "\0" in target:
            raise ArchiveError(f"the symlink {quoted(entry.name)} has no target")
        if target.startswith("/"):
            return  # a path inside the container, resolved by the kernel under its root
        depth = len(parts) - 2  # directories between rootfs/ and the link
        for part in target.split("/"):
            depth += -1 if part == ".." else 0 if part in ("", ".") else 1
            if depth < 0:
                raise ArchiveError(
                    f"the symlink {quoted(entry.name)} points out of the rootfs: {quoted(target)}"
                )

    def _hardlink_source(self, parts: list[str], area: str, entry: Entry) -> Path:
        assert self.staging is not None
        source = member_parts(entry.linkname)
        key = "/".join(source)
        same_area = source[0] == parts[0] and (area != CHECKPOINTS or source[:2] == parts[:2])
        if not same_area or self.kinds.get(key) not in (Kind.FILE, Kind.HARDLINK):
            raise ArchiveError(
                f"the hard link {quoted(entry.name)} must name a file of this archive's"
                f" {area}, not {quoted(entry.linkname)}"
            )
        return self.staging / key

    # --- the end --------------------------------------------------------------------------------

    def _check_complete(self) -> None:
        assert self.staging is not None
        name = self.manifest.checkpoint
        if name is None:
            self._check_bundle_complete()
            return
        images = checkpoints.checkpoints_dir(self.staging) / name
        if self.kinds.get(f"{CHECKPOINTS}/{name}/inventory.img") is not Kind.FILE:
            raise ArchiveError(f"it holds no CRIU images for {quoted(name)} (no inventory.img)")
        if self.manifest.kind is ImageKind.CHECKPOINT:
            if self.kinds.get(f"{CHECKPOINTS}/{name}/{checkpoints.METADATA_NAME}") is not Kind.FILE:
                # Said here: load's words are for a directory of a bundle, not of an archive.
                raise ArchiveError(
                    f"checkpoint {quoted_id(name)} not found in the archive: it holds no"
                    f" {checkpoints.METADATA_NAME}"
                )
            try:
                info = checkpoints.load(self.staging, name)
                # What the checkpoint kept of its container (limits, the start's process),
                # read as its restore will read them: a restore from anyone's archive takes
                # them for what ran, so one that is not that refuses the archive now.
                checkpoints.kept_resources(self.staging, name)
                checkpoints.kept_process(self.staging, name)
            except NotFound as exc:
                raise ArchiveError(str(exc).replace(str(self.staging), "the archive")) from None
            if info.name != name:
                raise ArchiveError(
                    f"its checkpoint.json names {quoted(info.name)}, not {quoted(name)}"
                )
        parent = images / PARENT_LINK
        if parent.is_symlink():
            parent_name = parent_of(os.readlink(parent))
            if self.manifest.bundle is BundleContent.FULL or parent_name is None:
                raise ArchiveError(f"checkpoint {quoted_id(name)} has a parent that cannot be here")
            if not (checkpoints.checkpoints_dir(self.bundle) / parent_name).is_dir():
                raise ArchiveError(
                    f"checkpoint {quoted_id(name)} builds on {quoted_id(parent_name)}, which the"
                    " target bundle does not have: import that first"
                )
        if self.manifest.bundle is not BundleContent.NONE:
            self._check_bundle_complete()

    def _check_bundle_complete(self) -> None:
        assert self.staging is not None
        if self.kinds.get(CONFIG_NAME) is not Kind.FILE:
            raise ArchiveError(f"it says the bundle comes along, but holds no {CONFIG_NAME}")
        try:
            config = json.loads((self.staging / CONFIG_NAME).read_bytes())
            root = config["root"]["path"]
        except (ValueError, TypeError, KeyError, RecursionError):
            raise ArchiveError(f"its {CONFIG_NAME} is not an OCI config with root.path") from None
        if root != ROOTFS:
            raise ArchiveError(f"its {CONFIG_NAME} has root.path {quoted(root)}, not {ROOTFS!r}")
        if self.kinds.get(ROOTFS) is not Kind.DIRECTORY:
            raise ArchiveError("it says the bundle comes along, but holds no rootfs")
        if self.manifest.bundle is BundleContent.CHANGES:
            self._index_paths()  # checked now, used in the commit

    def _index_paths(self) -> set[str]:
        if self.index is None:
            raise ArchiveError(f"it holds rootfs changes but no {INDEX_NAME}")
        try:
            paths = json.loads(self.index)
        except (ValueError, RecursionError):
            raise ArchiveError(f"its {INDEX_NAME} is not JSON") from None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ArchiveError(f"its {INDEX_NAME} is not a list of paths")
        return {"/".join(member_parts(f"{ROOTFS}/{path}")[1:]) for path in paths}

    def _commit(self) -> None:
        """In a worker thread: apply directory metadata, move everything into place."""
        assert self.staging is not None
        for directory in reversed(self.directories):  # children first: their mtime sticks
            os.chown(directory.path, directory.uid, directory.gid)
            os.chmod(directory.path, directory.mode)
            os.utime(directory.path, (directory.mtime, directory.mtime))
        content = self.manifest.bundle
        if content is BundleContent.FULL:
            try:
                os.rename(self.staging, self.bundle)  # onto nothing, or an empty directory
            except OSError as exc:
                raise Conflict(f"the target bundle {self.bundle}: {exc.strerror}") from None
            self.staging = None
            return
        if content is BundleContent.CHANGES:
            staged, rootfs = self._open_rootfs(self.staging), self._open_rootfs(self.bundle)
            try:
                _apply_changes(staged, rootfs, self._index_paths())
                os.replace(self.staging / CONFIG_NAME, self.bundle / CONFIG_NAME)
            except OSError as exc:
                raise InvalidRequest(
                    f"the rootfs of {self.bundle} was left partly updated: {exc}"
                ) from None
            finally:
                os.close(staged)
                os.close(rootfs)
        if (name := self.manifest.checkpoint) is not None:
            checkpoints.place(self.bundle, self._staged_checkpoint(), name)


def _linked_rootfs(rootfs: Path) -> InvalidRequest:
    return InvalidRequest(
        f"{rootfs} is a symbolic link: an import updates a rootfs only inside the bundle,"
        " never through a link"
    )


def member_parts(name: str) -> list[str]:
    """A member name's components; refuses absolute names, ``..`` and empty names."""
    if name.startswith("/") or "\0" in name:
        raise ArchiveError(f"{quoted(name)} is an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts:
        raise ArchiveError(f"{quoted(name)} is an empty name")
    if ".." in parts:
        raise ArchiveError(f"{quoted(name)} climbs out with '..'")
    return parts


def set_metadata(fd: int, entry: Entry, mode: int) -> None:
    """The member's owner, then ``mode`` (a chown would clear setid bits set before it), then
    its modification time, on the entry this import made and holds open."""
    os.fchown(fd, entry.uid, entry.gid)
    os.fchmod(fd, mode)
    os.utime(fd, (entry.mtime, entry.mtime))


async def _read_small(reader: TarReader, entry: Entry, limit: int) -> bytes:
    if entry.size > limit:
        raise ArchiveError(f"{quoted(entry.name)} is larger than {limit} bytes")
    data = bytearray()
    while piece := await reader.read_data():
        data += piece
    return bytes(data)


def _lstat_kind(path: Path | str, dir_fd: int | None = None) -> int | None:
    try:
        return stat.S_IFMT(os.lstat(path, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return None


#: A directory of the rootfs or of the staged one, opened for listing and for its metadata.
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY


@contextlib.contextmanager
def _beneath(directory: int, relative: str) -> Iterator[int]:
    """An fd on ``relative`` beneath ``directory``, reached without a link (``ELOOP``)."""
    fd = beneath.open_beneath(directory, relative or ".", _DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def _remove(directory: int, name: str) -> None:
    """Remove ``name`` in ``directory`` (a tree, without following a link on the way)."""
    if _lstat_kind(name, directory) == stat.S_IFDIR:
        remove_tree(name, dir_fd=directory, ignore_errors=False)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=directory)


def _listing(directory: int) -> tuple[list[str], list[str]]:
    """The names in ``directory``: directories, and everything else (symlinks to directories
    included: nothing here follows a symlink)."""
    directories: list[str] = []
    others: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            (directories if entry.is_dir(follow_symlinks=False) else others).append(entry.name)
    return directories, others


def _apply_changes(staged: int, rootfs: int, index: set[str]) -> None:
    """Make the ``rootfs`` directory (an fd) what the source's was: remove what the index
    does not list, then move the ``staged`` entries in (directories are all staged, so each
    one's parents are real directories before anything is moved under them).

    Each directory is opened beneath ``rootfs`` without a link, and everything in it is done
    relative to that fd: a container that runs from the rootfs may swap any directory of it
    for a link (to a host directory) meanwhile, which a path walked again for each entry
    followed, as root. Such a link fails the import (``ELOOP``), where the link is."""
    stack = [""]
    while stack:
        relative = stack.pop()
        with _beneath(rootfs, relative) as directory:
            directories, others = _listing(directory)
            for name in directories + others:
                path = f"{relative}/{name}" if relative else name
                if path not in index:
                    _remove(directory, name)
                elif name in directories:
                    stack.append(path)
    stack = [""]
    while stack:
        relative = stack.pop()
        with _beneath(staged, relative) as source, _beneath(rootfs, relative) as target:
            directories, others = _listing(source)
            for name in directories:
                if _lstat_kind(name, target) != stat.S_IFDIR:
                    _remove(target, name)
                    os.mkdir(name, 0o700, dir_fd=target)  # its own mode follows
                with _beneath(source, name) as made, _beneath(target, name) as there:
                    _copy_metadata(made, there)
                stack.append(f"{relative}/{name}" if relative else name)
            for name in others:
                if _lstat_kind(name, target) == stat.S_IFDIR:
                    remove_tree(name, dir_fd=target, ignore_errors=False)
                os.replace(name, name, src_dir_fd=source, dst_dir_fd=target)
    _copy_metadata(staged, rootfs)


def _copy_metadata(source: int, target: int) -> None:
    """The owner, mode and times of the ``source`` directory (an fd), onto ``target``'s."""
    info = os.fstat(source)
    os.fchown(target, info.st_uid, info.st_gid)
    os.fchmod(target, stat.S_IMODE(info.st_mode))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
