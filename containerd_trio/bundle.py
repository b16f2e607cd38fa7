"""OCI bundles: what the daemon reads of a bundle's ``config.json``.

runc reads the whole configuration itself; the daemon needs only a few facts of it: the
process (shown in listings, and the base of every exec'd process) and whether the container
has a memory limit (only then is an OOM watcher worth its fd and task).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class BundleConfig:
    """What the daemon reads of a bundle's config.json."""

    #: The OCI process object (shared between callers: never change it).
    process: dict[str, Any]
    #: Whether the container's cgroup has a memory limit: only then can it be killed for
    #: memory by its own cgroup, and only then is an OOM watcher worth its fd and task.
    memory_limited: bool


_UNREADABLE = BundleConfig(process={}, memory_limited=True)

#: config.json path -> (its identity when read, what was read). Containers started from one
#: bundle share the parse; a changed file (mtime, size or inode) is read again.
_bundle_configs: dict[str, tuple[tuple[int, int, int], BundleConfig]] = {}


def read_bundle(bundle: Path) -> BundleConfig:
    """What the daemon needs of the bundle's config.json.

    A broken config.json is runc's to report (its message is the one users know), so this never
    raises; what cannot be read is taken as empty, with a memory limit (so watched).
    """
    path = os.path.join(bundle, "config.json")
    try:
        info = os.stat(path)
        identity = (info.st_mtime_ns, info.st_size, info.st_ino)
        cached = _bundle_configs.get(path)
        if cached is not None and cached[0] == identity:
            return cached[1]
        with open(path, "rb") as config_file:
            config = json.loads(config_file.read())
    except (OSError, ValueError):
        return _UNREADABLE
    if not isinstance(config, dict):
        return _UNREADABLE
    memory = _object(_object(_object(config.get("linux")).get("resources")).get("memory"))
    facts = BundleConfig(
        process=dict(_object(config.get("process"))),
        memory_limited=bool(memory.get("limit")),
    )
    if len(_bundle_configs) >= 1024:
        _bundle_configs.clear()
    _bundle_configs[path] = (identity, facts)
    return facts


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_bundle_process(bundle: Path) -> dict[str, Any]:
    """The ``process`` object of the bundle's config.json ({} if it cannot be read)."""
    return read_bundle(bundle).process
