"""The OpenAPI 3.1 description of the REST API (``GET /openapi.json``), derived, not written.

- The paths come from the routes' declarations (:mod:`.endpoints`): summary, description (the
  handler's docstring), parameters, body, answers and errors, as the app serves them.
- The object schemas come from the attrs classes of the bodies and answers, with the limits of
  their rules (:mod:`.jsonschema`); the parameters from the routes' parameter classes.
- The table of errors comes from the :class:`~containerd_trio.errors.DaemonError` classes.

Written by hand here are only the shapes no attrs class describes: the error body, an event, a
log record, the stats. The document is built once and cached.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import attrs

from .. import __version__
from ..archive import MEDIA_TYPES
from ..checkpoints import CheckpointInfo
from ..convert import TYPE_SCHEMAS
from ..errors import (
    DaemonError,
    Forbidden,
    HeadersTooLarge,
    InternalError,
    InvalidRequest,
    PayloadTooLarge,
    ShuttingDown,
)
from ..event_types import DAEMON_EVENT_ID, EVENT_TYPES
from ..logfile import MAX_LINE, STREAMS
from ..model import (
    ContainerInfo,
    DaemonInfo,
    DaemonState,
    ExitInfo,
    MachineInfo,
    ProcessInfo,
    ProcessSpec,
    VersionInfo,
)
from ..validation import CONTAINER_ID, ID_PATTERN
from . import routes
from .endpoints import Answer, Bytes, Endpoint
from .jsonschema import Schema, classes_in, merge, object_schema, ref, type_schema
from .params import TEXT_SCHEMAS, parameters, text_form
from .upload import Upload

OPENAPI_VERSION = "3.1.0"

#: The classes whose component is not named after them.
_NAMES: dict[type[Any], str] = {
    ContainerInfo: "Container",
    ProcessInfo: "Process",
    CheckpointInfo: "Checkpoint",
    DaemonState: "State",
    MachineInfo: "Machine",
    ProcessSpec: "ExecRequest",
    ExitInfo: "Exit",
    VersionInfo: "Version",
    DaemonInfo: "Info",
}

TAGS = ("containers", "processes", "checkpoints", "migrations", "observe", "daemon")


def name_of(cls: type[Any]) -> str:
    return _NAMES.get(cls, cls.__name__)


# --- components/schemas -------------------------------------------------------------------------


#: What the checkpoint-* and restore-* events add (see criu_progress.py).
_CHECKPOINT_FIGURES: dict[str, Schema] = {
    "checkpoint": {"type": "string", "description": "The checkpoint's name."},
    "timeout": {"type": "number", "description": "started: the deadline, in seconds."},
    "bytes": {
        "type": "integer",
        "description": "The images' size: written so far (progress), in all (done; started"
        " for a restore).",
    },
    "seconds": {"type": "number", "description": "Since it started."},
    "frozenSeconds": {
        "type": "number",
        "description": "checkpoint-done: how long CRIU kept the container frozen.",
    },
    "pagesWritten": {"type": "integer", "description": "checkpoint-done: CRIU's figure."},
    "restoreSeconds": {"type": "number", "description": "restore-done: CRIU's restore time."},
    "pagesRestored": {"type": "integer", "description": "restore-done: CRIU's figure."},
    "error": {"type": "string", "description": "-failed: the first line of the error."},
}


def _hand_written() -> dict[str, Schema]:
    timestamp: Schema = {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 with nanoseconds and a UTC offset.",
    }
    container_id = {"type": "string", **CONTAINER_ID.schema}
    figures: Schema = {"type": "object", "additionalProperties": True}
    return {
        "Error": {
            "type": "object",
            "description": "Every error: one sentence naming what was wrong.",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "minLength": 1},
                "restarting": {
                    "type": "boolean",
                    "const": True,
                    "description": "exit of an init: its restart policy starts the container"
                    " again once its delay has passed (listed restarting from then on); left"
                    " out otherwise, and of the exits kept from before 2026-12-06.",
                },
                "movedTo": {
                    "type": "string",
                    "description": "A 404 for a container that moved away from this daemon"
                    " (a migration): the target daemon's address, as the migration's 'to'"
                    " named it (the error says it too); left out otherwise.",
                },
            },
        },
        "Event": {
            "type": "object",
            "description": "One line of the event stream. exit events carry the pid and the"
            " exit status (128+N for death by signal N); the init's exit means the container"
            " stopped. The checkpoint-* and restore-* events carry the checkpoint's name and"
            " the figures of its course. restart-cancelled: the restart a restart policy was"
            " waiting to make was called off; restart-failed (with error): its start failed;"
            " either way the container is no longer restarting. daemon-stopping, the"
            " daemon's own (its id empty), begins its stop: sent live only, never replayed.",
            "required": ["type", "id", "timestamp"],
            "properties": {
                "type": {"type": "string", "enum": list(EVENT_TYPES)},
                "id": {
                    "anyOf": [container_id, {"type": "string", "const": DAEMON_EVENT_ID}],
                    "description": "The container's id; empty in an event of the daemon's"
                    " own (daemon-stopping).",
                },
                "pid": {"type": "integer", "minimum": 1},
                "status": {"type": "integer"},
                "init": {
                    "type": "boolean",
                    "const": True,
                    "description": "exit: the process was the container's init, so the"
                    " container stopped (docker's die); left out of another process's exit"
                    " (docker's exec_die), and of the exits kept from before 2026-12-04.",
                },
                "moved": {
                    "type": "boolean",
                    "const": True,
                    "description": "exit of an init: the container did not end but moved to"
                    " another daemon (its frozen copy here killed once the target kept it),"
                    " not docker's die; left out otherwise.",
                },
                "movedTo": {
                    "type": "string",
                    "description": "with moved: the target daemon's address, as the"
                    " migration's 'to' named it; left out if not known.",
                },
                "exitedAt": {
                    **timestamp,
                    "description": "exit: when the process exited, as its wait's exitedAt (the"
                    " timestamp is later when an event published after the exit came before"
                    " it: timestamps strictly increase); left out of an exit whose time is not"
                    " known (one that ended while no daemon ran, found then), and of the exits"
                    " kept from before 2026-12-05.",
                },
                "unseen": {
                    "type": "boolean",
                    "const": True,
                    "description": "exit: no daemon saw it, the process ended while none ran"
                    " (status 255): its time is unknown (no exitedAt; the timestamp is when it"
                    " was found), and the wait of a container whose init it was leaves the pid"
                    " and exitedAt out; left out otherwise (and before 2026-12-05).",
                },
                "autoRemove": {
                    "type": "boolean",
                    "const": True,
                    "description": "delete: autoRemove removed the container at its init's"
                    " exit (docker run --rm's), not its user; left out otherwise (and before"
                    " 2026-12-05).",
                },
                **_CHECKPOINT_FIGURES,
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "minProperties": 1,
                    "description": "The container's labels when the event came; left out for"
                    " a container without labels (and in events kept from before 2026-12-04).",
                },
                "timestamp": timestamp,
            },
        },
        "LogRecord": {
            "type": "object",
            "description": "One line of a container's output (a line over"
            f" {MAX_LINE // 1024} KiB is split into several records, between characters; a"
            " terminal's output comes as it was read). Its bytes, exactly as the process wrote"
            " them, are raw if it has it, else data in UTF-8; the fields come in this order.",
            "required": ["stream", "pid", "timestamp", "data"],
            "properties": {
                "stream": {"type": "string", "enum": list(STREAMS)},
                "pid": {
                    "type": "integer",
                    "description": "The process that wrote it, as the host sees it.",
                },
                "timestamp": timestamp,
                "data": {
                    "type": "string",
                    "description": "The line, with its newline if it had one, decoded as UTF-8"
                    " (U+FFFD for bytes that are not).",
                },
                "raw": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "The line's bytes in base64, only in a record whose bytes"
                    " are not UTF-8.",
                },
            },
        },
        "Stats": {
            "type": "object",
            "description": "Cgroup figures of a live container, from `runc events --stats`.",
            "required": ["id"],
            "properties": {
                "id": container_id,
                "cpu": figures,
                "memory": figures,
                "pids": figures,
                "blkio": figures,
            },
        },
        "Empty": {"type": "object", "maxProperties": 0, "description": "An empty object."},
    }


def _request_classes(endpoints: list[Endpoint]) -> set[type[Any]]:
    return {
        cls
        for e in endpoints
        if e.body is not None and e.body is not Upload
        for cls in classes_in(e.body)
    }


def component_classes(endpoints: list[Endpoint]) -> dict[str, type[Any]]:
    """Every attrs class the bodies and answers reach, by its component name."""
    answers = {cls for e in endpoints for a in e.answers for cls in classes_in(a.schema)}
    found = _request_classes(endpoints) | answers
    return {name_of(cls): cls for cls in sorted(found, key=name_of)}


def component_schemas(endpoints: list[Endpoint]) -> dict[str, Schema]:
    """The attrs classes' schemas, the types with rules of their own, the hand-written ones."""
    requests = _request_classes(endpoints)
    derived = {
        name: object_schema(cls, name_of, request=cls in requests)
        for name, cls in component_classes(endpoints).items()
    }
    typed = {name: schema for name, schema in TYPE_SCHEMAS.values()}
    return {**derived, **typed, **_hand_written()}


# --- components/parameters ----------------------------------------------------------------------


def _declared_in(cls: type[Any], field: str) -> type[Any]:
    """The class of ``cls``'s hierarchy that declares ``field`` (it names the component)."""
    for klass in reversed(cls.__mro__):
        if field in inspect.get_annotations(klass):
            return klass
    return cls


def _parameter(endpoint: Endpoint, wire: str) -> tuple[str, Schema]:
    """A parameter of the route: its component name, and the component."""
    assert endpoint.params is not None
    parameter = parameters(endpoint.params)[wire]
    field = parameter.field
    schema = TEXT_SCHEMAS.get(parameter.type) or type_schema(parameter.type, name_of)
    if field.validator is not None:
        schema = merge(schema, getattr(field.validator, "schema", {}))
    if field.default not in (attrs.NOTHING, None):
        schema = {**schema, "default": text_form(field.default)}
    where = "path" if wire in endpoint.path_names else "query"
    component: Schema = {
        "name": wire,
        "in": where,
        "description": field.metadata["schema"]["description"],
        "schema": schema,
    }
    if where == "path" or field.default is attrs.NOTHING:
        component["required"] = True
    return f"{_declared_in(endpoint.params, field.name).__name__}.{wire}", component


# --- components/responses: the errors -----------------------------------------------------------


def _error_classes() -> list[type[DaemonError]]:
    """The kinds of error (the direct subclasses: refinements such as RuncError share theirs)."""
    return sorted(DaemonError.__subclasses__(), key=lambda cls: (cls.status, cls.__name__))


def _response_components() -> dict[str, Schema]:
    return {
        cls.__name__: {
            "description": inspect.getdoc(cls) or cls.__name__,
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for cls in _error_classes()
    }


def _errors(endpoint: Endpoint) -> dict[str, Schema]:
    """Whatever a route declares, any request may be refused (400: an unknown query parameter,
    an encoded slash; 403: a user who may not use the API over loopback TCP; 431: a head past
    16 KiB, a long path say; 503: the daemon stops) or meet a fault (500); a body may be
    malformed or too large: past --max-body-bytes on any route, one that takes none too (a
    413 before it is read), but a streamed upload (the import's limits bound it) and the
    WebSocket's handshake (a body there is a 400)."""
    implied: list[type[DaemonError]] = [
        InvalidRequest, Forbidden, HeadersTooLarge, InternalError, ShuttingDown,
    ]  # fmt: skip
    if endpoint.body is not Upload and not endpoint.websocket:
        implied.append(PayloadTooLarge)
    by_status: dict[int, type[DaemonError]] = {cls.status: cls for cls in implied}
    by_status.update({cls.status: cls for cls in endpoint.errors})  # declared ones win
    return {
        str(status): {"$ref": f"#/components/responses/{by_status[status].__name__}"}
        for status in sorted(by_status)
    }


# --- paths --------------------------------------------------------------------------------------


def _answer(answer: Answer) -> Schema:
    if answer.schema is None:  # a WebSocket's 101: no body
        return {"description": answer.description}
    if answer.schema is Bytes:
        described = {"description": answer.description, "content": _bytes(answer.media_types)}
        return _with_headers(answer, described)
    if isinstance(answer.schema, str):
        schema = ref(answer.schema)
    elif isinstance(answer.schema, dict):
        schema = answer.schema
    else:
        schema = type_schema(answer.schema, name_of)
    content = {media: {"schema": schema} for media in answer.media_types}
    return {"description": answer.description, "content": content}


def _with_headers(answer: Answer, described: Schema) -> Schema:
    if not answer.headers:
        return described
    headers = {
        name: {"description": what, "schema": {"type": "string"}} for name, what in answer.headers
    }
    return {**described, "headers": headers}


def _head(endpoint: Endpoint, operation: Schema) -> Schema:
    """A GET's HEAD: the same request, its answers' heads only."""
    responses = {
        status: {key: value for key, value in described.items() if key != "content"}
        if status.startswith("2")
        else described
        for status, described in operation["responses"].items()
    }
    return {
        **operation,
        "operationId": f"{endpoint.operation_id}Head",
        "summary": f"{endpoint.summary}: its headers only",
        "responses": responses,
    }


def _bytes(media_types: tuple[str, ...]) -> Schema:
    """The content of a body that is bytes of one of these media types (an archive)."""
    return {
        media: {"schema": {"type": "string", "contentMediaType": media}} for media in media_types
    }


def _operation(endpoint: Endpoint, parameter_names: list[str]) -> Schema:
    result: Schema = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
    }
    if endpoint.description:
        result["description"] = endpoint.description
    result["tags"] = list(endpoint.tags)
    if parameter_names:
        result["parameters"] = [
            {"$ref": f"#/components/parameters/{name}"} for name in parameter_names
        ]
    if endpoint.body is Upload:
        result["requestBody"] = {
            "required": True,
            "description": "An archive (tar, or tar in gzip), streamed (chunked or with a"
            " length): no --max-body-bytes limit, the archive's own limits bound it.",
            "content": _bytes(tuple(MEDIA_TYPES.values())),
        }
    elif endpoint.body is not None:
        result["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": ref(name_of(endpoint.body))}},
        }
    result["responses"] = {
        **{str(answer.status): _answer(answer) for answer in endpoint.answers},
        **_errors(endpoint),
    }
    return result


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document, as plain JSON-ready data (built once)."""
    endpoints = routes.api.endpoints
    paths: dict[str, Schema] = {}
    parameter_components: dict[str, Schema] = {}
    for endpoint in endpoints:
        names = []
        if endpoint.params is not None:
            for wire in parameters(endpoint.params):
                name, component = _parameter(endpoint, wire)
                assert parameter_components.setdefault(name, component) == component, name
                names.append(name)
        operation = _operation(endpoint, names)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
        if endpoint.head:
            paths[endpoint.path]["head"] = _head(endpoint, operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "containerd-trio",
            "version": __version__,
            "description": "A container daemon on Trio: real runc containers, checkpoint and"
            " restore through CRIU, and the REST API of the December 2015 containerd. Every"
            ' error is {"error": "<one sentence>"}; ids match ' + ID_PATTERN + ".",
        },
        "tags": [{"name": tag} for tag in TAGS],
        "paths": paths,
        "components": {
            "schemas": component_schemas(endpoints),
            "parameters": parameter_components,
            "responses": _response_components(),
        },
    }
