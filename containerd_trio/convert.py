"""The one cattrs converter of the daemon: attrs classes <-> JSON-ready dicts.

Field names go camelCase on the wire (``bundle_path`` <-> ``bundlePath``), unknown keys are
refused, and optional fields that are None are left out of answers. Validation errors come out
as one readable sentence that names the field (see :func:`structure`).
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import InvalidRequest, quoted

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True)

#: How many unknown keys a message names (a body may hold thousands).
SHOWN_KEYS_MAX = 5

#: Types with a rule of their own (a ``NewType`` and its structure hook), with the name and
#: JSON Schema the OpenAPI document gives them: see :func:`register_type`.
TYPE_SCHEMAS: dict[Any, tuple[str, dict[str, Any]]] = {}


def register_type(
    tp: Any, structure: Callable[[object], Any], *, name: str, schema: dict[str, Any]
) -> None:
    """Read ``tp`` with ``structure``, and describe it as the component ``name``."""
    converter.register_structure_hook(tp, lambda value, _: structure(value))
    TYPE_SCHEMAS[tp] = (name, schema)


def split_optional(tp: Any) -> tuple[bool, Any]:
    """``(True, X)`` for ``X | None``; ``(False, tp)`` otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(members) < len(typing.get_args(tp)):
            if len(members) != 1:
                raise TypeError(f"cannot describe the union {tp!r}")
            return True, members[0]
    return False, tp


@functools.cache  # a field's wire name is asked for at each check of it (a start: six)
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _structure_factory(cls: type[Any]) -> Any:
    overrides = {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
    inner = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=True,
        **overrides,  # type: ignore[arg-type]
    )

    def structure_object(value: object, target: type[Any]) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {json_type(value)}")
        return inner(value, target)

    return structure_object


def _unstructure_factory(cls: type[Any]) -> Any:
    overrides = {
        a.name: override(rename=camel(a.name), omit_if_default=a.default is None)
        for a in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


converter.register_structure_hook_factory(attrs.has, _structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_factory)


def _strict_int(value: object, _: type) -> int:
    # cattrs would turn "3" or 3.7 or True into an int; a client sending those has made a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {json_type(value)}")
    return value


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {json_type(value)}")
    return value


def _strict_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {json_type(value)}")
    return value


def _strict_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {json_type(value)}")
    return float(value)


def _is_list(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) is list


def _is_dict(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) is dict


def _list_factory(tp: Any) -> Any:
    inner = list_structure_factory(tp, converter)

    def structure_list(value: object, _: type) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {json_type(value)}")
        return list(inner(value, tp))

    return structure_list


def _dict_factory(tp: Any) -> Any:
    # Not converter.gen_structure_mapping: it registers its result for ``tp`` directly, which
    # would replace this checking hook after its first use.
    inner = mapping_structure_factory(tp, converter, dict)

    def structure_dict(value: object, _: type) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {json_type(value)}")
        return dict(inner(value, tp))

    return structure_dict


converter.register_structure_hook_factory(_is_list, _list_factory)
converter.register_structure_hook_factory(_is_dict, _dict_factory)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(bool, _strict_bool)
converter.register_structure_hook(float, _strict_float)


def json_type(value: object) -> str:
    """What a decoded JSON value is, for a message: "a list", "the string 'x'" (cut short)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _problems(exc: BaseException, path: str) -> list[str]:
    """Walk cattrs' exception group to its leaves; name the field where each broke."""
    if isinstance(exc, ForbiddenExtraKeysError):
        where = f" in {path}" if path else ""
        return [f"{unknown_names('field', exc.extra_fields)}{where}"]
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        found: list[str] = []
        for sub in exc.exceptions:
            found += _problems(sub, _join(path, _note_of(sub)))
        return found
    if isinstance(exc, KeyError):
        return [f"missing required field {path!r}"]
    message = str(exc) or type(exc).__name__
    if not path:
        return [message]
    # A hook on the field's own type may name the field already ("signal 0 is out of range"):
    # say it once, with the whole path, not "signal: signal 0 ...".
    field = path.rpartition(".")[2]
    if message == field or message.startswith(field + " "):
        return [path + message[len(field) :]]
    return [f"{path}: {message}"]


def unknown_names(what: str, names: Collection[str]) -> str:
    """``unknown field 'a'``, ``unknown fields 'a', 'b' and 7 more``: a message never lists
    thousands."""
    shown = sorted(names)[:SHOWN_KEYS_MAX]
    listed = ", ".join(quoted(name) for name in shown)
    rest = len(names) - len(shown)
    more = f" and {rest} more" if rest else ""
    return f"unknown {what}{'s' if len(names) > 1 else ''} {listed}{more}"


def _describe(exc: BaseException) -> str:
    # Unknown fields first: a misspelt field name is usually why a required one is missing.
    problems = sorted(_problems(exc, ""), key=lambda p: not p.startswith("unknown field"))
    return "; ".join(problems[:3])


def _note_of(exc: BaseException) -> str:
    for note in getattr(exc, "__notes__", []):
        note_obj: Any = note
        name = getattr(note_obj, "name", None)
        index = getattr(note_obj, "index", None)
        if name is not None:
            return camel(str(name))
        if index is not None:
            # A mapping's key is the client's text: quoted, so that it can never break the
            # one-line message (a key may hold a newline), and cut short.
            return f"[{quoted(index)}]" if isinstance(index, str) else f"[{index}]"
    return ""


def _join(path: str, part: str) -> str:
    if not part:
        return path
    if part.startswith("["):
        return path + part
    return f"{path}.{part}" if path else part


def structure(data: object, cls: type[T]) -> T:
    """Structure a decoded JSON body, raising :class:`InvalidRequest` naming the bad field."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {json_type(data)}")
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise InvalidRequest(_describe(exc)) from None
    except InvalidRequest:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidRequest(str(exc)) from None


def unstructure(value: object) -> Any:
    return converter.unstructure(value)


#: ``json.dumps(document, separators=(",", ":"))``, the same text: one encoder for all, where
#: ``json.dumps`` with an argument of its own makes a new one at each call (a start encodes
#: half a dozen documents).
_encode_compact = json.JSONEncoder(separators=(",", ":")).encode


def dump_json(document: Any) -> bytes:
    """Plain data (see :func:`unstructure`) as the API's compact JSON."""
    return _encode_compact(document).encode()
