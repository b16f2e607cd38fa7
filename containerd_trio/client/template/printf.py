"""``printf``: Go's fmt.Sprintf on a template's values (:mod:`.values`), the verbs one writes.

Flags ``+ - # 0`` and space, widths and precisions (``*`` takes them from the arguments), and
the verbs ``%v %s %q %d %t %x %X %o %O %b %c %U %e %E %f %F %g %G %T %%``. A verb that does
not fit its value prints Go's ``%!d(string=web)``; an argument missing ``%!d(MISSING)``; one
too many ``%!(EXTRA int=3)``. Objects and lists are their compact JSON to ``%v`` and ``%s``
(as ``{{.labels}}`` prints them), and Go's ``%!d(...)`` to the other verbs, where Go formats
each element; a missing key and a JSON null are Go's nil (``<nil>``, ``%!s(<nil>)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .values import compact, formatted, go_float, go_type, is_nil

_FLAGS: Final = "+-# 0"
_NAMED: Final = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}  # fmt: skip


class _Spec:
    """One ``%...`` directive's flags, width and precision."""

    __slots__ = ("flags", "precision", "width")

    def __init__(self) -> None:
        self.flags = ""
        self.width: int | None = None
        self.precision: int | None = None


def sprintf(form: str, args: Sequence[Any]) -> str:
    out: list[str] = []
    used = 0  # the arguments taken so far
    at = 0
    while (percent := form.find("%", at)) >= 0:
        out.append(form[at:percent])
        at = percent + 1
        spec = _Spec()
        while at < len(form) and form[at] in _FLAGS:
            spec.flags += form[at]
            at += 1
        spec.width, at, used = _size(form, at, args, used, out)
        if spec.width is not None and spec.width < 0:  # Go's: -N from * is - and N
            spec.flags, spec.width = spec.flags + "-", -spec.width
        if form[at : at + 1] == ".":
            precision, at, used = _size(form, at + 1, args, used, out, "PREC")
            spec.precision = 0 if precision is None else precision  # "%.f": 0
        if at >= len(form):
            out.append("%!(NOVERB)")
            break
        verb = form[at]
        at += 1
        if verb == "%":
            out.append("%")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_one(verb, spec, args[used]))
            used += 1
    else:
        out.append(form[at:])
    if used < len(args):
        extra = ", ".join(
            "<nil>" if is_nil(arg) else f"{go_type(arg)}={formatted(arg)}" for arg in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _size(
    form: str, at: int, args: Sequence[Any], used: int, out: list[str], what: str = "WIDTH"
) -> tuple[int | None, int, int]:
    """A width or a precision at ``at``: digits, ``*`` (the next argument, a whole number, or
    Go's ``%!(BADWIDTH)``), or none; with where the directive goes on, and the arguments
    taken."""
    if form[at : at + 1] == "*":
        size = args[used] if used < len(args) else None
        if isinstance(size, int) and not isinstance(size, bool):
            return size, at + 1, used + 1
        out.append(f"%!(BAD{what})")
        return None, at + 1, used + 1
    start = at
    while at < len(form) and form[at] in "0123456789":
        at += 1
    return (int(form[start:at]) if at > start else None), at, used


def _one(verb: str, spec: _Spec, arg: Any) -> str:
    text: str | None = None
    if verb == "T":
        return _pad(go_type(arg), spec)
    if is_nil(arg):
        text = "<nil>" if verb == "v" else None
    elif isinstance(arg, bool):
        text = ("true" if arg else "false") if verb in "tv" else None
    elif isinstance(arg, int):
        return _integer(verb, spec, arg) or _bad(verb, arg)
    elif isinstance(arg, float):
        return _float(verb, spec, arg) or _bad(verb, arg)
    elif isinstance(arg, str):
        text = _string(verb, spec, arg)
    elif verb in "vs":
        text = compact(arg)
    return _bad(verb, arg) if text is None else _pad(text, spec)


def _bad(verb: str, arg: Any) -> str:
    if is_nil(arg):
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={formatted(arg)})"


def _pad(text: str, spec: _Spec, head: int = 0) -> str:
    """``text`` at ``spec``'s width: spaces before it (after it with ``-``); with ``0``, zeros
    after its first ``head`` characters (a number's sign and prefix)."""
    missing = (spec.width or 0) - len(text)  # Go counts runes: so does len
    if missing <= 0:
        return text
    if "-" in spec.flags:
        return text + " " * missing
    if "0" in spec.flags:
        return text[:head] + "0" * missing + text[head:]
    return " " * missing + text


def _sign(negative: bool, spec: _Spec) -> str:
    if negative:
        return "-"
    return "+" if "+" in spec.flags else " " if " " in spec.flags else ""


def _integer(verb: str, spec: _Spec, value: int) -> str | None:
    if verb == "c":
        return _pad(chr(value), spec) if 0 <= value <= 0x10FFFF else _pad("\ufffd", spec)
    if verb == "q":
        return _pad(quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", "'", spec), spec)
    if verb == "U":
        text = f"U+{value:04X}"
        return _pad(f"{text} '{chr(value)}'" if "#" in spec.flags else text, spec)
    bases = {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}
    if verb not in bases:
        return None
    digits = format(abs(value), bases[verb])
    if spec.precision is not None:
        digits = "" if spec.precision == 0 and value == 0 else digits.zfill(spec.precision)
    prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb, "") if "#" in spec.flags else ""
    if verb == "O":
        prefix = "0o"
    if prefix == "0" and digits.startswith("0"):
        prefix = ""
    head = _sign(value < 0, spec) + prefix
    if spec.precision is not None:  # Go: a precision turns the 0 flag off
        spec.flags = spec.flags.replace("0", "")
    return _pad(head + digits, spec, len(head))


def _float(verb: str, spec: _Spec, value: float) -> str | None:
    if verb not in "veEfFgGxX":
        return None
    sign = _sign(value < 0 or str(value).startswith("-"), spec)
    magnitude = abs(value)
    if magnitude != magnitude or magnitude == float("inf"):
        text = "NaN" if magnitude != magnitude else "Inf"
        sign = "+" if text == "Inf" and not sign else sign
        return _pad(sign + text, spec)  # Go pads these with spaces, never zeros
    precision = spec.precision
    if verb in "xX":
        text = _hex_float(magnitude)
        text = text.upper() if verb == "X" else text
    elif verb in "vgG" and precision is None:
        text = go_float(magnitude)
        text = text.upper() if verb == "G" else text
    else:
        python = {"v": "g", "F": "f"}.get(verb, verb)
        default = 6 if verb in "eEfF" else None
        text = format(magnitude, f".{precision if precision is not None else default}{python}")
    return _pad(sign + text, spec, len(sign))


def _hex_float(value: float) -> str:
    """Go's ``%x`` of a float, ``0x1.8p+01``: the fewest hex digits (a precision is not taken)."""
    mantissa, exponent = float.hex(value).split("p")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}p{int(exponent):+03d}"


def _string(verb: str, spec: _Spec, value: str) -> str | None:
    if spec.precision is not None:
        value = value[: spec.precision]  # Go cuts runes
    if verb == "s" or (verb == "v" and "#" not in spec.flags):
        return value
    if verb == "v":  # %#v: Go's syntax, the string quoted
        return quote(value, '"')
    if verb == "q":
        return quote(value, '"', spec)
    if verb in "xX":
        data = value.encode()
        prefix = ("0x" if verb == "x" else "0X") if "#" in spec.flags else ""
        form = "x" if verb == "x" else "X"
        if " " in spec.flags:
            return " ".join(prefix + format(byte, f"02{form}") for byte in data)
        return prefix + data.hex() if form == "x" else prefix + data.hex().upper()
    return None


def quote(text: str, mark: str, spec: _Spec | None = None) -> str:
    """Go's strconv.Quote (``mark`` ``'`` : QuoteRune): printable characters as they are (with
    ``+``, ASCII ones only), the others escaped; ``#`` and a string that can be: backquoted."""
    flags = spec.flags if spec is not None else ""
    if (
        mark == '"'
        and "#" in flags
        and "`" not in text
        and "\ufeff" not in text
        and all(char == "\t" or char.isprintable() or ord(char) >= 0x80 for char in text)
    ):
        return f"`{text}`"
    out = [mark]
    for char in text:
        code = ord(char)
        if char in (mark, "\\"):
            out.append("\\" + char)
        elif char in _NAMED:
            out.append(_NAMED[char])
        elif char.isprintable() and (code < 0x80 or "+" not in flags):
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(mark)
    return "".join(out)
