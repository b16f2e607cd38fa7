"""A change of a container's cgroup limits (``runc update``, docker update): laid over those in
force while it runs, put back as the record has them if runc fails or is cut short, or kept
for its next start while it is stopped (:func:`update_resources`).

Apart from :class:`.Container`: the change's course (recorded before runc runs, the limits put
back after a failure, an OOM watch begun by a first memory limit) is the update's alone; it
stays in this package, as :mod:`._moving` does, because it takes the container's lock and
reaches its private steps (its runc calls, its OOM watch), which are the package's alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ..errors import Conflict, DaemonError
from ..model import Resources, Status
from ..private_bundle import bundle_swap, check_limits, swap_at_update, swap_beside
from ..resources import (
    before,
    cpus_as_quota,
    memory_limited,
    overlay,
    swap_before,
    to_oci,
    user_cpu_after,
)
from ..runtime import RuncError
from ..validation import NO_LIMIT

if TYPE_CHECKING:
    from ._container import Container

log = logging.getLogger("containerd_trio.container")


async def update_resources(container: Container, change: Resources) -> None:
    """``runc update``: lay ``change`` over the limits in force; of a stopped container,
    over those its next start puts in force (:func:`_update_stopped`)."""
    async with container.lock:
        # 409 for a quota a cpus holds, and for a cpus the user's quota or period holds.
        change = cpus_as_quota(container.resources, change, container.user_cpu)
        if container.status is Status.STOPPED and not container.deleted:
            _update_stopped(container, change)
            return
        container._require_live("update")
        if change.memory is not None:
            # A memory limit above the swap limit in force (the bundle's, unless lifted)
            # is the kernel's refusal (runc's 500 "... memory.limit_in_bytes: invalid
            # argument", and the change put back), and would be its next start's: the
            # start's 400 now, before runc runs, as docker refuses it.
            check_limits(container.bundle, overlay(container.resources, change))
        # Recorded first: a server that dies from here on cannot tell the next one whether
        # runc put the change in force (its runc goes on, or is done), and the next one
        # makes it again (else it listed the limits from before, the cgroups had the new).
        container.updating = change
        container.save()
        try:
            await container._runtime_step(
                "update", container._ctx.runtime.update(container.id, _with_swap(container, change))
            )
        except Conflict:
            # From _runtime_step: its init exited under runc update, its cgroups going
            # with it. Once that exit is in, it is a stopped container, whose change is
            # its next start's (_update_stopped: a restart by its policy waits for this
            # lock), as the same PATCH a moment later is. (Before, a 409 "it stopped",
            # and the restart ran under the old limits.)
            container.updating = None
            try:
                if await container._stopped_meanwhile():
                    _update_stopped(container, change)  # its one save: the update ended
                    return
            except BaseException:
                container.save()
                raise
            container.save()
            raise
        except BaseException as exc:
            container.updating = None  # ended here: the record says what this server knows
            # What runc wrote before the kernel refused a limit, or before it was killed
            # (the runtime's deadline, the supervisor's end cancelling the command), may
            # stay in force (see resources.before): the answer and the record say nothing
            # changed.
            await _put_back_limits(container, change)
            container.save()
            if isinstance(exc, RuncError) and "unable to set memory limit" in exc.runc_message:
                # cgroup v1 cannot take a limit below what the container holds now.
                raise Conflict(f"container {container.id!r}: {exc.runc_message}") from None
            raise
        container.updating = None
        container.resources = overlay(container.resources, change)
        container.user_cpu = user_cpu_after(container.user_cpu, change)
        if (
            container._oom is None
            and memory_limited(container.resources)
            and container.init is not None
        ):
            # Its own cgroup can kill it for memory now: watch for that too.
            container._watch_memory(container.init.pid, True)
            if container._oom is not None:
                # From the count as it stands: a kill counted before (a limit set by hand,
                # a machine-wide OOM) is not one this watch saw come.
                container._oom.check_silently()
                if container._nursery is not None:
                    container._nursery.start_soon(container._watch_oom, container._oom)
        container.publish("update")
        container.save()


def _update_stopped(container: Container, change: Resources) -> None:
    """docker update of a stopped (or restarting) container: its cgroups went with its
    run, so its record alone takes ``change`` (one journal line: a next server has it,
    or not), and its next start puts it in force, as docker's does. A restart by its
    policy and ``ctr-trio start ID`` start it with the record's limits, laid over the
    bundle's as any start's (:func:`.private_bundle.prepare_start`); a restart waiting
    out its delay reads them once the delay is over (this holds the lock it waits for).
    Checked as that start checks them (400 for a memory limit above the bundle's swap),
    not as the kernel would: a limit below what its first process will hold, or a quota
    above a parent cgroup's, is the start's refusal then, as in docker. (Before, a 409
    "it is stopped": the limits could change only once it ran again.)"""
    # As they will be laid over the bundle: a swap limit lifted before (a -1) stays so.
    resources = overlay(container.resources, change)
    check_limits(container.bundle, resources)
    container.resources = resources
    container.user_cpu = user_cpu_after(container.user_cpu, change)
    container.publish("update")
    container.save()


async def _put_back_limits(container: Container, change: Resources) -> None:
    """Put the limits ``change`` names back as the record has them, after a ``runc
    update`` of them failed or was cut short: shielded, as a cancel is one of the cuts."""
    why = f"did not finish within {container._ctx.cleanup_timeout:g} seconds"
    put_back = to_oci(before(container.resources, change))
    # A change that lifted the bundle's swap limit (runc writes it first) may have left it
    # lifted: it goes back to the bundle's, which runc orders with the memory limit.
    swap = swap_before(container.resources, change, bundle_swap(container.bundle))
    if swap is None and "swap" in _with_swap(container, change).get("memory", {}):
        # docker's swap beside the new memory limit, which runc may have written: back
        # to the old limit's, or to none (the bundle's own limit, or a lifted swap).
        swap = swap_beside(container.bundle, container.resources) or NO_LIMIT
    if swap is not None:
        put_back.setdefault("memory", {})["swap"] = swap
    with trio.move_on_after(container._ctx.cleanup_timeout, shield=True):
        try:
            await container._ctx.runtime.update(container.id, put_back)
            return
        except DaemonError as exc:
            why = exc.message
    log.error(
        "container %s: the limits of a failed update could not be put back, its"
        " cgroups may not be as its record says: %s", container.id, why,
    )  # fmt: skip


def _with_swap(container: Container, change: Resources) -> dict[str, Any]:
    """``change`` for ``runc update``, with docker's swap beside a memory limit it sets
    (twice it: :func:`.private_bundle.swap_at_update`), as a start from the limits sets it,
    or none where the old limit's goes away with it."""
    document = to_oci(change)
    if change.memory is not None and change.memory.swap is None:
        swap = swap_at_update(
            container.bundle, container.resources, overlay(container.resources, change)
        )
        if swap is not None:
            document["memory"]["swap"] = swap
    return document
