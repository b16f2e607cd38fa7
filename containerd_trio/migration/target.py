"""The source daemon's client of the target daemon: the session routes, over the client's own
Trio transport (the one the benchmark uses), with the target's failures as 502s."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import trio

from ..client import routes
from ..client.errors import ApiError, ClientError, DaemonUnreachable
from ..client.protocol import Answer, Request
from ..client.trio_transport import TrioTransport
from ..convert import structure, unstructure
from ..errors import BadGateway
from ..model import ContainerInfo, RestartPolicy, StartProcess, without_console_size
from ..validation import is_id

#: How long a request to the target is tried again while it refuses connections or answers
#: 503 (it restarts): short, the container waits frozen meanwhile.
RETRY_FOR = 3.0


class TargetError(BadGateway):
    """The target answered with an error (``status``), or could not be reached (None).
    ``unanswered``: the request may have reached it all the same, and been acted on (no
    answer within the deadline, or the connection broke once the request was sent)."""

    def __init__(self, message: str, status: int | None, *, unanswered: bool = False) -> None:
        super().__init__(message)
        self.target_status = status
        self.unanswered = unanswered


class Target:
    """The target daemon at ``address`` (``HOST:PORT``, ``unix:PATH`` or a URL). Each request
    has ``answer_within`` seconds for its answer, a restore ``restore_within``, an archive's
    upload as long as it makes progress: a target that stops answering without closing the
    connection (a network that failed) must not hold the container frozen for good."""

    def __init__(self, address: str, *, answer_within: float, restore_within: float) -> None:
        self.address = address
        self.answer_within = answer_within
        self.restore_within = restore_within
        self._transport = TrioTransport(address, retry_for=RETRY_FOR)
        #: False once the target refused ``consoleSize`` in the offer's process (older than
        #: the field): the checkpoint it restores from must not carry it either (its
        #: ``process.json``, which such a target cannot read: :meth:`open`).
        self.takes_console_size = True

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _call(self, request: Request, what: str, within: float | None = None) -> Any:
        within = self.answer_within if within is None else within
        with trio.move_on_after(within):
            try:
                answer = await self._transport.call(request)
            except ClientError as exc:
                raise self._failure(exc, what) from None
            return self._json(answer, what)
        raise TargetError(
            f"the target {self.address} did not {what} within {within:g} s", None, unanswered=True
        )

    def _json(self, answer: Answer, what: str) -> Any:
        try:
            if not answer.ok:
                raise answer.error()
            return answer.json(self.address)
        except ClientError as exc:
            raise self._failure(exc, what) from None

    def _failure(self, exc: ClientError, what: str) -> TargetError:
        if isinstance(exc, ApiError):
            return TargetError(
                f"the target {self.address} refused to {what}: {exc.message} ({exc.status})",
                exc.status,
            )
        lost = isinstance(exc, DaemonUnreachable) and exc.lost
        return TargetError(
            f"the target {self.address} could not {what}: {exc}", None, unanswered=lost
        )

    async def open(
        self,
        container_id: str,
        bundle_path: str,
        checkpoint: str,
        *,
        with_bundle: bool,
        labels: Mapping[str, str],
        auto_remove: bool,
        process: StartProcess | None = None,
        restart_policy: RestartPolicy | None = None,
        restart_count: int = 0,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """Open a session for the container. ``created_at``: its createdAt, which it keeps
        there; ``process``'s consoleSize: the size its terminal had at its start, which a
        start again there (or a restart by its policy) gives it again (the restore itself
        takes the terminal's size from the images, as the container had it at the dump). A
        target older than either field refuses the one it does not know (400, as it refuses
        any: ``unknown field 'createdAt'``, ``unknown field 'consoleSize' in process``), and
        is offered the rest again, without the fields it named: the container gets a
        createdAt of its own there, as it did before, and its record there keeps the start's
        process without the size (a start again there runs at the bundle's size). (The other
        fields are sent only when they are not the default, which any target takes;
        createdAt a container always has.) A target that refused consoleSize has
        :attr:`takes_console_size` False."""

        def offer(created_at: str | None, process: StartProcess | None) -> Request:
            return routes.open_migration(
                container_id, bundle_path, checkpoint, with_bundle=with_bundle, labels=labels,
                auto_remove=auto_remove, process=None if process is None else unstructure(process),
                restart_policy=None if restart_policy is None else unstructure(restart_policy),
                restart_count=restart_count, created_at=created_at,
            )  # fmt: skip

        while True:
            try:
                session = await self._call(offer(created_at, process), "open a migration session")
                break
            except TargetError as exc:
                if exc.target_status != 400:
                    raise
                refused = str(exc)
                dropped = False
                if created_at is not None and "'createdAt'" in refused:
                    created_at, dropped = None, True
                if (
                    process is not None
                    and process.console_size is not None
                    and ("'consoleSize' in process" in refused)
                ):
                    process, dropped = without_console_size(process), True
                    self.takes_console_size = False
                if not dropped:  # another field, or one offered again already: the move's
                    raise
        # The address is the client's: what answers there may be anything, which must be
        # neither a 500 here nor a path segment of the requests that follow.
        migration = session.get("id") if isinstance(session, dict) else None
        if not is_id(migration):
            raise TargetError(
                f"the target {self.address} opened no migration session this daemon can use"
                " (its answer has no valid session id): is it a containerd-trio daemon?", None,
            )  # fmt: skip
        opened: dict[str, Any] = session
        return opened

    async def send_archive(self, migration: str, media: str, pieces: AsyncIterator[bytes]) -> int:
        """Stream an archive into the session; the bytes that went out. Its size sets its
        time, so its deadline is one of progress: ``answer_within`` for each piece to go
        out, and for the answer once the last has."""
        sent = 0
        progress = trio.CancelScope(deadline=trio.current_time() + self.answer_within)

        async def counted() -> AsyncGenerator[bytes, None]:
            nonlocal sent
            async for piece in pieces:
                sent += len(piece)
                yield piece  # back here once it went out
                progress.deadline = trio.current_time() + self.answer_within
            progress.deadline = trio.current_time() + self.answer_within

        with progress:
            try:
                async with contextlib.aclosing(counted()) as body:
                    answer = await self._transport.upload(
                        routes.migration_archive(migration), media, body
                    )
            except ClientError as exc:
                raise self._failure(exc, "take the archive") from None
            self._json(answer, "take the archive")
            return sent
        raise TargetError(
            f"the target {self.address} did not take the archive: no progress within"
            f" {self.answer_within:g} s", None,
        )  # fmt: skip

    async def touch(self, migration: str, within: float) -> bool:
        """Tell the target that this daemon still drives the session (it aborts a session
        idle too long): True once it took the word, False if it does not know the session (it
        ended) or the request (a target older than it answers 404 or 405)."""
        try:
            await self._call(routes.touch_migration(migration), "take word of the session", within)
        except TargetError as exc:
            if exc.target_status not in (404, 405):
                raise
            return False
        return True

    async def restore(self, migration: str) -> dict[str, Any]:
        container: dict[str, Any] = await self._call(
            routes.restore_migration(migration), "restore the container", self.restore_within
        )
        return container

    async def send_stdin(self, migration: str, data: bytes) -> bool:
        """Hand on the input the copy here had not read; False if the target knows no such
        route (older than it: 404 or 405, a session gone says so at the finish)."""
        try:
            await self._call(routes.migration_stdin(migration, data), "take the stdin")
        except TargetError as exc:
            if exc.target_status not in (404, 405):
                raise
            return False
        return True

    async def finish(self, migration: str) -> None:
        await self._call(routes.finish_migration(migration), "finish the migration")

    async def abort(self, migration: str) -> bool:
        """Ask the target to remove all the session made: True once it has, False if it no
        longer had the session (it finished, it aborted itself idle, or its server restarted:
        see :meth:`container` for what it may then hold)."""
        try:
            await self._call(routes.abort_migration(migration), "abort the migration")
        except TargetError as exc:
            if exc.target_status != 404:
                raise
            return False
        return True

    async def container(self, container_id: str) -> ContainerInfo | None:
        """The target's container of this id, as it lists it (None: it has none)."""
        try:
            answer = await self._call(routes.container(container_id), "list the container")
        except TargetError as exc:
            if exc.target_status != 404:
                raise
            return None
        try:
            container: ContainerInfo = structure(answer, ContainerInfo)
        except Exception as exc:
            raise TargetError(
                f"the target {self.address} listed container {container_id!r} in a form this"
                f" daemon does not read: {exc}", None,
            ) from None  # fmt: skip
        return container
