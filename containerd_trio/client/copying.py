"""``ctr-trio cp``: files between a container and this machine, as ``docker cp`` copies them.

``cp ID:SRC DEST`` and ``cp SRC ID:DEST``, ``-`` for a tar stream on stdout or stdin. Where
a copy lands follows docker's rules (docker/docker's ``archive.PrepareArchiveCopy``), the same
both ways (:func:`placement`): into a directory that exists (``cp ID:/etc .`` makes ``./etc``;
``SRC/.``, its contents), else as the new name (``cp ID:/etc /tmp/x`` makes ``/tmp/x`` with
``/etc``'s contents), a file onto a file; a directory onto a file, or a file into a directory
that is not there (``DEST/``), is refused.

The daemon sends a path as a tar stream whose names start with the path's last component
(``GET /containers/{id}/archive``) and takes one into a directory (``PUT``); here the first
component of each name is replaced where the copy gets a new name. Out, the stream is
unpacked as it comes, never whole in memory or on disk; in, it is written as it is sent.

``ctr-trio export ID [-o FILE]`` (:func:`export`) is ``docker export``: the container's ``/``
through the same route, what is mounted in it left out, as a tar archive on stdout or in
FILE. Imported only by ``cp`` and ``export`` (tarfile, for two commands).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import posixpath
import stat
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, NamedTuple, cast

from . import pathstat
from .errors import ClientError, PathNotFound
from .output import Output

if TYPE_CHECKING:
    from .http import Client

EXIT_OK = 0
EXIT_ERROR = 1


class CopyError(ClientError):
    """The copy cannot be made as asked (said before anything is written, where it can be)."""


class Side(NamedTuple):
    """One side of ``cp``: a container's path, or a local one (``container`` None)."""

    container: str | None
    path: str


def side(text: str) -> Side:
    """``ID:PATH`` is a container's path; a path that starts with ``/`` or ``.``, or has no
    ``:``, is local (``./a:b`` is a local file named ``a:b``), as docker reads it."""
    if text.startswith(("/", ".")) or ":" not in text:
        return Side(None, text)
    container, _, path = text.partition(":")
    # A path in the container that is not absolute is taken from its / (docker's: from its
    # working directory, which a bundle's is too, mostly).
    return Side(container, path if path.startswith("/") else "/" + path)


class Placement(NamedTuple):
    """Where a copy goes: the directory its archive is unpacked into, and the name its first
    component is given there (None: the archive's own)."""

    directory: str
    rename: str | None


def placement(
    source: str, source_is_dir: bool, destination: str, exists: bool, is_dir: bool
) -> Placement:
    """docker's rules: a directory that exists takes the copy under its own name (its
    contents, for ``SRC/.``, whose names start with ``.``); anything else gets the
    destination's name, in the destination's directory."""
    if exists and is_dir:
        return Placement(destination, None)
    if exists and source_is_dir:
        raise CopyError(f"cannot copy a directory to a file: {destination!r} is a file")
    if not exists and not source_is_dir and destination.endswith("/"):
        raise CopyError(f"the destination directory {destination!r} does not exist")
    parent, name = posixpath.split(destination.rstrip("/") or "/")
    return Placement(parent or ".", name)


def _renamed(name: str, rename: str | None) -> str:
    """``name`` with its first component replaced by ``rename``."""
    if rename is None:
        return name
    _, _, rest = name.lstrip("/").partition("/")
    return f"{rename}/{rest}" if rest.strip("/") else rename


def cp(client: Client, args: argparse.Namespace, out: Output) -> int:
    source, destination = side(args.source), side(args.destination)
    try:
        if source.container is not None and destination.container is not None:
            raise CopyError("copying between containers is not supported: one side is local")
        if source.container is None and destination.container is None:
            raise CopyError(
                "one side must be a container's path, ID:PATH (a local path with a colon: ./a:b)"
            )
        if source.container is not None:
            _from_container(client, source.container, source.path, destination.path, args, out)
        else:
            assert destination.container is not None
            _to_container(client, source.path, destination.container, destination.path, args)
    except CopyError as exc:
        out.error(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # the local side
        out.error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return EXIT_ERROR
    return EXIT_OK


# --- out of a container -------------------------------------------------------------------------


def _from_container(
    client: Client, container: str, path: str, local: str, args: argparse.Namespace, out: Output
) -> None:
    rename_link: str | None = None
    if args.follow_link:
        stat_of = pathstat.decode(client.path_stat(container, path))
        if pathstat.is_link(stat_of) and stat_of.get("linkTarget"):
            rename_link = posixpath.basename(path.rstrip("/")) or "."
            path = stat_of["linkTarget"]
    with client.copy_from(container, path) as (header, body):
        if local == "-":
            stdout = _binary(out.stdout)
            for piece in body:
                stdout.write(piece)
            stdout.flush()
            return
        described = pathstat.decode(header)
        exists, is_dir = _local_kind(local)
        where = placement(path, pathstat.is_dir(described), local, exists, is_dir)
        rename = where.rename or rename_link
        _unpack(_Pieces(body), where.directory, rename, keep_owner=args.archive)


def _local_kind(path: str) -> tuple[bool, bool]:
    """Whether ``path`` is there, and is a directory (a link followed, as docker does)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path.rstrip("/")) or "."
        if not os.path.isdir(parent):
            raise CopyError(f"the directory of {path!r} does not exist: {parent!r}") from None
        return False, False
    return True, stat.S_ISDIR(info.st_mode)


class _Pieces:
    """The answer's body as a file for tarfile's stream mode (read in the sizes it asks)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class _Unpacker(tarfile.TarFile):
    """tarfile, owners left to whoever runs ``cp`` unless ``-a`` (docker's ``cp`` without
    ``-a`` does not chown either). Without the owner, no setuid or setgid bit: a file of a
    user of the container would become a set-id program of whoever runs ``cp`` (root's),
    as tar drops the bits of an owner it does not restore, and as the daemon's copy in
    drops them."""

    keep_owner = False

    def chown(self, tarinfo: tarfile.TarInfo, targetpath: Any, numeric_owner: bool) -> None:
        if self.keep_owner:
            super().chown(tarinfo, targetpath, numeric_owner=True)

    def chmod(self, tarinfo: tarfile.TarInfo, targetpath: Any) -> None:
        if not self.keep_owner and tarinfo.mode & _SETID:
            tarinfo = copy.copy(tarinfo)
            tarinfo.mode &= ~_SETID
        super().chmod(tarinfo, targetpath)


_SETID = stat.S_ISUID | stat.S_ISGID


def _unpack(source: _Pieces, directory: str, rename: str | None, *, keep_owner: bool) -> None:
    """Unpack the stream into ``directory``, each name's first component ``rename``d. The
    names are the daemon's (a walk's: no ``..``, nothing under a link of the archive); they
    are checked again all the same, and nothing is written through a link on the way."""
    archive = _Unpacker.open(fileobj=cast(IO[bytes], source), mode="r|")
    assert isinstance(archive, _Unpacker)
    archive.keep_owner = keep_owner
    directories: list[tuple[tarfile.TarInfo, str]] = []
    with archive:
        for member in archive:
            member.name = _checked(_renamed(member.name, rename))
            if member.name == ".":
                continue  # the directory copied into: left as it is, as docker's cp leaves it
            if member.islnk():
                member.linkname = _checked(_renamed(member.linkname, rename))
            _no_link_on_the_way(directory, member.name)
            target = os.path.join(directory, member.name)
            _make_room(target, member)
            # A directory's mode and time at the end, children first, as tarfile's
            # extractall sets them: what goes into it afterwards changes its time.
            archive.extract(member, directory, set_attrs=not member.isdir())
            if member.isdir():
                directories.append((member, target))
        for member, target in reversed(directories):
            archive.chown(member, target, numeric_owner=True)
            archive.utime(member, target)
            archive.chmod(member, target)


def _checked(name: str) -> str:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise CopyError(f"the daemon sent a name that leaves the destination: {name!r}")
    return "/".join(parts) or "."


def _no_link_on_the_way(directory: str, name: str) -> None:
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        path = os.path.join(directory, *parts[:depth])
        if os.path.islink(path):
            raise CopyError(f"{path!r} is a link: nothing is copied through it")


def _make_room(path: str, member: tarfile.TarInfo) -> None:
    """What is at ``path`` goes first (tarfile would write a file through a link there), as
    docker's cp replaces it; a directory stays for a directory, and is never replaced by a
    file (nor a file by a directory)."""
    if not os.path.lexists(path):
        return
    is_dir = os.path.isdir(path) and not os.path.islink(path)
    if is_dir and member.isdir():
        return
    if is_dir or member.isdir():
        kinds = ("directory", "non-directory") if is_dir else ("non-directory", "directory")
        raise CopyError(f"cannot overwrite the {kinds[0]} {path!r} with a {kinds[1]}")
    os.unlink(path)


def _binary(stream: Any) -> IO[bytes]:
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        raise CopyError("cannot write a tar stream to this output: it takes text only")
    return buffer  # type: ignore[no-any-return]


# --- into a container ---------------------------------------------------------------------------


def _to_container(
    client: Client, local: str, container: str, path: str, args: argparse.Namespace
) -> None:
    described = _stat_or_none(client, container, path)
    if described is not None and pathstat.is_link(described) and described.get("linkTarget"):
        path = described["linkTarget"]  # docker's cp copies to where the link points
        described = _stat_or_none(client, container, path)
    exists = described is not None
    is_dir = described is not None and pathstat.is_dir(described)
    if local == "-":
        if not (exists and is_dir):
            raise CopyError(f"the destination {container}:{path} must be a directory")
        stdin = _binary(sys.stdin)
        client.copy_to(container, path, _copied(stdin), copy_owner=args.archive)
        return
    source = local
    if args.follow_link:
        source = os.path.realpath(local) if os.path.islink(local) else local
    info = os.stat(source) if args.follow_link else os.lstat(source)
    source_is_dir = stat.S_ISDIR(info.st_mode)
    where = placement(local, source_is_dir, path, exists, is_dir)
    name = where.rename or _base(local)

    def write(send: Callable[[bytes], None]) -> None:
        sender = cast(IO[bytes], _Sender(send))
        with tarfile.open(fileobj=sender, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(source, arcname=name, recursive=True)

    client.copy_to(container, where.directory, write, copy_owner=args.archive)


def _stat_or_none(client: Client, container: str, path: str) -> dict[str, Any] | None:
    """The stat of ``path`` in the container; None if it is not there (the daemon's ApiError
    if the container is not)."""
    try:
        return pathstat.decode(client.path_stat(container, path))
    except PathNotFound:
        return None


def _base(path: str) -> str:
    """The name a path is copied under: its last component (``.`` for ``dir/.``)."""
    trimmed = path.rstrip("/")
    return posixpath.basename(trimmed) if trimmed else "."


def _copied(source: IO[bytes]) -> Callable[[Callable[[bytes], None]], None]:
    def write(send: Callable[[bytes], None]) -> None:
        while piece := source.read(1 << 16):
            send(piece)

    return write


class _Sender:
    """A file for tarfile's stream mode that sends what it is given."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send

    def write(self, data: bytes) -> int:
        self._send(bytes(data))
        return len(data)


# --- export -------------------------------------------------------------------------------------

#: docker export's words for a terminal on stdout (a tar is no text to show there).
TERMINAL_REFUSED = "cowardly refusing to save to a terminal. Use the -o flag or redirect"


def export(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``export ID [-o FILE]``: the container's filesystem as a tar archive, as ``docker
    export`` writes it: its ``/`` without what is mounted in it (``GET
    /containers/{id}/archive`` of ``/`` with ``excludeMounts``; ``cp ID:/ -`` reads through
    the mounts), on stdout, which must not be a terminal, or in FILE. docker's names have
    no ``./`` before them (``bin/busybox``) and no entry for the root: the daemon's
    ``./bin/busybox`` are written so (:func:`_exported`)."""
    if args.output is None:
        if out.stdout.isatty():
            out.error(TERMINAL_REFUSED)
            return EXIT_ERROR
        try:
            stdout = _binary(out.stdout)
            _export(client, args.id, stdout)
            stdout.flush()
        except CopyError as exc:
            out.error(str(exc))
            return EXIT_ERROR
        return EXIT_OK
    try:
        _export_to_file(client, args.id, args.output)
    except CopyError as exc:
        out.error(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # named as given, not by the temporary file beside it
        out.error(f"{args.output}: {exc.strerror or exc}")
        return EXIT_ERROR
    return EXIT_OK


def _export_to_file(client: Client, container: str, path: str) -> None:
    """Into ``path`` whole or not at all, as docker's ``CopyToFile``: written beside it under a
    temporary name (mode 0600, as Go's ``os.CreateTemp`` makes it), renamed over it once
    complete, removed if anything fails (the daemon's error, a cut stream, a full disk)."""
    fd, temporary = tempfile.mkstemp(prefix=".ctr-trio-export-", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as file:
            _export(client, container, file)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _export(client: Client, container: str, target: IO[bytes]) -> None:
    """The container's ``/`` written to ``target`` as it comes (tarfile's stream modes: nothing
    held whole), each member as the daemon sent it but for its name. Its mounts are left out
    (docker export's: its own filesystem, each mount point an empty directory)."""
    with client.copy_from(container, "/", exclude_mounts=True) as (_, body):
        try:
            # Left by an error (the stream cut, the daemon gone), the writer adds no end of
            # archive: what reads stdout sees a broken archive, never a whole-looking one.
            with (
                tarfile.open(fileobj=cast(IO[bytes], _Pieces(body)), mode="r|") as source,
                tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for member in source:
                    exported = _exported(member)
                    if exported is not None:
                        data = source.extractfile(member) if member.isreg() else None
                        tar.addfile(exported, data)
        except tarfile.TarError as exc:
            raise CopyError(f"the archive of container {container!r} is broken: {exc}") from None


def _exported(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """``member`` named as docker export names it: ``./bin/busybox`` as ``bin/busybox`` (a
    hard link's target too), None for the root itself (``./``)."""
    name = _trimmed(member.name)
    if not name:
        return None
    exported = copy.copy(member)
    exported.name = name
    if member.islnk():
        exported.linkname = _trimmed(member.linkname)
    # A PAX path or linkpath record would be written again over the new name: tarfile takes
    # what the extended header says first. It writes one itself where a name needs it.
    exported.pax_headers = {
        key: value for key, value in member.pax_headers.items() if key not in ("path", "linkpath")
    }
    return exported


def _trimmed(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return "" if name == "." else name
