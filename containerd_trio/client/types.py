"""The shapes of the daemon's answers (docs/api.md), as ``TypedDict``s.

They describe the contract for type checkers and readers; they are not checked at run time.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class User(TypedDict):
    uid: int
    gid: int
    additionalGids: NotRequired[list[int]]


class Process(TypedDict):
    pid: int
    args: list[str]
    user: User
    terminal: bool
    env: list[str]
    cwd: str
    stdin: bool


class Exit(TypedDict):
    id: str
    exitStatus: int
    pid: NotRequired[int]
    exitedAt: NotRequired[str]
    #: True: the container did not end, it moved to another daemon (its copy here killed).
    moved: NotRequired[bool]
    movedTo: NotRequired[str]  # with moved: the target's address, if the daemon knew it


class ContainerState(TypedDict):
    status: str  # created, running, paused or stopped
    exitStatus: NotRequired[int]
    #: True while a stopped container's restart policy waits out its delay (docker's
    #: Restarting); left out otherwise.
    restarting: NotRequired[bool]
    #: When its current (or last) run began (docker's StartedAt); left out by older daemons.
    startedAt: NotRequired[str]
    #: A stopped container's: when its init exited (docker's FinishedAt), if known.
    finishedAt: NotRequired[str]
    #: True once the OOM killer killed a process of its current (or last) run (docker's
    #: OOMKilled); left out otherwise.
    oomKilled: NotRequired[bool]


class MemoryResources(TypedDict):
    limit: NotRequired[int]  # bytes; -1: no limit
    swap: NotRequired[int]  # -1 only: the bundle's swap limit lifted


class CpuResources(TypedDict):
    shares: NotRequired[int]
    quota: NotRequired[int]  # microseconds per period; -1: no limit
    period: NotRequired[int]  # microseconds
    cpus: NotRequired[float]  # docker's --cpus: a quota of 100000 us periods; 0 lifts it


class PidsResources(TypedDict):
    limit: NotRequired[int]  # -1: no limit


class Resources(TypedDict):
    """Cgroup limits in the OCI linux.resources shape; what is left out is not set."""

    memory: NotRequired[MemoryResources]
    cpu: NotRequired[CpuResources]
    pids: NotRequired[PidsResources]


class UserSpec(TypedDict, total=False):
    """A process's user as a request gives it: what is left out is the bundle's."""

    uid: int
    gid: int
    additionalGids: list[int]


class ConsoleSize(TypedDict):
    height: int  # rows
    width: int  # columns


class StartProcess(TypedDict, total=False):
    """What a start runs instead of the bundle's process; what is left out is the bundle's."""

    args: list[str]
    env: list[str]  # laid over the bundle's by name
    cwd: str
    user: UserSpec
    terminal: bool
    consoleSize: ConsoleSize  # the window's, for -t at a terminal


class RestartPolicy(TypedDict):
    """docker's --restart: name no, always, on-failure or unless-stopped."""

    name: str
    maximumRetryCount: NotRequired[int]  # with on-failure only


class Container(TypedDict):
    id: str
    bundlePath: str
    state: ContainerState
    processes: list[Process]
    createdAt: str
    labels: dict[str, str]
    resources: Resources
    #: True for a container the daemon removes once it exits; left out otherwise.
    autoRemove: NotRequired[bool]
    #: True for a container whose init's stdin was kept open (docker's -i); left out otherwise.
    stdin: NotRequired[bool]
    #: True for a container whose init's stdin the end of any attach's input closes (docker's
    #: StdinOnce: run -i attached); left out otherwise.
    stdinOnce: NotRequired[bool]
    #: The signal a stop that names none sends first (docker's StopSignal), by name; left out
    #: for SIGTERM (the start gave none).
    stopSignal: NotRequired[str]
    #: A stop's grace when it names none, in seconds (docker's StopTimeout; -1: no SIGKILL);
    #: left out for 10 (the start gave none).
    stopTimeout: NotRequired[int]
    #: True for a container whose init has a terminal (docker's Config.Tty); left out otherwise.
    terminal: NotRequired[bool]
    #: What its start ran instead of the bundle's process; left out for the bundle's own.
    process: NotRequired[StartProcess]
    #: Its restart policy (docker's --restart); left out for none.
    restartPolicy: NotRequired[RestartPolicy]
    #: How many times the policy started it again (docker's RestartCount); with restartPolicy.
    restartCount: NotRequired[int]


class PruneFailure(TypedDict):
    id: str
    error: str


class PruneReport(TypedDict):
    """What a prune removed, each as it was at the end, and what it could not remove."""

    deleted: list[Container]
    failed: list[PruneFailure]


class TopProcess(TypedDict):
    pid: int
    ppid: int
    uid: int
    user: str
    cpuPercent: int
    startedAt: str
    cpuSeconds: float
    args: list[str]
    command: str
    tty: NotRequired[str]


class ContainerTop(TypedDict):
    processes: list[TopProcess]


class PsTable(TypedDict):
    """``top`` with ps's options: ps's titles, and a line of columns a process."""

    titles: list[str]
    processes: list[list[str]]


class Machine(TypedDict):
    cpus: int
    memory: int


class State(TypedDict):
    containers: list[Container]
    machine: Machine


class RuncVersion(TypedDict):
    path: str
    version: NotRequired[str]
    commit: NotRequired[str]
    spec: NotRequired[str]
    go: NotRequired[str]
    libseccomp: NotRequired[str]


class CriuVersion(TypedDict):
    path: str
    version: NotRequired[str]


class Version(TypedDict):
    """GET /version."""

    version: str
    pythonVersion: str
    os: str
    arch: str
    kernelVersion: str
    runc: RuncVersion
    criu: NotRequired[CriuVersion]  # left out without checkpoints (--criu none)


class Info(TypedDict):
    """GET /info."""

    serverVersion: str
    name: str
    containers: int
    containersRunning: int
    containersPaused: int
    containersStopped: int
    stateDir: str
    runtime: str
    runtimeRoot: str
    cgroupVersion: str
    cgroupDriver: str
    swapLimit: bool
    keepContainers: bool
    stopContainers: bool
    cpus: int
    memory: int
    operatingSystem: str
    osType: str
    architecture: str
    kernelVersion: str
    pid: int
    startedAt: str
    uptimeSeconds: float
    serverPid: int
    serverStartedAt: str
    criu: NotRequired[str]
    warnings: list[str]


class Checkpoint(TypedDict):
    name: str
    tcp: bool
    unixSockets: bool
    shell: bool
    timestamp: str


class Event(TypedDict):
    type: str
    id: str
    pid: NotRequired[int]
    status: NotRequired[int]
    init: NotRequired[bool]  # an exit of the container's init: true (left out otherwise)
    moved: NotRequired[bool]  # that init's copy killed as its container moved away: true
    movedTo: NotRequired[str]  # with moved: where it went, if the daemon knew
    autoRemove: NotRequired[bool]  # a delete that autoRemove made at the init's exit: true
    # An exit's own time, as its wait's exitedAt (its timestamp may be later); left out of one
    # whose time is unknown and of those kept from before 2026-12-05.
    exitedAt: NotRequired[str]
    # An exit no daemon saw (its process ended while none ran: status 255): true; it has no
    # exitedAt, its timestamp is when it was found. Left out otherwise (and before 2026-12-05).
    unseen: NotRequired[bool]
    # The checkpoint-* and restore-* events' figures.
    checkpoint: NotRequired[str]
    timeout: NotRequired[float]
    bytes: NotRequired[int]
    seconds: NotRequired[float]
    frozenSeconds: NotRequired[float]
    pagesWritten: NotRequired[int]
    restoreSeconds: NotRequired[float]
    pagesRestored: NotRequired[int]
    error: NotRequired[str]
    labels: NotRequired[dict[str, str]]  # its container's, if it had any
    timestamp: str


class LogRecord(TypedDict):
    stream: str  # stdout, stderr or terminal
    pid: int  # the process that wrote it
    timestamp: str
    data: str  # UTF-8 decoded, U+FFFD for bytes that are not
    raw: NotRequired[str]  # the bytes, in base64, where they are not UTF-8


class MigrationStep(TypedDict):
    step: str  # session, bundle, pre-copy, freeze, checkpoint, transfer, restore, finish;
    # then done or failed
    seconds: float
    bytes: NotRequired[int]
    round: NotRequired[int]
    downtime: NotRequired[float]
    target: NotRequired[str]
    container: NotRequired[Container]
    error: NotRequired[str]
    rolledBack: NotRequired[bool]
