"""Figures of docs/performance.md "Event streams": replays of a full event log (10,000 kept
events) through ``GET /events?since=``, one at a time and 20 at once, with the server's CPU.

    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/event_figures.py [--code DIR]

The daemon runs from this checkout, or from ``--code DIR`` (a worktree of an older commit) to
compare; its state dir is a new one whose event log this script writes first (10,000 ``exit``
events an hour old), so no container is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

from containerd_trio import timestamps

EVENTS = 10_000


def write_event_log(path: Path) -> None:
    start = time.time_ns() - 3600 * 10**9
    with open(path, "w") as log:
        for n in range(EVENTS):
            event = {
                "type": "exit",
                "id": f"c{n % 500}",
                "pid": 1000 + n,
                "status": 0,
                "timestamp": timestamps.format_ns(start + n * 1000),
            }
            log.write(json.dumps(event, separators=(",", ":")) + "\n")


def server_cpu(keeper: int) -> float:
    """The CPU seconds of the keeper's child that is the server."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == keeper and b"containerd_trio.server" in command:
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise SystemExit("no server process found")


async def replay(client: httpx.AsyncClient) -> None:
    lines = 0
    async with client.stream("GET", "/events", params={"since": "2h"}) as response:
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
            if lines >= EVENTS:
                return


async def measure(address: str, keeper: int) -> None:
    transport = httpx.AsyncHTTPTransport(uds=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://d", timeout=120) as client:
        with trio.fail_after(30):
            while True:
                try:
                    if (await client.get("/state")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)
        for label, streams in (("first", 1), ("again", 1), ("again", 1), ("20 at once", 20)):
            cpu, wall = server_cpu(keeper), time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(streams):
                    nursery.start_soon(replay, client)
            wall, cpu = time.perf_counter() - wall, server_cpu(keeper) - cpu
            lines = streams * EVENTS
            print(
                f"replay {label} ({streams} x {EVENTS} events): {wall:.2f} s,"
                f" {lines / wall:,.0f} lines/s; the server's CPU {cpu * 1000:.0f} ms,"
                f" {cpu / lines * 1e6:.1f} us per line"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=Path.cwd(), help="the daemon's checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="event-figures-") as scratch:
        state = Path(scratch) / "state"
        state.mkdir()
        write_event_log(state / "events.log")
        address = f"{scratch}/api.sock"
        command = [sys.executable, "-m", "containerd_trio", "--listen", f"unix:{address}"]
        command += ["--state-dir", str(state), "--shutdown-timeout", "1", "--log-level", "error"]
        environment = dict(os.environ, PYTHONPATH=str(args.code.resolve()))
        keeper = subprocess.Popen(command, env=environment)
        try:
            trio.run(measure, address, keeper.pid)
        finally:
            keeper.send_signal(signal.SIGTERM)
            keeper.wait(30)


if __name__ == "__main__":
    main()
