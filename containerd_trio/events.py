"""The event bus: every state change passes through here once.

An event is appended to a bounded log (kept in memory and in ``<state-dir>/events.log``, so it
survives a restart and ``?since=`` can replay it), then fanned out to one bounded memory channel
per subscriber. Publishing never waits: a subscriber whose channel is full is cut off (its stream
ends), so a slow client can never slow the daemon down.

Subscribing takes the replay and registers the live channel in one synchronous step, so a
subscriber sees every event exactly once across the seam between past and live.

The types an event may have are :data:`.event_types.EVENT_TYPES`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from . import timestamps
from .appendfile import AppendFile
from .convert import dump_json
from .errors import DaemonError
from .event_types import EXITED_AT_FIELD, UNSEEN_EXIT_FIELD

log = logging.getLogger(__name__)

#: The fields every event has (``labels`` those of a container with labels); an event's
#: ``detail`` adds others (never these).
_BASE_FIELDS = ("type", "id", "pid", "status", "labels", "timestamp")

#: A label filter: ``(key, value)``, or ``(key, None)`` for the label with any value (an empty
#: one too), as docker's ``label=KEY`` and ``label=KEY=VALUE``.
LabelFilter = tuple[str, str | None]


#: The ``error`` of a ``*-failed`` event for what a stopping daemon cancelled.
STOPPING_ERROR = "cancelled: the daemon is stopping"


def error_field(error: BaseException) -> str:
    """The ``error`` of a ``*-failed`` event (a checkpoint's, a restore's, a restart's): the
    first line of what went wrong."""
    text = error.message if isinstance(error, DaemonError) else str(error)
    if isinstance(error, trio.Cancelled):
        text = STOPPING_ERROR
    return (text.strip().splitlines() or [type(error).__name__])[0]


@attrs.frozen
class Event:
    type: str
    id: str
    timestamp_ns: int
    pid: int | None = None
    status: int | None = None
    #: Fields of some types only (a checkpoint's name, sizes, times), as they go on the wire.
    detail: dict[str, Any] | None = attrs.field(default=None, eq=False)
    #: The container's labels when it happened (None: it had none), as docker's events carry
    #: them in their attributes: a filter on labels judges each event by its own.
    labels: Mapping[str, str] | None = attrs.field(default=None, eq=False)
    #: Its line, once encoded: the log and every subscriber send the same bytes, so an event
    #: is encoded once, not once per stream (4000 streams were 4000 encodings of each).
    _line: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "id": self.id}
        if self.pid is not None:
            body["pid"] = self.pid
        if self.status is not None:
            body["status"] = self.status
        if self.detail:
            body.update(self.detail)
        if self.labels:
            body["labels"] = dict(self.labels)
        body["timestamp"] = timestamps.format_ns(self.timestamp_ns)
        return body

    def line(self) -> bytes:
        """The event as one line of newline-delimited JSON (encoded once)."""
        if self._line is None:
            line = dump_json(self.to_json()) + b"\n"
            object.__setattr__(self, "_line", line)  # a cache, not a change: frozen stands
            return line
        return self._line

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Event:
        return cls(
            type=str(body["type"]),
            id=str(body["id"]),
            timestamp_ns=timestamps.parse_ns(str(body["timestamp"])),
            pid=body.get("pid"),
            status=body.get("status"),
            detail={k: v for k, v in body.items() if k not in _BASE_FIELDS} or None,
            labels=body.get("labels") or None,
        )

    def exited_ns(self) -> int:
        """When the process of this ``exit`` exited, as its waits answer it: its ``exitedAt``;
        its timestamp for one without (kept from before that field, or one whose time is
        unknown, found ended: the timestamp is when, :meth:`unseen`), or whose ``exitedAt``
        cannot be read.
        Not its timestamp alone: that is later than the exit whenever an event published
        after the exit came before it on the stream."""
        at = self.detail.get(EXITED_AT_FIELD) if self.detail else None
        if isinstance(at, str):
            with contextlib.suppress(ValueError):
                return timestamps.parse_ns(at)
        return self.timestamp_ns

    def unseen(self) -> bool:
        """Whether this ``exit`` is one no daemon saw (:data:`.UNSEEN_EXIT_FIELD`): its process
        ended while none ran at all; its time is unknown, its timestamp when it was found."""
        return self.detail is not None and self.detail.get(UNSEEN_EXIT_FIELD) is True

    def has_labels(self, wanted: Sequence[LabelFilter]) -> bool:
        """Whether every one of ``wanted`` matches its labels (docker's label filters all
        match; they are not alternatives)."""
        labels = self.labels or {}
        return all(
            key in labels and (value is None or labels[key] == value) for key, value in wanted
        )


#: The most events a stream sends in one write.
BATCH = 256


@attrs.frozen
class Selection:
    """What a subscriber asked for, in its replay and live: the events of one of
    ``container_ids``, of one of ``types`` and with all of ``labels``, each when given."""

    container_ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    labels: tuple[LabelFilter, ...] = ()

    def selects(self, event: Event) -> bool:
        return (
            (self.container_ids is None or event.id in self.container_ids)
            and (self.types is None or event.type in self.types)
            and (not self.labels or event.has_labels(self.labels))
        )


class Subscription:
    """A subscriber's view: the replayed past, then the live channel. Close it when done."""

    def __init__(
        self,
        bus: EventBus,
        replay: list[Event],
        send: trio.MemorySendChannel[Event],
        receive: trio.MemoryReceiveChannel[Event],
    ) -> None:
        self.replay = replay
        self.receive = receive
        self._bus = bus
        self._send = send
        #: No live event is stamped before this (the bus's cursor when it subscribed).
        self._live_from_ns = bus.cursor()

    async def __aiter__(self) -> AsyncIterator[Event]:
        for event in self.replay:
            yield event
        async for event in self.receive:
            yield event

    async def batches(
        self, most: int = BATCH, *, until_ns: int | None = None
    ) -> AsyncIterator[list[Event]]:
        """The same events as iterating, in lists of at most ``most``: the replay in slices,
        then each live event with those queued behind it. A stream sends a list in one write;
        one write per event cost the server about 90 us each, a replay of 10,000 nearly a
        second.

        ``until_ns``: only the events stamped up to that moment (docker's ``until``), then
        the end: at once after the replay if no live event can be stamped so early, else at
        the first event past it, or when the clock reaches it with none."""
        replay = self.replay
        if until_ns is not None:
            replay = [event for event in replay if event.timestamp_ns <= until_ns]
        for start in range(0, len(replay), most):
            yield replay[start : start + most]
        if until_ns is not None and until_ns < self._live_from_ns:
            return
        deadline = (
            math.inf
            if until_ns is None
            else trio.current_time() + max(0, until_ns - timestamps.now_ns()) / 1e9
        )
        while True:
            event: Event | None = None
            # The wait alone in the scope: a scope held across the yield would cancel the
            # consumer's own work (its write of the batch) too.
            with trio.move_on_at(deadline):
                try:
                    event = await self.receive.receive()
                except trio.EndOfChannel:
                    return
            if event is None:
                return  # the clock reached until_ns
            batch = [event]
            while len(batch) < most:
                try:
                    batch.append(self.receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break  # the channel's end is met again by the wait, at once
            if until_ns is not None and batch[-1].timestamp_ns > until_ns:
                # Stamped in order: those up to until_ns, and the stream's end.
                if kept := [event for event in batch if event.timestamp_ns <= until_ns]:
                    yield kept
                return
            yield batch

    def close(self) -> None:
        self._bus._drop(self._send)
        self.receive.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus:
    def __init__(self, path: Path | None, *, capacity: int = 10_000, queue: int = 1024) -> None:
        self._path = path
        self._capacity = capacity
        self._queue = queue
        self._events: deque[Event] = deque(maxlen=capacity)
        # Each live channel, with what its subscriber asked for.
        self._subscribers: dict[trio.MemorySendChannel[Event], Selection] = {}
        self._file: AppendFile | None = None
        self._lines_in_file = 0
        self._last_ns = 0
        #: The live-only events published (``kept`` False: ``daemon-stopping``), which hold
        #: until the bus closes: a stream opened after one gets it too (see subscribe).
        self._standing: list[Event] = []
        self.closed = False
        if path is not None:
            self._load(path)
            self._file = AppendFile(str(path), reserve=256 * 1024)
            try:
                self._file.open()
            except OSError as exc:
                log.error("cannot open the event log %s: %s", path, exc.strerror)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _load(self, path: Path) -> None:
        try:
            with open(path, "rb") as file:
                for raw in file:
                    self._lines_in_file += 1
                    try:
                        event = Event.from_json(json.loads(raw))
                    except (ValueError, KeyError, TypeError):
                        # A line cut short by a crash mid-write: skip it, keep the rest.
                        continue
                    self._events.append(event)
        except FileNotFoundError:
            return
        if self._events:
            self._last_ns = self._events[-1].timestamp_ns

    def publish(
        self,
        type: str,
        container_id: str,
        *,
        pid: int | None = None,
        status: int | None = None,
        at_ns: int | None = None,
        detail: dict[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        kept: bool = True,
    ) -> Event:
        """``at_ns``: when it happened, if not now (an exit the keeper saw while no server ran);
        ``labels``: the container's; ``kept`` False: to the live streams only, not to the log
        (``daemon-stopping``: a replay, which a later daemon may send, must not say it).

        Timestamps strictly increase, so that ?since= from an event's own timestamp replays it
        and everything after it, in the order it was published; an event from the past is
        stamped just after the last one published if that is later than when it happened.
        """
        stamp = max(timestamps.now_ns() if at_ns is None else at_ns, self._last_ns + 1)
        self._last_ns = stamp
        event = Event(
            type=type,
            id=container_id,
            timestamp_ns=stamp,
            pid=pid,
            status=status,
            detail=detail,
            labels=labels or None,
        )
        if kept:
            self._events.append(event)
            self._persist(event)
        else:
            self._standing.append(event)
        for channel, selection in list(self._subscribers.items()):
            if not selection.selects(event):
                continue
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                log.warning("event subscriber cannot keep up; cutting it off")
                self._drop(channel)
            except trio.ClosedResourceError:
                self._drop(channel)
        return event

    def _persist(self, event: Event) -> None:
        if self._file is None:
            return
        was_holding = self._file.holding
        if not self._file.append(event.line()):
            if not was_holding:
                # Live subscribers still get it; the line is retried whole (see retry()).
                log.error("cannot write the event log: %s", self._file.error)
            return
        self._lines_in_file += 1
        if self._lines_in_file > 2 * self._capacity:
            self._compact()

    @property
    def holding(self) -> bool:
        return self._file is not None and self._file.holding

    def retry(self) -> None:
        if self._file is not None and self._file.flush():
            log.warning("the event log is written again")

    def _compact(self) -> None:
        """Rewrite the file with the last ``capacity`` events (atomically, by rename)."""
        assert self._file is not None
        try:
            self._file.replace(b"".join(event.line() for event in self._events))
        except OSError as exc:
            log.warning("cannot compact the event log: %s", exc.strerror)
            return
        self._lines_in_file = len(self._events)

    def kept(self) -> Iterator[Event]:
        """The kept events, in the order published (a server's start reads them: nothing is
        published meanwhile)."""
        return iter(self._events)

    def cursor(self) -> int:
        """A ``since_ns`` that replays exactly what is published from now on."""
        return self._last_ns + 1

    def latest(self, container_id: str, match: Callable[[Event], bool]) -> Event | None:
        """The last kept event of the container that ``match`` accepts, if any."""
        for event in reversed(self._events):
            if event.id == container_id and match(event):
                return event
        return None

    def subscribe(
        self,
        *,
        since_ns: int | None = None,
        live: bool = False,
        container_ids: frozenset[str] | None = None,
        types: frozenset[str] | None = None,
        labels: Sequence[LabelFilter] = (),
    ) -> Subscription:
        """Take the replay from ``since_ns`` on and register for live events, in one step;
        only those of one of ``container_ids``, of one of ``types`` and with all of
        ``labels``, when given. A live-only event of this bus's (``daemon-stopping``) comes
        too, in its place in the replay from ``since_ns``, or first for a stream of the live
        events alone (``since_ns`` None, or ``live``: its client gave no since, and it
        replays from the moment it asked, for none to be lost): a stream opened during a
        stop (a stopping daemon serves it) learns of the stop, as those open when it began
        (until 2026-12-06 such a stream had the stop's exits and deletes with no word of
        why, and the status page showed the daemon live)."""
        selection = Selection(container_ids, types, tuple(labels))
        send, receive = trio.open_memory_channel[Event](self._queue)
        replay: list[Event] = []
        if since_ns is not None:
            # Newest first, stopping at ``since``: the kept events are in time order, and a
            # client usually asks for the last moments, not the whole log.
            for event in reversed(self._events):
                if event.timestamp_ns < since_ns:
                    break
                if selection.selects(event):
                    replay.append(event)
            replay.reverse()
        standing = [
            event
            for event in self._standing
            if (live or since_ns is None or event.timestamp_ns >= since_ns)
            and selection.selects(event)
        ]
        if standing:
            replay = sorted(replay + standing, key=lambda event: event.timestamp_ns)
        if self.closed:
            send.close()
        else:
            self._subscribers[send] = selection
        return Subscription(self, replay, send, receive)

    def _drop(self, channel: trio.MemorySendChannel[Event]) -> None:
        self._subscribers.pop(channel, None)
        channel.close()

    def close(self) -> None:
        """End every live stream (the daemon is shutting down)."""
        self.closed = True
        for channel in list(self._subscribers):
            self._drop(channel)
        if self._file is not None:
            self._file.close()
            self._file = None
