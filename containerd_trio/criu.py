"""The CRIU room: a container's checkpoint (``runc checkpoint``) and restore (``runc restore``).

What the container's lifecycle does not need to know lives here: the checkpoint directory's
reservation and commit, CRIU's work dir and the tail of its log in errors, thawing a container
that a failed dump left frozen, and setting a restored container's loopback up.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio

from . import checkpoints
from .checkpoints import CheckpointInfo
from .criu_progress import CriuProgress
from .errors import DaemonError, RuntimeFailure
from .keeperlink import CustodyRequest
from .netns import has_own_network_namespace, set_loopback_up
from .runtime import CriuOptions, Runc, RuncError, Started

log = logging.getLogger(__name__)


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
) -> CheckpointInfo:
    """Checkpoint into ``{bundle}/checkpoints/{name}``; ``exit`` stops the container after.

    ``gone`` tells whether a failure came from the container stopping under the dump;
    ``deadline`` is the seconds the dump may take; ``progress`` reports its course.
    """
    image = checkpoints.reserve(bundle, name)
    work = directory / f"criu-dump-{name}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        await progress.dump(
            image, work, deadline,
            partial(runtime.checkpoint, container_id, image, work, options,
                    leave_running=not exit, deadline=deadline),
        )  # fmt: skip
    except BaseException as exc:
        checkpoints.discard(image)
        if not was_paused:
            with trio.move_on_after(cleanup_timeout, shield=True):
                await _thaw_if_frozen(runtime, container_id)
        if isinstance(exc, RuncError):
            if await gone():
                from .errors import Conflict

                raise Conflict(
                    f"cannot checkpoint container {container_id!r}: it stopped"
                ) from None
            raise with_criu_log(exc, work, "dump.log") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = checkpoints.new_info(name, options)
    checkpoints.commit(bundle, info)
    return info


async def restore(
    runtime: Runc,
    container_id: str,
    bundle: Path,
    directory: Path,
    name: str,
    pid_file: Path,
    custody: CustodyRequest,
    cleanup_timeout: float,
    deadline: float,
    progress: CriuProgress,
) -> Started:
    """Restore from ``{bundle}/checkpoints/{name}`` with the same CRIU options as the dump,
    within ``deadline`` seconds; ``progress`` reports its course."""
    info = checkpoints.load(bundle, name)
    work = directory / "criu-restore"
    work.mkdir(parents=True, exist_ok=True)
    try:
        image = checkpoints.image_path(bundle, name)
        started = await progress.restore(
            image, work, deadline,
            partial(runtime.restore, container_id, bundle, image, work, pid_file, custody,
                    info.criu_options, deadline=deadline),
        )  # fmt: skip
    except RuncError as exc:
        raise with_criu_log(exc, work, "restore.log") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if has_own_network_namespace(started.pid):
        # runc leaves a restored container's loopback down (criu#590). Shielded: the container
        # runs now, and must be registered whatever happens.
        with trio.move_on_after(cleanup_timeout, shield=True):
            try:
                await set_loopback_up(started.pid)
            except OSError as exc:
                log.warning("restored container %s: loopback stays down: %s", container_id, exc)
    return started


async def _thaw_if_frozen(runtime: Runc, container_id: str) -> None:
    """CRIU freezes the container before it dumps; if it failed or was killed after that,
    the container must not stay frozen while the daemon lists it as running."""
    try:
        state = await runtime.state(container_id)
        if state is not None and state.get("status") == "paused":
            log.warning(
                "container %s was left frozen by a failed checkpoint: thawing", container_id
            )
            await runtime.resume(container_id)
    except DaemonError as exc:
        log.error("container %s may be left frozen: %s", container_id, exc.message)


def with_criu_log(exc: RuncError, work: Path, log_name: str) -> RuntimeFailure:
    tail = checkpoints.criu_log_tail(work, log_name)
    if not tail:
        return exc
    return RuntimeFailure(f"{exc.message}\nCRIU's {log_name} ends with:\n{tail}")
