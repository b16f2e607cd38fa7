"""An attached session at the user's terminal: ``exec -it``, ``attach``, ``start -t``, ``run``.

It speaks the attach protocol (:mod:`containerd_trio.channels`) over a WebSocket (:mod:`.websocket`)
in one blocking ``select`` loop over the user's stdin, the socket and a wake-up pipe for
signals:

- With a terminal (``-t``), the user's terminal goes to raw mode (every key goes to the
  process as typed; the process's terminal echoes and edits), its size is sent at once and
  again on each ``SIGWINCH``; the detach keys (``ctrl-p,ctrl-q`` unless ``--detach-keys`` or
  ``$CTR_TRIO_DETACH_KEYS`` say otherwise, as docker's) leave the process running and end the
  session. The terminal is restored however the session ends.
- With stdin (``-i``), what the user types (or pipes in) goes to the process. What the end of
  the input does is docker's ``StdinOnce`` (its ``container/stream/attach.go``): the session
  that began the process (``run -i``, ``start -ai`` of a stopped container, ``exec -i``)
  closes the process's stdin there, so that ``cat`` ends (``stdin_once``); a session that came
  to a process already running (``attach``, ``start -ai`` of a running one) ends there
  instead, a detach, and leaves the stdin open for the next (``echo one | ctr-trio attach c``
  then ``echo two | ctr-trio attach c``: a ``cat`` run with ``run -di`` reads both). A
  process with a terminal never has its input closed by ours (the close would reach its
  terminal as Ctrl-D, and end a shell): that session ends there too, as docker's with a TTY.
- Without a terminal, the signals ``ctr-trio`` gets go to the process instead, as docker's
  ``--sig-proxy`` (on by default for ``run``, ``start -a`` and ``attach``): SIGINT (Ctrl-C),
  SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, the real-time ones, every one a process
  may catch (:data:`PROXIED_SIGNALS`); the process decides whether to end, and its status is
  ours. Those about ``ctr-trio`` itself stay its own: faults, SIGCHLD, SIGPIPE, SIGURG,
  SIGWINCH, its resource limits, and its job control at the user's shell (Ctrl-Z stops
  ``ctr-trio``, ``fg`` goes on). With ``--sig-proxy=false`` (``proxy_signals`` false) nothing
  goes on: they act on ``ctr-trio`` as on any program. The third SIGTERM or SIGINT of a
  session is ``ctr-trio``'s own, as docker's client's (27.0 on): it ends the session, the
  process running on, so that a process that ignores them does not hold ``ctr-trio`` forever.
- The process's stdout and stderr come out on ours; its exit status, sent last, becomes the
  status of ``ctr-trio``. A broken connection (the daemon restarted, or handed over to a new
  server) is made again, the output going on right after the last message that came (its
  cursor, :data:`~containerd_trio.channels.CURSORED`): the process goes on meanwhile and its
  output waits in its log. (A daemon that gives no cursors is asked for the output from the
  moment the last of it came, by our clock.)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .. import channels
from ..timestamps import format_ns
from .errors import ApiError
from .output import PROG, Output, binary, moved_away, window_size
from .protocol import container_path
from .websocket import Closed, WebSocket

if TYPE_CHECKING:
    from .http import Client

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: Close codes after which the session is made again: the connection broke, or the server
#: went away (a restart, a live upgrade).
_RECONNECT = (None, 1001, 1006, 1011, 1012, 1013)
_POLICY = 1008
_CONTROL_NAMES = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(text: str) -> bytes:
    """Docker's notation: comma-separated keys, each a character or ``ctrl-X`` (X a letter, or
    one of ``@[\\]^_``); empty: no detach keys. ValueError if it is not that."""
    keys = bytearray()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.lower().startswith("ctrl-") and len(part) == 6:
            key = part[5].lower()
            if "a" <= key <= "z":
                keys.append(ord(key) - ord("a") + 1)
                continue
            if key in _CONTROL_NAMES:
                keys.append(_CONTROL_NAMES[key])
                continue
        elif len(part) == 1 and part.isascii():
            keys.append(ord(part))
            continue
        # Every form taken above, as docker's own list has them (until 2026-12-06 it named
        # "a character or ctrl-<letter>": ctrl-[ and the rest taken, unsaid).
        raise ValueError(
            f"{part!r} is not a key: give an ASCII character, ctrl-<letter>, ctrl-@, ctrl-[,"
            " ctrl-\\, ctrl-], ctrl-^ or ctrl-_"
        )
    return bytes(keys)


class DetachKeys:
    """Finds the detach sequence in what the user types; what is not part of it goes on.

    As docker's client: a key that breaks the sequence goes on to the process with the keys
    held before it, and begins no sequence itself, even when it is the first key. So ctrl-p
    ctrl-p ctrl-q sends all three and does not detach (a shell's ctrl-p, twice, then ctrl-q);
    ctrl-p ctrl-q detaches. (Docker also lets a read of several bytes through whole, a paste;
    here the sequence is found in it too, as a person's keys may come in one read.)"""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = 0  # how many keys of the sequence were typed so far

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """``(bytes to send, detach?)`` for what was typed."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._held]:
                self._held += 1
                if self._held == len(self.keys):
                    self._held = 0
                    return bytes(out), True
                continue
            # Not the sequence after all: the held keys were meant for the process, and so
            # is this one (a first key after held ones is not the start of another try).
            out += self.keys[: self._held]
            out.append(byte)
            self._held = 0
        return bytes(out), False


class Detached(Exception):
    pass


class InputEnded(Exception):
    """Our input ended in a session that leaves the process's stdin open: it ends, as a
    detach does (docker's attach without ``StdinOnce``, or with a TTY)."""


class Terminated(Exception):
    """A signal that would end ``ctr-trio`` came during the session, one of
    :attr:`Session.ending` (in raw mode: any whose default action would end ``ctr-trio`` at
    once and leave the user's terminal raw, with no echo and no line editing)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class GaveUp(Terminated):
    """The :data:`TERMINATIONS`-th SIGTERM or SIGINT of a session that sends them on: the user
    wants out, and the process did not end for the ones before."""


#: The signals that, sent on to a process that does not end for them, end the session at the
#: :data:`TERMINATIONS`-th, as docker's client (since 27.0, docker/cli a4bfd8c: "got 3
#: SIGTERM/SIGINTs, forcefully exiting") ends at the third of its TerminationSignals. Else a
#: process that ignores them (a shell as pid 1 ignores SIGTERM) holds ``ctr-trio`` forever,
#: and Ctrl-C, the way out of every other command, does nothing.
TERMINATION_SIGNALS = frozenset({int(signal.SIGTERM), int(signal.SIGINT)})
TERMINATIONS = 3


#: Signals ``ctr-trio`` keeps for itself in a session that sends signals on: those that are not
#: a word to the process, but the kernel's or the user's shell's about ``ctr-trio``.
_OWN_SIGNALS = frozenset(
    {
        # Cannot be caught: SIGKILL ends ctr-trio alone, SIGSTOP stops it.
        signal.SIGKILL,
        signal.SIGSTOP,
        # Faults of ctr-trio's own code (or abort()): Python and the C library handle them.
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGSYS,
        signal.SIGABRT,
        # About ctr-trio's children, its pipes (Python ignores SIGPIPE: a write says EPIPE), its
        # sockets, and its terminal's size (which a terminal's session sends as a resize).
        signal.SIGCHLD,
        signal.SIGPIPE,
        signal.SIGURG,
        signal.SIGWINCH,
        # Its own resource limits (ulimit -t, -f): the process did not use that CPU time, nor
        # write that file; a caught SIGXCPU would come again each second, to the process.
        signal.SIGXCPU,
        signal.SIGXFSZ,
        # Job control of ctr-trio's job at the user's shell: Ctrl-Z stops ctr-trio, fg and bg
        # continue it, the process going on meanwhile (its output waits). Docker's client sends
        # these on too, so Ctrl-Z never stops it; and a caught SIGTTIN (ctr-trio, in the
        # background, reading the terminal) comes again at each try of the read, a loop
        # sending it to the process without end. Left to their defaults, they stop ctr-trio.
        signal.SIGTSTP,
        signal.SIGTTIN,
        signal.SIGTTOU,
        signal.SIGCONT,
    }
)
#: What a session without a terminal sends on to its process (``proxy_signals``), as docker's
#: ``--sig-proxy``: every signal a program may catch that is not :data:`_OWN_SIGNALS`, the
#: real-time ones (34..64) too. Else each would end ``ctr-trio``, or do nothing, and leave the
#: process running, unseen. (With a terminal, Ctrl-C is a byte the process's terminal turns into
#: its SIGINT.) The wake-up fd's byte for each is its number: 64 fits.
PROXIED_SIGNALS = frozenset(int(signum) for signum in signal.valid_signals()) - _OWN_SIGNALS


class Session:
    """One attached process: run it to its end (or the user's detach); :meth:`run` returns the
    exit status for ``ctr-trio``."""

    def __init__(
        self,
        client: Client,
        container_id: str,
        pid: int,
        out: Output,
        *,
        stdin: bool,
        tty: bool,
        logs: bool,
        detach_keys: bytes,
        proxy_signals: bool = False,
        end_on_signals: bool = False,
        on_attached: Callable[[], None] | None = None,
        stdin_once: bool = False,
    ) -> None:
        self.client = client
        self.container_id = container_id
        self.pid = pid
        self.out = out
        self.stdin = stdin
        self.tty = tty and os.isatty(0)
        #: Raw mode, and the detach keys, only where the user types into the process's terminal.
        self.raw = self.tty and stdin
        #: Our window's size goes to the process's terminal, at the start and on each
        #: SIGWINCH, where our output or our input is a terminal (:func:`.output.window_size`).
        self.sized = tty and window_size() is not None
        self.logs = logs
        self.detach = DetachKeys(detach_keys if self.raw else b"")
        #: Signals to send on to the process: only where there is no terminal to send Ctrl-C.
        self.proxied = PROXIED_SIGNALS if proxy_signals and not tty else frozenset()
        #: Signals that end the session (Terminated: run returns 128+N) instead of ending
        #: ctr-trio where it stands: every one that would end ctr-trio and is not sent on, in
        #: raw mode (so that the terminal is restored first: a SIGUSR1 left it raw) and with
        #: ``end_on_signals`` (so that the caller acts once the session is left: run --rm hands
        #: the container to the daemon; killed, or interrupted, ctr-trio would leave it for
        #: good).
        ending = PROXIED_SIGNALS if end_on_signals or self.raw else frozenset()
        self.ending = ending - self.proxied
        #: Called once the session is made (the daemon counts it among the process's), before
        #: any of the output: run --rm hands the container to the daemon there.
        self.on_attached = on_attached
        #: SIGTERMs and SIGINTs sent on so far (the TERMINATIONS-th is not: it ends us).
        self._terminations = 0
        self.status: int | None = None
        #: The last Status, if it said that the container moved to another daemon.
        self.moved: dict[str, Any] | None = None
        self._stdin_open = stdin
        #: Whether the end of our input closes the process's stdin (docker's StdinOnce: the
        #: session that began the process) or ends the session, the stdin left open for the
        #: next attach. Never a terminal's: docker's closes only a pipe, and the close would
        #: reach the terminal as its EOF character (a shell that reads it exits).
        self._closes_stdin = stdin_once and not tty
        #: Our input ended and the stdin stays open: the session ends once what we read of
        #: it went to the daemon (input read as the connection broke goes to the next).
        self._input_ended = False
        #: Input read while the connection was broken: sent once it is made again.
        self._unsent: list[bytes] = []
        #: The bytes of input sent on this connection, in all: against what the daemon says it
        #: read of it once the container moved (:data:`.channels.INPUT_READ`).
        self._input_sent = 0
        #: Where the output we got ends, as the daemon said (None if it says nothing of it).
        self._cursor: bytes | None = None
        self._cursored = False
        self._last_output_ns = time.time_ns()
        self._stdout = binary(out.stdout)
        self._stderr = binary(out.stderr)

    def run(self) -> int:
        ws = self._connect({"logs": "true"} if self.logs else {})
        try:
            if self.on_attached is not None:
                self.on_attached()
            with self._terminal() as wake:
                while True:
                    try:
                        self._pump(ws, wake)
                    except Closed as closed:
                        if closed.code in _RECONNECT and self.status is None:
                            ws = self._connect_again()
                            continue
                        if closed.code == _POLICY and self.status is None and self.tty:
                            # The daemon cut us off for not keeping up (a burst of output
                            # faster than the terminal shows it, or ctr-trio was stopped): the
                            # process runs on, and ending here would leave the user's session
                            # behind. Come back from now, skipping what we could not keep up
                            # with (the log has it), as a user wants after Ctrl-C on a flood.
                            # (Output that is not a terminal's, which a script may keep, has
                            # no hole made in it: that session ends with the error below.)
                            self._skipped(closed.reason)
                            ws = self._connect({})
                            continue
                        if closed.code == _POLICY and self.status is None:
                            self.out.error(f"the daemon ended this attach: {closed.reason}")
                            return 1
                        if self.moved is not None:
                            return self._moved_away(self.moved)
                        return channels.UNKNOWN_STATUS if self.status is None else self.status
        except GaveUp as ended:
            # Said, unlike a signal we keep (which ends us quietly, as it ends any program):
            # the ones before went on, and the user may wonder where the process is.
            self.out.stderr.write(
                f"{PROG}: got {TERMINATIONS} SIGTERM/SIGINTs: left process {self.pid} of"
                f" {self.container_id} running ({PROG} attach {self.container_id} comes back"
                " to it)\n"
            )
            return 128 + ended.signum
        except Terminated as ended:
            # The terminal is restored by now (the handlers too); the process goes on, as after
            # a detach.
            return 128 + ended.signum
        except Detached:
            ws.close()
            self.out.stderr.write(
                f"{PROG}: detached; process {self.pid} of {self.container_id} goes on running\n"
            )
            return 0
        except InputEnded:
            ws.close()
            self.out.stderr.write(
                f"{PROG}: our input ended: detached, the process's input left open; process"
                f" {self.pid} of {self.container_id} goes on running\n"
            )
            return 0
        finally:
            ws.sock.close()

    def _moved_away(self, moved: dict[str, Any]) -> int:
        """The container moved to another daemon (a migration): no end of the process, which
        runs on there (the 137 is its copy's here). Said, with where to follow it, and what
        of our input it did not take; exit 0, as ``wait`` says ``moved to ADDRESS``."""
        to = moved.get(channels.MOVED_TO)
        # The container, not the process: its pid there is another.
        where = moved_away(self.container_id, to if isinstance(to, str) else None, "attach")
        said = f"{PROG}: {where}"
        not_taken = moved.get(channels.INPUT_NOT_TAKEN, 0)
        read = moved.get(channels.INPUT_READ)
        if isinstance(not_taken, int) and isinstance(read, int):
            # What we sent past what the daemon read (on its way as the status came) did not
            # reach it either: the last bytes not taken are those and the ones before them.
            not_taken += max(0, self._input_sent - read)
        if isinstance(not_taken, int) and not_taken > 0:
            said += (
                f"; the last {not_taken} bytes of our input, sent as it moved, did not reach"
                " it: send them there again"
            )
        # Raw mode still (see _skipped): from the start of a line of its own.
        self._stderr.write(f"\r\n{said}\r\n".encode() if self.raw else f"{said}\n".encode())
        self._stderr.flush()
        return 0

    def _skipped(self, reason: str) -> None:
        newline = "\r\n" if self.raw else "\n"  # in raw mode, \n alone does not return
        self._stderr.write(
            f"{newline}{PROG}: {reason}: output skipped up to now ({PROG} logs"
            f" {self.container_id} has what its log still keeps of it){newline}".encode()
        )
        self._stderr.flush()

    def _connect_again(self) -> WebSocket:
        """The session again after a broken connection, going on where its output stopped."""
        if self._cursor is not None:
            ws = self._connect({"after": self._cursor.decode()})
        else:
            ws = self._connect({"since": format_ns(self._last_output_ns)})
        self._say_input_ended(ws)
        return ws

    def _say_input_ended(self, ws: WebSocket) -> None:
        """Close the process's stdin again on a new connection, once ours ended in a session
        that closes it: the close sent on the last one may have gone down with its server (a
        send into a connection whose peer just died can succeed), and a process that waits for
        its input's end would wait for good. A pipe's close is idempotent (the daemon drops a
        close of a stdin it no longer holds); a terminal's input is never closed by ours."""
        if self.stdin and not self._stdin_open and self._closes_stdin:
            self._send(ws, channels.close_stdin_frame())

    def _connect(self, query: dict[str, str]) -> WebSocket:
        target = container_path(self.container_id, "process", str(self.pid), "attach")
        if query:
            target += "?" + urlencode(query)
        ws = self.client.websocket(target, channels.SUBPROTOCOLS)
        self._cursored = ws.subprotocol == channels.CURSORED
        if not self._cursored:
            self._cursor = None  # a daemon that gives none would refuse one
        if self.sized:
            self._send_size(ws)
        self._input_sent = 0  # this connection's (the daemon counts what it read of it)
        unsent, self._unsent = self._unsent, []
        for message in unsent:
            self._send(ws, message)
        return ws

    def _send(self, ws: WebSocket, message: bytes) -> None:
        if not ws.send(message):
            self._unsent.append(message)
        elif message[:1] == bytes((channels.STDIN,)):
            self._input_sent += len(message) - 1

    @contextlib.contextmanager
    def _terminal(self) -> Iterator[int]:
        """Raw mode and SIGWINCH while the session lasts (with a terminal), the signals sent on
        caught (without one); yields the fd that signals wake the loop on. Every handler is put
        back, and the terminal's mode, however the session ends."""
        # Undone in the reverse order, each undo run even if one before it failed.
        with contextlib.ExitStack() as undo:
            wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            undo.callback(os.close, wake_w)
            undo.callback(os.close, wake_r)
            saved = termios.tcgetattr(0) if self.raw else None
            # Signals reach the main thread only (a caller that runs us in another gets no
            # resizes, and sends no signals on).
            if threading.current_thread() is threading.main_thread():
                old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
                undo.callback(signal.set_wakeup_fd, old_wakeup)
                _catch(undo, (signal.SIGWINCH,), _ignore)
                _catch(undo, self.ending, _terminate)
                # Caught, so that they only wake the loop (the wake-up fd says which came): see
                # _pump.
                _catch(undo, self.proxied, _ignore)
            if saved is not None:
                undo.callback(_restore, saved)
                # At once, keeping what was typed ahead (the default would flush it).
                tty.setraw(0, termios.TCSANOW)
            yield wake_r

    def _pump(self, ws: WebSocket, wake: int) -> None:
        """Move bytes until the WebSocket closes (raises Closed), the user detaches, or our
        input ended in a session that leaves the stdin open (once what we read of it went)."""
        while True:
            if self._input_ended and not self._unsent:
                raise InputEnded
            watched: list[int] = [ws.fileno(), wake]
            if self._stdin_open:
                watched.append(0)
            ready = [ws.fileno()] if ws.pending() else select.select(watched, [], [])[0]
            if wake in ready:
                woken = b""
                with contextlib.suppress(BlockingIOError):
                    woken = os.read(wake, 512)  # a byte for each signal: its number
                if self.sized:
                    self._send_size(ws)
                for signum in woken:
                    if signum in self.proxied:
                        self._proxy(signum)
            # The connection before our input: one whose server died is readable (its end),
            # and over TCP a send into it still succeeds once (the RST comes after), so input
            # read first went into the dead connection, lost, and with it perhaps its end
            # (cat then waited for good). Seen first, the end raises Closed, and the input
            # waits in our stdin for the new connection.
            if ws.fileno() in ready:
                for message in ws.receive():
                    self._take(message)
            if 0 in ready and self._stdin_open:  # (a status that came may have closed it)
                self._read_stdin(ws)

    def _read_stdin(self, ws: WebSocket) -> None:
        data = os.read(0, 65536)
        if not data:
            self._stdin_open = False
            if self._closes_stdin:
                self._send(ws, channels.close_stdin_frame())  # so does the process's
            else:
                self._input_ended = True  # the session's end: see _pump
            return
        data, detach = self.detach.feed(data)
        if data:
            self._send(ws, channels.frame(channels.STDIN, data))
        if detach:
            raise Detached

    def _take(self, message: bytes) -> None:
        if not message:
            return
        channel, data = message[0], message[1:]
        if channel in (channels.STDOUT, channels.STDERR):
            if self._cursored:
                self._cursor, data = channels.split_cursor(data)
            self._last_output_ns = time.time_ns()
            stream = self._stdout if channel == channels.STDOUT else self._stderr
            stream.write(data)
            stream.flush()
        elif channel == channels.ERROR:
            try:
                document = json.loads(data)
            except ValueError:
                document = None
            self.status = channels.exit_status_of(document)
            if isinstance(document, dict) and document.get(channels.MOVED) is True:
                self.moved = document
                # It runs on elsewhere: our input goes no further here (what we did not read
                # yet stays in our stdin, not sent into a session at its end).
                self._stdin_open = False

    def _proxy(self, signum: int) -> None:
        """Send the signal on, unless it is the last SIGTERM/SIGINT the user gives us."""
        if signum in TERMINATION_SIGNALS:
            self._terminations += 1
            if self._terminations == TERMINATIONS:
                raise GaveUp(signum)
        self._send_signal(signum)

    def _send_signal(self, signum: int) -> None:
        with contextlib.suppress(ApiError):  # it ended meanwhile: its status is on its way
            self.client.signal(self.container_id, self.pid, signum)

    def _send_size(self, ws: WebSocket) -> None:
        if (size := window_size()) is not None:
            ws.send(channels.resize_frame(*size))


def _catch(
    undo: contextlib.ExitStack,
    signums: Iterable[int],
    handler: Callable[[int, FrameType | None], None],
) -> None:
    """``handler`` for each of ``signums`` Python may set, the old one put back by ``undo``.

    One the kernel or the C library refuses (glibc keeps 32 and 33 for itself) is left as it
    is, as is one whose handler Python did not set (a C library's: it could not be put back)."""
    for signum in signums:
        try:
            if signal.getsignal(signum) is None:
                continue
            old = signal.signal(signum, handler)
        except (OSError, ValueError):
            continue
        undo.callback(signal.signal, signum, old)


def _restore(mode: list[Any]) -> None:
    """The user's terminal back in ``mode``; one that hung up (a closed window, a dropped
    connection: our input's end) has no mode left to restore, and refuses with EIO."""
    try:
        termios.tcsetattr(0, termios.TCSADRAIN, mode)
    except termios.error as exc:
        if exc.args[0] != errno.EIO:
            raise


def _ignore(signum: int, frame: object) -> None:
    """A handler, so that the signal is delivered (and wakes the loop) instead of ignored."""


def _terminate(signum: int, frame: object) -> None:
    """Out of the session by an exception, so that the terminal is restored on the way."""
    raise Terminated(signum)
