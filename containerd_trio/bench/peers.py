"""``--peers``: containerd and Podman on the same rootfs, through their usual clients.

- containerd 1.6 (Debian's): a containerd of the bench's own, with its own ``--config`` (root,
  state, and the gRPC and ttrpc sockets under the bench's directory), started before its phase
  and stopped after it; containers by ``ctr run -d --runtime io.containerd.runc.v2 --rootfs DIR
  ID ARGS`` (a cycle: ``ctr run --rm``, which waits for the exit and deletes), removed by
  ``ctr task rm -f`` and ``ctr container rm``. Its daemon figures are containerd's own process
  (the shims are processes of their own: the machine's CPU line has them).
- Podman 4.3 (Debian's), daemonless: ``podman run -d --rootfs DIR`` with its storage under the
  bench's directory, ``--runtime runc`` (crun refuses this machine's hybrid cgroups),
  ``--cgroup-manager cgroupfs`` (no systemd here), ``--network none`` (as the bundles have no
  network either), and ulimits it may set here (``nofile`` at this process's hard limit, and
  ``nproc`` 4096: Podman's default for it is above what this sandbox allows), options before
  ``--rootfs``; removed by ``podman rm -f -t 0``.

Both run the bundle's process (``sleep``, or ``true`` for cycles) in the bundle's rootfs. Their
clients are spawned as the daemon spawns runc (:func:`containerd_trio.children.run_child`), and
their CPU is the bench's children's (``client cpu``).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from ..children import Child, run_child
from ..mounts import remove_tree
from ..procfs import children
from .api import CALL_TIMEOUT
from .daemon import terminate
from .errors import BenchError
from .probes import process_cpu, process_rss
from .targets import Counters, Target

#: The peers ``--peers`` knows, by the name ``--with`` takes, and the binary each needs.
PEERS = {"containerd": ("containerd", "ctr"), "podman": ("podman",)}
ALIASES = {"ctr": "containerd"}


def peer_names(text: str) -> list[str]:
    """``ctr,podman`` as ``["containerd", "podman"]``; ValueError for an unknown name."""
    names = []
    for part in text.split(","):
        name = ALIASES.get(part.strip(), part.strip())
        if name not in PEERS:
            raise ValueError(f"{part!r} is not a peer: {', '.join(PEERS)} (or ctr)")
        names.append(name)
    return list(dict.fromkeys(names))


def missing(name: str) -> list[str]:
    """The binaries of peer ``name`` that are not installed."""
    return [binary for binary in PEERS[name] if shutil.which(binary) is None]


async def _run(argv: Sequence[str], what: str) -> bytes:
    """Run a client command to its end; its stdout, or BenchError with its last error line."""
    try:
        with trio.fail_after(CALL_TIMEOUT):
            result = await run_child(argv, capture_stdout=True, capture_stderr=True)
    except trio.TooSlowError:
        raise BenchError(f"{what}: no end within {CALL_TIMEOUT:g}s") from None
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise BenchError(f"{what}: {lines[-1]}")
    return bytes(result.stdout)


def _process_args(bundle: Path) -> list[str]:
    """The bundle's process, its program as a path in the rootfs: ctr's default spec has no
    PATH to look it up with."""
    args: list[str] = json.loads((bundle / "config.json").read_text())["process"]["args"]
    if "/" not in args[0]:
        for directory in ("/bin", "/usr/bin", "/sbin", "/usr/sbin"):
            if (bundle / "rootfs" / directory[1:] / args[0]).exists():
                return [f"{directory}/{args[0]}", *args[1:]]
    return args


async def version(argv: Sequence[str]) -> str:
    return (await _run(argv, " ".join(argv))).decode().strip().split()[-1]


# --- containerd -----------------------------------------------------------------------------

_CONFIG = """\
version = 2
root = "{root}/root"
state = "{root}/state"
# Only what ctr run needs: no CRI, no image service from the network.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{root}/containerd.sock"

[ttrpc]
  address = "{root}/containerd.sock.ttrpc"

[debug]
  address = "{root}/debug.sock"
"""


class ContainerdTarget(Target):
    """A containerd of the bench's own, driven with ``ctr``."""

    tag = "containerd"
    has_daemon = True
    children = "client"

    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "containerd"
        self.socket = self.root / "containerd.sock"
        self.process: trio.Process | None = None
        self.version = "?"

    def _ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.socket), *args]

    def how(self, *, cycle: bool = False) -> str:
        pid = self.process.pid if self.process else "?"
        run = "ctr run --rm" if cycle else "ctr run -d"
        return (
            f"through containerd {self.version} (pid {pid}, {run}, the runc v2 shim,"
            f" root {self.root})"
        )

    async def open(self) -> None:
        """Start containerd and wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.toml"
        config.write_text(_CONFIG.format(root=self.root))
        with open(self.root / "containerd.log", "wb") as log:
            self.process = await trio.lowlevel.open_process(
                ["containerd", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.version = await version(["ctr", "--version"])
        with trio.move_on_after(30):
            while self.process.returncode is None:
                try:
                    await _run(self._ctr("version"), "ctr version")
                    return
                except BenchError:
                    await trio.sleep(0.1)
        await self.aclose()
        raise BenchError(f"containerd did not come up; see {self.root / 'containerd.log'}")

    def processes(self) -> set[int]:
        """The bench's own children among the peer's processes (containerd)."""
        return set() if self.process is None else {self.process.pid}

    async def aclose(self) -> None:
        if self.process is not None:
            await terminate(self.process, grace=30)

    def _run_options(self, container_id: str, bundle: Path) -> list[str]:
        rootfs = str(bundle / "rootfs")
        runtime = ["--runtime", "io.containerd.runc.v2"]
        return [*runtime, "--rootfs", rootfs, container_id, *_process_args(bundle)]

    async def start(self, container_id: str, bundle: Path) -> None:
        options = self._run_options(container_id, bundle)
        await _run(self._ctr("run", "-d", *options), f"{container_id}: ctr run -d")

    async def cycle(self, container_id: str, bundle: Path) -> None:
        options = self._run_options(container_id, bundle)
        await _run(self._ctr("run", "--rm", *options), f"{container_id}: ctr run --rm")

    async def remove(self, container_id: str) -> None:
        # The task first (killed), then the container; either may be gone already.
        for args in (("task", "rm", "-f", container_id), ("container", "rm", container_id)):
            try:
                await _run(self._ctr(*args), f"{container_id}: ctr {' '.join(args[:2])}")
            except BenchError as exc:
                if "not found" not in str(exc):
                    raise

    async def counters(self) -> Counters:
        pid = None if self.process is None else self.process.pid
        cpu = None if pid is None else process_cpu(pid)
        rss = None if pid is None else process_rss(pid)
        return Counters(daemon_cpu=cpu.own if cpu else None, daemon_rss=rss)


# --- podman ---------------------------------------------------------------------------------


class PodmanTarget(Target):
    """Podman, no daemon: one ``podman`` process (and a conmon) per container."""

    tag = "podman"
    children = "client"

    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "podman"
        # Podman refuses a run root path longer than 50 characters: the bench's directory if it
        # is short enough (a temporary one is), else one of its own.
        self.runroot = self.root / "run"
        if len(str(self.runroot)) > 50:
            self.runroot = Path(tempfile.mkdtemp(prefix="ctr-trio-podman-"))
        self.version = "?"
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self._global = [
            "podman",
            "--root", str(self.root / "root"),
            "--runroot", str(self.runroot),
            "--tmpdir", str(self.root / "tmp"),
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--runtime", "runc",
        ]  # fmt: skip
        self._limits = [
            "--network", "none",
            "--ulimit", f"nofile={nofile}:{nofile}",
            "--ulimit", "nproc=4096:4096",
        ]  # fmt: skip

    def how(self, *, cycle: bool = False) -> str:
        run = "podman run --rm" if cycle else "podman run -d"
        return f"through podman {self.version} ({run} --rootfs, root {self.root})"

    async def open(self) -> None:
        self.version = await version(["podman", "--version"])

    def processes(self) -> set[int]:
        return set()  # no daemon

    async def aclose(self) -> None:
        # After reap_orphans: each container's conmon runs a `podman container cleanup` when it
        # ends, which would make the run root again.
        if not self.runroot.is_relative_to(self.root):
            remove_tree(self.runroot)

    def _argv(self, mode: str, container_id: str, bundle: Path) -> list[str]:
        rootfs = ["--rootfs", str(bundle / "rootfs"), *_process_args(bundle)]
        return [*self._global, "run", mode, *self._limits, "--name", container_id, *rootfs]

    async def start(self, container_id: str, bundle: Path) -> None:
        await _run(self._argv("-d", container_id, bundle), f"{container_id}: podman run -d")

    async def cycle(self, container_id: str, bundle: Path) -> None:
        await _run(self._argv("--rm", container_id, bundle), f"{container_id}: podman run --rm")

    async def remove(self, container_id: str) -> None:
        try:
            argv = [*self._global, "rm", "-f", "-t", "0", container_id]
            await _run(argv, f"{container_id}: podman rm")
        except BenchError as exc:
            if "no such container" not in str(exc).lower():
                raise


Peer = ContainerdTarget | PodmanTarget


async def reap_orphans(keep: set[int], *, longest: float = 30.0) -> None:
    """Wait for what the peers left to the bench to end, and reap it.

    The bench is a subreaper when it runs the raw baseline, so the peers' daemonized helpers are
    re-parented to it: containerd's shims, Podman's conmons and the ``podman container cleanup``
    each conmon runs as it ends. They end shortly after their containers are removed; nobody
    else would reap them. ``keep``: children of the bench's own that stay (its daemon).
    """
    with trio.move_on_after(longest):
        while orphans := children() - keep:
            for pid in orphans:
                try:
                    handle = Child(pid)
                except ProcessLookupError:
                    continue  # reaped already
                try:
                    await handle.wait()
                finally:
                    handle.close()


def make_peer(name: str, workdir: Path) -> Peer:
    return ContainerdTarget(workdir) if name == "containerd" else PodmanTarget(workdir)
