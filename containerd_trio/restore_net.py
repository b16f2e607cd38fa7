"""Restore a container with its network ready before CRIU restores its sockets.

``runc restore`` has CRIU create the container's network namespace empty: ``lo`` is down until
runc's caller brings it up, which is too late for CRIU, which reconnects established TCP
connections over that loopback while it restores ("soccr: Can't connect inet socket back:
Network is unreachable"). runc's one hook into that moment is the bundle's hooks: at CRIU's
``setup-namespaces`` action (namespaces made, no file or socket restored yet) runc runs the
``prestart`` and ``createRuntime`` hooks of the config it restores from, with the restored
init's pid in the OCI state on their stdin.

So a restore goes through a private bundle (:mod:`containerd_trio.private_bundle`): a copy of
the container's ``config.json`` in the daemon's own work dir, with the root and relative bind
mount sources made absolute (they pointed into the original bundle), and one ``createRuntime``
hook added that sets ``lo`` up (:mod:`containerd_trio.loopback_hook`). The user's bundle is
never touched, and the rootfs is the original one. What did not work, and why, is in
docs/checkpoint.md ("TCP connections").

A container on the host's network, or in a network namespace named by ``path`` (which runc
dumps as external and CRIU joins on restore as it is), needs nothing: the plan is the bundle.

The same private copy gives a migrated container a cgroup of its own on the target
(``cgroups_path``): runc names a container's cgroups after its id unless ``linux.cgroupsPath``
says otherwise, so two daemons of one machine moving a container between them would otherwise
restore it into the cgroup the source's (frozen) container still holds.

And it puts back the limits the container ran under at its checkpoint (``limits``: those the
checkpoint recorded, :func:`containerd_trio.checkpoints.kept_resources`, or the stopped
container's it restores over, an update made since the dump included), laid over the
bundle's as a start's own are (:func:`containerd_trio.resources.lay_over`): runc applies the
config's ``linux.resources`` to the cgroups it makes for the restore, so without them a
container started with limits, or given them by an update, came back under the bundle's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from . import loopback_hook, private_bundle
from .bundle import CONFIG_NAME, read_config
from .errors import InvalidRequest
from .model import Resources, StartProcess
from .mounts import remove_tree
from .resources import from_oci, lay_over, overlay

PRIVATE_BUNDLE_NAME = "restore-bundle"
#: How long runc lets the hook run (seconds); it takes a few ms (~30 through Python).
HOOK_TIMEOUT = 10

#: The hook, as a shell runs it: the restored init's pid from the OCI state runc writes on its
#: stdin (one line, ``"pid":N`` after the id, which holds no quote), then ``lo`` set up in its
#: network namespace by util-linux's nsenter and iproute2's ip: two small programs, a few ms,
#: where a Python start took about 30 of the restore's downtime here (1.3x raw runc's restore,
#: 1.05x without the hook). Without them, the Python script does it (:mod:`.loopback_hook`).
_HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOOK_SCRIPT = """\
IFS= read -r state || [ -n "$state" ]
pid=${state#*'"pid":'}
pid=${pid# }
pid=${pid%%[!0-9]*}
case $pid in
    ''|0*) echo "loopback hook: the OCI state on stdin has no usable pid" >&2; exit 1;;
esac
if command -v nsenter >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
    nsenter --net="/proc/$pid/ns/net" ip link set lo up && exit 0
    echo "loopback hook: cannot set lo up in the network namespace of process $pid" >&2
    exit 1
fi
exec "$1" -I -S "$2" "$pid"
"""


@attrs.frozen
class RestorePlan:
    """What to give ``runc restore``: ``--bundle plan.bundle``, nothing else changes.

    ``private`` is the directory made for the restore (None when the original bundle is used).
    runc records the bundle it restored from as the container's ``bundle`` (``runc list``), so
    keep ``private`` while the container lives if anything reads that label, and call
    :meth:`cleanup` when it is deleted; after a failed restore, call it at once. Also a context
    manager that cleans up on exit.
    """

    bundle: Path
    private: Path | None = None

    def cleanup(self) -> None:
        if self.private is not None:
            remove_tree(self.private)

    def __enter__(self) -> RestorePlan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


def loopback_hook_entry() -> dict[str, Any]:
    """The OCI hook that sets ``lo`` up: :data:`_HOOK_SCRIPT` (else, without nsenter or ip,
    this interpreter, isolated, on the hook's Python script)."""
    script = str(Path(loopback_hook.__file__).resolve())
    return {
        "path": "/bin/sh",
        "args": ["sh", "-c", _HOOK_SCRIPT, "loopback-hook", sys.executable, script],
        # Where nsenter and ip are, whatever PATH the daemon was started with.
        "env": [f"PATH={_HOOK_PATH}"],
        "timeout": HOOK_TIMEOUT,
    }


def needs_loopback_hook(config: dict[str, Any]) -> bool:
    """True if the container gets a network namespace of its own, made by runc (no path)."""
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    return any(ns.get("type") == "network" and not ns.get("path") for ns in namespaces)


def restore_config(
    config: dict[str, Any], bundle: Path, *, cgroups_path: str | None = None
) -> dict[str, Any]:
    """The config to restore from a directory other than ``bundle``: same container, paths
    made absolute, the loopback hook added (after the user's own hooks) if it needs it, and
    ``linux.cgroupsPath`` replaced if ``cgroups_path`` is given."""
    config = private_bundle.relocated(config, bundle)
    if needs_loopback_hook(config):
        hooks = config.setdefault("hooks", {})
        hooks.setdefault("createRuntime", []).append(loopback_hook_entry())
    if cgroups_path is not None:
        linux = config.setdefault("linux", {})
        if not isinstance(linux, dict):
            raise InvalidRequest(f"{bundle / CONFIG_NAME} has a linux that is not an object")
        linux["cgroupsPath"] = cgroups_path
    return config


def prepare_restore(
    bundle: Path,
    work_dir: Path,
    *,
    cgroups_path: str | None = None,
    limits: Resources | None = None,
    terminal: bool | None = None,
) -> RestorePlan:
    """Make what ``runc restore`` needs to restore the container of ``bundle`` with its
    loopback up in time for CRIU (in ``cgroups_path``, under ``limits`` laid over the
    bundle's, and with a terminal or none as ``terminal`` says, if given: a start's process
    may have had one its bundle has not, and runc gives the restored process a console only
    as its config says); ``work_dir`` is the daemon's own (per-container) directory.

    Raises InvalidRequest if the bundle's config cannot be read, or cannot take ``limits``.
    """
    bundle = bundle.absolute()
    _, config = read_config(bundle)  # as a start reads it: a FIFO there must not hang us
    linux = config.get("linux")
    own = from_oci(linux.get("resources") if isinstance(linux, dict) else None)
    if limits is not None and overlay(own, limits) == own:
        limits = None  # the bundle's own, as they were at the dump: nothing to lay over
    process = config.get("process")
    if not isinstance(process, dict) or terminal == bool(process.get("terminal")):
        terminal = None  # the bundle's own (one without a process is refused by runc)
    if not needs_loopback_hook(config) and (cgroups_path, limits, terminal) == (None,) * 3:
        return RestorePlan(bundle=bundle)
    private = work_dir.absolute() / PRIVATE_BUNDLE_NAME
    document = restore_config(config, bundle, cgroups_path=cgroups_path)
    if limits is not None:
        lay_over(document, limits, bundle / CONFIG_NAME)
    if terminal is not None:
        terminal_only = StartProcess(terminal=terminal)
        document["process"] = private_bundle.process_over(document["process"], terminal_only)
    private_bundle.write(private, document)  # over a leftover of a restore that was killed
    return RestorePlan(bundle=private, private=private)
