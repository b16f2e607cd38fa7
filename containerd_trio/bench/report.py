"""The bench's report: the seed's lines and the bench's own, in Go's log format, as they come.

``[tag] 2006/01/02 15:04:05 text``, one tag per system: ``containerd-trio``, ``runc``, and the
peers' (``containerd``, ``podman``).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .checkpoints import CheckpointPhase
from .phase import Phase
from .stats import Stats, ms, ms_precise, ratio
from .targets import TAG_DAEMON, TAG_RUNC

MIB = 1024 * 1024


@dataclass(frozen=True)
class Round:
    """One round of ``--rounds``: the daemon's phase and runc's, in the order it ran them."""

    main: Phase
    raw: Phase
    runc_first: bool


@dataclass
class Report:
    #: The daemon's phase and runc's (with --baseline); with --rounds, those of the last round.
    main: Phase | None = None
    raw: Phase | None = None
    #: With --baseline, each round (one without --rounds).
    rounds: list[Round] = field(default_factory=list)
    peers: list[Phase] = field(default_factory=list)
    checkpoint: CheckpointPhase | None = None
    #: With --ceiling: GET /state answers with the main phase's containers listed.
    answers: Phase | None = None
    lines: list[str] = field(default_factory=list)
    #: The raw runc root and, with a daemon of the bench's own, its state dir (gone unless
    #: a workdir was given).
    runc_root: Path | None = None
    daemon_state_dir: Path | None = None
    #: With --ceiling: the stand-in's records (on a tmpfs), and those it still held when the
    #: bench's daemon had stopped (none, unless something was left behind): the directory is
    #: removed at the end either way.
    standin_records: Path | None = None
    standin_left: list[str] = field(default_factory=list)
    #: The exit code of the bench's own daemon, once stopped.
    daemon_exit: int | None = None

    @property
    def ok(self) -> bool:
        rounds = [phase for one in self.rounds for phase in (one.main, one.raw)]
        phases = [self.main, self.raw, *rounds, *self.peers, self.checkpoint, self.answers]
        return all(phase is None or not phase.errors for phase in phases)


class Printer:
    """Report lines, ``[tag] 2006/01/02 15:04:05 text`` (Go's log format); a progress line."""

    def __init__(self, out: TextIO, progress: bool) -> None:
        self.out = out
        self.lines: list[str] = []
        self._progress = progress
        self._shown = False
        self._last = 0.0

    def line(self, tag: str, text: str) -> None:
        self.clear_progress()
        line = f"[{tag}] {time.strftime('%Y/%m/%d %H:%M:%S')} {text}"
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def progress(self, what: str, done: int, total: int) -> None:
        if not self._progress:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return  # a terminal redrawn 10 times a second is enough; the bench's CPU counts
        self._last = now
        sys.stderr.write(f"\r{what} {done}/{total}\x1b[K")
        sys.stderr.flush()
        self._shown = True

    def clear_progress(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


def settle_note(settled: tuple[float, bool]) -> str:
    """The end of a phase's first line: how long the machine took to settle before it."""
    seconds, quiet = settled
    if not quiet:
        return (
            f"; WARNING: the machine stayed busy for {seconds:.0f}s before this phase:"
            " other load on it skews what follows"
        )
    return f", after {seconds:.1f}s for the machine to settle" if seconds >= 1 else ""


def print_phase(printer: Printer, phase: Phase) -> None:
    tag, unit = phase.tag, phase.unit
    for line in phase.stats.seed_lines():
        printer.line(tag, line)
    done = len(phase.latencies)
    printer.line(tag, f"rate: {phase.rate:.1f} {unit}s/s ({done} in {phase.wall:.2f}s)")
    if phase.has_daemon:
        parts = ", ".join(
            f"{name} {ms_precise(phase.per_item(seconds))}"
            for name, seconds in phase.daemon_cpu_parts.items()
        )
        printer.line(
            tag,
            f"daemon cpu: {ms_precise(phase.per_item(phase.daemon_cpu))} per {unit}"
            + (f" ({parts})" if len(phase.daemon_cpu_parts) > 1 else ""),
        )
        if phase.daemon_rss is not None:
            when = {"start": f"with {done} running", "cycle": f"after {done} cycles"}
            after = when.get(unit, f"after {done} {unit}s")
            printer.line(tag, f"daemon rss: {phase.daemon_rss / MIB:.1f}MiB {after}")
        else:
            printer.line(tag, "daemon rss: n/a")
    for what, seconds in ((phase.runtime, phase.runc_cpu), ("client", phase.client_cpu)):
        if seconds is not None:
            printer.line(tag, f"{what} cpu: {ms_precise(phase.per_item(seconds))} per {unit}")
    if phase.init_cpu is not None:
        printer.line(
            tag,
            f"{phase.runtime} init cpu: {ms_precise(phase.per_item(phase.init_cpu))} per {unit}"
            f" (the containers' inits so far, {phase.runtime} init until its exec: reaped"
            " at their end, not in the line above)",
        )
    printer.line(tag, f"bench cpu: {ms_precise(phase.per_item(phase.bench_cpu))} per {unit}")
    if phase.machine_cpu is not None and phase.machine_busy is not None:
        printer.line(
            tag,
            f"machine cpu: {ms_precise(phase.per_item(phase.machine_cpu))} per {unit}"
            f" ({100 * phase.machine_busy:.0f}% of {os.cpu_count()} cpus busy)",
        )


def print_end(printer: Printer, phase: Phase) -> None:
    """After the removal: its time, and what failed over the whole phase."""
    tag = phase.tag
    if phase.unit == "start" and phase.remove_wall > 0:
        removed = phase.count / phase.remove_wall
        printer.line(tag, f"removed {phase.count} in {phase.remove_wall:.2f}s ({removed:.1f}/s)")
    if phase.errors:
        printer.line(tag, f"failures: {len(phase.errors)} (first: {phase.errors[0]})")


def print_ratios(printer: Printer, ours: Phase, raw: Phase) -> None:
    """``daemon/runc: ...`` for the daemon; ``containerd/runc: ...`` for a peer. Then what the
    daemon's CPU per start is as a share of runc's in the raw phase, when both are known."""
    a, b = ours.stats, raw.stats
    name = "daemon" if ours.tag == TAG_DAEMON else ours.tag
    share = ""
    daemon_cpu, runc_cpu = ours.per_item(ours.daemon_cpu), raw.per_item(raw.runc_cpu)
    if daemon_cpu is not None and runc_cpu:
        share = f" {name} cpu {daemon_cpu / runc_cpu:.0%} of {raw.tag}'s"
        whole = raw.per_item(raw.runc_cpu_with_init)
        if whole:
            share += f" ({daemon_cpu / whole:.0%} with {raw.tag} init)"
    printer.line(
        ours.tag,
        f"{name}/{raw.tag}: rate {ratio(ours.rate, raw.rate)} median {ratio(a.median, b.median)}"
        f" p99 {ratio(a.p99, b.p99)}{share}",
    )


def print_rounds(printer: Printer, rounds: Sequence[Round]) -> None:
    """The ratios over all rounds: each side's starts over its phases' summed wall time (the
    rate of all its starts, not a mean of rates), over all rounds and by order; then each
    round's own ratio, and the daemon's CPU per start pooled as a share of runc's: of runc's
    in runc's own phases, and (where the daemon says it) of runc's beside it in the daemon's
    phases, which ran at the same speed."""
    unit = rounds[0].main.unit

    def pooled(chosen: Sequence[Round]) -> str:
        if not chosen:
            return "n/a"
        return ratio(pooled_rate([r.main for r in chosen]), pooled_rate([r.raw for r in chosen]))

    daemon_first = [r for r in rounds if not r.runc_first]
    runc_first = [r for r in rounds if r.runc_first]
    mains, raws = [r.main for r in rounds], [r.raw for r in rounds]
    each = " ".join(ratio(r.main.rate, r.raw.rate) for r in rounds)
    daemon_cpu = pooled_per_item(mains, lambda phase: phase.daemon_cpu)
    runc_cpu = pooled_per_item(raws, lambda phase: phase.runc_cpu)
    beside = pooled_per_item(mains, lambda phase: phase.runc_cpu)
    share = ""
    if daemon_cpu is not None and runc_cpu:
        share = (
            f"; daemon cpu {ms_precise(daemon_cpu)} per {unit},"
            f" {daemon_cpu / runc_cpu:.0%} of runc's in runc's phases"
        )
        if beside:
            share += f", {daemon_cpu / beside:.0%} of runc's beside it"
        whole = pooled_per_item(raws, lambda phase: phase.runc_cpu_with_init)
        if whole:
            share += f"; {daemon_cpu / whole:.0%} of runc's with runc init (in runc's phases)"
    printer.line(
        TAG_DAEMON,
        f"daemon/runc over {len(rounds)} rounds: rate {pooled(rounds)}"
        f" ({pooled_rate(mains):.1f} against {pooled_rate(raws):.1f} {unit}s/s),"
        f" daemon first {pooled(daemon_first)}, runc first {pooled(runc_first)};"
        f" each round {each}{share}",
    )


def print_at_equal_speed(printer: Printer, rounds: Sequence[Round]) -> None:
    """The daemon/runc ratio of starts (or lifecycles), each phase's rate weighted by runc's CPU
    per start (or cycle) in it; and runc's CPU per start through the daemon against its own,
    which that weighting takes for the machine's doing.

    A virtual machine on a shared host can run a third slower for minutes on end (on the
    project's 2-vCPU machine runc's own CPU per start moved between about 14 and 22 ms, and
    every other process's with it); a round whose two phases fall on different sides of such a
    change gets a ratio off by as much. Both phases make the same runc calls, so runc's CPU
    per start is a yardstick of the machine's speed in each. When both phases keep the CPUs
    busy (the bench's starts do, 8 at once on 2 CPUs), rate x runc's CPU per start is the CPU
    runc got per second, which a slower machine does not change.

    It takes any change in runc's CPU per start for the machine's: a daemon that made runc
    itself costlier (its processes beside runc on the CPUs, a larger fd table to copy at each
    spawn) would gain by as much, so the line says how much costlier runc was beside the
    daemon, and the ``runc cpu`` lines of both phases stay printed. Only for rounds without
    failures (runc's CPU then counts attempts the rate does not) and with runc's CPU on both
    sides (the bench's own daemon says its children's; one at ``--address`` does not).

    Not for lifecycles: there the two sides make different runc calls (the baseline's one
    foreground ``runc run``, which removes the container's cgroups and state itself, against
    the daemon's ``run -d``, after which the daemon does that work in its own CPU:
    :mod:`~containerd_trio.runc_destroy`; until 2026-12-05 a ``runc delete``), so runc's CPU
    per cycle is no yardstick of the machine's speed, and the weighting would credit one side
    with the other's work. The line says so instead.
    """
    if not rounds:
        return
    unit = rounds[0].main.unit
    if unit == "cycle":
        printer.line(
            TAG_DAEMON,
            "daemon/runc at equal machine speed: not for lifecycles (runc's calls differ: the"
            " baseline's foreground run removes its container, the daemon's run -d leaves that"
            " to the daemon)",
        )
        return
    weighted: list[float] = []
    runc_beside: list[float] = []
    for one in rounds:
        ours = one.main.per_item(one.main.runc_cpu)
        theirs = one.raw.per_item(one.raw.runc_cpu)
        if one.main.errors or one.raw.errors or not ours or not theirs:
            continue
        weighted.append(one.main.rate * ours / (one.raw.rate * theirs))
        runc_beside.append(ours / theirs)
    if not weighted:
        return
    count = len(weighted)
    median = statistics.median(weighted)
    which = f", the median of {count} rounds ({min(weighted):.2f}x-{max(weighted):.2f}x)"
    left = len(rounds) - count
    printer.line(
        TAG_DAEMON,
        f"daemon/runc at equal machine speed: rate {median:.2f}x"
        + (which if count > 1 else "")
        + (f", {left} of {len(rounds)} rounds left out (failures, or no runc cpu)" if left else "")
        + f": each phase's rate times runc's cpu per {unit} in it; runc's cpu per {unit} beside"
        f" the daemon {statistics.median(runc_beside):.2f}x its own",
    )


def pooled_rate(phases: Sequence[Phase]) -> float:
    """All the phases' items done over all their wall time."""
    wall = sum(phase.wall for phase in phases)
    return sum(len(phase.latencies) for phase in phases) / wall if wall > 0 else math.nan


def pooled_per_item(
    phases: Sequence[Phase], seconds: Callable[[Phase], float | None]
) -> float | None:
    """``seconds(phase)`` summed over the phases, per item done; None if any did not say."""
    spent = [seconds(phase) for phase in phases]
    done = sum(len(phase.latencies) for phase in phases)
    if done == 0 or any(value is None for value in spent):
        return None
    return sum(value for value in spent if value is not None) / done


def print_checkpoints(printer: Printer, phase: CheckpointPhase) -> None:
    rows = (
        (TAG_DAEMON, "checkpoint", phase.daemon_checkpoint),
        (TAG_DAEMON, "restore", phase.daemon_restore),
        (TAG_RUNC, "checkpoint", phase.runc_checkpoint),
        (TAG_RUNC, "restore", phase.runc_restore),
    )
    for tag, what, samples in rows:
        stats = Stats.of(samples)
        printer.line(
            tag, f"{what}: count {stats.count} mean {ms(stats.mean)} median {ms(stats.median)}"
        )
    for what, ours, theirs in (
        ("checkpoint", phase.daemon_checkpoint, phase.runc_checkpoint),
        ("restore", phase.daemon_restore, phase.runc_restore),
    ):
        a, b = Stats.of(ours), Stats.of(theirs)
        printer.line(
            TAG_DAEMON,
            f"{what} daemon/runc: mean {ratio(a.mean, b.mean)} median {ratio(a.median, b.median)}",
        )
    if phase.errors:
        first = phase.errors[0]
        printer.line(TAG_DAEMON, f"checkpoint failures: {len(phase.errors)} (first: {first})")
