"""The server: the supervisor and the HTTP API, in Trio. The keeper runs it (see
:mod:`containerd_trio.keeper`); tests and other embeddings run :class:`Daemon` in-process,
and it then starts a keeper of its own.

Shutdown (SIGTERM or SIGINT) runs in this order: answer every new request with a retryable
503 (new connections are still accepted, and those open still read), let the commands under
way finish; stop every container (SIGTERM, a grace period, SIGKILL) and delete it from runc,
unless ``--keep-containers``; end the event and log streams (each answer whole) and answer the
waits still under way 503; stop accepting, and let the connections finish their answers;
exit 0.

A hand-over (the keeper asks, during a live upgrade) is a shutdown that keeps the containers
and stops accepting at once (new connections wait for the next server in the keeper's
socket): new requests get a retryable 503, commands under way finish, then the server exits
with :data:`~containerd_trio.keeper.HANDOVER_EXIT` and the new server takes over.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import ssl
import stat
import sys
from collections.abc import Sequence
from functools import partial

import hypercorn.trio
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets

from . import __version__, statedir
from .api.access import admission_for
from .api.app import create_app
from .api.connections import Admits, close_every_connection, patch_hypercorn
from .config import DaemonConfig, parse_args
from .errors import StartupError
from .events import EventBus
from .host import die_with_parent, raise_fd_limit
from .keeper import HANDOVER_EXIT, STOP_ON_LINK
from .keeperlink import KeeperLink, Welcome
from .logfmt import setup_logging
from .metrics import Metrics
from .runtime import Runc
from .spawn import inherited
from .startup import check_listen, check_runtime, check_tls
from .supervisor import Supervisor

log = logging.getLogger("containerd_trio.server")

#: The largest WebSocket message the server takes (a larger one closes the socket, 1009).
WEBSOCKET_MAX_MESSAGE = 1 << 20

#: How long a stop lets open connections finish their answers (Hypercorn's graceful timeout).
GRACEFUL_SECONDS = 5.0


class _HypercornConfig(HypercornConfig):
    """Hypercorn's config, whose listening sockets no child of the server inherits.

    Hypercorn makes each inheritable (for workers of its own, which this server never
    starts), the one the keeper passed as well: every runc and CRIU would hold it, and a
    CRIU dump that outlived a killed daemon kept its address taken from the next one."""

    #: The listener's uid rule, if it has one (api/connections.py tells by it whose
    #: connections may be closed to make room for others).
    connection_admits: Admits | None = None

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets):
            sock.set_inheritable(False)
        return sockets


def hypercorn_config(config: DaemonConfig, listen_fd: int | None) -> HypercornConfig:
    hc = _HypercornConfig()
    hc.bind = [f"fd://{listen_fd}" if listen_fd is not None else config.listen.hypercorn_bind()]
    hc.accesslog = (
        logging.getLogger("containerd_trio.access") if config.log_level == "debug" else None
    )
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = GRACEFUL_SECONDS
    hc.include_server_header = False
    hc.backlog = 1024
    # Hypercorn closes a keep-alive connection after 1000 requests by default, and its close can
    # race the last answer's send (trio.BusyResourceError in its log): a client of this API keeps
    # its connection as long as it likes.
    hc.keep_alive_max_requests = 2**62
    hc.keep_alive_timeout = config.keep_alive_timeout
    admission = admission_for(config)
    hc.connection_admits = admission.admits if admission is not None else None
    hc.alpn_protocols = ["http/1.1"]  # the API is HTTP/1.1 only (api/connections.py)
    # An attach's messages are keystrokes, stdin chunks (ctr-trio's are 64 KiB at most) and
    # resizes; Hypercorn's 16 MiB let one connection queue hundreds of MiB of input.
    hc.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE
    if config.listen.unix_path is not None and listen_fd is None:
        # Embedded: Hypercorn makes the socket (the keeper makes it otherwise; listener.py).
        from .listener import socket_permissions

        hc.umask, group = socket_permissions(config.socket_group)
        if group is not None:
            hc.user = os.getuid()
            hc.group = group
    if config.tls:
        hc.certfile = str(config.tls_cert)
        hc.keyfile = str(config.tls_key)
        if config.tls_client_ca is not None:
            hc.ca_certs = str(config.tls_client_ca)
            hc.verify_mode = ssl.CERT_REQUIRED
    return hc


class Daemon:
    """The running server. :meth:`run` serves until :meth:`request_stop` or a signal."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.events: EventBus | None = None
        self.supervisor: Supervisor | None = None
        self.keeper: KeeperLink | None = None
        #: What the server listens on, as hypercorn reports it ("http://127.0.0.1:8888").
        self.binds: list[str] = []
        self.handed_over = False
        #: What the keeper held when this server started (its pid, its logger's).
        self.welcome: Welcome | None = None
        self._stop = trio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def _handover(self) -> None:
        log.info("handing over to a new server")
        self.handed_over = True
        self._stop.set()

    async def run(
        self,
        *,
        handle_signals: bool = False,
        keeper_fd: int | None = None,
        listen_fd: int | None = None,
        task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
    ) -> int:
        """Serve; return the process's exit status (0, or HANDOVER_EXIT after a hand-over)."""
        config = self.config
        lock = None
        if keeper_fd is None:
            # Nobody set up the host for us: do what the keeper's process does first.
            check_listen(config)
            check_runtime(config)
            check_tls(config)
            statedir.prepare(config.state_dir, config.containers_dir)
            lock = statedir.lock(config.state_dir)
        raise_fd_limit()
        keeper = self.keeper = (
            KeeperLink.inherit(keeper_fd) if keeper_fd is not None else KeeperLink.start_keeper()
        )
        try:
            return await self._serve(keeper, handle_signals, listen_fd, task_status)
        finally:
            await keeper.aclose()
            if lock is not None:
                os.close(lock)
            if listen_fd is None and config.listen.unix_path is not None:
                # Hypercorn leaves the socket file behind; a client would find a dead socket.
                with contextlib.suppress(OSError):
                    if stat.S_ISSOCK(os.lstat(config.listen.unix_path).st_mode):
                        os.unlink(config.listen.unix_path)

    async def _serve(
        self,
        keeper: KeeperLink,
        handle_signals: bool,
        listen_fd: int | None,
        task_status: trio.TaskStatus[Daemon],
    ) -> int:
        config = self.config
        welcome = self.welcome = await keeper.hello()
        self.metrics.watch_helpers(keeper=welcome.keeper_pid, logger=welcome.logger_pid)
        events = self.events = EventBus(config.events_path, capacity=config.event_log_size)
        self.metrics.subscribers.set_function(lambda: events.subscriber_count)
        runtime = Runc(
            binary=config.runtime,
            root=config.runc_root,
            criu=config.criu,
            timeout=config.runtime_timeout,
            concurrency=config.runtime_concurrency,
            observer=self.metrics.observe_runtime_call,
            keeper=keeper,
        )
        supervisor = self.supervisor = Supervisor(
            config, runtime=runtime, events=events, metrics=self.metrics, keeper=keeper
        )
        supervisor.on_handover = self._handover
        supervisor.on_stop = self._signalled
        supervisor.logs_paused_before(welcome.paused_logs)
        app = create_app(supervisor, max_body_bytes=config.max_body_bytes)
        stop_serving = trio.Event()
        server_done = trio.Event()

        async def serve_http(*, task_status: trio.TaskStatus[list[str]]) -> None:
            patch_hypercorn()
            try:
                await hypercorn.trio.serve(
                    app,
                    hypercorn_config(config, listen_fd),
                    shutdown_trigger=stop_serving.wait,
                    task_status=task_status,
                )
            finally:
                server_done.set()

        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(supervisor.run, welcome)
                if handle_signals:
                    nursery.start_soon(self._watch_signals)
                try:
                    self.binds = await nursery.start(serve_http)
                except OSError as exc:
                    raise StartupError(f"cannot listen on {config.listen}: {exc}") from None
                keeper.ready()
                log.info(
                    "containerd-trio %s serving on %s (state dir %s)",
                    __version__,
                    " ".join(self.binds),
                    config.state_dir,
                )
                # What start-up made lives as long as the daemon: keep it out of every
                # collection, and collect the young less often (a request makes many objects).
                gc.freeze()
                gc.set_threshold(20_000, 50, 100)
                task_status.started(self)
                await self._stop.wait()
                log.info("handing over" if self.handed_over else "shutting down")
                grace_ends: float | None = None
                if self.handed_over:
                    # Stop accepting at once: new connections wait in the listening socket's
                    # backlog (the keeper's) for the next server.
                    stop_serving.set()
                    grace_ends = trio.current_time() + GRACEFUL_SECONDS + 1
                # From here every new request is answered 503 (supervisor.stopping, see
                # FastRoutes); in a shutdown the server goes on accepting and reading the
                # connections open, so that a client sending a request now gets that answer,
                # not a connection reset or closed under it.
                await supervisor.shutdown(keep_containers=self.handed_over or None)
                # The streams end after the stop of the containers (a follower sees their
                # exits and deletes), each answer whole: a client tells the daemon's end of a
                # stream from a broken connection. Waits still under way get the 503.
                events.close()
                supervisor.log_watch.close()
                supervisor.end_waits()
                if grace_ends is None:
                    stop_serving.set()
                    grace_ends = trio.current_time() + GRACEFUL_SECONDS + 1
                # Hypercorn ends by itself within its graceful time (counted from
                # stop_serving), but for a client that does not read: that write is cut only
                # by closing the socket, which no cancel does. Past the grace (and a second
                # for Hypercorn's own end) close every socket, so that such a client holds
                # the stop no longer.
                with trio.move_on_at(grace_ends):
                    await server_done.wait()
                if not server_done.is_set():
                    close_every_connection()
                nursery.cancel_scope.cancel()
        finally:
            events.close()
        log.info("handed over" if self.handed_over else "stopped")
        return HANDOVER_EXIT if self.handed_over else 0

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                self._signalled(signum)

    def _signalled(self, signum: int) -> None:
        """SIGTERM or SIGINT, the server's own or passed on by its keeper: a stop; a second
        one ends the server at once."""
        if self._stop.is_set():
            log.warning("second %s: exiting at once", signal.Signals(signum).name)
            os._exit(1)
        log.info("received %s", signal.Signals(signum).name)
        self.request_stop()


def _ignore_signal(signum: int, frame: object) -> None:
    """A signal the keeper, not the server, answers (:func:`main`)."""


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m containerd_trio.server``: the server, as the keeper runs it."""
    config = parse_args(argv)
    setup_logging(config.log_level)
    os.umask(0o077)  # records, logs and the event log are the daemon's own
    keeper_fd = os.environ.pop("CONTAINERD_TRIO_KEEPER_FD", None)
    listen_fd = os.environ.pop("CONTAINERD_TRIO_LISTEN_FD", None)
    # A keeper of an older install (a live upgrade) signals its server to stop it: then the
    # server answers its signals, as before (keeper._wire.STOP_ON_LINK).
    stops_on_link = os.environ.pop(STOP_ON_LINK, None) == "1" and keeper_fd is not None
    if keeper_fd is not None:
        die_with_parent()
        # The keeper passes the daemon's stop on (on their link): a signal sent to the server
        # as well (systemd's KillMode=control-group signals every process of the unit) counted
        # as a second one, which ends the server at once. A handler that does nothing, not
        # SIG_IGN, which the runc commands it runs would inherit.
        for signum in (signal.SIGTERM, signal.SIGINT) if stops_on_link else ():
            signal.signal(signum, _ignore_signal)
    daemon = Daemon(config)
    try:
        code = trio.run(
            partial(
                daemon.run,
                handle_signals=not stops_on_link,
                keeper_fd=inherited(int(keeper_fd)) if keeper_fd else None,
                # Close-on-exec from now on, as every fd of ours (the listening one again
                # once Hypercorn has it: _HypercornConfig).
                listen_fd=inherited(int(listen_fd)) if listen_fd else None,
            )
        )
    except StartupError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except BaseExceptionGroup as group:
        startup = group.subgroup(StartupError)
        if startup is None:
            raise
        # The error, not its group: it may sit in a nursery's group inside the run's (the
        # supervisor's adoption, say), whose name alone says nothing.
        first: BaseException = startup
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        log.error("%s", first)
        sys.exit(1)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
