"""Numbers written as text, read one way wherever a client writes one: a whole number in a
query parameter (``tail=5``), a signal given as a string (``"9"``), a real-time signal's offset
(``RTMIN+3``), a ctr-trio option (``-u 1000``); a decimal in a query or an option (``--cpus
1.5``).

``int()`` takes more than a client means: white space around the digits (`` 9``), ``_`` between
them (``1_0``), other scripts' digits (``"\\u0669"``, an Arabic-Indic 9); and it reads thousands
of digits slowly (and refuses past 4300). A whole number here is an optional sign and at most
:data:`MAX_DIGITS` ASCII digits, leading zeros allowed, and nothing else.

Imports nothing of the daemon: ctr-trio checks its signals with :mod:`.signals`, which reads
numbers here.
"""

from __future__ import annotations

import re

from .errors import quoted

#: The most digits of a whole number, in a body's JSON as in text: 20 hold any 64-bit number,
#: more than any field takes. (Python converts no more than 4300, and the conversion's cost
#: grows with the square.)
MAX_DIGITS = 20
#: A whole number's shape, of any length (JSON Schema's pattern; ASCII digits only).
WHOLE_NUMBER_PATTERN = "[+-]?[0-9]+"
_WHOLE_NUMBER = re.compile(WHOLE_NUMBER_PATTERN)


class TooManyDigits(ValueError):
    """A whole number of more than :data:`MAX_DIGITS` digits: out of any range."""


def whole_number(text: str) -> int:
    """The whole number ``text`` writes. ValueError (:class:`TooManyDigits` for one longer than
    :data:`MAX_DIGITS`) in words that follow a field's name: ``must be a whole number, ...``."""
    if _WHOLE_NUMBER.fullmatch(text) is None:  # fullmatch: "$" also matches before a "\n"
        raise ValueError(f"must be a whole number, not {quoted(text)}")
    if len(text) - (text[0] in "+-") > MAX_DIGITS:
        raise TooManyDigits(
            f"must be a whole number of at most {MAX_DIGITS} digits, not {quoted(text)}"
        )
    return int(text)


#: A number as JSON writes it (a sign, a point, an exponent), in ASCII digits: float() alone
#: also takes "1_0", " 1 ", "nan" and other scripts' digits (U+0661, an Arabic-Indic 1).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def number(text: str) -> float:
    """The number ``text`` writes. ValueError in words that follow a field's name: ``must be a
    number, ...``."""
    if _NUMBER.fullmatch(text) is None:  # fullmatch: "$" also matches before a "\n"
        raise ValueError(f"must be a number, not {quoted(text)}")
    return float(text)
