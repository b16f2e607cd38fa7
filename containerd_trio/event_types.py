"""The types of the events the daemon publishes (:mod:`.events`), and the words of theirs the
client reads too, in a module of their own.

It imports nothing: ``ctr-trio events`` reads the names for the width of its type column, and
``ctr-trio wait`` the status of an unknown exit; the client loads nothing of the daemon's (Trio,
attrs) for that.
"""

from __future__ import annotations

EVENT_TYPES = (
    "start-container",
    "start-process",
    "exit",
    "pause",
    "resume",
    "checkpoint",
    "restore",
    "delete",
    "oom",
    "log-paused",
    "log-resumed",
    "update",
    # A restart waiting out its policy's delay called off (restarts.py): the container stays
    # stopped, unless a delete or a start of the id called it off; or its start failed.
    "restart-cancelled",
    "restart-failed",
    # A checkpoint's and a restore's course, with sizes and times (criu_progress.py).
    "checkpoint-started",
    "checkpoint-progress",
    "checkpoint-done",
    "checkpoint-failed",
    "restore-started",
    "restore-done",
    "restore-failed",
    # The daemon's own, of no container (its id is empty): it begins its stop. Sent to the
    # live streams only, never kept nor replayed: it says what is happening now.
    "daemon-stopping",
)

#: The event a stopping daemon sends as its stop begins (a shutdown, not a reload's
#: hand-over): from then on it answers new requests 503, stops and deletes its containers (or
#: leaves them running, --keep-containers), and ends the streams whole. Its ``id`` is
#: :data:`DAEMON_EVENT_ID`; it is not kept, so no replay has it.
DAEMON_STOPPING = "daemon-stopping"

#: The ``id`` of an event of the daemon's own (:data:`DAEMON_STOPPING`): no container's (an id
#: is never empty), so an ``id`` or ``label`` filter leaves it out.
DAEMON_EVENT_ID = ""

#: The status of an ``exit`` whose process's own status cannot be known: it vanished while no
#: keeper held it. Docker uses 255 likewise.
UNKNOWN_EXIT_STATUS = 255

#: The field an ``exit`` of a container's init carries, true (left out of another process's):
#: the container stopped, docker's ``die``, where an exec'd process's exit is its ``exec_die``.
#: ``ctr-trio events -f event=die`` keeps these.
INIT_EXIT_FIELD = "init"

#: The field an init's ``exit`` also carries, true, when its restart policy starts the
#: container again once its delay has passed (listed ``restarting`` from then on): a watcher
#: shows it restarting at once, where the exit alone said stopped until it read it again.
RESTARTING_FIELD = "restarting"

#: The field an init's ``exit`` also carries, true, when the container did not end but moved
#: to another daemon (its frozen copy here killed once the target kept it): not docker's
#: ``die``, which ``ctr-trio events -f event=die`` leaves it out of.
MOVED_EXIT_FIELD = "moved"

#: The field a ``delete`` carries, true, when autoRemove removed the container at its init's
#: exit (docker run --rm's), not its user: a server that starts takes the memory of those
#: removals up from the kept log (:func:`..removals.auto_removed`), for the waits that come
#: after them, as a server that saw the removal answers them.
AUTO_REMOVED_FIELD = "autoRemove"

#: With :data:`MOVED_EXIT_FIELD`: the target daemon's address, as the migration's ``to`` named
#: it, where the source knows it.
MOVED_TO_FIELD = "movedTo"

#: The field an ``exit`` carries: when its process exited (RFC 3339, as a wait's ``exitedAt``),
#: where the daemon knows it. Its ``timestamp`` is not that time once a later event was
#: published before it (timestamps strictly increase: an init that exits before its start is
#: published is stamped just after the ``start-container``), and a server that takes the
#: exits up from the kept log (a wait asked again after a crash) answers this one, as the
#: server that saw the exit did. Left out of an exit whose time is unknown (one that ended
#: while no daemon ran, found then: its ``timestamp`` is when it was found, and it says
#: :data:`UNSEEN_EXIT_FIELD`) and of those kept from before 2026-12-05.
EXITED_AT_FIELD = "exitedAt"

#: The field an ``exit`` carries, true, when no daemon saw the exit: its process ended while
#: none ran at all (the keeper too), its status is unknown (255) and so is its time (the
#: ``timestamp`` is when the next server found it gone; no :data:`EXITED_AT_FIELD`). Without
#: it, a server that takes an exit up from the kept log could not tell such an exit from one
#: kept from before :data:`EXITED_AT_FIELD` was, whose ``timestamp`` stands for its time: the
#: wait of a container whose init's exit it is leaves the pid and the time out, as the server
#: that found it did (:func:`..removals.auto_removed`). Left out otherwise, and of such exits
#: kept from before 2026-12-05.
UNSEEN_EXIT_FIELD = "unseen"
