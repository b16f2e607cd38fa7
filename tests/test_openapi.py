"""The OpenAPI document: valid OpenAPI 3.1, served, complete, and true to what the daemon does."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from containerd_trio import timestamps
from containerd_trio.api import openapi, schemas, wire
from containerd_trio.api import routes as api_routes
from containerd_trio.api.app import create_app
from containerd_trio.config import DEFAULT_MAX_BODY_BYTES
from containerd_trio.convert import camel
from containerd_trio.errors import InvalidRequest
from containerd_trio.model import ProcessSpec
from containerd_trio.signals import LISTED_NAMES, SIGNAL_PATTERN
from containerd_trio.validation import ID_PATTERN, MAX_PID, parse_signal

from .helpers import COUNTER, BundleFactory, RunningDaemon, now, start_container, wait_exit

IGNORED_METHODS = {"HEAD", "OPTIONS"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

REQUEST_CLASSES: dict[str, type[Any]] = {
    "StartRequest": schemas.StartRequest,
    "ExecRequest": schemas.ExecRequest,
    "SignalRequest": schemas.SignalRequest,
    "UpdateRequest": schemas.UpdateRequest,
    "CheckpointRequest": schemas.CheckpointRequest,
}


def validator(name: str) -> jsonschema_rs.Validator:
    """A JSON Schema validator for one of the document's component schemas."""
    document = openapi.document()
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": document["components"],
    }
    return jsonschema_rs.validator_for(root)


def assert_conforms(name: str, value: Any) -> None:
    errors = [str(error) for error in validator(name).iter_errors(value)]
    assert not errors, f"{name}: {errors} in {value!r}"


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def placeholders_to_star(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{*}", path)


# --- the document itself ------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"].startswith("3.1")
    OPENAPI_31_VALIDATOR.validate(document)  # the official 3.1 meta-schema
    loaded: Any = schemathesis.openapi.from_dict(document)
    loaded.validate()
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == sum(
        1 for item in document["paths"].values() for method in item if method in METHODS
    )


def test_document_is_plain_json_built_once() -> None:
    document = openapi.document()
    assert openapi.document() is document
    assert json.loads(json.dumps(document)) == document


def test_every_reference_resolves_and_every_schema_compiles() -> None:
    document = openapi.document()
    for pointer in set(refs(document)):
        assert resolve(document, pointer) is not None, pointer
    for name in document["components"]["schemas"]:
        validator(name)  # compiles as JSON Schema 2020-12, references and all


def test_component_schemas_named_in_the_contract() -> None:
    names = set(openapi.document()["components"]["schemas"])
    assert {
        "Container", "ContainerState", "Process", "User", "Checkpoint", "Event", "LogRecord",
        "State", "Machine", "StartRequest", "ExecRequest", "SignalRequest", "UpdateRequest",
        "CheckpointRequest", "Stats", "Error", "Signal",
    } <= names  # fmt: skip


def test_path_parameters_are_declared_with_the_id_pattern() -> None:
    document = openapi.document()
    for path, item in document["paths"].items():
        names = set(re.findall(r"\{([^}]*)\}", path))
        for method, operation in item.items():
            declared = {
                parameter["name"]: parameter
                for parameter in (
                    resolve(document, p["$ref"]) for p in operation.get("parameters", [])
                )
                if parameter["in"] == "path"
            }
            assert set(declared) == names, (method, path)
            for name, parameter in declared.items():
                assert parameter["required"] is True
                if name in ("id", "name"):
                    assert parameter["schema"]["pattern"] == ID_PATTERN


def test_query_parameters() -> None:
    document = openapi.document()

    def query(path: str, method: str) -> dict[str, Any]:
        operation = document["paths"][path][method]
        found = (resolve(document, p["$ref"]) for p in operation.get("parameters", []))
        return {p["name"]: p["schema"] for p in found if p["in"] == "query"}

    # No default of its own: left out, the container's stopTimeout (else 10). force: rm -f;
    # status=stopped: rm without -f, a stopped container only (the prune's word and value).
    delete = query("/containers/{id}", "delete")
    assert set(delete) == {"timeout", "force", "status"}
    assert delete["timeout"] == {"type": "number", "minimum": 0}
    assert delete["force"]["default"] == "false" and "true" in delete["force"]["enum"]
    assert delete["status"] == {"type": "string", "enum": ["stopped"]}
    # The stop: a signal as text (the body's pattern), a grace of 0 or more, or -1.
    stop = query("/containers/{id}/stop", "post")
    assert set(stop) == {"signal", "timeout"}
    assert stop["signal"] == {"type": "string", "pattern": SIGNAL_PATTERN}
    assert stop["timeout"] == {"type": "number", "anyOf": [{"const": -1}, {"minimum": 0}]}
    grace = jsonschema_rs.validator_for(stop["timeout"])
    assert [grace.is_valid(v) for v in (-1, 0, 2.5, -2, -0.5)] == [True, True, True, False, False]
    events = query("/events", "get")
    # since: an RFC 3339 time, or a duration back from now.
    assert {"format": "date-time"} in events["since"]["anyOf"]
    assert set(events) == {"since", "id", "type", "label", "until"}
    assert {"format": "date-time"} in events["until"]["anyOf"]
    # id: given again for more, each an id.
    assert events["id"] == {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}}
    # label: given again for more (an array, as OpenAPI's form style repeats it), KEY[=VALUE]
    assert events["label"]["type"] == "array"
    label = events["label"]["items"]["pattern"]
    assert all(re.search(label, text) for text in ("team", "team=infra", "tier="))
    assert not any(re.search(label, text) for text in ("", "=x"))
    # type: given again for more too, each a comma-separated list.
    assert events["type"]["type"] == "array"
    assert re.fullmatch(events["type"]["items"]["pattern"], "exit,oom")
    assert not re.fullmatch(events["type"]["items"]["pattern"], "exit,nope")
    logs = query("/containers/{id}/logs", "get")
    assert set(logs) == {"tail", "follow", "since", "until", "pid"}
    # A negative count is every record too, as docker's (it was a 400: minimum 0).
    assert logs["tail"] == {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]}
    assert {"true", "false"} <= set(logs["follow"]["enum"])
    assert logs["since"] == logs["until"] == events["since"]
    assert logs["pid"] == {"type": "integer", "minimum": 1, "maximum": MAX_PID}
    assert "bundlePath" in query("/containers/{id}/checkpoint", "get")
    # docker's name, not camelCase.
    assert query("/containers/{id}/top", "get") == {"ps_args": {"type": "string"}}
    assert "bundlePath" in query("/containers/{id}/checkpoint/{name}", "delete")


def moment_taken(text: str) -> bool:
    try:
        timestamps.parse_time(text)
    except ValueError:
        return False
    return True


#: What since and until take, and what they do not: a unit given twice (1d1d) was taken.
MOMENTS = ("90s", "10m", "1h30m", "30m1h", "2d", "1d1h1m1s", "0s", "000000000001d",
           "2026-11-28T15:09:14+00:00", "2026-11-28T15:09:14.915868934Z")  # fmt: skip
NO_MOMENTS = ("1d1d", "1h30m1h", "1s2s", "1m1h1m", "1.5h", "10", "-10m", "1" * 13 + "s", "", "h")


@pytest.mark.parametrize("text", [*MOMENTS, *NO_MOMENTS])
def test_a_moment_s_schema_takes_what_the_daemon_takes(text: str) -> None:
    """since and until: the pattern took a unit given twice (1d1d), and so did the daemon; both
    refuse it now, and agree on the rest."""
    operation = openapi.document()["paths"]["/events"]["get"]
    found = (resolve(openapi.document(), p["$ref"]) for p in operation["parameters"])
    since = next(p["schema"] for p in found if p["name"] == "since")
    check = jsonschema_rs.validator_for(since, validate_formats=True)
    assert check.is_valid(text) == moment_taken(text) == (text in MOMENTS), text


def test_answers_and_errors() -> None:
    document = openapi.document()
    paths = document["paths"]
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in paths.items():
        for method, operation in item.items():
            answers = operation["responses"]
            # A success; for a WebSocket, the handshake's 101.
            assert any(code.startswith("2") or code == "101" for code in answers), (method, path)
            for code, answer in answers.items():
                if code.startswith(("4", "5")):
                    content = resolve(document, answer["$ref"])["content"]
                    assert content == {"application/json": {"schema": error}}, (code, path)
            if "requestBody" in operation:
                assert "400" in answers, (method, path)
                # A streamed upload is exempt from --max-body-bytes (its own limits bound it).
                streamed = "application/json" not in operation["requestBody"]["content"]
                assert ("413" in answers) is not streamed, (method, path)
    assert "201" in paths["/containers/{id}"]["post"]["responses"]
    assert "201" in paths["/containers/{id}/processes"]["put"]["responses"]
    assert "201" in paths["/containers/{id}/checkpoint/{name}"]["post"]["responses"]
    assert "409" in paths["/containers/{id}"]["post"]["responses"]
    # The start again of a stopped container answers as a start does; it takes no body.
    again = paths["/containers/{id}/start"]["post"]
    assert {"201", "404", "409"} <= set(again["responses"]) and "requestBody" not in again
    started = paths["/containers/{id}"]["post"]["responses"]["201"]
    assert again["responses"]["201"]["content"] == started["content"]
    assert "504" in paths["/containers/{id}"]["delete"]["responses"]
    for path, schema in (("/events", "Event"), ("/containers/{id}/logs", "LogRecord")):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert content == {
            "application/x-ndjson": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    # An archive comes as a tar or, compressed, a gzip: the export's answer documents both, as
    # the import's body does (the fuzzer got an undocumented application/gzip).
    archive = paths["/containers/{id}/checkpoint/{name}/archive"]
    exported = archive["get"]["responses"]["200"]["content"]
    assert exported == {
        media: {"schema": {"type": "string", "contentMediaType": media}}
        for media in ("application/x-tar", "application/gzip")
    }
    assert exported == archive["put"]["requestBody"]["content"]
    body = paths["/containers/{id}/checkpoint/{name}"]["post"]["requestBody"]
    assert body["required"] is False  # the seed's checkpoint request may come without a body


def test_request_schemas_follow_the_attrs_classes() -> None:
    """camelCase names, required = no default, unknown keys refused: as the converter does."""
    components = openapi.document()["components"]["schemas"]
    for name, cls in REQUEST_CLASSES.items():
        schema = components[name]
        fields = attrs.fields(cls)
        assert set(schema["properties"]) == {camel(f.name) for f in fields}, name
        assert set(schema.get("required", [])) == {
            camel(f.name) for f in fields if f.default is attrs.NOTHING
        }, name
        assert schema["additionalProperties"] is False, name
    assert components["StartRequest"]["properties"]["bundlePath"]["type"] == "string"
    labels = components["StartRequest"]["properties"]["labels"]
    assert labels["type"] == "object" and labels["additionalProperties"]["type"] == "string"
    assert labels["propertyNames"]["minLength"] == 1  # and no control character, nor NUL
    assert components["UserSpec"]["additionalProperties"] is False  # the exec's user
    assert set(components["UserSpec"]["properties"]) == {"uid", "gid", "additionalGids"}
    assert schemas.ExecRequest is ProcessSpec


def signal_taken(value: object) -> bool:
    try:
        parse_signal(value)
    except InvalidRequest:
        return False
    return True


def test_documented_signals_are_accepted() -> None:
    schema = openapi.document()["components"]["schemas"]["Signal"]
    number, name = schema["oneOf"]
    assert (number["minimum"], number["maximum"]) == (1, 64)
    for value in name["examples"]:
        canonical = "SIG" + value.removeprefix("SIG")
        if canonical.startswith("SIGRTMIN+"):
            expected = signal.SIGRTMIN + int(canonical.removeprefix("SIGRTMIN+"))
        elif canonical.startswith("SIGRTMAX-"):
            expected = signal.SIGRTMAX - int(canonical.removeprefix("SIGRTMAX-"))
        else:
            expected = signal.Signals[canonical]
        assert parse_signal(value) == expected, value
    assert {"SIGTERM", "SIGKILL", "SIGRTMIN+3", "SIGRTMAX-2"} <= set(name["examples"])


#: Each signal as the daemon takes it, in other cases, without SIG, as numbers in strings.
SIGNAL_WRITINGS = [
    *(
        form
        for listed in LISTED_NAMES
        for form in (listed, listed.lower(), listed.removeprefix("SIG"), listed.title())
    ),
    *(str(n) for n in range(1, 65)),
    "IOT", "sigcld", "Poll",
    "09", "+9", "0" * 19 + "9", "0" * 18 + "64", "RTMIN+03", "rtmax-0", "SIGRTMIN+30",
]  # fmt: skip
#: What it refuses, each for its own reason.
NO_SIGNALS = [
    "", " 9", "9 ", "KILL\n", "0", "65", "-9", "+0", "0" * 20 + "9", "1_0", "\u0669",
    "\u017figkill", "SIGSIGKILL", "SIG", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+",
    "RTMIN+-1", "RTMIN+" + "0" * 20 + "1", "SIG9", "SIGRT", "IOTT", "CL",
]  # fmt: skip


def test_the_signal_schema_takes_what_the_daemon_takes() -> None:
    """The schema listed the upper-case names alone ("kill", "9" as a string and "RTMIN+0"
    were refused by it, taken by the daemon): it is a pattern now, made from the same tables
    as the daemon's reading, and the two agree on every case here."""
    check = validator("Signal")
    for value in [*SIGNAL_WRITINGS, *NO_SIGNALS]:
        assert check.is_valid(value) == signal_taken(value), repr(value)
    assert all(map(signal_taken, SIGNAL_WRITINGS)) and not any(map(signal_taken, NO_SIGNALS))
    for number in range(-70, 70):
        assert check.is_valid(number) == signal_taken(number) == (1 <= number <= 64), number
    assert not check.is_valid(True) and not check.is_valid(9.5)


#: Text close to signals: their letters, digits, signs and a space.
signal_like = st.text("SIGsigKILkilRTMNAXrtmnaxHUPTERMUSRhupterm0123456789+- ", max_size=14)


@settings(max_examples=500)
@given(value=signal_like | st.sampled_from(SIGNAL_WRITINGS) | st.text(max_size=8))
def test_the_signal_schema_and_the_daemon_agree(value: str) -> None:
    assert validator("Signal").is_valid(value) == signal_taken(value), repr(value)


def test_documented_examples_conform() -> None:
    assert_conforms("StartRequest", {"bundlePath": "/containers/redis"})
    assert_conforms("StartRequest", {"bundlePath": "/b", "checkpoint": "cp", "labels": {"a": "b"}})
    limits = {"memory": {"limit": 67108864}, "cpu": {"quota": 50000}, "pids": {"limit": -1}}
    assert_conforms("StartRequest", {"bundlePath": "/b", "resources": limits})
    assert_conforms(
        "ExecRequest", {"args": ["sh"], "user": {"uid": 0, "gid": 0, "additionalGids": [1]}}
    )
    assert_conforms("SignalRequest", {"signal": 15})
    assert_conforms("SignalRequest", {"signal": "SIGTERM"})
    assert_conforms("UpdateRequest", {"status": "paused"})
    assert_conforms("UpdateRequest", {"signal": 9})
    assert_conforms("UpdateRequest", {"signal": "KILL", "status": None})
    assert_conforms(
        "CheckpointRequest", {"exit": False, "tcp": False, "unixSockets": False, "shell": False}
    )
    for name, bad in [
        ("StartRequest", {}),
        ("StartRequest", {"bundlePath": "/b", "extra": 1}),
        ("StartRequest", {"bundlePath": "/b", "resources": {"memory": {"swap": 1}}}),
        ("StartRequest", {"bundlePath": "/b", "resources": {"pids": {"limit": 0}}}),
        ("ExecRequest", {"args": []}),
        ("ExecRequest", {"args": ["sh"], "consoleSize": {"height": 70000, "width": 80}}),
        ("SignalRequest", {"signal": 0}),
        ("SignalRequest", {"signal": True}),
        ("UpdateRequest", {}),
        ("UpdateRequest", {"status": "paused", "signal": 9}),
        ("UpdateRequest", {"status": "stopped"}),
        ("UpdateRequest", {"status": None, "signal": None}),
        ("CheckpointRequest", {"tcp": "yes"}),
    ]:
        assert not validator(name).is_valid(bad), (name, bad)


# --- against a live daemon ----------------------------------------------------------------------


async def test_served_by_the_daemon(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi.document()


async def test_every_route_of_the_app_is_described(daemon: RunningDaemon) -> None:
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    app = create_app(supervisor, max_body_bytes=1024)
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("page."):
            continue  # files, and the status page for browsers: not part of the REST API
        path = re.sub(r"<(?:[^:>]*:)?([^>]*)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in IGNORED_METHODS:
                routes.add((placeholders_to_star(path), method.lower()))
            elif method == "HEAD" and any(
                e.head and e.operation_id == rule.endpoint.rpartition(".")[2]
                for e in api_routes.api.endpoints
            ):
                # werkzeug gives every GET its HEAD; the document describes those whose
                # HEAD says something of its own (docker cp's stat).
                routes.add((placeholders_to_star(path), "head"))
    paths = openapi.document()["paths"]
    described = {
        (placeholders_to_star(path), method)
        for path, item in paths.items()
        for method in item
        if method in METHODS
    }
    assert routes, "the app has no routes"
    assert routes - described == set(), "routes of the app missing from the document"
    assert described - routes == set(), "the document describes routes the app does not have"
    for path in ("/state", "/containers/{id}", "/containers/{id}/checkpoint", "/events"):
        assert path in paths
    assert set(paths["/containers/{id}"]) == {"get", "post", "patch", "delete"}


async def test_live_answers_conform_to_the_schemas(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """What a real container's life looks like on the wire matches the component schemas."""
    since = now()
    created = await start_container(client, "web", make_bundle(COUNTER), labels={"tier": "front"})
    assert_conforms("Container", created)
    assert_conforms("Container", (await client.get("/containers/web")).json())
    assert_conforms("State", (await client.get("/state")).json())

    response = await client.put(
        "/containers/web/processes", json={"args": ["sh", "-c", "echo hi; exit 3"]}
    )
    assert response.status_code == 201, response.text
    process = response.json()
    assert_conforms("Process", process)
    assert await wait_exit(client, "web", process["pid"], since) == 3

    init = created["processes"][0]["pid"]
    response = await client.post(f"/containers/web/process/{init}", json={"signal": "SIGCONT"})
    assert response.status_code == 200, response.text
    assert_conforms("Empty", response.json())

    stats = await client.get("/containers/web/stats")
    assert stats.status_code == 200, stats.text
    assert_conforms("Stats", stats.json())
    # top answers one shape or the other, as ps_args says.
    top = await client.get("/containers/web/top")
    assert top.status_code == 200, top.text
    assert_conforms("ContainerTop", top.json())
    top = await client.get("/containers/web/top", params={"ps_args": "aux"})
    assert top.status_code == 200, top.text
    assert_conforms("PsTable", top.json())
    answer = openapi.document()["paths"]["/containers/{id}/top"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "anyOf": [
            {"$ref": "#/components/schemas/ContainerTop"},
            {"$ref": "#/components/schemas/PsTable"},
        ]
    }

    checkpoints = await client.get("/containers/web/checkpoint")
    assert checkpoints.status_code == 200
    assert checkpoints.json() == []

    logs = await client.get("/containers/web/logs", params={"tail": "3"})
    assert logs.status_code == 200
    assert logs.headers["content-type"] == "application/x-ndjson"
    records = [json.loads(line) for line in logs.text.splitlines()]
    assert records
    for record in records:
        assert_conforms("LogRecord", record)

    types = set()
    async with client.stream("GET", "/events", params={"since": since, "id": "web"}) as stream:
        assert stream.headers["content-type"] == "application/x-ndjson"
        async for line in stream.aiter_lines():
            event = json.loads(line)
            assert_conforms("Event", event)
            types.add(event["type"])
            if event["type"] == "exit":
                break
    assert {"start-container", "start-process", "exit"} <= types

    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")

    paused = await client.patch("/containers/web", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    assert_conforms("Container", paused.json())
    deleted = await client.delete("/containers/web", params={"timeout": "0"})
    assert deleted.status_code == 200, deleted.text
    assert_conforms("Container", deleted.json())
    assert_conforms("Stats", {"id": "x"})


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("POST", "/containers/a", b'{"bundlePath": 3}', 400),
        ("POST", "/containers/a", b"{", 400),
        ("POST", "/containers/-a", b'{"bundlePath": "/x"}', 400),
        ("GET", "/containers/ghost", None, 404),
        ("DELETE", "/containers/ghost?timeout=-1", None, 400),
        ("PATCH", "/containers/ghost", b'{"status": "paused"}', 404),
        ("GET", "/events?since=yesterday", None, 400),
        ("GET", "/containers/ghost/logs?tail=x", None, 400),
        ("POST", "/containers/a", b"x" * (1024 * 1024 + 1), 413),
    ],
)
async def test_error_answers_conform(
    client: httpx.AsyncClient, method: str, url: str, body: bytes | None, status: int
) -> None:
    response = await client.request(method, url, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert_conforms("Error", response.json())


async def test_every_route_that_answers_a_large_body_413_lists_it(
    client: httpx.AsyncClient,
) -> None:
    """--max-body-bytes bounds every request's body, a route's that takes none too (it takes
    none or {}: a larger one is a 413 before the route reads it); the document listed 413 for
    the routes with a body alone, so a client generated from it had no word for the stop's,
    the wait's or the DELETE's. Found in trial5 (curl -XPOST .../stop --data-binary @2MB).
    Every operation but a streamed upload's (under the import's limits instead) and the
    attach's WebSocket (whose handshake takes no body: a 400) answers it and lists it."""
    body = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    values = {"id": "ghost", "name": "cp", "pid": "1", "migration": "m"}
    required = {"path": "/", "status": "stopped"}  # the required query parameters' values
    document = openapi.document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "head" or "101" in operation["responses"]:
                continue
            taken = operation.get("requestBody", {"content": {wire.JSON: None}})["content"]
            if wire.JSON not in taken:  # a streamed upload
                assert "413" not in operation["responses"], (method, path)
                continue
            url = re.sub(r"\{(\w+)\}", lambda found: values[found[1]], path)
            parameters = (resolve(document, p["$ref"]) for p in operation.get("parameters", ()))
            query = {
                p["name"]: required[p["name"]]
                for p in parameters
                if p["in"] == "query" and p.get("required")
            }
            answer = await client.request(method.upper(), url, params=query, content=body)
            assert answer.status_code == 413, (method, path, answer.text)
            assert "413" in operation["responses"], (method, path)
