"""The REST routes: the seed's, then what came after it.

Each handler is declared where it is written (:meth:`Api.route`): by the time it runs, its
parameters are parsed and checked and its body structured, by the rules of their classes. A
handler's docstring is its description in the OpenAPI document.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from pathlib import Path

import trio
from quart import Response, current_app, request, websocket

from .. import attach, channels
from .. import metrics as metrics_module
from ..archive import MEDIA_TYPES, BundleContent, ExportOptions, plan_export
from ..archive import import_archive as unpack_archive
from ..archive.paths import MEDIA_TYPE, CopiedIn
from ..checkpoints import CheckpointInfo
from ..client.pathstat import STAT_HEADER
from ..convert import dump_json, unstructure
from ..errors import (
    BadGateway,
    Conflict,
    InvalidRequest,
    NotFound,
    RuntimeFailure,
    RuntimeTimeout,
    ShuttingDown,
)
from ..events import EventBus, LabelFilter
from ..migration.incoming import imported
from ..migration.model import ImportedArchive, MigrationSession, MigrationStep
from ..model import (
    ContainerInfo,
    ContainerTop,
    DaemonInfo,
    DaemonState,
    ExitInfo,
    ProcessInfo,
    PruneReport,
    PsTable,
    VersionInfo,
)
from ..pstable import split_options
from ..supervisor import Supervisor
from . import connections, wire
from .endpoints import Answer, Api, Bytes
from .schemas import (
    AnyProcessPath,
    ArchiveQuery,
    AttachQuery,
    CheckpointPath,
    CheckpointQuery,
    CheckpointRequest,
    CheckpointsQuery,
    ContainerPath,
    CopyInQuery,
    CopyOutQuery,
    DeleteQuery,
    EventsQuery,
    ExecRequest,
    LogsQuery,
    MigrateRequest,
    MigrationOffer,
    MigrationPath,
    MigrationStdin,
    ProcessPath,
    PruneQuery,
    SignalRequest,
    StartRequest,
    StopQuery,
    TopQuery,
    UpdateRequest,
    WaitQuery,
)
from .upload import Upload
from .wire import Reply

api = Api("api")

#: A ``tail`` larger than this means the whole log (and must not reach deque(maxlen=...)).
MAX_TAIL = 1 << 30

#: Routes that call runc (or CRIU): it may fail (500), pass its deadline (504), or meet a
#: shutdown (503).
RUNTIME = (RuntimeFailure, ShuttingDown, RuntimeTimeout)

CONTAINERS = ("containers",)
PROCESSES = ("processes",)
CHECKPOINTS = ("checkpoints",)
MIGRATIONS = ("migrations",)
OBSERVE = ("observe",)
DAEMON = ("daemon",)


#: The daemon's supervisor, set for each request by the app (``app.py``).
SUPERVISOR: ContextVar[Supervisor] = ContextVar("SUPERVISOR")


def supervisor() -> Supervisor:
    return SUPERVISOR.get()


# --- the seed's endpoints -------------------------------------------------------------------


@api.route(
    "POST",
    "/containers/{id}",
    operation_id="startContainer",
    summary="Start a container (or restore it from a checkpoint)",
    tags=CONTAINERS,
    params=ContainerPath,
    body=StartRequest,
    answers=(Answer(201, "The container, once its init process runs.", ContainerInfo),),
    errors=(NotFound, Conflict, *RUNTIME),
    fast=True,
)
async def start_container(path: ContainerPath, body: StartRequest) -> Reply:
    """A stopped container under the id is replaced (and its log with it); a running or paused
    one is a 409. A start that fails leaves nothing behind."""
    started = await supervisor().start(
        path.id,
        body.bundle_path,
        checkpoint=body.checkpoint,
        labels=body.labels,
        stdin=body.stdin,
        stdin_once=body.stdin_once,
        stop_signal=body.stop_signal,
        stop_timeout=body.stop_timeout,
        timeout=body.timeout,
        auto_remove=body.auto_remove,
        resources=None if body.resources is None else body.resources.resources(),
        process=body.process,
        restart_policy=body.restart_policy,
    )
    return wire.json_encoded(started.json, 201)


_EXEC_ANSWERS = (Answer(201, "The process, with its pid.", ProcessInfo),)
_EXEC_ERRORS = (NotFound, Conflict, *RUNTIME)


@api.route(
    "PUT",
    "/containers/{id}/processes",
    operation_id="execProcess",
    summary="Start a process in a running container",
    tags=PROCESSES,
    params=ContainerPath,
    body=ExecRequest,
    answers=_EXEC_ANSWERS,
    errors=_EXEC_ERRORS,
    fast=True,
)
@api.route(
    "PUT",
    "/containers/{id}/process",
    operation_id="execProcessSeed",
    summary="Start a process in a running container (the seed's spelling)",
    tags=PROCESSES,
    params=ContainerPath,
    body=ExecRequest,
    answers=_EXEC_ANSWERS,
    errors=_EXEC_ERRORS,
    fast=True,
)
async def add_process(path: ContainerPath, spec: ExecRequest) -> Reply:
    """What the process leaves out (env, cwd, user) comes from the bundle's config.json. Its
    output goes to the container's log, its exit to the event stream."""
    return wire.json_response(await supervisor().exec(path.id, spec), 201)


@api.route(
    "POST",
    "/containers/{id}/process/{pid}",
    operation_id="signalProcess",
    summary="Send a signal to a process of the container",
    tags=PROCESSES,
    params=ProcessPath,
    body=SignalRequest,
    answers=(Answer(200, "The signal was sent.", "Empty"),),
    errors=(NotFound, *RUNTIME),
    fast=True,
)
async def signal_process(path: ProcessPath, body: SignalRequest) -> Reply:
    """The pid must be a live process the daemon started in that container (the init or an
    added one). A SIGKILL to the init of a paused container resumes it (runc resume: a 500 or
    a 504 if that fails)."""
    await supervisor().signal_process(path.id, path.pid, body.signal)
    return wire.json_document({})


@api.route(
    "GET",
    "/state",
    operation_id="getState",
    summary="Every container, and the machine",
    tags=CONTAINERS,
    answers=(Answer(200, "The daemon's state.", DaemonState),),
    fast=True,
)
async def state() -> Reply:
    return wire.json_encoded(supervisor().state_json())


@api.route(
    "POST",
    "/containers/{id}/checkpoint/{name}",
    operation_id="createCheckpoint",
    summary="Checkpoint a container into {bundlePath}/checkpoints/{name}",
    tags=CHECKPOINTS,
    params=CheckpointPath,
    body=CheckpointRequest,
    body_required=False,
    answers=(Answer(201, "The checkpoint.", CheckpointInfo),),
    errors=(NotFound, Conflict, *RUNTIME),
)
async def create_checkpoint(path: CheckpointPath, body: CheckpointRequest) -> Reply:
    """It runs under its own deadline (timeout), not the runtime's; its course goes to the
    event stream: checkpoint-started, checkpoint-progress, checkpoint-done or -failed."""
    info = await supervisor().checkpoint(
        path.id, path.name, body.criu_options, exit=body.exit, timeout=body.timeout
    )
    return wire.json_response(info, 201)


@api.route(
    "GET",
    "/containers/{id}/checkpoint",
    operation_id="listCheckpoints",
    summary="The checkpoints of a container's bundle, oldest first",
    tags=CHECKPOINTS,
    params=CheckpointsQuery,
    answers=(Answer(200, "The checkpoints, oldest first.", list[CheckpointInfo]),),
    errors=(NotFound,),
)
async def list_checkpoints(query: CheckpointsQuery) -> Reply:
    return wire.json_response(supervisor().list_checkpoints(query.id, query.bundle_path))


@api.route(
    "DELETE",
    "/containers/{id}/checkpoint/{name}",
    operation_id="deleteCheckpoint",
    summary="Delete a checkpoint",
    tags=CHECKPOINTS,
    params=CheckpointQuery,
    answers=(Answer(200, "It is gone.", "Empty"),),
    errors=(NotFound, Conflict),
)
async def delete_checkpoint(query: CheckpointQuery) -> Reply:
    """A directory of checkpoints/ without checkpoint.json is not the daemon's to remove (a
    checkpoint still being written, or the client's own): a 409 that says so."""
    supervisor().delete_checkpoint(query.id, query.name, query.bundle_path)
    return wire.json_document({})


@api.route(
    "GET",
    "/containers/{id}/checkpoint/{name}/archive",
    operation_id="exportCheckpoint",
    summary="A checkpoint (and optionally its bundle) as a tar stream",
    tags=CHECKPOINTS,
    params=ArchiveQuery,
    answers=(
        Answer(
            200,
            "The archive, streamed as it is read (application/gzip with compression=gzip);"
            " PUT it to another daemon's .../archive to import it there.",
            Bytes,
            tuple(MEDIA_TYPES.values()),
        ),
    ),
    errors=(NotFound,),
)
async def export_checkpoint(query: ArchiveQuery) -> Response:
    """Everything that can fail is checked before the first byte (404 for an unknown
    checkpoint, 400 for a bundle that cannot be sent); nothing is built in memory or on disk."""
    if query.since is not None and query.with_bundle is not BundleContent.CHANGES:
        # Taken silently, it would send a plain export where the client meant its changes.
        raise InvalidRequest(
            "since is the moment the rootfs changes are taken from: give withBundle=changes"
            " too, or leave since out"
        )
    if query.since is None and query.with_bundle is BundleContent.CHANGES:
        # plan_export refuses it too, in words that name no query parameter to give.
        raise InvalidRequest(
            "withBundle=changes sends the rootfs changes from a moment: give since too"
        )
    bundle = supervisor().checkpoint_bundle(query.id, query.bundle_path)
    options = ExportOptions(
        bundle=query.with_bundle, since_ns=query.since, compression=query.compression
    )
    # In a worker thread: with the bundle, the plan reads every directory of the rootfs.
    plan = await trio.to_thread.run_sync(plan_export, bundle, query.name, options)
    response = Response(plan.chunks(), status=200, content_type=plan.media_type)
    response.timeout = None
    return response


@api.route(
    "PUT",
    "/containers/{id}/checkpoint/{name}/archive",
    operation_id="importCheckpoint",
    summary="Import a checkpoint archive under a bundle",
    tags=CHECKPOINTS,
    params=CheckpointQuery,
    body=Upload,
    answers=(Answer(201, "What was imported.", ImportedArchive),),
    errors=(NotFound, Conflict),
)
async def import_checkpoint(query: CheckpointQuery, pieces: AsyncIterator[bytes]) -> Reply:
    """The body is an archive as GET .../archive makes it, streamed; --max-body-bytes does not
    apply (the import's own limits do). It is unpacked beside its destination and moved into
    place only once all of it arrived and passed every check: a broken, truncated or hostile
    archive is a 400 naming the problem, and leaves nothing. The bundle is bundlePath (which
    an archive with the full bundle creates), or the listed container's."""
    if query.bundle_path is not None:
        bundle = Path(query.bundle_path)
    else:
        bundle = supervisor().container(query.id).bundle
    result = await unpack_archive(pieces, bundle, name=query.name)
    return wire.json_response(imported(result), 201)


_PATH_STAT = (
    (
        STAT_HEADER,
        "The path's stat, as docker's: base64 of the JSON {name, size, mode (Go's"
        " os.FileMode bits), mtime (RFC 3339), linkTarget (a link's target, absolute in the"
        " container; else empty)}.",
    ),
)


@api.route(
    "GET",
    "/containers/{id}/archive",
    operation_id="copyFromContainer",
    summary="A file or directory of the container as a tar stream (docker cp)",
    tags=CONTAINERS,
    params=CopyOutQuery,
    answers=(
        Answer(
            200,
            "The tar stream of the path (a directory with all it holds), its names starting"
            " with the path's last component.",
            Bytes,
            MEDIA_TYPE,
            _PATH_STAT,
        ),
    ),
    errors=(NotFound, Conflict),
    head=True,
)
async def copy_from_container(query: CopyOutQuery) -> Response:
    """As the container sees the path: through its init's root while it runs or is paused
    (its mounts show, unless excludeMounts: docker export's, its mount points empty), its
    bundle's rootfs once stopped; links followed inside that root only. A link itself goes
    as a link; owners as the container names them (through its user namespace, if it has
    one: 65534 for a host id it does not map). HEAD answers the stat header alone. 404 for a
    path that is not there."""
    found = await supervisor().copy_out(query.id, query.path, exclude_mounts=query.exclude_mounts)
    if request.method == "HEAD":
        # Framed as its GET's stream is, of no length known up front: a body of b"" would
        # make Quart say Content-Length: 0, which a HEAD may only say for a GET's empty body.
        response = Response(_nothing(), status=200, content_type=found.media_type)
    else:
        response = Response(found.chunks(), status=200, content_type=found.media_type)
        response.timeout = None
    response.headers[STAT_HEADER] = found.stat.header()
    return response


async def _nothing() -> AsyncIterator[bytes]:
    """A stream with no chunks: the body of a HEAD whose GET streams."""
    return
    yield b""  # pragma: no cover - makes this an async generator


@api.route(
    "PUT",
    "/containers/{id}/archive",
    operation_id="copyToContainer",
    summary="Unpack a tar stream into a directory of the container (docker cp)",
    tags=CONTAINERS,
    params=CopyInQuery,
    body=Upload,
    answers=(Answer(200, "What was copied.", CopiedIn),),
    errors=(NotFound,),
)
async def copy_to_container(query: CopyInQuery, pieces: AsyncIterator[bytes]) -> Reply:
    """path is a directory in the container (404 if it is not there, 400 if it is no
    directory). Each entry lands inside the container's root (a link on the way is followed
    there, never out); .. and absolute names, device nodes and hard links to what the archive
    did not make are a 400 naming the entry. Owners are the container's ids: mapped to the
    host's through its user namespace if it has one (an id it does not map is a 400). Streamed,
    under the import's limits. Not staged: what came before a bad entry stays, as docker's."""
    copied = await supervisor().copy_in(query.id, query.path, pieces, copy_owner=query.copy_owner)
    return wire.json_response(copied)


@api.route(
    "POST",
    "/containers/{id}/migrate",
    operation_id="migrateContainer",
    summary="Move a running container to another daemon",
    tags=MIGRATIONS,
    params=ContainerPath,
    body=MigrateRequest,
    answers=(
        Answer(
            200,
            "One MigrationStep per line as each step ends, then done (with the downtime) or"
            " failed (with rolledBack).",
            MigrationStep,
            wire.NDJSON,
        ),
    ),
    errors=(NotFound, Conflict, BadGateway, *RUNTIME),
)
async def migrate_container(path: ContainerPath, body: MigrateRequest) -> Response:
    """This daemon drives: it opens a session on the target (POST /migrations there), sends
    the bundle if asked, pauses the container, checkpoints it, sends the checkpoint, has the
    target restore it, then removes its own copy. If any step fails, the target removes what
    it got and the container runs on here. What can be refused before the first step is an
    error status: 400 with withBundle for a bundle no import takes (a device node no archive
    carries, named), 409 for preCopy on a kernel without dirty-page tracking, 502 when the
    target cannot be reached or says no."""
    steps = await supervisor().migrate(path.id, body.plan)
    return wire.stream_response(_step_lines(steps))


async def _step_lines(steps: AsyncIterator[MigrationStep]) -> AsyncIterator[bytes]:
    async for step in steps:
        yield dump_json(unstructure(step)) + b"\n"


@api.route(
    "POST",
    "/migrations",
    operation_id="openMigration",
    summary="A migration's target: open a session for a container that moves here",
    tags=MIGRATIONS,
    body=MigrationOffer,
    answers=(Answer(201, "The session.", MigrationSession),),
    errors=(NotFound, Conflict),
)
async def open_migration(body: MigrationOffer) -> Reply:
    """Sent by the source daemon. 409 if the container runs here, or the bundle exists when
    it is to come along; 404 if it is not to come and is not here. A session with no request
    for 60 seconds aborts itself."""
    session = supervisor().incoming.open(
        body.id, body.bundle_path, body.checkpoint, with_bundle=body.with_bundle,
        labels=body.labels, auto_remove=body.auto_remove, process=body.process,
        restart_policy=body.restart_policy, restart_count=body.restart_count or 0,
        created_at=body.created_at,
    )  # fmt: skip
    return wire.json_response(session, 201)


@api.route(
    "GET",
    "/migrations/{migration}",
    operation_id="touchMigration",
    summary="A migration's target: the session, which its source still drives",
    tags=MIGRATIONS,
    params=MigrationPath,
    answers=(Answer(200, "The session.", MigrationSession),),
    errors=(NotFound,),
)
async def touch_migration(path: MigrationPath) -> Reply:
    """Its idle time starts again: the source sends it while it dumps, which sends nothing
    here and may take longer than the 60 seconds after which an idle session aborts itself."""
    return wire.json_response(supervisor().incoming.touch(path.migration))


@api.route(
    "PUT",
    "/migrations/{migration}/archive",
    operation_id="sendMigrationArchive",
    summary="A migration's target: take an archive (the bundle, a pre-copy round, the checkpoint)",
    tags=MIGRATIONS,
    params=MigrationPath,
    body=Upload,
    answers=(Answer(201, "What was imported.", ImportedArchive),),
    errors=(NotFound, Conflict),
)
async def migration_archive(path: MigrationPath, pieces: AsyncIterator[bytes]) -> Reply:
    """As PUT /containers/{id}/checkpoint/{name}/archive, into the session's bundle, for the
    checkpoint the session waits for only."""
    answer = await supervisor().incoming.receive(path.migration, pieces)
    return wire.json_response(answer, 201)


@api.route(
    "POST",
    "/migrations/{migration}/restore",
    operation_id="restoreMigration",
    summary="A migration's target: restore the container",
    tags=MIGRATIONS,
    params=MigrationPath,
    answers=(Answer(201, "The container, running here.", ContainerInfo),),
    errors=(NotFound, Conflict, *RUNTIME),
)
async def restore_migration(path: MigrationPath) -> Reply:
    """In a cgroup of its own ({id}-moved-{migration}): the source's copy still holds the one
    runc names after the id."""
    return wire.json_response(await supervisor().incoming.restore(path.migration), 201)


@api.route(
    "POST",
    "/migrations/{migration}/stdin",
    operation_id="migrationStdin",
    summary="A migration's target: write what the source's copy had not read into the restored"
    " container's stdin",
    tags=MIGRATIONS,
    params=MigrationPath,
    body=MigrationStdin,
    answers=(Answer(200, "Written.", "Empty"),),
    errors=(NotFound, Conflict, InvalidRequest),
)
async def migration_stdin(path: MigrationPath, body: MigrationStdin) -> Reply:
    """Before the restored init reads anything else: sent once it is restored, before the
    finish. 409 if the session has not restored it, or it takes no input."""
    try:
        data = base64.b64decode(body.data, validate=True)
    except ValueError:
        raise InvalidRequest("data is not base64") from None
    await supervisor().incoming.stdin(path.migration, data)
    return wire.json_document({})


@api.route(
    "POST",
    "/migrations/{migration}/finish",
    operation_id="finishMigration",
    summary="A migration's target: keep the container, end the session",
    tags=MIGRATIONS,
    params=MigrationPath,
    answers=(Answer(200, "The container is this daemon's.", "Empty"),),
    errors=(NotFound, Conflict),
)
async def finish_migration(path: MigrationPath) -> Reply:
    """The images it was restored from are removed."""
    await supervisor().incoming.finish(path.migration)
    return wire.json_document({})


@api.route(
    "DELETE",
    "/migrations/{migration}",
    operation_id="abortMigration",
    summary="A migration's target: abort, removing all the session made",
    tags=MIGRATIONS,
    params=MigrationPath,
    answers=(Answer(200, "It is gone, and all it made.", "Empty"),),
    errors=(NotFound, *RUNTIME),
)
async def abort_migration(path: MigrationPath) -> Reply:
    """The restored container (deleted at once), the imported images, the bundle if it came
    as an archive. {migration} may be the checkpoint name the session was opened with: a
    source whose open got no answer knows no id."""
    await supervisor().incoming.abort(path.migration)
    return wire.json_document({})


@api.route(
    "PATCH",
    "/containers/{id}",
    operation_id="updateContainer",
    summary="Pause or resume a container, signal its init, change its cgroup limits, its"
    " autoRemove or its restart policy",
    tags=CONTAINERS,
    params=ContainerPath,
    body=UpdateRequest,
    answers=(Answer(200, "The container.", ContainerInfo),),
    errors=(NotFound, Conflict, *RUNTIME),
)
async def update_container(path: ContainerPath, body: UpdateRequest) -> Reply:
    """A signal is sent, not waited for: the answer may still say running. New limits go to
    the container's cgroups through runc update; the answer's resources shows those in force.
    A stopped (or restarting) container's are kept in its record for its next start (a
    restart by its policy, a start of its id with them), as docker update's."""
    status = body.status.status if body.status is not None else None
    info = await supervisor().update(
        path.id,
        status=status,
        signum=body.signal,
        resources=None if body.resources is None else body.resources.resources(),
        auto_remove=body.auto_remove,
        restart_policy=body.restart_policy,
    )
    return wire.json_response(info)


# --- beyond the seed ------------------------------------------------------------------------


@api.route(
    "GET",
    "/containers/{id}",
    operation_id="getContainer",
    summary="One container",
    tags=CONTAINERS,
    params=ContainerPath,
    answers=(Answer(200, "The container.", ContainerInfo),),
    errors=(NotFound,),
    fast=True,
)
async def get_container(path: ContainerPath) -> Reply:
    return wire.json_response(supervisor().get(path.id))


@api.route(
    "DELETE",
    "/containers/{id}",
    operation_id="deleteContainer",
    summary="Stop (its stop signal, then SIGKILL after timeout seconds; force: SIGKILL alone)"
    " and remove a container; status=stopped: a stopped one only (docker rm)",
    tags=CONTAINERS,
    params=DeleteQuery,
    answers=(Answer(200, "The container as it was at the end.", ContainerInfo),),
    errors=(InvalidRequest, NotFound, Conflict, *RUNTIME),
    fast=True,
)
async def delete_container(query: DeleteQuery) -> Reply:
    """Its state and log are removed; its checkpoints stay in the bundle. 409 while a delete
    of it is under way. The stop signal is the container's stopSignal, else SIGTERM; timeout
    left out, its stopTimeout (-1: no SIGKILL), else 10. With force (docker's rm -f), SIGKILL
    alone, at once (400 beside timeout). During a checkpoint's dump no stop signal is sent
    (the images would keep it): a dump still under way once timeout passes is ended, its
    checkpoint answering 409. With status=stopped (docker's rm without -f), only a container
    stopped for good is removed: a running, paused or restarting one is a 409 naming its
    state, left as it was, judged in the step that marks it being deleted."""
    if query.force and query.timeout is not None:
        raise InvalidRequest(
            "give force or timeout, not both: force sends SIGKILL at once, without a grace"
        )
    if query.status is not None:
        if query.force or query.timeout is not None:
            raise InvalidRequest(
                "give status=stopped alone: it removes a stopped container only, which has no"
                " stop to force or to give a grace"
            )
        return wire.json_response(await supervisor().delete_stopped(query.id))
    info = await supervisor().delete(query.id, query.timeout, force=query.force)
    return wire.json_response(info)


@api.route(
    "DELETE",
    "/containers",
    operation_id="pruneContainers",
    summary="Remove every stopped container (docker container prune)",
    tags=CONTAINERS,
    params=PruneQuery,
    answers=(Answer(200, "What was removed, and what could not be.", PruneReport),),
    errors=(InvalidRequest,),
    fast=True,
)
async def prune_containers(query: PruneQuery) -> Reply:
    """Each stopped container is removed as its DELETE would (a ``delete`` event each, its
    record and log gone, its checkpoints kept), one after another; not one whose restart
    policy restarts it, nor one being deleted. Each is removed only if it is still the
    stopped container chosen when its turn comes: a start of its id meanwhile is left
    running (a list, then a DELETE of each id, removed that new run). One whose removal
    fails stays, named in ``failed``; the others go on."""
    return wire.json_response(await supervisor().prune())


@api.route(
    "POST",
    "/containers/{id}/stop",
    operation_id="stopContainer",
    summary="Stop a container (docker stop): its stop signal, then SIGKILL after timeout"
    " seconds; it stays, stopped",
    tags=CONTAINERS,
    params=StopQuery,
    answers=(Answer(200, "The container as it ended.", ContainerInfo),),
    errors=(InvalidRequest, NotFound, Conflict, *RUNTIME),
    fast=True,
)
async def stop_container(query: StopQuery) -> Reply:
    """Its user's stop, whatever the signal: its restart policy does not restart the exit
    it brings. The signal (left out: the container's stopSignal, else SIGTERM) is sent in
    the container's turn, a paused one resumed to take it; then up to timeout seconds for
    the exit (left out: its stopTimeout, else 10; -1: no SIGKILL), then SIGKILL. A
    restarting one has its restart cancelled. 409 for a stopped one (docker's 304), or one
    being deleted; 504 if the init did not exit within the runtime deadline of its SIGKILL.
    A client that leaves does not cut the stop short."""
    info = await supervisor().stop(query.id, query.signal, query.timeout)
    return wire.json_response(info)


@api.route(
    "POST",
    "/containers/{id}/start",
    operation_id="startContainerAgain",
    summary="Start a stopped container again from its own record (docker start)",
    tags=CONTAINERS,
    params=ContainerPath,
    answers=(Answer(201, "The container, once its init process runs again.", ContainerInfo),),
    errors=(NotFound, Conflict, *RUNTIME),
    fast=True,
)
async def start_container_again(path: ContainerPath) -> Reply:
    """The start of POST /containers/{id} with the body the stopped container's record makes
    (its bundle, labels, stdin, autoRemove, the limits in force with each update, its process,
    its restart policy, its count from 0 again). A command holding the container is let end
    first; then the record is read and the id taken at once: a PATCH under way is in what
    starts, one that comes later is refused as during any start (404), none is lost. 409 for
    a running, paused or restarting container (docker's 304); a start that fails leaves the
    stopped container as it was."""
    return wire.json_encoded((await supervisor().start_again(path.id)).json, 201)


@api.route(
    "GET",
    "/events",
    operation_id="streamEvents",
    summary="The event stream: past events from since on, then live ones",
    tags=OBSERVE,
    params=EventsQuery,
    answers=(
        Answer(
            200,
            "One Event object per line (newline-delimited JSON); the stream stays open, or"
            " ends at until.",
            "Event",
            wire.NDJSON,
        ),
    ),
)
async def events(query: EventsQuery) -> Response:
    # The stream starts from this moment, whenever it subscribes: a client that acts once it
    # sees the answer's headers must not miss the events its action causes. It subscribes only
    # once it streams, so that a client gone before its answer began leaves nothing behind.
    if query.since is not None and query.until is not None and query.until < query.since:
        # docker's daemon refuses it too; answered, it was an empty stream, as if no event had
        # come. (Durations are read in order, since first: since=10m&until=10m is one moment.)
        raise InvalidRequest(
            f"query parameters since and until: since ({request.args.get('since')}) is after"
            f" until ({request.args.get('until')}): no event could be shown"
        )
    bus = supervisor().events
    # No since: the live events from this request on (none lost before the subscription),
    # and a live-only one that stands (daemon-stopping), as a stream open before would have.
    since = query.since if query.since is not None else bus.cursor()
    lines = _event_lines(
        bus, since, query.since is None, query.id, query.type, query.label or (), query.until
    )
    return wire.stream_response(lines)


async def _event_lines(
    bus: EventBus,
    since_ns: int,
    live: bool,
    container_ids: frozenset[str] | None,
    types: frozenset[str] | None,
    labels: Sequence[LabelFilter],
    until_ns: int | None,
) -> AsyncIterator[bytes]:
    with bus.subscribe(
        since_ns=since_ns, live=live, container_ids=container_ids, types=types, labels=labels
    ) as subscription:
        async for batch in subscription.batches(until_ns=until_ns):
            yield b"".join(event.line() for event in batch)


@api.route(
    "GET",
    "/containers/{id}/logs",
    operation_id="streamLogs",
    summary="The container's captured stdout and stderr",
    tags=OBSERVE,
    params=LogsQuery,
    answers=(
        Answer(
            200, "One LogRecord object per line (newline-delimited JSON).", "LogRecord", wire.NDJSON
        ),
    ),
    errors=(NotFound,),
)
async def container_logs(query: LogsQuery) -> Response:
    lines = supervisor().log_lines(
        query.id,
        tail=None if query.tail is None else min(query.tail, MAX_TAIL),  # more: all of it
        follow=query.follow,
        pid=query.pid,
        since_ns=query.since,
        until_ns=query.until,
    )
    return wire.stream_response(lines)


@api.route(
    "POST",
    "/containers/{id}/wait",
    operation_id="waitContainer",
    summary="Wait for the container's init to exit (or for its removal): its exit status",
    tags=CONTAINERS,
    params=WaitQuery,
    answers=(Answer(200, "How the init ended.", ExitInfo),),
    errors=(NotFound,),
    fast=True,
    waits=True,
)
async def wait_container(query: WaitQuery) -> Reply:
    """Answers once the init exited; at once for a stopped container. With
    condition=next-exit, at its next exit: a stopped container's is that of the next start
    of its id; one being started, that of this start's run, if it starts. With
    condition=removed, once the container is removed too. 404 if the
    container is deleted before it stops (before its next exit). A container that autoRemove
    removed already is answered as well (the daemon remembers the last 256), but for
    next-exit."""
    return wire.json_response(await supervisor().wait(query.id, condition=query.condition))


@api.route(
    "POST",
    "/containers/{id}/process/{pid}/wait",
    operation_id="waitProcess",
    summary="Wait for a process of the container to exit: its exit status",
    tags=PROCESSES,
    params=AnyProcessPath,
    answers=(Answer(200, "How the process ended.", ExitInfo),),
    errors=(NotFound,),
    fast=True,
    waits=True,
)
async def wait_process(path: AnyProcessPath) -> Reply:
    """Answers once the process exited; at once if it already had (the container remembers its
    processes' last 256 exits, and the keeper those that came while no server ran)."""
    return wire.json_response(await supervisor().wait(path.id, path.pid))


@api.route(
    "GET",
    "/containers/{id}/process/{pid}/attach",
    operation_id="attachProcess",
    summary="Attach to a process (WebSocket, v4.channel.k8s.io): its output, its input",
    tags=PROCESSES,
    params=AttachQuery,
    answers=(
        Answer(
            101,
            "The WebSocket. Binary messages, the first byte the channel: 0 stdin, 1 stdout,"
            " 2 stderr, 3 the exit status (a Kubernetes Status; the last message), 4 resize"
            ' {"Width": columns, "Height": rows}, 255 [255, 0] close stdin.',
            None,
        ),
    ),
    errors=(NotFound,),
    websocket=True,
)
async def attach_process(query: AttachQuery) -> Response:
    """Output comes live (with logs, from the process's start; with since, from that moment;
    with after, right after that cursor: v5.channel.k8s.io+cursor gives one with each output
    message); input goes to its stdin or terminal, if it has one. Several clients may attach
    at once; a client that leaves, or is too slow (it takes nothing for 10 s, or falls 30 s
    behind for want of its reading), or whose output outran it (more of the log's files
    behind than a session may hold: the close's reason says whose side was slow), leaves the
    process running. See docs/api.md."""
    if query.after is not None and (query.logs or query.since is not None):
        raise InvalidRequest(
            "query parameter after goes on where an attach left off: give it without logs or since"
        )
    container, target = supervisor().attach_target(query.id, query.pid)  # 404 before the handshake
    connected_ns = time.time_ns()
    # From the process's start, from a moment, right after a cursor (what it counts is not
    # sent again), or from now on (the end of the log as it is).
    start = query.after
    if query.logs or query.since is not None:
        start = attach.Cursor.at(query.since or 0)
    since, tail = (None, 0) if start is None else (start.since_ns, None)
    connection = _Socket(connections.sending_is_backed_up())
    output, selection = supervisor().process_output(
        query.id, query.pid, tail=tail, since_ns=since, held_up=connection.backed_up
    )
    offered = websocket.requested_subprotocols
    chosen = next((p for p in channels.SUBPROTOCOLS if p in offered), None)
    with container.attached():  # an autoRemove lets the session end first
        await websocket.accept(subprotocol=chosen)
        await attach.session(
            connection, container, query.pid, target, output, supervisor().sessions,
            since_ns=connected_ns, start=start, cursored=chosen == channels.CURSORED,
            selection=selection,
        )  # fmt: skip
    return Response(status=200)  # unused: the WebSocket is closed by now


class _Socket:
    """Quart's websocket as an :class:`attach.Connection`."""

    def __init__(self, backed_up: Callable[[], bool | None]) -> None:
        self.backed_up = backed_up

    async def send(self, data: bytes) -> None:
        await websocket.send(data)

    async def receive(self) -> bytes | str:
        return await websocket.receive()

    async def close(self, code: int, reason: str) -> None:
        await websocket.close(code, reason)


@api.route(
    "GET",
    "/containers/{id}/stats",
    operation_id="getStats",
    summary="Cgroup figures of a live container",
    tags=OBSERVE,
    params=ContainerPath,
    answers=(Answer(200, "The figures.", "Stats"),),
    errors=(NotFound, Conflict, RuntimeTimeout),
)
async def container_stats(path: ContainerPath) -> Reply:
    """409 for a stopped container: it has no live figures."""
    data = await supervisor().stats(path.id)
    figures = {key: data[key] for key in ("cpu", "memory", "pids", "blkio") if key in data}
    return wire.json_document({"id": path.id, **figures})


@api.route(
    "GET",
    "/containers/{id}/top",
    operation_id="topContainer",
    summary="Every process in a live container, as ps -ef shows them, or as ps's options say",
    tags=OBSERVE,
    params=TopQuery,
    answers=(
        Answer(
            200,
            "The processes, oldest first; with ps_args, ps's titles and its lines of them.",
            ContainerTop | PsTable,
        ),
    ),
    errors=(InvalidRequest, NotFound, Conflict, *RUNTIME),
)
async def container_top(path: TopQuery) -> Reply:
    """All the processes of the container's cgroup (runc ps), not only those the daemon
    started; the columns come from /proc on the host. With ps_args, as docker top: the host's
    ps run with those options, its header and the lines whose PID is one of the container's
    (400 if ps fails, or prints no PID column). 409 for a stopped container."""
    options = split_options(path.ps_args or "")
    return wire.json_response(await supervisor().top(path.id, options or None))


@api.route(
    "GET",
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics",
    tags=OBSERVE,
    answers=(
        Answer(
            200,
            "The Prometheus text exposition format, version 0.0.4.",
            {"type": "string"},
            wire.TEXT,
        ),
    ),
)
async def metrics() -> Response:
    return Response(supervisor().metrics.render(), content_type=metrics_module.CONTENT_TYPE)


@api.route(
    "POST",
    "/daemon/reload",
    operation_id="reloadDaemon",
    summary="A live upgrade: a new server takes over from this one",
    tags=DAEMON,
    answers=(
        Answer(
            202,
            "The keeper is starting a new server; this one hands over to it.",
            {
                "type": "object",
                "required": ["reloading"],
                "properties": {"reloading": {"const": True}},
            },
        ),
    ),
    errors=(Conflict, ShuttingDown),
)
async def reload_daemon() -> Reply:
    """The keeper starts a new server, and this one hands over to it; meanwhile a request may
    get 503 with Retry-After. 409 when the server runs inside another program, with no keeper."""
    supervisor().reload()
    return wire.json_document({"reloading": True}, 202)


@api.route(
    "GET",
    "/version",
    operation_id="getVersion",
    summary="The versions of the daemon, its Python, runc and CRIU, and the host's kernel",
    tags=DAEMON,
    answers=(Answer(200, "The versions (docker version's server part).", VersionInfo),),
)
async def version() -> Reply:
    """runc's and CRIU's versions are what their --version printed, asked once by each server
    (on the first request) and kept."""
    return wire.json_response(await supervisor().about.version())


@api.route(
    "GET",
    "/info",
    operation_id="getInfo",
    summary="The daemon and its host: containers by status, paths, cgroups, CPUs, memory, uptime",
    tags=DAEMON,
    answers=(Answer(200, "The figures (docker info's).", DaemonInfo),),
)
async def info() -> Reply:
    """Each field read when asked: the container table, /proc, uname, /sys/fs/cgroup."""
    return wire.json_response(supervisor().about.info(supervisor().count_by_status()))


@api.route(
    "GET",
    "/openapi.json",
    operation_id="getOpenApi",
    summary="This document",
    tags=OBSERVE,
    answers=(Answer(200, "The OpenAPI 3.1 document.", {"type": "object"}),),
)
async def openapi_document() -> Reply:
    """Derived from the daemon's own declarations of its routes and from its models."""
    return wire.json_document(current_app.extensions["openapi"]())
