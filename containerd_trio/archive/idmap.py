"""A container's user namespace as ``docker cp`` sees owners through it.

A container with a user namespace names its files' owners by its own ids: its uid 0 is the
host's 100000 under ``linux.uidMappings`` ``[{containerID: 0, hostID: 100000, size: 65536}]``.
The daemon reads and writes the rootfs as the host, so a copy translates, as docker's does with
userns-remap (moby's ``idtools.IdentityMapping``): in, each entry's owner (the container's view)
is written as the host id it maps to, and an id the namespace does not map is refused (no host
id would show as it inside); out, each host owner is sent as the container sees it, an unmapped
one as the kernel shows it inside, the overflow id (65534).

The mapping is the kernel's while the container runs (its init's ``/proc/PID/uid_map`` and
``gid_map``: also a namespace the bundle joins by path), its bundle's ``config.json`` once it
has stopped (what its next start maps). A container in the host's user namespace has none
(:data:`None` everywhere here): owners go as they are, no translation at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import attrs

from ..errors import InvalidRequest
from ..validation import is_integer

#: What the kernel shows for an id its reader's namespace does not map (``overflowuid``,
#: ``overflowgid``), unless ``/proc/sys/kernel`` says otherwise.
OVERFLOW_ID = 65534
_FULL = 4294967295
#: The host's user namespace maps every id to itself: ``0 0 4294967295``.
_IDENTITY = (0, 0, _FULL)


@attrs.frozen
class IdRange:
    """``size`` ids from ``container`` in the namespace are the host's from ``host``."""

    container: int
    host: int
    size: int


def _to_host(ranges: Sequence[IdRange], value: int) -> int | None:
    for mapped in ranges:
        if mapped.container <= value < mapped.container + mapped.size:
            return mapped.host + value - mapped.container
    return None


def _to_container(ranges: Sequence[IdRange], value: int) -> int | None:
    for mapped in ranges:
        if mapped.host <= value < mapped.host + mapped.size:
            return mapped.container + value - mapped.host
    return None


def describe(ranges: Sequence[IdRange]) -> str:
    """``0-65535 as the host's 100000-165535``, each range so, for an error."""
    words = [
        f"{item.container}-{item.container + item.size - 1} as the host's"
        f" {item.host}-{item.host + item.size - 1}"
        for item in ranges
    ]
    return ", ".join(words) or "none"


@attrs.frozen
class IdMapping:
    """A user namespace's uid and gid mappings, and the ids the kernel shows for what they
    do not map."""

    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]
    overflow_uid: int = OVERFLOW_ID
    overflow_gid: int = OVERFLOW_ID

    def to_host(self, uid: int, gid: int) -> tuple[int | None, int | None]:
        """The host's ids for the container's ``uid`` and ``gid``; None for one unmapped."""
        return _to_host(self.uids, uid), _to_host(self.gids, gid)

    def to_container(self, uid: int, gid: int) -> tuple[int, int]:
        """The container's view of host ids: the overflow ids for what it does not map."""
        inside_uid = _to_container(self.uids, uid)
        inside_gid = _to_container(self.gids, gid)
        return (
            self.overflow_uid if inside_uid is None else inside_uid,
            self.overflow_gid if inside_gid is None else inside_gid,
        )


def _overflow(name: str) -> int:
    try:
        with open(f"/proc/sys/kernel/{name}", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return OVERFLOW_ID


def _mapping(uids: tuple[IdRange, ...], gids: tuple[IdRange, ...]) -> IdMapping | None:
    identity = (IdRange(*_IDENTITY),)
    if uids == identity and gids == identity:
        return None  # the host's own namespace: nothing to translate
    return IdMapping(uids, gids, _overflow("overflowuid"), _overflow("overflowgid"))


def parse_id_map(text: bytes) -> tuple[IdRange, ...]:
    """``/proc/PID/uid_map`` (or ``gid_map``), as the host reads it: ``INSIDE OUTSIDE COUNT``
    a line, the outside ids the host's."""
    ranges = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3:
            ranges.append(IdRange(*(int(field) for field in fields)))
    return tuple(ranges)


def from_process(process: int) -> IdMapping | None:
    """The mapping of the process whose ``/proc/PID`` directory ``process`` is (an fd: the
    caller checked it is the container's init); None in the host's namespace. OSError if the
    process ended meanwhile."""
    maps = []
    for name in ("uid_map", "gid_map"):
        with open(os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=process), "rb") as f:
            maps.append(parse_id_map(f.read()))
    return _mapping(maps[0], maps[1])


def from_config(config: dict[str, Any], where: str) -> IdMapping | None:
    """The mapping a bundle's ``config.json`` (read from ``where``) gives its container: its
    ``linux.uidMappings`` and ``gidMappings`` if ``linux.namespaces`` has a user namespace,
    else None (the host's). A namespace joined by ``path`` with no mappings of its own: None
    too, as what that namespace maps is the kernel's to say, and only while the container
    runs (then :func:`from_process` reads it). 400 for a mapping runc would not take either."""
    linux = config.get("linux")
    linux = linux if isinstance(linux, dict) else {}
    namespaces = linux.get("namespaces")
    users = [
        item
        for item in (namespaces if isinstance(namespaces, list) else [])
        if isinstance(item, dict) and item.get("type") == "user"
    ]
    if not users or (users[0].get("path") and not linux.get("uidMappings")):
        return None
    found = []
    for field in ("uidMappings", "gidMappings"):
        ranges = []
        items = linux.get(field) or []
        for item in items if isinstance(items, list) else [None]:
            values = [
                value
                for key in ("containerID", "hostID", "size")
                if isinstance(item, dict)
                and is_integer(value := item.get(key))
                and 0 <= value <= _FULL
            ]
            if len(values) != 3:
                raise InvalidRequest(
                    f"linux.{field} in {where} must be a list of objects with containerID,"
                    " hostID and size, each a number 0..4294967295"
                )
            ranges.append(IdRange(*values))
        found.append(tuple(ranges))
    return _mapping(found[0], found[1])
