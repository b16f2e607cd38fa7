"""A process's stdin pipe around its start or exec (the pipe made with the keeper's custody
request, :meth:`.Container._custody`): its ends closed as the start goes, the server's end as
the process's input, and whether a checkpointed init read one (its restore gives it one again).

Apart from :class:`.Container`: file descriptors and a checkpoint's image, nothing of a
container's state.
"""

from __future__ import annotations

import json
import os
import termios
from pathlib import Path
from typing import Any

import attrs

from .. import beneath
from ..keeperlink import CustodyRequest
from ..runtime import Started


def stdin_was_pipe(image: Path) -> bool:
    """Whether the checkpointed init's stdin was a pipe (runc notes its fds 0-2 in the image's
    descriptors.json: ``"pipe:[INODE]"``, or a path such as ``/dev/null``).

    The images are the client's: the file is read only as a regular file of the image's own
    (:func:`.beneath.read_regular`: a FIFO there held the whole daemon in ``open``), and what
    does not parse (nested too deeply included) means no."""
    try:
        directory = beneath.open_directory(image)
        try:
            fds = json.loads(beneath.read_regular(directory, "descriptors.json", 64 * 1024))
        finally:
            os.close(directory)
        return isinstance(fds, list) and str(fds[0]).startswith("pipe:")
    except (OSError, ValueError, IndexError, RecursionError):
        return False


def close_stdin_pipe(custody: CustodyRequest, *, ours: bool) -> None:
    """Close the child's end of a stdin pipe (the keeper has its own copy by now), and with
    ``ours`` (the start failed) the writing end too."""
    if custody.stdin is not None:
        os.close(custody.stdin[0])
        if ours:
            os.close(custody.stdin[1])


def with_stdin(started: Started, custody: CustodyRequest) -> Started:
    """The process's input fd: its terminal's master, or our end of its stdin pipe."""
    if custody.stdin is None:
        return started
    return attrs.evolve(started, master=custody.stdin[1])


#: The most a stdin pipe holds (/proc/sys/fs/pipe-max-size's default, 1 MiB): what is read of
#: one, past that, is another writer's, written since.
_PIPE_MOST = 1024 * 1024


def take_pipe(pid: int) -> bytes:
    """What waits in the pipe that is process ``pid``'s stdin, read out of it without
    blocking through a new fd on it (``/proc/PID/fd/0``: the pipe itself, not a copy); empty
    if fd 0 is no pipe, or the process is gone."""
    path = f"/proc/{pid}/fd/0"
    try:
        if not os.readlink(path).startswith("pipe:"):
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    taken = bytearray()
    try:
        _read_waiting(fd, _PIPE_MOST, taken)
    finally:
        os.close(fd)
    return bytes(taken)


def _read_waiting(fd: int, most: int, taken: bytearray) -> None:
    """Add to ``taken`` what can be read of the non-blocking ``fd`` now, up to ``most`` bytes
    in all: to the first read that would block, or that finds the end (a pipe with no writer
    left). What was read stays in ``taken`` if a read fails."""
    while len(taken) < most:
        try:
            chunk = os.read(fd, most - len(taken))
        except BlockingIOError:
            break
        if not chunk:
            break
        taken += chunk


#: A terminal's input queue holds 4 KiB (the kernel's N_TTY_BUF_SIZE), and the pty's own
#: buffer behind it some more (what the master took and the queue had no room for yet: a
#: master that did not block took 11776 bytes in all here; on a 6.18 kernel 13-15 KiB of one
#: write, some 20-22 KiB of writes of a line or less, as typed): more is read, to be safe,
#: but never without bound. A terminal may take less of it at once than this one held: the
#: target types the rest as its container reads (:meth:`.Process.type_ahead`), and a failed
#: move's put-back here likewise (:meth:`.Process.put_back_input_soon`).
_TERMINAL_MOST = 64 * 1024

#: The most ends of file a terminal's queue can hold: each is one of its 4096 places.
_EOF_MOST = 4096


def take_terminal(pid: int) -> bytes:
    """What waits in the input queue of the terminal that is process ``pid``'s stdin, typed
    and not read, read out of it without blocking through a new fd on it (``/proc/PID/fd/0``:
    the terminal itself, not its master), as :func:`take_pipe` takes a pipe's, to be typed
    into another terminal (or this one again) as it was typed here. In canonical mode the
    whole lines are read first, as such (:func:`_read_lines`: one ended by the EOF character
    keeps it); then canonical mode, which gives a reader whole lines only (a line begun, not
    ended, would stay), is lifted while the rest is read, and the terminal's settings are put
    back as they were. The process must not run meanwhile (it is frozen: it would read in
    another mode). A read that finds the queue empty first moves into it what waits in the
    pty's buffer (the kernel's n_tty_read flushes it), so more than the queue's 4 KiB is all
    taken; but a line typed longer than that lost the rest as it was typed (the kernel keeps
    its first 4094 or 4095 characters and its newline), as the process would have read it.
    A character of the queue that the terminal's settings make special (Ctrl-C, Ctrl-U, ...)
    was typed as a literal one (Ctrl-V before it), or it would not be there: it gets its
    Ctrl-V again (:class:`_Literals`), so that typed anew it is read as it was typed here.
    Empty if fd 0 is no terminal, or the process is gone."""
    path = f"/proc/{pid}/fd/0"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return b""
    taken = bytearray()
    try:
        if not os.isatty(fd):
            return b""
        settings = termios.tcgetattr(fd)
        literals = _Literals.of(settings)
        if settings[3] & termios.ICANON:
            _read_lines(fd, _TERMINAL_MOST, taken, settings[6], literals)
        whole = list(settings)
        whole[3] &= ~termios.ICANON
        whole[6] = list(settings[6])
        whole[6][termios.VMIN], whole[6][termios.VTIME] = 0, 0
        termios.tcsetattr(fd, termios.TCSANOW, whole)
        rest = bytearray()
        try:
            _read_waiting(fd, _TERMINAL_MOST, rest)
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, settings)
            taken += literals.escape(rest)  # a line begun: none of it ends one
    except (OSError, termios.error):
        pass  # what was read is taken all the same: it is out of the queue
    finally:
        os.close(fd)
    return bytes(taken)


@attrs.frozen
class _Literals:
    """The characters of a terminal's queue that typed again would not be read as such (its
    settings make them special), and its literal-next character, which typed before one
    makes it read as itself (Ctrl-V, in canonical mode with IEXTEN: n_tty's ``lnext``).

    Such a character in the queue was typed as a literal one, for the kernel acts on a
    special character as it comes in (Ctrl-C signals, Ctrl-U erases the line, a CR becomes
    a newline with ICRNL) and queues only a literal one. Typed again without its Ctrl-V,
    into the target's terminal (CRIU restores these settings there) or back into this one,
    it was special there: an interrupt for the reader, a line erased (until 2026-12-05)."""

    #: The literal-next character; empty if the settings have none (then nothing is escaped).
    lnext: bytes
    special: frozenset[int]

    @classmethod
    def of(cls, settings: list[Any]) -> _Literals:
        iflag, lflag, characters = settings[0], settings[3], settings[6]
        lnext = characters[termios.VLNEXT]
        if not (lflag & termios.ICANON and lflag & termios.IEXTEN) or lnext == b"\0":
            return cls(b"", frozenset())
        # Not the line's other ends (VEOL, VEOL2; mostly unset): a line's own end is one,
        # and stays special.
        indices = [termios.VERASE, termios.VKILL, termios.VEOF, termios.VWERASE,
                   termios.VREPRINT, termios.VLNEXT]  # fmt: skip
        if lflag & termios.ISIG:
            indices += [termios.VINTR, termios.VQUIT, termios.VSUSP]
        if iflag & termios.IXON:
            indices += [termios.VSTART, termios.VSTOP]
        special = {characters[i][0] for i in indices if characters[i] != b"\0"}
        if iflag & (termios.ICRNL | termios.IGNCR):
            special.add(ord("\r"))  # a typed CR becomes a newline, or is dropped
        return cls(lnext, frozenset(special))

    def escape(self, text: bytes | bytearray) -> bytes:
        """``text`` with the literal-next character before each special one."""
        if not self.special or not any(byte in self.special for byte in text):
            return bytes(text)
        out = bytearray()
        for byte in text:
            if byte in self.special:
                out += self.lnext
            out.append(byte)
        return bytes(out)


def _read_lines(
    fd: int, most: int, taken: bytearray, characters: list[Any], literals: _Literals
) -> None:
    """Add to ``taken`` the whole lines waiting in the queue of the non-blocking terminal
    ``fd`` in canonical mode (its special ``characters``, termios' c_cc), up to ``most``
    bytes: one read each. A line its EOF character ended (Ctrl-D typed, not read) gets that
    character back after it: the kernel keeps the mark as a NUL, which a read in canonical
    mode leaves out (it ends the line; alone, it is a read of nothing, the end of file) and
    one out of canonical mode gives as a NUL byte, which typed into the target's terminal
    was a NUL in a line, not its end (until 2026-12-05). Typed again, into the restored
    terminal (its settings are these: CRIU carries them) or back into this one, the
    character ends the line as it did here. Its literal characters get their Ctrl-V again
    (``literals``)."""
    eof = characters[termios.VEOF]
    ends = {b"\n"} | {characters[i] for i in (termios.VEOL, termios.VEOL2)} - {b"\0"}
    ended = 0
    while len(taken) < most and ended < _EOF_MOST:
        asked = most - len(taken)
        try:
            line = os.read(fd, asked)
        except BlockingIOError:
            break
        taken += literals.escape(line)
        if len(line) == asked:
            break  # as much as is taken: what the line had more, if anything, stays
        if line[-1:] not in ends:
            taken += eof
            ended += 1
