"""The server's end of the channel to the keeper (see :mod:`containerd_trio.keeper`).

The server asks the keeper to run the runc commands that create container processes
(:meth:`KeeperLink.spawn`), to let go of a process's stdio (:meth:`drop`), to close a stdin
(:meth:`close_stdin`), to forget a deleted container (:meth:`forget`), and tells it which exits
it has recorded (:meth:`ack`). The keeper tells the server when a process exits, when its output
is all in the log, and when a log pauses for a full disk; those go to a :class:`KeeperEvents`.

At start-up (:meth:`hello`) the keeper hands over what it holds: every container process it
keeps, with the fd to give it input and its exit if it exited meanwhile, and every container
whose log is paused: a message each, before the welcome (a list of them outgrew a message).

Sends never wait for the keeper: a message it has no room for yet waits in a queue that a task
of the link empties, in order.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from . import procfs
from .errors import RuntimeFailure
from .keeper._wire import (
    MAX_FDS,
    MAX_MESSAGE,
    STOP_ON_LINK,
    Message,
    Queue,
    decode,
    drop_queue,
    encode,
    pair,
    receive_fds,
    send_first,
)
from .spawn import spawn

log = logging.getLogger(__name__)

#: How long a cancelled spawn waits (shielded) for the keeper's answer, once it asked the keeper
#: to kill the program. An answer that comes later is undone as it comes
#: (:attr:`KeeperLink._abandoned`).
CANCELLED_SPAWN_WAIT = 10.0


class KeeperGone(RuntimeFailure):
    """The keeper died: nothing can start any more."""


@attrs.frozen
class CustodyRequest:
    """Stdio the keeper makes for a new container process, and keeps."""

    key: str
    container_id: str
    #: The container's directory, where its log is.
    directory: str
    max_bytes: int
    #: ``runc --console-socket`` path for a terminal; None for pipes.
    console: str | None = None
    #: The stdin pipe's reading end (the child's stdin) and writing end (the keeper's copy).
    stdin: tuple[int, int] | None = None


@attrs.frozen
class SpawnResult:
    """How a runc command ended; for one that made a container process, that process."""

    status: int
    error: str | None = None
    #: The key of the process it made (for a ``run``, ``exec`` or ``restore``).
    key: str | None = None
    pid: int | None = None
    start_time: int | None = None
    #: A terminal's master (ours to close), for input and resizing.
    master: int | None = None


@attrs.frozen
class Kept:
    """A container process the keeper held when the server started."""

    key: str
    container_id: str
    pid: int | None
    start_time: int | None
    terminal: bool
    ended: bool
    exit_status: int | None
    exit_ns: int | None
    #: Where its input goes (a stdin pipe or the terminal), if it takes input; ours to close.
    input_fd: int | None


@attrs.frozen
class Welcome:
    keeper_pid: int
    logger_pid: int | None
    kept: list[Kept]
    #: Runc commands a previous server started that have not ended yet.
    inflight: list[int]
    #: The containers whose log is paused now (a full disk): a pause told to a previous
    #: server, whose resume is still to come.
    paused_logs: list[str] = attrs.field(factory=list)
    #: When the keeper started, on the wall clock, as it worked it out once (None from a
    #: keeper started before 2026-12-06, which does not say it).
    keeper_started_ns: int | None = None


class KeeperEvents(Protocol):
    def process_exited(self, key: str, status: int, ns: int) -> None: ...

    def output_ended(self, key: str) -> None: ...

    def log_state(self, container_id: str, paused: bool) -> None: ...

    def log_forgotten(self, container_id: str) -> None: ...

    def inflight_done(self, spawn_id: int, result: SpawnResult) -> None: ...

    def handover(self) -> None: ...

    def stop_asked(self, signum: int) -> None: ...


class _Pending:
    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: SpawnResult | None = None


class KeeperLink:
    def __init__(self, sock: socket.socket, keeper_pid: int | None = None) -> None:
        sock.setblocking(False)
        self._sock = sock
        #: Set when this server started the keeper itself (embedded): it must be reaped.
        self._child_pid = keeper_pid
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        #: Spawns whose caller was cancelled and gave up waiting for the answer: what the
        #: answer names is undone when it comes (the caller told the client the start failed).
        self._abandoned: set[int] = set()
        self._forgetting: dict[str, trio.Event] = {}
        self._queue: Queue = deque()
        self._queued = trio.Event()
        self._events: KeeperEvents | None = None
        #: What the keeper said after its welcome, read with it: for :meth:`serve` to hand on.
        self._after_welcome: list[tuple[Message, list[int]]] = []
        self.gone = False

    @property
    def embedded(self) -> bool:
        """This server started its keeper (it is not the keeper's child)."""
        return self._child_pid is not None

    # --- making the link ----------------------------------------------------------------------

    @classmethod
    def inherit(cls, fd: int) -> KeeperLink:
        """The keeper is our parent and gave us this end (production)."""
        return cls(socket.socket(fileno=fd))

    @classmethod
    def start_keeper(cls) -> KeeperLink:
        """Start a keeper as our child (a server embedded in another program, as in tests)."""
        ours, theirs = pair()
        try:
            pid = spawn(
                [sys.executable, "-P", "-m", "containerd_trio.keeper"],
                stdout=2, stderr=2, fds={3: theirs.fileno()},
            )  # fmt: skip
        finally:
            theirs.close()
        return cls(ours, keeper_pid=pid)

    async def hello(self) -> Welcome:
        """Announce ourselves; return what the keeper holds. The keeper may hold its answer
        until the server we replace has stopped (a live upgrade)."""
        self._send_now({"op": "hello", "pid": os.getpid()}, ())
        kept: list[Kept] = []
        paused_logs: list[str] = []
        while True:
            received = await self._receive()
            for index, (message, fds) in enumerate(received):
                if message["op"] == "custody":
                    kept.append(_kept(message, fds))
                elif message["op"] == "log" and message.get("paused"):
                    paused_logs.append(str(message["cid"]))
                elif message["op"] == "welcome":
                    # What came after it is for the server that serves (the end of a runc
                    # command its adoption waits for, say): lost, the adoption would wait
                    # for it until the runtime deadline.
                    self._after_welcome = received[index + 1 :]
                    inflight = [int(i) for i in message.get("inflight", [])]
                    # Numbered past the dead server's spawns still in flight: the keeper
                    # knows a spawn by its number (a new one of the same took the other's
                    # place, and the keeper died when the first one ended).
                    self._ids = itertools.count(max(inflight, default=0) + 1)
                    return Welcome(
                        keeper_pid=int(message["keeper"]),
                        keeper_started_ns=(
                            int(message["started"]) if "started" in message else None
                        ),
                        logger_pid=message.get("logger"),
                        kept=kept,
                        inflight=inflight,
                        # A keeper started before 2026-12-04 lists them in its welcome
                        # (a live upgrade keeps the keeper).
                        paused_logs=[
                            *paused_logs,
                            *(str(cid) for cid in message.get("pausedLogs", [])),
                        ],
                    )
                else:
                    self._dispatch(message, fds)

    async def serve(
        self, events: KeeperEvents, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Dispatch the keeper's messages until the link closes (first those read with the
        welcome)."""
        self._events = events
        early, self._after_welcome = self._after_welcome, []
        for message, fds in early:
            self._dispatch(message, fds)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_queue)
            task_status.started()
            try:
                while True:
                    for message, fds in await self._receive():
                        self._dispatch(message, fds)
            finally:
                nursery.cancel_scope.cancel()

    # --- requests -----------------------------------------------------------------------------

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        fds: Mapping[int, int] | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        custody: CustodyRequest | None = None,
        pid_file: str | None = None,
        umask: int | None = None,
    ) -> SpawnResult:
        """Have the keeper run ``argv``; wait for its end. ``fds`` places our fds in the child
        by number; ``umask`` is the child's instead of the keeper's (077, the daemon's). If
        cancelled, the program is killed and its end still awaited (briefly); a container
        process it made all the same (runc succeeded as the wait was cancelled) is killed
        too, even if the keeper's answer comes only after that brief wait."""
        if self.gone:
            raise KeeperGone("the keeper is gone: the daemon must be restarted")
        spawn_id = next(self._ids)
        sent: list[int] = []
        message: Message = {"op": "spawn", "id": spawn_id, "argv": list(argv), "fds": []}

        def attach(fd: int) -> int:
            sent.append(fd)
            return len(sent) - 1

        for target, fd in (fds or {}).items():
            message["fds"].append([attach(fd), target])
        if umask is not None:
            # A keeper from before it was asked leaves it out: the spawn has the keeper's.
            message["umask"] = umask
        if stdout is not None:
            message["stdout"] = attach(stdout)
        if stderr is not None:
            message["stderr"] = attach(stderr)
        if custody is not None:
            wanted: dict[str, Any] = {
                "key": custody.key,
                "cid": custody.container_id,
                "dir": custody.directory,
                "max_bytes": custody.max_bytes,
            }
            if custody.console is not None:
                wanted["console"] = custody.console
            if custody.stdin is not None:
                message["stdin"] = attach(custody.stdin[0])
                wanted["stdin_keep"] = attach(custody.stdin[1])
            message["custody"] = wanted
            message["pid_file"] = pid_file
        pending = self._pending[spawn_id] = _Pending()
        self.send(message, sent)
        try:
            await pending.done.wait()
        except trio.Cancelled:
            with trio.move_on_after(CANCELLED_SPAWN_WAIT, shield=True):
                # The keeper reads in order: it has started the program by the time it reads
                # this (or failed to, and then this names nothing).
                self.send({"op": "kill", "id": spawn_id})
                await pending.done.wait()
            if pending.result is not None:
                _undo_spawn(pending.result)
            else:
                # The keeper answers every spawn in the end (runc may have succeeded before
                # the kill reached it, and the keeper took its pid file: the caller's clean-up
                # finds none). Undone when the answer comes, by :meth:`_dispatch`.
                self._abandoned.add(spawn_id)
            raise
        finally:
            self._pending.pop(spawn_id, None)
        assert pending.result is not None
        return pending.result

    def drop(self, key: str) -> None:
        self.send({"op": "drop", "key": key})

    def close_stdin(self, key: str) -> None:
        self.send({"op": "close-stdin", "key": key})

    def ack(self, keys: Sequence[str]) -> None:
        if keys:
            self.send({"op": "ack", "keys": list(keys)})

    async def forget(self, container_id: str) -> None:
        """Let go of a deleted container; returns once its log file is closed."""
        done = self._forgetting.setdefault(container_id, trio.Event())
        self.send({"op": "forget", "cid": container_id})
        with trio.move_on_after(5):
            await done.wait()
        self._forgetting.pop(container_id, None)

    def ready(self) -> None:
        # The daemon's stop comes on this link (a "stop"), not as a signal: said, so that a
        # keeper knows to send it so (:data:`STOP_ON_LINK`).
        self.send({"op": "ready", STOP_ON_LINK: True})

    def reload(self) -> None:
        self.send({"op": "reload"})

    # --- the wire -----------------------------------------------------------------------------

    def send(self, message: Message, fds: Sequence[int] = ()) -> None:
        """Send now if the keeper has room, else queue (with duplicates of ``fds``)."""
        if self.gone:
            return
        if not self._queue:
            try:
                self._send_now(message, fds)
                return
            except BlockingIOError:
                pass
        self._queue.append((encode(message), [os.dup(fd) for fd in fds]))
        self._queued.set()

    def _send_now(self, message: Message, fds: Sequence[int]) -> None:
        try:
            socket.send_fds(self._sock, [encode(message)], list(fds))
        except BlockingIOError:
            raise
        except OSError:
            self._lost()

    async def _write_queue(self) -> None:
        while True:
            await self._queued.wait()
            self._queued = trio.Event()
            while self._queue:
                try:
                    send_first(self._sock, self._queue)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self._sock)
                except OSError:
                    self._lost()
                    return

    async def _receive(self) -> list[tuple[Message, list[int]]]:
        while True:
            received: list[tuple[Message, list[int]]] = []
            while True:
                try:
                    data, fds = receive_fds(self._sock, MAX_MESSAGE, MAX_FDS)
                except BlockingIOError:
                    break
                except OSError:
                    data, fds = b"", []
                if not data and not fds:
                    if received:
                        return received
                    self._lost()
                    raise KeeperGone("the keeper is gone")
                try:
                    received.append((decode(data), fds))
                except ValueError:
                    for fd in fds:
                        os.close(fd)
            if received:
                return received
            await trio.lowlevel.wait_readable(self._sock)

    def _dispatch(self, message: Message, fds: list[int]) -> None:
        op = message["op"]
        events = self._events
        if op == "done":
            result = SpawnResult(
                status=int(message["status"]),
                error=message.get("error"),
                key=message.get("key"),
                pid=message.get("pid"),
                start_time=message.get("start_time"),
                master=fds[0] if fds else None,
            )
            spawn_id = int(message["id"])
            pending = self._pending.get(spawn_id)
            if pending is not None:
                pending.result = result
                pending.done.set()
            elif spawn_id in self._abandoned:
                self._abandoned.discard(spawn_id)
                if result.pid is not None:
                    log.warning(
                        "the keeper answered spawn %d after its caller gave up on it:"
                        " killing process %d it made", spawn_id, result.pid,
                    )  # fmt: skip
                # Its custody is the caller's to drop, and was dropped as the caller gave up
                # (container/_container.py drops the key of every start or exec that failed).
                _undo_spawn(result)
            elif events is not None:
                events.inflight_done(spawn_id, result)
            elif result.master is not None:
                os.close(result.master)
        elif op == "exit" and events is not None:
            events.process_exited(str(message["key"]), int(message["status"]), int(message["ns"]))
        elif op == "eof" and events is not None:
            events.output_ended(str(message["key"]))
        elif op == "log" and events is not None:
            events.log_state(str(message["cid"]), bool(message["paused"]))
        elif op == "forgotten":
            if events is not None:
                events.log_forgotten(str(message["cid"]))
            done = self._forgetting.get(str(message["cid"]))
            if done is not None:
                done.set()
        elif op == "handover" and events is not None:
            events.handover()
        elif op == "stop" and events is not None:
            events.stop_asked(int(message["signal"]))
        else:
            for fd in fds:
                os.close(fd)

    def _lost(self) -> None:
        if not self.gone:
            self.gone = True
            log.error("the link to the keeper broke")
            if not self.embedded:
                # The keeper, our parent, is dying (it closes this link only once we have
                # exited), and the kernel kills us with it (PR_SET_PDEATHSIG), a moment later:
                # a dying process's fds close before its children are told. What this server
                # began meanwhile was cut where that kill landed: its end cancelled its runc
                # commands, and the kill of one (its tree stopped, then killed) left it stopped
                # for good, a checkpoint's CRIU and the container it had seized with it. Exit
                # now, as that kill would have: the runc commands go on and end, as after a
                # kill of this server alone.
                os._exit(1)
        self._abandoned.clear()  # no answer comes any more
        for pending in self._pending.values():
            if pending.result is None:
                pending.result = SpawnResult(status=-1, error="the keeper is gone")
            pending.done.set()

    async def aclose(self) -> None:
        """Close our end (an embedded keeper then stops) and reap an embedded keeper."""
        trio.lowlevel.notify_closing(self._sock)
        self._sock.close()
        self.gone = True
        drop_queue(self._queue)
        pid, self._child_pid = self._child_pid, None
        if pid is None:
            return
        pidfd = os.pidfd_open(pid)
        try:
            with trio.move_on_after(10, shield=True) as waited:
                await trio.lowlevel.wait_readable(pidfd)
            if waited.cancelled_caught:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED)  # noqa: ASYNC222 - it has exited
        finally:
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)


def _undo_spawn(result: SpawnResult) -> None:
    """Undo what a cancelled spawn made: its answer is thrown away, and with it the only word
    of the process (the keeper took runc's pid file). Left, it would run on, named by nothing
    the server has; the caller saw the start fail. Killed, as containerd kills an exec whose
    start failed; the keeper reaps it (or its sweep, once the caller drops the key)."""
    if result.master is not None:
        os.close(result.master)
    if result.pid is None or result.start_time is None:
        return  # none made, or it exited before its runc did (its pid may be another's now)
    with contextlib.suppress(ProcessLookupError):
        pidfd = os.pidfd_open(result.pid)
        try:
            # Pids are reused fast: the pidfd is on the process made only if it started then.
            if procfs.start_time(result.pid) == result.start_time:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)


def _kept(message: Message, fds: list[int]) -> Kept:
    exit_info = message.get("exit") or {}
    return Kept(
        key=str(message["key"]),
        container_id=str(message["cid"]),
        pid=message.get("pid"),
        start_time=message.get("start_time"),
        terminal=bool(message.get("terminal")),
        ended=bool(message.get("ended")),
        exit_status=exit_info.get("status"),
        exit_ns=exit_info.get("ns"),
        input_fd=fds[0] if fds else None,
    )
