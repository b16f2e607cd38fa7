"""The daemon's answers as plain data: what a container and its processes look like to clients.

These are snapshots, built from the live objects in :mod:`container` when asked for; they are
what the API returns and what :mod:`records` keeps on disk.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from .validation import (
    ABSOLUTE_PATH,
    CONSOLE_DIMENSION,
    CONTAINER_ID,
    CPU_PERIOD,
    CPU_QUOTA,
    CPU_SHARES,
    CPUS,
    ENVIRONMENT,
    GROUP_IDS,
    MEMORY_LIMIT,
    MEMORY_SWAP,
    NOT_NEGATIVE,
    PIDS_LIMIT,
    PROGRAM,
    RESTART_POLICY_NAME,
    STOP_SIGNAL,
    STOP_TIMEOUT,
    UNIX_ID,
    OnlyWhen,
    class_rule,
    doc,
)


class Status(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class WaitCondition(enum.Enum):
    """What a wait for a container answers at (docker's ``condition``)."""

    NOT_RUNNING = "not-running"
    NEXT_EXIT = "next-exit"
    REMOVED = "removed"


@attrs.frozen
class User:
    """The user a process runs as."""

    uid: int = attrs.field(default=0, validator=UNIX_ID)
    gid: int = attrs.field(default=0, validator=UNIX_ID)
    additional_gids: list[int] | None = attrs.field(default=None, validator=GROUP_IDS)


@attrs.frozen
class UserSpec:
    """The user an added process runs as: a uid or gid left out is the bundle's."""

    uid: int | None = attrs.field(
        default=None, validator=UNIX_ID, metadata=doc("The bundle's when left out.")
    )
    gid: int | None = attrs.field(
        default=None, validator=UNIX_ID, metadata=doc("The bundle's when left out.")
    )
    additional_gids: list[int] | None = attrs.field(
        default=None,
        validator=GROUP_IDS,
        metadata=doc(
            "When left out: the bundle's if uid and gid are left out too, else none (a process"
            " of another user does not take the bundle user's groups)."
        ),
    )


@attrs.frozen
class ConsoleSize:
    """A terminal's size, as the OCI process's ``consoleSize``."""

    height: int = attrs.field(validator=CONSOLE_DIMENSION, metadata=doc("Rows."))
    width: int = attrs.field(validator=CONSOLE_DIMENSION, metadata=doc("Columns."))


@attrs.frozen
class ProcessSpec:
    """An OCI process to start in a running container (the ProcessSpec); what is left out is
    taken from the bundle."""

    args: list[str] = attrs.field(validator=PROGRAM, metadata=doc("The program and its arguments."))
    env: list[str] | None = attrs.field(
        default=None,
        validator=ENVIRONMENT,
        metadata=doc("KEY=value entries; the bundle's when left out."),
    )
    cwd: str | None = attrs.field(
        default=None,
        validator=ABSOLUTE_PATH,
        metadata=doc("The working directory, an absolute path; the bundle's when left out."),
    )
    user: UserSpec | None = attrs.field(
        default=None,
        metadata=doc("The user to run as; what is left out (or all of it) is the bundle's."),
    )
    terminal: bool = attrs.field(
        default=False,
        metadata=doc(
            "Give the process a terminal: its stdin, stdout and stderr, one stream ('terminal'"
            " in the log), with input and resizing through attach."
        ),
    )
    stdin: bool = attrs.field(
        default=False,
        metadata=doc(
            "Keep the process's stdin open for input through attach (a terminal always takes"
            " input); closing it there gives the process EOF."
        ),
    )
    console_size: ConsoleSize | None = attrs.field(
        default=None, metadata=doc("The terminal's size at start (with terminal).")
    )


@attrs.frozen
class StartProcess:
    """What a start runs instead of the bundle's process, as ``docker run IMAGE CMD...`` with
    ``-e``, ``-w``, ``-u``, ``-t``: each field given replaces the bundle's (``env`` is laid
    over the bundle's by name); what is left out is the bundle's."""

    args: list[str] | None = attrs.field(
        default=None,
        validator=PROGRAM,
        metadata=doc("The program and its arguments, instead of the bundle's process.args."),
    )
    env: list[str] | None = attrs.field(
        default=None,
        validator=ENVIRONMENT,
        metadata=doc(
            "KEY=value entries laid over the bundle's process.env by name, as docker run -e:"
            " a name the bundle has takes the new value, in its place; a new one is added."
        ),
    )
    cwd: str | None = attrs.field(
        default=None,
        validator=ABSOLUTE_PATH,
        metadata=doc("The working directory, an absolute path, instead of the bundle's."),
    )
    user: UserSpec | None = attrs.field(
        default=None,
        metadata=doc("The user to run as, as an exec's: what is left out is the bundle's."),
    )
    terminal: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: a terminal even if the bundle's process has none (run -it on any bundle);"
            " false: none even if it has one."
        ),
    )
    console_size: ConsoleSize | None = attrs.field(
        default=None,
        metadata=doc(
            "The terminal's size at start, instead of the bundle's process.consoleSize: the"
            " client's window (docker run -it's), which a program that reads it at once sees."
        ),
    )


def without_console_size(process: StartProcess | None) -> StartProcess | None:
    """The start's ``process`` without its terminal's size, for a daemon older than
    ``consoleSize`` in it (2026-12-03), which refuses the field (a migration's target); None
    if nothing else is left (a start's process names something)."""
    if process is None or process.console_size is None:
        return process
    rest = attrs.evolve(process, console_size=None)
    return None if rest == StartProcess() else rest


@attrs.frozen
class ProcessInfo:
    """A live process the daemon started in a container."""

    pid: int = attrs.field(metadata=doc("Its pid, as the host sees it.", minimum=1))
    args: list[str]
    user: User
    terminal: bool
    env: list[str]
    cwd: str
    stdin: bool = attrs.field(
        default=False, metadata=doc("It was started with its stdin open for attach.")
    )


@attrs.frozen
class ExitInfo:
    """How a process (or a container's init) ended."""

    id: str = attrs.field(metadata=doc("The container id.", like=CONTAINER_ID))
    exit_status: int = attrs.field(
        metadata=doc("Its exit code, or 128+N if signal N killed it; 255 when unknown.")
    )
    pid: int | None = attrs.field(
        default=None,
        metadata=doc(
            "The process, as the host saw it (unknown for an init that ended while no server ran).",
            minimum=1,
        ),
    )
    exited_at: str | None = attrs.field(
        default=None, metadata=doc("When it ended (RFC 3339), if known.", format="date-time")
    )
    # A move's end on its source is no end of the container, which runs on at its target: a
    # waiter there learns where it went, not only the 137 of the copy the move killed.
    moved: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: the container did not end but moved to another daemon (a migration): this"
            " is its init's copy here, killed once the target kept it (exitStatus 137); left"
            " out otherwise."
        ),
    )
    moved_to: str | None = attrs.field(
        default=None,
        metadata=doc(
            "With moved: the target daemon's address, as the migration's 'to' named it (left"
            " out if not known)."
        ),
    )


@attrs.frozen
class ContainerState:
    """A stopped container also has exitStatus and finishedAt, and restarting while its
    restart policy's delay runs; startedAt is its current (or last) run's start; oomKilled
    once the OOM killer killed a process of that run."""

    status: Status
    exit_status: int | None = attrs.field(
        default=None,
        metadata=doc("Set once stopped: the init's exit code, or 128+N if signal N killed it."),
    )
    restarting: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: stopped, and its restart policy starts it again once its delay has passed"
            " (docker's Restarting); left out otherwise."
        ),
    )
    # Optional for the records and answers of older daemons, which have neither: this one
    # always gives startedAt.
    started_at: str | None = attrs.field(
        default=None,
        metadata=doc(
            "When its current run (the last, once stopped) began, RFC 3339 with nanoseconds"
            " (docker's StartedAt): a start's or a restore's is the container's createdAt; a"
            " restart by its restart policy or a start again begins a run of its own, and a"
            " container moved here its restore. Left out by daemons older than it.",
            format="date-time",
        ),
    )
    finished_at: str | None = attrs.field(
        default=None,
        metadata=doc(
            "Set once stopped: when its init exited, RFC 3339 with nanoseconds (docker's"
            " FinishedAt; a wait's exitedAt). Left out while it runs, and for an exit no"
            " daemon saw (255).",
            format="date-time",
        ),
    )
    # Last, as docker's State lists OOMKilled after the run's status: a record of an older
    # daemon has none, and reads as no kill.
    oom_killed: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: the kernel's OOM killer killed a process of the container (any, not only"
            " its init: docker's OOMKilled) during its current run, the last once stopped, as"
            " an oom event said. Watched in a container with a memory limit. A start again"
            " and a restart by its restart policy begin a run without. Left out otherwise."
        ),
    )


def memory_swap_field() -> Any:
    """A memory limit's ``swap``: the daemon's (:class:`MemoryResources`) and a client's
    request's (its schema's ``MemoryRequest``) alike."""
    return attrs.field(
        default=None,
        validator=MEMORY_SWAP,
        metadata=doc(
            "-1 only: the bundle's swap limit (cgroup v1: memory and swap together) lifted, as"
            " a memory limit of -1 lifts it too. Left out: the bundle's, in force, or beside a"
            " memory limit of the daemon's, where the host accounts swap, docker's twice it."
        ),
    )


@attrs.frozen
class MemoryResources:
    limit: int | None = attrs.field(
        default=None,
        validator=MEMORY_LIMIT,
        metadata=doc("The memory limit in bytes (the kernel counts whole pages); -1: none."),
    )
    swap: int | None = memory_swap_field()


@attrs.frozen
class CpuResources:
    shares: int | None = attrs.field(
        default=None,
        validator=CPU_SHARES,
        metadata=doc("The CPU weight against other cgroups (1024 is the kernel's default)."),
    )
    quota: int | None = attrs.field(
        default=None,
        validator=CPU_QUOTA,
        metadata=doc("Microseconds of CPU per period (50000 of 100000: half a CPU); -1: none."),
    )
    period: int | None = attrs.field(
        default=None,
        validator=CPU_PERIOD,
        metadata=doc("The period of the quota, in microseconds (the kernel's default: 100000)."),
    )
    cpus: float | None = attrs.field(
        default=None,
        validator=CPUS,
        metadata=doc(
            "How many CPUs' time (docker's --cpus, NanoCPUs): a quota of a 100000 us period"
            " (0.5: 50000 us of each), which the daemon sets beside it, never with quota or"
            " period in one change (400); kept in the container's limits, where it holds the"
            " quota and period to it: a later change of either is a 409 until it is lifted"
            " with 0 (its quota with it: -1); itself a 409 once the user set a period (for"
            " good) or a quota (until lifted with -1), as docker's."
        ),
    )


@attrs.frozen
class PidsResources:
    limit: int | None = attrs.field(
        default=None,
        validator=PIDS_LIMIT,
        metadata=doc("How many processes (and threads) the container may hold; -1: no limit."),
    )


@attrs.frozen
class Resources:
    """Cgroup limits, in the shape of the OCI bundle's ``linux.resources``; a limit left out is
    not set (or, in an update, left as it is)."""

    memory: MemoryResources | None = None
    cpu: CpuResources | None = None
    pids: PidsResources | None = None


@attrs.frozen
@class_rule(
    OnlyWhen(
        "maximum_retry_count", "name", "on-failure", hint="docker's --restart on-failure:N", none=0
    )
)
class RestartPolicy:
    """What the daemon does once the container's init exits, as docker's ``--restart``: ``no``
    (nothing), ``always`` (start it again), ``unless-stopped`` (the same: both leave alone a
    container its user stopped), ``on-failure`` (start it again after a non-zero exit, at most
    ``maximumRetryCount`` times)."""

    name: str = attrs.field(
        validator=RESTART_POLICY_NAME,
        metadata=doc(
            "no, always, on-failure or unless-stopped (docker's names); an empty name is no"
            " in a start, as moby's create takes it (old clients send it), and leaves the"
            " policy as it is in a PATCH, as moby's update."
        ),
    )
    maximum_retry_count: int | None = attrs.field(
        default=None,
        validator=NOT_NEGATIVE,
        metadata=doc(
            "With on-failure only: how many times it is started again at most (0 or left"
            " out: no limit); beside another policy, 0 alone (docker's clients send it)."
        ),
    )


@attrs.frozen
class ContainerInfo:
    """A container as the daemon lists it."""

    id: str = attrs.field(metadata=doc("The container id.", like=CONTAINER_ID))
    bundle_path: str = attrs.field(metadata=doc("The absolute path of the container's OCI bundle."))
    state: ContainerState
    processes: list[ProcessInfo] = attrs.field(
        metadata=doc("The live processes the daemon started, init first.")
    )
    created_at: str = attrs.field(metadata=doc("RFC 3339 with nanoseconds.", format="date-time"))
    labels: dict[str, str] = attrs.Factory(dict)
    resources: Resources = attrs.field(
        factory=lambda: Resources(),
        metadata=doc(
            "The cgroup limits in force: the bundle's linux.resources, with the start's own"
            " resources and each update (PATCH with resources) laid over them."
        ),
    )
    auto_remove: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: the daemon removes the container once its init exits (it was started with"
            " autoRemove, as docker run --rm); left out otherwise."
        ),
    )
    stdin: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: its init's stdin was kept open (the start's stdin, or a restored init that"
            " read a pipe), as docker run -i; a start again of the stopped container"
            " (ctr-trio start ID, restart) keeps it open again. Left out otherwise."
        ),
    )
    stdin_once: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: the end of an attach session's input closes its init's stdin, whichever"
            " session that is (the start's stdinOnce, docker's StdinOnce: ctr-trio run -i"
            " without -d sets it); kept by a start again. Left out otherwise."
        ),
    )
    stop_signal: str | None = attrs.field(
        default=None,
        validator=STOP_SIGNAL,
        metadata=doc(
            "The signal a stop sends first when it names none (the start's stopSignal, as"
            " docker's StopSignal: ctr-trio stop and restart without -s, a DELETE), by its"
            " name (SIGQUIT; 32 and 33 by number); kept by a start again. Left out when the"
            " start gave none: SIGTERM."
        ),
    )
    stop_timeout: int | None = attrs.field(
        default=None,
        validator=STOP_TIMEOUT,
        metadata=doc(
            "The seconds from that signal to SIGKILL when a stop names none (the start's"
            " stopTimeout, as docker's StopTimeout: ctr-trio stop and restart without -t, a"
            " DELETE without timeout; the daemon's stop too), -1 for no SIGKILL; kept by a"
            " start again. Left out when the start gave none: 10 (the daemon's stop: its"
            " --shutdown-timeout)."
        ),
    )
    terminal: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: its init has a terminal (the start's process, else the bundle's, as its"
            " last start or restore ran it; docker inspect's Config.Tty). Left out otherwise."
        ),
    )
    process: StartProcess | None = attrs.field(
        default=None,
        metadata=doc(
            "What its start ran instead of the bundle's process (the start's process), as the"
            " start gave it; a start again of the stopped container (ctr-trio start ID,"
            " restart) sends it again. Left out for a container that runs its bundle's."
        ),
    )
    restart_policy: RestartPolicy | None = attrs.field(
        default=None,
        metadata=doc(
            "What the daemon does once its init exits (the start's restartPolicy, or a"
            " PATCH's); left out for none (docker's no)."
        ),
    )
    restart_count: int | None = attrs.field(
        default=None,
        metadata=doc(
            "How many times the restart policy started it again since its user's start"
            " (docker inspect's RestartCount); there with restartPolicy only."
        ),
    )


@attrs.frozen
class PruneFailure:
    """A stopped container a prune could not remove, and why."""

    id: str = attrs.field(metadata=doc("The container id.", like=CONTAINER_ID))
    error: str = attrs.field(metadata=doc("Why, in the words its own DELETE would answer."))


@attrs.frozen
class PruneReport:
    """What a prune removed (docker's container prune), and what it could not."""

    deleted: list[ContainerInfo] = attrs.field(
        metadata=doc("Each container removed, as it was at the end, in the order removed.")
    )
    failed: list[PruneFailure] = attrs.field(
        metadata=doc("Each stopped container whose removal failed: it stays, stopped.")
    )


@attrs.frozen
class TopProcess:
    """A process in the container, as ``ps -ef`` on the host shows it."""

    pid: int = attrs.field(metadata=doc("Its pid, as the host sees it."))
    ppid: int = attrs.field(metadata=doc("Its parent's pid, as the host sees it."))
    uid: int = attrs.field(metadata=doc("Its real user id, as the host sees it."))
    user: str = attrs.field(metadata=doc("That user's name on the host, or the uid."))
    cpu_percent: int = attrs.field(
        metadata=doc("ps's C: CPU time over its lifetime, in percent of one CPU (at most 99).")
    )
    started_at: str = attrs.field(metadata=doc("When it started (RFC 3339).", format="date-time"))
    cpu_seconds: float = attrs.field(metadata=doc("User and system CPU time it used."))
    args: list[str] = attrs.field(
        metadata=doc("Its command line; empty for a zombie (then see command).")
    )
    command: str = attrs.field(metadata=doc("The kernel's name of its program (comm)."))
    tty: str | None = attrs.field(
        default=None, metadata=doc("Its controlling terminal (pts/0); left out if none.")
    )


@attrs.frozen
class ContainerTop:
    """Every process in the container's cgroup (runc ps), whoever started it, oldest first."""

    processes: list[TopProcess]


@attrs.frozen
class PsTable:
    """ps's own table of the container's processes, with the options a client gave it
    (``ps_args``, as docker top's): its header, and the lines of the container's processes."""

    titles: list[str] = attrs.field(
        metadata=doc("ps's header, a title a column (PID among them): USER, PID, %CPU, ...")
    )
    processes: list[list[str]] = attrs.field(
        metadata=doc(
            "A line a process of the container (or a thread, with ps's m), as many columns as"
            " titles: the last takes the rest of the line, spaces and all; another whose"
            " values hold spaces (lstart's date) keeps them, each word in the column it lies"
            " under in ps's layout."
        )
    )


@attrs.frozen
class MachineInfo:
    """The machine the daemon runs on."""

    cpus: int = attrs.field(metadata=doc("Online CPUs.", minimum=1))
    memory: int = attrs.field(metadata=doc("MemTotal, in bytes.", minimum=0))


@attrs.frozen
class DaemonState:
    """Every listed container, and the machine."""

    containers: list[ContainerInfo]
    machine: MachineInfo


# --- the daemon itself: GET /version and GET /info (see about.py) -----------------------------


@attrs.frozen
class RuncVersion:
    """runc, as ``runc --version`` describes itself (read once by each server)."""

    path: str = attrs.field(metadata=doc("The binary the daemon runs (--runtime), on PATH."))
    version: str | None = attrs.field(
        default=None,
        metadata=doc("Its version ('runc version X'); left out if it did not say one."),
    )
    commit: str | None = attrs.field(
        default=None, metadata=doc("Its commit line; left out if it printed none.")
    )
    spec: str | None = attrs.field(
        default=None,
        metadata=doc("The version of the OCI runtime spec it implements; left out if not said."),
    )
    go: str | None = attrs.field(
        default=None, metadata=doc("The Go it was built with; left out if not said.")
    )
    libseccomp: str | None = attrs.field(
        default=None, metadata=doc("The libseccomp it was built with; left out if not said.")
    )


@attrs.frozen
class CriuVersion:
    """CRIU, as ``criu --version`` describes itself (read once by each server)."""

    path: str = attrs.field(metadata=doc("The binary runc is given for checkpoints (--criu)."))
    version: str | None = attrs.field(
        default=None,
        metadata=doc("Its version ('Version: X'); left out if it did not say one."),
    )


@attrs.frozen
class VersionInfo:
    """What the daemon is made of, as ``docker version``'s server part: its own version, its
    Python, runc's and CRIU's, and the host's kernel."""

    version: str = attrs.field(metadata=doc("containerd-trio's version (the server's code)."))
    python_version: str = attrs.field(metadata=doc("The server's Python (major.minor.micro)."))
    os: str = attrs.field(metadata=doc("The kernel's name in lower case (uname -s): linux."))
    arch: str = attrs.field(metadata=doc("The machine (uname -m): x86_64, aarch64, ..."))
    kernel_version: str = attrs.field(metadata=doc("The kernel's release (uname -r)."))
    runc: RuncVersion
    criu: CriuVersion | None = attrs.field(
        default=None, metadata=doc("Left out for a daemon without checkpoints (--criu none).")
    )


@attrs.frozen
class DaemonInfo:
    """The daemon and its host, as ``docker info`` shows them: each field read from the
    thing itself when asked (the container table, /proc, uname, /sys/fs/cgroup)."""

    server_version: str = attrs.field(metadata=doc("containerd-trio's version."))
    name: str = attrs.field(metadata=doc("The host's name (uname -n)."))
    containers: int = attrs.field(metadata=doc("Containers listed (as GET /state lists them)."))
    containers_running: int = attrs.field(metadata=doc("Of those, running."))
    containers_paused: int = attrs.field(metadata=doc("Of those, paused."))
    containers_stopped: int = attrs.field(metadata=doc("Of those, stopped."))
    state_dir: str = attrs.field(metadata=doc("Records, logs and events (--state-dir)."))
    runtime: str = attrs.field(metadata=doc("The runc binary (--runtime), on PATH."))
    runtime_root: str = attrs.field(metadata=doc("runc's --root: runc list there shows them."))
    cgroup_version: str = attrs.field(
        metadata=doc("1 (v1 or hybrid: /sys/fs/cgroup has v1 controllers) or 2 (unified).")
    )
    cgroup_driver: str = attrs.field(
        metadata=doc("How runc makes cgroups: cgroupfs (the daemon never asks for systemd's).")
    )
    swap_limit: bool = attrs.field(
        metadata=doc("Whether a memory limit may bound swap (the kernel accounts swap).")
    )
    keep_containers: bool = attrs.field(
        metadata=doc("--keep-containers: they run on as the daemon stops (docker's live restore).")
    )
    stop_containers: bool = attrs.field(
        metadata=doc(
            "--stop-containers: they are stopped and kept as the daemon stops, for the next"
            " daemon to start again as their restart policies say (docker's daemon stop)."
        )
    )
    cpus: int = attrs.field(metadata=doc("Online CPUs.", minimum=1))
    memory: int = attrs.field(metadata=doc("MemTotal, in bytes.", minimum=0))
    operating_system: str = attrs.field(
        metadata=doc("PRETTY_NAME of /etc/os-release, else the kernel's name.")
    )
    os_type: str = attrs.field(metadata=doc("The kernel's name in lower case: linux."))
    architecture: str = attrs.field(metadata=doc("The machine (uname -m)."))
    kernel_version: str = attrs.field(metadata=doc("The kernel's release (uname -r)."))
    pid: int = attrs.field(metadata=doc("The daemon's pid: its keeper's, the containers' parent."))
    started_at: str = attrs.field(
        metadata=doc("When the daemon (its keeper) started (RFC 3339).", format="date-time")
    )
    uptime_seconds: float = attrs.field(metadata=doc("Seconds since then.", minimum=0))
    server_pid: int = attrs.field(
        metadata=doc("The serving process's pid: a reload or a crash gives a new one.")
    )
    server_started_at: str = attrs.field(
        metadata=doc("When the serving process started (RFC 3339).", format="date-time")
    )
    criu: str | None = attrs.field(
        default=None,
        metadata=doc("The CRIU binary (--criu); left out without checkpoints (--criu none)."),
    )
    warnings: list[str] = attrs.field(
        factory=list,
        metadata=doc("What docker info would warn of here: plain TCP off loopback, no swap limit."),
    )
