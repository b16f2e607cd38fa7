"""Run a call with a companion task beside it, for as long as the call lasts.

A dump reports its progress while it runs (:mod:`.criu_progress`), and a migration's source
keeps its session on the target alive while it dumps (:mod:`.migration.outgoing`): each is a
call and a task that must end with it, whatever the call's outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import outcome
import trio

T = TypeVar("T")


async def beside(
    call: Callable[[], Awaitable[T]], companion: Callable[[], Awaitable[object]]
) -> outcome.Outcome[T]:
    """``call``'s outcome, with ``companion`` running beside it until it ends (cancelled
    then, if it has not returned). The outcome is captured inside the nursery so that a
    failure of the call stays as it is (no exception group around it)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(companion)
        result = await outcome.acapture(call)
        nursery.cancel_scope.cancel()
    return result
