"""``ctr-trio version`` and ``ctr-trio info``: the daemon's ``GET /version`` and ``GET /info``
in ``docker version``'s and ``docker info``'s layout (``--json``: the documents as they are).

``version`` and ``info`` print the client's part first, from this install alone, then ask the
daemon, once: one that cannot be reached leaves the client's part printed, the error said, and
exit 3, as docker's client does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from .errors import DaemonUnreachable
from .output import Output, human_duration, size

if TYPE_CHECKING:
    from .http import Client

EXIT_OK = 0
EXIT_ERROR = 1

#: version and info try the daemon once unless --retry says otherwise: they tell whether a
#: daemon is there, and say so at once (docker version and docker info do not wait either).
VERSION_RETRY = 0.0


def client_part() -> dict[str, str]:
    """What the client knows of itself, without the daemon."""
    uname = os.uname()
    return {
        "version": __version__,
        # sys's, not platform's: platform costs every ctr-trio call 1-2 ms to import.
        "pythonVersion": "{}.{}.{}".format(*sys.version_info[:3]),
        "os": uname.sysname.lower(),
        "arch": uname.machine,
    }


def _section(out: Output, title: str, pairs: Sequence[tuple[str, Any]], indent: int = 1) -> None:
    """``title:`` then its ``key: value`` lines, the values aligned, as docker prints them."""
    out.line(f"{' ' * (indent - 1)}{title}:")
    shown = [(key, value) for key, value in pairs if value is not None]
    width = max((len(key) for key, _ in shown), default=0) + 2
    for key, value in shown:
        out.line(f"{' ' * indent}{key + ':':<{width}}{value}")


def _formatted(document: Any, args: argparse.Namespace, out: Output) -> int:
    """``--format``'s line: ``json`` is the document on one line, a template its rendering;
    a template that does not fit it is its error, exit 1."""
    from .template import RenderError, compact

    if args.format == "json":
        out.line(compact(document))
        return EXIT_OK
    try:
        out.line(args.format.render(document))
    except RenderError as exc:
        out.error(str(exc))
        return EXIT_ERROR
    return EXIT_OK


def version(client: Client, args: argparse.Namespace, out: Output) -> int:
    mine = client_part()
    if args.format is not None:
        try:
            server = client.version()
        except DaemonUnreachable:
            _formatted({"client": mine, "server": None}, args, out)
            raise
        return _formatted({"client": mine, "server": server}, args, out)
    if not out.as_json:
        _section(
            out,
            "Client",
            [
                ("Version", mine["version"]),
                ("Python version", mine["pythonVersion"]),
                ("OS/Arch", f"{mine['os']}/{mine['arch']}"),
            ],
        )
        out.line()
        out.stdout.flush()  # seen before the daemon answers, or fails to
    try:
        server = client.version()
    except DaemonUnreachable:
        if out.as_json:
            out.document({"client": mine, "server": None})
        raise
    if out.as_json:
        out.document({"client": mine, "server": server})
        return EXIT_OK
    out.line("Server:")
    _section(
        out,
        "containerd-trio",
        [
            ("Version", server["version"]),
            ("Python version", server["pythonVersion"]),
            ("OS/Arch", f"{server['os']}/{server['arch']}"),
            ("Kernel version", server["kernelVersion"]),
        ],
        indent=2,
    )
    runc = server["runc"]
    _section(
        out,
        "runc",
        [
            ("Version", runc.get("version", "unknown")),
            ("GitCommit", runc.get("commit")),
            ("Spec", runc.get("spec")),
            ("Go", runc.get("go")),
            ("libseccomp", runc.get("libseccomp")),
            ("Path", runc["path"]),
        ],
        indent=2,
    )
    criu = server.get("criu")
    if criu is None:
        _section(out, "criu", [("Version", "none (the daemon runs without checkpoints)")], 2)
    else:
        _section(
            out, "criu", [("Version", criu.get("version", "unknown")), ("Path", criu["path"])], 2
        )
    return EXIT_OK


def info(client: Client, args: argparse.Namespace, out: Output) -> int:
    if args.format is None and not out.as_json:
        # As docker info: the client's part is printed whether or not the daemon answers.
        _section(out, "Client", [("Version", __version__)])
        out.line()
        out.stdout.flush()  # seen before the daemon answers, or fails to
    # --format and --json are the daemon's document: nothing of it without the daemon.
    answer = client.info()
    if args.format is not None:
        return _formatted(answer, args, out)
    if out.as_json:
        out.document(answer)
        return EXIT_OK
    _section(
        out,
        "Server",
        [
            ("Containers", answer["containers"]),
            (" Running", answer["containersRunning"]),
            (" Paused", answer["containersPaused"]),
            (" Stopped", answer["containersStopped"]),
            ("Server Version", answer["serverVersion"]),
            ("State Dir", answer["stateDir"]),
            ("Runtime", answer["runtime"]),
            ("Runtime Root", answer["runtimeRoot"]),
            ("CRIU", answer.get("criu", "none (no checkpoints)")),
            ("Cgroup Driver", answer["cgroupDriver"]),
            ("Cgroup Version", answer["cgroupVersion"]),
            ("Swap Limit", "yes" if answer["swapLimit"] else "no"),
            ("Keep Containers", "yes" if answer["keepContainers"] else "no"),
            ("Stop Containers", "yes" if answer.get("stopContainers") else "no"),
            ("Kernel Version", answer["kernelVersion"]),
            ("Operating System", answer["operatingSystem"]),
            ("OSType", answer["osType"]),
            ("Architecture", answer["architecture"]),
            ("CPUs", answer["cpus"]),
            ("Total Memory", size(answer["memory"])),
            ("Name", answer["name"]),
            ("Daemon PID", answer["pid"]),
            ("Started", f"{answer['startedAt']} (up {human_duration(answer['uptimeSeconds'])})"),
            ("Server PID", answer["serverPid"]),
            ("Server Started", answer["serverStartedAt"]),
        ],
    )
    # As docker info: the warnings go to stderr, after the figures.
    for warning in answer["warnings"]:
        out.stderr.write(warning + "\n")
    return EXIT_OK
