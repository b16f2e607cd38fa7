"""How ``ctr-trio`` prints: tables and sentences for people, JSON for scripts, templates between.

Everything here is plain text work on the daemon's answers; nothing here talks to the daemon.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

if TYPE_CHECKING:
    from .template import Template
    from .types import Container, Resources, TopProcess

PROG = "ctr-trio"
CONTAINER_HEADERS = ("ID", "STATUS", "PID", "PROCESSES", "CREATED")
#: ``ps -ef``'s columns, as ``docker top`` shows them.
TOP_HEADERS = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")
#: The CFS period the kernel has unless told otherwise, in microseconds.
DEFAULT_CPU_PERIOD = 100_000


class Output:
    """Where a command writes, and how: tables and sentences for people, JSON for scripts."""

    def __init__(self, stdout: TextIO, stderr: TextIO, *, as_json: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        self._said_retrying = False
        #: How long the client tries again (--retry), said with the first retry.
        self.retry_for: float | None = None

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def document(self, value: Any) -> None:
        """One JSON document: the daemon's answer, as it sent it."""
        self.line(json.dumps(value, indent=2))

    def record(self, value: Any) -> None:
        """One line of an ndjson stream, flushed: whoever reads a stream reads it as it comes."""
        self.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
        self.stdout.flush()

    def table(self, headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> None:
        """Aligned columns, as ``docker ps`` prints them; no header line if ``headers`` is None."""
        for line in table_lines(headers, rows):
            self.line(line)

    def retrying(self, failure: Exception, pause: float) -> None:
        """Say once, to a person at a terminal, why nothing happens yet (scripts hear nothing:
        the failure, if it lasts, is said anyway)."""
        if not self._said_retrying and self.stderr.isatty():
            self._said_retrying = True
            from .errors import DaemonUnreachable

            said = failure.for_user() if isinstance(failure, DaemonUnreachable) else str(failure)
            # How long, so that a user waits for a restart, or knows what to change.
            until = "" if self.retry_for is None else f" for up to {self.retry_for:g} s"
            self.stderr.write(f"{PROG}: {said}; trying again{until} (--retry SECONDS)\n")
            self.stderr.flush()

    def error(self, message: str) -> None:
        # One line, whatever the daemon sent (runc's and CRIU's errors span several): a script
        # that reads stderr line by line gets one complete message.
        # Lines joined by "; ", but a line that ends in a colon introduces the next (the
        # daemon's "CRIU's restore.log ends with:"): a space there, not ":;".
        said = ""
        for part in (part.strip() for part in message.splitlines()):
            if part:
                said += part if not said else (" " if said.endswith(":") else "; ") + part
        self.stderr.write(f"{PROG}: {said or 'unknown error'}\n")


class TextWriter:
    """Bytes onto a text stream that has no buffer underneath (a test's StringIO)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        self._stream.write(data.decode(errors="replace"))

    def flush(self) -> None:
        self._stream.flush()


def window_size() -> tuple[int, int] | None:
    """Our window's ``(columns, rows)``, for a process's terminal (``-t``): that of the terminal
    our output goes to, as docker's client takes its size from its output stream, else that of
    our input's; None where neither is a terminal. (Until 2026-12-06 our input's alone: ``exec
    -t web stty size < /dev/null`` at a terminal gave the process a 0x0 terminal.)"""
    for fd in (1, 0):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        return size.columns, size.lines
    return None


def binary(stream: TextIO) -> BinaryIO | TextWriter:
    """Where a container's output goes onto ``stream``: its bytes, as they are (a process's
    output need not be UTF-8), into the stream's buffer."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()  # what was written as text goes first
        return buffer  # type: ignore[no-any-return]
    return TextWriter(stream)


def table_lines(headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [*([list(headers)] if headers is not None else []), *(list(row) for row in rows)]
    if not rows:
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


# --- figures ----------------------------------------------------------------------------------


def ago(stamp: str) -> str:
    """``5 seconds ago`` for an RFC 3339 timestamp; the timestamp as it is if it cannot be read."""
    from ..timestamps import parse_ns

    try:
        seconds = max(0, (time.time_ns() - parse_ns(stamp)) // 1_000_000_000)
    except ValueError:
        return stamp
    if seconds < 1:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    raise AssertionError("unreachable")  # pragma: no cover


def size(count: float) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(count)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def limit(figures: dict[str, Any]) -> str:
    """A memory or pids limit as runc reports it: "none" for no limit."""
    value = figures.get("limit", 0)
    # runc reports "no limit" as 0 (pids) or as the largest page-aligned int64 (memory).
    if not value or value >= 2**62:
        return "none"
    return str(value) if "current" in figures else size(value)


# --- containers -------------------------------------------------------------------------------


def moved_away(container_id: str, to: str | None, follow: str) -> str:
    """What a client that followed a container says once it moved to another daemon (a
    migration): where it went, and the command (``follow``: ``attach``, ``logs -f``) that
    follows it there, where the daemon knew the target's address."""
    if to is None:
        return f"container {container_id} moved to another daemon"
    return (
        f"container {container_id} moved to {to}; follow it there:"
        f" {PROG} --address {to} {follow} {container_id}"
    )


def state_name(container: Container) -> str:
    """Its status, or docker's ``restarting`` for a stopped one whose restart policy waits out
    its delay (the daemon says it beside the status, which stays stopped)."""
    state = container["state"]
    return "restarting" if state.get("restarting") else state["status"]


def status(container: Container) -> str:
    state = container["state"]
    if "exitStatus" in state:
        return f"{state_name(container)} (exit {state['exitStatus']})"
    return state["status"]


def _init_pid(container: Container) -> str:
    return str(container["processes"][0]["pid"]) if container["processes"] else "-"


def _labels(container: Container) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((container.get("labels") or {}).items()))


#: How many columns docker's ps cuts ``{{.Command}}`` to unless ``--no-trunc``.
COMMAND_WIDTH = 20


def command_line(container: Container) -> str:
    """docker's ``Command`` of a container, as its daemon writes it (moby's container view:
    the path as it is, then each argument, one with a space in it between single quotes,
    joined by spaces; the path alone without arguments): what the init runs, while it does;
    else what its start ran instead of the bundle's process. "" for a stopped container that
    ran the bundle's own (the daemon's record does not hold the bundle's process.args, and a
    client need not see the bundle). (Until 2026-12-04 a path with a space was quoted too.)"""
    if container["processes"]:
        # (.get: a document of an older daemon, or a test's, may list a process without them.)
        words = container["processes"][0].get("args") or []
    else:
        words = (container.get("process") or {}).get("args") or []
    if not words:
        return ""
    path, *args = words
    if not args:
        return str(path)
    return f"{path} " + " ".join(f"'{arg}'" if " " in arg else arg for arg in args)


def ellipsis(text: str, width: int) -> str:
    """docker/cli's formatter.Ellipsis: ``text`` cut to ``width`` columns, its last one "…"
    (a wide character takes two, a combining one none)."""
    import unicodedata

    if width <= 0:
        return ""
    if width == 1:
        return text[:1]
    widths = [
        0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1
        for char in text
    ]
    if sum(widths) <= width:
        return text
    used = 0
    for index, char_width in enumerate(widths):
        if used + char_width > width - 1:
            return text[:index] + "…"
        used += char_width
    return text  # pragma: no cover - the sum above is more than width


def command(container: Container, *, trunc: bool = True) -> str:
    """docker's ps ``{{.Command}}``: :func:`command_line` cut to :data:`COMMAND_WIDTH` columns
    (``trunc``, unless ``--no-trunc``), in Go's double quotes (strconv.Quote), as docker's."""
    from .template.printf import quote

    text = command_line(container)
    return quote(ellipsis(text, COMMAND_WIDTH) if trunc else text, '"')


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, as docker's ``RunningFor`` says a while: ``Less than a second``,
    ``About a minute``, ``5 minutes``, ``About an hour``, ``3 hours``, ``2 days``, ``3 weeks``,
    ``4 months``, ``2 years``."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = whole // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go's Round(time.Hour): halves away from zero
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{whole // 3600 // 24 // 365} years"


def running_for(container: Container) -> str:
    """docker's ps ``{{.RunningFor}}``: the time since its creation (docker's counts from
    Created too, not from the run's start), ``5 minutes ago``; createdAt as it is if it cannot
    be read."""
    from ..timestamps import parse_ns

    try:
        created = parse_ns(container["createdAt"])
    except ValueError:
        return container["createdAt"]
    # docker's Created is in whole seconds.
    seconds = max(0, time.time_ns() // 1_000_000_000 - created // 1_000_000_000)
    return human_duration(seconds) + " ago"


#: The fields of a container a ``--format`` template may name, as ``{{.Name}}``.
FIELDS: dict[str, Callable[[Container], str]] = {
    "ID": lambda c: c["id"],
    # docker's ps field scripts read most: the id is the container's name here.
    "Names": lambda c: c["id"],
    "Status": status,
    "State": state_name,
    "ExitStatus": lambda c: str(c["state"].get("exitStatus", "")),
    "PID": _init_pid,
    "Processes": lambda c: str(len(c["processes"])),
    "Created": lambda c: ago(c["createdAt"]),
    "CreatedAt": lambda c: c["createdAt"],
    # The run's (docker inspect's State.StartedAt and FinishedAt): "" where there is none.
    "StartedAt": lambda c: c["state"].get("startedAt", ""),
    "FinishedAt": lambda c: c["state"].get("finishedAt", ""),
    "Bundle": lambda c: c["bundlePath"],
    "Labels": _labels,
    # docker's: "sh -c 'while…" cut to 20 columns unless --no-trunc (NO_TRUNC_FIELDS), and
    # "5 minutes ago" since its creation.
    "Command": command,
    "RunningFor": running_for,
}
#: :data:`FIELDS` with ``--no-trunc``: the command whole.
NO_TRUNC_FIELDS: dict[str, Callable[[Container], str]] = {
    **FIELDS,
    "Command": lambda c: command(c, trunc=False),
}
#: ps's headers that are not the fields' names in capitals: docker's.
PS_HEADINGS = {"RunningFor": "CREATED"}


class RowMethod:
    """A method of a row a ``--format`` template may call with arguments, as docker's ps
    ``{{.Label "KEY"}}`` (a Go method of its ContainerContext): ``of`` gives it for an item,
    ``header`` is what it says in a table's header (docker's SubHeaderContext's)."""

    __slots__ = ("arguments", "header", "of")

    def __init__(
        self,
        arguments: int,
        of: Callable[[Any], Callable[..., str]],
        header: Callable[..., str],
    ) -> None:
        self.arguments = arguments
        self.of = of
        self.header = header


def _label_argument(key: Any) -> str:
    from .template import RenderError
    from .template.values import go_type

    if not isinstance(key, str):  # Go's reflect check of a method's argument
        raise RenderError(f"wrong type for value; expected string; got {go_type(key)}")
    return key


def _label_of(container: Container) -> Callable[..., str]:
    """docker's ``{{.Label "KEY"}}``: the label's value, "" if the container has none."""
    labels = container.get("labels") or {}
    return lambda key: str(labels.get(_label_argument(key), ""))


def _label_header(key: Any) -> str:
    """docker's header of ``{{.Label "com.example.team"}}``: the key's last dotted part, its
    ``-`` and ``_`` as spaces (``team``), not in capitals (docker/cli's SubHeaderContext.Label)."""
    return _label_argument(key).split(".")[-1].replace("-", " ").replace("_", " ")


#: ps's methods: docker's ``{{.Label "KEY"}}`` (until 2026-12-05 a usage error, ``a value is not
#: a function``).
PS_METHODS: dict[str, RowMethod] = {"Label": RowMethod(1, _label_of, _label_header)}
_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\\\": "\\"}


def container_rows(containers: Iterable[Container]) -> list[list[str]]:
    fields = [FIELDS[name] for name in ("ID", "Status", "PID", "Processes", "Created")]
    return [[field(c) for field in fields] for c in containers]


#: docker's prefix of a template for a table: a header, then columns aligned at each tab.
TABLE_PREFIX = "table "
#: What docker's ``--format json`` is (of ps and stats): each row's fields as one JSON object,
#: a line each.
JSON_ROW = "{{json .}}"


class RowTemplate:
    """ps's ``--format TEMPLATE``: inspect's templates (:mod:`.template`) on a container's
    :data:`FIELDS`, as docker's ps, read once when the command line is. ``\\t`` and ``\\n``
    are read first, in the whole text, as docker's ps reads them (inspect's does not). With
    ``table ``, :attr:`header` is the template on the fields' names in capitals (``CREATED AT``),
    through docker's header functions (``{{.ID | json}}`` is headed ``ID``), as docker's, and
    the columns are cut at its tabs (a tab in a value stays in its cell).

    ``fields`` and ``headings`` make it another command's: ``stats --format`` gives docker's
    stats fields (:data:`.watch.STATS_FIELDS`) and their headers, which are not the names in
    capitals (``{{.CPUPerc}}`` is headed ``CPU %``, as docker's); a field without a heading is
    headed by its name in capitals.

    ValueError (a TemplateError, or naming the fields) for a template that cannot be read or
    names an unknown field; or that fits no container: its values are all strings, so a key of
    one, an index of one or a range over one fails on the header as on every container (an
    if's branch the header does not take may fail for a container: its error, exit 1)."""

    def __init__(
        self,
        text: str,
        fields: Mapping[str, Callable[[Any], str]] = FIELDS,
        headings: Mapping[str, str] | None = None,
        methods: Mapping[str, RowMethod] | None = None,
    ) -> None:
        # Not on every ps: about 1 ms of a call's 80 (docs/cli.md).
        from .template import parse

        self.is_table = text.startswith(TABLE_PREFIX)
        self._fields = fields
        self._methods = methods or {}
        parsed = parse(
            _unescape(text.removeprefix(TABLE_PREFIX)),
            {name: method.arguments for name, method in self._methods.items()},
        )
        unknown = [key for key in parsed.top_keys() if key not in fields]
        if unknown and unknown[0] in self._methods:  # {{.Label}}: Go's words, at once
            want = self._methods[unknown[0]].arguments
            raise ValueError(
                f"wrong number of args for {unknown[0]}: want {want} got 0, in --format:"
                f' {{{{.{unknown[0]} "KEY"}}}}'
            )
        if unknown:
            names = ", ".join(f"{{{{.{name}}}}}" for name in fields)
            raise ValueError(f"unknown field {{{{.{unknown[0]}}}}} in --format; fields: {names}")
        self._columns = parsed.split("\t") if self.is_table else [parsed]
        heads = {name: (headings or {}).get(name) or _heading(name) for name in fields}
        heads_methods = {name: method.header for name, method in self._methods.items()}
        self.header = [_head(column, heads, heads_methods) for column in self._columns]

    def on(self, fields: Mapping[str, Callable[[Any], str]]) -> RowTemplate:
        """The same template on other fields of the same names (ps's ``--no-trunc``:
        :data:`NO_TRUNC_FIELDS`), as read with the command line."""
        import copy

        other = copy.copy(self)
        other._fields = fields
        return other

    def cells(self, item: Any) -> list[str]:
        """The line of ``item`` (a container, for ps), one cell per column (one without
        ``table``); RenderError where the template does not fit it."""
        values = {name: field(item) for name, field in self._fields.items()}
        methods = {name: method.of(item) for name, method in self._methods.items()}
        return [column.render(values, methods=methods) for column in self._columns]

    def lines(
        self, items: Iterable[Any], name: Callable[[Any], str]
    ) -> tuple[list[str], list[str]]:
        """The lines of ``items``, a line each, or docker's table (its header, the columns
        aligned); and the errors (``NAME: why``) of the items the template does not fit (rare:
        the header, all strings too, fits), left out, the others shown."""
        from .template import RenderError

        rows, misfits = [], []
        for item in items:
            try:
                rows.append(self.cells(item))
            except RenderError as exc:
                misfits.append(f"{name(item)}: {exc}")
        if self.is_table:
            return table_lines(self.header, rows), misfits
        return [line for (line,) in rows], misfits


def _head(
    column: Template, headings: dict[str, str], methods: Mapping[str, Callable[..., str]]
) -> str:
    """A column's header, docker's: the template on the fields' names, through functions that
    leave them as they are (``{{.ID | json}}`` is headed ``ID``, as ``{{.ID}}``). Run first as
    on a container's values, as the check of a template that fits none (a RenderError); and
    that header where docker's functions make one that does not fit (``{{range split .Labels
    ","}}``: a range over the name, which docker's header stops at, printing what came before)."""
    from .template import HEADER_FUNCTIONS, RenderError

    plain = column.render(headings, methods=methods)
    try:
        return column.render(headings, HEADER_FUNCTIONS, methods)
    except RenderError:
        return plain


def _unescape(text: str) -> str:
    return re.sub(r"\\[tn\\]", lambda m: _ESCAPES[m.group()], text)


def _heading(field: str) -> str:
    """``CREATED AT`` for ``CreatedAt``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", field).upper()


def describe_resources(resources: Resources) -> str:
    """``memory 64.0 MiB, cpus 0.5 (quota 50000 of 100000 us), cpu shares 512, pids 100``."""
    parts = []
    memory = resources.get("memory", {}).get("limit")
    if memory is not None:
        parts.append(f"memory {'no limit' if memory < 0 else size(memory)}")
    if resources.get("memory", {}).get("swap") is not None:
        parts.append("swap no limit")  # -1, the only swap limit the daemon puts in force
    cpu = resources.get("cpu", {})
    quota, period = cpu.get("quota"), cpu.get("period")
    if quota is not None and quota < 0:
        parts.append("cpus no limit")
    elif quota is not None:
        of = period or DEFAULT_CPU_PERIOD
        parts.append(f"cpus {quota / of:g} (quota {quota} of {of} us)")
    elif period is not None:
        parts.append(f"cpu period {period} us")
    if "shares" in cpu:
        parts.append(f"cpu shares {cpu['shares']}")
    pids = resources.get("pids", {}).get("limit")
    if pids is not None:
        parts.append(f"pids {'no limit' if pids < 0 else pids}")
    return ", ".join(parts) or "no limits"


# --- processes (top) ----------------------------------------------------------------------------


def top_rows(processes: Iterable[TopProcess]) -> list[list[str]]:
    """``ps -ef``'s columns of each process: UID PID PPID C STIME TTY TIME CMD."""
    return [
        [
            p["user"],
            str(p["pid"]),
            str(p["ppid"]),
            str(p["cpuPercent"]),
            start_time(p["startedAt"]),
            p.get("tty", "?"),
            cpu_time(p["cpuSeconds"]),
            " ".join(p["args"]) or f"[{p['command']}]",
        ]
        for p in processes
    ]


def start_time(stamp: str, now: float | None = None) -> str:
    """ps's STIME: ``14:05`` today, ``Nov28`` this year, else the year (local time)."""
    from ..timestamps import parse_ns

    try:
        started = time.localtime(parse_ns(stamp) / 1e9)
    except ValueError:
        return stamp
    today = time.localtime(now)
    if started[:3] == today[:3]:
        return time.strftime("%H:%M", started)
    if started.tm_year == today.tm_year:
        return time.strftime("%b%d", started)
    return str(started.tm_year)


def cpu_time(seconds: float) -> str:
    """ps's TIME: ``00:01:05``, with ``2-`` before it past a day."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text
