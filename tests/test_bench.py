"""``ctr-trio bench``: it runs, prints the seed's lines, and leaves nothing behind.

No assertion here is about time: the numbers depend on the machine. The runs are tiny (a few
containers) and check the shape of the report and the clean-up: no container listed by the
daemon, none in the raw runc root, no checkpoint left in the bundle, no zombie.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio

from containerd_trio import bench as bench_module
from containerd_trio import procfs
from containerd_trio.bench import (
    SEED_LINES,
    Options,
    Report,
    Stats,
    bench,
    parse_figures,
    percentile,
)
from containerd_trio.bench import main as main_module
from containerd_trio.bench import options as options_module
from containerd_trio.bench.ceiling import EXIT_MARKER, RECORDS_TMPFS, TAG_CEILING, build_standin
from containerd_trio.bench.errors import BenchError
from containerd_trio.bench.phase import Phase, Unit
from containerd_trio.bench.probes import process_cpu_clock
from containerd_trio.bench.report import (
    Printer,
    Round,
    pooled_per_item,
    print_at_equal_speed,
    print_rounds,
)

from .helpers import RunningDaemon, killed_at_end, runc_ids, zombie_children

# The bench makes itself the child subreaper when it runs runc itself (the raw baseline): its
# containers' processes are left to it. Each test here runs as one, and the suite's process is
# what it was after it (later tests must not find killed daemons' orphans re-parented to it).
pytestmark = pytest.mark.usefixtures("subreaper_parent")

STAMP = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"


#: The daemon's CPU is all three of its processes', and each one's part follows.
SPLIT = r"\(server [\d.]+ms, keeper [\d.]+ms(, logger [\d.]+ms)?\)"


def lines_of(report: Report, tag: str, text: str) -> list[str]:
    pattern = re.compile(rf"^\[{re.escape(tag)}\] {STAMP} {text}$")
    return [line for line in report.lines if pattern.match(line)]


def assert_seed_lines(report: Report, tag: str, count: int) -> None:
    """Every line of the seed's Performance section, in its format, once per tag."""
    assert len(lines_of(report, tag, f"count: {count}")) == 1, report.lines
    for name in SEED_LINES[1:]:
        found = lines_of(report, tag, rf"{re.escape(name)}: \d+ms")
        assert len(found) == 1, (name, report.lines)


def assert_daemon_figures(report: Report, unit: str) -> None:
    tag = "containerd-trio"
    assert lines_of(report, tag, rf"rate: [\d.]+ {unit}s/s \(\d+ in [\d.]+s\)"), report.lines
    assert lines_of(report, tag, rf"daemon cpu: [\d.]+ms per {unit} {SPLIT}"), report.lines
    assert lines_of(report, tag, r"daemon rss: [\d.]+MiB (with|after) \d+ \w+"), report.lines
    assert lines_of(report, tag, rf"bench cpu: [\d.]+ms per {unit}"), report.lines


def options(tmp_path: Path, **overrides: object) -> Options:
    settings: dict[str, object] = {
        "count": 5,
        "concurrency": 2,
        "workdir": tmp_path / "bench",
        "progress": False,
        "out": io.StringIO(),
        "settle": 0.0,  # no waiting for an idle machine: nothing here is timed
    }
    settings.update(overrides)
    return Options(**settings)  # type: ignore[arg-type]


async def assert_daemon_empty(daemon: RunningDaemon) -> None:
    state = (await daemon.client.get("/state")).json()
    assert state["containers"] == []
    assert runc_ids(daemon.config.state_dir) == []


def assert_raw_empty(report: Report) -> None:
    assert report.runc_root is not None
    assert runc_ids(report.runc_root.parent) == []  # the raw root is <dir>/runc
    assert zombie_children() == []


# --- the runs -------------------------------------------------------------------------------


@pytest.mark.deadline(120)
async def test_starts_against_a_running_daemon(daemon: RunningDaemon, tmp_path: Path) -> None:
    opts = options(tmp_path, address=daemon.url)
    report = await bench(opts)
    assert report.ok, report.lines
    assert_seed_lines(report, "containerd-trio", 5)
    assert_daemon_figures(report, "start")
    assert report.lines == opts.out.getvalue().splitlines()  # type: ignore[union-attr]
    assert not lines_of(report, "runc", ".*")  # no baseline asked for
    # A daemon the bench did not start may be another machine's: its pids are not read here.
    assert not lines_of(report, "containerd-trio", "runc init cpu.*")
    await assert_daemon_empty(daemon)


@pytest.mark.deadline(180)
async def test_own_daemon_with_baseline(tmp_path: Path) -> None:
    """No address: the bench runs its own daemon, then stops it; --baseline adds runc's lines."""
    report = await bench(options(tmp_path, baseline=True))
    assert report.ok, report.lines
    assert_seed_lines(report, "containerd-trio", 5)
    assert_daemon_figures(report, "start")
    assert_seed_lines(report, "runc", 5)
    assert lines_of(report, "runc", r"rate: [\d.]+ starts/s .*")
    assert lines_of(report, "runc", r"runc cpu: [\d.]+ms per start")
    # The containers' inits ran runc init before their exec, whoever started them: both phases
    # say it (the clock read is not 0, which /proc/PID/stat's ticks would give).
    for tag in ("runc", "containerd-trio"):
        (init,) = lines_of(report, tag, r"runc init cpu: [\d.]+ms per start \(.*\)")
        assert float(re.findall(r"init cpu: ([\d.]+)ms", init)[0]) > 0, init
    ratios = (
        r"daemon/runc: rate [\d.]+x median [\d.]+x p99 [\d.]+x daemon cpu \d+% of runc's"
        r" \(\d+% with runc init\)"
    )
    assert lines_of(report, "containerd-trio", ratios), report.lines
    # The bench's own daemon says its children's CPU: runc's in both phases.
    equal = r"daemon/runc at equal machine speed: rate [\d.]+x: .*"
    assert len(lines_of(report, "containerd-trio", equal)) == 1, report.lines
    assert_raw_empty(report)
    # The bench's daemon removed what it ran and stopped cleanly.
    assert report.daemon_state_dir is not None
    assert runc_ids(report.daemon_state_dir) == []
    assert report.daemon_exit == 0
    assert not (tmp_path / "bench" / "api.sock").exists()


@pytest.mark.deadline(120)
async def test_cycles_with_baseline(daemon: RunningDaemon, tmp_path: Path) -> None:
    report = await bench(options(tmp_path, address=daemon.url, count=2, cycle=True, baseline=True))
    assert report.ok, report.lines
    assert_seed_lines(report, "containerd-trio", 2)
    assert_daemon_figures(report, "cycle")
    assert_seed_lines(report, "runc", 2)
    assert lines_of(report, "containerd-trio", r"daemon/runc: rate .*")
    # runc's cheapest lifecycle is its baseline: one foreground run, which waits and deletes.
    assert lines_of(
        report, "runc", r"lifecycles of 2 containers, .*\(runc run in the foreground,.*"
    )
    # A lifecycle's inits are reaped within it: in its runc cpu already.
    assert not lines_of(report, "runc", "runc init cpu.*")
    await assert_daemon_empty(daemon)
    assert_raw_empty(report)


@pytest.mark.deadline(120)
async def test_cycles_as_docker_run_rm(daemon: RunningDaemon, tmp_path: Path) -> None:
    """--cycle --rm: each of the daemon's containers removed by autoRemove, the bench waiting
    for the removal; the phase says so, and leaves nothing."""
    report = await bench(options(tmp_path, address=daemon.url, count=3, cycle=True, rm=True))
    assert report.ok, report.lines
    assert_seed_lines(report, "containerd-trio", 3)
    how = r"lifecycles of 3 containers, .* \(lifecycles as docker run --rm: autoRemove, .*\)"
    assert lines_of(report, "containerd-trio", how), report.lines
    await assert_daemon_empty(daemon)
    with pytest.raises(BenchError, match="--rm is how the daemon's lifecycles are run"):
        await bench(options(tmp_path / "starts", address=daemon.url, rm=True))


@pytest.mark.deadline(180)
async def test_rounds_alternate_the_order(daemon: RunningDaemon, tmp_path: Path) -> None:
    """--rounds 3: the daemon's phase and runc's three times, runc first in the middle round
    only; each round's ratio, then the ratios over all rounds; nothing left behind."""
    opts = options(tmp_path, address=daemon.url, count=2, baseline=True, rounds=3)
    report = await bench(opts)
    assert report.ok, report.lines
    assert [one.runc_first for one in report.rounds] == [False, True, False]
    heads = [line for line in report.lines if re.search(r"\] \S+ \S+ starting 2 ", line)]
    assert [head.startswith("[runc]") for head in heads] == [False, True, True, False, False, True]
    assert len(lines_of(report, "containerd-trio", r"daemon/runc: rate .*")) == 3
    pooled = (
        r"daemon/runc over 3 rounds: rate [\d.]+x \([\d.]+ against [\d.]+ starts/s\),"
        r" daemon first [\d.]+x, runc first [\d.]+x; each round( [\d.]+x){3};"
        r" daemon cpu [\d.]+ms per start, \d+% of runc's in runc's phases;"
        r" \d+% of runc's with runc init \(in runc's phases\)"
    )
    assert len(lines_of(report, "containerd-trio", pooled)) == 1, report.lines
    await assert_daemon_empty(daemon)
    assert_raw_empty(report)


async def test_rounds_need_the_baseline_alone(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="--rounds needs --baseline"):
        await bench(options(tmp_path, rounds=2))
    # A peer's ratio is to one runc phase; --pressure times no starts.
    with pytest.raises(BenchError, match="run --peers/--with in a run of its own"):
        await bench(options(tmp_path, rounds=2, baseline=True, peers=("containerd",)))
    with pytest.raises(BenchError, match="run --pressure in a run of its own"):
        await bench(options(tmp_path, rounds=2, baseline=True, pressure=True))
    assert not (tmp_path / "bench").exists()  # refused before anything was made


@pytest.mark.deadline(180)
async def test_checkpoint_and_restore(daemon: RunningDaemon, tmp_path: Path) -> None:
    report = await bench(options(tmp_path, address=daemon.url, count=2, checkpoint=True))
    assert report.ok, report.lines
    assert_seed_lines(report, "containerd-trio", 2)
    for tag in ("containerd-trio", "runc"):
        for what in ("checkpoint", "restore"):
            assert lines_of(report, tag, rf"{what}: count 2 mean \d+ms median \d+ms"), report.lines
    for what in ("checkpoint", "restore"):
        pattern = rf"{what} daemon/runc: mean [\d.]+x median [\d.]+x"
        assert lines_of(report, "containerd-trio", pattern), report.lines
    await assert_daemon_empty(daemon)
    assert_raw_empty(report)
    assert list((tmp_path / "bench" / "bundle" / "checkpoints").iterdir()) == []
    assert list((tmp_path / "bench" / "raw-checkpoints").iterdir()) == []


@pytest.mark.deadline(180)
async def test_ceiling_with_the_stand_in_runtime(tmp_path: Path) -> None:
    """--ceiling: the bench's own daemon runs the stand-in runtime (NOT runc: nothing here is
    about runc), every line says so, and nothing is left behind; then the same for cycles."""
    report = await bench(options(tmp_path / "starts", count=20, concurrency=4, ceiling=True))
    assert report.ok, report.lines
    assert all(line.startswith(f"[{TAG_CEILING}] ") for line in report.lines), report.lines
    how = (
        r"starting 20 containers, 4 at once, .*, with the stand-in runtime"
        r" \(not runc: .*, its records on a tmpfs \(/dev/shm/.*\)\)"
    )
    assert lines_of(report, TAG_CEILING, how), report.lines
    assert len(lines_of(report, TAG_CEILING, "count: 20")) == 2  # the starts, then the answers
    assert lines_of(report, TAG_CEILING, r"rate: [\d.]+ starts/s \(20 in [\d.]+s\)")
    assert lines_of(report, TAG_CEILING, rf"daemon cpu: [\d.]+ms per start {SPLIT}")
    assert lines_of(report, TAG_CEILING, r"stand-in cpu: [\d.]+ms per start")
    listed = "GET /state with 20 containers listed, 20 requests, 4 at once"
    assert lines_of(report, TAG_CEILING, listed), report.lines
    assert lines_of(report, TAG_CEILING, r"answer: [\d.]+KiB")
    assert lines_of(report, TAG_CEILING, r"rate: [\d.]+ answers/s \(20 in [\d.]+s\)")
    assert lines_of(report, TAG_CEILING, rf"daemon cpu: [\d.]+ms per answer {SPLIT}")
    assert lines_of(report, TAG_CEILING, r"removed 20 in [\d.]+s .*")
    assert not [line for line in report.lines if "runc cpu" in line]
    _assert_ceiling_left_nothing(report, tmp_path / "starts")

    cycles = await bench(
        options(tmp_path / "cycles", count=5, concurrency=2, ceiling=True, cycle=True)
    )
    assert cycles.ok, cycles.lines
    how = r"lifecycles of 5 containers, 2 at once, .*, with the stand-in runtime \(not runc: .*\)"
    assert lines_of(cycles, TAG_CEILING, how), cycles.lines
    assert lines_of(cycles, TAG_CEILING, r"rate: [\d.]+ cycles/s \(5 in [\d.]+s\)")
    assert not lines_of(cycles, TAG_CEILING, "GET /state .*")  # nothing is left running to list
    _assert_ceiling_left_nothing(cycles, tmp_path / "cycles")


def _assert_ceiling_left_nothing(report: Report, where: Path) -> None:
    assert report.daemon_exit == 0
    assert report.daemon_state_dir is not None
    # The stand-in's records were on a tmpfs (the bench's ceiling), emptied by the daemon's
    # removals, and the directory is gone; nothing went to the daemon's runc root instead.
    assert report.standin_records is not None
    assert report.standin_records.parent == RECORDS_TMPFS
    assert report.standin_left == []
    assert not report.standin_records.exists()
    runc_root = report.daemon_state_dir / "runc"
    assert not runc_root.exists() or list(runc_root.iterdir()) == []
    assert list((report.daemon_state_dir / "containers").iterdir()) == []
    standin = str(where / "bench" / "standin")
    assert [pid for pid in _pids() if _exe(pid) == standin] == []
    assert zombie_children() == []


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


async def test_stand_in_runtime_command_line(tmp_path: Path) -> None:
    """The stand-in runtime of --ceiling (NOT runc, and used for nothing that claims runc's
    behaviour) honours the runc commands a start, a state query and a delete use, and refuses
    the rest in runc's JSON log format."""
    standin = await build_standin(tmp_path)
    root, log, bundle = tmp_path / "root", tmp_path / "log.json", tmp_path / "bundle"
    bundle.mkdir()

    async def call(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
        argv = [standin, "--root", root, "--log", log, "--log-format", "json", *args]
        if args[0] == "run":  # its process keeps the stdio: no pipe that would never end
            quiet = subprocess.DEVNULL
            return await trio.run_process(argv, check=False, stdout=quiet, stderr=quiet)
        return await trio.run_process(argv, check=False, capture_stdout=True, capture_stderr=True)

    async def state(container_id: str) -> dict[str, object]:
        answer = await call("state", container_id)
        assert answer.returncode == 0, answer
        document: dict[str, object] = json.loads(answer.stdout)
        return document

    async def refused(*args: str | Path) -> str:
        answer = await call(*args)
        assert answer.returncode == 1
        entry = json.loads(log.read_text().splitlines()[-1])
        assert entry["level"] == "error"
        return str(entry["msg"])

    pid_file = tmp_path / "one.pid"
    ran = await call("run", "--detach", "--bundle", bundle, "--pid-file", pid_file, "one")
    assert ran.returncode == 0, ran
    pid = int(pid_file.read_text())
    one = await state("one")
    assert (one["id"], one["pid"], one["status"], one["bundle"]) == (
        "one",
        pid,
        "running",
        str(bundle),
    )
    assert _exe(pid) == str(standin)
    listed = await call("list", "--format", "json")
    assert json.loads(listed.stdout) == [one]
    assert await refused("run", "-d", "--bundle", bundle, "one") == "container with id exists: one"
    assert "not stopped" in await refused("delete", "one")
    assert (await call("kill", "one", "SIGTERM")).returncode == 0
    _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == signal.SIGTERM
    assert (await state("one"))["status"] == "stopped"
    assert (await call("delete", "one")).returncode == 0
    assert await refused("state", "one") == "container does not exist"

    pid_file = tmp_path / "two.pid"
    assert (await call("run", "-d", "-b", bundle, "--pid-file", pid_file, "two")).returncode == 0
    pid = int(pid_file.read_text())
    assert (await call("delete", "--force", "two")).returncode == 0  # killed first
    _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert (await call("list", "--format", "json")).stdout == b"null\n"
    assert 'does not do "pause"' in await refused("pause", "two")
    console = ("run", "-d", "--console-socket", tmp_path / "sock", "-b", bundle, "three")
    assert "no terminals" in await refused(*console)
    assert list(root.iterdir()) == []


RFC3339_NANOSECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


async def test_stand_in_runtime_process_and_records(tmp_path: Path) -> None:
    """More of the stand-in runtime of --ceiling (NOT runc), which has no libc to lean on: its
    process (own session, no signal ignored or blocked, no fd but stdio), the exit marker, its
    times (RFC 3339 from the clock, by its own arithmetic), the claim of an id against a run
    still writing its record and the undoing of one killed before it, its errors on stderr
    without --log."""
    standin = await build_standin(tmp_path)
    root, log, bundle = tmp_path / "root", tmp_path / "log.json", tmp_path / "bundle"
    exits = tmp_path / "exits"
    bundle.mkdir()
    exits.mkdir()
    (exits / EXIT_MARKER).touch()
    extra_read, extra_write = os.pipe()  # an fd the caller leaks: its process must not keep it

    def leaking_caller() -> None:  # in the child, before the exec
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})

    async def call(
        *args: str | Path, logged: bool = True, **options: Any
    ) -> subprocess.CompletedProcess[bytes]:
        argv: list[str | Path] = [standin, "--root", root]
        if logged:
            argv += ["--log", log]
        argv += args
        if args[0] == "run":
            quiet = subprocess.DEVNULL
            return await trio.run_process(argv, check=False, stdout=quiet, stderr=quiet, **options)
        return await trio.run_process(argv, check=False, capture_stdout=True, capture_stderr=True)

    async def run(container_id: str, where: Path, **options: Any) -> int:
        pid_file = tmp_path / f"{container_id}.pid"
        args = ("run", "-d", "--bundle", where, "--pid-file", pid_file, container_id)
        ran = await call(*args, **options)
        assert ran.returncode == 0, ran
        return int(pid_file.read_text())

    async def state(container_id: str) -> dict[str, object]:
        answer = await call("state", container_id)
        assert answer.returncode == 0, answer
        document: dict[str, object] = json.loads(answer.stdout)
        return document

    def last_error() -> dict[str, str]:
        entry: dict[str, str] = json.loads(log.read_text().splitlines()[-1])
        return entry

    def recent(stamp: object) -> bool:
        assert isinstance(stamp, str) and RFC3339_NANOSECONDS.fullmatch(stamp), stamp
        then = datetime.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return abs((now - then).total_seconds()) < 60

    # Its sleeping processes are killed however the test ends (they are no one's to reap:
    # a failed assertion left one sleeping in the suite's cgroup).
    with contextlib.ExitStack() as cleanup:
        try:
            pid = await run("one", bundle, pass_fds=(extra_write,), preexec_fn=leaking_caller)
        finally:
            os.close(extra_read)
            os.close(extra_write)
        cleanup.enter_context(killed_at_end(pid))
        # The run does not wait for its process to have set itself up (standin.c,
        # container_process): nothing tells when it has, so look until it has (bounded by
        # the test's deadline), then that it stays so.
        while True:
            if _settled(pid):
                break
            await trio.sleep(0.001)
        status_text = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":\t", 1) for line in status_text.splitlines() if ":\t" in line)
        assert int(fields["SigIgn"], 16) == 0 and int(fields["SigBlk"], 16) == 0, status_text
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
        assert os.getsid(pid) == pid
        one = await state("one")
        assert recent(one["created"]), one
        assert one["status"] == "running"

        pid = await run("brief", exits)  # the marker: its process exits at once, with status 0
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        brief = await state("brief")
        assert (brief["status"], brief["bundle"]) == ("stopped", str(exits))
        assert (await call("kill", "--all", "brief")).returncode == 0  # nothing left to signal
        assert (await call("kill", "brief")).returncode == 1
        assert last_error()["msg"] == "container not running"
        assert recent(last_error()["time"])
        assert (await call("delete", "brief")).returncode == 0

        (root / "killed").touch()  # a run killed before it wrote its record: undone
        pid = await run("killed", bundle)
        cleanup.enter_context(killed_at_end(pid))
        assert (await state("killed"))["pid"] == pid
        writing = root / "writing"
        with writing.open("w") as held:  # a run still writing its record: the id is taken
            fcntl.flock(held, fcntl.LOCK_EX)
            answer = await call("run", "-d", "--bundle", bundle, "writing")
            assert answer.returncode == 1
            assert last_error()["msg"] == "container with id exists: writing"
        writing.unlink()

        answer = await call("frobnicate", logged=False)
        assert answer.returncode == 1
        error = json.loads(answer.stderr)
        assert error["level"] == "error" and 'does not do "frobnicate"' in error["msg"]
        assert recent(error["time"])
        for container_id in ("one", "killed"):
            ended = (await state(container_id))["pid"]
            assert isinstance(ended, int)
            pid = ended
            assert (await call("delete", "--force", container_id)).returncode == 0
            _, status = os.waitpid(pid, 0)
            assert os.WTERMSIG(status) == signal.SIGKILL
        assert list(root.iterdir()) == []


def _settled(pid: int) -> bool:
    """The stand-in's process has reset its signals, taken its own session and closed every fd
    but its stdio (it sleeps in ``ppoll`` from then on)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return (
        int(fields["SigIgn"], 16) == 0
        and int(fields["SigBlk"], 16) == 0
        and os.getsid(pid) == pid
        and sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    )


async def test_run_reports_an_unreachable_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run(args)`` as ``ctr-trio bench`` calls it: a clear error and exit code 1."""
    parser = argparse.ArgumentParser()
    bench_module.add_arguments(parser)
    args = parser.parse_args(
        ["--count", "1", "--address", f"unix:{tmp_path / 'nothing.sock'}",
         "--workdir", str(tmp_path / "bench")]
    )  # fmt: skip
    args.address = None  # the global option of cli.py, not given
    code = await trio.to_thread.run_sync(bench_module.run, args)
    assert code == 1
    assert "no daemon answers at unix:" in capsys.readouterr().err


async def test_peers_says_which_it_leaves_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--peers`` runs the peers installed, and says which are not: it said nothing, and a run
    of performance.md's command by hand on a machine without them (found in trial9) printed
    the daemon's and runc's phases alone, as if the peers had no phase to run."""

    def missing(name: str) -> list[str]:
        return ["podman"] if name == "podman" else []

    monkeypatch.setattr(options_module, "missing", missing)
    monkeypatch.setattr(main_module, "missing", missing)
    parser = argparse.ArgumentParser()
    bench_module.add_arguments(parser)
    args = parser.parse_args(
        ["--count", "1", "--peers", "--address", f"unix:{tmp_path / 'nothing.sock'}",
         "--workdir", str(tmp_path / "bench")]
    )  # fmt: skip
    args.address = None
    assert Options.from_args(args).peers == ("containerd",)
    code = await trio.to_thread.run_sync(bench_module.run, args)
    assert code == 1  # no daemon there: the report's first lines came before
    out = capsys.readouterr().out
    assert "[podman] " in out and "not installed (no podman): --peers leaves it out" in out
    assert "[containerd] " not in out


# --- the parts ------------------------------------------------------------------------------


def test_arguments() -> None:
    parser = argparse.ArgumentParser()
    bench_module.add_arguments(parser)
    args = parser.parse_args(["--count", "7", "--concurrency", "3", "--baseline", "--cycle"])
    args.address = None
    got = Options.from_args(args)
    flags = (got.count, got.concurrency, got.baseline, got.cycle, got.checkpoint)
    assert flags == (7, 3, True, True, False)
    assert got.address is None
    args.address = "127.0.0.1:9999"  # the global --address of cli.py
    assert Options.from_args(args).address == "127.0.0.1:9999"
    args.bench_address = "unix:/run/x.sock"  # bench's own --address wins
    assert Options.from_args(args).address == "unix:/run/x.sock"
    assert got.rounds == 1
    assert Options.from_args(parser.parse_args(["--baseline", "--rounds", "4"])).rounds == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--count", "0"])


def test_rounds_pool_the_starts_over_the_wall_time() -> None:
    """Over all rounds a side's rate is all its starts over all its phases' time (not a mean
    of the rounds' rates), and the daemon's CPU shares are pooled the same way."""

    def phase(tag: str, done: int, wall: float, cpu: float, runc_cpu: float) -> Phase:
        made = Phase(tag, "start", done, latencies=[0.01] * done, wall=wall, runc_cpu=runc_cpu)
        if tag != "runc":
            made.daemon_cpu = cpu
        return made

    rounds = [
        # 100 in 1 s against 100 in 0.8 s: 0.80x, daemon first.
        Round(phase("containerd-trio", 100, 1.0, 0.3, 1.5), phase("runc", 100, 0.8, 0, 1.5), False),
        # 300 in 2 s against 300 in 2 s: 1.00x, runc first.
        Round(phase("containerd-trio", 300, 2.0, 1.5, 3.6), phase("runc", 300, 2.0, 0, 3.0), True),
    ]
    out = io.StringIO()
    print_rounds(Printer(out, progress=False), rounds)
    line = out.getvalue()
    # 400 in 3.0 s = 133.3/s against 400 in 2.8 s = 142.9/s: 0.93x (a mean of rates: 0.90x).
    assert "over 2 rounds: rate 0.93x (133.3 against 142.9 starts/s)" in line, line
    assert "daemon first 0.80x, runc first 1.00x; each round 0.80x 1.00x;" in line, line
    # The daemon: 1.8 s over 400 starts = 4.5 ms; runc in its phases 4.5 s over 400 = 11.25 ms
    # (40%), beside the daemon 5.1 s over 400 = 12.75 ms (35%). Means of the rounds' figures
    # would give 4 ms, 32% and 30%.
    assert line.rstrip().endswith(
        "daemon cpu 4.50ms per start, 40% of runc's in runc's phases, 35% of runc's beside it"
    ), line
    some = Phase("runc", "start", 5)  # said nothing of runc's CPU
    assert pooled_per_item([phase("runc", 10, 1.0, 0, 1.0), some], lambda p: p.runc_cpu) is None


def test_the_ratio_at_equal_machine_speed() -> None:
    """Each phase's rate is weighted by runc's CPU per start in it; the median over rounds,
    and how much costlier runc was beside the daemon."""

    def phase(tag: str, done: int, wall: float, runc_cpu: float | None, unit: Unit) -> Phase:
        return Phase(tag, unit, done, latencies=[0.01] * done, wall=wall, runc_cpu=runc_cpu)

    def rounds(unit: Unit = "start", main_runc: float | None = 2.0) -> list[Round]:
        return [
            # 50/s at 20 ms of runc each, against 66.7/s at 15 ms: 1.00x; runc 1.33x its own.
            Round(
                phase("containerd-trio", 100, 2.0, main_runc, unit),
                phase("runc", 100, 1.5, 1.5, unit),
                False,
            ),
            # 100/s at 16 ms, against 100/s at 20 ms: 0.80x; runc 0.80x.
            Round(
                phase("containerd-trio", 100, 1.0, 1.6, unit),
                phase("runc", 100, 1.0, 2.0, unit),
                True,
            ),
            # 50/s at 10 ms, against 100/s at 10 ms: 0.50x; runc 1.00x.
            Round(
                phase("containerd-trio", 100, 2.0, 1.0, unit),
                phase("runc", 100, 1.0, 1.0, unit),
                False,
            ),
        ]

    def printed(chosen: list[Round]) -> str:
        out = io.StringIO()
        print_at_equal_speed(Printer(out, progress=False), chosen)
        return out.getvalue().rstrip()

    # The medians (means would be 0.77x and 1.04x).
    assert printed(rounds()).endswith(
        "daemon/runc at equal machine speed: rate 0.80x, the median of 3 rounds (0.50x-1.00x):"
        " each phase's rate times runc's cpu per start in it; runc's cpu per start beside the"
        " daemon 1.00x its own"
    ), printed(rounds())
    # A round with a failure is left out, and said to be.
    failed = rounds()
    failed[2].main.errors.append("POST /containers/x: 500 runc failed")
    assert ": rate 0.90x, the median of 2 rounds (0.80x-1.00x), 1 of 3 rounds left out" in (
        printed(failed)
    ), printed(failed)
    # Not for lifecycles, whose two sides make different runc calls: said, with no figure.
    assert printed(rounds(unit="cycle")).endswith(
        " daemon/runc at equal machine speed: not for lifecycles (runc's calls differ: the"
        " baseline's foreground run removes its container, the daemon's run -d leaves that"
        " to the daemon)"
    ), printed(rounds(unit="cycle"))
    # Nothing with no round that has runc's CPU on both sides (a daemon at --address does not
    # say its children's).
    assert printed([rounds(main_runc=None)[0]]) == ""


def test_a_process_cpu_clock_counts_its_ended_threads() -> None:
    """What the bench reads of a container's init: all the CPU its process ran, to the
    nanosecond, also that of threads that ended (runc init's Go threads end at its exec)."""
    burn = (
        "import threading, time, sys\n"
        "def spin():\n"
        "    while time.thread_time() < 0.2: pass\n"
        "t = threading.Thread(target=spin); t.start(); t.join()\n"
        "print(flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # the thread has spun 0.2 s of its CPU, and ended
        cpu = process_cpu_clock(child.pid)
        assert cpu is not None and cpu >= 0.2, cpu
        ticks = procfs.cpu_times(child.pid)
        assert ticks is not None and cpu >= ticks[0]
    finally:
        child.communicate(b"", timeout=30)
    assert process_cpu_clock(child.pid) is None  # reaped: no such process


def test_statistics_follow_go_metrics() -> None:
    """The seed's figures came from go-metrics: percentiles interpolate at p * (n + 1)."""
    samples = [0.001 * x for x in range(1, 11)]  # 1..10 ms
    stats = Stats.of(samples)
    assert stats.count == 10
    assert stats.min == pytest.approx(0.001)
    assert stats.max == pytest.approx(0.010)
    assert stats.mean == pytest.approx(0.0055)
    assert stats.stddev == pytest.approx(0.0028722813)  # population, not sample
    assert stats.median == pytest.approx(0.0055)
    assert stats.p75 == pytest.approx(0.00825)
    assert stats.p95 == pytest.approx(0.010)
    assert percentile([1.0, 2.0, 3.0], 0.1) == 1.0
    assert stats.seed_lines() == [
        "count: 10", "min: 1ms", "max: 10ms", "mean: 6ms", "stddev: 3ms", "median: 6ms",
        "75%: 8ms", "95%: 10ms", "99%: 10ms", "99.9%: 10ms",
    ]  # fmt: skip
    assert Stats.of([]).seed_lines()[1] == "min: n/a"


def test_figures_from_metrics() -> None:
    text = (
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 12.5\n"
        "process_resident_memory_bytes 4.2e+07\n"
        "containerd_trio_container_starts_total 3.0\n"
        'containerd_trio_helper_cpu_seconds_total{process="keeper"} 1.5\n'
        'containerd_trio_helper_cpu_seconds_total{process="logger"} 0.25\n'
        'containerd_trio_helper_resident_memory_bytes{process="keeper"} 8e+06\n'
        "containerd_trio_runtime_cpu_seconds_total 0.75\n"
    )
    figures = parse_figures(text)
    assert figures.cpu_seconds == 14.25
    assert figures.cpu_by_process == {"server": 12.5, "keeper": 1.5, "logger": 0.25}
    assert figures.rss_bytes == 50_000_000
    assert figures.server_children_cpu == 0.75
    assert parse_figures("").cpu_seconds is None
    assert parse_figures("").server_children_cpu is None


def test_progress_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    printer = bench_module.Printer(out, progress=True)
    printer.progress("starting", 3, 3)
    printer.line("containerd-trio", "count: 3")
    err = capsys.readouterr().err
    assert "\rstarting 3/3" in err
    assert out.getvalue().startswith("[containerd-trio] ")
    quiet = bench_module.Printer(io.StringIO(), progress=False)
    quiet.progress("starting", 3, 3)
    assert capsys.readouterr().err == ""


async def test_settle_is_bounded() -> None:
    assert await bench_module.settle(longest=0) == (0.0, True)
    waited, quiet = await bench_module.settle(quiet=0.0, longest=1.0)  # never quiet enough
    assert not quiet
    assert 0.5 <= waited < 5
    assert "WARNING" in bench_module.settle_note((waited, quiet))
    assert bench_module.settle_note((0.2, True)) == ""


@pytest.mark.slow
@pytest.mark.deadline(300)
async def test_peers_in_the_same_run(tmp_path: Path) -> None:
    """containerd (ctr) and Podman after the daemon and runc, each phase under its own tag.

    Slow, and out of ``make test``: it needs containerd and podman, which ``make bench-peers``
    installs and then runs this with ``-m slow``.
    """
    # Podman takes a run root of 50 characters at most: the bench's is in its directory when
    # that is short enough, as a temporary one is; tmp_path is not.
    short = Path(tempfile.mkdtemp(prefix="ctb-"))
    try:
        for cycle in (False, True):
            await _peers_run(short / ("cycles" if cycle else "starts"), cycle)
    finally:
        shutil.rmtree(short, ignore_errors=True)


async def _peers_run(where: Path, cycle: bool) -> None:
    opts = options(where, count=3, baseline=True, cycle=cycle, peers=("containerd", "podman"))
    report = await bench(opts)
    assert report.ok, [line for line in report.lines if "failures" in line]
    unit = "cycle" if cycle else "start"
    for tag in ("containerd", "podman"):
        assert_seed_lines(report, tag, 3)
        assert lines_of(report, tag, rf"(starting|lifecycles of) 3 containers, .* through {tag} .*")
        # Each phase names its client's call: run -d for starts, run --rm for lifecycles.
        call = f"{'ctr' if tag == 'containerd' else 'podman'} run {'--rm' if cycle else '-d'}"
        assert lines_of(report, tag, rf".* through {tag} .*[(, ]{call}[, ].*"), report.lines
        assert lines_of(report, tag, rf"client cpu: [\d.]+ms per {unit}"), report.lines
        # containerd's share of runc's CPU, and for starts of runc's with its inits too.
        share = rf" {tag} cpu \d+% of runc's( \(\d+% with runc init\))?"
        ratios = rf"{tag}/runc: rate [\d.]+x median [\d.]+x p99 [\d.]+x({share})?"
        assert lines_of(report, tag, ratios)
    assert lines_of(report, "containerd", rf"daemon cpu: [\d.]+ms per {unit}")
    assert lines_of(report, "containerd", r"daemon rss: [\d.]+MiB .*")
    assert not lines_of(report, "podman", "daemon .*")  # it has none
    podman = where / "bench" / "podman"
    listed = await trio.run_process(
        ["podman", "--root", str(podman / "root"), "--runroot", str(podman / "run"), "ps", "-aq"],
        capture_stdout=True,
    )
    assert listed.stdout == b""
    assert zombie_children() == []  # the shims and conmons left to the bench are reaped
