"""A daemon of the bench's own: ``python -m containerd_trio`` on a unix socket in its directory.

Used when no ``--address`` is given, so that the bench also knows the daemon's pid (and with it
the CPU of the runc processes the daemon reaps) and its settings (the raw runc baseline takes
the same). Stopped with SIGTERM at the end: it removes what it still runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import trio

from ..config import DaemonConfig, parse_args
from .errors import BenchError


class OwnDaemon:
    def __init__(
        self,
        workdir: Path,
        runc: str,
        extra: Sequence[str],
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.socket = workdir / "api.sock"
        self.state_dir = workdir / "state"
        self.args = [
            "--listen", f"unix:{self.socket}",
            "--state-dir", str(self.state_dir),
            *(["--runtime", runc] if runc != "runc" else []),
            *extra,
        ]  # fmt: skip
        self.argv = [sys.executable, "-m", "containerd_trio", *self.args]
        #: Laid over the bench's own environment (the daemon passes its environment to the
        #: runtime it runs).
        self.environment = dict(environment or {})
        self.process: trio.Process | None = None
        self._log = bytearray()
        self._ready = trio.Event()

    @property
    def config(self) -> DaemonConfig:
        """Its settings, read from its command line by the daemon's own parser."""
        try:
            return parse_args(self.args)
        except SystemExit:  # argparse said why on stderr
            raise BenchError(f"--daemon-arg: not the daemon's arguments: {self.args}") from None

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self, nursery: trio.Nursery) -> None:
        self.process = await trio.lowlevel.open_process(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.environment} if self.environment else None,
        )
        nursery.start_soon(self._read_log, self.process)
        with trio.move_on_after(60):
            await self._ready.wait()
        if self.process.returncode is not None or b"serving on" not in self._log:
            tail = self.log_tail()
            await self.stop()
            raise BenchError(f"the bench's daemon did not come up ({' '.join(self.argv)}):\n{tail}")

    async def _read_log(self, process: trio.Process) -> None:
        # Read stderr to the end, always: a daemon whose log pipe fills up blocks.
        assert process.stderr is not None
        async for chunk in process.stderr:
            self._log += chunk
            if not self._ready.is_set() and b"serving on" in self._log:
                self._ready.set()
            if len(self._log) > 65536:
                del self._log[:-32768]
        self._ready.set()  # it exited: start() finds out from returncode

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log.decode(errors="replace").splitlines()[-lines:])

    async def stop(self) -> int | None:
        """SIGTERM (the daemon removes what it still runs), then wait; SIGKILL if it hangs."""
        if self.process is None:
            return None
        code = await terminate(self.process, grace=120)
        self.socket.unlink(missing_ok=True)  # hypercorn leaves it behind
        return code


async def terminate(process: trio.Process, *, grace: float) -> int:
    """SIGTERM, up to ``grace`` seconds for the process to finish, then SIGKILL; its exit code.
    Shielded: it runs in clean-ups, which a cancellation must not cut short."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace):
                await process.wait()
        if process.returncode is None:
            process.kill()
        code = await process.wait()
    return code
