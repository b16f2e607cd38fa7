"""``ctr-trio bench --ceiling``: what the daemon alone can do, with a runtime that costs nothing.

The bench's own daemon runs with ``--runtime`` set to a stand-in (``standin.c``, compiled with
gcc into the bench's directory at the start of the run): a small C program that honours the part
of runc's command line a start, a state query and a delete use, and whose "container" is a
forked copy of itself that sleeps until killed (no namespaces, cgroups or rootfs). It is
freestanding, without libc (its own start and raw system calls): a static glibc's start-up
alone, ~0.5 ms of CPU per call on a VM where each CPUID is a VM exit, cost more than its work,
and the figure would have been the stand-in's as much as the daemon's. It is NOT
runc: every line of this mode is tagged ``stand-in runtime (not runc)``, and no test may claim
runc's behaviour with it. What the phase then shows is the daemon's own rate: its HTTP path,
its records, the keeper's spawning and custody, the logger's hold of the pipes.

Two figures: starts per second (N starts, C at a time, as the other phases; or lifecycles with
``--cycle``: the stand-in's process exits at once when the bundle holds a file
:data:`EXIT_MARKER`), and then, with the N containers still running, ``GET /state`` answers per
second (N requests, C at a time), each answer listing all N.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import trio

from .errors import BenchError
from .phase import Phase, Progress, time_jobs
from .report import Report
from .targets import DaemonTarget

TAG_CEILING = "containerd-trio, stand-in runtime (not runc)"
#: A bundle holding this file gives a stand-in process that exits at once (status 0).
EXIT_MARKER = "standin-exit"


async def build_standin(directory: Path) -> Path:
    """Compile the stand-in runtime into ``directory``; its path. Static and without libc:
    neither a loader nor libc's start-up to run, and no static libc to build it: gcc and the
    kernel's headers (for its numbers) are all it needs."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BenchError("--ceiling compiles its stand-in runtime with gcc: install gcc")
    binary = directory / "standin"
    source = resources.files(__package__) / "standin.c"
    with resources.as_file(source) as path:
        # -fno-stack-protector: where gcc protects by default, no libc has __stack_chk_fail.
        built = await trio.run_process(
            [gcc, "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-O2",
             "-o", str(binary), str(path)],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    if built.returncode != 0:
        error = built.stderr.decode(errors="replace").strip()
        raise BenchError(f"cannot compile the stand-in runtime ({path}):\n{error}")
    return binary


#: The stand-in keeps its records in the directory this names, when set, instead of --root.
RECORDS_VARIABLE = "CTR_TRIO_STANDIN_RECORDS"
#: Where the bench makes that directory: a tmpfs on any Linux with glibc's shm_open.
RECORDS_TMPFS = Path("/dev/shm")


@contextlib.contextmanager
def standin_records(report: Report) -> Iterator[dict[str, str]]:
    """A directory of its own on a tmpfs for the stand-in's records (one file per container);
    the environment that tells the stand-in, to lay over the bench's daemon's; none if there
    is no tmpfs at :data:`RECORDS_TMPFS` (the records are then under the daemon's runc root).

    The records' files are the runtime's cost, not the daemon's: making a file on this
    machine's journal-less ext4 (its inode allocation) was most of a stand-in's run, and the
    ceiling's figure was the disk's as much as the daemon's. (runc keeps its state under /run,
    a tmpfs on most hosts; the daemon's own files, its journal and the pid files runc and the
    stand-in write for it, stay in its state dir.) At the end, what is still in it goes in
    ``report.standin_left`` (nothing, unless the daemon left containers behind), and it is
    removed."""
    if not RECORDS_TMPFS.is_dir() or not os.access(RECORDS_TMPFS, os.W_OK):
        yield {}
        return
    records = Path(tempfile.mkdtemp(prefix="ctr-trio-standin-", dir=RECORDS_TMPFS))
    report.standin_records = records
    try:
        yield {RECORDS_VARIABLE: str(records)}
    finally:
        report.standin_left = sorted(entry.name for entry in records.iterdir())
        shutil.rmtree(records, ignore_errors=True)


class CeilingTarget(DaemonTarget):
    """The bench's own daemon, running the stand-in instead of runc."""

    tag = TAG_CEILING
    runtime = "stand-in"
    #: Where the stand-in keeps its records, if not under the daemon's runc root.
    records: Path | None = None

    def how(self, *, cycle: bool = False) -> str:
        where = "" if self.records is None else f", its records on a tmpfs ({self.records})"
        return (
            f"{super().how(cycle=cycle)}, with the stand-in runtime (not runc: a forked process"
            f" that sleeps, no namespaces, cgroups or rootfs{where})"
        )


async def time_state(
    target: DaemonTarget, listed: int, count: int, concurrency: int, progress: Progress
) -> tuple[Phase, int]:
    """``count`` answers of ``GET /state`` (``concurrency`` in flight), after checking that one
    lists the ``listed`` containers; the phase and the size of that answer in bytes."""
    body = await target.api.state()
    containers = json.loads(body)["containers"]
    if len(containers) != listed:
        raise BenchError(f"GET /state lists {len(containers)} containers, not {listed}")
    phase = Phase(target.tag, "answer", count, has_daemon=True, runtime=target.runtime)

    async def answer(index: int) -> None:
        await target.api.state()

    await time_jobs(target, phase, concurrency, answer, progress)
    return phase, len(body)
