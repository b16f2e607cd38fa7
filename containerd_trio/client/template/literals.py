"""Go's constants in an action, as its text/template lexer and parser read them: numbers,
``"strings"`` and ``'c'`` characters.

Numbers: decimal, ``0x1F``, ``0o17`` and ``017``, ``0b101``, ``1_000``; floats ``2.5``, ``5.``,
``.5``, ``1e3``, ``0x1p-2``. One that reads as a whole number is Go's ``int``, any other its
``float64`` (``1e3`` too). A character is its code, an ``int`` (``'a'`` is 97). Escapes in
strings and characters: ``\\n`` and Go's others, ``\\xHH``, ``\\uHHHH``, ``\\UHHHHHHHH``, octal
``\\101``. What cannot be read is a :class:`.values.TemplateError` in Go's words, with the
action.
"""

from __future__ import annotations

import math
from typing import Any, Final

from .values import TemplateError

_SIMPLE: Final = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}  # fmt: skip
_HEX: Final = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS: Final = "0123456789abcdefABCDEF"
_OCTAL: Final = "01234567"
_DECIMAL: Final = "0123456789_"
_PREFIXES: Final = {"x": _HEX_DIGITS + "_", "o": _OCTAL + "_", "b": "01_"}
_INT64: Final = 1 << 63


def number(text: str, position: int, source: str) -> tuple[Any, int]:
    """The number at ``position`` (a digit, a sign or a point before one), as Go's lexer scans
    it, and where it ends."""
    start = position
    if text[position] in "+-":
        position += 1
    digits = _DECIMAL
    if text.startswith("0", position):
        position += 1
        prefix = text[position : position + 1].lower()
        if prefix in _PREFIXES:
            digits = _PREFIXES[prefix]
            position += 1
    position = _run(text, position, digits)
    if text.startswith(".", position):
        position = _run(text, position + 1, digits)
    exponent = {_DECIMAL: "eE", _PREFIXES["x"]: "pP"}.get(digits)
    if exponent and text[position : position + 1] in tuple(exponent):
        position += 1
        if text[position : position + 1] in ("+", "-"):
            position += 1
        position = _run(text, position, _DECIMAL)
    if text.startswith("i", position):
        position += 1
    written = text[start:position]
    following = text[position : position + 1]
    if following.isalnum() or following == "_":  # Go's: no letter right after a number
        raise TemplateError(f'bad number syntax: "{written}{following}", in {source}')
    return _constant(written, source), position


def _run(text: str, position: int, chars: str) -> int:
    while position < len(text) and text[position] in chars:
        position += 1
    return position


def _constant(written: str, source: str) -> int | float:
    """Go's NumberNode: a whole number if it reads as one (in int64), else a float64 if it has a
    point or an exponent; an imaginary one is refused."""
    if written.endswith("i"):
        raise TemplateError(f"complex constant {written} is not taken, in {source}")
    body = written.lstrip("+-")
    negative = written.startswith("-")
    if len(body) > 1 and body[0] == "0" and all(c in _OCTAL + "_" for c in body[1:]):
        body = "0o" + body[1:]  # Go's 017 is octal; Python reads 0o17 only
    try:
        whole = int(body, 0)
    except ValueError:
        pass
    else:
        whole = -whole if negative else whole
        if -_INT64 <= whole < _INT64:
            return whole
        if 0 <= whole < 2 * _INT64:
            raise TemplateError(f"{written} overflows int, in {source}")
        raise TemplateError(f'integer overflow: "{written}", in {source}')
    try:
        if body[1:2] in ("x", "X"):
            if "p" not in body.lower():  # Go's: a hex float needs its exponent
                raise ValueError(body)
            value = float.fromhex(body.replace("_", ""))
        else:
            value = float(body)
    except ValueError:
        raise TemplateError(f'illegal number syntax: "{written}", in {source}') from None
    if math.isinf(value):  # Go's ParseFloat: out of range
        raise TemplateError(f'illegal number syntax: "{written}", in {source}')
    if not any(c in written for c in ".eEpP"):  # 08: no octal, and no float as written
        raise TemplateError(f'integer overflow: "{written}", in {source}')
    return -value if negative else value


def quoted(text: str, position: int, source: str) -> tuple[str, int]:
    """The double-quoted string at ``position`` (its quote), escapes read; where it ends."""
    chars: list[str] = []
    position += 1
    while True:
        char = text[position : position + 1]
        if char in ("", "\n"):
            raise TemplateError(f"unterminated string in {source}")
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\":
            char, position = _escape(text, position, '"', source)
        else:
            position += 1
        chars.append(char)


def character(text: str, position: int, source: str) -> tuple[int, int]:
    """The character constant at ``position`` (its quote), as its code; where it ends."""
    end = position + 1
    while (char := text[end : end + 1]) != "'":
        if char == "\\" and text[end + 1 : end + 2] not in ("", "\n"):
            end += 2
        elif char in ("", "\n", "\\"):
            raise TemplateError(f"unterminated character constant in {source}")
        else:
            end += 1
    written = text[position : end + 1]
    if end == position + 1:
        raise TemplateError(f"malformed character constant: {written}, in {source}")
    if text[position + 1] == "\\":
        char, after = _escape(text, position + 1, "'", source)
    else:
        char, after = text[position + 1], position + 2
    if after != end:
        raise TemplateError(f"malformed character constant: {written}, in {source}")
    return ord(char), end + 1


def _escape(text: str, position: int, quote: str, source: str) -> tuple[str, int]:
    """The escape at ``position`` (its backslash) in a string or a character quoted with
    ``quote`` (which it may escape, and not the other quote); where it ends."""
    escape = text[position + 1 : position + 2]
    if escape in _SIMPLE:
        return _SIMPLE[escape], position + 2
    if escape == quote:
        return quote, position + 2
    if escape in _HEX or escape in tuple(_OCTAL):
        size = _HEX.get(escape, 3)
        start = position + (2 if escape in _HEX else 1)
        digits = text[start : start + size]
        valid = _HEX_DIGITS if escape in _HEX else _OCTAL
        if len(digits) < size or not all(c in valid for c in digits):
            what = f"{size} hex digits" if escape in _HEX else "3 octal digits"
            raise TemplateError(f"\\{escape} takes {what}, in {source}")
        code = int(digits, 16 if escape in _HEX else 8)
        # \x and octal are bytes (here the character of that code); \u and \U characters.
        if code > (0xFF if escape in "x01234567" else 0x10FFFF) or 0xD800 <= code < 0xE000:
            written = text[position : start + size]
            raise TemplateError(f"{written} is no character, in {source}")
        return chr(code), start + size
    raise TemplateError(
        f"unknown escape \\{escape} in {source} (Go's: \\n \\t \\\\ \\{quote} \\xHH \\uHHHH ...)"
    )
