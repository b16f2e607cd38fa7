"""The types of the events the daemon publishes (:mod:`.events`), in a module of their own.

It imports nothing: ``ctr-trio events`` reads the names for the width of its type column, and
the client loads nothing of the daemon's (Trio, attrs) for that.
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
)
