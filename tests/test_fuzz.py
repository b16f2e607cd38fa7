"""Property tests of what parses client input, and schemathesis against a live daemon.

(a) hypothesis on the request converters and validators: any JSON value either becomes the
request class or a 400 (``InvalidRequest``) with a one-line message, never any other exception;
valid bodies round-trip; what the OpenAPI document allows, the converter takes.

(b) schemathesis: cases generated from ``/openapi.json`` (positive and negative) against an
in-process daemon on a loopback port, run in a worker thread (schemathesis is synchronous; the
daemon runs on this test's Trio loop). No answer may be a 5xx other than a runtime failure with
an ``{"error"}`` body on a route that calls runc, and every answer must have a documented status,
content type and (non-streaming) body schema. Some starts get a real bundle, so that the other
routes meet real containers too.

The long variants are marked ``slow``: the project's ``addopts`` (``-m 'not slow'``) leaves them
out of a plain ``pytest``; ``pytest -m slow`` (what ``make fuzz`` runs) selects them. As a second
guard they skip themselves unless ``-m`` names ``slow`` or ``CONTAINERD_TRIO_FUZZ`` is set.
Set ``CONTAINERD_TRIO_FUZZ_VERBOSE=1`` to see the time spent on each operation as it goes.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import signal
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import jsonschema_rs
import pytest
import requests
import schemathesis
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from containerd_trio import timestamps
from containerd_trio.api import openapi, schemas
from containerd_trio.convert import camel, structure, unstructure
from containerd_trio.errors import InvalidRequest
from containerd_trio.model import ProcessSpec, StartProcess, UserSpec
from containerd_trio.signals import MAX_SIGNAL
from containerd_trio.validation import ID_PATTERN, check_id, parse_signal

from .helpers import BundleFactory, RunningDaemon, runc_ids

FUZZ_ENV = "CONTAINERD_TRIO_FUZZ"

REQUEST_CLASSES: list[type[Any]] = [
    schemas.StartRequest,
    schemas.ExecRequest,
    schemas.SignalRequest,
    schemas.UpdateRequest,
    schemas.CheckpointRequest,
]
ID_REGEX = ID_PATTERN.removeprefix("^").removesuffix("$")
#: What runc takes for a process's uid and gid.
MAX_UNIX_ID = 2**31 - 1


def slow_selected(config: pytest.Config) -> bool:
    """True under ``-m slow`` (``make fuzz``) or with CONTAINERD_TRIO_FUZZ set."""
    if os.environ.get(FUZZ_ENV):
        return True
    expression = str(config.getoption("markexpr", "") or "")
    return bool(re.search(r"\bslow\b", expression)) and not re.search(r"\bnot\s+slow\b", expression)


@pytest.fixture
def slow_only(request: pytest.FixtureRequest) -> None:
    if not slow_selected(request.config):
        pytest.skip(f"slow fuzzing: run with -m slow (make fuzz) or {FUZZ_ENV}=1")


# --- (a) the converters -------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # json.loads takes NaN and Infinity too
    | st.text(max_size=12)
)
#: Object keys. No line breaks: a label key is shown raw in the error message, which then breaks
#: over lines (a known daemon bug, see test_a_label_key_with_a_newline_keeps_the_message_one_line).
keys = st.text(st.characters(exclude_characters="\n\r"), max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)


def wire_names(cls: type[Any]) -> list[str]:
    return [camel(field.name) for field in attrs.fields(cls)]


def near_miss_values(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Values for the fields of ``cls``: any JSON, and for nested classes their own near misses."""
    strategies: list[st.SearchStrategy[Any]] = [json_values]
    if cls in (ProcessSpec, StartProcess):
        strategies.append(near_misses(UserSpec))
    if cls is schemas.StartRequest:
        strategies.append(near_misses(StartProcess))
    return st.one_of(strategies)


def near_misses(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the real field names (and sometimes a stray key), wrongly typed or not."""
    names = st.sampled_from(wire_names(cls))
    return st.dictionaries(names, near_miss_values(cls), max_size=6) | st.dictionaries(
        names | keys, near_miss_values(cls), max_size=6
    )


def assert_one_line(message: str, value: Any) -> None:
    assert message.strip(), f"an empty message for {value!r}"
    assert "\n" not in message, f"a message of several lines for {value!r}: {message!r}"


def assert_structures_or_refuses(value: Any, cls: type[Any]) -> Any:
    """The converter's whole contract: the class, or InvalidRequest with one clear line."""
    try:
        result = structure(value, cls)
    except InvalidRequest as exc:
        assert_one_line(exc.message, value)
        return None
    assert isinstance(result, cls)
    return result


@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_any_json_value_structures_or_is_refused(cls: type[Any], value: Any) -> None:
    assert_structures_or_refuses(value, cls)


@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_objects_with_real_field_names_structure_or_are_refused(
    cls: type[Any], data: st.DataObject
) -> None:
    value = data.draw(near_misses(cls))
    result = assert_structures_or_refuses(value, cls)
    if result is not None:
        # Accepted: then every key was a real field, and nothing else got in.
        assert set(value) <= set(wire_names(cls))


def test_a_label_key_with_a_newline_keeps_the_message_one_line() -> None:
    with pytest.raises(InvalidRequest) as refused:
        structure({"bundlePath": "/b", "labels": {"a\nb": 1}}, schemas.StartRequest)
    assert_one_line(refused.value.message, "labels")


def test_unknown_and_missing_fields_are_named() -> None:
    with pytest.raises(InvalidRequest, match="unknown field 'bundle_path'"):
        structure({"bundle_path": "/b"}, schemas.StartRequest)
    with pytest.raises(InvalidRequest, match="bundlePath"):
        structure({}, schemas.StartRequest)
    with pytest.raises(InvalidRequest, match=r"user\.uid"):
        structure({"args": ["sh"], "user": {"uid": "0"}}, schemas.ExecRequest)


signals = st.integers(min_value=1, max_value=MAX_SIGNAL).map(schemas.Signal)
unix_ids = st.integers(min_value=0, max_value=MAX_UNIX_ID)
texts = st.text(max_size=20)
#: What the models' rules take: absolute paths, args and env without NUL, valid ids,
#: NAME=VALUE.
no_nul = st.text(st.characters(exclude_characters="\0"), max_size=20)
paths = no_nul.map(lambda t: "/" + t)
#: A bundle's: no ".." component either.
bundle_paths = paths.filter(lambda path: "/../" not in path and not path.endswith("/.."))
#: A label's name: not empty, no control character (Unicode's Cc).
label_names = st.text(st.characters(exclude_categories=["Cc"]), min_size=1, max_size=20)
names = st.from_regex(ID_REGEX, fullmatch=True)
environment = st.tuples(st.text(st.characters(exclude_characters="=\0"), min_size=1), no_nul).map(
    "=".join
)

#: A program and its arguments, as exec and a start's process take them.
programs = st.lists(no_nul, min_size=1, max_size=4).filter(lambda args: args[0] != "")
users = st.builds(
    UserSpec,
    uid=st.none() | unix_ids,
    gid=st.none() | unix_ids,
    additional_gids=st.none() | st.lists(unix_ids, max_size=3),
)

VALID_REQUESTS: dict[type[Any], st.SearchStrategy[Any]] = {
    schemas.StartRequest: st.builds(
        schemas.StartRequest,
        bundle_path=bundle_paths,
        checkpoint=st.none() | names,
        labels=st.dictionaries(label_names, no_nul, max_size=4),
        process=st.none()
        | st.builds(
            StartProcess,
            args=st.none() | programs,
            env=st.none() | st.lists(environment, max_size=4),
            cwd=st.none() | paths,
            user=st.none() | users,
            terminal=st.none() | st.booleans(),
        ),
    ),
    schemas.ExecRequest: st.builds(
        ProcessSpec,
        args=programs,
        env=st.none() | st.lists(environment, max_size=4),
        cwd=st.none() | paths,
        user=st.none() | users,
        # False only: a terminal process is a shell the fuzz could not end.
        terminal=st.just(False),
    ),
    schemas.SignalRequest: st.builds(schemas.SignalRequest, signal=signals),
    schemas.UpdateRequest: st.one_of(  # exactly one of the two
        st.builds(schemas.UpdateRequest, status=st.sampled_from(schemas.DesiredStatus)),
        st.builds(schemas.UpdateRequest, signal=signals),
    ),
    schemas.CheckpointRequest: st.builds(
        schemas.CheckpointRequest,
        exit=st.booleans(),
        tcp=st.booleans(),
        unix_sockets=st.booleans(),
        shell=st.booleans(),
    ),
}


@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=200)
@given(data=st.data())
def test_valid_bodies_round_trip_in_camel_case(cls: type[Any], data: st.DataObject) -> None:
    request = data.draw(VALID_REQUESTS[cls])
    body = unstructure(request)
    assert set(body) <= set(wire_names(cls))
    assert all(value is not None for value in body.values())  # None-valued fields are left out
    # Through JSON and back, as a client's body comes.
    assert structure(json.loads(json.dumps(body)), cls) == request


def _body_operations() -> list[tuple[str, str, type[Any]]]:
    return [
        ("POST", "/containers/{id}", schemas.StartRequest),
        ("PUT", "/containers/{id}/processes", schemas.ExecRequest),
        ("POST", "/containers/{id}/process/{pid}", schemas.SignalRequest),
        ("PATCH", "/containers/{id}", schemas.UpdateRequest),
        ("POST", "/containers/{id}/checkpoint/{name}", schemas.CheckpointRequest),
    ]


def integral_floats_as_ints(value: Any) -> Any:
    """1.0 as 1: JSON Schema's integer takes 1.0, the daemon's converter does not (it is strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: integral_floats_as_ints(item) for key, item in value.items()}
    return value


def test_the_converter_refuses_integral_floats_where_json_schema_takes_them() -> None:
    """The one known gap between the document and the converter: 15.0 is an integer to JSON
    Schema, not to the daemon (it refuses every float for an int field, as it refuses "15")."""
    assert component_validator("SignalRequest").is_valid({"signal": 15.0})
    with pytest.raises(InvalidRequest, match=r"15\.0"):
        structure({"signal": 15.0}, schemas.SignalRequest)


@schemathesis.serializer("application/x-tar", "application/gzip")
def _archive_bytes(context: Any, value: Any) -> bytes:
    """The archive uploads: whatever was generated, as bytes (the import refuses it: a 400)."""
    return value if isinstance(value, bytes) else str(value).encode()


@functools.cache
def offline_schema() -> Any:
    return schemathesis.openapi.from_dict(openapi.document())


@pytest.mark.parametrize(
    ("method", "path", "cls"), _body_operations(), ids=lambda v: getattr(v, "__name__", None)
)
def test_what_the_document_allows_the_converter_takes(
    method: str, path: str, cls: type[Any]
) -> None:
    """Bodies generated from the OpenAPI request schemas structure without complaint."""
    operation = offline_schema()[path][method]

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def check(case: Any) -> None:
        body = case.body if isinstance(case.body, dict) else {}
        structure(integral_floats_as_ints(body), cls)

    check()


# --- the validators -----------------------------------------------------------------------------

#: Every name the signal module knows, aliases (SIGIOT, SIGCLD) and SIGRTMIN/SIGRTMAX included.
ALL_SIGNAL_NAMES = sorted(
    name for name in dir(signal) if name.startswith("SIG") and "_" not in name
)
#: The names the daemon takes: the canonical ones, and the aliases docker takes too (SIGIOT,
#: SIGCLD, SIGPOLL).
SIGNAL_NAMES = [name for name in signal.Signals.__members__ if not name.startswith("SIGRT")]


@settings(max_examples=500)
@given(value=json_values | st.text() | st.integers() | st.sampled_from(ALL_SIGNAL_NAMES))
def test_parse_signal_answers_a_signal_or_refuses(value: Any) -> None:
    try:
        number = parse_signal(value)
    except InvalidRequest as exc:  # nothing else: "\u00b2" (a superscript 2) was a ValueError
        assert_one_line(exc.message, value)
        return
    assert 1 <= number <= MAX_SIGNAL
    assert not isinstance(value, bool)


@given(
    number=st.integers(min_value=1, max_value=MAX_SIGNAL),
    written=st.sampled_from(["{}", "0{}", "+{}", "+00{}"]),
    spaces=st.sampled_from([" ", "\t", "\n"]),
)
def test_parse_signal_numbers(number: int, written: str, spaces: str) -> None:
    """A number in a string is a whole number as a query's; white space around it was taken
    (as 9 for " 9"), and is refused as docker refuses it."""
    assert parse_signal(number) == number
    assert parse_signal(written.format(number)) == number
    for spaced in (f"{spaces}{number}", f"{number}{spaces}"):
        with pytest.raises(InvalidRequest, match="holds white space"):
            parse_signal(spaced)


@given(
    name=st.sampled_from(SIGNAL_NAMES),
    prefix=st.booleans(),
    case=st.sampled_from([str.upper, str.lower, str.title]),
)
def test_parse_signal_names(name: str, prefix: bool, case: Callable[[str], str]) -> None:
    written = case(name if prefix else name.removeprefix("SIG"))
    assert parse_signal(written) == int(getattr(signal, name))


@given(number=st.integers().filter(lambda n: not 1 <= n <= MAX_SIGNAL))
def test_parse_signal_out_of_range(number: int) -> None:
    with pytest.raises(InvalidRequest):
        parse_signal(number)
    with pytest.raises(InvalidRequest):
        parse_signal(str(number))


@pytest.mark.parametrize("value", [True, False, None, 1.0, [15], {"signal": 15}, "", "SIG", "NOPE"])
def test_parse_signal_refuses(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        parse_signal(value)


id_alphabet = string.ascii_letters + string.digits + "_.-/\\ \0\n%~:"
candidate_ids = (
    st.text(max_size=140)
    | st.text(alphabet=id_alphabet, max_size=140)
    | st.from_regex(ID_REGEX, fullmatch=True)
)


@settings(max_examples=500)
@given(value=candidate_ids)
def test_check_id_accepts_exactly_the_pattern(value: str) -> None:
    valid = re.fullmatch(ID_REGEX, value) is not None
    try:
        assert check_id(value) == value
    except InvalidRequest as exc:
        assert not valid, f"{value!r} matches the pattern but was refused"
        assert_one_line(exc.message, value)
        return
    assert valid, f"{value!r} does not match the pattern but was accepted"


def test_check_id_refuses_a_trailing_newline() -> None:
    with pytest.raises(InvalidRequest):
        check_id("abc\n")


YEAR_1000_NS = -30610224000 * 10**9  # 1000-01-01T00:00:00Z; format_ns pads no year below 1000
YEAR_9999_END_NS = 253402300800 * 10**9 - 1


@given(ns=st.integers(min_value=YEAR_1000_NS, max_value=YEAR_9999_END_NS))
def test_format_then_parse_round_trips(ns: int) -> None:
    text = timestamps.format_ns(ns)
    assert timestamps.parse_ns(text) == ns
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}\+00:00", text)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)


@given(
    moment=st.datetimes(
        min_value=datetime.datetime(1000, 1, 2),
        max_value=datetime.datetime(9999, 12, 30),
        timezones=offsets,
    )
)
def test_parse_takes_isoformat_with_offsets(moment: datetime.datetime) -> None:
    text = moment.isoformat()
    delta = moment - EPOCH
    expected = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    assert timestamps.parse_ns(text) == expected


@settings(max_examples=500)
@given(
    text=st.text(max_size=40)
    | st.from_regex(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", fullmatch=True
    )
)
def test_parse_ns_answers_or_says_value_error(text: str) -> None:
    try:
        value = timestamps.parse_ns(text)
    except ValueError as exc:
        assert_one_line(str(exc), text)
        return
    assert isinstance(value, int)


# --- (b) schemathesis against a live daemon ---------------------------------------------------

#: Routes that call runc or CRIU: a 500 (runc's own words) or 504 (deadline) may be right there.
RUNTIME_OPERATIONS = {
    "POST /containers/{id}",
    "PATCH /containers/{id}",
    "DELETE /containers/{id}",
    "PUT /containers/{id}/processes",
    "PUT /containers/{id}/process",
    "POST /containers/{id}/checkpoint/{name}",
    "GET /containers/{id}/stats",
}
STREAMS = {"/events", "/containers/{id}/logs"}
#: The fuzzed daemon's deadline for each runc call (the suite's daemons have 30 s).
RUNTIME_DEADLINE = 8.0
#: (connect, read) seconds for one fuzzed request: a DELETE may wait for a runc call to pass
#: its deadline (it holds the container's lock), then for its own stop.
TIMEOUT = (5, 3 * RUNTIME_DEADLINE + 5)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
#: The process of the real bundle: pid 1 that exits on SIGTERM (busybox sleep as pid 1 would not).
POLITE = ("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done")


@attrs.define
class Finding:
    operation: str
    problem: str
    request: str
    status: int | None = None
    answer: str = ""

    def __str__(self) -> str:
        return (
            f"{self.operation}: {self.problem}\n    request: {self.request}\n"
            f"    answer: {self.status} {self.answer[:400]}"
        )


@attrs.frozen
class KnownBug:
    """A finding the fuzzer reports but does not fail on: its own xfail(strict) test pins it,
    and turns into a failure once the daemon is fixed (then remove the entry here too)."""

    operation: str
    pattern: str  # a regular expression searched in the finding's problem and answer
    test: str  # the xfail test that pins it

    def matches(self, finding: Finding) -> bool:
        text = f"{finding.problem}\n{finding.answer}"
        return finding.operation == self.operation and re.search(self.pattern, text) is not None


#: Empty: every bug the fuzzer found so far is fixed, and its test asserts the fix.
KNOWN_BUGS: list[KnownBug] = []


@attrs.define
class FuzzReport:
    findings: dict[tuple[str, str], Finding] = attrs.Factory(dict)
    known: dict[tuple[str, str], Finding] = attrs.Factory(dict)
    runtime_failures: dict[tuple[str, str], Finding] = attrs.Factory(dict)
    statuses: Counter[tuple[str, int]] = attrs.Factory(Counter)
    timings: dict[str, float] = attrs.Factory(dict)
    real_starts: int = 0
    cases: int = 0

    def add(self, finding: Finding) -> None:
        key = (finding.operation, finding.problem.splitlines()[0][:120])
        if any(bug.matches(finding) for bug in KNOWN_BUGS):
            self.known.setdefault(key, finding)
        else:
            self.findings.setdefault(key, finding)

    def summary(self) -> str:
        lines = [f"{self.cases} cases, {self.real_starts} starts from the real bundle"]
        lines += [
            f"  {op}: {status} x{count}" for (op, status), count in sorted(self.statuses.items())
        ]
        if self.runtime_failures:
            lines.append("runtime failures (allowed 500/504 with an error body):")
            lines += [f"  {finding}" for finding in self.runtime_failures.values()]
        if self.known:
            lines.append("known daemon bugs met again (each pinned by a strict xfail test):")
            lines += [f"  {finding}" for finding in self.known.values()]
        return "\n".join(lines)


def component_validator(name: str) -> jsonschema_rs.Validator:
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": openapi.document()["components"],
    }
    return jsonschema_rs.validator_for(root)


class Fuzzer:
    """Runs schemathesis cases against ``base_url``; synchronous, for a worker thread."""

    def __init__(
        self, base_url: str, bundle: Path, *, examples: int, max_real_starts: int, derandomize: bool
    ) -> None:
        self.base_url = base_url
        self.bundle = bundle
        self.examples = examples
        self.max_real_starts = max_real_starts
        self.derandomize = derandomize
        self.report = FuzzReport()
        self.document = openapi.document()
        self.live: dict[str, int] = {}  # started containers: id -> init pid
        self.checkpoints: list[str] = []

    def run(self) -> FuzzReport:
        schema: Any = schemathesis.openapi.from_url(f"{self.base_url}/openapi.json")
        schema.validate()
        operations = [result.ok() for result in schema.get_all_operations()]
        # Start containers first and delete them last, so that the cases between meet them.
        order = {"POST /containers/{id}": 0, "DELETE /containers/{id}": 2}
        operations.sort(key=lambda op: order.get(f"{op.method.upper()} {op.path}", 1))
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and not self.has_inputs(operation):
                    continue  # nothing to get wrong (GET /state, /metrics, /openapi.json)
                self.run_operation(operation, mode)
        return self.report

    def has_inputs(self, operation: Any) -> bool:
        raw = self.document["paths"][operation.path][operation.method.lower()]
        return bool(raw.get("parameters") or raw.get("requestBody"))

    def run_operation(self, operation: Any, mode: GenerationMode) -> None:
        @settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=self.derandomize,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(generation_mode=mode),
            real=st.booleans(),
            pick=st.integers(min_value=0, max_value=2**16),
        )
        def run(case: Any, real: bool, pick: int) -> None:
            self.exercise(operation, case, real and mode is GenerationMode.POSITIVE, pick)

        began = time.monotonic()
        run()
        label = f"{operation.method.upper()} {operation.path} {mode.value}"
        self.report.timings[label] = time.monotonic() - began
        if os.environ.get(FUZZ_ENV + "_VERBOSE"):
            print(f"{label}: {self.report.timings[label]:.2f}s", flush=True)

    def exercise(self, operation: Any, case: Any, real: bool, pick: int) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        self.adjust(label, case, real, pick)
        self.report.cases += 1
        if operation.path in STREAMS:
            self.exercise_stream(label, operation, case)
            return
        try:
            # A new connection for every case: a connection whose request was answered before
            # its body arrived hangs (test_keep_alive_after_an_answer_that_left_the_body_unread).
            response = case.call(base_url=self.base_url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            self.report.add(
                Finding(label, f"no answer: {type(exc).__name__}: {exc}", case.as_curl_command())
            )
            return
        # Leniently: an archive (a checkpoint's export) is no UTF-8, and the text is only for
        # the judgement of an error and the report.
        text = response.content.decode("utf-8", errors="replace")
        self.judge(label, case, response.status_code, text)
        self.remember(label, response)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            self.report.add(
                Finding(
                    label,
                    f"schema check: {exc}",
                    case.as_curl_command(),
                    response.status_code,
                    text,
                )
            )

    def remember(self, label: str, response: requests.Response) -> None:
        """Keep the real containers and checkpoints, for later cases to aim at."""
        try:
            answer = response.json()
            if label == "POST /containers/{id}" and response.status_code == 201:
                self.live[answer["id"]] = answer["processes"][0]["pid"]
            elif label == "DELETE /containers/{id}" and response.status_code == 200:
                self.live.pop(answer["id"], None)
            elif label == "POST /containers/{id}/checkpoint/{name}" and response.status_code == 201:
                self.checkpoints.append(answer["name"])
        except (ValueError, LookupError, TypeError):
            pass  # an answer of the wrong shape: the schema checks report it

    def adjust(self, label: str, case: Any, real: bool, pick: int) -> None:
        """Aim some positive cases at the real bundle, containers and checkpoints."""
        if not real:
            pass
        elif label == "POST /containers/{id}":
            if isinstance(case.body, dict) and self.report.real_starts < self.max_real_starts:
                case.body["bundlePath"] = str(self.bundle)
                case.body.pop("checkpoint", None)
                if self.checkpoints and pick % 3 == 0:  # a restore
                    case.body["checkpoint"] = self.checkpoints[pick % len(self.checkpoints)]
                self.report.real_starts += 1
        elif label.endswith("/wait"):
            pass  # a wait answers when its process exits, which the fuzzer's never do by itself
        elif self.live and isinstance(case.path_parameters, dict) and "id" in case.path_parameters:
            container_id = sorted(self.live)[pick % len(self.live)]
            case.path_parameters["id"] = container_id
            if "pid" in case.path_parameters and pick % 2:
                case.path_parameters["pid"] = self.live[container_id]
            if isinstance(case.query, dict) and "bundlePath" in case.query and pick % 2:
                case.query["bundlePath"] = str(self.bundle)
        if (
            label.endswith("/wait")
            and isinstance(case.path_parameters, dict)
            and case.path_parameters.get("id") in self.live
        ):
            # A generated id may name a live container ("0", "00"): its wait would rightly last
            # until the process exits, which the fuzzer's never do by themselves.
            case.path_parameters["id"] += "-gone"
        if label == "DELETE /containers/{id}" and isinstance(case.query, dict):
            # A SIGSTOPped init would make a long timeout really wait: keep it short.
            try:
                if 1 < float(case.query.get("timeout", 0)) < float("inf"):
                    case.query["timeout"] = "1"
            except (TypeError, ValueError):
                pass
        if label == "POST /containers/{id}/stop" and isinstance(case.query, dict):
            # The same for a stop, whose -1 (no SIGKILL) and default (10 s) really wait too.
            try:
                grace = float(case.query.get("timeout", -1))
                if grace == -1 or 1 < grace < float("inf"):
                    case.query["timeout"] = "1"
            except (TypeError, ValueError):
                pass

    def exercise_stream(self, label: str, operation: Any, case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=self.base_url)
        try:
            with requests.request(**kwargs, stream=True, timeout=TIMEOUT) as response:
                if response.status_code == 200:
                    self.judge_stream(label, operation, case, response)
                    return
                text = response.text  # an error answer ends: read it all
        except requests.RequestException as exc:
            self.report.add(
                Finding(label, f"no answer: {type(exc).__name__}: {exc}", case.as_curl_command())
            )
            return
        self.judge(label, case, response.status_code, text)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            self.report.add(
                Finding(
                    label,
                    f"schema check: {exc}",
                    case.as_curl_command(),
                    response.status_code,
                    text,
                )
            )

    def judge_stream(
        self, label: str, operation: Any, case: Any, response: requests.Response
    ) -> None:
        self.report.statuses[(label, 200)] += 1
        request = case.as_curl_command()
        content_type = response.headers.get("content-type", "")
        if content_type != "application/x-ndjson":
            self.report.add(Finding(label, f"stream content type {content_type!r}", request, 200))
        if operation.path == "/events" or self.follows(case):
            return  # a live stream never ends by itself: its headers are the answer
        records = component_validator("LogRecord")
        for line in response.text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                self.report.add(Finding(label, "a log line is not JSON", request, 200, line))
                continue
            if not records.is_valid(record):
                self.report.add(Finding(label, "a log record breaks LogRecord", request, 200, line))

    @staticmethod
    def follows(case: Any) -> bool:
        value = (case.query or {}).get("follow", "false")
        return str(value).lower() in ("true", "1", "yes", "")

    def judge(self, label: str, case: Any, status: int, text: str) -> None:
        self.report.statuses[(label, status)] += 1
        if status < 500:
            return
        request = case.as_curl_command()
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            self.report.add(
                Finding(label, f"{status} without an error body", request, status, text)
            )
            return
        if not isinstance(message, str) or not message:
            self.report.add(Finding(label, f"{status} with an empty error", request, status, text))
        elif (
            status in (500, 504)
            and label in RUNTIME_OPERATIONS
            and not message.startswith("internal error")
        ):
            finding = Finding(label, f"{status} runtime failure", request, status, text)
            self.report.runtime_failures.setdefault((label, message[:60]), finding)
        else:
            self.report.add(Finding(label, f"server error {status}", request, status, text))


async def cleanup(client: httpx.AsyncClient) -> list[str]:
    """Delete whatever the fuzzer left running; return the ids that would not go."""
    state = await client.get("/state")
    assert state.status_code == 200, state.text
    stuck = []
    for container in state.json()["containers"]:
        answer = await client.delete(f"/containers/{container['id']}", params={"timeout": "0"})
        if answer.status_code not in (200, 404):
            stuck.append(f"{container['id']}: {answer.status_code} {answer.text}")
    return stuck


@pytest.fixture
async def fuzz_daemon(start_daemon: Callable[..., Any]) -> RunningDaemon:
    """A daemon whose runc deadline is short, so that a stuck runtime call (CRIU dumping a
    SIGSTOPped init waits for its deadline) answers 504 well within a fuzzed request's timeout."""
    handle: RunningDaemon = await start_daemon(runtime_timeout=RUNTIME_DEADLINE)
    return handle


async def fuzz(
    daemon: RunningDaemon, bundle: Path, *, examples: int, max_real_starts: int, derandomize: bool
) -> FuzzReport:
    fuzzer = Fuzzer(
        daemon.url,
        bundle,
        examples=examples,
        max_real_starts=max_real_starts,
        derandomize=derandomize,
    )
    began = time.monotonic()
    try:
        report = await trio.to_thread.run_sync(fuzzer.run, abandon_on_cancel=True)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            stuck = await cleanup(daemon.client)
    print(f"fuzzed in {time.monotonic() - began:.1f}s\n{report.summary()}")
    assert not stuck, f"containers that would not delete: {stuck}"
    # The daemon is well and left nothing behind, in its table or in runc's.
    state = await daemon.client.get("/state")
    assert state.status_code == 200
    assert state.json()["containers"] == []
    assert runc_ids(daemon.config.state_dir) == []
    return report


def assert_clean(report: FuzzReport) -> None:
    assert not report.findings, "\n".join(
        ["the fuzzer found answers that break the contract:", *map(str, report.findings.values())]
    )


@pytest.mark.deadline(60)
async def test_schemathesis_against_a_live_daemon(
    fuzz_daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    # Eight cases an operation and mode (some 540 in all; the same ones each run) for make
    # test; make fuzz (test_schemathesis_long) runs 400 random ones an operation and mode.
    report = await fuzz(
        fuzz_daemon, make_bundle(POLITE), examples=8, max_real_starts=4, derandomize=True
    )
    assert_clean(report)
    assert report.statuses[("POST /containers/{id}", 201)] >= 1, "no start reached a real container"
    assert report.statuses[("GET /state", 200)] >= 1


@pytest.mark.slow
@pytest.mark.deadline(1200)
async def test_schemathesis_long(
    slow_only: None, fuzz_daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    report = await fuzz(
        fuzz_daemon, make_bundle(POLITE), examples=400, max_real_starts=40, derandomize=False
    )
    assert_clean(report)


@pytest.mark.slow
@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda cls: cls.__name__)
def test_converters_long(slow_only: None, cls: type[Any]) -> None:
    @settings(max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=json_values | near_misses(cls))
    def check(value: Any) -> None:
        assert_structures_or_refuses(value, cls)

    check()


async def test_keep_alive_after_an_answer_that_left_the_body_unread(daemon: RunningDaemon) -> None:
    # The same goes for a GET with a body, and for a 413. (While the connection hangs, the
    # daemon's stop also waits the server's grace period for it, even after the client left.)
    head, body = b"POST /containers/-bad-id", b'{"bundlePath": "/x"}'
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            head + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        await trio.sleep(0.1)  # the daemon answers from the headers alone: the body comes late
        await stream.send_all(body)
        first = await read_answer(stream)
        assert first.split(b" ")[1] in (b"400", b"404"), first
        await stream.send_all(b"GET /state HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.move_on_after(2):
            second = await read_answer(stream)
            assert second.startswith(b"HTTP/1.1 200"), second
            return
    raise AssertionError("the second request on the connection got no answer in 2 s")


async def read_answer(stream: trio.SocketStream) -> bytes:
    """One HTTP/1.1 answer with a Content-Length: its status line and headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return b"EOF"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += await stream.receive_some(65536)
    return head


async def test_logs_with_a_huge_tail_answer_in_full(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    await client.post("/containers/talk", json={"bundlePath": str(make_bundle(("echo", "hi")))})
    response = await client.get("/containers/talk/logs", params={"tail": str(2**70)})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert [json.loads(line)["data"] for line in response.text.splitlines()] == ["hi\n"]


async def test_a_pid_of_unicode_digits_is_refused_with_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/containers/box/process/3%C2%B9", json={"signal": 9})
    assert response.status_code == 400, response.text
