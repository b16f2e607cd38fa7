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

    ``memory_limit`` (bytes) sets the cgroup memory limit; ``edit`` is called with the config
    dict for any other change before it is written.
    """
    path = path.absolute()
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
    config["hostname"] = "busybox"
    if memory_limit is not None:
        resources = config["linux"].setdefault("resources", {})
        # Swap at the same limit: the kernel kills for memory instead of swapping.
        resources["memory"] = {"limit": memory_limit, "swap": memory_limit}
    if edit is not None:
        edit(config)
    config_path.write_text(json.dumps(config, indent=2))
    return path
