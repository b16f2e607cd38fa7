"""The keeper's loop: spawn, reap, hold, hand back.

See the package's docstring for why it exists. This module is the whole of it: one thread, one
epoll, no Trio. Everything it does is short and cannot block: a send to a peer that has no room
waits in a queue (:class:`~._wire.Channel`), reads are non-blocking, and each child the keeper
knows (runc, a container process, the server, the logger) is reaped through its pidfd once that
is readable; a sweep after a SIGCHLD, at most once a second (ten times for a while after a runc
failed), reaps the others (runc's leftovers).

What it holds, by process key (the server names each container process it starts):

- the reading ends of the process's stdout and stderr pipes, or its terminal's master (the
  logger reads duplicates, handed to it at the first output: until then the keeper watches
  them; these keep the pipes open if the logger or the server dies);
- the writing end of its stdin pipe, if it has one (so that a restarted server can give it
  input again);
- its exit status and time, from the moment it is reaped until the server says it recorded it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import signal
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs

from .. import procfs
from ..host import oom_score_adj, set_oom_score_adj
from ..spawn import exit_status, spawn
from ._wire import STOP_ON_LINK, Channel, Message, PeerGone, pair, receive_fds

log = logging.getLogger("containerd_trio.keeper")

#: The logger's module (it runs as ``python -m``; so it is known among the keeper's children).
LOGGER_MODULE = "containerd_trio.keeper._logger"
#: The server's exit status when it stopped to hand over to a new server (a live upgrade).
HANDOVER_EXIT = 75
#: How many exits of processes nobody has claimed yet are remembered (a container's init may
#: exit before the runc that started it, and so before it is known as a container process).
_RECENT_EXITS = 4096
#: The stdout and stderr pipes of a container process hold this much while nobody reads them.
PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = 1031
#: A sweep of every child (``waitid(P_ALL)``) follows a SIGCHLD at once, but comes at most this
#: often. The kernel looks at each child in such a call, and the keeper, the subreaper, has one
#: per running container process: 2.5 ms a sweep at 3000 containers. The children it knows are
#: reaped through their pidfds as they exit, and in a thousand starts and deletes with runc no
#: other child exited; a sweep finds the rest (runc's leftovers, and any child whose pidfd
#: could not be had), which may wait this long.
_SWEEP_INTERVAL = 1.0
#: ... except for a while after a runc the keeper ran failed: a failed ``runc exec`` can leave a
#: process in the container's pid namespace, and that holds up the init's death until it is
#: reaped (the kernel waits for the namespace's every process), while the server gives the init
#: half a second to tell a container that stopped under runc from a failure of runc's own.
_WARY_SWEEP_INTERVAL = 0.1
_WARINESS = 10.0
#: Past this many children, a spawn is made from a small fd table (``spawn``'s ``crowded``):
#: each running container process holds about three fds here (its pidfd, two pipe ends), and
#: a spawn from the keeper's own table costs runc and the keeper about 0.1 ms more per
#: thousand. The hand-off to the thread costs the keeper about 0.1 ms, so it is made only
#: where it plainly pays: with 3000 fds held a spawn costs 0.2 ms less, and over 5000 starts
#: runc's stand-in cost 0.5 ms less per start (docs/performance-history.md, "the keeper's fd
#: table").
_CROWDED_CHILDREN = 1000
#: How soon a new server is tried again after the keeper could not start one (no process or
#: fd to be had: a cgroup at its pids limit, the fd limit), while the containers are held.
_SERVER_RETRY = 1.0


@attrs.define(eq=False)
class Custody:
    """One container process's stdio and exit, as the keeper holds them."""

    key: str
    container_id: str
    directory: str
    max_bytes: int
    terminal: bool
    #: The reading ends (stdout, stderr) or the terminal's master, until the output ended.
    readers: list[int]
    #: The writing end of its stdin pipe, if it has one.
    stdin: int | None = None
    pid: int | None = None
    start_time: int | None = None
    #: The logger wrote its last output.
    ended: bool = False
    #: {"status": N, "ns": T} once reaped; dropped once the server recorded it.
    exit: dict[str, int] | None = None
    #: The keeper watches the reading ends for the first output, before the logger has them.
    watched: bool = False

    def input_fd(self) -> int | None:
        """What the server writes the process's input to: its stdin pipe, or its terminal."""
        if self.terminal:
            return self.readers[0] if self.readers else None
        return self.stdin

    def close_output(self) -> None:
        """Close the reading ends (the logger has its own, or the output ended)."""
        for fd in self.readers:
            os.close(fd)
        self.readers = []

    def close(self) -> None:
        self.close_output()
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def describe(self) -> Message:
        return {
            "op": "custody",
            "key": self.key,
            "cid": self.container_id,
            "pid": self.pid,
            "start_time": self.start_time,
            "terminal": self.terminal,
            "stdin": self.stdin is not None,
            "ended": self.ended,
            "exit": self.exit,
        }


@attrs.define(eq=False)
class ConsoleSocket:
    """Where runc sends a new terminal's master (``runc --console-socket PATH``).

    runc connects as it starts, and its init sends the master only once the container is set
    up, much later: the keeper's loop waits for it on the connection as for anything else (a
    blocking wait there held up every other spawn, exit and message meanwhile)."""

    path: str
    sock: socket.socket
    #: runc's connection, once accepted, until the master came on it (or it ended without).
    conn: socket.socket | None = None
    master: int | None = None

    @classmethod
    def listen(cls, path: str) -> ConsoleSocket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(1)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return cls(path, sock)

    def fileno(self) -> int:
        """What the loop watches: runc's connection once accepted, else the socket (-1 once
        closed)."""
        return self.conn.fileno() if self.conn is not None else self.sock.fileno()

    @property
    def waiting(self) -> bool:
        """The master may still come (no master yet, and neither runc's connection nor the
        socket has ended)."""
        return self.master is None and self.fileno() >= 0

    def take_master(self) -> None:
        """Accept runc's connection and receive the master, as far as either is there now:
        never waits."""
        if not self.waiting:
            return
        if self.conn is None:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.conn = conn
        try:
            _, fds = receive_fds(self.conn, 4096, 1)
        except BlockingIOError:
            return  # connected, the master not sent yet
        except OSError as exc:
            log.error("no terminal from runc on %s: %s", self.path, exc)
            fds = []
        # One message, the master in it; or the end of the connection without one.
        self.close()
        if fds:
            self.master = fds[0]
            for fd in fds[1:]:
                os.close(fd)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@attrs.define(eq=False)
class Spawn:
    """A runc command the keeper runs for the server."""

    id: int
    pid: int
    started_ns: int
    custody: Custody | None = None
    pid_file: str | None = None
    console: ConsoleSocket | None = None


@attrs.define(eq=False)
class Child:
    """A child the keeper knows (runc, a container process, the server, the logger), watched
    through its pidfd: readable once it exited, and reaped by that pidfd alone."""

    pid: int
    pidfd: int
    #: A container process's start time (its identity with the pid), None for the others.
    start_time: int | None = None


@attrs.define(eq=False)
class Server:
    """A server process (or, embedded, the server that started the keeper)."""

    channel: Channel
    pid: int | None
    #: Said hello; holds its welcome until the server it replaces is gone.
    waiting: bool = False
    welcomed: bool = False
    ready: bool = False
    #: Told to hand over to a new server (a reload): it serves no more.
    handing_over: bool = False
    #: Said, as it served, that it takes the daemon's stop on the link (:data:`STOP_ON_LINK`);
    #: a server of an older install (a live upgrade's keeper runs a downgraded server) is
    #: signalled instead, as it was.
    stops_on_link: bool = False


class Keeper:
    def __init__(
        self,
        *,
        server_argv: Sequence[str] | None,
        listen: socket.socket | None = None,
        embedded: Channel | None = None,
        child_oom_score_adj: int | None = None,
    ) -> None:
        """``server_argv`` is the server's command line (the keeper runs and restarts it);
        ``embedded`` is the channel of a server that started this keeper as its child instead.
        ``child_oom_score_adj``: the OOM score each runc that makes a container process gets
        (None: its own, inherited)."""
        self._server_argv = list(server_argv) if server_argv is not None else None
        #: When this process started, on the wall clock, worked out once: each server says it
        #: as the daemon's start (``GET /info``), the same across reloads; a server working
        #: it out again read the wall clock's distance from boot anew, a few hundred ns off.
        ticks = procfs.start_time(os.getpid())
        self._started_ns = time.time_ns() if ticks is None else procfs.started_before_ns(ticks + 1)
        self._child_oom_score_adj = child_oom_score_adj
        self._oom_score_warned = False
        self._listen = listen
        self._epoll = select.epoll()
        self._handlers: dict[int, object] = {}
        self._custody: dict[str, Custody] = {}
        self._bound: dict[int, Custody] = {}
        self._children: dict[int, Child] = {}
        self._sweep_at: float | None = None
        self._last_sweep = -_SWEEP_INTERVAL
        #: Sweeps come at the wary interval until then (a runc failed).
        self._wary_until = -_WARINESS
        self._spawns: dict[int, Spawn] = {}
        self._spawn_pids: dict[int, Spawn] = {}
        self._recent_exits: OrderedDict[int, tuple[int | None, int, int]] = OrderedDict()
        self._consoles: dict[int, Spawn] = {}
        self._server: Server | None = None
        self._standby: Server | None = None
        #: A reload asked while another's new server was starting: that server may have read
        #: the code on disk before the change the second reload was asked for, so another
        #: reload follows once it serves.
        self._reload_again = False
        self._logger: Channel | None = None
        self._logger_pid: int | None = None
        self._forgetting: set[str] = set()
        #: The containers the logger has had output of (since it started): only those has it
        #: anything to close when one is deleted.
        self._logged: set[str] = set()
        #: The containers whose log the logger holds paused (a full disk), as it told: a new
        #: server is told them in its welcome (the server that heard the pause may be gone
        #: before the resume comes).
        self._paused_logs: set[str] = set()
        self._signals: list[int] = []
        #: The signal that asked the daemon to stop (SIGTERM, SIGINT): held until a server
        #: serves (:meth:`_stop`), then passed on to it.
        self._stop_signal: int | None = None
        #: The stop was passed on to a serving server: its exit ends the keeper.
        self._stopping = False
        self._exit_code: int | None = None
        self._restarts: list[float] = []
        self._restart_at: float | None = None
        #: A server of this keeper has served: the daemon is up, and any later server that
        #: exits is followed by another (:meth:`_server_exited`).
        self._served = False
        self._logger_restart_at: float | None = None
        #: A reload's: the logger was asked to stop (its last records written) so that a new
        #: one, with the code on disk, takes its place at its exit (:meth:`_replace_logger`).
        self._logger_replaced = False
        #: A reload's replacement of the logger waits for every paused log's resume: the
        #: records a paused log holds (read, not written) are in the logger's memory alone.
        self._logger_replace_after_pauses = False
        if embedded is not None:
            self._server = Server(embedded, None)
            self._watch(embedded.fileno(), self._server)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> int:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._note_signal)
        self._epoll.register(wake_r, select.EPOLLIN)
        self._start_logger()
        if self._server is None:
            self._start_server(first=True)
        while self._exit_code is None:
            for fd, mask in self._epoll.poll(self._timeout()):
                if fd == wake_r:
                    _drain(wake_r)
                else:
                    self._dispatch(fd, mask)
            self._handle_signals()
            self._run_timers()
            self._flush()
        self._shut_down()
        return self._exit_code

    def _dispatch(self, fd: int, mask: int) -> None:
        """What epoll said of ``fd`` (``mask``), to whatever holds it: a server's or the
        logger's channel, a child's pidfd, a spawn's console socket, a custody's pipe."""
        handler = self._handlers.get(fd)
        if isinstance(handler, Server):
            self._from_server(handler, mask)
        elif isinstance(handler, Channel):
            self._from_logger(mask)
        elif isinstance(handler, Child):
            self._child_ready(handler)
        elif isinstance(handler, Spawn):
            self._console_ready(handler)
        elif isinstance(handler, Custody):
            self._output_ready(handler, fd, mask)

    def _note_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def _timeout(self) -> float:
        timers = (self._restart_at, self._logger_restart_at, self._sweep_at)
        due = [t for t in timers if t is not None]
        if not due:
            return -1.0
        return max(0.0, min(due) - time.monotonic())

    def _watch(self, fd: int, handler: object) -> None:
        self._handlers[fd] = handler
        self._epoll.register(fd, select.EPOLLIN)

    def _unwatch(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _flush(self) -> None:
        """Send what waits for a peer (the server, a standby, the logger), as far as it takes
        it; what it cannot take yet goes when it has room, which wakes the loop too."""
        channels = [self._logger]
        channels += [server.channel for server in (self._server, self._standby) if server]
        for channel in channels:
            if channel is None:
                continue
            if channel.fileno() in self._handlers:
                channel.flush_in(self._epoll)
            elif channel.wants_write:
                channel.flush()  # unwatched: its peer is gone (the end is on its way)

    def _tell_server(self, message: Message, fds: Sequence[int] = ()) -> None:
        server = self._server
        if server is not None and server.welcomed:
            server.channel.send(message, fds)

    # --- signals and children -----------------------------------------------------------------

    def _handle_signals(self) -> None:
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum == signal.SIGCHLD:
                # The known children come through their pidfds; a sweep for the rest, now if
                # the last was long enough ago (the timers run right after the signals).
                self._sweep_soon()
            elif signum in (signal.SIGTERM, signal.SIGINT):
                self._stop(signum)
            elif signum == signal.SIGHUP:
                self._reload()

    def _sweep_soon(self) -> None:
        now = time.monotonic()
        wary = now < self._wary_until
        due = max(now, self._last_sweep + (_WARY_SWEEP_INTERVAL if wary else _SWEEP_INTERVAL))
        if self._sweep_at is None or due < self._sweep_at:
            self._sweep_at = due

    def _start_child(self, argv: Sequence[str], *, runc: bool = False, **options: Any) -> int:
        """:func:`spawn` a child of the keeper's own (the server, the logger, runc), reaped
        through its pidfd once it exits. Only runc is spawned from the small fd table when
        the keeper is crowded: the server and the logger ask to die with their parent
        (PR_SET_PDEATHSIG), which is the spawning thread, not the keeper, for a child of it."""
        crowded = runc and len(self._children) > _CROWDED_CHILDREN
        pid = spawn(argv, crowded=crowded, **options)
        self._watch_child(pid)
        return pid

    def _watch_child(self, pid: int, start_time: int | None = None) -> None:
        """Reap ``pid`` as soon as it exits (else a sweep does, after the next SIGCHLD)."""
        if pid in self._children:
            # Watched already (a pid file naming a process the keeper knows): a second pidfd
            # would outlive the record the pid names, readable for ever once it is reaped.
            return
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            log.warning("cannot watch child %d (%s): the next sweep reaps it", pid, exc)
            return
        child = Child(pid, pidfd, start_time)
        self._children[pid] = child
        self._watch(pidfd, child)

    def _unwatch_child(self, pid: int) -> None:
        child = self._children.pop(pid, None)
        if child is not None:
            self._unwatch(child.pidfd)
            os.close(child.pidfd)

    def _child_ready(self, child: Child) -> None:
        """A known child's pidfd is readable: it exited."""
        try:
            info = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            # Not (or no longer) ours to reap; a readable pidfd would wake the loop forever.
            self._unwatch_child(child.pid)
            return
        if info is not None:
            status, code = exit_status(info), info.si_code
            self._exited(child.pid, child.start_time, status, code, time.time_ns())

    def _reap(self) -> None:
        """The sweep: reap every child that exited, known or not."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            # Read while it is a zombie: with the pid, the start time names the process.
            started = procfs.start_time(pid)
            try:
                os.waitid(os.P_PID, pid, os.WEXITED)
            except ChildProcessError:
                continue
            self._exited(pid, started, exit_status(info), info.si_code, time.time_ns())

    def _exited(self, pid: int, started: int | None, status: int, code: int, ns: int) -> None:
        self._unwatch_child(pid)
        if self._server is not None and pid == self._server.pid:
            self._server_exited(self._server, status, code)
        elif self._standby is not None and pid == self._standby.pid:
            log.error(
                "the new server (pid %d) died before taking over (%s)", pid, _ending(status, code)
            )
            self._drop_server(self._standby)
            self._standby = None
            if self._reload_again:
                # A reload asked while it started: never to follow its serving now, and its
                # change may be the fix for what this one died of. Until 2026-12-06 it was
                # dropped, and the flag made a reload nobody asked at the next server's.
                self._reload_again = False
                self._reload()
        elif pid == self._logger_pid:
            self._logger_exited(status, code)
        elif pid in self._spawn_pids:
            self._spawn_done(self._spawn_pids.pop(pid), status)
        elif (custody := self._bound.get(pid)) is not None and custody.start_time in (
            None,
            started,
        ):
            del self._bound[pid]
            self._process_exited(custody, status, ns)
        else:
            # Not known yet (an init that exits before its runc), or runc's own leftovers.
            self._recent_exits[pid] = (started, status, ns)
            self._recent_exits.move_to_end(pid)
            while len(self._recent_exits) > _RECENT_EXITS:
                self._recent_exits.popitem(last=False)

    def _process_exited(self, custody: Custody, status: int, ns: int) -> None:
        custody.exit = {"status": status, "ns": ns}
        silent = self._ended_silently(custody)
        if self._logger is not None and not custody.ended and not silent:
            if custody.watched:
                self._hand_to_logger(custody)
            # What its pipes still hold is read first, so that its exit comes with all of it.
            self._logger.send({"op": "exited", "key": custody.key})
        self._tell_server(
            {"op": "exit", "key": custody.key, "pid": custody.pid, "status": status, "ns": ns}
        )
        if silent:
            # It never said a word and none can come (its pipes have no writer left): the end
            # of its output is known here, without a wake of the logger and its word back.
            self._output_ended(custody)

    # --- the server ---------------------------------------------------------------------------

    def _start_server(self, *, first: bool = False) -> None:
        """Start a server: the daemon's ``first``, a new one after a crash, or a reload's."""
        assert self._server_argv is not None
        try:
            ours, theirs = pair()
        except OSError as exc:
            self._server_not_started(exc, first)
            return
        fds = {3: theirs.fileno()}
        env = dict(os.environ, CONTAINERD_TRIO_KEEPER_FD="3", **{STOP_ON_LINK: "1"})
        if self._listen is not None:
            fds[4] = self._listen.fileno()
            env["CONTAINERD_TRIO_LISTEN_FD"] = "4"
        argv = [sys.executable, "-P", "-m", "containerd_trio.server", *self._server_argv]
        try:
            pid = self._start_child(argv, stdout=1, stderr=2, fds=fds, env=env, setsid=True)
        except OSError as exc:
            ours.close()
            theirs.close()
            self._server_not_started(exc, first)
            return
        theirs.close()
        server = Server(Channel(ours), pid)
        self._watch(ours.fileno(), server)
        if self._server is None or self._server.pid is None:
            self._server = server
        else:
            self._standby = server
        log.debug("server started, pid %d", pid)

    def _server_not_started(self, exc: OSError, first: bool) -> None:
        """The daemon's first server could not start: the daemon cannot either. A new one after
        a crash is tried again until it starts: the keeper exited here, the logger with it,
        and the containers' pipes lost their readers and their exits their keeper, for want
        of a process or an fd for a moment (EAGAIN at a cgroup's pids limit, EMFILE). A
        reload's: the server that serves goes on."""
        if first:
            log.error("cannot start the server: %s", exc)
            self._exit_code = 1
        elif self._server is not None and self._server.pid is not None:
            log.error("cannot start a new server for the reload: %s", exc)
        else:
            log.error("cannot start a new server: %s; trying again in %gs", exc, _SERVER_RETRY)
            self._restart_at = time.monotonic() + _SERVER_RETRY

    def _drop_server(self, server: Server) -> None:
        self._unwatch(server.channel.fileno())
        server.channel.close()

    def _server_exited(self, server: Server, status: int, code: int) -> None:
        if server.channel.fileno() in self._handlers:
            # What it wrote before it died is read first: the sweep after its SIGCHLD (or its
            # pidfd, read before its channel) came before the loop read its channel, and its
            # last words were lost with it: an ack (the exit told again to the next server), a
            # forget or a drop (the pipes held until a next server undid them).
            self._from_server(server, select.EPOLLIN)
        self._drop_server(server)
        self._server = None
        killed = code != os.CLD_EXITED
        if self._stopping and killed:
            # Killed in the middle of its stop (kill -9, the OOM killer): the next server
            # adopts what it left and is passed the stop in turn. Before, the keeper exited
            # with it, its containers left running with no reader on their pipes.
            self._stopping = False
        elif self._stopping or (status == 0 and not killed):
            self._exit_code = status
            return
        if status == HANDOVER_EXIT and not killed:
            log.info("the server handed over")
            self._activate_standby()
            return
        if not server.ready and not killed and not self._served:
            # The daemon's first server never served and exited: a start-up error it has
            # already told in one line (a bad address, a state dir it cannot use), and the
            # daemon does not start. One killed by a signal before it served (kill -9, the
            # OOM killer during its adoption) crashed as any other does, and is restarted:
            # exiting here took the whole daemon, and the containers' readers, down with it.
            # So is one started after a crash or a reload that exits with an error before it
            # serves (a journal it cannot read for a moment, no memory for its adoption):
            # the keeper holds the containers, and tries again after the usual pause, where
            # it exited, the logger with it, the containers' pipes losing their readers.
            self._exit_code = status or 1
            return
        standby = self._standby is not None
        delay = 0.0
        if not standby:
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < 60] + [now]
            if len(self._restarts) > 3:
                delay = min(10.0, 0.5 * 2 ** (len(self._restarts) - 3))
            self._restart_at = now + delay
        # The pause is said: "starting a new one" alone, then nothing for up to 10 s, read as
        # a keeper that had not kept its word.
        log.error(
            "the server (pid %s) died (%s); starting a new one%s",
            server.pid,
            _ending(status, code),
            f" in {delay:g} s" if delay else "",
        )
        if standby:
            self._activate_standby()

    def _activate_standby(self) -> None:
        standby, self._standby = self._standby, None
        if standby is None:
            self._start_server()
            return
        self._server = standby
        if standby.waiting:
            self._welcome(standby)

    def _run_timers(self) -> None:
        now = time.monotonic()
        if self._sweep_at is not None and now >= self._sweep_at:
            self._sweep_at = None
            self._last_sweep = now
            self._reap()
        if self._restart_at is not None and now >= self._restart_at:
            self._restart_at = None
            if self._server is None and not self._stopping:
                self._start_server()
        if self._logger_restart_at is not None and now >= self._logger_restart_at:
            self._logger_restart_at = None
            self._start_logger()

    def _stop(self, signum: int) -> None:
        server = self._server
        if self._server_argv is None:
            return  # embedded: the server that started us decides
        if self._stop_signal is not None and not self._stopping:
            # A second signal while the stop waits for a server: at once, as a serving
            # server's second signal ends it (its containers left as they are).
            log.warning("second %s: exiting at once", signal.Signals(signum).name)
            for starting in (server, self._standby):
                if starting is not None and starting.pid is not None:
                    _kill(starting.pid)
            self._exit_code = 1
            return
        self._stop_signal = signum
        if server is None or server.pid is None or not server.ready or server.handing_over:
            # No server serves (one died and the next is starting, or waits its pause; the
            # daemon's first is starting; a reload's hand-over is under way): the stop waits
            # for the next to serve, which stops the containers it adopted. Before, the keeper
            # exited at once, or passed the signal to a server that had no handler for it
            # yet, which died of it, or to one handing over, which took it for a second
            # signal and exited at once, the new server killed: either way every container
            # was left running, with no reader on its pipes.
            log.info(
                "received %s: the daemon stops once its server serves",
                signal.Signals(signum).name,
            )
            if server is None and self._restart_at is not None:
                self._restart_at = time.monotonic()  # no pause: the stop waits for it
            return
        self._pass_stop(server, signum)

    def _pass_stop(self, server: Server, signum: int) -> None:
        assert server.pid is not None
        self._stopping = True
        if self._standby is not None and self._standby.pid is not None:
            _kill(self._standby.pid)
        # The server hears the signal the keeper got, so that its log names the one its user
        # sent (a SIGINT, a Ctrl-C, was logged "received SIGTERM", and a second SIGTERM
        # "second SIGINT"); a second one, whichever, stops it at once. Told on their link,
        # not signalled: the server ignores the signals it is sent itself, for systemd's stop
        # (KillMode=control-group) signals every process of the unit at once, and the server's
        # own and the keeper's came as two, the second ending it at once, every container
        # left running. A server that did not say it takes it so (one of an older install)
        # is signalled, as before.
        if server.stops_on_link:
            server.channel.send({"op": "stop", "signal": signum})
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signum)

    def _reload(self) -> None:
        """Start a new server; once it is ready to take over, the old one hands over."""
        if self._server_argv is None or self._stop_signal is not None:
            return  # stopping: the stop's server is the last
        if self._server is None:
            # No server: the keeper waits out its pause after servers that failed as they
            # started. The next one runs the code on disk: started now, the reload's point
            # (new code, maybe the fix for those failures). Before, the log said "a reload is
            # already under way", and the pause (up to 10 s) went on.
            log.info("reloading: no server serves; starting the next one now")
            self._restart_at = time.monotonic()
            self._replace_logger()
            return
        if self._standby is not None:
            # Its new server may have read the code on disk before this reload's change: one
            # more follows once it serves (any number asked meanwhile are that one). Until
            # 2026-12-06 this reload was dropped, and the daemon ran the code of the first.
            log.info("a reload is under way: another follows once its new server serves")
            self._reload_again = True
            return
        log.info("reloading: starting a new server")
        self._start_server()
        self._replace_logger()

    def _replace_logger(self) -> None:
        """A reload's other half: the logger's code is the package's too (its log format, its
        rotation), so a new logger takes over, as a new server does. The old one is asked to
        stop: it writes what it has read and holds, and exits; the keeper then starts the new
        one at once and hands it every pipe, as after a crash of the logger, with nothing read
        and unwritten to lose. Output meanwhile waits in the pipes. Until 2026-12-06 a reload
        left the logger running the code it started with until it died."""
        if self._logger is None or self._logger_pid is None or self._logger_replaced:
            return  # none runs (the next one starts with the code on disk), or one is asked
        if self._paused_logs:
            log.info("reloading: the logger is replaced once no log is paused (a full disk)")
            self._logger_replace_after_pauses = True
            return
        self._logger_replace_after_pauses = False
        log.info("reloading: the logger hands over to a new one")
        self._logger_replaced = True
        # hand_over: it exits once no log of its is paused, one it paused as this was sent
        # too (a logger without it, of the code before, takes it as a plain stop).
        self._logger.send({"op": "stop", "hand_over": True})

    # --- messages from a server ---------------------------------------------------------------

    def _from_server(self, server: Server, mask: int) -> None:
        try:
            messages = server.channel.receive()
        except PeerGone:
            self._unwatch(server.channel.fileno())
            if server.pid is None:  # embedded: our server is gone, so are we
                self._exit_code = 0
            return
        for message, fds in messages:
            try:
                self._server_message(server, message, fds)
            except Exception:
                log.exception("cannot handle the server's %r", message.get("op"))
                if message.get("op") != "spawn":  # a spawn closed its own, whatever failed
                    for fd in fds:
                        os.close(fd)

    def _server_message(self, server: Server, message: Message, fds: list[int]) -> None:
        op = message["op"]
        if op == "hello":
            if server is self._standby:
                server.waiting = True
                if self._server is not None and self._server.welcomed:
                    self._hand_over(self._server)
                return
            self._welcome(server)
            return
        if server is not self._server:
            for fd in fds:
                os.close(fd)
            return
        if op == "spawn":
            self._spawn(message, fds)
        elif op == "kill":
            spawn_ = self._spawns.get(int(message["id"]))
            if spawn_ is not None:
                _kill(spawn_.pid)
        elif op == "drop":
            self._drop(str(message["key"]))
        elif op == "close-stdin":
            custody = self._custody.get(str(message["key"]))
            if custody is not None and custody.stdin is not None:
                os.close(custody.stdin)
                custody.stdin = None
        elif op == "ack":
            for key in message["keys"]:
                custody = self._custody.get(key)
                if custody is not None:
                    custody.exit = None
                    self._release_if_done(custody)
        elif op == "forget":
            self._forget(str(message["cid"]))
        elif op == "ready":
            server.ready = True
            server.stops_on_link = message.get(STOP_ON_LINK) is True
            self._served = True
            self._restarts = []
            if self._stop_signal is not None and not self._stopping:
                self._pass_stop(server, self._stop_signal)  # held until it served
            elif self._reload_again and server is self._server and self._standby is None:
                self._reload_again = False
                self._reload()
        elif op == "reload":
            self._reload()
        else:
            log.error("unknown message from the server: %r", op)
            for fd in fds:
                os.close(fd)

    def _welcome(self, server: Server) -> None:
        """Hand a (new) server everything held: processes, their input fds, their exits."""
        server.waiting = False
        server.welcomed = True
        for custody in self._custody.values():
            fd = custody.input_fd()
            server.channel.send(custody.describe(), [fd] if fd is not None else [])
        # A message each, as the processes: a list in the welcome outgrew a message the
        # server reads whole (MAX_MESSAGE: 500 ids of 128 characters), and the new server,
        # its welcome cut short and thrown away, waited for it for ever.
        for container_id in sorted(self._paused_logs):
            server.channel.send({"op": "log", "cid": container_id, "paused": True})
        server.channel.send(
            {
                "op": "welcome",
                "keeper": os.getpid(),
                "started": self._started_ns,
                "logger": self._logger_pid,
                "inflight": sorted(self._spawns),
            }
        )
        standby = self._standby
        if server is self._server and standby is not None and standby.waiting:
            # A reload asked before this server said hello: the new one said its hello first
            # and waits, and its hello asked nobody (this one was not welcomed yet). Asked now,
            # as if the reload came now; else the new server waits for ever, and every later
            # reload is refused as under way.
            self._hand_over(server)

    def _hand_over(self, server: Server) -> None:
        server.handing_over = True
        server.channel.send({"op": "handover"})

    # --- spawning runc for the server ---------------------------------------------------------

    def _spawn_container_maker(
        self,
        argv: Sequence[str],
        *,
        stdin: int | None,
        stdout: int | None,
        stderr: int | None,
        fds: dict[int, int],
        umask: int | None = None,
    ) -> int:
        """:func:`spawn` a runc that makes a container process, with the OOM score meant for
        container processes rather than the keeper's own (and ``umask`` if given: an exec's).

        A child inherits its parent's score at the clone, and runc gives the container one
        only when the bundle has ``process.oomScoreAdj``: without this, every other container
        would be spared by the OOM killer like the keeper. So the keeper takes that score for
        the spawn and its own back after it; setting the child's afterwards would race runc's
        fork of its init. Taking its own back needs the privilege the keeper had when it
        lowered its score first (CAP_SYS_RESOURCE), which it keeps.
        """
        own = self._take_containers_oom_score()
        try:
            return self._start_child(
                argv, runc=True, stdin=stdin, stdout=stdout, stderr=stderr, fds=fds, umask=umask
            )
        finally:
            if own is not None and not set_oom_score_adj(own):
                # Its score stays the containers' one: the OOM killer no longer spares it.
                log.error("could not take back the keeper's OOM score %d", own)

    def _take_containers_oom_score(self) -> int | None:
        """Give the keeper the containers' OOM score for a spawn; its own to take back after
        it, or None if it has the containers' already (or cannot take theirs: said once).

        Its own is read each time, not remembered: whoever changed it since (an operator's
        ``choom``) is followed."""
        wanted = self._child_oom_score_adj
        if wanted is None:
            return None
        own = oom_score_adj()
        if own == wanted:
            return None
        if own is None or not set_oom_score_adj(wanted):
            if not self._oom_score_warned:
                self._oom_score_warned = True
                log.warning(
                    "cannot give runc the OOM score %d: containers get the keeper's (%s)",
                    wanted, own,
                )  # fmt: skip
            return None
        return own

    def _spawn(self, message: Message, fds: list[int]) -> None:
        """Run a runc command; with ``custody``, it makes a container process whose stdio the
        keeper makes and keeps.

        ``fds`` are its own from the call: each is closed here exactly once, whatever fails (a
        second close of a number since reused would close another's fd; of one not reused, its
        EBADF would escape the loop and end the keeper)."""
        spawn_id: int | None = None
        wanted = message.get("custody")
        keep: set[int] = set()
        child_ends: list[int] = []
        readers: list[int] = []
        custody: Custody | None = None
        console: ConsoleSocket | None = None

        def fd_at(index: object) -> int | None:
            return None if index is None else fds[int(index)]  # type: ignore[call-overload]

        try:
            spawn_id = int(message["id"])
            if spawn_id in self._spawns:
                # A server numbers its spawns past those in flight when it said hello; one
                # that did not would have this one take the other's place.
                raise ValueError(f"spawn {spawn_id} is in flight already")
            stdin, stdout, stderr = (fd_at(message.get(n)) for n in ("stdin", "stdout", "stderr"))
            if wanted is not None:
                if wanted.get("console"):
                    console = ConsoleSocket.listen(str(wanted["console"]))
                else:
                    for _ in range(2):
                        reader, writer = os.pipe2(os.O_CLOEXEC)
                        readers.append(reader)
                        child_ends.append(writer)
                        with contextlib.suppress(OSError):  # a smaller pipe works too
                            fcntl.fcntl(writer, _F_SETPIPE_SZ, PIPE_BYTES)
                    stdout, stderr = child_ends
                custody = Custody(
                    key=str(wanted["key"]),
                    container_id=str(wanted["cid"]),
                    directory=str(wanted["dir"]),
                    max_bytes=int(wanted["max_bytes"]),
                    terminal=console is not None,
                    readers=readers,
                    stdin=fd_at(wanted.get("stdin_keep")),
                )
                if custody.stdin is not None:
                    keep.add(custody.stdin)
            placed = {int(target): fds[int(index)] for index, target in message["fds"]}
            umask = message.get("umask")
            pid = self._spawn_container_maker(
                message["argv"], stdin=stdin, stdout=stdout, stderr=stderr, fds=placed,
                umask=None if umask is None else int(umask) & 0o777,
            )  # fmt: skip
        except Exception as exc:
            if not isinstance(exc, OSError):
                # A request the keeper cannot read, or a fault of its own: said, and answered
                # as a failed spawn all the same (the server would wait for it to its deadline).
                log.exception("cannot spawn for the server")
            # The custody's stdin end is among ``fds``, closed below with the rest.
            for fd in readers:
                os.close(fd)
            keep.clear()
            if console is not None:
                console.close()
            if spawn_id is not None:
                self._tell_server({"op": "done", "id": spawn_id, "status": -1, "error": str(exc)})
            return
        finally:
            for fd in [*child_ends, *fds]:
                if fd not in keep:
                    os.close(fd)
        record = Spawn(spawn_id, pid, time.time_ns(), custody, message.get("pid_file"), console)
        self._spawns[spawn_id] = record
        self._spawn_pids[pid] = record
        if custody is not None:
            self._custody[custody.key] = custody
        if console is not None:
            self._watch_console(record, console.fileno())

    def _watch_console(self, record: Spawn, fileno: int) -> None:
        self._consoles[fileno] = record
        self._watch(fileno, record)

    def _unwatch_console(self, fileno: int) -> None:
        self._unwatch(fileno)
        self._consoles.pop(fileno, None)

    def _console_ready(self, record: Spawn) -> None:
        """runc connected to the console socket, or sent the master on its connection (or
        ended it): take what is there, and watch what comes next."""
        console = record.console
        assert console is not None
        if console.fileno() < 0:
            return
        # Unwatched first: take_master may close it (an fd closed while watched cannot be
        # unregistered), or accept runc's connection, watched instead.
        self._unwatch_console(console.fileno())
        console.take_master()
        if console.waiting:
            self._watch_console(record, console.fileno())

    def _close_console(self, record: Spawn) -> None:
        console = record.console
        if console is None:
            return
        if console.fileno() >= 0:
            self._unwatch_console(console.fileno())
        console.close()

    def _spawn_done(self, record: Spawn, status: int) -> None:
        if self._spawns.get(record.id) is record:  # (a server's own number: see _spawn)
            del self._spawns[record.id]
        if status != 0:
            # What it left may already have exited, its sweep a second away.
            self._wary_until = time.monotonic() + _WARINESS
            self._sweep_soon()
        reply: Message = {"op": "done", "id": record.id, "status": status}
        fds: list[int] = []
        custody = record.custody
        # Dropped or forgotten while its runc ran (a server that gave up on the start at its
        # deadline, a delete): nothing of it is held any more, and what runc made is only
        # named to the server, to undo. Its terminal's master, taken into the custody let go,
        # was held for good (and handed to the server and the logger).
        let_go = custody is not None and self._custody.get(custody.key) is not custody
        if custody is not None:
            reply["key"] = custody.key
        if record.console is not None:
            self._console_ready(record)  # runc sent it before it exited
            if custody is not None and record.console.master is not None:
                if let_go:
                    os.close(record.console.master)
                else:
                    custody.readers = [record.console.master]
                record.console.master = None
            self._close_console(record)
        if custody is not None and status == 0 and record.pid_file is not None:
            pid = _take_pid_file(record.pid_file)
            if let_go:
                if pid is not None:
                    reply["pid"] = pid
                    reply["start_time"] = procfs.start_time(pid)
            elif pid is None or (custody.terminal and not custody.readers):
                reply["status"] = -1
                reply["error"] = (
                    "runc left no usable pid file" if pid is None else "runc sent no terminal"
                )
            else:
                self._bind(custody, pid, record.started_ns)
                reply["pid"] = pid
                reply["start_time"] = custody.start_time
                if custody.terminal:
                    fds = [custody.readers[0]]
        self._tell_server(reply, fds)
        if custody is not None and custody.exit is not None and custody.pid is not None:
            self._process_exited(custody, custody.exit["status"], custody.exit["ns"])

    def _bind(self, custody: Custody, pid: int, since_ns: int) -> None:
        """The process runs (or ran): watch for its exit, and let the logger read its output."""
        custody.pid = pid
        started = procfs.start_time(pid)
        # An exit recorded is of a process reaped: if the pid names a process now (running,
        # or a zombie not reaped yet), that exit was another's, the kernel having given its
        # pid to this one since (within runc's run once pids went round): taken, a running
        # container was told exited, with another process's status, its own exit unwatched.
        recent = self._recent_exits.pop(pid, None)
        if started is None:
            # It exited already (before its runc did).
            if recent is not None and recent[2] >= since_ns:
                custody.start_time, status, ns = recent
            else:
                status, ns = 255, time.time_ns()
            custody.exit = {"status": status, "ns": ns}
        else:
            custody.start_time = started
            self._bound[pid] = custody
            self._watch_child(pid, started)
        if custody.exit is None:
            self._watch_output(custody)
        else:
            self._hand_to_logger(custody)

    def _drop(self, key: str) -> None:
        """The server undid a start or exec: let go of the process's stdio."""
        custody = self._custody.pop(key, None)
        if custody is None:
            return
        if custody.pid is not None and self._bound.get(custody.pid) is custody:
            del self._bound[custody.pid]
        if self._logger is not None:
            self._logger.send({"op": "drop", "key": key})
        self._close_custody(custody)

    def _release_if_done(self, custody: Custody) -> None:
        """A process that exited, was recorded and whose output was all written: forget it.

        Exited is "no longer bound": its pid may be bound again by then, to a new process the
        kernel gave it to (an exec's pipes held open by a child it left end long after)."""
        bound = custody.pid is not None and self._bound.get(custody.pid) is custody
        if custody.ended and custody.exit is None and not bound:
            self._custody.pop(custody.key, None)
            self._close_custody(custody)

    def _forget(self, container_id: str) -> None:
        for custody in [c for c in self._custody.values() if c.container_id == container_id]:
            del self._custody[custody.key]
            if custody.pid is not None and self._bound.get(custody.pid) is custody:
                del self._bound[custody.pid]
            self._close_custody(custody)
        if self._logger is not None and container_id in self._logged:
            self._logged.discard(container_id)
            self._forgetting.add(container_id)
            self._logger.send({"op": "forget", "cid": container_id})
        else:
            # The logger has nothing of it (it never said a word): no wake of the logger.
            self._tell_server({"op": "forgotten", "cid": container_id})

    # --- the logger ---------------------------------------------------------------------------

    def _start_logger(self) -> None:
        argv = [sys.executable, "-P", "-m", LOGGER_MODULE]
        try:
            ours, theirs = pair()  # no fd for it (EMFILE) escaped the loop: the keeper's end
        except OSError as exc:
            log.error("cannot start the logger: %s", exc)
            self._logger_restart_at = time.monotonic() + 5
            return
        try:
            pid = self._start_child(argv, stdout=2, stderr=2, fds={3: theirs.fileno()}, setsid=True)
        except OSError as exc:
            log.error("cannot start the logger: %s", exc)
            ours.close()
            theirs.close()
            self._logger_restart_at = time.monotonic() + 5
            return
        theirs.close()
        self._logger = Channel(ours)
        self._logger_pid = pid
        self._logged.clear()
        self._watch(ours.fileno(), self._logger)
        for custody in self._custody.values():
            if custody.pid is not None and not custody.ended and custody.readers:
                self._hand_to_logger(custody)
                if custody.exit is not None:
                    self._logger.send({"op": "exited", "key": custody.key})

    def _watch_output(self, custody: Custody) -> None:
        """Hand the process's output to the logger once there is some (or its end): until
        then the keeper watches the reading ends itself. A hand-over wakes the logger, and most
        processes say nothing as they start (a server, a ``sleep``): a wake of the logger per
        start was about a fifteenth of the daemon's CPU per start with runc."""
        if self._logger is None or not custody.readers:
            self._hand_to_logger(custody)  # nothing to watch, or the logger's start hands it
            return
        for fd in custody.readers:
            self._watch(fd, custody)
        custody.watched = True

    def _output_ready(self, custody: Custody, fd: int, mask: int) -> None:
        """A pipe the keeper watches has its first output, or has ended."""
        if mask & select.EPOLLIN or custody.terminal:
            self._hand_to_logger(custody)
            return
        # Ended with nothing in it (no writer is left: a pipe says EPOLLHUP alone), unless the
        # event was for an fd of that number closed earlier in the same batch. A process
        # closes its pipes as it exits, before its pidfd says so: once every pipe has ended
        # so, the end of its output is known without a wake of the logger.
        if not _ended_unread([fd]):
            return
        self._unwatch(fd)
        if self._ended_silently(custody):
            self._output_ended(custody)

    def _ended_silently(self, custody: Custody) -> bool:
        """The process's pipes, still the keeper's to watch (never a word in them), have no
        writer left and nothing in them: its output ended without one."""
        return custody.watched and not custody.terminal and _ended_unread(custody.readers)

    def _unwatch_output(self, custody: Custody) -> None:
        if custody.watched:
            custody.watched = False
            for fd in custody.readers:
                self._unwatch(fd)

    def _close_custody(self, custody: Custody) -> None:
        self._unwatch_output(custody)
        custody.close()

    def _hand_to_logger(self, custody: Custody) -> None:
        self._unwatch_output(custody)
        if self._logger is None or not custody.readers:
            return
        self._logger.send(
            {
                "op": "add",
                "key": custody.key,
                "cid": custody.container_id,
                "pid": custody.pid,
                "dir": custody.directory,
                "max_bytes": custody.max_bytes,
                "terminal": custody.terminal,
                "stdin": custody.stdin is not None,  # a prompt is let go unended
            },
            custody.readers,
        )
        self._logged.add(custody.container_id)

    def _from_logger(self, mask: int) -> None:
        assert self._logger is not None
        try:
            messages = self._logger.receive()
        except PeerGone:
            return  # its exit comes through its pidfd
        for message, fds in messages:
            for fd in fds:
                os.close(fd)
            op = message["op"]
            if op == "eof":
                custody = self._custody.get(str(message["key"]))
                if custody is not None:
                    self._output_ended(custody)
            elif op == "forgotten":
                self._forgetting.discard(str(message["cid"]))
                self._paused_logs.discard(str(message["cid"]))  # its pause goes with it
                self._tell_server(message)
            elif op == "log":
                if message["paused"]:
                    self._paused_logs.add(str(message["cid"]))
                else:
                    self._paused_logs.discard(str(message["cid"]))
                self._tell_server(message)
        if self._logger_replace_after_pauses and not self._paused_logs:
            self._replace_logger()  # the last pause ended (a resume, or its log forgotten)

    def _output_ended(self, custody: Custody) -> None:
        """All of the process's output is in its log: the server is told, and the pipes
        closed (a terminal's master stays: it takes the process's input)."""
        custody.ended = True
        if not custody.terminal:
            self._unwatch_output(custody)
            custody.close_output()
        self._tell_server({"op": "eof", "key": custody.key})
        self._release_if_done(custody)

    def _logger_exited(self, status: int, code: int) -> None:
        if self._logger is not None:
            self._unwatch(self._logger.fileno())
            self._logger.close()
        self._logger = None
        self._logger_pid = None
        # Whatever it was forgetting is forgotten: it held nothing more of those containers.
        for container_id in self._forgetting:
            self._tell_server({"op": "forgotten", "cid": container_id})
        self._forgetting.clear()
        # And no log is paused any more: a new logger holds none (it says so again if its
        # write fails again). Kept, a pause whose resume the logger never said (or said in
        # its channel, unread as it was let go) was told to every next server for good.
        for container_id in sorted(self._paused_logs):
            self._tell_server({"op": "log", "cid": container_id, "paused": False})
        self._paused_logs.clear()
        self._logger_replace_after_pauses = False  # the next logger runs the code on disk
        replaced, self._logger_replaced = self._logger_replaced, False
        if self._exit_code is not None:
            return
        if replaced and code == os.CLD_EXITED and status == 0:
            self._start_logger()
            if self._logger_pid is not None:
                log.info("the logger handed over; a new one (pid %d) takes its pipes",
                         self._logger_pid)  # fmt: skip
        else:
            log.error("the logger died (%s); starting a new one", _ending(status, code))
            self._logger_restart_at = time.monotonic() + 0.2

    # --- the end ------------------------------------------------------------------------------

    def _shut_down(self) -> None:
        if self._logger is not None and self._logger_pid is not None:
            self._logger.send({"op": "stop"})
            self._logger.flush()
            # Its last writes done, it exits: the keeper's exit waits for that (a kill
            # would tear a record it writes), woken by its pidfd, up to 5 s.
            child = self._children.get(self._logger_pid)
            _wait_for(self._logger_pid, 5.0, child.pidfd if child is not None else None)
        for custody in self._custody.values():
            self._close_custody(custody)
        # A child that exited since the last sweep would be left, a zombie, to whoever
        # inherits the keeper's children (init, or an embedding server that never reaps it).
        # Nobody is told of these exits: the server is gone.
        with contextlib.suppress(ChildProcessError):
            while os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG) is not None:
                pass


def _ending(status: int, code: int) -> str:
    """How a child of the keeper ended, as its lines name it: the signal that killed it, else
    its exit status (``status`` is the shell's 128+N for signal N, which read as an exit of
    its own: the logger "died (status 137)" where the server "died (signal 9)")."""
    return f"status {status}" if code == os.CLD_EXITED else f"signal {status - 128}"


def _ended_unread(fds: Sequence[int]) -> bool:
    """Every one of these pipes has no writer left and nothing in it."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    ready = dict(poller.poll(0))
    return bool(fds) and all(
        ready.get(fd, 0) & (select.POLLIN | select.POLLHUP) == select.POLLHUP for fd in fds
    )


def _take_pid_file(path: str) -> int | None:
    # At every start: os.open and one read take half of what a Python file costs.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = int(os.read(fd, 64))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        os.unlink(path)
    return pid


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _wait_for(pid: int, seconds: float, pidfd: int | None) -> None:
    """Give child ``pid`` ``seconds`` to exit (reaped), then kill it.

    Woken by its exit, through ``pidfd`` (its own made here if it has none): a look at it
    every 20 ms held the keeper's exit up to 20 ms past the logger's, for nothing. Without a
    pidfd to be had (no fd left), it is looked at so."""
    own = None
    if pidfd is None:
        with contextlib.suppress(OSError):
            pidfd = own = os.pidfd_open(pid)
    try:
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(seconds * 1000)  # readable once it exited (a signal does not end it)
        else:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not _reaped(pid):
                time.sleep(0.02)
        if not _reaped(pid):
            _kill(pid)
    finally:
        if own is not None:
            os.close(own)


def _reaped(pid: int) -> bool:
    """Child ``pid`` exited, and is reaped now (or was already)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


__all__ = ["HANDOVER_EXIT", "LOGGER_MODULE", "Keeper"]
