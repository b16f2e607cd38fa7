"""The watch of a container's process: its exit, reported once its output is in its log
(within the drain's bound), remembered for the waits after it, and what an init's exit does
to the container (stopped; removed, restarted, or kept for its restore).

Apart from :class:`.Container`: the order of an exit's report (the checkpoint first, the
output, the OOM kill counted, the event, then the auto-removal or the restart) is the watch's
alone; it stays in this package, as :mod:`._moving` does, because it is the container's task
tree and changes the container's private state (its live processes, its output), which is the
package's alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from .. import timestamps
from ..event_types import EXITED_AT_FIELD, INIT_EXIT_FIELD, RESTARTING_FIELD
from ..model import Status
from ..process import Process
from . import _deletion
from ._exits import DRAIN_SECONDS, Ended

if TYPE_CHECKING:
    from ._container import Container

log = logging.getLogger("containerd_trio.container")


async def watch(container: Container, process: Process) -> None:
    """Watch ``process`` until it has exited, its exit is reported and its output is in."""
    if process.kept:
        await process.exited.wait()
    elif not process.exited.is_set():
        await process.watch_unkept()
    if process is container.init:
        # What it left (no pid namespace of its own) is ended first, and reported before it:
        # not after the drain below, which a child of it holding its pipes would draw out.
        await _deletion.end_left_at_init_exit(container)
    # Its exit is reported once its output is in the log, so that whoever acts on the exit
    # reads all of it; but a child it left behind may hold its pipes open: not for long.
    # (Most outputs have ended by the exit: then no timeout and no turn of the scheduler.)
    # A delete waits for no output (it cancels the drains under way), and no checkpoint
    # may come between its exit and its report: the delete ends the tree as soon as the
    # exits are in, and a cancel that reached the tree first would lose the report.
    if not process.output_ended.is_set() and not container.deleting:
        with trio.move_on_after(DRAIN_SECONDS) as draining:
            container._draining.add(draining)
            await process.output_ended.wait()
        container._draining.discard(draining)
    if process is container.init:
        await _init_exited(container, process)
    else:
        _exec_exited(container, process)
    process.reported.set()
    container._ctx.keeper.ack([process.key])
    if not process.output_ended.is_set():
        await process.output_ended.wait()
    container._writing.pop(process.key, None)
    container._ctx.processes.remove(process.key)
    process.close()
    container._check_output_finished()


async def _init_exited(container: Container, init: Process) -> None:
    if container._checkpoint_exit is not None:
        # CRIU kills the tree just before runc checkpoint returns; report the checkpoint
        # first, then this exit, in the order a client would expect them.
        await container._checkpoint_exit.wait()
    if container._oom is not None:
        container._oom.check()  # an OOM kill may have come before the watcher was in place
    assert init.exit_status is not None
    _forget_live(container, init)
    # The init's death kills every other process of its pid namespace; those watchers
    # report their own exits as they come.
    container.status = Status.STOPPED
    container.exit_status = init.exit_status
    container.finished_ns = init.exit_ns
    _remember_exit(container, init)
    container._ctx.metrics.init_exits.inc()
    removed = container.auto_remove and not container.deleting and container.known_to_runc
    restarts = (
        not removed
        and container.restart_policy is not None
        and not container.deleting
        and container.known_to_runc
    )
    # A copy a move killed, the container running on at its target: no death.
    if container.moved_away:
        detail = container._moved_detail()
    elif restarts and container._ctx.restart_due(container):
        detail = {INIT_EXIT_FIELD: True, RESTARTING_FIELD: True}
    else:
        detail = {INIT_EXIT_FIELD: True}
    _publish_exit(container, init, detail)
    container._stopped.set()
    log.debug("container exited id=%s pid=%d status=%d", container.id, init.pid, init.exit_status)
    # Not one a checkpoint stopped (runc forgot it then): it is kept for its restore, as
    # any container a checkpoint stops, and the restore keeps autoRemove.
    if removed:
        container.remove_when_stopped()
    else:
        container.save()
        if restarts:
            container._ctx.restart_exited(container)


def _exec_exited(container: Container, process: Process) -> None:
    if container._oom is not None:
        container._oom.check()  # by the time the victim is dead, the kill is counted
    _forget_live(container, process)
    _remember_exit(container, process)
    container._ctx.metrics.exec_exits.inc()
    _publish_exit(container, process, {})
    container.save()


def _publish_exit(container: Container, process: Process, detail: dict[str, Any]) -> None:
    """Publish ``process``'s ``exit``, seen by its watch: an init's and an added process's
    are the same event but for ``detail``, its other fields. Its pid, its status, the moment
    it exited, and that moment in its fields too, as its waits answer it
    (:data:`.EXITED_AT_FIELD`): the event's timestamp is later whenever another event was
    published since (an init that exits before its start is published is stamped after the
    ``start-container``), and a next server that answers a wait from the kept log (a removal
    autoRemove made, a process it does not remember) answers this time, not that."""
    if process.exit_ns is not None:
        detail = {**detail, EXITED_AT_FIELD: timestamps.format_ns(process.exit_ns)}
    container.publish(
        "exit", pid=process.pid, status=process.exit_status, at_ns=process.exit_ns, detail=detail
    )


def _forget_live(container: Container, process: Process) -> None:
    """Take ``process`` out of the live ones, if its pid is still its own there. Its exit
    is reported once its output is in (or after the drain, :data:`DRAIN_SECONDS`, when a
    child it left holds its pipe), but its pid is free from its exit on: a process exec'd
    meanwhile may have been given it, and is then the pid's (its wait, its attach, its
    ``logs?pid=``). The late report took that newer process out of the table before."""
    if container.processes.get(process.pid) is process:
        del container.processes[process.pid]


def _remember_exit(container: Container, process: Process) -> None:
    assert process.exit_status is not None
    ended = Ended(container.exit_of(process), container._since(process), process.start_time)
    container.exits.keep(process.pid, ended)
