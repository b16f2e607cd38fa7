"""One source for the API contract: the rules, the document, the routes and the client agree.

Pure unit tests: no daemon. Each input rule is written once (``validation.py``) and read from
there by the models, the parameters and the OpenAPI document; these tests hold that in place.
"""

from __future__ import annotations

import ast
import inspect
import re
import string
import typing
from pathlib import Path
from typing import Any, NotRequired

import attrs
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import containerd_trio
from containerd_trio import errors, validation
from containerd_trio.api import openapi, routes, schemas
from containerd_trio.api.params import parameters
from containerd_trio.client import http as client_http
from containerd_trio.convert import camel
from containerd_trio.validation import Rule

PACKAGE = Path(containerd_trio.__file__).parent

#: The client's types of what the daemon answers, by name (the components share the names).
CLIENT_TYPES = {
    name: value for name, value in vars(client_http).items() if typing.is_typeddict(value)
}


def component_classes() -> dict[str, type[Any]]:
    return openapi.component_classes(routes.api.endpoints)


def json_type(annotation: Any) -> set[str]:
    """The TypedDicts an annotation names (inside lists and dicts too)."""
    if typing.is_typeddict(annotation):
        return {annotation.__name__}
    return {name for arg in typing.get_args(annotation) for name in json_type(arg)}


def refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["$ref"].rsplit("/", 1)[1]} if "$ref" in schema else set()
        return found | {name for value in schema.values() for name in refs(value)}
    if isinstance(schema, list):
        return {name for value in schema for name in refs(value)}
    return set()


def answer_shape(name: str) -> tuple[set[str], set[str]]:
    """(every field, the fields always present) of a component as the daemon answers it."""
    classes = component_classes()
    if name in classes:
        # None-valued fields are left out of answers; every other field is always written.
        fields = attrs.fields(classes[name])
        return {camel(f.name) for f in fields}, {
            camel(f.name) for f in fields if f.default is not None
        }
    schema = openapi.document()["components"]["schemas"][name]
    return set(schema["properties"]), set(schema.get("required", []))


@pytest.mark.parametrize("name", sorted(CLIENT_TYPES))
def test_the_client_types_match_the_models(name: str) -> None:
    """Same field names, same optionality, same nested types as the daemon's answers."""
    typed = CLIENT_TYPES[name]
    components = openapi.document()["components"]["schemas"]
    assert name in components, f"the client's {name} is no component of the document"
    fields, always = answer_shape(name)
    # Not __required_keys__: with postponed annotations Python 3.11 cannot see NotRequired there.
    hints = typing.get_type_hints(typed, include_extras=True)
    required = {key for key, hint in hints.items() if typing.get_origin(hint) is not NotRequired}
    assert set(hints) == fields
    assert required == always, "Required and NotRequired as the daemon sends"
    hints = typing.get_type_hints(typed)
    for key, schema in components[name]["properties"].items():
        assert json_type(hints[key]) == refs(schema), f"{name}.{key} names other types"


def test_the_client_has_a_type_for_each_answer_object() -> None:
    expected = {"Container", "ContainerState", "Process", "User", "State", "Machine"}
    expected |= {"Checkpoint", "Event", "LogRecord"}
    assert expected <= set(CLIENT_TYPES)


# --- each rule once, and the document says it -------------------------------------------------


def rule_fields() -> list[tuple[type[Any], attrs.Attribute[Any]]]:
    classes = {
        *component_classes().values(),
        *(e.params for e in routes.api.endpoints if e.params is not None),
    }
    return [
        (cls, field)
        for cls in sorted(classes, key=lambda c: c.__name__)
        for field in attrs.fields(cls)
        if isinstance(field.validator, Rule)
    ]


def contains(schema: Any, keywords: Any) -> bool:
    """Whether ``schema`` (or its non-null side) holds every keyword of ``keywords`` (an
    ``anyOf`` of the rule's own, a stop's grace, is the schema's itself)."""
    if isinstance(keywords, list):
        return (
            isinstance(schema, list)
            and len(schema) == len(keywords)
            and all(map(contains, schema, keywords))
        )
    if not isinstance(keywords, dict):
        return bool(schema == keywords)
    if not isinstance(schema, dict):
        return False
    sides = [schema, *schema.get("anyOf", [])]
    return any(all(contains(side.get(k), v) for k, v in keywords.items()) for side in sides)


def test_every_rule_is_in_the_document() -> None:
    document = openapi.document()
    found = rule_fields()
    assert len(found) >= 12, found
    names = {cls: name for name, cls in component_classes().items()}
    parameter_schemas = {
        (p["name"], p["in"]): p["schema"] for p in document["components"]["parameters"].values()
    }
    for cls, field in found:
        rule = field.validator
        assert isinstance(rule, Rule)
        if cls in names:
            schema = document["components"]["schemas"][names[cls]]["properties"][camel(field.name)]
        else:
            wire = camel(field.name)
            schema = parameter_schemas.get((wire, "path")) or parameter_schemas[(wire, "query")]
        assert contains(schema, rule.schema), (cls.__name__, field.name, schema)


def test_a_class_rule_is_in_the_document() -> None:
    schema = openapi.document()["components"]["schemas"]["UpdateRequest"]
    rule = getattr(schemas.UpdateRequest, validation.CLASS_RULE)
    assert schema["oneOf"] == rule.schema["oneOf"]


def validates(rule: Rule, value: Any) -> bool:
    try:
        rule.check("field", value)
    except (ValueError, errors.InvalidRequest):
        return False
    return True


def schema_validator(rule: Rule, base: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for({**base, **rule.schema})


ascii_text = st.text(string.printable + "\0", max_size=300)
id_like = st.from_regex(r"[A-Za-z0-9_.\-/]{0,130}", fullmatch=True)
path_like = st.lists(
    st.text(string.ascii_letters + "\0", max_size=260), min_size=1, max_size=20
).map("/".join)
#: Paths of names among which ".", ".." and "..." come often.
dotted_path_like = st.lists(
    st.sampled_from(["", "a", ".", "..", "...", "..a", "a.."]), min_size=2, max_size=6
).map("/".join)


@pytest.mark.parametrize(
    ("rule", "values"),
    [
        (validation.CONTAINER_ID, ascii_text | id_like),
        (validation.ABSOLUTE_PATH, ascii_text | path_like),
        (validation.BUNDLE_PATH, ascii_text | path_like | dotted_path_like),
        (validation.ENVIRONMENT_ENTRY, ascii_text),
    ],
    ids=["id", "absolute path", "bundle path", "environment entry"],
)
@settings(max_examples=300)
@given(data=st.data())
def test_a_rule_and_its_schema_agree_on_text(rule: Rule, values: Any, data: st.DataObject) -> None:
    """For ASCII text (a character is a byte), the check and the JSON Schema say the same."""
    value = data.draw(values)
    assert schema_validator(rule, {"type": "string"}).is_valid(value) == validates(rule, value)


@settings(max_examples=300)
@given(
    value=st.dictionaries(
        ascii_text | st.text(max_size=5), ascii_text | st.text(max_size=5), max_size=4
    )
)
def test_the_labels_rule_and_its_schema_agree(value: dict[str, str]) -> None:
    base = {"type": "object", "additionalProperties": {"type": "string"}}
    schema = {**base, **validation.LABELS.schema}
    assert jsonschema_rs.validator_for(schema).is_valid(value) == validates(
        validation.LABELS, value
    )


@pytest.mark.parametrize(
    "rule",
    [validation.PID, validation.UNIX_ID, validation.NOT_NEGATIVE],
    ids=["pid", "unix id", "not negative"],  # the same in every worker (no addresses)
)
@given(value=st.integers(min_value=-(2**40), max_value=2**40))
def test_a_rule_and_its_schema_agree_on_numbers(rule: Rule, value: int) -> None:
    assert schema_validator(rule, {"type": "integer"}).is_valid(value) == validates(rule, value)


@given(
    value=st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-1.0, -1.5, -0.5, 0.0, -0.0, 1e-300])
)
def test_the_stop_s_grace_rule_and_its_schema_agree(value: float) -> None:
    """A stop's timeout: -1, or 0 or more (a finite number, as the query's reading makes)."""
    rule = validation.STOP_SECONDS
    assert schema_validator(rule, {"type": "number"}).is_valid(value) == validates(rule, value)


@pytest.mark.parametrize(
    "value", [["sh"], [], [""], ["", "x"], ["sh", ""], ["a", "b", "c"]], ids=repr
)
def test_the_program_rule_and_its_schema_agree(value: list[str]) -> None:
    base: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    schema = {**base, **validation.PROGRAM.schema}
    schema["prefixItems"] = [{**base["items"], **p} for p in schema["prefixItems"]]
    valid = jsonschema_rs.validator_for(schema).is_valid(value)
    assert valid == validates(validation.PROGRAM, value)


# --- errors, limits, imports ------------------------------------------------------------------


def test_the_error_table_is_the_error_classes() -> None:
    responses = openapi.document()["components"]["responses"]
    classes = [
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.DaemonError)
    ]
    classes.remove(errors.DaemonError)
    assert set(responses) == {cls.__name__ for cls in classes}
    for cls in classes:
        assert responses[cls.__name__]["description"] == inspect.getdoc(cls)
    statuses = {cls.status for cls in classes}
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            codes = {int(code) for code in operation["responses"] if code[0] in "45"}
            assert {400, 500} <= codes <= statuses, (method, path)


@pytest.mark.parametrize(
    "literal",
    [r"2\s*\*\*\s*22", r"2\s*\*\*\s*32\s*-\s*2", r"\{0,127\}", r"4194304", "4294967294"],
)
def test_limits_are_defined_once(literal: str) -> None:
    """MAX_PID, MAX_UNIX_ID and the id's length are written in validation.py only."""
    found = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(literal, path.read_text())
    ]
    assert set(found) <= {"validation.py"}, found


def api_imports() -> dict[str, set[str]]:
    """Module -> the modules of the api package it imports."""
    graph: dict[str, set[str]] = {}
    for path in (PACKAGE / "api").glob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imported.add(node.module.split(".")[0])
                else:
                    imported |= {alias.name for alias in node.names}
        graph[path.stem] = imported & {p.stem for p in (PACKAGE / "api").glob("*.py")}
    return graph


def test_no_import_cycle_in_the_api_package() -> None:
    graph = api_imports()
    assert "routes" in graph["app"] and "app" not in graph["routes"]
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, f"import cycle: {' -> '.join((*trail, module))}"
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, (*trail, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_every_route_declares_its_path_parameters() -> None:
    for endpoint in routes.api.endpoints:
        declared = parameters(endpoint.params) if endpoint.params is not None else {}
        assert set(endpoint.path_names) <= set(declared), endpoint.operation_id
