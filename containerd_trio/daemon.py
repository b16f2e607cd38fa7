"""``containerd-trio``: the daemon's entry, which becomes the keeper.

It checks what it can before anything starts (each failure one line, exit 1): the listen
address's policy, runc and CRIU, the TLS certificate and key, the state dir (writable, and not
in use by another daemon: an exclusive lock held for the daemon's life), and the listening
socket itself (the port is free, the socket path is not served by a live daemon). Then it
becomes the child subreaper, asks the kernel's OOM killer to spare it, and runs the keeper,
which runs the server and the logger (see :mod:`containerd_trio.keeper`).

Only light modules are imported here: the keeper starts in a few hundredths of a second and
holds no more memory than it needs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from . import statedir
from .config import parse_args
from .errors import StartupError
from .host import (
    KEEPER_OOM_SCORE,
    become_subreaper,
    exit_now,
    oom_score_adj,
    protect_from_oom_killer,
    raise_fd_limit,
)
from .keeper import Keeper
from .listener import open_listener
from .logfmt import setup_logging
from .startup import check_listen, check_runtime, check_tls

log = logging.getLogger("containerd_trio.keeper")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    config = parse_args(args)
    setup_logging(config.log_level)
    os.umask(0o077)  # records, logs and the event log are the daemon's own
    try:
        check_listen(config)
        check_runtime(config)
        check_tls(config)
        made = statedir.prepare(config.state_dir, config.containers_dir)
        lock = statedir.lock(config.state_dir)
        try:
            listener = open_listener(config.listen, socket_group=config.socket_group)
        except StartupError:
            statedir.unmake(config.state_dir, made)
            os.close(lock)
            raise
        become_subreaper()
    except StartupError as exc:
        log.error("%s", exc)
        sys.exit(1)
    raise_fd_limit()
    # The keeper is spared by the OOM killer; the containers are not. Like Docker's, they get
    # 0 (unless their bundle sets a score): never a negative score the daemon was started
    # with (a unit's OOMScoreAdjust=-500, say), and never one below a positive one it had.
    started_with = protect_from_oom_killer()
    if (kept := oom_score_adj()) != KEEPER_OOM_SCORE:
        # Said, as containerd says it: the keeper dying for memory takes every pipe with it.
        log.warning(
            "cannot lower the keeper's OOM score to %d, it stays %s (that needs"
            " CAP_SYS_RESOURCE): the OOM killer may pick the keeper", KEEPER_OOM_SCORE, kept,
        )  # fmt: skip
    container_oom_score = None if started_with is None else max(started_with, 0)
    try:
        keeper = Keeper(
            server_argv=args, listen=listener.sock, child_oom_score_adj=container_oom_score
        )
        code = keeper.run()
    finally:
        listener.close()
        os.close(lock)
    exit_now(code)  # the socket closed (and removed), the lock let go, every child reaped
