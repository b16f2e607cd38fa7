"""The supervisor: the table of containers and the nursery their task trees live in.

The api layer calls the methods here and nothing else touches the table. Commands that change
something run as tasks of the supervisor's own nursery (:meth:`Supervisor._submit`): the request
handler only waits for the outcome, so a client that hangs up mid-request cannot cancel a start
half-way; the start completes, or rolls itself back, either way.

The supervisor is also the keeper's listener (:class:`~containerd_trio.keeperlink.KeeperEvents`):
exits and ends of output go to the processes by key, a log paused by a full disk becomes an
event and a metric.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import outcome
import trio

from . import checkpoints, console, logs
from .adoption import Adoption
from .bundle import check_config
from .checkpoints import CheckpointInfo
from .config import DaemonConfig
from .container import Container, ContainerContext, Fresh, Launch, Restore
from .errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RuntimeFailure,
    ShuttingDown,
)
from .events import EventBus
from .keeperlink import KeeperLink, SpawnResult, Welcome
from .logs import LogQuery, LogWatch
from .machine import read_machine
from .metrics import Metrics
from .model import ContainerInfo, DaemonState, ExitInfo, ProcessInfo, ProcessSpec, Status
from .process import ProcessTable
from .records import RecordJournal
from .runtime import CriuOptions, Runc
from .validation import check_id

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a journal or event log that a full disk holds back is tried again.
_DISK_RETRY_SECONDS = 1.0


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
        self.log_watch = LogWatch()
        #: Called when the keeper asks this server to hand over to a new one.
        self.on_handover: Callable[[], None] = lambda: None
        self._containers: dict[str, Container] = {}
        self._processes = ProcessTable()
        self._nursery: trio.Nursery | None = None
        self._context: ContainerContext | None = None
        self._adoption: Adoption | None = None
        self._shutting_down = False
        self._handing_over = False
        #: Commands under way (see _submit): a shutdown lets them finish first.
        self._commands = 0
        self._commands_done = trio.Event()
        self._journal = RecordJournal(config.journal_path)
        metrics.count_containers(self._count_by_status)

    # --- lifetime -------------------------------------------------------------------------------

    async def run(
        self,
        welcome: Welcome,
        *,
        task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Own the containers' nursery until :meth:`shutdown`; adopt what the keeper holds first."""
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
            )
            self.config.pid_dir.mkdir(parents=True, exist_ok=True)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.keeper.serve, self)
                nursery.start_soon(self.log_watch.run)
                nursery.start_soon(self._retry_full_disk)
                adoption = self._adoption = Adoption(
                    context, self.config, welcome, nursery, self._containers
                )
                await adoption.run()
                self._adoption = None
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._journal.close()
            console.remove_socket_directory(self.config.state_dir)

    async def shutdown(self, *, keep_containers: bool | None = None) -> None:
        """Refuse new commands, let those under way finish, stop every container (unless
        kept), then end the nursery."""
        self._shutting_down = True
        if self._commands:
            with trio.move_on_after(2 * self.config.runtime_timeout):
                await self._commands_done.wait()
        keep = self.config.keep_containers if keep_containers is None else keep_containers
        if not keep:
            async with trio.open_nursery() as nursery:
                for container in self._listed():
                    nursery.start_soon(self._stop_at_shutdown, container)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _stop_at_shutdown(self, container: Container) -> None:
        with trio.move_on_after(self.config.shutdown_timeout + 2 * self.config.runtime_timeout):
            try:
                await self._delete(container, self.config.shutdown_timeout)
            except Exception as exc:
                log.error("could not stop container %s at shutdown: %s", container.id, exc)

    async def _submit(self, command: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``command`` as a task of the supervisor; wait for its outcome.

        If the waiting handler is cancelled (its client went away), the command goes on.
        """
        if self._shutting_down or self._nursery is None:
            raise self._refusal()
        done = trio.Event()
        result: outcome.Outcome[T] | None = None

        async def task() -> None:
            nonlocal result
            try:
                result = outcome.Value(await command(*args))
            except Exception as exc:
                result = outcome.Error(exc)
            except trio.Cancelled:
                result = outcome.Error(self._refusal())
                raise
            finally:
                done.set()
                self._commands -= 1
                if self._commands == 0:
                    self._commands_done.set()

        self._commands += 1
        if self._commands == 1:
            self._commands_done = trio.Event()
        self._nursery.start_soon(task)
        await done.wait()
        assert result is not None
        return result.unwrap()

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

    def log_state(self, container_id: str, paused: bool, error: str | None) -> None:
        container = self._containers.get(container_id)
        if container is not None:
            container.log_paused = (error or "the disk refused the write") if paused else None
        self.metrics.paused_logs.inc() if paused else self.metrics.paused_logs.dec()
        self.events.publish("log-paused" if paused else "log-resumed", container_id)

    def inflight_done(self, spawn_id: int, result: SpawnResult) -> None:
        if self._adoption is not None:
            self._adoption.inflight_done(spawn_id, result)

    def handover(self) -> None:
        self._handing_over = True
        self.on_handover()

    def _refusal(self) -> ShuttingDown:
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
            raise self._refusal()
        self.keeper.reload()

    # --- queries --------------------------------------------------------------------------------

    def _listed(self) -> list[Container]:
        # A container still starting is in the table (its id is taken) but not listed yet.
        return [c for c in self._containers.values() if c.status is not Status.CREATED]

    def _count_by_status(self) -> Mapping[Status, int]:
        return Counter(c.status for c in self._listed())

    def container(self, container_id: str) -> Container:
        check_id(container_id)
        container = self._containers.get(container_id)
        if container is None or container.status is Status.CREATED or container.deleted:
            raise NotFound(f"container {container_id!r} not found")
        return container

    def get(self, container_id: str) -> ContainerInfo:
        return self.container(container_id).info()

    def state(self) -> DaemonState:
        return DaemonState(containers=[c.info() for c in self._listed()], machine=self.machine)

    # --- containers -----------------------------------------------------------------------------

    async def start(
        self,
        container_id: str,
        bundle_path: str,
        *,
        checkpoint: str | None = None,
        labels: Mapping[str, str] | None = None,
        stdin: bool = False,
    ) -> ContainerInfo:
        check_id(container_id)
        bundle = _check_bundle(bundle_path)
        launch: Launch = Fresh(stdin=stdin)
        if checkpoint is not None:
            check_id(checkpoint, "checkpoint name")
            checkpoints.load(bundle, checkpoint)  # 404 now rather than after reserving the id
            launch = Restore(checkpoint, stdin=stdin)
        existing = self._containers.get(container_id)
        if existing is not None:
            if existing.status is Status.CREATED:
                raise Conflict(f"container {container_id!r} is being started")
            if existing.status is not Status.STOPPED or existing.lock.locked():
                raise Conflict(
                    f"container {container_id!r} already exists and is {existing.status.value}"
                )
        if self._shutting_down or self._context is None:
            raise self._refusal()
        container = Container(
            self._context,
            container_id,
            bundle,
            self.config.containers_dir / container_id,
            dict(labels or {}),
        )
        self._containers[container_id] = container  # the id is taken from here on
        return await self._submit(self._start, container, existing, launch)

    async def _start(
        self, container: Container, replaced: Container | None, launch: Launch
    ) -> ContainerInfo:
        assert self._nursery is not None
        began = time.perf_counter()
        try:
            if replaced is not None:
                if replaced.known_to_runc:
                    await self.runtime.delete(replaced.id, force=True)
                # A restore continues the container it replaces: its earlier log stays.
                await replaced.forget(keep_log=isinstance(launch, Restore))
                self.events.publish("delete", replaced.id)
            await self._nursery.start(container.run, launch)
        except BaseException:
            if self._containers.get(container.id) is container:
                del self._containers[container.id]
            self.metrics.start_failures.inc()
            raise
        self.metrics.starts.inc()
        self.metrics.start_latency.observe(time.perf_counter() - began)
        log.debug(
            "container started id=%s pid=%s", container.id, container.init and container.init.pid
        )
        return container.info()

    async def delete(self, container_id: str, timeout: float) -> ContainerInfo:
        return await self._submit(self._delete, self.container(container_id), timeout)

    async def _delete(self, container: Container, timeout: float) -> ContainerInfo:
        info = await container.delete(timeout)
        if self._containers.get(container.id) is container:
            del self._containers[container.id]
        log.debug("container deleted id=%s", container.id)
        return info

    async def exec(self, container_id: str, spec: ProcessSpec) -> ProcessInfo:
        return await self._submit(self.container(container_id).exec, spec)

    def signal_process(self, container_id: str, pid: int, signum: int) -> None:
        self.container(container_id).signal_process(pid, signum)

    async def wait(self, container_id: str, pid: int | None = None) -> ExitInfo:
        """How the container's init (or process ``pid``) ended, once it has."""
        container = self.container(container_id)
        if pid is None:
            return await container.wait()
        return await container.wait_process(pid)

    async def update(
        self, container_id: str, *, status: Status | None, signum: int | None
    ) -> ContainerInfo:
        container = self.container(container_id)
        if signum is not None:
            container.signal_init(signum)
        if status is Status.PAUSED:
            await self._submit(container.pause)
        elif status is Status.RUNNING:
            await self._submit(container.resume)
        return container.info()

    async def stats(self, container_id: str) -> dict[str, Any]:
        container = self.container(container_id)
        if container.status is Status.STOPPED:
            raise Conflict(f"container {container_id!r} is stopped: it has no live figures")
        return await self.runtime.stats(container_id)

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
        container = self.container(container_id)
        finished = container.output_finished
        if pid is not None:
            process = container.processes.get(pid)
            if process is not None:
                finished = process.output_ended
            elif follow:
                follow = False  # it ended already: all of its output is in the log
        query = LogQuery(tail=tail, pid=pid, since_ns=since_ns, until_ns=until_ns)
        return logs.read_log(
            container.dir,
            query,
            follow=self.log_watch if follow else None,
            finished=finished,
        )

    # --- checkpoints ----------------------------------------------------------------------------

    async def checkpoint(
        self, container_id: str, name: str, options: CriuOptions, *, exit: bool
    ) -> CheckpointInfo:
        check_id(name, "checkpoint name")
        container = self.container(container_id)
        if not self.config.criu:
            raise_no_criu()
        return await self._submit(partial(container.checkpoint, name, options, exit=exit))

    def checkpoint_bundle(self, container_id: str, bundle_path: str | None) -> Path:
        """The bundle whose checkpoints to list: the container's, or one the client names."""
        check_id(container_id)
        if bundle_path is not None:
            return _check_bundle(bundle_path, need_config=False)
        return self.container(container_id).bundle

    def list_checkpoints(
        self, container_id: str, bundle_path: str | None = None
    ) -> list[CheckpointInfo]:
        return checkpoints.list_all(self.checkpoint_bundle(container_id, bundle_path))

    def delete_checkpoint(
        self, container_id: str, name: str, bundle_path: str | None = None
    ) -> None:
        check_id(name, "checkpoint name")
        checkpoints.delete(self.checkpoint_bundle(container_id, bundle_path), name)


def _check_bundle(bundle_path: str, *, need_config: bool = True) -> Path:
    if not bundle_path:
        raise InvalidRequest("bundlePath must not be empty")
    if "\0" in bundle_path:
        raise InvalidRequest("bundlePath must not contain NUL")
    bundle = Path(bundle_path)
    if not bundle.is_absolute():
        raise InvalidRequest(f"bundlePath must be an absolute path, not {bundle_path!r}")
    if not bundle.is_dir():
        raise InvalidRequest(f"bundlePath {bundle_path!r} is not a directory")
    if need_config:
        check_config(bundle)  # 400 for a config.json runc must not be given
    return bundle


def raise_no_criu() -> None:
    raise RuntimeFailure(
        "no working CRIU: install criu 4.x (make install does) or pass --criu PATH"
    )
