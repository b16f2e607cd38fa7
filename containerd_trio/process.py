"""The container processes the daemon started: how they are named, signalled and seen to exit.

Each process has a key, the name the server gave it when it asked the keeper to start it; the
keeper reports its exit and the end of its output under that key (see
:mod:`containerd_trio.keeper`). A pidfd names the process for signals, so a signal can never hit
a recycled pid.

A process the keeper does not hold (adopted after the keeper itself died) is watched on its
pidfd instead, and its exit status is unknowable: 255, as Docker reports it.

A process may take input: the writing end of its stdin pipe, or its terminal's master (the
keeper holds the other copy, so that input survives a restart of the server). Writes never
block the server: the fd is non-blocking, and a writer waits for room in its own task.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time

import trio

from . import console, procfs
from .convert import dump_json, unstructure
from .event_types import UNKNOWN_EXIT_STATUS as UNKNOWN_EXIT_STATUS
from .model import ProcessInfo

log = logging.getLogger(__name__)


class Process:
    """A live (or just ended) process of a container."""

    def __init__(
        self,
        key: str,
        info: ProcessInfo,
        start_time: int | None,
        *,
        kept: bool = True,
        input_fd: int | None = None,
    ) -> None:
        self.key = key
        self.info = info
        self.start_time = start_time
        #: A moment before its first output could be stamped in the log (the exec's ask of
        #: runc, by the logger's clock; for an exec'd process adopted from a record, its start
        #: as the kernel counts it); None: its run's start (an init). What selects its output
        #: from that of an earlier process of the container given the same pid (see
        #: :meth:`.Container.output_since`).
        self.since_ns: int | None = None
        #: The keeper holds it: its exit comes from the keeper, with its true status.
        self.kept = kept
        #: Where its input goes (the writing end of its stdin pipe, or its terminal's master).
        self.input_fd = input_fd
        if input_fd is not None:
            os.set_blocking(input_fd, False)
        self._input_lock = trio.Lock()
        #: Set while input goes on to the process; cleared while a move hands its input on
        #: to the target (:meth:`hold_input`): a write waits, as for a full pipe.
        self._input_goes_on = trio.Event()
        self._input_goes_on.set()
        #: A task writes :attr:`_ahead` (a put-back, :meth:`put_back_input_soon`, or a
        #: type-ahead, :meth:`type_ahead`: one task at a time writes them all), and whether
        #: the held writes were let go on meanwhile (they go once it is all written).
        self._writing_ahead = False
        self._go_on_asked = False
        #: Set unless the writes wait for the input a move hands on (:meth:`type_ahead`),
        #: as they wait for a move's hold: from the restore of a container that moved here
        #: (:meth:`expect_hand_off`), or from a type-ahead, until what is typed ahead is all
        #: written (or taken, or the input ended), or the move ends without a hand-off
        #: (:meth:`hand_off_over`). Apart from the hold, which a move from here, a pause's
        #: resume, ... set and lift as they go.
        self._handed_in = trio.Event()
        self._handed_in.set()
        #: A type-ahead is under way: its writer lifts the wait once it is done.
        self._handing_in = False
        #: What a type-ahead or a put-back has yet to write (the process has not read enough
        #: for it to go in): input it has not read, as what waits in its pipe or terminal is,
        #: and behind that; a move takes it with that (:meth:`take_ahead`). The writers write
        #: from its head, so what a move takes of it is never written here after the take.
        self._ahead = bytearray()
        self.exit_status: int | None = None
        self.exit_ns: int | None = None
        self.exited = trio.Event()
        #: Its exit is reported (after the rest of its output reached the log): the ``exit``
        #: event is out, it is listed no more, and a wait on it may answer.
        self.reported = trio.Event()
        #: All its output is in the log (the keeper's logger reached the end of its stdio).
        self.output_ended = trio.Event()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(info.pid)
        except ProcessLookupError:
            return  # gone already: its exit is on its way
        # Pids are reused fast here (pid_max 32768): if the pid names another process by now,
        # ours is gone, and the pidfd must not stay on a stranger.
        if start_time is not None and procfs.start_time(info.pid) != start_time:
            self.close_pidfd()

    #: :meth:`info_json`, once encoded.
    _info_json: bytes | None = None

    def info_json(self) -> bytes:
        """:attr:`info` as the API's JSON, encoded once (it never changes): the container's
        view encodes it at each of its changes while the process runs."""
        if self._info_json is None:
            self._info_json = dump_json(unstructure(self.info))
        return self._info_json

    @property
    def pid(self) -> int:
        return self.info.pid

    @property
    def terminal(self) -> bool:
        return self.info.terminal

    async def write_input(self, data: bytes) -> bool:
        """Write all of ``data`` to its stdin or terminal, waiting for room as long as the
        process does not read; False if it takes no input (any more)."""
        return await self.take_input(data) == len(data)

    async def take_input(self, data: bytes) -> int:
        """:meth:`write_input`, saying how many bytes of ``data`` the process was given (all
        of them, or fewer if it takes no input any more), waiting, beside room, for a move
        that holds the input (:meth:`hold_input`) to let it go on."""
        async with self._input_lock:  # one writer at a time: inputs do not interleave
            return await self._write(data, held=True)

    def type_ahead(self, data: bytes, nursery: trio.Nursery) -> bool:
        """Write ``data`` into its input ahead of every write not yet in (those under way
        wait at their next piece) and of those to come, without waiting for the process to
        read it: a task of ``nursery`` writes what the input takes now, and the rest as the
        process reads, until all is written or the input ends (the process exits, is
        deleted, moves on); the writes wait until then. False if it takes no input. The
        input a move handed on (:meth:`.Incoming.stdin`): the source's terminal held it, but
        a new one may take less before its reader reads (a pty's buffer holds more of what
        came piecemeal, as typed, than of one write of it all), and a process that does not
        read would hold the move on a write that never ends (until 2026-12-05 it did). No
        lock is waited for: a client that typed here before the hand-off, into a process
        that did not read, held the input's lock on its write, and with it the hand-off and
        the move's finish (until 2026-12-05; since then such writes wait for the hand-off,
        :meth:`expect_hand_off`)."""
        if self.input_fd is None:
            return False
        if self._handed_in.is_set():
            self._handed_in = trio.Event()
        self._handing_in = True
        if not self._writing_ahead and not self._ahead:
            # What the input takes now goes in now, before the caller can be cut short: a
            # hand-off recorded as written (:meth:`.Incoming.stdin`) is, but for what must
            # wait for the process to read, which the task below writes as it reads.
            with contextlib.suppress(OSError):  # full, or ended: the task finds out
                data = data[os.write(self.input_fd, data) :]
        self._ahead += data  # behind a put-back's rest, if one is under way
        self._write_ahead_soon(nursery)
        return True

    def expect_hand_off(self) -> None:
        """Writes wait from now on for the input a move hands on (:meth:`type_ahead`), to go
        in behind it, or for the move's end without one (:meth:`hand_off_over`): the init
        of a container a move restored here, from its restore on, which clients here may
        reach before the source hands on what its copy had not read. Else what they typed
        went in first (until 2026-12-05), and a write into a process that did not read held
        the hand-off, and the move, on the input's lock."""
        if self._handed_in.is_set():
            self._handed_in = trio.Event()

    def hand_off_over(self) -> None:
        """The move that restored it here is over (:meth:`expect_hand_off`): the writes go
        on, behind what it handed on, once that is all written."""
        if not self._handing_in:
            self._handed_in.set()

    def take_ahead(self) -> bytes:
        """What a type-ahead or a put-back has yet to write, taken from it (it writes none of
        it): a move takes it, with what waits in the pipe or terminal (it comes after that),
        for the target, or to put back if it fails. Else, moved on before the process here
        read it, it was lost with the copy here (until 2026-12-05): the writer, held, found
        the input closed; a put-back, never held, wrote it into the frozen copy's terminal
        behind what the move had taken."""
        data = bytes(self._ahead)
        self._ahead.clear()
        return data

    async def put_back_input(self, data: bytes) -> bool:
        """Write ``data`` ahead of the writes a move holds (:meth:`hold_input`), which wait
        for it: the input the move took out of the pipe, put back for the process here once
        the move failed, before what was typed meanwhile. Only while held (a held writer is
        waiting, not writing); False if it takes no input any more."""
        return await self._write(data, held=False) == len(data)

    def put_back_input_soon(self, data: bytes, nursery: trio.Nursery) -> bool:
        """:meth:`put_back_input` without waiting for it: a task of ``nursery`` writes
        ``data``, what the input takes now at once and the rest as the process reads, and
        the held writes go on only once it is all written (a :meth:`let_input_go_on`
        meanwhile lets them go then). A move that failed puts back so what it took before
        it resumes the process, which is frozen: one write of it may not all go in (a pty's
        buffer holds more of what came piecemeal, as typed, than of one write of it all),
        and the rest can only go once the process, resumed, reads (until 2026-12-05 the
        roll-back waited for that with the process frozen, to its deadline, and the rest
        was lost). False if it takes no input any more."""
        if self.input_fd is None:
            return False
        self._ahead[:0] = data  # ahead of what is yet to be typed ahead (a move took it all)
        self._write_ahead_soon(nursery)
        return True

    def _write_ahead_soon(self, nursery: trio.Nursery) -> None:
        if not self._writing_ahead:  # else the writer under way writes it: one writer
            self._writing_ahead = True
            nursery.start_soon(self._written_ahead)

    async def _written_ahead(self) -> None:
        try:
            await self._write_ahead()
        finally:
            self._writing_ahead = False
            if self._go_on_asked:
                self._go_on_asked = False
                self._input_goes_on.set()
            if self._handing_in:
                self._handing_in = False
                self._handed_in.set()

    async def _write_ahead(self) -> None:
        """Write :attr:`_ahead` from its head, as room comes, until it is empty (all
        written, or a move took the rest: :meth:`take_ahead`) or the input ends; never held
        (the writes that wait for it are). A move may
        take the rest while this waits, so what went in is cut from the shared buffer's head
        at once (cheap for a terminal's few KiB), and the buffer is looked at again after
        every wait; :meth:`_write` instead goes through a view of its own data (an attach's
        message, up to 16 MiB), no piece copied."""
        while self._ahead:
            written = await self._write_some(self._ahead, held=False)
            if written is None:
                break
            # No checkpoint since the write: the head written is still the buffer's head.
            del self._ahead[:written]
        if self._ahead:
            log.warning(
                "process %d: %d bytes of input a move handed on or put back were not"
                " taken: its input ended first", self.pid, len(self._ahead),
            )  # fmt: skip
            self._ahead.clear()

    async def _write(self, data: bytes, *, held: bool) -> int:
        view = memoryview(data)
        while view:
            written = await self._write_some(view, held=held)
            if written is None:
                break
            view = view[written:]
        return len(data) - len(view)

    async def _write_some(self, data: bytearray | memoryview, *, held: bool) -> int | None:
        """One step of a writer (:meth:`_write`, :meth:`_write_ahead`): write what the input
        takes of ``data`` now, or wait, for room or (``held``) for a move's hold to end, and
        write nothing (0: the caller looks at what it has left, which a move may have taken
        meanwhile, and comes again). How many bytes went in; None if the input ended (the
        process takes none any more). Returns at once after a write: the caller cuts what
        went in before anything else can touch its buffer."""
        # Between two pieces too: a move that holds the input while a writer waits for
        # room (a full pipe) gets the rest of it held, not written behind what it took.
        if held and await self._waited_for_go_on():
            return 0
        fd = self.input_fd
        if fd is None:
            return None
        try:
            return os.write(fd, data)
        except BlockingIOError:
            try:
                await trio.lowlevel.wait_writable(fd)
            except trio.ClosedResourceError:
                return None
            return 0
        except OSError as exc:
            # EPIPE: nothing reads the pipe any more; EIO: the terminal hung up.
            if exc.errno in (errno.EPIPE, errno.EIO):
                return None
            raise

    async def _waited_for_go_on(self) -> bool:
        """Wait for the end of a move's hold on the input (:meth:`hold_input`), and for the
        input a move hands on here (:meth:`expect_hand_off`), if either is awaited: True if
        it waited. Once woken, another move may hold it already (the event is a new one),
        and a writer's buffer may have been taken (:meth:`take_ahead`): the caller looks
        again, at both."""
        if self._input_goes_on.is_set() and self._handed_in.is_set():
            return False
        await self._input_goes_on.wait()
        await self._handed_in.wait()
        return True

    def hold_input(self) -> None:
        """Writes wait from now on (:meth:`take_input`), until :meth:`let_input_go_on`, or
        until the input ends (:meth:`close_input`: they are told that it took none). A move
        takes what the frozen process had not read out of its stdin pipe for the target: what
        is typed here after that would go into the pipe behind it, and be lost with the copy
        here if the move is done (or come before it when the move fails and puts it back)."""
        if self._input_goes_on.is_set():
            self._input_goes_on = trio.Event()
        # A put-back of a move before may still be under way, its go-on asked: the writes
        # held now wait for this move's end, not for that put-back's (which this move takes).
        self._go_on_asked = False

    def let_input_go_on(self) -> None:
        """The held writes go on, in the order they came (:meth:`hold_input`), behind what
        is being put back (:meth:`put_back_input_soon`): once that is written."""
        if self._writing_ahead:
            self._go_on_asked = True
            return
        self._input_goes_on.set()

    def close_input(self) -> None:
        """It takes no input any more (its copy moved away): the writes held, and those to
        come, give it none."""
        self._close_input()

    async def end_input(self) -> bool:
        """End its input: a pipe is closed here (the caller tells the keeper to close its
        copy); a terminal is sent its EOF character. False if it took no input."""
        fd = self.input_fd
        if fd is None:
            return False
        if self.terminal:
            return await self.write_input(console.end_of_file(fd))
        async with self._input_lock:  # after the writes already under way
            # And after a move's hold, as a write: a failed move puts back what it took
            # first (until 2026-12-05 the close came at once, and the put-back found no
            # input); a move done closed the input here, and this end took none.
            while await self._waited_for_go_on():
                pass  # held again: by another move
            if self.input_fd is None:
                return False
            self._close_input()
        return True

    def resize(self, columns: int, rows: int) -> bool:
        """Set its terminal's size; False if it has no terminal."""
        if not self.terminal or self.input_fd is None:
            return False
        try:
            console.resize(self.input_fd, columns, rows)
        except OSError:
            return False
        return True

    def set_exited(self, status: int, ns: int) -> None:
        if self.exit_status is None:
            self.exit_status = status
            self.exit_ns = ns
            self.exited.set()
            self.close_pidfd()

    def signal(self, signum: int) -> None:
        """Send a signal; ProcessLookupError if the process has exited."""
        if self._pidfd is None or self.exit_status is not None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, signum)

    async def watch_unkept(self) -> None:
        """For a process nobody reaps for us: wait on its pidfd; its status is unknowable."""
        if self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
        self.set_exited(UNKNOWN_EXIT_STATUS, time.time_ns())

    def close_pidfd(self) -> None:
        if self._pidfd is not None:
            fd, self._pidfd = self._pidfd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)

    def _close_input(self) -> None:
        if self.input_fd is not None:
            fd, self.input_fd = self.input_fd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)
        self._input_goes_on.set()  # a held write finds no input, and says so
        self._handing_in = False
        self._handed_in.set()

    def close(self) -> None:
        self.close_pidfd()
        self._close_input()


class ProcessTable:
    """Every process by key, for the keeper's reports.

    A report may come before its process is registered: the keeper says a process exited as
    soon as it knows, which for an init that exits at once is right after its runc, before the
    server has read runc's answer. Such reports are kept until the process is registered.
    """

    #: Unclaimed reports older than this are dropped (runc's leftovers, undone starts).
    _KEEP_NS = 120 * 1_000_000_000

    def __init__(self) -> None:
        self._processes: dict[str, Process] = {}
        self._early_exits: dict[str, tuple[int, int]] = {}
        self._early_ends: dict[str, int] = {}

    def add(self, process: Process) -> None:
        self._processes[process.key] = process
        early = self._early_exits.pop(process.key, None)
        if early is not None:
            process.set_exited(*early)
        if self._early_ends.pop(process.key, None) is not None:
            process.output_ended.set()

    def remove(self, key: str) -> None:
        self._processes.pop(key, None)
        self._early_exits.pop(key, None)
        self._early_ends.pop(key, None)

    def get(self, key: str) -> Process | None:
        return self._processes.get(key)

    def exited(self, key: str, status: int, ns: int) -> Process | None:
        process = self._processes.get(key)
        if process is None:
            self._prune()
            self._early_exits[key] = (status, ns)
        else:
            process.set_exited(status, ns)
        return process

    def ended(self, key: str) -> None:
        process = self._processes.get(key)
        if process is None:
            self._prune()
            self._early_ends[key] = time.time_ns()
        else:
            process.output_ended.set()

    def _prune(self) -> None:
        oldest = time.time_ns() - self._KEEP_NS
        for key, (_, ns) in list(self._early_exits.items()):
            if ns < oldest:
                del self._early_exits[key]
        for key, ns in list(self._early_ends.items()):
            if ns < oldest:
                del self._early_ends[key]
