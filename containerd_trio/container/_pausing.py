"""A container's pause and resume (``runc pause``, ``runc resume``): as the daemon asks them,
as runc says they are (a container paused or resumed with runc by hand), and the resume of a
paused one sent a SIGKILL, which it takes only once thawed.

Apart from :class:`.Container`: the freezer's states and what runc and the daemon may each
believe of them are the pause's alone; it stays in this package, as :mod:`._moving` does (whose
freeze and thaw use it), because it takes the container's lock and reaches its runc calls,
which are the package's alone.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import cgroups, procfs
from ..errors import Conflict
from ..model import Status
from ..runtime import RuncError

if TYPE_CHECKING:
    from ._container import Container


async def pause(container: Container) -> None:
    """``runc pause``: 409 if it is paused already (as runc says), or stopped under it."""
    async with container.lock:
        container._require_live("pause")
        if container.status is Status.PAUSED and not await runc_reports(container, "running"):
            raise Conflict(f"container {container.id!r} is already paused")
        try:
            await container._runtime_step("pause", container._ctx.runtime.pause(container.id))
        except RuncError:
            if not await runc_reports(container, "paused"):
                raise
        init = container.init
        if container.status not in (Status.RUNNING, Status.PAUSED) or (
            init is not None and _dying(init.pid)
        ):
            # The init died, or takes a SIGKILL sent while runc froze it (a kill that came
            # as the pause ran: it saw the container running, and resumed nothing): thaw
            # what runc froze, so that it dies and no frozen cgroup outlives it (runc
            # would say paused, and its delete --force signal the init's pid, another
            # process's by then).
            with contextlib.suppress(RuncError):
                await container._ctx.runtime.resume(container.id)
            raise Conflict(f"cannot pause container {container.id!r}: it stopped")
        container.status = Status.PAUSED
        container.publish("pause")
        container.save()


async def resume(container: Container) -> None:
    """``runc resume``: 409 unless it is paused (as the daemon or runc says)."""
    async with container.lock:
        container._require_live("resume")
        if container.status is not Status.PAUSED and not await runc_reports(container, "paused"):
            raise Conflict(f"container {container.id!r} is not paused")
        await resume_held(container)


def paused(container: Container) -> bool:
    """Whether the container is paused: by the daemon, or with runc by hand while the
    daemon took it for running (its init's freezer is frozen; paused from here on, as runc
    says). A SIGKILL to it must resume it (else it stayed pending, the PATCH answered 200
    and the init lived on). Asked only for a SIGKILL: it may read the freezer."""
    if container.status is Status.PAUSED:
        return True
    if container.status is not Status.RUNNING or container.init is None:
        return False
    if not cgroups.frozen(container.init.pid):
        return False
    container.status = Status.PAUSED
    container.save()
    return True


async def resume_killed(container: Container, allowed: Callable[[], bool]) -> None:
    """Resume the paused container, whose init was sent a SIGKILL, so that it dies: once
    no other command holds it (the one that did when the signal came has ended), if
    ``allowed`` still says so then (no shutdown began meanwhile, say). Nothing if it is not
    paused any more: resumed, stopped or removed meanwhile (the SIGKILL took effect)."""
    async with container.lock:
        if container.deleted or container.status is not Status.PAUSED or not allowed():
            return
        await resume_held(container)


async def runc_reports(container: Container, status: str) -> bool:
    """Whether runc's own state of the container is ``status``. Asked only where runc and
    the daemon disagree: a container paused or resumed with runc by hand is where runc
    says, and a pause or a resume that finds it there already is done, not a fault."""
    try:
        state = await container._ctx.runtime.state(container.id)
    except RuncError:
        return False
    return state is not None and state.get("status") == status


async def resume_held(container: Container, *, announce: bool = True) -> None:
    """Resume the container, its lock held by the caller; ``announce``: publish ``resume``."""
    try:
        await container._runtime_step("resume", container._ctx.runtime.resume(container.id))
    except RuncError:
        if not await runc_reports(container, "running"):  # resumed with runc by hand
            raise
    if container.status is Status.PAUSED:
        container.status = Status.RUNNING
    if container.init is not None:
        # A move left it paused, its input held, and the user (or the move's settling)
        # resumes it here: what was typed meanwhile goes on to it (Moving.take_stdin).
        container.init.let_input_go_on()
    if announce:
        container.publish("resume")
    container.save()


def _dying(pid: int) -> bool:
    """Whether the process is exiting (or gone), or has a SIGKILL pending (its own or its
    thread group's): a frozen one takes it only once thawed."""
    if procfs.exiting(pid):
        return True
    pending = procfs.status_fields(pid, ("SigPnd", "ShdPnd"))
    if pending is None:
        return True
    kill = 1 << (signal.SIGKILL - 1)
    return any(mask is not None and int(mask, 16) & kill for mask in pending)
