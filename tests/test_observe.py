"""OOM events, stats and metrics from real containers and real cgroups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from containerd_trio.model import Status
from containerd_trio.oom import parse_oom_kill, parse_proc_cgroup

from .helpers import (
    FOREVER,
    BundleFactory,
    RunningDaemon,
    event_types,
    next_event,
    now,
    start_container,
    wait_exit,
    wait_output,
)

LIMIT = 8 * 1024 * 1024
HOG = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]  # a 64 MiB buffer


async def test_oom_of_the_init_under_8_mib(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Killed within milliseconds of its start: the counter read at exit still reports it."""
    since = now()
    created = await start_container(client, "hog", make_bundle(HOG, memory_limit=LIMIT))
    pid = created["processes"][0]["pid"]
    assert await wait_exit(client, "hog", pid, since) == 137
    kinds = await event_types(client, since=since, container_id="hog", count=3)
    assert kinds == ["start-container", "oom", "exit"]


async def test_oom_of_an_exec_d_process_is_seen_live(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    await start_container(client, "box", make_bundle(FOREVER, memory_limit=LIMIT))
    since = now()
    response = await client.put("/containers/box/processes", json={"args": HOG})
    assert response.status_code == 201
    assert await wait_exit(client, "box", response.json()["pid"], since) == 137
    event = await next_event(
        client, since=since, container_id="box", match=lambda e: e["type"] == "oom"
    )
    assert event["id"] == "box"
    # The init lives on: one process was killed, not the container.
    assert (await client.get("/containers/box")).json()["state"]["status"] == "running"


async def test_stats(client: httpx.AsyncClient, make_bundle: BundleFactory) -> None:
    await start_container(client, "s", make_bundle(FOREVER, memory_limit=64 * 1024 * 1024))
    response = await client.get("/containers/s/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["id"] == "s"
    assert stats["pids"]["current"] >= 1
    assert stats["memory"]["usage"]["usage"] > 0
    assert stats["memory"]["usage"]["limit"] == 64 * 1024 * 1024
    assert "usage" in stats["cpu"] and stats["cpu"]["usage"]["total"] > 0
    assert (await client.get("/containers/ghost/stats")).status_code == 404


async def test_stats_of_a_stopped_container_is_409(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    created = await start_container(client, "gone", make_bundle(["true"]))
    await wait_exit(client, "gone", created["processes"][0]["pid"], since)
    response = await client.get("/containers/gone/stats")
    assert response.status_code == 409
    assert "is stopped" in response.json()["error"]


async def test_stats_of_a_container_whose_init_just_died_is_409(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """In the host's pid namespace an init's death ends no child of it: the daemon ends it
    (``runc kill --all``), and the container is stopped once that is done (until 2026-12-06 a
    child that held its pipes kept it from being stopped for up to 2 s, its exit waiting for
    its output). runc calls it stopped meanwhile; stats said so as a 500, where top, exec,
    pause and update give the 409 of a stopped container."""
    client = daemon.client
    started = await start_container(
        client,
        "orphaned",
        make_bundle(["sh", "-c", "sleep 1000 & echo ready; exec sleep 1000"], edit=_host_pids),
    )
    await wait_output(client, "orphaned", "ready")  # the child runs, holding the pipes
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    container = supervisor.container("orphaned")
    assert container.init is not None and container.init.pid == started["processes"][0]["pid"]
    response = await client.patch("/containers/orphaned", json={"signal": 9})
    assert response.status_code == 200, response.text
    await container.init.exited.wait()
    assert container.status is Status.RUNNING  # the child still holds the output
    response = await client.get("/containers/orphaned/stats")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == (
        "cannot read the figures of container 'orphaned': it stopped"
    )
    assert (await client.delete("/containers/orphaned", params={"timeout": "0"})).is_success


def _host_pids(config: dict[str, Any]) -> None:
    """A container in the host's pid namespace: its init's death ends no other process."""
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "pid"]


async def test_metrics(client: httpx.AsyncClient, make_bundle: BundleFactory) -> None:
    since = now()
    await start_container(client, "m1", make_bundle(FOREVER))
    created = await start_container(client, "m2", make_bundle(["sh", "-c", "exit 2"]))
    await wait_exit(client, "m2", created["processes"][0]["pid"], since)
    await client.post("/containers/bad", json={"bundlePath": str(make_bundle(["/missing"]))})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    assert samples['containerd_trio_containers{status="running"}'] == 1
    assert samples['containerd_trio_containers{status="stopped"}'] == 1
    assert samples["containerd_trio_container_starts_total"] == 2
    assert samples["containerd_trio_container_start_failures_total"] == 1
    assert samples['containerd_trio_process_exits_total{kind="init"}'] == 1
    assert samples["containerd_trio_container_start_seconds_count"] == 2
    assert samples['containerd_trio_runtime_call_seconds_count{command="run"}'] == 3
    assert samples['containerd_trio_runtime_call_failures_total{command="run"}'] == 1
    assert samples["containerd_trio_event_subscribers"] == 0
    assert samples["process_cpu_seconds_total"] > 0
    assert samples["process_resident_memory_bytes"] > 0
    # The runc commands the server runs itself (here runc pause and resume) are counted: the
    # bench adds them to runc's CPU.
    for status in ("paused", "running"):
        answer = await client.patch("/containers/m1", json={"status": status})
        assert answer.status_code == 200, answer.text
    after = _samples((await client.get("/metrics")).text)
    ran = "containerd_trio_runtime_cpu_seconds_total"
    assert after[ran] > samples[ran]


def _samples(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_cgroup_parsing() -> None:
    v1 = "12:pids:/x\n4:memory:/process_api/abc/redis\n0::/\n"
    assert parse_proc_cgroup(v1) == ("/process_api/abc/redis", "/")
    v2 = "0::/system.slice/redis\n"
    assert parse_proc_cgroup(v2) == (None, "/system.slice/redis")
    assert parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3
    assert parse_oom_kill("low 0\nhigh 0\nmax 2\noom 2\noom_kill 1\n") == 1
    assert parse_oom_kill("") == 0


def test_oom_counter_reports_each_rise_once(tmp_path: Path) -> None:
    from containerd_trio.oom import MemoryCgroup, OomCounter

    (tmp_path / "memory.events").write_text("oom 0\noom_kill 0\n")
    reports: list[int] = []
    counter = OomCounter(MemoryCgroup(str(tmp_path), 2), lambda: reports.append(1))
    counter.check()
    assert reports == []
    (tmp_path / "memory.events").write_text("oom 2\noom_kill 2\n")
    counter.check()
    counter.check()
    assert len(reports) == 2
