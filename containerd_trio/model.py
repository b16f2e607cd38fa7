"""The daemon's answers as plain data: what a container and its processes look like to clients.

These are snapshots, built from the live objects in :mod:`container` when asked for; they are
what the API returns and what :mod:`records` keeps on disk.
"""

from __future__ import annotations

import enum

import attrs

from .convert import camel


class Status(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


_MAX_ID = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel


def _id_in_range(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= _MAX_ID:
        raise ValueError(f"{camel(attribute.name)} must be between 0 and {_MAX_ID}, not {value}")


def _ids_in_range(
    _: object, attribute: attrs.Attribute[list[int] | None], value: list[int] | None
) -> None:
    for gid in value or ():
        if not 0 <= gid <= _MAX_ID:
            raise ValueError(
                f"{camel(attribute.name)} must hold ids between 0 and {_MAX_ID}, not {gid}"
            )


@attrs.frozen
class User:
    uid: int = attrs.field(default=0, validator=_id_in_range)
    gid: int = attrs.field(default=0, validator=_id_in_range)
    additional_gids: list[int] | None = attrs.field(default=None, validator=_ids_in_range)


@attrs.frozen
class ProcessSpec:
    """An OCI process to start in a container; what is left out is taken from the bundle."""

    args: list[str]
    env: list[str] | None = None
    cwd: str | None = None
    user: User | None = None
    terminal: bool = False


@attrs.frozen
class ProcessInfo:
    pid: int
    args: list[str]
    user: User
    terminal: bool
    env: list[str]
    cwd: str


@attrs.frozen
class ContainerState:
    status: Status
    exit_status: int | None = None


@attrs.frozen
class ContainerInfo:
    id: str
    bundle_path: str
    state: ContainerState
    processes: list[ProcessInfo]
    created_at: str
    labels: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class MachineInfo:
    cpus: int
    memory: int


@attrs.frozen
class DaemonState:
    containers: list[ContainerInfo]
    machine: MachineInfo
