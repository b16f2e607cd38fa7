"""Checkpoints that scale: their own deadline, and their course on the event stream.

Through real CRIU. A checkpoint (and a restore) runs under the deadline its request gives, or
the daemon's --checkpoint-timeout, never the runtime deadline of every other runc call; it
reports checkpoint-started, checkpoint-progress (while the images grow), checkpoint-done or
checkpoint-failed, with the images' size and the times; a restore the same.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import criu_progress
from containerd_trio.checkpoints import METADATA_NAME
from containerd_trio.client import cli

from .helpers import (
    COUNTER,
    BundleFactory,
    RunningDaemon,
    now,
    runc_ids,
    runc_state,
    start_container,
    wait_output,
)

pytestmark = pytest.mark.deadline(90)

CHECKPOINT_COURSE = "checkpoint-started,checkpoint-progress,checkpoint-done,checkpoint-failed"
RESTORE_COURSE = "restore-started,restore-done,restore-failed"


async def course(
    client: httpx.AsyncClient, container_id: str, since: str, types: str, last: str
) -> list[dict[str, Any]]:
    """The events of ``types`` from ``since`` on, up to the first of type ``last``."""
    found = []
    params = {"since": since, "id": container_id, "type": types}
    async with client.stream("GET", "/events", params=params) as stream:
        async for line in stream.aiter_lines():
            found.append(json.loads(line))
            if found[-1]["type"] == last:
                return found
    raise AssertionError(f"the stream ended before {last}: {found}")


def images_size(directory: Path) -> int:
    return sum(
        path.stat().st_size
        for path in directory.iterdir()
        if path.is_file() and path.name != METADATA_NAME
    )


async def test_checkpoint_and_restore_report_their_course(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(COUNTER)
    await start_container(client, "count", bundle)
    await wait_output(client, "count", "2")
    since = now()
    response = await client.post("/containers/count/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    events = await course(client, "count", since, CHECKPOINT_COURSE, "checkpoint-done")
    started, *_, done = events
    assert started["type"] == "checkpoint-started"
    assert (started["checkpoint"], started["timeout"]) == ("cp", 600)  # the daemon's default
    size = images_size(bundle / "checkpoints" / "cp")
    assert done["checkpoint"] == "cp"
    # The pages of a busybox shell and its sleep, at least: over 100 KB in most runs, 84 KB
    # once (they vary with where the counter was).
    assert done["bytes"] == size > 50_000
    assert 0 < done["frozenSeconds"] <= done["seconds"] < 60
    assert done["pagesWritten"] > 0

    since = now()
    response = await client.post(
        "/containers/count", json={"bundlePath": str(bundle), "checkpoint": "cp", "timeout": 45}
    )
    assert response.status_code == 201, response.text
    started, done = await course(client, "count", since, RESTORE_COURSE, "restore-done")
    assert started == {**started, "type": "restore-started", "checkpoint": "cp"}
    assert (started["bytes"], started["timeout"]) == (size, 45)
    assert 0 < done["seconds"] < 45
    assert 0 < done["restoreSeconds"] <= done["seconds"]
    assert done["pagesRestored"] > 0


async def test_progress_while_the_images_grow(
    client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shell holding 48 MiB in a variable: CRIU writes it out for a good fraction of a second.
    # (Not a bare sleep at the end: busybox sh would exec it, and the memory would be gone.)
    fill = "x=$(head -c 50331648 /dev/zero | tr '\\0' a); echo held"
    holder = ("sh", "-c", f"{fill}; while true; do sleep 1000; done")
    await start_container(client, "big", make_bundle(holder))
    await wait_output(client, "big", "held")
    monkeypatch.setattr(criu_progress, "PROGRESS_INTERVAL", 0.01)
    since = now()
    response = await client.post("/containers/big/checkpoint/cp")
    assert response.status_code == 201, response.text
    events = await course(client, "big", since, CHECKPOINT_COURSE, "checkpoint-done")
    progress = [e for e in events if e["type"] == "checkpoint-progress"]
    assert progress, events
    sizes = [e["bytes"] for e in progress]
    assert sizes == sorted(set(sizes))  # said each time it grew, and only then
    assert 0 < sizes[-1] <= events[-1]["bytes"]
    assert events[-1]["bytes"] > 48 << 20
    times = [e["seconds"] for e in progress]
    assert times == sorted(times) and times[-1] <= events[-1]["seconds"]


async def test_a_checkpoint_has_its_own_deadline(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    client = daemon.client
    bundle = make_bundle(COUNTER)
    await start_container(client, "slow", bundle)
    await wait_output(client, "slow", "2")
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None  # the daemon runs
    runtime = supervisor.runtime
    # Every other runc call now has a thousandth of a second: a checkpoint and a restore
    # still have theirs. The pause's runc is held past it for sure (runc alone may finish
    # before a loaded machine lets the server see its deadline pass).
    slow_pause = tmp_path / "slow-pause-runc"
    slow_pause.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = pause ] && sleep 30; done\nexec runc "$@"\n'
    )
    slow_pause.chmod(0o755)
    runc = runtime.binary
    runtime.timeout, runtime.binary = 0.001, str(slow_pause)
    try:
        response = await client.post("/containers/slow/checkpoint/cp")
        assert response.status_code == 201, response.text
        response = await client.patch("/containers/slow", json={"status": "paused"})
        assert response.status_code == 504
        assert "runc pause did not finish within 0.001 seconds" in response.json()["error"]
        response = await client.post(
            "/containers/copy", json={"bundlePath": str(bundle), "checkpoint": "cp"}
        )
        assert response.status_code == 201, response.text
    finally:
        runtime.timeout, runtime.binary = daemon.config.runtime_timeout, runc

    # And a request's own deadline is kept to: too short, and CRIU is stopped.
    since = now()
    response = await client.post("/containers/slow/checkpoint/late", json={"timeout": 0.001})
    assert response.status_code == 504
    assert response.json()["error"] == (
        "runc checkpoint did not finish within 0.001 seconds and was killed"
    )
    started, failed = await course(client, "slow", since, CHECKPOINT_COURSE, "checkpoint-failed")
    assert started["timeout"] == 0.001
    assert failed["error"] == response.json()["error"]
    listed = (await client.get("/containers/slow/checkpoint")).json()
    assert [c["name"] for c in listed] == ["cp"]  # nothing of the late one is left
    assert not (bundle / "checkpoints" / "late").exists()
    assert runc_state(daemon.config.state_dir, "slow")["status"] == "running"  # not frozen

    response = await client.post(
        "/containers/late", json={"bundlePath": str(bundle), "checkpoint": "cp", "timeout": 0.001}
    )
    assert response.status_code == 504
    assert "runc restore did not finish within 0.001 seconds" in response.json()["error"]
    assert (await client.get("/containers/late")).status_code == 404
    assert "late" not in runc_ids(daemon.config.state_dir)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/containers/t/checkpoint/cp", {"timeout": 0}, "timeout must be a number of seconds"),
        ("/containers/t/checkpoint/cp", {"timeout": -3}, "timeout must be a number of seconds"),
        ("/containers/t/checkpoint/cp", {"timeout": "1m"}, "timeout: expected a number"),
        ("/containers/t", {"timeout": 10}, "timeout is the deadline of a restore"),
        ("/containers/t", {"checkpoint": "cp", "timeout": 0}, "timeout must be a number"),
    ],
)
async def test_bad_deadlines_are_400(
    client: httpx.AsyncClient, bundle: Path, path: str, body: dict[str, Any], message: str
) -> None:
    if path == "/containers/t":  # a start (or restore) names its bundle
        body = {"bundlePath": str(bundle), **body}
    response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


class Terminal(io.StringIO):
    """stderr as a person's terminal: the progress line is drawn on it."""

    def isatty(self) -> bool:
        return True


async def cli_at_a_terminal(daemon: RunningDaemon, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), Terminal()
    run = functools.partial(cli.run, ["--address", daemon.url, *argv], stdout, stderr)
    code = await trio.to_thread.run_sync(run, abandon_on_cancel=True)
    return code, stdout.getvalue(), stderr.getvalue()


async def test_the_cli_shows_a_progress_line(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(COUNTER)
    await start_container(daemon.client, "web", bundle)
    await wait_output(daemon.client, "web", "2")
    code, out, err = await cli_at_a_terminal(daemon, "checkpoint", "web", "cp", "--exit")
    assert (code, out) == (0, "checkpointed web as cp and stopped it\n"), err
    drawn = err.split(criu_progress_clear())
    assert drawn[1] == "checkpoint cp of web: started (deadline 600 s)"
    assert drawn[-1].startswith("checkpoint cp of web: ") and drawn[-1].endswith("\n")
    assert " in " in drawn[-1] and ", frozen " in drawn[-1]

    code, out, err = await cli_at_a_terminal(
        daemon, "start", "web", "--bundle", str(bundle), "--checkpoint", "cp", "--timeout", "50"
    )
    assert code == 0, err
    assert out.startswith("started web from checkpoint cp (pid ")
    drawn = err.split(criu_progress_clear())
    assert drawn[1].startswith("restore of web from cp: reading ")
    assert drawn[1].endswith(" (deadline 50 s)")
    assert drawn[-1].startswith("restore of web from cp: done in ") and drawn[-1].endswith("\n")

    code, out, err = await cli_at_a_terminal(
        daemon, "checkpoint", "web", "late", "--timeout", "0.001"
    )
    assert code == 1
    assert "failed after" in err
    assert err.endswith(
        "ctr-trio: runc checkpoint did not finish within 0.001 seconds and was killed\n"
    )

    # For scripts (--json, or stderr not a terminal): the answer alone.
    code, out, err = await cli_at_a_terminal(daemon, "--json", "checkpoint", "web", "quiet")
    assert (code, err) == (0, "")
    assert json.loads(out)["name"] == "quiet"


def criu_progress_clear() -> str:
    from containerd_trio.client.progress import CLEAR_LINE

    return CLEAR_LINE
