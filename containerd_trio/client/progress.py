"""The progress line of ``ctr-trio checkpoint`` and of a restore (``start --checkpoint``).

A checkpoint of a large container takes minutes. While its request runs, the command follows
the container's ``checkpoint-*`` (or ``restore-*``) events on a second connection and redraws
one line on stderr: started, the bytes written so far, then the size, the time and how long the
container was frozen. Only for a person at a terminal: with ``--json``, or when stderr is not a
terminal, the request is made alone, as every other command makes its own.

The two connections run side by side on Trio (the blocking client makes one request at a time);
Trio is imported only here, so no other command pays for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import routes
from .errors import ClientError
from .output import Output, size
from .protocol import RETRY_FOR, Request, Tls, connection_lost, decode_json

if TYPE_CHECKING:
    from .http import Client

CLEAR_LINE = "\r\x1b[K"
#: How long the line waits, once the request has its answer, for its last stage's event.
LAST_STAGE_GRACE = 1.0


def call_following(
    client: Client,
    request: Request,
    *,
    container_id: str,
    kind: str,
    deadline: float,
    out: Output,
    tls: Tls,
    retry_for: float | None,
) -> Any:
    """Make ``request`` (a checkpoint, or a restore: ``kind`` says which) and return its JSON,
    with a progress line on a terminal's stderr while it runs; raise as :meth:`Client.call`."""
    if out.as_json or not out.stderr.isatty():
        return client.call(request, timeout=deadline)
    import trio

    from .trio_transport import TrioTransport

    transport = TrioTransport(
        client.address,
        retry_for=RETRY_FOR if retry_for is None else retry_for,
        on_retry=out.retrying,
        tls=tls,
    )
    line = ProgressLine(out, container_id, kind)

    async def run() -> Any:
        import outcome

        events = routes.events(container_id=container_id, types=line.types)
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    # The daemon subscribes before it answers the stream's head: every event
                    # of the request sent next reaches us.
                    lines = await stack.enter_async_context(transport.lines(events))
                except ClientError:
                    lines = None  # a daemon without these events: no line, the rest works
                async with trio.open_nursery() as nursery:
                    if lines is not None:
                        nursery.start_soon(line.follow, lines, client.address)
                    with trio.move_on_after(deadline) as scope:
                        answer = await outcome.acapture(transport.call, request)
                    # The daemon publishes the last stage before it answers, but on the other
                    # connection: it may come a moment after the answer (of a request that
                    # was carried out: a refused one has no stages to wait for).
                    carried_out = isinstance(answer, outcome.Value) and answer.value.ok
                    if lines is not None and carried_out:
                        with trio.move_on_after(LAST_STAGE_GRACE):
                            await line.ended.wait()
                    nursery.cancel_scope.cancel()
        finally:
            await transport.aclose()
            line.end()
        if scope.cancelled_caught:
            raise connection_lost(client.address, TimeoutError())
        result = answer.unwrap()
        if not result.ok:
            raise result.error()
        return result.json(client.address)

    return trio.run(run)


class ProgressLine:
    """One line on stderr, redrawn at each event of the checkpoint (or restore)."""

    def __init__(self, out: Output, container_id: str, kind: str) -> None:
        self.out = out
        self.container_id = container_id
        self.kind = kind
        stages = (
            ("started", "progress", "done", "failed")
            if kind == "checkpoint"
            else ("started", "done", "failed")
        )  # a restore has nothing to measure while it runs
        self.types = [f"{kind}-{stage}" for stage in stages]
        self._drawn = False
        import trio  # only the progress line's commands pay for it

        #: Its done or failed stage was shown, or none will come.
        self.ended = trio.Event()

    async def follow(self, lines: AsyncIterator[bytes], address: str) -> None:
        try:
            async for raw in lines:
                self.show(decode_json(raw, address))
        except ClientError:
            pass  # the line is a courtesy: the request's own answer says how it went
        finally:
            self.ended.set()  # no more stages will come

    def show(self, event: dict[str, Any]) -> None:
        stage = str(event.get("type", "")).rpartition("-")[2]
        text = describe(self.kind, self.container_id, stage, event)
        self.out.stderr.write(CLEAR_LINE + text + ("\n" if stage in ("done", "failed") else ""))
        self.out.stderr.flush()
        self._drawn = stage not in ("done", "failed")
        if not self._drawn:
            self.ended.set()

    def end(self) -> None:
        """Leave the line as it is, on a line of its own (the request ended before its end)."""
        if self._drawn:
            self.out.stderr.write("\n")
            self._drawn = False


def describe(kind: str, container_id: str, stage: str, event: dict[str, Any]) -> str:
    """``checkpointing web as c1: 1.2 GiB written, 4 s``, and so on for each stage."""
    name = event.get("checkpoint", "?")
    seconds = float(event.get("seconds", 0))
    if kind == "checkpoint":
        what = f"checkpoint {name} of {container_id}"
        if stage == "started":
            return f"{what}: started (deadline {float(event.get('timeout', 0)):g} s)"
        if stage == "progress":
            return f"{what}: {size(event.get('bytes', 0))} written, {seconds:.0f} s"
        if stage == "done":
            frozen = event.get("frozenSeconds")
            stopped = f", frozen {frozen:.2f} s" if frozen is not None else ""
            return f"{what}: {size(event.get('bytes', 0))} in {seconds:.1f} s{stopped}"
    else:
        what = f"restore of {container_id} from {name}"
        if stage == "started":
            return (
                f"{what}: reading {size(event.get('bytes', 0))}"
                f" (deadline {float(event.get('timeout', 0)):g} s)"
            )
        if stage == "done":
            return f"{what}: done in {seconds:.1f} s"
    if stage == "failed":
        return f"{what}: failed after {seconds:.1f} s"
    return f"{what}: {stage}"
