#!/usr/bin/env python3
"""Downtime of moving a container that touched 256 MiB, at the runc level (no daemon).

    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/bench_precopy.py [--runs 3]

(``make bench-precopy``.) A static C program (scripts/memtouch.c, built with ``gcc -static``)
fills 256 MiB of heap, then keeps writing one word in each page of 4 MiB and checking the rest.
Its bundle is copied to a second bundle directory first (an archive of the bundle alone, as a
move's first round would, while the container runs); then each mode moves it from a runc root
"A" to a runc root "B", the checkpoint going from bundle A to bundle B as a streamed archive:

- ``plain``: checkpoint (the container frozen, all memory written), archive, restore;
- ``pre-copy N``: N pre-dump rounds while it runs, each archived to B, then the final dump
  with ``--parent-path``: only where CRIU can track dirty memory (else the reason is printed);
- ``post-copy``: a lazy dump (all but the memory), its archive, a lazy restore at once, and
  the pages fetched by ``criu lazy-pages`` from the source's page server meanwhile.

Downtime is from the start of the final dump to ``runc restore`` returning (the container
runs on B); after each move the program must count on from where it stopped, with no page
wrong. ``--grant-pipes`` raises fs.pipe-max-size for post-copy where root lacks
CAP_SYS_RESOURCE (as in these sandboxes), and puts it back.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import attrs  # noqa: E402
import trio  # noqa: E402

from containerd_trio import checkpoints, precopy  # noqa: E402
from containerd_trio.archive import (  # noqa: E402
    BundleContent,
    ExportOptions,
    ImageKind,
    import_archive,
    plan_export,
)
from containerd_trio.busybox import make_busybox_bundle  # noqa: E402
from containerd_trio.config import default_criu  # noqa: E402
from containerd_trio.criu_stats import read_dump_stats  # noqa: E402
from containerd_trio.restore_net import prepare_restore  # noqa: E402
from containerd_trio.runtime import CriuOptions, MemoryCopy, parent_path  # noqa: E402
from tests.runc_direct import DirectContainer, make_runc  # noqa: E402

NONE = CriuOptions()
MIB = 1 << 20


@attrs.frozen
class Move:
    mode: str
    downtime: float
    frozen: float | None  # CRIU's own figure for the final dump
    dump_bytes: int | None  # memory written by the final dump
    archive_bytes: int  # what crossed as archives during the downtime
    earlier_bytes: int  # what crossed before it (pre-copy rounds)
    settled: float | None  # post-copy: when the last page had moved


def build_memtouch(directory: Path) -> Path:
    binary = directory / "memtouch"
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(binary), str(REPO / "scripts" / "memtouch.c")],
        check=True,
    )
    return binary


async def stream(
    source: Path, name: str | None, target: Path, options: ExportOptions | None = None
) -> int:
    """Export from one bundle, import into the other, chunk by chunk; the bytes that crossed."""
    result = await import_archive(plan_export(source, name, options).chunks(), target)
    return result.archive_bytes


def numbers(output: bytes) -> list[int]:
    if b"corrupt" in output:
        raise SystemExit(f"memory came back wrong: {output[-200:]!r}")
    return [int(n) for n in re.findall(rb"^(\d+)$", output, re.MULTILINE)]


class Bench:
    def __init__(self, work: Path, memtouch: Path, mib: int, hot_mib: int) -> None:
        self.work = work
        self.criu = default_criu() or "criu"
        self.source_bundle = make_busybox_bundle(
            work / "a" / "bundle", ["/bin/memtouch", str(mib), str(hot_mib)]
        )
        shutil.copy(memtouch, self.source_bundle / "rootfs" / "bin" / "memtouch")
        self.target_bundle = work / "b" / "bundle"
        self.runs = 0

    async def copy_bundle(self) -> None:
        full = ExportOptions(bundle=BundleContent.FULL)
        await stream(self.source_bundle, None, self.target_bundle, full)

    async def _start(self) -> tuple[DirectContainer, DirectContainer, str]:
        self.runs += 1
        run = f"r{self.runs}"
        source = DirectContainer(
            make_runc(self.work / "root-a"), "bench-src", self.work / run / "a"
        )
        target = DirectContainer(
            make_runc(self.work / "root-b"), "bench-dst", self.work / run / "b"
        )
        await source.run(self.source_bundle)
        await source.wait_for(b"\n5\n")
        return source, target, run

    async def _finish(self, source: DirectContainer, target: DirectContainer) -> None:
        last = numbers(await source.read_to_end())[-1]
        after = numbers(await target.wait_for(f"\n{last + 3}\n".encode()))
        if after[0] != last + 1:
            raise SystemExit(f"the count did not go on: {last} then {after[:3]}")
        await target.delete()
        await source.delete()

    async def _restore(
        self, target: DirectContainer, name: str, memory: MemoryCopy | None = None
    ) -> None:
        with prepare_restore(self.target_bundle, target.work / "plan") as plan:
            await target.restore(
                plan.bundle, checkpoints.image_path(self.target_bundle, name), NONE,
                work_name=f"restore-{name}", memory=memory,
            )  # fmt: skip

    async def plain(self) -> Move:
        source, target, run = await self._start()
        name = f"{run}-final"
        started = time.perf_counter()
        await source.checkpoint(checkpoints.reserve(self.source_bundle, name), NONE, work_name=name)
        checkpoints.commit(self.source_bundle, checkpoints.new_info(name, NONE))
        crossed = await stream(self.source_bundle, name, self.target_bundle)
        await self._restore(target, name)
        downtime = time.perf_counter() - started
        stats = read_dump_stats(source.work / name)
        await self._finish(source, target)
        frozen = None if stats is None else stats.frozen_us / 1e6
        written = None if stats is None else stats.bytes_written
        return Move("plain", downtime, frozen, written, crossed, 0, None)

    async def pre_copy(self, rounds: int) -> Move:
        source, target, run = await self._start()
        earlier = 0
        parent: str | None = None
        for number in range(1, rounds + 1):
            name = f"{run}-pd{number}"
            memory = MemoryCopy(pre_dump=True, parent=parent and parent_path(parent))
            image = checkpoints.reserve(self.source_bundle, name)
            await source.checkpoint(image, NONE, memory=memory, work_name=name)
            pre_dump = ExportOptions(kind=ImageKind.PRE_DUMP)
            earlier += await stream(self.source_bundle, name, self.target_bundle, pre_dump)
            parent = name
        name = f"{run}-final"
        started = time.perf_counter()
        image = checkpoints.reserve(self.source_bundle, name)
        memory = MemoryCopy(parent=parent and parent_path(parent))
        await source.checkpoint(image, NONE, memory=memory, work_name=name)
        checkpoints.commit(self.source_bundle, checkpoints.new_info(name, NONE))
        crossed = await stream(self.source_bundle, name, self.target_bundle)
        await self._restore(target, name)
        downtime = time.perf_counter() - started
        stats = read_dump_stats(source.work / name)
        await self._finish(source, target)
        frozen = None if stats is None else stats.frozen_us / 1e6
        written = None if stats is None else stats.bytes_written
        return Move(f"pre-copy {rounds}", downtime, frozen, written, crossed, earlier, None)

    async def post_copy(self) -> Move:
        source, target, run = await self._start()
        name = f"{run}-lazy"
        port = free_port()
        dumped_r, dumped_w = os.pipe2(os.O_CLOEXEC)
        serving_r, serving_w = os.pipe2(os.O_CLOEXEC)
        work = target.work / f"restore-{name}"
        work.mkdir(parents=True)
        settled_at = 0.0
        try:
            async with trio.open_nursery() as nursery:
                started = time.perf_counter()
                lazy = MemoryCopy(lazy_pages=True, page_server=f"127.0.0.1:{port}",
                                  status_fd=dumped_w)  # fmt: skip
                image = checkpoints.reserve(self.source_bundle, name)

                async def dump() -> None:
                    nonlocal settled_at
                    await source.checkpoint(image, NONE, memory=lazy, work_name=name)
                    settled_at = time.perf_counter()

                nursery.start_soon(dump)
                await precopy.wait_status(dumped_r)
                checkpoints.commit(self.source_bundle, checkpoints.new_info(name, NONE))
                crossed = await stream(self.source_bundle, name, self.target_bundle)
                images = checkpoints.image_path(self.target_bundle, name)
                argv = precopy.lazy_pages_daemon(
                    self.criu, images, work, ("127.0.0.1", port), serving_w
                )
                daemon = await trio.lowlevel.open_process(argv, pass_fds=(serving_w,))
                await precopy.wait_status(serving_r)
                await self._restore(target, name, MemoryCopy(lazy_pages=True))
                downtime = time.perf_counter() - started
                if await daemon.wait() != 0:
                    raise SystemExit(f"criu lazy-pages failed: see {work}/lazy-pages.log")
        finally:
            for fd in (dumped_r, dumped_w, serving_r, serving_w):
                os.close(fd)
        await self._finish(source, target)
        return Move("post-copy", downtime, None, None, crossed, 0, settled_at - started)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def show(moves: list[Move]) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} s"

    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value / MIB:.1f} MiB"

    print(f"{'mode':<12} {'runs':>4} {'downtime':>10} {'frozen':>10} {'dump':>11}"
          f" {'archive':>11} {'before':>11} {'settled':>10}")  # fmt: skip
    for mode in dict.fromkeys(move.mode for move in moves):
        these = [move for move in moves if move.mode == mode]

        def pick(field: Callable[[Move], float | None], these: list[Move] = these) -> float | None:
            values = [v for v in map(field, these) if v is not None]
            return median(values) if values else None

        print(
            f"{mode:<12} {len(these):>4} {seconds(pick(lambda m: m.downtime)):>10}"
            f" {seconds(pick(lambda m: m.frozen)):>10} {mib(pick(lambda m: m.dump_bytes)):>11}"
            f" {mib(pick(lambda m: m.archive_bytes)):>11}"
            f" {mib(pick(lambda m: m.earlier_bytes)):>11}"
            f" {seconds(pick(lambda m: m.settled)):>10}"
        )


async def main(arguments: argparse.Namespace) -> None:
    features = await precopy.probe(default_criu() or "criu")
    with tempfile.TemporaryDirectory(prefix="bench-precopy-") as temporary:
        work = Path(temporary)
        bench = Bench(work, build_memtouch(work), arguments.mib, arguments.hot_mib)
        await bench.copy_bundle()
        moves: list[Move] = []
        for _ in range(arguments.runs):
            moves.append(await bench.plain())
        for rounds in (1, 2):
            if features.pre_copy_problem is not None:
                print(f"pre-copy {rounds}: not possible here: {features.pre_copy_problem}")
                continue
            for _ in range(arguments.runs):
                moves.append(await bench.pre_copy(rounds))
        if features.post_copy_problem is None:
            for _ in range(arguments.runs):
                moves.append(await bench.post_copy())
        else:
            print(f"post-copy: not possible here: {features.post_copy_problem}")
        show(moves)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="moves per mode (median shown)")
    parser.add_argument("--mib", type=int, default=256, help="memory the program touches")
    parser.add_argument("--hot-mib", type=int, default=4, help="memory it keeps writing")
    parser.add_argument(
        "--grant-pipes",
        action="store_true",
        help="raise fs.pipe-max-size to 4 MiB for post-copy if needed, and put it back",
    )
    return parser.parse_args()


if __name__ == "__main__":
    options = parse()
    pipe_max = Path("/proc/sys/fs/pipe-max-size")
    before = precopy.pipe_max_size()
    grant = options.grant_pipes and not precopy.has_capability(24)
    grant = grant and before < precopy.LAZY_PIPE_BYTES
    if grant:
        pipe_max.write_text(str(precopy.LAZY_PIPE_BYTES))
    try:
        trio.run(main, options)
    finally:
        if grant:
            pipe_max.write_text(str(before))
