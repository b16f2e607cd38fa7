"""What a template's values are and what the functions do with them, as Go does.

A value is a decoded JSON document or a piece of one (dict, list, str, int, float, bool,
None) or :data:`MISSING`, a key that is not there. JSON's whole numbers are Go's ``int`` and
the others its ``float64``: what docker's typed structs hold (``{{printf "%d" .pid}}`` works),
where a ``map[string]interface{}`` would make every number a float.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Final

from .jsonout import compact, fixed, scientific, shortest

#: What Go prints for a map's missing key (and here for a JSON null).
NO_VALUE: Final = "<no value>"


class TemplateError(ValueError):
    """The template cannot be read: unclosed, an unknown function, a path without its dot."""


class RenderError(ValueError):
    """The template does not fit this value: a key of a string, an index past a list's end."""


class _Missing:
    """A key that is not there: ``<no value>``, and ``null`` to ``json``."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()

#: What a decoded JSON value is, as a message names it.
_KINDS: Final[dict[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}
#: Go's names of the types, for its messages (``%!d(string=web)``).
_GO_TYPES: Final[dict[type, str]] = {
    dict: "map[string]interface {}",
    list: "[]interface {}",
    str: "string",
    bool: "bool",
    int: "int",
    float: "float64",
}


def kind(value: Any) -> str:
    return _KINDS.get(type(value), "a value")


def go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), "<nil>")


def is_nil(value: Any) -> bool:
    return value is None or value is MISSING


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64, strconv's shortest ``%g``: the fewest digits that read back,
    in ``%e`` form when the exponent is below -4 or 6 and more (``1e+06``, ``123456.5``,
    ``1e-05``)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    minus, digits, point = shortest(value)
    if digits != "0" and not -4 <= point - 1 < 6:
        return minus + scientific(digits, point, 2)
    return minus + fixed(digits, point)


def printed(value: Any) -> str:
    """A value as ``{{.a}}`` prints it: Go's, but objects and lists as compact JSON (Go's
    ``map[a:1]`` and ``[1 2]`` nothing reads back), and a JSON null as a missing key."""
    if is_nil(value):
        return NO_VALUE
    return formatted(value)


def formatted(value: Any) -> str:
    """A value as Go's ``%v`` prints it (``print``, ``printf "%v"``): nil is ``<nil>``."""
    if is_nil(value):
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    return compact(value)


def truth(value: Any) -> bool:
    """Go's: false, 0, nil (a missing key), and an empty string, list or object are false."""
    return not is_nil(value) and (value is True or (value is not False and bool(value)))


# --- the functions ------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return "null" if value is MISSING else compact(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if is_nil(value):
            return MISSING  # a key that comes and goes: Go fails, "index of untyped nil"
        if is_nil(key):
            raise RenderError(f"index {NO_VALUE} of {kind(value)}")
        if isinstance(value, dict):
            if not isinstance(key, str):
                raise RenderError(f"index {_key(key)} of an object: its keys are strings")
            value = value.get(key, MISSING)
        elif isinstance(value, list):
            if not isinstance(key, int) or isinstance(key, bool):
                raise RenderError(f"index {_key(key)} of a list: its positions are whole numbers")
            if not 0 <= key < len(value):
                raise RenderError(f"index {key} of a list of {len(value)}")
            value = value[key]
        elif isinstance(value, str):  # Go's: a byte, a number
            if not isinstance(key, int) or isinstance(key, bool):
                raise RenderError(f"index {_key(key)} of a string: its positions are whole numbers")
            data = value.encode()
            if not 0 <= key < len(data):
                raise RenderError(f"index {key} of a string of {len(data)} bytes")
            value = data[key]
        else:
            raise RenderError(f"index of {kind(value)}")
    return value


def _key(key: Any) -> str:
    """A key as a message shows it: as written (1.0 is no 1), strings quoted."""
    return repr(key) if isinstance(key, float) else compact(key)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())  # Go's len of a string counts its bytes
    if isinstance(value, list | dict):
        return len(value)
    what = "nil pointer" if is_nil(value) else f"type {go_type(value)}"
    raise RenderError(f"error calling len: len of {what}")


def _slice(value: Any, *indexes: Any) -> Any:
    """Go's ``slice x 1 3`` (x[1:3]): a string's bytes (a character cut in two is U+FFFD, as
    truncate's), a list's elements; ``slice x 1 2 3``, x[1:2:3], of a list only."""
    if is_nil(value):
        raise RenderError("error calling slice: slice of untyped nil")
    if len(indexes) > 3:
        raise RenderError(f"error calling slice: too many slice indexes: {len(indexes)}")
    if isinstance(value, str):
        if len(indexes) == 3:
            raise RenderError("error calling slice: cannot 3-index slice a string")
        data: bytes | list[Any] = value.encode()
    elif isinstance(value, list):
        data = value
    else:
        raise RenderError(f"error calling slice: can't slice item of type {go_type(value)}")
    # A decoded list's cap is its length (Go's may be more: append's growth, no promise).
    for index in indexes:
        if is_nil(index):
            raise RenderError("error calling slice: cannot index slice/array with nil")
        if not isinstance(index, int) or isinstance(index, bool):
            raise RenderError(
                f"error calling slice: cannot index slice/array with type {go_type(index)}"
            )
        if not 0 <= index <= len(data):
            raise RenderError(f"error calling slice: index out of range: {index}")
    bounds = [*indexes, *(0, len(data))[len(indexes) :]]  # x[i:] is x[i:len(x)]
    for low, high in itertools.pairwise(bounds):
        if low > high:
            raise RenderError(f"error calling slice: invalid slice index: {low} > {high}")
    part = data[bounds[0] : bounds[1]]
    return part.decode(errors="replace") if isinstance(part, bytes) else part


def _call(function: Any, *arguments: Any) -> Any:
    """Go's ``call``, of a function a value holds: a JSON document holds none."""
    if is_nil(function):
        raise RenderError("error calling call: call of nil")
    raise RenderError(f"error calling call: non-function of type {go_type(function)}")


def _text(values: tuple[Any, ...]) -> str:
    """What Go's escapers escape (text/template's evalArgs): one string as it is, else
    fmt.Sprint of them all, a missing one as ``<no value>``."""
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return _print(*(NO_VALUE if is_nil(value) else value for value in values))


# The escapers' module imported where one is called, as printf's: not paid by every inspect -f.
def _html(*values: Any) -> str:
    from .escapes import html

    return html(_text(values))


def _js(*values: Any) -> str:
    from .escapes import js

    return js(_text(values))


def _urlquery(*values: Any) -> str:
    from .escapes import urlquery

    return urlquery(_text(values))


def _not(value: Any) -> bool:
    return not truth(value)


# Go's basic kinds (text/template/funcs.go): values of different kinds do not compare.
def _basic(value: Any) -> str:
    if is_nil(value):
        return "invalid"
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "other")


def _eq(first: Any, *others: Any) -> bool:
    """Go's: ``eq a b c`` is a == b || a == c. A missing value equals a missing one and no
    other; values of different kinds are an error, as are lists and objects."""
    one = _basic(first)
    if not others:  # Go's: known when it runs, as its own words say
        if one == "other":
            raise RenderError(f"error calling eq: non-comparable type {go_type(first)}")
        raise RenderError("error calling eq: missing argument for comparison")
    for other in others:
        two = _basic(other)
        if one != two:
            if "invalid" not in (one, two):
                raise RenderError(
                    f"error calling eq: incompatible types for comparison: "
                    f"{go_type(first)} and {go_type(other)}"
                )
        elif one == "other":
            raise RenderError(f"error calling eq: non-comparable type {go_type(first)}")
        elif one == "invalid" or first == other:
            return True
    return False


def _ne(first: Any, second: Any) -> bool:
    try:
        return not _eq(first, second)
    except RenderError as exc:  # Go's names ne, and says no more
        raise RenderError(str(exc).replace("calling eq", "calling ne", 1)) from None


def _lt(first: Any, second: Any, name: str = "lt") -> bool:
    one, two = _basic(first), _basic(second)
    # Go's order: no kind at all first, then two kinds, then a kind that has no order (bool).
    if one in ("invalid", "other") or two in ("invalid", "other") or one == two == "bool":
        raise RenderError(f"error calling {name}: invalid type for comparison")
    if one != two:
        raise RenderError(
            f"error calling {name}: incompatible types for comparison: "
            f"{go_type(first)} and {go_type(second)}"
        )
    return bool(first < second)


def _le(first: Any, second: Any) -> bool:
    return _lt(first, second, "le") or _eq(first, second)


def _gt(first: Any, second: Any) -> bool:
    return not (_lt(first, second, "gt") or _eq(first, second))


def _ge(first: Any, second: Any) -> bool:
    return not _lt(first, second, "ge")


def _print(*values: Any) -> str:
    """Go's fmt.Sprint: a space between two operands when neither is a string."""
    out = []
    for at, value in enumerate(values):
        if at and not isinstance(value, str) and not isinstance(values[at - 1], str):
            out.append(" ")
        out.append(formatted(value))
    return "".join(out)


def _println(*values: Any) -> str:
    return " ".join(formatted(value) for value in values) + "\n"


def _printf(form: Any, *values: Any) -> str:
    from .printf import sprintf

    return sprintf(_string("printf", form), values)


def _string(name: str, value: Any) -> str:
    """An argument Go's function takes as a ``string``: Go checks its type."""
    if isinstance(value, str):
        return value
    if is_nil(value):
        raise RenderError(f"invalid value for {name}; expected string")
    raise RenderError(f"wrong type for value of {name}; expected string; got {go_type(value)}")


def _int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RenderError(f"wrong type for value of {name}; expected int; got {go_type(value)}")


def _cased(char: str, how: str) -> str:
    """Go's unicode.ToUpper (ToLower, ToTitle): one character for one, where Python's full
    mappings give several (ß is STRASSE's SS to Python, ß to Go) or look at the next one (a
    final Σ)."""
    if how == "lower" and char == "\u0130":
        return "i"  # İ: its one-character lower case; Python's is i and a dot above
    mapped = getattr(char, how)()
    return mapped if len(mapped) == 1 else char


def _upper(text: Any) -> str:
    return "".join(_cased(char, "upper") for char in _string("upper", text))


def _lower(text: Any) -> str:
    return "".join(_cased(char, "lower") for char in _string("lower", text))


def _title(text: Any) -> str:
    """docker's ``title``, Go's strings.Title: each word's first letter in title case, the
    others as they are; a word starts after any ASCII character but a letter, a digit or _,
    and after white space (O'Neil, A.B-C; not after é, ² or a dash of Unicode's)."""
    chars = list(_string("title", text))
    for at, char in enumerate(chars):
        if at == 0 or _separates(chars[at - 1]):
            chars[at] = _cased(char, "title")
    return "".join(chars)


def _separates(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    return char.isspace()


def _split(text: Any, separator: Any) -> list[str]:
    text, separator = _string("split", text), _string("split", separator)
    return list(text) if separator == "" else text.split(separator)  # Go's: "" splits runes


def _join(items: Any, separator: Any) -> str:
    if is_nil(items):  # Go's: a nil []string, joined: ""
        _string("join", separator)
        return ""
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise RenderError(f"wrong type for value of join; expected []string; got {go_type(items)}")
    return _string("join", separator).join(items)


def _pad(text: Any, before: Any, after: Any) -> str:
    """docker's: spaces before and after, none around an empty string."""
    # Go checks the arguments' types before the call: pad "" "x" 1 fails too.
    middle, spaces = _string("pad", text), (_int("pad", before), _int("pad", after))
    if not middle:
        return middle
    if min(spaces) < 0:
        raise RenderError("error calling pad: strings: negative Repeat count")
    return " " * spaces[0] + middle + " " * spaces[1]


def _truncate(text: Any, length: Any) -> str:
    """docker's: the first ``length`` bytes (Go's string slice), if it is longer."""
    whole = _string("truncate", text)
    data, length = whole.encode(), _int("truncate", length)
    if length < 0:  # Go's: a panic, recovered
        raise RenderError(
            f"error calling truncate: runtime error: slice bounds out of range [:{length}]"
        )
    return whole if len(data) < length else data[:length].decode(errors="replace")


#: The functions that take an int (Go's type), and where: a constant 1e3 is one there.
INT_PARAMETERS: Final = {"pad": (1, 2), "truncate": (1,)}

#: The functions: each, and how many arguments it takes (the least, the most or None).
#: ``and`` and ``or`` are the evaluator's (they evaluate their arguments one by one).
FUNCTIONS: Final[dict[str, tuple[Callable[..., Any], int, int | None]]] = {
    "and": (bool, 1, None),
    "or": (bool, 1, None),
    "not": (_not, 1, 1),
    "len": (_len, 1, 1),
    "index": (_index, 1, None),
    "eq": (_eq, 1, None),
    "ne": (_ne, 2, 2),
    "lt": (_lt, 2, 2),
    "le": (_le, 2, 2),
    "gt": (_gt, 2, 2),
    "ge": (_ge, 2, 2),
    "print": (_print, 0, None),
    "println": (_println, 0, None),
    "printf": (_printf, 1, None),
    "slice": (_slice, 1, None),
    "call": (_call, 1, None),
    "html": (_html, 0, None),
    "js": (_js, 0, None),
    "urlquery": (_urlquery, 0, None),
    # docker's (docker/cli's templates.basicFunctions)
    "json": (_json, 1, 1),
    "upper": (_upper, 1, 1),
    "lower": (_lower, 1, 1),
    "title": (_title, 1, 1),
    "split": (_split, 2, 2),
    "join": (_join, 2, 2),
    "pad": (_pad, 3, 3),
    "truncate": (_truncate, 2, 2),
}


def _first(value: Any, *_: Any) -> Any:
    return value


#: docker's HeaderFunctions (docker/cli's templates): a table's header is the template run on
#: the fields' names with these in place of the functions of the same names, which give back
#: the name they are given, so that a column is headed by its field's name whatever is done to
#: it (``{{.ID | json}}``: ``ID``, not ``"ID"``; ``{{.Labels | split ","}}`` not a list). pad
#: is not among them: its padding keeps the header over its column.
HEADER_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    name: _first for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
}
