"""``top``: every process of a container, with the columns of ``ps -ef`` (as ``docker top``).

``runc ps`` names the pids in the container's cgroup (whoever started them: a shell's children,
a daemon's workers, not only the processes the daemon started); the columns come from
``/proc`` on the host, as ps computes them: the real uid and its name, the parent, C (CPU time
over the lifetime, in percent, capped at 99 as ps caps it), the start time (boot time plus the
start in clock ticks), the terminal, the CPU time and the command line. A process that exits
between the listing and the reading is left out.
"""

from __future__ import annotations

import pwd

from . import procfs, timestamps
from .model import TopProcess

# Indexes into /proc/PID/stat's fields after the command name (see procfs).
_PPID, _TTY, _UTIME, _STIME, _START_TIME = 1, 4, 11, 12, 19
#: ps caps C here: a process that used several CPUs would show more than 100 otherwise.
_MAX_C = 99
#: Unix 98 pseudo-terminal slaves (/dev/pts/N) have majors 136 to 143.
_PTS_MAJORS = range(136, 144)
_TTY_MAJOR = 4


def read_processes(pids: list[int]) -> list[TopProcess]:
    """The processes of ``pids`` still there, oldest first (the init before its children)."""
    boot_ns = _boot_time_ns()
    uptime = _uptime()
    names: dict[int, str] = {}
    found: list[tuple[int, TopProcess]] = []
    for pid in pids:
        process = _read(pid, boot_ns, uptime, names)
        if process is not None:
            found.append(process)
    found.sort(key=lambda entry: (entry[0], entry[1].pid))
    return [process for _, process in found]


def _read(
    pid: int, boot_ns: int, uptime: float, names: dict[int, str]
) -> tuple[int, TopProcess] | None:
    command = _command_name(pid)
    fields = procfs.stat_fields(pid)
    uid = _real_uid(pid)
    if command is None or fields is None or uid is None:
        return None
    start_ticks = int(fields[_START_TIME])
    cpu_seconds = (int(fields[_UTIME]) + int(fields[_STIME])) / procfs.CLOCK_TICKS
    elapsed = uptime - start_ticks / procfs.CLOCK_TICKS
    percent = int(100 * cpu_seconds / elapsed) if elapsed > 0 else 0
    if uid not in names:
        names[uid] = _user_name(uid)
    started_ns = boot_ns + start_ticks * 1_000_000_000 // procfs.CLOCK_TICKS
    process = TopProcess(
        pid=pid,
        ppid=int(fields[_PPID]),
        uid=uid,
        user=names[uid],
        cpu_percent=min(percent, _MAX_C),
        started_at=timestamps.format_ns(started_ns),
        cpu_seconds=round(cpu_seconds, 2),
        args=_args(pid),
        command=command,
        tty=terminal_name(int(fields[_TTY])),
    )
    return start_ticks, process


def terminal_name(tty_nr: int) -> str | None:
    """The name of a controlling terminal from its device number (``tty_nr`` of proc(5))."""
    if tty_nr == 0:
        return None
    major = (tty_nr >> 8) & 0xFFF
    minor = (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if major in _PTS_MAJORS:
        return f"pts/{(major - _PTS_MAJORS.start) * 256 + minor}"
    if major == _TTY_MAJOR:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return f"{major}:{minor}"


def _command_name(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().rstrip(b"\n").decode(errors="replace")
    except OSError:
        return None


def _args(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            data = cmdline.read()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in data.split(b"\0")[:-1]]


def _real_uid(pid: int) -> int | None:
    uids = procfs.status_field(pid, "Uid")  # real, effective, saved, filesystem
    try:
        return None if uids is None else int(uids.split()[0])
    except (ValueError, IndexError):
        return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _boot_time_ns() -> int:
    """When the machine booted: ``btime`` of /proc/stat, in nanoseconds since the epoch."""
    with open("/proc/stat", "rb") as stat:
        for line in stat:
            if line.startswith(b"btime "):
                return int(line.split()[1]) * 1_000_000_000
    return 0


def _uptime() -> float:
    with open("/proc/uptime", "rb") as uptime:
        return float(uptime.read().split()[0])
