"""Copying a container's memory while it runs: pre-copy (pre-dumps) and post-copy (lazy pages).

A plain checkpoint freezes the container for as long as CRIU takes to write all its memory.
Two ways to shorten the freeze, both through runc:

- **Pre-copy**: ``runc checkpoint --pre-dump --image-path pd1`` copies the memory while the
  container runs on; a further round ``--parent-path ../pd1`` copies only what changed since;
  the final dump (with ``--parent-path``) freezes for the last changes only. CRIU knows what
  changed from the kernel's soft-dirty bits, so this needs a kernel built with
  ``CONFIG_MEM_SOFT_DIRTY`` (``criu check --feature mem_dirty_track``). Without it, runc
  refuses ``--pre-dump`` ("CRIU is missing features") and CRIU refuses ``--parent-path``
  ("Tracking memory is not available").
- **Post-copy**: ``runc checkpoint --lazy-pages --page-server ADDR:PORT --status-fd FD`` dumps
  everything but the memory and then serves the pages; on the target, ``criu lazy-pages``
  fetches them for ``runc restore --lazy-pages``, which starts the container at once and fills
  its memory on demand (userfaultfd) and in the background. The source container stays frozen
  until the last page has gone; if the target fails before, it runs on. This needs
  userfaultfd (``criu check --feature uffd-noncoop``), and CRIU's page server sizes a pipe to
  4 MiB (``F_SETPIPE_SZ``), which takes ``CAP_SYS_RESOURCE`` or ``fs.pipe-max-size`` of at
  least that; without either, the serving fails ("page-pipe: splice: Bad file descriptor").

:class:`~containerd_trio.runtime.MemoryCopy` is the options record that
:meth:`~containerd_trio.runtime.Runc.checkpoint` and ``restore`` take (beside
:class:`~containerd_trio.runtime.CriuOptions`), :func:`probe` says what this machine can do and
why not, :func:`lazy_pages_daemon` is the target's side of post-copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import trio

from . import procfs
from .children import run_child

#: The pipe CRIU's page server asks for to serve lazy pages (PIPE_MAX_SIZE, a power of two).
LAZY_PIPE_BYTES = 4 << 20
_CAP_SYS_RESOURCE = 24


@attrs.frozen
class MemoryFeatures:
    """What this machine's kernel and CRIU allow; each ``*_problem`` is None or why not."""

    dirty_tracking: bool
    userfaultfd: bool
    can_size_pipes: bool

    @property
    def pre_copy_problem(self) -> str | None:
        if self.dirty_tracking:
            return None
        return (
            "CRIU cannot track memory changes here (criu check --feature mem_dirty_track fails:"
            " the kernel lacks CONFIG_MEM_SOFT_DIRTY), so runc refuses --pre-dump and"
            " --parent-path"
        )

    @property
    def post_copy_problem(self) -> str | None:
        if not self.userfaultfd:
            return "CRIU cannot restore lazily here (criu check --feature uffd-noncoop fails)"
        if not self.can_size_pipes:
            return (
                "CRIU's page server needs a 4 MiB pipe: CAP_SYS_RESOURCE (root here lacks it) or"
                f" sysctl fs.pipe-max-size >= {LAZY_PIPE_BYTES} (it is {pipe_max_size()})"
            )
        return None


def pipe_max_size() -> int:
    try:
        return int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        return 0


def has_capability(number: int) -> bool:
    """Whether this process has the capability in its effective set."""
    effective = procfs.status_field("self", "CapEff")
    try:
        return effective is not None and (int(effective, 16) >> number & 1) == 1
    except ValueError:
        return False


async def _criu_has(criu: str, feature: str) -> bool:
    result = await run_child([criu, "check", "--feature", feature], capture_stderr=True)
    return result.returncode == 0


async def probe(criu: str) -> MemoryFeatures:
    """Ask CRIU (``criu check --feature``) and the kernel what memory copying can work here."""
    return MemoryFeatures(
        dirty_tracking=await _criu_has(criu, "mem_dirty_track"),
        userfaultfd=await _criu_has(criu, "uffd-noncoop"),
        can_size_pipes=has_capability(_CAP_SYS_RESOURCE) or pipe_max_size() >= LAZY_PIPE_BYTES,
    )


def lazy_pages_daemon(
    criu: str, image_path: Path, work_path: Path, page_server: tuple[str, int], status_fd: int
) -> list[str]:
    """The target's ``criu lazy-pages`` command: it fetches the pages from the source's page
    server for the ``runc restore --lazy-pages`` whose ``--work-path`` is ``work_path``
    (they meet on ``lazy-pages.socket`` there), and writes a byte to ``status_fd`` when it
    listens. It exits once every page has been copied."""
    address, port = page_server
    return [
        criu, "lazy-pages", "--page-server", "--address", address, "--port", str(port),
        "--images-dir", str(image_path), "--work-dir", str(work_path),
        "--status-fd", str(status_fd), "--log-file", "lazy-pages.log", "-v4",
    ]  # fmt: skip


async def wait_status(read_end: int) -> None:
    """Wait for CRIU's readiness byte on a status pipe; RuntimeError if it closes without."""
    stream = trio.lowlevel.FdStream(os.dup(read_end))
    try:
        if not await stream.receive_some(1):
            raise RuntimeError("CRIU closed its status pipe without getting ready")
    finally:
        await stream.aclose()
