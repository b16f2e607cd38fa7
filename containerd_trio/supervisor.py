"""The supervisor: the table of containers and the nursery their task trees live in.

The api layer calls the methods here and nothing else touches the table. Commands that change
something run shielded from their request's cancel (:meth:`Supervisor._submit`), so a client
that hangs up mid-request cannot cancel a start half-way; the start completes, or rolls itself
back, either way. The supervisor's end (a shutdown) still cancels them. A container's task tree
lives in the supervisor's own nursery.

The supervisor is also the keeper's listener (:class:`~containerd_trio.keeperlink.KeeperEvents`):
exits and ends of output go to the processes by key, a log paused by a full disk becomes an
event and a metric.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from . import attach, checkpoints, console, logs, precopy, restarts, timestamps
from .about import About
from .adoption import Adoption
from .archive import idmap
from .archive.paths import (
    CopiedIn,
    CopyOut,
    Root,
    copy_in,
    plan_copy_out,
    process_root,
    rootfs_root,
)
from .bundle import BundleConfig, check_config, check_startable, open_given, read_config
from .cgroups import CgroupPlace, release_killed
from .checkpoints import CheckpointInfo
from .config import DaemonConfig
from .container import (
    Changed,
    Container,
    ContainerContext,
    Fresh,
    Launch,
    NotAtRest,
    Restore,
    remove_directory,
)
from .convert import camel, converter, dump_json, unstructure
from .errors import (
    Conflict,
    DaemonError,
    InvalidRequest,
    NotFound,
    RuntimeFailure,
    ShuttingDown,
    container_not_found,
    quoted,
)
from .event_types import DAEMON_EVENT_ID, DAEMON_STOPPING
from .events import EventBus, error_field
from .keeperlink import KeeperLink, SpawnResult, Welcome
from .logs import LogQuery, LogWatch
from .machine import read_machine
from .metrics import Metrics
from .migration.incoming import Incoming
from .migration.ledger import MoveEntry, MoveLedger, Replaced, SessionLedger
from .migration.left import LeftMove
from .migration.model import MIGRATION_LABEL, MigrationStep
from .migration.moved_away import moved_away
from .migration.moved_over import MovedOver
from .migration.outgoing import Outgoing, Plan
from .model import (
    ContainerInfo,
    ContainerTop,
    ExitInfo,
    ProcessInfo,
    ProcessSpec,
    PruneFailure,
    PruneReport,
    PsTable,
    Resources,
    RestartPolicy,
    StartProcess,
    Status,
    WaitCondition,
)
from .precopy import MemoryFeatures
from .private_bundle import process_over
from .process import Process, ProcessTable
from .pstable import ps_table
from .records import RecordJournal
from .removals import AUTO_REMOVED_KEPT, MOVED_KEPT, Removals, auto_removed
from .resources import check_cpus_available, cpus_as_quota, require_named, user_cpu_after
from .runtime import CriuOptions, Runc
from .signals import signal_number
from .top import read_processes
from .validation import check_exec_strings, check_id

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a journal or event log that a full disk holds back is tried again.
_DISK_RETRY_SECONDS = 1.0
#: The removal of an exited container started with autoRemove waits for its attach sessions
#: to send the rest of its output and its exit status, as long as they go on sending: it gives
#: up on them once they have sent nothing for this long (a client that stopped reading).
#: One whose exit came while no server ran first waits this long at most for a session to
#: come back (the last server's, whose clients connect again).
_ATTACHED_GRACE = 5.0
#: How long a hand-over waits for its attach sessions to close (each close is bounded by a
#: second: attach.session).
_SESSIONS_END_SECONDS = 2.0


@attrs.frozen
class StartedContainer:
    """A container as its start left it, in the API's JSON: the container's own encoding,
    made for its journal record already, so that answering a start encodes nothing again."""

    json: bytes

    def info(self) -> ContainerInfo:
        return converter.structure(json.loads(self.json), ContainerInfo)


class Supervisor:
    def __init__(
        self,
        config: DaemonConfig,
        *,
        runtime: Runc,
        events: EventBus,
        metrics: Metrics,
        keeper: KeeperLink,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.events = events
        self.metrics = metrics
        self.keeper = keeper
        self.machine = read_machine()
        #: The answers of GET /version and GET /info.
        self.about = About(config)
        self.log_watch = LogWatch()
        #: Called when the keeper asks this server to hand over to a new one.
        self.on_handover: Callable[[], None] = lambda: None
        #: The keeper passes on a signal that stops the daemon (its number).
        self.on_stop: Callable[[int], None] = lambda signum: None
        self._containers: dict[str, Container] = {}
        self._processes = ProcessTable()
        self._nursery: trio.Nursery | None = None
        self._context: ContainerContext | None = None
        self._adoption: Adoption | None = None
        self._shutting_down = False
        self._handing_over = False
        #: The server's end leaves the containers running (a hand-over, --keep-containers):
        #: a restart due then is the next server's to make (see _restart_exited).
        self._leaving_containers = False
        #: The daemon's end stops its containers and keeps them, stopped, for the next
        #: daemon (``--stop-containers``), which makes the restarts their policies call for.
        self._keeping_stopped = False
        #: The attach sessions: a server's end that leaves the containers running ends them
        #: first (close 1012), before their processes' input is let go, so that their
        #: clients take them up on the next server (see attach.Sessions).
        self.sessions = attach.Sessions()
        #: The cancel scopes of the commands under way (see _submit, migrate): a shutdown
        #: lets them finish first, then ends the rest.
        self._running: set[trio.CancelScope] = set()
        self._commands_done = trio.Event()
        #: The cancel scopes of the waits for an exit under way (see wait): the server's end
        #: answers those still waiting (a kept container's) 503, rather than cut them.
        self._waits: set[trio.CancelScope] = set()
        self._waits_ended = False
        self._journal = RecordJournal(config.journal_path)
        #: Migrations into this daemon (the target's sessions).
        self.incoming = Incoming(self, SessionLedger(config.migrations_dir))
        #: The stopped containers that moves into here replaced, until their sessions end.
        self._moved_over = MovedOver(config.containers_dir)
        #: Migrations out of this daemon under way (the source's moves).
        self._moves = MoveLedger(config.outgoing_dir)
        #: The containers that a move keeps paused while its target cannot say (one the last
        #: server left under way, or a live one left unsure), by id: set once the user resumes
        #: or deletes the copy.
        self._unsettled: dict[str, trio.Event] = {}
        #: The live moves out of here, by their container's id: a second migrate of one
        #: would wait for its lock and then move the copy the first left paused, unsure. By
        #: their names, a session asked of this daemon is told from its own (moving_away).
        self._migrating: dict[str, Outgoing] = {}
        self._memory_features: MemoryFeatures | None = None
        #: How the last containers that autoRemove removed ended, by id: a wait that comes
        #: after the removal (the container may be gone before its client asks) answers it.
        #: So too those a move ended here (their exit says where they went), whose 404s say
        #: it too (:meth:`_not_found`), each kind within its own bound (a stream of --rm
        #: containers pushes out no move); a server that starts takes both up from the kept
        #: event log (the moves here, autoRemove's once it has adopted).
        self._removals = Removals(moved_away(events.kept(), MOVED_KEPT))
        #: The stopped containers whose restart's own start is under way (:meth:`_restart`),
        #: or their user's start again (:meth:`start_again`) or restore over them
        #: (:meth:`start`), by id: the start's container takes the id, but to the user it is
        #: the stopped one (restarting, for a restart's) until that start ends (see
        #: :meth:`container`, :meth:`_after_start`).
        self._restarting: dict[str, Container] = {}
        #: The checkpoints restores are under way from, by their directory's (device, inode),
        #: to the ids restored (two may restore one at once): a delete of one is refused
        #: meanwhile (it would remove the images under CRIU), however its bundle is spelt.
        self._restoring: dict[tuple[int, int], list[str]] = {}
        #: The checkpoints being written, by their bundle's (device, inode) and name, to the
        #: id dumped: until the dump answers, the directory is there without its metadata,
        #: and a delete of the name, a restore from it and another dump to it are told so.
        self._dumping: dict[tuple[int, int, str], str] = {}
        #: The starts again under way (:meth:`start_again`), by id: set once each answers. A
        #: second start again of the id waits for it, then answers for what it left.
        self._starting_again: dict[str, trio.Event] = {}
        metrics.count_containers(self.count_by_status)
        #: The containers whose log the logger holds paused (a full disk), as it said: until
        #: it says the log is written again, or that it forgot the log (the container's
        #: delete; a paused log's pause goes with it, and no resume is told).
        self._paused_logs: set[str] = set()
        metrics.paused_logs.set_function(lambda: len(self._paused_logs))

    # --- lifetime -------------------------------------------------------------------------------

    async def run(
        self,
        welcome: Welcome,
        *,
        task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Own the containers' nursery until :meth:`shutdown`; adopt what the keeper holds first."""
        self.about.keeper_pid = welcome.keeper_pid
        self.about.keeper_started_ns = welcome.keeper_started_ns
        try:
            context = self._context = ContainerContext(
                runtime=self.runtime,
                keeper=self.keeper,
                processes=self._processes,
                events=self.events,
                metrics=self.metrics,
                log_max_bytes=self.config.log_max_bytes,
                journal=self._journal,
                pid_dir=self.config.pid_dir,
                cleanup_timeout=self.config.runtime_timeout,
                console_dir=console.socket_directory(self.config.state_dir),
                checkpoint_timeout=self.config.checkpoint_timeout,
                remove_exited=self._remove_exited,
                delete_left=self._delete_left,
                stop_left=self._stop_left,
                restart_exited=self._restart_exited,
                restart_due=self._restart_due,
                cgroup_place=CgroupPlace.of_self(),
            )
            self.config.pid_dir.mkdir(parents=True, exist_ok=True)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    # Before the keeper's messages are dispatched: the end of a runc command
                    # the last server left may be the first of them, and the adoption waits
                    # for it (dropped, it would wait until the runtime deadline).
                    left_moves = self._moves.leftovers()
                    adoption = self._adoption = Adoption(
                        context, self.config, welcome, nursery, self._containers,
                        moving=frozenset(move.container_id for move in left_moves),
                    )  # fmt: skip
                    await nursery.start(self.keeper.serve, self)
                    nursery.start_soon(self.log_watch.run)
                    nursery.start_soon(self._retry_full_disk)
                    nursery.start_soon(self.incoming.reap)
                    await adoption.run()
                    # Once adopted: the removals it finished (the last server's) are in the log.
                    self._removals.take_up_auto_removed(
                        auto_removed(self.events.kept(), AUTO_REMOVED_KEPT)
                    )
                    self.incoming.find_left()  # before serving: later sessions are ours
                    for move in left_moves:  # each holds its container first
                        await nursery.start(self._settle_move, move, welcome.keeper_pid)
                    nursery.start_soon(self._clear_left, adoption)
                    task_status.started(self)
                    await trio.sleep_forever()
                finally:
                    # However the nursery ends (a shutdown, or an error in one of its tasks),
                    # no command begins any more, and those under way, shielded from their
                    # callers, end: a start rolls back (its tree would have nowhere to go).
                    self._shutting_down = True
                    for command in self._running:
                        command.cancel()
        finally:
            self._journal.close()
            console.remove_socket_directory(self.config.state_dir)

    async def shutdown(self, *, keep_containers: bool | None = None) -> None:
        """Refuse new commands, let those under way finish, stop every container (unless
        kept running) and delete it (unless kept stopped: ``--stop-containers``, but one
        started with autoRemove, removed at its exit as ever), then end the nursery."""
        if not self._shutting_down and not self._handing_over:
            # Said to the streams as the stop begins (not a hand-over's, after which the
            # daemon goes on): a client following them, the status page, learns of it now,
            # not at the end of the streams once the containers are gone.
            self.events.publish(DAEMON_STOPPING, DAEMON_EVENT_ID, kept=False)
        self._shutting_down = True
        keep = self.config.keep_containers if keep_containers is None else keep_containers
        self._leaving_containers = keep
        # Not at a hand-over's end (keep_containers given), which leaves them running.
        self._keeping_stopped = self.config.stop_containers and not keep
        if keep:
            await self.sessions.end(within=_SESSIONS_END_SECONDS)
        await self._end_commands()
        if not keep:
            async with trio.open_nursery() as nursery:
                for container in self._listed():
                    # Kept stopped (--stop-containers), but one started with autoRemove.
                    keep_stopped = self._keeping_stopped and not container.auto_remove
                    nursery.start_soon(self._stop_at_shutdown, container, keep_stopped)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()  # and with it the commands under way (run)

    async def _end_commands(self) -> None:
        """Let the commands under way finish, within twice the runtime deadline; then end
        those still running and let them roll back. Both before the containers are stopped:
        a start that ended after the stop would leave a container running that no one
        stopped (or, had the nursery ended first, a tree with nowhere to go)."""
        await self._commands_end(within=2 * self.config.runtime_timeout)
        for scope in self._running:
            scope.cancel()
        await self._commands_end(within=2 * self.config.runtime_timeout)  # their roll-backs

    async def _commands_end(self, *, within: float) -> None:
        if self._running:
            with trio.move_on_after(within):
                await self._commands_done.wait()

    async def _stop_at_shutdown(self, container: Container, keep_stopped: bool) -> None:
        """Stop ``container`` at the daemon's end and delete it; or, ``keep_stopped``
        (``--stop-containers``), keep it, stopped, with its record and log, for the next
        daemon: its exit marks the restart its policy calls for, which the next daemon makes
        (:meth:`_restart_exited`); a stopped one stays as it is (one waiting out a restart's
        delay too: the next daemon makes that restart).

        Its grace is its own stopTimeout, as docker's daemon stop gives each container its
        StopTimeout, else ``--shutdown-timeout``: until 2026-12-06 every container had the
        daemon's, a short stopTimeout waited out the daemon's grace and a long one (or -1)
        was cut short by it. The containers stop side by side, so the daemon's stop lasts
        the longest grace among them (without end for a stopTimeout of -1 whose container
        outlives its signal: a second signal ends the daemon at once)."""
        grace = container.grace_at_daemon_end(self.config.shutdown_timeout)
        with trio.move_on_after(grace + 2 * self.config.runtime_timeout):
            try:
                if keep_stopped:
                    await container.stop_at_daemon_end(grace)
                else:
                    await self._delete(container, grace)
            except Exception as exc:
                log.error("could not stop container %s at shutdown: %s", container.id, exc)

    async def _submit(self, command: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``command`` in the caller's task, shielded from the caller's cancel: a client
        that hangs up mid-request never cuts a command short (a start completes or rolls
        itself back, a delete finishes). The supervisor's end still does (a shutdown, see
        :meth:`_end_commands`), and the caller then gets the refusal a shutdown gives.

        (A task of the supervisor's own per command, which the handler waited for, did the
        same for a task, an event and two turns of the scheduler more.)
        """
        with trio.CancelScope(shield=True) as scope:
            self._command_begins(scope)
            try:
                return await command(*args)
            finally:
                self._command_ends(scope)
        raise self.refusal()  # the supervisor's end cancelled it

    def _command_begins(self, scope: trio.CancelScope) -> trio.Nursery:
        """Count a command under way, ended by ``scope``'s cancel; the nursery for its
        tasks."""
        if self._shutting_down or self._nursery is None:
            raise self.refusal()
        if not self._running:
            self._commands_done = trio.Event()
        self._running.add(scope)
        return self._nursery

    def _command_ends(self, scope: trio.CancelScope) -> None:
        self._running.discard(scope)
        if not self._running:
            self._commands_done.set()

    async def _clear_left(self, adoption: Adoption) -> None:
        """What migrations into the last server left, once the runc commands it had under
        way have ended (a restore may still read the images), and the adoption has kept what
        runs: in the background, for a removal of a large bundle must not hold the API."""
        await adoption.settled.wait()
        self._adoption = None
        await self.incoming.clear_left()

    async def _settle_move(
        self, entry: MoveEntry, keeper_pid: int | None, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """A move out of here that the last server left under way (``keeper_pid``: its
        keeper), or a live one whose target could not say whether it runs the container
        (None: :meth:`_settle_later`): settled by :meth:`.LeftMove.run`, which holds a left
        move's container before this server serves. While it asks, a resume or a delete of
        the copy by the user ends it (:meth:`_taken_by_user`)."""
        container = self._containers.get(entry.container_id)
        move = LeftMove(
            entry, keeper_pid=keeper_pid,
            directory=self.config.containers_dir / entry.container_id,
            ledger=self._moves, cleanup_timeout=self.config.runtime_timeout,
            restore_timeout=self._restore_timeout,
            removed=lambda: None if container is None else self._removed_by_move(container),
        )  # fmt: skip

        taken = trio.Event()
        if container is not None:
            self._unsettled[container.id] = taken
        # The dump the last server left running gets the move's own timeout, as there
        # (counted from now: when it began is not recorded), else the checkpoint deadline
        # (this server's: the last one's is not recorded either).
        dump_within = self.config.checkpoint_timeout if entry.timeout is None else entry.timeout
        try:
            await move.run(container, dump_within=dump_within, taken=taken, task_status=task_status)
        finally:
            if container is not None:
                del self._unsettled[container.id]

    async def _settle_later(self, entry: MoveEntry) -> None:
        """A live move whose target may run the container but cannot say: settled in the
        background as one the last server left (:meth:`_settle_move`), its container marked
        unsettled before the move lets it go (no migration of it elsewhere meanwhile). A
        shutdown ends the settling and leaves its record for the next server."""
        assert self._nursery is not None  # a migration runs only while it is
        await self._nursery.start(self._settle_move, entry, None)

    def _taken_by_user(self, container: Container) -> None:
        """The user resumed or deleted ``container``: a move keeping it paused while its
        target cannot say is theirs now (see :meth:`_settle_move`)."""
        if (taken := self._unsettled.get(container.id)) is not None:
            taken.set()

    def _removed_by_move(self, container: Container) -> None:
        """A move ended the container here: it leaves the table. Its copy's end, which says
        that it moved, is remembered for waits that come after, as an autoRemove's."""
        if self._containers.get(container.id) is container:
            del self._containers[container.id]
            if container.moved_away and container.status is Status.STOPPED:
                self._remember_removed(container)

    @property
    def _restore_timeout(self) -> float:
        """How long a migration's target has to restore: its own checkpoint deadline, ours,
        and a runtime one."""
        return self.config.checkpoint_timeout + self.config.runtime_timeout

    async def _retry_full_disk(self) -> None:
        while True:
            await trio.sleep(_DISK_RETRY_SECONDS)
            if self._journal.holding:
                self._journal.retry()
            if self.events.holding:
                self.events.retry()

    # --- what the keeper tells ------------------------------------------------------------------

    def process_exited(self, key: str, status: int, ns: int) -> None:
        self._processes.exited(key, status, ns)

    def output_ended(self, key: str) -> None:
        self._processes.ended(key)

    def log_state(self, container_id: str, paused: bool) -> None:
        if paused:
            self._paused_logs.add(container_id)
        else:
            self._paused_logs.discard(container_id)
        container = self._containers.get(container_id)
        labels = container.labels if container is not None else None
        self.events.publish("log-paused" if paused else "log-resumed", container_id, labels=labels)

    def log_forgotten(self, container_id: str) -> None:
        self._paused_logs.discard(container_id)

    def logs_paused_before(self, paused: Iterable[str]) -> None:
        """The logs a previous server was told are paused, their resume still to come (the
        keeper's welcome): counted from the start, as they were by that server (a next
        server counted none of them, and went below 0 at their resume)."""
        self._paused_logs.update(paused)

    def inflight_done(self, spawn_id: int, result: SpawnResult) -> None:
        if self._adoption is not None:
            self._adoption.inflight_done(spawn_id, result)

    def handover(self) -> None:
        self._handing_over = True
        self.on_handover()

    def stop_asked(self, signum: int) -> None:
        self.on_stop(signum)

    @property
    def stopping(self) -> bool:
        """The server stops (a shutdown, or a hand-over): it takes no new request."""
        return self._shutting_down

    def refusing(self, *, follow: bool = False) -> ShuttingDown | None:
        """The 503 of a new request while the server stops, or None: it is served. A stop
        (not a hand-over, whose next server serves them) serves a ``follow`` still, the event
        stream and a container's output, until it ends the streams: a follower whose stream a
        crash of the last server broke during the stop, or just before it (the next server
        stops as it serves), takes it up again from its last event or record and gets the
        rest, the containers' exits and deletes, their last output, then the end. Until
        2026-12-06 it was a 503 too, and such a follower never saw them (found in trial7:
        ctr-trio events and logs -f, exit 3, with neither)."""
        if not self.stopping:
            return None
        if follow and not self._handing_over and not self.events.closed:
            return None
        return self.refusal()

    def refusal(self) -> ShuttingDown:
        """The 503 of a request the stopping server refuses (``Retry-After: 1``)."""
        if self._handing_over:
            return ShuttingDown("the daemon is handing over to a new server: retry in a moment")
        return ShuttingDown("the daemon is shutting down")

    def reload(self) -> None:
        """Ask the keeper for a live upgrade: a new server, then this one hands over."""
        if self.keeper.embedded:
            raise Conflict(
                "this server runs inside another program, with no keeper to start a new one:"
                " a reload needs the daemon started as containerd-trio"
            )
        if self._shutting_down:
            raise self.refusal()
        self.keeper.reload()

    # --- queries --------------------------------------------------------------------------------

    def _listed(self) -> list[Container]:
        # A container still starting is in the table (its id is taken) but not listed yet;
        # but for a restart's own start, the stopped container it restarts, in its place.
        if not self._restarting:
            return [c for c in self._containers.values() if c.status is not Status.CREATED]
        return [seen for c in self._containers.values() if (seen := self._seen(c)) is not None]

    def _seen(self, container: Container) -> Container | None:
        """The container of the table's ``container`` as its user sees it: itself once it
        started; while it starts, none (its id is taken, nothing is listed), unless the start
        is its restart's, when it is the stopped container it restarts (restarting: see
        :meth:`_restart`)."""
        if container.status is not Status.CREATED:
            return container
        return self._restarting.get(container.id)

    def count_by_status(self) -> Mapping[Status, int]:
        """How many listed containers (those GET /state lists) have each status."""
        return Counter(c.status for c in self._listed())

    def container(self, container_id: str) -> Container:
        """The container of the id, as its user sees it: during its restart's own start, the
        stopped container it was (its record, its exit, its log), which a query reads and a
        wait waits on (:meth:`_seen`); a command waits for that start instead
        (:meth:`_commanded`)."""
        check_id(container_id)
        container = self._containers.get(container_id)
        if container is None or container.status is Status.CREATED or container.deleted:
            restarted = self._restarting.get(container_id)
            if restarted is None or container is None or container.status is not Status.CREATED:
                if container is not None and container.deleted and container.moved_away:
                    # A move's copy, its files being removed: it leaves the table (and its
                    # end is remembered, for _not_found) only after that. Its 404 says where
                    # it went meanwhile too (until 2026-12-05 a plain "not found" there: a
                    # `logs -f` that ended with the copy's output asked in that moment).
                    raise container.gone()
                raise self._not_found(container_id)
            return restarted
        return container

    def _not_found(self, container_id: str) -> NotFound:
        """The 404 of an id this daemon has no container of: one that moved away from here
        says where it went, as long as its waits say so (the same memory, read only here, on
        the way to a 404: a start of the id forgets it, the bound drops the oldest, a server
        that starts takes it up from the kept event log)."""
        ended = self._removals.get(container_id)
        if ended is None or not ended.moved:
            return container_not_found(container_id)
        return container_not_found(container_id, moved=True, to=ended.moved_to, at=ended.exited_at)

    async def _commanded(self, container_id: str) -> Container:
        """The container, for a command that waits for its turn: one being deleted refuses
        at once, where the command would wait for the delete (a command is shielded from its
        request: its client held until then) and then find nothing; so does one held for a
        long wait (:attr:`.Container.held_for`). A start of the id under way is waited for:
        a restart's own start, and a user's start or restore of a new id too."""
        await self._after_start(container_id)
        container = self.container(container_id)
        _refuse_if_busy(container)
        return container

    async def _after_start(self, container_id: str) -> None:
        """Return once no start of the id is under way (a user's start or restore, a start
        again, a restart's own start): a command (a signal, a DELETE, ...) waits for it, as
        for a command that holds the container (it lasts what a start does, within the
        runtime deadline, or a restore, within its own), and acts on the container it leaves:
        the run it started, or the stopped one if it failed, or none (a 404) if a start of a
        new id failed. (Before, the start hid the id: such a command was a 404, and the
        container ran on; a DELETE sent right after a start was a 404 for a container that
        was there a moment later.) One lookup of the id in the table, in the command's path:
        nothing in a start's."""
        while (
            (starting := self._containers.get(container_id)) is not None
            and starting.status is Status.CREATED
            and not starting.start_ended.is_set()
        ):
            await starting.start_ended.wait()

    def get(self, container_id: str) -> ContainerInfo:
        return self.container(container_id).info()

    def state_json(self) -> bytes:
        """The daemon's state (``DaemonState``: every listed container, and the machine) encoded
        as the API answers it, from each container's encoded info (:meth:`Container.info_json`):
        only what changed since the last answer is encoded."""
        containers = b",".join(c.info_json() for c in self._listed())
        machine = dump_json(unstructure(self.machine))
        return b'{"containers":[%s],"machine":%s}' % (containers, machine)

    # --- containers -----------------------------------------------------------------------------

    async def start(
        self,
        container_id: str,
        bundle_path: str,
        *,
        checkpoint: str | None = None,
        labels: Mapping[str, str] | None = None,
        stdin: bool = False,
        stdin_once: bool = False,
        stop_signal: int | None = None,
        stop_timeout: int | None = None,
        timeout: float | None = None,
        cgroups_path: str | None = None,
        auto_remove: bool = False,
        moved: bool = False,
        resources: Resources | None = None,
        process: StartProcess | None = None,
        moved_process: StartProcess | None = None,
        restart_policy: RestartPolicy | None = None,
        restarted: tuple[int, float] | None = None,
        continued: bool = False,
        moved_restart_count: int = 0,
        moved_created_ns: int | None = None,
        user_cpu: tuple[str, ...] | None = None,
    ) -> StartedContainer:
        """Start a container, or restore it from ``checkpoint`` (within ``timeout`` seconds,
        or the daemon's checkpoint deadline; ``cgroups_path``: a restore's cgroup instead of
        the bundle's, a migration's); ``auto_remove``: remove it once its init exits.
        ``moved``: the restore of a container that migrated here, which brings its own labels
        and autoRemove, and the process its start ran (``moved_process``: for its record; a
        user's restore over a stopped container keeps that one's), its restart policy with
        the count of restarts it had made (``moved_restart_count``: the same container), and
        its creation (``moved_created_ns``: its run here begins with the restore).
        ``resources``: limits laid over the bundle's; ``process``: what runs instead of the
        bundle's process, laid over it (a fresh start only, either). ``restart_policy``: start
        it again once its init exits, as the policy says; ``restarted``: this start is the
        policy's (:meth:`_restart`), its restart count and the delay it waited.
        ``continued``: this start runs the stopped container of the id again, from its record
        (a restart, or its user's start again): the same container, its log continued (see
        :attr:`.Container.continues`).
        ``stdin_once``: docker's StdinOnce, the container's (see :attr:`.Container.stdin_once`).
        ``stop_signal``, ``stop_timeout``: docker's StopSignal and StopTimeout, the container's
        (see :attr:`.Container.stop_signal`).
        ``user_cpu``: the CPU limits of ``resources`` its user set (a start again's: its
        record's, whose ``resources`` has the bundle's too); None: those ``resources`` names,
        a user's start's (see :attr:`.Container.user_cpu`)."""
        check_id(container_id)
        if timeout is not None and checkpoint is None:
            raise InvalidRequest(
                "timeout is the deadline of a restore: give checkpoint too (a fresh start runs"
                " under the daemon's runtime deadline)"
            )
        if resources is not None and not continued:  # a start again's are the record's
            check_cpus_available(resources, self.machine.cpus)
        bundle, bundle_config = _check_bundle(bundle_path)
        launch: Launch = Fresh(stdin=stdin, config=bundle_config)
        if resources is not None or process is not None:
            launch = _changed(bundle_config, stdin, resources, process, checkpoint)
        kept: checkpoints.KeptProcess | None = None
        if checkpoint is not None:
            check_id(checkpoint, "checkpoint name")
            if not moved:  # a move's restore replaces the stopped one: another container
                self._refuse_restore_elsewhere(container_id, bundle)
            self._refuse_if_dumping(bundle, checkpoint, "restore from it")
            checkpoints.load(bundle, checkpoint)  # 404 now rather than after reserving the id
            checkpoints.check_descriptors(bundle, checkpoint)  # before runc reads it by name
            # What the dumped container's start ran, as its checkpoint kept it: the restored
            # processes are that start's, whatever record of the id there is (or none: the
            # container deleted, the checkpoint imported). A checkpoint of older code kept
            # none: then the stopped container's record says (below), or a move's offer.
            kept = checkpoints.kept_process(bundle, checkpoint)
            if stdin and kept is not None and not kept.stdin:
                # CRIU gives the restored init the stdin it was dumped with: /dev/null here.
                # The record would say stdin, and an attach's input would go nowhere.
                raise InvalidRequest(
                    f"stdin cannot be given with checkpoint {checkpoint!r}: a restore"
                    " gives the process the stdin it was checkpointed with, and this one's"
                    " start had none (start it afresh with stdin)"
                )
            launch = Restore(
                checkpoint,
                timeout or self.config.checkpoint_timeout,
                cgroups_path,
                stdin=stdin or (kept is not None and kept.stdin),
                config=bundle_config,
                process=moved_process if kept is None else kept.process,
                process_kept=kept is not None,
                moved=moved,
            )
        # A restore's missing checkpoint is a 404 first, whatever else the bundle lacks.
        check_startable(bundle, bundle_config)
        if isinstance(launch, Changed) and launch.document is not None:
            # The bundle's strings and the start's together (its env is added to the
            # bundle's): else a 201, and the init "exits 1" with E2BIG.
            check_exec_strings(launch.document, field="process.", where=" of the start")
        existing = await self._stopped_in_turn(container_id)
        # A restore is the stopped container's again, as docker start --checkpoint: it keeps
        # that one's settings as they are now (changed since the dump maybe); with none of the
        # id (deleted, the checkpoint imported, a move's), the dumped container's, as its
        # checkpoint kept them (none, from older code). One source for each setting below.
        had: checkpoints.KeptProcess | None = None
        if isinstance(launch, Restore):
            had = existing.kept_process() if existing is not None and not moved else kept
        if isinstance(launch, Restore) and not moved:
            self._refuse_restore_elsewhere(container_id, bundle)  # the id's, after the await
            # Its labels (those given are added), its autoRemove and its restart policy (one
            # given wins, "no" too).
            if had is not None:
                labels = {**(had.labels or {}), **(labels or {})}
                auto_remove = auto_remove or bool(had.auto_remove)
                restart_policy = had.restart_policy if restart_policy is None else restart_policy
            # ... and, if the checkpoint did not keep it, what its start ran, for a start
            # again once it stops (the restore runs what was checkpointed).
            if existing is not None and not launch.process_kept:
                launch = attrs.evolve(launch, process=existing.start_process)
            # ... and its limits as they are now, not as the checkpoint kept them: a `ctr-trio
            # update -m 128m` of the stopped container is in force in the restored one, as at
            # any next start of it (before, the checkpoint's came back).
            if existing is not None:
                launch = attrs.evolve(launch, resources=existing.resources)
        if had is not None:
            # docker's StdinOnce, StopSignal and StopTimeout are the container's, kept as its
            # -i is (those given win, as labels do); a move's too.
            stdin_once = stdin_once or bool(had.stdin_once)
            if stop_signal is None and had.stop_signal is not None:
                stop_signal = signal_number(had.stop_signal)
            if stop_timeout is None:
                stop_timeout = had.stop_timeout
        restart_policy = restarts.in_force(restart_policy)
        if existing is not None:
            if existing.status is Status.CREATED:
                raise Conflict(f"container {container_id!r} is being started")
            _refuse_if_busy(existing)
            if existing.status is not Status.STOPPED or existing.lock.locked():
                raise Conflict(
                    f"container {container_id!r} already exists and is {existing.status.value}"
                )
        restarts.refuse_with_auto_remove(restart_policy, auto_remove)
        if self._shutting_down or self._context is None:
            raise self.refusal()
        if existing is not None and restarted is None:
            existing.cancel_restart()  # its user's start: the policy's is not wanted now
        container = Container(
            self._context,
            container_id,
            bundle,
            self.config.containers_dir / container_id,
            dict(labels or {}),
            auto_remove=auto_remove,
        )
        if stdin_once:
            container.stdin_once = True
        if stop_signal is not None:
            container.stop_signal = stop_signal
        if stop_timeout is not None:
            container.stop_timeout = stop_timeout
        # The CPU limits its user set, which hold a cpu.cpus off: the start's, a start
        # again's (its record's), or a restore's (``had``'s).
        if user_cpu is None and isinstance(launch, Changed) and launch.resources is not None:
            user_cpu = user_cpu_after((), launch.resources)
        elif had is not None:
            user_cpu = tuple(had.user_cpu or ())
        if user_cpu:
            container.user_cpu = user_cpu
        if restart_policy is not None:
            container.restart_policy = restart_policy
            if restarted is not None:
                container.restart_count, container.restart_delay = restarted
                container.is_restart = True
            elif moved:
                container.restart_count = moved_restart_count
        if continued and existing is not None:
            # The same container to its user: created when it was (docker's Created stays;
            # its run's start is its own, for a restart's backoff).
            container.continues = True
            container.run_started_ns = container.created_ns
            container.created_ns = existing.created_ns
        if moved_created_ns is not None:
            # The same container, moved: created when it was (docker's Created), its run here
            # begun now, as a restart's.
            container.run_started_ns = container.created_ns
            container.created_ns = moved_created_ns
        self._containers[container_id] = container  # the id is taken from here on
        # A user's restore over a stopped container is that container's again (its labels,
        # autoRemove and policy, above): until it answers, the id is the stopped one, as
        # during a start again or a restart's own start (start_again, _restart), which set
        # it themselves. A GET, GET /state and a wait see it; a command (a DELETE, a
        # PATCH, an exec, a start again) waits for the restore and acts on what it left
        # (see container, _commanded). Before, the restore hid the id: each was a 404 for a
        # container that was there, for as long as CRIU took (a DELETE's too: the restored
        # container ran on).
        shown = (
            existing
            if existing is not None
            and isinstance(launch, Restore)
            and not moved
            and container_id not in self._restarting
            else None
        )
        if shown is not None:
            self._restarting[container_id] = shown
        restoring = None
        if isinstance(launch, Restore):
            restoring = _checkpoint_identity(bundle, launch.checkpoint)
        if restoring is not None:
            self._restoring.setdefault(restoring, []).append(container_id)
        began = time.perf_counter()
        try:
            await self._submit(self._launch, container, existing, launch)
            encoded = container.info_json()
        except BaseException:
            container.start_failed = True
            if self._containers.get(container.id) is container:
                if existing is not None and not existing.deleted:
                    # Its removal failed: it stays listed, the stopped container it was.
                    self._containers[container.id] = existing
                else:
                    del self._containers[container.id]
            self.metrics.start_failures.inc()
            raise
        finally:
            container.start_ended.set()
            if shown is not None and self._restarting.get(container_id) is shown:
                del self._restarting[container_id]
            if restoring is not None:
                self._restoring[restoring].remove(container_id)
                if not self._restoring[restoring]:
                    del self._restoring[restoring]
        if (
            existing is not None
            and not container.continues
            and self._containers.get(container_id) is container
        ):
            # Listed as the newest, where the one it replaced was (until now its place held
            # the id): the table keeps creation order, as the next server's adoption does.
            # Not a restart nor a start again: the same container, created when it was,
            # keeps its place.
            del self._containers[container_id]
            self._containers[container_id] = container
        if moved_created_ns is not None:
            self._list_by_creation(container)
        self._removals.forget(container_id)  # the id's container is this one now
        self.metrics.starts.inc()
        self.metrics.start_latency.observe(time.perf_counter() - began)
        log.debug(
            "container started id=%s pid=%s", container.id, container.init and container.init.pid
        )
        return StartedContainer(encoded)

    async def _stopped_in_turn(self, container_id: str) -> Container | None:
        """The container of the id a start finds, once no command holds it if it is stopped:
        a command its init's exit overtook (a change of limits, an exec, a pause on its way to
        a 409) is let end first, and those queued before the start, as a start again and a
        restart's own start let them (:meth:`start_again`, :meth:`_restart`); then the id is
        looked at again (deleted, started again or being deleted meanwhile: the start answers
        for what it finds). Nothing awaits from the lock found free to the start's reservation
        of the id; a start again and a restart, which waited for the lock themselves, find it
        free and do not wait here. Before, the start was a 409 "already exists and is
        stopped", where a stopped container is replaced, and the same start a moment later
        was a 201."""
        while True:
            existing = self._containers.get(container_id)
            if (
                existing is None
                or existing.status is not Status.STOPPED
                or existing.being_deleted
                or existing.held_for is not None
                or not existing.lock.locked()
            ):
                return existing
            async with existing.lock:
                pass  # its turn, after the command (and those queued before this start)

    async def start_again(self, container_id: str) -> StartedContainer:
        """docker's start of a stopped container (``POST /containers/{id}/start``): its id
        started again from its own record (:meth:`_start_from_record`), the same container to
        its user (its log continued, its Created kept, as a restart's; its restart count from
        0, a user's start). 409 for a running, paused or restarting one
        (docker's 304 "already started", and its 409 for a paused one).

        A command that holds the container is let end first, as a restart's own start lets it
        (a change of limits whose runc update its exit overtook is then in the record); then
        the record is read and the start takes the id in the same step of the scheduler
        (nothing awaits from the lock found free to :meth:`start`'s reservation of the id). So
        a ``PATCH`` is in the record read, or comes to a container being started, and waits
        for that start (the stopped container is the id's until then, as during a restart's
        own start): none is lost, where a client's GET then start left a window between the
        two for one to fall into and be undone.

        One start again of an id at a time: a second waits for the first to answer, then
        answers for what it left (the run it started: the 409 of a running container). Two
        that waited for the lock together handed it to each other for ever (each let it go
        on its turn, to the other, then waited for it again), neither answering; so did one
        with the restart by the policy of a container whose exit came meanwhile, which is
        refused before it waits now (its policy starts it)."""
        while (earlier := self._starting_again.get(container_id)) is not None:
            await earlier.wait()
        ours = self._starting_again[container_id] = trio.Event()
        try:
            while True:
                container = await self._commanded(container_id)
                if container.pending_restart is not None or not container.lock.locked():
                    # Restarting: refused now, not once the command ends, as its restart
                    # waits for that too (see _restart): the two would hand the lock on.
                    break
                async with container.lock:
                    pass  # its turn, after the command (and those queued before this one)
            _refuse_unless_stopped(container)
            # Until the start answers, the container is the stopped one, as during a restart's
            # own start (see _restart): a GET, GET /state and a wait see it, and a command (a
            # stop, a kill, a DELETE, another restart's) waits for the start and acts on the
            # run it started. Before, the start hid the id: each of these was a 404 for a
            # container that was there (two ctr-trio restart of one id: one failed, "not
            # found"), where docker's commands wait for its start.
            self._restarting[container_id] = container
            try:
                return await self._start_from_record(container)
            finally:
                if self._restarting.get(container_id) is container:
                    del self._restarting[container_id]
        finally:
            del self._starting_again[container_id]
            ours.set()

    async def _start_from_record(
        self, container: Container, *, restarted: tuple[int, float] | None = None
    ) -> StartedContainer:
        """Start the stopped ``container``'s id again with what its record holds of its start:
        its bundle, labels, stdin, autoRemove, the limits in force (the bundle's with the
        start's and each update's laid over them, as docker keeps them), the process its start
        ran, its restart policy. For :meth:`start_again` (its user's start) and a restart by
        the policy (``restarted``: see :meth:`start`). Read as :meth:`start` is called, which
        awaits nothing before it takes the id: no change of the record falls between."""
        resources = None if container.resources == Resources() else container.resources
        return await self.start(
            container.id,
            str(container.bundle),
            labels=container.labels,
            stdin=container.stdin,
            stdin_once=container.stdin_once,
            stop_signal=container.stop_signal,
            stop_timeout=container.stop_timeout,
            auto_remove=container.auto_remove,
            resources=resources,
            process=container.start_process,
            restart_policy=container.restart_policy,
            restarted=restarted,
            continued=True,
            user_cpu=container.user_cpu,
        )

    def _list_by_creation(self, container: Container) -> None:
        """Put ``container``, created before it came here (moved), in its place among the
        listed, oldest first, as a next server lists them (by createdAt): those created after
        it go after it, in their order."""
        if self._containers.get(container.id) is not container:
            return
        later = [
            c for c in self._containers.values()
            if c.created_ns > container.created_ns and c is not container
        ]  # fmt: skip
        for other in later:  # in place: the adoption holds the same table
            del self._containers[other.id]
            self._containers[other.id] = other

    async def _launch(
        self, container: Container, replaced: Container | None, launch: Launch
    ) -> None:
        """Launch the container (in place of the stopped one it replaces); then hand its task
        tree to the supervisor's nursery (without ``Nursery.start``'s task, nursery and turn:
        the tree needs no first step before the start answers)."""
        if replaced is None:
            await container.launch(launch)
        else:
            await self._launch_in_place(container, replaced, launch)
        assert self._nursery is not None  # a command runs only while it is (_command_begins)
        self._nursery.start_soon(container.serve)

    async def _launch_in_place(
        self, container: Container, replaced: Container, launch: Launch
    ) -> None:
        """Remove the stopped container ``replaced`` as a delete would, then launch
        ``container`` under its id: a restore continues its log, a fresh start (or the restore
        of a container that migrated here) begins a new one. If the launch fails, ``replaced``
        is back, stopped as it was, log and all: a start that fails leaves the id as it found
        it."""
        try:
            # A restore continues the log, and so do a restart and a start again: the same
            # container to its user, whose last run's output (why it ended) is what matters
            # most. Not a container that migrated here: another than the stopped one, whose
            # log begins at its restore (its output before is the source's).
            keep_log = container.continues or (isinstance(launch, Restore) and not launch.moved)
            aside = await replaced.replace(keep_log=keep_log)
            if container.continues:
                # Once removed, not before: the removal ends what its init left (a process
                # outside its pid namespace, or one without its own), whose exit is one of its
                # run's too (see carry_exits).
                container.carry_exits(replaced)
            container.replaces = replaced.info_json()
            container.replaced_labels = replaced.labels
            container.replaced_user_cpu = replaced.user_cpu
            await container.launch(launch)
        except BaseException:
            if replaced.deleted:  # else it is in the table still (start puts it back)
                self._containers[container.id] = replaced.revived()
            raise
        replaced.mark_gone(container)
        if aside is not None and not (
            isinstance(launch, Restore)
            and launch.moved
            and self._moved_over.keep(
                container.id,
                aside,
                Replaced(replaced.info(), replaced.ended_pid, list(replaced.user_cpu) or None),
            )
        ):
            remove_directory(aside)

    async def delete(
        self, container_id: str, timeout: float | None, *, force: bool = False
    ) -> ContainerInfo:
        under_way = self._containers.get(container_id)
        if force and under_way is not None and under_way.deleting and not under_way.deleted:
            return await self._hasten_delete(under_way)
        container = await self._commanded(container_id)
        info = await self._submit(self._delete, container, timeout, force)
        self._taken_by_user(container)
        return info

    async def _hasten_delete(self, container: Container) -> ContainerInfo:
        """docker's ``rm -f`` of a container whose delete waits for its stop (a grace that has
        not ended, a ``stopTimeout`` of -1 with an init that ignores its stop signal, or a
        delete the last server left under way): SIGKILL now, and the answer is that delete's
        end, the container as it ended. If that delete fails, this one deletes it. Until
        2026-12-06 it was a 409 ("is being deleted"), and only a kill (``PATCH`` signal)
        could end a delete without a SIGKILL to come."""
        with contextlib.suppress(Conflict):  # its init has exited: the delete removes it
            container.signal_init(signal.SIGKILL)
            await self._thaw_if_killed_paused(container)
        try:
            # Its turn comes once the delete under way has ended: then it finds the
            # container gone, or (a delete that failed) deletes it itself, with no grace.
            info = await self._submit(self._delete, container, 0.0, True)
        except NotFound:
            if not container.deleted:
                raise
            info = container.info()
        self._taken_by_user(container)
        return info

    async def delete_stopped(self, container_id: str) -> ContainerInfo:
        """docker's rm without -f (``DELETE ?status=stopped``): remove the container only if it
        is stopped and stays so (:attr:`.Container.at_rest`, as a prune chooses), judged in the
        step that marks it being deleted (the delete's ``if_at_rest``), nothing between; else
        a 409 that names its state in docker's words (:func:`_not_removable`), the container
        left as it was. A client's GET, then a DELETE, would stop a container started again
        in between; the plain DELETE stops whatever it is given (until 2026-12-06 ``ctr-trio
        rm`` sent that, and so stopped the wrong container a docker user's rm named)."""
        check_id(container_id)
        if container_id in self._restarting:
            # Its restart's own start is under way: restarting, as a GET shows it (the stopped
            # run it replaces is being removed by that start: not "being deleted" to its user).
            # Not waited for (as _commanded would, and then find the run it started).
            raise _cannot_remove(container_id, "restarting")
        container = await self._commanded(container_id)
        if not container.at_rest:
            # At once: the delete would wait its turn behind a command that holds it (a
            # checkpoint's dump, ending it once the grace passed) only to refuse it then.
            raise _not_removable(container)
        try:
            # Its own grace (timeout None) only bounds the wait for a command that holds the
            # stopped container, as a plain DELETE's: there is no stop to make.
            info = await self._submit(partial(self._delete, if_at_rest=True), container, None)
        except NotAtRest:
            raise _not_removable(container) from None  # its state as the delete found it
        except NotFound:
            # A start of its id replaced it while the delete waited its turn: the id names that
            # run now, which is left running, and the refusal says so (not a 404 for an id
            # that is there).
            current = self._containers.get(container_id)
            if current is None or current is container or current.deleted:
                raise
            raise _not_removable(current) from None
        self._taken_by_user(container)
        return info

    async def _delete(
        self,
        container: Container,
        timeout: float | None,
        force: bool = False,
        if_at_rest: bool = False,
    ) -> ContainerInfo:
        try:
            info = await container.delete(timeout, force=force, if_at_rest=if_at_rest)
        finally:
            self._unlist(container)
        log.debug("container deleted id=%s", container.id)
        return info

    async def prune(self) -> PruneReport:
        """docker's container prune: delete every stopped container that stays so (not one
        whose restart is due, nor one being deleted or started again), one after another,
        each as its DELETE would. The containers are chosen here, and each is deleted only if
        it is still the stopped container chosen when its delete has its turn: a start of its
        id meanwhile (which replaces it with a new run) is left alone. A client's list, then
        a DELETE of each id, deleted that new run. One that cannot be removed stays, and is
        named with why; the others go on."""
        deleted: list[ContainerInfo] = []
        failed: list[PruneFailure] = []
        delete_at_rest = partial(self._delete, if_at_rest=True)
        for container in [c for c in self._listed() if c.at_rest]:
            if self._restarting.get(container.id) is container:
                continue  # its restart's own start is under way
            if container.lock.locked():
                # A command holds it (a change of limits its exit overtook, a move it exited
                # in, ...): said, not waited for. The delete would wait for that command (a
                # move's, up to its checkpoint deadline), every container after it waiting
                # too, and this one refusing other commands meanwhile as being deleted. From
                # this look to the delete's hold of the lock nothing yields.
                failed.append(PruneFailure(id=container.id, error=_held_message(container)))
                continue
            try:
                deleted.append(await self._submit(delete_at_rest, container, 0.0))
            except (NotAtRest, NotFound):
                continue  # started again, restarted or deleted meanwhile: not at rest
            except ShuttingDown:
                raise  # the daemon stops: a 503, the rest refused as any command now is
            except DaemonError as exc:
                failed.append(PruneFailure(id=container.id, error=exc.message))
        return PruneReport(deleted=deleted, failed=failed)

    def _unlist(self, container: Container) -> None:
        # Forgotten, even if what came after failed: not listed any more.
        if container.deleted and self._containers.get(container.id) is container:
            del self._containers[container.id]

    def _remove_exited(self, container: Container) -> None:
        """Remove ``container``, started with autoRemove, whose init exited (it is marked being
        deleted): in a task of the supervisor's, as the container's own tree ends with it."""
        assert self._nursery is not None  # its tree runs in it
        self._nursery.start_soon(self._auto_remove, container)

    def _delete_left(self, container: Container, grace: float) -> None:
        """Finish the delete of ``container`` that the last server died in (an adoption), as
        it would have ended: what still runs is killed once ``grace`` seconds have passed.
        In a task of the supervisor's, as an autoRemove's removal."""
        assert self._nursery is not None  # its tree runs in it
        log.info("finishing the delete of container %s that was in flight", container.id)
        self._nursery.start_soon(self._finish_delete, container, grace)

    async def _finish_delete(self, container: Container, grace: float) -> None:
        await self._delete_unasked("delete", self._delete, container, grace)

    async def _delete_unasked(
        self, verb: str, delete: Callable[..., Awaitable[object]], container: Container, *args: Any
    ) -> None:
        """Run ``delete(container, *args)``, a delete no request asked for (an autoRemove's,
        or one a dead server left): with no one to answer, what stops it is logged."""
        try:
            await self._submit(delete, container, *args)
        except ShuttingDown:
            # Its record says it is being deleted still: the server that takes over finishes
            # it (or this one's shutdown stops it, if it stops the containers).
            log.info("container %s is left for the next server to %s", container.id, verb)
        except DaemonError as exc:
            if not container.deleted:  # deleted meanwhile, or replaced: nothing was left
                log.error("container %s could not be %sd: %s", container.id, verb, exc.message)

    def _stop_left(self, container: Container, grace: float) -> None:
        """Finish the stop of ``container`` by its user that the last server died in, during
        its grace (an adoption), as it would have ended: its SIGKILL once ``grace`` seconds
        have passed, unless it exited; its restart policy stays disarmed (its record said
        so). Counted as a stop under way until then, from now (a migration, a checkpoint
        refused), as :meth:`stop`'s; waited for in a task of the supervisor's, which no
        request answers: a SIGKILL the kernel holds is logged."""
        assert self._nursery is not None  # its tree runs in it
        log.info("finishing the stop of container %s that was in its grace", container.id)
        container.stops_under_way += 1  # wait_stopped's end counts it out
        self._nursery.start_soon(self._finish_stop, container, grace)

    async def _finish_stop(self, container: Container, grace: float) -> None:
        try:
            # Its signal went from the last server: any but SIGKILL, for the grace to pass.
            await container.wait_stopped(
                signal.SIGTERM, grace, partial(self._thaw_if_killed_paused, container)
            )
        except DaemonError as exc:
            log.error("container %s: %s", container.id, exc.message)

    def _restart_due(self, container: Container) -> bool:
        """Whether the policy of ``container``, stopped, starts it again: not one its user
        stopped, nor at the daemon's end, but at the end of a server that leaves the
        containers running, or that stops them and keeps them (``--stop-containers``, as
        docker's daemon, which starts them at its next start): the next server makes it."""
        policy = container.restart_policy
        if policy is None or container.stopped_by_user or container.exit_status is None:
            return False
        if self._shutting_down and not (self._leaving_containers or self._keeping_stopped):
            return False
        return restarts.should_restart(policy, container.restart_count, container.exit_status)

    def _restart_exited(self, container: Container) -> None:
        """Start ``container``, with a restart policy, whose init exited, again if the policy
        says so, once docker's backoff delay has passed: in a task of the supervisor's (the
        container's own tree ends with it). Not one its user stopped, nor at the daemon's end
        (docker's shutdown is no exit to restart for either); but an exit while this server
        ends leaving the containers running is no stop of the daemon's: the restart is marked
        due in the record, for the next server."""
        assert self._nursery is not None  # its tree runs in it
        if not self._restart_due(container):
            return
        init = container.init
        ended_ns = init.exit_ns if init is not None and init.exit_ns else timestamps.now_ns()
        ran = (ended_ns - container.run_began_ns) / 1e9
        delay = restarts.next_delay(container.restart_delay, ran)
        scope = container.pending_restart = trio.CancelScope()
        container.save()  # a server that dies meanwhile leaves the restart to the next one
        if self._shutting_down:
            # Left to the next server, which adopts the record (restarting) and makes the
            # restart, once: this one would only have its start refused (its end takes no
            # command), or cut.
            return
        self._nursery.start_soon(self._restart, container, scope, delay)

    async def _restart(self, container: Container, scope: trio.CancelScope, delay: float) -> None:
        with scope:
            await trio.sleep(delay)
            # A command that holds the container as the delay ends (a leave-running checkpoint
            # or an exec that its exit overtook, each under its own deadline) is let end
            # first, and those queued before it: the restart waits its turn, as a command
            # does, the container restarting still (a stop or a delete cancels this wait as
            # it cancels the delay). Before, the start found it held, a 409, and the
            # container stayed stopped for good. Nothing awaits from here to the start's
            # check of the lock.
            while container.lock.locked():
                async with container.lock:
                    pass
        if scope.cancelled_caught or container.pending_restart is not scope:
            return  # stopped, deleted or started by its user meanwhile
        # Until its start ends, the container is the stopped one, restarting still (its
        # pending_restart stays): a GET, GET /state and a wait see it so, as during the
        # delay, and a command waits for the start (see container, _commanded). Before, the
        # start's container hid the id: a wait (docker wait) or a DELETE was a 404.
        self._restarting[container.id] = container
        try:
            try:
                await self._start_from_record(
                    container, restarted=(container.restart_count + 1, delay)
                )
            finally:
                container.pending_restart = None
                if self._restarting.get(container.id) is container:
                    del self._restarting[container.id]
        except ShuttingDown:
            log.info("container %s is left stopped: the daemon stops", container.id)
        except DaemonError as exc:
            # As docker's: a restart whose start fails leaves the container stopped. Its record
            # said the restart was due (_restart_exited): no more, or the next server would
            # make it. (A start that got as far as removing it put back a copy, recorded so:
            # this one is deleted then, and save() writes nothing.) Its restart-failed tells a
            # watcher that saw it restarting (the status page) that it is not any more.
            container.save()
            log.error("container %s could not be restarted: %s", container.id, exc.message)
            container.publish("restart-failed", detail={"error": error_field(exc)})

    async def _auto_remove(self, container: Container) -> None:
        # Its attach sessions first send what is left of its output and its exit status
        # (docker run --rm prints all of it): its log goes with it. An exit that came while no
        # server ran first gives the last server's sessions the time to come back.
        await container.wait_sessions_back(_ATTACHED_GRACE)
        await container.wait_detached(_ATTACHED_GRACE)
        await self._delete_unasked("remove", self._delete_exited, container)

    async def _delete_exited(self, container: Container) -> None:
        await self._delete(container, 0.0)  # it has stopped: nothing to wait for
        self._remember_removed(container)

    def _remember_removed(self, container: Container) -> None:
        """How the stopped ``container``, removed, ended: for the waits that come after."""
        self._removals.remember(container.ended())

    async def exec(self, container_id: str, spec: ProcessSpec) -> ProcessInfo:
        return await self._submit((await self._commanded(container_id)).exec, spec)

    async def signal_process(self, container_id: str, pid: int, signum: int) -> None:
        """Signal one process. A SIGKILL to one of a paused container dies now, as one to the
        container does (:meth:`_thaw_killed`): the init's resumes the container, as the
        container's does; another's dies alone and the container stays paused
        (:func:`.cgroups.release_killed`)."""
        container = self.container(container_id)
        container.signal_process(pid, signum)
        if signum != signal.SIGKILL or not container.paused():
            return
        if container.init is not None and pid == container.init.pid:
            await self._thaw_killed(container)
        elif self._may_thaw(container):
            release_killed(pid)

    async def wait(
        self,
        container_id: str,
        pid: int | None = None,
        *,
        condition: WaitCondition = WaitCondition.NOT_RUNNING,
    ) -> ExitInfo:
        """How the container's init (or process ``pid``) ended, once it has (as ``condition``
        says for the init: its next exit, or once the container is removed too). That of a
        container autoRemove removed already, if it is still remembered (no next exit comes to
        it: a 404 for that). Still waiting at the server's end (a container
        kept running: ``--keep-containers``, a hand-over): the stop's 503, an answer the
        client can tell from a broken connection, and retry on the next server."""
        if self._waits_ended:
            raise self.refusal()
        with trio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                return await self._wait(container_id, pid, condition)
            finally:
                self._waits.discard(scope)
        raise self.refusal()  # ended by end_waits

    def end_waits(self) -> None:
        """Answer every wait still under way with the stop's 503 (the server's end)."""
        self._waits_ended = True
        for scope in self._waits:
            scope.cancel()

    async def _wait(self, container_id: str, pid: int | None, condition: WaitCondition) -> ExitInfo:
        check_id(container_id)
        container = self._containers.get(container_id)
        if (
            condition is not WaitCondition.NEXT_EXIT
            and container is not None
            and container.status is Status.CREATED
        ):
            if container_id not in self._restarting:
                # A user's start of a new id: its run is waited on once it answers (a 404 if
                # it fails), as a command waits for it (before, a 404 for a container there a
                # moment later).
                await self._after_start(container_id)
                container = self._containers.get(container_id)
            if container is not None and container.status is Status.CREATED:
                # A restart's own start: the stopped container it restarts is the one waited
                # on (its removal, or its exit), as during the delay. A next exit is the
                # start's run.
                container = self._restarting.get(container_id, container)
        if condition is WaitCondition.REMOVED:
            if container is not None and container.status is not Status.CREATED:
                return await container.wait_gone()  # being forgotten too
        elif condition is WaitCondition.NEXT_EXIT:
            while container is not None and container.status is Status.CREATED:
                # A start of the id under way: its run is the next, if it starts; if it
                # fails, the id is as the start found it (a stopped container, or nothing).
                await container.start_ended.wait()
                if not container.start_failed:
                    # This start's run is the next: its exit, even if the container exited and
                    # was deleted before this task's turn (the id looked up again is a 404 then,
                    # or another start's container).
                    return await container.wait_run()
                container = self._containers.get(container_id)
            return await self.container(container_id).wait_next_exit()
        if container is None:
            ended = self._removals.get(container_id)
        elif (
            container.deleted
            and (container.auto_remove or container.moved_away)
            and container.status is Status.STOPPED
        ):
            # Being forgotten by autoRemove, or a move's copy being removed: as good as gone,
            # and ended as it will be remembered (a copy's end says where it moved: until
            # 2026-12-05 a plain 404 in that moment).
            ended = container.ended()
        else:
            ended = None
        if ended is not None and pid in (None, ended.pid):
            return ended
        container = self.container(container_id)
        if container.deleted:
            # The stopped container whose restart's own start runs (no other one deleted is
            # found): runc has forgotten it already, but it ended as it says.
            return container.ended() if pid is None else container.ended_process(pid)
        if pid is None:
            return await container.wait()
        return await container.wait_process(pid)

    async def update(
        self,
        container_id: str,
        *,
        status: Status | None = None,
        signum: int | None = None,
        resources: Resources | None = None,
        auto_remove: bool | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> ContainerInfo:
        if resources is not None:  # before the rest of the change: a 400 changes nothing
            check_cpus_available(resources, self.machine.cpus)
        if status is None and resources is None and auto_remove is None and restart_policy is None:
            await self._after_start(container_id)  # a signal is for the run it starts
            container = self.container(container_id)
        else:
            container = await self._commanded(container_id)
        if signum is not None:
            if container.cancel_restart():
                # docker's kill of a restarting container: accepted, and no restart comes.
                container.save()
                return container.info()
            container.signal_init(signum)
            # docker's stop and kill: its user's; the exit it brings is final, whatever restart
            # policy it has by then. Any signal to a container without a stop signal; to one
            # with, that signal or SIGKILL only (docker's kill: another is a message to the
            # process, USR1 to reopen its logs, and its exit is the policy's). Recorded with
            # the signal, nothing awaited between: its exit is reported after.
            stop_signal = container.stop_signal
            if stop_signal is None or signum in (stop_signal, signal.SIGKILL):
                container.mark_stopped_by_user()
            if signum == signal.SIGKILL:
                await self._thaw_if_killed_paused(container)
        if status is Status.PAUSED:
            await self._submit(container.pause)
        elif status is Status.RUNNING:
            await self._submit(container.resume)
            self._taken_by_user(container)
        if resources is not None:
            require_named(resources)
            await self._submit(container.update_resources, resources)
        # Each judged against the other in the container's turn (the methods): two PATCHes
        # waiting together for a command would each pass a check made here.
        if auto_remove is not None:
            await self._submit(container.set_auto_remove, auto_remove)
        if restart_policy is not None and not restarts.leaves_as_it_is(restart_policy):
            await self._submit(container.set_restart_policy, restart_policy)
        return container.info()

    async def stop(
        self, container_id: str, signum: int | None, timeout: float | None
    ) -> ContainerInfo:
        """docker's stop (:meth:`.Container.stop`): the signal (None: the container's stop
        signal), up to ``timeout`` seconds (None: its stopTimeout, else 10; -1: no end) for
        the exit, then SIGKILL; the container as it ended. Its user's, whatever the signal:
        the exit is final for its restart policy. Shielded from its request, as a delete: a
        client that leaves does not cut the stop short.

        The signal is a command (in the container's turn); the waits, which hold nothing, are
        a wait's: the daemon's end does not wait for them as for a command (it did, up to
        twice the runtime deadline, for a grace without end), and answers one still waiting
        once it has stopped the containers (the stop's end then, its 200) or kept them (503,
        :meth:`end_waits`). A move that keeps the copy paused while its target cannot say is
        its user's as soon as the signal went (the copy resumed for it), not once the grace
        passed: the copy must not run here while the target may run it."""
        container = await self._commanded(container_id)
        grace = None if timeout is None else math.inf if timeout < 0 else timeout
        sent = await self._submit(container.stop, signum, grace)
        if sent is None:
            return container.info()  # its restart cancelled: stopped
        self._taken_by_user(container)
        with trio.CancelScope(shield=True) as scope:
            self._waits.add(scope)
            if self._waits_ended:
                scope.cancel()  # its waits still end the stop's count (wait_stopped)
            try:
                return await container.wait_stopped(
                    *sent, partial(self._thaw_if_killed_paused, container)
                )
            finally:
                self._waits.discard(scope)
        raise self.refusal()  # ended by end_waits

    async def _thaw_if_killed_paused(self, container: Container) -> None:
        """The SIGKILL just sent to ``container``'s init dies now if it is paused
        (:meth:`_thaw_killed`)."""
        if container.paused():
            await self._thaw_killed(container)

    async def _thaw_killed(self, container: Container) -> None:
        """A frozen process dies of a SIGKILL only once thawed: a SIGKILL to a paused
        container answered 200 ("sent KILL") and left it paused, its init alive, for as long as
        nobody resumed it. Resume it, as ``docker kill`` does; the init takes the SIGKILL
        before it runs another instruction, so nothing of it runs again (not even in a
        container a failed migration left paused). Not where :meth:`_may_thaw` says not: the
        SIGKILL stays pending.

        Another command may hold the container (a change of limits, a pause or an exec on
        their way to a 409, ...): the resume then waits for its end, in a task of the
        supervisor's, and the signal is answered at once (the command may take up to the
        runtime deadline). (Before, such a SIGKILL resumed nothing: the container stayed
        paused once that command ended, its init alive.) A delete (or a shutdown) that comes
        meanwhile still wins: the resume, its turn come, finds the container gone or does
        nothing (:meth:`.Container.resume_killed`).
        """
        if not self._may_thaw(container):
            return
        if container.lock.locked():
            assert self._nursery is not None  # a container is listed only while it runs
            self._nursery.start_soon(self._thaw_in_turn, container)
        else:
            await self._resume_killed(container)

    async def _resume_killed(self, container: Container) -> None:
        with contextlib.suppress(Conflict, NotFound):  # stopped or gone meanwhile: as wanted
            await self._submit(container.resume_killed, partial(self._may_thaw, container))

    async def _thaw_in_turn(self, container: Container) -> None:
        """:meth:`_resume_killed` once the command holding ``container`` ends; in the
        background, so a failure is logged (the SIGKILL stays pending, as before a resume)."""
        try:
            await self._resume_killed(container)
        except ShuttingDown:
            pass  # the shutdown stops the container itself, or keeps it as it is
        except DaemonError as exc:
            log.error(
                "container %s: could not resume it for the SIGKILL sent to it: %s",
                container.id, exc.message,
            )  # fmt: skip

    def _may_thaw(self, container: Container) -> bool:
        """Whether a killed process of the paused ``container`` may be let die now (or, for
        its init, once the command that holds it ends): not while a delete or a shutdown is
        under way (they stop it themselves), nor while a checkpoint or a migration holds it
        (:attr:`.Container.held_for_dump`): it stays as that command leaves it. Any other
        command that holds it does not stand in the way: an exec'd process is released at
        once (:func:`.cgroups.release_killed` moves it out of the freezer alone)."""
        return not (container.deleting or self._shutting_down or container.held_for_dump)

    async def top(
        self, container_id: str, ps_options: list[str] | None = None
    ) -> ContainerTop | PsTable:
        """Every process in the container, whoever started it, as ``ps -ef`` shows them; or
        with ``ps_options``, the host's ps's table of them (docker top's ``ps_args``)."""
        container = self.container(container_id)
        if container.status is Status.STOPPED:
            raise Conflict(_no_live(container, "it has no processes"))
        pids = await container.process_ids()
        if ps_options is None:
            return ContainerTop(processes=read_processes(pids))
        return await ps_table(ps_options, pids, timeout=self.config.runtime_timeout)

    async def stats(self, container_id: str) -> dict[str, Any]:
        container = self.container(container_id)
        if container.status is Status.STOPPED:
            raise Conflict(_no_live(container, "it has no live figures"))
        return await container.stats()

    def attach_target(self, container_id: str, pid: int) -> tuple[Container, Process | ExitInfo]:
        """The container and its process ``pid`` that an attach follows, or how that process
        ended (404 if it was never the container's, or ended too long ago). During a restart's
        own start, the stopped container it restarts (:meth:`container`), whose processes all
        ended: answered as during its delay, with their output and exit status. (Before, the
        start's removal of it from runc made that a 404 "container not found".)"""
        container = self.container(container_id)
        if container.deleted:
            # The stopped container whose restart's own start runs (no other deleted one is
            # found): runc has forgotten it, but its processes ended as it says (as _wait).
            return container, container.ended_process(pid)
        return container, container.known_process(pid)

    def log_lines(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        follow: bool = False,
        pid: int | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The container's log (or one process's part of it); followed until it is finished."""
        container, query, follow, finished = self._log_query(
            container_id, tail, follow, pid, since_ns, until_ns
        )
        return logs.read_log(
            container.dir,
            query,
            follow=self.log_watch if follow else None,
            finished=finished,
        )

    def process_output(
        self,
        container_id: str,
        pid: int,
        *,
        tail: int | None,
        since_ns: int | None,
        held_up: Callable[[], bool | None] | None = None,
    ) -> tuple[AsyncIterator[bytes], LogQuery]:
        """An attach's reading of the log, followed until the process's output ended: every
        record from where it reads (the end, with ``tail=0``), whichever process's, and the
        query that says which are the process's (its pid, and the moment from which they
        are its own: :meth:`log_lines`'s ``since`` for it). The session picks them out as
        it decodes them, run by run (:func:`.logruns.runs`), where the reader's filter went
        through them line by line (2026-12-06: most of the session's CPU)."""
        container, query, follow, finished = self._log_query(
            container_id, tail, True, pid, since_ns, None
        )
        everything = LogQuery(tail=tail)
        output = logs.read_log(
            container.dir,
            everything,
            follow=self.log_watch if follow else None,
            finished=finished,
            # A session further behind is ended, its files let go; whether its client's socket
            # was full then says whose side was slow (attach._outrun_reason).
            behind_at_most=logs.behind_at_most(self.config.log_max_bytes),
            held_up=held_up,
        )
        return output, query

    def _log_query(
        self,
        container_id: str,
        tail: int | None,
        follow: bool,
        pid: int | None,
        since_ns: int | None,
        until_ns: int | None,
    ) -> tuple[Container, LogQuery, bool, trio.Event]:
        container = self.container(container_id)
        finished = container.output_finished
        if pid is not None:
            process = container.processes.get(pid)
            if process is not None:
                finished = process.output_ended
            elif follow:
                follow = False  # it ended already: all of its output is in the log
            # That pid's current (or last) process's records: a pid the kernel gave again
            # has an earlier process's before them (a prefix test, then a stamp's: only the
            # pid's own records pay for it).
            began_ns = container.output_since(pid)
            if began_ns is not None and (since_ns is None or since_ns < began_ns):
                since_ns = began_ns
        query = LogQuery(tail=tail, pid=pid, since_ns=since_ns, until_ns=until_ns)
        return container, query, follow, finished

    # --- files (docker cp) -----------------------------------------------------------------------

    def container_root(self, container_id: str) -> Root:
        """The container's ``/`` as it sees it: its init's root while it runs or is paused
        (its mounts with it), its bundle's rootfs once it has stopped."""
        container = self.container(container_id)
        init = container.init
        if container.status in (Status.RUNNING, Status.PAUSED) and init is not None:
            return process_root(init.pid, init.start_time, container_id)
        return self._rootfs_root(container)

    def _stream_root(self, container_id: str) -> Root:
        """:meth:`container_root` for a copy's stream, which begins once its 200 went: an init
        that ended between the copy's stat and its stream (its exit not yet seen here) has
        its stopped container's files read, as a copy asked a moment later reads them. The
        stream can no longer be a 409; before, its body was cut after the 200 (an incomplete
        chunked answer, and an "Error in ASGI Framework" traceback in the daemon's log). A
        container deleted meanwhile is a 404 here, which cuts the body (:mod:`.api.cut`): its
        rootfs, still in its bundle if it had stopped, is no longer the container's."""
        try:
            return self.container_root(container_id)
        except Conflict:  # process_root's: the init is no longer that process
            return self._rootfs_root(self.container(container_id))

    def _rootfs_root(self, container: Container) -> Root:
        """The root of a stopped ``container``: its bundle's rootfs."""
        rootfs = check_config(container.bundle).rootfs
        if rootfs is None:
            raise InvalidRequest(f"{container.bundle}/config.json names no root.path")
        # Its owners as its next start maps them: the bundle's user namespace, if it has one.
        ids = idmap.from_config(read_config(container.bundle)[1], f"{container.bundle}/config.json")
        return rootfs_root(container.bundle / rootfs, ids)

    async def copy_out(
        self, container_id: str, path: str, *, exclude_mounts: bool = False
    ) -> CopyOut:
        """``path`` of the container found (404, 400), for its stat and its tar stream (its
        mounts left out with ``exclude_mounts``)."""
        return await plan_copy_out(
            partial(self.container_root, container_id), path, container_id,
            exclude_mounts=exclude_mounts, reopen_root=partial(self._stream_root, container_id),
        )  # fmt: skip

    async def copy_in(
        self, container_id: str, path: str, chunks: AsyncIterator[bytes], *, copy_owner: bool
    ) -> CopiedIn:
        """A tar stream unpacked into the directory ``path`` of the container."""
        with self.container_root(container_id) as root:
            return await copy_in(chunks, root, path, container_id, copy_owner=copy_owner)

    # --- checkpoints ----------------------------------------------------------------------------

    async def checkpoint(
        self,
        container_id: str,
        name: str,
        options: CriuOptions,
        *,
        exit: bool,
        timeout: float | None = None,
    ) -> CheckpointInfo:
        """Checkpoint within ``timeout`` seconds, or the daemon's checkpoint deadline."""
        check_id(name, "checkpoint name")
        container = await self._commanded(container_id)
        if not self.config.criu:
            raise_no_criu()
        deadline = timeout or self.config.checkpoint_timeout
        self._refuse_if_dumping(container.bundle, name, "checkpoint to it")
        dumping = _dump_key(container.bundle, name)
        if dumping is not None:
            self._dumping[dumping] = container_id
        try:
            return await self._submit(
                partial(container.checkpoint, name, options, exit=exit, deadline=deadline)
            )
        finally:
            if dumping is not None and self._dumping.get(dumping) == container_id:
                del self._dumping[dumping]

    def _refuse_if_dumping(self, bundle: Path, name: str, what: str) -> None:
        """409 while a checkpoint of the daemon's is being written to ``name`` of ``bundle``:
        its directory is there without its metadata until the dump answers. (Before, a
        delete and another dump to it were the 409, and a restore the 404, of a directory
        the daemon did not make, which told the client to remove it by hand: that of the
        dump under way, which then failed.)"""
        key = _dump_key(bundle, name)
        dumped = None if key is None else self._dumping.get(key)
        if dumped is not None:
            raise Conflict(
                f"checkpoint {name!r} in {checkpoints.checkpoints_dir(bundle)} is being"
                f" written (container {dumped!r}): {what} once that checkpoint has answered"
            )

    def checkpoint_bundle(self, container_id: str, bundle_path: str | None) -> Path:
        """The bundle whose checkpoints a listing, a delete or an export acts on: a listed
        container's own (:meth:`_own_bundle`: a ``bundlePath`` may only name it), or, for an
        id the daemon does not list (deleted, or on another daemon), the one the client
        names. A bundle that is no longer a directory is the checkpoints module's 400, when
        it opens it (one rule: :func:`.checkpoints._open_checkpoints`)."""
        check_id(container_id)
        given = None if bundle_path is None else _check_path(bundle_path)
        try:
            container = self.container(container_id)
        except NotFound:
            if given is None:
                raise
            # The client's path, as a start takes it: none there is its 400 now.
            os.close(open_given(given))
            return given
        return self._own_bundle(container, given)

    def _refuse_restore_elsewhere(self, container_id: str, bundle: Path) -> None:
        """A user's restore over the stopped container of the id is that container's again
        (its labels, limits, log): from a checkpoint of its own bundle, as a listing and a
        delete of its checkpoints take them (:meth:`_own_bundle`'s 400 for another bundle,
        which until 2026-12-06 was restored from, under the stopped one's settings)."""
        listed = self._containers.get(container_id)
        if listed is not None and listed.status is Status.STOPPED and not listed.deleted:
            self._own_bundle(listed, bundle)

    def _own_bundle(self, container: Container, given: Path | None) -> Path:
        """The container's bundle, the home of its checkpoints, as docker's and containerd's
        are the container's own: a ``given`` bundlePath is taken only as another spelling of
        it (a link, a mount of it), and is otherwise a 400 naming both, not the checkpoints
        of another bundle acted on under this container's id (until 2026-12-06 the path
        given won: ``ctr-trio checkpoints rm web c1 -b /other`` deleted /other's c1)."""
        if given is not None and not _same_directory(given, container.bundle):
            raise InvalidRequest(
                f"bundlePath {quoted(str(given))} is not the bundle of container"
                f" {container.id!r} ({container.bundle}): a listed container's checkpoints are"
                " in its own bundle (a restore over it restores from there): name that one, or"
                " delete the container first to use another bundle's under its id"
            )
        return container.bundle

    def list_checkpoints(
        self, container_id: str, bundle_path: str | None = None
    ) -> list[CheckpointInfo]:
        return checkpoints.list_all(self.checkpoint_bundle(container_id, bundle_path))

    def delete_checkpoint(
        self, container_id: str, name: str, bundle_path: str | None = None
    ) -> None:
        check_id(name, "checkpoint name")
        bundle = self.checkpoint_bundle(container_id, bundle_path)
        self._refuse_if_dumping(bundle, name, "delete it")
        identity = _checkpoint_identity(bundle, name)
        restored = None if identity is None else self._restoring.get(identity)
        if restored:
            raise Conflict(
                f"checkpoint {name!r} in {bundle}/checkpoints is being restored from (container"
                f" {restored[0]!r}): delete it once the restore has answered"
            )
        checkpoints.delete(bundle, name)

    # --- migrations -----------------------------------------------------------------------------

    async def migrate(self, container_id: str, plan: Plan) -> AsyncIterator[MigrationStep]:
        """Move the container to another daemon: its steps, as they end.

        What can be refused is refused before the first step, as an error: the container
        (404, 409; 409 too while another move of it runs or is being settled), the rounds this
        machine cannot do (409), a bundle to send that no import takes (400, from
        :class:`Outgoing` before it makes anything), a target that is this daemon itself (400,
        from :class:`Outgoing` once its own target side said so: :meth:`moving_away`), a
        target that is unreachable or says no (502). After that the
        migration runs in the supervisor's nursery whatever the client does, and ends with a
        ``done`` or ``failed`` step; one whose target may run the container but cannot say
        leaves it paused, and settling in the nursery (:meth:`_settle_later`).
        """
        container = await self._commanded(container_id)
        if not self.config.criu:
            raise_no_criu()
        if plan.pre_copy:
            features = await self.memory_features()
            if features.pre_copy_problem is not None:
                raise Conflict(
                    f"cannot migrate with preCopy {plan.pre_copy}: {features.pre_copy_problem}."
                    " Migrate with preCopy 0 (the container is frozen while all of its memory"
                    " is copied); post-copy (lazy pages) works on this kernel at the runc level"
                    " (make bench-precopy) but the API does not offer it (docs/checkpoint.md)"
                )
        # Checked after the last await before the move begins: neither can change unseen.
        if container.id in self._migrating:
            raise Conflict(
                f"cannot migrate container {container_id!r}: a migration of it is under way"
            )
        if container.id in self._unsettled:
            # Its target may run it: a move elsewhere could leave it running in two places.
            raise Conflict(
                f"cannot migrate container {container_id!r}: an earlier migration of it is not"
                " settled yet, and its target may run the container; this daemon asks the"
                " target until it says (or resume or delete the container)"
            )
        if self.incoming.moving_here(container.id):
            # Restored here, it is its source's until the session's finish. Moved on before
            # (until 2026-12-05), the source's hand-off of the input its copy had not read
            # found no container here (a 404, taken for a target older than hand-offs): it
            # was lost with the copy; and an abort of the session found nothing to delete
            # here, the source resumed its copy, and it ran there and at this move's target.
            raise Conflict(
                f"cannot migrate container {container_id!r}: it is moving here, and is its"
                " source's until that migration finishes; try again once it has"
            )
        steps, received = trio.open_memory_channel[MigrationStep](math.inf)

        def report(step: MigrationStep) -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                steps.send_nowait(step)  # a client that went away does not stop the move

        outgoing = Outgoing(
            container, plan, ledger=self._moves, cleanup_timeout=self.config.runtime_timeout,
            restore_timeout=self._restore_timeout,
            removed=partial(self._removed_by_move, container), settle_later=self._settle_later,
        )  # fmt: skip

        scope = trio.CancelScope()

        async def run(*, task_status: trio.TaskStatus[None]) -> None:
            try:
                with scope, steps:
                    await outgoing.run(report, task_status=task_status)
            finally:
                # A move left unsure is in _unsettled by now: a migrate is refused all along.
                self._migrating.pop(container.id, None)
                self._command_ends(scope)

        nursery = self._command_begins(scope)
        self._migrating[container.id] = outgoing
        try:
            await nursery.start(run)
        except BaseException:
            self._migrating.pop(container.id, None)  # in case run never ran
            self._command_ends(scope)  # in case run never ran (a second call does nothing)
            if scope.cancelled_caught:  # ended by a shutdown before its first step
                raise self.refusal() from None
            raise
        return _steps(received)

    async def memory_features(self) -> MemoryFeatures:
        """What memory copying this machine's kernel and CRIU allow (asked once)."""
        if self._memory_features is None:
            assert self.config.criu is not None
            self._memory_features = await precopy.probe(self.config.criu)
        return self._memory_features

    # --- the target's host side (migration.incoming.Host) -------------------------------------

    def running_here(self, container_id: str) -> bool:
        existing = self._containers.get(container_id)
        return existing is not None and existing.status is not Status.STOPPED

    def moving_away(self, migration: str) -> bool:
        for outgoing in self._migrating.values():
            if outgoing.name == migration:
                outgoing.to_itself = True
                return True
        return False

    def moved_here(self, container_id: str, migration: str) -> bool:
        existing = self._containers.get(container_id)
        return existing is not None and existing.labels.get(MIGRATION_LABEL) == migration

    def take_up_moved(
        self, container_id: str, migration: str, *, handed_off: bool, run: int | None
    ) -> bool:
        if not self.moved_here(container_id, migration):
            return False
        existing = self._containers[container_id]
        if existing.deleting or existing.deleted:
            return False
        init = existing.init
        if not handed_off and init is not None and run in (None, init.pid):
            init.expect_hand_off()
        return True

    def uses_bundle(self, bundle: Path) -> bool:
        return any(container.bundle == bundle for container in self._containers.values())

    async def runs_none_of(self, container_id: str) -> bool:
        if self.running_here(container_id):
            return False
        assert self._context is not None  # the sessions run while the supervisor does
        try:
            # A restore a failed roll-back left in runc (its container listed stopped).
            state = await self._context.runtime.state(container_id)
        except DaemonError:
            return False  # cannot say
        return state is None or state.get("status") == "stopped"

    async def restore_moved(
        self,
        container_id: str,
        bundle: Path,
        checkpoint: str,
        cgroups_path: str,
        labels: Mapping[str, str],
        auto_remove: bool,
        process: StartProcess | None,
        restart_policy: RestartPolicy | None = None,
        restart_count: int = 0,
        created_ns: int | None = None,
        session: str = "",
    ) -> tuple[ContainerInfo, Replaced | None]:
        # A stopped container of the id that it replaces is kept aside until the session
        # ends (migration.moved_over), not removed as a start's is: an abort puts it back.
        self._moved_over.restoring(container_id, session)
        try:
            started = await self.start(
                container_id, str(bundle), checkpoint=checkpoint, cgroups_path=cgroups_path,
                labels=labels, auto_remove=auto_remove, moved=True, moved_process=process,
                restart_policy=restart_policy, moved_restart_count=restart_count,
                moved_created_ns=created_ns,
            )  # fmt: skip
        finally:
            replaced = self._moved_over.restored(container_id)
        return started.info(), replaced

    async def write_stdin(self, container_id: str, data: bytes, *, run: int | None) -> bool:
        container = self.container(container_id)
        init = container.init
        if run is not None and init is not None and init.pid != run:
            return False  # a restart's init: the restored run, which the input was for, ended
        if init is not None and init.exited.is_set():
            # The restored run ended before the hand-off (killed here, or done): its unread
            # input goes with it, as a pipe's does with its process. Refused, the move would
            # fail and the source resume its copy from the freeze: the run after it again,
            # the end undone (until 2026-12-05, in the few milliseconds a live move leaves,
            # and when a source's next server handed it on later).
            return False
        assert self._nursery is not None  # a session runs only while the supervisor does
        # Typed ahead, not waited for: what its input cannot take until it reads (a new
        # terminal takes less at once than the source's held) must not hold the move.
        if init is None or not init.type_ahead(data, self._nursery):
            raise Conflict(f"container {container_id!r} takes no input")
        return True

    def hand_off_over(self, container_id: str) -> None:
        existing = self._containers.get(container_id)
        if existing is not None and existing.init is not None:
            existing.init.hand_off_over()

    def put_back_moved_over(self, session: str, replaced: Replaced) -> bool:
        """The stopped container that ``session``'s restore replaced, back as it was (its
        directory with its log, its record), once the session is aborted and what it
        restored is gone; False if it cannot be (nothing was kept, or the id is taken by
        another container meanwhile: then what was kept goes)."""
        info = replaced.container
        assert self._context is not None  # the sessions run while the supervisor does
        if info.id in self._containers:
            log.warning(
                "container %s: the stopped container migration %s replaced is not put back:"
                " another container of the id is here", info.id, session,
            )  # fmt: skip
            self._moved_over.discard(info.id, session)
            return False
        directory = self.config.containers_dir / info.id
        try:
            if not self._moved_over.take(info.id, session, directory):
                return False
        except OSError as exc:
            log.error("container %s: its log could not be put back: %s", info.id, exc)
        back = Container.stopped(self._context, info, directory, tuple(replaced.user_cpu or ()))
        back.adopt_ended(replaced.ended_pid)
        back.save()  # again, with its init's pid, for a next server's wait
        self._containers[info.id] = back
        self._list_by_creation(back)
        log.info("container %s is back as it was before migration %s", info.id, session)
        return True

    def discard_moved_over(self, container_id: str, session: str) -> None:
        """The move of ``session`` is done: the stopped container it replaced is gone."""
        self._moved_over.discard(container_id, session)


async def _steps(
    received: trio.MemoryReceiveChannel[MigrationStep],
) -> AsyncIterator[MigrationStep]:
    async with received:
        async for step in received:
            yield step


def _no_live(container: Container, what: str) -> str:
    """The refusal of a query of the live ``container`` (its top, its stats) once it stopped:
    ``what`` it lacks, and, restarting, that it will have it again (as
    :meth:`.Container.not_running` says)."""
    if container.pending_restart is not None:
        return f"container {container.id!r} is restarting: {what}; wait until it is running"
    return f"container {container.id!r} is stopped: {what}"


def _refuse_unless_stopped(container: Container) -> None:
    """The 409 of a start again of a container that is not stopped, or restarting (its delay:
    its restart policy starts it; docker counts it running)."""
    if container.status is Status.STOPPED and container.pending_restart is None:
        return
    if container.status is Status.PAUSED:
        why = "it is paused; resume it first"
    elif container.status is Status.STOPPED:
        why = container.not_running()  # restarting
    else:
        why = f"it is {container.status.value} already"
    raise Conflict(f"cannot start container {container.id!r}: {why}")


def _held_message(container: Container) -> str:
    return (
        f"container {container.id!r} was not removed: another command holds it;"
        " prune again once it has ended"
    )


def _not_removable(container: Container) -> Conflict:
    """The 409 of docker's rm without -f for ``container``, which is not stopped for good:
    its state in docker's words (its daemon's, for a paused one, a restarting one and a
    running one), or, being deleted or held, the words every command gets then."""
    _refuse_if_busy(container)
    if container.status is Status.STOPPED:
        return _cannot_remove(container.id, "restarting")  # a restart due: its delay
    if container.status is Status.CREATED:
        return _cannot_remove(container.id, "starting")  # a start of the id that replaced it
    return _cannot_remove(container.id, container.status.value)  # running, paused


def _cannot_remove(container_id: str, state: str) -> Conflict:
    if state == "paused":  # docker's own words for it
        why = "container is paused and must be unpaused first"
    else:
        why = f"container is {state}: stop the container before removing or force remove"
    return Conflict(f"cannot remove container {container_id!r}: {why}")


def _refuse_if_busy(container: Container) -> None:
    if container.being_deleted:
        raise Conflict(f"container {container.id!r} is being deleted")
    if container.held_for is not None:
        raise Conflict(f"container {container.id!r} is {container.held_for}")


def _changed(
    bundle_config: BundleConfig,
    stdin: bool,
    resources: Resources | None,
    process: StartProcess | None,
    checkpoint: str | None,
) -> Changed:
    """A start with limits of its own, another process than the bundle's, or both; 400 for
    what a start cannot take (see :func:`_check_start_limits`, :func:`_check_start_process`)."""
    if resources is not None:
        _check_start_limits(resources, checkpoint)
        resources = cpus_as_quota(Resources(), resources)  # as runc takes them
    document = None
    if process is not None:
        _check_start_process(process, checkpoint)
        document = process_over(bundle_config.process, process)
    return Changed(
        stdin=stdin, config=bundle_config, resources=resources, process=process,
        document=document,
    )  # fmt: skip


#: What a start's process may change of the bundle's: its fields, named on the wire as here.
_PROCESS_FIELDS = tuple(field.name for field in attrs.fields(StartProcess))


def _check_start_process(process: StartProcess, checkpoint: str | None) -> None:
    """400 for a process a start cannot take: one that names nothing (as ``resources: {}``),
    or a restore's."""
    if all(getattr(process, name) is None for name in _PROCESS_FIELDS):
        raise InvalidRequest(
            "process names nothing to change: give one of"
            f" {', '.join(camel(name) for name in _PROCESS_FIELDS)}"
        )
    if checkpoint is not None:
        raise InvalidRequest(
            "process cannot be given with checkpoint: a restore runs the process that was"
            " checkpointed, as it was"
        )


def _check_start_limits(resources: Resources, checkpoint: str | None) -> None:
    """400 for limits a start cannot take: none named (as an update's), or a restore's."""
    require_named(resources)
    if checkpoint is not None:
        # Refused, not applied: a restore puts in force the stopped container's limits (its
        # user's to change before, with PATCH, as docker's update of a stopped container),
        # or with none of its id those the checkpoint recorded (those it ran under, which
        # the container's memory fits).
        raise InvalidRequest(
            "resources cannot be given with checkpoint: a restore puts in force the limits of"
            " the stopped container it restores over (PATCH it with resources first), or with"
            " none of its id those it had at its checkpoint; change them once it runs"
        )


def _check_path(bundle_path: str) -> Path:
    """The bundle's path, if it may be one; 400 otherwise."""
    if not bundle_path:
        raise InvalidRequest("bundlePath must not be empty")
    if "\0" in bundle_path:
        raise InvalidRequest("bundlePath must not contain NUL")
    bundle = Path(bundle_path)
    if not bundle.is_absolute():
        raise InvalidRequest(f"bundlePath must be an absolute path, not {quoted(bundle_path)}")
    return bundle


def _checkpoint_identity(bundle: Path, name: str) -> tuple[int, int] | None:
    """The (device, inode) of the checkpoint's directory, which no spelling of its bundle's
    path (a link, a ``..``) changes; None if there is none."""
    try:
        info = os.stat(checkpoints.checkpoints_dir(bundle) / name)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _same_directory(given: Path, bundle: Path) -> bool:
    """Whether ``given`` is the directory ``bundle`` is (the same device and inode, which no
    spelling of either path changes); False if either is not there, unless they are one
    path (a bundle gone is then said as such, not as another bundle)."""
    if given == bundle:
        return True
    try:
        return os.path.samestat(os.stat(given), os.stat(bundle))
    except OSError:
        return False


def _dump_key(bundle: Path, name: str) -> tuple[int, int, str] | None:
    """The bundle's (device, inode), which no spelling of its path changes, and the
    checkpoint's name; None if the bundle is not there."""
    try:
        info = os.stat(bundle)
    except OSError:
        return None
    return info.st_dev, info.st_ino, name


def _check_bundle(bundle_path: str) -> tuple[Path, BundleConfig]:
    """The bundle and the facts of its config.json; 400 for a config runc must not be given
    (or no bundle there: opening its config says so)."""
    bundle = _check_path(bundle_path)
    return bundle, check_config(bundle)


def raise_no_criu() -> None:
    raise RuntimeFailure(
        "no working CRIU: install criu 4.x (make install does) or pass --criu PATH"
    )
