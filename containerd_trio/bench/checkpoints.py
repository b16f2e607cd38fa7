"""``--checkpoint``: checkpoint (with exit) and restore, through the daemon and with runc.

One container at a time, each through start, checkpoint, restore and delete; the daemon's
rounds and runc's alternate (and take turns going first), so that a load that comes and goes
on the machine weighs on both alike. runc's containers get pipes for their stdio, as the
daemon's do: CRIU cannot dump a process whose stdio is a file of the host.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

from ..errors import RuntimeFailure
from ..mounts import remove_tree
from ..runtime import CriuOptions, Stdio
from ..spawn import dev_null
from .api import CALL_TIMEOUT, DaemonApi
from .errors import BenchError
from .phase import Progress
from .targets import RuncTarget

#: How many containers ``--checkpoint`` takes through checkpoint and restore, at most.
CHECKPOINT_COUNT = 20


@dataclass
class CheckpointPhase:
    count: int
    daemon_checkpoint: list[float] = field(default_factory=list)
    daemon_restore: list[float] = field(default_factory=list)
    runc_checkpoint: list[float] = field(default_factory=list)
    runc_restore: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def checkpoints(
    api: DaemonApi,
    runc: RuncTarget,
    prefix: str,
    count: int,
    bundle: Path,
    image_root: Path,
    progress: Progress,
) -> CheckpointPhase:
    """Start, checkpoint (exit), restore, delete: ``count`` times through each, in turns."""
    phase = CheckpointPhase(count)
    for index in range(count):
        daemon = _daemon_round(api, phase, f"{prefix}-ck-{index}", bundle)
        raw = _runc_round(runc, phase, f"{prefix}-raw-ck-{index}", bundle, image_root / str(index))
        first, second = (daemon, raw) if index % 2 == 0 else (raw, daemon)
        await first
        await second
        progress("checkpoints", index + 1, count)
    return phase


async def _daemon_round(
    api: DaemonApi, phase: CheckpointPhase, container_id: str, bundle: Path
) -> None:
    name = container_id
    try:
        await api.start(container_id, bundle)
        began = time.perf_counter()
        await api.checkpoint(container_id, name)
        phase.daemon_checkpoint.append(time.perf_counter() - began)
        began = time.perf_counter()
        await api.start(container_id, bundle, checkpoint=name)
        phase.daemon_restore.append(time.perf_counter() - began)
    except BenchError as exc:
        phase.errors.append(str(exc))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
            try:
                await api.delete(container_id)
                await api.delete_checkpoint(container_id, name, bundle)
            except BenchError as exc:
                phase.errors.append(str(exc))


async def _runc_round(
    target: RuncTarget, phase: CheckpointPhase, container_id: str, bundle: Path, image_path: Path
) -> None:
    runc, options = target.runc, CriuOptions()
    work_path = image_path.with_name(f"{image_path.name}-work")
    pipes = _Pipes()
    try:
        try:
            await target.run(container_id, bundle, pipes.child)
        finally:
            pipes.close_child_ends()
        await trio.Path(image_path).mkdir(parents=True)
        began = time.perf_counter()
        await runc.checkpoint(container_id, image_path, work_path, options, leave_running=False)
        phase.runc_checkpoint.append(time.perf_counter() - began)
        # runc has removed the container; its init is our zombie until reaped, and CRIU
        # restores the same pid: reap it first.
        await target.wait_init(container_id)
        pipes.close()
        pipes = _Pipes()
        pid_file = target.pid_dir / f"{container_id}.pid"
        began = time.perf_counter()
        try:
            pid = (
                await runc.restore(
                    container_id, bundle, image_path, work_path, pid_file, pipes.child, options
                )
            ).pid
        finally:
            pipes.close_child_ends()
            pid_file.unlink(missing_ok=True)  # runc.restore took it, unless it failed
        phase.runc_restore.append(time.perf_counter() - began)
        target.watch(container_id, pid)
    except (BenchError, RuntimeFailure) as exc:
        phase.errors.append(str(exc))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CALL_TIMEOUT):
            try:
                await target.remove(container_id)
            except BenchError as exc:
                phase.errors.append(str(exc))
        pipes.close()
        remove_tree(image_path)
        remove_tree(work_path)  # a killed restore's cgroup yard is detached, not walked into


class _Pipes:
    """A container's stdout and stderr as one pipe (CRIU dumps a pipe, not a host file), whose
    reading end the bench holds (unread: the container sleeps) until it is removed."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_CLOEXEC)
        self.child = Stdio(dev_null(), self._write, self._write)
        self._child_open = True

    def close_child_ends(self) -> None:
        if self._child_open:
            self._child_open = False
            os.close(self._write)

    def close(self) -> None:
        self.close_child_ends()
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
