"""RFC 3339 timestamps with nanoseconds and a UTC offset, as in the seed's checkpoint listing.

Timestamps are kept as integer nanoseconds since the epoch, so that ordering and ``?since=``
comparisons are exact, and are formatted only at the edge. Where a client names a moment
(``since``, ``until``) it may also give a duration back from now, as docker does: ``10m``.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from .errors import quoted

#: A duration: whole numbers of days, hours, minutes and seconds, largest or not first, each
#: unit at most once (:func:`parse_time` refuses 1d1d: one of the two is a slip, which cannot
#: be told).
DURATION_PATTERN = r"^([0-9]{1,12}[dhms])+$"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+)([dhms])")
#: The same as JSON Schema, for the OpenAPI document: the pattern, and no unit twice. (Within
#: the pattern only digits come between two units: "d.*d" is a d given twice. No lookahead:
#: not every engine that reads JSON Schema has it.)
DURATION_SCHEMA = {
    "pattern": DURATION_PATTERN,
    "not": {"anyOf": [{"pattern": f"{unit}.*{unit}"} for unit in "dhms"]},
}
#: ctr-trio's durations, docker's (Go's): numbers with fractions, each with its unit, ns to h
#: (and d, as the daemon's): 90s, 1h30m, 1.5h, 250ms. It turns them into times for the daemon.
_CLIENT_DURATION_PART = r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|ms|s|m|h|d)"
_CLIENT_DURATION = re.compile(f"(?:{_CLIENT_DURATION_PART})+")
_UNIT_NS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}

#: The first and last moments a timestamp can name, 0001-01-01T00:00:00Z and
#: 9999-12-31T23:59:59.999999999Z: a moment a client names beyond them means the same (from the
#: beginning, to the end). A duration's numbers have at most 12 digits each, but 999999999999d
#: alone is a few billion years, beyond what a time can be written as; and an offset can carry
#: a year-9999 time into year 10000, which the logs, comparing written times, would misplace.
EARLIEST_NS = -62_135_596_800 * 10**9
LATEST_NS = 253_402_300_800 * 10**9 - 1

#: 400 Gregorian years, 146097 days: the calendar's cycle, after which every date falls on
#: the same day of the week and every year is as leap as the one 400 before.
_GREGORIAN_CYCLE_SECONDS = 146_097 * 86_400

#: RFC 3339's fraction of a second has any number of digits (``time-secfrac = "." 1*DIGIT``);
#: those past the ninth, below a nanosecond, are dropped. Its DIGIT is ASCII: Python's \d also
#: matches other scripts' digits, which int() reads. Matched whole (fullmatch): "$" alone also
#: matches before a final newline.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def now_ns() -> int:
    return time.time_ns()


def boot_ns() -> int:
    """Nanoseconds since the boot (``CLOCK_BOOTTIME``): one clock for every process of a
    boot, which no change of the time of day moves (a deadline a dead server recorded)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def format_ns(ns: int) -> str:
    """``2026-11-28T15:09:14.915868934+00:00``: always nine fraction digits, always an offset."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    # Not strftime's %Y: glibc does not pad a year below 1000 to four digits.
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        f"{t.tm_sec:02d}.{fraction:09d}+00:00"
    )


def parse_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp into nanoseconds since the epoch.

    Raises ValueError with a message that says what form is expected.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{quoted(text)} is not an RFC 3339 timestamp such as"
            " 2026-11-28T15:09:14.915868934+00:00"
        )
    return _moment_ns(text, *match.groups())


def _moment_ns(
    text: str, date: str, hours: str, minutes: str, seconds: str, fraction: str | None, offset: str
) -> int:
    """The moment of a timestamp's parts (:data:`_RFC3339`'s), in nanoseconds since the epoch;
    ValueError naming ``text``, what was written, and its bad part."""
    # RFC 3339's years start at 0000 (Go's parser, docker's, takes it); datetime's at 1. The
    # Gregorian calendar repeats every 400 years, to the day (year 0 a leap year as 400 is):
    # year 0 is read as 400, then moved back 400 years. An offset may carry it into year 1.
    shift = 0
    if date.startswith("0000-"):
        date, shift = "0400" + date[4:], _GREGORIAN_CYCLE_SECONDS
    try:
        base = datetime.fromisoformat(f"{date}T{hours}:{minutes}:{seconds}")
    except ValueError as exc:
        raise ValueError(f"{quoted(text)} is not a valid date and time: {exc}") from None
    if offset in ("Z", "z"):
        delta = timedelta(0)
    else:
        off_hours, off_minutes = int(offset[1:3]), int(offset[4:6])
        # RFC 3339's offset: hours 00-23, minutes 00-59. "+00:99" would be read as +01:39,
        # and "+99:00" was refused in datetime's words (a timedelta's repr).
        if off_hours > 23 or off_minutes > 59:
            raise ValueError(
                f"{quoted(text)} is not a valid date and time: its UTC offset {offset} is not"
                " one (hours 00 to 23, minutes 00 to 59)"
            )
        sign = 1 if offset[0] == "+" else -1
        delta = sign * timedelta(hours=off_hours, minutes=off_minutes)
    moment = base.replace(tzinfo=timezone(delta))
    whole = int(moment.timestamp()) - shift
    return whole * 1_000_000_000 + _nanos(fraction)


def _nanos(fraction: str | None) -> int:
    """A fraction of a second's digits (after its point) in nanoseconds: those past the
    ninth dropped, as below a nanosecond."""
    return int((fraction or "0")[:9].ljust(9, "0"))


def parse_time(text: str, *, now: int | None = None) -> int:
    """A moment a client names, in nanoseconds since the epoch: an RFC 3339 timestamp, or a
    duration back from ``now`` (the present by default): ``90s``, ``10m``, ``1h30m``, ``2d``.

    Raises ValueError with a message that says which forms are taken.
    """
    if _DURATION.fullmatch(text):  # not before a final newline, as $ would
        parts = _DURATION_PART.findall(text)
        given: set[str] = set()
        for _, unit in parts:
            if unit in given:
                raise ValueError(
                    f"{quoted(text)} is a duration with {unit} twice: give each of d, h, m and s"
                    " at most once, as in 1h30m"
                )
            given.add(unit)
        back = sum(int(n) * _UNIT_NS[unit] for n, unit in parts)
        return back_from_now(back, now=now)
    if _RFC3339.fullmatch(text):
        # The shape of a timestamp: its error names the bad part.
        return min(max(parse_ns(text), EARLIEST_NS), LATEST_NS)
    raise ValueError(
        f"{quoted(text)} is not an RFC 3339 timestamp such as 2026-11-28T15:09:14+00:00,"
        " nor a duration back from now such as 90s, 10m, 1h30m or 2d"
    )


def back_from_now(back_ns: int, *, now: int | None = None) -> int:
    """The moment ``back_ns`` before ``now`` (the present by default); one before year 1 is
    the beginning."""
    return max((now_ns() if now is None else now) - back_ns, EARLIEST_NS)


#: docker's Unix time: seconds since the epoch, with a fraction (``1700000000.5``).
_UNIX_TIME = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
#: docker's shorter timestamps: a date, then optionally its hour, minutes, seconds and a
#: fraction, then optionally an offset; without an offset, a time of the client's own zone.
_SHORT_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[Tt]([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def client_moment(text: str) -> str:
    """A ``--since``/``--until`` of ctr-trio as the daemon is sent it: a duration (docker's, as
    :func:`client_duration_ns` reads it) as the RFC 3339 time it names, back from now; an RFC
    3339 timestamp as typed, once :func:`parse_ns`, the daemon's reading of it, took it; and
    the other forms docker's client takes, as the RFC 3339 time they name: a Unix time
    (``1700000000``, ``1700000000.5``; ``0`` is the epoch, not a duration) and a shorter
    timestamp (``2026-11-28``, ``2026-11-28T15``, ``2026-11-28T15:09``, ``2026-11-28T15:09:14``,
    in the client's time zone unless an offset follows).

    Raises ValueError naming ctr-trio's forms: a wider set than the daemon's, whose durations
    are whole ``d``, ``h``, ``m`` and ``s``, all of which :func:`client_duration_ns` reads too.
    """
    back = client_duration_ns(text)
    if back is not None:
        return format_ns(back_from_now(back))
    if _RFC3339.fullmatch(text):
        parse_ns(text)  # the shape of a timestamp: its error names the bad part
        return text
    if unix := _UNIX_TIME.fullmatch(text):
        seconds, fraction = unix.groups()
        ns = int(seconds) * 1_000_000_000 + _nanos(fraction)
        return format_ns(min(ns, LATEST_NS))
    if short := _SHORT_TIME.fullmatch(text):
        return format_ns(_short_time_ns(text, *short.groups()))
    raise ValueError(
        f"{quoted(text)} is not an RFC 3339 timestamp such as 2026-11-28T15:09:14+00:00"
        " (or a part of one from its date on: 2026-11-28, 2026-11-28T15:09),"
        " nor a Unix time such as 1700000000.5,"
        " nor a duration back from now such as 90s, 10m, 1h30m, 1.5h, 250ms or 2d"
        " (units ns, us, ms, s, m, h, d)"
    )


def _short_time_ns(
    text: str,
    date: str,
    hours: str | None,
    minutes: str | None,
    seconds: str | None,
    fraction: str | None,
    offset: str | None,
) -> int:
    """A shorter timestamp (:data:`_SHORT_TIME`'s parts) in nanoseconds: with an offset, as
    the daemon reads a whole one (its errors name the bad part); without, that time in the
    client's time zone, as docker's client reads it."""
    hours, minutes, seconds = hours or "00", minutes or "00", seconds or "00"
    if offset is not None:
        return _moment_ns(text, date, hours, minutes, seconds, fraction, offset)
    try:
        local = datetime.fromisoformat(f"{date}T{hours}:{minutes}:{seconds}").astimezone()
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{quoted(text)} is not a valid date and time: {exc}") from None
    return int(local.timestamp()) * 1_000_000_000 + _nanos(fraction)


def client_duration_ns(text: str) -> int | None:
    """A duration as ctr-trio takes it (docker's: ``1.5h``, ``250ms``, ``1h30m``), in
    nanoseconds; None if ``text`` is not one."""
    if _CLIENT_DURATION.fullmatch(text) is None:
        return None
    from decimal import Decimal  # exact fractions (0.1h), for the CLI only

    parts = re.findall(_CLIENT_DURATION_PART, text)
    return sum(int(Decimal(number) * _UNIT_NS[unit]) for number, unit in parts)
