"""Private bundles: a copy of a bundle's ``config.json``, changed, in the daemon's own
per-container directory, for runc to run (or restore) the container from. The user's bundle
is never written to.

A restore goes through one to have its loopback up in time for CRIU, to get a cgroup of its
own, or to have the limits of its checkpoint (:mod:`containerd_trio.restore_net`); a start
through one to have limits of its own, or another process than the bundle's (another
command, environment, working directory, user or terminal: ``docker run IMAGE CMD...`` with
``-e``, ``-w``, ``-u``, ``-t``), or both in one copy (:func:`prepare_start`). The process is
laid over the bundle's here (:func:`process_over`), and an exec's user as a start's
(:func:`user_over`).

A start with limits (``resources`` in ``POST /containers/{id}``, ``docker run --memory``) must
have them in force before the container's first instruction: ``runc run -d`` and then ``runc
update`` would let the init run unlimited in between. runc applies a config's
``linux.resources`` to the cgroups it makes while the init waits in ``runc init``, before
that executes the bundle's program; so the start runs from a copy of the config with the
request's limits laid over its ``linux.resources``. One ``runc run``, as any start: ``runc
create`` + ``runc update`` + ``runc start`` would take three runc processes where one does
(create and start alone cost 22% more CPU than run). A start without limits runs from the
bundle itself, as it always did. So does one without another process: runc reads the process
from the config, and runs nothing else.

runc names the directory it ran from as the container's bundle (``runc list``, the state its
hooks are given), so a private bundle stays while the container's directory does, and goes
with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .bundle import CONFIG_NAME, read_config
from .environment import merge_env
from .errors import InvalidRequest
from .model import Resources, StartProcess, UserSpec
from .mounts import remove_tree
from .resources import default_swap, from_oci, lay_over, lifts_swap, swap_limit
from .validation import NO_LIMIT

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


def prepare_start(
    bundle: Path, directory: Path, limits: Resources | None, process: dict[str, Any] | None
) -> Path:
    """The private bundle, in the container's ``directory``, of a start from ``bundle`` with
    ``limits`` laid over its own and ``process`` (:func:`process_over`'s) in place of its
    own, either or both; 400 for a config the limits cannot go in (see
    :func:`.resources.lay_over`)."""
    bundle = bundle.absolute()
    _, config = read_config(bundle)  # as the start read it: a FIFO there must not hang us
    document = relocated(config, bundle)
    if limits is not None:
        lay_over(document, limits, bundle / CONFIG_NAME)
    if process is not None:
        document["process"] = process
    private = directory.absolute() / START_BUNDLE_NAME
    write(private, document)
    return private


def check_limits(bundle: Path, limits: Resources) -> None:
    """400 for ``limits`` that a start from ``bundle`` could not lay over its config (see
    :func:`.resources.lay_over`: a memory limit above its ``memory.swap``, not lifted): what
    an update of a stopped container, which its next start puts in force so, is checked
    against, and a running one's memory limit, which the kernel would refuse so. A config
    that cannot be read now is not: the start says what is wrong with it, as for any
    start."""
    try:
        _, config = read_config(bundle.absolute())
    except InvalidRequest:
        return
    lay_over(config, limits, bundle / CONFIG_NAME)


def bundle_swap(bundle: Path) -> int | None:
    """The swap limit (cgroup v1: memory and swap together) ``bundle``'s config sets, if any:
    what a change that lifted it puts back when it fails. None for a config that cannot be
    read now."""
    try:
        _, config = read_config(bundle.absolute())
    except InvalidRequest:
        return None
    return swap_limit(config)


def swap_beside(bundle: Path, limits: Resources) -> int | None:
    """The swap limit that goes with the memory limit of ``limits`` (the container's, as laid
    over ``bundle``'s own), docker's twice it (:func:`.resources.default_swap`): what ``runc
    update`` of that memory limit sets with it, as a start from them does. None where none
    goes with it, and for a config that cannot be read now."""
    memory = limits.memory
    if memory is None or memory.limit is None:
        return None
    try:
        _, config = read_config(bundle.absolute())
    except InvalidRequest:
        return None
    linux = config.get("linux")
    own = from_oci(linux.get("resources") if isinstance(linux, dict) else None).memory
    return default_swap(
        memory.limit,
        None if own is None else own.limit,
        swap_limit(config),
        lifted=lifts_swap(limits),
    )


def swap_at_update(bundle: Path, current: Resources, limits: Resources) -> int | None:
    """The swap limit ``runc update`` sets with the memory limit of ``limits`` (the
    container's once the update is in force; ``current``, before it): docker's beside it
    (:func:`swap_beside`), or none (-1) where none goes with it but docker's went with the
    limit in force, as a start from ``limits`` has none. Else a memory limit back to the
    bundle's own (a start's limit lifted) kept the old limit's swap, twice a smaller limit,
    and runc's write of it was the kernel's refusal (memory.limit_in_bytes: invalid
    argument). None: the swap is left as it is."""
    swap = swap_beside(bundle, limits)
    if swap is None and swap_beside(bundle, current) is not None:
        return NO_LIMIT
    return swap


def process_over(base: dict[str, Any], given: StartProcess) -> dict[str, Any]:
    """The bundle's process ``base`` with what a start ``given`` laid over it: its args, cwd,
    user (:func:`user_over`), terminal and consoleSize (the client's window) instead of the
    bundle's, its env over the bundle's by name (docker run's -e). The rest (capabilities,
    rlimits, ...) stays the bundle's."""
    document = dict(base)
    if given.args is not None:
        document["args"] = list(given.args)
    if given.env is not None:
        env = base.get("env")
        document["env"] = merge_env(env if isinstance(env, list) else [], given.env)
    if given.cwd is not None:
        document["cwd"] = given.cwd
    if given.user is not None:
        document["user"] = user_over(base.get("user"), given.user)
    if given.console_size is not None:
        size = given.console_size
        document["consoleSize"] = {"height": size.height, "width": size.width}
    if given.terminal is not None:
        document["terminal"] = given.terminal
        if not given.terminal:
            document.pop("consoleSize", None)  # a size of no terminal
    return document


def user_over(base: object, given: UserSpec) -> dict[str, Any]:
    """The bundle's ``process.user`` with a request's user laid over it (an exec's, a
    start's): a uid or gid left out is the bundle's, not 0 (a request that named only a gid
    ran as root in a container whose processes run as another user). The bundle's
    additionalGids stay only with its uid and gid: a process made another user's does not
    keep the bundle user's groups (dropping a uid keeps no groups of the old one)."""
    user: dict[str, Any] = dict(base) if isinstance(base, dict) else {}
    if given.uid is not None or given.gid is not None:
        user.pop("additionalGids", None)
    if given.uid is not None:
        user["uid"] = given.uid
    if given.gid is not None:
        user["gid"] = given.gid
    if given.additional_gids is not None:
        user["additionalGids"] = list(given.additional_gids)
    return user
