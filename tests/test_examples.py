"""The example scripts of examples/ work against a real daemon, as the README says to run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trio

from .helpers import RunningDaemon

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.deadline(90)


async def walk_through(daemon: RunningDaemon, bundle: Path) -> subprocess.CompletedProcess[bytes]:
    address = daemon.daemon.binds[0].removeprefix("http://")
    return await trio.run_process(
        [str(EXAMPLES / "seed-walkthrough.sh")],
        env={"ADDRESS": address, "BUNDLE": str(bundle), "PATH": "/usr/bin:/bin"},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_the_seed_walkthrough_runs_through_and_leaves_nothing(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    bundle = tmp_path / "redis"
    done = await walk_through(daemon, bundle)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-2000:])
    assert b"HTTP 400" in done.stdout  # the seed's body that is not JSON, refused
    # Nothing in the way of the next run: no container, no checkpoint.
    assert (await daemon.client.get("/state")).json()["containers"] == []
    assert list((bundle / "checkpoints").iterdir()) == []


async def test_a_walkthrough_stopped_early_removes_what_it_made(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """A checkpoint ``test1`` left in the bundle (the README's walk-through made one) stops
    the script at its own ``test1`` with the daemon's 409; it removes the container it
    started, so that the next run is not refused too, and leaves the checkpoint it did not
    make."""
    bundle = tmp_path / "redis"
    (bundle / "checkpoints" / "test1").mkdir(parents=True)
    done = await walk_through(daemon, bundle)
    assert done.returncode == 1, done.stdout[-3000:]
    assert b"expected HTTP 201, got 409" in done.stderr
    assert b"removed what this run made" in done.stderr
    assert (await daemon.client.get("/state")).json()["containers"] == []
    assert [p.name for p in (bundle / "checkpoints").iterdir()] == ["test1"]
