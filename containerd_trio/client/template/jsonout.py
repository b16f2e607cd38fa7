"""JSON on one line as docker's ``json`` writes it: Go's encoding/json with SetEscapeHTML(false).

Keys in the document's order (the daemon's, as docker's typed structs keep theirs: Go would
sort a map's); UTF-8 as it is and ``<&>`` as they are; control characters ``\\u00XX`` but
``\\n``, ``\\r`` and ``\\t``, and U+2028 and U+2029 escaped; floats as Go writes them, fixed
point from 1e-6 to 1e21 (``0.00001``, ``10000000000000000``), else ``1e-7``, ``1e+21``.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring  # json.dumps's for a str, in C
from typing import Any, Final

#: What Python's json writes its own way: \b and \f (Go: \u0008, \u000c). A pair at a time, so
#: that an escaped backslash before a b is left alone.
_PYTHON_ESCAPE: Final = r"\\[\\bf]"
_GO_ESCAPES: Final = {"\\b": "\\u0008", "\\f": "\\u000c"}


def compact(value: Any) -> str:
    if not _holds_float(value):  # Python's json in C, its few other ways mended: 8x faster
        return _go_escapes(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def _holds_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_holds_float, value.values()))
    if isinstance(value, list):
        return any(map(_holds_float, value))
    return isinstance(value, float)


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, dict):
        out.append("{")
        for at, (key, item) in enumerate(value.items()):
            out.append(("," if at else "") + _string(key) + ":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for at, item in enumerate(value):
            if at:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        out.append(_float(value))
    else:  # None, bool, int: as Python's json writes them
        out.append(json.dumps(value))


def _string(text: str) -> str:
    return _go_escapes(encode_basestring(text))


def _go_escapes(quoted: str) -> str:
    """Python's json text (a string, or a document of them) with Go's escapes."""
    if "\\b" in quoted or "\\f" in quoted:
        quoted = re.sub(_PYTHON_ESCAPE, lambda m: _GO_ESCAPES.get(m.group(), m.group()), quoted)
    if "\u2028" in quoted or "\u2029" in quoted:
        quoted = quoted.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return quoted


def shortest(value: float) -> tuple[str, str, int]:
    """A finite float's sign (``-`` or none), its fewest digits that read back, and where the
    decimal point goes in them (``12.5``: ``("", "125", 2)``; ``0.001``: ``("", "1", -2)``)."""
    if value == 0:
        return ("-" if str(value).startswith("-") else ""), "0", 1
    from decimal import Decimal  # here: 1 ms to import, for a float (few in a document)

    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return ("-" if sign else ""), text, len(text) + exponent


def fixed(digits: str, point: int) -> str:
    """``digits`` with the decimal point at ``point``, in fixed notation."""
    if point <= 0:
        return f"0.{'0' * -point}{digits}"
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return f"{digits[:point]}.{digits[point:]}"


def scientific(digits: str, point: int, exponent_digits: int) -> str:
    """``digits`` as d.ddde±XX, the exponent written with at least ``exponent_digits``."""
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exponent = point - 1
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):0{exponent_digits}d}"


def _float(value: float) -> str:
    minus, digits, point = shortest(value)
    if digits != "0" and not 1e-6 <= abs(value) < 1e21:
        return minus + scientific(digits, point, 1)  # Go cleans e-07 up to e-7
    return minus + fixed(digits, point)
