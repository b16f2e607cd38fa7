"""The CRIU room: a container's checkpoint (``runc checkpoint``) and restore (``runc restore``).

What the container's lifecycle does not need to know lives here: the checkpoint directory's
reservation and commit, CRIU's work dir and the tail of its log in errors, thawing a container
that a failed dump left frozen, and restoring through the private bundle of
:mod:`~containerd_trio.restore_net` (the loopback up before CRIU restores sockets; a cgroup of
its own for a migrated container).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import attrs
import trio

from . import checkpoints
from .checkpoints import CheckpointInfo
from .criu_progress import CriuProgress
from .criu_stats import DUMP_STATS
from .errors import DaemonError, RuntimeFailure
from .keeperlink import CustodyRequest
from .model import Resources
from .mounts import remove_tree
from .restore_net import prepare_restore
from .runtime import CriuOptions, MemoryCopy, Runc, RuncError, Started, parent_path
from .timestamps import format_ns

log = logging.getLogger(__name__)


#: A restore's CRIU work dir, in the container's directory (removed when the restore ends).
RESTORE_WORK = "criu-restore"
#: What a dump's CRIU work dir is named with, before its checkpoint's name (:func:`dump_work`).
DUMP_WORK_PREFIX = "criu-dump-"


def dump_work(directory: Path, name: str) -> Path:
    """The CRIU work dir of a dump (or pre-dump) into checkpoint ``name``, in the container's
    ``directory``: made as the dump begins, removed as it ends, however it ends. One found
    at a server's start names a dump its last server had under way as it died."""
    return directory / f"{DUMP_WORK_PREFIX}{name}"


#: In a dump's work dir (not a pre-dump's): the checkpoint it is to be, written before runc
#: runs, so that the next server can complete a dump that finished after its server died
#: (:func:`finished_dump`). With ``exit``, the images are then all that is left of the
#: container.
DUMP_INTENT = "checkpoint-intent.json"
#: CRIU's last words in its log when a dump succeeded: the end of its last line (a failed
#: dump's ends ``Dumping FAILED.``). The end, not a line anywhere: a dump's log quotes the
#: container's file paths, which the container names.
_DUMP_FINISHED = b"Dumping finished successfully\n"


def finished_dump(work: Path) -> CheckpointInfo | None:
    """The checkpoint a dump left under way by a server that died has made, from its work
    dir: its metadata (time stamped when CRIU's log ended), if CRIU says it finished and the
    dump was a checkpoint's (not a pre-copy round's); else None. CRIU says it twice: its
    statistics (``stats-dump``), written only once a dump succeeded, then its log's last line
    (the log alone could end in a file name the container chose, had CRIU died right after
    writing it)."""
    try:
        if not stat.S_ISREG(os.lstat(work / DUMP_STATS).st_mode):
            return None
        intent = (work / DUMP_INTENT).read_bytes()
        with open(work / "dump.log", "rb") as criu_log:
            end = os.fstat(criu_log.fileno())
            criu_log.seek(max(0, end.st_size - len(_DUMP_FINISHED)))
            if criu_log.read() != _DUMP_FINISHED:
                return None
        info = checkpoints.decode(intent, work.name.removeprefix(DUMP_WORK_PREFIX))
    except (OSError, DaemonError):
        return None
    return attrs.evolve(info, timestamp=format_ns(end.st_mtime_ns))


def reserved_by(work: Path) -> bool:
    """Whether the dump whose work dir this is had reserved its checkpoint's name: its
    intent, written right after the reservation, is there. Without it, a server died between
    the work dir's making and the intent's writing, and the images directory of that name,
    if it made it, is empty (:func:`checkpoints.discard_reservation`)."""
    try:
        return stat.S_ISREG(os.lstat(work / DUMP_INTENT).st_mode)
    except OSError:
        return False


async def dump(
    runtime: Runc,
    container_id: str,
    bundle: Path,
    directory: Path,
    name: str,
    options: CriuOptions,
    *,
    exit: bool,
    was_paused: bool,
    cleanup_timeout: float,
    gone: Callable[[], Awaitable[bool]],
    deadline: float,
    progress: CriuProgress,
    resources: Resources,
    process: checkpoints.KeptProcess,
    reserved: bool = False,
    memory: MemoryCopy | None = None,
) -> CheckpointInfo:
    """Checkpoint into ``{bundle}/checkpoints/{name}``; ``exit`` stops the container after.

    ``gone`` tells whether a failure came from the container stopping under the dump;
    ``deadline`` is the seconds the dump may take; ``progress`` reports its course;
    ``resources``: the limits in force (the container's record), kept for its restore;
    ``process``: what its start ran, kept for a restore that has no record of it.
    ``reserved``: the caller made the directory (:func:`checkpoints.reserve`) already; it is
    removed if the dump fails, as one made here. ``memory``: the final dump of pre-copy
    rounds (its ``parent``); for a round itself, see :func:`pre_dump`.
    """
    work = dump_work(directory, name)
    # The work dir before the name's reservation: a server killed between the two leaves a
    # work dir, which tells the next server of the reservation it may have made
    # (:func:`reserved_by`); before, it left the images directory alone, its name held for
    # good. The container's lock keeps another dump of it out of this work dir meanwhile.
    work.mkdir(parents=True, exist_ok=True)
    try:
        image = (
            checkpoints.image_path(bundle, name) if reserved else checkpoints.reserve(bundle, name)
        )
    except BaseException:
        remove_tree(work)  # the name is not this dump's (a 409): nothing of it to discard
        raise
    try:
        # The intent first, in the work dir: it says the images directory is this dump's.
        (work / DUMP_INTENT).write_bytes(checkpoints.encode(checkpoints.new_info(name, options)))
        checkpoints.keep_resources(bundle, name, resources)
        checkpoints.keep_process(bundle, name, process)
        await progress.dump(
            image, work, deadline,
            partial(runtime.checkpoint, container_id, image, work, options,
                    leave_running=not exit, memory=memory, deadline=deadline),
        )  # fmt: skip
        info = checkpoints.new_info(name, options)
        # In here: images without their metadata (a full disk, say) are no checkpoint, and
        # left they would hold the name for ever (409 "not a checkpoint").
        checkpoints.commit(bundle, info)
    except BaseException as exc:
        checkpoints.discard(image)
        with trio.move_on_after(cleanup_timeout, shield=True):
            await put_freezer_back(runtime, container_id, paused=was_paused)
        if isinstance(exc, RuncError):
            if await gone():
                from .errors import Conflict

                raise Conflict(
                    f"cannot checkpoint container {container_id!r}: it stopped"
                ) from None
            raise with_criu_log(exc, work, "dump.log") from None
        raise
    finally:
        remove_tree(work)
    return info


async def pre_dump(
    runtime: Runc,
    container_id: str,
    bundle: Path,
    directory: Path,
    name: str,
    parent: str | None,
    *,
    deadline: float,
) -> None:
    """A pre-copy round: the container's memory into ``{bundle}/checkpoints/{name}`` while it
    runs on (only what changed since the round ``parent``, if given). No metadata: the
    images are only the parent of a later dump. Needs the kernel's dirty-page tracking
    (:func:`containerd_trio.precopy.probe`). ``deadline``: the seconds it may take."""
    image = checkpoints.reserve(bundle, name)
    work = dump_work(directory, name)
    memory = MemoryCopy(pre_dump=True, parent=None if parent is None else parent_path(parent))
    try:
        work.mkdir(parents=True, exist_ok=True)  # in here: a failure discards the image dir too
        await runtime.checkpoint(
            container_id, image, work, CriuOptions(), leave_running=True, memory=memory,
            deadline=deadline,
        )  # fmt: skip
    except BaseException as exc:
        checkpoints.discard(image)
        if isinstance(exc, RuncError):
            raise with_criu_log(exc, work, "dump.log") from None
        raise
    finally:
        remove_tree(work)


async def restore(
    runtime: Runc,
    container_id: str,
    bundle: Path,
    directory: Path,
    name: str,
    pid_file: Path,
    custody: CustodyRequest,
    *,
    deadline: float,
    progress: CriuProgress,
    cgroups_path: str | None = None,
    limits: Resources | None = None,
    terminal: bool | None = None,
) -> Started:
    """Restore from ``{bundle}/checkpoints/{name}`` with the same CRIU options as the dump,
    within ``deadline`` seconds; ``progress`` reports its course.

    The restore goes through the private bundle of :func:`prepare_restore` when the container
    needs one (its own network namespace, ``cgroups_path``, ``limits``: those the checkpoint
    recorded, other than the bundle's, or ``terminal``, its start's, other than the
    bundle's): it is made in ``directory``
    and stays there, since runc names it as the container's bundle, until the container's
    directory is removed; a failed restore removes it at once.
    """
    info = checkpoints.load(bundle, name)
    image = checkpoints.image_path(bundle, name)
    plan = prepare_restore(
        bundle, directory, cgroups_path=cgroups_path, limits=limits, terminal=terminal
    )
    work = directory / RESTORE_WORK
    try:
        work.mkdir(parents=True, exist_ok=True)  # in here: a failure removes the plan's too
        return await progress.restore(
            image, work, deadline,
            partial(runtime.restore, container_id, plan.bundle, image, work, pid_file, custody,
                    info.criu_options, deadline=deadline),
        )  # fmt: skip
    except BaseException as exc:
        plan.cleanup()
        if isinstance(exc, RuncError):
            raise with_criu_log(exc, work, "restore.log") from None
        raise
    finally:
        # A CRIU killed at the deadline leaves its cgroup yard mounted in here: remove_tree
        # detaches it rather than remove the host's empty cgroups through it.
        remove_tree(work)


async def put_freezer_back(runtime: Runc, container_id: str, *, paused: bool) -> None:
    """After a checkpoint that failed or was killed, leave the container's freezer as the
    daemon lists it (``paused`` or running). CRIU freezes the container before it dumps, then
    thaws it once it holds the tasks (ptrace), and puts its state back only at its end: a
    running container must not stay frozen, nor a paused one run on once a CRIU killed at its
    deadline is gone."""
    wrong, change, left, undoing = (
        ("running", runtime.pause, "thawed", "freezing it again")
        if paused
        else ("paused", runtime.resume, "frozen", "thawing")
    )
    try:
        state = await runtime.state(container_id)
        if state is not None and state.get("status") == wrong:
            log.warning(
                "container %s was left %s by a failed checkpoint: %s", container_id, left, undoing
            )
            await change(container_id)
    except DaemonError as exc:
        log.error("container %s may be left %s: %s", container_id, left, exc.message)


def with_criu_log(exc: RuncError, work: Path, log_name: str) -> RuntimeFailure:
    """runc's failure with what CRIU's log says, read before the work dir is removed.

    runc ends its message with ``log file: <work>/<log>``; the caller removes that dir before
    the client reads the message, so the line would send the user to a file that is gone: it
    is dropped, and the log's own lines stand in for it."""
    gone = f"\nlog file: {work / log_name}"
    if gone in exc.runc_message:
        exc = RuncError(exc.command, exc.runc_message.replace(gone, ""))
    tail = checkpoints.criu_log_tail(work, log_name)
    if not tail:
        return exc
    return RuntimeFailure(f"{exc.message}\nCRIU's {log_name} ends with:\n{tail}")
