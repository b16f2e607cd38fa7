#!/usr/bin/env python3
"""What a crash of the server costs with many containers running, and what the daemon weighs.

    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/bench_restart.py [--count 1000]

(``make bench-restart``.) A daemon of the script's own (``python -m containerd_trio``: the
keeper, its server and its logger) on a unix socket in a temporary directory; ``--count``
busybox containers started through it, 8 at a time. Then, with all of them running:

- the resident memory of each of the daemon's processes, and their sum;
- ``kill -9`` of the server, and the time until the keeper's new server answers ``GET /state``
  listing every container as running with its pid unchanged (``--kills`` times);
- ``POST /daemon/reload`` (a live upgrade), and the same time.

Everything is removed at the end (SIGTERM to the keeper: it stops the containers).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import trio  # noqa: E402

from containerd_trio import procfs  # noqa: E402
from containerd_trio.bench.api import DaemonApi  # noqa: E402
from containerd_trio.busybox import make_busybox_bundle  # noqa: E402
from containerd_trio.client.errors import ClientError  # noqa: E402
from containerd_trio.client.http import Client  # noqa: E402

MIB = 1 << 20


def rss(pid: int) -> int:
    return procfs.resident_bytes(pid) or 0


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read()
    except OSError:
        return b""


def daemon_processes(keeper: int) -> dict[str, int]:
    """The keeper and its two Python children (the containers are its children too)."""
    found = {"keeper": keeper}
    for child in procfs.children(keeper):
        line = cmdline(child)
        if b"containerd_trio.server" in line:
            found["server"] = child
        elif b"containerd_trio.keeper._logger" in line:
            found["logger"] = child
    return found


async def start_all(address: str, bundle: Path, count: int, concurrency: int) -> dict[str, int]:
    api = DaemonApi(address)
    pids: dict[str, int] = {}
    limit = trio.CapacityLimiter(concurrency)

    async def one(index: int) -> None:
        async with limit:
            pids[f"r{index}"] = await api.start(f"r{index}", bundle)

    try:
        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(one, index)
    finally:
        await api.aclose()
    return pids


def wait_all_running(client: Client, pids: dict[str, int], since: float) -> float:
    """Poll GET /state until every container is listed running with its pid; seconds taken."""
    while True:
        try:
            state = client.state()
        except ClientError:  # not serving yet: the keeper restarts it
            time.sleep(0.005)
            continue
        seen = {
            c["id"]: c["processes"][0]["pid"] if c["processes"] else None
            for c in state["containers"]
            if c["state"]["status"] == "running"
        }
        if all(seen.get(cid) == pid for cid, pid in pids.items()):
            return time.monotonic() - since
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        root = Path(tmp)
        bundle = make_busybox_bundle(root / "bundle", ["sleep", "100000"])
        socket = root / "api.sock"
        log = open(root / "daemon.log", "wb")  # noqa: SIM115
        keeper = subprocess.Popen(
            [sys.executable, "-m", "containerd_trio", "--listen", f"unix:{socket}",
             "--state-dir", str(root / "state"), "--shutdown-timeout", "1"],
            stderr=log, cwd=REPO,
        )  # fmt: skip
        address = f"unix:{socket}"
        client = Client(address, retry_for=30)
        try:
            client.state()
            began = time.monotonic()
            pids = trio.run(start_all, address, bundle, args.count, args.concurrency)
            print(f"{args.count} containers started in {time.monotonic() - began:.1f} s")
            wait_all_running(client, pids, time.monotonic())

            processes = daemon_processes(keeper.pid)
            sizes = {name: rss(pid) for name, pid in processes.items()}
            for name, size in sizes.items():
                print(f"rss {name}: {size / MIB:.1f} MiB")
            print(f"rss all daemon processes: {sum(sizes.values()) / MIB:.1f} MiB")

            times = []
            for _ in range(args.kills):
                server = daemon_processes(keeper.pid)["server"]
                began = time.monotonic()
                os.kill(server, signal.SIGKILL)
                client.close()
                client = Client(address, retry_for=30)
                taken = wait_all_running(client, pids, began)
                times.append(taken)
                print(f"kill -9 of the server: all {args.count} listed running after {taken:.2f} s")
            print(f"kill -9, median of {len(times)}: {statistics.median(times):.2f} s")

            began = time.monotonic()
            client.reload_daemon()
            taken = wait_all_running(client, pids, began)
            print(f"live upgrade (POST /daemon/reload): all listed running after {taken:.2f} s")
            processes = daemon_processes(keeper.pid)
            total = sum(rss(pid) for pid in processes.values())
            print(f"rss all daemon processes after the upgrade: {total / MIB:.1f} MiB")
        finally:
            client.close()
            keeper.send_signal(signal.SIGTERM)
            try:
                keeper.wait(timeout=600)
            except subprocess.TimeoutExpired:
                keeper.kill()
                keeper.wait()
            log.close()


if __name__ == "__main__":
    main()
