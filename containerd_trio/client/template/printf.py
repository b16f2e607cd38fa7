"""``printf``: Go's fmt.Sprintf on a template's values (:mod:`.values`), the verbs one writes.

Flags ``+ - # 0`` and space, widths and precisions (``*`` takes them from the arguments),
argument indexes (``%[2]d``, ``%[1]*d``: ``%!d(BADINDEX)`` for none), and
the verbs ``%v %s %q %d %t %x %X %o %O %b %c %U %e %E %f %F %g %G %T %%``. A verb that does
not fit its value prints Go's ``%!d(string=web)``; an argument missing ``%!d(MISSING)``; one
too many ``%!(EXTRA int=3)``. Objects and lists are their compact JSON to ``%v`` and ``%s``
(as ``{{.labels}}`` prints them), and Go's ``%!d(...)`` to the other verbs, where Go formats
each element; a missing key and a JSON null are Go's nil (``<nil>``, ``%!s(<nil>)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from .jsonout import compact
from .values import formatted, go_float, go_type, is_nil

_FLAGS: Final = "+-# 0"
#: Go's: a width or a precision past a million is none (%!(BADWIDTH) from *).
_LARGEST: Final = 1_000_000
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
    """Go's fmt.Sprintf, as its doPrintf reads a format: flags, an argument index ``[n]``,
    a width (``*``: from an argument), a precision, an index again, the verb."""
    out: list[str] = []
    used = 0  # the next argument, Go's argNum
    reordered = False  # an index was written: Go reports no EXTRA then
    at = 0
    while (percent := form.find("%", at)) >= 0:
        out.append(form[at:percent])
        at = percent + 1
        spec = _Spec()
        while at < len(form) and form[at] in _FLAGS:
            spec.flags += form[at]
            at += 1
        reordered |= form[at : at + 1] == "["
        used, at, indexed, good = _index(form, at, used, len(args))
        if form[at : at + 1] == "*":
            spec.width, used = _from_arg(args, used, out, "WIDTH")
            if spec.width is not None and spec.width < 0:  # Go's: -N from * is - and N
                spec.flags, spec.width = spec.flags + "-", -spec.width
            at, indexed = at + 1, False
        else:
            spec.width, at = _digits(form, at)
            good &= not (indexed and spec.width is not None)  # "%[3]2d"
        if form[at : at + 1] == "." and at + 1 < len(form):  # Go's: "%5." ends in verb "."
            good &= not indexed  # "%[3].2d"
            reordered |= form[at + 1 : at + 2] == "["
            used, at, indexed, fine = _index(form, at + 1, used, len(args))
            good &= fine
            if form[at : at + 1] == "*":
                precision, used = _from_arg(args, used, out, "PREC")
                at, indexed = at + 1, False
                if precision is not None and precision < 0:  # Go's: none, and says so
                    precision = None
                    out.append("%!(BADPREC)")
                spec.precision = precision
            else:
                precision, at = _digits(form, at)
                spec.precision = 0 if precision is None else precision  # "%.f": 0
        if not indexed:
            reordered |= form[at : at + 1] == "["
            used, at, indexed, fine = _index(form, at, used, len(args))
            good &= fine
        if at >= len(form):
            out.append("%!(NOVERB)")
            break
        verb = form[at]
        at += 1
        if verb == "%":  # takes no argument, and ignores a bad index
            out.append("%")
        elif not good:
            out.append(f"%!{verb}(BADINDEX)")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_one(verb, spec, args[used]))
            used += 1
    else:
        out.append(form[at:])
    if used < len(args) and not reordered:
        extra = ", ".join(
            "<nil>" if is_nil(arg) else f"{go_type(arg)}={formatted(arg)}" for arg in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _index(form: str, at: int, used: int, count: int) -> tuple[int, int, bool, bool]:
    """An explicit argument index ``[n]`` at ``at`` (Go's argNumber): the argument it names
    (or ``used`` still), where the directive goes on, whether one was read, and whether it
    names an argument (``%!d(BADINDEX)`` if not)."""
    if form[at : at + 1] != "[":
        return used, at, False, True
    close = form.find("]", at + 1)
    if close < 0 or len(form) - at < 3:  # Go's: the [ alone is taken ("%[]" ends in "]")
        return used, at + 1, False, False
    index = 0
    for digit in form[at + 1 : close]:  # Go's parsenum: ASCII digits, none past a million
        if digit not in "0123456789" or index > _LARGEST:
            return used, close + 1, False, False
        index = index * 10 + int(digit)
    index -= 1  # written from 1
    if close > at + 1 and 0 <= index < count:
        return index, close + 1, True, True
    return used, close + 1, close > at + 1, False


def _from_arg(args: Sequence[Any], used: int, out: list[str], what: str) -> tuple[int | None, int]:
    """A width or a precision ``*`` takes (Go's intFromArg): the argument, a whole number (or
    Go's ``%!(BADWIDTH)``), and the next one (this one again if there was none)."""
    if used >= len(args):
        out.append(f"%!(BAD{what})")
        return None, used
    size = args[used]
    if isinstance(size, int) and not isinstance(size, bool) and abs(size) <= _LARGEST:
        return size, used + 1
    out.append(f"%!(BAD{what})")
    return None, used + 1


def _digits(form: str, at: int) -> tuple[int | None, int]:
    """A width or a precision written in digits at ``at``, or none; where the directive goes
    on."""
    start = at
    while at < len(form) and form[at] in "0123456789":
        at += 1
    size = int(form[start:at]) if at > start else None
    return (size if size is not None and size <= _LARGEST else None), at


def _one(verb: str, spec: _Spec, arg: Any) -> str:
    if verb == "v":
        # Go's: with %v, + and # ask for a struct's field names and Go's syntax (%#v: a string
        # quoted), not a sign or a prefix.
        sharp = "#" in spec.flags
        spec.flags = spec.flags.replace("+", "").replace("#", "")
        if sharp and isinstance(arg, str):
            return _pad(quote(arg[: spec.precision], '"'), spec)
    return _formatted(verb, spec, arg)


def _formatted(verb: str, spec: _Spec, arg: Any) -> str:
    text: str | None = None
    if verb == "T":  # nil's <nil> is not cut by a precision, a type's name is
        return _pad("<nil>" if is_nil(arg) else go_type(arg)[: spec.precision], spec)
    if is_nil(arg):
        text = "<nil>" if verb == "v" else None
    elif isinstance(arg, bool):
        text = ("true" if arg else "false") if verb in "tv" else None
    elif isinstance(arg, int):
        text = _integer(verb, spec, arg)
        return _bad(verb, spec, arg) if text is None else text
    elif isinstance(arg, float):
        text = _float(verb, spec, arg)
        return _bad(verb, spec, arg) if text is None else text
    elif isinstance(arg, str):
        text = _string(verb, spec, arg)
    elif verb in "vs":
        text = compact(arg)
    return _bad(verb, spec, arg) if text is None else _pad(text, spec)


def _bad(verb: str, spec: _Spec, arg: Any) -> str:
    """Go's ``%!d(string=web)``: the value as ``%v`` with the directive's flags and width."""
    if is_nil(arg):
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={_formatted('v', spec, arg)})"


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
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad(quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", "'", spec), spec)
    if verb == "U":
        return _unicode(value, spec)
    bases = {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}
    if verb not in bases:
        return None
    if spec.precision == 0 and value == 0:
        return _pad("", _spaced(spec))  # Go's: no digit, no sign, no prefix
    digits = format(abs(value), bases[verb])
    sign = _sign(value < 0, spec)
    if spec.precision is not None:
        digits = digits.zfill(spec.precision)
    elif "0" in spec.flags and "-" not in spec.flags and spec.width is not None:
        # Go's: the 0 flag pads the digits to the width (less a sign), a prefix comes on top
        # (%#05x is 0x0002a). A precision turns it off: spaces.
        digits = digits.zfill(spec.width - len(sign))
    prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb, "") if "#" in spec.flags else ""
    if verb == "O":
        prefix = "0o"
    if prefix == "0" and digits.startswith("0"):
        prefix = ""
    return _pad(sign + prefix + digits, _spaced(spec))


def _unicode(value: int, spec: _Spec) -> str:
    """Go's ``%U``: ``U+0041``, of the value as a uint64; with ``#``, ``U+0041 'A'``."""
    value &= (1 << 64) - 1
    text = f"U+{value:0{max(4, spec.precision or 0)}X}"
    if "#" in spec.flags and value <= 0x10FFFF and chr(value).isprintable():
        text += f" '{chr(value)}'"
    return _pad(text, _spaced(spec))


def _spaced(spec: _Spec) -> _Spec:
    """``spec`` padding with spaces only (its zeros taken already, or not to be)."""
    spaced = _Spec()
    spaced.flags, spaced.width = spec.flags.replace("0", ""), spec.width
    return spaced


def _float(verb: str, spec: _Spec, value: float) -> str | None:
    if verb not in "beEfFgGvxX":
        return None
    sign = _sign(value < 0 or str(value).startswith("-"), spec)
    magnitude = abs(value)
    if magnitude != magnitude or magnitude == float("inf"):
        text = "NaN" if magnitude != magnitude else "Inf"
        sign = "+" if text == "Inf" and not sign else sign
        return _pad(sign + text, _spaced(spec))  # Go pads these with spaces, never zeros
    precision = spec.precision
    if verb == "b":
        mantissa, exponent = math.frexp(magnitude)
        text = f"{int(mantissa * 2**53)}p{exponent - 53:+d}" if magnitude else "0p-1074"
    elif verb in "xX":
        text = _hex_float(magnitude, precision)
    elif verb in "vgG" and precision is None:
        text = go_float(magnitude)
    else:
        python = {"v": "g", "F": "f", "G": "g", "E": "e"}.get(verb, verb)
        text = format(magnitude, f".{6 if precision is None else precision}{python}")
    if "#" in spec.flags and verb != "b":
        text = _alternate(text, verb, precision)
    text = text.upper() if verb in "XGE" else text
    return _pad(sign + text, spec, len(sign))


def _alternate(number: str, verb: str, precision: int | None) -> str:
    """Go's ``#`` on a float (fmt's fmtFloat): a point always, and for ``%g``, ``%v`` and
    ``%x`` (not ``%X``) trailing zeros up to the precision's digits (6 without one)."""
    digits = (6 if precision is None else precision) if verb in "vgGx" else 0  # not X: Go's
    mark = "p" if verb in "xX" else "e"
    number, tail = (
        (number.split(mark, 1)[0], mark + number.split(mark, 1)[1])
        if mark in number
        else (number, "")
    )
    seen = False  # digits count from the first that is not 0
    for char in number:
        if char == ".":
            continue
        seen = seen or char != "0"
        digits -= seen
    if "." not in number:
        digits -= number == "0"
        number += "."
    return number + "0" * max(digits, 0) + tail


def _hex_float(value: float, precision: int | None) -> str:
    """Go's ``%x`` of a float: ``0x1.8p+01``, the fewest hex digits or ``precision`` of them
    (rounded half to even, as Go rounds)."""
    if value == 0:
        return "0x0" + ("." + "0" * precision if precision else "") + "p+00"
    mantissa, exponent = float.hex(value).split("p")
    lead, power = int(mantissa[2]), int(exponent)
    fraction = mantissa.partition(".")[2].ljust(13, "0")  # 52 bits
    if precision is None:
        digits = fraction.rstrip("0")
    elif precision >= 13:
        digits = fraction.ljust(precision, "0")
    else:
        shift = 4 * (13 - precision)
        kept, rest = divmod(int(fraction, 16), 1 << shift)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and kept & 1):
            kept += 1
        if kept == 16**precision:  # 0x1.ff rounded up: 0x2, which is 0x1 of the next power
            kept, power = 0, power + 1
        digits = format(kept, f"0{precision}x") if precision else ""
    return f"0x{lead}{'.' + digits if digits else ''}p{power:+03d}"


def _string(verb: str, spec: _Spec, value: str) -> str | None:
    if verb in "xX":  # a precision counts the bytes encoded
        return _hex_bytes(value.encode()[: spec.precision], verb, spec)
    if spec.precision is not None:
        value = value[: spec.precision]  # Go cuts runes
    if verb in "sv":  # %#v is _one's
        return value
    if verb == "q":
        return quote(value, '"', spec)
    return None


def _hex_bytes(data: bytes, verb: str, spec: _Spec) -> str:
    if not data:
        return ""  # Go's: no 0x before nothing
    prefix = ("0x" if verb == "x" else "0X") if "#" in spec.flags else ""
    form = "02x" if verb == "x" else "02X"
    if " " in spec.flags:
        return " ".join(prefix + format(byte, form) for byte in data)
    return prefix + "".join(format(byte, form) for byte in data)


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
