"""An async wrapper of the runc command line: one method per runc command.

Modeled on containerd's go-runc: options are typed records, pids come from ``--pid-file``, and
runc's errors are read from its own JSON log (``--log ... --log-format json``) instead of being
guessed from stderr. The log goes to a memfd per call, so concurrent calls never share a file
and nothing is left on disk.

Every call runs under the configured deadline, except checkpoint and restore, whose time grows
with the container's memory: their callers give each its own. A runc process that passes its
deadline is killed at once (SIGKILL: runc has nothing to flush) and the caller gets
:class:`RuntimeTimeout`; undoing what the call half-made is the caller's business, because only
the caller knows what it was.
A capacity limiter bounds how many runc processes run at once: past a few per core they only
thrash each other.

The commands that create a container process (``run``, ``exec``, ``restore``) take the process's
stdio as either plain fds (:class:`Stdio`: runc is spawned here, as the bench does) or a
:class:`~containerd_trio.keeperlink.CustodyRequest` (the daemon): then the keeper spawns runc,
makes the stdio and keeps it, and the process becomes the keeper's (see
:mod:`containerd_trio.keeper`). runc's own fds are placed by number either way: its JSON log at
fd 3, an exec's process document at fd 4, and the time namespace it joins at fd 5.

An exec into a container whose init is in a time namespace of its own (CRIU restored it: its
clocks go on from the dump) is spawned as ``nsenter --time=/proc/self/fd/5 -- runc exec ...``:
runc 1.1 joins the container's namespaces but knows nothing of time ones (later runc joins
this one itself, opencontainers/runc#4696), so without it the process would see the host's
clocks, and what it left running would make a tree CRIU cannot restore. nsenter joins (setns)
and then execs runc in its own place (no fork for a time namespace), so the spawned pid, the
pid file, the console socket and the stdio are runc's as ever; runc and what it forks inherit
the namespace. One catch: runc tells its init from a process that took its pid by the start
time in ``/proc/PID/stat``, which the kernel shows shifted by the reader's boot-time offset, so
inside the namespace runc would see another start time than the one it recorded and refuse
("cannot exec in a stopped container"). That runc gets a root of its own for the one call: a
copy of the container's ``state.json`` with the init's start time as seen in there (read once
per restored init by ``nsenter ... cat /proc/PID/stat``), removed after it. So such an exec
costs one more exec (nsenter) and a small file written and removed; any other exec is as it
was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from . import mounts, procfs
from .bundle import without_file_contents
from .children import read_fd, run_child
from .errors import InvalidRequest, RuntimeFailure, RuntimeTimeout, quoted
from .keeperlink import CustodyRequest, KeeperLink, SpawnResult
from .runc_destroy import destroy_stopped

#: Called after every runc call with the command name, its duration and whether it succeeded.
CallObserver = Callable[[str, float, bool], None]


def release_criu_root(state_dir: Path) -> None:
    """Detach the rootfs that a killed ``runc restore`` left mounted in its state dir.

    runc restore bind-mounts the bundle's rootfs (recursively) at ``<state dir>/criu-root``
    for CRIU and unmounts it as it returns; killed in between (a deadline, the daemon killed
    with its runc) it leaves the mount. Whatever then removes the state dir (``runc delete``,
    the next server's sweep of half-made dirs) walks into the mount and deletes every file of
    the bundle's rootfs, then fails on the mount itself, so the dir stays and every later start
    of the id fails ("container with given ID already exists"). Raises :class:`OSError` if a
    mount there cannot be detached."""
    mounts.detach(state_dir / "criu-root")


@attrs.frozen
class Stdio:
    """The file descriptors runc hands to the container's process as 0, 1 and 2."""

    stdin: int
    stdout: int
    stderr: int


#: Where a runc gets its JSON log, an exec its process document and the time namespace nsenter
#: has it join.
_LOG_FD = 3
_DOCUMENT_FD = 4
_TIME_NAMESPACE_FD = 5
#: How many restored inits' start times, as read in their time namespaces, are kept.
_SEEN_STARTS_KEPT = 1024


@attrs.frozen
class Started:
    """A container process that a runc command started."""

    pid: int
    #: Its start time (see :func:`containerd_trio.procfs.start_time`); None if it is gone.
    start_time: int | None
    #: A terminal's master, when the process has a terminal (the caller owns it).
    master: int | None = None


ProcessIO = Stdio | CustodyRequest


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


def parent_path(parent: str) -> str:
    """``--parent-path`` for a parent image directory beside the new one (runc wants it
    relative to ``--image-path``)."""
    return f"../{parent}"


@attrs.frozen
class MemoryCopy:
    """How ``runc checkpoint`` (and ``runc restore``) copy memory, when not all at once in the
    final freeze: pre-copy rounds, or post-copy (lazy pages). See :mod:`containerd_trio.precopy`
    for what each needs of the kernel, and how to ask whether this machine has it."""

    #: ``--pre-dump``: memory only, the container runs on (a pre-copy round).
    pre_dump: bool = False
    #: ``--parent-path``: the previous round's images, relative to this one's (see
    #: :func:`parent_path`); only the pages changed since are written.
    parent: str | None = None
    #: ``--lazy-pages``: leave the memory for a ``criu lazy-pages`` daemon to fetch.
    lazy_pages: bool = False
    #: ``--page-server ADDRESS:PORT``: where the source serves the lazy pages.
    page_server: str | None = None
    #: ``--status-fd``: CRIU writes one byte there once it serves pages (runc gets it as the
    #: same number).
    status_fd: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.pre_dump and self.lazy_pages:
            raise ValueError("a pre-dump cannot be lazy")

    def checkpoint_flags(self) -> list[str]:
        flags = []
        if self.pre_dump:
            flags.append("--pre-dump")
        if self.parent is not None:
            flags += ["--parent-path", self.parent]
        if self.lazy_pages:
            flags.append("--lazy-pages")
        if self.page_server is not None:
            flags += ["--page-server", self.page_server]
        if self.status_fd is not None:
            flags += ["--status-fd", str(self.status_fd)]
        return flags

    def restore_flags(self) -> list[str]:
        return ["--lazy-pages"] if self.lazy_pages else []


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

    def refused_process(
        self,
        container_id: str,
        *,
        program_named: str = "",
        cwd_named: str = "",
        made_cwd: str | None = None,
    ) -> InvalidRequest | None:
        """The client's fault inside runc's failure, if it is one: the process's program
        cannot be run, or its working directory cannot be entered, in the container. runc's
        init says so once everything else is set up; Docker answers these 400 too.
        ``program_named``, ``cwd_named``: where the client named each, said after the reason;
        ``made_cwd``: the cwd of a start's init (see :meth:`_refused_cwd`)."""
        return self._refused_program(container_id, program_named) or self._refused_cwd(
            container_id, cwd_named, made_cwd
        )

    def _refused_program(self, container_id: str, where: str) -> InvalidRequest | None:
        """The process's program is not there, or may not be executed."""
        found = _REFUSED_PROGRAM.search(self.runc_message)
        if found is None:
            return None
        program = _go_quoted(found["program"])
        return InvalidRequest(
            f"cannot run {quoted(program)} in container {container_id!r}: {found['reason']}"
            + (f" ({where})" if where else "")
        )

    def _refused_cwd(
        self, container_id: str, where: str, made: str | None
    ) -> InvalidRequest | None:
        """The process's working directory is not there, or not a directory (runc's init
        says so as it chdirs). ``made``: the cwd of a start's init, which runc makes first (so
        one that is not there is made): the client's fault too if that fails."""
        found = _REFUSED_CWD.search(self.runc_message)
        if found is not None:
            cwd, reason = _go_quoted(found["cwd"]), found["reason"]
        elif made is not None and (failed := _UNMADE_CWD.search(self.runc_message)):
            # MkdirAll names the step it failed at: the cwd, or a directory above it.
            if not (made == failed["path"] or made.startswith(failed["path"] + "/")):
                return None
            cwd, reason = made, failed["reason"]
        else:
            return None
        return InvalidRequest(
            f"cannot use cwd {quoted(cwd)} in container {container_id!r}: {reason}"
            + (f" ({where})" if where else "")
        )


def _go_quoted(text: str) -> str:
    """What Go's %q quoted, read back (JSON's escapes: what a path holds in practice)."""
    try:
        return str(json.loads(f'"{text}"'))
    except ValueError:
        return text


#: Why a path in the container cannot be followed, as the kernel's errors word it: the
#: client's path, for a program and a working directory alike (a file on its way, a loop of
#: symbolic links, a name past NAME_MAX were 500s in runc's words).
_PATH_REFUSED = (
    r"no such file or directory|not a directory|permission denied"
    r"|too many levels of symbolic links|file name too long"
)

#: How runc's init words a program it cannot execute (runc 1.1: ``exec: "sh": executable
#: file not found in $PATH``, ``exec: "/x": stat /x: no such file or directory``; a directory
#: or a file without x is ``permission denied``; ``stat /etc/passwd/x: not a directory``).
_REFUSED_PROGRAM = re.compile(
    r'exec: "(?P<program>(?:[^"\\]|\\.)*)": (?:stat .*?: )?'
    rf"(?P<reason>executable file not found in \$PATH|{_PATH_REFUSED})"
)


#: How runc's init words a working directory it cannot enter (runc 1.1: ``chdir to cwd
#: ("/x") set in config.json failed: no such file or directory``).
_REFUSED_CWD = re.compile(
    r'chdir to cwd \("(?P<cwd>(?:[^"\\]|\\.)*)"\) set in config\.json failed: '
    rf"(?P<reason>{_PATH_REFUSED})"
)

#: How runc's init words a start's cwd it could not make (runc 1.1: ``error during container
#: init: mkdir /etc/passwd: not a directory``).
_UNMADE_CWD = re.compile(
    r"error during container init: mkdir (?P<path>/.*?): (?P<reason>not a directory|permission"
    r" denied|read-only file system)"
)


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


class _Slots:
    """At most ``total`` runc processes at once. A free slot is taken without a turn of the
    scheduler (the call that follows waits for runc anyway): a start took two dozen such
    turns, each about 1% of the server's work on it."""

    def __init__(self, total: int) -> None:
        self._limiter = trio.CapacityLimiter(total)

    async def __aenter__(self) -> None:
        # A cancelled caller spawns no runc (no turn of the scheduler if it is not cancelled).
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._limiter.acquire_nowait()
        except trio.WouldBlock:
            await self._limiter.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._limiter.release()


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
        keeper: KeeperLink | None = None,
    ) -> None:
        self.binary = binary
        self.root = root
        self.criu = criu
        self.timeout = timeout
        self.keeper = keeper
        self._slots = _Slots(concurrency)
        self._observer = observer
        #: The start time of a restored init as read in its time namespace, by its pid, its
        #: start time as runc recorded it and the namespace's inode: read once per init.
        self._seen_starts: dict[tuple[int, int, int], int] = {}

    # --- container lifecycle --------------------------------------------------------------------

    async def run(self, container_id: str, bundle: Path, pid_file: Path, io: ProcessIO) -> Started:
        """``runc run -d``: create and start; the init process.

        The pid file is consumed; if the call fails it is left for the caller, who must kill
        whatever it names.
        """
        args = ["--detach", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        return await self._create("run", [*args, *_console(io), container_id], pid_file, io)

    async def run_to_exit(self, container_id: str, bundle: Path, stdio: Stdio) -> None:
        """``runc run`` in the foreground: create, start, wait for the init's exit and delete,
        in one runc process. Not the daemon's way (a runc process would live as long as each
        container): the bench's lifecycle baseline, the cheapest lifecycle runc has. A status
        other than 0, the container's own included, raises :class:`RuncError`."""
        args = ["--bundle", str(bundle), container_id]
        await self._call("run", args, stdio=stdio)

    async def exec(
        self,
        container_id: str,
        process: dict[str, Any],
        pid_file: Path,
        io: ProcessIO,
        *,
        time_namespace: int | None = None,
    ) -> Started:
        """``runc exec -d --process``: the new process; ``time_namespace``, an fd on one (the
        caller's), has it run there (under nsenter, see the module's doc).

        The OCI process document goes to runc through a memfd (``/proc/self/fd/4``): no file
        to create and remove for it.
        """
        wrapper: list[str] = []
        fds: dict[int, int] = {}
        root: Path | None = None
        if time_namespace is not None:
            wrapper = _in_time_namespace()
            fds[_TIME_NAMESPACE_FD] = time_namespace
        document = os.memfd_create("runc-exec-process", os.MFD_CLOEXEC)
        try:
            if time_namespace is not None:
                root = await self._root_seen_from(container_id, time_namespace)
            os.write(document, json.dumps(process).encode())
            fds[_DOCUMENT_FD] = document
            args = ["--detach", "--process", f"/proc/self/fd/{_DOCUMENT_FD}",
                    "--pid-file", str(pid_file), *_console(io), container_id]  # fmt: skip
            return await self._create(
                "exec", args, pid_file, io, fds,
                wrapper=wrapper, root=root, umask=exec_umask(process),
            )  # fmt: skip
        finally:
            os.close(document)
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)

    async def _root_seen_from(self, container_id: str, time_namespace: int) -> Path:
        """A runc root of one container, a copy of ``container_id``'s state with its init's
        start time as a process in ``time_namespace`` reads it (see the module's doc); the
        caller removes it. Raises :class:`RuncError` if the init's start cannot be read (it
        ended: the caller tells the container stopped)."""
        try:
            state = json.loads((self.root / container_id / "state.json").read_bytes())
            init = int(state["init_process_pid"])
            key = (init, int(state["init_process_start"]), os.fstat(time_namespace).st_ino)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuncError("exec", f"container does not exist: {exc}") from None
        seen = self._seen_starts.get(key)
        if seen is None:
            seen = await self._start_seen_from(init, time_namespace)
            if len(self._seen_starts) >= _SEEN_STARTS_KEPT:
                self._seen_starts.pop(next(iter(self._seen_starts)))  # the oldest
            self._seen_starts[key] = seen
        state["init_process_start"] = seen
        holder = self.root.with_name(f"{self.root.name}-exec")
        holder.mkdir(mode=0o700, exist_ok=True)
        _sweep_stale_roots(holder, older_than=max(300.0, 2 * self.timeout))
        root = Path(tempfile.mkdtemp(prefix=f"{container_id}.", dir=holder))
        (root / container_id).mkdir(mode=0o700)
        (root / container_id / "state.json").write_text(json.dumps(state))
        return root

    async def _start_seen_from(self, init: int, time_namespace: int) -> int:
        """The start time (``/proc/PID/stat``'s field 22) of ``init`` as a process in
        ``time_namespace`` reads it."""
        argv = [*_in_time_namespace(), "cat", f"/proc/{init}/stat"]
        try:
            with trio.fail_after(self.timeout):
                child = await run_child(
                    argv,
                    capture_stdout=True,
                    capture_stderr=True,
                    fds={_TIME_NAMESPACE_FD: time_namespace},
                )
        except trio.TooSlowError:
            raise RuntimeTimeout(
                f"reading the start of the container's init {init} took over {self.timeout:g}"
                " seconds"
            ) from None
        seen = procfs.start_time_in(child.stdout) if child.returncode == 0 else None
        if seen is None:
            raise RuncError(
                "exec", f"cannot read the start of the container's init {init}: {child.stderr!r}"
            )
        return seen

    async def restore(
        self,
        container_id: str,
        bundle: Path,
        image_path: Path,
        work_path: Path,
        pid_file: Path,
        io: ProcessIO,
        options: CriuOptions,
        memory: MemoryCopy | None = None,
        *,
        deadline: float | None = None,
    ) -> Started:
        """``runc restore -d`` from a checkpoint image: the restored init. ``deadline``: seconds
        it may take instead of the configured deadline of every call."""
        args = [
            "--detach",
            "--bundle", str(bundle),
            "--image-path", str(image_path),
            "--work-path", str(work_path),
            "--pid-file", str(pid_file),
            *options.flags(),
            *(memory.restore_flags() if memory is not None else []),
            *_console(io),
            container_id,
        ]  # fmt: skip
        return await self._create("restore", args, pid_file, io, deadline=deadline)

    async def checkpoint(
        self,
        container_id: str,
        image_path: Path,
        work_path: Path,
        options: CriuOptions,
        *,
        leave_running: bool,
        memory: MemoryCopy | None = None,
        deadline: float | None = None,
    ) -> None:
        """``runc checkpoint``; with ``memory``, a pre-copy round or a lazy dump (a pre-dump
        always leaves the container running); ``deadline`` as for :meth:`restore`."""
        args = ["--image-path", str(image_path), "--work-path", str(work_path), *options.flags()]
        fds: dict[int, int] = {}
        if memory is not None:
            args += memory.checkpoint_flags()
            if memory.status_fd is not None:
                fds[memory.status_fd] = memory.status_fd
        if leave_running and not (memory is not None and memory.pre_dump):
            args.append("--leave-running")
        await self._call("checkpoint", [*args, container_id], fds=fds, deadline=deadline)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """``runc update -r``: change the cgroup limits of a running (or paused) container.

        ``resources`` is an OCI ``linux.resources`` object; runc leaves the limits it does not
        name as they are. It goes to runc through a memfd, as an exec's process document does.
        """
        document = os.memfd_create("runc-update-resources", os.MFD_CLOEXEC)
        try:
            os.write(document, json.dumps(resources).encode())
            args = ["--resources", f"/proc/self/fd/{_DOCUMENT_FD}", container_id]
            await self._call("update", args, fds={_DOCUMENT_FD: document})
        finally:
            os.close(document)

    async def pause(self, container_id: str) -> None:
        await self._call("pause", [container_id])

    async def resume(self, container_id: str) -> None:
        await self._call("resume", [container_id])

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        args = ["--all"] if all_processes else []
        await self._call("kill", [*args, container_id, str(signal)])

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """``runc delete``; a container runc does not know is already deleted. One whose
        init has exited is removed here as runc would (:mod:`.runc_destroy`), where nothing
        more is needed: a runc process spared, a sixth of a lifecycle's CPU."""
        args = ["--force"] if force else []
        state_dir = self.root / container_id
        try:
            # runc would delete the rootfs's files through a restore's leftover mount.
            release_criu_root(state_dir)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot delete container {container_id}: a killed restore left the rootfs"
                f" mounted in its state dir: {exc}"
            ) from None
        # In a thread: an rmdir in cgroupfs waits for the kernel's cgroup lock, which the
        # starts' runc processes hold as they make theirs.
        if await trio.to_thread.run_sync(destroy_stopped, state_dir):
            return
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

    async def ps(self, container_id: str) -> list[int]:
        """``runc ps``: the pid (as the host sees it) of every process in the container's
        cgroup, whoever started it."""
        out = await self._call("ps", ["--format", "json", container_id], capture=True)
        return [int(pid) for pid in json.loads(out or b"null") or []]

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

    async def _create(
        self,
        command: str,
        args: Sequence[str],
        pid_file: Path,
        io: ProcessIO,
        fds: dict[int, int] | None = None,
        *,
        deadline: float | None = None,
        wrapper: Sequence[str] = (),
        root: Path | None = None,
        umask: int | None = None,
    ) -> Started:
        if isinstance(io, Stdio):
            await self._call(
                command, args, stdio=io, fds=fds, deadline=deadline, wrapper=wrapper, root=root,
                umask=umask,
            )  # fmt: skip
            pid = take_pid_file(pid_file)
            return Started(pid, procfs.start_time(pid))
        result = await self._call(
            command,
            args,
            custody=io,
            fds=fds,
            pid_file=pid_file,
            deadline=deadline,
            wrapper=wrapper,
            root=root,
            umask=umask,
        )
        assert isinstance(result, SpawnResult)
        if result.pid is None:
            if result.master is not None:
                os.close(result.master)
            raise RuntimeFailure(f"runc {command} left no usable pid file at {pid_file}")
        return Started(result.pid, result.start_time, result.master)

    async def _call(
        self,
        command: str,
        args: Sequence[str],
        *,
        stdio: Stdio | None = None,
        custody: CustodyRequest | None = None,
        capture: bool = False,
        fds: dict[int, int] | None = None,
        pid_file: Path | None = None,
        deadline: float | None = None,
        wrapper: Sequence[str] = (),
        root: Path | None = None,
        umask: int | None = None,
    ) -> Any:
        """Run one runc command under the deadline (``deadline`` seconds if given, else the
        configured one); its stdout (``capture``), or for a custody spawn the keeper's
        :class:`SpawnResult`; with ``umask``, runc's instead of ours. Raises
        :class:`RuncError` if runc failed. ``wrapper``: a command that execs runc in its own
        place (nsenter), spawned in its stead; ``root``: another runc root than the daemon's,
        for this call."""
        seconds = self.timeout if deadline is None else deadline
        argv = [*wrapper, self.binary, "--root", str(root or self.root)]
        argv += ["--log", f"/proc/self/fd/{_LOG_FD}", "--log-format", "json"]
        if self.criu and command in ("checkpoint", "restore"):
            argv += ["--criu", self.criu]
        argv += [command, *args]
        async with self._slots:
            # Made once a slot is had: a memfd for each call waiting for one (a thousand
            # deletes queued) grew the fd table that each spawn copies and closes.
            log_fd = os.memfd_create(f"runc-{command}-log", os.MFD_CLOEXEC)
            try:
                placed = {_LOG_FD: log_fd, **(fds or {})}
                started = time.perf_counter()
                ok = False
                stderr = b""
                result: Any = b""
                try:
                    with trio.fail_after(seconds):
                        if custody is not None:
                            if self.keeper is None:
                                raise RuntimeFailure("no keeper to give the process to")
                            spawned = await self.keeper.spawn(
                                argv,
                                fds=placed,
                                custody=custody,
                                pid_file=str(pid_file),
                                umask=umask,
                            )
                            if spawned.status < 0 and spawned.error:
                                raise _spawn_failure(self.binary, spawned.error)
                            returncode, result = spawned.status, spawned
                        else:
                            child = await run_child(
                                argv,
                                stdin=stdio.stdin if stdio else None,
                                stdout=stdio.stdout if stdio else None,
                                stderr=stdio.stderr if stdio else None,
                                capture_stdout=capture,
                                capture_stderr=stdio is None,
                                fds=placed,
                                umask=umask,
                            )
                            returncode, result, stderr = (
                                child.returncode,
                                child.stdout,
                                child.stderr,
                            )
                    ok = returncode == 0
                except trio.TooSlowError:
                    raise RuntimeTimeout(
                        f"runc {command} did not finish within {seconds:g} seconds and was killed"
                    ) from None
                except OSError as exc:
                    raise _spawn_failure(self.binary, exc.strerror or str(exc)) from None
                finally:
                    if self._observer is not None:
                        self._observer(command, time.perf_counter() - started, ok)
                if not ok:
                    if isinstance(result, SpawnResult) and result.master is not None:
                        os.close(result.master)
                    raise RuncError(command, _runc_log_message(read_fd(log_fd), stderr))
                return result
            finally:
                os.close(log_fd)


#: What runc's init gets when the bundle names no umask (runc's standard init sets it so).
DEFAULT_UMASK = 0o022


def exec_umask(process: dict[str, Any]) -> int:
    """The umask an exec'd ``process`` (an OCI process document) should run with: its
    ``user.umask``, else runc's default for a container's init.

    runc exec (1.1) takes neither: its process keeps runc's own umask, which is the daemon's
    077, so every file it made was 0600 and every directory 0700 (docker exec's are 0644 and
    0755). So runc is spawned with this one."""
    user = process.get("user")
    umask = user.get("umask") if isinstance(user, dict) else None
    if isinstance(umask, int) and not isinstance(umask, bool) and umask >= 0:
        return umask & 0o777  # as the kernel takes runc's init's
    return DEFAULT_UMASK


def _console(io: ProcessIO) -> list[str]:
    if isinstance(io, CustodyRequest) and io.console is not None:
        return ["--console-socket", io.console]
    return []


def _in_time_namespace() -> list[str]:
    """The command that runs the rest of its line in the time namespace at
    :data:`_TIME_NAMESPACE_FD` (nsenter, util-linux: ``make install`` sees to it), in its own
    place (it execs, no fork)."""
    found = shutil.which("nsenter")
    if found is None:
        raise RuntimeFailure(
            "cannot exec into a container restored from a checkpoint: nsenter (util-linux),"
            " which joins its init's time namespace, is not on PATH"
        )
    return [found, f"--time=/proc/self/fd/{_TIME_NAMESPACE_FD}", "--"]


def _spawn_failure(binary: str, reason: str) -> RuntimeFailure:
    if "No such file" in reason:
        return RuntimeFailure(f"the runtime binary {binary!r} was not found")
    if "Permission denied" in reason:
        return RuntimeFailure(f"the runtime binary {binary!r} cannot be executed")
    return RuntimeFailure(f"cannot run {binary!r}: {reason}")


def take_pid_file(path: Path) -> int:
    """Read the pid runc wrote, and remove the file."""
    try:
        with open(path, "rb") as pid_file:
            pid = int(pid_file.read().strip())
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"runc left no usable pid file at {path}: {exc}") from None
    os.unlink(path)
    return pid


def _sweep_stale_roots(holder: Path, *, older_than: float) -> None:
    """Remove the one-call runc roots in ``holder`` made over ``older_than`` seconds ago:
    each is removed after its call, but a daemon killed during one leaves it behind. Any call
    still using one ends within the runtime's deadline, well before that age."""
    limit = time.time() - older_than
    try:
        entries = list(os.scandir(holder))
    except OSError:
        return
    for entry in entries:
        try:
            stale = entry.stat(follow_symlinks=False).st_mtime < limit
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
