"""Terminals, stdin and attach (issue 11): real ptys from runc, real WebSockets."""

from __future__ import annotations

import httpx

from .conftest import BundleFactory, RunningDaemon, start_container
from .wsclient import attach


async def test_smoke(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(["sh"], terminal=True)
    info = await start_container(client, "tty", bundle)
    pid = info["processes"][0]["pid"]
    assert info["processes"][0]["terminal"]
    session = await attach(daemon.url, "tty", pid, query="logs=true")
    await session.type("echo hel''lo\n")
    assert await session.read_until("hello")
    await session.type("exit 5\n")
    assert await session.to_end() == 5, (session.output, session.status)
