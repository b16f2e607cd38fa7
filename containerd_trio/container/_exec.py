"""A process exec'd into a running container (``runc exec``, through the keeper): what it runs
(the container's process with the request's fields laid over it), its start, undone if runc
fails, and its watch.

Apart from :class:`.Container`: an exec's course is its own; it stays in this package, as
:mod:`._moving` does, because it takes the container's lock and adds to its private state (its
processes, its task tree), which is the package's alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from .. import procfs, timestamps
from ..bundle import exec_base
from ..errors import Conflict
from ..model import ProcessInfo, ProcessSpec
from ..private_bundle import process_over
from ..runtime import RuncError
from ..validation import check_exec_strings
from ._documents import exec_document
from ._starting import kill_from_pid_file
from ._stdin import close_stdin_pipe, with_stdin
from ._watching import watch

if TYPE_CHECKING:
    from ._container import Container


async def exec_process(container: Container, spec: ProcessSpec) -> ProcessInfo:
    """``runc exec`` of ``spec`` in the running container; its watch begins at once."""
    async with container.lock:
        container._require_running("exec into")
        # The bundle's process is the base (its user, env, capabilities): one that cannot
        # be read now is a 400, never an exec as root with nothing of it. With the start's
        # laid over it: docker's exec runs with the container's env, user and workdir,
        # docker run's -e, -u and -w among them.
        base = exec_base(container.bundle)
        if container.start_process is not None:
            base = process_over(base, container.start_process)
        document = exec_document(base, spec)
        check_exec_strings(document)  # else a 201, and the process "exits 1" with E2BIG
        key = container._ctx.new_key(container.id, "exec")
        pid_file = container._ctx.pid_dir / f"{container.id}.{key.rpartition('/')[2]}.pid"
        custody = container._custody(key, terminal=spec.terminal, stdin=spec.stdin)
        # A restored init runs in the time namespace CRIU made for it, which runc exec does
        # not join: the exec joins it (nsenter), so it sees the container's clocks, and what
        # it leaves running can be dumped and restored with the init's tree (CRIU cannot
        # restore a tree in two). None for a container never restored: runc as ever.
        init = container.init
        time_namespace = None if init is None else procfs.open_foreign_time_namespace(init.pid)
        # Before runc is asked: its output is stamped from then on, never before.
        asked_ns = timestamps.now_ns()
        try:
            started = await container._ctx.runtime.exec(
                container.id, document, pid_file, custody, time_namespace=time_namespace
            )
        except BaseException as exc:
            close_stdin_pipe(custody, ours=True)
            container._ctx.keeper.drop(key)
            with trio.move_on_after(container._ctx.cleanup_timeout, shield=True):
                await kill_from_pid_file(pid_file)
            if isinstance(exc, RuncError) and (refused := exc.refused_process(container.id)):
                raise refused from None
            if isinstance(exc, RuncError) and await container._init_gone():
                raise Conflict(
                    f"container {container.id!r} stopped before the process could start"
                ) from None
            raise
        finally:
            if time_namespace is not None:
                os.close(time_namespace)
        close_stdin_pipe(custody, ours=False)
        started = with_stdin(started, custody)
        process = container._new_process(key, started, document, stdin=spec.stdin)
        process.since_ns = asked_ns
        container.publish("start-process", pid=process.pid)
        if container._nursery is not None:  # else the tree watches it as it starts
            container._nursery.start_soon(watch, container, process)
        container.save()
        return process.info
