"""What clients send: request bodies, and each route's path and query parameters.

Both are attrs classes, and their fields carry the rules (:mod:`containerd_trio.validation`):
the daemon's one converter structures a body and runs them, :mod:`.params` decodes parameters
and runs them, and the OpenAPI document describes the same classes. Bodies refuse unknown fields;
parameter classes are ``kw_only`` and without slots, so that they compose from the mixins
below in any order.
"""

from __future__ import annotations

import enum
from typing import NewType

import attrs

from ..archive import BundleContent, Compression
from ..attach import Cursor
from ..client.protocol import Endpoint
from ..convert import converter, json_type, register_type
from ..migration.outgoing import Plan
from ..model import (
    CpuResources,
    MemoryResources,
    PidsResources,
    ProcessSpec,
    Resources,
    RestartPolicy,
    StartProcess,
    Status,
    WaitCondition,
    memory_swap_field,
)
from ..runtime import CriuOptions
from ..signals import LISTED_NAMES, MAX_SIGNAL, SIGNAL_PATTERN
from ..validation import (
    ABSOLUTE_PATH,
    BUNDLE_PATH,
    CHECKPOINT_NAME,
    CONTAINER_ID,
    DEADLINE,
    LABELS,
    MIGRATION_ID,
    NOT_NEGATIVE,
    PID,
    PRE_COPY_ROUNDS,
    REQUESTED_MEMORY_LIMIT,
    SECONDS,
    STOP_SECONDS,
    STOP_TIMEOUT,
    TIMESTAMP,
    ExactlyOne,
    Rule,
    class_rule,
    doc,
    parse_signal,
)
from .params import (
    WIRE_NAME,
    ContainerIds,
    EventTypes,
    LabelFilters,
    Moment,
    QuerySignal,
    TailCount,
)

#: A signal as clients may write it: 9, "9", "KILL" or "SIGKILL".
Signal = NewType("Signal", int)
register_type(
    Signal,
    lambda value: Signal(parse_signal(value)),
    name="Signal",
    schema={
        "description": f"A signal: an integer 1..{MAX_SIGNAL}, or a string: the number (a whole"
        ' number as a query\'s: "9", "09", "+9"), or a name with or without the SIG prefix, in'
        ' any case ("SIGTERM", "TERM", "term"); the real-time signals as kill(1) names them,'
        ' "RTMIN+3", "SIGRTMAX-2" (any N that stays in 34..64). No white space.',
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_SIGNAL},
            # The listed names are examples of the pattern, which takes every case of them.
            {"type": "string", "pattern": SIGNAL_PATTERN, "examples": list(LISTED_NAMES)},
        ],
    },
)


class DesiredStatus(enum.Enum):
    """The states a client may ask a container to move to (PATCH)."""

    PAUSED = "paused"
    RUNNING = "running"

    @property
    def status(self) -> Status:
        return Status(self.value)


def _desired_status(value: object) -> DesiredStatus:
    if value in ("paused", "running"):
        return DesiredStatus(value)
    # Said as JSON, cut short: a list of long strings was quoted whole, in Python's words.
    raise ValueError(f'status must be "paused" or "running", not {json_type(value)}')


# Only for the message: the enum's own schema (its values) describes it.
converter.register_structure_hook(DesiredStatus, lambda value, _: _desired_status(value))


# --- bodies -------------------------------------------------------------------------------------


@attrs.frozen
class MemoryRequest:
    """A memory limit as a client asks for it: :class:`~containerd_trio.model.MemoryResources`
    with docker's floor (its own rule keeps the kernel's, for the limits already in force that
    records and checkpoints hold)."""

    limit: int | None = attrs.field(
        default=None,
        validator=REQUESTED_MEMORY_LIMIT,
        metadata=doc(
            "The memory limit in bytes (the kernel counts whole pages), at least 6 MiB"
            " (docker's minimum); -1: none."
        ),
    )
    swap: int | None = memory_swap_field()


@attrs.frozen
class ResourcesRequest:
    """Cgroup limits as a client asks for them (a start's, an update's), in the shape of the
    OCI bundle's ``linux.resources``; a limit left out is not set (or, in an update, left as
    it is)."""

    memory: MemoryRequest | None = None
    cpu: CpuResources | None = None
    pids: PidsResources | None = None

    def resources(self) -> Resources:
        """The same limits, as the daemon keeps them."""
        memory = self.memory
        return Resources(
            memory=None if memory is None else MemoryResources(memory.limit, memory.swap),
            cpu=self.cpu,
            pids=self.pids,
        )


@attrs.frozen
class StartRequest:
    """Start a container from an OCI bundle, or restore it from a checkpoint."""

    bundle_path: str = attrs.field(
        validator=BUNDLE_PATH,
        metadata=doc(
            "The absolute path of an OCI bundle (a directory with config.json), without '..'."
        ),
    )
    checkpoint: str | None = attrs.field(
        default=None,
        validator=CHECKPOINT_NAME,
        metadata=doc(
            "Restore from {bundlePath}/checkpoints/{checkpoint} instead of a fresh start."
        ),
    )
    labels: dict[str, str] = attrs.field(
        factory=dict,
        validator=LABELS,
        metadata=doc(
            "Names and values, as docker's: a name is not empty and holds no control"
            " character, a value holds no NUL."
        ),
    )
    stdin: bool = attrs.field(
        default=False,
        metadata=doc(
            "Keep the init's stdin open for input through attach (a bundle whose process has"
            " a terminal takes input through it anyway)."
        ),
    )
    stdin_once: bool = attrs.field(
        default=False,
        metadata=doc(
            "docker's StdinOnce, the container's: the end of any attach session's input (its"
            " close message) closes the init's stdin, as docker run -i without -d sets it;"
            " without it a session that came to a running process ends there, the stdin left"
            " open for the next. Kept by a start again, in the container's stdinOnce."
        ),
    )
    stop_signal: Signal | None = attrs.field(
        default=None,
        metadata=doc(
            "docker's StopSignal, the container's: the signal a stop that names none sends"
            " first (ctr-trio stop and restart without -s, a DELETE), SIGTERM when left out."
            " Kept by a start again, in the container's stopSignal (by name)."
        ),
    )
    stop_timeout: int | None = attrs.field(
        default=None,
        validator=STOP_TIMEOUT,
        metadata=doc(
            "docker's StopTimeout, the container's: the seconds from the stop signal to"
            " SIGKILL for a stop that names none (ctr-trio stop and restart without -t, a"
            " DELETE without timeout; the daemon's stop too), 10 when left out (the daemon's"
            " stop: its --shutdown-timeout); -1: no SIGKILL, the exit waited for."
            " Kept by a start again, in the container's stopTimeout."
        ),
    )
    timeout: float | None = attrs.field(
        default=None,
        validator=DEADLINE,
        metadata=doc(
            "With checkpoint: the seconds the restore may take (the daemon's"
            " --checkpoint-timeout, 600 by default, when left out)."
        ),
    )
    auto_remove: bool = attrs.field(
        default=False,
        metadata=doc(
            "Remove the container once its init exits, as docker run --rm: runc forgets it,"
            " its state and log go, delete follows exit on the event stream. Wait with"
            " condition=removed to learn its exit status once it is gone."
        ),
    )
    resources: ResourcesRequest | None = attrs.field(
        default=None,
        metadata=doc(
            "Cgroup limits to start with, as docker run --memory, --cpus, --pids-limit: in the"
            " shape and with the rules of an update's (PATCH), laid over the bundle's"
            " linux.resources, in force before the init runs. Not with checkpoint: a restore"
            " runs under the stopped container's limits (an update made while it was stopped"
            " included), or with none of its id under its checkpoint's."
        ),
    )
    process: StartProcess | None = attrs.field(
        default=None,
        metadata=doc(
            "What to run instead of the bundle's process, as docker run IMAGE CMD... with -e,"
            " -w, -u, -t: the fields given replace the bundle's (env laid over its env by"
            " name). Kept with the container: a start again runs it again. Not with"
            " checkpoint."
        ),
    )
    restart_policy: RestartPolicy | None = attrs.field(
        default=None,
        metadata=doc(
            "Start the container again once its init exits, as docker run --restart: always,"
            " unless-stopped, on-failure (with maximumRetryCount), or no. A user's stop (a"
            " signal, a delete) is final. Not with autoRemove."
        ),
    )


@attrs.frozen
class SignalRequest:
    """A signal to send to one process of the container."""

    signal: Signal


@attrs.frozen
@class_rule(ExactlyOne(("status", "signal", "resources", "auto_remove", "restart_policy")))
class UpdateRequest:
    """Exactly one of "status" (pause or resume), "signal" (to the init), "resources" (new
    cgroup limits, through runc update), "autoRemove" or "restartPolicy"; a null counts as
    left out."""

    status: DesiredStatus | None = None
    signal: Signal | None = None
    resources: ResourcesRequest | None = attrs.field(
        default=None,
        metadata=doc(
            "The limits to change, in the OCI linux.resources shape; others stay. A stopped"
            " container's are its next start's."
        ),
    )
    auto_remove: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "true: remove the container once its init exits (at once if it has), as a start"
            " with autoRemove; false: keep it."
        ),
    )
    restart_policy: RestartPolicy | None = attrs.field(
        default=None,
        metadata=doc(
            "A new restart policy, as docker update --restart: in force from the init's next"
            ' exit on ({"name": "no"}: none; {"name": ""}: as it is, as docker\'s).'
        ),
    )


@attrs.frozen
class CriuFlags:
    """The CRIU options a checkpoint (and a migration) may ask for."""

    tcp: bool = attrs.field(
        default=False, metadata=doc("Dump established TCP connections (CRIU --tcp-established).")
    )
    unix_sockets: bool = attrs.field(
        default=False, metadata=doc("Dump external unix sockets (CRIU --ext-unix-sk).")
    )
    shell: bool = attrs.field(
        default=False, metadata=doc("The container is a shell job (CRIU --shell-job).")
    )
    timeout: float | None = attrs.field(
        default=None,
        validator=DEADLINE,
        metadata=doc(
            "The seconds the checkpoint may take (for a migration: each of its dumps here; the"
            " daemon's --checkpoint-timeout, 600 by default, when left out)."
        ),
    )

    @property
    def criu_options(self) -> CriuOptions:
        return CriuOptions(
            tcp_established=self.tcp, ext_unix_sk=self.unix_sockets, shell_job=self.shell
        )


@attrs.frozen
class CheckpointRequest(CriuFlags):
    """CRIU options; the body may be left out altogether."""

    exit: bool = attrs.field(
        default=False, metadata=doc("Stop the container after the checkpoint.")
    )


ExecRequest = ProcessSpec


def _daemon_address(name: str, value: str) -> None:
    try:
        Endpoint.parse(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


#: Another daemon's API, as ctr-trio's --address takes it.
DAEMON_ADDRESS = Rule(_daemon_address, {"minLength": 1})


@attrs.frozen
class MigrateRequest(CriuFlags):
    """Where to move the container, and how; the CRIU options as for a checkpoint."""

    to: str = attrs.field(
        kw_only=True,
        validator=DAEMON_ADDRESS,
        metadata=doc(
            "The target daemon's API: HOST:PORT, unix:PATH, or http(s)://HOST:PORT; it must"
            " reach this daemon's, not the other way round."
        ),
    )
    pre_copy: int = attrs.field(
        default=0,
        kw_only=True,
        validator=PRE_COPY_ROUNDS,
        metadata=doc(
            "Rounds of memory copied while the container runs, before the final freeze. They"
            " need the kernel's dirty-page tracking (CONFIG_MEM_SOFT_DIRTY): where it is"
            " missing, anything but 0 is a 409 before anything starts."
        ),
    )
    with_bundle: bool = attrs.field(
        default=False,
        kw_only=True,
        metadata=doc(
            "Copy the bundle (config.json and rootfs) too, for a target that has none: all of"
            " it while the container runs, what changed since in the final freeze."
        ),
    )
    target_bundle_path: str | None = attrs.field(
        default=None,
        kw_only=True,
        validator=BUNDLE_PATH,
        metadata=doc("The bundle's path on the target (default: the same as here)."),
    )

    @property
    def plan(self) -> Plan:
        return Plan(
            to=self.to,
            pre_copy=self.pre_copy,
            with_bundle=self.with_bundle,
            target_bundle=self.target_bundle_path,
            options=self.criu_options,
            timeout=self.timeout,
        )


#: The most input a migration hands on (base64 of a pipe's largest capacity, 1 MiB by
#: default: /proc/sys/fs/pipe-max-size).
_STDIN_CHARACTERS = 4 * (1024 * 1024 // 3 + 1)


def _stdin_data(name: str, value: str) -> None:
    if len(value) > _STDIN_CHARACTERS:
        raise ValueError(f"{name} holds more than a pipe of 1 MiB does")


@attrs.frozen
class MigrationStdin:
    """The input the source's copy had not read at the freeze (left in its stdin pipe)."""

    data: str = attrs.field(
        validator=Rule(_stdin_data, {"maxLength": _STDIN_CHARACTERS}),
        metadata=doc("The bytes, in base64.", format="byte"),
    )


@attrs.frozen
class MigrationOffer:
    """The source daemon asks for a session: which container, where its bundle is (or will
    be), and the checkpoint it will send."""

    id: str = attrs.field(validator=CONTAINER_ID, metadata=doc("The container that moves."))
    bundle_path: str = attrs.field(
        validator=BUNDLE_PATH, metadata=doc("Its bundle's path on this daemon.")
    )
    checkpoint: str = attrs.field(
        validator=CHECKPOINT_NAME,
        metadata=doc(
            "The checkpoint it will be restored from; the source has reserved the name in its"
            " bundle, so that a target that sees it shares the bundle."
        ),
    )
    with_bundle: bool = attrs.field(
        default=False, metadata=doc("The bundle comes as an archive: none may be there yet.")
    )
    labels: dict[str, str] = attrs.field(
        factory=dict,
        validator=LABELS,
        metadata=doc("The container's labels, which it keeps here."),
    )
    auto_remove: bool = attrs.field(
        default=False,
        metadata=doc(
            "The container was started with autoRemove (or given it since), which it keeps"
            " here: this daemon removes it once its init exits. A source that does not send"
            " it moves one without."
        ),
    )
    process: StartProcess | None = attrs.field(
        default=None,
        metadata=doc(
            "What the container's start ran instead of its bundle's process, which its record"
            " keeps here (for a start again). A source that does not send it moves one"
            " without."
        ),
    )
    restart_policy: RestartPolicy | None = attrs.field(
        default=None,
        metadata=doc(
            "The container's restart policy, which it keeps here: this daemon starts it again"
            " by it. Not with autoRemove. A source that does not send it moves one without."
        ),
    )
    restart_count: int | None = attrs.field(
        default=None,
        validator=NOT_NEGATIVE,
        metadata=doc(
            "How many times the restart policy started it again on the source (its"
            " restartCount), counted on here. Left out: 0."
        ),
    )
    created_at: str | None = attrs.field(
        default=None,
        validator=TIMESTAMP,
        metadata=doc(
            "When the container was created (its createdAt), which it keeps here: the same"
            " container, moved. Left out (a source older than it): the restore's time."
        ),
    )


# --- path and query parameters ------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class ContainerPath:
    id: str = attrs.field(validator=CONTAINER_ID, metadata=doc("The container id."))


@attrs.frozen(kw_only=True, slots=False)
class TopQuery(ContainerPath):
    ps_args: str | None = attrs.field(
        default=None,
        metadata={
            **doc(
                "ps's options, as docker top's (aux, -o pid,rss,args), split on white space:"
                " the host's ps is run with them and its table of the container's processes"
                " answered. Left out or blank: the columns of ps -ef, read from /proc."
            ),
            WIRE_NAME: "ps_args",  # docker's name, not camelCase
        },
    )


@attrs.frozen(kw_only=True, slots=False)
class WaitQuery(ContainerPath):
    condition: WaitCondition = attrs.field(
        default=WaitCondition.NOT_RUNNING,
        metadata=doc(
            "not-running: answer once the init exited (at once for a stopped container);"
            " next-exit: at its next exit (a stopped container's is that of the next start of"
            " its id); removed: once the container is removed too (deleted, or by autoRemove)."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class ProcessPath(ContainerPath):
    pid: int = attrs.field(
        validator=PID, metadata=doc("A live process of the container, started by the daemon.")
    )


@attrs.frozen(kw_only=True, slots=False)
class AnyProcessPath(ContainerPath):
    pid: int = attrs.field(
        validator=PID,
        metadata=doc(
            "A process the daemon started in the container: a live one, or one that ended"
            " (its last 256 exits are remembered)."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class AttachQuery(AnyProcessPath):
    logs: bool = attrs.field(
        default=False,
        metadata=doc("Replay the process's output from its start before the live output."),
    )
    since: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "Replay its output from this moment on (an RFC 3339 time, or a duration back from"
            " now: 10s)."
        ),
    )
    after: Cursor | None = attrs.field(
        default=None,
        metadata=doc(
            "Go on right after this cursor (NS-COUNT), the last an earlier session of the"
            " v5.channel.k8s.io+cursor subprotocol gave: to come back after a lost connection"
            " with nothing lost or sent twice. Not with logs or since."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class CheckpointPath(ContainerPath):
    name: str = attrs.field(validator=CHECKPOINT_NAME, metadata=doc("The checkpoint name."))


@attrs.frozen(kw_only=True, slots=False)
class BundleQuery:
    bundle_path: str | None = attrs.field(
        default=None,
        validator=BUNDLE_PATH,
        metadata=doc(
            "The bundle directory (absolute) whose checkpoints to use, for an id the daemon"
            " does not list: a checkpoint outlives the container. For a listed container its"
            " own bundle is their home: only that directory is taken (another is a 400); an"
            " import goes where this names, the container's bundle when left out."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class CheckpointsQuery(ContainerPath, BundleQuery):
    pass


@attrs.frozen(kw_only=True, slots=False)
class CheckpointQuery(CheckpointPath, BundleQuery):
    pass


@attrs.frozen(kw_only=True, slots=False)
class ArchiveQuery(CheckpointPath, BundleQuery):
    with_bundle: BundleContent = attrs.field(
        default=BundleContent.NONE,
        metadata=doc(
            "The bundle too: none, full (config.json and all the rootfs), or changes"
            " (config.json, and the rootfs entries changed since the moment since)."
        ),
    )
    since: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "For changes: rootfs entries whose status changed from this moment on (an RFC 3339"
            " time, or a duration back from now)."
        ),
    )
    compression: Compression = attrs.field(
        default=Compression.NONE, metadata=doc("none (application/x-tar) or gzip.")
    )


@attrs.frozen(kw_only=True, slots=False)
class ContainerFileQuery(ContainerPath):
    path: str = attrs.field(
        validator=ABSOLUTE_PATH,
        metadata=doc(
            "A path in the container, absolute, as the container sees it (links followed"
            " inside its root only)."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class CopyOutQuery(ContainerFileQuery):
    exclude_mounts: bool = attrs.field(
        default=False,
        metadata=doc(
            "Leave out what is mounted in the running container (docker export's: its"
            " volumes, bind mounts, tmpfs, /dev, /proc, /sys): each mount point below its"
            " / (from its init's mountinfo) goes as an empty directory (an empty file for a"
            " file mounted there), nothing under it. A stopped container's rootfs has none."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class CopyInQuery(ContainerFileQuery):
    copy_owner: bool = attrs.field(
        default=False,
        metadata=doc(
            "Keep the owners the archive gives (docker cp -a, docker's copyUIDGID); else"
            " everything copied is the container's root's (uid and gid 0)."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class MigrationPath:
    migration: str = attrs.field(
        validator=MIGRATION_ID, metadata=doc("The session, as POST /migrations named it.")
    )


class Prunable(enum.Enum):
    """What ``DELETE /containers`` removes, and what ``DELETE /containers/{id}`` removes only
    when asked so: a stopped container, staying so (the one kind a status names there)."""

    STOPPED = "stopped"


@attrs.frozen(kw_only=True, slots=False)
class DeleteQuery(ContainerPath):
    timeout: float | None = attrs.field(
        default=None,
        validator=SECONDS,
        metadata=doc(
            "Seconds between the stop signal (the container's stopSignal, else SIGTERM) and"
            " SIGKILL (a finite number, 0 or more). Left out: the container's stopTimeout"
            " (-1: no SIGKILL, the exit waited for), else 10. Not with force."
        ),
    )
    force: bool = attrs.field(
        default=False,
        metadata=doc(
            "docker's rm -f: a live container gets SIGKILL alone, at once (no stop signal, no"
            " grace: a trap on its stop signal never runs), then is removed."
        ),
    )
    status: Prunable | None = attrs.field(
        default=None,
        metadata=doc(
            "stopped: docker's rm without -f, remove the container only if it is stopped and"
            " stays so (no restart due); a running, paused or restarting one (or one being"
            " deleted) is a 409 that names its state, and is left as it was. Left out: any"
            " container, a live one stopped first. Not with force or timeout."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class PruneQuery:
    status: Prunable = attrs.field(
        metadata=doc(
            "stopped: every stopped container (docker's container prune), not one whose"
            " restart policy restarts it. Required: a DELETE of the collection says what it"
            " removes."
        )
    )


@attrs.frozen(kw_only=True, slots=False)
class StopQuery(ContainerPath):
    signal: QuerySignal | None = attrs.field(
        default=None,
        metadata=doc(
            "The signal to send first, a number or a name as a body's (SIGQUIT, QUIT, 3)."
            " Left out: the container's stopSignal, else SIGTERM."
        ),
    )
    timeout: float | None = attrs.field(
        default=None,
        validator=STOP_SECONDS,
        metadata=doc(
            "Seconds between the signal and SIGKILL (a finite number, 0 or more), or -1: no"
            " SIGKILL, the exit waited for however long it takes. Left out: the container's"
            " stopTimeout, else 10."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class EventsQuery:
    since: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "Replay past events from this moment on, before the live ones: an RFC 3339 time, or"
            " a duration back from now (90s, 10m, 1h30m, 2d)."
        ),
    )
    id: ContainerIds | None = attrs.field(
        default=None,
        metadata=doc(
            "Only the events of this container; given again for more (id=web&id=db, as"
            " docker's repeated container filter), any of them."
        ),
    )
    type: EventTypes | None = attrs.field(
        default=None,
        metadata=doc(
            "Only events of these types, past and live: comma-separated (exit,oom), or given"
            " again for more (type=exit&type=oom, as docker's repeated filter); any of them."
        ),
    )
    label: LabelFilters | None = attrs.field(
        default=None,
        metadata=doc(
            "Only the events of containers with this label: KEY (with any value, an empty one"
            " too) or KEY=VALUE; give it again for more, all to match (docker's label"
            " filter). Each event is judged by the labels its container had when it came."
        ),
    )
    until: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "End the stream at this moment (docker's until): the events stamped up to it,"
            " those of its very time too; at once after the replay if it has passed. In the"
            " same two forms as since."
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class LogsQuery(ContainerPath):
    tail: TailCount | None = attrs.field(
        default=None,
        metadata=doc(
            "Only the last N records; all (docker's word), a negative N (as docker's) or left"
            " out: every record."
        ),
    )
    follow: bool = attrs.field(
        default=False,
        metadata=doc("Keep the stream open for new records while the container runs (any case)."),
    )
    since: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "Only records from this moment on: an RFC 3339 time, or a duration back from now"
            " (90s, 10m, 1h30m, 2d)."
        ),
    )
    until: Moment | None = attrs.field(
        default=None,
        metadata=doc(
            "Only records up to this moment, those of its very time too (as since keeps"
            " them): in the same two forms as since."
        ),
    )
    pid: int | None = attrs.field(
        default=None,
        validator=PID,
        metadata=doc("Only the output of this process of the container (its pid on the host)."),
    )
