"""Where a start's time goes in the daemon: N starts with the stand-in runtime (NOT runc).

    .venv/bin/python scripts/profile_start.py [--count 1000] [--concurrency 8] [--profile]
                                              [--tasks] [--runc] [--cycle [--rm]]
                                              [--requests [--runc-load N]]

The server runs in this process (``containerd_trio.server.Daemon``, which starts its keeper and
logger as usual) with ``--runtime`` set to the bench's stand-in (``bench/standin.c``: a forked
process that sleeps, no namespaces, cgroups or rootfs), so that what is measured is the daemon's
own work. The starts come from another process, through the bench's HTTP client, ``C`` at once.

With ``--runc`` the containers are real (runc, the bench's busybox bundle), and what is measured
includes what runc's work costs the daemon (more children to reap, a busier machine). It prints
the CPU per start of each of the daemon's three processes. With ``--profile`` the
server runs under pyinstrument and its call tree follows (a profiler inflates small calls: take
the shares, not the times). With ``--tasks`` the server's main thread's CPU follows by task
(a Trio instrument reading the thread's CPU clock around each task step: CPU, not the wall
time a sampling profiler sees; the two clock reads per step add about 20-30 us per start).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import hypercorn.trio
import trio

from containerd_trio import procfs
from containerd_trio.bench.api import DaemonApi
from containerd_trio.bench.ceiling import EXIT_MARKER, build_standin
from containerd_trio.bench.phase import workers
from containerd_trio.busybox import make_busybox_bundle
from containerd_trio.config import parse_args
from containerd_trio.server import Daemon, hypercorn_config


async def drive(address: str, bundle: Path, count: int, concurrency: int, unit: str) -> None:
    api = DaemonApi(address)
    try:

        async def start(index: int) -> None:
            if unit == "rm":  # docker run --rm's: autoRemove, then a wait for the removal
                await api.start(f"p{index}", bundle, auto_remove=True)
                await api.wait_exit(f"p{index}", condition="removed")
                return
            pid = await api.start(f"p{index}", bundle)
            if unit == "cycle":
                await api.wait_exit(f"p{index}", pid)
                await api.delete(f"p{index}")

        await workers(count, concurrency, start)
    finally:
        await api.aclose()


async def ask(address: str, count: int, concurrency: int, through_quart: bool) -> None:
    """``count`` requests of a route that answers 404, ``concurrency`` at once."""
    import httpx

    headers = {"Sec-Fetch-Site": "same-origin"} if through_quart else {}
    transport = httpx.AsyncHTTPTransport(uds=address.removeprefix("unix:"))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:

        async def one(index: int) -> None:
            answer = await client.get("/containers/none", headers=headers)
            assert answer.status_code == 404, answer.text

        await workers(count, concurrency, one)


_NOT_FOUND = b'{"error":"container \'none\' not found"}'


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The least an ASGI app can do for the same request: read it, answer the same 404."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_NOT_FOUND))]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": _NOT_FOUND})


async def server_cpu_per_answer(socket: Path, count: int, concurrency: int, path: str) -> float:
    before = resource.getrusage(resource.RUSAGE_SELF)
    driver = [sys.executable, __file__, "--ask", f"unix:{socket}", str(count), str(concurrency),
              path]  # fmt: skip
    await trio.run_process(driver)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (_cpu_seconds(after) - _cpu_seconds(before)) / count


def _cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


async def runc_load(workdir: Path, workers: int) -> None:
    """Real containers started and deleted in a loop by ``workers`` shells (their CPU is not
    this process's): the contention a start through the daemon meets in the bench."""
    bundle = workdir / "load-bundle"
    await trio.to_thread.run_sync(make_busybox_bundle, bundle, ["sleep", "100000"])
    root = workdir / "load-runc"
    loop = (
        'while :; do runc --root "$1" run -d --bundle "$2" --pid-file "$1/$3.pid" "$3" '
        '</dev/null >/dev/null 2>&1; runc --root "$1" delete -f "$3" >/dev/null 2>&1; done'
    )
    try:
        async with trio.open_nursery() as nursery:
            for n in range(workers):
                command = ["sh", "-c", loop, "load", str(root), str(bundle), f"load{n}"]
                nursery.start_soon(partial(trio.run_process, command, check=False))
    finally:
        with trio.CancelScope(shield=True):
            for n in range(workers):  # a shell stopped between its run and its delete
                delete = ["runc", "--root", str(root), "delete", "--force", f"load{n}"]
                await trio.run_process(delete, check=False, stderr=subprocess.DEVNULL)


async def http_only(count: int, concurrency: int, load: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ctr-trio-profile-") as tmp:
        socket = Path(tmp) / "api.sock"
        config = parse_args(
            ["--listen", f"unix:{socket}", "--state-dir", f"{tmp}/state", "--log-level", "warning"]
        )
        async with trio.open_nursery() as nursery:
            if load:
                nursery.start_soon(runc_load, Path(tmp), load)
                print(f"under load: {load} shells starting and deleting runc containers")
            async with trio.open_nursery() as serving:
                daemon: Daemon = await serving.start(Daemon(config).run)
                for path in ("the fast path", "Quart"):
                    seconds = await server_cpu_per_answer(socket, count, concurrency, path)
                    print(f"GET /containers/none (404) through {path}:"
                          f" {seconds * 1000:.3f}ms of server cpu per answer")  # fmt: skip
                daemon.request_stop()
            # The floor of the stack: the same Hypercorn, settings and socket, a bare app.
            bare_socket = Path(tmp) / "bare.sock"
            bare = parse_args(["--listen", f"unix:{bare_socket}"])
            stop = trio.Event()
            await nursery.start(
                partial(hypercorn.trio.serve, bare_app, hypercorn_config(bare, None),
                        shutdown_trigger=stop.wait)
            )  # fmt: skip
            seconds = await server_cpu_per_answer(bare_socket, count, concurrency, "bare")
            print(f"the same 404 from a bare ASGI app under the same Hypercorn:"
                  f" {seconds * 1000:.3f}ms of server cpu per answer")  # fmt: skip
            stop.set()
            nursery.cancel_scope.cancel()


#: What the tasks the server runs per request are, by their coroutine's name.
_TASK_KINDS = {
    "_handle": (
        "Hypercorn's request task: the ASGI app (fast path, route, the launch: runc through"
        " the keeper, journal) and the answer"
    ),
    "_run_handler": "Hypercorn's connection task: reading and parsing requests (h11)",
    "_cancel_wrapper.<locals>.wrapper": "the connection's keep-alive timer",
    "Container.serve": "the container's task tree: a watcher per process",
    "KeeperLink.serve": "the keeper link's reader: the keeper's answers",
    "Container._watch": "the init's watcher",
}


class TaskCpu(trio.abc.Instrument):
    """The main thread's CPU in each task's steps, by the task's coroutine; what the thread
    spends between steps (Trio's scheduler, epoll) is the rest. CPU, not wall time: a task
    preempted by the kernel mid-step does not count the wait, which a sampling profiler
    would."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.steps: dict[str, int] = {}
        # None until a step begins: the step that adds the instrument ends without one.
        self._began: float | None = None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._began = time.thread_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._began is None:
            return
        spent = time.thread_time() - self._began
        self._began = None
        code = getattr(task.coro, "cr_code", None)
        kind = code.co_qualname if code is not None else task.name
        self.cpu[kind] = self.cpu.get(kind, 0.0) + spent
        self.steps[kind] = self.steps.get(kind, 0) + 1

    def report(self, thread_cpu: float, count: int, unit: str) -> None:
        in_steps = sum(self.cpu.values())
        print(f"the server's main thread: {thread_cpu / count * 1000:.3f}ms per {unit}, by task:")
        for kind, seconds in sorted(self.cpu.items(), key=lambda item: -item[1]):
            if seconds / count < 0.000_001:
                continue
            what = f" ({_TASK_KINDS[kind]})" if kind in _TASK_KINDS else ""
            print(f"  {seconds / count * 1000:.3f}ms in {self.steps[kind] / count:.1f} steps"
                  f"  {kind}{what}")  # fmt: skip
        print(f"  {(thread_cpu - in_steps) / count * 1000:.3f}ms between task steps"
              " (Trio's scheduler, epoll)")  # fmt: skip


async def profile(
    count: int, concurrency: int, with_profiler: bool, runc: bool, cycle: bool, tasks: bool,
    rm: bool = False,
) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ctr-trio-profile-") as tmp:
        workdir = Path(tmp)
        runtime = "runc" if runc else str(await build_standin(workdir))
        bundle = workdir / "bundle"
        args = ["true"] if cycle else ["sleep", "100000"]
        await trio.to_thread.run_sync(make_busybox_bundle, bundle, args)
        if cycle:
            (bundle / EXIT_MARKER).touch()  # the stand-in's process exits at once
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
            task_cpu = TaskCpu() if tasks else None
            thread_before = thread_cpu = 0.0
            before = {name: procfs.cpu_seconds(pid) or 0.0 for name, pid in helpers.items()}
            reaped_before = (procfs.cpu_times(helpers["keeper"]) or (0.0, 0.0))[1]
            server_before = resource.getrusage(resource.RUSAGE_SELF)
            began = time.perf_counter()
            if profiler is not None:
                profiler.start()
            if task_cpu is not None:
                thread_before = time.thread_time()
                trio.lowlevel.add_instrument(task_cpu)
            driver = [sys.executable, __file__, "--drive", f"unix:{socket}", str(bundle),
                      str(count), str(concurrency),
                      "rm" if rm else "cycle" if cycle else "start"]  # fmt: skip
            await trio.run_process(driver)
            if task_cpu is not None:
                trio.lowlevel.remove_instrument(task_cpu)
                thread_cpu = time.thread_time() - thread_before
            if profiler is not None:
                profiler.stop()
            wall = time.perf_counter() - began
            server_after = resource.getrusage(resource.RUSAGE_SELF)
            after = {name: procfs.cpu_seconds(pid) or 0.0 for name, pid in helpers.items()}
            reaped = (procfs.cpu_times(helpers["keeper"]) or (0.0, 0.0))[1] - reaped_before
            server = _cpu_seconds(server_after) - _cpu_seconds(server_before)
            what = "runc" if runc else "stand-in runtime (not runc)"
            unit = "cycle" if cycle else "start"
            print(f"{count} {unit}s, {concurrency} at once, {what}: {count / wall:.1f} {unit}s/s")
            kernel = server_after.ru_stime - server_before.ru_stime
            waits = server_after.ru_nvcsw - server_before.ru_nvcsw
            preempted = server_after.ru_nivcsw - server_before.ru_nivcsw
            print(f"server cpu: {server / count * 1000:.2f}ms per {unit}"
                  f" ({kernel / count * 1000:.2f}ms of it in the kernel; it slept"
                  f" {waits / count:.1f} times and was preempted {preempted / count:.1f})"
                  + (" (under the profiler)" if profiler is not None else ""))  # fmt: skip
            for name in helpers:
                seconds = after[name] - before[name]
                print(f"{name} cpu: {seconds / count * 1000:.2f}ms per {unit}")
            # runc's (or the stand-in's) runs, reaped by the keeper; the containers' own
            # processes are reaped at their end, after this
            print(f"{what} cpu: {reaped / count * 1000:.2f}ms per {unit} (the keeper's reaped)")
            if task_cpu is not None:
                task_cpu.report(thread_cpu, count, unit)
            if profiler is not None:
                print(
                    profiler.output_text(
                        unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))
                    )
                )
            daemon.request_stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ask":
        address, count, concurrency, path = sys.argv[2:6]
        trio.run(ask, address, int(count), int(concurrency), path == "Quart")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        address, bundle, count, concurrency, unit = sys.argv[2:7]
        trio.run(drive, address, Path(bundle), int(count), int(concurrency), unit)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="run the server under pyinstrument")
    parser.add_argument(
        "--tasks", action="store_true",
        help="the server's CPU by task (a Trio instrument timing each task step's thread CPU)",
    )  # fmt: skip
    parser.add_argument("--runc", action="store_true", help="real containers, with runc")
    parser.add_argument("--cycle", action="store_true", help="lifecycles: start, wait, delete")
    parser.add_argument(
        "--rm", action="store_true",
        help="with --cycle: as docker run --rm's (autoRemove, a wait for the removal)",
    )  # fmt: skip
    parser.add_argument("--requests", action="store_true", help="the HTTP path alone (404s)")
    parser.add_argument(
        "--runc-load", type=int, default=0, metavar="N",
        help="with --requests: N shells start and delete runc containers meanwhile",
    )  # fmt: skip
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the daemon's state dir, runc's root)")
    if options.requests:
        trio.run(http_only, options.count, options.concurrency, options.runc_load)
        return
    trio.run(
        profile, options.count, options.concurrency, options.profile, options.runc, options.cycle,
        options.tasks, options.rm,
    )  # fmt: skip


if __name__ == "__main__":
    main()
