"""An async wrapper of the runc command line: one method per runc command.

Modeled on containerd's go-runc: options are typed records, pids come from ``--pid-file``, and
runc's errors are read from its own JSON log (``--log ... --log-format json``) instead of being
guessed from stderr. The log goes to a memfd per call, so concurrent calls never share a file
and nothing is left on disk.

Every call runs under the configured deadline. A runc process that passes it is killed at once
(SIGKILL: runc has nothing to flush) and the caller gets :class:`RuntimeTimeout`; undoing what
the call half-made is the caller's business, because only the caller knows what it was.
A capacity limiter bounds how many runc processes run at once: past a few per core they only
thrash each other.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from .bundle import without_file_contents
from .errors import RuntimeFailure, RuntimeTimeout
from .reaper import read_fd, run_child

#: Called after every runc call with the command name, its duration and whether it succeeded.
CallObserver = Callable[[str, float, bool], None]


@attrs.frozen
class Stdio:
    """The file descriptors runc hands to the container's process as 0, 1 and 2."""

    stdin: int
    stdout: int
    stderr: int


@attrs.frozen
class CriuOptions:
    """What ``runc checkpoint`` and ``runc restore`` share (CRIU must see the same on both)."""

    tcp_established: bool = False
    ext_unix_sk: bool = False
    shell_job: bool = False

    def flags(self) -> list[str]:
        flags = []
        if self.tcp_established:
            flags.append("--tcp-established")
        if self.ext_unix_sk:
            flags.append("--ext-unix-sk")
        if self.shell_job:
            flags.append("--shell-job")
        return flags


class RuncError(RuntimeFailure):
    """A runc command exited non-zero. Keeps runc's own message apart for callers that match it."""

    def __init__(self, command: str, runc_message: str) -> None:
        # runc's main often words its error "runc run failed: ..." already.
        runc_message = runc_message.removeprefix(f"runc {command} failed: ")
        runc_message = without_file_contents(command, runc_message)
        super().__init__(f"runc {command} failed: {runc_message}")
        self.command = command
        self.runc_message = runc_message

    @property
    def container_missing(self) -> bool:
        return "not exist" in self.runc_message  # "container does not exist"


def _runc_log_message(log: bytes, stderr: bytes) -> str:
    """The error lines of runc's JSON log, or whatever it said on stderr if the log is empty."""
    errors: list[str] = []
    others: list[str] = []
    for raw in log.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            others.append(raw.decode(errors="replace"))
            continue
        if not isinstance(entry, dict):
            continue
        message = str(entry.get("msg", "")).strip()
        if not message:
            continue
        (errors if entry.get("level") in ("error", "fatal", "panic") else others).append(message)
    chosen = errors or others[-3:]
    if not chosen:
        text = stderr.decode(errors="replace").strip()
        return text or "no message"
    # runc often logs the same failure twice (once where it happens, once from main): keep one.
    unique = list(dict.fromkeys(chosen))
    return "; ".join(unique)


class Runc:
    def __init__(
        self,
        *,
        binary: str,
        root: Path,
        criu: str | None,
        timeout: float,
        concurrency: int,
        observer: CallObserver | None = None,
    ) -> None:
        self.binary = binary
        self.root = root
        self.criu = criu
        self.timeout = timeout
        self._limiter = trio.CapacityLimiter(concurrency)
        self._observer = observer

    # --- container lifecycle --------------------------------------------------------------------

    async def run(self, container_id: str, bundle: Path, pid_file: Path, stdio: Stdio) -> int:
        """``runc run -d``: create and start; returns the init's pid (re-parented to us).

        The pid file is removed once read; if the call fails it is left for the caller, who
        must kill whatever it names.
        """
        await self._call(
            "run",
            ["--detach", "--bundle", str(bundle), "--pid-file", str(pid_file), container_id],
            stdio=stdio,
        )
        return take_pid_file(pid_file)

    async def exec(
        self, container_id: str, process: dict[str, Any], pid_file: Path, stdio: Stdio
    ) -> int:
        """``runc exec -d --process``: returns the new process's pid.

        The OCI process document goes to runc through a memfd (``/proc/self/fd/N``): no file
        to create and remove for it.
        """
        document = os.memfd_create("runc-exec-process", os.MFD_CLOEXEC)
        try:
            os.write(document, json.dumps(process).encode())
            await self._call(
                "exec",
                ["--detach", "--process", f"/proc/self/fd/{document}", "--pid-file", str(pid_file),
                 container_id],
                stdio=stdio,
                pass_fds=(document,),
            )  # fmt: skip
        finally:
            os.close(document)
        return take_pid_file(pid_file)

    async def restore(
        self,
        container_id: str,
        bundle: Path,
        image_path: Path,
        work_path: Path,
        pid_file: Path,
        stdio: Stdio,
        options: CriuOptions,
    ) -> int:
        """``runc restore -d`` from a checkpoint image; returns the restored init's pid."""
        await self._call(
            "restore",
            [
                "--detach",
                "--bundle", str(bundle),
                "--image-path", str(image_path),
                "--work-path", str(work_path),
                "--pid-file", str(pid_file),
                *options.flags(),
                container_id,
            ],
            stdio=stdio,
        )  # fmt: skip
        return take_pid_file(pid_file)

    async def checkpoint(
        self,
        container_id: str,
        image_path: Path,
        work_path: Path,
        options: CriuOptions,
        *,
        leave_running: bool,
    ) -> None:
        args = ["--image-path", str(image_path), "--work-path", str(work_path), *options.flags()]
        if leave_running:
            args.append("--leave-running")
        await self._call("checkpoint", [*args, container_id])

    async def pause(self, container_id: str) -> None:
        await self._call("pause", [container_id])

    async def resume(self, container_id: str) -> None:
        await self._call("resume", [container_id])

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        args = ["--all"] if all_processes else []
        await self._call("kill", [*args, container_id, str(signal)])

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """``runc delete``; a container runc does not know is already deleted."""
        args = ["--force"] if force else []
        try:
            await self._call("delete", [*args, container_id])
        except RuncError as exc:
            if not exc.container_missing:
                raise

    # --- queries --------------------------------------------------------------------------------

    async def state(self, container_id: str) -> dict[str, Any] | None:
        """``runc state``, or None when runc does not know the container."""
        try:
            out = await self._call("state", [container_id], capture=True)
        except RuncError as exc:
            if exc.container_missing:
                return None
            raise
        result: dict[str, Any] = json.loads(out)
        return result

    async def list(self) -> list[dict[str, Any]]:
        out = await self._call("list", ["--format", "json"], capture=True)
        result = json.loads(out or b"null")
        return list(result or [])

    async def stats(self, container_id: str) -> dict[str, Any]:
        """One sample of cgroup figures from ``runc events --stats``."""
        out = await self._call("events", ["--stats", container_id], capture=True)
        event: dict[str, Any] = json.loads(out)
        data: dict[str, Any] = event.get("data", {})
        return data

    def cgroup_paths(self, container_id: str) -> dict[str, str]:
        """The container's cgroup paths by controller, from runc's own state file.

        No runc command reports them; ``<root>/<id>/state.json`` has kept them under
        ``cgroup_paths`` since runc 1.0. Empty if it cannot be read.
        """
        try:
            state = json.loads((self.root / container_id / "state.json").read_bytes())
            paths = state.get("cgroup_paths") or {}
            return {str(k): str(v) for k, v in paths.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    # --- the one place runc is spawned ----------------------------------------------------------

    async def _call(
        self,
        command: str,
        args: Sequence[str],
        *,
        stdio: Stdio | None = None,
        capture: bool = False,
        pass_fds: tuple[int, ...] = (),
    ) -> bytes:
        log_fd = os.memfd_create(f"runc-{command}-log", os.MFD_CLOEXEC)
        try:
            argv = [self.binary, "--root", str(self.root)]
            argv += ["--log", f"/proc/self/fd/{log_fd}", "--log-format", "json"]
            if self.criu and command in ("checkpoint", "restore"):
                argv += ["--criu", self.criu]
            argv += [command, *args]
            if stdio is None:
                streams: dict[str, Any] = {"capture_stdout": capture, "capture_stderr": True}
            else:
                streams = {"stdin": stdio.stdin, "stdout": stdio.stdout, "stderr": stdio.stderr}
            async with self._limiter:
                started = time.perf_counter()
                ok = False
                try:
                    with trio.fail_after(self.timeout):
                        result = await run_child(argv, pass_fds=(log_fd, *pass_fds), **streams)
                    ok = result.returncode == 0
                except trio.TooSlowError:
                    raise RuntimeTimeout(
                        f"runc {command} did not finish within {self.timeout:g} seconds and was"
                        " killed"
                    ) from None
                except FileNotFoundError:
                    raise RuntimeFailure(
                        f"the runtime binary {self.binary!r} was not found"
                    ) from None
                except PermissionError:
                    raise RuntimeFailure(
                        f"the runtime binary {self.binary!r} cannot be executed"
                    ) from None
                finally:
                    if self._observer is not None:
                        self._observer(command, time.perf_counter() - started, ok)
            if not ok:
                log = read_fd(log_fd)
                raise RuncError(command, _runc_log_message(log, result.stderr or b""))
            return bytes(result.stdout or b"")
        finally:
            os.close(log_fd)


def take_pid_file(path: Path) -> int:
    """Read the pid runc wrote, and remove the file."""
    try:
        with open(path, "rb") as pid_file:
            pid = int(pid_file.read().strip())
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"runc left no usable pid file at {path}: {exc}") from None
    os.unlink(path)
    return pid
