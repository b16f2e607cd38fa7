"""A checkpoint's and a restore's course on the event stream: started, progress, done or failed.

A dump of a large container takes minutes (CRIU writes its memory at a few hundred MB/s), so a
client waiting on its request deserves signs of life, and the figures afterwards:

- ``checkpoint-started`` (the checkpoint's name, the deadline in seconds);
- ``checkpoint-progress`` about once a second while the images grow: the bytes written so far
  (the image directory's size) and the seconds since the start;
- ``checkpoint-done`` with the image's bytes, the seconds the dump took, and CRIU's own
  figures from its stats file (:mod:`.criu_stats`): how long the container was frozen, pages
  written; or ``checkpoint-failed`` with the seconds and the first line of the error.

A restore reads the images instead of writing them, so there is nothing to measure while it
runs: ``restore-started`` (with the image's bytes), then ``restore-done`` (seconds, CRIU's
restore time and pages restored) or ``restore-failed``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import outcome
import trio

from .beside import beside
from .checkpoints import METADATA_NAME
from .criu_stats import read_dump_stats, read_restore_stats
from .events import Event, EventBus, error_field
from .timestamps import now_ns

T = TypeVar("T")

#: How often the image directory is measured while a dump runs.
PROGRESS_INTERVAL = 1.0

#: The ``error`` of the ``checkpoint-failed`` that closes a dump a server left under way as it
#: died, which the next server undid.
LEFT_DUMP_ERROR = "the server died during the checkpoint: the next server undid it"
#: Likewise, the ``restore-failed`` of a restore whose start the next server rolled back.
LEFT_RESTORE_ERROR = "the server died during the restore: the next server rolled it back"
#: And of one whose roll-back failed (its runc delete): the container is listed stopped.
LEFT_RESTORE_STOPPED_ERROR = (
    "the server died during the restore: the next server could not roll it back, and lists"
    " the container stopped (a DELETE tries again)"
)


def image_bytes(image: Path) -> int:
    """The size of a checkpoint's images (a flat directory of files; the daemon's own metadata
    left out); 0 if unreadable."""
    total = 0
    try:
        with os.scandir(image) as entries:
            for entry in entries:
                if entry.name == METADATA_NAME:
                    continue
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue  # removed while counted
    except OSError:
        return 0
    return total


@attrs.frozen
class CriuProgress:
    """Reports one container's checkpoint (or restore) named ``checkpoint`` on ``events``
    (its events with the container's ``labels``)."""

    events: EventBus
    container_id: str
    checkpoint: str
    labels: Mapping[str, str] | None = None

    async def dump(
        self, image: Path, work: Path, deadline: float, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``call`` (the ``runc checkpoint``) and report its course."""
        began = time.monotonic()
        self._publish("checkpoint-started", timeout=deadline)
        result = await beside(call, partial(self._report_growth, image, began))
        return self._ended("checkpoint", began, result, partial(_dump_figures, image, work))

    async def restore(
        self, image: Path, work: Path, deadline: float, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``call`` (the ``runc restore``) and report its course."""
        began = time.monotonic()
        self._publish("restore-started", bytes=image_bytes(image), timeout=deadline)
        result = await outcome.acapture(call)
        return self._ended("restore", began, result, partial(_restore_figures, work))

    def _ended(
        self,
        kind: str,
        began: float,
        result: outcome.Outcome[T],
        figures: Callable[[float], dict[str, Any]],
    ) -> T:
        """Publish ``{kind}-failed`` or ``{kind}-done`` with ``figures(seconds)``; the outcome."""
        seconds = _since(began)
        if isinstance(result, outcome.Error):
            self._publish(f"{kind}-failed", seconds=seconds, error=error_field(result.error))
        else:
            self._publish(f"{kind}-done", **figures(seconds))
        return result.unwrap()

    def failed_outside(self, error: str) -> None:
        """``checkpoint-failed`` with ``error`` for the dump that ended where :meth:`dump`
        could not say it, if its course is open on the stream: one a SIGKILL of its
        container's init ended (its runc and CRIU killed, :meth:`dump` cancelled), or one a
        server left under way as it died and the next one undid (:func:`left_dump_failed`).
        Before, its ``checkpoint-started`` had no end there, and a watcher of its course
        waited for good."""
        started = _open_course(self.events, self.container_id, "checkpoint", self.checkpoint)
        if started is not None:
            seconds = _seconds_since(started, now_ns())
            self._publish("checkpoint-failed", seconds=seconds, error=error)

    async def _report_growth(self, image: Path, began: float) -> None:
        """Say the image directory's size each time it grew."""
        reported = 0
        while True:
            await trio.sleep(PROGRESS_INTERVAL)
            size = image_bytes(image)
            if size > reported:
                reported = size
                self._publish("checkpoint-progress", bytes=size, seconds=_since(began))

    def _publish(self, kind: str, **detail: Any) -> None:
        self.events.publish(
            kind,
            self.container_id,
            detail={"checkpoint": self.checkpoint, **detail},
            labels=self.labels,
        )


def left_dump_done(
    events: EventBus,
    container_id: str,
    name: str,
    image: Path,
    work: Path,
    ended_ns: int,
    labels: Mapping[str, str] | None = None,
) -> None:
    """``checkpoint-done`` (with its figures) for the dump into ``name`` that a server left
    under way as it died and the next one completed, before that one's ``checkpoint``: its
    ``checkpoint-started`` is on the stream, and a watcher of its course (a progress line)
    sees it end as a live one's does. Before, only the ``checkpoint`` came. Its seconds run
    from that ``checkpoint-started`` to the end of CRIU's log (``ended_ns``)."""
    started = _open_course(events, container_id, "checkpoint", name)
    if started is not None:
        figures = _dump_figures(image, work, _seconds_since(started, ended_ns))
        CriuProgress(events, container_id, name, labels)._publish("checkpoint-done", **figures)


def left_dump_failed(
    events: EventBus, container_id: str, name: str, labels: Mapping[str, str] | None = None
) -> None:
    """``checkpoint-failed`` for the dump into ``name`` that a server left under way as it
    died and the next one undid (:meth:`CriuProgress.failed_outside`)."""
    CriuProgress(events, container_id, name, labels).failed_outside(LEFT_DUMP_ERROR)


def left_restore_failed(
    events: EventBus,
    container_id: str,
    error: str = LEFT_RESTORE_ERROR,
    labels: Mapping[str, str] | None = None,
) -> None:
    """``restore-failed`` for the container's restore that a server left under way as it
    died, whose start the next one rolled back (or, ``error`` says, could not, and lists the
    container stopped), if its course is open on the stream (a start without a checkpoint has
    none; one closed already is not closed again): before, its ``restore-started`` had no
    end there."""
    started = _open_course(events, container_id, "restore")
    if started is not None:
        name = cast(str, (started.detail or {}).get("checkpoint"))  # its _publish's
        CriuProgress(events, container_id, name, labels)._publish(
            "restore-failed", seconds=_seconds_since(started, now_ns()), error=error
        )


def _open_course(
    events: EventBus, container_id: str, kind: str, name: str | None = None
) -> Event | None:
    """The ``{kind}-started`` (``kind``: checkpoint or restore) of the container whose course
    has not ended on the stream, of the checkpoint ``name`` if given (a pre-copy round has
    none; a dump of the name that ended before has its end)."""
    course = (f"{kind}-started", f"{kind}-done", f"{kind}-failed")

    def of_course(event: Event) -> bool:
        return event.type in course and (
            name is None or (event.detail or {}).get("checkpoint") == name
        )

    last = events.latest(container_id, of_course)
    return last if last is not None and last.type == course[0] else None


def _seconds_since(started: Event, ended_ns: int) -> float:
    return round(max(0, ended_ns - started.timestamp_ns) / 1e9, 3)


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


def _dump_figures(image: Path, work: Path, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"bytes": image_bytes(image), "seconds": seconds}
    stats = read_dump_stats(work)
    if stats is not None:
        figures["frozenSeconds"] = round(stats.frozen_us / 1e6, 6)
        figures["pagesWritten"] = stats.pages_written
    return figures


def _restore_figures(work: Path, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"seconds": seconds}
    stats = read_restore_stats(work)
    if stats is not None:
        figures["restoreSeconds"] = round(stats.restore_us / 1e6, 6)
        figures["pagesRestored"] = stats.pages_restored
    return figures
