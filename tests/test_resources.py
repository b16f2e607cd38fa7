"""Cgroup limits through PATCH /containers/{id} (runc update), checked in the real cgroups.

This machine runs cgroup v1 for memory, cpu and pids: each test reads the container's own
cgroup files (found from /proc/PID/cgroup of its init) after the PATCH, and makes a process go
over the limit where the kernel enforces it (OOM kill, fork refused).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import cgroups, checkpoints
from containerd_trio.client import types as client_types
from containerd_trio.client.cli import EXIT_USAGE, build_parser
from containerd_trio.client.commands import resource_change
from containerd_trio.client.output import describe_resources
from containerd_trio.errors import InvalidRequest
from containerd_trio.model import CpuResources, MemoryResources, PidsResources, Resources
from containerd_trio.resources import before, from_oci, is_empty, overlay, to_oci

from .helpers import (
    FOREVER,
    UNIFIED,
    BundleFactory,
    DaemonProcess,
    RunningDaemon,
    cgroup_dir,
    event_types,
    next_event,
    now,
    own_cgroup,
    read_fifo_line,
    recorded_container,
    run_status,
    runc_ids,
    runc_state,
    start_container,
    wait_exit,
    wait_output,
)
from .test_cli import run_cli

#: docker's least memory limit, which the daemon holds a client's to; a page, the kernel's.
FLOOR = 6 << 20
PAGE = 4096
#: A container that holds 12 MiB the kernel cannot reclaim (a tmpfs file, and no swap here),
#: then says so.
HOLDS_12_MIB = (
    "sh",
    "-c",
    "head -c 12582912 /dev/zero > /dev/shm/held && echo held && sleep 100000",
)

#: The issue's example: 64 MiB, half a CPU with shares 512, 100 pids.
LIMITS: client_types.Resources = {
    "memory": {"limit": 67108864},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    "pids": {"limit": 100},
}
#: The same limits as ctr-trio sends them for ``--cpus 0.5`` (``cpu.cpus``), and as the
#: daemon keeps them then (the quota and period of those CPUs beside them).
CLI_LIMITS: client_types.Resources = {**LIMITS, "cpu": {"shares": 512, "cpus": 0.5}}
CPUS_LIMITS: client_types.Resources = {**LIMITS, "cpu": {**LIMITS["cpu"], "cpus": 0.5}}


def cgroup_value(pid: int, controller: str, name: str) -> str:
    return (cgroup_dir(pid, controller) / name).read_text().strip()


async def patch(client: httpx.AsyncClient, container_id: str, body: Any) -> httpx.Response:
    return await client.patch(f"/containers/{container_id}", json=body)


async def test_update_puts_the_limits_in_the_cgroups(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    init = (await start_container(client, "limited", bundle))["processes"][0]["pid"]
    assert (await client.get("/containers/limited")).json()["resources"] == {}
    since = now()
    response = await patch(client, "limited", {"resources": LIMITS})
    assert response.status_code == 200, response.text
    assert response.json()["resources"] == LIMITS
    assert (await client.get("/containers/limited")).json()["resources"] == LIMITS
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == "67108864"
    assert cgroup_value(init, "cpu", "cpu.shares") == "512"
    assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup_value(init, "pids", "pids.max") == "100"
    assert await event_types(client, since=since, container_id="limited", count=1) == ["update"]

    # A later update changes what it names and leaves the rest as it was; -1 lifts a limit.
    response = await patch(client, "limited", {"resources": {"pids": {"limit": -1}}})
    assert response.status_code == 200, response.text
    assert response.json()["resources"] == {**LIMITS, "pids": {"limit": -1}}
    assert cgroup_value(init, "pids", "pids.max") == "max"
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == "67108864"
    assert cgroup_value(init, "cpu", "cpu.shares") == "512"


async def test_a_process_over_the_memory_limit_is_oom_killed(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "hungry", bundle)
    # busybox dd holds a buffer of bs bytes, and reading /dev/zero fills all of it.
    eat = {"args": ["dd", "if=/dev/zero", "of=/dev/null", "bs=48M", "count=1"]}

    since = now()
    before = (await client.put("/containers/hungry/processes", json=eat)).json()["pid"]
    assert await wait_exit(client, "hungry", before, since) == 0  # no limit yet: it fits
    assert "oomKilled" not in (await client.get("/containers/hungry")).json()["state"]

    response = await patch(client, "hungry", {"resources": {"memory": {"limit": 32 << 20}}})
    assert response.status_code == 200, response.text
    since = now()
    after = (await client.put("/containers/hungry/processes", json=eat)).json()["pid"]
    assert await wait_exit(client, "hungry", after, since) == 137  # SIGKILL, by the kernel
    oom = await next_event(
        client, since=since, container_id="hungry", match=lambda e: e["type"] == "oom"
    )
    assert oom["id"] == "hungry"
    state = (await client.get("/containers/hungry")).json()
    assert state["state"]["status"] == "running"  # the init is under the limit: it lives on
    # docker's OOMKilled: any process of the run, the init alive or not.
    assert state["state"]["oomKilled"] is True
    [listed] = (await client.get("/state")).json()["containers"]
    assert listed["state"]["oomKilled"] is True


async def test_a_memory_limit_added_later_reports_no_oom_kill_from_before_it(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """(Review.) The OOM watcher that a PATCH adding a memory limit starts took the cgroup's
    oom_kill count from zero: a kill counted before (here under a limit set by hand, which
    the daemon did not watch; a machine-wide OOM counts there too) came out as a new "oom"
    event at the PATCH. Only the kills after the watcher is in place are reported."""
    init = (await start_container(client, "late", bundle))["processes"][0]["pid"]
    limit = os.path.join(cgroups.process_cgroup(init, "memory") or "", "memory.limit_in_bytes")
    eat = {"args": ["dd", "if=/dev/zero", "of=/dev/null", "bs=48M", "count=1"]}
    Path(limit).write_text(str(32 << 20))  # by hand: not the daemon's
    since = now()
    hog = (await client.put("/containers/late/processes", json=eat)).json()["pid"]
    assert await wait_exit(client, "late", hog, since) == 137  # counted in oom_kill
    Path(limit).write_text("-1")
    since = now()
    response = await patch(client, "late", {"resources": {"memory": {"limit": 32 << 20}}})
    assert response.status_code == 200, response.text
    # This one eats once its start is answered (and so published): a kill as runc exec ran
    # came out before the start-process event, where the test looks for an oom of before.
    gate = "while [ ! -e /gate ]; do usleep 10000; done; exec " + " ".join(eat["args"])
    gated = {"args": ["sh", "-c", gate]}
    hog = (await client.put("/containers/late/processes", json=gated)).json()["pid"]
    (bundle / "rootfs" / "gate").touch()
    assert await wait_exit(client, "late", hog, since) == 137
    types = await event_types(client, since=since, container_id="late", count=4)
    assert types[:2] == ["update", "start-process"] and sorted(types[2:]) == ["exit", "oom"]


async def test_the_pids_limit_holds(client: httpx.AsyncClient, bundle: Path) -> None:
    init = (await start_container(client, "forky", bundle))["processes"][0]["pid"]
    # Room for runc exec's own processes: runc init forks twice as it joins the container, and
    # its Go runtime then starts threads, which count too (a limit of 6 failed the exec now
    # and then: "read init-p: connection reset by peer").
    response = await patch(client, "forky", {"resources": {"pids": {"limit": 8}}})
    assert response.status_code == 200, response.text
    since = now()
    loop = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; echo forked"
    shell = await client.put("/containers/forky/processes", json={"args": ["sh", "-c", loop]})
    # The init, the shell and six sleeps make eight: the seventh sleep's fork is refused, and
    # busybox's sh gives up there.
    assert await wait_exit(client, "forky", shell.json()["pid"], since) != 0
    await wait_output(client, "forky", "can't fork: Resource temporarily unavailable")
    assert cgroup_value(init, "pids", "pids.events") == "max 1"
    top = (await client.get("/containers/forky/top")).json()["processes"]
    assert [p["args"] for p in top] == [list(FOREVER), *[["sleep", "1000"]] * 6]
    assert cgroup_value(init, "pids", "pids.current") == "7"


async def test_resources_of_the_bundle_are_shown(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    def limits(config: dict[str, Any]) -> None:
        resources = config["linux"].setdefault("resources", {})
        resources["pids"] = {"limit": 50}
        resources["cpu"] = {"shares": 256, "quota": -1}  # -1: none, as if left out

    bundle = make_bundle(FOREVER, memory_limit=64 << 20, edit=limits)
    started = await start_container(client, "configured", bundle)
    assert started["resources"] == {
        "memory": {"limit": 64 << 20},
        "cpu": {"shares": 256},
        "pids": {"limit": 50},
    }
    assert cgroup_value(started["processes"][0]["pid"], "cpu", "cpu.shares") == "256"
    response = await patch(client, "configured", {"resources": {"cpu": {"quota": 20000}}})
    assert response.json()["resources"]["cpu"] == {"shares": 256, "quota": 20000}


#: Limits the daemon refuses (a 400 naming the field), for a PATCH and for a start alike.
BAD_LIMITS = pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"limit": 100}}, "resources.memory: limit must be -1 (no limit) or between"),
        ({"memory": {"limit": -2}}, "resources.memory: limit must be -1"),
        ({"cpu": {"shares": 1}}, "resources.cpu: shares must be between 2 and 262144, not 1"),
        ({"cpu": {"quota": 10}}, "resources.cpu: quota must be -1 (no limit) or between 1000"),
        ({"cpu": {"period": 2000000}}, "resources.cpu: period must be between 1000 and 1000000"),
        ({"pids": {"limit": 0}}, "resources.pids: limit must be -1 (no limit) or between 1"),
        ({"memory": {"limit": "64m"}}, "resources.memory.limit: expected an integer"),
        ({"memory": {"swap": 1}}, "resources.memory: swap must be -1 (no limit: lifts the"),
        ({"memory": {"kernel": 1}}, "unknown field 'kernel' in resources.memory"),
        ({"blockIO": {}}, "unknown field 'blockIO' in resources"),
        ({}, "resources names no limit to change: give one of memory.limit, memory.swap,"),
        ({"memory": {}}, "resources names no limit to change"),
    ],
    ids=lambda value: str(value)[:30],
)


@BAD_LIMITS
async def test_bad_limits_are_400_naming_the_field(
    client: httpx.AsyncClient, bundle: Path, resources: dict[str, Any], message: str
) -> None:
    init = (await start_container(client, "strict", bundle))["processes"][0]["pid"]
    response = await patch(client, "strict", {"resources": resources})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await client.get("/containers/strict")).json()["resources"] == {}
    assert int(cgroup_value(init, "memory", "memory.limit_in_bytes")) > 2**60  # untouched


async def test_one_change_at_a_time(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "one", bundle)
    body = {"status": "paused", "resources": LIMITS}
    response = await patch(client, "one", body)
    assert response.status_code == 400
    assert response.json()["error"] == (
        'give one of "status" or "signal" or "resources" or "autoRemove" or "restartPolicy",'
        ' not both "status" and "resources"'
    )


async def test_a_limit_below_what_the_container_holds_is_409(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Even at docker's floor: the container holds more (the kernel reclaims none of a
    tmpfs's pages without swap)."""
    await start_container(client, "full", make_bundle(HOLDS_12_MIB))
    with trio.fail_after(30):
        await wait_output(client, "full", "held")
    response = await patch(client, "full", {"resources": {"memory": {"limit": FLOOR}}})
    assert response.status_code == 409, response.text
    assert f"unable to set memory limit to {FLOOR} (current usage:" in response.json()["error"]
    assert (await client.get("/containers/full")).json()["resources"] == {}


def below_the_floor(limit: int) -> str:
    """The 400 of a start's or an update's memory limit below docker's floor."""
    return (
        f"resources.memory: limit must be -1 (no limit) or between {FLOOR} (6 MiB: docker's"
        f" minimum memory limit) and {2**63 - 1} bytes, not {limit}"
    )


async def test_a_memory_limit_below_docker_s_floor_is_400_at_a_start_and_in_an_update(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker refuses a memory limit under 6 MiB ("Minimum memory limit allowed is 6MB"), at
    docker run and docker update alike; the daemon took any whole page the kernel took (an
    update to 1 MiB of a sleeping container answered 200, and left it next to nothing). A
    400 naming the floor now, nothing changed or made; ctr-trio says the daemon's words (exit
    1, and run's 125). The floor itself is taken."""
    client = daemon.client
    bundle = make_bundle()
    with trio.fail_after(60):
        init = (await start_container(client, "small", bundle))["processes"][0]["pid"]
        for limit in (PAGE, 1 << 20, FLOOR - 1):
            change = {"resources": {"memory": {"limit": limit}}}
            response = await patch(client, "small", change)
            assert (response.status_code, response.json()) == (
                400,
                {"error": below_the_floor(limit)},
            )
            response = await client.post(
                "/containers/tiny", json={"bundlePath": str(bundle), **change}
            )
            assert (response.status_code, response.json()) == (
                400,
                {"error": below_the_floor(limit)},
            )
            assert (await client.get("/containers/tiny")).status_code == 404
            assert _left_of(daemon, "tiny") == []
        assert (await client.get("/containers/small")).json()["resources"] == {}
        assert int(cgroup_value(init, "memory", "memory.limit_in_bytes")) > 2**60

        updated = await run_cli("--address", daemon.url, "update", "--memory", "1m", "small")
        assert (updated.code, updated.out) == (1, ""), updated
        assert updated.err == f"ctr-trio: {below_the_floor(1 << 20)}\n"
        ran = await run_cli(
            "--address", daemon.url, "run", "-d", "-m", "1m", "-b", str(bundle), "tiny"
        )
        assert (ran.code, ran.out) == (125, ""), ran
        assert ran.err == f"ctr-trio: {below_the_floor(1 << 20)}\n"
        assert _left_of(daemon, "tiny") == []

        at_the_floor = {"memory": {"limit": FLOOR}}
        response = await patch(client, "small", {"resources": at_the_floor})
        assert response.status_code == 200, response.text
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(FLOOR)
        started = await start_container(client, "tiny", bundle, resources=at_the_floor)
        assert started["resources"] == at_the_floor
        tiny = started["processes"][0]["pid"]
        assert cgroup_value(tiny, "memory", "memory.limit_in_bytes") == str(FLOOR)


async def test_a_change_the_kernel_refuses_in_part_is_undone_in_full(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """runc writes the limits one by one (memory, then cpu, then pids) and, when the kernel
    refuses one, puts back only those its own config held: a memory limit and shares the
    bundle never set stayed in force, while the record (and the answer's 500) said nothing had
    changed. Here the kernel refuses the quota: the container's cgroup sits under one with half
    a CPU, and a child may not be given more than its parent."""
    parent = own_cgroup("cpu") / "half-a-cpu"
    parent.mkdir()
    try:
        (parent / "cpu.cfs_quota_us").write_text("50000")  # of the default 100000 us

        def under_the_parent(config: dict[str, Any]) -> None:
            config["linux"]["cgroupsPath"] = "half-a-cpu/refused"

        bundle = make_bundle(FOREVER, edit=under_the_parent)
        init = (await start_container(client, "refused", bundle))["processes"][0]["pid"]
        change = {
            "memory": {"limit": 64 << 20},
            "cpu": {"shares": 512, "quota": 200000, "period": 100000},
            "pids": {"limit": 20},
        }
        response = await patch(client, "refused", {"resources": change})
        assert response.status_code == 500, response.text
        assert "cpu.cfs_quota_us: invalid argument" in response.json()["error"]
        assert (await client.get("/containers/refused")).json()["resources"] == {}
        assert int(cgroup_value(init, "memory", "memory.limit_in_bytes")) > 2**60
        assert cgroup_value(init, "cpu", "cpu.shares") == "1024"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "-1"
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "100000"
        assert cgroup_value(init, "pids", "pids.max") == "max"

        # What the record holds goes back as it was, not to the kernel's defaults.
        applied = {"memory": {"limit": 32 << 20}, "cpu": {"shares": 256, "period": 50000}}
        assert (await patch(client, "refused", {"resources": applied})).status_code == 200
        response = await patch(client, "refused", {"resources": change})
        assert response.status_code == 500, response.text
        assert (await client.get("/containers/refused")).json()["resources"] == applied
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "256"
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "50000"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "-1"
    finally:
        await client.delete("/containers/refused", params={"timeout": 0})
        # runc made the parent in every hierarchy, and its delete removed only its own: under
        # this process's cgroups in the v1 ones, under the root in a hybrid's cgroup v2 one.
        for _, directory in cgroups.process_cgroups("self"):
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(os.path.join(directory, "half-a-cpu"))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(UNIFIED / "half-a-cpu")


class CutUpdate:
    """A runc wrapper whose ``runc update``, once :meth:`arm` is called (once), is cut short:
    real runc writes the limits, the wrapper says so on a fifo (:meth:`written`), then it
    sleeps until the daemon kills it at the runtime's deadline or cancels the change. Every
    other command, and every later update (the daemon's put-back), is runc's own."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "cut-runc"
        self.said = directory / "update-written"
        self._armed = directory / "armed"
        os.mkfifo(self.said)
        self.path.write_text(
            "#!/bin/sh\n"
            # rmdir succeeds for one update only: the first once armed.
            f'for a in "$@"; do [ "$a" = update ] && rmdir {self._armed} 2>/dev/null'
            f' && {{ runc "$@" || exit;'
            f" echo written > {self.said}; exec sleep 60; }}; done\n"
            'exec runc "$@"\n'
        )
        self.path.chmod(0o755)

    def arm(self) -> None:
        self._armed.mkdir()

    async def written(self) -> None:
        """Return once runc has written the cut update's limits (it then sleeps)."""
        assert (await read_fifo_line(self.said)).strip() == "written"


@pytest.mark.parametrize("cut_by", ["deadline", "cancel"])
async def test_a_change_cut_short_is_undone_in_full(
    start_daemon: Any, tmp_path: Path, bundle: Path, cut_by: str
) -> None:
    """(Review.) A ``runc update`` cut by the runtime's deadline (a 504) or by a cancel (the
    supervisor ends the commands under way: a 503) put nothing back, as only a RuncError
    did: the limits runc wrote before it was killed stayed in force, while the record and
    the answer said nothing had changed. Now every limit the change named goes back as the
    record has it."""
    cut = CutUpdate(tmp_path)
    deadline = 2.0 if cut_by == "deadline" else 30.0
    daemon: RunningDaemon = await start_daemon(runtime=str(cut.path), runtime_timeout=deadline)
    client = daemon.client
    init = (await start_container(client, "cut", bundle))["processes"][0]["pid"]
    kept = {"memory": {"limit": 32 << 20}}
    assert (await patch(client, "cut", {"resources": kept})).status_code == 200

    cut.arm()
    change = {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}
    answers: list[httpx.Response] = []

    async def change_limits() -> None:
        answers.append(await patch(client, "cut", {"resources": change}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(change_limits)
        await cut.written()
        # runc wrote them: the cut must undo that (this is what the test is about).
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "pids", "pids.max") == "20"
        if cut_by == "cancel":
            # What a shutdown does to the commands still under way after twice the deadline
            # (Supervisor._end_commands); the deadline itself would come first there.
            assert daemon.daemon.supervisor is not None
            for scope in daemon.daemon.supervisor._running:
                scope.cancel()
    [response] = answers
    if cut_by == "deadline":
        assert response.status_code == 504, response.text
        assert "runc update did not finish within 2 seconds" in response.json()["error"]
    else:
        assert response.status_code == 503, response.text

    assert (await client.get("/containers/cut")).json()["resources"] == kept
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert cgroup_value(init, "pids", "pids.max") == "max"
    # The container's lock was let go: a later change goes through.
    response = await patch(client, "cut", {"resources": {"pids": {"limit": 30}}})
    assert response.status_code == 200, response.text
    assert cgroup_value(init, "pids", "pids.max") == "30"


@pytest.mark.parametrize("to", ["none", "the bundle's"])
async def test_a_change_cut_short_puts_docker_s_swap_back_with_the_memory_limit(
    start_daemon: Any, tmp_path: Path, make_bundle: BundleFactory, to: str
) -> None:
    """(Review.) A memory limit's change cut short (the runtime's deadline) goes back with
    the swap of the limit before it, docker's twice it: a change to no limit (-1, which runc
    writes with no swap limit either) left the swap lifted under the old limit put back,
    while the record said docker's swap was in force (-m 64m: 64 MiB with 128 MiB, not an
    unlimited one); so does a change back to the bundle's own limit, which lifts it too."""
    cut = CutUpdate(tmp_path)
    daemon: RunningDaemon = await start_daemon(runtime=str(cut.path), runtime_timeout=2.0)
    client = daemon.client

    def own_limit_no_swap(config: dict[str, Any]) -> None:
        config["linux"].setdefault("resources", {})["memory"] = {"limit": 512 << 20}

    bundle = make_bundle(FOREVER, edit=own_limit_no_swap)
    body = {"resources": {"memory": {"limit": 64 << 20}}}
    init = (await start_container(client, "cut", bundle, **body))["processes"][0]["pid"]
    assert memory_and_swap(init) == (str(64 << 20), str(128 << 20))
    cut.arm()
    limit = -1 if to == "none" else 512 << 20
    answers: list[httpx.Response] = []

    async def change_limits() -> None:
        answers.append(await patch(client, "cut", {"resources": {"memory": {"limit": limit}}}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(change_limits)
        await cut.written()
        assert memory_and_swap(init)[1] == UNLIMITED  # runc lifted it: to be undone
    [response] = answers
    assert response.status_code == 504, response.text
    assert (await client.get("/containers/cut")).json()["resources"] == body["resources"]
    assert memory_and_swap(init) == (str(64 << 20), str(128 << 20))


async def test_a_paused_container_stays_paused(client: httpx.AsyncClient, bundle: Path) -> None:
    init = (await start_container(client, "frozen", bundle))["processes"][0]["pid"]
    assert (await patch(client, "frozen", {"status": "paused"})).status_code == 200
    response = await patch(client, "frozen", {"resources": {"pids": {"limit": 10}}})
    assert response.status_code == 200, response.text
    assert response.json()["state"]["status"] == "paused"  # an update does not thaw it
    assert cgroup_value(init, "freezer", "freezer.state") == "FROZEN"
    assert cgroup_value(init, "pids", "pids.max") == "10"

    assert (await patch(client, "ghost", {"resources": LIMITS})).status_code == 404


# --- an update of a stopped (or restarting) container: its next start's limits ---------------


async def _stopped(
    client: httpx.AsyncClient, container_id: str, bundle: Path, **body: Any
) -> dict[str, Any]:
    """Start a container of ``bundle`` (``body``: the start's), kill it, and return what
    ``GET`` says of it once it is stopped."""
    since = now()
    pid = (await start_container(client, container_id, bundle, **body))["processes"][0]["pid"]
    assert (await patch(client, container_id, {"signal": 9})).status_code == 200
    assert await wait_exit(client, container_id, pid, since) == 137
    got: dict[str, Any] = (await client.get(f"/containers/{container_id}")).json()
    return got


async def test_an_update_of_a_stopped_container_is_in_force_at_its_next_start(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker update of a stopped container: accepted (its ``update`` event), kept in its
    record and shown at once, and in force in the cgroups of the run ``ctr-trio start ID``
    starts, laid over the start's own limits as an update of a running container is. Before,
    it was a 409 "cannot update container 'later': it is stopped", and the only way to change
    a stopped container's limits was to start it first."""
    client = daemon.client
    with trio.fail_after(60):
        await _stopped(client, "later", make_bundle(), resources={"pids": {"limit": 20}})
        since = now()
        change = {"memory": {"limit": 32 << 20}, "cpu": {"shares": 512}}
        response = await patch(client, "later", {"resources": change})
        assert response.status_code == 200, response.text
        assert run_status(response.json()["state"]) == {"status": "stopped", "exitStatus": 137}
        wanted = {**change, "pids": {"limit": 20}}
        assert response.json()["resources"] == wanted
        assert (await client.get("/containers/later")).json()["resources"] == wanted
        assert recorded_container(daemon.config.journal_path, "later")["resources"] == wanted
        assert await event_types(client, since=since, container_id="later", count=1) == ["update"]

        # The client's update, docker's flags, the same; then its start of the id.
        address = ("--address", daemon.url)
        result = await run_cli(*address, "update", "later", "--cpus", "0.5", "--pids-limit", "30")
        assert result.code == 0, result.err
        said = "memory 32.0 MiB, cpus 0.5 (quota 50000 of 100000 us), cpu shares 512, pids 30"
        assert result.out == f"updated later: {said}\n"
        result = await run_cli(*address, "start", "later")
        assert result.code == 0, result.err
        got = (await client.get("/containers/later")).json()
        assert got["state"]["status"] == "running"
        init = got["processes"][0]["pid"]
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "512"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "100000"
        assert cgroup_value(init, "pids", "pids.max") == "30"
        assert got["resources"] == {
            "memory": {"limit": 32 << 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": 0.5},
            "pids": {"limit": 30},
        }


async def test_a_bad_update_of_a_stopped_container_is_refused_and_changes_nothing(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A stopped container's update is checked as a running one's (the same 400s, naming the
    field), and as its next start will check it: a memory limit above the bundle's
    memory.swap (cgroup v1: memory and swap together), which that start would refuse, is the
    start's 400 now. Nothing changes: not its record, not what GET says, no event. What the
    start can take (at most the swap, or -1, which lifts the swap too) is taken."""
    client = daemon.client
    # make_bundle's memory limit comes with a swap limit of the same (no swap at all).
    swapless = make_bundle(memory_limit=32 << 20)
    with trio.fail_after(60):
        was = await _stopped(client, "kept", swapless)
        assert was["resources"] == {"memory": {"limit": 32 << 20}}
        recorded = recorded_container(daemon.config.journal_path, "kept")
        since = now()
        refusals = [
            ({"pids": {"limit": 0}}, (
                "resources.pids: limit must be -1 (no limit) or between 1 and 4194304, not 0"
            )),
            ({"memory": {"kernel": 1}}, "unknown field 'kernel' in resources.memory"),
            ({}, (
                "resources names no limit to change: give one of memory.limit, memory.swap,"
                " cpu.shares, cpu.quota, cpu.period, cpu.cpus, pids.limit"
            )),
            ({"memory": {"limit": 64 << 20}, "pids": {"limit": 10}}, (
                f"resources.memory.limit {64 << 20} is above linux.resources.memory.swap"
                f" ({32 << 20}) in {swapless / 'config.json'}: on cgroup v1 that is memory and"
                " swap together, which may not be less than the memory limit; give a limit of"
                " at most that, lift the swap limit with it (memory.swap -1), or raise the"
                " bundle's swap"
            )),
        ]  # fmt: skip
        for change, error in refusals:
            response = await patch(client, "kept", {"resources": change})
            assert (response.status_code, response.json()) == (400, {"error": error}), change
        assert (await client.get("/containers/kept")).json() == was
        assert recorded_container(daemon.config.journal_path, "kept") == recorded

        # What the start takes is taken: the first update event from before the refusals.
        response = await patch(client, "kept", {"resources": {"memory": {"limit": 16 << 20}}})
        assert response.status_code == 200, response.text
        event = await next_event(client, since=since, container_id="kept", match=lambda e: True)
        assert event["type"] == "update"
        response = await patch(client, "kept", {"resources": {"memory": {"limit": -1}}})
        assert response.status_code == 200, response.text
        started = await start_container(
            client, "kept", swapless, resources=response.json()["resources"]
        )
        init = started["processes"][0]["pid"]
        assert int(cgroup_value(init, "memory", "memory.limit_in_bytes")) > 2**60


@pytest.mark.deadline(90)
async def test_an_update_of_a_stopped_container_survives_a_server_restart(
    spawn_daemon: Any, bundle: Path
) -> None:
    """kill -9 of the server between the update of a stopped container and its start: the
    record kept the update, the next server shows it, and ``ctr-trio start ID`` runs under
    it."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    with trio.fail_after(60):
        await _stopped(client, "kept", bundle)
        response = await patch(client, "kept", {"resources": LIMITS})
        assert response.status_code == 200, response.text
        await daemon.kill_server()
        got = (await client.get("/containers/kept")).json()
        assert (got["state"]["status"], got["resources"]) == ("stopped", LIMITS)
        result = await run_cli("--address", f"unix:{daemon.socket}", "start", "kept")
        assert result.code == 0, result.err
        init = (await client.get("/containers/kept")).json()["processes"][0]["pid"]
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "512"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "pids", "pids.max") == "100"


async def test_ctr_trio_update(daemon: RunningDaemon, make_bundle: BundleFactory) -> None:
    """docker's flags and units, several containers at once; a refusal names the field."""
    inits = [
        (await start_container(daemon.client, name, make_bundle(FOREVER)))["processes"][0]["pid"]
        for name in ("one", "two")
    ]
    argv = ("--address", daemon.url, "update", "one", "two")
    result = await run_cli(*argv, "-m", "64m", "--cpus", "1.5", "--pids-limit", "50")
    assert result.code == 0, result.err
    said = "memory 64.0 MiB, cpus 1.5 (quota 150000 of 100000 us), pids 50"
    assert result.out == f"updated one: {said}\nupdated two: {said}\n"
    for init in inits:
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "150000"
        assert cgroup_value(init, "pids", "pids.max") == "50"

    result = await run_cli(*argv[:-1], "--cpu-shares", "1")
    assert result.code == 1
    assert "resources.cpu: shares must be between 2 and 262144, not 1" in result.err
    assert cgroup_value(inits[0], "cpu", "cpu.shares") == "1024"  # untouched


async def test_cpus_hold_their_quota_and_period_until_lifted(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``ctr-trio update --cpus 0.5 web`` then ``ctr-trio update --cpu-period 50000 web``
    made 1 CPU of 0.5 (the record kept only quota and period, the second changed the
    period under the first's quota). As docker's, the container keeps its CPUs (``cpu.cpus``,
    a quota of a 100000 us period), and a later period or quota is refused (409, naming it)
    until they are lifted with 0; with them in one change, a 400."""
    client = daemon.client
    init = (await start_container(client, "web", make_bundle(FOREVER)))["processes"][0]["pid"]
    address = ("--address", daemon.url)
    with trio.fail_after(60):
        result = await run_cli(*address, "update", "web", "--cpus", "0.5")
        assert result.code == 0, result.err
        result = await run_cli(*address, "update", "web", "--cpu-period", "50000")
        assert result.code == 1, result.out
        assert "cpu.period cannot be changed: the container's CPUs were set by cpu.cpus" in (
            result.err
        )
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "100000"
        held = {"cpu": {"cpus": 0.5, "quota": 50000, "period": 100000}}
        assert (await client.get("/containers/web")).json()["resources"] == held
        response = await patch(client, "web", {"resources": {"cpu": {"quota": 20000}}})
        assert response.status_code == 409, response.text
        assert response.json()["error"].startswith("cpu.quota cannot be changed: the container's")
        both = {"cpu": {"cpus": 1, "period": 50000}}
        response = await patch(client, "web", {"resources": both})
        assert response.status_code == 400, response.text
        assert "cpu.cpus and cpu.period cannot both be given" in response.json()["error"]
        assert recorded_container(daemon.config.journal_path, "web")["resources"] == held

        # Lifted with 0 (its quota too), the period is the user's again.
        result = await run_cli(*address, "update", "web", "--cpus", "0")
        assert result.code == 0, result.err
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "-1"
        result = await run_cli(*address, "update", "web", "--cpu-period", "50000")
        assert result.code == 0, result.err
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "50000"
        lifted = {"cpu": {"quota": -1, "period": 50000}}
        assert (await client.get("/containers/web")).json()["resources"] == lifted


async def test_cpus_past_the_host_s_are_refused_at_a_start_and_an_update(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker's daemon refuses ``--cpus 3`` on a 2-CPU host ("Range of CPUs is from 0.01 to
    2.00, as there are only 2 CPUs available"). The API took ``cpu.cpus`` past the host's
    CPUs (only ``ctr-trio --cpus`` checked): a start ran with a quota it could never use,
    an update set one. Now both are a 400 naming the field, the range and the host's count,
    and leave nothing: no runc container, no record; the limits in force and recorded as
    they were. The host's count itself is taken."""
    client = daemon.client
    available = (await client.get("/state")).json()["machine"]["cpus"]
    too_many = available + 0.5
    said = (
        f"cpu.cpus {too_many:g} is more than the host has: the range of CPUs is from 0.01 to"
        f" {available:.2f}, as there are only {available} CPUs available"
    )
    bundle = make_bundle(FOREVER)
    with trio.fail_after(60):
        refused = await client.post(
            "/containers/o4-many",
            json={"bundlePath": str(bundle), "resources": {"cpu": {"cpus": too_many}}},
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == said, refused.text
        assert (await client.get("/containers/o4-many")).status_code == 404
        assert "o4-many" not in runc_ids(daemon.config.state_dir)
        assert not (daemon.config.containers_dir / "o4-many").exists()

        started = await start_container(
            client, "o4-few", bundle, resources={"cpu": {"cpus": available}}
        )
        held = {"cpu": {"cpus": available, "quota": available * 100000, "period": 100000}}
        assert started["resources"] == held, started
        refused = await patch(client, "o4-few", {"resources": {"cpu": {"cpus": too_many}}})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == said, refused.text
        assert (await client.get("/containers/o4-few")).json()["resources"] == held
        assert recorded_container(daemon.config.journal_path, "o4-few")["resources"] == held
        init = started["processes"][0]["pid"]
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == str(available * 100000)
        deleted = await client.delete("/containers/o4-few", params={"timeout": 0})
        assert deleted.status_code == 200, deleted.text


async def test_the_host_s_cpus_are_those_the_daemon_may_run_on(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """A daemon bound to some of the host's CPUs (``taskset``, a cpuset) passes its affinity
    to runc and so to every container: a container cannot use more than those. docker counts
    them (its ``NCPU`` and the range of ``--cpus``: Go's ``NumCPU``, the affinity's); until
    2026-12-06 the daemon counted the host's online CPUs, saying 2 and taking ``cpu.cpus`` 1.5
    from a daemon run on one."""
    assert len(os.sched_getaffinity(0)) >= 2, "the test binds the daemon to fewer CPUs"
    daemon = await spawn_daemon(wrapper=["taskset", "-c", "0"])
    client = daemon.client
    with trio.fail_after(30):
        assert (await client.get("/state")).json()["machine"]["cpus"] == 1
        refused = await client.post(
            "/containers/o5-many",
            json={"bundlePath": str(make_bundle(FOREVER)), "resources": {"cpu": {"cpus": 1.5}}},
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == (
            "cpu.cpus 1.5 is more than the host has: the range of CPUs is from 0.01 to 1.00,"
            " as there are only 1 CPUs available"
        )
        assert "o5-many" not in runc_ids(daemon.state_dir)


@pytest.mark.deadline(90)
async def test_a_quota_or_period_its_user_set_holds_cpus_off(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """docker's update refuses NanoCPUs once the container's CpuQuota or CpuPeriod is set
    ("Nano CPUs cannot be updated as CPU Quota has already been set"); ``ctr-trio update
    --cpus`` after a ``--cpu-quota`` was taken, the quota replaced by one of a 100000 us
    period. A 409 now, for a quota or period its user set through the API (the start's, an
    update's), not the bundle's (a default: docker has none), running or stopped, kept across
    a kill -9 of the server and a start again; a quota lifted with -1 holds nothing, a
    period (which has no none) holds for good."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    address = ("--address", f"unix:{daemon.socket}")

    def own_quota(config: dict[str, Any]) -> None:
        config["linux"].setdefault("resources", {})["cpu"] = {"quota": 50000, "period": 50000}

    with trio.fail_after(60):
        # The bundle's quota and period are a default: a cpus replaces them.
        await start_container(client, "bundled", make_bundle(FOREVER, edit=own_quota))
        result = await run_cli(*address, "update", "bundled", "--cpus", "0.5")
        assert result.code == 0, result.err

        quota = {"cpu": {"quota": 20000}}
        started = await start_container(client, "web", make_bundle(FOREVER), resources=quota)
        init = started["processes"][0]["pid"]
        result = await run_cli(*address, "update", "web", "--cpus", "1")
        assert (result.code, result.out) == (1, ""), result
        assert "cpu.cpus cannot be set: the container's cpu.quota was set by its start" in (
            result.err
        )
        assert "(docker's Nano CPUs cannot be updated as CPU Quota has already been set)" in (
            result.err
        )
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "20000"
        assert (await client.get("/containers/web")).json()["resources"] == quota

        # A period of an update, then the server killed: the next one holds cpus off by
        # both, the period first (docker's order).
        response = await patch(client, "web", {"resources": {"cpu": {"period": 50000}}})
        assert response.status_code == 200, response.text
        await daemon.kill_server()
        response = await patch(client, "web", {"resources": {"cpu": {"cpus": 0.5}}})
        assert response.status_code == 409, response.text
        assert response.json()["error"] == (
            "cpu.cpus cannot be set: the container's cpu.period was set by its start or an"
            " update (50000 us), which cpu.cpus would replace with a quota of a 100000 us"
            " period; a period has no none to lift it to, or give cpu.quota and cpu.period"
            " (docker's Nano CPUs cannot be updated as CPU Period has already been set)"
        )
        # The quota lifted holds nothing; the period still does, stopped and started again.
        response = await patch(client, "web", {"resources": {"cpu": {"quota": -1}}})
        assert response.status_code == 200, response.text
        since = now()
        assert (await patch(client, "web", {"signal": 9})).status_code == 200
        assert await wait_exit(client, "web", init, since) == 137
        result = await run_cli(*address, "start", "web")
        assert result.code == 0, result.err
        response = await patch(client, "web", {"resources": {"cpu": {"cpus": 0.5}}})
        assert response.status_code == 409, response.text
        assert "cpu.period was set" in response.json()["error"]

        # A quota of its start's, lifted: cpus is taken (and, its own, holds a quota off).
        await start_container(client, "lifted", make_bundle(FOREVER), resources=quota)
        response = await patch(client, "lifted", {"resources": {"cpu": {"quota": -1}}})
        assert response.status_code == 200, response.text
        response = await patch(client, "lifted", {"resources": {"cpu": {"cpus": 0.5}}})
        assert response.status_code == 200, response.text
        assert response.json()["resources"]["cpu"] == {
            "quota": 50000, "period": 100000, "cpus": 0.5,
        }  # fmt: skip


@pytest.mark.deadline(90)
async def test_limits_survive_a_server_restart(spawn_daemon: Any, bundle: Path) -> None:
    """The record keeps them: the next server shows them, and watches for OOM kills."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    init = (await start_container(client, "kept", bundle))["processes"][0]["pid"]
    response = await patch(client, "kept", {"resources": LIMITS})
    assert response.status_code == 200, response.text
    await daemon.kill_server()
    assert (await client.get("/containers/kept")).json()["resources"] == LIMITS
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == "67108864"
    since = now()
    eat = {"args": ["dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"]}
    pid = (await client.put("/containers/kept/processes", json=eat)).json()["pid"]
    assert await wait_exit(client, "kept", pid, since) == 137
    await next_event(client, since=since, container_id="kept", match=lambda e: e["type"] == "oom")


@pytest.mark.deadline(90)
async def test_an_oom_kill_while_no_server_watched_is_reported_by_the_next(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """An OOM kill that comes while no server watches (its server stopped, then killed: the
    keeper starts the next) is the next server's to report: "oom", then the victim's exit.
    Before, the next server took the cgroup's oom_kill count as it found it, silently: an
    init killed for memory meanwhile exited 137 with no oom event, and so did a process it
    ran. The record keeps the count its server reported (oomKills)."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    wait = "while [ ! -e /gate ]; do usleep 10000; done; "
    eat = "dd if=/dev/zero of=/dev/null bs=48M count=1"
    limit = {"memory": {"limit": 32 << 20}}
    gated = {
        # The init itself eats: it dies, the container stops.
        "init": make_bundle(("sh", "-c", wait + "exec " + eat)),
        # A process of the init's eats: it dies, the init lives on.
        "child": make_bundle(("sh", "-c", "(" + wait + eat + ") & exec sleep 100000")),
    }
    counters = {}
    since = now()
    with trio.fail_after(60):
        for name, bundle in gated.items():
            started = await start_container(client, name, bundle, resources=limit)
            pid = started["processes"][0]["pid"]
            counters[name] = cgroup_dir(pid, "memory") / "memory.oom_control"
        server = daemon.server_pid()
        count = daemon.servings
        os.kill(server, signal.SIGSTOP)
        try:
            for bundle in gated.values():
                (bundle / "rootfs" / "gate").touch()
            for counter in counters.values():
                while "oom_kill 1" not in counter.read_text():  # noqa: ASYNC110
                    await trio.sleep(0.01)  # no server to say so: look
        finally:
            os.kill(server, signal.SIGKILL)
        await daemon.served(count + 1)
        # The init's exit follows its oom; the child is none of the daemon's processes.
        expected = {"init": ["start-container", "oom", "exit"], "child": ["start-container", "oom"]}
        for name, kinds in expected.items():
            types = await event_types(client, since=since, container_id=name, count=len(kinds))
            assert types == kinds, (name, types)
        stopped = (await client.get("/containers/init")).json()["state"]
        assert (stopped["status"], stopped["exitStatus"]) == ("stopped", 137)
        assert (await client.get("/containers/child")).json()["state"]["status"] == "running"
        # The kills that came while no server ran are the run's, as those reported before.
        for name in gated:
            assert (await client.get(f"/containers/{name}")).json()["state"]["oomKilled"], name
        # Reported once: a server after that one does not report it again, and reports the
        # next kill once. It keeps the fact, from the record: stopped or running.
        await daemon.kill_server()
        for name in gated:
            assert (await client.get(f"/containers/{name}")).json()["state"]["oomKilled"], name
        eater = {"args": eat.split()}
        hog = (await client.put("/containers/child/processes", json=eater)).json()["pid"]
        assert await wait_exit(client, "child", hog, since) == 137
        types = await event_types(client, since=since, container_id="child", count=5)
        assert types[:2] == ["start-container", "oom"], types
        # The hog's: its start, its oom, its exit. The oom may come before the start's event
        # (the kernel kills it as runc exec returns, before the server says it started), and
        # its exit comes last of the three (the kernel counts a kill before it sends it, and
        # the server reads the count at an exit before it reports the exit). Another oom
        # among them is the old one reported again at the adoption, before the exec: then
        # the five hold three.
        assert sorted(types[2:]) == ["exit", "oom", "start-process"], types
        assert types[-1] == "exit", types


#: Eats past a 32 MiB limit, unless /fed is there (the test's, or its first run's, as
#: ``touch`` says: the rootfs outlives the run), then sleeps.
EATS_UNLESS_FED = (
    "[ -e /fed ] && exec sleep 100000; {touch}exec dd if=/dev/zero of=/dev/null bs=48M count=1"
)
SMALL = {"memory": {"limit": 32 << 20}}


@pytest.mark.deadline(90)
async def test_oom_killed_says_why_a_run_ended_until_the_next_run(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker's ``inspect -f '{{.State.OOMKilled}}'``: a run whose init the OOM killer ended
    says so in its state (GET, GET /state, ctr-trio inspect and get) once the oom event is
    gone; one that exited on its own does not; a start again, and a restart by the policy,
    begin a run without it (docker's start resets it). Before, nothing but the event (and a
    metric) told a 137 of the OOM killer's from a kill -9."""
    client = daemon.client
    hog = make_bundle(("sh", "-c", EATS_UNLESS_FED.format(touch="")))
    fine = make_bundle(("sh", "-c", "exit 0"))
    since = now()
    with trio.fail_after(60):
        ended = {}
        for name, bundle in (("hog", hog), ("fine", fine)):
            ended[name] = await start_container(client, name, bundle, resources=SMALL)
        for name, status in (("hog", 137), ("fine", 0)):
            pid = ended[name]["processes"][0]["pid"]
            assert await wait_exit(client, name, pid, since) == status
        state = (await client.get("/containers/hog")).json()["state"]
        assert run_status(state) == {"status": "stopped", "exitStatus": 137, "oomKilled": True}
        assert "oomKilled" not in (await client.get("/containers/fine")).json()["state"]
        listed = {c["id"]: c["state"] for c in (await client.get("/state")).json()["containers"]}
        assert listed["hog"]["oomKilled"] is True and "oomKilled" not in listed["fine"]

        # docker's false where the daemon leaves it out (docs/cli.md).
        template = "{{.id}} {{.state.exitStatus}} {{or .state.oomKilled false}}"
        result = await run_cli("--address", daemon.url, "inspect", "-f", template, "hog", "fine")
        assert (result.code, result.out) == (0, "hog 137 true\nfine 0 false\n"), result.err
        result = await run_cli("--address", daemon.url, "containers", "get", "hog", "fine")
        assert result.code == 0, result.err
        hogs, fines = result.out.split("\n\n")
        assert "\nOOMKILLED  " in hogs and "OOMKILLED" not in fines

        # A start again: a run of its own, which the OOM killer has not hit.
        (hog / "rootfs" / "fed").touch()
        again = await client.post("/containers/hog/start")
        assert again.status_code == 201, again.text
        assert run_status(again.json()["state"]) == {"status": "running"}
        assert "oomKilled" not in (await client.get("/containers/hog")).json()["state"]

        # A restart by its policy, the same: its first run eats and is killed (on-failure
        # restarts a 137), the restart's finds /fed and sleeps.
        flaky = make_bundle(("sh", "-c", EATS_UNLESS_FED.format(touch="touch /fed; ")))
        since = now()
        policy = {"name": "on-failure", "maximumRetryCount": 1}
        first = await start_container(client, "flaky", flaky, resources=SMALL, restartPolicy=policy)
        assert await wait_exit(client, "flaky", first["processes"][0]["pid"], since) == 137
        await next_event(  # its first run's oom: the restart's run begins without
            client, since=since, container_id="flaky", match=lambda e: e["type"] == "oom"
        )
        await next_event(
            client,
            since=since,
            container_id="flaky",
            match=lambda e: (
                e["type"] == "start-container" and e["pid"] != first["processes"][0]["pid"]
            ),
        )
        restarted = (await client.get("/containers/flaky")).json()
        assert restarted["restartCount"] == 1
        assert run_status(restarted["state"]) == {"status": "running"}


# --- limits given at the start (POST /containers/{id} with resources) ----------------------


async def test_a_start_with_limits_has_them_from_its_first_instruction(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """As ``docker run --memory 64m --cpus 0.5 --pids-limit 100``: the limits are in force
    before the init runs (its first command reads its own memory limit, through the cgroup
    mount of runc's spec), laid over the bundle's own; the answer, GET and GET /state show
    them; the bundle is not written to."""

    def limits(config: dict[str, Any]) -> None:
        config["linux"]["resources"].update(cpu={"shares": 256}, pids={"limit": 50})

    reads = ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exec sleep 100000"]
    bundle = make_bundle(reads, edit=limits)
    files = sorted(p.name for p in bundle.iterdir())
    config = (bundle / "config.json").read_bytes()
    given = {
        "memory": {"limit": 64 << 20},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 100},
    }
    in_force = {**given, "cpu": {"shares": 256, "quota": 50000, "period": 100000}}
    with trio.fail_after(30):
        started = await start_container(client, "sized", bundle, resources=given)
        assert started["resources"] == in_force
        init = started["processes"][0]["pid"]
        await wait_output(client, "sized", str(64 << 20))
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "256"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "cpu", "cpu.cfs_period_us") == "100000"
        assert cgroup_value(init, "pids", "pids.max") == "100"
        assert (await client.get("/containers/sized")).json()["resources"] == in_force
        [listed] = (await client.get("/state")).json()["containers"]
        assert listed["resources"] == in_force
        assert sorted(p.name for p in bundle.iterdir()) == files
        assert (bundle / "config.json").read_bytes() == config

        # An update later lays itself over them, as over a bundle's.
        response = await patch(client, "sized", {"resources": {"pids": {"limit": 30}}})
        assert response.json()["resources"] == {**in_force, "pids": {"limit": 30}}
        assert cgroup_value(init, "pids", "pids.max") == "30"


def _left_of(daemon: RunningDaemon, container_id: str) -> list[str]:
    """What a start of ``container_id`` may leave: runc's container, its cgroup, its
    directory."""
    left = []
    if container_id in runc_ids(daemon.config.state_dir):
        left.append("runc")
    if (own_cgroup("memory") / container_id).exists():
        left.append("cgroup")
    if (daemon.config.containers_dir / container_id).exists():
        left.append("directory")
    return left


def _open_fds() -> Counter[str]:
    """What this process (the daemon's, and its client's) has open, by what each fd is."""
    opened: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own
            opened[os.readlink(f"/proc/self/fd/{fd}")] += 1
    return opened


async def test_a_memory_limit_the_kernel_refuses_at_the_start_leaves_nothing(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """runc's init holds more than a page: the kernel refuses a limit below that as runc puts
    it in force. A 400 in the kernel's words, and nothing made: no runc container, no
    cgroup, no record, no directory, no fd; a stopped container of the id stays as it was,
    log and all. Asked of the supervisor: a client's start is held to docker's floor before
    anything (test_a_memory_limit_below_docker_s_floor_is_400_at_a_start_and_in_an_update),
    but a start of a stopped container again, or its restart, has the limits its record
    holds, which a daemon before the floor may have taken."""
    client = daemon.client
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    tiny = Resources(memory=MemoryResources(limit=PAGE))

    async def refused(bundle: Path) -> str:
        with pytest.raises(InvalidRequest) as caught:
            await supervisor.start("tiny", str(bundle), resources=tiny)
        return caught.value.message

    with trio.fail_after(30):
        await client.get("/state")  # the client's connection (and the server's end) made
        fds = _open_fds()
        message = await refused(make_bundle())
        assert f"unable to set memory limit to {PAGE} (current usage:" in message
        assert (await client.get("/containers/tiny")).status_code == 404
        assert _left_of(daemon, "tiny") == []
        assert _open_fds() == fds

        since = now()
        done = await start_container(client, "tiny", make_bundle(["echo", "was here"]))
        await wait_exit(client, "tiny", done["processes"][0]["pid"], since)
        stopped = (await client.get("/containers/tiny")).json()
        fds = _open_fds()
        await refused(make_bundle())
        assert (await client.get("/containers/tiny")).json() == stopped
        await wait_output(client, "tiny", "was here")
        assert "tiny" not in runc_ids(daemon.config.state_dir)
        assert not (own_cgroup("memory") / "tiny").exists()
        assert _open_fds() <= fds  # the stopped one's, closed as it was removed, stay closed


@BAD_LIMITS
async def test_bad_limits_at_the_start_are_400_with_nothing_made(
    daemon: RunningDaemon, bundle: Path, resources: dict[str, Any], message: str
) -> None:
    """The checks and the words of PATCH's resources, before anything is made."""
    body = {"bundlePath": str(bundle), "resources": resources}
    response = await daemon.client.post("/containers/strict", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await daemon.client.get("/containers/strict")).status_code == 404
    assert _left_of(daemon, "strict") == []


async def test_limits_a_start_cannot_take_are_400_with_nothing_made(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A restore puts the limits of its checkpoint back in force, so it takes none; and on
    cgroup v1 no memory limit may pass the bundle's memory.swap (memory and swap together:
    runc would fail on it, in words that name a cgroup file). No limit (-1) lifts both: see
    test_no_memory_limit_lifts_the_bundles_swap_limit_too."""
    client = daemon.client
    limits = {"memory": {"limit": 64 << 20}}
    body = {"bundlePath": str(make_bundle()), "checkpoint": "cp", "resources": limits}
    response = await client.post("/containers/restored", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        "resources cannot be given with checkpoint: a restore puts in force the limits of"
        " the stopped container it restores over (PATCH it with resources first), or with"
        " none of its id those it had at its checkpoint; change them once it runs"
    )
    # make_bundle's memory limit comes with a swap limit of the same (no swap at all).
    swapless = make_bundle(memory_limit=32 << 20)
    body = {"bundlePath": str(swapless), "resources": {"memory": {"limit": 64 << 20}}}
    response = await client.post("/containers/swapless", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"resources.memory.limit {64 << 20} is above linux.resources.memory.swap"
        f" ({32 << 20}) in {swapless / 'config.json'}: on cgroup v1 that is memory and swap"
        " together, which may not be less than the memory limit; give a limit of at most"
        " that, lift the swap limit with it (memory.swap -1), or raise the bundle's swap"
    )
    assert _left_of(daemon, "swapless") == []
    assert _left_of(daemon, "restored") == []
    # At most the swap: taken.
    started = await start_container(
        client, "swapless", swapless, resources={"memory": {"limit": 16 << 20}}
    )
    init = started["processes"][0]["pid"]
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(16 << 20)


async def test_ctr_trio_run_and_start_take_limits_and_start_again_keeps_them(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``run`` and ``start -b`` take update's options; ``start ID`` and ``restart`` start a
    stopped container again with the limits in force when it stopped (docker keeps them), an
    update's included."""
    address = ("--address", daemon.url)
    client = daemon.client

    async def init_of(container_id: str) -> int:
        pid: int = (await client.get(f"/containers/{container_id}")).json()["processes"][0]["pid"]
        return pid

    with trio.fail_after(60):
        options = ("--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "-c", "512")
        run = await run_cli(
            *address, "--json", "run", "-d", *options, "web", "-b", str(make_bundle())
        )
        assert run.code == 0, run.err
        assert json.loads(run.out)["resources"] == CPUS_LIMITS
        init = await init_of("web")
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "cpu", "cpu.shares") == "512"
        assert cgroup_value(init, "pids", "pids.max") == "100"

        start = await run_cli(
            *address, "start", "db", "-b", str(make_bundle()), "--pids-limit", "20"
        )
        assert start.code == 0, start.err
        assert cgroup_value(await init_of("db"), "pids", "pids.max") == "20"

        # update, stop, start ID: the update's limit holds in the new init's cgroup.
        for argv in (
            ("update", "db", "--memory", "32m"),
            ("stop", "-t", "0", "db"),
            ("start", "db"),
        ):
            result = await run_cli(*address, *argv)
            assert result.code == 0, (argv, result.err)
        init = await init_of("db")
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(init, "pids", "pids.max") == "20"
        # ... and restart's.
        for argv in (("update", "db", "--cpus", "1.5"), ("restart", "-t", "0", "db")):
            result = await run_cli(*address, *argv)
            assert result.code == 0, (argv, result.err)
        again = await init_of("db")
        assert again != init
        assert cgroup_value(again, "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert cgroup_value(again, "cpu", "cpu.cfs_quota_us") == "150000"
        assert (await client.get("/containers/db")).json()["resources"] == {
            "memory": {"limit": 32 << 20},
            "cpu": {"cpus": 1.5, "quota": 150000, "period": 100000},
            "pids": {"limit": 20},
        }

        refused = await run_cli(*address, "start", "--memory", "64m", "db")
        assert refused.code == EXIT_USAGE, refused
        assert "--memory without -b/--bundle" in refused.err
        refused = await run_cli(
            *address, "run", "--cpus", "1", "--cpu-quota", "1000", "x", "-b", "/b"
        )
        assert refused.code == EXIT_USAGE, refused
        assert "Conflicting options: Nano CPUs and CPU Quota cannot both be set" in refused.err


@pytest.mark.deadline(90)
async def test_limits_of_the_start_survive_a_server_restart(
    spawn_daemon: Any, bundle: Path
) -> None:
    """The record keeps the limits the start gave: the next server lists them."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    started = await start_container(client, "kept", bundle, resources=LIMITS)
    assert started["resources"] == LIMITS
    await daemon.kill_server()
    assert (await client.get("/containers/kept")).json()["resources"] == LIMITS
    [listed] = (await client.get("/state")).json()["containers"]
    assert listed["resources"] == LIMITS
    init = started["processes"][0]["pid"]
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)


# --- limits across a checkpoint and restore ---------------------------------------------------


async def _checkpoint_and_restore(
    client: httpx.AsyncClient, container_id: str, bundle: Path
) -> int:
    """Checkpoint the container with exit, restore it under its id; the restored init's pid."""
    response = await client.post(f"/containers/{container_id}/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    response = await client.post(
        f"/containers/{container_id}", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert response.status_code == 201, response.text
    assert run_status(response.json()["state"]) == {"status": "running"}
    pid: int = response.json()["processes"][0]["pid"]
    return pid


async def test_a_restore_keeps_the_limits_the_start_gave(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """As Docker keeps ``docker run --memory 64m`` across a checkpoint: the restored container
    runs under the limits it had at its checkpoint, not the bundle's, and says so; the
    bundle is not written to. The quota and period the start gave hold a cpu.cpus off after
    it, as before it (docker's "Nano CPUs cannot be updated as CPU Period has already been
    set")."""
    config = (bundle / "config.json").read_bytes()
    with trio.fail_after(60):
        started = await start_container(client, "kept-start", bundle, resources=LIMITS)
        assert started["resources"] == LIMITS
        init = await _checkpoint_and_restore(client, "kept-start", bundle)
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "512"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "pids", "pids.max") == "100"
        assert (await client.get("/containers/kept-start")).json()["resources"] == LIMITS
        response = await patch(client, "kept-start", {"resources": {"cpu": {"cpus": 1}}})
        assert response.status_code == 409, response.text
        assert "the container's cpu.period was set" in response.json()["error"]
    assert (bundle / "config.json").read_bytes() == config


async def test_a_restore_keeps_the_limits_an_update_set(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """A limit changed with PATCH while the container ran is in force after its restore, and
    its record says so; a checkpoint of a container under the bundle's limits alone (made
    before, or by older code: no limits recorded) restores with the bundle's, as it did."""
    with trio.fail_after(60):
        await start_container(client, "kept-update", bundle)
        memory = {"memory": {"limit": 32 << 20}}
        assert (await patch(client, "kept-update", {"resources": memory})).status_code == 200
        init = await _checkpoint_and_restore(client, "kept-update", bundle)
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(32 << 20)
        assert (await client.get("/containers/kept-update")).json()["resources"] == memory

        await start_container(client, "plain", bundle)
        response = await client.post("/containers/plain/checkpoint/old", json={"exit": True})
        assert response.status_code == 201, response.text
        # What older code left: no limits recorded beside the images.
        (bundle / "checkpoints" / "old" / checkpoints.RESOURCES_NAME).unlink(missing_ok=True)
        response = await client.post(
            "/containers/plain", json={"bundlePath": str(bundle), "checkpoint": "old"}
        )
        assert response.status_code == 201, response.text
        init = response.json()["processes"][0]["pid"]
        assert int(cgroup_value(init, "memory", "memory.limit_in_bytes")) > 2**60
        assert response.json()["resources"] == {}


async def test_a_restore_runs_under_an_update_made_while_the_container_was_stopped(
    daemon: RunningDaemon, bundle: Path
) -> None:
    """``ctr-trio update -m 128m web`` of the container a checkpoint stopped is in force once
    it is restored under its id, as at any next start of it (docker's update of a stopped
    container): runc and CRIU put the record's limits in the restored cgroup (read back
    from its files). Before, the checkpoint's came back (64 MiB, 512 shares). A restore with
    no container of its id (deleted) has its checkpoint's limits still, and the quota and
    period its start gave hold a cpu.cpus off, as they did (its checkpoint keeps which its
    user set)."""
    client = daemon.client
    with trio.fail_after(90):
        await start_container(client, "stopped-update", bundle, resources=LIMITS)
        response = await client.post(
            "/containers/stopped-update/checkpoint/cp", json={"exit": True}
        )
        assert response.status_code == 201, response.text
        update = await run_cli(
            "--address", daemon.url, "update", "-m", "128m", "-c", "256", "stopped-update"
        )
        assert update.code == 0, update.err
        response = await client.post(
            "/containers/stopped-update", json={"bundlePath": str(bundle), "checkpoint": "cp"}
        )
        assert response.status_code == 201, response.text
        now_in_force = {**LIMITS, "memory": {"limit": 128 << 20}}
        now_in_force["cpu"] = {**LIMITS["cpu"], "shares": 256}
        assert response.json()["resources"] == now_in_force
        init = response.json()["processes"][0]["pid"]
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(128 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "256"
        assert cgroup_value(init, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_value(init, "pids", "pids.max") == "100"

        # None of its id: the checkpoint's limits, as they were at the dump.
        response = await client.delete("/containers/stopped-update", params={"timeout": 0})
        assert response.status_code == 200, response.text
        response = await client.post(
            "/containers/stopped-update", json={"bundlePath": str(bundle), "checkpoint": "cp"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["resources"] == LIMITS
        init = response.json()["processes"][0]["pid"]
        assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_value(init, "cpu", "cpu.shares") == "512"
        response = await patch(client, "stopped-update", {"resources": {"cpu": {"cpus": 1}}})
        assert response.status_code == 409, response.text
        assert "the container's cpu.period was set" in response.json()["error"]


# --- pure units: the OCI shape, and the CLI's options ------------------------------------------


def test_overlay_and_the_oci_shape() -> None:
    current = Resources(memory=MemoryResources(limit=1 << 30), cpu=CpuResources(shares=512))
    change = Resources(cpu=CpuResources(quota=50000), pids=PidsResources(limit=10))
    merged = overlay(current, change)
    assert merged == Resources(
        memory=MemoryResources(limit=1 << 30),
        cpu=CpuResources(shares=512, quota=50000),
        pids=PidsResources(limit=10),
    )
    assert to_oci(change) == {"cpu": {"quota": 50000}, "pids": {"limit": 10}}
    assert is_empty(Resources(memory=MemoryResources())) and not is_empty(change)


def test_what_a_failed_change_puts_back() -> None:
    """The limits it named, as the record has them, or as a cgroup has them unasked."""
    current = Resources(cpu=CpuResources(shares=256, period=50000))
    change = Resources(
        memory=MemoryResources(limit=64 << 20),
        cpu=CpuResources(shares=512, quota=200000),
        pids=PidsResources(limit=20),
    )
    assert before(current, change) == Resources(
        memory=MemoryResources(limit=-1),
        cpu=CpuResources(shares=256, quota=-1),
        pids=PidsResources(limit=-1),
    )
    assert before(Resources(), Resources(cpu=CpuResources(period=50000))) == Resources(
        cpu=CpuResources(period=100000)
    )


def test_a_bundles_resources_as_the_kernel_takes_them() -> None:
    assert from_oci(None) == Resources()
    assert from_oci({"memory": {"limit": -1}, "pids": {"limit": 0}}) == Resources()
    assert from_oci({"cpu": {"shares": 512, "quota": -1, "period": 100000}}) == Resources(
        cpu=CpuResources(shares=512, period=100000)
    )
    # A value the kernel refuses could not be in force: runc would not have started it.
    assert from_oci({"cpu": {"period": 10, "shares": 1}, "memory": {"limit": "x"}}) == Resources()


def update_args(*argv: str) -> argparse.Namespace:
    return build_parser(bench=False).parse_args(["update", "web", *argv])


def test_update_options_as_docker_has_them() -> None:
    args = update_args("--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "-c", "512")
    assert resource_change(args) == CLI_LIMITS
    assert resource_change(update_args("-m", "1.5GiB")) == {"memory": {"limit": 3 << 29}}
    assert resource_change(update_args("-m", "-1", "--cpus", "0")) == {
        "memory": {"limit": -1},
        "cpu": {"cpus": 0},
    }
    assert resource_change(update_args("--cpu-quota", "100000", "--cpu-period", "50000")) == {
        "cpu": {"period": 50000, "quota": 100000}
    }


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["--cpus", "2", "--cpu-period", "50000"], "Nano CPUs and CPU Period"),
        (["--cpu-period", "50000", "--cpus", "2"], "Nano CPUs and CPU Period"),
        (["--cpus", "0.5", "--cpu-quota", "10000"], "Nano CPUs and CPU Quota"),
    ],
)
async def test_cpus_with_a_cpu_period_or_quota_is_refused_as_docker_refuses_it(
    argv: list[str], refusal: str
) -> None:
    """docker refuses ``--cpus`` with ``--cpu-period`` or ``--cpu-quota`` ("Conflicting
    options: Nano CPUs and CPU Period cannot both be set"): ``--cpus`` is a quota of its own
    100000 us period. Here ``--cpu-period`` went with it, and changed what the quota came to
    (``--cpus 2 --cpu-period 50000``: 100000 of 50000 us). A usage error before any request,
    for ``update``, ``run`` and ``start``; 0 is no option given, as docker's."""
    nowhere = ("--retry", "0", "--address", "127.0.0.1:1")
    for command in (
        ["update", "web"],
        ["run", "-d", "web", "-b", "/b"],
        ["start", "web", "-b", "/b"],
    ):
        with trio.fail_after(10):
            result = await run_cli(*nowhere, *command, *argv)
        assert (result.code, result.out) == (EXIT_USAGE, ""), (command, result)
        assert f"Conflicting options: {refusal} cannot both be set" in result.err, result.err
    assert resource_change(update_args("--cpus", "2", "--cpu-period", "0")) == {"cpu": {"cpus": 2}}


def test_zero_is_docker_s_unset_and_a_pids_limit_of_zero_none() -> None:
    """docker reads 0 as unset (its API's zero value: the default at a run, nothing changed
    by an update) for a memory, swap, shares, quota and period, and a pids limit of 0 as
    none ("0 or -1: unlimited"); --cpus 0 is no CPU limit, as docker's run has. Until
    2026-12-04 each went to the daemon as 0, its 400 (``limit must be -1 (no limit) or
    between 6291456 ...``)."""
    zeros = ("-m", "0", "--memory-swap", "0", "-c", "0", "--cpu-quota", "0", "--cpu-period", "0")
    assert resource_change(update_args(*zeros)) == {}
    assert resource_change(update_args("--pids-limit", "0")) == {"pids": {"limit": -1}}
    assert resource_change(update_args("--cpus", "0", "-m", "0")) == {"cpu": {"cpus": 0}}
    # (Review.) --cpus 0 is unset beside a quota, docker's: the quota is in force (the 0 went
    # with it: the daemon's 400, cpu.cpus with a quota it does not make).
    for argv in (["--cpus", "0", "--cpu-quota", "5000"], ["--cpu-quota", "5000", "--cpus", "0"]):
        assert resource_change(update_args(*argv)) == {"cpu": {"quota": 5000}}, argv
    parser = build_parser(bench=False)
    assert resource_change(parser.parse_args(["run", "web", "-b", "/b", *zeros])) == {}


def test_resources_described_for_people() -> None:
    assert describe_resources({}) == "no limits"
    assert describe_resources(LIMITS) == (
        "memory 64.0 MiB, cpus 0.5 (quota 50000 of 100000 us), cpu shares 512, pids 100"
    )
    assert describe_resources({"memory": {"limit": -1}, "pids": {"limit": -1}}) == (
        "memory no limit, pids no limit"
    )
    assert describe_resources({"memory": {"limit": 64 << 20, "swap": -1}}) == (
        "memory 64.0 MiB, swap no limit"
    )


def test_run_and_start_take_updates_options() -> None:
    parser = build_parser(bench=False)
    options = ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "-c", "512"]
    for argv in (["run", "web", "-b", "/b", *options], ["start", "web", "-b", "/b", *options]):
        assert resource_change(parser.parse_args(argv)) == CLI_LIMITS
    assert resource_change(parser.parse_args(["run", "web", "-b", "/b"])) == {}


async def test_no_memory_limit_lifts_the_bundles_swap_limit_too(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """`update --memory -1` lifts a container's memory limit, and runc lifts the bundle's swap
    limit (cgroup v1: memory and swap together) with it. A start again then carries -1 over,
    and was refused (found in review: "-1 (no limit) is above linux.resources.memory.swap",
    so `restart` after that update failed, the container left stopped). No limit at a start
    now lifts the bundle's swap limit too, as the update did: the restart runs unlimited."""
    address = ("--address", daemon.url)
    swapless = make_bundle(memory_limit=32 << 20)  # swap limited to the same
    with trio.fail_after(60):
        run = await run_cli(*address, "run", "-d", "lifted", "-b", str(swapless))
        assert run.code == 0, run.err
        update = await run_cli(*address, "update", "--memory", "-1", "lifted")
        assert update.code == 0, update.err
        restart = await run_cli(*address, "restart", "-t", "1", "lifted")
        assert restart.code == 0, restart.err
        container = (await daemon.client.get("/containers/lifted")).json()
    assert container["resources"]["memory"] == {"limit": -1, "swap": -1}
    init = container["processes"][0]["pid"]
    page = os.sysconf("SC_PAGE_SIZE")
    unlimited = str((2**63 - 1) // page * page)  # cgroup v1's "no limit", in whole pages
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
        assert cgroup_value(init, "memory", name) == unlimited, name


async def test_a_start_with_the_bundles_own_limits_runs_from_the_bundle(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """`start ID` and `restart` send the limits in force, which for a container never updated
    are its bundle's own: nothing to lay over, so the start runs from the bundle itself, as a
    start without limits does (before, from a private copy: runc, and the bundle's hooks,
    named the copy as its bundle). Limits that differ still go through the copy."""
    bundle = make_bundle(memory_limit=32 << 20)
    with trio.fail_after(30):
        own = await start_container(
            daemon.client, "own", bundle, resources={"memory": {"limit": 32 << 20}}
        )
        other = await start_container(
            daemon.client, "other", bundle, resources={"memory": {"limit": 16 << 20}}
        )
    assert own["resources"]["memory"] == {"limit": 32 << 20}
    assert other["resources"]["memory"] == {"limit": 16 << 20}
    state_dir = daemon.config.state_dir
    assert runc_state(state_dir, "own")["bundle"] == str(bundle)
    assert not (daemon.config.containers_dir / "own" / "start-bundle").exists()
    assert runc_state(state_dir, "other")["bundle"] != str(bundle)  # the private copy
    assert cgroup_value(own["processes"][0]["pid"], "memory", "memory.limit_in_bytes") == str(
        32 << 20
    )


#: cgroup v1's "no limit" in memory.limit_in_bytes and memory.memsw.limit_in_bytes: the
#: largest signed 64-bit number in whole pages.
UNLIMITED = str((2**63 - 1) // os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PAGE_SIZE"))


def memory_and_swap(pid: int) -> tuple[str, str]:
    """The memory limit and the memory+swap limit (cgroup v1) of ``pid``'s cgroup."""
    return (
        cgroup_value(pid, "memory", "memory.limit_in_bytes"),
        cgroup_value(pid, "memory", "memory.memsw.limit_in_bytes"),
    )


async def test_a_memory_limit_alone_has_docker_s_swap_of_twice_it(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker sets memory and swap together to twice ``--memory`` given alone, where the host
    accounts swap (cgroup v1's memory.memsw.*, as here). So does the daemon beside a memory
    limit of its own, at a start, a start again and an update (which moves it with the limit:
    an update past twice the old one would be the kernel's refusal else), not shown in
    ``resources`` (as the bundle's swap is not); ``--memory-swap -1`` lifts it, and a bundle
    that sets a swap limit keeps its own. Before, none was set: memory.memsw unlimited."""
    assert cgroups.accounts_swap()
    address = ("--address", daemon.url)
    client = daemon.client

    async def ctr(*argv: str) -> None:
        result = await run_cli(*address, *argv)
        assert result.code == 0, (argv, result.err)

    async def init_of(container_id: str) -> int:
        got = (await client.get(f"/containers/{container_id}")).json()
        pid: int = got["processes"][0]["pid"]
        return pid

    with trio.fail_after(60):
        await ctr("run", "-d", "-m", "64m", "web", "-b", str(make_bundle()))
        assert memory_and_swap(await init_of("web")) == (str(64 << 20), str(128 << 20))
        got = (await client.get("/containers/web")).json()
        assert got["resources"] == {"memory": {"limit": 64 << 20}}
        await ctr("update", "-m", "300m", "web")  # past 128m: the swap goes first
        assert memory_and_swap(await init_of("web")) == (str(300 << 20), str(600 << 20))
        await ctr("update", "-m", "96m", "web")
        assert memory_and_swap(await init_of("web")) == (str(96 << 20), str(192 << 20))
        await ctr("stop", "-t", "0", "web")
        await ctr("update", "-m", "80m", "web")
        await ctr("start", "web")
        assert memory_and_swap(await init_of("web")) == (str(80 << 20), str(160 << 20))
        await ctr("update", "-m", "128m", "--memory-swap", "-1", "web")
        assert memory_and_swap(await init_of("web")) == (str(128 << 20), UNLIMITED)

        swapless = make_bundle(memory_limit=32 << 20)  # swap limited to the same
        await ctr("run", "-d", "-m", "16m", "own", "-b", str(swapless))
        assert memory_and_swap(await init_of("own")) == (str(16 << 20), str(32 << 20))


async def test_an_update_back_to_the_bundle_s_memory_limit_lifts_docker_s_swap(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """(Review.) A bundle with a memory limit of its own and no swap limit, started with a
    smaller one (docker's swap beside it: twice it), then updated back to the bundle's: a
    start from the bundle's limit has no swap limit, and so has the update now. Before, the
    old limit's swap stayed, below the new limit: runc's write of it was the kernel's
    refusal (a 500, "memory.limit_in_bytes: invalid argument"). An update to -1 lifts it too,
    as before (runc's own)."""

    def own_limit_no_swap(config: dict[str, Any]) -> None:
        config["linux"].setdefault("resources", {})["memory"] = {"limit": 512 << 20}

    bundle = make_bundle(FOREVER, edit=own_limit_no_swap)
    body = {"resources": {"memory": {"limit": 128 << 20}}}
    init = (await start_container(client, "back", bundle, **body))["processes"][0]["pid"]
    assert memory_and_swap(init) == (str(128 << 20), str(256 << 20))
    response = await patch(client, "back", {"resources": {"memory": {"limit": 512 << 20}}})
    assert response.status_code == 200, response.text
    assert memory_and_swap(init) == (str(512 << 20), UNLIMITED)
    assert (await client.get("/containers/back")).json()["resources"] == {
        "memory": {"limit": 512 << 20}
    }
    # A limit of the daemon's again: docker's swap with it; then none at all.
    response = await patch(client, "back", {"resources": {"memory": {"limit": 200 << 20}}})
    assert response.status_code == 200, response.text
    assert memory_and_swap(init) == (str(200 << 20), str(400 << 20))
    response = await patch(client, "back", {"resources": {"memory": {"limit": -1}}})
    assert response.status_code == 200, response.text
    assert memory_and_swap(init) == (UNLIMITED, UNLIMITED)


@pytest.mark.deadline(90)
async def test_a_memory_limit_set_after_the_swap_was_lifted_is_in_force_at_the_next_start(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """`update --memory -1` lifts the bundle's swap limit (cgroup v1: memory and swap
    together) with the memory limit; a memory limit set after it, while the container runs,
    leaves the swap unlimited, and may be above the bundle's swap. The record says the swap
    was lifted (`memory.swap: -1`), across a kill -9 of the server too, and the next start
    (`ctr-trio restart`: the record's limits over the bundle's) puts in force what the
    container had at its end. Before, the record said nothing of the swap, and that start
    laid the limit over the bundle's swap and was refused ("resources.memory.limit 67108864 is
    above linux.resources.memory.swap (33554432) ..."): the container stayed stopped."""
    daemon: DaemonProcess = await spawn_daemon()
    address = ("--address", f"unix:{daemon.socket}")
    swapless = make_bundle(memory_limit=32 << 20)  # swap limited to the same
    lifted = {"limit": 64 << 20, "swap": -1}
    with trio.fail_after(60):
        run = await run_cli(*address, "run", "-d", "lift", "-b", str(swapless))
        assert run.code == 0, run.err
        for memory in ("-1", "64m"):
            update = await run_cli(*address, "update", "--memory", memory, "lift")
            assert update.code == 0, update.err
        got = (await daemon.client.get("/containers/lift")).json()
        assert got["resources"] == {"memory": lifted}
        assert memory_and_swap(got["processes"][0]["pid"]) == (str(64 << 20), UNLIMITED)
        await daemon.kill_server()
        assert (await daemon.client.get("/containers/lift")).json()["resources"] == {
            "memory": lifted
        }
        restart = await run_cli(*address, "restart", "-t", "1", "lift")
        assert restart.code == 0, restart.err
        got = (await daemon.client.get("/containers/lift")).json()
    assert got["state"]["status"] == "running"
    assert got["resources"] == {"memory": lifted}
    assert memory_and_swap(got["processes"][0]["pid"]) == (str(64 << 20), UNLIMITED)


async def test_a_memory_limit_above_the_swap_in_force_is_400_unless_the_swap_is_lifted(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A memory limit above the swap limit in force (the bundle's memory.swap, cgroup v1's
    memory and swap together) cannot be: running, the kernel refuses it (before, a 500 in
    runc's words, "failed to write ... memory.limit_in_bytes: invalid argument"); stopped,
    its next start would. Both are the start's 400 now, before runc runs, as docker's
    "Memory limit should be smaller than already set memoryswap limit, update the
    memoryswap at the same time", and change nothing; nor does a change that lifts the swap
    and that the kernel then refuses (the bundle's swap is put back). With the swap lifted in
    the same change (`memory.swap: -1`, docker's --memory-swap -1), or by an earlier -1, the
    limit is taken, running or stopped, and the next start has it so."""
    client = daemon.client
    # Its process holds more than docker's floor, the least limit a client may ask for.
    swapless = make_bundle(HOLDS_12_MIB, memory_limit=32 << 20)
    config = swapless / "config.json"
    above = {"memory": {"limit": 64 << 20}}
    refusal = (
        f"resources.memory.limit {64 << 20} is above linux.resources.memory.swap ({32 << 20})"
        f" in {config}: on cgroup v1 that is memory and swap together, which may not be less"
        " than the memory limit; give a limit of at most that, lift the swap limit with it"
        " (memory.swap -1), or raise the bundle's swap"
    )
    with trio.fail_after(60):
        running = await start_container(client, "up", swapless)
        pid = running["processes"][0]["pid"]
        await wait_output(client, "up", "held")
        response = await patch(client, "up", {"resources": above})
        assert (response.status_code, response.json()) == (400, {"error": refusal})
        assert memory_and_swap(pid) == (str(32 << 20), str(32 << 20))
        assert (await client.get("/containers/up")).json()["resources"] == running["resources"]
        # Refused by the kernel after runc lifted the swap (it writes the swap first): the
        # bundle's swap is put back with the memory limit, as any refused change is.
        tiny = {"memory": {"limit": FLOOR, "swap": -1}}
        response = await patch(client, "up", {"resources": tiny})
        assert response.status_code == 409, response.text
        assert memory_and_swap(pid) == (str(32 << 20), str(32 << 20))
        assert (await client.get("/containers/up")).json()["resources"] == running["resources"]
        both = {"memory": {"limit": 64 << 20, "swap": -1}}
        response = await patch(client, "up", {"resources": both})
        assert response.status_code == 200, response.text
        assert response.json()["resources"] == both
        assert memory_and_swap(pid) == (str(64 << 20), UNLIMITED)
        response = await patch(client, "up", {"resources": {"memory": {"swap": 32 << 20}}})
        assert (response.status_code, response.json()) == (400, {"error": (
            "resources.memory: swap must be -1 (no limit: lifts the bundle's), not 33554432"
        )})  # fmt: skip

        # Stopped: the order reversed (the lift and the limit while it is stopped) is the same.
        stopped = await _stopped(client, "down", swapless)
        response = await patch(client, "down", {"resources": above})
        assert (response.status_code, response.json()) == (400, {"error": refusal})
        assert (await client.get("/containers/down")).json() == stopped
        for change in ({"memory": {"limit": -1}}, above):
            response = await patch(client, "down", {"resources": change})
            assert response.status_code == 200, response.text
        assert response.json()["resources"] == both
        started = await start_container(
            client, "down", swapless, resources=response.json()["resources"]
        )
        assert started["resources"] == both
        assert memory_and_swap(started["processes"][0]["pid"]) == (str(64 << 20), UNLIMITED)


async def test_ctr_trio_memory_swap_minus_one_lifts_the_swap_with_the_limit(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker's `--memory 64m --memory-swap -1`, in one update or at the start: over a bundle
    whose swap limit is below the new memory limit, the daemon's refusal tells to "lift the
    swap limit with it (memory.swap -1)", which ctr-trio had no flag for (found in review:
    "unrecognized arguments: --memory-swap -1"; only two updates, the first lifting every
    limit for a moment, got there). Another swap limit is the daemon's 400, in its words."""
    address = ("--address", daemon.url)
    swapless = make_bundle(FOREVER, memory_limit=32 << 20)  # swap limited to the same
    with trio.fail_after(60):
        run = await run_cli(
            *address, "run", "-d", "started", "-b", str(swapless),
            "--memory", "64m", "--memory-swap", "-1",
        )  # fmt: skip
        assert run.code == 0, run.err
        started = (await daemon.client.get("/containers/started")).json()
        assert started["resources"]["memory"] == {"limit": 64 << 20, "swap": -1}
        assert memory_and_swap(started["processes"][0]["pid"]) == (str(64 << 20), UNLIMITED)

        run = await run_cli(*address, "run", "-d", "updated", "-b", str(swapless))
        assert run.code == 0, run.err
        pid = (await daemon.client.get("/containers/updated")).json()["processes"][0]["pid"]
        refused = await run_cli(*address, "update", "updated", "--memory", "64m")
        assert refused.code == 1
        assert "lift the swap limit with it (memory.swap -1)" in refused.err
        update = await run_cli(*address, "update", "updated", "-m", "64m", "--memory-swap", "-1")
        assert update.code == 0, update.err
        assert update.out == "updated updated: memory 64.0 MiB, swap no limit\n"
        assert memory_and_swap(pid) == (str(64 << 20), UNLIMITED)
        other = await run_cli(*address, "update", "updated", "--memory-swap", "128m")
        assert other.code == 1
        assert "resources.memory: swap must be -1 (no limit: lifts the bundle's), not" in other.err
        assert memory_and_swap(pid) == (str(64 << 20), UNLIMITED)


async def test_ctr_trio_reads_sizes_as_docker_does(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """`--memory` as docker's RAMInBytes reads it: `96 m` (a space before the unit) and `1p`
    are sizes, `64bb`, `1e3m`, `.5g` and `5.` are not (before, the first two were usage
    errors and the others were taken: `64bb` as 64 bytes, `1e3m` as 1000 MiB)."""
    address = ("--address", daemon.url)
    with trio.fail_after(60):
        started = await start_container(daemon.client, "sized", make_bundle(FOREVER))
        pid = started["processes"][0]["pid"]
        for given, limit in (("96 m", 96 << 20), ("1p", 1 << 50), ("1.5GiB", 3 << 29)):
            result = await run_cli(*address, "update", "sized", "--memory", given)
            assert result.code == 0, (given, result.err)
            assert cgroup_value(pid, "memory", "memory.limit_in_bytes") == str(limit)
        for given in ("64bb", "67108864bb", "1e3m", ".5g", "5.", "1.2.3m", "64  m"):
            result = await run_cli(*address, "update", "sized", "--memory", given)
            assert result.code == EXIT_USAGE, (given, result.err)
            assert f"{given!r} is not a size" in result.err
            assert cgroup_value(pid, "memory", "memory.limit_in_bytes") == str(3 << 29)
