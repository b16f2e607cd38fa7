"""The REST routes of ``API.md``: the seed's, then what came after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Blueprint, Response, current_app, request

from .. import metrics as metrics_module
from ..errors import InvalidRequest
from ..events import Subscription
from ..supervisor import Supervisor
from ..timestamps import parse_ns
from ..validation import check_id
from . import app as http
from . import openapi
from .schemas import CheckpointRequest, ExecRequest, SignalRequest, StartRequest, UpdateRequest

blueprint = Blueprint("api", __name__)

#: A ``tail`` larger than this means the whole log (and must not reach deque(maxlen=...)).
MAX_TAIL = 1 << 30


def supervisor() -> Supervisor:
    value: Supervisor = current_app.extensions["supervisor"]
    return value


# --- query parameters -----------------------------------------------------------------------


def _query_number(name: str, default: float | None, *, integer: bool = False) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise InvalidRequest(f"query parameter {name} must be {kind}, not {raw!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise InvalidRequest(f"query parameter {name} must be 0 or more, not {raw!r}")
    return value


def _query_bool(name: str) -> bool:
    raw = request.args.get(name, "false").lower()
    if raw in ("true", "1", "yes", ""):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise InvalidRequest(f"query parameter {name} must be true or false, not {raw!r}")


# --- the seed's endpoints -------------------------------------------------------------------


@blueprint.post("/containers/<container_id>")
async def start_container(container_id: str) -> Response:
    check_id(container_id)
    body = await http.read_body(StartRequest)
    info = await supervisor().start(
        container_id, body.bundle_path, checkpoint=body.checkpoint, labels=body.labels
    )
    return http.json_response(info, 201)


@blueprint.put("/containers/<container_id>/processes")
@blueprint.put("/containers/<container_id>/process")
async def add_process(container_id: str) -> Response:
    check_id(container_id)
    spec = await http.read_body(ExecRequest)
    return http.json_response(await supervisor().exec(container_id, spec), 201)


@blueprint.post("/containers/<container_id>/process/<pid>")
async def signal_process(container_id: str, pid: str) -> Response:
    check_id(container_id)
    # isdecimal(), and ASCII: "3¹".isdigit() is True, and int() refuses it.
    if not (pid.isascii() and pid.isdecimal()) or not 0 < int(pid) < 2**22 + 1:
        raise InvalidRequest(f"pid must be a positive integer, not {pid!r}")
    body = await http.read_body(SignalRequest)
    supervisor().signal_process(container_id, int(pid), body.signal)
    return http.json_response({})


@blueprint.get("/state")
async def state() -> Response:
    return http.json_response(supervisor().state())


@blueprint.post("/containers/<container_id>/checkpoint/<name>")
async def create_checkpoint(container_id: str, name: str) -> Response:
    check_id(container_id)
    check_id(name, "checkpoint name")
    body = await http.read_body(CheckpointRequest, optional=True)
    info = await supervisor().checkpoint(container_id, name, body.criu_options, exit=body.exit)
    return http.json_response(info, 201)


@blueprint.get("/containers/<container_id>/checkpoint")
async def list_checkpoints(container_id: str) -> Response:
    bundle = request.args.get("bundlePath")
    return http.json_response(supervisor().list_checkpoints(container_id, bundle))


@blueprint.delete("/containers/<container_id>/checkpoint/<name>")
async def delete_checkpoint(container_id: str, name: str) -> Response:
    bundle = request.args.get("bundlePath")
    supervisor().delete_checkpoint(container_id, name, bundle)
    return http.json_response({})


@blueprint.patch("/containers/<container_id>")
async def update_container(container_id: str) -> Response:
    check_id(container_id)
    body = await http.read_body(UpdateRequest)
    if body.status is None and body.signal is None:
        raise InvalidRequest('give "status" ("paused" or "running") or "signal"')
    if body.status is not None and body.signal is not None:
        raise InvalidRequest('give either "status" or "signal", not both')
    status = body.status.status if body.status is not None else None
    info = await supervisor().update(container_id, status=status, signum=body.signal)
    return http.json_response(info)


# --- beyond the seed ------------------------------------------------------------------------


@blueprint.get("/containers/<container_id>")
async def get_container(container_id: str) -> Response:
    return http.json_response(supervisor().get(container_id))


@blueprint.delete("/containers/<container_id>")
async def delete_container(container_id: str) -> Response:
    check_id(container_id)
    timeout = _query_number("timeout", 10.0)
    assert timeout is not None
    return http.json_response(await supervisor().delete(container_id, timeout))


@blueprint.get("/events")
async def events() -> Response:
    since_raw = request.args.get("since")
    since = None
    if since_raw is not None:
        # An unencoded "+00:00" in a query string arrives as " 00:00": take it as meant.
        if len(since_raw) > 6 and since_raw[-6] == " " and since_raw[-3] == ":":
            since_raw = since_raw[:-6] + "+" + since_raw[-5:]
        try:
            since = parse_ns(since_raw)
        except ValueError as exc:
            raise InvalidRequest(f"query parameter since: {exc}") from None
    container_id = request.args.get("id")
    if container_id is not None:
        check_id(container_id)
    # Subscribe now, before the answer's headers go out: a client that acts once it sees them
    # must not miss the events its action causes.
    subscription = supervisor().events.subscribe(since_ns=since, container_id=container_id)
    return http.stream_response(_event_lines(subscription))


async def _event_lines(subscription: Subscription) -> AsyncIterator[bytes]:
    with subscription:
        async for event in subscription:
            yield event.line()


@blueprint.get("/containers/<container_id>/logs")
async def container_logs(container_id: str) -> Response:
    tail = _query_number("tail", None, integer=True)
    if tail is not None and tail > MAX_TAIL:
        tail = MAX_TAIL  # more than any log holds: all of it
    follow = _query_bool("follow")
    lines = supervisor().log_lines(
        container_id, tail=None if tail is None else int(tail), follow=follow
    )
    return http.stream_response(lines)


@blueprint.get("/containers/<container_id>/stats")
async def container_stats(container_id: str) -> Response:
    data = await supervisor().stats(container_id)
    figures = {key: data[key] for key in ("cpu", "memory", "pids", "blkio") if key in data}
    return http.json_response({"id": container_id, **figures})


@blueprint.get("/metrics")
async def metrics() -> Response:
    return Response(supervisor().metrics.render(), content_type=metrics_module.CONTENT_TYPE)


@blueprint.post("/daemon/reload")
async def reload_daemon() -> Response:
    """A live upgrade: the keeper starts a new server, and this one hands over to it."""
    supervisor().reload()
    return http.json_document({"reloading": True}, 202)


@blueprint.get("/openapi.json")
async def openapi_document() -> Response:
    return http.json_document(openapi.document())
