"""Make a small OCI bundle around a static busybox, to try the daemon without one of your own.

``runc spec`` writes the config (so it always suits the installed runc); this module then sets
the process and sets its terminal (off unless asked: the daemon gives a terminal process a
pseudo-terminal of its own, which ``ctr-trio attach`` connects to).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
DEFAULT_ARGS = ("sh", "-c", "while true; do date; sleep 1; done")


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    raise FileNotFoundError("no busybox found: install busybox-static (make install does)")


def _applets(busybox: Path) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], capture_output=True, check=True, text=True)
    return [name for name in out.stdout.split() if name and "/" not in name]


_applet_cache: dict[Path, list[str]] = {}

#: The hostname every bundle made here has: with its rootfs's ``bin/busybox``, what tells a
#: bundle of ours (which a new run may refresh) from another one.
HOSTNAME = "busybox"


class NotOurBundle(Exception):
    """The directory holds a bundle (or a rootfs) this module did not make: refreshing it
    would rewrite its config.json and its rootfs's ``/etc/passwd`` and ``/etc/group``."""


def _refuse_unless_ours(path: Path) -> None:
    """Refuse a directory that holds a bundle this module did not make, or the rootfs of
    one: a user's own (the 2015 README's redis at ``/containers/redis``, which the seed
    walk-through's default names) would lose its config and its users to busybox's. Before,
    it was refreshed as ours: its config.json rewritten, busybox linked into its rootfs, its
    ``/etc/passwd`` and ``/etc/group`` overwritten. An empty or absent directory, or a
    bundle made here (to change its command), is taken."""
    config_path = path / "config.json"
    rootfs = path / "rootfs"
    has_rootfs = rootfs.is_dir() and any(rootfs.iterdir())
    if not config_path.exists() and not has_rootfs:
        return
    ours = False
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        config = None
    if isinstance(config, dict):
        root = config.get("root")
        ours = (
            config.get("hostname") == HOSTNAME
            and isinstance(root, dict)
            and root.get("path") == "rootfs"
            and (rootfs / "bin" / "busybox").is_file()
        )
    if not ours:
        raise NotOurBundle(
            f"{path} holds a bundle (or a rootfs) that was not made here: it is left as it is;"
            " give a directory that is empty, absent, or a bundle made by make-bundle.py"
        )


def make_rootfs(rootfs: Path) -> None:
    busybox = find_busybox()
    for sub in ("bin", "proc", "dev", "sys", "tmp", "etc", "root"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    target = rootfs / "bin" / "busybox"
    if not target.exists():
        try:
            os.link(busybox, target)  # same filesystem: no copy of the 2 MB binary
        except OSError:
            shutil.copy2(busybox, target)
    if busybox not in _applet_cache:
        _applet_cache[busybox] = _applets(busybox)
    for applet in _applet_cache[busybox]:
        link = rootfs / "bin" / applet
        if applet != "busybox" and not link.is_symlink():
            link.symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")


def make_busybox_bundle(
    path: Path,
    args: Sequence[str] = DEFAULT_ARGS,
    *,
    env: Sequence[str] | None = None,
    memory_limit: int | None = None,
    runc: str = "runc",
    readonly_rootfs: bool = False,
    terminal: bool = False,
    edit: Any = None,
) -> Path:
    """Create (or refresh) an OCI bundle at ``path`` whose process runs ``args`` under busybox.
    A directory that holds a bundle (or a rootfs) not made here is refused
    (:class:`NotOurBundle`), and left as it is.

    ``memory_limit`` (bytes) sets the cgroup memory limit; ``edit`` is called with the config
    dict for any other change before it is written.
    """
    path = path.absolute()
    _refuse_unless_ours(path)
    path.mkdir(parents=True, exist_ok=True)
    make_rootfs(path / "rootfs")
    config_path = path / "config.json"
    config_path.unlink(missing_ok=True)
    subprocess.run([runc, "spec", "--bundle", str(path)], check=True)
    config = json.loads(config_path.read_text())
    process = config["process"]
    process["terminal"] = terminal
    process["args"] = list(args)
    if env is not None:
        process["env"] = list(env)
    config["root"]["readonly"] = readonly_rootfs
    config["hostname"] = HOSTNAME
    if memory_limit is not None:
        resources = config["linux"].setdefault("resources", {})
        # Swap at the same limit: the kernel kills for memory instead of swapping.
        resources["memory"] = {"limit": memory_limit, "swap": memory_limit}
    if edit is not None:
        edit(config)
    config_path.write_text(json.dumps(config, indent=2))
    return path
