"""One container: its state, its runc lifecycle and the task tree that watches it.

:class:`Container` holds the container's state and is the surface the rest of the daemon
calls; the steps of each concern are modules of their own beside it, which it delegates to
(the launch, :mod:`._starting`; an exec, :mod:`._exec`; the watch of a process,
:mod:`._watching`; the waits, :mod:`._waits`; pause and resume, :mod:`._pausing`; a change of
limits, :mod:`._updates`; the checkpoint, :mod:`._checkpointing`, and the dump under way,
:mod:`._dumping`; the stop and delete, :mod:`._deletion`; the attach sessions,
:mod:`._sessions`). What stays here is what all of them read and write: the views and the
record, the task tree, the processes and their remembered exits, signals, settings, and the
making of a stopped container again.

:meth:`Container.launch` starts the init process (``runc run -d`` or ``runc restore -d``,
through the keeper, which makes and keeps the process's stdio), in the task of the request that
asked for it; if anything fails before the init runs it undoes everything (runc's container, the
keeper's hold, files, the record) and raises, so a start either completes or leaves nothing.
Then :meth:`Container.serve`, the container's task tree, goes to the supervisor's nursery
(:meth:`Container.run` does both, for an adoption). The tree holds:

- a watcher per process (init and exec'd ones), waiting for the keeper's word of its exit and
  of the end of its output;
- an OOM watcher on the container's memory cgroup, if it has a memory limit.

A process may have a terminal (``terminal: true``: runc's console socket, whose master the
keeper receives and keeps) or an open stdin (a pipe whose writing end the keeper keeps a copy
of); the server holds its own copy of either as the process's input (see :mod:`process`), for
attach (:mod:`containerd_trio.attach`). The exits of the container's processes are remembered
(the last few hundred: :class:`._exits.ExitBook`), so that a wait for one that already ended
answers at once.

The tree lives until the container is deleted, so that commands arriving while the container
stops can still start tasks in it. Commands that change the container's runc state take
``self.lock``, so pause, exec, checkpoint and delete never interleave on one container; signals
go straight to a pidfd and need no lock.

A start is recorded before runc runs (status ``created``): if the daemon dies in the middle,
the next server finds the record and rolls the start back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from .. import checkpoints, procfs, restarts, timestamps
from ..checkpoints import CheckpointInfo
from ..convert import dump_json, unstructure
from ..errors import Conflict, NotFound, container_not_found
from ..event_types import AUTO_REMOVED_FIELD, INIT_EXIT_FIELD, MOVED_EXIT_FIELD, MOVED_TO_FIELD
from ..keeperlink import CustodyRequest
from ..model import (
    ContainerInfo,
    ContainerState,
    ExitInfo,
    ProcessInfo,
    ProcessSpec,
    Resources,
    RestartPolicy,
    StartProcess,
    Status,
)
from ..oom import OomCounter, find_memory_cgroup
from ..process import UNKNOWN_EXIT_STATUS, Process
from ..records import ProcessStart
from ..runtime import CriuOptions, RuncError, Started
from ..signals import signal_name, signal_number
from . import _checkpointing, _deletion, _exec, _pausing, _starting, _updates, _waits, _watching
from ._context import ContainerContext
from ._directories import put_back_directory
from ._documents import process_info
from ._dumping import DumpGuard
from ._exits import DRAIN_SECONDS, Ended, ExitBook, exit_info, moved_exit
from ._launches import Launch
from ._moving import Moving
from ._sessions import AttachSessions
from ._waits import Removal

# The package's name, as the module's was before it became one: the daemon's log lines say
# ``logger=container``, and a filter on them still finds these.
log = logging.getLogger("containerd_trio.container")

T = TypeVar("T")


#: The view's fields before its state and processes, which :meth:`Container._encode_info`
#: encodes apart from the rest, in their order on the wire (checked here: the parts are joined
#: in the view's order).
_VIEW_HEAD = ("id", "bundlePath")
_VIEW_ORDER = ["id", "bundle_path", "state", "processes"]
assert [field.name for field in attrs.fields(ContainerInfo)][:4] == _VIEW_ORDER, (
    "Container._encode_info joins the view's parts in another order than ContainerInfo's"
)


class Container:
    # The restart policy's state (docker's --restart): defaults of the class, set on a
    # container that has a policy only, so that a plain start pays nothing for them.
    #: Its policy; None for none (docker's "no").
    restart_policy: RestartPolicy | None = None
    #: How many times its policy started its id again since its user's start (docker's
    #: RestartCount): each restart's container has the last one's plus one.
    restart_count: int = 0
    #: The delay before the start of this run (docker's backoff doubles it each restart,
    #: from 0.1 s, and starts over after a run of 10 s): see Supervisor._restart_exited.
    restart_delay: float = 0.0
    #: Its user stopped this run (its stop, whatever the signal; a signal through PATCH:
    #: docker's kill), or its delete did: the exit that comes of it is final, whatever the
    #: policy. Kept in its record while it runs (:meth:`mark_stopped_by_user`), for a next
    #: server.
    stopped_by_user: bool = False
    #: Its user's stops under way that have sent their signal and wait for the exit without
    #: the lock (:func:`._deletion.stop_by_user`), or one its last server left in its grace
    #: (:meth:`stop_left`): a migration is refused meanwhile, which would carry the
    #: container away from the stop (its SIGKILL, its disarmed policy) and leave it running
    #: at the target while the stop answered it stopped; and a checkpoint, whose dump the
    #: stop's SIGKILL would end (:func:`._checkpointing.check_checkpointable`). A default of the
    #: class, as the policy's state: a container never stopped pays nothing for it.
    stops_under_way: int = 0
    #: The restart due once this run has exited: its delay, then its start (pending_restart).
    _pending_restart: trio.CancelScope | None = None
    #: This run is a restart of the policy's (not its user's start again): its record says
    #: so while it starts (a next server's roll-back restarts the stopped run again), and it
    #: shows ``restarting`` meanwhile. It :attr:`continues` the run before too.
    is_restart: bool = False
    #: This run continues the stopped container of its id, the same container to its user:
    #: a restart by the policy, or its user's start again (docker's ``start``). Its start
    #: continues the log (``docker logs`` shows every run's output), keeps its Created and
    #: its place in the list, carries the exits it remembers, publishes no ``delete`` of the
    #: run before, and a wait for the removal of that run waits for this one's. (Until
    #: 2026-12-06 a start again began a new log, as a fresh start of the id does.)
    continues: bool = False
    #: When this run started, if not at ``created_ns`` (its ``state.startedAt``, docker's
    #: StartedAt): a restart's run, whose ``created_ns`` is its container's creation (docker's
    #: Created stays across restarts); a container moved here, whose ``created_ns`` is the
    #: source's; an adopted run of either, as its record says. None: the run began at
    #: ``created_ns`` (a user's start or restore), whose timestamp says both: no clock read of
    #: its own.
    run_started_ns: int | None = None
    #: When its init exited (``state.finishedAt``, docker's FinishedAt), once it has and the
    #: time is known: the init's exit, set with the stop, or the record's for a container
    #: made from its record.
    finished_ns: int | None = None
    #: True once an OOM kill of this run was reported (``state.oomKilled``, docker's
    #: OOMKilled): set by the report (:meth:`_report_oom`), or taken from the record of a
    #: container made from it. A default of the class, as the policy's state: a start sets
    #: nothing (each run is a Container of its own, and begins without, as docker's start
    #: resets it), and a container without a memory limit never changes it.
    oom_killed: bool | None = None
    #: Its frozen copy here is being killed once a move's target kept it (:meth:`.Moving.end`):
    #: the init's exit says so. A default of the class, as the others: no start sets it.
    moved_away = False
    #: docker's StdinOnce, the container's (its start's stdinOnce: ``ctr-trio run -i``
    #: attached): the end of any attach session's input closes its init's stdin. Kept in its
    #: record, for a start again and a next server. A default of the class: a plain start
    #: sets nothing.
    stdin_once = False
    #: docker's StopSignal and StopTimeout, the container's (its start's stopSignal and
    #: stopTimeout: ``ctr-trio run --stop-signal --stop-timeout``): the signal a stop that names
    #: none sends first (None: SIGTERM), and the seconds from it to SIGKILL for one that names
    #: no grace (None: :data:`..signals.DEFAULT_STOP_TIMEOUT`; -1: no SIGKILL). A DELETE
    #: and a stop read them here (:mod:`._deletion`). Kept in
    #: its record and its checkpoints, for a start again, a restore and a next server.
    #: Defaults of the class: a plain start sets nothing.
    stop_signal: int | None = None
    stop_timeout: int | None = None
    #: The CPU limits its user set through the API (its start's ``resources``, an update),
    #: of :data:`.resources.USER_CPU`: while set, they hold ``cpu.cpus`` off (409), as docker's
    #: CpuQuota and CpuPeriod its NanoCPUs. Not in its view (``resources`` lists the limits in
    #: force, the bundle's among them): in its record (the journal's ``userCpu``) and its
    #: checkpoints', for a next server, a start again, a restore. A default of the class.
    user_cpu: tuple[str, ...] = ()
    #: Where it moved (the target's address, as the move's ``to`` named it), if known.
    moved_to: str | None = None

    def __init__(
        self,
        context: ContainerContext,
        container_id: str,
        bundle: Path,
        directory: Path,
        labels: dict[str, str],
        *,
        auto_remove: bool = False,
    ) -> None:
        self.id = container_id
        self.bundle = bundle
        self.dir = directory
        self.labels = labels
        #: Removed once its init exits (docker run --rm): see :func:`._watching.watch`.
        self.auto_remove = auto_remove
        #: Its removal under way is autoRemove's (not its user's delete): its ``delete`` says
        #: so, for a server that starts to remember how it ended (:func:`..removals.auto_removed`).
        self.removed_at_exit = False
        #: Its init's stdin kept open (the start's stdin, or a restored init's pipe): kept in
        #: its record, for a start again (docker keeps a container's -i, its OpenStdin).
        self.stdin = False
        #: Its init has a terminal (as its last start or restore ran it): kept in its record,
        #: for a client's start again that attaches (docker's Config.Tty).
        self.terminal = False
        #: What its start ran instead of the bundle's process, as given (None: the bundle's):
        #: kept in its record, for a start again (docker keeps a container's command).
        self.start_process: StartProcess | None = None
        #: The cgroup limits in force: the bundle's, with the start's own and each update laid
        #: over them.
        self.resources = Resources()
        #: Whether its runc container has a pid namespace of its own, as its bundle's config
        #: said at its start; None where no start of this server read it (an adopted
        #: container: runc's state file says, at its init's exit).
        self.own_pid_namespace: bool | None = None
        #: The change of limits under way, in its record while its ``runc update`` runs (see
        #: :attr:`.records.ContainerRecord.updating`); an adoption sets the one its last
        #: server left, which it then makes again.
        self.updating: Resources | None = None
        self.created_ns = timestamps.now_ns()
        self.status = Status.CREATED
        self.exit_status: int | None = None
        self.init: Process | None = None
        #: The init of a stopped container made again from its record, by pid (its record
        #: keeps it: the view lists no process once stopped); see :meth:`adopt_ended`.
        self._ended_init: int | None = None
        #: Live processes by pid, init first.
        self.processes: dict[int, Process] = {}
        self.lock = trio.Lock()
        self.deleted = False
        #: A delete is under way: nobody waits for output that goes with the container.
        self.deleting = False
        #: ... and its record says so (a replace's does not: see :meth:`replace`).
        self._deleting_recorded = True
        #: When a delete's grace ends (:func:`~.timestamps.boot_ns`): kept in the record, for
        #: the next server to finish the delete as it would have ended (:meth:`delete_left`).
        self._grace_ends_ns: int | None = None
        #: When the grace of its user's stop ends (the first to end, of this run's stops; none
        #: for a stop without SIGKILL): kept in the record too (:meth:`_record_grace_ends_ns`),
        #: for the next server to send that stop's SIGKILL (:meth:`stop_left`). Apart from
        #: the delete's: a delete that comes in the grace does not put that SIGKILL off.
        self._stop_grace_ends_ns: int | None = None
        #: Why a command that would wait for the lock is refused at once (409) instead: its
        #: holder holds it for a long wait (the settling of a move the last server left,
        #: while that server's dump runs on: see migration.left), said after "container X
        #: is". None: commands wait their turn.
        self.held_for: str | None = None
        #: Its dumps, and what ends one: a SIGKILL, a delete's grace (:mod:`._dumping`).
        self._dumps = DumpGuard(container_id, self.lock)
        #: False once runc has forgotten the container (a checkpoint with exit removes it).
        self.known_to_runc = True
        #: It takes the place of a stopped container of its id (:meth:`replace`), encoded
        #: as its record held it: its start publishes that one's ``delete``, a failed restore
        #: leaves that one's log, and its record names it while it is created (the next
        #: server puts it back if this one dies before the start ends).
        self.replaces: bytes | None = None
        #: ... and its labels, for that ``delete``.
        self.replaced_labels: Mapping[str, str] = {}
        #: ... and its :attr:`user_cpu`, which its view does not show: for its record too.
        self.replaced_user_cpu: tuple[str, ...] = ()
        #: A restore's cgroup of its own (a migration's), recorded while it starts.
        self._cgroups_path: str | None = None
        #: The last exits of its processes, by pid (for waits that come after them).
        self.exits = ExitBook()
        #: Set once the container stopped and all of its output is in its log.
        self.output_finished = trio.Event()
        self._ctx = context
        self._nursery: trio.Nursery | None = None
        self._oom: OomCounter | None = None
        #: Processes whose output has not all reached the log yet, by key.
        self._writing: dict[str, Process] = {}
        self._stopped = trio.Event()
        #: Set while a checkpoint that stops the container runs: its exit is reported after it.
        self._checkpoint_exit: trio.Event | None = None
        self._removed = trio.Event()
        self._finished = trio.Event()
        #: Its removal, for the waiters on it (:meth:`wait_gone`, :meth:`wait_next_exit`).
        self._gone = Removal()
        #: Attach sessions following its output (an auto-removal lets them finish first).
        self._sessions = AttachSessions()
        #: Set once the start that made it (:meth:`.Supervisor.start`) ended, however it went
        #: (:attr:`start_failed` says): a wait for its id's next exit that came meanwhile
        #: waits for it. Never set for an adopted one, which is never listed created.
        self.start_ended = trio.Event()
        self.start_failed = False
        #: Waits for a process's output before its exit is reported: a delete cuts them short
        #: (the log goes with the container).
        self._draining: set[trio.CancelScope] = set()
        #: :meth:`info` encoded, with what it was encoded from (see :meth:`info_json`).
        self._info_json: tuple[tuple[object, ...], bytes] | None = None
        #: What :meth:`_encode_info` keeps: all of the view but its state and processes
        #: encoded, in two parts (before them, after them), with what they were encoded from.
        self._info_rest: tuple[tuple[object, ...], bytes, bytes] | None = None

    @property
    def run_began_ns(self) -> int:
        """When this run began: :attr:`run_started_ns`, or its creation for a run that began
        with the container."""
        return self.run_started_ns or self.created_ns

    # --- views ----------------------------------------------------------------------------------

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            id=self.id,
            bundle_path=str(self.bundle),
            state=self._state(),
            processes=[process.info for process in self.processes.values()],
            created_at=self._created_at(),
            labels=self.labels,
            resources=self.resources,
            auto_remove=True if self.auto_remove else None,
            stdin=True if self.stdin else None,
            stdin_once=True if self.stdin_once else None,
            stop_signal=None if self.stop_signal is None else signal_name(self.stop_signal),
            stop_timeout=self.stop_timeout,
            terminal=True if self.terminal else None,
            process=self.start_process,
            restart_policy=self.restart_policy,
            restart_count=None if self.restart_policy is None else self.restart_count,
        )

    def _state(self) -> ContainerState:
        started, finished = self.run_started_ns, self.finished_ns
        return ContainerState(
            status=self.status,
            exit_status=self.exit_status if self.status is Status.STOPPED else None,
            restarting=True if self._pending_restart is not None else None,
            # A start's run began when the container was made: its string, not another.
            started_at=self._created_at() if started is None else timestamps.format_ns(started),
            finished_at=None if finished is None else timestamps.format_ns(finished),
            oom_killed=self.oom_killed,
        )

    #: :attr:`created_ns` and its text (:meth:`_created_at`).
    _created_text: tuple[int, str] = (-1, "")

    def _created_at(self) -> str:
        """:attr:`created_ns` as its view says it, formatted once for all the views made of
        it (a start makes two, one for each save), again only if it is changed."""
        created_ns, text = self._created_text
        if created_ns != self.created_ns:
            text = timestamps.format_ns(self.created_ns)
            self._created_text = (self.created_ns, text)
        return text

    def kept_process(self) -> checkpoints.KeptProcess:
        """What a checkpoint keeps of the start that runs, and of the container's settings:
        the record's, for a restore that has none (the container deleted, or the checkpoint
        taken elsewhere). Those it does not have are left out of the file (None)."""
        return checkpoints.KeptProcess(
            self.start_process,
            stdin=self.stdin,
            labels=self.labels or None,
            auto_remove=True if self.auto_remove else None,
            restart_policy=self.restart_policy,
            stdin_once=True if self.stdin_once else None,
            stop_signal=None if self.stop_signal is None else signal_name(self.stop_signal),
            stop_timeout=self.stop_timeout,
            user_cpu=list(self.user_cpu) or None,
        )

    def info_json(self) -> bytes:
        """:meth:`info` as the API's JSON, encoded again only when it changed: GET /state lists
        every container in each answer, and building and encoding each one's view was most of
        an answer's cost with a thousand of them."""
        # All that info() reads and may change: the id, bundle and labels never do, a
        # Process's info is fixed when it starts (Processes compare by identity), and an update
        # puts new (frozen) Resources in place. (Not the restart waiting out its delay, which
        # info() says: setting it drops the encoding, so that no start pays for its check.
        # Nor the run's start, set before the first encoding, nor its end, set with the stop,
        # whose status is in the key; nor an OOM kill, whose report drops the encoding; nor
        # the stop's signal and grace, set before the first encoding and never changed.)
        key = (
            self.status, self.exit_status, self.created_ns, self.resources, self.auto_remove,
            self.stdin, self.stdin_once, self.terminal, self.start_process, self.restart_policy,
            self.restart_count, *self.processes.values(),
        )  # fmt: skip
        if self._info_json is None or self._info_json[0] != key:
            self._info_json = (key, self._encode_info())
        return self._info_json[1]

    def _encode_info(self) -> bytes:
        """``dump_json(unstructure(self.info()))``, the same bytes, from parts kept apart: its
        state and its processes are encoded each time, the rest (:attr:`_info_rest`) again
        only when it changed. A start saves its record twice, created then running, with the
        same rest: the second encoded only a state and a process anew (each process's view
        is encoded once, :meth:`.Process.info_json`). A dict is encoded in its keys' order,
        each value alone as in the whole: the parts joined are the whole's encoding."""
        rest_key = (
            self.created_ns, self.resources, self.auto_remove, self.stdin, self.stdin_once,
            self.terminal, self.start_process, self.restart_policy, self.restart_count,
        )  # fmt: skip
        if self._info_rest is None or self._info_rest[0] != rest_key:
            view = unstructure(self.info())
            head = {name: view.pop(name) for name in _VIEW_HEAD}
            del view["state"], view["processes"]
            # The braces off: {"id":..,"bundlePath":.. and ,"createdAt":..,...}.
            self._info_rest = (rest_key, dump_json(head)[:-1], dump_json(view)[1:])
        _, head_json, rest_json = self._info_rest
        return b'%b,"state":%b,"processes":[%b],%b' % (
            head_json,
            dump_json(unstructure(self._state())),
            b",".join([process.info_json() for process in self.processes.values()]),
            rest_json,
        )

    def _record_grace_ends_ns(self, *, running: bool) -> int | None:
        """The record's ``graceEndsNs``: when the next server kills what runs, the first end
        of a delete's grace and of its user's stops'. Being deleted, the delete's, or the
        stop's if that ends first: a stop's SIGKILL, due before a longer delete's that came
        in its grace, comes then from this server (before, the delete's end replaced it in
        the record, and the next server's came at the delete's end). Else, running and
        stopped by its user, the stop's."""
        stop = self._stop_grace_ends_ns if self.stopped_by_user else None
        if self.deleting:
            if self._grace_ends_ns is None or stop is None:
                return self._grace_ends_ns  # none: an older daemon's delete, killed at once
            return min(self._grace_ends_ns, stop)
        return stop if running else None

    def publish(
        self,
        type: str,
        *,
        pid: int | None = None,
        status: int | None = None,
        at_ns: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Publish an event of the container, with its labels (as docker's events carry them,
        so that a filter on labels judges the event by the container it was of)."""
        self._ctx.events.publish(
            type, self.id, pid=pid, status=status, at_ns=at_ns, detail=detail, labels=self.labels
        )

    def publish_delete(self) -> None:
        """Publish the container's ``delete``, which says whether autoRemove removed it."""
        self.publish("delete", detail={AUTO_REMOVED_FIELD: True} if self.removed_at_exit else None)

    def save(self) -> None:
        """Keep the record on disk in step (the next server adopts from it)."""
        if self.deleted:
            return
        starts = [
            ProcessStart(pid=p.pid, start_time=p.start_time, key=p.key)
            for p in self.processes.values()
            if p.start_time is not None
        ]
        starting = self.status is Status.CREATED
        running = self.status in (Status.RUNNING, Status.PAUSED)
        self._ctx.journal.put_encoded(
            self.id,
            self.info_json(),
            starts,
            deleting=self.deleting and self._deleting_recorded,
            grace_ends_ns=self._record_grace_ends_ns(running=running),
            replaces=self.replaces if starting else None,
            cgroups_path=self._cgroups_path if starting else None,
            updating=None if self.updating is None else dump_json(unstructure(self.updating)),
            restarting=self._pending_restart is not None or (starting and self.is_restart),
            ended_pid=self.ended_pid if self.status is Status.STOPPED else None,
            oom_kills=None if self._oom is None or not running else self._oom.seen,
            user_cpu=self.user_cpu,
            replaces_user_cpu=self.replaced_user_cpu if starting and self.replaces else (),
            stopped_by_user=self.stopped_by_user and running,
            removed_at_exit=self._record_removed_at_exit(),
        )

    def _record_removed_at_exit(self) -> bool | None:
        """The record's ``removedAtExit``: whose the delete under way of a container with
        autoRemove is, autoRemove's or its user's (a DELETE before the exit), for a next
        server that finishes it. Both leave a stopped container being deleted in the record:
        before, the next server took its user's for autoRemove's (its ``delete`` said so,
        and a wait asked again answered the exit of a container its user deleted)."""
        if not (self.deleting and self._deleting_recorded and self.auto_remove):
            return None
        return self.removed_at_exit

    # --- the task tree --------------------------------------------------------------------------

    async def run(self, launch: Launch, *, task_status: trio.TaskStatus[None]) -> None:
        """Launch (an adoption), then the container's task tree; started once the tree is in
        place."""
        await self.launch(launch)
        await self.serve(task_status=task_status)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The task tree of a launched container: a watcher for each of its processes (and one
        for OOM kills), until the container is removed."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for process in self.processes.values():
                    nursery.start_soon(_watching.watch, self, process)
                if self._oom is not None:
                    nursery.start_soon(self._watch_oom, self._oom)
                task_status.started()
                self._check_output_finished()
                await self._removed.wait()
                nursery.cancel_scope.cancel()
        finally:
            for process in [*self.processes.values(), *self._writing.values()]:
                self._ctx.processes.remove(process.key)
                process.close()
            self._finished.set()

    async def launch(self, launch: Launch) -> None:
        """Start (or adopt) the init process; on any failure undo everything and raise
        (:func:`._starting.launch`)."""
        await _starting.launch(self, launch)

    def _custody(self, key: str, *, terminal: bool, stdin: bool) -> CustodyRequest:
        """The stdio the keeper is to make for a new process: a terminal, or pipes (and a
        stdin pipe, made here: the keeper keeps a copy of its writing end, the server too)."""
        return CustodyRequest(
            key, self.id, str(self.dir), self._ctx.log_max_bytes,
            console=self._ctx.console_socket(key) if terminal else None,
            stdin=os.pipe2(os.O_CLOEXEC) if stdin and not terminal else None,
        )  # fmt: skip

    def _new_process(
        self, key: str, started: Started, document: dict[str, Any], *, stdin: bool = False
    ) -> Process:
        info = process_info(started.pid, document, stdin=stdin)
        process = Process(key, info, started.start_time, input_fd=started.master)
        self.processes[process.pid] = process
        self._writing[key] = process
        self._ctx.processes.add(process)
        return process

    def _watch_memory(self, pid: int, limited: bool) -> None:
        """Find the memory cgroup to count OOM kills in, if the container can have any."""
        if not limited:
            return
        cgroup = find_memory_cgroup(pid, partial(self._ctx.runtime.cgroup_paths, self.id))
        if cgroup is not None:
            self._oom = OomCounter(cgroup, self._report_oom)

    # --- watching (see ._watching) --------------------------------------------------------------

    def remove_when_stopped(self) -> None:
        """A stopped container started with autoRemove: being deleted from now on (a start
        of its id and a DELETE are 409s, as a delete under way makes them; its record says
        so, and a server that dies before the removal has the next one finish it), and
        handed to the supervisor, which deletes it (:meth:`delete`: the stop is done)."""
        self.removed_at_exit = True  # before the record says it is being deleted: whose
        _deletion.begin_delete(self)
        self._ctx.remove_exited(self)

    def gone(self) -> NotFound:
        """The 404 of a command that found this container deleted (meanwhile, say, while it
        waited for its turn): if a move ended it, it says where the container went (as the
        404s of its id do once it left the table: :meth:`.Supervisor._not_found`)."""
        if not self.moved_away:
            return container_not_found(self.id)
        init = self.init
        exited_ns = init.exit_ns if init is not None else None
        at = None if exited_ns is None else timestamps.format_ns(exited_ns)
        return container_not_found(self.id, moved=True, to=self.moved_to, at=at)

    def exit_of(self, process: Process) -> ExitInfo:
        """How ``process`` ended, as its waits answer it: the init of a copy a move killed
        says that the container moved (and where), not only the kill's 137."""
        info = exit_info(self.id, process)
        if self.moved_away and process is self.init:
            info = moved_exit(info, self._moved_detail())
        return info

    def _moved_detail(self) -> dict[str, Any]:
        """The fields of the init's ``exit`` of a copy a move killed."""
        detail: dict[str, Any] = {INIT_EXIT_FIELD: True, MOVED_EXIT_FIELD: True}
        if self.moved_to is not None:
            detail[MOVED_TO_FIELD] = self.moved_to
        return detail

    def remember_unseen_exit(self, pid: int, start_time: int | None, exit_ns: int) -> None:
        """An exec'd process an adoption found gone, reaped while no daemon ran (its exit,
        255, published then at ``exit_ns``): its wait answers that exit, as the event did, and
        as it would had the process still been a zombie to adopt; not a 404 saying that it
        never was the container's."""
        since = self.run_began_ns
        if start_time is not None:  # its output begins at its start, as an adopted exec's
            since = max(since, procfs.started_before_ns(start_time))
        at = timestamps.format_ns(exit_ns)
        info = ExitInfo(id=self.id, pid=pid, exit_status=UNKNOWN_EXIT_STATUS, exited_at=at)
        self.exits.keep(pid, Ended(info, since, start_time))

    def carry_exits(self, earlier: Container) -> None:
        """Take the remembered exits of ``earlier``, the stopped run that this restart by its
        policy (or start again) replaces (the same container to its user): an attach to a
        process of an earlier run (the init ``ctr-trio run --restart`` started and attaches
        to, which may have exited and been restarted before the attach came) answers that
        run's output (the log goes on across restarts, each record with its run's pid) and
        its exit status, and so does that process's wait, as during the restart's delay. Before, a
        restart's run began with none: each was a 404 once the restart had completed.

        All of them, not the last run's alone, under the one bound of
        :data:`._exits._EXITS_KEPT` for the container (the oldest go first): an init that exits at
        once restarts after 0.1 s, then 0.2 s more, and an attach that comes a little late
        must still find the run it was for; and the container holds no more than a single
        run with as many exec'd processes did. A copy: the stopped run stays as it was for
        those that hold it (a wait for its removal answers its own init's exit).

        Taken once ``earlier`` is removed (:meth:`replace`), when each of its exits is in:
        that removal ends what its init left (a container without a pid namespace of its
        own keeps its exec'd processes past its init's exit), and those exits are its run's
        too. (Taken before, they were not carried: once the restart completed, their waits
        and attaches were 404s.)"""
        self.exits = earlier.exits.copy()

    def _check_output_finished(self) -> None:
        if self.status is Status.STOPPED and not self._writing:
            self.output_finished.set()

    async def _watch_oom(self, counter: OomCounter) -> None:
        try:
            await counter.watch()
        except OSError as exc:
            log.warning("no OOM notifications for container %s: %s", self.id, exc)

    def _report_oom(self) -> None:
        self._ctx.metrics.ooms.inc()
        if not self.oom_killed:
            # Before the event: whoever reads the container once told of the kill sees it.
            self.oom_killed = True
            self._info_json = None
        self.publish("oom")
        self.save()  # the count reported, for the next server (its record's oomKills)
        log.warning("container %s: a process was killed for memory (OOM)", self.id)

    # --- commands -------------------------------------------------------------------------------

    def _require_live(self, action: str) -> None:
        if self.deleted:
            raise self.gone()
        if self.status is Status.STOPPED:
            raise Conflict(f"cannot {action} container {self.id!r}: {self.not_running()}")

    def not_running(self) -> str:
        """Why this stopped container refuses what needs it running, as a refusal says it:
        restarting while its restart policy's restart is due (its delay, or its own start:
        docker's 409 "is restarting, wait until the container is running"), where "stopped"
        told its user it would stay so; else stopped."""
        if self._pending_restart is not None:
            return "it is restarting; wait until it is running"
        return "it is stopped"

    def _require_running(self, action: str) -> None:
        self._require_live(action)
        if self.status is Status.PAUSED:
            raise Conflict(f"cannot {action} container {self.id!r}: it is paused; resume it first")

    async def exec(self, spec: ProcessSpec) -> ProcessInfo:
        """``runc exec`` of ``spec`` (:func:`._exec.exec_process`)."""
        return await _exec.exec_process(self, spec)

    # --- processes: input, exits ----------------------------------------------------------------

    def process(self, pid: int) -> Process | None:
        """The live process ``pid`` (None if it is not one of ours, or has gone)."""
        if self.deleted:
            raise self.gone()
        return self.processes.get(pid)

    def known_process(self, pid: int) -> Process | ExitInfo:
        """The live process ``pid``, or how it ended if it has; 404 if it was never ours (or
        ended too long ago to be remembered)."""
        process = self.process(pid)
        if process is not None:
            return process
        return self.ended_process(pid)

    def ended_process(self, pid: int) -> ExitInfo:
        """How process ``pid`` ended; 404 if it was never ours (or ended too long ago to be
        remembered)."""
        ended = self.exits.get(pid)
        if ended is None:
            raise NotFound(f"process {pid} is not a process of container {self.id!r}")
        return ended.info

    def output_since(self, pid: int) -> int | None:
        """From when the log's records of ``pid`` are its current (or last) process's: that
        process's start; None if the container knows no process of that pid (its records from
        the log's start are all there is to go by).

        The log spans the container's runs and every process of each, and pid_max is 32768
        here: within a long-lived container's log the kernel gives a pid again. The records of
        a pid before its last process started are an earlier process's (whose exit the newer
        one's took the place of, in :attr:`exits`), not this one's. A live process is the
        pid's newest, then a remembered exit, then the init of a run whose exit was not seen
        (a record adopted stopped)."""
        process = self.processes.get(pid)
        if process is not None:
            return self._since(process)
        ended = self.exits.get(pid)
        if ended is not None:
            return ended.since_ns
        if self.init is not None and self.init.pid == pid:
            return self._since(self.init)
        return None

    def _since(self, process: Process) -> int:
        """When ``process``'s output may begin: an exec's ask of runc (or an adopted one's
        start, :func:`._starting._adopt`), else its run's start
        (taken before runc was asked: :attr:`created_ns`, or the restart's run_started_ns)."""
        if process.since_ns is not None:
            return process.since_ns
        return self.run_began_ns

    async def end_input(self, process: Process) -> bool:
        """Close the process's stdin (EOF for a terminal); False if it took no input."""
        ended = await process.end_input()
        if ended and not process.terminal:
            self._ctx.keeper.close_stdin(process.key)
        return ended

    # --- waits (see ._waits) --------------------------------------------------------------------

    async def wait_process(self, pid: int) -> ExitInfo:
        """How process ``pid`` ended, once it has (:func:`._waits.wait_process`)."""
        return await _waits.wait_process(self, pid)

    async def wait(self) -> ExitInfo:
        """How the init ended, once it has (at once if the container is stopped)."""
        return await _waits.wait(self)

    async def wait_run(self) -> ExitInfo:
        """How the init's run ended, once it has, deleted since or not
        (:func:`._waits.wait_run`)."""
        return await _waits.wait_run(self)

    async def wait_gone(self) -> ExitInfo:
        """How the init ended, once the container is removed (:func:`._waits.wait_gone`)."""
        return await _waits.wait_gone(self)

    async def wait_next_exit(self) -> ExitInfo:
        """How the init's next run ends (docker's ``next-exit``:
        :func:`._waits.wait_next_exit`)."""
        return await _waits.wait_next_exit(self)

    async def _stopped_meanwhile(self) -> bool:
        """Whether this container, whose init was found gone under a command, is stopped once
        its exit is in (reported once its output is: within the drain's bound), and neither
        deleted nor being deleted (an autoRemove's)."""
        with trio.move_on_after(2 * DRAIN_SECONDS):
            await self._stopped.wait()
        return self.status is Status.STOPPED and not (self.deleted or self.deleting)

    @property
    def ended_pid(self) -> int | None:
        """The pid of this stopped container's init; None for one that ended while no server
        ran (nothing saw which process it was)."""
        return self.init.pid if self.init is not None else self._ended_init

    def adopt_ended(self, pid: int | None) -> None:
        """This stopped container, made again from its record, ended with its init ``pid``
        (:attr:`.records.ContainerRecord.ended_pid`; None if its record has none): its wait
        answers the pid, as the server that saw the exit did, and so does that init's own
        process wait (its output, for ``logs?pid=``, is the run's)."""
        self._ended_init = pid
        if pid is not None:
            self.exits[pid] = Ended(self.ended(), self.run_began_ns, None)

    def ended(self) -> ExitInfo:
        """How the init of this stopped container ended."""
        assert self.exit_status is not None
        pid = self.ended_pid
        ended = self.exits.get(pid) if pid is not None else None
        if ended is not None:
            return ended.info
        # Its record's exit time, if it had one (finishedAt): the wait says it as it did.
        at = None if self.finished_ns is None else timestamps.format_ns(self.finished_ns)
        return ExitInfo(id=self.id, pid=pid, exit_status=self.exit_status, exited_at=at)

    # --- attach sessions (see ._sessions) -------------------------------------------------------

    def attached(self) -> contextlib.AbstractContextManager[None]:
        """An attach session follows the container's output (:meth:`.AttachSessions.attached`)."""
        return self._sessions.attached()

    def attach_sent(self) -> None:
        """An attach session sent a message (:meth:`.AttachSessions.sent`)."""
        self._sessions.sent()

    async def wait_sessions_back(self, within: float) -> None:
        """Return once an attach session comes back (:meth:`.AttachSessions.wait_back`)."""
        await self._sessions.wait_back(within)

    async def wait_detached(self, stalled_after: float) -> None:
        """Return once no attach session follows (:meth:`.AttachSessions.wait_detached`)."""
        await self._sessions.wait_detached(stalled_after)

    @property
    def sessions_due(self) -> bool:
        """The attach sessions of the last server may be on their way back
        (:attr:`.AttachSessions.due`)."""
        return self._sessions.due

    @sessions_due.setter
    def sessions_due(self, due: bool) -> None:
        self._sessions.due = due

    # --- signals --------------------------------------------------------------------------------

    def signal_process(self, pid: int, signum: int) -> None:
        process = self.processes.get(pid)
        if process is None or self.deleted:
            raise NotFound(f"process {pid} is not a live process of container {self.id!r}")
        try:
            process.signal(signum)
        except ProcessLookupError:
            raise NotFound(f"process {pid} of container {self.id!r} has exited") from None
        if process is self.init:
            self._dumps.kill_ends(signum)

    def signal_init(self, signum: int) -> None:
        self._require_live("signal")
        assert self.init is not None
        try:
            self.init.signal(signum)
        except ProcessLookupError:
            raise Conflict(f"cannot signal container {self.id!r}: it is stopped") from None
        self._dumps.kill_ends(signum)

    # --- pause, resume (see ._pausing) ----------------------------------------------------------

    async def pause(self) -> None:
        """``runc pause`` (:func:`._pausing.pause`)."""
        await _pausing.pause(self)

    async def resume(self) -> None:
        """``runc resume`` (:func:`._pausing.resume`)."""
        await _pausing.resume(self)

    def paused(self) -> bool:
        """Whether the container is paused, by the daemon or by hand
        (:func:`._pausing.paused`)."""
        return _pausing.paused(self)

    async def resume_killed(self, allowed: Callable[[], bool]) -> None:
        """Resume the paused container sent a SIGKILL, so that it dies
        (:func:`._pausing.resume_killed`)."""
        await _pausing.resume_killed(self, allowed)

    # --- runc's steps, and the init gone under them ---------------------------------------------

    async def _runtime_step(self, action: str, call: Awaitable[T]) -> T:
        """Await a runc call; if the container stopped under it, say so instead of runc's words."""
        try:
            return await call
        except RuncError:
            if await self._init_gone():
                raise Conflict(f"cannot {action} container {self.id!r}: it stopped") from None
            raise

    async def _init_gone(self) -> bool:
        """Whether a runc failure came from the init exiting under it.

        The init's exit may not be known yet: the kernel first kills the rest of its pid
        namespace, which is what makes a concurrent ``runc exec`` fail. So give it a moment
        (only on this failure path) before calling the failure runc's own.
        """
        if self.status is Status.STOPPED or self.init is None:
            return True
        with trio.move_on_after(0.5):
            await self.init.exited.wait()
        return self.init.exited.is_set() or not procfs.is_alive(self.init.pid)

    # --- settings, limits, figures, checkpoint --------------------------------------------------

    async def set_auto_remove(self, auto_remove: bool) -> None:
        """Remove the container once its init exits (at once if it has), or no longer."""
        async with self.lock:
            if self.deleted:
                raise self.gone()
            # Judged in its turn, against the policy the container has then: a PATCH of a
            # policy that waited with this one for a command may have given it one. (Judged
            # as the request came, both answered 200 and the container had both.)
            restarts.refuse_with_auto_remove(self.restart_policy, auto_remove)
            self.auto_remove = auto_remove
            # docker's update event, for any change of the container's settings: a watcher
            # (the status page) reads the container again. Before the delete of a removal
            # it brings at once.
            self.publish("update")
            if auto_remove and self.status is Status.STOPPED and not self.deleting:
                self.remove_when_stopped()
            else:
                self.save()

    async def set_restart_policy(self, policy: RestartPolicy) -> None:
        """Take ``policy`` from the next exit on (docker update --restart); "no" cancels a
        restart waiting out its delay."""
        async with self.lock:
            if self.deleted:
                raise self.gone()
            # In its turn, as set_auto_remove judges its change.
            restarts.refuse_with_auto_remove(policy, self.auto_remove)
            self.restart_policy = restarts.in_force(policy)
            if self.restart_policy is None:
                self.cancel_restart()
            self.publish("update")  # as set_auto_remove's; after a restart-cancelled
            self.save()

    async def update_resources(self, change: Resources) -> None:
        """``runc update``: lay ``change`` over the limits in force (:mod:`._updates`)."""
        await _updates.update_resources(self, change)

    async def stats(self) -> dict[str, Any]:
        """One sample of the container's cgroup figures (``runc events --stats``)."""
        # Through _runtime_step, as top's runc ps: an init that died while a child it left
        # still holds its pipes is not stopped here yet (the exit waits for the output), and
        # runc's "is not running" then is a 409, not a 500.
        self._require_live("read the figures of")
        return await self._runtime_step("read the figures of", self._ctx.runtime.stats(self.id))

    async def process_ids(self) -> list[int]:
        """Every process in the container's cgroup (``runc ps``), not only those we started."""
        self._require_live("list the processes of")
        return await self._runtime_step("list the processes of", self._ctx.runtime.ps(self.id))

    async def checkpoint(
        self, name: str, options: CriuOptions, *, exit: bool, deadline: float
    ) -> CheckpointInfo:
        """Checkpoint the container into ``{bundle}/checkpoints/{name}``
        (:func:`._checkpointing.checkpoint`)."""
        return await _checkpointing.checkpoint(self, name, options, exit=exit, deadline=deadline)

    # --- stop, delete (see ._deletion) ----------------------------------------------------------

    async def delete(
        self, timeout: float | None, *, force: bool = False, if_at_rest: bool = False
    ) -> ContainerInfo:
        """Stop, remove from runc, end the task tree and remove the container's files
        (:func:`._deletion.delete`); ``timeout`` None: its own grace (:attr:`stop_timeout`);
        ``force``: SIGKILL alone (docker's rm -f); ``if_at_rest``: only if it is
        :attr:`at_rest` once the delete has its turn (a prune's, docker's rm without -f),
        else :class:`NotAtRest`."""
        return await _deletion.delete(self, timeout, force=force, if_at_rest=if_at_rest)

    async def stop(self, signum: int | None, grace: float | None) -> tuple[int, float] | None:
        """docker's stop, its user's, its signal sent (:func:`._deletion.stop_by_user`):
        ``signum``, ``grace`` None, its own (:attr:`stop_signal`, :attr:`stop_timeout`).
        What :meth:`wait_stopped` takes next; None if a restart was cancelled instead."""
        return await _deletion.stop_by_user(self, signum, grace)

    def grace_at_daemon_end(self, shutdown_timeout: float) -> float:
        """The seconds from its stop signal to its SIGKILL at the daemon's stop: its own
        stopTimeout (-1: without end), as docker's daemon stop gives each container its
        StopTimeout, else the daemon's ``shutdown_timeout`` (``--shutdown-timeout``)
        (:func:`._deletion.stop_grace`)."""
        return _deletion.stop_grace(self, shutdown_timeout)

    async def stop_at_daemon_end(self, grace: float) -> None:
        """Stop it as the daemon ends keeping its containers, stopped (``--stop-containers``,
        docker's daemon stop): in its turn, its stop signal (a paused one resumed to take
        it), up to ``grace`` seconds, then SIGKILL; once it exited, and what its init left
        (without a pid namespace of its own) was killed too (:func:`._deletion.end_left_behind`).
        Not its user's stop: its restart policy judges the exit, for the next daemon to act
        on."""
        async with self.lock:
            if not self.deleted:
                await _deletion.stop(self, grace)
                await _deletion.end_left_behind(self)

    async def wait_stopped(
        self, signum: int, grace: float, thaw_killed: Callable[[], Awaitable[None]]
    ) -> ContainerInfo:
        """The waits of the stop :meth:`stop` began; the container as it ended
        (:func:`._deletion.wait_stopped_by_user`)."""
        return await _deletion.wait_stopped_by_user(self, signum, grace, thaw_killed)

    async def replace(self, *, keep_log: bool = False) -> Path | None:
        """Remove this stopped container for a start of its id (:func:`._deletion.replace`)."""
        return await _deletion.replace(self, keep_log=keep_log)

    async def forget(self, *, keep_log: bool = False, keep_record: bool = False) -> None:
        """End the task tree and remove the container's files (:func:`._deletion.forget`)."""
        await _deletion.forget(self, keep_log=keep_log, keep_record=keep_record)

    @property
    def at_rest(self) -> bool:
        """Stopped, and staying so: no restart due by its policy, no delete under way, not
        held for a move's settling. What docker's container prune removes (a command that
        holds its lock meanwhile: :meth:`.Supervisor.prune`)."""
        return (
            self.status is Status.STOPPED
            and self._pending_restart is None
            and not self.being_deleted
            and not self.deleted
            and self.held_for is None
        )

    @property
    def being_deleted(self) -> bool:
        """A delete is under way (:attr:`deleting`), or waits for its turn: a command refuses
        it as being deleted (409), as it would once the delete holds the lock, where it would
        queue behind the delete and then find nothing (docker's rm marks its removal in
        progress before it waits for anything). A delete that waits marks no record: a
        checkpoint's dump holds the container (up to the delete's grace), and a server that
        dies then has the next one end that dump and adopt the container as it finds it, where
        a record marked deleting would have it finish a delete that never began, whose client
        had no answer. Nor does it change what the holder does (:attr:`deleting`: no autoRemove
        at an exit, no restart, no drain of output): if it never gets the lock (the server's
        end), nothing is to be undone."""
        return self.deleting or self._dumps.deletes_waiting > 0

    # --- a stopped container made again (a revival, a record put back) --------------------------

    def revived(self) -> Container:
        """This container again, stopped as it was, after a start that replaced it failed
        (and removed what it made): see :meth:`put_back`; a wait answers its init's exit."""
        container = Container.put_back(self._ctx, self.info(), self.dir, self.user_cpu)
        container.init = self.init
        container.exits = self.exits
        container._gone = self._gone  # its removal's waiters wait on
        return container

    @classmethod
    def put_back(
        cls,
        context: ContainerContext,
        info: ContainerInfo,
        directory: Path,
        user_cpu: tuple[str, ...] = (),
    ) -> Container:
        """A stopped container that a start replaced, again, after the start failed (or its
        server died): its directory back in place (a fresh start moved it aside; a restore
        left it where it was), its record saved. runc has forgotten it, unless the failed
        start's delete failed too: a DELETE or a start of its id asks runc again (one runc does
        not know is deleted already). ``user_cpu``: its :attr:`user_cpu`, which ``info`` does
        not show."""
        put_back_directory(directory, info.id)
        return cls.stopped(context, info, directory, user_cpu)

    @classmethod
    def stopped(
        cls,
        context: ContainerContext,
        info: ContainerInfo,
        directory: Path,
        user_cpu: tuple[str, ...] = (),
    ) -> Container:
        """The container ``info`` lists, stopped (its exit status, or 255 if it has none: it
        was not stopped), its record saved; no task tree (:meth:`mark_stopped`)."""
        container = cls(
            context, info.id, Path(info.bundle_path), directory, dict(info.labels),
            auto_remove=bool(info.auto_remove),
        )  # fmt: skip
        container.take_settings(info)
        if user_cpu:
            container.user_cpu = user_cpu
        exit_status = info.state.exit_status
        container.mark_stopped(UNKNOWN_EXIT_STATUS if exit_status is None else exit_status)
        container.save()
        return container

    # --- the restart policy's restarts, and the record's settings -------------------------------

    @property
    def pending_restart(self) -> trio.CancelScope | None:
        """The restart waiting out its delay, once this run has exited, then its start until
        that ends (its listing says restarting meanwhile): a stop or a delete of the container
        cancels it during the delay (a command waits for the start)."""
        return self._pending_restart

    @pending_restart.setter
    def pending_restart(self, scope: trio.CancelScope | None) -> None:
        self._pending_restart = scope
        self._info_json = None  # its listing's state.restarting changes with it

    def take_settings(self, info: ContainerInfo) -> None:
        """What its record (``info``) keeps of its start and since: a container made again
        from its record (an adoption, a stopped one put back) keeps its limits in force (an
        update's too), the process its start ran (for a start again), its stdin kept open
        (its -i) and its init's terminal, its restart policy and count (the next exit is the
        policy's, as before), its creation, its run's start and its end, and whether an OOM
        kill was reported in that run (one that came while no server watched is reported,
        and so taken, by the OOM watch: :func:`._starting._adopt`)."""
        self.resources = info.resources
        self.start_process = info.process
        self.stdin = bool(info.stdin)
        if info.stdin_once:
            self.stdin_once = True
        if info.stop_signal is not None:
            self.stop_signal = signal_number(info.stop_signal)
        if info.stop_timeout is not None:
            self.stop_timeout = info.stop_timeout
        # A record of a daemon before the field: its init's, if it is listed.
        self.terminal = bool(info.terminal or (info.processes and info.processes[0].terminal))
        if info.restart_policy is not None:
            self.restart_policy = info.restart_policy
            self.restart_count = info.restart_count or 0
        self.created_ns = timestamps.parse_ns(info.created_at)
        started = info.state.started_at  # None in an older daemon's record: at createdAt
        if started is not None and started != info.created_at:
            self.run_started_ns = timestamps.parse_ns(started)
        if info.state.finished_at is not None:
            self.finished_ns = timestamps.parse_ns(info.state.finished_at)
        if info.state.oom_killed:
            self.oom_killed = True

    def mark_stopped_by_user(self, grace_ends_ns: int | None = None) -> None:
        """Its user stopped this run (:attr:`stopped_by_user`): recorded before the signal
        goes, as docker's HasBeenManuallyStopped is, so that a server that dies before the
        exit leaves the next one not to restart it either (before, the server alone knew:
        a kill -9 of it during a stop's grace had the next one restart the exit). With
        ``grace_ends_ns``, when the stop's grace ends (:func:`~.timestamps.boot_ns`), its
        SIGKILL due: recorded too (the first of the stops under way), for the next server to
        send it then (:meth:`stop_left`); before, none sent it, and the container its user
        stopped ran on for good."""
        changed = not self.stopped_by_user
        self.stopped_by_user = True
        if grace_ends_ns is not None and (
            self._stop_grace_ends_ns is None or grace_ends_ns < self._stop_grace_ends_ns
        ):
            self._stop_grace_ends_ns = grace_ends_ns
            changed = True
        if changed:
            self.save()

    def cancel_restart(self) -> bool:
        """Cancel the restart waiting out its delay, if there is one (a stop, a delete, a
        start of the id by its user, a policy of "no"): True if there was. Its
        ``restart-cancelled`` says so on the stream: nothing else would tell a watcher that
        saw it restarting (the status page) that it is not, as no process starts or ends.
        Here, whatever calls it off, so that none goes unsaid; a delete's or a start's own
        events follow."""
        pending = self._pending_restart
        if pending is None:
            return False
        self.pending_restart = None
        pending.cancel()
        self.publish("restart-cancelled")
        return True

    # --- the end as the record or the supervisor tells it ---------------------------------------

    def delete_left(self, grace_ends_ns: int | None) -> float:
        """Being deleted, as the record of the last server, which died in its delete, says:
        for the next server to finish that delete (the supervisor's ``delete_left``) once it
        adopted the container. The seconds left of its grace (none in a record of an older
        daemon): what still runs then is killed, not at once. Its exits are reported as they
        come, as the last server would have reported them."""
        self.deleting = True
        self._deleting_recorded = True
        self._grace_ends_ns = grace_ends_ns
        if grace_ends_ns is None:
            return 0.0
        return max(0.0, (grace_ends_ns - timestamps.boot_ns()) / 1e9)

    def stop_left(self, grace_ends_ns: int) -> float:
        """Being stopped by its user, as the record of the last server, which died in the
        stop's grace, says (:meth:`mark_stopped_by_user`): for the next server to finish that
        stop (the supervisor's ``stop_left``) once it adopted the container, as
        :meth:`delete_left` a delete. The seconds left of the grace (0 once it has passed:
        the SIGKILL at once); the record keeps its end meanwhile."""
        self._stop_grace_ends_ns = grace_ends_ns
        return max(0.0, (grace_ends_ns - timestamps.boot_ns()) / 1e9)

    def mark_gone(self, successor: Container | None = None) -> None:
        """Tell the waiters for its removal (:meth:`wait_gone`, :meth:`wait_next_exit`) that it
        is gone, for ``successor`` if a start of its id replaced it. Their tasks run once this
        one next yields: by then the supervisor has taken it out of its table (nothing from
        here to there awaits), so that a client told it is gone may start its id again at
        once."""
        self._gone.successor = successor
        self._gone.done.set()

    # --- held for a dump (a checkpoint's, a migration's) ----------------------------------------

    @contextlib.asynccontextmanager
    async def moving(self) -> AsyncIterator[Moving]:
        """Hold the container for a migration: no other command runs on it until the block
        ends. What the migration does to it goes through the :class:`Moving` it is given."""
        async with self.holding_for_dump():
            self._require_live("migrate")
            _checkpointing.check_checkpointable(self, "migrate")
            yield Moving(self)

    def holding_for_dump(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the lock for a checkpoint or a migration (:meth:`.DumpGuard.holding`)."""
        return self._dumps.holding()

    @property
    def held_for_dump(self) -> bool:
        """A checkpoint or a migration holds the lock (:attr:`.DumpGuard.held`)."""
        return self._dumps.held

    def mark_stopped(self, exit_status: int) -> None:
        """For a record whose container ended while no server ran, or stopped before: no
        tree is started, unless its init left processes to watch (:meth:`adopt_left`)."""
        self.status = Status.STOPPED
        self.exit_status = exit_status
        self._stopped.set()
        if not self.processes:
            self.output_finished.set()
            self._finished.set()

    def adopt_left(self, left: list[Process]) -> None:
        """Take over what the init of this container, made again from its record, left
        (:func:`._starting.adopt_left`), before :meth:`mark_stopped`; its tree
        (:meth:`serve`) watches them, and :meth:`end_left_at_init_exit` ends them."""
        _starting.adopt_left(self, left)

    async def end_left_at_init_exit(self) -> None:
        """SIGKILL to what its init left, if it has no pid namespace of its own, each exit
        reported (:func:`._deletion.end_left_at_init_exit`)."""
        await _deletion.end_left_at_init_exit(self)
