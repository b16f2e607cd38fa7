"""Checks made before anything starts, each failing in one line (the daemon then exits 1)."""

from __future__ import annotations

import shutil

from .config import DaemonConfig
from .errors import StartupError


def check_listen(config: DaemonConfig) -> None:
    if config.listen.is_loopback or config.tls or config.insecure_tcp:
        return
    raise StartupError(
        f"refusing plain TCP on {config.listen}, a non-loopback address: whoever reaches this"
        " API is root on this machine. Use --tls-cert/--tls-key (with --tls-client-ca for mutual"
        " TLS), a unix socket, a loopback address, or --insecure-tcp if you really mean it."
    )


def check_runtime(config: DaemonConfig) -> None:
    if shutil.which(config.runtime) is None:
        raise StartupError(
            f"the runtime binary {config.runtime!r} was not found: install runc (make install"
            " does) or pass --runtime PATH"
        )
    if config.criu is not None and shutil.which(config.criu) is None:
        raise StartupError(
            f"CRIU {config.criu!r} was not found or cannot run: install criu 4.x (make install"
            " does), pass --criu PATH, or --criu none to run without checkpoints"
        )
