"""A log's records read in runs: consecutive records of one stream and one stamp at once.

An attach sends the bytes of each record of its process (:mod:`containerd_trio.attach`). One
``json.loads`` per record managed 120k-250k records a second here, where the logger writes up
to about 1M (``yes``: a record per 2-byte line, thousands of them per read, all stamped
alike): a session of a process that writes fast fell behind its output by its own slowness.

The logger writes every record in one shape (:mod:`containerd_trio.logfile`)::

    {"stream":"stdout","pid":1234,"timestamp":"...","data":"y\\n"}

so the records of one read share their bytes up to ``"data":"`` (the run's *head*), and their
data strings, JSON string bodies, joined are the body of their data joined: a run is matched
in one regular expression (which checks each of its records has that exact shape: a head the
same as the first's, a string body, ``"}``), cut in one ``split`` and decoded in one
``json.loads``. A record of any other shape (``raw``: bytes that are not UTF-8; one written by
something else) is decoded alone, as before (:func:`~containerd_trio.logbytes.record_bytes`);
so is a run whose joined body does not decode (an escape that is no JSON one): the record that
is wrong is left out, the others kept, as one by one.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections.abc import Iterator
from operator import itemgetter

import attrs

from .logbytes import record_bytes
from .logfile import STREAMS, record_prefix

# A string body: no quote, backslash or newline but in an escape (a newline is never in a
# record: a line is one record).
_BODY = rb'[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"\}\n'
#: A run: the first record's head (group 1, with its stream, pid and stamp), then each record that
#: begins with the same head (the backreference).
_RUN = re.compile(
    rb'(\{"stream":"([a-z]+)","pid":([0-9]+),"timestamp":"([0-9T:.+-]+)","data":")'
    + _BODY
    + rb"(?:\1"
    + _BODY
    + rb")*"
)
_RAW = b'","raw":"'
#: Where one record of a run ends and the next one's head begins.
_END = b'"}\n'
#: A surrogate's escape: joined, two records' halves would make a character that neither is
#: (one by one each is no UTF-8, and left out). The logger never writes one.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


@attrs.frozen
class Run:
    """Consecutive records of one stream stamped alike, and their bytes (:meth:`pieces`)."""

    stream: str
    stamp: str
    #: Each record's data, as its JSON string body (escaped) after ``head``; or, for a record
    #: not of the logger's plain shape, its bytes, decoded already (``head`` None).
    bodies: list[bytes]
    head: bytes | None = None

    def __len__(self) -> int:
        return len(self.bodies)

    def pieces(self, skip: int, limit: int) -> list[tuple[int, bytes]]:
        """``(records, data)`` for the records after the first ``skip``: as few pieces as
        hold at most ``limit`` bytes each (but one record at least), records whole.

        ValueError if the bodies do not decode (an escape no JSON one): then
        :meth:`one_by_one` has the records that do."""
        bodies = self.bodies[skip:] if skip else self.bodies
        if self.head is None:
            return [(1, body) for body in bodies]
        # An escaped body is at least as long as its bytes: cut by the bodies' lengths, a
        # piece's bytes fit. All of them at once when they fit (a loud process's run does).
        ends = list(itertools.accumulate(map(len, bodies)))
        pieces = []
        start, done = 0, 0
        while start < len(bodies):
            end = max(bisect.bisect_right(ends, done + limit), start + 1)
            text = b"".join(bodies[start:end])
            if _SURROGATE.search(text):
                raise ValueError("a surrogate's escape")
            pieces.append((end - start, json.loads(b'"' + text + b'"').encode()))
            done = ends[end - 1]
            start = end
        return pieces

    def one_by_one(self) -> list[Run]:
        """Each record decoded on its own (those that are records)."""
        if self.head is None:
            return [self]
        decoded = (_decoded(self.head + body + _END) for body in self.bodies)
        return [run for run in decoded if run is not None]


def runs(chunk: bytes, pid: int | None = None) -> Iterator[Run]:
    """The records of ``chunk`` (whole lines of a log) in runs, in their order; a line that is
    no record (nothing to show) is left out, and with ``pid``, every record of another
    process. A run's data is decoded by :meth:`Run.pieces`.

    Another process's records are passed over as they are matched, before anything of them
    is cut or decoded: an attach reads its container's log whole (a filter of the records of
    its pid, in Python line by line where a chunk had others', cost it more than its decoding
    of them, 2026-12-06)."""
    wanted_pid = None if pid is None else str(pid).encode()
    prefixes = None if pid is None else tuple(record_prefix(s, pid) for s in STREAMS)
    position, size = 0, len(chunk)
    while position < size:
        end = chunk.find(b"\n", position) + 1 or size
        # A record with raw (its quotes are no data's: escaped there) goes alone at once: the
        # expression would read it through only to fail at its end.
        raw = chunk.find(_RAW, position, end) >= 0
        match = None if raw else _RUN.match(chunk, position)
        if match is None:
            line = chunk[position:end]
            mine = prefixes is None or line.startswith(prefixes)
            if mine and (single := _decoded(line)) is not None:
                yield single
            position = end
            continue
        head, stream, run_pid, stamp = match.group(1, 2, 3, 4)
        end = match.end()
        if wanted_pid is None or run_pid == wanted_pid:
            lines = chunk[position : end - len(_END)].split(_END)
            # Each line's head cut off in C (map, itemgetter): a list comprehension's step
            # per record cost twice as much, a third of the session's time on yes.
            bodies = list(map(itemgetter(slice(len(head), None)), lines))
            yield Run(stream.decode(), stamp.decode(), bodies, head)
        position = end


def _decoded(line: bytes) -> Run | None:
    """A record of any shape, decoded on its own; None if it is no record."""
    try:
        record = json.loads(line)
        stream, stamp = record["stream"], record["timestamp"]
        data = record_bytes(record)  # the bytes as written, whatever they are
    except (ValueError, KeyError, TypeError):
        return None  # not a record (the log's own); nothing to show
    if not isinstance(stream, str) or not isinstance(stamp, str):
        return None
    return Run(stream, stamp, [data])
