"""What every container shares with the supervisor: the runtime, the keeper, the journal, the
event bus, and the supervisor's hooks for what a container cannot do alone (its removal, its
restart).

Apart from :class:`.Container`: it is made once, by the supervisor, and read by every
container; nothing in it changes with one container's life.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .. import timestamps
from ..cgroups import CgroupPlace
from ..events import EventBus
from ..keeperlink import KeeperLink
from ..metrics import Metrics
from ..process import ProcessTable
from ..records import RecordJournal
from ..runtime import Runc

if TYPE_CHECKING:
    from ._container import Container


@attrs.frozen
class ContainerContext:
    """What every container shares with the supervisor."""

    runtime: Runc
    keeper: KeeperLink
    processes: ProcessTable
    events: EventBus
    metrics: Metrics
    log_max_bytes: int
    journal: RecordJournal
    #: Where runc writes the pid files (one flat directory: no directory per container).
    pid_dir: Path
    #: Bound on shielded clean-up work (rollbacks, stops at shutdown).
    cleanup_timeout: float
    #: Where runc hands over new terminals (see :mod:`containerd_trio.console`).
    console_dir: Path
    #: Deadline of a checkpoint that no request gave one (a migration's dumps).
    checkpoint_timeout: float
    #: Told of a container started with autoRemove whose init has exited (marked being
    #: deleted by then): the supervisor removes it.
    remove_exited: Callable[[Container], None]
    #: Told of a container adopted in the delete its last server died in
    #: (:meth:`Container.delete_left`), with the seconds left of that delete's grace: the
    #: supervisor finishes it.
    delete_left: Callable[[Container, float], None]
    #: Told of a container adopted in its user's stop that its last server died in, during
    #: the stop's grace (:meth:`Container.stop_left`), with the seconds left of that grace:
    #: the supervisor sends the stop's SIGKILL once they have passed, unless it exited.
    stop_left: Callable[[Container, float], None]
    #: Told of a container with a restart policy whose init has exited (it is stopped, and
    #: saved so): the supervisor starts it again if the policy says so.
    restart_exited: Callable[[Container], None]
    #: Whether :attr:`restart_exited` will make a restart due for this stopped container,
    #: asked as its exit is published (the exit says so).
    restart_due: Callable[[Container], bool]
    #: Where runc puts the containers' cgroups, to refuse a start into one that holds
    #: another's processes (None: no hierarchy known).
    cgroup_place: CgroupPlace | None = None
    #: Numbers for process keys; the server's start time keeps them apart from an earlier
    #: server's keys that the keeper may still hold.
    _serial: Iterator[int] = attrs.field(factory=lambda: itertools.count(timestamps.now_ns()))

    def new_key(self, container_id: str, kind: str) -> str:
        return f"{container_id}/{kind}-{next(self._serial)}"

    def console_socket(self, key: str) -> str:
        """A path for the console socket of the process ``key`` names: short, and unique as
        the key's serial number is."""
        # Made again if need be: a second daemon on the state dir may have removed it.
        self.console_dir.mkdir(mode=0o700, exist_ok=True)
        return str(self.console_dir / key.rpartition("-")[2])
