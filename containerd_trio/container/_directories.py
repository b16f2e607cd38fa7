"""A container's directory on disk: its removal, and where a stopped container's waits while a
start of its id replaces it.

Apart from :class:`.Container`: the supervisor and the adoption name these paths too (a server
that died during a replacing start leaves one aside for the next to sweep).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..mounts import remove_tree


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
