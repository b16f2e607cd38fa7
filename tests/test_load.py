"""No leaks under load, and a storm of concurrent commands that ends where runc agrees.

The suite runs a short version; ``make load`` runs the long one (1000 cycles, 100 failing
starts: ``pytest tests/test_load.py -m slow``), whose figures docs/reliability.md records, and
1010 containers at once (a keeper past its crowded mark).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio.procfs import children

from .helpers import (
    FOREVER,
    BundleFactory,
    RunningDaemon,
    now,
    own_cgroup,
    runc,
    runc_ids,
    start_container,
    wait_exit,
    wait_output,
    zombie_children,
)


def snapshot(daemon: RunningDaemon) -> dict[str, Any]:
    """What must come back to where it was: fds, children, runc's list, container dirs."""
    keeper = daemon.daemon.welcome.keeper_pid if daemon.daemon.welcome else None
    return {
        "fds": sorted(os.listdir("/proc/self/fd")),
        "children": sorted(children()),
        "keeper fds": len(os.listdir(f"/proc/{keeper}/fd")),
        "keeper children": len(children(keeper)) if keeper else 0,
        "runc": runc_ids(daemon.config.state_dir),
        "dirs": sorted(os.listdir(daemon.config.containers_dir)),
    }


def cgroup_exists(container_id: str) -> bool:
    """runc names a container's cgroup after its id, under the keeper's (this process's)."""
    return (own_cgroup("pids") / container_id).exists()


async def cycles(
    daemon: RunningDaemon, bundle: Path, broken: Path, count: int, failing: int
) -> None:
    before = snapshot(daemon)
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as client:
        await run_cycles(client, bundle, broken, count, failing)
    # The client's connections are closed: the server lets each go once it has seen that and
    # its keep-alive timer has run out (Hypercorn exposes no event for it: look until then).
    with trio.move_on_after(daemon.config.keep_alive_timeout + 5):
        while snapshot(daemon)["fds"] != before["fds"]:  # noqa: ASYNC110 (no event to wait on)
            await trio.sleep(0.1)
    after = snapshot(daemon)
    for key in before:
        assert after[key] == before[key], (key, before[key], after[key])
    assert zombie_children() == []
    for n in (0, count - 1):
        assert not cgroup_exists(f"load-{n}")
    assert not cgroup_exists("fail-0")


async def run_cycles(
    client: httpx.AsyncClient, bundle: Path, broken: Path, count: int, failing: int
) -> None:
    limiter = trio.CapacityLimiter(4)

    async def cycle(n: int) -> None:
        async with limiter:
            response = await client.post(f"/containers/load-{n}", json={"bundlePath": str(bundle)})
            assert response.status_code == 201, response.text
            response = await client.delete(f"/containers/load-{n}", params={"timeout": "0"})
            assert response.status_code == 200, response.text

    async def fail(n: int) -> None:
        async with limiter:
            response = await client.post(f"/containers/fail-{n}", json={"bundlePath": str(broken)})
            # runc ran and failed (its init could not exec the program), and all it made went
            assert response.status_code == 400, response.text
            assert "cannot run '/missing'" in response.json()["error"]

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(cycle, n)
        for n in range(failing):
            nursery.start_soon(fail, n)


@pytest.mark.deadline(120)
async def test_cycles_leave_nothing_behind(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    await cycles(daemon, make_bundle(FOREVER), make_bundle(["/missing"]), count=60, failing=10)


@pytest.mark.slow
@pytest.mark.deadline(1800)
async def test_1000_cycles_and_100_failing_starts(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    await cycles(daemon, make_bundle(FOREVER), make_bundle(["/missing"]), count=1000, failing=100)


async def storm(client: httpx.AsyncClient, ids: list[str], operations: int, seed: int) -> None:
    """Exec, kill, pause, resume and delete, all at once, on the same few containers."""
    rng = random.Random(seed)
    allowed = {
        "exec": {201, 404, 409},
        "kill": {200, 404, 409},
        "pause": {200, 404, 409},
        "resume": {200, 404, 409},
        "delete": {200, 404, 409},
        "signal": {200, 404},
    }

    async def one(kind: str, container_id: str) -> None:
        if kind == "exec":
            response = await client.put(
                f"/containers/{container_id}/processes", json={"args": ["sleep", "1000"]}
            )
        elif kind == "kill":
            response = await client.patch(f"/containers/{container_id}", json={"signal": "KILL"})
        elif kind in ("pause", "resume"):
            status = "paused" if kind == "pause" else "running"
            response = await client.patch(f"/containers/{container_id}", json={"status": status})
        elif kind == "signal":
            got = await client.get(f"/containers/{container_id}")
            listed = got.json().get("processes", []) if got.status_code == 200 else []
            pids = [p["pid"] for p in listed] or [1]  # pid 1 is never theirs: a 404
            response = await client.post(
                f"/containers/{container_id}/process/{rng.choice(pids)}", json={"signal": "KILL"}
            )
        else:
            response = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
        assert response.status_code in allowed[kind], (kind, container_id, response.text)

    kinds = ["exec"] * 6 + ["signal"] * 3 + ["pause", "resume"] * 2 + ["kill", "delete"]
    async with trio.open_nursery() as nursery:
        for _ in range(operations):
            nursery.start_soon(one, rng.choice(kinds), rng.choice(ids))


@pytest.mark.deadline(120)
async def test_storm_ends_where_runc_agrees(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    ids = [f"storm-{n}" for n in range(3)]
    bundle = make_bundle(FOREVER)
    for container_id in ids:
        assert (
            await client.post(f"/containers/{container_id}", json={"bundlePath": str(bundle)})
        ).status_code == 201
    await storm(client, ids, operations=120, seed=7)

    listed = {c["id"]: c for c in (await client.get("/state")).json()["containers"]}
    for container_id in ids:
        if container_id not in listed:
            assert container_id not in runc_ids(daemon.config.state_dir)
            continue
        ours = listed[container_id]["state"]["status"]
        out = runc(daemon.config.state_dir, "state", container_id, check=False)
        theirs = json.loads(out)["status"] if out else "stopped"
        assert ours == theirs, (container_id, ours, theirs)
        for process in listed[container_id]["processes"]:
            assert Path(f"/proc/{process['pid']}").exists()
    for container_id in listed:
        await client.patch(f"/containers/{container_id}", json={"status": "running"})
        assert (
            await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
        ).status_code == 200
    assert runc_ids(daemon.config.state_dir) == []
    assert zombie_children() == []


@pytest.mark.slow
@pytest.mark.deadline(600)
async def test_a_crowded_keeper_starts_and_ends_containers(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Past 1000 running containers the keeper spawns runc from a thread's own small fd
    table (spawn._SmallTable; a spawn from its own table of thousands costs runc and the
    keeper about 0.1 ms more per thousand fds): a container started then runs, its output is
    kept, its exit is told, and all of them are deleted as before."""
    client = daemon.client
    sleeper = make_bundle(FOREVER)
    limiter = trio.CapacityLimiter(8)
    crowd = [f"crowd-{n}" for n in range(1010)]

    async def start(container_id: str) -> None:
        async with limiter:
            await start_container(client, container_id, sleeper)

    async def delete(container_id: str) -> None:
        async with limiter:
            response = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
            assert response.status_code == 200, response.text

    async with trio.open_nursery() as nursery:
        for container_id in crowd:
            nursery.start_soon(start, container_id)
    assert daemon.daemon.welcome is not None
    keeper = daemon.daemon.welcome.keeper_pid
    since = now()
    talker = make_bundle(["sh", "-c", "echo from a crowd; exit 3"])
    pid = (await start_container(client, "talker", talker))["processes"][0]["pid"]
    assert len(os.listdir(f"/proc/{keeper}/task")) == 2  # the spawning thread is there
    assert await wait_exit(client, "talker", pid, since) == 3
    await wait_output(client, "talker", "from a crowd")
    async with trio.open_nursery() as nursery:
        for container_id in [*crowd, "talker"]:
            nursery.start_soon(delete, container_id)
    assert runc_ids(daemon.config.state_dir) == []
