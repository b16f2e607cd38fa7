"""A container's end: its stop (SIGTERM, then SIGKILL: a delete's, or its user's, docker's
stop), its delete (runc's, then its task
tree, record and files), and its removal for a start of its id that replaces it.

Apart from :class:`.Container`: the order of an end (marked being deleted and recorded so,
stopped within its grace, forgotten by runc, then here) and what a failed one leaves are the
delete's alone; it stays in this package, as :mod:`._moving` does, because it reaches the
container's private state (its task tree, its dumps, its drains), which is the package's alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .. import timestamps
from ..errors import DaemonError, RuntimeTimeout
from ..model import ContainerInfo, Status
from ..runc_destroy import own_pid_namespace
from ..runtime import RuncError
from ..signals import DEFAULT_STOP_TIMEOUT
from . import _pausing
from ._directories import remove_directory, replaced_directory
from ._exits import DRAIN_SECONDS

if TYPE_CHECKING:
    from ._container import Container

log = logging.getLogger("containerd_trio.container")


#: A grace without end (a stopTimeout of -1) as the record's graceEndsNs says it: a next server
#: that finishes the delete waits for the exit too.
_NO_GRACE_END_NS = 2**63 - 1


def grace_end_ns(grace: float) -> int:
    """When a grace of ``grace`` seconds from now ends (:func:`~.timestamps.boot_ns`), as a
    record keeps it: :data:`_NO_GRACE_END_NS` for one without end, or that ends past it (the
    API takes any finite number of seconds: 1e300 overflowed the conversion, a 500, and no
    signal went; 1e10 wrote an end past 64 bits)."""
    if grace * 1e9 >= _NO_GRACE_END_NS:  # inf too
        return _NO_GRACE_END_NS
    return min(_NO_GRACE_END_NS, timestamps.boot_ns() + int(grace * 1e9))


def stop_grace(container: Container, default: float = DEFAULT_STOP_TIMEOUT) -> float:
    """The seconds a delete that names none gives the container from its stop signal to its
    SIGKILL: its stopTimeout (-1: without end, as docker's stop waits), else ``default``
    (:data:`DEFAULT_STOP_TIMEOUT`; the daemon's ``--shutdown-timeout`` at its stop)."""
    timeout = container.stop_timeout
    if timeout is None:
        return default
    return math.inf if timeout < 0 else timeout


def stop_signal(container: Container) -> int:
    """The signal a stop that names none sends first: its stopSignal, else SIGTERM."""
    return signal.SIGTERM if container.stop_signal is None else container.stop_signal


async def stop(container: Container, grace: float, signum: int | None = None) -> None:
    """Its lock held: send the init ``signum`` (None: :func:`stop_signal`), wait up to
    ``grace`` seconds, then SIGKILL; return once it exited."""
    if container._stopped.is_set() or container.init is None:
        return
    signum = stop_signal(container) if signum is None else signum
    await send_stop_signal(container, signum)
    await wait_stopped(container, grace, signum)


async def end_left_behind(container: Container) -> None:
    """Its lock held, its init exited: SIGKILL to what its init's death left running (a
    container without a pid namespace of its own keeps its other processes: those added to
    it, its init's children), once each added one's exit is reported, as containerd's shim
    ends such a container's rest at its init's exit. For a daemon's end that keeps the
    container, stopped (``--stop-containers``): no daemon watches them afterwards (their
    output read by nobody), and a next server adopted the stopped container's record as a
    running one, a process of them taken for its init. A removal's runc delete --force ends
    them otherwise, and a container with its own pid namespace has none: no runc call."""
    if not container.known_to_runc or container.init is None:
        return
    processes = list(container.processes.values())
    runtime = container._ctx.runtime
    if any(not p.exited.is_set() for p in processes) or not own_pid_namespace(
        runtime.root / container.id
    ):  # a state file that does not say taken for shared: the kill says if it is gone
        try:
            await runtime.kill(container.id, signal.SIGKILL, all_processes=True)
        except RuncError as exc:
            if not exc.container_missing:
                raise
            return  # runc has no state of it left (a host rebooted meanwhile): nothing runs
    # Each exit reported before the daemon ends, those already seen too: a process the
    # kernel ended with its init (a pid namespace of its own) may be seen exited, its exit
    # not yet published, and a server that ended then left it for the next one to publish,
    # stamped as it found it (found under load: the test's replay up to the stop lacked it).
    with trio.move_on_after(container._ctx.cleanup_timeout):
        for process in processes:
            await process.reported.wait()


async def end_left_at_init_exit(container: Container) -> None:
    """Its init exited (its watch, before that exit is reported): SIGKILL to what a container
    without a pid namespace of its own still runs (``runc kill --all``: the processes added to
    it, its init's children), and each added one's exit reported before the init's, as
    containerd's shim does at such an init's exit (its ``ShouldKillAllOnExit``: docker's
    ``exec -d`` into a ``--pid=host`` container ends with the container). Until 2026-12-06
    they ran on in the stopped container until its removal or its next start, and a next
    server that adopted it took one of them for its init and listed it running. Not for a
    container being deleted (its ``runc delete --force`` ends them), one a checkpoint or a
    move ended (runc has forgotten it, or its copy runs on elsewhere), nor one with a pid
    namespace of its own (the kernel ended them): no runc call then. The lock is not needed:
    a start again, which would make another run of the id for the kill to reach, waits for
    the container to be stopped, which it is once this returns."""
    if (
        container.deleting
        or not container.known_to_runc
        or container.moved_away
        or container._checkpoint_exit is not None
    ):
        return
    runtime = container._ctx.runtime
    # Known from the bundle for a container this server started: no file read on the exit of
    # every container (the lifecycle's path); runc's state file for an adopted one. Where
    # that does not say either, runc has forgotten it: nothing of it is left to signal.
    own = container.own_pid_namespace
    if own is None:
        own = own_pid_namespace(runtime.root / container.id)
    if own is not False:
        return
    others = [p for p in container.processes.values() if p is not container.init]
    try:
        await runtime.kill(container.id, signal.SIGKILL, all_processes=True)
    except DaemonError as exc:
        if not (isinstance(exc, RuncError) and exc.container_missing):
            log.warning(
                "container %s: cannot end what its init left running: %s", container.id,
                exc.message,
            )  # fmt: skip
        return
    with trio.move_on_after(container._ctx.cleanup_timeout):
        for process in others:
            await process.reported.wait()


async def send_stop_signal(container: Container, signum: int) -> None:
    """Its lock held: the first step of a stop, ``signum`` to the init, and a paused
    container resumed so that it takes it now (a frozen process gets its signals only once
    thawed), not as the SIGKILL after the grace."""
    _signal_quietly(container, signum)
    if container.status is Status.PAUSED:
        await _pausing.resume_held(container)


async def wait_stopped(
    container: Container,
    grace: float,
    signum: int,
    thaw_killed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The rest of a stop whose ``signum`` was sent: up to ``grace`` seconds for the exit,
    then SIGKILL (``thaw_killed`` then: a stop that let go of the lock resumes a container
    paused meanwhile, so that it dies), then up to the runtime deadline for the exit
    (:class:`RuntimeTimeout` past it: the kernel holds the init). A ``signum`` of SIGKILL
    has no grace: it is the SIGKILL (docker's rm -f)."""
    if signum != signal.SIGKILL:
        with trio.move_on_after(grace):
            await container._stopped.wait()
            return
        # "Ignored" would be untrue of a timeout of 0 (docker stop -t 0), which sends both at
        # once. The seconds are this server's wait: what was left of the grace for a stop a
        # dead server began (Supervisor._stop_left), not the whole.
        log.info(
            "container %s did not exit in its stop's grace (waited %gs here); sending SIGKILL",
            container.id,
            grace,
        )
        _signal_quietly(container, signal.SIGKILL)
        if thaw_killed is not None:
            await thaw_killed()
    timeout = container._ctx.cleanup_timeout
    with trio.move_on_after(timeout):
        await container._stopped.wait()
        return
    raise RuntimeTimeout(
        f"container {container.id!r} did not exit within {timeout:g} s of its SIGKILL: the"
        " kernel holds its init (uninterruptible, D in ps: a hung mount?)"
    )


def _signal_quietly(container: Container, signum: int) -> None:
    """``signum`` to the init, gone or not; a SIGKILL ends a checkpoint's dump under way (a
    stop that let go of the lock: a delete holds it, and no dump runs)."""
    assert container.init is not None
    with contextlib.suppress(ProcessLookupError):
        container.init.signal(signum)
    container._dumps.kill_ends(signum)


async def stop_by_user(
    container: Container, signum: int | None, grace: float | None
) -> tuple[int, float] | None:
    """The first step of docker's stop (``POST /containers/{id}/stop``), in the container's
    turn: its user's, so the exit it brings is final whatever the signal (its restart policy
    disarmed first, and its record saying so, with the end of its grace: a server that dies
    in it leaves the next one to send the SIGKILL, :meth:`.Container.stop_left`); ``signum``
    (None: :func:`stop_signal`) sent under its lock as a command's (not in the middle of a
    dump, whose images would keep it), and a paused one resumed. The signal and the grace
    (``grace`` None: :func:`stop_grace`) for :func:`wait_stopped_by_user`, the rest, which
    the caller awaits next, nothing between; None if a restart waiting out its delay was
    cancelled instead (nothing sent: the container is stopped). The container is counted as
    being stopped (:attr:`.Container.stops_under_way`) from here to the end of that wait: a
    migration or a checkpoint is refused meanwhile."""
    async with container.lock:
        if container.cancel_restart():
            container.save()
            return None
        container._require_live("stop")
        signum = stop_signal(container) if signum is None else signum
        grace = stop_grace(container) if grace is None else grace
        # The end of its grace in the record with the stop, before the signal: a server that
        # dies in the grace leaves the next one to send the SIGKILL then. None without one.
        grace_ends_ns: int | None = (
            timestamps.boot_ns() if signum == signal.SIGKILL else grace_end_ns(grace)
        )
        if grace_ends_ns == _NO_GRACE_END_NS:
            grace_ends_ns = None  # no SIGKILL to send (a grace too long is as long as that)
        container.mark_stopped_by_user(grace_ends_ns)
        await send_stop_signal(container, signum)
        # Counted before the lock goes: a migration that takes it next sees the stop.
        container.stops_under_way += 1
    return signum, grace


async def wait_stopped_by_user(
    container: Container,
    signum: int,
    grace: float,
    thaw_killed: Callable[[], Awaitable[None]],
) -> ContainerInfo:
    """The rest of the stop :func:`stop_by_user` began (its ``signum`` sent): its waits
    (:func:`wait_stopped`), without the lock, so that a kill or a delete may come meanwhile
    (not a migration, nor a checkpoint). The container as it ended; it stays, unless a
    delete removed it (it answers as the delete ended it)."""
    try:
        try:
            await wait_stopped(container, grace, signum, thaw_killed)
        except RuntimeTimeout:
            if not _delete_past_its_grace(container):
                raise
            # A delete that came in the grace, its own grace over, ends what the SIGKILL did
            # not (runc delete --force, past its deadline): its end is the stop's too, as
            # when a delete ends the container in the grace. Its lock is the delete's until
            # then, within its runtime deadlines. (Before, the 504 said the container ran on
            # while the delete went on to remove it.)
            async with container.lock:
                pass
            if not (container.deleted or container._stopped.is_set()):
                raise  # the delete failed too: it runs on, the SIGKILL pending
    finally:
        container.stops_under_way -= 1
    return container.info()


def _delete_past_its_grace(container: Container) -> bool:
    """A delete is under way whose grace has ended: its SIGKILL sent, what is left of it (the
    wait for the exit, then runc delete --force) is bounded by the runtime deadline."""
    ends = container._grace_ends_ns
    return container.deleting and ends is not None and ends <= timestamps.boot_ns()


class NotAtRest(Exception):
    """A delete ``if_at_rest`` (a prune's, an rm's without -f) found its container no longer
    stopped for good (running again, a restart due, or a delete under way): it is left as it
    is. (One a start of its id replaced is found deleted: :meth:`.Container.gone`.)"""


async def delete(
    container: Container,
    timeout: float | None,
    *,
    force: bool = False,
    if_at_rest: bool = False,
) -> ContainerInfo:
    """Stop, remove from runc, end the task tree and remove the container's files.
    ``timeout``: the grace from now, which a wait for the lock (a checkpoint's dump
    under way) takes its part of; None: the container's own (:func:`stop_grace`).
    ``force`` (docker's rm -f): no grace and no stop signal, SIGKILL alone.
    ``if_at_rest`` (a prune's, docker's rm without -f): only a container still
    :attr:`~.Container.at_rest` when the delete has its turn, else :class:`NotAtRest`; judged
    in the step that marks it deleting, so that nothing comes between."""
    if force:
        timeout = 0.0
    elif timeout is None:
        timeout = stop_grace(container)
    grace_ends_ns = grace_end_ns(timeout)
    grace_ends = trio.current_time() + timeout
    async with container._dumps.locked_for_delete(timeout):
        if container.deleted:
            raise container.gone()
        if if_at_rest and not container.at_rest:
            raise NotAtRest(container.id)
        if not container.deleting:  # an autoRemove's, or the last server's, has its own
            container._grace_ends_ns = grace_ends_ns
        begin_delete(container)
        try:
            try:
                await stop(
                    container,
                    max(0.0, grace_ends - trio.current_time()),
                    signal.SIGKILL if force else None,
                )
            except RuntimeTimeout as exc:
                # Not dead after SIGKILL (frozen behind our back?): runc delete --force
                # freezes, kills and thaws the whole cgroup, which settles it.
                log.warning("%s; forcing", exc.message)
            return await remove(container)
        except Exception:
            _end_failed_delete(container)
            raise


async def replace(container: Container, *, keep_log: bool = False) -> Path | None:
    """Remove this stopped container for a start of its id, as a delete would: what its
    init left is ended and each of its exits reported. Its log stays until the start is
    done, to come back with it if the start fails (:meth:`.Container.revived`): in place for a
    restore (which continues it), else moved aside to the path returned (for the start
    to remove once done). Its ``delete`` event is the start's to publish. If it cannot be
    removed, it stays the stopped container it was."""
    async with container.lock:
        if container.deleted:
            raise container.gone()
        # Its record stays as it is, until the start's own record (which names it) takes
        # its place: a server that dies meanwhile has the next one adopt the stopped
        # container, log and all, where a record marked deleting would have it finish a
        # delete, and the log would go with it. (Until 2026-12-05 its removal took the
        # record away: a server that died before the start's own record, as a restart's
        # start waited for its last run's cgroup to empty, left the next one no container.)
        begin_delete(container, recorded=False)
        try:
            await remove(container, keep_log=True, announce=False, keep_record=True)
        except Exception:
            _end_failed_delete(container)
            raise
        if keep_log:
            return None
        # A server dying from here to the start's record leaves the directory aside to the
        # next one, which puts it back for the stopped container its record still lists
        # (adoption's put_back_aside). A directory aside, even an empty one, is what says
        # the start was a fresh one (see put_back).
        aside = replaced_directory(container.dir)
        remove_directory(aside)  # one a failed removal left, which would say the wrong log
        try:
            os.rename(container.dir, aside)
        except FileNotFoundError:
            os.mkdir(aside, 0o700)  # it never had output
        return aside


def _end_failed_delete(container: Container) -> None:
    """A delete (or a replace) that failed before the container was forgotten: it stays
    the container it was, to be deleted again (not refused as being deleted, nor left for
    the next server to delete unasked). Not one that the server's end cut short: its
    record stays marked, for the next server to finish."""
    if not container.deleted:
        container.deleting = False
        # An autoRemove's that failed leaves it to its user's DELETE: that one is theirs.
        container.removed_at_exit = False
        container.save()


def begin_delete(container: Container, *, recorded: bool = True) -> None:
    if recorded:
        # A restart waiting out its delay is cancelled: a delete is final. Not by a start
        # of the id that replaces it (a replace, unrecorded): its user's cancelled it
        # before (and re-arms the policy), and a restart's own start is that restart, the
        # container restarting until it ends (Supervisor._restart).
        container.cancel_restart()
    # Once only in the record: an autoRemove marked it at the exit, then deletes it.
    saved = container.deleting and container._deleting_recorded
    container.deleting = True
    container._deleting_recorded = recorded
    if recorded and not saved:
        container.save()  # a server that dies from here on leaves the next one to finish it
    for draining in container._draining:
        draining.cancel()


async def remove(
    container: Container,
    *,
    keep_log: bool = False,
    announce: bool = True,
    keep_record: bool = False,
) -> ContainerInfo:
    """runc delete --force (what is left is killed), then forget the container (and
    publish its ``delete``, and tell the waiters for its removal, if ``announce``: a
    replace's start does both once it succeeds; its record stays with ``keep_record``)."""
    # --force kills what the init's death left (a container without its own pid
    # namespace keeps its other processes); then let their watchers see them go.
    if container.known_to_runc:
        await container._ctx.runtime.delete(container.id, force=True)
    if running := [p for p in container.processes.values() if not p.exited.is_set()]:
        with trio.move_on_after(DRAIN_SECONDS):
            for process in running:
                await process.exited.wait()
    await forget(container, keep_log=keep_log, keep_record=keep_record)
    # Taken once the tree has ended: every exit that came has been reported by then (a
    # watcher woken with this task may run after it), and what is listed never ended.
    info = container.info()
    if announce:
        container.publish_delete()
        container.mark_gone()
    return info


async def forget(
    container: Container, *, keep_log: bool = False, keep_record: bool = False
) -> None:
    """End the task tree and remove the container's files (runc is done with it), and its
    record, unless ``keep_record``: another record of its id takes its place (a start's
    that replaces it, or the stopped container's that a start's roll-back puts back)."""
    container.deleted = True
    container.output_finished.set()  # followers end
    container._removed.set()
    if container._nursery is not None or container.init is not None:
        await container._finished.wait()
    await container._ctx.keeper.forget(container.id)
    if not keep_record:
        container._ctx.journal.remove(container.id)
    if not keep_log:
        remove_directory(container.dir)
