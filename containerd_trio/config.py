"""The daemon's settings and its command line.

``containerd-trio [--listen HOST:PORT | --listen unix:PATH] [--state-dir DIR] [--runtime PATH]
[--criu PATH] [--runtime-timeout SECONDS] [--log-level LEVEL] ...``
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from . import __version__

# Listen lives in a module of its own, light enough for the client to import; kept here too.
from .listen import Listen as Listen

#: The largest request body the API takes unless ``--max-body-bytes`` says otherwise (the
#: bound of a checkpoint's labels too: :data:`.validation.MAX_LABELS_BYTES`).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

DEFAULT_LISTEN = "127.0.0.1:8888"
DEFAULT_STATE_DIR = Path("/var/lib/containerd-trio")


def default_criu() -> str:
    """The CRIU that ``make install`` provided: the venv's wrapper first, then the system's
    (the bare name if there is none: the daemon then refuses to start, saying so)."""
    beside = Path(sys.prefix) / "bin" / "criu"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("criu") or "criu"


@attrs.frozen
class DaemonConfig:
    listen: Listen = attrs.Factory(lambda: Listen.parse(DEFAULT_LISTEN))
    state_dir: Path = DEFAULT_STATE_DIR
    runtime: str = "runc"
    criu: str | None = attrs.Factory(default_criu)
    #: Deadline of every runc call, in seconds...
    runtime_timeout: float = 30.0
    #: ...but a checkpoint's or a restore's, whose time grows with the container's memory (a
    #: request may set its own).
    checkpoint_timeout: float = 600.0
    #: How many runc processes may run at once (more only thrash the CPUs).
    runtime_concurrency: int = attrs.Factory(lambda: max(2, 2 * (os.cpu_count() or 1)))
    log_level: str = "info"
    keep_containers: bool = False
    #: At a graceful stop, stop the containers and keep them, stopped, for the next daemon,
    #: which starts again those whose restart policy says so (docker's daemon stop).
    stop_containers: bool = False
    #: Grace between the stop signal and SIGKILL when the daemon stops its containers at
    #: shutdown, for those started without a stopTimeout (one with it gets its own).
    shutdown_timeout: float = 10.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_max_bytes: int = 16 * 1024 * 1024
    event_log_size: int = 10_000
    socket_group: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    insecure_tcp: bool = False
    #: How long an idle keep-alive connection stays open; a connection its client closed is
    #: let go within that time too (Hypercorn holds it until its keep-alive timer runs out).
    #: No option sets it: the tests shorten it, so as not to wait out 5 s of it.
    keep_alive_timeout: float = 5.0

    @property
    def runc_root(self) -> Path:
        return self.state_dir / "runc"

    @property
    def containers_dir(self) -> Path:
        return self.state_dir / "containers"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "containers.journal"

    @property
    def pid_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def migrations_dir(self) -> Path:
        """The target's open migration sessions (see migration/ledger.py)."""
        return self.state_dir / "migrations"

    @property
    def outgoing_dir(self) -> Path:
        """The source's moves under way (see migration/ledger.py)."""
        return self.state_dir / "outgoing"

    @property
    def events_path(self) -> Path:
        return self.state_dir / "events.log"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _positive(kind: type[float] | type[int]) -> argparse._ActionType:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            # Let out, argparse said "invalid parse value: 'abc'": this function's name.
            number = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(
                f"must be {number} greater than 0, not {text!r}"
            ) from None
        # float() takes "nan" and "inf": NaN passes the "<= 0" test and trio's deadlines then
        # refuse it with a traceback; an infinite deadline is none, which these options are not.
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, not {text}")
        return value

    return parse


def _listen(text: str) -> Listen:
    try:
        return Listen.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    defaults = DaemonConfig()
    parser = argparse.ArgumentParser(
        prog="containerd-trio",
        description="A container daemon on Trio: runc containers behind a REST API.",
        allow_abbrev=False,  # as ctr-trio: an option is named whole (--list is not --listen)
    )
    add = parser.add_argument
    add("--version", action="version", version=f"%(prog)s {__version__}")
    add(
        "--listen",
        type=_listen,
        default=defaults.listen,
        metavar="HOST:PORT|unix:PATH",
        help=f"where to serve the API (default {DEFAULT_LISTEN})",
    )
    add(
        "--state-dir",
        type=Path,
        default=defaults.state_dir,
        metavar="DIR",
        help=f"records, logs, events and runc's root (default {DEFAULT_STATE_DIR})",
    )
    add(
        "--runtime", default=defaults.runtime, metavar="PATH", help="the runc binary (default runc)"
    )
    add(
        "--criu",
        default=defaults.criu,
        metavar="PATH",
        help=f"the CRIU binary runc uses for checkpoints (default {defaults.criu}); none: run"
        " without checkpoints",
    )
    add(
        "--runtime-timeout",
        type=_positive(float),
        default=defaults.runtime_timeout,
        metavar="SECONDS",
        help="deadline of every runc call (default %(default)s)",
    )
    add(
        "--checkpoint-timeout",
        type=_positive(float),
        default=defaults.checkpoint_timeout,
        metavar="SECONDS",
        help="deadline of a checkpoint or a restore unless the request sets one (default"
        " %(default)s)",
    )
    add(
        "--runtime-concurrency",
        type=_positive(int),
        default=defaults.runtime_concurrency,
        metavar="N",
        help="runc processes running at once at most (default %(default)s)",
    )
    add(
        "--log-level",
        default=defaults.log_level,
        choices=["debug", "info", "warning", "error"],
        help="(default %(default)s)",
    )
    add(
        "--keep-containers",
        action="store_true",
        help="leave containers running when the daemon stops (a restart adopts them)",
    )
    add(
        "--stop-containers",
        action="store_true",
        help="stop containers when the daemon stops and keep them, stopped (the next daemon "
        "starts again those whose restart policy says so, as docker's daemon does)",
    )
    add(
        "--shutdown-timeout",
        type=_positive(float),
        default=defaults.shutdown_timeout,
        metavar="SECONDS",
        help="grace between the stop signal and SIGKILL at shutdown for a container started"
        " without a stop timeout; one with it gets its own, as docker's (default %(default)s)",
    )
    add(
        "--max-body-bytes",
        type=_positive(int),
        default=defaults.max_body_bytes,
        metavar="BYTES",
        help="largest request body accepted; larger ones get 413 (default %(default)s)",
    )
    add(
        "--event-log-size",
        type=_positive(int),
        default=defaults.event_log_size,
        metavar="N",
        help="events kept for ?since= replay, in memory and in events.log (default %(default)s)",
    )
    add(
        "--log-max-bytes",
        type=_positive(int),
        default=defaults.log_max_bytes,
        metavar="BYTES",
        help="size at which a container's log is rotated (default %(default)s)",
    )
    add(
        "--socket-group",
        metavar="GROUP",
        help="admit this group's members as well as root: a unix socket is made 0660 and owned"
        " by it; on a loopback TCP address the client's uid is checked (default: root only)",
    )
    add("--tls-cert", type=Path, metavar="FILE", help="serve TCP over TLS with this certificate")
    add("--tls-key", type=Path, metavar="FILE", help="the key of --tls-cert")
    add(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    add(
        "--insecure-tcp",
        action="store_true",
        help="allow plain TCP on a non-loopback address (anyone who reaches it is root here)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> DaemonConfig:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if (ns.tls_cert is None) != (ns.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if ns.keep_containers and ns.stop_containers:
        parser.error(
            "--keep-containers and --stop-containers do not go together: the one "
            "leaves the containers running, the other stops them"
        )
    if ns.tls_client_ca is not None and ns.tls_cert is None:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    if ns.socket_group is not None and not ns.listen.is_loopback:
        parser.error("--socket-group applies to a unix socket or a loopback address")
    return DaemonConfig(
        listen=ns.listen,
        state_dir=ns.state_dir.absolute(),
        runtime=ns.runtime,
        criu=None if ns.criu in ("none", "") else ns.criu,
        runtime_timeout=ns.runtime_timeout,
        checkpoint_timeout=ns.checkpoint_timeout,
        runtime_concurrency=ns.runtime_concurrency,
        log_level=ns.log_level,
        keep_containers=ns.keep_containers,
        stop_containers=ns.stop_containers,
        shutdown_timeout=ns.shutdown_timeout,
        max_body_bytes=ns.max_body_bytes,
        log_max_bytes=ns.log_max_bytes,
        event_log_size=ns.event_log_size,
        socket_group=ns.socket_group,
        tls_cert=ns.tls_cert,
        tls_key=ns.tls_key,
        tls_client_ca=ns.tls_client_ca,
        insecure_tcp=ns.insecure_tcp,
    )
