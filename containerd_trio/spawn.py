"""Starting a program the cheapest way: ``posix_spawn`` (a vfork in glibc), fds placed by number.

Both the keeper (runc commands that create container processes, the server, the logger) and the
server (runc's other commands) start programs through :func:`spawn`. Nothing here waits for the
program: the keeper reaps its children in its loop, the server awaits a pidfd.

Every fd the daemon opens is close-on-exec, so a child gets exactly its stdio and the fds named
in ``fds``, under the numbers given there (``--log /proc/self/fd/3`` needs fd 3 to be the log).

A spawn costs more the more fds its caller holds: the clone copies the caller's fd table, and
the exec closes every close-on-exec fd in the copy, one by one. The keeper holds three per
container (a pidfd and two pipe ends), so a ``crowded`` spawn is made from a thread whose fd
table holds only what the spawn needs (:class:`_SmallTable`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import signal
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from . import _libc

log = logging.getLogger(__name__)

# Taken once: os.environ decodes every key and value on each pass, which cost more than the
# spawn itself. The daemon never changes its environment after start.
ENVIRONMENT: dict[str, str] = dict(os.environ)

_devnull: int | None = None


def inherited(fd: int) -> int:
    """``fd``, placed for us by our parent under its number (so not close-on-exec), made
    close-on-exec as every fd the daemon holds: a child of ours must not get it. The server's
    listening socket held by a CRIU dump that outlived the daemon kept its address taken,
    and a new daemon could not serve, until the dump ended."""
    os.set_inheritable(fd, False)
    return fd


def dev_null() -> int:
    """The process's one /dev/null fd (close-on-exec), for any child's stdio."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return _devnull


def spawn(
    argv: Sequence[str],
    *,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    fds: Mapping[int, int] | None = None,
    env: Mapping[str, str] | None = None,
    setsid: bool = False,
    crowded: bool = False,
    umask: int | None = None,
) -> int:
    """Start ``argv`` and return its pid.

    ``stdin``, ``stdout`` and ``stderr`` are fds for the child (/dev/null when None); ``fds``
    maps a number in the child to an fd of ours. ``crowded``: the caller holds many fds
    (thousands), and the spawn is made from a small fd table. ``umask``: the child's, instead
    of the caller's. Raises OSError (FileNotFoundError for a missing program) if it could not
    start.
    """
    placed = {0: stdin, 1: stdout, 2: stderr}
    wanted: dict[int, int] = {target: fd for target, fd in placed.items() if fd is not None}
    wanted.update(fds or {})
    # posix_spawn has no umask of its own to give: the child's is the process's at the clone.
    # The spawning thread shares it (it unshares its fd table only), and the caller waits for
    # the spawn, so the process's is the child's for that moment alone.
    previous = None if umask is None else os.umask(umask)
    try:
        if crowded:
            spawner = _SmallTable.get()
            if spawner is not None:
                return spawner.spawn(_Request(list(argv), sorted(wanted), env, setsid), wanted)
        return _spawn_placed(argv, wanted, env, setsid, dev_null())
    finally:
        if previous is not None:
            os.umask(previous)


def _spawn_placed(
    argv: Sequence[str],
    placed: Mapping[int, int],
    env: Mapping[str, str] | None,
    setsid: bool,
    devnull: int,
    *,
    unblock_signals: bool = False,
) -> int:
    """:func:`spawn`, with the fds to place in the child by number (stdio missing from
    ``placed`` is /dev/null)."""
    wanted = {target: devnull for target in (0, 1, 2)}
    wanted.update(placed)
    # The child applies the dup2s in order: a source whose number is another's target would be
    # overwritten before its own turn. Move such sources above every target first.
    ceiling = max(wanted) + 1
    moved: list[int] = []
    try:
        actions = []
        for target, fd in wanted.items():
            if fd < ceiling and fd != target:
                fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, ceiling)
                moved.append(fd)
            # dup2 onto itself clears close-on-exec in the child (glibc 2.29+).
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
        environment = dict(env) if env is not None else ENVIRONMENT
        # An empty mask given is not a mask left out: without it the child inherits the
        # caller's, and the spawning thread blocks every signal.
        mask: dict[str, Any] = {"setsigmask": ()} if unblock_signals else {}
        return os.posix_spawnp(
            argv[0], list(argv), environment, file_actions=actions, setsid=setsid, **mask
        )
    finally:
        for fd in moved:
            os.close(fd)


@attrs.frozen
class _Request:
    argv: list[str]
    #: The numbers in the child of the fds passed with the request, in the order passed.
    targets: list[int]
    env: Mapping[str, str] | None
    setsid: bool


_CLONE_FILES = 0x400
#: How long the process waits for the spawning thread to start before it spawns directly.
_START_TIMEOUT = 60.0
#: How often a spawn waiting for the thread's answer looks whether the thread is still there.
_ALIVE_CHECK = 1.0


class _SmallTable:
    """A thread with an fd table of its own, which spawns what the process asks of it.

    It unshares its fd table when it starts and closes all of it but its end of a socket
    pair and stdio: the process's fds stay open in the process's table, and the thread's
    holds no more than a spawn needs. The fds a spawn places are passed to it over the pair
    (``SCM_RIGHTS`` lands them in the receiver's table) and closed there after the spawn.
    So the child's clone copies, and its exec closes, a handful of fds, not the caller's
    thousands: with 3000 held, 0.59 ms of CPU per spawn and reap against 0.80 directly (an
    empty static program, the caller's and the child's CPU). With none held it costs
    0.52-0.61 ms against 0.41-0.45 directly: the hand-off pays only past about a thousand
    fds (``spawn``'s ``crowded``).

    All signals are blocked in the thread (a handler run on it would write the wakeup fd
    of a table that is not the process's), and unblocked in the child. The process waits
    for each spawn, as it waits for a direct one: spawns are one at a time.
    """

    _instance: _SmallTable | None = None
    _failed = False

    @classmethod
    def get(cls) -> _SmallTable | None:
        """The process's spawning thread, started on first use; None if it cannot be had
        (then spawns are direct: dearer, never refused)."""
        if cls._instance is None and not cls._failed:
            try:
                cls._instance = cls()
            except OSError as exc:
                cls._failed = True
                log.warning("spawning from the process's own fd table: %s", exc)
        return cls._instance

    def __init__(self) -> None:
        self._ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A number, not a socket object: the thread makes its own of the number in its own
        # table, and this table's copy is closed once the thread has its own.
        self._theirs = theirs.detach()
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="spawner", daemon=True)
        self._thread.start()
        try:
            ready = self._results.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            ready = OSError("it did not start")
        os.close(self._theirs)
        if isinstance(ready, BaseException):
            self._ours.close()
            raise OSError(f"no spawning thread: {ready}")

    def spawn(self, request: _Request, placed: Mapping[int, int]) -> int:
        self._requests.put(request)
        try:
            socket.send_fds(self._ours, [b"s"], [placed[target] for target in request.targets])
        except BaseException:
            # Not sent (EBADF for an fd that is not open, ENOBUFS): the thread takes a request
            # only with its message, so this one is still queued, and the next spawn's fds
            # would be given to it (each later spawn would run the one before it).
            self._requests.get_nowait()
            raise
        # As long as the spawn takes, as a direct one would (it blocks until the child has
        # exec'd): a spawn given up while the thread still works at it starts its program all
        # the same, once the caller has closed its fds and said it failed (a runc making a
        # container nobody knows of, its output pipes without a reader). Only a thread that is
        # gone is given up on.
        result: int | BaseException
        while True:
            try:
                result = self._results.get(timeout=_ALIVE_CHECK)
                break
            except queue.Empty:
                if self._thread.is_alive():
                    continue
            try:  # it may have answered just before it ended
                result = self._results.get_nowait()
                break
            except queue.Empty:
                _SmallTable._instance, _SmallTable._failed = None, True
                self._ours.close()
                raise OSError("the spawning thread is gone") from None
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self) -> None:
        # Here, not at the top: the keeper's package imports this module.
        from .keeper._wire import MAX_FDS, receive_fds

        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            devnull = self._own_table()
        except OSError as exc:
            self._results.put(exc)
            return
        # Closed here, in this thread's table, however the thread ends: left to its finalizer
        # (a traceback of the thread's that outlived it), another thread would close that
        # number in the process's table, some other fd.
        with socket.socket(fileno=self._theirs) as theirs:
            self._results.put(0)
            while True:
                # Close-on-exec, as every fd of the daemon's: else each child got them all.
                message, fds = receive_fds(theirs, 1, MAX_FDS)
                if not message:  # the process closed its end
                    return
                request = self._requests.get_nowait()  # put before its fds were sent
                try:
                    placed = dict(zip(request.targets, fds, strict=True))
                    result: int | BaseException = _spawn_placed(
                        request.argv, placed, request.env, request.setsid, devnull,
                        unblock_signals=True,
                    )  # fmt: skip
                except Exception as exc:  # the caller's to raise
                    result = exc
                finally:
                    for fd in fds:
                        os.close(fd)
                self._results.put(result)

    def _own_table(self) -> int:
        """Unshare this thread's fd table and close all of it but stdio and the socket's
        end (in this table only: the process's fds stay open in its own); /dev/null, made
        in it."""
        if _libc.unshare(_CLONE_FILES) != 0:
            error = _libc.last_error()
            raise OSError(error.errno, f"unshare(CLONE_FILES): {error.strerror}")
        keep = self._theirs
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 30)
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


def exit_status(info: os.waitid_result) -> int:
    """The shell's convention: the exit code, or 128+N for death by signal N."""
    if info.si_code == os.CLD_EXITED:
        return int(info.si_status)
    return 128 + int(info.si_status)
