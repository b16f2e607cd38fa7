"""libc, loaded once: the calls the daemon makes that Python's ``os`` module lacks.

Each function is declared here with its argtypes and restype, once: ctypes keeps one function
object per name on a handle, so two modules typing the same function on a shared handle would
retype it for each other. A call with arguments of other types raises ``ctypes.ArgumentError``
instead of passing C something it did not ask for.

The handle is ``dlopen(NULL)``: the symbols the interpreter already has, libc's among them.
``ctypes.util.find_library`` is not used: it runs ``ldconfig`` in a subprocess and imports
``subprocess`` and ``shutil``, which the keeper, a process of its own that imports this at its
start, has no other use for. Only ``ctypes`` and ``os`` are imported here, for the same reason.

``containerd_trio.loopback_hook`` keeps a handle of its own: runc runs it as a script with
``python -I``, which cannot import the package.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from ctypes import c_char_p, c_int, c_int64, c_long, c_size_t, c_uint32, c_ulong, c_void_p

# errno is kept per thread by ctypes after each call (use_errno): read it with last_error().
_handle = ctypes.CDLL(None, use_errno=True)


def _declare(name: str, restype: type, *argtypes: type) -> Callable[..., int]:
    function = getattr(_handle, name)
    function.restype = restype
    function.argtypes = argtypes
    declared: Callable[..., int] = function
    return declared


#: ``prctl(option, arg2, arg3, arg4, arg5)``: the kernel takes each argument as an unsigned
#: long; one that is a pointer is passed as its address (``ctypes.addressof``).
prctl = _declare("prctl", c_int, c_int, c_ulong, c_ulong, c_ulong, c_ulong)
#: ``unshare(flags)``.
unshare = _declare("unshare", c_int, c_int)
#: ``umount2(target, flags)``.
umount2 = _declare("umount2", c_int, c_char_p, c_int)
#: ``fallocate(fd, mode, offset, len)``: offsets are 64-bit (off_t, with large files).
fallocate = _declare("fallocate", c_int, c_int, c_int, c_int64, c_int64)
#: ``inotify_init1(flags)``.
inotify_init1 = _declare("inotify_init1", c_int, c_int)
#: ``inotify_add_watch(fd, path, mask)``.
inotify_add_watch = _declare("inotify_add_watch", c_int, c_int, c_char_p, c_uint32)
#: ``inotify_rm_watch(fd, wd)``.
inotify_rm_watch = _declare("inotify_rm_watch", c_int, c_int, c_int)

#: ``syscall(SYS_openat2, dirfd, path, &how, sizeof how)``: ``syscall`` typed for openat2, the
#: one system call made through it. A prototype of its own, not the handle's ``syscall``:
#: syscall is variadic, and another system call would need other argtypes.
syscall_openat2: Callable[..., int] = ctypes.CFUNCTYPE(
    c_long, c_long, c_int, c_char_p, c_void_p, c_size_t, use_errno=True
)(("syscall", _handle))


def last_error(filename: str | None = None) -> OSError:
    """The error the last call here failed with, from the errno it left (in this thread)."""
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), filename)
