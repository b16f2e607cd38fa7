"""OCI process documents: a client's view of one, and what an exec runs (the container's
process with the request's fields laid over it).

Apart from :class:`.Container`: pure functions of a document and a request, which need nothing
of a container's state.
"""

from __future__ import annotations

from typing import Any

from ..model import ProcessInfo, ProcessSpec, User
from ..private_bundle import user_over


def process_info(pid: int, document: dict[str, Any], *, stdin: bool = False) -> ProcessInfo:
    """A client's view of an OCI process document (from config.json or an exec request)."""
    user = document.get("user") or {}
    gids = user.get("additionalGids")
    return ProcessInfo(
        pid=pid,
        args=list(document.get("args") or []),
        user=User(uid=int(user.get("uid", 0)), gid=int(user.get("gid", 0)), additional_gids=gids),
        terminal=bool(document.get("terminal", False)),
        env=list(document.get("env") or []),
        cwd=str(document.get("cwd") or "/"),
        stdin=stdin or bool(document.get("terminal", False)),
    )


def exec_document(base: dict[str, Any], spec: ProcessSpec) -> dict[str, Any]:
    """The container's process (the bundle's, with its start's laid over it) with the
    request's fields laid over it, as Docker's exec does.

    Whatever the request leaves out (environment, working directory, user, capabilities,
    rlimits) is the container's own.
    """
    document = dict(base)
    document["args"] = list(spec.args)
    document["terminal"] = spec.terminal
    document.pop("consoleSize", None)
    if spec.terminal and spec.console_size is not None:
        size = spec.console_size
        document["consoleSize"] = {"height": size.height, "width": size.width}
    if spec.env is not None:
        document["env"] = list(spec.env)
    if spec.cwd is not None:
        document["cwd"] = spec.cwd
    if spec.user is not None:
        document["user"] = user_over(document.get("user"), spec.user)
    document.setdefault("cwd", "/")
    return document
