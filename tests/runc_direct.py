"""Containers driven by runc and CRIU directly, without a daemon, for the parts of a migration
that come before the daemon does (restore plans, archives, pre-copy).

The container's stdout and stderr are one pipe the test reads; each run or restore gets a new
pipe (runc hands the new write end to CRIU as the old pipe's, matched by inode). The project's
own :class:`Runc` wrapper spawns runc: the same code the daemon uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio

from containerd_trio.config import default_criu
from containerd_trio.runtime import CriuOptions, MemoryCopy, Runc, Stdio
from containerd_trio.spawn import dev_null


def make_runc(root: Path) -> Runc:
    return Runc(binary="runc", root=root, criu=default_criu(), timeout=60.0, concurrency=2)


class DirectContainer:
    """One container id under a runc root, and what it printed since its last (re)start."""

    def __init__(self, runtime: Runc, container_id: str, work: Path) -> None:
        self.runtime = runtime
        self.id = container_id
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.output = bytearray()
        self._reader: trio.lowlevel.FdStream | None = None

    def _new_stdio(self) -> Stdio:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        if self._reader is not None:
            self._reader.close()
        self._reader = trio.lowlevel.FdStream(read_end)
        self.output.clear()
        self._write_end = write_end
        return Stdio(stdin=dev_null(), stdout=write_end, stderr=write_end)

    def _started(self) -> None:
        os.close(self._write_end)  # the container holds it now: EOF when it dies

    async def run(self, bundle: Path) -> int:
        stdio = self._new_stdio()
        try:
            return (await self.runtime.run(self.id, bundle, self.work / "init.pid", stdio)).pid
        finally:
            self._started()

    async def restore(
        self,
        bundle: Path,
        image: Path,
        options: CriuOptions,
        *,
        work_name: str = "restore",
        memory: MemoryCopy | None = None,
    ) -> int:
        stdio = self._new_stdio()
        work, pid_file = self.work / work_name, self.work / "init.pid"
        try:
            started = await self.runtime.restore(
                self.id, bundle, image, work, pid_file, stdio, options, memory
            )
            return started.pid
        finally:
            self._started()

    async def checkpoint(
        self,
        image: Path,
        options: CriuOptions,
        *,
        leave_running: bool = False,
        memory: MemoryCopy | None = None,
        work_name: str = "dump",
    ) -> None:
        await self.runtime.checkpoint(
            self.id, image, self.work / work_name, options, leave_running=leave_running,
            memory=memory,
        )  # fmt: skip

    async def exec(self, args: list[str]) -> int:
        process: dict[str, Any] = {"args": args, "cwd": "/", "env": ["PATH=/bin"], "user": {
            "uid": 0, "gid": 0}}  # fmt: skip
        null = dev_null()
        started = await self.runtime.exec(
            self.id, process, self.work / "exec.pid", Stdio(null, null, null)
        )
        return started.pid

    async def wait_for(self, text: bytes) -> bytes:
        """Read the output until it holds ``text``; everything read so far."""
        assert self._reader is not None
        while text not in self.output:
            chunk = await self._reader.receive_some(65536)
            if not chunk:
                raise AssertionError(
                    f"{self.id}: output ended without {text!r}: {bytes(self.output)!r}"
                )
            self.output += chunk
        return bytes(self.output)

    async def read_to_end(self) -> bytes:
        """Everything printed until the container died (its pipe's end)."""
        assert self._reader is not None
        while chunk := await self._reader.receive_some(65536):
            self.output += chunk
        return bytes(self.output)

    async def delete(self) -> None:
        await self.runtime.delete(self.id, force=True)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
