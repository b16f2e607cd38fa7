"""The keeper: what makes containers outlive the daemon's server.

The daemon is three processes::

    containerd-trio          the keeper: child subreaper, holds the pipes, the exits, the socket
      ├─ server              Trio + Hypercorn: the API, the supervisor, runc's other commands
      ├─ logger              copies container output into the logs, at a lower CPU priority
      └─ container processes (runc's orphans: their parent is the keeper)

The keeper never does anything complicated, so that it has no reason to die: it runs the runc
commands that create container processes (``run``, ``exec``, ``restore``) on the server's
behalf, so those processes are its descendants and, once runc exits, its children; it makes
their stdio pipes and keeps the reading ends (and a stdin pipe's writing end, and a terminal's
master); it reaps them and keeps their exit status and time until the server has recorded
them; and it holds the API's listening socket. When the server dies (a crash, ``kill -9``, the
OOM killer), nothing a container has is lost: the pipes keep their readers (no SIGPIPE, and the
logger goes on writing their output), exits wait in the keeper, new connections wait in the
socket's backlog, and the keeper starts a new server at once, which the keeper "welcomes" with
everything it holds. A live upgrade (``SIGHUP`` to the keeper, or ``ctr-trio daemon reload``)
is the same hand-over, with the new server started before the old one stops; the logger is
replaced too, once it has written what it read.

The logger is the keeper's child too, and is restarted like the server; the keeper holds the
pipes while it is gone. Only the keeper itself cannot be replaced: ``kill -9`` of the keeper
costs what a crash of the whole daemon cost before (docs/reliability.md).

Tests run the server in their own process; it then starts a keeper of its own as its child
(``python -m containerd_trio.keeper``), which works the same way for the containers.
"""

from __future__ import annotations

from ._keeper import HANDOVER_EXIT, LOGGER_MODULE, Keeper
from ._wire import STOP_ON_LINK

__all__ = ["HANDOVER_EXIT", "LOGGER_MODULE", "STOP_ON_LINK", "Keeper"]
