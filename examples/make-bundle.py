#!/usr/bin/env python3
"""Make a busybox OCI bundle to try the daemon with.

    examples/make-bundle.py /containers/redis
    examples/make-bundle.py /containers/hello -- sh -c 'echo hello; sleep 60'
    examples/make-bundle.py /containers/small --memory-limit 33554432 --env GREETING=hello
    examples/make-bundle.py /containers/shell --terminal -- sh

Without a command after ``--`` the container prints the date every second. The bundle holds a
rootfs (a static busybox and its applets) and a config.json written by ``runc spec``. Run it
again on the same directory to change the command: the config is rewritten, the rootfs and any
checkpoints are kept. A directory that holds a bundle (or a rootfs) it did not make is refused
and left as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import _venv  # noqa: F401  (re-runs this script with the repo's .venv if needed)

from containerd_trio.busybox import DEFAULT_ARGS, NotOurBundle, make_busybox_bundle


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="make-bundle.py",
        usage="%(prog)s DIR [--memory-limit BYTES] [--env K=V ...] [--terminal] [-- ARGS...]",
        description="Make a busybox OCI bundle at DIR. ARGS (after --) is the container's "
        f"process; the default is {' '.join(DEFAULT_ARGS[:2])} {DEFAULT_ARGS[2]!r}.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="where to make the bundle")
    parser.add_argument("--memory-limit", type=int, metavar="BYTES", help="cgroup memory limit")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="add (or replace) a variable in the process's environment; repeatable",
    )
    parser.add_argument(
        "--terminal",
        action="store_true",
        help="give the process a terminal (for ctr-trio run -it, start -t, attach)",
    )
    options = parser.parse_args(argv)
    for item in options.env:
        if "=" not in item or item.startswith("="):
            parser.error(f"--env takes K=V, not {item!r}")
    if options.memory_limit is not None and options.memory_limit <= 0:
        parser.error("--memory-limit must be a positive number of bytes")
    return options, command


def main() -> None:
    options, command = parse(sys.argv[1:])
    extra = dict(item.split("=", 1) for item in options.env)

    def add_env(config: dict[str, Any]) -> None:
        # Keep runc's defaults (PATH, TERM); the variables given replace ones of the same name.
        process = config["process"]
        kept = [var for var in process.get("env", []) if var.split("=", 1)[0] not in extra]
        process["env"] = kept + [f"{key}={value}" for key, value in extra.items()]

    try:
        bundle = make_busybox_bundle(
            options.dir,
            command or DEFAULT_ARGS,
            memory_limit=options.memory_limit,
            terminal=options.terminal,
            edit=add_env if extra else None,
        )
    except NotOurBundle as exc:
        sys.exit(f"make-bundle.py: {exc}")
    print(bundle)


if __name__ == "__main__":
    main()
