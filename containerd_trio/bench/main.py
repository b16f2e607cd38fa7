"""The whole run: the bundles, the daemon (its own or the one at ``--address``), the phases in
their order, and the clean-up, whatever happens."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from ..busybox import make_busybox_bundle
from ..config import DaemonConfig, default_criu
from .api import DaemonApi
from .ceiling import EXIT_MARKER, CeilingTarget, build_standin, standin_records, time_state
from .checkpoints import CHECKPOINT_COUNT, checkpoints
from .daemon import OwnDaemon
from .errors import BenchError
from .options import Options
from .peers import make_peer, missing, reap_orphans
from .phase import Phase, Unit, run_phase
from .pressure import find_logger, pressure
from .probes import settle
from .report import (
    Printer,
    Report,
    Round,
    print_at_equal_speed,
    print_checkpoints,
    print_end,
    print_phase,
    print_ratios,
    print_rounds,
    settle_note,
)
from .targets import TAG_DAEMON, DaemonTarget, RuncTarget, Target, runc_like_the_daemon


def run(args: argparse.Namespace) -> int:
    """``ctr-trio bench``: the exit code (0 all went well, 1 something failed, 130 interrupted)."""
    options = Options.from_args(args)
    try:
        report = trio.run(bench, options)
    except BenchError as exc:
        print(f"ctr-trio bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctr-trio bench: interrupted", file=sys.stderr)
        return 130
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            print("ctr-trio bench: interrupted", file=sys.stderr)
            return 130
        raise
    return 0 if report.ok else 1


def _first_bench_error(group: BaseExceptionGroup[BaseException]) -> BenchError | None:
    """The BenchError of a group that holds nothing else (nurseries wrap what they raise)."""
    rest = group.subgroup(lambda exc: not isinstance(exc, (BenchError, BaseExceptionGroup)))
    if rest is not None:
        return None
    for exc in group.exceptions:
        if isinstance(exc, BenchError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_bench_error(exc)
            if found is not None:
                return found
    return None


async def bench(options: Options) -> Report:
    """Run the bench as ``options`` say; print the report lines as they come and return them."""
    if options.rounds > 1:
        _check_rounds(options)
    if options.rm and not options.cycle:
        raise BenchError("--rm is how the daemon's lifecycles are run: give --cycle too")
    if options.bundle is not None and not (options.bundle / "config.json").is_file():
        raise BenchError(f"--bundle {options.bundle}: no config.json there")
    for name in options.peers:
        if missing(name):
            raise BenchError(
                f"{name} is not installed (no {', '.join(missing(name))}): apt-get install"
                f" {name}, or make bench-peers"
            )
    if options.ceiling:
        _check_ceiling(options)
    out = options.out if options.out is not None else sys.stdout
    show_progress = options.progress if options.progress is not None else sys.stderr.isatty()
    printer = Printer(out, show_progress)
    report = Report(lines=printer.lines)
    for name in options.peers_not_installed:
        printer.line(
            name,
            f"not installed (no {', '.join(missing(name))}): --peers leaves it out; make"
            " bench-peers installs it",
        )
    criu = options.criu or default_criu()
    if options.checkpoint and not criu:
        raise BenchError("--checkpoint needs CRIU: install it (make install does) or pass --criu")
    if options.baseline or options.checkpoint:
        # runc exits after `run -d`: the container's init is re-parented to the nearest
        # subreaper, which must be us, so that we can reap it once deleted.
        from ..host import become_subreaper

        become_subreaper()
    with contextlib.ExitStack() as stack:
        if options.workdir is not None:
            workdir = options.workdir.absolute()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            temporary = tempfile.TemporaryDirectory(prefix="ctr-trio-bench-")
            workdir = Path(stack.enter_context(temporary))
        environment = stack.enter_context(standin_records(report)) if options.ceiling else {}
        try:
            await _until_terminated(_bench_in(options, workdir, criu, printer, report, environment))
        except BaseExceptionGroup as group:
            error = _first_bench_error(group)
            if error is None:
                raise
            raise error from None
    return report


def _check_rounds(options: Options) -> None:
    if not options.baseline:
        raise BenchError("--rounds needs --baseline: a round is the daemon's phase and runc's")
    # A peer's ratio is to one runc phase, and --pressure times no starts at all.
    given = {"--peers/--with": bool(options.peers), "--pressure": options.pressure}
    clashing = [flag for flag, present in given.items() if present]
    if clashing:
        raise BenchError(
            f"--rounds compares the daemon with runc alone: run {', '.join(clashing)} in a run"
            " of its own"
        )


def _check_ceiling(options: Options) -> None:
    clashing = {
        "--address": options.address is not None, "--baseline": options.baseline,
        "--checkpoint": options.checkpoint, "--pressure": options.pressure,
        "--peers/--with": bool(options.peers),
    }  # fmt: skip
    given = [flag for flag, present in clashing.items() if present]
    if given:
        raise BenchError(
            f"--ceiling measures the bench's own daemon with its stand-in runtime alone: not with"
            f" {', '.join(given)}"
        )
    if options.cycle and options.bundle is not None and not (options.bundle / EXIT_MARKER).exists():
        raise BenchError(
            f"--ceiling --cycle: the bundle needs a file named {EXIT_MARKER} (the stand-in's"
            " process then exits at once; it never runs the bundle's process)"
        )


async def _until_terminated(work: Awaitable[None]) -> None:
    """Run ``work``; on SIGTERM or SIGHUP cancel it (its clean-up is shielded) and say so.

    Without this a ``kill`` would leave the containers, and the bench's own daemon, behind.
    Signals can be caught only in the main thread: elsewhere ``work`` just runs.
    """
    terminated: list[int] = []
    async with trio.open_nursery() as nursery:
        if threading.current_thread() is threading.main_thread():

            async def watch() -> None:
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
                    async for signum in signals:
                        terminated.append(signum)
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(watch)
        await work
        nursery.cancel_scope.cancel()
    if terminated:
        name = signal.Signals(terminated[0]).name
        raise BenchError(f"stopped by {name}; what the bench had started is removed")


class _Run:
    """What the phases share: the options, the bundles, the printer."""

    def __init__(
        self, options: Options, printer: Printer, sleeper: Path | None, exits: Path | None
    ):
        self.options = options
        self.printer = printer
        self.unit: Unit = "cycle" if options.cycle else "start"
        self.bundle = exits if options.cycle else sleeper
        self.prefix = f"bench-{secrets.token_hex(3)}"

    async def phase(
        self,
        target: Target,
        ids_tag: str,
        while_running: Callable[[], Awaitable[None]] | None = None,
    ) -> Phase:
        """Settle, say what comes, time it, ``while_running()``, say how the removal went."""
        options, printer = self.options, self.printer
        note = settle_note(await settle(longest=options.settle))
        mode = "lifecycles of" if options.cycle else "starting"
        how = target.how(cycle=options.cycle)
        printer.line(
            target.tag,
            f"{mode} {options.count} containers, {options.concurrency} at once, {how}{note}",
        )
        assert self.bundle is not None
        ids = [f"{self.prefix}{ids_tag}-{i}" for i in range(options.count)]
        phase = await run_phase(
            target, self.unit, ids, self.bundle, options.concurrency,
            progress=printer.progress, measured=lambda phase: print_phase(printer, phase),
            while_running=while_running,
        )  # fmt: skip
        print_end(printer, phase)
        return phase

    async def answers(self, target: DaemonTarget) -> Phase:
        """``GET /state`` N times, C at once, with the N containers of the phase running."""
        options, printer = self.options, self.printer
        note = settle_note(await settle(longest=options.settle))
        printer.line(
            target.tag,
            f"GET /state with {options.count} containers listed, {options.count} requests,"
            f" {options.concurrency} at once{note}",
        )
        phase, size = await time_state(
            target, options.count, options.count, options.concurrency, printer.progress
        )
        printer.line(target.tag, f"answer: {size / 1024:.1f}KiB")
        print_phase(printer, phase)
        print_end(printer, phase)
        return phase


async def _bench_in(
    options: Options,
    workdir: Path,
    criu: str | None,
    printer: Printer,
    report: Report,
    environment: dict[str, str],
) -> None:
    """The bench in ``workdir``; ``environment`` laid over its own daemon's."""
    sleeper = exits = options.bundle
    if options.bundle is None:
        if not options.cycle or options.checkpoint:
            sleeper = await trio.to_thread.run_sync(
                make_busybox_bundle, workdir / "bundle", ["sleep", "100000"]
            )
        if options.cycle:
            exits = await trio.to_thread.run_sync(
                make_busybox_bundle, workdir / "bundle-true", ["true"]
            )
            if options.ceiling:
                (exits / EXIT_MARKER).touch()
    run = _Run(options, printer, sleeper, exits)
    async with trio.open_nursery() as nursery:
        own: OwnDaemon | None = None
        address = options.address
        if address is None:
            extra = options.daemon_args
            if options.pressure:
                # The capture is measured from the logs' sizes: nothing may rotate away.
                extra = ("--log-max-bytes", str(1 << 40), *extra)
            runtime = str(await build_standin(workdir)) if options.ceiling else options.runc
            own = OwnDaemon(workdir, runtime, extra, environment)
            report.daemon_state_dir = own.state_dir
            await own.start(nursery)
            address = own.address
        # The raw baseline spawns runc as the daemon does, with the daemon's settings (those
        # of the bench's own daemon; the defaults for one at --address).
        config = own.config if own is not None else DaemonConfig(runtime=options.runc)
        raw = RuncTarget(
            runc_like_the_daemon(config, workdir / "raw" / "runc", criu), workdir / "raw"
        )
        report.runc_root = raw.runc.root
        api = DaemonApi(address)
        try:
            await api.check()
            if options.pressure:
                await pressure(
                    api, printer, workdir, rounds=options.count, writers=options.writers,
                    prefix=run.prefix, containers_dir=own.state_dir / "containers" if own else None,
                    logger_pid=lambda: find_logger(own.pid if own else None),
                )  # fmt: skip
                return
            daemon = (CeilingTarget if options.ceiling else DaemonTarget)(
                api, pid=own.pid if own else None, rm=options.rm
            )
            if isinstance(daemon, CeilingTarget) and own is not None:
                daemon.records = report.standin_records
            while_running = None
            if options.ceiling and not options.cycle:

                async def while_running() -> None:
                    report.answers = await run.answers(daemon)

            if options.baseline:
                await _rounds(run, daemon, raw, report)
            else:
                report.main = await run.phase(daemon, "", while_running)
            for name in options.peers:
                keep = {own.pid} if own is not None and own.pid is not None else set()
                report.peers.append(await _peer_phase(run, name, workdir, report, keep))
            if options.checkpoint:
                assert sleeper is not None
                k = min(options.count, CHECKPOINT_COUNT)
                note = settle_note(await settle(longest=options.settle))
                printer.line(
                    TAG_DAEMON,
                    f"checkpoint and restore of {k} containers, one at a time, through the daemon"
                    f" and with runc directly{note}",
                )
                report.checkpoint = await checkpoints(
                    api, raw, run.prefix, k, sleeper, workdir / "raw-checkpoints", printer.progress
                )
                print_checkpoints(printer, report.checkpoint)
        finally:
            printer.clear_progress()
            with trio.CancelScope(shield=True):
                await api.aclose()
            if own is not None:
                report.daemon_exit = await own.stop()


async def _rounds(run: _Run, daemon: Target, raw: Target, report: Report) -> None:
    """The daemon's phase and runc's, ``--rounds`` times, the order alternating from one round
    to the next (so that a machine growing slower or faster over the run weighs on both)."""
    options, printer = run.options, run.printer
    count = options.rounds
    for number in range(count):
        runc_first = options.baseline_first != (number % 2 == 1)
        # Each round's containers are named apart: one that a removal failed to remove
        # cannot clash with the next round's.
        tag = f"-r{number + 1}" if count > 1 else ""
        if count > 1:
            first = "runc" if runc_first else "the daemon"
            printer.line(TAG_DAEMON, f"round {number + 1} of {count}: {first} first")
        if runc_first:
            raw_phase = report.raw = await run.phase(raw, f"{tag}-raw")
            main_phase = report.main = await run.phase(daemon, tag)
        else:
            main_phase = report.main = await run.phase(daemon, tag)
            raw_phase = report.raw = await run.phase(raw, f"{tag}-raw")
        print_ratios(printer, main_phase, raw_phase)
        report.rounds.append(Round(main_phase, raw_phase, runc_first))
    if count > 1:
        print_rounds(printer, report.rounds)
    print_at_equal_speed(printer, report.rounds)


async def _peer_phase(run: _Run, name: str, workdir: Path, report: Report, keep: set[int]) -> Phase:
    peer = make_peer(name, workdir)
    try:
        await peer.open()
        phase = await run.phase(peer, f"-{name}")
    finally:
        with trio.CancelScope(shield=True):
            await reap_orphans(keep | peer.processes())
            await peer.aclose()
    baseline = report.raw or report.main
    if baseline is not None:
        print_ratios(run.printer, phase, baseline)
    return phase
