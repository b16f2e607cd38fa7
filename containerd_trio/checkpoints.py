"""Checkpoints on disk: ``{bundlePath}/checkpoints/{name}/``, CRIU's images plus our metadata.

They live in the bundle, not in the daemon's state dir, so that a checkpoint can restore a
container this daemon no longer lists, or one on another machine (copy the bundle). Beside the
images, ``checkpoint.json`` keeps what the listing shows and what restore must repeat to CRIU
(the same tcp, unix socket and shell options as at dump time), ``resources.json`` the
cgroup limits the container ran under at the dump, which a restore puts back in force
(:func:`keep_resources`, :func:`kept_resources`), and ``process.json`` what the container's
start ran and whether its stdin was open, with its labels, autoRemove and restart policy,
which a restore takes for its record (:func:`keep_process`, :func:`kept_process`).

Bundles belong to clients, so nothing here follows a link: ``checkpoints`` and each checkpoint's
directory are reached with :mod:`beneath` (``openat2`` with ``RESOLVE_NO_SYMLINKS``), and files
are made, read and removed relative to those fds. A link where a directory should be is a 400
that says so; before this, a ``checkpoints`` link made a checkpoint write its images, and a
delete remove files, wherever it pointed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs

from . import beneath, restarts, timestamps
from .bundle import file_kind, open_bundle
from .convert import converter, structure
from .errors import Conflict, DaemonError, InvalidRequest, NotFound
from .ids import quoted_id
from .model import Resources, RestartPolicy, StartProcess
from .mounts import remove_tree
from .resources import USER_CPU
from .runtime import CriuOptions
from .validation import (
    ARG_SPACE_RESERVE,
    CHECKPOINT_NAME,
    LABELS,
    MAX_ARG_SPACE,
    MAX_LABELS_BYTES,
    NGROUPS_MAX,
    STOP_SIGNAL,
    STOP_TIMEOUT,
    check_exec_strings,
    check_labels_size,
    doc,
)

CHECKPOINTS_DIR = "checkpoints"
METADATA_NAME = "checkpoint.json"
#: The container's limits in force at the dump (its record's :class:`~.model.Resources`),
#: beside the images. A file of its own, not a field of :class:`CheckpointInfo`: that is the
#: listing's shape. A checkpoint made before the daemon kept it has none, and restores with
#: the bundle's limits as it always did.
RESOURCES_NAME = "resources.json"
#: What the container's start ran (:class:`KeptProcess`), beside the images: a restore whose
#: container is gone (deleted, or a checkpoint imported elsewhere) knows it from there. None
#: in a checkpoint made before the daemon kept it: restored with the bundle's process then.
PROCESS_NAME = "process.json"

T = TypeVar("T")


@attrs.frozen
class CheckpointInfo:
    """One checkpoint of a bundle, as the listing shows it (the seed's)."""

    name: str = attrs.field(metadata=doc("The checkpoint name.", like=CHECKPOINT_NAME))
    tcp: bool
    unix_sockets: bool
    shell: bool
    timestamp: str = attrs.field(metadata=doc("RFC 3339 with nanoseconds.", format="date-time"))

    @property
    def criu_options(self) -> CriuOptions:
        return CriuOptions(
            tcp_established=self.tcp, ext_unix_sk=self.unix_sockets, shell_job=self.shell
        )


@attrs.frozen
class KeptProcess:
    """What the dumped container's start ran, kept with its checkpoint (:data:`PROCESS_NAME`)
    for a restore that has no record of it: the restored processes are the start's (a
    terminal it gave them included, which runc must be told), so the record, an exec's
    defaults and a start again take them from here, as after a restore over the stopped
    container."""

    #: The start's ``process``, as it was given; None for one that ran the bundle's.
    process: StartProcess | None = None
    #: The start's ``stdin``: a start again keeps it open (a terminal's stdin, which the
    #: images do not show as a pipe, too).
    stdin: bool = False
    # The container's settings at the dump, for a restore with no stopped container of the
    # id to take them from (a record's win: it is the container as it is now). None when it
    # had none, and in a checkpoint made before 2026-12-03: the file is then one older code
    # reads too.
    #: Its labels (a start's rules: the file may come in an archive, from anyone).
    labels: dict[str, str] | None = attrs.field(default=None, validator=LABELS)
    #: Its autoRemove (True, or None).
    auto_remove: bool | None = None
    #: Its restart policy (its count is not kept: a restore is its user's start).
    restart_policy: RestartPolicy | None = None
    #: Its stdinOnce, docker's StdinOnce (True, or None).
    stdin_once: bool | None = None
    #: Its stopSignal and stopTimeout, docker's StopSignal and StopTimeout (None: not set,
    #: and in a checkpoint made before 2026-12-05).
    stop_signal: str | None = attrs.field(default=None, validator=STOP_SIGNAL)
    stop_timeout: int | None = attrs.field(default=None, validator=STOP_TIMEOUT)
    #: The CPU limits its user had set (``Container.user_cpu``: "quota", "period"), which
    #: hold its ``cpu.cpus`` off (None: none, and in a checkpoint made before 2026-12-04).
    user_cpu: list[str] | None = attrs.field(default=None)

    @user_cpu.validator
    def _user_cpu_names(self, attribute: attrs.Attribute[Any], value: list[str] | None) -> None:
        # Names of limits, no other (the file may come in an archive, from anyone).
        if value is not None and not set(value) <= set(USER_CPU):
            raise ValueError(f"userCpu names limits of {', '.join(USER_CPU)} only, not {value}")


def checkpoints_dir(bundle: Path) -> Path:
    return bundle / CHECKPOINTS_DIR


def image_path(bundle: Path, name: str) -> Path:
    """The checkpoint's directory, for runc's ``--image-path``: checked to be a directory of the
    bundle's own first (400 for a link), since runc and CRIU open it by name."""
    os.close(_open_checkpoint(bundle, name))
    return checkpoints_dir(bundle) / name


def reserve(bundle: Path, name: str) -> Path:
    """Create the checkpoint's directory; 409 if a checkpoint of that name exists, or a
    directory that is not one (the same 409 a delete of it answers)."""
    directory = _made_checkpoints(bundle)
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=directory)
        except FileExistsError:
            if stat.S_ISLNK(os.lstat(name, dir_fd=directory).st_mode):
                raise _refusal(errno.ELOOP, _described(bundle, name)) from None
            if not _has_metadata(directory, bundle, name):
                raise Conflict(_not_a_checkpoint(bundle, name)) from None
            raise Conflict(
                f"checkpoint {quoted_id(name)} already exists in {checkpoints_dir(bundle)}"
            ) from None
        except OSError as exc:  # a read-only bundle, say
            raise _refusal(exc.errno, _described(bundle, name)) from None
    finally:
        os.close(directory)
    return checkpoints_dir(bundle) / name


def place(bundle: Path, staged: Path, name: str) -> None:
    """Move ``staged``, a checkpoint's directory made elsewhere on the bundle's filesystem
    (an import's staging), into the bundle as checkpoint ``name``: renamed into the
    ``checkpoints`` directory reached without a link (made if need be, as :func:`reserve`
    makes it); 409 if a checkpoint of that name appeared meanwhile."""
    directory = _made_checkpoints(bundle)
    try:
        # rename(2) would take the place of an empty directory: none may be there.
        with contextlib.suppress(FileNotFoundError):
            os.lstat(name, dir_fd=directory)
            raise Conflict(f"checkpoint {quoted_id(name)} appeared meanwhile")
        os.rename(staged, name, dst_dir_fd=directory)
    finally:
        os.close(directory)


def check_directory(bundle: Path) -> None:
    """400 unless the bundle's ``checkpoints`` is a directory of its own, or not there yet
    (the bundle itself too: an archive with the full bundle makes it): for what writes into
    it by name (an import)."""
    directory = _open_checkpoints(bundle, gone_ok=True)
    if directory is not None:
        os.close(directory)


def commit(bundle: Path, info: CheckpointInfo) -> None:
    """Write the metadata last: a directory without it is a checkpoint that never completed."""
    directory = _open_checkpoint(bundle, info.name)
    temporary = f"{METADATA_NAME}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(
                temporary, dir_fd=directory
            )  # left by a crash; a link is removed, not followed
        fd = os.open(temporary, _NEW_FILE, 0o600, dir_fd=directory)
        with open(fd, "wb") as metadata:
            metadata.write(encode(info))
        os.replace(temporary, METADATA_NAME, src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        os.close(directory)


def commit_finished(bundle: Path, info: CheckpointInfo) -> bool:
    """:func:`commit` for a dump that finished after its server died, which the next server
    completes: True once the checkpoint has its metadata (this or its server's), False if
    its images are not there (removed, or a link or no directory now: not the daemon's).
    A DaemonError if the metadata cannot be written (a full disk, a read-only bundle): the
    images are the checkpoint all the same, and the caller keeps them (before, the OSError
    ended the adoption, and no server could start while the disk was full)."""
    try:
        directory = _open_checkpoints(bundle, gone_ok=True)
        if directory is None:
            return False
        try:
            finished = _has_metadata(directory, bundle, info.name)
        finally:
            os.close(directory)
        if not finished:
            commit(bundle, info)
    except DaemonError:
        return False
    except OSError as exc:
        raise DaemonError(
            f"cannot write the metadata of {_described(bundle, info.name)}: {exc.strerror}"
        ) from None
    return True


def encode(info: CheckpointInfo) -> bytes:
    """A checkpoint's metadata as stored (:func:`decode` reads it)."""
    return json.dumps(converter.unstructure(info)).encode()


def decode(data: bytes, name: str) -> CheckpointInfo:
    """Stored metadata (:func:`encode`) of the checkpoint ``name``; NotFound, naming the
    checkpoint, if it is not that."""
    info = _stored(data, name, "metadata", CheckpointInfo)
    try:
        timestamps.parse_ns(info.timestamp)  # the listing sorts by it
    except ValueError as exc:
        raise _unreadable(name, "metadata", str(exc)) from None
    return info


def _stored(
    data: bytes,
    name: str,
    what: str,
    kind: type[T],
    limit: int = 0,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> T:
    """A JSON object the daemon stored in checkpoint ``name`` (its ``what``: the metadata, the
    limits, the start's process), as a ``kind``, of at most ``limit`` bytes (the metadata's
    bound when 0), that passes ``check`` (raising InvalidRequest or ValueError) before it is
    structured; NotFound, naming the checkpoint and ``what``, if it is not that."""
    limit = limit or _MAX_METADATA
    try:
        if len(data) > limit:
            raise ValueError(f"larger than {limit} bytes")
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("it is not a JSON object")
        if check is not None:
            check(document)
        return structure(document, kind)
    except RecursionError:
        raise _unreadable(name, what, "it is nested too deeply") from None
    except InvalidRequest as exc:  # a field missing or of the wrong type
        raise _unreadable(name, what, exc.message) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise _unreadable(name, what, str(exc)) from None


def _unreadable(name: str, what: str, detail: str) -> NotFound:
    return NotFound(f"checkpoint {quoted_id(name)} has unreadable {what}: {detail}")


def new_info(name: str, options: CriuOptions) -> CheckpointInfo:
    return CheckpointInfo(
        name=name,
        tcp=options.tcp_established,
        unix_sockets=options.ext_unix_sk,
        shell=options.shell_job,
        timestamp=timestamps.format_ns(timestamps.now_ns()),
    )


def keep_resources(bundle: Path, name: str, resources: Resources) -> None:
    """Record ``resources`` in checkpoint ``name``'s directory (it exists, made by this dump),
    before CRIU dumps into it: a dump that finishes after its server died
    (:func:`commit_finished`) has them too, and a failed dump's directory goes with them."""
    _keep(bundle, name, RESOURCES_NAME, resources)


def kept_resources(bundle: Path, name: str) -> Resources | None:
    """The limits checkpoint ``name`` recorded (:func:`keep_resources`); None for one made
    before the daemon recorded them. NotFound, as for its metadata, if they are unreadable."""
    return _kept(bundle, name, RESOURCES_NAME, Resources, _MAX_METADATA)


def keep_process(bundle: Path, name: str, kept: KeptProcess) -> None:
    """Record what the container's start ran in checkpoint ``name``'s directory, as
    :func:`keep_resources` its limits (and for the same reasons, before CRIU dumps)."""
    _keep(bundle, name, PROCESS_NAME, kept)


def kept_process(bundle: Path, name: str) -> KeptProcess | None:
    """What checkpoint ``name`` kept of its container's start (:func:`keep_process`); None
    for one made before the daemon kept it. NotFound, as for its metadata, if it is
    unreadable, or is no start's: the file may have come in an archive, from anyone."""
    kept = _kept(bundle, name, PROCESS_NAME, KeptProcess, _MAX_PROCESS, _startable)
    if kept is not None and kept.process == StartProcess():
        # A start's process names something (a start refuses {}): this one was not given.
        raise _unreadable(name, PROCESS_NAME, "its process names nothing")
    if kept is not None:
        try:
            restarts.refuse_with_auto_remove(kept.restart_policy, bool(kept.auto_remove))
        except InvalidRequest as refused:  # no start has both
            raise _unreadable(name, PROCESS_NAME, refused.message) from None
    return kept


def _keep(bundle: Path, name: str, file: str, value: object) -> None:
    directory = _open_checkpoint(bundle, name)
    try:
        fd = os.open(file, _NEW_FILE, 0o600, dir_fd=directory)
        with open(fd, "wb") as kept:
            kept.write(json.dumps(converter.unstructure(value)).encode())
    finally:
        os.close(directory)


def _startable(document: dict[str, Any]) -> None:
    """A kept process's args and env are what a start was given, which the daemon refuses
    past what execve(2) takes: past the most it takes on any host (:data:`MAX_ARG_SPACE`,
    the stack limit of the dumping daemon and of the bundle unknown here), they are no
    start's. Checked before the document is structured, its pointers first: a list of
    millions of names (a file within its bound) took seconds of the event loop to
    structure, then was the restored container's record. Its labels likewise: no more than
    a start's body holds (:func:`.validation.check_labels_size`), looked at before each is
    checked by the start's rules (millions took seconds)."""
    process = document.get("process")
    if isinstance(process, dict):
        check_exec_strings(process, field="process.", room=MAX_ARG_SPACE - ARG_SPACE_RESERVE)
    labels = document.get("labels")
    if isinstance(labels, dict):
        check_labels_size(labels)


def _kept(
    bundle: Path,
    name: str,
    file: str,
    kind: type[T],
    limit: int,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> T | None:
    """``file`` of checkpoint ``name``, a ``kind`` :func:`_keep` wrote (passing ``check``,
    :func:`_stored`); None if it has none."""
    directory = _open_checkpoint(bundle, name)
    try:
        data = beneath.read_regular(directory, file, limit + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(name, file, exc.strerror or str(exc)) from None
    finally:
        os.close(directory)
    return _stored(data, name, file, kind, limit, check)


def load(bundle: Path, name: str) -> CheckpointInfo:
    directory = _open_checkpoint(bundle, name)
    try:
        return _read_metadata(directory, bundle, name)
    finally:
        os.close(directory)


#: What runc checkpoint writes of the init's fds 0-2, and runc restore reads back itself.
DESCRIPTORS_NAME = "descriptors.json"


def check_descriptors(bundle: Path, name: str) -> None:
    """400 unless the checkpoint's descriptors.json is a regular file of its own (or missing:
    runc's to say).

    runc restore opens it by name, following a link and waiting on a FIFO: a FIFO held the
    restore (its id, one of runc's slots) until the checkpoint deadline, and a link had root's
    runc open whatever it named. The daemon's own read of it (``stdin_was_pipe``) takes either
    as "no", so this is what keeps them from runc (up to a swap made after it: runc opens the
    image by name, security.md)."""
    directory = _open_checkpoint(bundle, name)
    try:
        mode = os.stat(DESCRIPTORS_NAME, dir_fd=directory, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _unreadable(name, DESCRIPTORS_NAME, exc.strerror or str(exc)) from None
    finally:
        os.close(directory)
    if not stat.S_ISREG(mode):
        raise InvalidRequest(
            f"{DESCRIPTORS_NAME} of {_described(bundle, name)} is {file_kind(mode)}: runc"
            " restore reads it, so it is taken only as a regular file of the checkpoint's own"
        )


def list_all(bundle: Path) -> list[CheckpointInfo]:
    """Every completed checkpoint of the bundle, oldest first; a 400 if the bundle is no
    longer a directory (:func:`_open_checkpoints`: not "none")."""
    directory = _open_checkpoints(bundle)
    if directory is None:
        return []
    found = []
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        for name in names:
            try:
                checkpoint = _open_in(directory, bundle, name)
            except DaemonError:
                continue  # replaced by a link or removed since the listing
            try:
                found.append(_read_metadata(checkpoint, bundle, name))
            except NotFound:
                continue  # half-made or foreign directory
            finally:
                os.close(checkpoint)
    finally:
        os.close(directory)
    found.sort(key=lambda info: (timestamps.parse_ns(info.timestamp), info.name))
    return found


def delete(bundle: Path, name: str) -> None:
    """Remove checkpoint ``name``: 404 if it is not there, a 400 if the bundle is no longer a
    directory (:func:`_open_checkpoints`), 409 for a directory that is no checkpoint."""
    directory = _open_checkpoints(bundle)
    if directory is None:
        raise _not_found(bundle, name)
    try:
        if not _has_metadata(directory, bundle, name):
            # Not the daemon's to remove: what it holds is unknown (a checkpoint still being
            # written, or the client's own directory), so the client says by removing it.
            raise Conflict(_not_a_checkpoint(bundle, name))
        # Relative to the checkpoints directory's fd: the removal never follows a link from there.
        try:
            remove_tree(name, dir_fd=directory, ignore_errors=False)
        except OSError as exc:  # a read-only bundle, say: the client's, not the daemon's fault
            raise _refusal(exc.errno, _described(bundle, name)) from None
    finally:
        os.close(directory)


def discard_unfinished(bundle: Path, name: str) -> None:
    """Remove the bundle's checkpoint directory ``name`` if it has no metadata (a dump of the
    daemon's that never completed: only the caller knows it made it); one with metadata
    stays."""
    # Gone, or a link or no directory now: not the daemon's (a DaemonError).
    with _checkpoints_there(bundle) as directory, contextlib.suppress(DaemonError):
        if directory is not None and not _has_metadata(directory, bundle, name):
            remove_tree(name, dir_fd=directory)


def discard_reservation(bundle: Path, name: str, made_from_ns: int) -> None:
    """Remove the bundle's checkpoint directory ``name`` if it is an empty directory changed
    at or after ``made_from_ns`` (a ctime): the reservation of a dump whose server died before
    it wrote into it (the dump's work dir, made before the reservation, says when). A
    directory with anything in it stays (a checkpoint, or one still being written), as does
    an empty one made before that dump began (the client's own, for which the reservation
    failed)."""
    # Gone, or not empty: no reservation left alone (an OSError).
    with _checkpoints_there(bundle) as directory, contextlib.suppress(OSError):
        found = None if directory is None else os.lstat(name, dir_fd=directory)
        if found and stat.S_ISDIR(found.st_mode) and found.st_ctime_ns >= made_from_ns:
            os.rmdir(name, dir_fd=directory)  # never a directory with anything in it


@contextlib.contextmanager
def _checkpoints_there(bundle: Path) -> Iterator[int | None]:
    """The bundle's checkpoints directory, open for the block; None if it is not there, or
    not a directory of the bundle's own (nothing of the daemon's to remove in it)."""
    try:
        directory = _open_checkpoints(bundle, gone_ok=True)
    except DaemonError:
        directory = None
    try:
        yield directory
    finally:
        if directory is not None:
            os.close(directory)


def discard(path: Path) -> None:
    """Remove a checkpoint directory (``reserve``'s answer) that did not complete."""
    try:
        directory = _open_checkpoints(path.parent.parent, gone_ok=True)
    except DaemonError:
        return
    if directory is not None:
        try:
            remove_tree(path.name, dir_fd=directory)
        finally:
            os.close(directory)


# --- resolving inside the bundle ----------------------------------------------------------------

#: Directories are opened readable (not O_PATH): the checkpoints directory is listed.
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Metadata is a few hundred bytes; a larger file is not ours.
_MAX_METADATA = 64 * 1024
#: A start's process is as large as its args and env (execve takes at most MAX_ARG_SPACE of
#: them, and JSON may write a byte of them as six) and its gids, beside the container's labels
#: (at most MAX_LABELS_BYTES, the same six to a byte): what no start can leave is not read.
_MAX_PROCESS = 6 * MAX_ARG_SPACE + 12 * NGROUPS_MAX + 6 * MAX_LABELS_BYTES + _MAX_METADATA


def bundle_gone(bundle: Path) -> InvalidRequest:
    """The 400 of a bundle that is no longer a directory (moved away, its mount gone)."""
    return InvalidRequest(f"the bundle {bundle} is no longer a directory")


def _open_checkpoints(bundle: Path, *, create: bool = False, gone_ok: bool = False) -> int | None:
    """An fd on ``{bundle}/checkpoints``, reached without a link; None if it does not exist.

    The one rule for a bundle that is no longer a directory: :func:`bundle_gone`'s 400 for
    what a client asks of its checkpoints (a listing, a delete, a checkpoint, a restore, an
    export), which must not answer as if the bundle had none (a listing's ``[]``, a delete's
    404: before 2026-12-06 the supervisor checked the bundle first, with its own words for
    each path, then this opened it again and took it for empty). With ``gone_ok``, None:
    for an import, whose archive may make the bundle, and for the daemon's own tidying,
    which has nothing to remove there."""
    try:
        bundle_fd = open_bundle(bundle)  # a 400 for one its owner made unreachable since
    except (FileNotFoundError, NotADirectoryError):
        if gone_ok:
            return None
        raise bundle_gone(bundle) from None
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(CHECKPOINTS_DIR, 0o700, dir_fd=bundle_fd)
        return beneath.open_beneath(bundle_fd, CHECKPOINTS_DIR, _DIRECTORY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refusal(exc.errno, str(checkpoints_dir(bundle))) from None
    finally:
        os.close(bundle_fd)


def _made_checkpoints(bundle: Path) -> int:
    """:func:`_open_checkpoints`, made if need be (a new checkpoint's, an import's)."""
    directory = _open_checkpoints(bundle, create=True)
    if directory is None:  # made, then removed before it was opened
        raise Conflict(f"{checkpoints_dir(bundle)} was removed meanwhile: try again")
    return directory


def _open_checkpoint(bundle: Path, name: str) -> int:
    """An fd on ``{bundle}/checkpoints/{name}``, reached without a link; 404 if missing (the
    bundle gone: :func:`_open_checkpoints`' 400)."""
    directory = _open_checkpoints(bundle)
    if directory is None:
        raise _not_found(bundle, name)
    try:
        return _open_in(directory, bundle, name)
    finally:
        os.close(directory)


def _open_in(directory: int, bundle: Path, name: str) -> int:
    try:
        return beneath.open_beneath(directory, name, _DIRECTORY)
    except FileNotFoundError:
        raise _not_found(bundle, name) from None
    except OSError as exc:
        raise _refusal(exc.errno, _described(bundle, name)) from None


def _has_metadata(directory: int, bundle: Path, name: str) -> bool:
    """Whether ``{checkpoints}/{name}`` (it exists) holds a checkpoint's metadata: without it
    the directory is not a checkpoint. 400 if it is a link or no directory."""
    checkpoint = _open_in(directory, bundle, name)
    try:
        os.stat(METADATA_NAME, dir_fd=checkpoint, follow_symlinks=False)
    except FileNotFoundError:
        return False
    finally:
        os.close(checkpoint)
    return True


def _read_metadata(directory: int, bundle: Path, name: str) -> CheckpointInfo:
    try:
        data = beneath.read_regular(directory, METADATA_NAME, _MAX_METADATA + 1)
    except FileNotFoundError:
        # The directory is there (the caller opened it): a restore from it says what it is,
        # as the 409 of a checkpoint or a delete of that name does.
        raise NotFound(_not_a_checkpoint(bundle, name)) from None
    except OSError as exc:
        raise _unreadable(name, "metadata", exc.strerror or str(exc)) from None
    return decode(data, name)


def _described(bundle: Path, name: str) -> str:
    return f"checkpoint {quoted_id(name)} in {checkpoints_dir(bundle)}"


def _not_found(bundle: Path, name: str) -> NotFound:
    return NotFound(f"checkpoint {quoted_id(name)} not found in {checkpoints_dir(bundle)}")


def _not_a_checkpoint(bundle: Path, name: str) -> str:
    """A directory of that name without metadata, in the same words for a checkpoint, a
    delete and a restore of the name: before, the first was 409 "already exists" and the
    others 404 "not found", so no request could make or remove it."""
    return (
        f"checkpoint {quoted_id(name)} exists in {checkpoints_dir(bundle)} but is not a"
        f" checkpoint (it has no {METADATA_NAME}: a checkpoint still being written, or a"
        " directory the daemon did not make): remove it by hand once nothing writes to it"
    )


def _refusal(code: int | None, what: str) -> DaemonError:
    """The 400 for a path that a link, or something else than a directory, stands in for."""
    if code == errno.ELOOP:
        return InvalidRequest(
            f"{what} is a symbolic link: checkpoints are written, read and deleted only inside"
            " the bundle, never through a link"
        )
    if code == errno.EXDEV:
        return InvalidRequest(f"{what} leads outside the bundle")
    if code == errno.ENOTDIR:
        return InvalidRequest(f"{what} is not a directory")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):  # the bundle's, as its owner set it
        return InvalidRequest(f"cannot write {what}: {os.strerror(code)}")
    return DaemonError(f"cannot open {what}: {os.strerror(code or 0)}")


#: Error lines CRIU logs on its way to what it does, not the failure: ``rlimit: Can't setup
#: RLIMIT_NOFILE for self`` is in every restore's log where CRIU may not raise its limit of
#: open files to ``fs/nr_open`` (no CAP_SYS_RESOURCE, as on these machines, whose hard limit
#: is 20000): it goes on with the one it has, and successful restores log it too. Put after
#: the errors that are the failure, it no longer opens the message (until 2026-12-06 it did,
#: and a user read it as the cause).
_PASSING_ERRORS = ("rlimit: Can't setup RLIMIT_NOFILE",)


def criu_log_tail(work_path: Path, log_name: str, lines: int = 4) -> str:
    """What CRIU's own log says went wrong: its error lines, then its last lines.

    The error lines matter most (CRIU logs the cause, such as "Connected TCP socket, consider
    using --tcp-established option", well before the end of a long log); the last lines show
    where it stopped. Of the error lines, those that end nothing (:data:`_PASSING_ERRORS`)
    come after the others, so that the message leads with the failure.
    """
    try:
        with open(work_path / log_name, "rb") as log:
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    errors = [line for line in all_lines if "Error (" in line][-8:]
    passing = [line for line in errors if any(words in line for words in _PASSING_ERRORS)]
    errors = [line for line in errors if line not in passing] + passing
    chosen = errors + [line for line in all_lines[-lines:] if line not in errors]
    return "\n".join(chosen)
