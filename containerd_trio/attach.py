"""Attach: one WebSocket client's live view of one container process, and its input.

The framing is Kubernetes' ``v4.channel.k8s.io`` (:mod:`containerd_trio.channels`). A session
has two halves:

- **Output** follows the container's log (:func:`logs.read_log`, the reader behind ``GET
  /logs?follow=true``), the process's records picked out as they are decoded (those
  ``GET /logs?pid=N`` gives: :func:`.logruns.runs`): from the process's start (``logs=true``, as
  docker's attach ``logs=1``: a shell's first prompt is not lost to a client that connects a
  moment after the exec), from a moment (``since``), right after a :class:`Cursor` (``after``:
  a client coming back after the server restarted), or from now. Each record goes to channel
  1 (stdout, a terminal's output) or 2 (stderr); under :data:`~.channels.CURSORED`, each
  message says the cursor it ends at. Once the process's output has ended (or it exited and
  its output stopped coming for a moment: a background child may hold its terminal), its exit
  status goes to channel 3 and the session closes (1000).
- **Input** takes stdin (0), resize (4) and close-stdin (255) messages and hands them to the
  process (:class:`~containerd_trio.process.Process`).

Why the log and not the process's pipes: the keeper owns the pipes and the logger reads them
(a pipe has one reader); through the log, any number of clients see the same output, each at
its own pace, a client that connects late or comes back after a restart sees what it missed,
and nothing the process writes ever waits for a client: the logger writes the log whatever the
clients do. What a slow client costs is bounded: its session reads at most
:data:`~containerd_trio.logs.CHUNK` of the log at a time and sends one message at a time, so a
client that does not read holds one message in the server; a client that takes no message for
:data:`SEND_TIMEOUT` seconds, or falls more than :data:`MAX_LAG` seconds behind the process's
output for want of its reading, is disconnected (close 1008, with the reason) and may attach
again; a session behind by the server's own slowness goes on (:class:`_Pace`), but no session
holds more than :func:`.logs.behind_at_most` of the log's files behind its output: there the
output outran it, its files are let go and it ends (1008, the reason saying whose side was
slow: :func:`_outrun_reason`). Output passes
through the log byte for byte: a record whose bytes are not UTF-8 holds them (``raw``), and
those are the bytes sent.

A client that goes away (or detaches) leaves the process running: only the session ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import attrs
import trio

from . import channels, logruns, logs, timestamps
from .container import Container
from .errors import quoted
from .logs import LogQuery
from .model import ExitInfo
from .process import Process

log = logging.getLogger(__name__)

#: A client that takes no message for this long is disconnected.
SEND_TIMEOUT = 10.0
#: A client whose output is this many seconds behind the process is disconnected.
MAX_LAG = 30.0
#: After the process exited, how long the session may wait on the log without any of the
#: process's output coming (a child that holds its terminal or pipes, silent) before it ends
#: anyway: see :func:`_end_after_exit`.
DRAIN_AFTER_EXIT = 2.0
#: The largest output message.
MESSAGE_BYTES = 64 * 1024

#: WebSocket close codes.
NORMAL = 1000
POLICY = 1008
#: The server hands over (or stops leaving the containers running): come back to the next.
SERVICE_RESTART = 1012

_CHANNELS = {"stdout": channels.STDOUT, "terminal": channels.STDOUT, "stderr": channels.STDERR}


class Connection(Protocol):
    """The WebSocket, once accepted."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes | str: ...

    async def close(self, code: int, reason: str) -> None: ...

    def backed_up(self) -> bool | None:
        """Whether the client's socket is full now (the kernel's send buffer holds as much as
        it takes: the client, or its link, has not taken what was sent); None if that cannot
        be told."""
        ...


class Sessions:
    """The attach sessions a server serves. Its hand-over ends them (close 1012: their
    clients attach again, to the next server) and waits for that before it lets go of the
    processes' input: a session left open through the grace took input that went nowhere."""

    def __init__(self) -> None:
        #: Set as the hand-over begins: each session ends.
        self.leaving = trio.Event()
        self._open = 0
        self._none_open = trio.Event()

    @contextlib.contextmanager
    def held(self) -> Iterator[trio.Event]:
        """One session, from its start to its close; yields :attr:`leaving`."""
        if self._open == 0:
            self._none_open = trio.Event()
        self._open += 1
        try:
            yield self.leaving
        finally:
            self._open -= 1
            if self._open == 0:
                self._none_open.set()

    async def end(self, within: float) -> None:
        """End every session, and return once each has closed (or ``within`` seconds)."""
        self.leaving.set()
        if self._open:
            with trio.move_on_after(within):
                await self._none_open.wait()


class TooSlow(Exception):
    """The session does not keep up: its client (see :class:`_Pace`), or the process's output
    outran it (:func:`_outrun_reason`)."""


def _outrun_reason(outrun: logs.Outrun) -> str:
    """Why a session the process's output outran (:func:`.logs.behind_at_most`) is ended, at
    most 123 bytes (a close's reason), saying whose side was slow: the client's if its
    socket was full at that moment (the session waited on it), the server's if not (the
    client had taken all it was sent: the server read the log more slowly than the process
    wrote it), neither if that could not be told. A full socket is the client's alone; the
    seconds a session spends in its sends are not (:class:`_Pace`): a send is a turn of the
    scheduler, and the server's other tasks' time, or its being off the CPU on a busy
    machine, counts as the client's. Until 2026-12-06 such a session held every file the log
    rotated away meanwhile for as long as it lasted (four attaches to one ``yes`` held 243 of
    them, 4 GB, after 70 s), or was ended by :data:`MAX_LAG`, blamed on its client."""
    behind = f"more than {outrun.files} log files ({logs.size_text(outrun.behind)})"
    if outrun.held_up:
        return f"the client fell {behind} behind the output"
    if outrun.held_up is None:
        return f"the output outran this session by {behind}"
    return f"the server fell {behind} behind the output: it read the log slower than it came"


class _Pace:
    """Whose slowness a session's lag is: its client's, or the server's own.

    A session :data:`MAX_LAG` behind is ended only for its client's slowness (the client is
    the slow side when the session waited on it, its sends held by a full socket, for at
    least half of the last :data:`MAX_LAG` seconds: :meth:`client_is_slow`). A send's seconds
    are its client's only if its socket was found full while it went on (ten times a second:
    :func:`_look_at_the_client`): a send is a turn of the scheduler, and on a busy
    server the other tasks' time, or the server's being off the CPU, counted as the
    client's, whose socket was empty all along (until 2026-12-06 such a session was ended
    after 45-50 s, "the client fell more than 30 s behind", its client idle). Behind by the
    server's own slowness (a process writing faster than the server reads the log, on a busy
    machine), it goes on, as a follow of the log does: it holds the log's files rotated away
    meanwhile (the watcher opens each as it comes), so its client gets every record, late,
    and the server reads on as fast as it can, up to :func:`.logs.behind_at_most` files
    behind. Until 2026-12-06 such a session was ended too (at first blaming the client):
    ``ctr-trio run`` of ``yes | head -c 200M``, whose user expects every byte, was cut off at
    about half of it, the client having used 1.5 s of CPU in 74 s."""

    def __init__(self) -> None:
        #: Seconds spent in sends, in all; of them, in sends whose socket was found full.
        self.sending = 0.0
        self.waiting_on_client = 0.0
        #: The send under way was found waiting on a full socket; set while one is under way
        #: (a new one after each), for :func:`_look_at_the_client`.
        self.send_waits_on_client = False
        self.a_send_goes_on = trio.Event()
        #: Whether the socket could be looked at each time (False once it could not: the
        #: seconds alone say then, as before).
        self.measured = True
        #: Messages sent in all, and whether a send is under way: what the session's output
        #: did lately, for :func:`_end_after_exit`.
        self.sent = 0
        self.in_send = False
        #: (monotonic time, :attr:`sending` and :attr:`waiting_on_client` then), one a chunk,
        #: the last MAX_LAG seconds'.
        self._marks: deque[tuple[float, float, float]] = deque()

    def mark(self) -> None:
        now = time.monotonic()
        self._marks.append((now, self.sending, self.waiting_on_client))
        # Kept: the last mark at or before the window's start, and all after it.
        while len(self._marks) > 1 and self._marks[1][0] <= now - MAX_LAG:
            self._marks.popleft()

    def client_is_slow(self) -> bool:
        """Whether the session waited on its client for half of :data:`MAX_LAG` or more in
        the last :data:`MAX_LAG` seconds. (Not half of the time since its first mark, where
        it began less than that ago: a live record :data:`MAX_LAG` old means a session
        that long under way, and a session a moment old, descheduled mid-send on a busy
        machine, would have blamed its client.)"""
        if not self._marks:
            return False
        _, sending_then, waiting_then = self._marks[0]
        if self.measured:
            return self.waiting_on_client - waiting_then >= MAX_LAG / 2
        return self.sending - sending_then >= MAX_LAG / 2


#: A :class:`Cursor` on the wire (NS up to :data:`~.timestamps.LATEST_NS`'s 21 digits).
CURSOR_PATTERN = "^([0-9]{1,21})-([0-9]{1,20})$"
_CURSOR = re.compile(CURSOR_PATTERN.strip("^$"))


@attrs.frozen
class Cursor:
    """A place in a process's output: right after the first ``count`` of its records stamped
    ``stamp``; ``NS-COUNT`` on the wire, NS the stamp in nanoseconds since the epoch.

    Made of the log's own stamps, so a client coming back needs no clock of its own: one that
    had not taken all that was sent (it lagged, and the server died with it in the socket) goes
    on from the last record it did get, where a time of the client's skipped what the logger had
    stamped before it. The count is for the records that share a stamp (the lines of one read
    are stamped together): the stamp alone cannot say which of them the client got. One
    process's records come in the log in the order of their stamps (the logger stamps what it
    reads as it writes it), so reading from the stamp on, the first ``count`` of that stamp are
    the ones sent before.
    """

    stamp: str  # as the log writes it (timestamps.format_ns)
    count: int = 0

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor a session gave; ValueError if ``text`` is not one."""
        match = _CURSOR.fullmatch(text)
        # Past the last moment a stamp can name, it is none an attach gave (nor a time).
        if match is None or int(match[1]) > timestamps.LATEST_NS:
            raise ValueError(f"must be a cursor an attach gave (NS-COUNT), not {quoted(text)}")
        ns, count = match.groups()
        return cls(timestamps.format_ns(int(ns)), int(count))

    @classmethod
    def at(cls, ns: int) -> Cursor:
        """Before everything stamped ``ns`` or later."""
        # The log's stamps all come after the epoch (the logger's clock): a moment before it
        # (since=0001-01-01, since=100000d) is the same place, and this start's cursor one that
        # a client can give back (NS has no sign).
        return cls(timestamps.format_ns(max(ns, 0)))

    @property
    def since_ns(self) -> int:
        return timestamps.parse_ns(self.stamp)

    def encode(self) -> bytes:
        return f"{self.since_ns}-{self.count}".encode()


class _Position:
    """Where a session's output stands: the cursor of the last record it went past."""

    def __init__(self, start: Cursor) -> None:
        self.stamp, self.count = start.stamp, start.count
        #: Records of the start's stamp the client had before it came back: not sent again.
        self._had = start.count

    def had(self, stamp: str) -> int:
        """How many of the next records stamped ``stamp`` the client had before."""
        return self._had if stamp == self.stamp else 0

    def pass_records(self, stamp: str, records: int) -> None:
        """Go past ``records`` records stamped ``stamp`` (the first :meth:`had` of them the
        client had before: not counted again)."""
        if records == 0:
            return
        if stamp != self.stamp:
            self.stamp, self.count, self._had = stamp, 0, 0
        had = min(self._had, records)
        self._had -= had
        self.count += records - had

    def cursor(self) -> Cursor:
        return Cursor(self.stamp, self.count)


async def session(
    connection: Connection,
    container: Container,
    pid: int,
    target: Process | ExitInfo,
    output: AsyncIterator[bytes],
    sessions: Sessions,
    *,
    since_ns: int,
    start: Cursor | None = None,
    cursored: bool = False,
    selection: LogQuery | None = None,
) -> None:
    """Serve one attached client of process ``pid`` until it ended (or the client left, or
    the server hands over: ``sessions``, the server's, end it then).

    ``target`` is the process, or how it ended; ``output`` is its log from where the client
    asked, ``start`` (the moment it reads from, or the cursor the client came back with: the
    records the cursor counts are not sent again) if it read from one; records from
    ``since_ns`` on are live ones (the lag bound applies to them). ``cursored``: the client
    speaks :data:`~.channels.CURSORED`. ``selection`` (its pid and since): which of
    ``output``'s records are the process's, where ``output`` has others
    (:meth:`~.supervisor.Supervisor.process_output`); without it, all are.
    """
    with sessions.held() as leaving:
        process = target if isinstance(target, Process) else None
        position = _Position(start if start is not None else Cursor.at(since_ns))
        too_slow: TooSlow | None = None
        left = False
        taken = _Taken()
        #: The normal close's reason: that the container moved away, where the status says so.
        ended = "the process ended"
        async with trio.open_nursery() as nursery:
            if process is not None:
                nursery.start_soon(
                    _input, connection, container, process, taken, nursery.cancel_scope
                )

            async def leave() -> None:
                nonlocal left
                await leaving.wait()
                left = True
                nursery.cancel_scope.cancel()

            nursery.start_soon(leave)
            # TooSlow is caught here, in the nursery's body: let out, it would come wrapped in
            # an exception group.
            try:
                if cursored:  # where it starts: for a client that comes back before output
                    start_frame = _frame(channels.STDOUT, b"", position.cursor())
                    await _send(connection, container, start_frame)
                await _output(
                    connection, container, output, process, since_ns, position, cursored,
                    _Selection.of(selection),
                )  # fmt: skip
                if process is not None:
                    await process.exited.wait()
                status = _status_document(container, pid, target, taken)
                if status.get(channels.MOVED):
                    ended = "the container moved to another daemon"
                status_frame = channels.frame(channels.ERROR, json.dumps(status).encode())
                await _send(connection, container, status_frame)
            except TooSlow as exc:
                too_slow = exc
            nursery.cancel_scope.cancel()
        if left:
            with trio.move_on_after(1):
                await connection.close(SERVICE_RESTART, "the daemon hands over: attach again")
            return
        if too_slow is not None:
            log.info("attach to process %d of %s: %s", pid, container.id, too_slow)
            with trio.move_on_after(1):
                await connection.close(POLICY, str(too_slow))
            return
        with trio.move_on_after(1):
            await connection.close(NORMAL, ended)


@attrs.define
class _Taken:
    """What became of a session's input."""

    #: The bytes its container's copy here did not take once it moved away (sent after the
    #: move handed its input on to the target: held, then refused at the move's end).
    not_taken_moved: int = 0
    #: The bytes of input read from the client, in all: what it sent past them never reached
    #: the server (:data:`.channels.INPUT_READ`).
    read: int = 0


def _status_document(
    container: Container, pid: int, target: Process | ExitInfo, taken: _Taken
) -> dict[str, object]:
    """The session's last word: how the process ended, or, for the init of a container that
    moved to another daemon (its copy here killed: 137), that it moved, and where (as its
    waits say), and what of the session's input it did not take."""
    ended = container.exit_of(target) if isinstance(target, Process) else target
    status = channels.exit_status_document(ended.exit_status, pid)
    if not ended.moved:
        return status
    return channels.moved_document(status, pid, ended.moved_to, taken.not_taken_moved, taken.read)


async def _output(
    connection: Connection,
    container: Container,
    output: AsyncIterator[bytes],
    process: Process | None,
    since_ns: int,
    position: _Position,
    cursored: bool,
    selection: _Selection,
) -> None:
    """Send the process's output until it ended (or soon after the process exited)."""
    too_slow: TooSlow | None = None
    try:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                pace = _Pace()
                if process is not None:
                    nursery.start_soon(_end_after_exit, process, scope, pace)
                nursery.start_soon(_look_at_the_client, connection, pace)
                try:
                    async for chunk in output:
                        pace.mark()
                        messages = _messages(chunk, since_ns, position, cursored, pace, selection)
                        for message in messages:
                            await _send(connection, container, message, pace)
                        if not messages:
                            # None of it the process's (another's output): let the server's
                            # other tasks run all the same, as the reader's filter did.
                            await trio.lowlevel.checkpoint()
                except TooSlow as exc:  # raised again below, out of the nursery
                    too_slow = exc
                except logs.Outrun as outrun:  # its files let go already
                    too_slow = TooSlow(_outrun_reason(outrun))
                nursery.cancel_scope.cancel()
    finally:
        # Closed at once however the session ends (the log's files with it), not whenever
        # the garbage collector gets to it.
        aclose = getattr(output, "aclose", None)
        if aclose is not None:
            with trio.CancelScope(shield=True):
                await aclose()
    if too_slow is not None:
        raise too_slow


#: How often a session looks at its client's socket while a send goes on (see :class:`_Pace`).
LOOK_EVERY = 0.1


async def _look_at_the_client(connection: Connection, pace: _Pace) -> None:
    """While a send goes on, look at the client's socket every :data:`LOOK_EVERY` seconds:
    found full, the send waits on the client, and its seconds are the client's. On a busy
    server this task runs late, as the send does, but the socket it then finds is empty if
    the client took all it was sent: the lateness is not the client's."""
    while True:
        await pace.a_send_goes_on.wait()  # an idle session's task does not wake
        await trio.sleep(LOOK_EVERY)
        if pace.in_send and not pace.send_waits_on_client:
            full = connection.backed_up()
            if full is None:
                pace.measured = False
            elif full:
                pace.send_waits_on_client = True


async def _end_after_exit(process: Process, scope: trio.CancelScope, pace: _Pace) -> None:
    """End the session's output (``scope``) once the process exited and its output ended (it
    ends by itself then), or once the process exited and :data:`DRAIN_AFTER_EXIT` seconds
    passed with the session waiting on the log and none of the process's output coming: a
    child of it holds its pipes or terminal, silent.

    Until 2026-12-06 the seconds were counted from the exit, whatever came meanwhile: on a
    busy machine the logger (at a lower priority) was still writing what the process's pipe
    held when it exited, and the session ended with the last half megabyte of ``yes | head
    -c 32M`` unsent (found by the suite under load)."""
    await process.exited.wait()
    while True:
        sent = pace.sent
        with trio.move_on_after(DRAIN_AFTER_EXIT):
            await process.output_ended.wait()
            return
        if pace.sent == sent and not pace.in_send:
            break
    scope.cancel()


@attrs.frozen
class _Selection:
    """Which records of the log a session sends: its process's (``pid``; None: every record
    it is given, picked already), stamped ``since`` or later (its start, or the moment or
    cursor it reads from: a pid the kernel gave again has an earlier process's before)."""

    pid: int | None = None
    since: str = ""

    @classmethod
    def of(cls, query: LogQuery | None) -> _Selection:
        if query is None:
            return cls()
        since = "" if query.since_ns is None else timestamps.format_ns(query.since_ns)
        return cls(query.pid, since)


def _messages(
    chunk: bytes,
    since_ns: int,
    position: _Position,
    cursored: bool,
    pace: _Pace | None = None,
    selection: _Selection = _Selection(),
) -> list[bytes]:
    """The records of ``chunk`` (those of ``selection``) as output messages, consecutive ones
    of a channel joined; each with the cursor it ends at if ``cursored``. ``position`` goes
    past them.

    Raises :class:`TooSlow` if a live record is older than :data:`MAX_LAG` and ``pace`` says
    the slowness is the client's: the session is that far behind for want of its reading.
    """
    live_from = timestamps.format_ns(since_ns)
    too_old = timestamps.format_ns(time.time_ns() - int(MAX_LAG * 1e9))
    batch = _Batch(position, cursored)
    for run in logruns.runs(chunk, selection.pid):
        # Same format, same offset (UTC): the strings compare as the times do. A run's
        # records share a stamp: one test for them all, where the reader's filter tested
        # each line.
        if run.stamp < selection.since:
            continue
        if live_from <= run.stamp < too_old and pace is not None and pace.client_is_slow():
            raise TooSlow(f"the client fell more than {MAX_LAG:g} s behind the output")
        batch.add(run)
    return batch.done()


class _Batch:
    """The messages of a chunk's runs, as they are added."""

    def __init__(self, position: _Position, cursored: bool) -> None:
        self.position = position
        self.cursored = cursored
        self.messages: list[bytes] = []
        self.channel = channels.STDOUT
        self.pending = bytearray()
        # Where what is pending ends (for a client that takes no cursor, none: not worked out).
        self.ends_at = position.cursor() if cursored else None

    def add(self, run: logruns.Run) -> None:
        position = self.position
        skip = min(position.had(run.stamp), len(run))  # sent before the client came back
        try:
            pieces = run.pieces(skip, MESSAGE_BYTES)
        except ValueError:  # a record in it is wrong: the others, each on its own
            for single in run.one_by_one():
                self.add(single)
            return
        position.pass_records(run.stamp, skip)
        this = _CHANNELS.get(run.stream, channels.STDOUT)
        for records, data in pieces:
            position.pass_records(run.stamp, records)
            if this != self.channel or len(self.pending) + len(data) > MESSAGE_BYTES:
                if self.pending:
                    self.messages.append(_frame(self.channel, self.pending, self.ends_at))
                self.channel, self.pending = this, bytearray()
            self.pending += data
            if self.cursored:
                self.ends_at = position.cursor()

    def done(self) -> list[bytes]:
        if self.pending:
            self.messages.append(_frame(self.channel, self.pending, self.ends_at))
        return self.messages


def _frame(channel: int, data: bytes | bytearray, ends_at: Cursor | None) -> bytes:
    if ends_at is None:
        return channels.frame(channel, bytes(data))
    return channels.cursored_frame(channel, ends_at.encode(), bytes(data))


async def _send(
    connection: Connection, container: Container, message: bytes, pace: _Pace | None = None
) -> None:
    began = time.monotonic()
    with trio.move_on_after(SEND_TIMEOUT) as waited:
        if pace is None:
            await connection.send(message)
        else:
            pace.in_send, pace.send_waits_on_client = True, False
            pace.a_send_goes_on.set()
            try:
                await connection.send(message)
            finally:
                pace.in_send = False
                pace.a_send_goes_on = trio.Event()
    if pace is not None:
        took = time.monotonic() - began
        pace.sending += took
        if pace.send_waits_on_client:
            pace.waiting_on_client += took
        pace.sent += 1
    if waited.cancelled_caught:
        raise TooSlow(f"the client took no output for {SEND_TIMEOUT:g} s")
    container.attach_sent()  # the client reads: an auto-removal waits for the rest


async def _input(
    connection: Connection,
    container: Container,
    process: Process,
    taken: _Taken,
    session: trio.CancelScope,
) -> None:
    """Hand the client's messages to the process; end the session when the client leaves."""
    try:
        while True:
            message = await connection.receive()
            if isinstance(message, str) or not message:
                continue  # the protocol is binary: nothing to take from text
            channel, data = message[0], message[1:]
            if channel == channels.STDIN:
                taken.read += len(data)
                # A process that takes no input (any more) drops it, as a closed stdin would;
                # but one that moved away says so, and how much (the status, at the end).
                written = await process.take_input(data)
                if written < len(data) and container.moved_away:
                    taken.not_taken_moved += len(data) - written
            elif channel == channels.RESIZE:
                try:
                    columns, rows = channels.parse_resize(data)
                except ValueError:
                    continue
                process.resize(columns, rows)
            elif channel == channels.CLOSE and data[:1] == bytes((channels.STDIN,)):
                await container.end_input(process)
    finally:
        # The client went away (or the session ends): so does the session.
        session.cancel()
