"""The OpenAPI 3.1 description of the REST API (``GET /openapi.json``).

The object schemas of the request bodies and of the answers are derived from the attrs classes
that the daemon's one converter structures and unstructures (:mod:`containerd_trio.convert`):
field names go camelCase, a field without a default is required, and a request body refuses
unknown keys (``additionalProperties: false``), as the converter does. An answer's optional field
is left out when it is None, so an answer's ``required`` lists every field whose default is not
None. What the classes cannot say (the id pattern, signal forms, what a route checks beyond the
types) is written by hand beside them. The document is built once and cached.
"""

from __future__ import annotations

import enum
import functools
import signal
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from .. import __version__
from ..checkpoints import CheckpointInfo
from ..convert import camel
from ..events import EVENT_TYPES
from ..model import (
    ContainerInfo,
    ContainerState,
    DaemonState,
    MachineInfo,
    ProcessInfo,
    ProcessSpec,
    User,
)
from ..validation import ID_PATTERN, MAX_SIGNAL
from .schemas import CheckpointRequest, Signal, SignalRequest, StartRequest, UpdateRequest

OPENAPI_VERSION = "3.1.0"

JSON = "application/json"
NDJSON = "application/x-ndjson"
TEXT = "text/plain"

#: The largest uid or gid a process may be given ((uid_t)-1 means "no change" to the kernel).
MAX_UNIX_ID = 2**32 - 2
#: The largest pid the kernel hands out (``pid_max`` is at most 2**22).
MAX_PID = 2**22

Schema = dict[str, Any]

# --- the attrs classes and their names in components/schemas ----------------------------------

#: attrs class -> (component name, is it (part of) a request body).
_CLASSES: dict[type[Any], tuple[str, bool]] = {
    ContainerInfo: ("Container", False),
    ContainerState: ("ContainerState", False),
    ProcessInfo: ("Process", False),
    User: ("User", True),  # in answers, and in the exec request
    CheckpointInfo: ("Checkpoint", False),
    DaemonState: ("State", False),
    MachineInfo: ("Machine", False),
    StartRequest: ("StartRequest", True),
    ProcessSpec: ("ExecRequest", True),
    SignalRequest: ("SignalRequest", True),
    UpdateRequest: ("UpdateRequest", True),
    CheckpointRequest: ("CheckpointRequest", True),
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _id_schema(what: str) -> Schema:
    return {
        "type": "string",
        "pattern": ID_PATTERN,
        "description": f"A {what}: letters, digits, '_', '.', '-'; at most 128 characters;"
        " not starting with a punctuation mark.",
    }


#: What the types alone do not say, by component and Python field name (merged over the derived
#: schema of that field).
_FIELD_NOTES: dict[str, dict[str, Schema]] = {
    "Container": {
        "id": _id_schema("container id"),
        "bundle_path": {"description": "The absolute path of the container's OCI bundle."},
        "processes": {"description": "The live processes the daemon started, init first."},
        "created_at": {"format": "date-time", "description": "RFC 3339 with nanoseconds."},
    },
    "ContainerState": {
        "exit_status": {
            "description": "Set once stopped: the init's exit code, or 128+N if signal N killed it."
        },
    },
    "User": {
        "uid": {"minimum": 0, "maximum": MAX_UNIX_ID},
        "gid": {"minimum": 0, "maximum": MAX_UNIX_ID},
        "additional_gids": {"items": {"minimum": 0, "maximum": MAX_UNIX_ID}},
    },
    "Process": {"pid": {"minimum": 1}},
    "Checkpoint": {
        "name": _id_schema("checkpoint name"),
        "timestamp": {"format": "date-time", "description": "RFC 3339 with nanoseconds."},
    },
    "Machine": {
        "cpus": {"minimum": 1, "description": "Online CPUs."},
        "memory": {"minimum": 0, "description": "MemTotal, in bytes."},
    },
    "StartRequest": {
        "bundle_path": {
            "minLength": 1,
            "pattern": "^/",
            "description": "The absolute path of an OCI bundle (a directory with config.json).",
        },
        "checkpoint": {
            "pattern": ID_PATTERN,
            "description": "Restore from {bundlePath}/checkpoints/{checkpoint} instead of a fresh"
            " start.",
        },
    },
    "ExecRequest": {
        "args": {"minItems": 1, "description": "The program and its arguments."},
        "env": {
            "items": {"pattern": "^[^=]+="},
            "description": "KEY=value entries; the bundle's when left out.",
        },
        "cwd": {
            "pattern": "^/",
            "description": "The working directory, an absolute path; the bundle's when left out.",
        },
        "terminal": {
            "const": False,
            "description": "Terminal processes are not supported: true is refused with 400.",
        },
    },
    "CheckpointRequest": {
        "exit": {"description": "Stop the container after the checkpoint."},
        "tcp": {"description": "Dump established TCP connections (CRIU --tcp-established)."},
        "unix_sockets": {"description": "Dump external unix sockets (CRIU --ext-unix-sk)."},
        "shell": {"description": "The container is a shell job (CRIU --shell-job)."},
    },
}

_DESCRIPTIONS: dict[str, str] = {
    "Container": "A container as the daemon lists it.",
    "ContainerState": "A stopped container also has exitStatus.",
    "Process": "A live process the daemon started in a container.",
    "User": "The user a process runs as.",
    "Checkpoint": "One checkpoint of a bundle, as the listing shows it.",
    "State": "Every listed container, and the machine.",
    "Machine": "The machine the daemon runs on.",
    "StartRequest": "Start a container from an OCI bundle, or restore it from a checkpoint.",
    "ExecRequest": "An OCI process to start in a running container (the ProcessSpec);"
    " what is left out is taken from the bundle.",
    "SignalRequest": "A signal to send to one process of the container.",
    "UpdateRequest": 'Exactly one of "status" (pause or resume) or "signal" (to the init);'
    " a null counts as left out.",
    "CheckpointRequest": "CRIU options; the body may be left out altogether.",
}


def _is_optional(tp: Any) -> tuple[bool, Any]:
    """(True, X) for ``X | None``; (False, tp) otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(members) < len(typing.get_args(tp)):
            if len(members) != 1:
                raise TypeError(f"cannot describe the union {tp!r}")
            return True, members[0]
    return False, tp


def _nullable(schema: Schema) -> Schema:
    """The same schema, with null allowed too (how a request may leave an optional field out)."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        result = dict(schema)
        result["type"] = [kind, "null"]
        if "enum" in result and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]
        return result
    return {"anyOf": [schema, {"type": "null"}]}


def type_schema(tp: Any) -> Schema:
    """The JSON Schema of a field type, as the converter reads and writes it."""
    if tp is Signal:
        return ref("Signal")
    if tp is str:
        return {"type": "string"}
    if tp is bool:  # before int: bool is an int to Python, never to the converter
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [member.value for member in tp]}
    if isinstance(tp, type) and attrs.has(tp):
        return ref(_CLASSES[tp][0])
    optional, inner = _is_optional(tp)
    if optional:
        return _nullable(type_schema(inner))
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": type_schema(item)}
    if origin is dict:
        key, value = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"JSON object keys are strings, not {key!r}")
        return {"type": "object", "additionalProperties": type_schema(value)}
    raise TypeError(f"no JSON Schema for the type {tp!r}")


def _merge(base: Schema, note: Schema) -> Schema:
    """A field's derived schema with the hand-written note over it (inside a nullable wrapper)."""
    if "anyOf" in base and not any(key in note for key in ("$ref", "anyOf")):
        inner, null = base["anyOf"]
        if "$ref" in inner:
            return {**base, **{k: v for k, v in note.items() if k == "description"}}
        return {"anyOf": [_merge(inner, note), null]}
    merged = {**base, **note}
    if "items" in base and "items" in note:
        merged["items"] = {**base["items"], **note["items"]}
    return merged


def object_schema(cls: type[Any]) -> Schema:
    """The schema of an attrs class on the wire, from its fields."""
    name, is_request = _CLASSES[cls]
    hints = typing.get_type_hints(cls)
    notes = _FIELD_NOTES.get(name, {})
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        tp = hints[field.name]
        _, inner = _is_optional(tp)
        # In answers None is left out, never written: only requests need null in the schema.
        schema = type_schema(tp if is_request else inner)
        if field.name in notes:
            schema = _merge(schema, notes[field.name])
        wire = camel(field.name)
        properties[wire] = schema
        if field.default is attrs.NOTHING or (not is_request and field.default is not None):
            required.append(wire)
    result: Schema = {"type": "object", "description": _DESCRIPTIONS[name]}
    if required:
        result["required"] = required
    result["properties"] = properties
    if is_request:
        result["additionalProperties"] = False
    return result


# --- the hand-written schemas -----------------------------------------------------------------


def _signal_names() -> list[str]:
    names = sorted(
        {
            sig.name
            for sig in signal.Signals
            if sig.name.startswith("SIG") and not sig.name.startswith("SIGRT")
        },
        key=lambda name: int(signal.Signals[name]),
    )
    return names + [name[3:] for name in names]


def _hand_written() -> dict[str, Schema]:
    timestamp: Schema = {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 with nanoseconds and a UTC offset.",
    }
    figures: Schema = {"type": "object", "additionalProperties": True}
    return {
        "Error": {
            "type": "object",
            "description": "Every error: one sentence naming what was wrong.",
            "required": ["error"],
            "properties": {"error": {"type": "string", "minLength": 1}},
        },
        "Signal": {
            "description": f"A signal: an integer 1..{MAX_SIGNAL}, or a name with or without"
            ' the SIG prefix ("SIGTERM", "TERM"; any case; a number as a string works too).',
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_SIGNAL},
                {"type": "string", "enum": _signal_names()},
            ],
        },
        "Event": {
            "type": "object",
            "description": "One line of the event stream. exit events carry the pid and the"
            " exit status (128+N for death by signal N); the init's exit means the container"
            " stopped.",
            "required": ["type", "id", "timestamp"],
            "properties": {
                "type": {"type": "string", "enum": list(EVENT_TYPES)},
                "id": _id_schema("container id"),
                "pid": {"type": "integer", "minimum": 1},
                "status": {"type": "integer"},
                "timestamp": timestamp,
            },
        },
        "LogRecord": {
            "type": "object",
            "description": "One line of a container's output (a line over 16 KiB is split into"
            " several records).",
            "required": ["stream", "timestamp", "data"],
            "properties": {
                "stream": {"type": "string", "enum": ["stdout", "stderr"]},
                "timestamp": timestamp,
                "data": {
                    "type": "string",
                    "description": "The line, with its newline if it had one.",
                },
            },
        },
        "Stats": {
            "type": "object",
            "description": "Cgroup figures of a live container, from `runc events --stats`.",
            "required": ["id"],
            "properties": {
                "id": _id_schema("container id"),
                "cpu": figures,
                "memory": figures,
                "pids": figures,
                "blkio": figures,
            },
        },
        "Empty": {"type": "object", "maxProperties": 0, "description": "An empty object."},
    }


def _update_request() -> Schema:
    schema = object_schema(UpdateRequest)
    # Exactly one of the two is given (not null): the route checks it, after the converter.
    schema["oneOf"] = [
        {
            "required": ["status"],
            "properties": {"status": {"type": "string"}, "signal": {"type": "null"}},
        },
        {
            "required": ["signal"],
            "properties": {"signal": {"not": {"type": "null"}}, "status": {"type": "null"}},
        },
    ]
    return schema


def component_schemas() -> dict[str, Schema]:
    derived = {name: object_schema(cls) for cls, (name, _) in _CLASSES.items()}
    derived["UpdateRequest"] = _update_request()
    return {**derived, **_hand_written()}


# --- parameters, bodies and answers -------------------------------------------------------------


def _parameter(name: str, where: str, schema: Schema, description: str) -> Schema:
    result: Schema = {"name": name, "in": where, "description": description, "schema": schema}
    if where == "path":
        result["required"] = True
    return result


_PARAMETERS: dict[str, Schema] = {
    "ContainerId": _parameter(
        "id", "path", {"type": "string", "pattern": ID_PATTERN}, "The container id."
    ),
    "CheckpointName": _parameter(
        "name", "path", {"type": "string", "pattern": ID_PATTERN}, "The checkpoint name."
    ),
    "Pid": _parameter(
        "pid",
        "path",
        {"type": "integer", "minimum": 1, "maximum": MAX_PID},
        "A live process of the container, started by the daemon.",
    ),
    "Timeout": _parameter(
        "timeout",
        "query",
        {"type": "number", "minimum": 0, "default": 10},
        "Seconds between SIGTERM and SIGKILL (a finite number, 0 or more).",
    ),
    "Since": _parameter(
        "since",
        "query",
        {"type": "string", "format": "date-time"},
        "Replay past events from this RFC 3339 time on, before the live ones.",
    ),
    "EventsId": _parameter(
        "id",
        "query",
        {"type": "string", "pattern": ID_PATTERN},
        "Only the events of this container.",
    ),
    "Tail": _parameter(
        "tail",
        "query",
        {"type": "integer", "minimum": 0},
        "Only the last N records (all when left out).",
    ),
    "Follow": _parameter(
        "follow",
        "query",
        {
            "type": "string",
            "enum": ["true", "false", "1", "0", "yes", "no", ""],
            "default": "false",
        },
        "Keep the stream open for new records while the container runs (any case).",
    ),
    "BundlePath": _parameter(
        "bundlePath",
        "query",
        {"type": "string", "pattern": "^/"},
        "Use the checkpoints of this bundle directory (absolute) instead of the listed"
        " container's: a checkpoint outlives the container.",
    ),
}

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON, wrong types, unknown fields, an invalid id or signal."),
    404: ("NotFound", "Unknown container, process or checkpoint (or no such endpoint)."),
    409: ("Conflict", "The container is not in a state that allows this, or the name is taken."),
    413: ("PayloadTooLarge", "The request body is larger than the daemon's limit."),
    500: ("RuntimeFailure", "runc (or CRIU) failed; the message carries its own words."),
    503: ("ShuttingDown", "The daemon is shutting down."),
    504: ("RuntimeTimeout", "A runtime call passed its deadline."),
}


def _response_components() -> dict[str, Schema]:
    return {
        name: {"description": description, "content": {JSON: {"schema": ref("Error")}}}
        for name, description in _ERRORS.values()
    }


def _json_answer(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    # Any request may meet an unexpected failure: 500 with the same {"error"} body.
    return {
        str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
        for status in sorted({*statuses, 500})
    }


def _params(*names: str) -> list[Schema]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _body(name: str, *, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": ref(name)}}}


#: Runtime calls: they may fail in runc (500), pass their deadline (504), or meet a shutdown (503).
_RUNTIME = (500, 503, 504)


def _operation(
    operation_id: str,
    summary: str,
    answers: Mapping[str, Schema],
    *,
    tags: tuple[str, ...],
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    result: Schema = {"operationId": operation_id, "summary": summary, "tags": list(tags)}
    if parameters:
        result["parameters"] = parameters
    if body is not None:
        result["requestBody"] = body
    result["responses"] = dict(answers)
    return result


def _paths() -> dict[str, Schema]:
    container = ("containers",)
    processes = ("processes",)
    checkpoint = ("checkpoints",)
    observe = ("observe",)
    exec_answers = {
        "201": _json_answer("The process, with its pid.", ref("Process")),
        **_errors(400, 404, 409, 413, *_RUNTIME),
    }
    return {
        "/containers/{id}": {
            "post": _operation(
                "startContainer",
                "Start a container (or restore it from a checkpoint)",
                {
                    "201": _json_answer(
                        "The container, once its init process runs.", ref("Container")
                    ),
                    **_errors(400, 404, 409, 413, *_RUNTIME),
                },
                tags=container,
                parameters=_params("ContainerId"),
                body=_body("StartRequest"),
            ),
            "get": _operation(
                "getContainer",
                "One container",
                {"200": _json_answer("The container.", ref("Container")), **_errors(400, 404)},
                tags=container,
                parameters=_params("ContainerId"),
            ),
            "patch": _operation(
                "updateContainer",
                "Pause or resume a container, or signal its init",
                {
                    "200": _json_answer("The container.", ref("Container")),
                    **_errors(400, 404, 409, 413, *_RUNTIME),
                },
                tags=container,
                parameters=_params("ContainerId"),
                body=_body("UpdateRequest"),
            ),
            "delete": _operation(
                "deleteContainer",
                "Stop (SIGTERM, then SIGKILL after timeout seconds) and remove a container",
                {
                    "200": _json_answer("The container as it was at the end.", ref("Container")),
                    **_errors(400, 404, *_RUNTIME),
                },
                tags=container,
                parameters=_params("ContainerId", "Timeout"),
            ),
        },
        "/containers/{id}/processes": {
            "put": _operation(
                "execProcess",
                "Start a process in a running container",
                exec_answers,
                tags=processes,
                parameters=_params("ContainerId"),
                body=_body("ExecRequest"),
            ),
        },
        "/containers/{id}/process": {
            "put": _operation(
                "execProcessSeed",
                "Start a process in a running container (the seed's spelling)",
                exec_answers,
                tags=processes,
                parameters=_params("ContainerId"),
                body=_body("ExecRequest"),
            ),
        },
        "/containers/{id}/process/{pid}": {
            "post": _operation(
                "signalProcess",
                "Send a signal to a process of the container",
                {
                    "200": _json_answer("The signal was sent.", ref("Empty")),
                    **_errors(400, 404, 413),
                },
                tags=processes,
                parameters=_params("ContainerId", "Pid"),
                body=_body("SignalRequest"),
            ),
        },
        "/state": {
            "get": _operation(
                "getState",
                "Every container, and the machine",
                {"200": _json_answer("The daemon's state.", ref("State")), **_errors()},
                tags=container,
            ),
        },
        "/containers/{id}/checkpoint/{name}": {
            "post": _operation(
                "createCheckpoint",
                "Checkpoint a container into {bundlePath}/checkpoints/{name}",
                {
                    "201": _json_answer("The checkpoint.", ref("Checkpoint")),
                    **_errors(400, 404, 409, 413, *_RUNTIME),
                },
                tags=checkpoint,
                parameters=_params("ContainerId", "CheckpointName"),
                body=_body("CheckpointRequest", required=False),
            ),
            "delete": _operation(
                "deleteCheckpoint",
                "Delete a checkpoint",
                {"200": _json_answer("It is gone.", ref("Empty")), **_errors(400, 404)},
                tags=checkpoint,
                parameters=_params("ContainerId", "CheckpointName", "BundlePath"),
            ),
        },
        "/containers/{id}/checkpoint": {
            "get": _operation(
                "listCheckpoints",
                "The checkpoints of a container's bundle, oldest first",
                {
                    "200": _json_answer(
                        "The checkpoints, oldest first.",
                        {"type": "array", "items": ref("Checkpoint")},
                    ),
                    **_errors(400, 404),
                },
                tags=checkpoint,
                parameters=_params("ContainerId", "BundlePath"),
            ),
        },
        "/events": {
            "get": _operation(
                "streamEvents",
                "The event stream: past events from since on, then live ones",
                {
                    "200": {
                        "description": "One Event object per line (newline-delimited JSON); the"
                        " stream stays open.",
                        "content": {NDJSON: {"schema": ref("Event")}},
                    },
                    **_errors(400),
                },
                tags=observe,
                parameters=_params("Since", "EventsId"),
            ),
        },
        "/containers/{id}/logs": {
            "get": _operation(
                "streamLogs",
                "The container's captured stdout and stderr",
                {
                    "200": {
                        "description": "One LogRecord object per line (newline-delimited JSON).",
                        "content": {NDJSON: {"schema": ref("LogRecord")}},
                    },
                    **_errors(400, 404),
                },
                tags=observe,
                parameters=_params("ContainerId", "Tail", "Follow"),
            ),
        },
        "/containers/{id}/stats": {
            "get": _operation(
                "getStats",
                "Cgroup figures of a live container",
                {
                    "200": _json_answer("The figures.", ref("Stats")),
                    **_errors(400, 404, 409, 504),
                },
                tags=observe,
                parameters=_params("ContainerId"),
            ),
        },
        "/metrics": {
            "get": _operation(
                "getMetrics",
                "Prometheus metrics",
                {
                    "200": {
                        "description": "The Prometheus text exposition format, version 0.0.4.",
                        "content": {TEXT: {"schema": {"type": "string"}}},
                    },
                    **_errors(),
                },
                tags=observe,
            ),
        },
        "/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document",
                {"200": _json_answer("The OpenAPI 3.1 document.", {"type": "object"}), **_errors()},
                tags=observe,
            ),
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document, as plain JSON-ready data (built once)."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "containerd-trio",
            "version": __version__,
            "description": "A container daemon on Trio: real runc containers, checkpoint and"
            " restore through CRIU, and the REST API of the December 2015 containerd. Every"
            ' error is {"error": "<one sentence>"}; ids match ' + ID_PATTERN + ".",
        },
        "tags": [
            {"name": "containers"},
            {"name": "processes"},
            {"name": "checkpoints"},
            {"name": "observe"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": component_schemas(),
            "parameters": _PARAMETERS,
            "responses": _response_components(),
        },
    }
