"""Signals as people write them: ``9``, ``KILL``, ``sigkill``, and the real-time ones as
kill(1), runc and docker name them, ``RTMIN+3``, ``SIGRTMAX-2``.

One reading for the daemon and for ``ctr-trio``: the CLI checks ``kill -s`` with it (a usage
error before any request) and offers its names to shell completion, so it imports nothing of the
daemon. :func:`containerd_trio.validation.parse_signal` takes JSON's numbers on top of it.
"""

from __future__ import annotations

import re
import signal

from .errors import InvalidRequest, quoted
from .numbers import MAX_DIGITS, TooManyDigits, whole_number

#: Signals go by number up to here (the realtime ones included) or by name.
MAX_SIGNAL = 64
#: docker's StopTimeout, the grace from a stop's signal to its SIGKILL, for the daemon and
#: ``ctr-trio`` alike: when a stop and its container name none (docker's default), and the
#: most one may say (docker's is a Go int: its 32 bits' largest); -1 is none (no SIGKILL).
DEFAULT_STOP_TIMEOUT = 10
MAX_STOP_TIMEOUT = 2**31 - 1
#: Names runc and kill(1) accept, with or without the SIG prefix, in the order of their numbers.
SIGNAL_NAMES = tuple(
    sig.name
    for sig in sorted(signal.Signals, key=int)
    if sig.name.startswith("SIG") and not sig.name.startswith("SIGRT")
)
#: The other names of three of them, which docker takes too (``docker kill -s IOT``): SIGIOT
#: (SIGABRT), SIGCLD (SIGCHLD), SIGPOLL (SIGIO). Taken, not listed: ``kill -l`` lists none of
#: them, and runc is given the number.
SIGNAL_ALIASES = tuple(name for name, sig in signal.Signals.__members__.items() if name != sig.name)
_SIGNALS_BY_NAME = {name: int(signal.Signals[name]) for name in (*SIGNAL_NAMES, *SIGNAL_ALIASES)}

#: The real-time signals as glibc numbers them, and so kill(1) and docker: 34..64 (the kernel's
#: 32 and 33 are the C library's own). Each has a name from either end: SIGRTMIN+N, SIGRTMAX-N.
RTMIN, RTMAX = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
#: Their names as ``kill -l`` lists them: SIGRTMIN to SIGRTMIN+15, then SIGRTMAX-14 to SIGRTMAX.
REALTIME_NAMES = (
    "SIGRTMIN",
    *(f"SIGRTMIN+{n}" for n in range(1, (RTMAX - RTMIN) // 2 + 1)),
    *(f"SIGRTMAX-{n}" for n in reversed(range(1, (RTMAX - RTMIN + 1) // 2))),
    "SIGRTMAX",
)
#: Every name ``kill -l`` lists, in the order of their numbers.
LISTED_NAMES = (*SIGNAL_NAMES, *REALTIME_NAMES)
_REALTIME = re.compile(r"SIGRTM(?:IN(\+[0-9]+)?|AX(-[0-9]+)?)")
_SPACE = re.compile(r"\s")


def _any_case(word: str) -> str:
    """``word`` (letters and digits) as a pattern of it in either case: JSON Schema's (ECMA
    262) patterns have no flag for it."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _whole(lowest: int, largest: int) -> str:
    """A pattern of the whole numbers ``lowest`` (0 or 1) to ``largest`` (10..99) as
    :func:`whole_number` reads them, without their sign: leading zeros allowed, at most
    MAX_DIGITS digits in all. (No lookahead: not every engine that reads JSON Schema has it.)"""
    tens, ones = divmod(largest, 10)
    forms = [f"0{{0,{MAX_DIGITS - 1}}}[{lowest}-9]"]
    if tens > 1:
        forms.append(f"0{{0,{MAX_DIGITS - 2}}}[1-{tens - 1}][0-9]")
    forms.append(f"0{{0,{MAX_DIGITS - 2}}}{tens}[0-{ones}]")
    return "(?:" + "|".join(forms) + ")"


#: The strings :func:`signal_number` takes, as one JSON Schema pattern for the OpenAPI
#: document (a test holds the two to the same answers): a number 1..64 with an optional "+",
#: a listed name or an alias with or without SIG in any case, RTMIN+N and RTMAX-N for N 0..30.
SIGNAL_PATTERN = (
    rf"^(?:\+?{_whole(1, MAX_SIGNAL)}|(?:{_any_case('SIG')})?(?:"
    + "|".join(_any_case(name.removeprefix("SIG")) for name in _SIGNALS_BY_NAME)
    + f"|{_any_case('RTMIN')}(?:\\+{_whole(0, RTMAX - RTMIN)})?"
    + f"|{_any_case('RTMAX')}(?:-{_whole(0, RTMAX - RTMIN)})?))$"
)


def signal_number(text: str) -> int:
    """The signal ``text`` names: a number 1..64 (a whole number as
    :func:`.numbers.whole_number` reads one: ``"9"``, ``"09"``, ``"+9"``), or a name with or
    without SIG, in any case. InvalidRequest, naming what was written, for anything else."""
    # Refused, not stripped: {"signal": " 9"} was SIGKILL, where docker refuses kill -s " 9",
    # and ctr-trio printed "sent  9 to web", the spaces kept.
    if _SPACE.search(text):
        raise InvalidRequest(
            f"signal {quoted(text)} holds white space: give a number 1..{MAX_SIGNAL} or a name"
            " alone"
        )
    number: int | None
    try:
        number = whole_number(text)
    except TooManyDigits:
        number = 0  # out of range, however many digits
    except ValueError:
        number = None  # a name, or nothing
    if number is not None:
        if not 1 <= number <= MAX_SIGNAL:
            raise InvalidRequest(
                f"signal {quoted(text)} is out of range: it must be 1..{MAX_SIGNAL}"
            )
        return number
    if not text.isascii():
        # upper() makes "\u017f" (a long s) an S and "\u0131" (a dotless i) an I: "\u017figkill"
        # was SIGKILL. A name is its ASCII letters, in either case, as kill(1) takes it.
        raise _unknown(text)
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name in _SIGNALS_BY_NAME:
        return _SIGNALS_BY_NAME[name]
    realtime = _REALTIME.fullmatch(name)
    if realtime is None:
        raise _unknown(text)
    # The offset with its sign: +N from RTMIN, -N from RTMAX; a whole number as any other.
    offset = realtime.group(1) or realtime.group(2) or "0"
    end = RTMIN if name.startswith("SIGRTMIN") else RTMAX
    try:
        number = end + whole_number(offset)
    except TooManyDigits:
        number = 0
    if not RTMIN <= number <= RTMAX:
        raise InvalidRequest(
            f"signal {quoted(text)} is out of range: the real-time signals are RTMIN+N and"
            f" RTMAX-N for N 0..{RTMAX - RTMIN} (signals {RTMIN}..{RTMAX})"
        )
    return number


def signal_name(number: int) -> str:
    """The name ``kill -l`` lists for signal ``number`` (1..64), as :func:`signal_number` reads
    it back: ``SIGQUIT``, ``SIGRTMIN+3``; the number itself for the two that have none (32 and
    33, the C library's own)."""
    if RTMIN <= number <= RTMAX:
        return REALTIME_NAMES[number - RTMIN]
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _unknown(text: str) -> InvalidRequest:
    return InvalidRequest(f"unknown signal {quoted(text)}: use a number 1..{MAX_SIGNAL} or a name")
