"""A container's launch: the start of its init (``runc run`` or ``runc restore``, through the
keeper), undone to the last file if it fails, or the adoption of one a server before this one
left running.

Apart from :class:`.Container`: what a launch does (the cgroup it refuses, the limits and
process it lays over the bundle's, the rollback of a failed start, runc's refusals said in the
client's words) is the start's alone, read once per run; it stays in this package, as
:mod:`._moving` does, because it fills in the container's private state (its processes, its OOM
watch), which is the package's alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .. import checkpoints, criu, procfs
from ..bundle import CONFIG_NAME, read_bundle, refused_rootfs
from ..cgroups import CgroupPlace, remove_start_cgroups
from ..children import end_process
from ..criu_progress import CriuProgress
from ..errors import Conflict, DaemonError
from ..keeperlink import CustodyRequest
from ..model import StartProcess, Status
from ..private_bundle import prepare_start, process_over
from ..resources import memory_limited, overlay, refused_at_start
from ..runtime import RuncError, Started
from ._directories import remove_directory
from ._launches import Adopt, Changed, Fresh, Launch, Restore
from ._stdin import close_stdin_pipe, stdin_was_pipe, with_stdin

if TYPE_CHECKING:
    from ..process import Process
    from ._container import Container

log = logging.getLogger("containerd_trio.container")

#: How long a start waits for the processes in its cgroup to leave it before it takes them
#: for another container's (seconds), and how often it looks.
_HELD_CGROUP_GRACE = 1.0
_HELD_CGROUP_LOOK = 0.01


async def launch(container: Container, launch: Launch) -> None:
    """Start (or adopt) the init process; on any failure undo everything and raise."""
    if isinstance(launch, Adopt):
        _adopt(container, launch)
        return
    bundle_config = launch.config or read_bundle(container.bundle)
    # The cgroup runc is to make: a restore's own (a migration's target), else the bundle's.
    restored_into = launch.cgroups_path if isinstance(launch, Restore) else None
    cgroups_path = restored_into or bundle_config.cgroups_path
    place = container._ctx.cgroup_place
    if place is not None and (held := place.held(container.id, cgroups_path)) is not None:
        await _refuse_held_cgroup(container, place, cgroups_path, held)
    container.resources = bundle_config.resources
    container.own_pid_namespace = bundle_config.own_pid_namespace
    limited = bundle_config.memory_limited
    # What runs: the bundle's process, or the start's laid over it. Its terminal decides
    # the console socket runc is given (runc refuses a terminal without one, and one
    # without a terminal).
    process = bundle_config.process
    if type(launch) is not Fresh:  # one test for a plain start, the most common
        if isinstance(launch, Changed) and launch.document is not None:
            process = launch.document
            container.start_process = launch.process
        elif isinstance(launch, Restore) and launch.process is not None:
            # What was checkpointed is what its start ran: its terminal too (_restore).
            process = process_over(process, launch.process)
    key = container._ctx.new_key(container.id, "init")
    pid_file = container._ctx.pid_dir / f"{container.id}.init.pid"
    stdin = launch.stdin
    if isinstance(launch, Restore) and not stdin:
        # A process that read a pipe as its stdin goes on reading one after a restore.
        stdin = stdin_was_pipe(checkpoints.image_path(container.bundle, launch.checkpoint))
    container.stdin = stdin
    container.terminal = bool(process.get("terminal"))
    custody = container._custody(key, terminal=container.terminal, stdin=stdin)
    if isinstance(launch, Restore):
        container._cgroups_path = launch.cgroups_path
        container.start_process = launch.process
    container.save()  # status created: the next server rolls this back if we die now
    try:
        if isinstance(launch, Restore):
            started = await _restore(container, launch, pid_file, custody, container.terminal)
            limited = limited or memory_limited(container.resources)
        elif not isinstance(launch, Changed):
            started = await container._ctx.runtime.run(
                container.id, container.bundle, pid_file, custody
            )
        else:
            limits = launch.resources
            if limits is not None:
                resources = overlay(container.resources, limits)
                if resources == container.resources:
                    limits = None  # the bundle's own (a start again, never updated)
                container.resources = resources
                limited = memory_limited(resources)
            if limits is None and launch.document is None:
                # Nothing to change: run from the bundle itself, as any start, not from
                # a copy runc would name instead.
                started = await container._ctx.runtime.run(
                    container.id, container.bundle, pid_file, custody
                )
            else:
                private = prepare_start(container.bundle, container.dir, limits, launch.document)
                started = await container._ctx.runtime.run(container.id, private, pid_file, custody)
    except BaseException as exc:
        close_stdin_pipe(custody, ours=True)
        container._ctx.keeper.drop(key)
        restore = isinstance(launch, Restore)
        await _undo_start(
            container,
            pid_file,
            cgroups_path,
            # the log it continues
            keep_directory=(restore or container.continues) and container.replaces is not None,
        )
        if isinstance(exc, RuncError):
            given = launch.process if isinstance(launch, Changed) else None
            cwd = process.get("cwd")
            if refused := exc.refused_process(
                container.id,
                program_named=_named("the program of process.args", given, "args", container),
                cwd_named=_named("process.cwd", given, "cwd", container),
                made_cwd=cwd if isinstance(cwd, str) else None,
            ) or refused_rootfs(container.bundle, bundle_config, exc.runc_message):
                raise refused from None
            if isinstance(launch, Changed) and (
                refused := refused_at_start(container.id, launch.resources, exc.runc_message)
            ):
                raise refused from None
        raise
    close_stdin_pipe(custody, ours=False)
    started = with_stdin(started, custody)
    init = container._new_process(key, started, process, stdin=stdin)
    if isinstance(launch, Restore) and launch.moved:
        # Clients here may reach it before the source hands on the input its copy had not
        # read: what they type goes in behind that (Incoming.stdin), not before it.
        init.expect_hand_off()
    container.init = init
    container.status = Status.RUNNING
    container._watch_memory(init.pid, limited)
    # Published before any watcher runs, so that a start always precedes its exit.
    kind = "restore" if isinstance(launch, Restore) else "start-container"
    if container.replaces is not None and not container.continues:
        # The stopped container's, now gone: with its labels, not this one's.
        container._ctx.events.publish("delete", container.id, labels=container.replaced_labels)
    container.publish(kind, pid=init.pid)
    container.save()


async def _restore(
    container: Container, launch: Restore, pid_file: Path, custody: CustodyRequest, terminal: bool
) -> Started:
    """``runc restore`` from the checkpoint under the limits of the stopped container it
    restores over (``launch.resources``: its record's, an update made since the dump
    included), else under those in force at its dump, laid over the bundle's (a
    checkpoint of older code recorded none: the bundle's alone); once it is restored,
    the record says them. Docker keeps a container's limits across a checkpoint too;
    before, a container started with limits, or given them by an update, came back
    under its bundle's. ``terminal``: whether the process has one (its start's, which
    may not be the bundle's: runc takes it from the config it restores from)."""
    kept = launch.resources
    if kept is None:
        kept = checkpoints.kept_resources(container.bundle, launch.checkpoint)
    started = await criu.restore(
        container._ctx.runtime, container.id, container.bundle, container.dir,
        launch.checkpoint, pid_file, custody, deadline=launch.deadline,
        progress=CriuProgress(
            container._ctx.events, container.id, launch.checkpoint, container.labels
        ),
        cgroups_path=launch.cgroups_path, limits=kept, terminal=terminal,
    )  # fmt: skip
    if kept is not None:
        container.resources = overlay(container.resources, kept)
    return started


async def _refuse_held_cgroup(
    container: Container, place: CgroupPlace, cgroups_path: str | None, held: tuple[str, int] | None
) -> None:
    """409 if the cgroup runc would put this container in holds processes for longer than
    a dying process takes to leave it (those a removal killed just before, as a restart's
    of its last run, may be exiting still): another container's of the same id (another
    daemon's on this host, see :class:`~containerd_trio.cgroups.CgroupPlace`), which a
    pause of this one would freeze and a delete of it kill. ``held``: what the start
    found there (:meth:`CgroupPlace.held`)."""
    with trio.move_on_after(_HELD_CGROUP_GRACE):
        while held is not None:
            await trio.sleep(_HELD_CGROUP_LOOK)  # no event says a v1 cgroup emptied
            held = place.held(container.id, cgroups_path)
    if held is None:
        return
    directory, count = held
    raise Conflict(
        f"cannot start container {container.id!r}: its cgroup {directory} holds"
        f" {count} process{'es' if count > 1 else ''} of another container (one of the"
        " same id, another daemon's on this host?); give it another id, or a"
        " linux.cgroupsPath of its own in its bundle's config.json"
    )


async def _undo_start(
    container: Container, pid_file: Path, cgroups_path: str | None, *, keep_directory: bool = False
) -> None:
    """Leave nothing of a failed start: no runc container, no process, no files, no record,
    no cgroup (a runc killed mid-start leaves some that runc delete does not see)."""
    with trio.move_on_after(container._ctx.cleanup_timeout, shield=True):
        await kill_from_pid_file(pid_file)
        try:
            await container._ctx.runtime.delete(container.id, force=True)
        except DaemonError as exc:
            log.error("rollback of container %s: %s", container.id, exc.message)
        await remove_start_cgroups(container.id, cgroups_path)
        await container._ctx.keeper.forget(container.id)
    if container.replaces is None:
        # Else the stopped container it was to replace is put back, its record in this
        # one's place (Container.revived): until then this one's, which names it, says so.
        container._ctx.journal.remove(container.id)
    if not keep_directory:
        remove_directory(container.dir)


def _adopt(container: Container, launch: Adopt) -> None:
    """Take over the processes of a container a previous server watched (its times taken
    from its record: :meth:`.Container.take_settings`)."""
    _take_over(container, launch.processes[:1], launch.processes[1:])
    container.init = launch.processes[0]
    container.status = launch.runc_status
    # Exited while no server ran, the keeper held its exit: reported once the tree runs.
    container.sessions_due = container.init.exited.is_set()
    limited = read_bundle(container.bundle).memory_limited or memory_limited(container.resources)
    container._watch_memory(container.init.pid, limited)
    if container._oom is not None:
        if launch.oom_kills is None:
            container._oom.check_silently()  # a record of older code: from the count as it is
        else:
            # From the count the last server reported: the kills since came while no
            # server watched, and are reported as the watch begins (or at the init's
            # exit, if it was one). Before, they were taken silently: an init killed for
            # memory while the server was down exited 137 with no oom event.
            container._oom.resume_from(launch.oom_kills)
    container.save()


def adopt_left(container: Container, left: list[Process]) -> None:
    """Take over the processes that the init of a stopped container made again from its
    record left running (in a container without a pid namespace of its own, one its last
    server did not end: :func:`._deletion.end_left_at_init_exit`), or whose exits the keeper
    holds: its task tree watches them (:meth:`.Container.serve`), each one's exit reported
    as it comes."""
    _take_over(container, [], left)


def _take_over(container: Container, init: list[Process], execs: list[Process]) -> None:
    """Make the processes rebuilt from a record the container's (its init first, if given):
    its table, the outputs it waits for, the keeper's reports' table."""
    for process in execs:
        if process.since_ns is None and process.start_time is not None:
            # An exec'd process: its exec's ask of runc was the server's before, gone
            # with it; its start, as the kernel counts it, is as good (a pid given again
            # within the run selects its own output: :meth:`.Container.output_since`).
            began_ns = procfs.started_before_ns(process.start_time)
            process.since_ns = max(container.run_began_ns, began_ns)
    for process in [*init, *execs]:
        container.processes[process.pid] = process
        if not process.output_ended.is_set():
            container._writing[process.key] = process
        container._ctx.processes.add(process)


def _named(field: str, given: StartProcess | None, name: str, container: Container) -> str:
    """Where the client named a start's program or cwd: the start's ``process``, if it gave
    that field, else the bundle's config.json."""
    if given is not None and getattr(given, name) is not None:
        return f"{field} of the start"
    return f"{field} in {container.bundle / CONFIG_NAME}"


async def kill_from_pid_file(pid_file: Path) -> None:
    """A runc call that failed or was killed may have started the process: kill it."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    finally:
        pid_file.unlink(missing_ok=True)
    await end_process(pid)
