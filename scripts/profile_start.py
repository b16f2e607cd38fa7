"""Where a start's time goes in the daemon: N starts with the stand-in runtime (NOT runc).

    .venv/bin/python scripts/profile_start.py [--count 1000] [--concurrency 8] [--profile] [--runc]

The server runs in this process (``containerd_trio.server.Daemon``, which starts its keeper and
logger as usual) with ``--runtime`` set to the bench's stand-in (``bench/standin.c``: a forked
process that sleeps, no namespaces, cgroups or rootfs), so that what is measured is the daemon's
own work. The starts come from another process, through the bench's HTTP client, ``C`` at once.

With ``--runc`` the containers are real (runc, the bench's busybox bundle), and what is measured
includes what runc's work costs the daemon (more children to reap, a busier machine). It prints
the CPU per start of each of the daemon's three processes. With ``--profile`` the
server runs under pyinstrument and its call tree follows (a profiler inflates small calls: take
the shares, not the times).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import trio

from containerd_trio import procfs
from containerd_trio.bench.api import DaemonApi
from containerd_trio.bench.ceiling import build_standin
from containerd_trio.bench.phase import workers
from containerd_trio.busybox import make_busybox_bundle
from containerd_trio.config import parse_args
from containerd_trio.server import Daemon


async def drive(address: str, bundle: Path, count: int, concurrency: int) -> None:
    api = DaemonApi(address)
    try:

        async def start(index: int) -> None:
            await api.start(f"p{index}", bundle)

        await workers(count, concurrency, start)
    finally:
        await api.aclose()


async def profile(count: int, concurrency: int, with_profiler: bool, runc: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="ctr-trio-profile-") as tmp:
        workdir = Path(tmp)
        runtime = "runc" if runc else str(await build_standin(workdir))
        bundle = workdir / "bundle"
        await trio.to_thread.run_sync(make_busybox_bundle, bundle, ["sleep", "100000"])
        socket = workdir / "api.sock"
        config = parse_args(
            ["--listen", f"unix:{socket}", "--state-dir", str(workdir / "state"),
             "--runtime", runtime, "--log-level", "warning"]
        )  # fmt: skip
        async with trio.open_nursery() as nursery:
            daemon: Daemon = await nursery.start(Daemon(config).run)
            assert daemon.welcome is not None
            helpers = {"keeper": daemon.welcome.keeper_pid}
            if daemon.welcome.logger_pid is not None:
                helpers["logger"] = daemon.welcome.logger_pid
            profiler = None
            if with_profiler:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled")
            before = {name: procfs.cpu_seconds(pid) or 0.0 for name, pid in helpers.items()}
            server_before = resource.getrusage(resource.RUSAGE_SELF)
            began = time.perf_counter()
            if profiler is not None:
                profiler.start()
            driver = [sys.executable, __file__, "--drive", f"unix:{socket}", str(bundle),
                      str(count), str(concurrency)]  # fmt: skip
            await trio.run_process(driver)
            if profiler is not None:
                profiler.stop()
            wall = time.perf_counter() - began
            server_after = resource.getrusage(resource.RUSAGE_SELF)
            after = {name: procfs.cpu_seconds(pid) or 0.0 for name, pid in helpers.items()}
            server = (server_after.ru_utime + server_after.ru_stime) - (
                server_before.ru_utime + server_before.ru_stime
            )
            what = "runc" if runc else "stand-in runtime (not runc)"
            print(f"{count} starts, {concurrency} at once, {what}: {count / wall:.1f} starts/s")
            print(f"server cpu: {server / count * 1000:.2f}ms per start"
                  + (" (under the profiler)" if profiler is not None else ""))  # fmt: skip
            for name in helpers:
                seconds = after[name] - before[name]
                print(f"{name} cpu: {seconds / count * 1000:.2f}ms per start")
            if profiler is not None:
                print(
                    profiler.output_text(
                        unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))
                    )
                )
            daemon.request_stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        address, bundle, count, concurrency = sys.argv[2:6]
        trio.run(drive, address, Path(bundle), int(count), int(concurrency))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="run the server under pyinstrument")
    parser.add_argument("--runc", action="store_true", help="real containers, with runc")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the daemon's state dir, runc's root)")
    trio.run(profile, options.count, options.concurrency, options.profile, options.runc)


if __name__ == "__main__":
    main()
