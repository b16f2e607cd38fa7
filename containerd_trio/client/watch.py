"""``ctr-trio stats --watch``: a live table of CPU and memory, redrawn every second.

As ``docker stats``: without ids, every running container (listed again at each redraw, so
new ones appear and stopped ones go); with ids, those. CPU % is the CPU time a container used
between two samples over the time between them (100 % is one CPU's worth), so the first
redraw has none yet. On a terminal, plain ANSI: the cursor goes home, each line is rewritten
and cleared to its end, then the rest of the screen. Anywhere else (a pipe, a file), each table
follows the last after a blank line, without a control code. Ctrl-C leaves (exit 130, as for
``events``).
With ``--json``, the daemon's own figures instead, one ndjson record per container per second.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .output import Output, limit, size, table_lines

if TYPE_CHECKING:
    from .http import Client

INTERVAL = 1.0
HEADERS = ("ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS")
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
        usage = memory.get("usage", 0)
        memory_limit = limit(memory)
        share = "--" if memory_limit == "none" else f"{100 * usage / memory['limit']:.2f}%"
        pids = self.figures.get("pids", {}).get("current", 0)
        usage_text = f"{size(usage)} / {memory_limit}"
        return [container_id, self.cpu_percent(before), usage_text, share, str(pids)]


def watch_stats(client: Client, ids: Sequence[str], out: Output) -> int:
    """Redraw until interrupted (KeyboardInterrupt goes to the caller: exit 130)."""
    previous: dict[str, Sample] = {}
    first = True
    while True:
        began = time.monotonic()
        watched = list(ids) or [
            c["id"] for c in client.containers() if c["state"]["status"] == "running"
        ]
        rows = []
        samples: dict[str, Sample] = {}
        for container_id in watched:
            try:
                figures = client.stats(container_id)
            except ApiError as exc:  # stopped, or gone, since it was listed
                # An id named that the daemon does not know at the start is a mistake, not a
                # container gone meanwhile: say so and end, as docker stats does (the table
                # was redrawn with the error in it until Ctrl-C).
                if first and ids and exc.status == 404:
                    raise
                rows.append([container_id, "--", exc.message, "--", "--"])
                continue
            sample = samples[container_id] = Sample(figures, time.monotonic())
            if out.as_json:
                out.record(figures)
            else:
                rows.append(sample.row(container_id, previous.get(container_id)))
        previous = samples
        if not out.as_json:
            _draw(out, table_lines(HEADERS, rows), clear=first)
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
