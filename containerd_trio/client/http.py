"""A small synchronous client for the daemon's REST API (docs/api.md).

One method per route. Answers come back as the daemon's JSON, typed with the ``TypedDict``s of
:mod:`.types` (they describe the contract; they are not checked at run time). Failures come in
two kinds, so that callers can tell them apart::

    try:
        client.container("ghost")
    except ApiError as exc:         # the daemon answered, with an error status
        print(exc.status, exc.message)
    except DaemonUnreachable as exc:  # no answer at all: nothing listens, or the link broke
        print(exc)

While the daemon refuses connections or answers 503 (it is restarting, or handing over to a new
server), a request is tried again for up to ``retry_for`` seconds (15 by default).

The streams (events, logs) are context managers, so that the connection is closed when the
caller stops reading, even if it stops early::

    with client.events(since=stamp) as events:
        for event in events:
            ...

HTTP/1.1 over plain sockets (unix or TCP, TLS when the address says ``https://``), through
:mod:`.protocol` and :mod:`.blocking`: light enough that ``ctr-trio`` starts in a few hundredths
of a second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Unpack, cast, overload

from ..event_types import UNKNOWN_EXIT_STATUS
from . import routes
from .blocking import BlockingTransport
from .errors import ApiError as ApiError
from .errors import ClientError as ClientError
from .errors import DaemonUnreachable as DaemonUnreachable
from .errors import PathNotFound as PathNotFound
from .protocol import (
    LONGEST_PAUSE,
    RETRY_FOR,
    Answer,
    Endpoint,
    OnRetry,
    Request,
    Retry,
    Tls,
    decode_json,
)
from .types import Checkpoint as Checkpoint
from .types import Container as Container
from .types import ContainerState as ContainerState
from .types import ContainerTop as ContainerTop
from .types import CpuResources as CpuResources
from .types import CriuVersion as CriuVersion
from .types import Event as Event
from .types import Exit as Exit
from .types import Info as Info
from .types import LogRecord as LogRecord
from .types import Machine as Machine
from .types import MemoryResources as MemoryResources
from .types import MigrationStep as MigrationStep
from .types import PidsResources as PidsResources
from .types import Process as Process
from .types import PruneReport as PruneReport
from .types import PsTable as PsTable
from .types import Resources as Resources
from .types import RestartPolicy as RestartPolicy
from .types import RuncVersion as RuncVersion
from .types import State as State
from .types import TopProcess as TopProcess
from .types import User as User
from .types import Version as Version

if TYPE_CHECKING:
    from .websocket import WebSocket

#: Deadline of an ordinary request. The daemon bounds its own runtime calls (30 s by default,
#: then 504), so this only fires when something between us and it is stuck.
DEFAULT_TIMEOUT = 60.0
#: Deadline for connecting: a daemon that does not accept in this long is not there.
CONNECT_TIMEOUT = 5.0
#: A wait's deadline: none worth the name (a process may run for years).
WAIT_TIMEOUT = 10 * 365 * 86400.0
#: How long a checkpoint or a restore is waited for when the request names no deadline: the
#: daemon's own (--checkpoint-timeout, 600 s by default) ends it first, with a 504.
CHECKPOINT_WAIT = 24 * 3600.0


class _Run(NamedTuple):
    """The run of a container's init that a wait is for, as its record said when the wait
    was asked: its ``createdAt`` (a start of the id with a body or a restore makes a record
    of its own), ``restartCount`` (a restart by its policy keeps the container's createdAt
    and counts one more: 0 without a policy), and its init's pid while it ran; None once it
    had stopped (a next-exit wait is then for the run after it). And its run's own
    ``state.startedAt`` (None from a daemon older than it): a start again (``ctr-trio
    start``) keeps createdAt and counts from 0, and only this tells its run from the one
    before it (until 2026-12-06 it was not looked at, and a next-exit wait asked again took
    a start again's run, ended meanwhile, for the stopped one before it)."""

    created_at: str
    restarts: int
    init: int | None
    started_at: str | None = None

    def same(self, other: _Run) -> bool:
        """Whether ``other``, read later, is this run (running or stopped since). A
        startedAt one of the two lacks (a daemon older than it, upgraded in between) is not
        taken for another run's."""
        if (self.created_at, self.restarts) != (other.created_at, other.restarts):
            return False
        return None in (self.started_at, other.started_at) or self.started_at == other.started_at


def parse_address(address: str) -> tuple[str, str | None]:
    """``(base URL, unix socket path or None)`` for ``HOST:PORT``, ``unix:PATH`` or a URL.

    ``http://unix:PATH`` is accepted too: it is how the daemon names a unix socket in its
    "serving on" line, so that line can be pasted as it is. Raises ValueError otherwise.
    """
    endpoint = Endpoint.parse(address)
    return endpoint.base_url, endpoint.unix_path


class Client:
    """The daemon at ``address`` (``HOST:PORT``, ``unix:PATH`` or ``http[s]://HOST:PORT``).

    ``retry_for`` bounds the retries of a request the daemon refused or answered 503 (see
    :class:`~.protocol.Retry`); ``on_retry(failure, pause)`` is told of each.
    ``tls_ca`` checks an ``https://`` daemon's certificate against that CA instead of the
    system's; ``tls_cert`` and ``tls_key`` are the client's own, for mutual TLS.
    Use it as a context manager, or call :meth:`close`, to release its connection.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_for: float = RETRY_FOR,
        on_retry: OnRetry | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.address = address
        self._timeout = timeout
        self._transport = BlockingTransport(
            Endpoint.parse(address),
            timeout=timeout,
            connect_timeout=CONNECT_TIMEOUT,
            retry_for=retry_for,
            on_retry=on_retry,
            tls=Tls(tls_ca, tls_cert, tls_key),
        )

    def twin(self) -> Client:
        """A client of the same daemon, as this one was made, with a connection of its own:
        for requests in another thread (a client sends one request at a time). Close it too."""
        import copy  # only a stop or rm of several makes twins

        twin = copy.copy(self)  # its settings as they are, whatever they are
        twin._transport = self._transport.twin()
        return twin

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- containers ---------------------------------------------------------------------------

    def state(self) -> State:
        return cast(State, self.call(routes.state()))

    def reload_daemon(self) -> None:
        """A live upgrade: the daemon replaces its serving process, its containers running on."""
        self.call(routes.reload_daemon())

    def version(self) -> Version:
        """The daemon's versions, runc's and CRIU's (``GET /version``, docs/api.md)."""
        return cast(Version, self.call(routes.version()))

    def info(self) -> Info:
        """The daemon and its host: containers by status, paths, cgroups (``GET /info``)."""
        return cast(Info, self.call(routes.info()))

    def containers(self) -> list[Container]:
        return self.state()["containers"]

    def container(self, container_id: str) -> Container:
        return cast(Container, self.call(routes.container(container_id)))

    def start(
        self, container_id: str, bundle_path: str, **options: Unpack[routes.StartOptions]
    ) -> Container:
        """Start (or with ``checkpoint=NAME``, restore within ``timeout`` seconds) a container
        from its bundle; ``labels`` to keep with it."""
        request = routes.start(container_id, bundle_path, **options)
        deadline = (
            self.checkpoint_wait(options.get("timeout")) if options.get("checkpoint") else None
        )
        return cast(Container, self.call(request, timeout=deadline))

    def start_again(self, container_id: str) -> Container:
        """Start a stopped container again as the daemon's record of it says (its bundle,
        labels, stdin, limits, process, restart policy): docker's start."""
        return cast(Container, self.call(routes.start_again(container_id)))

    def exec(
        self, container_id: str, args: Sequence[str], **options: Unpack[routes.ExecOptions]
    ) -> Process:
        """Start another process in the container (``env``, ``cwd``, ``uid``, ``gid``); what
        is left out comes from the bundle."""
        return cast(Process, self.call(routes.exec_process(container_id, args, **options)))

    def wait(
        self, container_id: str, pid: int | None = None, *, condition: str | None = None
    ) -> Exit:
        """Wait for the container's init (or its process ``pid``) to exit; how it ended.
        ``condition`` (docker's): ``next-exit`` waits for the init's next exit (a stopped
        container's next start), ``removed`` for the container's removal too (a delete, or its
        autoRemove).

        A wait changes nothing: if the connection breaks (the daemon restarts), it is asked
        again, for as long as requests are retried, for the run of the init it was asked for
        (as the container's record said then): an exit that came while no server answered is
        answered, not the exit of a later run (:meth:`_asked_again`)."""
        ended = self._wait(container_id, pid, condition, None)
        assert ended is not None  # with no deadline, only the answer ends the wait
        return ended

    def wait_within(
        self, container_id: str, timeout: float, *, condition: str | None = None
    ) -> Exit | None:
        """:meth:`wait` for the init (as ``condition`` says), for ``timeout`` seconds at most:
        None if it has not come then (the daemon's wait has no deadline: this one is the
        client's, the request given up)."""
        return self._wait(container_id, None, condition, time.monotonic() + timeout)

    def _wait(
        self, container_id: str, pid: int | None, condition: str | None, deadline: float | None
    ) -> Exit | None:
        request = routes.wait(container_id, pid, condition=condition)
        removed = condition == "removed"
        run = None if pid is not None else self._run(container_id)
        if run is not None and run.init is None and condition not in ("next-exit", "removed"):
            run = None  # stopped: answered at once, as it ended
        if run is not None and run.init is not None and not removed:
            # The run that runs now: its init's own wait answers its exit, however late it is
            # asked (a next-exit's too: a running container's next exit is its init's).
            request = routes.wait(container_id, run.init)
        retry: Retry | None = None
        while True:
            left = WAIT_TIMEOUT if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            began = time.monotonic()
            try:
                return cast(Exit, self.call(request, timeout=left, once=True))
            except ApiError as failure:
                if failure.status == 404 and run is not None and (removed or run.init is not None):
                    # Not that run's any more: it ended and the id was deleted or started
                    # again, its record gone. The event log still has its exit.
                    return self._exit_of(container_id, run, removed=removed)
                if failure.status != 503:
                    raise
                error: ClientError = failure
            except DaemonUnreachable as failure:
                # A deadline that passed is told by the clock, not by the failure: the
                # transport tells a read that timed out as a broken connection.
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                error = failure
            if retry is None or time.monotonic() - began > LONGEST_PAUSE:
                # A wait that was under way (a daemon had it) broke: the retries' budget
                # counts from here, not from the wait's beginning (before, a wait that had
                # waited longer than the budget was never asked again).
                retry = Retry(
                    Request("GET", request.target),
                    self._transport.retry_for,
                    self._transport.on_retry,
                )
            time.sleep(retry.pause(error))
            if run is not None and removed:
                now = self._run(container_id)
                if now is None or now.created_at != run.created_at:
                    # Removed meanwhile (deleted, or replaced by a start of its id): asked
                    # again, the wait would be for the id's next container, if any.
                    return self._exit_of(container_id, run, removed=True)
            elif run is not None:
                request, run = self._asked_again(container_id, request, run)

    def _run(self, container_id: str) -> _Run | None:
        """The run of the container's init as its record says now; None if it has none (an
        unknown id, one being started: the wait asked says what it is)."""
        try:
            record = self.container(container_id)
        except ApiError:
            return None
        status = record["state"]["status"]
        restarts = record.get("restartCount", 0)
        started = record["state"].get("startedAt")
        if status in ("running", "paused") and record["processes"]:
            return _Run(record["createdAt"], restarts, record["processes"][0]["pid"], started)
        if status == "stopped":
            return _Run(record["createdAt"], restarts, None, started)
        return None

    def _asked_again(
        self, container_id: str, request: Request, run: _Run
    ) -> tuple[Request, _Run | None]:
        """What a wait for ``run`` asks after a restart of the daemon, and the run it is for
        from then on. A run that ran: its init's wait again (its exit, even if it came while
        no server answered; a 404 if its record is gone: :meth:`_exit_of`). A next-exit
        wait's stopped run: the same wait if no start of the id came since; else that start's
        run was the next one, and is waited on from now on (before, the wait asked again
        waited for the run after it, which might never come)."""
        if run.init is not None:
            return request, run
        following = self._run(container_id)
        if following is None or following.same(run):
            return request, run  # the same run, stopped still (or the id is gone: 404)
        if following.init is None:
            return routes.wait(container_id), None  # the next run ended: its exit, at once
        return routes.wait(container_id, following.init), following

    def _exit_of(self, container_id: str, run: _Run, *, removed: bool = False) -> Exit:
        """How ``run`` ended, from the event log (its record is gone): its init's ``exit``
        among the container's events since the run was created (``removed``: once its
        ``delete`` followed, through its policy's restarts, as the daemon's wait follows them;
        a run that had stopped when asked is named by its own start, the first of them). 404
        if it was deleted before it stopped, or if the daemon no longer keeps its events (the
        last 10,000, by default)."""
        init = run.init
        kinds = ("start-container", "restore", "exit", "delete")
        # Up to the daemon's now (until 0s): the replay alone, which the daemon ends.
        request = routes.events(
            since=run.created_at, container_id=container_id, types=kinds, until="0s"
        )
        begun = False  # the run's own start seen: a delete or a start after it follows its end
        ended: Exit | None = None
        with self.stream(request) as events:
            for event in cast(Iterator[Event], events):
                kind, pid = event["type"], event.get("pid")
                if kind in ("start-container", "restore") and not begun and init in (None, pid):
                    begun, init = True, pid
                elif kind == "exit" and pid is not None and pid == init:
                    ended = Exit(
                        id=container_id, exitStatus=event.get("status", UNKNOWN_EXIT_STATUS)
                    )
                    if not event.get("unseen"):
                        # Its exit's own time, as the daemon's wait answers it; an exit kept
                        # from before that field has its timestamp alone. One no daemon saw
                        # (it ended while none ran) has neither, as the daemon's wait.
                        ended["pid"] = pid
                        ended["exitedAt"] = event.get("exitedAt", event["timestamp"])
                    if event.get("moved"):  # it moved away: where to, as the wait says
                        ended["moved"] = True
                        if (to := event.get("movedTo")) is not None:
                            ended["movedTo"] = to
                    if not removed:
                        return ended
                elif removed and ended is not None and kind == "start-container":
                    # No delete before it: a restart by its policy or a start again (a
                    # start of the id with a body publishes the stopped one's delete
                    # first), the same container, whose removal is waited on: its run's
                    # exit is the answer now.
                    init, ended = pid, None
                elif begun and kind != "exit":
                    if ended is None:
                        # Deleted or started again with no exit of it first: deleted before
                        # it stopped (an init that outlived runc delete --force).
                        raise ApiError(
                            404, f"container {container_id!r} was deleted before it stopped"
                        )
                    return ended  # removed: deleted, or replaced by a start of its id
        if ended is not None:
            return ended
        raise ApiError(
            404,
            f"container {container_id!r}: the exit of the run waited on (created"
            f" {run.created_at}) is no longer known: its record is gone, and the daemon no"
            " longer keeps its events",
        )

    def websocket(self, target: str, subprotocols: Sequence[str]) -> WebSocket:
        """A WebSocket to ``target`` (a path and query: attach)."""
        from .websocket import WebSocket

        return WebSocket.connect(self._transport, target, tuple(subprotocols))

    def signal(self, container_id: str, pid: int, signal: int | str) -> None:
        """Send ``signal`` (a number or a name such as ``"TERM"``) to one of its processes."""
        self.call(routes.signal_process(container_id, pid, signal))

    def kill(self, container_id: str, signal: int | str = "SIGTERM") -> Container:
        """Send ``signal`` to the container's init process."""
        return self._update(container_id, {"signal": signal})

    def pause(self, container_id: str) -> Container:
        return self._update(container_id, {"status": "paused"})

    def resume(self, container_id: str) -> Container:
        return self._update(container_id, {"status": "running"})

    def set_auto_remove(self, container_id: str, auto_remove: bool = True) -> Container:
        """Have the daemon remove the container once its init exits (at once if it has)."""
        return self._update(container_id, {"autoRemove": auto_remove})

    def set_restart_policy(self, container_id: str, policy: RestartPolicy) -> Container:
        """Give the container this restart policy (docker update --restart; ``{"name":
        "no"}``: none), in force from its init's next exit on."""
        return self._update(container_id, {"restartPolicy": policy})

    def delete(
        self, container_id: str, *, timeout: float | None = None, force: bool = False
    ) -> Container:
        """Stop (its stop signal, then SIGKILL after ``timeout`` seconds, None: its
        stopTimeout, else 10; ``force``: SIGKILL alone, docker's rm -f) and remove the
        container."""
        # The daemon may wait out the whole grace before it answers: give it that much more. A
        # grace not known here (the container's stopTimeout: any number of seconds, or -1, none
        # at all) is waited for as a stop's is: with 10 s here, a container run with
        # --stop-timeout 100 was given up at 70 s (lost the connection: timed out, exit 3),
        # the daemon going on with the delete.
        if force:
            deadline = self._timeout
        elif timeout is None:
            deadline = WAIT_TIMEOUT
        else:
            deadline = self._timeout + timeout
        request = routes.delete(container_id, timeout=timeout, force=force)
        return cast(Container, self.call(request, timeout=deadline))

    def delete_stopped(self, container_id: str) -> Container:
        """Remove the container if it is stopped and stays so (docker's rm without -f), judged
        by the daemon in the step that marks it being deleted; a running, paused or restarting
        one is its 409, and is left as it was."""
        # No grace to wait out; but the daemon waits its turn behind a command that holds the
        # stopped container, as a prune's removals may: a wait's deadline, as prune's.
        return cast(Container, self.call(routes.delete_stopped(container_id), timeout=WAIT_TIMEOUT))

    def prune(self) -> PruneReport:
        """Remove every stopped container that stays so (docker's container prune): each
        as its delete would, one after another, no grace to wait out."""
        # Each removal is a stopped container's: its own deadline's worth each, at most.
        return cast(PruneReport, self.call(routes.prune(), timeout=WAIT_TIMEOUT))

    def stop(
        self,
        container_id: str,
        *,
        signal: int | str | None = None,
        timeout: float | None = None,
    ) -> Container:
        """docker's stop, done by the daemon: ``signal`` to the init (None: its stopSignal,
        else SIGTERM), up to ``timeout`` seconds for the exit (None: its stopTimeout, else 10;
        negative: no end, and no SIGKILL), then SIGKILL; the container as it ended."""
        # The daemon answers within the grace and its own deadline after the SIGKILL; a grace
        # not known here (the container's) or without end is waited for as an exit is.
        deadline = WAIT_TIMEOUT if timeout is None or timeout < 0 else self._timeout + timeout
        request = routes.stop(container_id, signal=signal, timeout=timeout)
        return cast(Container, self.call(request, timeout=deadline))

    def update(self, container_id: str, resources: Resources) -> Container:
        """Change the container's cgroup limits (``runc update``); the answer's ``resources``
        shows those in force."""
        return self._update(container_id, {"resources": resources})

    @overload
    def top(self, container_id: str) -> ContainerTop: ...

    @overload
    def top(self, container_id: str, ps_args: Sequence[str]) -> PsTable: ...

    def top(
        self, container_id: str, ps_args: Sequence[str] | None = None
    ) -> ContainerTop | PsTable:
        """Every process in the container (``runc ps``), with the columns of ``ps -ef``; with
        ``ps_args`` (ps's options, as docker top's: ``["aux"]``, ``["-o", "pid,args"]``, at
        least one), the host's ps's table of them."""
        if ps_args is None:
            return cast(ContainerTop, self.call(routes.top(container_id)))
        if not "".join(ps_args).strip(" \t\n\r\f"):
            # The daemon would answer ps -ef's columns from /proc, not a PsTable.
            raise ValueError("ps_args: give at least one ps option")
        return cast(PsTable, self.call(routes.top(container_id, ps_args)))

    def _update(self, container_id: str, body: dict[str, Any]) -> Container:
        return cast(Container, self.call(routes.update(container_id, body)))

    def checkpoint_wait(self, timeout: float | None) -> float:
        """A checkpoint's or a restore's request deadline (``timeout``: the request's own; None:
        the daemon's), with this client's usual deadline on top."""
        return (CHECKPOINT_WAIT if timeout is None else timeout) + self._timeout

    # --- checkpoints --------------------------------------------------------------------------

    def checkpoints(self, container_id: str, *, bundle_path: str | None = None) -> list[Checkpoint]:
        """The container's checkpoints, oldest first; ``bundle_path`` for a container the
        daemon does not list (a migration's target)."""
        request = routes.checkpoints(container_id, bundle_path=bundle_path)
        return cast(list[Checkpoint], self.call(request))

    def create_checkpoint(
        self, container_id: str, name: str, **options: Unpack[routes.CheckpointOptions]
    ) -> Checkpoint:
        """Checkpoint with CRIU (``exit``, ``tcp``, ``unix_sockets``, ``shell``) within
        ``timeout`` seconds (the daemon's deadline if None)."""
        request = routes.create_checkpoint(container_id, name, **options)
        deadline = self.checkpoint_wait(options.get("timeout"))
        return cast(Checkpoint, self.call(request, timeout=deadline))

    def delete_checkpoint(
        self, container_id: str, name: str, *, bundle_path: str | None = None
    ) -> None:
        self.call(routes.delete_checkpoint(container_id, name, bundle_path=bundle_path))

    @contextlib.contextmanager
    def migrate(
        self, container_id: str, to: str, **options: Unpack[routes.MigrateOptions]
    ) -> Iterator[Iterator[MigrationStep]]:
        """Move the container to the daemon at ``to`` (an address as this client takes it,
        reached from the daemon, not from here): its steps as each ends, then ``done`` or
        ``failed``."""
        with self.stream(routes.migrate(container_id, to, **options)) as steps:
            yield cast(Iterator[MigrationStep], steps)

    # --- files (docker cp) ---------------------------------------------------------------------

    def path_stat(self, container_id: str, path: str) -> str:
        """The stat of ``path`` in the container, as its header says it (base64 of JSON:
        ``name``, ``size``, ``mode``, ``mtime``, ``linkTarget``); PathNotFound if it is not
        there, the daemon's ApiError (404) if the container is not."""
        from .pathstat import STAT_HEADER  # here: no other command pays for it

        answer = self._transport.call(routes.path_stat(container_id, path))
        if answer.status == 404:
            # A HEAD's answer has no body: its 404 is a missing path or a missing container.
            # The container is asked for, so that its 404 is said in the daemon's words.
            self.container(container_id)
            raise PathNotFound(
                404, f"no such file or directory in container {container_id!r}: {path!r}"
            )
        if not answer.ok:
            raise self._path_refusal(container_id, path, answer.status)
        return (answer.headers or {}).get(STAT_HEADER.lower(), "")

    def _path_refusal(self, container_id: str, path: str, status: int) -> ApiError:
        """Why the daemon refused a HEAD of ``path``, in its words. A HEAD's answer has no
        body, and its reason phrase none either: ``cp f web:/etc/passwd/`` (a file with a
        trailing slash) and a name past 255 bytes said ``web:/etc/passwd/: error``. The GET of
        the same path is refused for the same reason, before any of its stream, with the
        daemon's sentence; if it is not (the container changed meanwhile), its stream is left
        at once and the status is all there is to say."""
        try:
            with self.copy_from(container_id, path):
                pass
        except ApiError as refused:
            return refused
        return ApiError(status, f"{container_id}:{path}: refused by the daemon (HTTP {status})")

    @contextlib.contextmanager
    def copy_from(
        self, container_id: str, path: str, *, exclude_mounts: bool = False
    ) -> Iterator[tuple[str, Iterator[bytes]]]:
        """``path`` of the container as a tar stream: its stat header, and the stream's bytes
        as they come; with ``exclude_mounts``, its mount points empty (docker export's)."""
        from .pathstat import STAT_HEADER

        request = routes.copy_from(container_id, path, exclude_mounts=exclude_mounts)
        with self._transport.download(request) as (headers, body):
            yield headers.get(STAT_HEADER.lower(), ""), body

    def copy_to(
        self,
        container_id: str,
        path: str,
        write_body: Callable[[Callable[[bytes], None]], None],
        *,
        copy_owner: bool = False,
    ) -> dict[str, Any]:
        """Upload a tar stream, which ``write_body`` writes through the function it is given,
        into the directory ``path`` of the container; what was copied."""
        request = routes.copy_to(container_id, path, copy_owner=copy_owner)
        answer = self._transport.upload(request, "application/x-tar", write_body)
        if not answer.ok:
            raise answer.error()
        return cast(dict[str, Any], answer.json(self.address))

    # --- streams and figures ------------------------------------------------------------------

    @contextlib.contextmanager
    def events(self, **options: Unpack[routes.EventOptions]) -> Iterator[Iterator[Event]]:
        """Past events from ``since`` on, then live ones, for as long as the caller reads, or
        up to ``until`` (the daemon ends the stream there); only those of ``container_id``,
        of ``types`` and with ``labels`` (docker's label filters, all to match) when
        given."""
        with self.stream(routes.events(**options)) as records:
            yield cast(Iterator[Event], records)

    @contextlib.contextmanager
    def logs(
        self, container_id: str, **options: Unpack[routes.LogOptions]
    ) -> Iterator[Iterator[LogRecord]]:
        """The container's output (``tail``, ``since``, ``until``); with ``follow``, until no
        process of it can write any more."""
        with self.stream(routes.logs(container_id, **options)) as records:
            yield cast(Iterator[LogRecord], records)

    def stats(self, container_id: str) -> dict[str, Any]:
        """cgroup figures (``cpu``, ``memory``, ``pids``, ``blkio``) as runc reports them."""
        return cast(dict[str, Any], self.call(routes.stats(container_id)))

    def metrics(self) -> str:
        """The Prometheus text exposition."""
        return self.send(routes.metrics()).body.decode(errors="replace")

    # --- any request --------------------------------------------------------------------------

    def call(self, request: Request, *, timeout: float | None = None, once: bool = False) -> Any:
        """Send ``request``; the JSON of a 2xx answer, or ApiError. ``once``: not again on a
        503 or a broken connection (the caller decides what to ask again)."""
        return self.send(request, timeout=timeout, once=once).json(self.address)

    def send(self, request: Request, *, timeout: float | None = None, once: bool = False) -> Answer:
        """Send ``request``; its answer if 2xx, or ApiError."""
        answer = self._transport.call(request, timeout=timeout, once=once)
        if not answer.ok:
            raise answer.error()
        return answer

    @contextlib.contextmanager
    def stream(self, request: Request) -> Iterator[Iterator[Any]]:
        """The JSON documents of an ndjson answer, one a line, as they come."""
        with self._transport.stream(request) as lines:
            yield (decode_json(line, self.address) for line in lines)
