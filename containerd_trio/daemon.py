"""The daemon's entry: host set-up, the supervisor and the HTTP server, signals, shutdown.

Shutdown (SIGTERM or SIGINT) runs in this order: stop accepting connections; stop every
container (SIGTERM, a grace period, SIGKILL) and delete it from runc, unless
``--keep-containers``; end the event streams; let the server finish; exit 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import grp
import logging
import os
import resource
import shutil
import signal
import ssl
import stat
import sys
from collections.abc import Sequence
from functools import partial

import hypercorn.trio
import trio
from hypercorn.config import Config as HypercornConfig

from . import __version__
from .api.app import create_app
from .config import DaemonConfig, parse_args
from .errors import StartupError
from .events import EventBus
from .logfmt import setup_logging
from .metrics import Metrics
from .runtime import Runc
from .supervisor import Supervisor

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned container processes (runc exits after ``run -d``) are re-parented to us."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise StartupError(f"cannot become the child subreaper: {os.strerror(errno)}")


def raise_fd_limit() -> None:
    """Each container holds a pidfd and two pipes: a thousand of them need more than 1024 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def check_runtime(config: DaemonConfig) -> None:
    if shutil.which(config.runtime) is None:
        raise StartupError(
            f"the runtime binary {config.runtime!r} was not found: install runc (make install"
            " does) or pass --runtime PATH"
        )


def close_on_exec_everywhere() -> None:
    """Make every fd above stdio close-on-exec.

    Child programs (runc) are started with posix_spawn, which closes nothing but what is marked
    close-on-exec. Python marks its own fds so; Hypercorn marks its listening sockets
    inheritable (for its multi-process mode), which would hand them to every runc.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)


def prepare_state_dir(config: DaemonConfig) -> None:
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        config.containers_dir.mkdir(exist_ok=True, mode=0o700)
        probe = config.state_dir / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"the state dir {config.state_dir} is not writable: {exc}") from None


def check_listen(config: DaemonConfig) -> None:
    if config.listen.is_loopback or config.tls or config.insecure_tcp:
        return
    raise StartupError(
        f"refusing plain TCP on {config.listen}, a non-loopback address: whoever reaches this"
        " API is root on this machine. Use --tls-cert/--tls-key (with --tls-client-ca for mutual"
        " TLS), a unix socket, a loopback address, or --insecure-tcp if you really mean it."
    )


def hypercorn_config(config: DaemonConfig) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [config.listen.hypercorn_bind()]
    hc.accesslog = (
        logging.getLogger("containerd_trio.access") if config.log_level == "debug" else None
    )
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 5.0
    hc.include_server_header = False
    hc.backlog = 1024
    # Hypercorn closes a keep-alive connection after 1000 requests by default, and its close can
    # race the last answer's send (trio.BusyResourceError in its log): a client of this API keeps
    # its connection as long as it likes.
    hc.keep_alive_max_requests = 2**62
    if config.listen.unix_path is not None:
        if config.socket_group is not None:
            try:
                gid = grp.getgrnam(config.socket_group).gr_gid
            except KeyError:
                raise StartupError(
                    f"--socket-group: no group named {config.socket_group!r}"
                ) from None
            hc.umask = 0o117  # 0660
            hc.user = os.getuid()
            hc.group = gid
        else:
            hc.umask = 0o177  # 0600: root only
    if config.tls:
        hc.certfile = str(config.tls_cert)
        hc.keyfile = str(config.tls_key)
        if config.tls_client_ca is not None:
            hc.ca_certs = str(config.tls_client_ca)
            hc.verify_mode = ssl.CERT_REQUIRED
    return hc


class Daemon:
    """The running daemon. :meth:`run` serves until :meth:`request_stop` or a signal."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.events: EventBus | None = None
        self.supervisor: Supervisor | None = None
        #: What the server listens on, as hypercorn reports it ("http://127.0.0.1:8888").
        self.binds: list[str] = []
        self._stop = trio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(
        self,
        *,
        handle_signals: bool = False,
        task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        config = self.config
        check_listen(config)
        check_runtime(config)
        become_subreaper()
        raise_fd_limit()
        prepare_state_dir(config)
        events = self.events = EventBus(config.events_path, capacity=config.event_log_size)
        self.metrics.subscribers.set_function(lambda: events.subscriber_count)
        runtime = Runc(
            binary=config.runtime,
            root=config.runc_root,
            criu=config.criu,
            timeout=config.runtime_timeout,
            concurrency=config.runtime_concurrency,
            observer=self.metrics.observe_runtime_call,
        )
        supervisor = self.supervisor = Supervisor(
            config, runtime=runtime, events=events, metrics=self.metrics
        )
        app = create_app(supervisor, max_body_bytes=config.max_body_bytes)
        stop_serving = trio.Event()
        server_done = trio.Event()

        async def serve_http(*, task_status: trio.TaskStatus[list[str]]) -> None:
            try:
                await hypercorn.trio.serve(
                    app,
                    hypercorn_config(config),
                    shutdown_trigger=stop_serving.wait,
                    task_status=task_status,
                )
            finally:
                server_done.set()

        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(supervisor.run)
                if handle_signals:
                    nursery.start_soon(self._watch_signals)
                try:
                    self.binds = await nursery.start(serve_http)
                except OSError as exc:
                    raise StartupError(f"cannot listen on {config.listen}: {exc}") from None
                close_on_exec_everywhere()
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
                log.info("shutting down")
                stop_serving.set()
                await supervisor.shutdown()
                events.close()
                with trio.move_on_after(10):
                    await server_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            events.close()
            if config.listen.unix_path is not None:
                # Hypercorn leaves the socket file behind; a client would find a dead socket.
                with contextlib.suppress(OSError):
                    if stat.S_ISSOCK(os.lstat(config.listen.unix_path).st_mode):
                        os.unlink(config.listen.unix_path)
        log.info("stopped")

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if self._stop.is_set():
                    log.warning("second %s: exiting at once", signal.Signals(signum).name)
                    os._exit(1)
                log.info("received %s", signal.Signals(signum).name)
                self.request_stop()


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    setup_logging(config.log_level)
    os.umask(0o077)  # records, logs and the event log are the daemon's own
    try:
        trio.run(partial(Daemon(config).run, handle_signals=True))
    except StartupError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except BaseExceptionGroup as group:
        startup = group.subgroup(StartupError)
        if startup is None:
            raise
        log.error("%s", startup.exceptions[0])
        sys.exit(1)
    sys.exit(0)
