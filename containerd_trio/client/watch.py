"""``ctr-trio stats --watch``, a live table redrawn every second, and ``stats --no-stream``,
one table of it.

As ``docker stats``: without ids, every running container (for --watch, listed again at each
redraw, so new ones appear and stopped ones go); with ids, those. The columns are docker's,
those the daemon has the figures of (no NAME: the id is the name; no NET I/O: the daemon has
none). CPU % is the CPU time a container used between two samples over the time between them
(100 % is one CPU's worth), so the first redraw has none yet; ``--no-stream`` takes two samples
a second apart, as docker's does, and prints the one table. On a terminal, plain ANSI: the
cursor goes home, each line is rewritten and cleared to its end, then the rest of the screen.
Anywhere else (a pipe, a file), each table follows the last after a blank line, without a
control code. Ctrl-C leaves (exit 130, as for ``events``).
With ``--json``, the daemon's own figures instead, one ndjson record per container per second
(once, with ``--no-stream``). With ``--format``, docker's stats template (:data:`STATS_FIELDS`,
through ps's :class:`~.output.RowTemplate`) makes each row, or the table with ``table ``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .commands import EXIT_ERROR, EXIT_OK
from .errors import ApiError
from .output import Output, RowTemplate, limit, size, table_lines

if TYPE_CHECKING:
    from .http import Client

INTERVAL = 1.0
HEADERS = ("CONTAINER ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "BLOCK I/O", "PIDS")
#: The fields a ``stats --format`` template names, docker's, each a column of a row of the
#: table (:meth:`Sample.row`): ``{{.Container}}`` is the id or name docker was given, and
#: ``{{.Name}}`` the name; here the id is the name, so all three are the id. No
#: ``{{.NetIO}}``: the daemon has no network figures (an unknown field, a usage error).
STATS_FIELDS: dict[str, Callable[[Sequence[str]], str]] = {
    "Container": itemgetter(0),
    "Name": itemgetter(0),
    "ID": itemgetter(0),
    "CPUPerc": itemgetter(1),
    "MemUsage": itemgetter(2),
    "MemPerc": itemgetter(3),
    "BlockIO": itemgetter(4),
    "PIDs": itemgetter(5),
}
#: Their headers in a ``table`` template, docker's (docker/cli's stats formatter).
STATS_HEADINGS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def stats_template(text: str) -> RowTemplate:
    """``stats --format``'s template on :data:`STATS_FIELDS`; ValueError as ps's."""
    return RowTemplate(text, STATS_FIELDS, STATS_HEADINGS)


def rendered(
    rows: Sequence[Sequence[str]], form: RowTemplate | None
) -> tuple[list[str], list[str]]:
    """The lines of a table of ``rows`` (the default one, or ``form``'s), and the errors of
    the rows the template did not fit (``ID: why``), left out, as ps leaves them."""
    if form is None:
        return table_lines(HEADERS, rows), []
    return form.lines(rows, itemgetter(0))


HOME, CLEAR_LINE, CLEAR_BELOW, CLEAR_SCREEN = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"


class Sample:
    """One container's figures at one moment."""

    def __init__(self, figures: dict[str, Any], at: float) -> None:
        self.figures = figures
        self.at = at
        self.cpu_ns = int(figures.get("cpu", {}).get("usage", {}).get("total", 0))

    def cpu_percent(self, before: Sample | None) -> str:
        if before is None or self.at <= before.at:
            return "--"
        used = max(0, self.cpu_ns - before.cpu_ns) / 1e9
        return f"{100 * used / (self.at - before.at):.2f}%"

    def row(self, container_id: str, before: Sample | None) -> list[str]:
        memory = self.figures.get("memory", {}).get("usage", {})
        usage = in_use(self.figures.get("memory", {}))
        memory_limit = limit(memory)
        share = "--" if memory_limit == "none" else f"{100 * usage / memory['limit']:.2f}%"
        pids = self.figures.get("pids", {}).get("current", 0)
        usage_text = f"{size(usage)} / {memory_limit}"
        cpu = self.cpu_percent(before)
        return [container_id, cpu, usage_text, share, block_io(self.figures), str(pids)]


def in_use(memory: dict[str, Any]) -> int:
    """Memory in use as docker's CLI shows it: the cgroup's usage less its inactive page cache
    (file pages the kernel reclaims first, which a container that wrote a file holds), from
    runc's ``raw`` memory.stat: ``total_inactive_file`` under cgroup v1 (the hierarchy's),
    ``inactive_file`` under v2. The two are read one after the other, so a cache larger than
    the usage it is read with leaves the usage as it is, as docker's does: never 0 or less."""
    usage = int(memory.get("usage", {}).get("usage", 0))
    raw = memory.get("raw") or {}
    inactive = int(raw.get("total_inactive_file", raw.get("inactive_file", 0)))
    return usage - inactive if inactive < usage else usage


def block_io(figures: dict[str, Any]) -> str:
    """Bytes read / written, as docker's BLOCK I/O: runc's ioServiceBytesRecursive added up by
    op, whatever its case (Read under cgroup v1, read under v2); its Total and Sync left out."""
    done = {"r": 0, "w": 0}
    for entry in figures.get("blkio", {}).get("ioServiceBytesRecursive") or []:
        op = str(entry.get("op", ""))[:1].lower()
        if op in done:
            done[op] += int(entry.get("value", 0))
        # (The sums of all ops, Total, and of synchronous ones, Sync, would count twice.)
    return f"{size(done['r'])} / {size(done['w'])}"


#: The statuses of a container with live figures: docker's running ones (its paused ones are
#: running, and have figures: a paused container's CPU % is 0). Not a restarting one's: stopped,
#: it has none.
LIVE = ("running", "paused")


def running(client: Client) -> list[str]:
    """The ids of the running and paused containers, oldest first (as the daemon lists them):
    those docker stats shows without ids."""
    return [c["id"] for c in client.containers() if c["state"]["status"] in LIVE]


def listed(client: Client, ids: Sequence[str], *, every: bool) -> tuple[list[str], set[str]]:
    """The ids whose rows are shown (``ids``, else the running ones, or with ``every``,
    docker's ``stats -a``, all of them, oldest first), and those of them shown without asking
    the daemon, zeroed (:data:`ZEROED`): the created and stopped ones ``-a`` lists, which have
    no live figures."""
    if ids:
        return list(ids), set()
    if not every:
        return running(client), set()
    containers = client.containers()
    return [c["id"] for c in containers], {
        c["id"] for c in containers if c["state"]["status"] not in LIVE
    }


#: The figures of a container that is not running, in ``stats -a``'s row, as docker's zeroes.
ZEROED = ("0.00%", f"{size(0)} / {size(0)}", "0.00%", f"{size(0)} / {size(0)}", "0")


def stats_once(
    client: Client,
    ids: Sequence[str],
    out: Output,
    form: RowTemplate | None = None,
    *,
    every: bool = False,
) -> int:
    """``--no-stream``: the table of two samples a second apart, then the exit. An id named
    that fails (unknown, stopped) is its error on stderr and exit 1, the others shown; a
    container listed as running that stopped before its first sample is left out, as docker
    leaves it (with ``every``, ``-a``: zeroed, as the stopped ones it lists), and one that
    stops between the two keeps its row without a CPU %. ``form``: ``--format``'s template
    instead of the table (and of ``--json``'s records, which have none of a zeroed one)."""
    as_json = out.as_json and form is None
    failed = False
    began = time.monotonic()
    order, zeroed = listed(client, ids, every=every)
    first: dict[str, Sample] = {}
    for container_id in order:
        if container_id in zeroed:
            continue
        try:
            figures = client.stats(container_id)
        except ApiError as exc:
            if ids:
                out.error(exc.message)
                failed = True
            elif every:
                zeroed.add(container_id)
            continue
        if as_json:  # the daemon's figures have no rate: one sample is all there is
            out.record(figures)
        else:
            first[container_id] = Sample(figures, time.monotonic())
    if first:
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - began)))
    if as_json:
        return EXIT_ERROR if failed else EXIT_OK
    rows = []
    for container_id in order:
        if container_id in zeroed:
            rows.append([container_id, *ZEROED])
        elif (before := first.get(container_id)) is not None:
            try:
                rows.append(
                    Sample(client.stats(container_id), time.monotonic()).row(container_id, before)
                )
            except ApiError:  # stopped (or gone) since its first sample: that one is all
                rows.append(before.row(container_id, None))
    if rows or not failed:
        # Nothing running: the header alone (if any), as docker's.
        failed = _show(out, rows, form) or failed
    return EXIT_ERROR if failed else EXIT_OK


def _show(out: Output, rows: Sequence[Sequence[str]], form: RowTemplate | None) -> bool:
    """Print the table (or ``form``'s lines) of ``rows``; whether a row did not fit it."""
    lines, misfits = rendered(rows, form)
    for line in lines:
        out.line(line)
    for misfit in misfits:
        out.error(misfit)
    return bool(misfits)


def watch_stats(
    client: Client,
    ids: Sequence[str],
    out: Output,
    form: RowTemplate | None = None,
    *,
    every: bool = False,
) -> int:
    """Redraw until interrupted (KeyboardInterrupt goes to the caller: exit 130); ``form``:
    ``--format``'s template instead of the table (and of ``--json``'s records), a row that
    does not fit it its error on stderr at each redraw. ``every`` (``-a``, without ids): the
    created and stopped containers too, zeroed (no record of theirs with ``--json``)."""
    as_json = out.as_json and form is None
    previous: dict[str, Sample] = {}
    first = True
    while True:
        began = time.monotonic()
        watched, zeroed = listed(client, ids, every=every)
        rows = []
        samples: dict[str, Sample] = {}
        for container_id in watched:
            if container_id in zeroed:
                if not as_json:
                    rows.append([container_id, *ZEROED])
                continue
            try:
                figures = client.stats(container_id)
            except ApiError as exc:  # stopped, or gone, since it was listed
                # An id named that the daemon does not know at the start is a mistake, not a
                # container gone meanwhile: say so and end, as docker stats does (the table
                # was redrawn with the error in it until Ctrl-C).
                if first and ids and exc.status == 404:
                    raise
                rows.append([container_id, "--", exc.message, "--", "--", "--"])
                continue
            sample = samples[container_id] = Sample(figures, time.monotonic())
            if as_json:
                out.record(figures)
            else:
                rows.append(sample.row(container_id, previous.get(container_id)))
        previous = samples
        if not as_json:
            lines, misfits = rendered(rows, form)
            _draw(out, lines, clear=first)
            for misfit in misfits:
                out.error(misfit)
            first = False
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - began)))


def _draw(out: Output, lines: list[str], *, clear: bool) -> None:
    """On a terminal, the table in place of the last; elsewhere, after it and a blank line."""
    if out.stdout.isatty():
        frame = (CLEAR_SCREEN if clear else "") + HOME
        frame += "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW
    else:
        frame = "".join(line + "\n" for line in lines) + "\n"
    out.stdout.write(frame)
    out.stdout.flush()
