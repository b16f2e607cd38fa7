"""Private bundles: a copy of a bundle's ``config.json``, changed, in the daemon's own
per-container directory, for runc to run (or restore) the container from. The user's bundle
is never written to.

A restore goes through one to have its loopback up in time for CRIU, to get a cgroup of its
own, or to have the limits of its checkpoint (:mod:`containerd_trio.restore_net`); a start
through one to have limits of its own (:func:`prepare_start`).

A start with limits (``resources`` in ``POST /containers/{id}``, ``docker run --memory``) must
have them in force before the container's first instruction: ``runc run -d`` and then ``runc
update`` would let the init run unlimited in between. runc applies a config's
``linux.resources`` to the cgroups it makes while the init waits in ``runc init``, before
that executes the bundle's program; so the start runs from a copy of the config with the
request's limits laid over its ``linux.resources``. One ``runc run``, as any start: ``runc
create`` + ``runc update`` + ``runc start`` would take three runc processes where one does
(create and start alone cost 22% more CPU than run). A start without limits runs from the
bundle itself, as it always did.

runc names the directory it ran from as the container's bundle (``runc list``, the state its
hooks are given), so a private bundle stays while the container's directory does, and goes
with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .bundle import CONFIG_NAME, read_config
from .errors import InvalidRequest
from .model import Resources
from .mounts import remove_tree
from .resources import lay_over

#: Where a start with limits of its own keeps its private bundle, in the container's directory.
START_BUNDLE_NAME = "start-bundle"


def relocated(config: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """A copy of ``bundle``'s config to run from another directory: the root and the relative
    bind mount sources made absolute (they pointed into ``bundle``)."""
    config = json.loads(json.dumps(config))  # a deep copy of plain JSON
    root = config.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str):
        raise InvalidRequest(f"{bundle / CONFIG_NAME} has no root.path")
    root["path"] = str(bundle / root["path"])  # an absolute path stays as it is
    for mount in config.get("mounts") or []:
        # runc resolves a relative bind mount source against the bundle directory; it takes a
        # mount for a bind mount by its options ("bind" or "rbind": MS_BIND), whatever its type.
        source = mount.get("source")
        options = mount.get("options") or []
        is_bind = mount.get("type") == "bind" or "bind" in options or "rbind" in options
        if is_bind and isinstance(source, str) and not source.startswith("/"):
            mount["source"] = str(bundle / source)
    return config


def write(private: Path, document: dict[str, Any]) -> None:
    """Make ``private`` a bundle of ``document`` alone (what a killed start or restore left
    there goes first); nothing of it is left if that fails."""
    remove_tree(private)
    private.mkdir(parents=True)
    try:
        (private / CONFIG_NAME).write_text(json.dumps(document))
    except BaseException:
        remove_tree(private)
        raise


def prepare_start(bundle: Path, directory: Path, limits: Resources) -> Path:
    """The private bundle, in the container's ``directory``, of a start from ``bundle`` with
    ``limits`` laid over its own; 400 for a config they cannot go in (see
    :func:`.resources.lay_over`)."""
    bundle = bundle.absolute()
    _, config = read_config(bundle)  # as the start read it: a FIFO there must not hang us
    document = relocated(config, bundle)
    lay_over(document, limits, bundle / CONFIG_NAME)
    private = directory.absolute() / START_BUNDLE_NAME
    write(private, document)
    return private
