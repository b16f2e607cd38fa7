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
import os
import re
import shutil
from collections.abc import Collection

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
    if status != 0:
        said = error.decode(errors="replace").strip().split("\n", 1)[0].strip()
        raise InvalidRequest(f"ps: {said or f'exit status {status}'}")
    return parse_table(output.decode(errors="replace"), pids)


def quick_pids(pids: list[int]) -> list[str]:
    """ps's quick-pid option for ``pids`` (``-q1,2,3``), or none when there are none or when
    they would not fit in one argument (the kernel's MAX_ARG_STRLEN, some 18000 pids): then ps
    runs on what the options select, and the filter alone keeps the container's lines."""
    option = "-q" + ",".join(map(str, pids))
    return [option] if pids and len(option) < _MAX_ARGUMENT else []


def parse_table(output: str, pids: Collection[int]) -> PsTable:
    """ps's header and the lines of ``pids`` (and of their threads) in its ``output``."""
    lines = output.split("\n")
    titles = _WORD.findall(lines[0])
    if "PID" not in titles:
        raise InvalidRequest(NO_PID)
    at = titles.index("PID")
    wanted = set(pids)
    rows: list[list[str]] = []
    kept = False  # the last process line was one of the container's: its threads' lines too
    for line in lines[1:]:
        columns = _columns(line, len(titles))
        if not any(columns):
            continue
        pid = columns[at]
        if pid != "-":
            if not (pid.isascii() and pid.isdigit()):
                raise InvalidRequest(f"Unexpected pid {pid!r} in ps output")
            kept = int(pid) in wanted
        if kept:
            rows.append(columns)
    return PsTable(titles=titles, processes=rows)


def _columns(line: str, width: int) -> list[str]:
    """A line's columns under ``width`` titles: a word each, and the last takes the rest of the
    line (``args``, spaces as ps printed them). A short line gets empty ones at its end."""
    words = list(_WORD.finditer(line))
    if len(words) <= width:
        return [word.group() for word in words] + [""] * (width - len(words))
    rest = line[words[width - 1].start() : words[-1].end()]
    return [word.group() for word in words[: width - 1]] + [rest]


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
