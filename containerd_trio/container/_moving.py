"""A container held for a live migration (:meth:`.Container.moving`): the steps the migration
(:mod:`containerd_trio.migration`) takes on it, pre-copy rounds, freeze, dump, thaw, and its end
here once it runs elsewhere.

Apart from :class:`.Container`: only a migration uses it, and what it does is the container's
own commands composed (under the lock the migration holds); it stays in this package, not in
the migration's, because it reaches the container's private steps (its dumps, its runc calls),
which are the package's alone.
"""

from __future__ import annotations

import signal
from functools import partial
from typing import TYPE_CHECKING

import attrs

from .. import criu
from ..checkpoints import CheckpointInfo
from ..criu_progress import CriuProgress
from ..errors import Conflict
from ..model import ContainerInfo, Status, without_console_size
from ..runtime import CriuOptions, MemoryCopy, parent_path
from . import _deletion, _pausing
from ._stdin import take_pipe, take_terminal

if TYPE_CHECKING:
    from ._container import Container


class Moving:
    """A container held for a migration (:meth:`Container.moving`): its lock is taken."""

    def __init__(self, container: Container) -> None:
        self.container = container
        #: Paused by the migration (and so to be resumed if it fails).
        self.frozen = False
        #: A freeze was begun and did not say it was done: runc failed, or was killed at its
        #: deadline, perhaps after the cgroup froze (runc froze it, then could not confirm).
        self.freezing = False

    async def pre_dump(self, name: str, parent: str | None, *, deadline: float | None) -> None:
        """A pre-copy round into ``{bundle}/checkpoints/{name}`` while the container runs,
        within ``deadline`` seconds (None: the daemon's checkpoint deadline)."""
        c = self.container
        assert c.init is not None  # held live (Container.moving)
        await c._dumps.unless_killed(
            partial(
                criu.pre_dump, c._ctx.runtime, c.id, c.bundle, c.dir, name, parent,
                deadline=deadline or c._ctx.checkpoint_timeout,
            ),
            c.init.pid, "migrate", "the migration's pre-copy round",
        )  # fmt: skip

    async def freeze(self) -> None:
        """Pause the container (if it is not paused already): the downtime begins."""
        c = self.container
        if c.status is Status.PAUSED:
            return
        self.freezing = True
        await c._runtime_step("pause", c._ctx.runtime.pause(c.id))
        c.status = Status.PAUSED
        self.frozen, self.freezing = True, False
        c.publish("pause")
        c.save()

    async def thaw(self) -> None:
        """Resume what :meth:`freeze` paused (a migration that failed), and what a freeze that
        failed may have left frozen, if runc says it is paused: else the container stayed
        frozen while its record said running."""
        c = self.container
        try:
            if self.frozen:
                await _pausing.resume_held(c)
            elif self.freezing and await _pausing.runc_reports(c, "paused"):
                # No `pause` was published for it (runc never said it was done): no `resume`
                # either, for a watcher of the events saw the container running all along.
                await _pausing.resume_held(c, announce=False)
        except Conflict:
            # Its init exited under the move (a SIGKILL: the dump ended for it): nothing is
            # left to resume, and nothing is paused; the container is stopped, as its exit
            # says. (Before, the move said it could not resume it, "it stays paused".)
            if not await c._init_gone():
                raise
        finally:
            # The move is over here, resumed or not (a container paused before it, or one
            # runc could not resume, stays paused): what was typed since the hand-off of its
            # input (take_stdin) goes on to it, behind what was put back, in order.
            if c.init is not None:
                c.init.let_input_go_on()
        self.frozen = self.freezing = False

    async def dump(
        self,
        name: str,
        options: CriuOptions,
        parent: str | None,
        *,
        reserved: bool,
        deadline: float | None,
        console_size: bool = True,
    ) -> CheckpointInfo:
        """Checkpoint the frozen container into ``{bundle}/checkpoints/{name}`` within
        ``deadline`` seconds (None: the daemon's checkpoint deadline); it stays frozen (CRIU
        leaves it as it found it). ``console_size`` False: the start's process it keeps
        leaves out its terminal's size, for a target older than the field, which would not
        read the file (the restore takes the terminal's size from the images anyway)."""
        c = self.container
        memory = None if parent is None else MemoryCopy(parent=parent_path(parent))
        kept = c.kept_process()
        if not console_size:
            kept = attrs.evolve(kept, process=without_console_size(kept.process))
        progress = CriuProgress(c._ctx.events, c.id, name, c.labels)
        assert c.init is not None  # held live (Container.moving)
        info = await c._dumps.unless_killed(
            partial(
                criu.dump, c._ctx.runtime, c.id, c.bundle, c.dir, name, options, exit=False,
                was_paused=True, cleanup_timeout=c._ctx.cleanup_timeout, gone=c._init_gone,
                reserved=reserved, memory=memory,
                deadline=deadline or c._ctx.checkpoint_timeout, resources=c.resources,
                process=kept, progress=progress,
            ),
            c.init.pid, "migrate", "the migration's checkpoint", progress,
        )  # fmt: skip
        c.publish("checkpoint")
        return info

    def take_stdin(self) -> bytes:
        """What the frozen container has not read of its input, taken out of it (to be
        written into its restored copy's first): of its stdin pipe (:func:`take_pipe`), or of
        its terminal's input queue (:func:`take_terminal`), read through a new fd on it, opened
        from the init's own fd 0, without blocking. CRIU carries neither: the pipe stays with
        the copy here, and the restore has a new terminal. Nothing for an init without input.
        From here on, what a client types here is held (a write waits, as for a full pipe):
        it goes on behind what was taken if the move fails (:meth:`thaw`), and is told not
        taken if the move is done (:meth:`end`), where in the pipe or the terminal it was lost
        with the copy, untold. What a type-ahead or a put-back under way has yet to write
        (:meth:`.Process.take_ahead`: the process has not read enough for it to go in) comes
        after that, and is taken with it."""
        init = self.container.init
        if init is None:
            return b""
        if init.terminal:
            init.hold_input()
            return take_terminal(init.pid) + init.take_ahead()
        if not self.container.stdin:
            return b""
        init.hold_input()
        return take_pipe(init.pid) + init.take_ahead()

    async def give_back_stdin(self, data: bytes) -> None:
        """Put ``data`` (:meth:`take_stdin`) back into the stdin pipe or terminal, ahead of
        what is held (the move failed, or its target takes no input); the hold stays until
        the move's end here (:meth:`thaw`, :meth:`end`), and past a thaw until all of it is
        written. Not waited for: the container is frozen, and what one write does not put
        in (a terminal took more of it piecemeal, as typed) goes in only as it reads, once
        resumed (:meth:`.Process.put_back_input_soon`)."""
        c = self.container
        init = c.init
        if not data or init is None:
            return
        if c._nursery is None:  # no task tree (not live): as before, waited for
            await init.put_back_input(data)
            return
        init.put_back_input_soon(data, c._nursery)

    async def end(self, to: str | None = None) -> ContainerInfo:
        """The container runs elsewhere now (at ``to``, the target's address, if known): kill
        it where it is frozen and forget it. runc kill --all freezes, kills and thaws: the
        processes die without running another instruction here (a SIGKILL to one frozen
        process would wait for a thaw). Its init's exit, and its waits, say where it went."""
        c = self.container
        _deletion.begin_delete(c)
        c.moved_away, c.moved_to = True, to
        if c.init is not None:
            # Nothing written here reaches the container any more: the writes held since the
            # hand-off of its input (:meth:`take_stdin`) are told so, with the move (their
            # attach sessions say how much was not taken, and where the container went).
            c.init.close_input()
        await c._ctx.runtime.kill(c.id, signal.SIGKILL, all_processes=True)
        return await _deletion.remove(c)
