"""Path and query parameters: from text to the attrs class a route declares, strictly.

A route names one attrs class for its parameters (see ``schemas.py``): a field whose wire name
appears in the route's path is a path parameter, every other field a query parameter. Each text
is decoded by its field's type here, then checked by the field's own rule (the same
:class:`~containerd_trio.validation.Rule` objects the bodies use). A query parameter the class
does not name, or one given twice (but a repeatable one: ``_REPEATABLE``), is a 400 that
names it, as an unknown body field is.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, NewType, TypeVar
from urllib.parse import quote, unquote_plus

import attrs
from werkzeug.datastructures import MultiDict

from .. import timestamps
from ..attach import CURSOR_PATTERN, Cursor
from ..convert import camel, split_optional, unknown_names
from ..errors import InvalidRequest, quoted
from ..event_types import EVENT_TYPES
from ..events import LabelFilter
from ..ids import ID_PATTERN, invalid_id, is_id
from ..numbers import TooManyDigits, number, whole_number
from ..signals import SIGNAL_PATTERN, signal_number

T = TypeVar("T")

#: A moment a client names, as nanoseconds since the epoch: an RFC 3339 timestamp or a
#: duration back from now (:func:`containerd_trio.timestamps.parse_time`).
Moment = NewType("Moment", int)
#: Event types, comma-separated in the query string, or given several times (``?type=exit&
#: type=oom``, as docker's CLI repeats a filter): any of them, each time's and each comma's.
EventTypes = NewType("EventTypes", frozenset[str])
#: Container ids, given several times for more (``?id=web&id=db``, as docker's CLI repeats
#: ``--filter container=``): any of them.
ContainerIds = NewType("ContainerIds", frozenset[str])
#: A signal as a query names it (a stop's): its number or its name, as a body's string.
QuerySignal = NewType("QuerySignal", int)
#: A count of log records from the end, or docker's ``all`` (its default: every record),
#: which decodes to None, as the count left out.
TailCount = NewType("TailCount", int)
#: Docker's label filters, ``KEY`` or ``KEY=VALUE`` each, given several times for more
#: (``?label=a&label=b=c``, all to match): not comma-separated, as a value may hold any
#: character.
LabelFilters = NewType("LabelFilters", tuple[LabelFilter, ...])

#: A field's metadata key for a wire name that is not its camelCase one (docker's ps_args).
WIRE_NAME = "wire"

TRUE_WORDS = ("true", "1", "yes", "")
FALSE_WORDS = ("false", "0", "no")
#: What a flag takes, as its 400 names it: each word it takes, not "true or false" alone.
_FLAG_WORDS = (
    f"one of {', '.join(word for word in (*TRUE_WORDS, *FALSE_WORDS) if word)} (any case;"
    " empty: true)"
)


def _flag(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be {_FLAG_WORDS}, not {quoted(text)}")


def _moment(text: str) -> Moment:
    # An unencoded "+00:00" in a query string arrives as " 00:00": take it as meant.
    if len(text) > 6 and text[-6] == " " and text[-3] == ":":
        text = text[:-6] + "+" + text[-5:]
    return Moment(timestamps.parse_time(text))


def _event_types(text: str) -> EventTypes:
    wanted = frozenset(text.split(","))
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        raise ValueError(
            f"unknown event type {quoted(unknown[0])}: the types are {', '.join(EVENT_TYPES)}"
        )
    return EventTypes(wanted)


def _container_ids(text: str) -> ContainerIds:
    """One of the parameter's texts (:func:`parse` joins them): one id, as a path's."""
    if not is_id(text):
        raise ValueError(invalid_id(text))
    return ContainerIds(frozenset({text}))


def _label_filters(text: str) -> LabelFilters:
    """One of the parameter's texts (:func:`parse` joins them)."""
    key, sep, value = text.partition("=")
    if not key:
        raise ValueError(f"must be KEY or KEY=VALUE, KEY not empty, not {quoted(text)}")
    return LabelFilters(((key, value if sep else None),))


def _tail_count(text: str) -> TailCount | None:
    """``tail``: a count; ``all`` or a negative count is every record (None), as docker's
    daemon reads both (and ``ctr-trio logs -n -1``). Until 2026-12-06 a negative count was a
    400 here, where the client and docker took it for all."""
    if text.lower() == "all":
        return None
    try:
        count = whole_number(text)
    except TooManyDigits:
        raise
    except ValueError:
        raise ValueError(f"must be a whole number or all, not {quoted(text)}") from None
    return None if count < 0 else TailCount(count)


def _signal(text: str) -> QuerySignal:
    try:
        return QuerySignal(signal_number(text))
    except InvalidRequest as exc:
        raise ValueError(exc.message) from None


def _join_label_filters(parts: list[LabelFilters]) -> LabelFilters:
    return LabelFilters(tuple(item for part in parts for item in part))


def _join_any_of(parts: list[frozenset[str]]) -> frozenset[str]:
    """Event types, container ids: any of those given each time."""
    return frozenset[str]().union(*parts)


#: The types a query may give several times: each text is decoded alone, then the values are
#: joined by the type's own rule (label filters all kept, all to match; event types and
#: container ids any of them). A type not here given twice is a 400.
_REPEATABLE: dict[Any, Callable[[list[Any]], Any]] = {
    LabelFilters: _join_label_filters,
    EventTypes: _join_any_of,
    ContainerIds: _join_any_of,
}

_DECODERS: dict[Any, Callable[[str], Any]] = {
    Cursor: Cursor.parse,
    str: str,
    int: whole_number,
    float: number,
    bool: _flag,
    Moment: _moment,
    EventTypes: _event_types,
    ContainerIds: _container_ids,
    LabelFilters: _label_filters,
    QuerySignal: _signal,
    TailCount: _tail_count,
}


def _decoder(tp: Any) -> Callable[[str], Any] | None:
    """How text becomes a value of ``tp``: its decoder, or an enum's value; None if it has none."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [member.value for member in tp]

        def choice(text: str) -> Any:
            if text not in values:
                raise ValueError(f"must be one of {', '.join(values)}, not {quoted(text)}")
            return tp(text)

        return choice
    return _DECODERS.get(tp)


_EVENT_TYPE = "(" + "|".join(re.escape(name) for name in EVENT_TYPES) + ")"

#: JSON Schema of the types whose text says more than their JSON type would (for the OpenAPI
#: document; the others are described as in a body).
TEXT_SCHEMAS: dict[Any, dict[str, Any]] = {
    bool: {"type": "string", "enum": [*TRUE_WORDS, *FALSE_WORDS]},
    Moment: {
        "type": "string",
        "anyOf": [{"format": "date-time"}, timestamps.DURATION_SCHEMA],
    },
    # Given again for more (an array, as OpenAPI's form style repeats it), each a list.
    EventTypes: {
        "type": "array",
        "items": {"type": "string", "pattern": f"^{_EVENT_TYPE}(,{_EVENT_TYPE})*$"},
    },
    ContainerIds: {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}},
    LabelFilters: {"type": "array", "items": {"type": "string", "pattern": "^[^=]"}},
    Cursor: {"type": "string", "pattern": CURSOR_PATTERN},
    QuerySignal: {"type": "string", "pattern": SIGNAL_PATTERN},
    TailCount: {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]},
}


def text_form(value: object) -> object:
    """A default as the query string would write it (for the document)."""
    if isinstance(value, bool):
        return FALSE_WORDS[0] if not value else TRUE_WORDS[0]
    if isinstance(value, enum.Enum):
        return value.value
    return value


@attrs.frozen
class Parameter:
    """One field of a parameters class, as the wire sees it."""

    wire: str
    field: attrs.Attribute[Any]
    type: Any  # the field's type, without "| None"


_PARAMETERS: dict[type[Any], dict[str, Parameter]] = {}


def parameters(cls: type[Any]) -> dict[str, Parameter]:
    """The parameters of ``cls`` by wire name (worked out once per class)."""
    if cls not in _PARAMETERS:
        _PARAMETERS[cls] = _parameters(cls)
    return _PARAMETERS[cls]


def _parameters(cls: type[Any]) -> dict[str, Parameter]:
    hints = typing.get_type_hints(cls)
    found = {}
    for field in attrs.fields(cls):
        wire = field.metadata.get(WIRE_NAME) or camel(field.name)
        found[wire] = Parameter(wire, field, split_optional(hints[field.name])[1])
        if _decoder(found[wire].type) is None:
            raise TypeError(f"{cls.__name__}.{field.name}: no text form for {hints[field.name]}")
    return found


def parse(
    cls: type[T] | None,
    path: Mapping[str, str],
    query: MultiDict[str, str],
    query_string: bytes = b"",
) -> T | None:
    """The route's parameters from its path values and query string (None if it has none):
    ``query`` decoded, ``query_string`` as sent, to tell a refused value's ``+`` (a space once
    decoded) from a ``%20`` (:func:`_plus_hint`)."""
    declared = parameters(cls) if cls is not None else {}
    unknown = [name for name in query if name not in declared or name in path]
    if unknown:
        raise InvalidRequest(unknown_names("query parameter", unknown))
    if cls is None:
        return None
    values = {}
    for wire, parameter in declared.items():
        if wire in path:
            text, where = path[wire], ""
        else:
            given = query.getlist(wire)
            if not given:
                if parameter.field.default is attrs.NOTHING:
                    raise InvalidRequest(f"query parameter {wire} is required")
                continue  # its default
            join = _REPEATABLE.get(parameter.type)
            if join is not None:
                parts = [_value(parameter, text, "query parameter ") for text in given]
                values[parameter.field.name] = join(parts)
                continue
            if len(given) > 1:
                raise InvalidRequest(
                    f"query parameter {wire} is given {len(given)} times: give it once"
                )
            text, where = given[0], "query parameter "
            if text == "" and parameter.type in (int, float, TailCount):
                continue  # "?tail=" means the default, as it always has
            try:
                values[parameter.field.name] = _value(parameter, text, where)
            except InvalidRequest as exc:
                raise _plus_hint(exc, wire, text, query_string) from None
            continue
        values[parameter.field.name] = _value(parameter, text, where)
    return cls(**values)


def _plus_hint(
    refused: InvalidRequest, wire: str, text: str, query_string: bytes
) -> InvalidRequest:
    """``refused``, saying why when the value's space was a ``+`` as sent: a query string
    decodes ``+`` to a space (``tail=+1`` is ``' 1'``; ``%2B1`` is ``+1``), which the message
    alone, quoting the space, does not tell."""
    if " " not in text or wire not in _plussed(query_string):
        return refused
    example = f"{wire}={quote(text.replace(' ', '+'), safe='')}"
    suggestion = f", as {example}" if len(example) <= 40 else ""
    return InvalidRequest(
        f"{refused.message}: a + in a query string is a space; write a + as %2B{suggestion}"
    )


def _plussed(query_string: bytes) -> set[str]:
    """The names of the parameters whose value holds a ``+`` as sent."""
    return {
        unquote_plus(name.decode(errors="replace"))
        for name, _, value in (pair.partition(b"=") for pair in query_string.split(b"&"))
        if b"+" in value
    }


def check_path(cls: type[Any] | None, path: Mapping[str, str]) -> None:
    """Refuse (InvalidRequest) the first of ``path``'s values that its field of ``cls`` does
    not take, as :func:`parse` would: for a path the app never routes, so that its values are
    named as any other's (see :meth:`.endpoints.Api.check_raw_path`)."""
    for wire, parameter in (parameters(cls) if cls is not None else {}).items():
        if wire in path:
            _value(parameter, path[wire], "")


def _value(parameter: Parameter, text: str, where: str) -> Any:
    wire = parameter.wire
    try:
        decode = _decoder(parameter.type)
        assert decode is not None  # checked when the class was first read
        value = decode(text)
    except ValueError as exc:
        # "tail must be a whole number, not 'x'"; "since: 'x' is not an RFC 3339 timestamp"
        joint = " " if str(exc).startswith("must ") else ": "
        raise InvalidRequest(f"{where}{wire}{joint}{exc}") from None
    try:
        if parameter.field.validator is not None:
            parameter.field.validator(None, parameter.field, value)
    except (ValueError, InvalidRequest) as exc:
        message = exc.message if isinstance(exc, InvalidRequest) else str(exc)
        if message.startswith(wire):
            raise InvalidRequest(f"{where}{message}") from None
        raise InvalidRequest(f"{where}{wire}: {message}" if where else message) from None
    return value
