"""JSON Schema from the attrs classes, as the daemon's one converter reads and writes them.

Field names go camelCase; a field without a default is required; a request body refuses unknown
keys (``additionalProperties: false``), as the converter does. An answer's optional field is
left out when it is None, so an answer's ``required`` lists every field whose default is not
None. A field's rule (:class:`~containerd_trio.validation.Rule`) adds its own keywords, and
``doc(...)`` metadata its description; a class rule (``ExactlyOne``) adds ``oneOf``. Types with
a rule of their own (``Signal``) are components, from :data:`containerd_trio.convert.TYPE_SCHEMAS`.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ..convert import TYPE_SCHEMAS, camel, split_optional
from ..validation import CLASS_RULE, Rule

Schema = dict[str, Any]

#: How a class is named among the components: by its name, unless it says otherwise here.
Namer = Callable[[type[Any]], str]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The same schema, with null allowed too (how a request may leave an optional field out)."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        result = dict(schema)
        result["type"] = [kind, "null"]
        if "enum" in result and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]
        return result
    return {"anyOf": [schema, {"type": "null"}]}


def type_schema(tp: Any, name_of: Namer) -> Schema:
    """The JSON Schema of a field type."""
    if tp in TYPE_SCHEMAS:
        return ref(TYPE_SCHEMAS[tp][0])
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
        return ref(name_of(tp))
    optional, inner = split_optional(tp)
    if optional:
        return nullable(type_schema(inner, name_of))
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # an answer of one shape or another
        return {"anyOf": [type_schema(member, name_of) for member in typing.get_args(tp)]}
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": type_schema(item, name_of)}
    if origin is dict:
        key, value = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"JSON object keys are strings, not {key!r}")
        return {"type": "object", "additionalProperties": type_schema(value, name_of)}
    raise TypeError(f"no JSON Schema for the type {tp!r}")


def merge(base: Schema, extra: Schema) -> Schema:
    """A field's type schema with its rule's or note's keywords over it; inside a nullable
    wrapper they go to the non-null side, and a reference only takes a description."""
    if not extra:
        return base
    if "anyOf" in base and "anyOf" not in extra and {"type": "null"} in base["anyOf"]:
        inner, null = base["anyOf"]
        return {"anyOf": [merge(inner, extra), null]}
    if "$ref" in base:
        return {**base, **{k: v for k, v in extra.items() if k == "description"}}
    merged = {**base, **extra}
    if "items" in base and "items" in extra:
        merged["items"] = {**base["items"], **extra["items"]}
    if "items" in base and "prefixItems" in extra:
        # "items" no longer covers the first ones: they keep its type all the same.
        merged["prefixItems"] = [{**base["items"], **item} for item in extra["prefixItems"]]
    if isinstance(base.get("type"), list):
        # A rule says nothing of null: ``const: false`` or a pattern on an optional string.
        merged["type"] = base["type"]
    return merged


def field_schema(field: attrs.Attribute[Any], base: Schema) -> Schema:
    """``base`` (the type's schema) with the field's rule and ``doc(...)`` note over it."""
    schema = base
    if isinstance(field.validator, Rule):
        schema = merge(schema, field.validator.schema)
    return merge(schema, field.metadata.get("schema", {}))


def object_schema(cls: type[Any], name_of: Namer, *, request: bool) -> Schema:
    """The schema of an attrs class on the wire, from its fields."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        tp = hints[field.name]
        # In answers None is left out, never written: only requests need null in the schema.
        base = type_schema(tp if request else split_optional(tp)[1], name_of)
        wire = camel(field.name)
        properties[wire] = field_schema(field, base)
        if field.default is attrs.NOTHING or (not request and field.default is not None):
            required.append(wire)
    result: Schema = {"type": "object"}
    description = inspect.getdoc(cls)
    if description:
        result["description"] = " ".join(description.split())
    if required:
        result["required"] = required
    result["properties"] = properties
    if request:
        result["additionalProperties"] = False
    class_rule = getattr(cls, CLASS_RULE, None)
    if class_rule is not None:
        result.update(class_rule.schema)
    return result


def classes_in(tp: Any) -> Iterator[type[Any]]:
    """Every attrs class a type reaches: itself, its fields' types, theirs, and so on."""
    seen: set[type[Any]] = set()

    def walk(tp: Any) -> Iterator[type[Any]]:
        if isinstance(tp, type) and attrs.has(tp):
            if tp in seen:
                return
            seen.add(tp)
            yield tp
            for hint in typing.get_type_hints(tp).values():
                yield from walk(hint)
        else:
            for arg in typing.get_args(tp):
                yield from walk(arg)

    yield from walk(tp)
