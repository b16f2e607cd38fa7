"""The logger: the process that copies containers' output from their pipes into their logs.

It is a child of the keeper, which hands it (duplicates of) the reading end of every container
process's stdout and stderr pipes, or of its terminal, and restarts it if it dies. It runs at a
lower CPU priority than the server (nice 10): however much the containers write, the API and
runc come first, and a container that writes faster than its output can be stored is slowed
by its full pipe, never stopped and never robbed of a line.

Fairness: the loop reads at most one chunk from each ready pipe per turn, so one chatty
container cannot starve the others' logs.

A full disk: a log that cannot be written pauses (:class:`~containerd_trio.logfile.LogWriter`
keeps what it could not write), its container's pipes are no longer read (its writers block
once the pipes fill), the keeper is told (an event and a metric follow), and the write is
retried every second; once it lands, reading resumes and the keeper is told again.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import socket
import sys
import time

import attrs

from ..host import die_with_parent, exit_now
from ..logfile import LineSource, LogWriter
from ..spawn import inherited
from ._wire import Channel, Message, PeerGone

log = logging.getLogger("containerd_trio.logger")

#: One read from one pipe: 16 KiB of 2-byte lines is a few milliseconds of encoding.
_READ = 16 * 1024
#: A turn of the loop reads one chunk from each ready pipe, but stops after this long: the
#: rest are read first next turn, and messages from the keeper (a container forgotten, a
#: process added) never wait behind a flood of output.
_TURN_SECONDS = 0.01
_RETRY_SECONDS = 1.0
#: How long a terminal's bytes of a character wait for its rest (which nearly always comes with
#: the next read, at once), or an interactive process's line for its newline, before they are
#: logged as they are: output that ends there, a program then waiting for its user (a prompt),
#: is not held back (see LineSource.release).
_RELEASE_WAIT = 0.05
#: How often the logs that keep rotated files beyond the newest (for a follower that had not
#: opened them, or a new process's attach to come) are looked at again, to let them go once
#: nothing needs them: a log that rotates no more (its container stopped) would keep them.
_LET_GO_SECONDS = 1.0
#: Reads of an exited process's pipe a turn (its pipe holds 1 MiB at most, 64 reads of 16 KiB,
#: unless a child it left writes on).
_DRAIN_READS = 64


@attrs.define(eq=False)
class Stream:
    fd: int
    capture: Capture
    source: LineSource


@attrs.define(eq=False)
class Capture:
    """The output of one container process."""

    key: str
    container_id: str
    streams: list[Stream] = attrs.Factory(list)
    #: Its last records are written: the keeper may be told.
    ended: bool = False
    #: The process exited: what its pipes still hold is read before anyone else's output, so
    #: that its exit can be reported with all of its output in the log.
    exited: bool = False


@attrs.define(eq=False)
class ContainerLog:
    writer: LogWriter
    captures: dict[str, Capture] = attrs.Factory(dict)
    #: Keys whose streams ended while the log was paused: told once their records land.
    unreported_ends: list[str] = attrs.Factory(list)


class Logger:
    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._epoll = select.epoll()
        self._epoll.register(channel.fileno(), select.EPOLLIN)
        self._streams: dict[int, Stream] = {}
        self._logs: dict[str, ContainerLog] = {}
        #: key -> its capture, for every capture that is in its container's ``captures``: an
        #: exit or a drop finds its process at once, whatever the number of containers.
        self._captures: dict[str, Capture] = {}
        self._paused: set[str] = set()
        #: Ready pipes in the order they get their next read (round robin across turns).
        self._turn: dict[int, None] = {}
        #: Streams holding bytes back (a terminal's start of a character, an interactive
        #: process's line without its newline) -> when they are logged as they are.
        self._holding: dict[int, float] = {}
        #: Logs that keep rotated files beyond the newest (LogWriter.keeps_more), and when they
        #: are looked at next.
        self._keeping: dict[str, ContainerLog] = {}
        self._let_go_at = 0.0
        self._running = True
        #: A reload's stop: it exits once no log is paused (:meth:`_handle`).
        self._handing_over = False

    def run(self) -> None:
        control = self._channel.fileno()
        while self._running:
            timeout = 0.0 if self._turn else _RETRY_SECONDS if self._paused else -1.0
            if self._holding and (release_at := self._next_release()) is not None:
                wait = max(0.0, release_at - time.monotonic())
                timeout = wait if timeout < 0 else min(timeout, wait)
            if self._keeping:
                wait = max(0.0, self._let_go_at - time.monotonic())
                timeout = wait if timeout < 0 else min(timeout, wait)
            for fd, _ in self._epoll.poll(timeout, 256):
                if fd == control:
                    self._from_keeper()
                elif fd not in self._turn:
                    self._turn[fd] = None  # behind those still waiting from the last turn
            turn_ends = time.monotonic() + _TURN_SECONDS
            for fd in [fd for fd in self._turn if self._is_exited(fd)]:
                del self._turn[fd]
                self._drain_exited(self._streams[fd])
            while self._turn and time.monotonic() < turn_ends:
                fd = next(iter(self._turn))
                del self._turn[fd]
                stream = self._streams.get(fd)
                if stream is not None and stream.capture.container_id not in self._paused:
                    self._read(stream)
            if self._paused:
                self._retry_paused()
            if self._holding:
                self._release_held()
            if self._keeping and time.monotonic() >= self._let_go_at:
                self._let_go()
            self._channel.flush_in(self._epoll)
            if self._handing_over and not self._paused:
                self._write_held()
                self._running = bool(self._paused)  # its last write refused: held on
        self._write_held()

    def _write_held(self) -> None:
        """At its stop: the bytes streams hold (a line without its newline, a character's
        start), logged as they are. The next logger (a reload's, with new code) reads on from
        the pipe and could never join them to their rest; until 2026-12-06 they were lost.
        Every stream's, not only those :attr:`_holding` times (a terminal's, an interactive
        process's): a plain pipe's line waits for its newline in its source alone, and was
        lost at a reload until 2026-12-06 (``printf abc; sleep 9; echo def`` logged "def")."""
        for stream in list(self._streams.values()):
            if stream.capture.container_id not in self._paused:
                self._holding.pop(stream.fd, None)
                # This logger's source of the stream ends here (close: its rest, as it is).
                self._write(stream.capture.container_id, stream.source.close())

    # --- messages from the keeper -------------------------------------------------------------

    def _from_keeper(self) -> None:
        try:
            messages = self._channel.receive()
        except PeerGone:
            self._running = False
            return
        for message, fds in messages:
            try:
                self._handle(message, fds)
            except Exception:
                log.exception("logger: cannot handle %s", message.get("op"))
                for fd in fds:
                    os.close(fd)

    def _handle(self, message: Message, fds: list[int]) -> None:
        op = message["op"]
        if op == "add":
            self._add(message, fds)
        elif op == "drop":
            self._drop(str(message["key"]))
        elif op == "exited":
            capture = self._capture(str(message["key"]))
            if capture is not None:
                capture.exited = True
                for stream in capture.streams:
                    self._turn[stream.fd] = None  # drained first from the next turn on
        elif op == "forget":
            container_id = str(message["cid"])
            self._forget(container_id)
            self._channel.send({"op": "forgotten", "cid": container_id})
        elif op == "stop" and message.get("hand_over"):
            # A reload's: the next logger takes over, but a paused log's records (read, not
            # written) are in this one's memory alone: it goes on until they are written.
            # The keeper defers the stop while it knows of a pause, but a pause it has not
            # read yet (told as the stop came) was lost until 2026-12-06 17:40 UTC.
            self._handing_over = True
        elif op == "stop":
            self._running = False
        else:
            log.error("logger: unknown message %r", op)

    def _add(self, message: Message, fds: list[int]) -> None:
        container_id = str(message["cid"])
        container = self._logs.get(container_id)
        if container is None:
            writer = LogWriter(str(message["dir"]), int(message["max_bytes"]))
            container = self._logs[container_id] = ContainerLog(writer)
        # Its attach (ctr-trio run's, exec's) comes once its start has answered: until then,
        # no rotated file goes (within the logger's bound; see LogWriter.keep_all).
        container.writer.keep_all()
        key = str(message["key"])
        capture = Capture(key, container_id)
        container.captures[key] = capture
        self._captures[key] = capture
        pid = int(message["pid"])
        names = ["terminal"] if message.get("terminal") else ["stdout", "stderr"]
        for name, fd in zip(names, fds, strict=True):
            os.set_blocking(fd, False)
            source = LineSource(name, pid, interactive=bool(message.get("stdin")))
            stream = Stream(fd, capture, source)
            capture.streams.append(stream)
            self._streams[fd] = stream
            if container_id not in self._paused:
                self._epoll.register(fd, select.EPOLLIN)

    # --- reading ------------------------------------------------------------------------------

    def _read(self, stream: Stream) -> None:
        try:
            data = os.read(stream.fd, _READ)
        except BlockingIOError:
            return
        except OSError as exc:
            # A terminal whose last slave fd closed reads EIO: that is its end.
            if exc.errno != errno.EIO:
                log.error("logger: reading %s of %s: %s", stream.source.stream,
                          stream.capture.key, exc)  # fmt: skip
            data = b""
        if data:
            self._record(stream, data)
        else:
            self._end(stream)

    def _is_exited(self, fd: int) -> bool:
        stream = self._streams.get(fd)
        return (
            stream is not None
            and stream.capture.exited
            and stream.capture.container_id not in self._paused
        )

    def _drain_exited(self, stream: Stream) -> None:
        """Read an exited process's pipe until it is empty (or ends), up to a bound a turn."""
        for _ in range(_DRAIN_READS):
            if stream.fd not in self._streams or stream.capture.container_id in self._paused:
                return
            try:
                data = os.read(stream.fd, _READ)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._end(stream)
                return
            self._record(stream, data)

    def _record(self, stream: Stream, data: bytes) -> None:
        """Log what was read from ``stream``."""
        self._write(stream.capture.container_id, stream.source.records(data))
        if stream.source.holding:  # from now, the rest has a moment to come
            self._holding[stream.fd] = time.monotonic() + _RELEASE_WAIT
        elif self._holding:
            self._holding.pop(stream.fd, None)

    def _next_release(self) -> float | None:
        """When the first stream's held bytes are due (a paused log's wait for the disk)."""
        return min(
            (
                at
                for fd, at in self._holding.items()
                if self._streams[fd].capture.container_id not in self._paused
            ),
            default=None,
        )

    def _release_held(self) -> None:
        """Log the bytes streams held (a terminal's of a character, an interactive process's
        line) whose rest did not come in time."""
        now = time.monotonic()
        for fd, at in list(self._holding.items()):
            stream = self._streams[fd]
            container_id = stream.capture.container_id
            # A stream that is ready to read may bring the rest: it is read first.
            if at > now or fd in self._turn or container_id in self._paused:
                continue
            del self._holding[fd]
            self._write(container_id, stream.source.release())

    def _write(self, container_id: str, records: bytes) -> None:
        if not records:
            return
        container = self._logs[container_id]
        if not container.writer.append(records):
            self._pause(container_id, container)
        self._note_kept(container_id, container)

    def _note_kept(self, container_id: str, container: ContainerLog) -> None:
        if container.writer.keeps_more and container_id not in self._keeping:
            if not self._keeping:
                self._let_go_at = time.monotonic() + _LET_GO_SECONDS
            self._keeping[container_id] = container

    def _let_go(self) -> None:
        """Let go of the rotated files that the logs kept and nothing needs any more."""
        for container_id, container in list(self._keeping.items()):
            container.writer.let_go()
            if not container.writer.keeps_more:
                del self._keeping[container_id]
        self._let_go_at = time.monotonic() + _LET_GO_SECONDS

    def _end(self, stream: Stream) -> None:
        """A stream reached its end: write its last part and let it go."""
        capture = stream.capture
        self._close_stream(stream)
        self._write(capture.container_id, stream.source.close())
        if not capture.streams:
            self._ended(capture)

    def _ended(self, capture: Capture) -> None:
        container = self._logs[capture.container_id]
        if capture.container_id in self._paused:
            container.unreported_ends.append(capture.key)
            return
        capture.ended = True
        container.captures.pop(capture.key, None)
        self._unindex(capture)
        self._channel.send({"op": "eof", "key": capture.key})
        if not container.captures and not container.unreported_ends:
            container.writer.close()  # nothing writes here until a new process comes
            self._note_kept(capture.container_id, container)

    def _close_stream(self, stream: Stream) -> None:
        stream.capture.streams.remove(stream)
        del self._streams[stream.fd]
        self._holding.pop(stream.fd, None)
        if stream.capture.container_id not in self._paused:
            self._epoll.unregister(stream.fd)
        os.close(stream.fd)

    # --- a full disk --------------------------------------------------------------------------

    def _pause(self, container_id: str, container: ContainerLog) -> None:
        if container_id in self._paused:
            return
        self._paused.add(container_id)
        for capture in container.captures.values():
            for stream in capture.streams:
                self._epoll.unregister(stream.fd)
        reason = container.writer.paused or "unknown error"
        log.warning("logger: the log of %s cannot be written (%s); pausing", container_id, reason)
        self._channel.send({"op": "log", "cid": container_id, "paused": True})

    def _retry_paused(self) -> None:
        for container_id in list(self._paused):
            container = self._logs[container_id]
            if not container.writer.retry():
                continue
            self._paused.discard(container_id)
            for capture in container.captures.values():
                for stream in capture.streams:
                    self._epoll.register(stream.fd, select.EPOLLIN)
            log.warning("logger: the log of %s is written again", container_id)
            self._channel.send({"op": "log", "cid": container_id, "paused": False})
            ends, container.unreported_ends = container.unreported_ends, []
            for key in ends:
                if (ended := container.captures.get(key)) is not None:
                    self._ended(ended)

    # --- letting go -----------------------------------------------------------------------------

    def _capture(self, key: str) -> Capture | None:
        return self._captures.get(key)

    def _unindex(self, capture: Capture) -> None:
        """It left its container's ``captures``: out of the index too (unless a capture of the
        same key came since)."""
        if self._captures.get(capture.key) is capture:
            del self._captures[capture.key]

    def _drop(self, key: str) -> None:
        capture = self._captures.pop(key, None)
        if capture is None:
            return
        self._logs[capture.container_id].captures.pop(key, None)
        for stream in list(capture.streams):
            self._close_stream(stream)

    def _forget(self, container_id: str) -> None:
        """The container is deleted: take what its pipes still hold, then close everything."""
        container = self._logs.pop(container_id, None)
        self._keeping.pop(container_id, None)
        if container is None:
            return
        paused = container_id in self._paused
        for capture in container.captures.values():
            self._unindex(capture)
            for stream in list(capture.streams):
                if not paused:
                    self._drain(stream, container)
                if stream in capture.streams:
                    stream.capture.streams.remove(stream)
                    del self._streams[stream.fd]
                    self._holding.pop(stream.fd, None)
                    if not paused:
                        self._epoll.unregister(stream.fd)
                    os.close(stream.fd)
        self._paused.discard(container_id)
        container.writer.close()

    def _drain(self, stream: Stream, container: ContainerLog) -> None:
        while True:
            try:
                data = os.read(stream.fd, _READ)
            except OSError:
                data = b""
            records = stream.source.close() if not data else stream.source.records(data)
            if records and not container.writer.paused:
                container.writer.append(records)
            if not data or container.writer.paused:
                return


def main() -> None:
    """``python -m containerd_trio.keeper._logger``: fd 3 is the channel to the keeper."""
    logging.basicConfig(level=logging.INFO, format="logger: %(message)s", stream=sys.stderr)
    die_with_parent()
    # The keeper stops it (a "stop" on their link, once its last records are written): a
    # signal sent to every process of the daemon (systemd's KillMode=control-group) killed
    # it mid-write, and the keeper started another during its own stop.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(10)
    channel = Channel(socket.socket(fileno=inherited(3)))
    started = time.monotonic()
    Logger(channel).run()
    log.debug("logger ran %.1fs", time.monotonic() - started)
    exit_now(0)  # its last records written: the keeper waits for this exit


if __name__ == "__main__":
    main()
