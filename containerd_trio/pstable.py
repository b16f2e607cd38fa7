"""``top`` with ps's options (docker top's ``ps_args``): the host's ps, and of its table the
header and the container's lines, as docker keeps them.

The options are split on ASCII white space, as docker's daemon splits them, and ps is run on
them without a shell: first in quick-pid mode on the container's pids (``-q PIDS``: ps reads
only those), and if ps refuses that (a forest, ``f``, cannot be had in that mode), once more
as given: then ps lists whatever the options select, host processes too. Either way only the
lines whose PID column names a process of the container (``runc ps``'s pids) are kept, and the
lines of a kept process's threads (``m``: a ``-`` for a pid) with it. So a column must be titled
PID, and only the pid's may be: one renamed so (``-o comm=PID``) is refused first, as docker
refuses it, for its values are no pids and the lines they would keep could be the host's.

ps is bounded: its run by a deadline (it can hang on a process whose memory is locked, reading
its command line), its output by :data:`MAX_OUTPUT`. What it says when it fails, its options'
fault, is a 400 with its own first line.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
from collections.abc import Callable, Collection, Sequence

import attrs
import trio

from .beside import beside
from .children import ChildResult, run_child
from .errors import InvalidRequest, RuntimeFailure, RuntimeTimeout, quoted
from .model import PsTable
from .spawn import ENVIRONMENT

#: A word, as docker's fieldsASCII finds them: what lies between ASCII white space (a no-break
#: space, or another script's, is part of a word).
_WORD = re.compile(r"[^\t\n\f\r ]+")
#: A column renamed to a title that starts with PID: ``comm=PID``, ``-ocomm=PID``.
_RENAMED_PID = re.compile(r"([^,=]*)=(PID.*)")
#: ...which only the pid's may be, its name after the letters of an option (``-opid``, ``opid``,
#: ``-eopid``) if any: ``ppid`` or ``tpgid`` are not.
_PID_ITSELF = re.compile(r"(?:-?[A-Za-z]*[oO])?pid")
#: What ps may print: a 4096-process container's longest lines come to less; a table past it is
#: no table one reads (a fallback run's whole host, say) and is refused, ps killed.
MAX_OUTPUT = 16 << 20
#: procps reads these: a default format or personality, a width, another option syntax. The
#: daemon's own environment must not change the table a client asked for.
_PS_VARIABLES = frozenset(
    {"PS_FORMAT", "PS_PERSONALITY", "CMD_ENV", "I_WANT_A_BROKEN_PS", "COLUMNS", "LINES"}
)
_ENVIRONMENT = {name: value for name, value in ENVIRONMENT.items() if name not in _PS_VARIABLES}
NO_PID = "Couldn't find PID field in ps output"  # docker's words
#: The longest argument the kernel passes to a program (MAX_ARG_STRLEN, its NUL included).
_MAX_ARGUMENT = 32 * 4096


@attrs.frozen
class Shape:
    """What ps's options tell of a column's values: the most words one has (None: any), the
    least, and the width ps cuts it to (a command's, not in the last column), if so."""

    most: int | None = None
    least: int = 1
    cut: int | None = None


ANY = Shape()
ONE_WORD = Shape(most=1)
#: ps's format specifiers whose values may hold spaces: those ps(1) names (STANDARD FORMAT
#: SPECIFIERS: args, cmd, comm, command, fname, ucmd, ucomm, lstart, bsdstart, start), and
#: those whose values are names ps reads from elsewhere, which might (a security label, a
#: cgroup's path, systemd's and lxc's names, supplementary groups' names). Any other
#: specifier's value is one word: a number, a state, a time, a user's name.
_SPACED = frozenset(
    {"args", "cmd", "comm", "command", "fname", "ucmd", "ucomm", "lstart", "bsdstart", "start"}
    | {"label", "context", "zone", "cgroup", "cgname", "supgrp", "lxc", "lsession", "machine"}
    | {"seat", "slice", "unit", "uunit", "ouid"}
)
#: The specifiers whose values ps cuts to their column's width (``:N``, or their own) but in
#: the last column, which takes the rest of the line (procps's command and cgroup columns).
_CUT = {
    "args": 27, "cmd": 27, "command": 27, "comm": 15, "ucmd": 15, "ucomm": 15, "fname": 8,
    "cgroup": 27, "cgname": 27,
}  # fmt: skip
#: The specifiers whose values are of a few words: lstart's ctime ``Sat Dec  5 19:32:52 2026``
#: (procps-ng 4.0.3 on, in the locale's names, or as ``-D``/``--date-format`` says: then of
#: any), start's ``19:32:52`` or ``Dec 05``, bsdstart's ``19:32`` or ``Dec  5``. lstart's and
#: bsdstart's day before the 10th has two spaces before it, as padding between two columns.
_WORDS = {"lstart": Shape(most=5, least=5), "start": Shape(most=2), "bsdstart": Shape(most=2)}
#: ps's option of lstart's format (procps-ng 4.0.3 on).
_DATE_FORMAT = re.compile(r"--date-format.*|-[A-Za-z]*D.*")
#: ps's titles of the specifiers above, and the pid's: a column whose shape is read from the
#: options must have its title, or the options were not read as ps read them.
_TITLES = {
    "args": "COMMAND", "cmd": "CMD", "comm": "COMMAND", "command": "COMMAND",
    "fname": "COMMAND", "ucmd": "CMD", "ucomm": "COMMAND", "lstart": "STARTED",
    "bsdstart": "START", "start": "STARTED", "label": "LABEL", "context": "CONTEXT",
    "zone": "ZONE", "cgroup": "CGROUP", "cgname": "CGNAME", "supgrp": "SUPGRP", "pid": "PID",
}  # fmt: skip
#: An option whose value is a format: SysV's ``-o``/``-O`` after flags of no value of their
#: own (``-eo``), BSD's ``o`` so (``axo``), the value in the same word or the next.
_FORMAT_OPTION = re.compile(
    r"(?:-[AadeFfHjLlMmTwcPy]*(?P<sysv>[oO])|[axrTecfhmwnSLH]*o)(?P<glued>.*)"
)
#: What ps's ``-O`` puts around its columns (procps's, Linux's personality).
_PRELOADED = (["pid"], ["s", "tname", "time", "command"])
#: A format's column: ``name[:width][=title]``.
_SPEC = re.compile(r"(?P<name>[^:=]*)(?::(?P<width>[0-9]+))?(?:=(?P<title>.*))?")


def column_shapes(options: Sequence[str]) -> list[tuple[str | None, Shape]] | None:
    """The columns the options' formats (``-o``, ``o``, ``--format``, ``-O``) ask ps for, in
    ps's order, each with the title ps gives it if known here and its values' :class:`Shape`;
    None without such a format (``aux``, ``-ef``: ps's own columns)."""
    specs: list[str] = []
    rest = iter(options)
    found = False
    for option in rest:
        if option.startswith("--format"):
            value = option[len("--format=") :] if option.startswith("--format=") else None
            if option != "--format" and value is None:
                continue
            preloaded = False
        elif matched := _FORMAT_OPTION.fullmatch(option):
            value = matched["glued"] or None
            preloaded = matched["sysv"] == "O"
        else:
            continue
        if value is None:
            value = next(rest, "")
        found = True
        named = [spec for spec in value.split(",") if spec]
        specs += [*_PRELOADED[0], *named, *_PRELOADED[1]] if preloaded else named
    if not found:
        return None
    dated = any(_DATE_FORMAT.fullmatch(option) for option in options)
    columns: list[tuple[str | None, Shape]] = []
    for at, spec in enumerate(specs, 1):
        parts = _SPEC.fullmatch(spec)
        assert parts is not None  # every text matches: a name, perhaps empty, at least
        name = parts["name"]
        title = parts["title"] if parts["title"] is not None else _TITLES.get(name)
        if name in _CUT and at < len(specs):
            shape = Shape(cut=int(parts["width"] or _CUT[name]))
        elif name in _WORDS and not (dated and name == "lstart"):
            shape = _WORDS[name]
        else:
            shape = ANY if name in _SPACED else ONE_WORD
        columns.append((title, shape))
    return columns


def split_options(text: str) -> list[str]:
    """``ps_args`` as ps's arguments: its words (none for an empty or blank text)."""
    return _WORD.findall(text)


def check_options(options: list[str]) -> None:
    """Refuse a column renamed PID that is not the pid's (docker's validatePSArgs, which also
    catches ``-ocomm=PID``, with no white space before the column, and ``--format=comm=PID``),
    and a NUL."""
    for option in options:
        if "\0" in option:  # no argument of a program can hold one
            raise InvalidRequest(f"ps_args holds a NUL: {quoted(option)}")
        for renamed in _RENAMED_PID.finditer(option):
            column, title = renamed.groups()
            if not _PID_ITSELF.fullmatch(column):
                raise InvalidRequest(f'specifying "{column}={title}" is not allowed')


async def ps_table(options: list[str], pids: list[int], *, timeout: float) -> PsTable:
    """ps's table of ``pids`` with ``options`` (split, and checked here), within ``timeout``
    seconds."""
    check_options(options)
    quick = quick_pids(pids)
    status, output, error = await _ps([*options, *quick], timeout)
    if status != 0 and quick:
        status, output, error = await _ps(options, timeout)
    said = error.decode(errors="replace").strip().split("\n", 1)[0].strip()
    if status != 0 and not _selected_none(status, said, output):
        raise InvalidRequest(f"ps: {said or f'exit status {status}'}")
    # In a thread: a table of thousands of lines whose words need placing takes a while (a
    # millisecond a line at most), which the event loop is not to wait out.
    text = output.decode(errors="replace")
    return await trio.to_thread.run_sync(parse_table, text, pids, column_shapes(options))


def _selected_none(status: int, said: str, output: bytes) -> bool:
    """Whether ps's failure is procps's for a selection that found no process on the host
    (``-u nobody``, ``-C name``, ``r`` where none runs, or a forest's ``f`` with the daemon's
    tty, which it has none of): exit status 1, nothing said, its header alone printed. None
    of the container's processes is selected then, as when the options select only
    processes of the host's (``-p 1``): the table of its titles and no process. (Before, a
    400 "ps: exit status 1", which named nothing wrong, for options that select a process
    of the host's answered that table.)"""
    lines = [line for line in output.split(b"\n") if line.strip()]
    return status == 1 and not said and len(lines) == 1


def quick_pids(pids: list[int]) -> list[str]:
    """ps's quick-pid option for ``pids`` (``-q1,2,3``), or none when there are none or when
    they would not fit in one argument (the kernel's MAX_ARG_STRLEN, some 18000 pids): then ps
    runs on what the options select, and the filter alone keeps the container's lines."""
    option = "-q" + ",".join(map(str, pids))
    return [option] if pids and len(option) < _MAX_ARGUMENT else []


def parse_table(
    output: str,
    pids: Collection[int],
    columns: Sequence[tuple[str | None, Shape]] | None = None,
) -> PsTable:
    """ps's header and the lines of ``pids`` (and of their threads) in its ``output``, the
    columns' values shaped as ``columns`` (:func:`column_shapes`) says where its titles are
    the header's."""
    lines = output.split("\n")
    header = [(title.start(), title.end()) for title in _WORD.finditer(lines[0])]
    titles = [lines[0][start:end] for start, end in header]
    if "PID" not in titles:
        raise InvalidRequest(NO_PID)
    at = titles.index("PID")
    shapes = _shapes(titles, columns)
    wanted = set(pids)
    rows: list[list[str]] = []
    kept = False  # the last process line was one of the container's: its threads' lines too
    # Read from every line, once, and only for a line the words of which need placing.
    anchors = functools.cache(functools.partial(_anchors, header, lines[1:]))
    for line in lines[1:]:
        values = _columns(line, header, shapes, anchors)
        if not any(values):
            continue
        pid = values[at]
        if pid != "-":
            if not (pid.isascii() and pid.isdigit()):
                raise InvalidRequest(f"Unexpected pid {pid!r} in ps output")
            kept = int(pid) in wanted
        if kept:
            rows.append(values)
    return PsTable(titles=titles, processes=rows)


def _shapes(titles: list[str], columns: Sequence[tuple[str | None, Shape]] | None) -> list[Shape]:
    """Each title's :class:`Shape`: the options' where they name as many columns as the header
    has and the titles known of them are the header's; else (an empty title, a format of ps's
    personality read otherwise, an option taken here for a format that is none) the header's
    alone, where PID's values are one word (a pid, or ``-`` for a thread's line)."""
    if (
        columns is not None
        and len(columns) == len(titles)
        and all(known in (None, title) for (known, _), title in zip(columns, titles, strict=True))
    ):
        return [shape for _, shape in columns]
    return [ONE_WORD if title == "PID" else ANY for title in titles]


def _columns(
    line: str,
    header: list[tuple[int, int]],
    shapes: list[Shape],
    anchors: Callable[[], list[tuple[bool, bool]]],
) -> list[str]:
    """A line's columns under the titles at ``header``'s places: a word each where there are
    as many; the last takes the rest of the line (``args``, spaces as ps printed them) where the
    words beyond the titles' count are its, as docker's daemon takes them; else
    (:func:`_placed`) each word goes to the column it lies under, a column but the last holding
    spaces (lstart's ``Thu Dec  3 01:25:22 2026``, args cut to its width before other columns).
    A short line gets empty ones at its end."""
    width = len(header)
    words = [(word.start(), word.end()) for word in _WORD.finditer(line)]
    if len(words) <= width:
        return [line[start:end] for start, end in words] + [""] * (width - len(words))
    # docker's split, kept where each column's first word lies under its title (a value
    # wider than its column pushes the rest on by a little, still under it): ps aux, -ef. The
    # last column's too: a word of a value cut to its width before it (-o pid,cmd:12,etime's
    # "sh -c while") lies left of a right-aligned last title, and is not the last column's
    # (until 2026-12-05 it was taken for it: ["sh", "-c while        15:52"]).
    under = all(
        start < end_of and start_of < end
        for (start, end), (start_of, end_of) in zip(words, header, strict=False)
    )
    groups = [*((i, i) for i in range(width - 1)), (width - 1, len(words) - 1)]
    if not under or any(
        _fault(shapes[title], words, first, final) for title, (first, final) in enumerate(groups)
    ):
        groups = _placed(words, header, shapes, anchors())
    return [line[words[first][0] : words[final][1]] for first, final in groups]


#: How many words more than one the columns but the last whose :class:`Shape` says nothing of
#: their words may take between them (lstart's date has 4 more, a command cut to its width
#: some more): bounds the search of :func:`_placed`. A column whose shape bounds its words
#: (a command cut to N characters has N / 2 at most) adds what it may take.
_MOST_EXTRA = 24


def _longest(shape: Shape) -> int | None:
    """The most words a value of ``shape`` may have, if it says."""
    if shape.most is not None:
        return shape.most
    return None if shape.cut is None else (shape.cut + 1) // 2


#: How far right of where its header puts it a value may be: ps pushes the rest of a line on by
#: what a value is wider than its column, and takes the padding of the next ones back.
_SHIFT = 8


#: What a word too many (or too few) for a column's :class:`Shape` costs a split in
#: :func:`_placed`: more than any place could, so that a split that fits the shapes, if any
#: does, is taken.
_MISFIT = 1 << 16


def _fault(shape: Shape, words: list[tuple[int, int]], first: int, final: int) -> int:
    """How far the run of ``words`` from ``first`` to ``final`` is from ``shape``: the words
    it has past its most or short of its least; for a value cut to a width, the characters
    it reaches past it, and those of it the next run takes (a value cut, then padded, to N
    characters is the words within N of its start: ``-o pid,cmd:10,lstart``'s ``sh -c whil``
    before ``Sat Dec  5 19:32:52 2026``, where the double space would else be taken for the
    padding between the two)."""
    count = final - first + 1
    fault = max(0, shape.least - count)
    if shape.most is not None:
        fault += max(0, count - shape.most)
    if shape.cut is not None:
        start = words[first][0]
        fault += max(0, words[final][1] - start - shape.cut)
        if final + 1 < len(words):
            fault += max(0, start + shape.cut + 1 - words[final + 1][0])
    return fault


def _anchors(header: list[tuple[int, int]], lines: list[str]) -> list[tuple[bool, bool]]:
    """Which end of each title its column's values keep to, as the table's lines show it: the
    start (left-aligned: USER, COMMAND), the end (right-aligned: PID, STARTED), both (values
    as wide as the title), or neither (values pushed on by wider ones before them): an end
    where more than half of the lines have a word."""
    starts = [0] * len(header)
    ends = [0] * len(header)
    count = 0
    for line in lines:
        words = [(word.start(), word.end()) for word in _WORD.finditer(line)]
        if not words:
            continue
        count += 1
        begun = {start for start, _ in words}
        ended = {end for _, end in words}
        for title, (start_of, end_of) in enumerate(header):
            starts[title] += start_of in begun
            ends[title] += end_of in ended
    return [(2 * left > count, 2 * right > count) for left, right in zip(starts, ends, strict=True)]


def _placed(
    words: list[tuple[int, int]],
    header: list[tuple[int, int]],
    shapes: list[Shape],
    anchors: list[tuple[bool, bool]],
) -> list[tuple[int, int]]:
    """The words' split into a run for each title (its first and last word's indexes), the one
    that fits ps's layout best. A left-aligned column's value starts under its title's start,
    a right-aligned one's ends under its title's end (:func:`_anchors`): a run costs how far it
    is from that, from both for a column whose values are as wide as its title, from the
    nearer for one whose values were pushed on; and how far it reaches under its neighbours'
    titles (ps pads a value to its column, which holds its title). A value's words are a space
    apart (two before a day under 10): each space more inside a run costs one too (it is the
    padding between two columns). A run unlike its column's :class:`Shape` (three words for
    a pid) costs more than any of that (:data:`_MISFIT`): two splits that cost the same
    otherwise (``sh -c w 22105`` under ``CMD     PID``, where a right-aligned last column's
    value may start anywhere left of its title) are told apart by it. Dynamic programming over
    the titles and the words more than one taken so far, the last title taking the rest."""
    width, count = len(header), len(words)
    if width == 1:
        return [(0, count - 1)]
    # The words of the runs but the last start before the last's first word, which starts
    # before the last title's end: only so many words more than one may go to those runs.
    reach = header[-1][1] + _SHIFT
    # Not below 0: a line pushed on past the last title (a value much wider than its column)
    # has fewer words before it than titles; a word each then, as docker's split.
    bounded = [_longest(shape) for shape in shapes[:-1]]
    shaped = sum(most - 1 for most in bounded if most is not None)
    extras = shaped + (_MOST_EXTRA if None in bounded else 0)
    # The most words a run may take: its shape's, or all the unbounded columns may.
    longest = [_MOST_EXTRA + 1 if most is None else most for most in bounded]
    most = max(0, min(count - width, extras, sum(start < reach for start, _ in words) - width))
    # spaces[i]: the spaces more than one between the words up to word i, as far as a run but
    # the last's may reach (the last's, to the line's end, less a constant: those to its start).
    spaces = [0]
    for (_, end), (start, _) in itertools.pairwise(words[: width + most]):
        spaces.append(spaces[-1] + start - end - 1)

    def cost(title: int, first: int, final: int) -> int:
        start_of, end_of = header[title]
        start, end = words[first][0], words[final][1]
        left, right = abs(start - start_of), abs(end - end_of)
        kept_left, kept_right = anchors[title]
        if kept_left == kept_right:  # both, or neither
            place = max(left, right) if kept_left else min(left, right)
        else:
            place = left if kept_left else right
        if title > 0:
            place += max(0, header[title - 1][1] - start)
        place += _MISFIT * _fault(shapes[title], words, first, final)
        if title < width - 1:
            return place + max(0, end - header[title + 1][0]) + spaces[final] - spaces[first]
        return place - spaces[first]

    # best[title][extra]: the least cost of the runs of titles 0..title, which took title + 1
    # + extra words, and the extra words taken before title's run (to retrace the runs).
    best: list[dict[int, tuple[int, int]]] = [{}]
    for title in range(width - 1):
        if title:
            best.append({})
        for before, (total, _) in (best[title - 1] if title else {0: (0, 0)}).items():
            first = title + before
            for extra in range(before, most + 1):
                final = first + extra - before
                # A word at or past the next title's end (a little shift allowed) is not this
                # run's, nor is any after it; nor a word past the most its shape may have.
                if final > first and words[final][0] >= header[title + 1][1] + _SHIFT:
                    break
                if final - first >= longest[title]:
                    break
                value = total + cost(title, first, final)
                if extra not in best[title] or value < best[title][extra][0]:
                    best[title][extra] = (value, before)
    _, extra = min(
        (total + cost(width - 1, width - 1 + before, count - 1), before)
        for before, (total, _) in best[-1].items()
    )
    groups = [(width - 1 + extra, count - 1)]
    for title in range(width - 2, -1, -1):
        before = best[title][extra][1]
        groups.append((title + before, title + extra))
        extra = before
    return groups[::-1]


async def _ps(args: list[str], timeout: float) -> tuple[int, bytes, bytes]:
    """Run ps: its exit status, its output (from a pipe drained as it comes) and its stderr."""
    program = shutil.which("ps", path=_ENVIRONMENT.get("PATH", os.defpath))
    if program is None:
        raise RuntimeFailure("cannot run ps: it is not installed on the host")
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    ran: list[ChildResult] = []

    async def run() -> None:
        try:
            ran.append(
                await run_child(
                    [program, *args], stdout=write_end, capture_stderr=True, env=_ENVIRONMENT
                )
            )
        finally:
            # ps's own end closed at its exit: with ours, the drain comes to the output's end.
            os.close(write_end)

    output: bytes | None = None
    async with trio.lowlevel.FdStream(read_end) as stream:
        with trio.move_on_after(timeout) as deadline:
            # The drain is the call: ps (beside it) is killed when the drain stops short.
            output = (await beside(functools.partial(_drain, stream), run)).unwrap()
    if deadline.cancelled_caught:
        raise RuntimeTimeout(f"ps did not finish within {timeout:g} seconds and was killed")
    if output is None:
        raise InvalidRequest(
            f"ps printed more than {MAX_OUTPUT >> 20} MiB: ask for fewer processes or columns"
        )
    assert ran  # the drain came to the output's end: our end was closed, after ps's exit
    return ran[0].returncode, output, ran[0].stderr


async def _drain(stream: trio.lowlevel.FdStream) -> bytes | None:
    """All a pipe brings until its end, or None once past MAX_OUTPUT."""
    output = bytearray()
    while chunk := await stream.receive_some(65536):
        output += chunk
        if len(output) > MAX_OUTPUT:
            return None
    return bytes(output)
