"""The API's listening socket, made by the keeper and lent to each server in turn.

The keeper holds it for the daemon's whole life, so the address never goes away: while one
server dies and the next starts, or while one hands over to the next in a live upgrade, new
connections wait in the socket's backlog instead of being refused.

Failures are one line each (the port is taken, the socket path is served by a live daemon, the
path is something else). A unix socket is 0600 (root only) or, with ``--socket-group``, 0660
and owned by that group (with the directories made for it 0711, so that the group can reach
it); the daemon removes only the socket file it made itself.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import socket
import stat
from pathlib import Path

import attrs

from .config import Listen
from .errors import StartupError

BACKLOG = 1024


@attrs.define
class Listener:
    sock: socket.socket
    listen: Listen
    #: The inode of the unix socket file we made: only that file is removed at the end.
    inode: int | None = None

    def close(self) -> None:
        path = self.listen.unix_path
        if path is not None and self.inode is not None:
            with contextlib.suppress(OSError):
                if os.lstat(path).st_ino == self.inode:
                    os.unlink(path)
        self.sock.close()


def open_listener(listen: Listen, *, socket_group: str | None = None) -> Listener:
    if listen.unix_path is not None:
        return _unix(listen, socket_group)
    return _tcp(listen)


def _tcp(listen: Listen) -> Listener:
    assert listen.host is not None and listen.port is not None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            listen.host, listen.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {listen}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (is another daemon running? choose another --listen)"
        raise StartupError(f"cannot listen on {listen}: {exc.strerror}{hint}") from None
    return Listener(sock, listen)


def socket_permissions(socket_group: str | None) -> tuple[int, int | None]:
    """The umask to make the unix socket with, and the group to give it (None: root only)."""
    if socket_group is None:
        return 0o177, None  # 0600
    try:
        return 0o117, grp.getgrnam(socket_group).gr_gid  # 0660
    except KeyError:
        raise StartupError(f"--socket-group: no group named {socket_group!r}") from None


def _unix(listen: Listen, socket_group: str | None) -> Listener:
    path = listen.unix_path
    assert path is not None
    umask, gid = socket_permissions(socket_group)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StartupError(f"cannot listen on {listen}: {exc.strerror}") from None
    else:
        if not stat.S_ISSOCK(mode):
            raise StartupError(f"cannot listen on {listen}: {path} exists and is not a socket")
        if _served(str(path)):
            raise StartupError(
                f"cannot listen on {listen}: a live daemon serves that socket; stop it first, or"
                " choose another path"
            )
        os.unlink(path)  # left by a daemon that died: nobody answers on it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _make_directories(path.parent, 0o700 if gid is None else GROUP_SOCKET_DIRECTORY_MODE)
        previous = os.umask(umask)
        try:
            sock.bind(str(path))
        finally:
            os.umask(previous)
        inode = os.lstat(path).st_ino
        if gid is not None:
            # The socket itself, never what a link put in its place since the bind points to.
            os.chown(path, -1, gid, follow_symlinks=False)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    return Listener(sock, listen, inode)


#: The mode of a directory made for a ``--socket-group`` socket: a member must pass through it
#: to the socket (the daemon's umask, 077, made it 0700, root's alone, and the group's 0660
#: socket out of its reach); 0711 lets anyone pass and no one list, as the socket's own mode
#: still decides who connects. A root-only socket's directories stay 0700.
GROUP_SOCKET_DIRECTORY_MODE = 0o711


def _make_directories(directory: Path, mode: int) -> None:
    """Make ``directory`` and the parents it lacks, each ``mode``; those already there are the
    operator's, left as they are."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs
        # The one just made, never a link put in its place since.
        fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def _served(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
