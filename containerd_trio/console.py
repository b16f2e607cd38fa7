"""Terminals of container processes: where runc hands them over, and what is done to them.

A process with ``terminal: true`` gets a pseudo-terminal that runc makes inside the container
and sends, as the master's fd, to a unix socket named by ``runc --console-socket``. The keeper
listens there (it keeps the master, see :mod:`containerd_trio.keeper`) and hands the server a
duplicate, through which the server writes input and sets the window size.

A unix socket's path holds at most 107 bytes, and state dirs can be long (a test's tmp dir is),
so the sockets live in a short private directory of the daemon's own: ``/run/ctr-trio-<hash of
the state dir>`` (or the same under the temp dir when /run cannot be written). One state dir,
one directory: a restarted server finds the same one; the server removes it when it stops.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import struct
import tempfile
import termios
from pathlib import Path

from .errors import RuntimeFailure

_BASES = ("/run", tempfile.gettempdir())


def _name(state_dir: Path) -> str:
    return "ctr-trio-" + hashlib.sha256(os.fsencode(state_dir.absolute())).hexdigest()[:12]


def socket_directory(state_dir: Path) -> Path:
    """The directory for this daemon's console sockets, made (0700, root's) if need be."""
    problems = []
    for base in _BASES:
        path = Path(base) / _name(state_dir)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
            info = os.lstat(path)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        # /tmp is anyone's: use only a directory that is ours alone.
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077:
            return path
        problems.append(f"{path} is not a private directory of ours")
    raise RuntimeFailure(f"no directory for terminal sockets: {'; '.join(problems)}")


def remove_socket_directory(state_dir: Path) -> None:
    """Remove the directory if it is empty (a spawn under way may still have its socket)."""
    for base in _BASES:
        with contextlib.suppress(OSError):
            os.rmdir(Path(base) / _name(state_dir))


def resize(master: int, columns: int, rows: int) -> None:
    """Set the terminal's window size; the kernel sends SIGWINCH to its foreground group."""
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def window_size(master: int) -> tuple[int, int]:
    """``(columns, rows)`` of the terminal."""
    rows, columns, _, _ = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, bytes(8)))
    return columns, rows


def end_of_file(master: int) -> bytes:
    """What to type for end of file at this terminal: its EOF character (Ctrl-D), which a
    program reading in canonical mode sees as EOF. A terminal cannot be closed for input
    alone: closing the master would hang it up."""
    try:
        character = termios.tcgetattr(master)[6][termios.VEOF]
    except termios.error:
        return b"\x04"
    return character if isinstance(character, bytes) else bytes((character,))
