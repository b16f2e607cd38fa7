"""Copying memory while the container runs: pre-dumps (pre-copy) where the kernel tracks dirty
pages, lazy pages (post-copy) where userfaultfd works; with real runc and CRIU.

On these machines the kernel lacks CONFIG_MEM_SOFT_DIRTY: the pre-copy test then shows the two
refusals the daemon must turn into clear errors, and the container running on. Where the kernel
has it, the same test restores from a chain of pre-dumps. Post-copy runs for real: its only
need this sandbox lacks is a 4 MiB pipe for CRIU (root here has no CAP_SYS_RESOURCE), which the
``lazy_pipes`` fixture grants by raising fs.pipe-max-size for the test and putting it back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from containerd_trio import precopy
from containerd_trio.config import default_criu
from containerd_trio.criu_stats import read_dump_stats
from containerd_trio.precopy import LAZY_PIPE_BYTES
from containerd_trio.runtime import CriuOptions, MemoryCopy, RuncError, parent_path

from .helpers import COUNTER, BundleFactory
from .runc_direct import DirectContainer, make_runc

pytestmark = pytest.mark.deadline(90)
NONE = CriuOptions()


def counted(output: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb"^(\d+)$", output, re.MULTILINE)]


def criu() -> str:
    path = default_criu()
    assert path is not None, "make install provides CRIU"
    return path


# --- the options record -----------------------------------------------------------------------


def test_memory_copy_flags() -> None:
    assert MemoryCopy().checkpoint_flags() == [] and MemoryCopy().restore_flags() == []
    pre = MemoryCopy(pre_dump=True, parent=parent_path("pd1"))
    assert pre.checkpoint_flags() == ["--pre-dump", "--parent-path", "../pd1"]
    lazy = MemoryCopy(lazy_pages=True, page_server="10.0.0.1:2727", status_fd=9)
    assert lazy.checkpoint_flags() == [
        "--lazy-pages", "--page-server", "10.0.0.1:2727", "--status-fd", "9"
    ]  # fmt: skip
    assert lazy.restore_flags() == ["--lazy-pages"]
    with pytest.raises(ValueError, match="cannot be lazy"):
        MemoryCopy(pre_dump=True, lazy_pages=True)


async def test_probe_agrees_with_the_kernel() -> None:
    features = await precopy.probe(criu())
    soft_dirty = _kernel_config("CONFIG_MEM_SOFT_DIRTY")
    if soft_dirty is not None:
        assert features.dirty_tracking is soft_dirty
    assert (features.pre_copy_problem is None) is features.dirty_tracking
    if not features.dirty_tracking:
        assert "CONFIG_MEM_SOFT_DIRTY" in (features.pre_copy_problem or "")
    assert features.userfaultfd  # CONFIG_USERFAULTFD: on in every kernel these tests run on


def _kernel_config(option: str) -> bool | None:
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as config:
            text = config.read()
    except OSError:
        return None
    return f"\n{option}=y" in text


# --- pre-copy ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("plain_parent")
async def test_pre_dump_rounds_or_the_reason_they_cannot_run(
    make_bundle: BundleFactory, tmp_path: Path
) -> None:
    features = await precopy.probe(criu())
    container = DirectContainer(make_runc(tmp_path / "runc"), "predump", tmp_path / "work")
    images = tmp_path / "bundle-images"
    images.mkdir()
    try:
        await container.run(make_bundle(COUNTER))
        await container.wait_for(b"\n3\n")
        if not features.dirty_tracking:
            await _refusals(container, images)
            return
        # Two pre-copy rounds while it counts, then the final dump on top of them.
        await container.checkpoint(images / "pd1", NONE, memory=MemoryCopy(pre_dump=True))
        round_two = MemoryCopy(pre_dump=True, parent=parent_path("pd1"))
        await container.checkpoint(images / "pd2", NONE, memory=round_two)
        final = MemoryCopy(parent=parent_path("pd2"))
        await container.checkpoint(images / "final", NONE, memory=final, work_name="final")
        stats = read_dump_stats(container.work / "final")
        assert stats is not None and stats.pages_skipped_parent > 0
        last = counted(await container.read_to_end())[-1]
        await container.restore(make_bundle(COUNTER), images / "final", NONE)
        after = await container.wait_for(f"\n{last + 3}\n".encode())
        assert counted(after)[0] == last + 1
    finally:
        await container.delete()


async def _refusals(container: DirectContainer, images: Path) -> None:
    """Without dirty tracking: runc refuses a pre-dump, CRIU a dump with a parent; the
    container counts on after both."""
    with pytest.raises(RuncError, match="CRIU is missing features"):
        await container.checkpoint(images / "pd1", NONE, memory=MemoryCopy(pre_dump=True))
    await container.checkpoint(images / "plain", NONE, leave_running=True)
    final = MemoryCopy(parent=parent_path("plain"))
    with pytest.raises(RuncError):
        await container.checkpoint(images / "final", NONE, memory=final, work_name="final")
    log = (container.work / "final" / "dump.log").read_text()
    assert "Tracking memory is not available" in log
    seen = counted(await container.wait_for(b"\n"))[-1]
    await container.wait_for(f"\n{seen + 2}\n".encode())


# --- post-copy --------------------------------------------------------------------------------


@pytest.fixture
def lazy_pipes() -> Iterator[None]:
    """Let CRIU size its page server's pipe: raise fs.pipe-max-size if it must be, and put it
    back afterwards (it only bounds what an unprivileged process may ask for)."""
    path = Path("/proc/sys/fs/pipe-max-size")
    before = precopy.pipe_max_size()
    needed = not precopy.has_capability(24) and before < LAZY_PIPE_BYTES
    if needed:
        path.write_text(str(LAZY_PIPE_BYTES))
    try:
        yield
    finally:
        if needed:
            path.write_text(str(before))


@pytest.mark.usefixtures("plain_parent", "lazy_pipes")
async def test_lazy_pages_move_a_running_container(
    make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Post-copy between two runc roots: the source dumps all but the memory and serves the
    pages; the target's lazy-pages daemon fetches them while the restored container already
    counts on. The source container is gone once the last page has moved."""
    features = await precopy.probe(criu())
    assert features.post_copy_problem is None, features.post_copy_problem
    bundle = make_bundle(COUNTER)
    source = DirectContainer(make_runc(tmp_path / "runc-a"), "lazy-src", tmp_path / "a")
    target = DirectContainer(make_runc(tmp_path / "runc-b"), "lazy-dst", tmp_path / "b")
    images, work = tmp_path / "images", tmp_path / "b" / "lazy"
    images.mkdir()
    work.mkdir(parents=True)
    port = _free_port()
    dumped_r, dumped_w = os.pipe2(os.O_CLOEXEC)
    serving_r, serving_w = os.pipe2(os.O_CLOEXEC)
    try:
        await source.run(bundle)
        await source.wait_for(b"\n3\n")
        async with trio.open_nursery() as nursery:
            lazy = MemoryCopy(lazy_pages=True, page_server=f"127.0.0.1:{port}", status_fd=dumped_w)
            nursery.start_soon(lambda: source.checkpoint(images, NONE, memory=lazy))
            await precopy.wait_status(dumped_r)
            argv = precopy.lazy_pages_daemon(criu(), images, work, ("127.0.0.1", port), serving_w)
            daemon = await trio.lowlevel.open_process(argv, pass_fds=(serving_w,))
            await precopy.wait_status(serving_r)
            await target.restore(
                bundle, images, NONE, work_name="lazy", memory=MemoryCopy(lazy_pages=True)
            )
            # The source's dump returns (in the nursery) once every page is across.
            assert await daemon.wait() == 0
        last = counted(await source.read_to_end())[-1]
        after = await target.wait_for(f"\n{last + 3}\n".encode())
        assert counted(after)[0] == last + 1
    finally:
        for fd in (dumped_r, dumped_w, serving_r, serving_w):
            os.close(fd)
        await target.delete()
        await source.delete()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
