"""One container: its runc lifecycle, the task tree that watches it, and what it is made with.

The package's surface is what the supervisor, the adoption, attach and the migration use (the
names below); each concern is a private module of its own, so that a change finds its room:

- :mod:`._container`: :class:`Container`, the container's state and the surface the rest of
  the daemon calls (start, restore, adopt, exec, pause, update, checkpoint, stop, delete), its
  views and record, the task tree that watches its processes; the steps of each concern are
  the modules below, which it delegates to;
- :mod:`._context`: :class:`ContainerContext`, what every container shares with the
  supervisor;
- :mod:`._starting`: a container's launch: its init's start (run or restore), undone if it
  fails, or its adoption;
- :mod:`._launches`: what a launch is asked to do (:data:`Launch`: :class:`Fresh`,
  :class:`Changed`, :class:`Restore`, :class:`Adopt`);
- :mod:`._exec`: a process exec'd into a running container;
- :mod:`._watching`: the watch of a container's process: its exit, reported once its output
  is in, and what an init's exit does to the container;
- :mod:`._waits`: the waits on a container (a process's exit, its init's, its removal), and
  :class:`Removal`, what the waiters for its removal wait on;
- :mod:`._exits`: the exits a container remembers of its processes, for the waits that come
  after them (:class:`~._exits.ExitBook`);
- :mod:`._pausing`: a container's pause and resume, as the daemon asks them and as runc says
  they are;
- :mod:`._checkpointing`: a container's checkpoint, and what refuses one (processes a dump
  would lose or a restore could not give back);
- :mod:`._dumping`: :class:`~._dumping.DumpGuard`, a container's dump under way (a
  checkpoint's, a migration's) and what ends it: a SIGKILL to the init, a delete's grace;
- :mod:`._deletion`: a container's end: its stop, its delete, its removal for a start of its
  id that replaces it;
- :mod:`._updates`: a change of a container's cgroup limits, running or stopped
  (:func:`~._updates.update_resources`);
- :mod:`._moving`: :class:`Moving`, a container held for a live migration, the steps the
  migration takes on it;
- :mod:`._sessions`: the attach sessions following a container's output, which an
  auto-removal lets finish (:class:`~._sessions.AttachSessions`);
- :mod:`._documents`: OCI process documents (:func:`process_info`, what an exec runs);
- :mod:`._stdin`: a process's stdin pipe, and whether a checkpointed init read one;
- :mod:`._directories`: a container's directory, and a replaced container's set aside (and
  put back).
"""

from __future__ import annotations

from ._container import Container
from ._context import ContainerContext
from ._deletion import NotAtRest
from ._directories import (
    put_back_directory,
    remove_directory,
    replaced_directory,
    sweep_replaced,
)
from ._documents import process_info
from ._exits import moved_exit
from ._launches import Adopt, Changed, Fresh, Launch, Restore
from ._moving import Moving
from ._waits import Removal

__all__ = [
    "Adopt",
    "Changed",
    "Container",
    "ContainerContext",
    "Fresh",
    "Launch",
    "Moving",
    "NotAtRest",
    "Removal",
    "Restore",
    "moved_exit",
    "process_info",
    "put_back_directory",
    "remove_directory",
    "replaced_directory",
    "sweep_replaced",
]
