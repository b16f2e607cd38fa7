"""A plain WebSocket client for the tests, on Trio and wsproto: the attach protocol as any
client sees it (the handshake, binary messages with a channel byte, the close)."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension

from containerd_trio import channels


class Rejected(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body


class Attached:
    """One attached client: output by channel as it came, the status, the close code."""

    def __init__(
        self,
        stream: trio.SocketStream,
        ws: WSConnection,
        subprotocol: str | None,
        extensions: list[Extension] | None = None,
    ):
        self.stream = stream
        self.ws = ws
        self.subprotocol = subprotocol
        #: The extensions the server agreed to.
        self.extensions = extensions or []
        self.output = bytearray()
        self.stderr = bytearray()
        #: The output messages (channels 1 and 2) as they came, channel byte and all.
        self.messages: list[bytes] = []
        self.status: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        # What came with the handshake's answer waits in wsproto until asked for.
        self._events: list[Event] = list(ws.events())
        self._pending = b""
        #: How much of the stream one read takes, and a pause after each: a slow reader.
        self.read_size = 65536
        self.pause = 0.0

    async def send(self, channel: int, data: bytes = b"") -> None:
        await self.stream.send_all(self.ws.send(BytesMessage(data=channels.frame(channel, data))))

    async def type(self, text: str) -> None:
        await self.send(channels.STDIN, text.encode())

    async def resize(self, columns: int, rows: int) -> None:
        await self.stream.send_all(
            self.ws.send(BytesMessage(data=channels.resize_frame(columns, rows)))
        )

    async def close_stdin(self) -> None:
        await self.stream.send_all(self.ws.send(BytesMessage(data=channels.close_stdin_frame())))

    async def _next(self) -> Event | None:
        while not self._events:
            try:
                data = await self.stream.receive_some(self.read_size)
            except trio.BrokenResourceError:  # reset: the server died
                return None
            if not data:
                return None
            if self.pause:
                await trio.sleep(self.pause)
            self.ws.receive_data(data)
            self._events.extend(self.ws.events())
        return self._events.pop(0)

    async def read_until(self, text: str | bytes | None = None) -> bool:
        """Read messages until ``text`` (its UTF-8, or these bytes) is in the output (True), or
        the end (False)."""
        wanted = text.encode() if isinstance(text, str) else text
        while wanted is None or wanted not in self.output:
            event = await self._next()
            if event is None:
                return False
            if isinstance(event, BytesMessage):
                self._pending += event.data
                if not event.message_finished:
                    continue
                message, self._pending = self._pending, b""
                channel, data = message[0], message[1:]
                if channel in (channels.STDOUT, channels.STDERR):
                    self.messages.append(message)
                    if self.subprotocol == channels.CURSORED:
                        _, data = channels.split_cursor(data)
                if channel == channels.STDOUT:
                    self.output += data
                elif channel == channels.STDERR:
                    self.stderr += data
                elif channel == channels.ERROR:
                    self.status = json.loads(data)
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = event.code, event.reason or ""
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.stream.send_all(self.ws.send(event.response()))
                return False
            elif isinstance(event, TextMessage):
                continue
        return True

    async def to_end(self) -> int:
        """Read to the close; the exit status the status message names."""
        await self.read_until(None)
        return channels.exit_status_of(self.status)

    async def detach(self) -> None:
        """Go away as a client that detaches does: a normal close."""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(self.ws.send(CloseConnection(code=1000)))
        await self.stream.aclose()

    async def drop(self) -> None:
        """Go away without a word (the connection just closes)."""
        await self.stream.aclose()


async def attach(
    url: str,
    container_id: str,
    pid: int,
    *,
    query: str = "",
    subprotocols: tuple[str, ...] = ("v4.channel.k8s.io",),
    headers: list[tuple[str, str]] | None = None,
    unix: str | None = None,
    extensions: list[Extension] | None = None,
) -> Attached:
    """Open ``/containers/ID/process/PID/attach`` on the daemon at ``url`` (or the unix socket
    ``unix``); raises :class:`Rejected` for an HTTP answer instead of the WebSocket."""
    target = f"/containers/{container_id}/process/{pid}/attach" + (f"?{query}" if query else "")
    if unix is not None:
        stream: trio.SocketStream = await trio.open_unix_socket(unix)
        host = "localhost"
    else:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        host = f"{parts.hostname}:{parts.port}"
    ws = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=host,
        target=target,
        subprotocols=list(subprotocols),
        extensions=list(extensions or []),
        extra_headers=[(k.encode(), v.encode()) for k, v in headers or []],
    )
    await stream.send_all(ws.send(request))
    body = b""
    status = 0
    while True:
        data = await stream.receive_some(65536)
        if not data:
            raise Rejected(status, body)
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return Attached(stream, ws, event.subprotocol, event.extensions)
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    await stream.aclose()
                    raise Rejected(status, b"")
            elif isinstance(event, RejectData):
                body += event.data
                if event.body_finished:
                    await stream.aclose()
                    raise Rejected(status, body)
