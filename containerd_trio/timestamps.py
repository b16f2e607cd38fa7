"""RFC 3339 timestamps with nanoseconds and a UTC offset, as in the seed's checkpoint listing.

Timestamps are kept as integer nanoseconds since the epoch, so that ordering and ``?since=``
comparisons are exact, and are formatted only at the edge.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def now_ns() -> int:
    return time.time_ns()


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
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an RFC 3339 timestamp such as 2026-11-28T15:09:14.915868934+00:00"
        )
    date, hours, minutes, seconds, fraction, offset = match.groups()
    try:
        base = datetime.fromisoformat(f"{date}T{hours}:{minutes}:{seconds}")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time: {exc}") from None
    if offset in ("Z", "z"):
        delta = timedelta(0)
    else:
        sign = 1 if offset[0] == "+" else -1
        delta = sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    moment = base.replace(tzinfo=timezone(delta))
    whole = int(moment.timestamp())
    nanos = int((fraction or "0").ljust(9, "0"))
    return whole * 1_000_000_000 + nanos


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_NS = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6}


def parse_duration_ns(text: str) -> int:
    """A duration as Go and docker write them (``90s``, ``10m``, ``1h30m``, ``1.5h``, ``250ms``),
    in nanoseconds. Raises ValueError."""
    position, total = 0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += int(float(match.group(1)) * _UNIT_NS[match.group(2)])
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"{text!r} is not a duration such as 90s, 10m or 1h30m")
    return total


def parse_moment_ns(text: str, now_ns: int | None = None) -> int:
    """An RFC 3339 timestamp, or a duration back from ``now_ns`` (``10m``: ten minutes ago), in
    nanoseconds since the epoch. Raises ValueError naming both forms."""
    try:
        return parse_ns(text)
    except ValueError:
        pass
    try:
        return (time.time_ns() if now_ns is None else now_ns) - parse_duration_ns(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an RFC 3339 timestamp (2026-11-28T15:09:14Z) nor a duration"
            " back from now (90s, 10m, 1h30m)"
        ) from None
