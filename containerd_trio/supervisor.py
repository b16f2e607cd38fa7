"""The supervisor: the table of containers and the nursery their task trees live in.

The api layer calls the methods here and nothing else touches the table. Commands that change
something run as tasks of the supervisor's own nursery (:meth:`Supervisor._submit`): the request
handler only waits for the outcome, so a client that hangs up mid-request cannot cancel a start
half-way; the start completes, or rolls itself back, either way.
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

from . import checkpoints, logs
from .bundle import check_config, read_bundle_process
from .checkpoints import CheckpointInfo
from .config import DaemonConfig
from .container import (
    Adopt,
    Container,
    ContainerContext,
    Fresh,
    Launch,
    Restore,
    process_info,
)
from .errors import (
    Conflict,
    DaemonError,
    InvalidRequest,
    NotFound,
    RuntimeFailure,
    ShuttingDown,
    StartupError,
)
from .events import EventBus
from .machine import read_machine
from .metrics import Metrics
from .model import (
    ContainerInfo,
    ContainerState,
    DaemonState,
    ProcessInfo,
    ProcessSpec,
    Status,
)
from .process import UNKNOWN_EXIT_STATUS, start_time
from .reaper import dev_null, reap_periodically
from .records import ContainerRecord, ProcessStart, RecordJournal
from .runtime import CriuOptions, Runc
from .timestamps import format_ns, now_ns, parse_ns
from .validation import check_id

log = logging.getLogger(__name__)

T = TypeVar("T")

_RUNC_STATUS = {"running": Status.RUNNING, "paused": Status.PAUSED}


class Supervisor:
    def __init__(
        self, config: DaemonConfig, *, runtime: Runc, events: EventBus, metrics: Metrics
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.events = events
        self.metrics = metrics
        self.machine = read_machine()
        self._containers: dict[str, Container] = {}
        self._nursery: trio.Nursery | None = None
        self._context: ContainerContext | None = None
        self._shutting_down = False
        self._journal = RecordJournal(config.journal_path)
        metrics.count_containers(self._count_by_status)

    # --- lifetime -------------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the containers' nursery until :meth:`shutdown`; adopt what a crash left first."""
        try:
            self._context = ContainerContext(
                runtime=self.runtime,
                events=self.events,
                metrics=self.metrics,
                log_max_bytes=self.config.log_max_bytes,
                devnull=dev_null(),
                journal=self._journal,
                pid_dir=self.config.pid_dir,
                cleanup_timeout=self.config.runtime_timeout,
            )
            self.config.pid_dir.mkdir(parents=True, exist_ok=True)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(reap_periodically)
                await self._adopt_all()
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._journal.close()

    async def shutdown(self) -> None:
        """Refuse new commands, stop every container (unless kept), then end the nursery."""
        self._shutting_down = True
        if not self.config.keep_containers:
            async with trio.open_nursery() as nursery:
                for container in self._listed():
                    nursery.start_soon(self._stop_at_shutdown, container)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _stop_at_shutdown(self, container: Container) -> None:
        with trio.move_on_after(self.config.shutdown_timeout + 2 * self.config.runtime_timeout):
            try:
                await self._delete(container, self.config.shutdown_timeout)
            except DaemonError as exc:
                log.error("could not stop container %s at shutdown: %s", container.id, exc.message)

    async def _submit(self, command: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``command`` as a task of the supervisor; wait for its outcome.

        If the waiting handler is cancelled (its client went away), the command goes on.
        """
        if self._shutting_down or self._nursery is None:
            raise ShuttingDown("the daemon is shutting down")
        done = trio.Event()
        result: outcome.Outcome[T] | None = None

        async def task() -> None:
            nonlocal result
            try:
                result = outcome.Value(await command(*args))
            except Exception as exc:
                result = outcome.Error(exc)
            except trio.Cancelled:
                result = outcome.Error(ShuttingDown("the daemon is shutting down"))
                raise
            finally:
                done.set()

        self._nursery.start_soon(task)
        await done.wait()
        assert result is not None
        return result.unwrap()

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
    ) -> ContainerInfo:
        check_id(container_id)
        bundle = _check_bundle(bundle_path)
        launch: Launch = Fresh()
        if checkpoint is not None:
            check_id(checkpoint, "checkpoint name")
            checkpoints.load(bundle, checkpoint)  # 404 now rather than after reserving the id
            launch = Restore(checkpoint)
        existing = self._containers.get(container_id)
        if existing is not None:
            if existing.status is Status.CREATED:
                raise Conflict(f"container {container_id!r} is being started")
            if existing.status is not Status.STOPPED or existing.lock.locked():
                raise Conflict(
                    f"container {container_id!r} already exists and is {existing.status.value}"
                )
        if self._shutting_down or self._context is None:
            raise ShuttingDown("the daemon is shutting down")
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
                await replaced.forget()
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
        if not spec.args:
            raise InvalidRequest("args must hold at least the program to run")
        if spec.terminal:
            raise InvalidRequest("terminal processes are not supported: set terminal to false")
        if not spec.args[0]:
            raise InvalidRequest("args[0], the program to run, must not be empty")
        if spec.cwd is not None and not spec.cwd.startswith("/"):
            raise InvalidRequest(f"cwd must be an absolute path in the container, not {spec.cwd!r}")
        for n, entry in enumerate(spec.env or ()):
            if "=" not in entry:
                raise InvalidRequest(f"env[{n}] must be NAME=VALUE, not {entry!r}")
        return await self._submit(self.container(container_id).exec, spec)

    def signal_process(self, container_id: str, pid: int, signum: int) -> None:
        self.container(container_id).signal_process(pid, signum)

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
        self, container_id: str, *, tail: int | None, follow: bool
    ) -> AsyncIterator[bytes]:
        container = self.container(container_id)
        writer = container.logs if follow and not container.logs.finished else None
        return logs.follow(container.dir, writer, tail)

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

    # --- adoption after a crash -----------------------------------------------------------------

    async def _adopt_all(self) -> None:
        """Take back what a previous daemon on this state dir left: records and runc's list."""
        assert self._nursery is not None and self._context is not None
        try:
            known = {entry["id"]: entry for entry in await self.runtime.list()}
        except DaemonError as exc:
            raise StartupError(
                f"cannot list runc's containers to adopt them: {exc.message}"
            ) from None
        records = {record.container.id: record for record in self._journal.load()}
        for container_id, entry in known.items():
            if container_id not in records:
                # runc has it but the daemon died before writing its record.
                records[container_id] = _record_from_runc(entry)
        for record in sorted(records.values(), key=lambda r: r.container.created_at):
            await self._adopt(record, known.get(record.container.id))

    async def _adopt(self, record: ContainerRecord, runc_entry: dict[str, Any] | None) -> None:
        assert self._nursery is not None and self._context is not None
        info = record.container
        container = Container(
            self._context,
            info.id,
            Path(info.bundle_path),
            self.config.containers_dir / info.id,
            dict(info.labels),
        )
        runc_status = (runc_entry or {}).get("status")
        if runc_status == "created":
            # Half-made by a start that the crash interrupted: finish the rollback.
            await self.runtime.delete(info.id, force=True)
            await container.forget()
            return
        if runc_status in _RUNC_STATUS:
            try:
                await self._nursery.start(container.run, Adopt(record, _RUNC_STATUS[runc_status]))
            except DaemonError as exc:
                log.warning("container %s cannot be adopted: %s", info.id, exc.message)
            else:
                self._containers[info.id] = container
                log.info("adopted container id=%s status=%s", info.id, container.status.value)
                return
        # Gone while the daemon was down (or runc says stopped): list it as stopped.
        container.created_ns = parse_ns(info.created_at)
        if info.state.status is Status.STOPPED and info.state.exit_status is not None:
            container.mark_stopped(info.state.exit_status)
        else:
            # Its exit went unseen: report it now, with the status nobody can know any more.
            container.mark_stopped(UNKNOWN_EXIT_STATUS)
            init_pid = info.processes[0].pid if info.processes else None
            self.events.publish("exit", info.id, pid=init_pid, status=UNKNOWN_EXIT_STATUS)
            log.info("container %s exited while the daemon was down", info.id)
        container.save()
        self._containers[info.id] = container


def _record_from_runc(entry: dict[str, Any]) -> ContainerRecord:
    pid = int(entry.get("pid") or 0)
    bundle = Path(str(entry.get("bundle", "")))
    processes = [process_info(pid, read_bundle_process(bundle))] if pid else []
    started = start_time(pid) if pid else None
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
        ),
        start_times=[ProcessStart(pid=pid, start_time=started)] if started is not None else [],
    )


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
