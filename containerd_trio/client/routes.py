"""One function per route of the API (docs/api.md): the request it takes, built once.

Both clients send these: :class:`~.http.Client` (blocking, for the CLI and scripts) and the
benchmark's Trio client. Optional values that are None are left out, so the daemon's defaults
apply.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

from .protocol import Request, container_path, make_request
from .types import ConsoleSize, Resources, RestartPolicy, StartProcess, UserSpec

# The optional parts of a request, by name: Client's methods take them as they are.


class StartOptions(TypedDict, total=False):
    #: Restore from this checkpoint of the bundle instead of starting afresh...
    checkpoint: str | None
    #: ...within this many seconds (the daemon's checkpoint deadline if None).
    timeout: float | None
    labels: Mapping[str, str] | None
    #: Keep the init's stdin open for attach.
    stdin: bool
    #: docker's StdinOnce: the end of any attach's input closes the init's stdin (run -i).
    stdin_once: bool
    #: docker's StopSignal: what a stop that names no signal sends first (run --stop-signal).
    stop_signal: int | str | None
    #: docker's StopTimeout: a stop's grace when it names none, -1 for no SIGKILL.
    stop_timeout: int | None
    #: Remove the container once its init exits (docker run --rm).
    auto_remove: bool
    #: Cgroup limits laid over the bundle's (docker run --memory, ...); not with checkpoint.
    resources: Resources | None
    #: What to run instead of the bundle's process (docker run IMAGE CMD..., -e, -w, -u, -t);
    #: not with checkpoint.
    process: StartProcess | None
    #: Start it again once its init exits (docker run --restart); None: none.
    restart_policy: RestartPolicy | None


class ExecOptions(TypedDict, total=False):
    """What is left out comes from the bundle."""

    env: Sequence[str] | None
    cwd: str | None
    uid: int | None
    gid: int | None
    #: A terminal for the process, of this size (columns, rows) if given.
    terminal: bool
    console_size: tuple[int, int] | None
    #: Keep its stdin open for attach.
    stdin: bool


class CriuFlags(TypedDict, total=False):
    """What CRIU may take along: a checkpoint's options and a migration's (a move is a
    checkpoint there) are these, said once; :func:`_criu_options` makes them the body's."""

    #: Keep established TCP connections, external unix sockets, a shell job.
    tcp: bool
    unix_sockets: bool
    shell: bool


class CheckpointOptions(CriuFlags, total=False):
    #: Stop the container once checkpointed.
    exit: bool
    #: Seconds the checkpoint may take (the daemon's checkpoint deadline if None).
    timeout: float | None


class EventOptions(TypedDict, total=False):
    #: Replay past events from this RFC 3339 time on first.
    since: str | None
    container_id: str | None
    types: Sequence[str] | None
    #: docker's label filters, KEY or KEY=VALUE each, all to match.
    labels: Sequence[str]
    #: End the stream at this moment (an RFC 3339 time, or a duration back from the daemon's
    #: now: ``0s`` is the replay alone).
    until: str | None


class LogOptions(TypedDict, total=False):
    #: Keep the stream open until no process of the container can write any more.
    follow: bool
    tail: int | None
    #: RFC 3339 times or durations back from now (10m), passed as they are.
    since: str | None
    until: str | None


def _params(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


def state() -> Request:
    return Request("GET", "/state")


def reload_daemon() -> Request:
    return Request("POST", "/daemon/reload")


def version() -> Request:
    return Request("GET", "/version")


def info() -> Request:
    return Request("GET", "/info")


def container(container_id: str) -> Request:
    return Request("GET", container_path(container_id))


def start(container_id: str, bundle_path: str, **options: Unpack[StartOptions]) -> Request:
    body: dict[str, Any] = {"bundlePath": bundle_path}
    checkpoint, labels = options.get("checkpoint"), options.get("labels")
    timeout = options.get("timeout")
    if checkpoint is not None:
        body["checkpoint"] = checkpoint
    if timeout is not None:
        body["timeout"] = timeout
    if labels:
        body["labels"] = dict(labels)
    if options.get("stdin"):
        body["stdin"] = True
    if options.get("stdin_once"):
        body["stdinOnce"] = True
    if (stop_signal := options.get("stop_signal")) is not None:
        body["stopSignal"] = stop_signal
    if (stop_timeout := options.get("stop_timeout")) is not None:
        body["stopTimeout"] = stop_timeout
    if options.get("auto_remove"):
        body["autoRemove"] = True
    if resources := options.get("resources"):
        body["resources"] = resources
    if process := options.get("process"):
        body["process"] = process
    if restart_policy := options.get("restart_policy"):
        body["restartPolicy"] = restart_policy
    return make_request("POST", container_path(container_id), body=body)


def start_again(container_id: str) -> Request:
    """docker's start of a stopped container: the daemon starts it from its own record."""
    return Request("POST", container_path(container_id, "start"))


def exec_process(container_id: str, args: Sequence[str], **options: Unpack[ExecOptions]) -> Request:
    body: dict[str, Any] = {"args": list(args)}
    env, cwd = options.get("env"), options.get("cwd")
    uid, gid = options.get("uid"), options.get("gid")
    if env is not None:
        body["env"] = list(env)
    if cwd is not None:
        body["cwd"] = cwd
    if uid is not None or gid is not None:
        body["user"] = user(uid, gid)
    if options.get("terminal"):
        body["terminal"] = True
        size = options.get("console_size")
        if size is not None:
            body["consoleSize"] = console_size(size)
    if options.get("stdin"):
        body["stdin"] = True
    return make_request("PUT", container_path(container_id, "processes"), body=body)


def console_size(size: tuple[int, int]) -> ConsoleSize:
    """A terminal's ``(columns, rows)`` (``os.get_terminal_size``'s order) as the API's
    ``consoleSize``: an exec's, a start's process's."""
    columns, rows = size
    return {"width": columns, "height": rows}


def user(uid: int | None, gid: int | None) -> UserSpec:
    """A process's user as ``-u UID[:GID]`` gives it (exec's, run's): a gid left out is 0,
    as docker's for a user with no entry in the container's passwd."""
    return {"uid": uid or 0, "gid": gid or 0}


def wait(container_id: str, pid: int | None = None, *, condition: str | None = None) -> Request:
    """Answered once the container's init (or process ``pid``) exited; ``condition``, not with
    ``pid`` (docker's: ``not-running``, ``next-exit``, ``removed``): at the init's next exit, or
    once the container is removed too."""
    if pid is None:
        path = container_path(container_id, "wait")
        return make_request("POST", path, params=_params(condition=condition))
    return Request("POST", container_path(container_id, "process", str(pid), "wait"))


def signal_process(container_id: str, pid: int, signal: int | str) -> Request:
    path = container_path(container_id, "process", str(pid))
    return make_request("POST", path, body={"signal": signal})


def update(container_id: str, body: dict[str, Any]) -> Request:
    """PATCH: ``{"signal": ...}`` for the init process, ``{"status": "paused"|"running"}``,
    ``{"resources": {...}}`` for new cgroup limits."""
    return make_request("PATCH", container_path(container_id), body=body)


def delete(container_id: str, *, timeout: float | None = None, force: bool = False) -> Request:
    """``force`` (docker's rm -f): SIGKILL alone, no grace (not with ``timeout``)."""
    params = _params(
        timeout=None if timeout is None else f"{timeout:g}", force="true" if force else None
    )
    return make_request("DELETE", container_path(container_id), params=params)


def delete_stopped(container_id: str) -> Request:
    """docker's rm without -f: remove the container only if it is stopped (and stays so),
    else the daemon's 409, which names its state."""
    return make_request("DELETE", container_path(container_id), params={"status": "stopped"})


def prune() -> Request:
    """docker's container prune: every stopped container that stays so, removed."""
    return make_request("DELETE", "/containers", params={"status": "stopped"})


def stop(
    container_id: str, *, signal: int | str | None = None, timeout: float | None = None
) -> Request:
    """docker's stop: ``signal``, then SIGKILL after ``timeout`` seconds (-1: none); either
    None: the container's own."""
    params = _params(
        signal=None if signal is None else str(signal),
        timeout=None if timeout is None else f"{timeout:g}",
    )
    return make_request("POST", container_path(container_id, "stop"), params=params)


def checkpoints(container_id: str, *, bundle_path: str | None = None) -> Request:
    params = _params(bundlePath=bundle_path)
    return make_request("GET", container_path(container_id, "checkpoint"), params=params)


def _criu_options(options: CriuFlags) -> dict[str, bool]:
    """What CRIU may take along (a checkpoint's and a migration's body share these)."""
    return {
        "tcp": options.get("tcp", False),
        "unixSockets": options.get("unix_sockets", False),
        "shell": options.get("shell", False),
    }


def create_checkpoint(
    container_id: str, name: str, **options: Unpack[CheckpointOptions]
) -> Request:
    body: dict[str, Any] = {"exit": options.get("exit", False), **_criu_options(options)}
    timeout = options.get("timeout")
    if timeout is not None:
        body["timeout"] = timeout
    return make_request("POST", container_path(container_id, "checkpoint", name), body=body)


def delete_checkpoint(container_id: str, name: str, *, bundle_path: str | None = None) -> Request:
    path = container_path(container_id, "checkpoint", name)
    return make_request("DELETE", path, params=_params(bundlePath=bundle_path))


def events(**options: Unpack[EventOptions]) -> Request:
    """The event stream: past events from ``since`` on, then live ones."""
    types = options.get("types")
    params = _params(
        since=options.get("since"),
        id=options.get("container_id"),
        type=",".join(types) if types else None,
        until=options.get("until"),
    )
    labels = [("label", label) for label in options.get("labels", ())]
    return make_request("GET", "/events", params=[*params.items(), *labels])


def logs(container_id: str, **options: Unpack[LogOptions]) -> Request:
    tail = options.get("tail")
    params = _params(
        follow="true" if options.get("follow") else "false",
        tail=None if tail is None else str(tail),
        since=options.get("since"),
        until=options.get("until"),
    )
    return make_request("GET", container_path(container_id, "logs"), params=params)


def top(container_id: str, ps_args: Sequence[str] | None = None) -> Request:
    """``ps_args``: ps's options, joined by spaces as docker's CLI sends them (the daemon
    splits them on white space again)."""
    params = _params(ps_args=None if ps_args is None else " ".join(ps_args))
    return make_request("GET", container_path(container_id, "top"), params=params)


def stats(container_id: str) -> Request:
    return Request("GET", container_path(container_id, "stats"))


def metrics() -> Request:
    return Request("GET", "/metrics")


# --- archives and migrations ------------------------------------------------------------------


class MigrateOptions(CriuFlags, total=False):
    #: Pre-copy rounds (memory copied while the container runs; needs dirty-page tracking).
    pre_copy: int
    #: Copy the bundle (config.json and rootfs) too: the target has none.
    with_bundle: bool
    #: Where the bundle is on the target (default: the same path as on the source).
    target_bundle_path: str | None
    #: Seconds each dump (a pre-copy round, the final one) may take (the daemon's if None).
    timeout: float | None


def migrate(container_id: str, to: str, **options: Unpack[MigrateOptions]) -> Request:
    """Move the container to the daemon at ``to``; an ndjson stream of its steps."""
    body: dict[str, Any] = {
        "to": to,
        "preCopy": options.get("pre_copy", 0),
        "withBundle": options.get("with_bundle", False),
        **_criu_options(options),
    }
    target_bundle = options.get("target_bundle_path")
    if target_bundle is not None:
        body["targetBundlePath"] = target_bundle
    timeout = options.get("timeout")
    if timeout is not None:
        body["timeout"] = timeout
    return make_request("POST", container_path(container_id, "migrate"), body=body)


def import_checkpoint(container_id: str, name: str, *, bundle_path: str | None = None) -> Request:
    """The head of an archive upload (the body follows, streamed)."""
    path = container_path(container_id, "checkpoint", name, "archive")
    return make_request("PUT", path, params=_params(bundlePath=bundle_path))


def open_migration(
    container_id: str,
    bundle_path: str,
    checkpoint: str,
    *,
    with_bundle: bool,
    labels: Mapping[str, str] | None = None,
    auto_remove: bool = False,
    process: StartProcess | None = None,
    restart_policy: RestartPolicy | None = None,
    restart_count: int = 0,
    created_at: str | None = None,
) -> Request:
    """The source asks the target for a session (see :mod:`containerd_trio.migration`)."""
    body: dict[str, Any] = {
        "id": container_id,
        "bundlePath": bundle_path,
        "checkpoint": checkpoint,
        "withBundle": with_bundle,
    }
    if labels:
        body["labels"] = dict(labels)
    if auto_remove:  # sent only when true: a target older than autoRemove takes the rest
        body["autoRemove"] = True
    if process:  # likewise: a target older than process takes a container without one
        body["process"] = process
    if restart_policy:  # likewise, for the restart policy and its count
        body["restartPolicy"] = restart_policy
        if restart_count:
            body["restartCount"] = restart_count
    if created_at is not None:  # likewise (the source offers again without it: Target.open)
        body["createdAt"] = created_at
    return make_request("POST", "/migrations", body=body)


def migration_path(migration: str, *rest: str) -> str:
    return "/migrations" + "".join("/" + quote(part, safe="") for part in (migration, *rest))


def migration_archive(migration: str) -> Request:
    """The head of an archive upload into the session (the body follows, streamed)."""
    return Request("PUT", migration_path(migration, "archive"))


def touch_migration(migration: str) -> Request:
    """The source says it still drives the session (its idle time starts again)."""
    return Request("GET", migration_path(migration))


def restore_migration(migration: str) -> Request:
    return make_request("POST", migration_path(migration, "restore"))


def migration_stdin(migration: str, data: bytes) -> Request:
    body = {"data": base64.b64encode(data).decode()}
    return make_request("POST", migration_path(migration, "stdin"), body=body)


def finish_migration(migration: str) -> Request:
    return make_request("POST", migration_path(migration, "finish"))


def abort_migration(migration: str) -> Request:
    return Request("DELETE", migration_path(migration))


# --- files (docker cp) ------------------------------------------------------------------------


def path_stat(container_id: str, path: str) -> Request:
    """HEAD: the stat of a path in the container (the X-Docker-Container-Path-Stat header)."""
    return make_request("HEAD", container_path(container_id, "archive"), params={"path": path})


def copy_from(container_id: str, path: str, *, exclude_mounts: bool = False) -> Request:
    """A path of the container as a tar stream (without what is mounted in it: docker
    export's)."""
    params = {"path": path, **({"excludeMounts": "true"} if exclude_mounts else {})}
    return make_request("GET", container_path(container_id, "archive"), params=params)


def copy_to(container_id: str, path: str, *, copy_owner: bool = False) -> Request:
    """The head of a tar stream's upload into the directory ``path`` (the body follows)."""
    params = {"path": path, **({"copyOwner": "true"} if copy_owner else {})}
    return make_request("PUT", container_path(container_id, "archive"), params=params)
