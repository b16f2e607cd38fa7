"""One container: its runc lifecycle and the task tree that watches it.

:meth:`Container.run` is started with ``nursery.start`` in the supervisor's nursery. It starts
the init process (``runc run -d`` or ``runc restore -d``), and only once the init runs does it
report started; if anything fails first it undoes everything (runc's container, pipes, files)
and raises, so a start either completes or leaves nothing. After that its tree holds:

- a watcher per process (init and exec'd ones), waiting on the process's pidfd;
- a pump per pipe, copying stdout and stderr into the container's log;
- an OOM watcher on the container's memory cgroup.

The tree lives until the container is deleted, so that commands arriving while the container
stops can still start tasks in it. Commands that change the container's runc state take
``self.lock``, so pause, exec, checkpoint and delete never interleave on one container; signals
go straight to a pidfd and need no lock.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from . import checkpoints, timestamps
from .bundle import BundleConfig, read_bundle, read_bundle_process
from .checkpoints import CheckpointInfo
from .errors import Conflict, DaemonError, NotFound, RuntimeFailure, RuntimeTimeout
from .events import EventBus
from .logs import LogWriter
from .metrics import Metrics
from .model import ContainerInfo, ContainerState, ProcessInfo, ProcessSpec, Status, User
from .netns import has_own_network_namespace, set_loopback_up
from .oom import OomCounter, find_memory_cgroup
from .process import UNKNOWN_EXIT_STATUS, Pipes, ProcessHandle, process_state, start_time
from .reaper import reaper_held
from .records import ContainerRecord, ProcessStart, RecordJournal
from .runtime import CriuOptions, Runc, RuncError

log = logging.getLogger(__name__)

#: How long a stopped container's pumps may take to drain its pipes before delete goes on.
_DRAIN_SECONDS = 2.0


@attrs.frozen
class ContainerContext:
    """What every container shares with the supervisor."""

    runtime: Runc
    events: EventBus
    metrics: Metrics
    log_max_bytes: int
    devnull: int
    journal: RecordJournal
    #: Where runc writes the pid files (one flat directory: no directory per container).
    pid_dir: Path
    #: Bound on shielded clean-up work (rollbacks, stops at shutdown).
    cleanup_timeout: float


@attrs.frozen
class Fresh:
    """Start the bundle's process with ``runc run``."""


@attrs.frozen
class Restore:
    """Start from ``{bundle}/checkpoints/{name}`` with ``runc restore``."""

    checkpoint: str


@attrs.frozen
class Adopt:
    """Watch a container that runc still runs, left by a daemon that died."""

    record: ContainerRecord
    runc_status: Status


Launch = Fresh | Restore | Adopt


class Process:
    """A live process the daemon started in a container."""

    def __init__(self, handle: ProcessHandle, info: ProcessInfo, started: int | None) -> None:
        self.handle = handle
        self.info = info
        self.start_time = started

    @property
    def pid(self) -> int:
        return self.handle.pid


def process_info(pid: int, document: dict[str, Any]) -> ProcessInfo:
    """A client's view of an OCI process document (from config.json or an exec request)."""
    user = document.get("user") or {}
    gids = user.get("additionalGids")
    return ProcessInfo(
        pid=pid,
        args=list(document.get("args") or []),
        user=User(uid=int(user.get("uid", 0)), gid=int(user.get("gid", 0)), additional_gids=gids),
        terminal=bool(document.get("terminal", False)),
        env=list(document.get("env") or []),
        cwd=str(document.get("cwd") or "/"),
    )


class Container:
    def __init__(
        self,
        context: ContainerContext,
        container_id: str,
        bundle: Path,
        directory: Path,
        labels: dict[str, str],
    ) -> None:
        self.id = container_id
        self.bundle = bundle
        self.dir = directory
        self.labels = labels
        self.created_ns = timestamps.now_ns()
        self.status = Status.CREATED
        self.exit_status: int | None = None
        self.init: Process | None = None
        #: Live processes by pid, init first.
        self.processes: dict[int, Process] = {}
        self.lock = trio.Lock()
        self.logs = LogWriter(directory, context.log_max_bytes)
        self.deleted = False
        #: False once runc has forgotten the container (a checkpoint with exit removes it).
        self.known_to_runc = True
        self._ctx = context
        self._nursery: trio.Nursery | None = None
        self._oom: OomCounter | None = None
        self._stdio: Pipes | None = None
        self._open_pumps = 0
        self._exec_ids = itertools.count(1)
        self._stopped = trio.Event()
        #: Set while a checkpoint that stops the container runs: its exit is reported after it.
        self._checkpoint_exit: trio.Event | None = None
        self._drained = trio.Event()
        self._removed = trio.Event()
        self._finished = trio.Event()

    # --- views ----------------------------------------------------------------------------------

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            id=self.id,
            bundle_path=str(self.bundle),
            state=ContainerState(
                status=self.status,
                exit_status=self.exit_status if self.status is Status.STOPPED else None,
            ),
            processes=[process.info for process in self.processes.values()],
            created_at=timestamps.format_ns(self.created_ns),
            labels=self.labels,
        )

    def save(self) -> None:
        """Keep the record on disk in step (a restart adopts from it)."""
        if self.deleted:
            return
        starts = [
            ProcessStart(pid=p.pid, start_time=p.start_time)
            for p in self.processes.values()
            if p.start_time is not None
        ]
        self._ctx.journal.put(ContainerRecord(container=self.info(), start_times=starts))

    # --- the task tree --------------------------------------------------------------------------

    async def run(self, launch: Launch, *, task_status: trio.TaskStatus[None]) -> None:
        readers = await self._launch(launch)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                assert self.init is not None
                nursery.start_soon(self._watch_init, self.init)
                for process in self.processes.values():
                    if process is not self.init:  # adopted exec'd processes
                        nursery.start_soon(self._watch_process, process)
                if readers is not None:
                    self._start_pumps(nursery, readers)
                else:
                    self._pumps_done()
                if self._oom is not None:
                    nursery.start_soon(self._watch_oom, self._oom)
                task_status.started()
                await self._removed.wait()
                nursery.cancel_scope.cancel()
        finally:
            for process in self.processes.values():
                process.handle.reap_if_exited()
                process.handle.close()
            if self._stdio is not None:
                self._stdio.close_child_ends()
            if not self.logs.finished:
                self.logs.finish()
            self._finished.set()

    async def _launch(self, launch: Launch) -> tuple[int, int] | None:
        """Start (or adopt) the init process; on any failure undo everything and raise."""
        if isinstance(launch, Adopt):
            self._adopt(launch)
            return None
        pipes = Pipes(self._ctx.devnull)
        pid_file = self._ctx.pid_dir / f"{self.id}.init.pid"
        bundle_config = read_bundle(self.bundle)
        document = bundle_config.process
        try:
            # Held until the pidfd is open: an init that exits at once is a zombie of ours
            # before then, and must be left for its watcher to reap.
            with reaper_held():
                if isinstance(launch, Restore):
                    pid = await self._restore(launch.checkpoint, pid_file, pipes)
                else:
                    pid = await self._ctx.runtime.run(self.id, self.bundle, pid_file, pipes.child)
                handle = ProcessHandle.open(pid)
        except BaseException:
            pipes.close()
            await self._undo_start(pid_file)
            raise
        # The daemon keeps the write ends while the init lives: exec'd processes get the same
        # pipes, so that runc's mapping of the init's stdio on restore covers them too (CRIU
        # restores a pipe by its inode; a process with pipes of its own would come back with
        # pipes nobody reads, and die of SIGPIPE).
        self._stdio = pipes
        if isinstance(launch, Restore) and has_own_network_namespace(pid):
            # Shielded: the container runs now, and must be registered whatever happens.
            with trio.move_on_after(self._ctx.cleanup_timeout, shield=True):
                try:
                    await set_loopback_up(pid)
                except OSError as exc:
                    log.warning("restored container %s: loopback stays down: %s", self.id, exc)
        self.init = Process(handle, process_info(pid, document), start_time(pid))
        self.processes[pid] = self.init
        self.status = Status.RUNNING
        self._watch_memory(pid, bundle_config)
        # Published before any watcher runs, so that a start always precedes its exit.
        kind = "restore" if isinstance(launch, Restore) else "start-container"
        self._ctx.events.publish(kind, self.id, pid=pid)
        self.save()
        return pipes.take_readers()

    async def _restore(self, name: str, pid_file: Path, pipes: Pipes) -> int:
        info = checkpoints.load(self.bundle, name)
        work = self.dir / "criu-restore"
        work.mkdir(parents=True, exist_ok=True)
        try:
            return await self._ctx.runtime.restore(
                self.id,
                self.bundle,
                checkpoints.image_path(self.bundle, name),
                work,
                pid_file,
                pipes.child,
                info.criu_options,
            )
        except RuncError as exc:
            raise _with_criu_log(exc, work, "restore.log") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _undo_start(self, pid_file: Path) -> None:
        """Leave nothing of a failed start: no runc container, no process, no files."""
        with trio.move_on_after(self._ctx.cleanup_timeout, shield=True):
            await _kill_from_pid_file(pid_file)
            try:
                await self._ctx.runtime.delete(self.id, force=True)
            except DaemonError as exc:
                log.error("rollback of container %s: %s", self.id, exc.message)
        remove_directory(self.dir)

    def _adopt(self, launch: Adopt) -> None:
        """Take over processes that survived a daemon crash (not our children any more)."""
        record = launch.record
        starts = {entry.pid: entry.start_time for entry in record.start_times}
        self.created_ns = timestamps.parse_ns(record.container.created_at)
        gone = []
        for info in record.container.processes:
            expected = starts.get(info.pid)
            try:
                if expected is None or start_time(info.pid) != expected:
                    raise ProcessLookupError(info.pid)  # the pid now names another process
                handle = ProcessHandle.open(info.pid)
            except ProcessLookupError:
                gone.append(info.pid)
                continue
            self.processes[info.pid] = Process(handle, info, expected)
        init_pid = record.container.processes[0].pid if record.container.processes else None
        if init_pid is None or init_pid not in self.processes:
            for process in self.processes.values():
                process.handle.close()
            raise RuntimeFailure(f"the init process of container {self.id} is gone")
        for pid in gone:
            # Exited while no daemon ran: say so now, with the status nobody can know any more.
            self._ctx.events.publish("exit", self.id, pid=pid, status=UNKNOWN_EXIT_STATUS)
        self.init = self.processes[init_pid]
        self.status = launch.runc_status
        self._watch_memory(init_pid, read_bundle(self.bundle))
        if self._oom is not None:
            self._oom.check_silently()
        self.save()

    def _watch_memory(self, pid: int, bundle: BundleConfig) -> None:
        """Find the memory cgroup to count OOM kills in, if the container can have any."""
        if not bundle.memory_limited:
            return
        cgroup = find_memory_cgroup(pid, partial(self._ctx.runtime.cgroup_paths, self.id))
        if cgroup is not None:
            self._oom = OomCounter(cgroup, self._report_oom)

    def _start_pumps(self, nursery: trio.Nursery, readers: tuple[int, int]) -> None:
        stdout, stderr = readers
        self._open_pumps += 2
        nursery.start_soon(self._pump, stdout, "stdout")
        nursery.start_soon(self._pump, stderr, "stderr")

    async def _pump(self, fd: int, stream: str) -> None:
        source = self.logs.source(stream)
        try:
            async with trio.lowlevel.FdStream(fd) as pipe:
                while chunk := await pipe.receive_some(65536):
                    source.write(chunk)
        except OSError as exc:
            log.error("log capture of container %s (%s) failed: %s", self.id, stream, exc)
        finally:
            source.close()
            self._open_pumps -= 1
            if self._open_pumps == 0 and self.status is Status.STOPPED:
                self._pumps_done()

    def _pumps_done(self) -> None:
        if not self.logs.finished and self.status is Status.STOPPED:
            self.logs.finish()
        if self.status is Status.STOPPED:
            self._drained.set()

    async def _watch_init(self, init: Process) -> None:
        status = await init.handle.wait()
        if self._checkpoint_exit is not None:
            # CRIU kills the tree just before runc checkpoint returns; report the checkpoint
            # first, then this exit, in the order a client would expect them.
            await self._checkpoint_exit.wait()
        if self._oom is not None:
            self._oom.check()  # an OOM kill may have come before the watcher was in place
        self.processes.pop(init.pid, None)
        if self._stdio is not None:
            self._stdio.close_child_ends()  # now the pumps see EOF once the others are gone
        # The init's death kills every other process of its pid namespace; those watchers
        # report their own exits as they come.
        self.status = Status.STOPPED
        self.exit_status = status
        self._ctx.metrics.init_exits.inc()
        self._ctx.events.publish("exit", self.id, pid=init.pid, status=status)
        self._stopped.set()
        if self._open_pumps == 0:
            self._pumps_done()
        self.save()
        log.debug("container exited id=%s pid=%d status=%d", self.id, init.pid, status)

    async def _watch_process(self, process: Process) -> None:
        status = await process.handle.wait()
        if self._oom is not None:
            self._oom.check()  # by the time the victim is dead, the kill is counted
        self.processes.pop(process.pid, None)
        self._ctx.metrics.exec_exits.inc()
        self._ctx.events.publish("exit", self.id, pid=process.pid, status=status)
        self.save()

    async def _watch_oom(self, counter: OomCounter) -> None:
        try:
            await counter.watch()
        except OSError as exc:
            log.warning("no OOM notifications for container %s: %s", self.id, exc)

    def _report_oom(self) -> None:
        self._ctx.metrics.ooms.inc()
        self._ctx.events.publish("oom", self.id)
        log.warning("container %s: a process was killed for memory (OOM)", self.id)

    # --- commands -------------------------------------------------------------------------------

    def _require_live(self, action: str) -> None:
        if self.deleted:
            raise NotFound(f"container {self.id!r} not found")
        if self.status is Status.STOPPED:
            raise Conflict(f"cannot {action} container {self.id!r}: it is stopped")

    def _require_running(self, action: str) -> None:
        self._require_live(action)
        if self.status is Status.PAUSED:
            raise Conflict(f"cannot {action} container {self.id!r}: it is paused; resume it first")

    async def exec(self, spec: ProcessSpec) -> ProcessInfo:
        async with self.lock:
            self._require_running("exec into")
            number = next(self._exec_ids)
            document = _exec_document(read_bundle_process(self.bundle), spec)
            pid_file = self._ctx.pid_dir / f"{self.id}.exec-{number}.pid"
            # The container's own pipes (duplicated: the init may exit and its ends be closed
            # while this call waits), or, for an adopted container whose pipes died with the
            # old daemon, new ones for this process.
            own_pipes = Pipes(self._ctx.devnull) if self._stdio is None else None
            stdio = own_pipes.child if own_pipes is not None else self._stdio.duplicate_child()  # type: ignore[union-attr]
            try:
                with reaper_held():
                    try:
                        pid = await self._ctx.runtime.exec(self.id, document, pid_file, stdio)
                    finally:
                        if own_pipes is not None:
                            own_pipes.close_child_ends()
                        else:
                            os.close(stdio.stdout)
                            os.close(stdio.stderr)
                    handle = ProcessHandle.open(pid)
            except BaseException as exc:
                if own_pipes is not None:
                    own_pipes.close()
                with trio.move_on_after(self._ctx.cleanup_timeout, shield=True):
                    await _kill_from_pid_file(pid_file)
                if isinstance(exc, RuncError) and await self._init_gone():
                    raise Conflict(
                        f"container {self.id!r} stopped before the process could start"
                    ) from None
                raise
            process = Process(handle, process_info(pid, document), start_time(pid))
            self.processes[pid] = process
            self._ctx.events.publish("start-process", self.id, pid=pid)
            assert self._nursery is not None
            self._nursery.start_soon(self._watch_process, process)
            if own_pipes is not None:
                self._start_pumps(self._nursery, own_pipes.take_readers())
            self.save()
            return process.info

    def signal_process(self, pid: int, signum: int) -> None:
        process = self.processes.get(pid)
        if process is None or self.deleted:
            raise NotFound(f"process {pid} is not a live process of container {self.id!r}")
        try:
            process.handle.signal(signum)
        except ProcessLookupError:
            raise NotFound(f"process {pid} of container {self.id!r} has exited") from None

    def signal_init(self, signum: int) -> None:
        self._require_live("signal")
        assert self.init is not None
        try:
            self.init.handle.signal(signum)
        except ProcessLookupError:
            raise Conflict(f"cannot signal container {self.id!r}: it is stopped") from None

    async def pause(self) -> None:
        async with self.lock:
            self._require_live("pause")
            if self.status is Status.PAUSED:
                raise Conflict(f"container {self.id!r} is already paused")
            await self._runtime_step("pause", self._ctx.runtime.pause(self.id))
            self.status = Status.PAUSED
            self._ctx.events.publish("pause", self.id)
            self.save()

    async def resume(self) -> None:
        async with self.lock:
            self._require_live("resume")
            if self.status is not Status.PAUSED:
                raise Conflict(f"container {self.id!r} is not paused")
            await self._resume()

    async def _resume(self) -> None:
        await self._runtime_step("resume", self._ctx.runtime.resume(self.id))
        if self.status is Status.PAUSED:
            self.status = Status.RUNNING
        self._ctx.events.publish("resume", self.id)
        self.save()

    async def _runtime_step(self, action: str, call: Any) -> None:
        """Await a runc call; if the container stopped under it, say so instead of runc's words."""
        try:
            await call
        except RuncError:
            if await self._init_gone():
                raise Conflict(f"cannot {action} container {self.id!r}: it stopped") from None
            raise

    async def _init_gone(self) -> bool:
        """Whether a runc failure came from the init exiting under it.

        The init's exit may not be visible yet: the kernel first kills the rest of its pid
        namespace, which is what makes a concurrent ``runc exec`` fail. So give it a moment
        (only on this failure path) before calling the failure runc's own.
        """
        if self.status is Status.STOPPED or self.init is None:
            return True
        with trio.move_on_after(0.5):
            await self.init.handle.exited_event.wait()
        return self.init.handle.has_exited()

    async def checkpoint(self, name: str, options: CriuOptions, *, exit: bool) -> CheckpointInfo:
        async with self.lock:
            self._require_live("checkpoint")
            execs = [pid for pid in self.processes if self.init is None or pid != self.init.pid]
            if execs:
                # CRIU dumps the tree under the init; an exec'd process hangs off the daemon
                # (outside the container), so it would be lost without a word. Podman refuses too.
                listed = ", ".join(str(pid) for pid in execs)
                raise Conflict(
                    f"cannot checkpoint container {self.id!r} while processes started with exec"
                    f" are running (pids {listed}): CRIU dumps only the init's process tree."
                    " Wait for them to exit or signal them first"
                )
            if self.init is not None and process_state(self.init.pid) == "T":
                # CRIU cannot seize a process stopped by SIGSTOP: runc would hang to its deadline.
                raise Conflict(
                    f"cannot checkpoint container {self.id!r}: its init is stopped by a signal"
                    " (SIGSTOP); send it SIGCONT first"
                )
            image = checkpoints.reserve(self.bundle, name)
            work = self.dir / f"criu-dump-{name}"
            work.mkdir(parents=True, exist_ok=True)
            was_paused = self.status is Status.PAUSED
            if exit:
                self._checkpoint_exit = trio.Event()
            try:
                await self._runtime_step(
                    "checkpoint",
                    self._ctx.runtime.checkpoint(
                        self.id, image, work, options, leave_running=not exit
                    ),
                )
            except BaseException as exc:
                checkpoints.discard(image)
                if not was_paused:
                    with trio.move_on_after(self._ctx.cleanup_timeout, shield=True):
                        await self._thaw_if_frozen()
                if isinstance(exc, RuncError):
                    raise _with_criu_log(exc, work, "dump.log") from None
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
                if self._checkpoint_exit is not None:
                    self._checkpoint_exit.set()
                    self._checkpoint_exit = None
            info = checkpoints.new_info(name, options)
            checkpoints.commit(self.bundle, info)
            self._ctx.events.publish("checkpoint", self.id)
            if exit:
                self.known_to_runc = False
                # CRIU killed the processes and runc forgot the container: wait for the init's
                # exit so that the answer (and the next restore) sees it stopped.
                with trio.move_on_after(self._ctx.cleanup_timeout):
                    await self._stopped.wait()
            elif was_paused:
                # runc leaves a checkpointed container running; keep it as the client left it.
                self.status = Status.PAUSED
            self.save()
            return info

    async def _thaw_if_frozen(self) -> None:
        """CRIU freezes the container before it dumps; if it failed or was killed after that,
        the container must not stay frozen while the daemon lists it as running."""
        try:
            state = await self._ctx.runtime.state(self.id)
            if state is not None and state.get("status") == "paused":
                log.warning("container %s was left frozen by a failed checkpoint: thawing", self.id)
                await self._ctx.runtime.resume(self.id)
        except DaemonError as exc:
            log.error("container %s may be left frozen: %s", self.id, exc.message)

    async def stop(self, timeout: float) -> None:
        """SIGTERM the init, wait up to ``timeout`` seconds, then SIGKILL; return once it exited."""
        if self._stopped.is_set() or self.init is None:
            return
        self._signal_quietly(signal.SIGTERM)
        if self.status is Status.PAUSED:
            # A frozen process gets its signals only once thawed.
            await self._resume()
        with trio.move_on_after(timeout):
            await self._stopped.wait()
            return
        log.info("container %s ignored SIGTERM for %gs; sending SIGKILL", self.id, timeout)
        self._signal_quietly(signal.SIGKILL)
        with trio.move_on_after(self._ctx.cleanup_timeout):
            await self._stopped.wait()
            return
        raise RuntimeTimeout(f"container {self.id!r} did not exit after SIGKILL")

    def _signal_quietly(self, signum: int) -> None:
        assert self.init is not None
        with contextlib.suppress(ProcessLookupError):
            self.init.handle.signal(signum)

    async def delete(self, timeout: float) -> ContainerInfo:
        """Stop, remove from runc, end the task tree and remove the container's files."""
        async with self.lock:
            if self.deleted:
                raise NotFound(f"container {self.id!r} not found")
            try:
                await self.stop(timeout)
            except RuntimeTimeout as exc:
                # Not dead after SIGKILL (frozen behind our back?): runc delete --force
                # freezes, kills and thaws the whole cgroup, which settles it.
                log.warning("%s; forcing", exc.message)
            # --force kills what the init's death left (a container without its own pid
            # namespace keeps its other processes); then let their watchers reap them.
            await self._ctx.runtime.delete(self.id, force=True)
            with trio.move_on_after(_DRAIN_SECONDS):
                for process in list(self.processes.values()):
                    await process.handle.exited_event.wait()
                await self._drained.wait()
            info = self.info()
            await self.forget()
            self._ctx.events.publish("delete", self.id)
            return info

    async def forget(self) -> None:
        """End the task tree and remove the container's files (runc is already done with it)."""
        self.deleted = True
        self._removed.set()
        if self._nursery is not None or self.init is not None:
            await self._finished.wait()
        self._ctx.journal.remove(self.id)
        remove_directory(self.dir)

    def mark_stopped(self, exit_status: int) -> None:
        """For a record whose container ended while the daemon was down: no tree is started."""
        self.status = Status.STOPPED
        self.exit_status = exit_status
        self._stopped.set()
        self._drained.set()
        self._finished.set()
        self.logs.finish()


def remove_directory(path: Path) -> None:
    """Remove a container's directory: a few flat files, so cheaper than shutil.rmtree's
    careful descent (which stays the fallback for anything deeper)."""
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _exec_document(base: dict[str, Any], spec: ProcessSpec) -> dict[str, Any]:
    """The bundle's process with the request's fields laid over it, as Docker's exec does.

    Whatever the request leaves out (environment, working directory, user, capabilities,
    rlimits) is the container's own.
    """
    document = dict(base)
    document["args"] = list(spec.args)
    document["terminal"] = False
    document.pop("consoleSize", None)
    if spec.env is not None:
        document["env"] = list(spec.env)
    if spec.cwd is not None:
        document["cwd"] = spec.cwd
    if spec.user is not None:
        user: dict[str, Any] = {"uid": spec.user.uid, "gid": spec.user.gid}
        if spec.user.additional_gids is not None:
            user["additionalGids"] = list(spec.user.additional_gids)
        document["user"] = user
    document.setdefault("cwd", "/")
    return document


def _with_criu_log(exc: RuncError, work: Path, log_name: str) -> RuntimeFailure:
    tail = checkpoints.criu_log_tail(work, log_name)
    if not tail:
        return exc
    return RuntimeFailure(f"{exc.message}\nCRIU's {log_name} ends with:\n{tail}")


async def _kill_from_pid_file(pid_file: Path) -> None:
    """A runc call that failed or was killed may have started the process: kill and reap it."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    finally:
        pid_file.unlink(missing_ok=True)
    try:
        handle = ProcessHandle.open(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        handle.signal(signal.SIGKILL)
    await handle.wait()
