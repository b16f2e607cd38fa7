"""Noticing that the kernel killed a container's process for memory.

cgroup v1: an eventfd registered through ``cgroup.event_control`` on ``memory.oom_control``
fires on each OOM; the ``oom_kill`` counter in ``memory.oom_control`` says how many kills there
were. cgroup v2: ``memory.events`` carries the same counter and inotify says when it changed.

The counter is the truth and the notification only a hint: a container under a tiny limit can be
killed within milliseconds of its start, before any watcher is in place, so the counter is read
when the watch begins and again when the init exits, and an event is reported for every rise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import attrs
import trio

from . import _libc

log = logging.getLogger(__name__)

_V1_ROOT = "/sys/fs/cgroup/memory"
_V2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")


@attrs.define
class MemoryCgroup:
    path: str
    version: int  # 1 or 2

    @property
    def counter_file(self) -> str:
        return f"{self.path}/{'memory.oom_control' if self.version == 1 else 'memory.events'}"

    def oom_kills(self) -> int | None:
        """The cgroup's ``oom_kill`` counter, or None if the cgroup is gone."""
        try:
            fd = os.open(self.counter_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return parse_oom_kill(os.read(fd, 4096).decode())
        except OSError:
            return None
        finally:
            os.close(fd)


def parse_oom_kill(text: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """From /proc/PID/cgroup: (the v1 memory controller's path, the v2 unified path)."""
    v1 = v2 = None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v1, v2


def find_memory_cgroup(
    pid: int, runc_paths: Callable[[], dict[str, str]] | None = None
) -> MemoryCgroup | None:
    """The container's memory cgroup, from /proc/PID/cgroup.

    A process that died before this is asked (an OOM kill can take milliseconds) shows the root
    cgroup there; then ``runc_paths`` (runc's own record of the container's cgroups) is asked.
    A root path is never taken: its counter counts the whole machine.
    """
    try:
        with open(f"/proc/{pid}/cgroup") as listing:
            v1, v2 = parse_proc_cgroup(listing.read())
    except OSError:
        v1 = v2 = None
    if v1 not in (None, "/"):
        candidate = f"{_V1_ROOT}{v1}"
        if os.path.exists(f"{candidate}/memory.oom_control"):
            return MemoryCgroup(candidate, 1)
    if v1 is None and v2 not in (None, "/"):
        for root in _V2_ROOTS:
            candidate = f"{root}{v2}"
            if os.path.exists(f"{candidate}/memory.events"):
                return MemoryCgroup(candidate, 2)
    paths = runc_paths() if runc_paths is not None else {}
    for key, version in (("memory", 1), ("", 2)):
        path = paths.get(key)
        name = "memory.oom_control" if version == 1 else "memory.events"
        if path and os.path.exists(f"{path}/{name}"):
            return MemoryCgroup(path, version)
    return None


class OomCounter:
    """Reports each rise of a cgroup's ``oom_kill`` counter exactly once."""

    def __init__(self, cgroup: MemoryCgroup, report: Callable[[], None]) -> None:
        self.cgroup = cgroup
        self._report = report
        self._seen = 0

    def check(self) -> None:
        kills = self.cgroup.oom_kills()
        if kills is None:
            return
        while self._seen < kills:
            self._seen += 1
            self._report()

    @property
    def seen(self) -> int:
        """The kills reported (or taken silently) so far."""
        return self._seen

    def resume_from(self, seen: int) -> None:
        """Go on from ``seen`` kills reported (by a server before this one): the next
        :meth:`check` reports those counted since."""
        self._seen = seen

    def check_silently(self) -> None:
        """Take the counter as it stands without reporting (kills already reported before)."""
        self._seen = self.cgroup.oom_kills() or 0

    async def watch(self) -> None:
        """Check on every notification until cancelled. Checks once at once, too."""
        self.check()
        if self.cgroup.version == 1:
            await self._watch_v1()
        else:
            await self._watch_v2()

    async def _check_soon(self) -> None:
        """The notification comes as the OOM begins, the count once the victim is chosen:
        look again for a moment if the count has not risen yet. (Exits re-check it too.)"""
        before = self._seen
        for _ in range(10):
            self.check()
            if self._seen != before:
                return
            await trio.sleep(0.01)

    async def _watch_v1(self) -> None:
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            control = os.open(f"{self.cgroup.path}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                registration = os.open(f"{self.cgroup.path}/cgroup.event_control", os.O_WRONLY)
                try:
                    os.write(registration, f"{efd} {control}".encode())
                finally:
                    os.close(registration)
            finally:
                os.close(control)
            while True:
                await trio.lowlevel.wait_readable(efd)
                try:
                    os.eventfd_read(efd)
                except BlockingIOError:
                    continue
                if not os.path.exists(self.cgroup.path):
                    return  # the eventfd also fires when the cgroup is removed
                await self._check_soon()
        finally:
            trio.lowlevel.notify_closing(efd)
            os.close(efd)

    async def _watch_v2(self) -> None:
        inotify = _Inotify.open()
        if inotify is None:
            return  # no inotify: the check at exit still reports the kill
        try:
            inotify.watch(self.cgroup.counter_file)
            while True:
                await trio.lowlevel.wait_readable(inotify.fd)
                inotify.drain()
                await self._check_soon()
        finally:
            inotify.close()


class _Inotify:
    """Just enough inotify (through libc) to hear that ``memory.events`` changed."""

    _IN_MODIFY = 0x00000002

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls) -> _Inotify | None:
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.warning("inotify_init1 failed: %s", _libc.last_error().strerror)
            return None
        return cls(fd)

    def watch(self, path: str) -> None:
        if _libc.inotify_add_watch(self.fd, os.fsencode(path), self._IN_MODIFY) < 0:
            raise _libc.last_error(str(path))

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.fd)
        os.close(self.fd)
