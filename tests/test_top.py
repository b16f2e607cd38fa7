"""GET /containers/{id}/top and ``ctr-trio top``: every process of a container, as ps -ef."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from containerd_trio.client.output import TOP_HEADERS, cpu_time, start_time
from containerd_trio.top import terminal_name

from .helpers import (
    BundleFactory,
    RunningDaemon,
    now,
    runc,
    start_container,
    wait_exit,
    wait_output,
)
from .test_cli import run_cli

#: An init that starts two children of its own, which the daemon knows nothing of.
FAMILY = ("sh", "-c", "sleep 1001 & sleep 1002 & echo ready; wait")


async def test_top_lists_every_process_not_only_the_daemons(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    started = await start_container(client, "family", make_bundle(FAMILY))
    init = started["processes"][0]["pid"]
    await wait_output(client, "family", "ready")  # both children forked
    exec_pid = (
        await client.put("/containers/family/processes", json={"args": ["sleep", "1003"]})
    ).json()["pid"]
    response = await client.get("/containers/family/top")
    assert response.status_code == 200, response.text
    processes = response.json()["processes"]
    # runc ps is the truth for which processes; the answer has them all, the init first.
    listed = json.loads(runc(daemon.config.state_dir, "ps", "--format", "json", "family"))
    assert sorted(p["pid"] for p in processes) == sorted(listed)
    assert processes[0]["pid"] == init and processes[0]["args"] == list(FAMILY)
    by_args = {" ".join(p["args"]): p for p in processes}
    assert by_args["sleep 1001"]["ppid"] == init and by_args["sleep 1002"]["ppid"] == init
    assert by_args["sleep 1003"]["pid"] == exec_pid
    created = _seconds(started["createdAt"])
    for process in processes:
        assert process["uid"] == 0 and process["user"] == "root"
        assert process["command"] == process["args"][0]
        assert "tty" not in process  # pipes, no terminal
        assert 0 <= process["cpuPercent"] <= 99 and process["cpuSeconds"] >= 0
        # Clock ticks since boot, turned into a time: between the start and now.
        assert created - 1 < _seconds(process["startedAt"]) < time.time() + 1

    result = await run_cli("--address", daemon.url, "top", "family")
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.split() == list(TOP_HEADERS)
    assert len(rows) == len(processes)
    assert rows[0].split()[:3] == ["root", str(init), str(processes[0]["ppid"])]
    assert rows[0].endswith(" ".join(FAMILY))
    assert rows[0].split()[5:7] == ["?", "00:00:00"]


async def test_top_of_a_stopped_or_unknown_container(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    pid = (await start_container(client, "gone", make_bundle(["true"])))["processes"][0]["pid"]
    await wait_exit(client, "gone", pid, since)
    response = await client.get("/containers/gone/top")
    assert response.status_code == 409
    assert response.json()["error"] == "container 'gone' is stopped: it has no processes"
    assert (await client.get("/containers/ghost/top")).status_code == 404
    response = await client.get("/containers/gone/top?all=1")
    assert response.status_code == 400


async def test_top_of_a_paused_container(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "still", bundle)
    await client.patch("/containers/still", json={"status": "paused"})
    response = await client.get("/containers/still/top")
    assert response.status_code == 200, response.text
    assert [p["args"] for p in response.json()["processes"]] == [["sleep", "100000"]]


def test_ps_columns() -> None:
    assert cpu_time(0) == "00:00:00"
    assert cpu_time(3725.9) == "01:02:05"
    assert cpu_time(2 * 86400 + 61) == "2-00:01:01"
    today = time.mktime((2026, 11, 29, 15, 0, 0, 0, 0, -1))
    assert start_time(_stamp(time.mktime((2026, 11, 29, 14, 5, 0, 0, 0, -1))), today) == "14:05"
    assert start_time(_stamp(time.mktime((2026, 11, 28, 9, 0, 0, 0, 0, -1))), today) == "Nov28"
    assert start_time(_stamp(time.mktime((2025, 3, 1, 9, 0, 0, 0, 0, -1))), today) == "2025"
    assert terminal_name(0) is None
    assert terminal_name((136 << 8) | 3) == "pts/3"
    assert terminal_name((137 << 8) | 1) == "pts/257"
    assert terminal_name((4 << 8) | 1) == "tty1"


def _stamp(seconds: float) -> str:
    from containerd_trio.timestamps import format_ns

    return format_ns(int(seconds * 1e9))


def _seconds(stamp: str) -> float:
    from containerd_trio.timestamps import parse_ns

    return parse_ns(stamp) / 1e9
