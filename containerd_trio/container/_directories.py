"""A container's directory on disk: its removal, and where a stopped container's waits while a
start of its id replaces it (and its return if that start fails).

Apart from :class:`.Container`: the supervisor and the adoption name these paths too (a server
that died during a replacing start leaves one aside for the next to sweep).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from .. import criu
from ..mounts import remove_tree
from ..restore_net import PRIVATE_BUNDLE_NAME

log = logging.getLogger("containerd_trio.container")


def replaced_directory(directory: Path) -> Path:
    """Where a replaced container's directory waits for the start that replaced it (an id
    never begins with a dot)."""
    return directory.with_name(f".{directory.name}.replaced")


def sweep_replaced(containers_dir: Path) -> None:
    """Remove what a server that died during a replacing start left aside."""
    with contextlib.suppress(FileNotFoundError), os.scandir(containers_dir) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(".replaced"):
                remove_directory(Path(entry.path))


def remove_directory(path: Path) -> None:
    """Remove a container's directory: a few flat files, and what a restore left (its CRIU
    work dir, its private bundle), never across a mount there (see :func:`remove_tree`)."""
    remove_tree(path)


def put_back_directory(directory: Path, container_id: str) -> None:
    """The directory of a stopped container that a start replaced, back in place after the
    start failed (or its server died): a fresh start moved it aside; a restore left it where
    it was (:meth:`.Container.put_back`)."""
    aside = replaced_directory(directory)
    if os.path.isdir(aside):
        remove_directory(directory)  # the failed start's, if its rollback left any
        try:
            os.rename(aside, directory)
        except OSError as exc:
            log.error("container %s: its log could not be put back: %s", container_id, exc)
    else:  # a restore's, which kept the log in place: what a dead server's restore left
        for leftover in (criu.RESTORE_WORK, PRIVATE_BUNDLE_NAME):
            remove_tree(directory / leftover)  # detaches the cgroup yard a killed CRIU left
