"""The kinds of launch: what :meth:`.Container.launch` is asked to do, a fresh start (the bundle's
process, or another one or other limits laid over it), a restore from a checkpoint, or the
adoption of a container a server before this one left running.

Apart from :class:`.Container`: they are what the supervisor (and the adoption) decide before a
container is launched, read by the launch alone.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..bundle import BundleConfig
from ..model import Resources, StartProcess, Status
from ..process import Process


@attrs.frozen
class Fresh:
    """Start the bundle's process with ``runc run``; ``stdin``: keep its stdin open."""

    stdin: bool = False
    #: The bundle's config.json as the request checked it (read again if None).
    config: BundleConfig | None = None


@attrs.frozen
class Changed(Fresh):
    """A fresh start with limits of its own laid over the bundle's, or another process than
    the bundle's, or both (see :mod:`.private_bundle`). A class of its own, not fields of
    :class:`Fresh`: a frozen class's field costs every start (90 ns) where a changed start is
    the rare one."""

    resources: Resources | None = attrs.field(default=None, kw_only=True)
    #: The start's process as it was given (the record keeps it, for a start again) ...
    process: StartProcess | None = attrs.field(default=None, kw_only=True)
    #: ... and the bundle's process with it laid over (:func:`.private_bundle.process_over`):
    #: what runs, read once, by the supervisor's checks before the id was taken.
    document: dict[str, Any] | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class Restore:
    """Start from ``{bundle}/checkpoints/{name}`` with ``runc restore``, within ``deadline``
    seconds."""

    checkpoint: str
    deadline: float
    #: The cgroup to restore into instead of the bundle's (a migration's target: see
    #: :mod:`containerd_trio.restore_net`).
    cgroups_path: str | None = None
    stdin: bool = False
    #: The bundle's config.json as the request checked it (read again if None).
    config: BundleConfig | None = None
    #: What the start of the container that was dumped ran, kept for a start again (the
    #: restore runs what was checkpointed): the checkpoint's word, else the stopped
    #: container's it restores over, or the moved one's.
    process: StartProcess | None = None
    #: Whether ``process`` is the checkpoint's word (its None then says the bundle's ran).
    process_kept: bool = False
    #: A container that migrated here (a session's restore): another than a stopped one of
    #: its id that it replaces, whose log it does not continue.
    moved: bool = False
    #: The limits of the stopped container it restores over (its record's, an update made
    #: while it was stopped included), which it runs under instead of its checkpoint's, as
    #: docker's update of a stopped container is in force at its next start; None: the
    #: checkpoint's (no such container: deleted, the checkpoint imported, a move).
    resources: Resources | None = None


@attrs.frozen
class Adopt:
    """Watch a container that runc still runs, left by a server that died or handed over."""

    runc_status: Status
    #: Its processes, init first, as the supervisor rebuilt them from the record and the keeper.
    processes: list[Process]
    #: The OOM kills its record says were reported (``ContainerRecord.oom_kills``).
    oom_kills: int | None = None


Launch = Fresh | Restore | Adopt
