"""One container: its runc lifecycle, the task tree that watches it, and what it is made with.

The package's surface is what the supervisor, the adoption, attach and the migration use; each
concern is a private module of its own:

- :mod:`._container`: :class:`Container`, the lifecycle itself (start, restore, adopt, exec,
  pause, update, checkpoint, stop, delete) and the task tree that watches its processes.
"""

from __future__ import annotations

from ._container import Container, Removal
from ._context import ContainerContext
from ._directories import remove_directory, replaced_directory, sweep_replaced
from ._documents import process_info
from ._launches import Adopt, Changed, Fresh, Launch, Restore
from ._moving import Moving

__all__ = [
    "Adopt",
    "Changed",
    "Container",
    "ContainerContext",
    "Fresh",
    "Launch",
    "Moving",
    "Removal",
    "Restore",
    "process_info",
    "remove_directory",
    "replaced_directory",
    "sweep_replaced",
]
