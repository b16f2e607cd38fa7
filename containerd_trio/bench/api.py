"""The few requests the bench makes to the daemon, on the client's Trio transport.

The requests are the client's own (:mod:`containerd_trio.client.routes`), sent on a pool of
keep-alive connections; only the answers the bench expects pass, anything else is a
BenchError that names the request and the daemon's error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import trio

from ..client import routes
from ..client.errors import ClientError
from ..client.protocol import Answer, Request
from ..client.trio_transport import TrioTransport
from .errors import BenchError
from .probes import DaemonFigures, parse_figures

#: Bound of any one request: a hung one fails the bench, it never hangs it.
CALL_TIMEOUT = 300.0


class DaemonApi:
    def __init__(self, address: str) -> None:
        self.address = address
        # No retries: a daemon that refuses the bench is an error to report, not to wait out.
        self.transport = TrioTransport(address, retry_for=0)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def _call(self, request: Request, expect: Sequence[int]) -> Answer:
        what = f"{request.method} {request.target}"
        try:
            with trio.fail_after(CALL_TIMEOUT):
                answer = await self.transport.call(request)
        except trio.TooSlowError:
            raise BenchError(f"{what}: no answer within {CALL_TIMEOUT:g}s") from None
        except ClientError as exc:
            raise BenchError(f"{what}: {exc}") from None
        if answer.status not in expect:
            raise BenchError(f"{what}: {answer.status} {answer.error().message}")
        return answer

    async def check(self) -> None:
        """Fail early, and clearly, when nothing answers at the address."""
        try:
            await self.transport.call(routes.state())
        except ClientError as exc:
            raise BenchError(f"no daemon answers at {self.address}: {exc}") from None

    async def state(self) -> bytes:
        """GET /state: the answer's body."""
        return (await self._call(routes.state(), (200,))).body

    async def start(
        self,
        container_id: str,
        bundle: Path,
        checkpoint: str | None = None,
        *,
        auto_remove: bool = False,
    ) -> int:
        """POST /containers/{id}; the init's pid."""
        request = routes.start(
            container_id, str(bundle), checkpoint=checkpoint, auto_remove=auto_remove
        )
        answer = await self._call(request, (201,))
        pid: int = json.loads(answer.body)["processes"][0]["pid"]
        return pid

    async def delete(self, container_id: str) -> None:
        """DELETE /containers/{id}?timeout=0; a container already gone (or going: a retried
        request's first try) is fine."""
        await self._call(routes.delete(container_id, timeout=0), (200, 404, 409))

    async def checkpoint(self, container_id: str, name: str) -> None:
        await self._call(routes.create_checkpoint(container_id, name, exit=True), (201,))

    async def delete_checkpoint(self, container_id: str, name: str, bundle: Path) -> None:
        request = routes.delete_checkpoint(container_id, name, bundle_path=str(bundle))
        await self._call(request, (200, 404))

    async def wait_exit(
        self, container_id: str, pid: int | None = None, *, condition: str | None = None
    ) -> int:
        """The exit status of ``pid``: POST /containers/{id}/process/{pid}/wait (docker wait's
        route), answered once it exited, or at once if it had; with ``condition="removed"``, the
        init's once the container is removed (autoRemove): POST
        /containers/{id}/wait?condition=removed, as docker run --rm waits."""
        answer = await self._call(routes.wait(container_id, pid, condition=condition), (200,))
        status: int = json.loads(answer.body)["exitStatus"]
        return status

    async def figures(self) -> DaemonFigures:
        """The daemon's CPU seconds and RSS, from GET /metrics (None where it does not say)."""
        try:
            answer = await self._call(routes.metrics(), (200,))
        except BenchError:
            return DaemonFigures(None, {})
        return parse_figures(answer.body.decode(errors="replace"))
