"""A container's checkpoint (``runc checkpoint``, through CRIU): what refuses one (processes
a dump would lose or a restore could not give back), and the dump itself, which leaves the
container as it found it, or stopped (``exit``).

Apart from :class:`.Container`: what a checkpoint needs of a container and does to it is the
checkpoint's alone (a migration's dumps check the same); it stays in this package, as
:mod:`._moving` does, because it reaches the container's private state (its dumps, its
processes' output, the init's exit it reports after the checkpoint), which is the package's
alone.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio

from .. import criu, procfs
from ..checkpoints import CheckpointInfo
from ..criu_progress import CriuProgress
from ..errors import Conflict
from ..model import Status
from ..runtime import CriuOptions

if TYPE_CHECKING:
    from ._container import Container


def check_checkpointable(container: Container, action: str = "checkpoint") -> None:
    """409 unless CRIU can dump the container as it is (for a checkpoint, or a migration:
    ``action``), and a restore give all of it back, and its user is not stopping it."""
    if container.stops_under_way:
        # Its user's stop waits out its grace without the lock: its SIGKILL would end the
        # dump, or a move carry the container away from it (to run on at the target), or the
        # images of a checkpoint that ended first restore a run its user stopped.
        raise Conflict(f"cannot {action} container {container.id!r}: it is being stopped")
    execs = [
        pid for pid in container.processes if container.init is None or pid != container.init.pid
    ]
    if execs:
        # CRIU dumps the tree under the init; an exec'd process hangs off the keeper
        # (outside the container), so it would be lost without a word. Podman refuses too.
        listed = ", ".join(str(pid) for pid in execs)
        raise Conflict(
            f"cannot {action} container {container.id!r} while processes started with exec"
            f" are running (pids {listed}): CRIU dumps only the init's process tree."
            " Wait for them to exit or signal them first"
        )
    # An exec reported gone whose output has not ended: what it left in the background
    # (re-parented to the init, so dumped) still holds that exec's pipe, whose reader is
    # the daemon's. CRIU would restore the pipe without it, and the process would die of
    # SIGPIPE at its next write, without a word: refused, as a live exec is.
    if left := [
        p.pid
        for p in container._writing.values()
        if p is not container.init and p.reported.is_set() and not p.output_ended.is_set()
    ]:
        listed = ", ".join(str(pid) for pid in left)
        raise Conflict(
            f"cannot {action} container {container.id!r}: what exec {listed} left running"
            " still writes to that exec's output pipe, which a restore would give no"
            " reader (it would die at its next write). Stop it, or have it write to the"
            " init's output (exec >/proc/1/fd/1 2>&1) or to a file"
        )
    assert container.init is not None
    # A restored init runs in the time namespace CRIU made for it (its clocks go on from the
    # dump). The daemon's execs join it (see ._exec), but runc 1.1's own exec does not: what
    # was exec'd with runc by hand, or by a daemon before 2026-12-05 in a container this one
    # adopted, and left running in the init's tree is in the host's. CRIU dumps such a tree
    # and then cannot restore it ("Can't restore sub-task in NS"): an exit checkpoint, or a
    # move, would lose the container. A container never restored has all in the host's.
    init_time = procfs.time_namespace(container.init.pid)
    if init_time is not None and (
        other := [
            pid
            for pid in procfs.descendants(container.init.pid)
            if procfs.time_namespace(pid) not in (init_time, None)
        ]
    ):
        listed = ", ".join(str(pid) for pid in other)
        raise Conflict(
            f"cannot {action} container {container.id!r}: processes {listed}, left running in"
            " this restored container by an exec that did not join its init's time namespace"
            " (runc exec by hand, or a daemon before 2026-12-05), are in another time"
            " namespace than its init, and CRIU cannot restore a tree of two. Stop them, or start"
            " the container afresh"
        )
    if procfs.state(container.init.pid) == "T":
        # CRIU cannot seize a process stopped by SIGSTOP: runc would hang to its deadline.
        raise Conflict(
            f"cannot {action} container {container.id!r}: its init is stopped by a signal"
            " (SIGSTOP); send it SIGCONT first"
        )


async def checkpoint(
    container: Container, name: str, options: CriuOptions, *, exit: bool, deadline: float
) -> CheckpointInfo:
    """Checkpoint the container into ``{bundle}/checkpoints/{name}`` within ``deadline``
    seconds; ``exit``: it stops once dumped (runc forgets it), else it stays as it was."""
    async with container.holding_for_dump():
        container._require_live("checkpoint")
        check_checkpointable(container)
        assert container.init is not None  # live
        was_paused = container.status is Status.PAUSED
        if exit:
            container._checkpoint_exit = trio.Event()
        progress = CriuProgress(container._ctx.events, container.id, name, container.labels)
        try:
            info = await container._dumps.unless_killed(
                partial(
                    criu.dump, container._ctx.runtime, container.id, container.bundle,
                    container.dir, name, options, exit=exit, was_paused=was_paused,
                    cleanup_timeout=container._ctx.cleanup_timeout, gone=container._init_gone,
                    deadline=deadline, resources=container.resources,
                    process=container.kept_process(), progress=progress,
                ),
                container.init.pid, "checkpoint", "the checkpoint", progress, deletable=True,
            )  # fmt: skip
        finally:
            if container._checkpoint_exit is not None:
                container._checkpoint_exit.set()
                container._checkpoint_exit = None
        container.publish("checkpoint")
        if exit:
            container.known_to_runc = False
            # CRIU killed the processes and runc forgot the container: wait for the init's
            # exit so that the answer (and the next restore) sees it stopped.
            with trio.move_on_after(container._ctx.cleanup_timeout):
                await container._stopped.wait()
        elif was_paused:
            # runc leaves a checkpointed container running; keep it as the client left it.
            container.status = Status.PAUSED
        container.save()
        return info
