"""What a new server takes over from the one before it (after a crash, or a live upgrade).

Four sources, reconciled once at start-up, before the server accepts a request:

- the journal: every container the last server knew, with each process's key and start time;
- the keeper's welcome: every process it holds, with its exit (true status and time) if it
  exited while no server listened, and whether its output has all reached the log;
- runc's list: what runc still runs;
- the runc commands the last server had in flight: those the keeper ran for it (the keeper
  finishes them and reports here), and those it ran itself (a pause, a delete...): the
  keeper's orphans as it died (the keeper is the child subreaper), which this server waits
  for, within the runtime deadline, before it reads runc's list (:func:`left_running`).

Then: a start in flight (its record says ``created``) is rolled back, a delete in flight is
finished, an exec in flight (a process the keeper holds that no record names) is undone, every
other container is adopted with its processes; the keeper's exits are reported as they happened.
A process the keeper does not hold (the keeper itself was restarted) is watched through its
pidfd, and its exit status is unknowable (255).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

import attrs
import trio

from . import checkpoints, procfs
from .bundle import read_bundle
from .cgroups import remove_start_cgroups
from .children import end_process
from .config import DaemonConfig
from .container import (
    Adopt,
    Container,
    ContainerContext,
    process_info,
    put_back_directory,
    replaced_directory,
    sweep_replaced,
)
from .criu import DUMP_WORK_PREFIX, dump_work, finished_dump, put_freezer_back, reserved_by
from .criu_progress import (
    LEFT_RESTORE_STOPPED_ERROR,
    left_dump_done,
    left_dump_failed,
    left_restore_failed,
)
from .errors import DaemonError, StartupError
from .event_types import INIT_EXIT_FIELD, RESTARTING_FIELD, UNSEEN_EXIT_FIELD
from .keeperlink import Kept, SpawnResult, Welcome
from .model import ContainerInfo, ContainerState, Resources, Status
from .mounts import remove_tree
from .process import UNKNOWN_EXIT_STATUS, Process
from .records import ContainerRecord, ProcessStart, record_replaced_user_cpu, record_user_cpu
from .runtime import release_criu_root
from .timestamps import format_ns, now_ns, parse_ns

log = logging.getLogger(__name__)

_RUNC_STATUS = {"running": Status.RUNNING, "paused": Status.PAUSED}
#: The runc commands that make container processes: the keeper runs them (the adoption waits
#: for those the last server left through the keeper, :attr:`Adoption.settled`); the server
#: runs every other one itself.
_KEEPERS_COMMANDS = frozenset({"run", "create", "exec", "restore"})
#: runc's global options that take a value, as :class:`~.runtime.Runc` passes them.
_VALUED_OPTIONS = frozenset({"--root", "--log", "--log-format", "--criu"})


class Adoption:
    def __init__(
        self,
        context: ContainerContext,
        config: DaemonConfig,
        welcome: Welcome,
        nursery: trio.Nursery,
        containers: dict[str, Container],
        moving: frozenset[str] = frozenset(),
    ) -> None:
        """``moving``: the containers that moves the last server left under way hold (their
        settling waits for their dumps, :mod:`.migration.left`)."""
        self._ctx = context
        self._config = config
        self._welcome = welcome
        self._nursery = nursery
        self._containers = containers
        self._moving = moving
        self._inflight = set(welcome.inflight)
        #: The runc commands the last server had in flight have all ended.
        self.settled = trio.Event()
        #: Processes the keeper holds that no record has claimed yet, by key.
        self._kept: dict[str, Kept] = {kept.key: kept for kept in welcome.kept}
        #: Processes made by runc commands still in flight when we started.
        self._late: list[SpawnResult] = []
        #: The containers that a dump which finished after its server died has in its images
        #: (:meth:`_undo_ended_dumps`): one that runc no longer lists was stopped by it (a
        #: checkpoint with ``exit``), and is kept for its restore, as its server would have.
        self._dumped: set[str] = set()
        #: Those processes, and every one the keeper held unclaimed, have been undone
        #: (:meth:`_undo_unclaimed`): one that comes later is undone as it comes.
        self._undone = False
        if not self._inflight:
            self.settled.set()

    def inflight_done(self, spawn_id: int, result: SpawnResult) -> None:
        self._inflight.discard(spawn_id)
        if result.pid is not None and result.key is not None:
            if self._undone:
                self._undo_late(result.key, result.pid, result.start_time)
            else:
                self._late.append(result)
        if result.master is not None:
            os.close(result.master)
        if not self._inflight:
            self.settled.set()

    async def run(self) -> None:
        runtime = self._ctx.runtime
        # What the last server left running must end first: its outcome decides what we see.
        with trio.move_on_after(runtime.timeout + 5):
            await self.settled.wait()
        records = {record.container.id: record for record in self._ctx.journal.load()}
        await self._end_left_running(records)
        try:
            known = {entry["id"]: entry for entry in await runtime.list()}
        except DaemonError as exc:
            raise StartupError(
                f"cannot list runc's containers to adopt them: {exc.message}"
            ) from None
        for container_id, entry in known.items():
            if container_id not in records:
                # runc has it but the last server died before writing its record.
                records[container_id] = _record_from_runc(entry)
        for record in sorted(records.values(), key=lambda r: r.container.created_at):
            try:
                await self._adopt(record, known.get(record.container.id))
            except DaemonError as exc:
                self._list_stopped(record, exc)
        await self._undo_unclaimed()
        await _remove_half_made(self._config.runc_root, set(known), records)
        sweep_replaced(self._config.containers_dir)

    async def _end_left_running(self, records: dict[str, ContainerRecord]) -> None:
        """The runc commands the last server ran itself and left running as it died: what
        runc lists, and what this server does to a container, must come after them, or one
        that ends later undoes it (a pause landed on a container adopted running; a delete
        --force killed and removed a container started again under its id). Each is waited
        for, all at once, within the runtime deadline from now (when it began is not
        recorded), and killed past it as its server would have killed it.

        A checkpoint is ended at once: nobody can complete it now (its metadata was its
        server's to write), and with ``exit`` it would stop the container for a checkpoint
        that never comes to be. What its server's failure would have undone is undone: its
        images and CRIU's work dir go, and the container's freezer is put back as its record
        says (:meth:`_put_freezer_back`). A move's is left to the move's settling
        (``moving``). So is a dump whose runc ended before this server looked
        (:meth:`_undo_ended_dumps`), and one whose CRIU had finished, its runc not (its last
        steps, or a wrapper's): killed, it is completed there as those are (before, its
        images were removed, and with ``exit`` nothing was left of the container)."""
        left = [
            runc
            for runc in left_running(self._welcome.keeper_pid, self._config.runc_root)
            if not (runc.command == "checkpoint" and runc.container_id in self._moving)
        ]
        async with trio.open_nursery() as nursery:
            for runc in left:
                if runc.command == "checkpoint":
                    nursery.start_soon(self._end_left_dump, runc, records.get(runc.container_id))
                else:
                    nursery.start_soon(self._wait_left, runc)
        for record in records.values():
            if record.container.id not in self._moving:
                await self._undo_ended_dumps(record)

    async def _wait_left(self, runc: LeftRunc) -> None:
        within = self._ctx.runtime.timeout
        log.warning("waiting for %s, which the last server left running (up to %g s)", runc, within)
        if await end_process(runc.pid, grace=within, tree=True):
            log.error(
                "killed %s, which the last server left running, past the runtime deadline", runc
            )

    async def _end_left_dump(self, runc: LeftRunc, record: ContainerRecord | None) -> None:
        log.warning(
            "killing %s, which the last server left running: nobody can complete that"
            " checkpoint now", runc,
        )  # fmt: skip
        await end_process(runc.pid, tree=True)
        work = runc.option("--work-path")
        if record is not None and work is not None and finished_dump(Path(work)) is not None:
            # CRIU had finished the dump, runc not its last steps (or a wrapper of it): the
            # checkpoint is made (with exit, it is all that is left of the container), and is
            # completed with those whose runc had ended (_undo_ended_dumps), which thaws.
            return
        if work is not None:
            remove_tree(work)  # detaches the cgroup yard a killed CRIU left mounted in it
            name = Path(work).name.removeprefix(DUMP_WORK_PREFIX)
            labels = record.container.labels if record is not None else None
            left_dump_failed(self._ctx.events, runc.container_id, name, labels)
        if (image := runc.option("--image-path")) is not None:
            checkpoints.discard(Path(image))
        await self._put_freezer_back(runc.container_id, record)

    async def _undo_ended_dumps(self, record: ContainerRecord) -> None:
        """The dumps of the container that its server had under way as it died, and whose
        runc had ended by the time this server looked (a kill of the server alone gives a
        short dump the time to end; a kill of the whole daemon's control group, as systemd
        does, kills runc and CRIU with it): each one's CRIU work dir, which every dump
        removes as it ends, is still in the container's directory.

        A dump that CRIU finished is completed: its metadata written (its server died before
        it could), the ``checkpoint`` event published. Before, its images were removed, and
        one made with ``exit`` had stopped the container: nothing was left of it. The others
        are undone, as their server would have: their images go unless their metadata was
        written (before, those without held the name for good: a checkpoint of it and its
        delete both answered 409 "not a checkpoint"). Either way their work dir goes, and the
        container's freezer is put back as its record says (:meth:`_put_freezer_back`)."""
        info = record.container
        directory = self._config.containers_dir / info.id
        try:
            with os.scandir(directory) as entries:
                names = [
                    entry.name.removeprefix(DUMP_WORK_PREFIX)
                    for entry in entries
                    if entry.name.startswith(DUMP_WORK_PREFIX)
                    and entry.is_dir(follow_symlinks=False)
                ]
        except OSError:
            return
        bundle = Path(info.bundle_path)
        for name in names:
            work = dump_work(directory, name)
            finished = finished_dump(work)
            try:
                completed = finished is not None and checkpoints.commit_finished(bundle, finished)
            except DaemonError as exc:
                # Its images are all there is of it (with exit, of the container too): kept,
                # with the work dir that says what they are, for the next server to complete.
                log.error(
                    "container %s: checkpoint %s, whose dump finished after its server died,"
                    " cannot be completed now; its images and CRIU's work dir stay for the next"
                    " server to complete it: %s", info.id, name, exc.message,
                )  # fmt: skip
                self._dumped.add(info.id)
                continue
            if completed and finished is not None:
                log.warning(
                    "completed checkpoint %s of container %s: its dump finished after its"
                    " server died", name, info.id,
                )  # fmt: skip
                image = checkpoints.checkpoints_dir(bundle) / name  # measured, not opened
                ended_ns = parse_ns(finished.timestamp)  # when CRIU's log ended
                events = self._ctx.events
                left_dump_done(events, info.id, name, image, work, ended_ns, info.labels)
                events.publish("checkpoint", info.id, labels=info.labels)
                self._dumped.add(info.id)
            else:
                log.warning("undoing checkpoint %s of container %s, left under way", name, info.id)
                left_dump_failed(self._ctx.events, info.id, name, info.labels)
                if reserved_by(work):
                    checkpoints.discard_unfinished(bundle, name)
                else:
                    # Killed between the work dir's making and the intent's: the name's
                    # directory is this dump's only if it came after the work dir, empty.
                    with contextlib.suppress(OSError):
                        made = os.lstat(work).st_ctime_ns
                        checkpoints.discard_reservation(bundle, name, made)
            remove_tree(work)  # detaches a killed CRIU's cgroup yard
        if names:
            await self._put_freezer_back(info.id, record)

    async def _put_freezer_back(self, container_id: str, record: ContainerRecord | None) -> None:
        """Leave the container's freezer as its record says, after a dump killed with (or
        after) its server: thawed, or frozen if the record says paused. CRIU freezes the
        container before it dumps, then thaws it once it holds the tasks, and sets the state
        it found back only at its end, which a killed CRIU never reaches: a running container
        can be left frozen, a paused one thawed. (Before, only a thaw: a paused container
        left thawed ran on, and runc listing it running, it was adopted running, its
        ``resume`` published, its user's pause gone.) Before runc's list is read: the
        adoption takes the status from runc."""
        paused = record is not None and record.container.state.status is Status.PAUSED
        with trio.move_on_after(self._ctx.cleanup_timeout):
            await put_freezer_back(self._ctx.runtime, container_id, paused=paused)

    async def _adopt(self, record: ContainerRecord, runc_entry: dict[str, Any] | None) -> None:
        info = record.container
        container = Container(
            self._ctx,
            info.id,
            Path(info.bundle_path),
            self._config.containers_dir / info.id,
            dict(info.labels),
            auto_remove=bool(info.auto_remove),
        )
        # What the last server put in force, what its start ran (for a start again), the
        # next exit's policy, its times, as recorded.
        container.take_settings(info)
        container.user_cpu = record_user_cpu(record)
        if record.stopped_by_user:
            container.stopped_by_user = True  # its exit, now or to come, is not restarted
        if info.id in self._dumped and runc_entry is None:
            # runc forgets the container its checkpoint stops: stopped by the checkpoint, not
            # an exit, it is kept for its restore even with autoRemove (the watch's _init_exited).
            container.known_to_runc = False
        runc_status = str((runc_entry or {}).get("status"))
        if record.deleting and info.state.status not in _RUNC_STATUS.values():
            # A delete of a stopped container the last server did not finish: finish it.
            log.info("finishing the delete of container %s that was in flight", info.id)
            await self._ctx.runtime.delete(info.id, force=True)
            self._release(info.id)
            await container.forget()
            # A stopped one with autoRemove: its removal at its exit, which the last server
            # did not finish, unless its record says the delete was its user's (a DELETE
            # that came before the exit: from the exit on, one is a 409); its ``delete``
            # says whose, as that server's would have (and so the memory for the waits
            # that the next server takes up from it). A record of an older daemon says
            # nothing: autoRemove's, as it was taken before.
            removed_at_exit = record.removed_at_exit
            container.removed_at_exit = (
                container.auto_remove if removed_at_exit is None else removed_at_exit
            )
            container.publish_delete()
            return
        if info.state.status is Status.STOPPED and runc_status == "created":
            # What a start that replaced it left in runc when its roll-back's delete failed
            # (the stopped container was put back): not this container's; it stays.
            log.info("removing what a failed start left in runc of container %s", info.id)
            if replaced_directory(container.dir).is_dir():  # its directory is still aside
                # Put back first: a delete that fails then lists it stopped, its log in place.
                await self._ctx.keeper.forget(info.id)  # the failed start's output, if any
                self._containers[info.id] = Container.put_back(
                    self._ctx, info, container.dir, container.user_cpu
                )
                await self._ctx.runtime.delete(info.id, force=True)
                return
            await self._ctx.runtime.delete(info.id, force=True)
            runc_status = "stopped"
        if (
            info.state.status is Status.STOPPED
            and not record.deleting
            and replaced_directory(container.dir).is_dir()
        ):
            # A start that was to replace it, whose server died between its removal and
            # the start's own record (which names it): it is adopted as it was, its log put
            # back in place (before 2026-12-05 its record went with the removal, and the
            # next server knew no such container).
            log.info("container %s is back as it was before a start cut short", info.id)
            put_back_directory(container.dir, info.id)
        if info.state.status is Status.CREATED or runc_status == "created":
            # A start the last server did not finish (or runc's two steps cut in between):
            # roll it back.
            log.info("rolling back the start of container %s that was in flight", info.id)
            await self._ctx.runtime.delete(info.id, force=True)
            await remove_start_cgroups(info.id, _cgroups_path_of(record))
            self._release(info.id)
            replaced = record.replaces is not None
            await container.forget(keep_log=replaced, keep_record=replaced)
            # if the start was a restore
            left_restore_failed(self._ctx.events, info.id, labels=info.labels)
            if record.replaces is not None:
                # It was to replace a stopped container: that one is back, log and all.
                back = Container.put_back(
                    self._ctx, record.replaces, container.dir, record_replaced_user_cpu(record)
                )
                self._containers[info.id] = back
                log.info("container %s is back as it was before that start", info.id)
                if record.restarting and back.restart_policy is not None:
                    self._ctx.restart_exited(back)  # the start was its policy's: again
            return
        # A delete of a running one is finished once it is adopted, its exits reported as
        # they come, what runs then killed once its grace has passed: as the last server's
        # delete would have ended. (Before, runc delete --force at once, and no exit.)
        grace = container.delete_left(record.grace_ends_ns) if record.deleting else None
        # So is its user's stop that was in its grace, its SIGKILL due at the grace's end
        # (before, none came: the container its user stopped ran on for good).
        stop_grace = None
        if not record.deleting and record.stopped_by_user and record.grace_ends_ns is not None:
            stop_grace = container.stop_left(record.grace_ends_ns)
        processes, unseen = self._processes(record)
        init = processes[0] if processes and processes[0].pid == _init_pid(info) else None
        if init is not None and (init.kept or not init.exited.is_set()):
            # runc's word on running or paused; if runc no longer lists it, its init's exit is
            # on its way from the keeper (or here already): the record's word until then.
            recorded = info.state.status if info.state.status is Status.PAUSED else Status.RUNNING
            status = _RUNC_STATUS.get(runc_status, recorded)
            # Kept in its record until it is made again (a server that dies before leaves it
            # to the next); made only on a container that runs (a stopped one's cgroups are
            # gone, and its record keeps the limits it ran under).
            updating = None if init.exited.is_set() else record.updating
            container.updating = updating
            try:
                await self._nursery.start(container.run, Adopt(status, processes, record.oom_kills))
            except DaemonError as exc:
                log.warning("container %s cannot be adopted: %s", info.id, exc.message)
                container.updating = None  # listed stopped below
            else:
                self._containers[info.id] = container
                for pid, start_time, exit_ns in unseen:
                    container.remember_unseen_exit(pid, start_time, exit_ns)
                log.info("adopted container id=%s status=%s", info.id, container.status.value)
                if info.state.status in _RUNC_STATUS.values() and status is not recorded:
                    # Paused or resumed since its record: by a runc pause or resume its server
                    # left running, or that ended as it died (or by hand). Published as the
                    # server would have, once.
                    kind = "pause" if status is Status.PAUSED else "resume"
                    container.publish(kind)
                if grace is not None:
                    self._ctx.delete_left(container, grace)
                    return
                if stop_grace is not None and not init.exited.is_set():
                    # Not once its exit came while no server ran (the keeper's status): it
                    # ended, and a SIGKILL "sent" at a grace that had passed was said in the
                    # log for nothing (the pidfd has no process left to signal).
                    self._ctx.stop_left(container, stop_grace)
                if updating is not None:
                    await self._update_again(container, updating)
                return
        # Its init ended while no server watched, and nobody kept its status; or before,
        # its record says stopped. What it left running (a container without a pid
        # namespace of its own), or that ended while no server watched, the keeper holding
        # its exit, is watched as the last server watched it (before, none was: one still
        # running ran on unknown to the server, its exit never reported).
        if init is not None:
            init.close()
        left = [process for process in processes if process is not init]
        if left:
            container.adopt_left(left)
        exited_unseen = False
        if info.state.status is Status.STOPPED and info.state.exit_status is not None:
            # Stopped before, and kept: a checkpoint that stopped it (see the watch's _init_exited).
            container.mark_stopped(info.state.exit_status)
            container.adopt_ended(record.ended_pid)
        else:
            container.mark_stopped(UNKNOWN_EXIT_STATUS)
            # An exit as any other: counted as its server would have counted it. Marked
            # unseen: its time is unknown, and its wait leaves the time and the pid out (no
            # ended_pid); a next server that answers it from the kept log does too, where it
            # answered the pid and the event's stamp (one kept from before exitedAt).
            self._ctx.metrics.init_exits.inc()
            detail: dict[str, Any] = {INIT_EXIT_FIELD: True, UNSEEN_EXIT_FIELD: True}
            if (
                grace is None
                and container.known_to_runc
                and not container.auto_remove
                and self._ctx.restart_due(container)
            ):
                # Its policy starts it again (restart_exited, below): the exit says so, as
                # the watch's does (_init_exited), one rule for the field and the restart.
                detail[RESTARTING_FIELD] = True
            container.publish(
                "exit", pid=_init_pid(info), status=UNKNOWN_EXIT_STATUS, detail=detail
            )
            container.sessions_due = True
            if container.known_to_runc:
                log.info("container %s exited while the daemon was down", info.id)
                exited_unseen = True
            else:
                # Stopped by its checkpoint's dump (with exit), which ended while no server
                # ran (_undo_ended_dumps): not an exit, kept for its restore (not removed nor
                # restarted), as its server would have kept it (the watch's _init_exited).
                log.info("container %s was stopped by its checkpoint while no daemon ran", info.id)
        self._containers[info.id] = container
        if left:
            await self._nursery.start(container.serve)
            # Ended as the init's watch ends them at its exit: those still running were left
            # by a server before 2026-12-06 (or one whose kill failed), or the init ended
            # while no keeper held it, and no server saw that exit.
            await container.end_left_at_init_exit()
        if grace is not None:
            self._ctx.delete_left(container, 0.0)  # nothing runs: its exit is the last word
        elif container.auto_remove and exited_unseen:
            container.remove_when_stopped()  # as it would have been at its exit
        else:
            container.save()
            if container.restart_policy is not None and (exited_unseen or record.restarting):
                # Ended while no daemon ran (the host rebooted): started again as its policy
                # says, as dockerd does at its start (its status, unknown, is a failure). Or
                # its restart was due as the last server died.
                self._ctx.restart_exited(container)

    async def _update_again(self, container: Container, change: Resources) -> None:
        """Make again the change of limits the last server had under way as it died: its
        ``runc update`` may have put it in force (it ended, or it went on: waited for, see
        :meth:`_end_left_running`) or not, and the record says neither. Made again, it is in
        force and recorded (its ``update`` published), or, refused, put back as a refused
        change is: the record and the cgroups agree."""
        log.info("making again the change of limits of container %s left under way", container.id)
        try:
            await container.update_resources(change)
        except DaemonError as exc:
            log.error(
                "container %s: the change of limits the last server left under way is not"
                " in force: %s", container.id, exc.message,
            )  # fmt: skip

    def _list_stopped(self, record: ContainerRecord, exc: DaemonError) -> None:
        """A delete or a start's roll-back that could not be finished now (runc failed, or
        passed its deadline): the server serves all the same, and lists the container
        stopped, for a DELETE (or a start of its id) to try runc again, as Docker lists a
        dead container. A start that was to replace a stopped container puts that one back,
        its exit and its log. The keeper's hold on the processes ends with what no record
        claims."""
        info = record.container
        log.error(
            "container %s: %s; it is listed stopped, for a DELETE to try again", info.id,
            exc.message,
        )  # fmt: skip
        # A restore in flight whose roll-back failed ends its course on the event stream too,
        # as one rolled back does (before, its restore-started had no end there).
        left_restore_failed(self._ctx.events, info.id, LEFT_RESTORE_STOPPED_ERROR, info.labels)
        directory = self._config.containers_dir / info.id
        if record.replaces is not None and not record.deleting:
            container = Container.put_back(
                self._ctx, record.replaces, directory, record_replaced_user_cpu(record)
            )
        else:
            container = Container.stopped(self._ctx, info, directory, record_user_cpu(record))
        self._containers[info.id] = container

    def _processes(
        self, record: ContainerRecord
    ) -> tuple[list[Process], list[tuple[int, int | None, int]]]:
        """The record's processes, rebuilt from what the keeper holds (or from their pidfds);
        and the exec'd ones found gone, their exits published: pid, start time, exit time."""
        starts: dict[int, ProcessStart] = {s.pid: s for s in record.start_times}
        found = []
        unseen: list[tuple[int, int | None, int]] = []
        for info in record.container.processes:
            start = starts.get(info.pid)
            kept = self._kept.pop(start.key, None) if start and start.key else None
            if kept is not None:
                process = Process(
                    kept.key, info, kept.start_time, kept=True, input_fd=kept.input_fd
                )
                if kept.exit_status is not None:
                    assert kept.exit_ns is not None
                    process.set_exited(kept.exit_status, kept.exit_ns)
                if kept.ended:
                    process.output_ended.set()
                found.append(process)
                continue
            if start is None or procfs.running_start_time(info.pid) != start.start_time:
                # Gone while no keeper held it (or the pid names another process now), or
                # ended and not yet reaped by whoever it was re-parented to: a zombie, whose
                # start time still reads (before, it was taken for running, and its exit,
                # found by its pidfd at once, reported then: status 255 with that time as its
                # own, not unseen).
                if info.pid != _init_pid(record.container):
                    self._ctx.metrics.exec_exits.inc()
                    event = self._ctx.events.publish(
                        "exit",
                        record.container.id,
                        pid=info.pid,
                        status=UNKNOWN_EXIT_STATUS,
                        detail={UNSEEN_EXIT_FIELD: True},  # its time unknown, as its status
                        labels=record.container.labels,
                    )
                    started = start.start_time if start else None
                    unseen.append((info.pid, started, event.timestamp_ns))  # its wait's time
                continue
            key = start.key or f"{record.container.id}/adopted-{info.pid}"
            process = Process(key, info, start.start_time, kept=False)
            process.output_ended.set()  # its pipes died with the keeper that held them
            found.append(process)
        return found, unseen

    def _release(self, container_id: str) -> None:
        """Let go of what the keeper holds for a container that is not adopted."""
        for key, kept in list(self._kept.items()):
            if kept.container_id == container_id:
                del self._kept[key]
                self._undo_process(kept.key, kept.pid, kept.start_time, kept.input_fd)

    async def _undo_unclaimed(self) -> None:
        """Processes the keeper holds that no record names: execs in flight when the last
        server died, which its client never heard of. Undo them."""
        for kept in list(self._kept.values()):
            self._undo_process(kept.key, kept.pid, kept.start_time, kept.input_fd)
        self._kept.clear()
        for result in self._late:
            assert result.key is not None and result.pid is not None
            if self._ctx.processes.get(result.key) is None:
                # As one that comes later (:meth:`_undo_late`), its container removed before
                # this server serves: one that came after runc's list was read, and after its
                # record's roll-back removed nothing, was left in runc. (Most came before, and
                # that runc delete finds nothing.)
                self._undo_process(result.key, result.pid, result.start_time, None)
                if (made := self._made_late(result.key)) is not None:
                    await self._remove_late_container(*made)
        self._late.clear()
        self._undone = True

    def _undo_late(self, key: str, pid: int, start_time: int | None) -> None:
        """A process made by a runc command of the last server that ended after the
        adoption (held past the runtime deadline and its grace): nobody asked for it any
        more (the start's record was rolled back, the exec's client never heard of it).
        Undone as :meth:`_undo_unclaimed` undoes those that came in time, the container it
        made removed from runc (:meth:`_made_late`) in the background."""
        self._undo_process(key, pid, start_time, None)
        if (made := self._made_late(key)) is not None:
            self._nursery.start_soon(self._remove_late_container, *made)

    def _made_late(self, key: str) -> tuple[str, Container | None] | None:
        """The container id that the late process ``key`` of the last server made in runc,
        if it is a start's (an init), and the stopped container this server lists under
        that id (None if none): its runc container goes (:meth:`_remove_late_container`).
        None if this server has a container of that id that is not stopped (its own start
        of the id: then runc refused one of the two, and it is that start's). A stopped one
        is the container the late start was to replace, put back by the adoption: runc's
        container of its id is the late start's (the start removed the stopped one's before
        its runc run). Before, that one stayed in runc, its cgroup with it."""
        container_id, _, name = key.rpartition("/")
        if not name.startswith("init-"):
            return None
        known = self._containers.get(container_id)
        if known is not None and known.status is not Status.STOPPED:
            return None
        return container_id, known

    async def _remove_late_container(self, container_id: str, known: Container | None) -> None:
        """``known``: the stopped container listed under that id, held meanwhile: a start of
        its id (which removes runc's container of the id, then runs its own) is refused, not
        raced. Nothing is removed if a container of that id was started since (its start
        removed the late one, or runc refused it)."""
        async with contextlib.nullcontext() if known is None else known.lock:
            current = self._containers.get(container_id)
            if current is not None and current is not known:
                return
            try:
                await self._ctx.runtime.delete(container_id, force=True)
            except DaemonError as exc:
                log.warning(
                    "could not remove container %s, started by a server that died: %s",
                    container_id, exc.message,
                )  # fmt: skip

    def _undo_process(
        self, key: str, pid: int | None, start_time: int | None, input_fd: int | None
    ) -> None:
        if input_fd is not None:
            os.close(input_fd)
        if pid is not None and start_time is not None and procfs.start_time(pid) == start_time:
            log.info("undoing process %s (pid %d) started by a server that died", key, pid)
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    # It leads its process group (runc makes each process it starts a
                    # session's leader): what it started meanwhile (a shell's commands) is in
                    # the group, and would run on in the container, an orphan no record
                    # names. The group's id cannot be another's while the leader lives.
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
        self._ctx.keeper.drop(key)


@attrs.frozen
class LeftRunc:
    """A runc command the server ran itself, found running (see :func:`left_running`)."""

    pid: int
    command: str
    #: What follows the command on its command line (the container's id last, but for a kill).
    args: list[str]

    @property
    def container_id(self) -> str:
        return self.args[-1] if self.args else ""

    def option(self, name: str) -> str | None:
        """The value of the command's option ``name`` (``--image-path``), if it has one."""
        if name in self.args[:-1]:
            return self.args[self.args.index(name) + 1]
        return None

    def __str__(self) -> str:
        return f"runc {' '.join([self.command, *self.args])} (pid {self.pid})"


def left_running(keeper_pid: int, runc_root: Path) -> list[LeftRunc]:
    """The runc commands on ``runc_root`` among the keeper's children that the server runs
    itself, read from their command lines: at an adoption, those the last server left
    running as it died, re-parented to the keeper (the child subreaper); they go on. (One
    the keeper runs is its child from the start: those are excluded.) Reads the command
    line of each of the keeper's children, one per container process: at adoption only.

    A container's processes are the keeper's children too, and a container chooses its own
    command line: only a process of the keeper's mount and user namespaces, user ids and
    privilege, as the server's runc are, is taken for one (:func:`_identity`; before, one
    named as a runc checkpoint had the directories it named as its ``--work-path`` and
    ``--image-path`` removed, by root, from the host's mount namespace). A process that can
    pass for one can remove them itself."""
    root = os.fsencode(runc_root)
    ours = _identity(keeper_pid)
    if ours is None:
        return []  # no keeper: nothing was re-parented to it
    found = []
    for pid in procfs.children(keeper_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")[:-1]
        except OSError:
            continue
        command = _runc_command(argv, root)
        if command is None or command[0] in _KEEPERS_COMMANDS:
            continue
        identity = _identity(pid)
        if identity is None:
            continue  # it ended meanwhile
        if identity != ours:
            log.warning(
                "process %d is named as runc %s on this daemon's runc root, but it is not one"
                " the last server ran (not of the keeper's namespaces, user ids and"
                " privilege): left alone", pid, command[0],
            )  # fmt: skip
            continue
        found.append(LeftRunc(pid, command[0], command[1]))
    return found


#: What of ``/proc/PID/status`` says what a process may do: its user ids (real, effective,
#: saved, filesystem, as the host sees them), its capabilities (effective, and the bounding
#: set that caps what an exec can give it), whether an exec can give it more at all, and its
#: seccomp filter's mode.
_PRIVILEGE_FIELDS = ("Uid", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp")


def _identity(pid: int) -> tuple[object, ...] | None:
    """The process's mount and user namespaces (each one's device and inode) and its
    privilege (:data:`_PRIVILEGE_FIELDS`); None if it is gone. The server's runc have the
    keeper's: they are its descendants, root as it is, and change neither. A container's
    process may share the host's mount and user namespaces and run as uid 0 (a bundle says
    so), its capabilities taken away: the privilege tells it apart, and one that has the
    keeper's in the keeper's namespaces can do what it names itself."""
    try:
        namespaces = [os.stat(f"/proc/{pid}/ns/{kind}") for kind in ("mnt", "user")]
    except OSError:
        return None
    privilege = procfs.status_fields(pid, _PRIVILEGE_FIELDS)
    if privilege is None:
        return None
    return (*((ns.st_dev, ns.st_ino) for ns in namespaces), *privilege)


def _runc_command(argv: list[bytes], root: bytes) -> tuple[str, list[str]] | None:
    """The command and its arguments, if ``argv`` is runc's (or a wrapper's, as a runtime
    may be) on ``root``: ``--root ROOT`` and the global options after it, then the command."""
    for at in range(len(argv) - 1):
        if argv[at] == b"--root" and argv[at + 1] == root:
            break
    else:
        return None
    while at < len(argv) and os.fsdecode(argv[at]) in _VALUED_OPTIONS:
        at += 2
    if at >= len(argv):
        return None
    return os.fsdecode(argv[at]), [os.fsdecode(arg) for arg in argv[at + 1 :]]


def _init_pid(info: ContainerInfo) -> int | None:
    """The init's pid in the record ``info``; None if it lists none. A stopped container's
    lists none: the processes it lists are those its init left running (a container without
    a pid namespace of its own), which the next server took for its init, and so the
    container for running (until 2026-12-06)."""
    if info.state.status is Status.STOPPED or not info.processes:
        return None
    return info.processes[0].pid


def _record_from_runc(entry: dict[str, Any]) -> ContainerRecord:
    pid = int(entry.get("pid") or 0)
    bundle = Path(str(entry.get("bundle", "")))
    bundle_config = read_bundle(bundle)
    processes = [process_info(pid, bundle_config.process)] if pid else []
    started = procfs.start_time(pid) if pid else None
    created = str(entry.get("created", ""))
    try:
        created = format_ns(parse_ns(created))
    except ValueError:
        created = format_ns(now_ns())
    return ContainerRecord(
        container=ContainerInfo(
            id=str(entry["id"]),
            bundle_path=str(bundle),
            state=ContainerState(status=Status.RUNNING),
            processes=processes,
            created_at=created,
            resources=bundle_config.resources,
            terminal=True if bundle_config.process.get("terminal") else None,
        ),
        start_times=[ProcessStart(pid=pid, start_time=started)] if started is not None else [],
    )


async def _remove_half_made(
    runc_root: Path, listed: set[str], records: dict[str, ContainerRecord]
) -> None:
    """runc killed between making its state dir and writing ``state.json`` leaves a dir that
    ``runc list`` does not show (only ``exec.fifo`` in it), cgroups (those its record names,
    if it has one: a migration's restore has a cgroup of its own, and the one named after
    the id may be the source's, on one machine), and maybe a ``runc init`` waiting on the
    fifo. Nobody else will clean them: remove them."""
    try:
        entries = list(os.scandir(runc_root))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name in listed or not entry.is_dir(follow_symlinks=False):
            continue
        if os.path.exists(os.path.join(entry.path, "state.json")):
            continue
        log.info("removing the half-made runc container %s", entry.name)
        try:
            # A killed restore's mount of the rootfs: remove_tree would refuse the dir for it.
            release_criu_root(Path(entry.path))
        except OSError as exc:
            log.error("cannot remove the half-made runc container %s: %s", entry.name, exc)
            continue
        # A start's own record says where its cgroups are; any other record is an older
        # container's.
        record = records.get(entry.name)
        if record is not None and record.container.state.status is Status.CREATED:
            await remove_start_cgroups(entry.name, _cgroups_path_of(record))
        else:
            await remove_start_cgroups(entry.name)
        remove_tree(entry.path)


def _cgroups_path_of(record: ContainerRecord) -> str | None:
    """The cgroups path of a container whose start is rolled back: its restore's own (a
    migration's), or its bundle's ``linux.cgroupsPath``; None for runc's name after the id
    (also if the bundle cannot be read any more: the roll-back goes on without it)."""
    info = record.container
    cgroups_path = record.cgroups_path
    if cgroups_path is None:
        try:
            cgroups_path = read_bundle(Path(info.bundle_path)).cgroups_path
        except (DaemonError, OSError) as exc:
            log.warning("cannot read the bundle %s: %s", info.bundle_path, exc)
    return cgroups_path
