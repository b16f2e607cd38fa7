"""Moving a running container between two daemons (issue 12), each a real process tree with its
own state dir and socket, with real runc and CRIU: ``POST /containers/{id}/migrate``."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
import signal
import stat
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import trio

from containerd_trio import checkpoints, removals, supervisor
from containerd_trio.convert import unstructure
from containerd_trio.errors import InvalidRequest, NotFound
from containerd_trio.keeperlink import KeeperLink
from containerd_trio.listen import Listen
from containerd_trio.migration import incoming
from containerd_trio.migration.target import Target, TargetError
from containerd_trio.model import ConsoleSize, RestartPolicy, StartProcess

from . import wsclient
from .helpers import (
    COUNTER,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    HeldCriu,
    cgroup_dir,
    event_types,
    next_event,
    now,
    own_cgroup,
    run_status,
    runc_deletes,
    runc_ids,
    runc_state,
    start_container,
    unix_client,
    wait_catching,
    wait_exit,
    wait_output,
)
from .test_cli import run_cli
from .test_interactive import CTR_PIPED, _environment, read_until
from .test_restart_policy import UNTIL_USR1, _next_start
from .test_restore_net import TCP_PAIR, log_bytes, numbers

pytestmark = [pytest.mark.deadline(120), pytest.mark.usefixtures("plain_parent")]


async def together(
    source: Awaitable[DaemonProcess], target: Awaitable[DaemonProcess]
) -> tuple[DaemonProcess, DaemonProcess]:
    """Two daemons' starts (``spawn_daemon``'s), side by side: each takes half a second (a
    keeper and a server come up, each a new Python), which one after the other added up."""
    started: dict[str, DaemonProcess] = {}

    async def start(name: str, daemon: Awaitable[DaemonProcess]) -> None:
        started[name] = await daemon

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start, "source", source)
        nursery.start_soon(start, "target", target)
    return started["source"], started["target"]


async def two_daemons(
    spawn_daemon: Any, tmp_path: Path, *source_args: str
) -> tuple[DaemonProcess, DaemonProcess]:
    return await together(
        spawn_daemon(*source_args, state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"),
        spawn_daemon(state_dir=tmp_path / "state-b", socket=tmp_path / "b.sock"),
    )


class Side(Protocol):
    """What a move's test reads of either of its daemons, spawned (:class:`DaemonProcess`) or
    in this process (:class:`InProcess`)."""

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def socket(self) -> Path: ...

    @property
    def state_dir(self) -> Path: ...


@dataclasses.dataclass(frozen=True)
class InProcess:
    """A daemon of a move in this process (``start_daemon``'s), on a unix socket as a spawned
    one's. For the tests that kill or restart neither daemon: a spawned daemon costs about
    0.75 s of CPU to come up (a new Python importing the server's stack, a keeper and a
    logger), against 0.25 s here, and this file spawned two a test."""

    client: httpx.AsyncClient
    socket: Path
    state_dir: Path


async def two_in_process(
    start_daemon: Any, tmp_path: Path, **source_config: Any
) -> tuple[InProcess, InProcess]:
    """Both daemons of a move in this process; ``source_config`` sets the source's
    :class:`~containerd_trio.config.DaemonConfig` (as a spawned one's options would)."""
    source = await in_process(start_daemon, tmp_path, "a", **source_config)
    return source, await in_process(start_daemon, tmp_path, "b")


async def in_process(start_daemon: Any, tmp_path: Path, name: str, **config: Any) -> InProcess:
    socket = tmp_path / f"{name}.sock"
    daemon = await start_daemon(
        tmp_path / f"state-{name}", listen=Listen(unix_path=socket), **config
    )
    return InProcess(daemon.client, socket, daemon.config.state_dir)


async def spawned_source(
    spawn_daemon: Any, start_daemon: Any, tmp_path: Path, *source_args: str
) -> tuple[DaemonProcess, InProcess]:
    """The source spawned (its test kills or reads the log of its server), the target in this
    process."""
    source = await spawn_daemon(
        *source_args, state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"
    )
    return source, await in_process(start_daemon, tmp_path, "b")


async def spawned_target(
    spawn_daemon: Any, start_daemon: Any, tmp_path: Path, **source_config: Any
) -> tuple[InProcess, DaemonProcess]:
    """The target spawned (its test kills or reads the log of its server), the source in this
    process; ``source_config`` as :func:`two_in_process`'s."""
    source = await in_process(start_daemon, tmp_path, "a", **source_config)
    target = await spawn_daemon(state_dir=tmp_path / "state-b", socket=tmp_path / "b.sock")
    return source, target


async def migrate(
    client: httpx.AsyncClient, container_id: str, **body: Any
) -> list[dict[str, Any]]:
    """The steps of a migration, to its last."""
    async with client.stream("POST", f"/containers/{container_id}/migrate", json=body) as answer:
        if answer.status_code != 200:
            await answer.aread()
            raise AssertionError(f"{answer.status_code}: {answer.text}")
        return [json.loads(line) async for line in answer.aiter_lines()]


async def counted(client: httpx.AsyncClient, container_id: str) -> list[int]:
    data = (await log_bytes(client, container_id)).decode()
    return [int(line) for line in data.splitlines() if line.strip().isdigit()]


async def counts_on(client: httpx.AsyncClient, container_id: str, *, beyond: int) -> None:
    """The moved counter counts on here: three more numbers, each once and in order, from one
    past ``beyond`` on or later (a fresh start would count from 1)."""
    await wait_output(client, container_id, "\n")
    last_before = max(await counted(client, container_id))
    await wait_output(client, container_id, f"{last_before + 3}\n")
    numbers_here = await counted(client, container_id)
    first = numbers_here[0]
    assert numbers_here == list(range(first, first + len(numbers_here))), numbers_here
    assert first > beyond


class LossyLink:
    """A unix socket between the source and the target that passes each request and answer
    through, but drops the target's answer to the (first) finish (the target acted on it; the
    source never hears), or to the first request that ``drop`` (its method, path and version)
    names; with ``hold_dropped``, the connection of the dropped answer is held open, else
    closed. With ``then_silent``, every later connection is closed at once: the target
    no longer answers (a network that failed), until :attr:`then_silent` is set False. With
    ``hang`` (a request's path and version, ``b"/finish HTTP/1.1"``), the first such request
    is held from its first bytes on, its connection left open, and so is every later one: a
    network that fails without a word (nothing resets the connections). Every later one,
    unless :attr:`later` says otherwise: ``"close"`` closes them at once (the target
    unreachable), ``"pass"`` passes them again (it is back), ``"no-finish"`` passes them but
    closes one that asks for a finish (the target cannot say whether it keeps the container);
    the request held stays held. With ``cut`` (a request's path and version), the first such
    request is passed on only as far as its first bytes, and then both its connections are
    closed: the target dies, or the network fails, midway through it. With ``refuse`` (a
    request's path and version), the first such request is answered 500 by the link itself,
    never passed on: the target answers it cannot take it now."""

    def __init__(
        self,
        path: Path,
        target: Path,
        *,
        then_silent: bool = False,
        hang: bytes | None = None,
        drop: bytes = b"/finish HTTP/1.1",
        hold_dropped: bool = False,
        cut: bytes | None = None,
        hang_until_released: bool = False,
        refuse: bytes | None = None,
    ) -> None:
        self.path = path
        self._target = target
        self.then_silent = then_silent
        self._hang = hang
        #: With ``hang_until_released``: once set, the held request goes on (set
        #: :attr:`later` first), or, with :attr:`cut_held`, both its connections are closed
        #: (the target never had it), or, with :attr:`refuse_held`, the link answers it 500
        #: (the target never had it; a source does not send it again); without, it is held
        #: for good.
        self.released: trio.Event | None = trio.Event() if hang_until_released else None
        self.cut_held = False
        self.refuse_held = False
        self._cut = cut
        #: Set once a request was cut (``cut``).
        self.cut = False
        self._refuse = refuse
        #: Set once a request was answered 500 by the link (``refuse``).
        self.refused = False
        self._drop = drop
        self._hold_dropped = hold_dropped
        #: Set once the target's answer to a finish was dropped (its status line).
        self.dropped: bytes | None = None
        self.dropping = trio.Event()  # the same, to wait for
        #: Set once the finish was held (``hang``).
        self.held = False
        self.holding = trio.Event()  # the same, to wait for
        #: What becomes of the connections that come after the held request.
        self.later = "hold"

    async def serve(self, *, task_status: trio.TaskStatus[None]) -> None:
        listening = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        await listening.bind(str(self.path))
        listening.listen(16)
        task_status.started()
        await trio.serve_listeners(self._pass, [trio.SocketListener(listening)])

    async def _pass(self, client: trio.SocketStream) -> None:
        async with client:
            if self.dropped is not None and self.then_silent:
                return
            if self.held and self.later == "close":
                return
            if self.held and self.later == "hold":
                await trio.sleep_forever()
            async with await trio.open_unix_socket(str(self._target)) as target:
                finishing = False

                async def up() -> None:
                    nonlocal finishing
                    while data := await client.receive_some():
                        if self._refuse is not None and self._refuse in data and not self.refused:
                            self.refused = True
                            await _refused(client)
                            nursery.cancel_scope.cancel()
                            return
                        if self.held and self.later == "no-finish" and b"/finish " in data:
                            nursery.cancel_scope.cancel()
                            return
                        # (a finish passed again after a held request, or after the one
                        # whose answer was dropped, is answered)
                        finishing = finishing or (
                            self._drop in data and not self.held and self.dropped is None
                        )
                        if self._cut is not None and self._cut in data and not self.cut:
                            self.cut = True
                            await target.send_all(data)
                            nursery.cancel_scope.cancel()
                            return
                        if self._hang is not None and self._hang in data and not self.held:
                            self.held = True
                            self.holding.set()
                            if self.released is None:
                                await trio.sleep_forever()
                            else:
                                await self.released.wait()
                            if self.cut_held:
                                nursery.cancel_scope.cancel()
                                return
                            if self.refuse_held:
                                await _refused(client)
                                nursery.cancel_scope.cancel()
                                return
                        await target.send_all(data)

                async def down() -> None:
                    while data := await target.receive_some():
                        if finishing:
                            self.dropped = data.split(b"\r\n", 1)[0]
                            self.dropping.set()
                            if self._hold_dropped:
                                await trio.sleep_forever()
                            break
                        await client.send_all(data)
                    if self.held and self.later == "hold":  # a black hole passes on no close
                        await trio.sleep_forever()
                    nursery.cancel_scope.cancel()

                # A side that hangs up ends the pair (the client's next request opens another).
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(up)
                        nursery.start_soon(down)
                except* (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass


async def _refused(client: trio.SocketStream) -> None:
    """A request answered 500 by :class:`LossyLink` itself, in the daemon's form of an
    error, its connection closed after."""
    body = b'{"error": "cannot take it now (the link refused it)"}'
    head = (
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    await client.send_all(head.encode() + body)


def leftovers(bundle: Path) -> list[str]:
    """What a migration may have left in a bundle's checkpoints directory."""
    directory = bundle / "checkpoints"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def test_a_counter_moves_and_counts_on(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """With its bundle, to another bundle path: the target's log goes on from the source's
    last number; the source forgets the container; nothing of the move is left."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    target_bundle = tmp_path / "elsewhere" / "counter"
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "5")
    since = now()
    steps = await migrate(
        source.client, "counter", to=f"unix:{target.socket}", withBundle=True,
        targetBundlePath=str(target_bundle),
    )  # fmt: skip
    names = [step["step"] for step in steps]
    assert names == [
        "session", "bundle", "freeze", "checkpoint", "transfer", "restore", "finish", "done"
    ], steps  # fmt: skip
    done = steps[-1]
    assert 0 < done["downtime"] < done["seconds"] and done["bytes"] > 0
    assert done["container"]["bundlePath"] == str(target_bundle)
    assert (await source.client.get("/containers/counter")).status_code == 404
    assert "counter" not in runc_ids(source.state_dir)
    # The dump and the restore report their course, as a checkpoint's and a restore's do.
    course = "checkpoint-started,checkpoint-done,restore-started,restore-done"
    assert await event_types(
        source.client, since=since, container_id="counter", count=2, only=course
    ) == ["checkpoint-started", "checkpoint-done"]
    assert await event_types(
        target.client, since=since, container_id="counter", count=2, only=course
    ) == ["restore-started", "restore-done"]
    # The copy here killed is no death of the container (docker's die): its exit says so,
    # and ctr-trio events -f event=die leaves it out, as it keeps a death's.
    params = {"since": since, "id": "counter", "type": "exit"}
    async with source.client.stream("GET", "/events", params=params) as answer:
        killed = json.loads(await anext(answer.aiter_lines()))
    assert (killed.get("status"), killed.get("init"), killed.get("moved")) == (137, True, True)
    address = f"unix:{source.socket}"
    died = await run_cli("--address", address, "events", "--since", since, "--until", now(),
                         "-f", "container=counter", "-f", "event=die")  # fmt: skip
    assert (died.code, died.out) == (0, ""), died
    every = await run_cli("--address", address, "events", "--since", since, "--until", now(),
                          "-f", "container=counter", "-f", "event=exit")  # fmt: skip
    assert "moved=true" in every.out, every  # as the JSON writes it (until 2026-12-06 True)

    await counts_on(target.client, "counter", beyond=5)
    assert leftovers(bundle) == [] and leftovers(target_bundle) == []
    state = json.loads((target.state_dir / "runc" / "counter" / "state.json").read_text())
    assert any("counter-moved-" in path for path in state["cgroup_paths"].values())


async def test_a_wait_at_the_source_says_the_container_moved_and_where(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The waits of the moved container at the source (its own, its init's, for its removal,
    and ctr-trio wait's) answer that it moved, and to which daemon: not the 137 of its copy
    killed there, as if the container had been killed. So does a wait asked after the move
    (remembered, as an autoRemove's removal is)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    started = await start_container(source.client, "counter", make_bundle(COUNTER))
    init = started["processes"][0]["pid"]
    await wait_output(source.client, "counter", "2")
    to = f"unix:{target.socket}"
    moved = {"moved": True, "movedTo": to}
    address = f"unix:{source.socket}"
    answers: dict[str, dict[str, Any]] = {}
    sent = trio.Semaphore(0)

    async def on_request(_: httpx.Request) -> None:
        sent.release()

    async with unix_client(source.socket, event_hooks={"request": [on_request]}) as waiting:

        async def wait(name: str, path: str) -> None:
            answer = await waiting.post(path)
            assert answer.status_code == 200, answer.text
            answers[name] = answer.json()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait, "container", "/containers/counter/wait")
            nursery.start_soon(wait, "init", f"/containers/counter/process/{init}/wait")
            nursery.start_soon(wait, "removed", "/containers/counter/wait?condition=removed")
            result: list[Any] = []

            async def cli_wait() -> None:  # it reads the record, then waits on the init
                result.append(await run_cli("--address", address, "wait", "counter"))

            nursery.start_soon(cli_wait)
            for _ in range(3):
                await sent.acquire()  # each wait sent before the move begins
            steps = await migrate(source.client, "counter", to=to)
            assert steps[-1]["step"] == "done", steps
    for name, answer in answers.items():
        assert {k: answer.get(k) for k in moved} == moved, (name, answer)
        assert (answer["exitStatus"], answer["pid"]) == (137, init), (name, answer)
    assert (result[0].code, result[0].out) == (0, f"moved to {to}\n"), result[0]
    late = await source.client.post("/containers/counter/wait")
    assert late.status_code == 200 and late.json()["movedTo"] == to, late.text
    late_cli = await run_cli("--address", address, "wait", "--json", "counter")
    assert json.loads(late_cli.out)["movedTo"] == to, late_cli
    await counts_on(target.client, "counter", beyond=2)


async def test_the_source_s_404s_say_where_the_container_moved(
    spawn_daemon: Any, start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Once the move is done, every route naming the container at the source (its record, its
    log, an exec, a signal, a delete, an attach, ...) is still a 404, but one that says where
    it went and when, the target's address in ``movedTo`` too; ctr-trio prints that, and so
    does the next server. (Before: a plain "container 'counter' not found", as for an id never
    seen; a wait after a restart was one too.) A start of its id here makes another container:
    once that one is gone, the id is an unknown one again."""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    started = await start_container(source.client, "counter", bundle)
    init = started["processes"][0]["pid"]
    await wait_output(source.client, "counter", "2")
    to, address = f"unix:{target.socket}", f"unix:{source.socket}"
    with trio.fail_after(60):
        steps = await migrate(source.client, "counter", to=to)
    assert steps[-1]["step"] == "done", steps
    client = source.client
    ended = (await client.post("/containers/counter/wait")).json()
    said = f"container 'counter' not found: it moved to {to} at {ended['exitedAt']}"
    moved = {"error": said, "movedTo": to}
    answers = {
        "record": await client.get("/containers/counter"),
        "log": await client.get("/containers/counter/logs"),
        "exec": await client.put("/containers/counter/processes", json={"args": ["true"]}),
        "signal": await client.patch("/containers/counter", json={"signal": 9}),
        "process signal": await client.post(
            f"/containers/counter/process/{init}", json={"signal": 9}
        ),
        "delete": await client.delete("/containers/counter"),
        "start again": await client.post("/containers/counter/start"),
        "top": await client.get("/containers/counter/top"),
        "stats": await client.get("/containers/counter/stats"),
        "next exit": await client.post("/containers/counter/wait?condition=next-exit"),
    }
    for name, answer in answers.items():
        assert (answer.status_code, answer.json()) == (404, moved), (name, answer.text)
    with pytest.raises(wsclient.Rejected) as refused:
        await wsclient.attach("", "counter", init, unix=str(source.socket))
    assert (refused.value.status, json.loads(refused.value.body)) == (404, moved)
    for argv in (["inspect"], ["logs"], ["attach"], ["kill"], ["rm"]):
        result = await run_cli("--address", address, *argv, "counter")
        assert (result.code, said in result.err) == (1, True), (argv, result)
    result = await run_cli("--address", address, "exec", "counter", "true")
    assert said in result.err, result
    # A server that starts (a kill -9 of this one here) takes it up from the kept event log,
    # for the waits and the 404s alike.
    with trio.fail_after(30):
        await source.kill_server()
    again = await client.get("/containers/counter")
    assert again.status_code == 404 and again.json()["movedTo"] == to, again.text
    assert again.json()["error"].startswith(f"container 'counter' not found: it moved to {to} at ")
    waited = (await client.post("/containers/counter/wait")).json()
    assert (waited.get("moved"), waited.get("movedTo"), waited["pid"]) == (True, to, init), waited
    # A start of the id here: its own container, which the 404 is of once it is gone.
    await start_container(client, "counter", bundle)
    # At once (its init, a shell, ignores SIGTERM: the default grace would be waited out).
    gone = await client.delete("/containers/counter", params={"timeout": "0"})
    assert gone.status_code == 200, gone.text
    again = await client.get("/containers/counter")
    assert (again.status_code, again.json()) == (404, {"error": "container 'counter' not found"})
    await counts_on(target.client, "counter", beyond=2)


async def test_a_move_is_remembered_past_the_bound_of_auto_removed_containers(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source's memory of a move is not pushed out by the containers autoRemove removes
    after it: more of those than their bound (docker run --rm's, each a quick ``true``) leave
    its 404 saying where the container went, and its wait saying it moved. (Before, the two
    shared one bound of 256: the move was forgotten, a plain 404.) autoRemove's own memory
    stays bounded: the first of them is forgotten. The bound is 16 here, not 256 (257 runs
    took seconds): two daemons in this process, so that both see it."""
    monkeypatch.setattr(removals, "AUTO_REMOVED_KEPT", 16)
    monkeypatch.setattr(supervisor, "AUTO_REMOVED_KEPT", 16)
    source = await start_daemon(tmp_path / "state-a")
    target = await start_daemon(tmp_path / "state-b")
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    to = target.url.removeprefix("http://")
    with trio.fail_after(30):
        steps = await migrate(source.client, "counter", to=to)
    assert steps[-1]["step"] == "done", steps
    quick = make_bundle(["true"])
    limiter = trio.CapacityLimiter(8)

    async def run_rm(n: int) -> None:
        async with limiter:
            await start_container(source.client, f"rm-{n}", quick, autoRemove=True)
            removed = await source.client.post(
                f"/containers/rm-{n}/wait", params={"condition": "removed"}
            )
            assert removed.status_code == 200, removed.text

    # The first removed before the others start: the bound of them after it.
    with trio.fail_after(60):
        await run_rm(0)
        async with trio.open_nursery() as nursery:
            for n in range(1, removals.AUTO_REMOVED_KEPT + 1):
                nursery.start_soon(run_rm, n)
    again = await source.client.get("/containers/counter")
    assert again.status_code == 404 and again.json().get("movedTo") == to, again.text
    waited = (await source.client.post("/containers/counter/wait")).json()
    assert (waited.get("moved"), waited.get("movedTo")) == (True, to), waited
    first = await source.client.post("/containers/rm-0/wait", params={"condition": "removed"})
    assert first.status_code == 404, first.text


async def test_the_source_s_404s_say_where_the_container_moved_while_its_copy_goes(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the source removes its copy's files (after the copy's end, before it leaves the
    table), the copy is gone for a GET, a wait and its log, and their 404s say where it went
    already, as they do once it left. (Before, a plain "not found" in that moment: ctr-trio
    logs -f, whose follow ends with the copy's output, asked there whether it moved.) The
    source's keeper forgets the copy only once the test has asked."""
    asked, forgotten = trio.Event(), trio.Event()
    forget = KeeperLink.forget

    async def held_forget(self: KeeperLink, container_id: str) -> None:
        if container_id == "counter" and not forgotten.is_set():
            forgotten.set()  # the copy is deleted here, its files not yet removed
            await asked.wait()
        await forget(self, container_id)

    monkeypatch.setattr(KeeperLink, "forget", held_forget)
    source = await start_daemon(tmp_path / "state-a")
    target = await start_daemon(tmp_path / "state-b")
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    to = target.url.removeprefix("http://")
    steps: list[dict[str, Any]] = []

    async def move() -> None:
        steps.extend(await migrate(source.client, "counter", to=to))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(move)
            await forgotten.wait()
            answers = [
                await source.client.get("/containers/counter"),
                await source.client.get("/containers/counter/logs"),
            ]
            waited = await source.client.post("/containers/counter/wait")
            asked.set()
    assert steps[-1]["step"] == "done", steps
    for answer in answers:
        assert answer.status_code == 404 and answer.json().get("movedTo") == to, answer.text
        assert f"it moved to {to} at " in answer.json()["error"], answer.text
    assert waited.status_code == 200, waited.text
    assert (waited.json().get("moved"), waited.json().get("movedTo")) == (True, to), waited.text


async def _ctr_trio(*argv: str, stdin: bool = False) -> trio.Process:
    """``ctr-trio ARGV`` in the background, out of a terminal: its stdout and stderr piped to
    us, and its stdin too (``stdin``), else /dev/null."""
    return await trio.lowlevel.open_process(
        [*CTR_PIPED, *argv], env=_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
    )  # fmt: skip


async def _ended(process: trio.Process) -> tuple[int, bytes]:
    """``process``'s exit status and its stderr, once it ended (its stdout read off)."""
    assert process.stdout is not None and process.stderr is not None
    err = bytearray()
    async with trio.open_nursery() as nursery:

        async def drain() -> None:
            assert process.stdout is not None
            while await process.stdout.receive_some():
                pass

        nursery.start_soon(drain)
        while chunk := await process.stderr.receive_some():
            err += chunk
    return await process.wait(), bytes(err)


async def test_an_attach_at_the_source_says_the_container_moved_and_where(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """An attach at the source to a container that moves away ends as the waits there do: its
    last Status says that it moved, and to which daemon (beside its copy's 137, as before),
    and ctr-trio attach says so and exits 0. (Before, both ended as if the container had been
    killed: 137, and ctr-trio exited 137.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    started = await start_container(source.client, "counter", make_bundle(COUNTER))
    init = started["processes"][0]["pid"]
    await wait_output(source.client, "counter", "2")
    to, address = f"unix:{target.socket}", f"unix:{source.socket}"
    session = await wsclient.attach("", "counter", init, unix=str(source.socket))
    with trio.fail_after(30):
        attached = await _ctr_trio("--address", address, "attach", "counter")
        assert attached.stdout is not None
        await read_until(attached, b"", b"\n")  # attached: the counter's next number came
        steps = await migrate(source.client, "counter", to=to)
        assert steps[-1]["step"] == "done", steps
        assert await session.to_end() == 137  # its copy's, as before: a client of old reads it
        code, err = await _ended(attached)
    status = session.status
    assert status is not None and session.close_code == 1000, (status, session.close_code)
    assert (status.get("moved"), status.get("movedTo")) == (True, to), status
    assert "inputNotTaken" not in status, status  # it took none
    # The close's reason says it too, as docs/api.md says (until 2026-12-06 it said "the
    # process ended", as for a process that exited).
    assert session.close_reason == "the container moved to another daemon", session.close_reason
    assert code == 0, err
    assert err.decode() == (
        f"ctr-trio: container counter moved to {to}; follow it there: ctr-trio --address {to}"
        " attach counter\n"
    )
    await counts_on(target.client, "counter", beyond=2)


async def test_ctr_trio_migrate_that_loses_its_daemon_says_how_to_see_how_the_move_ended(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """``ctr-trio migrate`` whose connection to the source breaks mid-move (its server killed
    there) exits 3, as for any daemon gone, and says where to see how the move ended, as at a
    Ctrl-C: the daemon (its next server) carries a move on or undoes it without its client.
    Until 2026-12-06 it said only ``lost the connection to the daemon at ...: peer closed
    connection without sending complete message body``, and left the user to guess."""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    # The target's session is held at its open: the move is under way, and stays so.
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/migrations HTTP/1.1")
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    address = f"unix:{source.socket}"
    with trio.fail_after(30):
        moving = await _ctr_trio(
            "--address", address, "migrate", "counter", "--to", f"unix:{link.path}"
        )
        await link.holding.wait()
        await source.kill_server()
        code, err = await _ended(moving)
    assert code == 3, err
    said = err.decode()
    assert said.startswith(f"ctr-trio: lost the connection to the daemon at {address}: "), said
    assert said.endswith(
        f"; it may have gone on with the move of counter to unix:{link.path} without us: see"
        f" how it ended with: ctr-trio --address {address} inspect counter\n"
    ), said


async def test_ctr_trio_logs_follow_says_its_container_moved_and_where(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``ctr-trio logs -f`` at the source of a container that moves away ends, as at a stop
    (exit 0, the output until the move shown), but says where the container went and how to
    follow it there, as attach does. (Before, it ended in silence, as if it had stopped.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    to, address = f"unix:{target.socket}", f"unix:{source.socket}"
    with trio.fail_after(30):
        following = await _ctr_trio("--address", address, "logs", "-f", "counter")
        await read_until(following, b"", b"2\n")
        steps = await migrate(source.client, "counter", to=to)
        assert steps[-1]["step"] == "done", steps
        code, err = await _ended(following)
    assert code == 0, err
    assert err.decode() == (
        f"ctr-trio: container counter moved to {to}; follow it there: ctr-trio --address {to}"
        " logs -f counter\n"
    )


@pytest.mark.parametrize("rm", [False, True], ids=["run", "run-rm"])
async def test_ctr_trio_run_says_its_container_moved_and_where(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, rm: bool
) -> None:
    """``ctr-trio run`` attached (no -d) to a container that moves away ends as ``ctr-trio
    attach`` does: it says where the container went and exits 0, its output until the move
    shown; with ``--rm`` too (the container handed to the daemon's autoRemove, which moves
    with it: the run's wait for its removal here is answered by the move)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    to, address = f"unix:{target.socket}", f"unix:{source.socket}"
    bundle = make_bundle(COUNTER)
    with trio.fail_after(30):
        ran = await _ctr_trio(
            "--address", address, "run", *(["--rm"] if rm else []), "counter", "-b", str(bundle)
        )
        # Attached, its output shown: handed to the daemon's autoRemove (--rm) before that.
        shown = await read_until(ran, b"", b"2\n")
        here = (await source.client.get("/containers/counter")).json()
        assert here.get("autoRemove", False) is rm, here
        steps = await migrate(source.client, "counter", to=to)
        assert steps[-1]["step"] == "done", steps
        code, err = await _ended(ran)
    assert shown.startswith(b"1\n2\n"), shown
    assert code == 0, err
    assert err.decode() == (
        f"ctr-trio: container counter moved to {to}; follow it there: ctr-trio --address {to}"
        " attach counter\n"
    )
    moved = (await target.client.get("/containers/counter")).json()
    assert moved.get("autoRemove", False) is rm, moved
    await counts_on(target.client, "counter", beyond=2)


async def _silent_target(
    path: Path, arrived: trio.Event, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """A unix socket at ``path`` that takes each connection and answers nothing, holding it
    open: a move to it waits at its session's open. ``arrived`` is set at the first one."""
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen()

    async def hold(client: trio.SocketStream) -> None:
        arrived.set()
        async with client:
            await trio.sleep_forever()

    task_status.started()
    await trio.serve_listeners(hold, [trio.SocketListener(sock)])


async def test_a_ctrl_c_of_ctr_trio_migrate_says_the_move_goes_on(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A Ctrl-C of ``ctr-trio migrate`` leaves ctr-trio (130), not the move: the daemon carries
    it on whoever waits for it (here a second move is refused, the first under way), so
    ctr-trio says so, and where to look. (Before, it exited 130 in silence, as ``events``
    does, and a user who took the move for stopped found the container gone from here.)"""
    source = await spawn_daemon(state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock")
    silent, arrived = tmp_path / "silent.sock", trio.Event()
    address, to = f"unix:{source.socket}", f"unix:{silent}"
    await start_container(source.client, "counter", make_bundle(COUNTER))
    async with trio.open_nursery() as nursery:
        await nursery.start(_silent_target, silent, arrived)
        with trio.fail_after(30):
            moving = await _ctr_trio("--address", address, "migrate", "counter", "--to", to)
            await arrived.wait()  # the session's open waits there: the move is under way
            moving.send_signal(signal.SIGINT)
            code, err = await _ended(moving)
            again = await source.client.post("/containers/counter/migrate", json={"to": to})
        nursery.cancel_scope.cancel()
    assert code == 130, err
    assert err.decode() == (
        f"ctr-trio: interrupted: the daemon goes on with the move of counter to {to} (leaving"
        f" does not stop it); see how it ends with: ctr-trio --address {address} inspect"
        " counter\n"
    )
    assert again.status_code == 409 and "under way" in again.json()["error"], again.text


#: A reader that reads its input only once ``/go`` is in its rootfs: ``got LINE`` for each line.
_READER = (
    "sh", "-c",
    "echo ready; until [ -e /go ]; do usleep 10000; done; while read l; do echo got $l; done",
)  # fmt: skip


async def _reader_with_input_pending(
    source: Side, make_bundle: BundleFactory
) -> tuple[Path, wsclient.Attached]:
    """A container ``reader`` at ``source`` that reads its stdin only once ``/go`` is in its
    rootfs (shared here and there: the bundle is), and an attach session that typed ``one``
    and ``two`` into it, not read yet: the bundle and the session."""
    bundle = make_bundle(_READER)
    info = await start_container(source.client, "reader", bundle, stdin=True)
    await wait_output(source.client, "reader", "ready")
    session = await wsclient.attach(
        "", "reader", info["processes"][0]["pid"], unix=str(source.socket)
    )
    await session.type("one\ntwo\n")
    return bundle, session


async def _reader_with_its_finish_to_hold(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> tuple[DaemonProcess, DaemonProcess, LossyLink, Path, wsclient.Attached]:
    """A source with the reader, its input pending (:func:`_reader_with_input_pending`), a
    target, and a link between them that holds the first finish until it is released (set
    :attr:`LossyLink.later` first): the daemons, the link, the bundle, the attach session."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, hang=b"/finish HTTP/1.1", hang_until_released=True
    )
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    return source, target, link, bundle, session


async def _read_there(target: Side, bundle: Path, line: str) -> list[str]:
    """Type ``line`` into the moved reader on the target and let it read: what it read there,
    all of its log, once it read that line."""
    moved = (await target.client.get("/containers/reader")).json()
    there = await wsclient.attach(
        "", "reader", moved["processes"][0]["pid"], unix=str(target.socket)
    )
    await there.type(f"{line}\n")
    (bundle / "rootfs" / "go").touch()
    with trio.fail_after(10):
        await wait_output(target.client, "reader", f"got {line}")
    await there.detach()
    return (await log_bytes(target.client, "reader")).decode().splitlines()


async def _moved_there_once(
    source: Side, target: Side, bundle: Path, session: wsclient.Attached
) -> None:
    """The reader's move is done, the container in one place: gone here (from runc too), and
    there it reads the input it had not read at the freeze once, in order, then what is
    typed there; nothing of the move is left on either side. The session here is dropped."""
    assert (await source.client.get("/containers/reader")).status_code == 404
    assert "reader" not in runc_ids(source.state_dir)
    got = await _read_there(target, bundle, "three")
    assert got == ["got one", "got two", "got three"], got
    assert os.listdir(source.state_dir / "outgoing") == []
    assert os.listdir(target.state_dir / "migrations") == []
    await session.drop()


async def _back_here_once(
    source: Side, target: Side, bundle: Path, session: wsclient.Attached
) -> None:
    """The reader's move is undone, the container in one place: here, where its copy reads
    the input it had not read at the freeze once, in order, then what is typed here; none
    there (nor in runc there); nothing of the move is left on either side. The session here
    is dropped."""
    got = await _read_here_then(source, bundle, "three")
    assert got == ["ready", "got one", "got two", "got three"], got
    assert (await target.client.get("/containers/reader")).status_code == 404
    assert runc_ids(target.state_dir) == []
    assert os.listdir(source.state_dir / "outgoing") == []
    assert os.listdir(target.state_dir / "migrations") == []
    await session.drop()


async def test_input_the_container_had_not_read_moves_with_it(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Input typed at the source that the container had not read at the freeze (it waits in
    its stdin pipe, which stays with the source's copy) is written into the restored
    container's stdin on the target first, and read there, in order. (Before, it was lost
    with the copy: the reader read nothing on the target.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    steps = await migrate(source.client, "reader", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    got = await _read_there(target, bundle, "three")
    assert got == ["got one", "got two", "got three"], got
    await session.drop()


async def test_input_taken_for_a_move_that_fails_is_put_back(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The move fails once the input the container had not read was handed to the target
    (its finish refused on the way, which the target never had: the source aborts, and the
    target deletes what it restored, with that input): the input is back in the pipe here,
    and the container, resumed here, reads it."""
    source, _, link, bundle, session = await _reader_with_its_finish_to_hold(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            link.later, link.refuse_held = "pass", True
            _release(link)
    assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is True, steps[-1]
    (bundle / "rootfs" / "go").touch()
    with trio.fail_after(10):
        await wait_output(source.client, "reader", "got two")
    got = (await log_bytes(source.client, "reader")).decode().splitlines()
    assert got == ["ready", "got one", "got two"], got
    await session.drop()


async def test_a_hand_off_whose_answer_was_lost_is_sent_again_and_written_once(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """The target's answer to the hand-off of the input the container had not read is lost
    (its connection closed): the source sends the hand-off again, the target, which wrote it
    already, says so without writing it again, and the move is done; the container reads
    that input there once. (Before, the source aborted the move: the container ran on here.)"""
    source, target = await spawned_target(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket, drop=b"/stdin HTTP/1.1")
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    steps = await migrate(source.client, "reader", to=f"unix:{link.path}")
    assert link.dropped is not None and b" 200 " in link.dropped  # the target took it
    assert steps[-1]["step"] == "done", steps[-1]
    got = await _read_there(target, bundle, "three")
    assert got == ["got one", "got two", "got three"], got
    await target.logged(b"the hand-off came again; it was written already")
    await session.drop()


@pytest.mark.parametrize("taken", [False, True], ids=["before-the-hand-off", "after-it"])
async def test_input_handed_on_survives_a_kill_of_the_target_s_server(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    taken: bool,
) -> None:
    """kill -9 of the target's server once it restored the container, before the hand-off of
    the input the source's copy had not read (held on its way), or once the target wrote it
    (its answer held on its way back): the next server adopts the container and goes on
    with the session, gating the container's input until the source hands it on again; the
    source, whose hand-off lost its connection (or its answer), sends it again, and the
    move is done. The container reads that input there once, ahead of what a client typed
    there meanwhile (``zero``). (Before, the next server ended the session, keeping the
    container; the source, told "no such session", concluded the target ran it and ended its
    copy: ``one`` and ``two`` were lost, and ``zero`` went in ungated.) The source's answer
    deadline (its runtime timeout) is what a held answer costs: 5 s."""
    source, target = await spawned_target(spawn_daemon, start_daemon, tmp_path, runtime_timeout=5.0)
    if taken:
        link = LossyLink(
            tmp_path / "link.sock", target.socket, drop=b"/stdin HTTP/1.1", hold_dropped=True
        )
    else:
        link = LossyLink(
            tmp_path / "link.sock", target.socket, hang=b"/stdin HTTP/1.1",
            hang_until_released=True,
        )  # fmt: skip
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await (link.dropping if taken else link.holding).wait()
            count = target.servings
            os.kill(target.server_pid(), signal.SIGKILL)
            await target.served(count + 1)
            moved = (await target.client.get("/containers/reader")).json()
            there = await wsclient.attach(
                "", "reader", moved["processes"][0]["pid"], unix=str(target.socket)
            )
            await there.type("zero\n")
            # Its message has reached the server (the next request is answered after it).
            assert (await target.client.get("/containers/reader")).status_code == 200
            if not taken:  # the held hand-off's connections closed: the old server's is gone
                link.later, link.cut_held = "pass", True
                _release(link)
        assert steps[-1]["step"] == "done", steps
        assert (await source.client.get("/containers/reader")).status_code == 404
        got = await _read_there(target, bundle, "three")
    assert got == ["got one", "got two", "got zero", "got three"], got
    await target.logged(b"was left open by the last server, its container restored")
    if taken:
        await target.logged(b"the hand-off came again; it was written already")
    await there.detach()
    await session.drop()


#: :data:`_READER`, but for a first run that exits (3) once ``/quit`` is in its rootfs.
_QUITS_ONCE = (
    "sh", "-c",
    "echo ready; until [ -e /go ]; do if [ -e /quit ]; then rm /quit; exit 3; fi;"
    " usleep 10000; done; while read l; do echo got $l; done",
)  # fmt: skip


async def test_a_finish_a_target_s_server_killed_never_had_is_sent_again_to_its_next_one(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """kill -9 of the target's server between the hand-off of the input the reader had not
    read (answered: written there) and the finish (held on its way, then its connections
    closed: the target never had it). The next server goes on with the session; the source
    sends the finish again, which it answers: the move is done, the container in one place
    (there), and it reads there that input once, in order. (Before, the finish was sent
    once: the move rolled back, the target's next server deleting the container it had
    restored, and the copy here resumed.)"""
    source, target, link, bundle, session = await _reader_with_its_finish_to_hold(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            await target.kill_server()  # the next server serves, the session taken up
            await target.logged(b"was left open by the last server, its container restored:")
            link.later, link.cut_held = "pass", True
            _release(link)
    assert steps[-1]["step"] == "done", steps[-1]
    assert [step["step"] for step in steps][-2:] == ["finish", "done"], steps
    assert b"the finish is sent again" in source.log
    await _moved_there_once(source, target, bundle, session)


async def test_a_finish_that_came_through_its_answer_lost_is_answered_404_and_the_move_is_done(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """The target finishes the move and its answer is lost (its connection closed): the
    source sends the finish again, which the target answers 404 (no such session); the
    roll-back that follows asks the target to abort (404 too), finds the moved container
    there, running, and ends the move done, its copy here removed: the container in one
    place, and the input it had not read at the freeze read there once, in order."""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket)  # drops the finish's answer
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    with trio.fail_after(60):
        steps = await migrate(source.client, "reader", to=f"unix:{link.path}")
    assert link.dropped is not None and b" 200 " in link.dropped  # the target did finish
    assert [step["step"] for step in steps][-2:] == ["finish", "done"], steps
    assert b"the finish is sent again" in source.log
    assert b"(404)" in source.log and b"the target runs it all the same" in source.log
    await _moved_there_once(source, target, bundle, session)


async def test_a_source_s_server_killed_while_it_sends_the_finish_again_leaves_it_recorded(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """kill -9 of the target's server with the finish held (the hand-off answered: written
    there); the finish then cut (the target never had it) and the target unreachable, so
    the source sends it again; kill -9 of the source's server meanwhile. Its next server
    settles the move from its record (the input it took, the restore asked): it hands that
    input on again, which the target's next server, gone on with the session, does not
    write a second time, and finishes the session. The container runs there alone and
    reads that input once, in order; nothing of the move is left on either side."""
    source, target, link, bundle, session = await _reader_with_its_finish_to_hold(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with trio.open_nursery() as moving:
            moving.start_soon(cut_short, source.client, "reader", f"unix:{link.path}")
            await link.holding.wait()  # the input handed on, the finish held
            await target.kill_server()  # the next server serves, the session taken up
            await target.logged(b"was left open by the last server, its container restored:")
            link.later, link.cut_held = "close", True  # each finish sent again: closed
            _release(link)
            await source.logged(b"the finish is sent again")
            (record,) = os.listdir(source.state_dir / "outgoing")
            entry = json.loads((source.state_dir / "outgoing" / record).read_text())
            assert base64.b64decode(entry["stdin"]) == b"one\ntwo\n", entry
            await source.kill_server()
        link.later = "pass"
        await source.logged(b"was left under way by the last server: the target runs the")
    assert b"the hand-off came again; it was written already" in target.log
    await _moved_there_once(source, target, bundle, session)


async def test_input_handed_on_is_not_given_to_a_run_its_restart_policy_started_since(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The restored container exits at the target before the source hands on the input its
    copy had not read (held on its way), and its restart policy starts it again there: the
    input, the restored run's, which that run never read, goes with it (as what its pipe
    held would have at the source), not into the new run; input a client types into the new
    run meanwhile goes in at once. (Before, the hand-off went into the new run, behind what
    was typed into it.) The target has a bundle of its own, whose cgroupsPath is not the
    one the source's frozen copy holds on this one machine (a restart runs in the bundle's)."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, hang=b"/stdin HTTP/1.1", hang_until_released=True
    )
    await nursery.start(link.serve)
    bundle = make_bundle(_QUITS_ONCE)

    def cgroup_of_its_own(config: dict[str, Any]) -> None:
        config["linux"]["cgroupsPath"] = "reader-restarted-there"

    there_bundle = make_bundle(_QUITS_ONCE, edit=cgroup_of_its_own)
    info = await start_container(
        source.client, "reader", bundle, stdin=True, restartPolicy={"name": "always"}
    )
    await wait_output(source.client, "reader", "ready")
    session = await wsclient.attach(
        "", "reader", info["processes"][0]["pid"], unix=str(source.socket)
    )
    await session.type("one\ntwo\n")
    with trio.fail_after(60):
        async with trio.open_nursery() as moving:
            steps: list[dict[str, Any]] = []

            async def move() -> None:
                to = f"unix:{link.path}"
                steps.extend(
                    await migrate(
                        source.client, "reader", to=to, targetBundlePath=str(there_bundle)
                    )
                )

            moving.start_soon(move)
            await link.holding.wait()  # restored there, the hand-off held
            since = now()
            (there_bundle / "rootfs" / "quit").touch()
            restarted = await _next_start(target.client, "reader", since)
            there = await wsclient.attach("", "reader", restarted["pid"], unix=str(target.socket))
            await there.type("zero\n")
            # Its message has reached the server (the next request is answered after it).
            assert (await target.client.get("/containers/reader")).status_code == 200
            link.later = "pass"
            _release(link)
        assert steps[-1]["step"] == "done", steps
        got = await _read_there(target, there_bundle, "three")
    assert got == ["ready", "got zero", "got three"], got
    await target.logged(b"were for its restored run, which has ended: dropped")
    await there.detach()
    await session.drop()
    await target.client.delete("/containers/reader", params={"timeout": 0})


async def _typed_after_the_hand_off(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> tuple[DaemonProcess, DaemonProcess, Path, LossyLink, wsclient.Attached, trio.Process]:
    """A reader at the source with input pending (:func:`_reader_with_input_pending`) moving
    through a link that holds the move's finish until its :attr:`~LossyLink.released`; once
    the input was handed on, and before the finish, ``three`` typed by that session and
    ``four`` by a ctr-trio attach: the daemons, the bundle, the link, the session and the
    ctr-trio attach."""
    source, target, link, bundle, session = await _reader_with_its_finish_to_hold(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    address = f"unix:{source.socket}"
    attached = await _ctr_trio("--address", address, "attach", "--logs", "reader", stdin=True)
    with trio.fail_after(10):
        await read_until(attached, b"", b"ready")  # attached (the log's replay came)
    return source, target, bundle, link, session, attached


async def _type_after_the_hand_off(
    source: Side, link: LossyLink, session: wsclient.Attached, attached: trio.Process
) -> None:
    """Once the finish is held (the input was handed on before it), type ``three`` through
    ``session`` and ``four`` through the ctr-trio attach: the session's message sent, and
    ctr-trio's read (its stdin pipe empty again) and a request to the server sent after it
    answered."""
    await link.holding.wait()
    await session.type("three\n")
    assert isinstance(attached.stdin, trio.lowlevel.FdStream)
    await attached.stdin.send_all(b"four\n")
    while _unread(attached.stdin.fileno()):  # noqa: ASYNC110 (nothing says ctr-trio read it)
        await trio.sleep(0.01)
    assert (await source.client.get("/containers/reader")).status_code == 200


@contextlib.asynccontextmanager
async def _moving(source: Side, container_id: str, to: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A move of ``container_id`` from ``source`` to ``to``, in a task of its own while the
    block runs (its finish held, as the block's link holds it): the steps it ended with,
    once the block is left and the move has ended."""
    async with trio.open_nursery() as moving:
        steps: list[dict[str, Any]] = []

        async def move() -> None:
            steps.extend(await migrate(source.client, container_id, to=to))

        moving.start_soon(move)
        yield steps


def _release(link: LossyLink) -> None:
    assert link.released is not None
    link.released.set()


def _unread(fd: int) -> int:
    """The bytes in the pipe whose writing end is ``fd`` that its reader has not read."""
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


async def test_input_typed_at_the_source_after_the_hand_off_is_told_not_taken(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Input typed at the source once the move handed on what the container had not read, and
    before the finish, cannot reach it any more: it is held (not written into the copy's
    pipe, lost with it), and the move done, each attach session there says how many bytes of
    its input were not taken (inputNotTaken; ctr-trio attach: send them again there). Before,
    they went into the pipe and were lost, untold."""
    source, target, bundle, link, session, attached = await _typed_after_the_hand_off(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    to = f"unix:{link.path}"
    with trio.fail_after(60):
        async with _moving(source, "reader", to) as steps:
            await _type_after_the_hand_off(source, link, session, attached)
            link.later = "pass"
            _release(link)
        assert steps[-1]["step"] == "done", steps
        await session.to_end()
        code, err = await _ended(attached)
    status = session.status
    assert status is not None, session.close_code
    assert (status.get("moved"), status.get("inputNotTaken")) == (True, len("three\n")), status
    assert code == 0, err
    assert err.decode().endswith(
        "; the last 5 bytes of our input, sent as it moved, did not reach it: send them there"
        " again\n"
    ), err
    # The container read there what was handed on, and nothing of what was not taken.
    got = await _read_there(target, bundle, "five")
    assert got == ["got one", "got two", "got five"], got


async def test_input_typed_at_the_source_after_the_hand_off_of_a_failed_move_goes_on(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The same input, and the move fails at its finish (the target never had it): the input
    held goes on to the copy resumed here, behind what the move had taken out of its pipe
    and put back, each writer's whole. (Before, it went into the pipe at once, and the
    put-back came after it: the reader read three, four before one, two.)"""
    source, _, bundle, link, session, attached = await _typed_after_the_hand_off(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await _type_after_the_hand_off(source, link, session, attached)
            link.later, link.refuse_held = "pass", True
            _release(link)
        assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is True, steps[-1]
        (bundle / "rootfs" / "go").touch()
        await wait_output(source.client, "reader", "got three")
        await wait_output(source.client, "reader", "got four")
    got = (await log_bytes(source.client, "reader")).decode().splitlines()
    # The put-back first; then the two writers' input, each whole. Which of the two came
    # first is the server's to see, not ours: they came on two connections, and the session's
    # message sent first may be read after ctr-trio's (a full run under load saw four, three).
    assert got[:3] == ["ready", "got one", "got two"], got
    assert sorted(got[3:]) == ["got four", "got three"], got
    assert attached.stdin is not None
    await attached.stdin.aclose()  # our input's end: the attach ends, the reader left running
    with trio.fail_after(10):
        code, err = await _ended(attached)
    assert code == 0, err
    await session.drop()


async def test_a_stdin_closed_while_a_move_holds_it_ends_after_the_put_back(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A client closes the reader's stdin pipe once the move took what it had not read, and
    before the finish; the move then fails: the close waits for the hold, as a write does,
    and comes after the input put back, which the reader, resumed here, reads before its end
    of file. (Before, the pipe was closed at once: the put-back found no input, and the
    reader read nothing, lost untold.)"""
    source, _, link, bundle, session = await _reader_with_its_finish_to_hold(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            await session.close_stdin()
            # Its close has reached the server (the next request is answered after it).
            assert (await source.client.get("/containers/reader")).status_code == 200
            link.later, link.refuse_held = "pass", True
            _release(link)
        assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is True, steps[-1]
        (bundle / "rootfs" / "go").touch()
        waited = await source.client.post("/containers/reader/wait")
    assert waited.json()["exitStatus"] == 0, waited.text  # its read loop ended at the end
    got = (await log_bytes(source.client, "reader")).decode().splitlines()
    assert got == ["ready", "got one", "got two"], got
    await session.drop()


#: More than a stdin pipe takes (64 KiB) while its reader reads none: 1000 lines of 100 bytes.
_FILLER = [f"there {n:03}".ljust(99, ".") for n in range(1000)]


@pytest.mark.parametrize("pending", [True, False], ids=["handed-on", "nothing-to-hand-on"])
async def test_input_typed_at_the_target_before_the_hand_off_goes_in_behind_it(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    pending: bool,
) -> None:
    """The restored container is the target's to list and attach to from its restore on,
    before the source hands on the input its copy had not read (``one``, ``two``: held here
    on its way) and finishes: a client attached there that types more than its stdin pipe
    takes, the container reading none yet, waits for the hand-off (or, with nothing to hand
    on, the finish, held here instead), and its input goes in behind it: the move is done at
    once, and the container reads what was typed at the source first. (Before, it went in
    at once, ahead of the hand-off, and its write, on the full pipe, held the input's lock,
    and with it the hand-off: the source gave up on the hand-off after 30 s, and on its abort,
    which waited behind the hand-off there, after 30 more, its copy frozen all along; the
    move failed, settled later.) The target in this process, to see that its write has the
    input before the link lets the hand-off go."""
    there_socket = tmp_path / "b.sock"
    source = await spawn_daemon(state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock")
    target = await start_daemon(tmp_path / "state-b", listen=Listen(unix_path=there_socket))
    held = b"/stdin HTTP/1.1" if pending else b"/finish HTTP/1.1"
    link = LossyLink(tmp_path / "link.sock", there_socket, hang=held, hang_until_released=True)
    await nursery.start(link.serve)
    if pending:
        bundle, session = await _reader_with_input_pending(source, make_bundle)
    else:
        bundle = make_bundle(_READER)
        await start_container(source.client, "reader", bundle, stdin=True)
        await wait_output(source.client, "reader", "ready")
    typed = ["three", *_FILLER]
    async with unix_client(there_socket) as client:
        with trio.fail_after(45):
            async with _moving(source, "reader", f"unix:{link.path}") as steps:
                await link.holding.wait()  # restored there, the hand-off (or finish) held
                moved = await client.get("/containers/reader")
                assert run_status(moved.json()["state"]) == {"status": "running"}, moved.text
                pid = moved.json()["processes"][0]["pid"]
                there = await wsclient.attach("", "reader", pid, unix=str(there_socket))
                await there.type("".join(f"{line}\n" for line in typed))
                assert target.daemon.supervisor is not None
                init = target.daemon.supervisor.container("reader").init
                assert init is not None
                # Its write has the input (waiting for the hand-off; before, for room).
                while not init._input_lock.locked():  # noqa: ASYNC110 (no event says so)
                    await trio.sleep(0.01)
                link.later = "pass"
                _release(link)
            assert steps[-1]["step"] == "done", steps[-1]
            (bundle / "rootfs" / "go").touch()
            await wait_output(client, "reader", f"got {_FILLER[-1]}")
        got = (await log_bytes(client, "reader")).decode().splitlines()
        first = ["got one", "got two"] if pending else []
        assert got == [*first, *(f"got {line}" for line in typed)], got[:5]
        await there.detach()
        await client.delete("/containers/reader", params={"timeout": 0})
    if pending:
        await session.drop()


async def test_a_run_ended_there_before_the_hand_off_stays_ended(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """The restored container killed at the target before the source's hand-off of the input
    its copy had not read (held here on its way): that input goes with the ended run, as a
    pipe's unread bytes go with their process, and the move is done, the container stopped
    there as its kill left it. (Before, the target refused the hand-off, "takes no input",
    the move failed, and the source resumed its copy from the freeze: the run after the
    freeze ran again, the kill undone.)"""
    source, target = await spawned_target(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, hang=b"/stdin HTTP/1.1", hang_until_released=True
    )
    await nursery.start(link.serve)
    _, session = await _reader_with_input_pending(source, make_bundle)
    with trio.fail_after(45):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await link.holding.wait()  # restored there, the hand-off held
            moved = (await target.client.get("/containers/reader")).json()
            pid = moved["processes"][0]["pid"]
            killed = await target.client.post(
                f"/containers/reader/process/{pid}", json={"signal": "KILL"}
            )
            assert killed.status_code == 200, killed.text
            ended = await target.client.post("/containers/reader/wait")
            assert ended.json()["exitStatus"] == 137, ended.text
            link.later = "pass"
            _release(link)
        assert steps[-1]["step"] == "done", steps[-1]
        await target.logged(b"were for its restored run, which has ended: dropped")
    assert (await source.client.get("/containers/reader")).status_code == 404
    there = (await target.client.get("/containers/reader")).json()
    assert there["state"]["status"] == "stopped", there["state"]
    assert "got one" not in (await log_bytes(target.client, "reader")).decode()
    await session.drop()


async def test_a_container_moving_here_is_not_moved_on_before_its_finish(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A container restored at the target, its session open (the source's hand-off of the
    input its copy had not read held on its way), is the source's until the finish: a move
    of it from the target to a third daemon meanwhile is refused (409), and the source's
    move, let go on, is done, the container reading there what was typed at the source.
    (Before, the move on was done, the container taking none of that input to the third
    daemon: the source's hand-off then found no container at the target, a 404 it took for
    a target older than hand-offs; it put the input back into its copy, finished, and ended
    the copy with it: ``one`` and ``two`` were lost.)"""
    there_socket = tmp_path / "b.sock"
    source = await spawn_daemon(state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock")
    target = await spawn_daemon(state_dir=tmp_path / "state-b", socket=there_socket)
    third = await spawn_daemon(state_dir=tmp_path / "state-c", socket=tmp_path / "c.sock")
    link = LossyLink(
        tmp_path / "link.sock", there_socket, hang=b"/stdin HTTP/1.1", hang_until_released=True
    )
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    try:
        with trio.fail_after(60):
            async with _moving(source, "reader", f"unix:{link.path}") as steps:
                await link.holding.wait()  # restored there, the hand-off held
                on = await target.client.post(
                    "/containers/reader/migrate", json={"to": f"unix:{third.socket}"}
                )
                if on.status_code == 200:  # the code before: the move on ran (its steps)
                    await on.aread()
                link.later = "pass"
                _release(link)
            assert on.status_code == 409, on.text
            assert "moving here" in on.json()["error"], on.text
            assert steps[-1]["step"] == "done", steps[-1]
            assert (await source.client.get("/containers/reader")).status_code == 404
            assert (await third.client.get("/containers/reader")).status_code == 404
            got = await _read_there(target, bundle, "three")
            assert got == ["got one", "got two", "got three"], got
    finally:
        for daemon in (source, target, third):
            await daemon.client.delete("/containers/reader", params={"timeout": 0})
        await session.drop()


@pytest.mark.parametrize("form", ["unix:{}", "http://unix:{}"])
async def test_a_move_to_the_daemon_itself_is_a_400_that_says_so(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, form: str
) -> None:
    """A move whose target is the source daemon itself (named as the client names it, or
    as the daemon's own "serving on" line does) is refused as the client's mistake: a 400
    that says the target is this daemon, from the API and from ``ctr-trio migrate``; and
    nothing is done: the container runs on, never frozen, nothing of the move left. The
    daemon's target side knows the session's request for its own: the move's name, which
    the source makes for it (random) and sends with the request, is one of its own moves'.
    (Before, the 502 of the target side's "container 'counter' runs here already (409)".)"""
    daemon = await spawn_daemon(state_dir=tmp_path / "state", socket=tmp_path / "d.sock")
    bundle = make_bundle(COUNTER)
    started = await start_container(daemon.client, "counter", bundle)
    await wait_output(daemon.client, "counter", "2")
    to = form.format(daemon.socket)
    said = (
        f"cannot migrate container 'counter' to {to}: that is this daemon itself; name"
        " another daemon as the target"
    )
    since = now()
    with trio.fail_after(30):
        answer = await daemon.client.post("/containers/counter/migrate", json={"to": to})
        assert (answer.status_code, answer.json()) == (400, {"error": said}), answer.text
        cli = await run_cli("--address", f"unix:{daemon.socket}", "migrate", "counter", "--to", to)
        assert (cli.code, cli.out) == (1, ""), cli
        assert said in cli.err, cli
        until = now()
        here = (await daemon.client.get("/containers/counter")).json()
        assert here["state"]["status"] == "running", here
        assert here["processes"][0]["pid"] == started["processes"][0]["pid"], here
        last = max(await counted(daemon.client, "counter"))
        await wait_output(daemon.client, "counter", f"{last + 1}\n")  # it counts on
        params = {"since": since, "until": until, "id": "counter"}
        async with daemon.client.stream("GET", "/events", params=params) as events:
            kinds = [json.loads(line)["type"] async for line in events.aiter_lines()]
    assert kinds == [], kinds  # no pause, checkpoint or resume: never frozen
    assert leftovers(bundle) == []
    for records in ("outgoing", "migrations"):  # no move recorded, no session
        directory = daemon.state_dir / records
        assert not directory.exists() or list(directory.iterdir()) == [], records


def _got(log: bytes) -> list[str]:
    """The lines a reader wrote of what it read (``got ...``), out of its terminal's output
    (the echo of what was typed among it: a line begun and not ended, ``fi``, is followed by
    the reader's next line, as on a screen)."""
    lines = log.decode().splitlines()
    return [line[line.index("got ") :] for line in lines if "got " in line]


async def _typist_moving_held(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    program: Sequence[str],
) -> tuple[DaemonProcess, DaemonProcess, LossyLink, Path, wsclient.Attached]:
    """``program`` as the init of a container ``typist`` with a terminal at a source, a
    session attached to it, and a link to a target that holds a move's finish until its
    :attr:`~LossyLink.released`: the daemons, the link, the bundle and the session."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, hang=b"/finish HTTP/1.1", hang_until_released=True
    )
    await nursery.start(link.serve)
    bundle = make_bundle(program, terminal=True)
    info = await start_container(source.client, "typist", bundle)
    session = await wsclient.attach(
        "", "typist", info["processes"][0]["pid"], unix=str(source.socket)
    )
    return source, target, link, bundle, session


@pytest.mark.parametrize("end", ["done", "failed"])
async def test_a_terminal_s_input_moves_with_it_and_what_comes_after_the_hand_off_is_held(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery, end: str
) -> None:
    """A container with a terminal, as one with a stdin pipe: what a client typed at the
    source that it had not read at the freeze (in its terminal's input queue, which the dump
    does not carry: the restore has a new terminal), a line begun too, is taken out of the
    queue and read on the target first; what is typed at the source after that hand-off (here
    while the finish is held) is held, and told not taken (inputNotTaken) once the move is
    done, or goes on to the copy resumed here, in order, if it fails. (Before, all of it was
    lost with the copy, untold.)"""
    source, target, link, bundle, session = await _typist_moving_held(
        spawn_daemon, make_bundle, tmp_path, nursery, _READER
    )
    with trio.fail_after(60):
        await wait_output(source.client, "typist", "ready")
        await session.type("one\ntwo\nfi")  # two lines and one begun
        await wait_output(source.client, "typist", "fi")  # its echo: in the terminal's queue
        async with _moving(source, "typist", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            await session.type("ve\n")
            assert (await source.client.get("/containers/typist")).status_code == 200
            link.later, link.refuse_held = "pass", end == "failed"
            _release(link)
        (bundle / "rootfs" / "go").touch()
        if end == "failed":
            assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"], steps[-1]
            await wait_output(source.client, "typist", "got five")
            got = _got(await log_bytes(source.client, "typist"))
            assert got == ["got one", "got two", "got five"], got
            await session.drop()
            return
        assert steps[-1]["step"] == "done", steps
        await session.to_end()
        status = session.status
        assert status is not None, session.close_code
        assert (status.get("moved"), status.get("inputNotTaken")) == (True, len("ve\n"))
        moved = (await target.client.get("/containers/typist")).json()
        there = await wsclient.attach(
            "", "typist", moved["processes"][0]["pid"], unix=str(target.socket)
        )
        await there.type("ve\n")  # typed again there
        await wait_output(target.client, "typist", "got five")
    got = _got(await log_bytes(target.client, "typist"))
    assert got == ["got one", "got two", "got five"], got
    await there.detach()


def _read_lines(log: bytes) -> list[str]:
    """What a reader said of what it read (``got [...]``, ``eof [...]``, ``finished``), out
    of its terminal's output, the echo of what was typed among it (as :func:`_got`)."""
    said = []
    for line in log.decode(errors="replace").splitlines():
        at = [line.find(mark) for mark in ("got [", "eof [", "finished") if mark in line]
        if at:
            said.append(line[min(at) :])
    return said


#: A reader that waits for /go, then reads lines to an end of file, and lines again.
_TO_EOF_READER = (
    "sh", "-c",
    "echo ready; until [ -e /go ]; do usleep 10000; done;"
    ' while read l; do echo "got [$l]"; done; echo "eof [$l]";'
    ' while read l; do echo "got [$l]"; done; echo finished',
)  # fmt: skip


#: A reader that waits for /go, then says of each line it reads how long it is, and how
#: it begins.
_MEASURING_READER = (
    "sh", "-c",
    "echo ready; until [ -e /go ]; do usleep 10000; done;"
    ' while read l; do echo "got ${#l} ${l:0:8}"; done',
)  # fmt: skip


async def _typed_then_moved(
    source: Side, target: Side, bundle: Path, *typed: tuple[str, str]
) -> wsclient.Attached:
    """Start ``bundle`` (a reader with a terminal) as "typist" on ``source``, type into its
    terminal there each text of ``typed``, each followed by a wait for its echo (the second
    of each pair; none if empty), move it to ``target`` and let it read there (/go): an
    attach session there."""
    info = await start_container(source.client, "typist", bundle)
    session = await wsclient.attach(
        "", "typist", info["processes"][0]["pid"], unix=str(source.socket)
    )
    await wait_output(source.client, "typist", "ready")
    for text, echo in typed:
        await session.type(text)
        if echo:
            await wait_output(source.client, "typist", echo)
    steps = await migrate(source.client, "typist", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    await session.to_end()
    assert session.status is not None, session.close_code
    assert session.status.get("inputNotTaken", 0) == 0, session.status
    moved = (await target.client.get("/containers/typist")).json()
    there = await wsclient.attach(
        "", "typist", moved["processes"][0]["pid"], unix=str(target.socket)
    )
    (bundle / "rootfs" / "go").touch()
    return there


async def test_a_terminal_s_pending_end_of_file_moves_as_its_eof_character(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Ctrl-D typed at the source and not read (the terminal's EOF character, in canonical
    mode), twice after a line begun (``two``), as one ends input there, ends that line on
    the target too: the reader there reads ``two`` and then the end of its input, and reads
    on after it what was typed behind it (``th``, a line begun) and there (``ree``). (Twice:
    the kernel drops the first for a reader that reads one byte at a time, as busybox's
    ``read`` does, the line's last byte filling its buffer; the source's would read the
    same.) (Before, the hand-off took each as the NUL the kernel keeps for it: the target
    read ``two``, two NULs and ``three`` as one line, and no end of file.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(_TO_EOF_READER, terminal=True)
    with trio.fail_after(60):
        # "th" is echoed, the EOF character is not: its echo says both are in the queue.
        typed = ("one\ntwo\x04\x04th", "th")
        there = await _typed_then_moved(source, target, bundle, typed)
        await there.type("ree\n\x04")  # a line and an end of file typed there
        await _read_two_then_its_end(target.client)
    await there.detach()


async def _read_two_then_its_end(client: httpx.AsyncClient) -> None:
    """The ``typist`` of ``client``'s daemon read ``one``, then ``two`` ended by the end of
    its input (before ``three``, typed behind it, came), then ``three`` and the end again."""
    await wait_output(client, "typist", "eof [")
    said = _read_lines(await log_bytes(client, "typist"))
    assert said[:2] == ["got [one]", "eof [two]"], said
    await wait_output(client, "typist", "finished")
    said = _read_lines(await log_bytes(client, "typist"))
    assert said == ["got [one]", "eof [two]", "got [three]", "finished"], said


async def test_a_terminal_s_pending_end_of_file_is_put_back_as_such_when_the_move_fails(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The same input, and the move fails at its finish after the hand-off: what was taken
    is put back into the terminal here, the EOF characters as such, and the copy resumed
    here reads ``two`` and then the end of its input, as if nothing had moved. (Before, the
    NULs taken went back as NULs: it read ``two``, NULs and ``three`` as one line.)"""
    source, _, link, bundle, session = await _typist_moving_held(
        spawn_daemon, make_bundle, tmp_path, nursery, _TO_EOF_READER
    )
    with trio.fail_after(60):
        await wait_output(source.client, "typist", "ready")
        await session.type("one\ntwo\x04\x04th")
        await wait_output(source.client, "typist", "th")
        async with _moving(source, "typist", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            link.later, link.refuse_held = "pass", True
            _release(link)
        assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"], steps[-1]
        (bundle / "rootfs" / "go").touch()
        await session.type("ree\n\x04")
        await _read_two_then_its_end(source.client)
    await session.drop()


async def test_a_terminal_s_characters_typed_literally_move_as_such(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Characters typed at the source as literal ones (Ctrl-V first) and not read, a Ctrl-C
    in a whole line and a Ctrl-U in a line begun, are read on the target as they were
    typed: the line with its Ctrl-C, the begun one with its Ctrl-U and what was typed there.
    (Before, typed again on the target without their Ctrl-V, the Ctrl-C interrupted the
    reader, and the Ctrl-U erased the line begun.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(_MEASURING_READER, terminal=True)
    # Their echoes: "two", and the begun line's last character, "k" (Ctrl-V Ctrl-U is echoed
    # as "^U"; nothing before it has a "k").
    typed = (("one\x16\x03two\n", "two"), ("begun\x16\x15k", "k"))
    with trio.fail_after(60):
        there = await _typed_then_moved(source, target, bundle, *typed)
        await there.type("end\n")
        await wait_output(target.client, "typist", "got 10 ")
    got = re.findall(r"got \d+ [^\r\n]*", (await log_bytes(target.client, "typist")).decode())
    assert got == ["got 7 one\x03two", "got 10 begun\x15ke"], got
    await there.detach()


async def test_a_terminal_s_input_moves_whole_past_its_queue_s_4_kib(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """More input typed at the source and not read than a terminal's queue holds (4095
    bytes in canonical mode): what waits behind it, in the pty's own buffer, is taken too
    (a read of the empty queue flushes that buffer into it) and read on the target, every
    line, in order. A line typed longer than the queue holds is not whole: the kernel keeps
    its first 4094 or 4095 characters and its newline (the queue's 4096 places, less its
    reader's and perhaps one more, as the characters came into it), and the reader reads
    that, as it would have read it at the source: what the move takes is already cut."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(_MEASURING_READER, terminal=True)
    first = [f"first {n:02}".ljust(39, ".") for n in range(60)]  # 2400 bytes, in the queue
    then = [f"then {n:02}".ljust(39, ".") for n in range(30)]  # behind the long line
    typed = (
        ("".join(f"{line}\n" for line in first), "first 59"),
        ("x" * 5000 + "\n" + "".join(f"{line}\n" for line in then), ""),
    )
    with trio.fail_after(60):
        there = await _typed_then_moved(source, target, bundle, *typed)
        await wait_output(target.client, "typist", f"got 39 {then[-1][:8]}")
    # Told in short lines: the echo of what waited in the pty's buffer comes as it is read,
    # between the reader's lines (a long one could be cut by it).
    got = re.findall(r"got \d+ .{8}", (await log_bytes(target.client, "typist")).decode())
    # The long line's cut: 4094 or 4095 characters, as they came into the queue (at once, or
    # piecemeal as the queue was read, here or there).
    kept = next((said for said in got if said.endswith(" xxxxxxxx")), "got 4094 xxxxxxxx")
    assert kept in ("got 4094 xxxxxxxx", "got 4095 xxxxxxxx"), got
    long = "x" * int(kept.split()[1])
    assert got == [f"got {len(line)} {line[:8]}" for line in [*first, long, *then]], got
    await there.detach()


#: A container that does not read its terminal until /go is in its rootfs, and says so when
#: its terminal is resized (SIGWINCH: the resize an attach session sends after its input is
#: applied once that input was all written, so its word says the input is in the terminal);
#: then it reads lines, as :data:`_MEASURING_READER`.
_RESIZED_THEN_READER = (
    "sh", "-c",
    "trap 'echo resized' WINCH; echo ready; until [ -e /go ]; do usleep 10000; done;"
    ' while read l; do echo "got ${#l} ${l:0:8}"; done',
)  # fmt: skip


#: 460 lines of 39 characters, 18400 bytes with their newlines: more than one write puts
#: into a new pty (13.8-15.4 KiB on a 6.18 kernel), less than one holds typed piecemeal
#: (20-22 KiB).
_MANY_LINES = [f"line {n:03}".ljust(39, ".") for n in range(460)]


async def _typed_unread(source: Side, session: wsclient.Attached) -> None:
    """Type :data:`_MANY_LINES` into the typist's terminal at ``source`` (an attach session),
    each a message of its own, as typed, and return once all of it is in the terminal: a
    resize after them, applied once they were written, says "resized"."""
    await wait_output(source.client, "typist", "ready")
    for line in _MANY_LINES:
        await session.type(f"{line}\n")
    await session.resize(99, 33)
    await wait_output(source.client, "typist", "resized")


@pytest.mark.parametrize("then", ["read", "deleted", "failed"])
async def test_a_terminal_s_input_past_what_a_new_terminal_takes_does_not_hold_the_move(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery, then: str
) -> None:
    """More input pending at the source than a terminal takes at once from the hand-off,
    the container reading none of it: typed in short messages, a terminal holds more (about
    20 KiB here: its queue, and the pty's buffer behind it, filled piecemeal) than one write
    of it all puts into it, or into a new one (about 14-15 KiB), and the rest would be
    written only as the container reads. The move does not wait for that: it is done, the
    session here told nothing was lost (inputNotTaken 0), and what the target's terminal
    could not take yet is typed into it as the container reads, before what is typed there
    after the move; once it reads, it reads every line, in order. Deleted there before it
    read, it goes at once, the rest of the input with it. A move that fails after the
    hand-off (its finish refused) puts it all back here, and the copy resumed here reads every
    line. (Before, the target's write waited for room that never came: the move failed
    after a minute, frozen all along, "did not take the stdin within 30 s", here left
    paused (rolledBack false: the session there, held by the write, answered no abort), or
    the test's client gave up on the silent move first; and a put-back
    waited 30 s for room, frozen, then resumed the copy without the rest: it read 384 of the
    460 lines.)"""
    source, target, link, bundle, session = await _typist_moving_held(
        spawn_daemon, make_bundle, tmp_path, nursery, _RESIZED_THEN_READER
    )
    with trio.fail_after(90):
        await _typed_unread(source, session)
        async with _moving(source, "typist", f"unix:{link.path}") as steps:
            await link.holding.wait()  # the input handed on, the finish held
            link.later, link.refuse_held = "pass", then == "failed"
            _release(link)
        if then == "failed":
            assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"], steps[-1]
            there, daemon = session, source
        else:
            assert steps[-1]["step"] == "done", steps
            await session.to_end()
            assert session.status is not None, session.close_code
            assert session.status.get("inputNotTaken", 0) == 0, session.status
            if then == "deleted":  # the rest of the input still waiting for room there
                gone = await target.client.delete("/containers/typist", params={"timeout": 0})
                assert gone.status_code == 200, gone.text
                return
            moved = (await target.client.get("/containers/typist")).json()
            there = await wsclient.attach(
                "", "typist", moved["processes"][0]["pid"], unix=str(target.socket)
            )
            daemon = target
        await there.type("typed there\n")  # behind what the move handed on, or put back
        (bundle / "rootfs" / "go").touch()
        await wait_output(daemon.client, "typist", "got 11 typed th")
    got = re.findall(r"got \d+ .{8}", (await log_bytes(daemon.client, "typist")).decode())
    assert got == [f"got {len(line)} {line[:8]}" for line in [*_MANY_LINES, "typed there"]], got
    await there.detach()


@pytest.mark.parametrize("first", ["done", "failed"])
async def test_a_terminal_s_input_still_typed_ahead_moves_on_whole(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    first: str,
) -> None:
    """The same input moves again while what the terminal could not take at once is still
    to be typed into it, the container reading none of it: moved back from the target
    (``done``: the target's type-ahead under way), or moved again from the source after a
    move failed at its finish (``failed``: the put-back under way). The move takes what
    waits to be typed with what waits in the terminal, and the container, let read where
    it went, reads every line, in order, then what was typed there. (Before, the move took
    only what was in the terminal: the rest was lost with the copy left behind, the
    type-ahead finding its input closed, the put-back writing it into the frozen copy's
    terminal behind what the move took; the reader read some 380 of the 460 lines. And that
    put-back's end let what was typed at the source after the second move's hand-off go on
    into the frozen copy, lost with it, told taken.)"""
    source, target, link, bundle, session = await _typist_moving_held(
        spawn_daemon, make_bundle, tmp_path, nursery, _RESIZED_THEN_READER
    )
    late = "late\n"
    with trio.fail_after(90):
        await _typed_unread(source, session)
        if first == "done":
            steps = await migrate(source.client, "typist", to=f"unix:{target.socket}")
            assert steps[-1]["step"] == "done", steps
            # The target types the rest ahead; the container moves back before it reads.
            steps = await migrate(target.client, "typist", to=f"unix:{source.socket}")
            daemon = source
        else:
            async with _moving(source, "typist", f"unix:{link.path}") as steps:
                await link.holding.wait()  # the input handed on, the finish held
                link.later, link.refuse_held = "pass", True
                _release(link)
            assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"], steps[-1]
            # The put-back writes the rest as the copy reads; it moves again before it reads,
            # and what is typed here after this move's hand-off is held, as in any move (not
            # let go on into the frozen copy once the put-back that this move took ends).
            again = LossyLink(
                tmp_path / "again.sock", target.socket, hang=b"/finish HTTP/1.1",
                hang_until_released=True,
            )  # fmt: skip
            await nursery.start(again.serve)
            async with _moving(source, "typist", f"unix:{again.path}") as steps:
                await again.holding.wait()  # the input handed on, the finish held
                await session.type(late)
                assert (await source.client.get("/containers/typist")).status_code == 200
                again.later = "pass"
                _release(again)
            daemon = target
        assert steps[-1]["step"] == "done", steps
        await session.to_end()
        assert session.status is not None, session.close_code
        not_taken = len(late) if first == "failed" else 0
        assert session.status.get("inputNotTaken", 0) == not_taken, session.status
        moved = (await daemon.client.get("/containers/typist")).json()
        there = await wsclient.attach(
            "", "typist", moved["processes"][0]["pid"], unix=str(daemon.socket)
        )
        # Behind what the move handed on, whole lines: its Ctrl-U (the line's kill) erases
        # nothing then. (Should the input end with a line begun, a part lost, it erases that
        # part, and the reader's lines say what was lost, not just time out.)
        await there.type("\x15typed there\n")
        (bundle / "rootfs" / "go").touch()
        await wait_output(daemon.client, "typist", "got 11 typed th")
    got = re.findall(r"got \d+ .{8}", (await log_bytes(daemon.client, "typist")).decode())
    assert got == [f"got {len(line)} {line[:8]}" for line in [*_MANY_LINES, "typed there"]], got
    await there.detach()


async def test_an_exec_s_own_terminal_holds_the_move_off_its_input_alone_too(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Only the init's terminal has its input handed on in a move (take_terminal): an exec's
    own (exec -t) never moves, for the move is refused (409) while the exec runs, and while
    what it left running holds its terminal, even as its input alone (fd 0, its output
    elsewhere): so nothing typed into that terminal is lost in a move. (CRIU could not carry
    it anyway: its master is the daemon's, outside the container, and runc's restore makes a
    terminal for the init alone.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    to = f"unix:{target.socket}"
    # The exec's shell leaves a sleep whose stdin is its terminal, its output /dev/null.
    holder = "trap '' HUP; exec 3<&0; sleep 100000 <&3 >/dev/null 2>&1 3<&- & exit 0"
    since = now()
    exec_d = await source.client.put(
        "/containers/counter/processes", json={"args": ["sh", "-c", holder], "terminal": True}
    )
    assert exec_d.status_code == 201, exec_d.text
    pid = exec_d.json()["pid"]
    with trio.fail_after(30):
        assert await wait_exit(source.client, "counter", pid, since) == 0
        answer = await source.client.post("/containers/counter/migrate", json={"to": to})
    assert answer.status_code == 409, answer.text
    assert f"what exec {pid} left running still writes" in answer.json()["error"]
    here = (await source.client.get("/containers/counter")).json()
    assert here["state"]["status"] == "running", here
    assert (await target.client.get("/containers/counter")).status_code == 404


async def test_a_moved_container_keeps_its_limits(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container started with limits of its own runs under them on the target too (the
    restore there puts back those in force at the dump), and its record there says them."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    limits = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    await start_container(source.client, "sized", bundle, resources=limits)
    await wait_output(source.client, "sized", "3")
    with trio.fail_after(60):
        steps = await migrate(source.client, "sized", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/sized")).json()
    assert moved["resources"] == limits
    memory = cgroup_dir(moved["processes"][0]["pid"], "memory") / "memory.limit_in_bytes"
    assert memory.read_text().strip() == str(64 << 20)
    await counts_on(target.client, "sized", beyond=3)


async def started_and_moved_with_its_bundle(
    source: Side, target: Side, bundle: Path, tmp_path: Path
) -> Path:
    """Start ``bundle`` as "counter" on ``source``, let it count to 3, and move it to
    ``target`` with its bundle, to another path: that path, once the move is done."""
    target_bundle = tmp_path / "elsewhere" / "counter"
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "3")
    with trio.fail_after(60):
        steps = await migrate(
            source.client, "counter", to=f"unix:{target.socket}", withBundle=True,
            targetBundlePath=str(target_bundle),
        )  # fmt: skip
    assert steps[-1]["step"] == "done", steps
    return target_bundle


def make_nodes(rootfs: Path, *devices: tuple[str, int, int, int]) -> None:
    """Device nodes (name, kind, numbers) in ``rootfs/dev``, as debootstrap makes them."""
    for name, kind, major, minor in devices:
        os.mknod(rootfs / "dev" / name, kind | 0o600, os.makedev(major, minor))
        os.chmod(rootfs / "dev" / name, 0o666 if name != "console" else 0o600)


async def test_a_bundle_with_its_device_nodes_moves_and_counts_on(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A rootfs with dev/null, dev/zero, ... (debootstrap makes them): the target refused the
    bundle's archive for its first device node, so such a container could not move with its
    bundle. It moves now, the nodes with it."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    character = stat.S_IFCHR
    make_nodes(
        bundle / "rootfs", ("null", character, 1, 3), ("zero", character, 1, 5),
        ("urandom", character, 1, 9), ("tty", character, 5, 0), ("console", character, 5, 1),
    )  # fmt: skip
    target_bundle = await started_and_moved_with_its_bundle(source, target, bundle, tmp_path)
    for name in ("null", "zero", "urandom", "tty", "console"):
        there = os.lstat(target_bundle / "rootfs/dev" / name)
        here = os.lstat(bundle / "rootfs/dev" / name)
        assert (there.st_mode, there.st_rdev, there.st_uid) == (here.st_mode, here.st_rdev, 0)
    # The target's log starts with the restored counter's first line, which may not be
    # written yet when the move answers done.
    await wait_output(target.client, "counter", "\n")
    last_before = max(await counted(target.client, "counter"))
    await wait_output(target.client, "counter", f"{last_before + 2}\n")
    assert leftovers(bundle) == [] and leftovers(target_bundle) == []


#: A counter whose every number goes through the FIFO /pipe, which it holds open, and back.
THROUGH_A_FIFO = (
    "sh", "-c",
    "exec 3<>/pipe; i=0; while true; do i=$((i+1)); echo $i >&3; read n <&3; echo $n;"
    " sleep 0.1; done",
)  # fmt: skip


async def test_a_container_holding_a_fifo_of_its_rootfs_moves_with_it(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A named pipe in the rootfs: the migrate was a 400 (no archive carried a FIFO), so such
    a container could not move with its bundle. It moves now, the FIFO with its mode and owner,
    and CRIU restores the process's open end of it there: the numbers go on through it."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(THROUGH_A_FIFO)
    os.mkfifo(bundle / "rootfs/pipe")
    os.chmod(bundle / "rootfs/pipe", 0o660)
    os.chown(bundle / "rootfs/pipe", 1000, 0)  # root's group: runc's root has no DAC override
    target_bundle = await started_and_moved_with_its_bundle(source, target, bundle, tmp_path)
    there = os.lstat(target_bundle / "rootfs/pipe")
    assert stat.S_ISFIFO(there.st_mode)
    assert (stat.S_IMODE(there.st_mode), there.st_uid, there.st_gid) == (0o660, 1000, 0)
    with trio.fail_after(30):  # a broken pipe there: read fails, no number comes
        await counts_on(target.client, "counter", beyond=3)
    assert leftovers(bundle) == [] and leftovers(target_bundle) == []


async def test_a_bundle_holding_a_device_no_archive_carries_is_refused_before_the_move(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A block device in the rootfs: the target refused the bundle's archive once all of it
    was sent. Now the migrate is a 400 naming it before anything starts: no session on the
    target, the container running on here."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    make_nodes(bundle / "rootfs", ("null", stat.S_IFCHR, 1, 3), ("loop0", stat.S_IFBLK, 7, 0))
    os.chmod(bundle / "rootfs/dev/loop0", 0o600)
    target_bundle = tmp_path / "elsewhere" / "counter"
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    with trio.fail_after(30):
        response = await source.client.post(
            "/containers/counter/migrate",
            json={"to": f"unix:{target.socket}", "withBundle": True,
                  "targetBundlePath": str(target_bundle)},
        )  # fmt: skip
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "'dev/loop0' (the block device 7:0)" in error and "dev/null" not in error, error
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert not target_bundle.parent.exists()
    assert leftovers(bundle) == []


async def test_an_established_tcp_connection_survives_the_move(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A client and a server inside the container, over its loopback: every number arrives
    once and in order across the move (the same bundle path: the two daemons share it)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(["sh", "-c", TCP_PAIR])
    await start_container(source.client, "pair", bundle)
    await wait_output(source.client, "pair", "n5")
    before = numbers(await log_bytes(source.client, "pair"))
    steps = await migrate(source.client, "pair", to=f"unix:{target.socket}", tcp=True)
    assert [step["step"] for step in steps][-1] == "done", steps
    assert "transfer" not in [step["step"] for step in steps]  # a shared bundle: no copy
    await wait_output(target.client, "pair", f"n{before[-1] + 10}\n")
    after = numbers(await log_bytes(target.client, "pair"))
    assert after == list(range(after[0], after[0] + len(after))), after
    assert after[0] > before[-1]
    assert leftovers(bundle) == []


async def test_auto_remove_moves_with_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container started with autoRemove is one with autoRemove on the target, which removes
    it once its init exits there. (The session's offer carried the labels but not it: the
    moved container stayed, stopped, for good.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    # A counter whose init (a shell: pid 1 ignores a signal it has no handler for) ends with
    # its own status on TERM, so that the status waited for is the target's exit.
    bundle = make_bundle(["sh", "-c", f"trap 'exit 5' TERM; {COUNTER[2]}"])
    await start_container(source.client, "once", bundle, autoRemove=True)
    await wait_output(source.client, "once", "3")
    with trio.fail_after(60):
        steps = await migrate(source.client, "once", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    assert (await target.client.get("/containers/once")).json().get("autoRemove") is True
    signalled = await target.client.patch("/containers/once", json={"signal": "TERM"})
    assert signalled.status_code == 200, signalled.text
    with trio.fail_after(20):
        removed = await target.client.post("/containers/once/wait", params={"condition": "removed"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["exitStatus"] == 5
    assert (await target.client.get("/containers/once")).status_code == 404
    assert "once" not in runc_ids(target.state_dir)


async def test_the_restart_policy_moves_with_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container with a restart policy keeps it on the target, with its restartCount (the
    same container, moved: docker keeps a container's RestartCount until its user starts
    it), and the target restarts it at its exit there. Before, the offer carried neither:
    the moved container had no policy, and stayed stopped at its first exit."""
    source, target = await two_in_process(start_daemon, tmp_path)
    policy = {"name": "always"}
    info = await start_container(
        source.client, "svc", make_bundle(UNTIL_USR1), restartPolicy=policy
    )
    since = now()
    await wait_catching(info["processes"][0]["pid"], signal.SIGUSR1)
    os.kill(info["processes"][0]["pid"], signal.SIGUSR1)  # restarted once on the source
    restarted = await _next_start(source.client, "svc", since)
    await wait_catching(restarted["pid"], signal.SIGUSR1)
    with trio.fail_after(60):
        steps = await migrate(source.client, "svc", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/svc")).json()
    assert moved["restartPolicy"] == policy and moved["restartCount"] == 1, moved
    pid = moved["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)
    since = now()
    os.kill(pid, signal.SIGUSR1)
    event = await _next_start(target.client, "svc", since)
    assert event["pid"] != pid
    again = (await target.client.get("/containers/svc")).json()
    assert again["state"]["status"] == "running" and again["restartCount"] == 2
    await target.client.delete("/containers/svc", params={"timeout": 0})


async def test_the_creation_time_moves_with_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A moved container keeps its createdAt on the target (the same container, as docker's
    Created), and its run there began with the restore: its startedAt is the restore's, after
    the move began. It is listed there by its createdAt, before a container made there
    since, as a next server would list them. Before, the offer did not carry createdAt: the
    target gave it a new one."""
    source, target = await two_in_process(start_daemon, tmp_path)
    info = await start_container(source.client, "aged", make_bundle(COUNTER))
    await start_container(target.client, "young", make_bundle())
    await wait_output(source.client, "aged", "2")
    began = now()
    with trio.fail_after(60):
        steps = await migrate(source.client, "aged", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/aged")).json()
    assert moved["createdAt"] == info["createdAt"], (moved, info)
    assert moved["state"]["startedAt"] > began, (moved, began)
    assert "finishedAt" not in moved["state"]
    # Listed by its creation, oldest first, as a next server lists them (by createdAt).
    listed = (await target.client.get("/state")).json()["containers"]
    assert [c["id"] for c in listed] == ["aged", "young"]
    for container_id in ("aged", "young"):
        await target.client.delete(f"/containers/{container_id}", params={"timeout": 0})


@pytest.mark.parametrize(
    ("created", "message"),
    [
        (
            "yesterday",
            "createdAt must be a time: 'yesterday' is not an RFC 3339 timestamp such as"
            " 2026-11-28T15:09:14.915868934+00:00",
        ),
        (
            "2026-13-01T00:00:00Z",
            "createdAt must be a time: '2026-13-01T00:00:00Z' is not a valid date and time:"
            " month must be in 1..12",
        ),
        (5, "createdAt: expected a string, got the number 5"),
    ],
)
async def test_an_offer_whose_created_at_is_no_time_is_a_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory, created: object, message: str
) -> None:
    """The target refuses at the session's open a createdAt no container could have."""
    body = {"id": "moving", "bundlePath": str(make_bundle()), "checkpoint": "m1"}
    response = await client.post("/migrations", json={**body, "createdAt": created})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == message


async def _older_target(
    refused: Callable[[dict[str, Any]], str | None],
    path: Path,
    bodies: list[dict[str, Any]],
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    """A target that refuses each open whose body ``refused`` names a field of (a 400
    ``unknown field ...``, as an older daemon's converter words it) and opens the others;
    each body it was offered goes into ``bodies``."""
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen()
    task_status.started()
    async with trio.SocketListener(sock) as listener:
        while True:
            async with await listener.accept() as stream:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += await stream.receive_some(65536)
                head, _, content = request.partition(b"\r\n\r\n")
                sized = re.search(rb"(?i)content-length: *([0-9]+)", head)
                assert sized is not None, head
                length = int(sized[1])
                while len(content) < length:
                    content += await stream.receive_some(65536)
                bodies.append(json.loads(content))
                if (error := refused(bodies[-1])) is not None:
                    status, body = 400, json.dumps({"error": error}).encode()
                else:
                    status, body = 201, b'{"id":"0123456789abcdef"}'
                answer = (
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                )
                await stream.send_all(answer.encode() + body)


async def test_a_target_older_than_created_at_in_the_offer_is_offered_without_it(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A target older than createdAt in the offer refuses the unknown field (400, as any
    field it does not know): the source offers again without it, and that target gives the
    container a createdAt of its own, as before. Another 400 is the move's error."""
    bodies: list[dict[str, Any]] = []

    def refused(body: dict[str, Any]) -> str | None:
        unknown = [k for k in ("createdAt", "restartPolicy") if k in body]
        return f"unknown field '{unknown[0]}'" if unknown else None

    await nursery.start(_older_target, refused, tmp_path / "older.sock", bodies)
    target = Target(f"unix:{tmp_path / 'older.sock'}", answer_within=5, restore_within=5)
    created = "2026-12-03T10:00:00.000000001+00:00"
    with trio.fail_after(10):
        opened = await target.open(
            "aged", "/b", "m1", with_bundle=False, labels={}, auto_remove=False,
            created_at=created,
        )  # fmt: skip
    assert opened == {"id": "0123456789abcdef"}
    assert [body.get("createdAt") for body in bodies] == [created, None]
    bodies.clear()
    with trio.fail_after(10), pytest.raises(TargetError, match=r"'restartPolicy'.*\(400\)"):
        await target.open(
            "aged", "/b", "m1", with_bundle=False, labels={}, auto_remove=False,
            restart_policy=RestartPolicy("always"), created_at=created,
        )  # fmt: skip
    assert [body.get("createdAt") for body in bodies] == [created, None]
    await target.aclose()


#: The start's process of a container run with a terminal at a window's size (run -it).
SIZED = StartProcess(terminal=True, console_size=ConsoleSize(height=30, width=100))


@pytest.mark.parametrize(
    ("knows_created_at", "process", "offered"),
    [
        # Between createdAt and consoleSize (2026-12-03): the size goes, the rest stays.
        (True, SIZED, [{"terminal": True}]),
        # Older than both: its one answer names both (unknown fields first, as its converter
        # says them), and both go in one offer again.
        (False, SIZED, [{"terminal": True}]),
        # A start's process that gave the size alone: nothing of it is left to offer.
        (True, StartProcess(console_size=ConsoleSize(height=30, width=100)), [None]),
    ],
)
async def test_a_target_older_than_the_console_size_in_the_offer_is_offered_without_it(
    nursery: trio.Nursery,
    tmp_path: Path,
    knows_created_at: bool,
    process: StartProcess,
    offered: list[dict[str, Any] | None],
) -> None:
    """A container started with a terminal at a window's size (``ctr-trio run -it``, the
    start's ``process.consoleSize``) keeps the size in its record, which the offer carries:
    a target older than the field refuses it (400 ``unknown field 'consoleSize' in
    process``, as such a daemon answers). The source offers again without the size, as
    without createdAt: the move goes on (the restore takes the terminal's size from the
    images, not from consoleSize). Before, the move failed with that 400."""
    bodies: list[dict[str, Any]] = []

    def refused(body: dict[str, Any]) -> str | None:
        unknown = []
        if not knows_created_at and "createdAt" in body:
            unknown.append("unknown field 'createdAt'")
        if "consoleSize" in body.get("process", {}):
            unknown.append("unknown field 'consoleSize' in process")
        return "; ".join(unknown) or None

    await nursery.start(_older_target, refused, tmp_path / "older.sock", bodies)
    target = Target(f"unix:{tmp_path / 'older.sock'}", answer_within=5, restore_within=5)
    created = "2026-12-03T10:00:00.000000001+00:00"
    with trio.fail_after(10):
        opened = await target.open(
            "tty", "/b", "m1", with_bundle=False, labels={}, auto_remove=False,
            process=process, created_at=created,
        )  # fmt: skip
    assert opened == {"id": "0123456789abcdef"}
    assert [body.get("process") for body in bodies] == [unstructure(process), *offered]
    kept = created if knows_created_at else None
    assert [body.get("createdAt") for body in bodies] == [created, kept]
    await target.aclose()


async def test_the_start_process_moves_with_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container started with another process than its bundle's (the start's process)
    keeps it on the target: its record there shows it, and a start again there runs it, not
    the bundle's (before, the offer did not carry it: the target's record said none)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    given = {"args": ["sh", "-c", f"echo moved-$MARK; {COUNTER[2]}"], "env": ["MARK=kept"]}
    await start_container(source.client, "cmd", make_bundle(), process=given)
    await wait_output(source.client, "cmd", "3")
    with trio.fail_after(60):
        steps = await migrate(source.client, "cmd", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/cmd")).json()
    assert moved["process"] == given
    killed = await target.client.patch("/containers/cmd", json={"signal": "KILL"})
    assert killed.status_code == 200, killed.text
    ended = await target.client.post("/containers/cmd/wait")
    assert ended.status_code == 200, ended.text
    result = await run_cli("--address", f"unix:{target.socket}", "start", "cmd")
    assert result.code == 0, result.err
    again = (await target.client.get("/containers/cmd")).json()
    assert again["processes"][0]["args"] == given["args"]
    await wait_output(target.client, "cmd", "moved-kept")


async def test_a_terminal_the_start_gave_moves_with_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A shell given a terminal its bundle lacks is restored on the target with a terminal
    (before, the target restored it from the bundle's config, without one: CRIU failed)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    given = {"args": ["sh"], "terminal": True}
    await start_container(source.client, "shell", make_bundle(), process=given)
    with trio.fail_after(60):
        steps = await migrate(source.client, "shell", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/shell")).json()
    assert moved["process"] == given
    assert (moved["processes"][0]["terminal"], run_status(moved["state"])) == (
        True,
        {"status": "running"},
    )


async def test_a_container_run_with_a_terminal_s_size_moves_to_a_target_older_than_it(
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container run with a terminal at a window's size (``ctr-trio run -it``: the
    start's ``process.consoleSize``) moves to a target older than the field (before
    2026-12-03), here the target daemon made to read as one did: it refuses the field in
    the offer (400 ``unknown field 'consoleSize' in process``) and in the checkpoint's
    ``process.json`` (which it cannot read: a 404 at the restore). The source offers again
    without the size, and its dump keeps the start's process without it: the container
    runs there with its terminal, as it had it. Before, the move failed at the open; with
    the offer alone mended, at the restore (rolled back)."""
    opened = incoming.Incoming.open
    kept_process = checkpoints.kept_process

    def open_older(self: incoming.Incoming, *args: Any, **options: Any) -> Any:
        process = options.get("process")
        if process is not None and process.console_size is not None:
            raise InvalidRequest("unknown field 'consoleSize' in process")
        return opened(self, *args, **options)

    def kept_process_older(bundle: Path, name: str) -> checkpoints.KeptProcess | None:
        file = checkpoints.checkpoints_dir(bundle) / name / checkpoints.PROCESS_NAME
        if file.exists() and "consoleSize" in (json.loads(file.read_text())["process"] or {}):
            raise NotFound(
                f"checkpoint {name!r} has unreadable process.json: unknown field"
                " 'consoleSize' in process"
            )
        return kept_process(bundle, name)

    # Both daemons run here: only the target opens sessions and restores from checkpoints.
    monkeypatch.setattr(incoming.Incoming, "open", open_older)
    monkeypatch.setattr(checkpoints, "kept_process", kept_process_older)
    source = await start_daemon(tmp_path / "state-a", listen=Listen(host="127.0.0.1", port=18968))
    target = await start_daemon(tmp_path / "state-b", listen=Listen(host="127.0.0.1", port=18969))
    given = {"terminal": True, "consoleSize": {"height": 30, "width": 100}}
    await start_container(source.client, "tty", make_bundle(COUNTER), process=given)
    await wait_output(source.client, "tty", "2")
    with trio.fail_after(60):
        steps = await migrate(source.client, "tty", to="127.0.0.1:18969")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/tty")).json()
    assert moved["process"] == {"terminal": True}, moved
    assert (moved["processes"][0]["terminal"], run_status(moved["state"])) == (
        True,
        {"status": "running"},
    )
    assert (await source.client.get("/containers/tty")).status_code == 404
    await target.client.delete("/containers/tty", params={"timeout": 0})


async def test_a_terminal_s_size_moves_in_the_images_and_its_start_s_in_the_record(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A container run with a terminal at a window's size (``ctr-trio run -it``: the
    start's ``process.consoleSize``) whose terminal was resized since: restored on the
    target, its terminal has the size it had at the dump (CRIU's images carry it; the
    target's runc restore does not apply ``consoleSize``), and the target's record keeps the
    start's size, for a start again there (as the source's record did)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    given = {"terminal": True, "consoleSize": {"height": 30, "width": 100}}
    script = (
        "echo started $(stty size); stty rows 40 cols 120; echo resized $(stty size);"
        " until [ -e /tmp/moved ]; do sleep 0.1; done; echo moved $(stty size); sleep 100000"
    )
    await start_container(source.client, "tty", make_bundle(["sh", "-c", script]), process=given)
    with trio.fail_after(30):
        await wait_output(source.client, "tty", "started 30 100")
        await wait_output(source.client, "tty", "resized 40 120")
    with trio.fail_after(60):
        steps = await migrate(source.client, "tty", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    moved = (await target.client.get("/containers/tty")).json()
    assert moved["process"] == given
    touched = await target.client.put(
        "/containers/tty/processes", json={"args": ["touch", "/tmp/moved"]}
    )
    assert touched.status_code == 201, touched.text
    with trio.fail_after(30):
        await wait_output(target.client, "tty", "moved ")
    logged = (await target.client.get("/containers/tty/logs")).text
    said = [json.loads(line)["data"] for line in logged.splitlines()]
    assert any("moved 40 120" in data for data in said), said
    await target.client.delete("/containers/tty", params={"timeout": 0})


async def test_a_target_that_refuses_leaves_the_container_running_here(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The target already runs a container of that id: 502 before anything starts. (The
    target's has a cgroup of its own: two daemons of one host cannot both run a container of
    one id in the cgroup runc names after it.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "twin", bundle)

    def own_cgroup(config: dict[str, Any]) -> None:
        config["linux"]["cgroupsPath"] = "twin-on-the-target"

    await start_container(target.client, "twin", make_bundle(COUNTER, edit=own_cgroup))
    response = await source.client.post(
        "/containers/twin/migrate", json={"to": f"unix:{target.socket}"}
    )
    assert response.status_code == 502, response.text
    assert "runs here already" in response.json()["error"]
    assert (await source.client.get("/containers/twin")).json()["state"]["status"] == "running"
    assert leftovers(bundle) == []


async def test_a_stopped_container_of_the_id_on_the_target_leaves_its_log_behind(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The target has a stopped container of the id (another one: its own bundle and
    output): the moved one replaces it, and its log there begins at the restore, as
    docs/api.md says, without the stopped one's output. (It went on from that log, as a
    user's restore of the stopped container's own checkpoint does: the moved container's
    log there began with another container's lines.)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "twin", bundle)
    await wait_output(source.client, "twin", "3")
    since = now()

    def own_cgroup(config: dict[str, Any]) -> None:  # runc names cgroups after ids
        config["linux"]["cgroupsPath"] = "twin-on-the-target"

    other_bundle = make_bundle(("sh", "-c", "echo the other twin; exit 3"), edit=own_cgroup)
    other = await start_container(target.client, "twin", other_bundle)
    assert await wait_exit(target.client, "twin", other["processes"][0]["pid"], since) == 3
    await wait_output(target.client, "twin", "the other twin")
    steps = await migrate(source.client, "twin", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    await counts_on(target.client, "twin", beyond=3)
    assert b"the other twin" not in await log_bytes(target.client, "twin")


async def stopped_there(target: Side, make_bundle: BundleFactory) -> Callable[..., Awaitable[None]]:
    """A stopped container ``counter`` on the target (its own bundle, labels, output and CPU
    period), and a check that it is there as it is now: its record (all a GET shows, and the
    period its user set, which holds a cpu.cpus off), its log and its wait's answer."""

    def cgroup_of_its_own(config: dict[str, Any]) -> None:  # runc names cgroups after ids
        config["linux"]["cgroupsPath"] = "counter-stopped-here"

    stopped_bundle = make_bundle(
        ["sh", "-c", "echo the stopped one; exit 3"], edit=cgroup_of_its_own
    )
    await start_container(
        target.client, "counter", stopped_bundle, labels={"mine": "yes"},
        resources={"cpu": {"period": 50000}},
    )  # fmt: skip
    with trio.fail_after(10):
        ended = (await target.client.post("/containers/counter/wait")).json()
    assert ended["exitStatus"] == 3, ended
    await wait_output(target.client, "counter", "the stopped one")
    before = (await target.client.get("/containers/counter")).json()
    log_before = await log_bytes(target.client, "counter")

    async def as_it_was(*, init_pid: bool = True) -> None:
        assert (await target.client.get("/containers/counter")).json() == before
        cpus = {"resources": {"cpu": {"cpus": 0.5}}}
        refused = await target.client.patch("/containers/counter", json=cpus)
        assert refused.status_code == 409, refused.text  # and nothing changed
        assert await log_bytes(target.client, "counter") == log_before
        answer = (await target.client.post("/containers/counter/wait")).json()
        assert answer == (ended if init_pid else {k: v for k, v in ended.items() if k != "pid"})
        # nothing of the move's left beside it
        assert [p.name for p in (target.state_dir / "containers").iterdir()] == ["counter"]

    return as_it_was


async def test_an_aborted_move_puts_back_the_stopped_container_it_replaced(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """The target restores the container over a stopped one of its id, but the move is
    aborted (the restore's answer lost: the source aborts the session): the stopped container
    is back as it was, its record (all a GET showed), its log and its wait, and so it is
    for the target's next server (kill -9 of this one). (Before, it was gone: a 404.)"""
    source, target = await spawned_target(spawn_daemon, start_daemon, tmp_path)
    as_it_was = await stopped_there(target, make_bundle)
    link = LossyLink(tmp_path / "link.sock", target.socket, drop=b"/restore HTTP/1.1")
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "3")
    steps = await migrate(source.client, "counter", to=f"unix:{link.path}")
    assert link.dropped is not None and b" 201 " in link.dropped  # the target did restore
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    await as_it_was()
    count = target.servings
    os.kill(target.server_pid(), signal.SIGKILL)
    await target.served(count + 1)
    await as_it_was()
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")


@pytest.mark.parametrize(
    ("to", "problem"),
    [
        ("ftp://x:1", "'ftp://x' is no host name or IP address"),
        ("a b:8888", "'a b' is no host name or IP address"),
        ("127.0.0.1:0", "'127.0.0.1:0' has no valid port"),
        # past 65535: said to be none of the forms, as 'nohost' is (found in trial5)
        ("127.0.0.1:99999", "'127.0.0.1:99999' has no valid port"),
        ("tcp://127.0.0.1:70000", "'tcp://127.0.0.1:70000' has no valid port"),
        # the connect's idna codec raised on a long zone: a 500 'internal error: UnicodeError'
        ("http://[::1%" + "x" * 300 + "]:80", "is no host name or IP address"),
        ("a." * 130 + ":80", "is no host name or IP address"),  # longer than DNS takes: 502
    ],
    ids=["scheme", "space", "port-0", "port-99999", "tcp-port-70000", "zone", "long-name"],
)
async def test_a_target_address_no_client_can_reach_is_a_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory, to: str, problem: str
) -> None:
    """HOST:PORT took whatever came before the last colon for the host, and port 0: the move
    was a 502 from the resolver or the connect ('Name or service not known'), where docs/api.md
    names the three forms of an address and bad input is a 400."""
    await start_container(client, "c", make_bundle(COUNTER))
    response = await client.post("/containers/c/migrate", json={"to": to})
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("to: ") and problem in response.json()["error"]
    assert (await client.get("/containers/c")).json()["state"]["status"] == "running"


async def _answer_everything_with(
    path: Path, status: int, body: bytes, *, task_status: trio.TaskStatus[None]
) -> None:
    """Something at the migration's address that is not a daemon: every request gets this."""
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(str(path))
    sock.listen()
    listener = trio.SocketListener(sock)
    task_status.started()
    async with listener:
        while True:
            stream = await listener.accept()
            async with stream:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += await stream.receive_some(65536)
                head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n"
                await stream.send_all(head.encode() + body)


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (201, b"[]", "opened no migration session this daemon can use"),
        (201, b"{}", "opened no migration session this daemon can use"),
        (201, b'{"id": "../../containers/x"}', "opened no migration session this daemon can use"),
        (201, b"[" * 5000, "is not JSON"),
        (400, b"[" * 5000, "refused to open a migration session"),
    ],
)
async def test_a_target_that_is_not_a_daemon_is_a_502(
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    nursery: trio.Nursery,
    tmp_path: Path,
    status: int,
    body: bytes,
    problem: str,
) -> None:
    """The client names the target: whatever answers there, the move is refused with a 502
    before anything starts (these were 500s with a traceback: the session's id taken from an
    answer of another shape, a body nested too deeply for the parser)."""
    fake = tmp_path / "fake.sock"
    await nursery.start(_answer_everything_with, fake, status, body)
    await start_container(client, "c", make_bundle(COUNTER))
    response = await client.post("/containers/c/migrate", json={"to": f"unix:{fake}"})
    assert response.status_code == 502, response.text
    assert problem in response.json()["error"]
    assert (await client.get("/containers/c")).json()["state"]["status"] == "running"


@pytest.mark.parametrize("status", [404, 405])
async def test_a_touch_a_target_does_not_know_ends_the_touches(
    nursery: trio.Nursery, tmp_path: Path, status: int
) -> None:
    """A target older than ``GET /migrations/{migration}`` answers it 404 or 405, as one
    whose session ended answers 404: the source's touches end there (the step that follows
    finds out), and the move does not fail for it. Any other error is raised (and logged by
    the touches, which go on)."""
    fake = tmp_path / "fake.sock"
    await nursery.start(_answer_everything_with, fake, status, b'{"error": "no"}')
    target = Target(f"unix:{fake}", answer_within=5, restore_within=5)
    with trio.fail_after(10):
        assert await target.touch("0123456789abcdef", within=5) is False
    refusing = tmp_path / "refusing.sock"
    await nursery.start(_answer_everything_with, refusing, 409, b'{"error": "no"}')
    other = Target(f"unix:{refusing}", answer_within=5, restore_within=5)
    with trio.fail_after(10), pytest.raises(TargetError, match=r"\(409\)"):
        await other.touch("0123456789abcdef", within=5)
    await target.aclose()
    await other.aclose()


@pytest.mark.parametrize("lost", ["held", "closed"])
async def test_an_unanswered_open_leaves_no_session_in_the_way_of_the_next_move(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery, lost: str
) -> None:
    """The target opens the session, but its answer is lost: it never comes (the open times
    out) or its connection breaks. The source knew no session to abort, and the target kept
    it until it aborted itself, idle, a minute later: meanwhile every move of the container
    there was refused ("moving here already"). Now the source aborts the session by the
    name it opened it with, and the next move goes through at once."""
    source, target = await two_in_process(start_daemon, tmp_path, runtime_timeout=2.0)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, drop=b"POST /migrations HTTP/1.1",
        hold_dropped=lost == "held",
    )  # fmt: skip
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    with trio.fail_after(30):
        response = await source.client.post(
            "/containers/counter/migrate", json={"to": f"unix:{link.path}"}
        )
    assert link.dropped is not None and link.dropped.startswith(b"HTTP/1.1 201"), link.dropped
    assert response.status_code == 502, response.text
    assert "open a migration session" in response.json()["error"], response.text
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert os.listdir(target.state_dir / "migrations") == []
    with trio.fail_after(30):
        steps = await migrate(source.client, "counter", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"


async def test_a_failed_dump_rolls_back(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The dump fails after the bundle went over (the container holds a TCP connection and
    the move does not say tcp): failed with rolledBack, the container runs and counts on here,
    the target has no container, no session, no bundle."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(["sh", "-c", TCP_PAIR])
    target_bundle = tmp_path / "b" / "pair"
    await start_container(source.client, "pair", bundle)
    await wait_output(source.client, "pair", "n3")
    steps = await migrate(
        source.client, "pair", to=f"unix:{target.socket}", withBundle=True,
        targetBundlePath=str(target_bundle),
    )  # fmt: skip
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    assert "tcp-established" in last["error"]
    assert (await source.client.get("/containers/pair")).json()["state"]["status"] == "running"
    seen = numbers(await log_bytes(source.client, "pair"))[-1]
    await wait_output(source.client, "pair", f"n{seen + 3}\n")
    assert (await target.client.get("/containers/pair")).status_code == 404
    assert not target_bundle.exists() and leftovers(bundle) == []
    assert runc_ids(target.state_dir) == []


async def test_a_dump_past_the_moves_timeout_rolls_back(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``timeout`` in the body, which the schema offers as a checkpoint's, bounds the move's
    dump: it was taken and ignored (the dump ran under --checkpoint-timeout, 600 s, here
    held for the 60 s CRIU's script sleeps). Past it, the move fails rolled back and the
    container counts on here."""
    hold = HeldCriu(tmp_path, "network-lock")
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    steps: list[dict[str, Any]] = []

    async def move() -> None:
        steps.extend(
            await migrate(source.client, "counter", to=f"unix:{target.socket}", timeout=1.5)
        )

    with hold, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(move)
            await hold.held()
            await hold.ended()  # killed at the move's deadline
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    assert "did not finish within 1.5 seconds" in last["error"], last["error"]
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")
    assert (await target.client.get("/containers/counter")).status_code == 404


async def test_a_freeze_killed_after_it_froze_the_container_is_undone(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """runc pause froze the container, then was killed at the runtime deadline (a loaded
    machine): the move fails rolled back, and the container runs on here, as its record says.
    (Before, the roll-back resumed only a freeze that had said it was done: the container
    stayed frozen, listed as running, and counted no more.)"""
    slow_pause = tmp_path / "slow-pause-runc"
    slow_pause.write_text(
        "#!/bin/sh\n"  # the pause is runc's own; it only does not end in time
        'for a in "$@"; do [ "$a" = pause ] && { runc "$@" || exit 1; exec sleep 30; }; done\n'
        'exec runc "$@"\n'
    )
    slow_pause.chmod(0o755)
    source, target = await two_daemons(
        spawn_daemon, tmp_path, "--runtime", str(slow_pause), "--runtime-timeout", "2"
    )
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    with trio.fail_after(30):
        steps = await migrate(source.client, "counter", to=f"unix:{target.socket}")
    assert [step["step"] for step in steps] == ["session", "failed"], steps
    assert steps[-1]["rolledBack"] is True, steps
    assert "runc pause did not finish within 2 seconds" in steps[-1]["error"], steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert runc_state(source.state_dir, "counter")["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    with trio.fail_after(10):
        await wait_output(source.client, "counter", f"{seen + 2}\n")
    assert (await target.client.get("/containers/counter")).status_code == 404
    # The freeze was never announced (no `pause` event: runc did not say it was done), so
    # its undoing is not either: a watcher of the events saw the container running all along.
    # Its end, so that an event is there to read: before, the first was the lone `resume`.
    init = (await source.client.get("/containers/counter")).json()["processes"][0]["pid"]
    response = await source.client.post(f"/containers/counter/process/{init}", json={"signal": 9})
    assert response.status_code == 200, response.text
    with trio.fail_after(10):
        types = await event_types(
            source.client, since="1970-01-01T00:00:00Z", container_id="counter", count=1,
            only="pause,resume,exit",
        )  # fmt: skip
    assert types == ["exit"]


async def test_a_dump_longer_than_the_targets_idle_limit_keeps_the_session(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target aborts a session that has had no request for its idle limit (60 s; 2 s
    here), but a dump may take as long as the move's ``timeout``: while CRIU dumps (held 4 s
    by its action script: past the limit and the reap after it) the source touches the
    session, and the move is done, its bundle on the target. (Untouched, the session ended
    mid-dump and took the bundle with it: the transfer found no session, after the whole
    dump's downtime.) Two daemons in this process, so that both see the shortened limit."""
    monkeypatch.setattr(incoming, "IDLE_SECONDS", 2.0)
    script = tmp_path / "hold"
    script.write_text(
        '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = network-lock ] || exit 0\n'
        f"mkdir {tmp_path / 'held-once'} 2>/dev/null || exit 0\nexec sleep 4\n"
    )
    script.chmod(0o755)
    criu_conf = tmp_path / "criu.conf"
    criu_conf.write_text(f"action-script {script}\n")

    def annotate(config: dict[str, Any]) -> None:
        config.setdefault("annotations", {})["org.criu.config"] = str(criu_conf)

    source = await start_daemon(tmp_path / "state-a", listen=Listen(host="127.0.0.1", port=18947))
    target = await start_daemon(tmp_path / "state-b", listen=Listen(host="127.0.0.1", port=18948))
    bundle = make_bundle(COUNTER, edit=annotate)
    target_bundle = tmp_path / "b" / "counter"
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    with trio.fail_after(60):
        steps = await migrate(
            source.client, "counter", to="127.0.0.1:18948", withBundle=True,
            targetBundlePath=str(target_bundle), timeout=30,
        )  # fmt: skip
    assert steps[-1]["step"] == "done", json.dumps(steps)
    dump = next(step for step in steps if step["step"] == "checkpoint")
    assert dump["seconds"] > 2 * incoming.IDLE_SECONDS  # held past the limit and a reap
    assert (target_bundle / "config.json").is_file()
    await wait_output(target.client, "counter", "\n")
    assert (await source.client.get("/containers/counter")).status_code == 404


async def test_a_failed_restore_on_the_target_rolls_back(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The target's bundle has another busybox (CRIU finds the executable of a different
    size and refuses to restore): failed with rolledBack after the transfer, the container
    resumed here and counting, and on the target no container, no images, no cgroup."""
    source, target = await two_in_process(start_daemon, tmp_path)
    bundle = make_bundle(COUNTER)
    other = make_bundle(COUNTER)
    busybox = other / "rootfs" / "bin" / "busybox"
    data = busybox.read_bytes()
    busybox.unlink()
    busybox.write_bytes(data + b"\0" * 4096)
    busybox.chmod(0o755)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "3")
    steps = await migrate(
        source.client, "counter", to=f"unix:{target.socket}", targetBundlePath=str(other)
    )
    names = [step["step"] for step in steps]
    assert names[:4] == ["session", "freeze", "checkpoint", "transfer"], steps
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    assert "restore" in last["error"]
    info = (await source.client.get("/containers/counter")).json()
    assert info["state"]["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert leftovers(other) == [] and leftovers(bundle) == []
    assert runc_ids(target.state_dir) == []
    assert not list(own_cgroup("memory").rglob("counter-moved-*"))


async def test_ctr_trio_migrate_prints_each_step_and_the_downtime(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """One command, as a user types it; then a preCopy this kernel cannot do is refused
    before anything starts, with the reason."""
    import io

    import trio

    from containerd_trio.client import cli
    from containerd_trio.config import default_criu
    from containerd_trio.precopy import probe

    source, target = await two_in_process(start_daemon, tmp_path)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "3")
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["--address", f"unix:{source.socket}", "migrate", "counter", "--to",
            f"unix:{target.socket}"]  # fmt: skip
    code = await trio.to_thread.run_sync(cli.run, argv, stdout, stderr)
    assert code == 0, stderr.getvalue()
    lines = stdout.getvalue().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [
        "session", "freeze", "checkpoint", "restore", "finish"
    ]  # fmt: skip
    assert lines[-1].startswith("moved counter to unix:") and "downtime" in lines[-1]
    assert (await target.client.get("/containers/counter")).status_code == 200

    # --timeout is the body's timeout, as checkpoint's: past it the dump fails, rolled back.
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["--address", f"unix:{target.socket}", "migrate", "counter", "--to",
            f"unix:{source.socket}", "--timeout", "0.001"]  # fmt: skip
    code = await trio.to_thread.run_sync(cli.run, argv, stdout, stderr)
    assert code == 1, (stdout.getvalue(), stderr.getvalue())
    assert "rolled back" in stderr.getvalue() and "0.001 seconds" in stderr.getvalue()
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"

    features = await probe(default_criu() or "criu")
    await start_container(target.client, "other", make_bundle(COUNTER))
    response = await target.client.post(
        "/containers/other/migrate", json={"to": f"unix:{source.socket}", "preCopy": 2}
    )
    if features.dirty_tracking:
        assert response.status_code == 200
    else:
        assert response.status_code == 409
        assert "CONFIG_MEM_SOFT_DIRTY" in response.json()["error"]
        assert (await target.client.get("/containers/other")).json()["state"]["status"] == "running"


async def test_a_shutdown_mid_move_ends_the_stream_with_a_failed_step(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The source's shutdown ends a migration still under way when its grace for commands
    runs out (here: the target's runc restore is held), and the client's stream still ends
    with a step that says so, not in the middle."""
    gated = GatedRunc(tmp_path, "restore")
    source, target = await together(
        spawn_daemon(
            "--runtime-timeout", "1", state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"
        ),
        spawn_daemon(
            *("--runtime", str(gated.path), "--runtime-timeout", "1"),
            state_dir=tmp_path / "state-b",
            socket=tmp_path / "b.sock",
        ),
    )
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    steps: list[dict[str, Any]] = []

    async def follow() -> None:
        body = {"to": f"unix:{target.socket}"}
        async with source.client.stream("POST", "/containers/counter/migrate", json=body) as answer:
            assert answer.status_code == 200
            async for line in answer.aiter_lines():
                steps.append(json.loads(line))

    assert source.process is not None and target.process is not None
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow)
            await gated.reached()  # the move is held
            source.process.send_signal(signal.SIGTERM)
    # The stream has ended; the source's shutdown goes on (it stops the copy here, a shell that
    # ignores SIGTERM: its grace), side by side with the target's below.
    assert [step["step"] for step in steps][:3] == ["session", "freeze", "checkpoint"]
    assert steps[-1]["step"] == "failed", steps
    error = steps[-1]["error"]
    assert error.startswith("the daemon is shutting down: the migration was ended; "), error
    # The target was asked to restore it and cannot say yet whether it runs it: held paused.
    assert "left paused here" in error, error
    # The target holds the restore, so the source could not have it abort in time: said so.
    assert steps[-1]["rolledBack"] is False
    # The target's shutdown ends the restore it holds: no runc command is left waiting.
    assert gated.running() != []  # still held, until then
    target.process.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        await target.process.wait()
        await source.process.wait()
    assert gated.running() == []


async def moved_there(source: Side, target: Side) -> None:
    """The counter is gone from the source (and from its runc), and runs on the target,
    counting on."""
    assert (await source.client.get("/containers/counter")).status_code == 404
    assert "counter" not in runc_ids(source.state_dir)
    info = (await target.client.get("/containers/counter")).json()
    assert info["state"]["status"] == "running"
    # A fresh log there (it replaced a stopped container's) has no line until the first count
    # after the restore.
    await wait_output(target.client, "counter", "\n")
    seen = (await counted(target.client, "counter"))[-1]
    await wait_output(target.client, "counter", f"{seen + 2}\n")


async def test_a_lost_answer_to_the_finish_ends_the_move_done(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The target finishes the session but its answer is lost: the source's roll-back finds
    the session gone and the moved container on the target (by its label; it replaced a
    stopped one of that id), so it ends its own copy and reports done. (Before, it resumed
    its copy: the container ran in both places.) The container keeps its labels."""
    source, target = await two_daemons(spawn_daemon, tmp_path)

    def cgroup_of_its_own(config: dict[str, Any]) -> None:
        # Both daemons run in this machine's one cgroup tree, where runc names a container's
        # cgroup after its id: removing this one would thaw the source's frozen copy.
        config["linux"]["cgroupsPath"] = "counter-stopped-here"

    stopped_bundle = make_bundle(["sh", "-c", "exit 3"], edit=cgroup_of_its_own)
    await start_container(target.client, "counter", stopped_bundle)
    with trio.fail_after(10):
        stopped = await target.client.post("/containers/counter/wait")  # one of that id
    assert stopped.json()["exitStatus"] == 3, stopped.text
    link = LossyLink(tmp_path / "link.sock", target.socket)
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER), labels={"app": "c"})
    await wait_output(source.client, "counter", "3")
    steps = await migrate(source.client, "counter", to=f"unix:{link.path}")
    assert link.dropped is not None and b" 200 " in link.dropped  # the target did finish
    assert [step["step"] for step in steps][-2:] == ["finish", "done"], steps
    assert steps[-1]["container"]["state"]["status"] == "running"
    labels = steps[-1]["container"]["labels"]
    assert labels["app"] == "c" and labels["containerd-trio.migration"].startswith("migration-")
    assert steps[-1]["downtime"] > 0
    await moved_there(source, target)


async def counting_to_a_silent_target(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> tuple[DaemonProcess, DaemonProcess, LossyLink, Path]:
    """A source counting, a target, and a relay between them that drops the target's answer
    to the finish and then closes each connection (``then_silent``); the counter's bundle.
    The source gives up on a silent target after its runtime timeout, which each test waits
    out: 5 s, not the default 30, twice (the finish sent again until that long after the
    first, then the abort's own bound). What must beat it (each of
    the source's runc calls, each of the target's answers before the silence; the dump has a
    deadline of its own) takes a fraction of a second: seconds to spare on a loaded machine."""
    source, target = await two_daemons(spawn_daemon, tmp_path, "--runtime-timeout", "5")
    link = LossyLink(tmp_path / "link.sock", target.socket, then_silent=True)
    await nursery.start(link.serve)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    return source, target, link, bundle


async def test_a_target_silent_after_the_restore_leaves_the_container_paused(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The target finishes, its answer is lost, and it answers nothing more: the source
    cannot know whether the container runs there (it does), so it leaves its copy paused
    rather than resume it, says so, and asks the target again in the background, the move's
    record and images kept. A hand-over leaves them to the next server, which asks on. The
    user deletes the copy meanwhile: that ends the questions, and the record and images go.
    (Before, the move ended there, its record and images removed, the message telling the
    user what to do by hand.)"""
    source, target, link, bundle = await counting_to_a_silent_target(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    steps = await migrate(source.client, "counter", to=f"unix:{link.path}")
    assert link.dropped is not None
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is False, steps
    assert "left paused here" in last["error"], last["error"]
    assert "this daemon asks the target again in the background" in last["error"]
    assert "could not abort the migration" in last["error"]
    info = (await source.client.get("/containers/counter")).json()
    assert info["state"]["status"] == "paused"
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert len(os.listdir(source.state_dir / "outgoing")) == 1
    assert leftovers(bundle) != []  # a target sharing the bundle may restore from them still
    count = source.servings
    assert (await source.client.post("/daemon/reload")).status_code == 202
    with trio.fail_after(30):
        await source.served(count + 1)
        await source.logged(b"left under way by the last server: the target may run the")
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "paused"
    assert len(os.listdir(source.state_dir / "outgoing")) == 1
    # The user's call: it runs there, so the copy here goes; and with it the questions.
    answer = await source.client.delete("/containers/counter", params={"timeout": "0"})
    assert answer.status_code == 200, answer.text
    with trio.fail_after(20):
        await source.logged(b"the user deleted the copy here while the target could not say")
    assert os.listdir(source.state_dir / "outgoing") == []
    assert leftovers(bundle) == []
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"


@pytest.mark.parametrize("there", ["kept", "gone"])
async def test_a_move_left_unsure_is_settled_once_the_target_answers(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    there: str,
) -> None:
    """The target finishes, its answer is lost, and it answers nothing more: the move ends
    failed, the copy here paused, and this server asks the target again, as the next server
    of a crashed one does. Once the target answers, the move settles with no user action: the
    target runs the container, so the copy here is removed (its delete event); or ("gone")
    the container is gone there, so the copy here is resumed. (Before, the copy stayed
    paused for good, for the user to settle by hand.)"""
    source, target, link, bundle = await counting_to_a_silent_target(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    since = now()
    steps = await migrate(source.client, "counter", to=f"unix:{link.path}")
    assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is False, steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "paused"
    if there == "gone":
        answer = await target.client.delete("/containers/counter", params={"timeout": "0"})
        assert answer.status_code == 200, answer.text
    link.then_silent = False
    outcome = b"the target runs the" if there == "kept" else b"the target does not"
    with trio.fail_after(20):
        await source.logged(b"was left unsure when it failed: " + outcome)
    if there == "kept":
        await moved_there(source, target)
        assert await event_types(
            source.client, since=since, container_id="counter", count=1, only="resume,delete"
        ) == ["delete"]
    else:
        await resumed_here(source, since)
    assert leftovers(bundle) == []
    assert os.listdir(source.state_dir / "outgoing") == []
    assert os.listdir(target.state_dir / "migrations") == []


@pytest.mark.parametrize("how", ["resumed", "settled"])
async def test_input_taken_for_a_move_left_unsure_is_read_by_the_copy_resumed_here(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    how: str,
) -> None:
    """The reader's input it had not read at the freeze is handed on, and the target finishes
    the move, its answer lost; the target then answers nothing, so the move ends unsure, the
    copy here paused. That input stays with the paused copy (put back into its pipe, ahead of
    what is held): resumed here, by the user ("resumed") or by the settling once the target
    says it has no copy ("settled"), it reads it, and then what was typed here while it was
    paused. (Before, only a roll-back that resumed the copy put it back: the copy resumed
    here later read ``three`` alone, ``one`` and ``two`` lost.)"""
    source, target = await spawned_source(
        spawn_daemon, start_daemon, tmp_path, "--runtime-timeout", "5"
    )
    link = LossyLink(tmp_path / "link.sock", target.socket, then_silent=True)
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    steps = await migrate(source.client, "reader", to=f"unix:{link.path}")
    assert link.dropped is not None and b" 200 " in link.dropped  # the target finished
    assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is False, steps[-1]
    assert (await source.client.get("/containers/reader")).json()["state"]["status"] == "paused"
    # Held while the copy is paused (the move holds its input): it comes after, whenever
    # the server reads it (before the resume or after, it is behind what went back).
    await session.type("three\n")
    if how == "resumed":
        answer = await source.client.patch("/containers/reader", json={"status": "running"})
        assert answer.status_code == 200, answer.text
    else:
        answer = await target.client.delete("/containers/reader", params={"timeout": "0"})
        assert answer.status_code == 200, answer.text
        link.then_silent = False
        with trio.fail_after(20):
            await source.logged(b"was left unsure when it failed: the target does not")
    (bundle / "rootfs" / "go").touch()
    with trio.fail_after(10):
        await wait_output(source.client, "reader", "got three")
    got = (await log_bytes(source.client, "reader")).decode().splitlines()
    assert got == ["ready", "got one", "got two", "got three"], got
    with trio.fail_after(10):  # said when the move ended
        await source.logged(b"bytes of input the container had not read are put back into")
    await session.drop()


async def test_input_whose_hand_off_went_unanswered_reaches_the_target_that_keeps_it(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The hand-off of the input the reader had not read at the freeze is held on its way
    (the target never has it), and the target answers nothing more until the source gives
    up (a network that failed; a target's server killed that comes back late): the move
    ends unsure, the copy here paused. Once the target answers again, the settling finds
    it runs the container (restored, its session open) and finishes the move: the input
    goes there first, and the container reads it there once. (Before, the input was put
    back into the paused copy alone, and the settling finished the move without it: the
    copy was removed, and ``one`` and ``two`` with it.)"""
    source, target = await two_daemons(spawn_daemon, tmp_path, "--runtime-timeout", "5")
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/stdin HTTP/1.1")
    link.later = "close"  # unreachable once the hand-off is held
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    with trio.fail_after(60):
        steps = await migrate(source.client, "reader", to=f"unix:{link.path}")
    assert link.held
    assert steps[-1]["step"] == "failed" and steps[-1]["rolledBack"] is False, steps[-1]
    assert "left paused here" in steps[-1]["error"], steps[-1]["error"]
    link.later = "pass"  # back (the hand-off held stays held: the target never has it)
    with trio.fail_after(30):
        await source.logged(b"was left unsure when it failed: the target runs the container")
        got = await _read_there(target, bundle, "three")
    assert got == ["got one", "got two", "got three"], got
    assert (await source.client.get("/containers/reader")).status_code == 404
    await session.drop()


async def counting_to_a_held_restore(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, *source_args: str
) -> tuple[GatedRunc, DaemonProcess, DaemonProcess]:
    """A source running a counter, and a target whose runc restore waits at a gate."""
    gated = GatedRunc(tmp_path, "restore")
    source, target = await together(
        spawn_daemon(*source_args, state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"),
        spawn_daemon(
            "--runtime", str(gated.path), state_dir=tmp_path / "state-b", socket=tmp_path / "b.sock"
        ),
    )
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    return gated, source, target


@contextlib.asynccontextmanager
async def moving_to_a_held_restore(
    gated: GatedRunc,
    source: DaemonProcess,
    target: DaemonProcess,
    steps: list[dict[str, Any]],
    **body: Any,
) -> AsyncIterator[int]:
    """The counter's migration (its steps into ``steps``), once the target's runc restore is
    held: the held wrapper's pid. The block's end waits for the migration's stream to end."""

    async def follow() -> None:
        steps.extend(await migrate(source.client, "counter", to=f"unix:{target.socket}", **body))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await gated.reached()
        (held,) = gated.running()
        yield held


async def test_a_target_dying_mid_restore_leaves_the_source_copy_alone(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the target's server while its runc restore is held: its next server rolls
    the restore back in the restore's own cgroup ({id}-moved-{session}, in its record), not
    in the one named after the id, which on this machine holds the source's frozen copy.
    The source then learns the session is gone and no moved container is there: it resumes
    its copy, which counts on."""
    gated, source, target = await counting_to_a_held_restore(spawn_daemon, make_bundle, tmp_path)
    steps: list[dict[str, Any]] = []
    async with moving_to_a_held_restore(gated, source, target, steps) as held:
        count = target.servings
        os.kill(target.server_pid(), signal.SIGKILL)
        async with gated.opened(held):  # the restore ends; the next server rolls it back
            await target.served(count + 1)
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 3}\n")
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert runc_ids(target.state_dir) == []


async def test_a_target_dying_mid_restore_puts_back_the_stopped_container_it_replaced(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the target's server while its runc restore over a stopped container of the
    id is held: the next server rolls the restore back, the stopped container there as it
    was (record, log, wait: but its init's pid, which the start's record does not keep), and
    answers the source's abort of the session it rolled back as done: the source resumes
    its copy. (Before, it answered 404, and the source, finding a stopped container of the
    id there, could not tell it from the moved one's leftovers: it kept its copy paused.)"""
    gated, source, target = await counting_to_a_held_restore(spawn_daemon, make_bundle, tmp_path)
    as_it_was = await stopped_there(target, make_bundle)
    steps: list[dict[str, Any]] = []
    async with moving_to_a_held_restore(gated, source, target, steps) as held:
        count = target.servings
        os.kill(target.server_pid(), signal.SIGKILL)
        async with gated.opened(held):  # the restore ends; the next server rolls it back
            await target.served(count + 1)
    await as_it_was(init_pid=False)
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")


async def test_a_target_dying_mid_abort_puts_back_the_stopped_container_it_replaced(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The move's restore replaced a stopped container of the id, and the source aborts
    (the restore's answer lost); kill -9 of the target's server while the abort's runc
    delete of the restored container is held: the next server finishes that delete, puts
    the stopped container back as it was (from the session's record), and answers the
    source's abort as done: the source resumes its copy."""
    gated = GatedRunc(tmp_path, "delete")
    restored = tmp_path / "restored"  # once there, each runc delete is held
    gated.path.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" restore "*) runc "$@"; s=$?; touch {restored}; exit $s;; esac\n'
        f'if [ -e {restored} ]; then for a in "$@"; do [ "$a" = delete ]'
        f" && echo delete > {gated.said} && read line < {gated.gate}; done; fi\n"
        'exec runc "$@"\n'
    )
    source, target = await together(
        spawn_daemon(state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"),
        spawn_daemon(
            "--runtime", str(gated.path), state_dir=tmp_path / "state-b", socket=tmp_path / "b.sock"
        ),
    )
    as_it_was = await stopped_there(target, make_bundle)
    link = LossyLink(tmp_path / "link.sock", target.socket, drop=b"/restore HTTP/1.1")
    await nursery.start(link.serve)
    # Its delete there, once restored and killed, a runc delete the wrapper holds.
    await start_container(source.client, "counter", make_bundle(COUNTER, edit=runc_deletes))
    await wait_output(source.client, "counter", "3")
    steps: list[dict[str, Any]] = []

    async def follow() -> None:
        steps.extend(await migrate(source.client, "counter", to=f"unix:{link.path}"))

    async with trio.open_nursery() as moving:
        moving.start_soon(follow)
        await gated.reached()  # the abort's delete of the restored container
        (held,) = gated.running()
        count = target.servings
        os.kill(target.server_pid(), signal.SIGKILL)
        async with gated.opened(held):
            await target.served(count + 1)
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    await as_it_was(init_pid=True)
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")


async def test_a_target_dying_mid_move_leaves_nothing_of_it_there(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A move with its bundle, to another bundle path: kill -9 of the target's server while
    its restore is held. The next server rolls the restore back and removes what the
    session it never knew received (the bundle it made, the checkpoint's images), which
    stayed for good before: the source's ``rolledBack: true`` is then the whole truth."""
    gated, source, target = await counting_to_a_held_restore(spawn_daemon, make_bundle, tmp_path)
    target_bundle = tmp_path / "moved" / "counter"
    steps: list[dict[str, Any]] = []
    body = {"withBundle": True, "targetBundlePath": str(target_bundle)}
    async with moving_to_a_held_restore(gated, source, target, steps, **body) as held:
        assert (target_bundle / "config.json").is_file()
        assert leftovers(target_bundle) != []  # the images it received
        assert os.listdir(target.state_dir / "migrations") != []
        count = target.servings
        os.kill(target.server_pid(), signal.SIGKILL)
        async with gated.opened(held):
            await target.served(count + 1)
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is True, json.dumps(last)
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    await target.logged(b"was left open by the last server: removed what it received")
    assert not target_bundle.exists()
    assert (tmp_path / "moved").exists()  # its parent stays, as an abort leaves it
    assert os.listdir(tmp_path / "moved") == []  # no staging directory either
    assert os.listdir(target.state_dir / "migrations") == []
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert runc_ids(target.state_dir) == []


async def test_a_target_that_stops_answering_leaves_the_container_paused_in_time(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """The network drops everything from the finish on, without a word (no connection is
    reset): the finish gets no answer within the runtime deadline, nor does the abort, and
    the move ends there: the container stays paused here, and the server asks the target
    again in the background. (Before, the finish waited for good, the container frozen.)
    Once the target's session is aborted there and the network is back, it resumes the copy
    here by itself. (Before, that was left to the user.)"""
    source, target = await spawned_source(
        spawn_daemon, start_daemon, tmp_path, "--runtime-timeout", "2"
    )
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/finish HTTP/1.1")
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "3")
    since = now()
    with trio.fail_after(30):
        steps = await migrate(source.client, "counter", to=f"unix:{link.path}")
    assert link.held
    link.later = "close"  # unreachable meanwhile: each question fails at once
    last = steps[-1]
    assert last["step"] == "failed" and last["rolledBack"] is False, steps
    assert "did not finish the migration within 2 s" in last["error"], last["error"]
    assert "left paused here" in last["error"]
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "paused"
    # The target has the container, its session unfinished: aborted there (as its idle
    # session's end would), it has none of it, which the source learns once it is back.
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"
    (record,) = os.listdir(target.state_dir / "migrations")
    session = record.removesuffix(".json")
    assert (await target.client.delete(f"/migrations/{session}")).status_code == 200
    assert (await target.client.get("/containers/counter")).status_code == 404
    link.later = "pass"
    with trio.fail_after(30):
        await source.logged(b"was left unsure when it failed: the target does not")
    await resumed_here(source, since)
    assert os.listdir(source.state_dir / "outgoing") == []


async def test_an_archive_the_target_stops_taking_ends_the_move_in_time(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The bundle's archive stops going out (the network drops everything from its request
    on, without a word): the upload makes no progress within the runtime deadline and the
    move ends there, before the freeze, the container running on here."""
    source, target = await two_in_process(start_daemon, tmp_path, runtime_timeout=2.0)
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/archive HTTP/1.1")
    await nursery.start(link.serve)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "3")
    with trio.fail_after(30):
        steps = await migrate(
            source.client, "counter", to=f"unix:{link.path}", withBundle=True,
            targetBundlePath=str(tmp_path / "elsewhere" / "counter"),
        )  # fmt: skip
    assert link.held
    assert [step["step"] for step in steps] == ["session", "failed"], steps
    assert "did not take the archive: no progress within 2 s" in steps[-1]["error"], steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")
    assert leftovers(bundle) == []


async def test_an_archive_whose_connection_breaks_midway_rolls_back_and_says_so(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The bundle's archive is cut off midway (the target's server killed under it, or the
    network failing): the move ends before the freeze, rolled back, and its failed step says
    that the target could not take the archive, the connection lost. (The upload raised the
    loss wrapped in an ExceptionGroup, which the move did not take for the target's failure:
    the step said "Exceptions from Trio nursery (1 sub-exception)".)"""
    source, target = await two_in_process(start_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket, cut=b"/archive HTTP/1.1")
    await nursery.start(link.serve)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "3")
    elsewhere = tmp_path / "elsewhere"
    with trio.fail_after(30):
        steps = await migrate(
            source.client, "counter", to=f"unix:{link.path}", withBundle=True,
            targetBundlePath=str(elsewhere / "counter"),
        )  # fmt: skip
    assert link.cut
    assert [step["step"] for step in steps] == ["session", "failed"], steps
    error = steps[-1]["error"]
    assert error.startswith(f"the target unix:{link.path} could not take the archive:"), error
    assert "lost the connection to the daemon" in error, error
    assert steps[-1]["rolledBack"] is True, steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")
    assert leftovers(bundle) == []
    # The target's session, aborted, left nothing: no bundle, no staging directory.
    assert os.listdir(target.state_dir / "migrations") == []
    assert not elsewhere.exists() or os.listdir(elsewhere) == []


async def test_a_target_whose_server_died_mid_move_is_asked_to_abort_on_a_new_connection(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """kill -9 of the target's server while the bundle's archive is held on its way: the move
    fails, and its abort goes to the target's next server on a new connection,
    which says it has no such session: rolled back. (The abort went out on the connection the
    open had left idle, which the dead server had closed: lost, not sent again, so the move
    said ``rolledBack: false``, 'could not abort the migration'.) The runtime timeout, which
    is also the abort's, is long enough for the next server to come up on a loaded machine
    (with 1 s, the abort gave up before it served: a CI run failed so)."""
    source, target = await spawned_target(
        spawn_daemon, start_daemon, tmp_path, runtime_timeout=10.0
    )
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/archive HTTP/1.1")
    await nursery.start(link.serve)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "3")
    steps: list[dict[str, Any]] = []

    async def move() -> None:
        moved = await migrate(
            source.client, "counter", to=f"unix:{link.path}", withBundle=True,
            targetBundlePath=str(tmp_path / "elsewhere" / "counter"),
        )  # fmt: skip
        steps.extend(moved)

    with trio.fail_after(30):
        async with trio.open_nursery() as moving:
            moving.start_soon(move)
            await link.holding.wait()
            link.later = "pass"  # the target's next server answers what comes after
            count = target.servings
            os.kill(target.server_pid(), signal.SIGKILL)
            await target.served(count + 1)
    assert [step["step"] for step in steps] == ["session", "failed"], steps
    assert "take the archive" in steps[-1]["error"], steps  # its connection ended, or timed out
    assert steps[-1]["rolledBack"] is True, steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert leftovers(bundle) == []


async def test_a_second_migrate_while_one_runs_is_refused_at_once(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A migrate of a container that a move is moving (its dump held) is a 409 at once; the
    first move then ends done. (Before, the second waited for the container's lock, that is
    for the first move's end, and then went on with what it left: a copy left paused and
    unsure could have been moved to a second target, and run in two places.)"""
    (tmp_path / "runc").mkdir()
    gated = GatedRunc(tmp_path / "runc", "checkpoint")
    source, target = await two_in_process(start_daemon, tmp_path, runtime=str(gated.path))
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    first: list[list[dict[str, Any]]] = []

    async def move() -> None:
        first.append(await migrate(source.client, "counter", to=f"unix:{target.socket}"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(move)
        await gated.reached()
        (held,) = gated.running()
        with trio.fail_after(10):  # the first move's dump is held all along
            second = await source.client.post(
                "/containers/counter/migrate", json={"to": f"unix:{target.socket}"}
            )
        assert second.status_code == 409, second.text
        assert second.json() == {
            "error": "cannot migrate container 'counter': a migration of it is under way"
        }
        assert gated.running() == [held]
        async with gated.opened(held):
            pass
    assert first[0][-1]["step"] == "done", first
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == ("running")
    assert (await source.client.get("/containers/counter")).status_code == 404


async def cut_short(client: httpx.AsyncClient, container_id: str, to: str, **body: Any) -> None:
    """A migration whose stream the source server's death cuts short."""
    with contextlib.suppress(httpx.HTTPError):  # the connection closed mid-stream
        await migrate(client, container_id, to=to, **body)


async def resumed_here(source: DaemonProcess, since: str) -> None:
    """The source's copy of the counter runs again (one ``resume`` event, no ``delete``
    since ``since``), and counts on."""
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    assert await event_types(
        source.client, since=since, container_id="counter", count=1, only="resume,delete"
    ) == ["resume"]
    seen = (await counted(source.client, "counter"))[-1]
    await wait_output(source.client, "counter", f"{seen + 2}\n")


async def test_a_source_killed_after_the_dump_resumes_its_copy(
    spawn_daemon: Any, start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the source's server while its dump of the paused container is held, the
    restore not asked yet: the next server waits for the dump the dead one left running,
    aborts the target's session and resumes the container, which counts on here; no images,
    no record of the move, nothing on the target. (Before, the container stayed paused for
    good, the images beside its bundle.)"""
    (tmp_path / "runc").mkdir()
    gated = GatedRunc(tmp_path / "runc", "checkpoint")
    source, target = await spawned_source(
        spawn_daemon, start_daemon, tmp_path, "--runtime", str(gated.path)
    )
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cut_short, source.client, "counter", f"unix:{target.socket}")
        await gated.reached()
        (held,) = gated.running()
        assert len(os.listdir(source.state_dir / "outgoing")) == 1
        assert len(os.listdir(target.state_dir / "migrations")) == 1  # its session there
        since = now()
        await source.kill_server()
    # Held by the next server until the dump the last one left running has ended.
    info = (await source.client.get("/containers/counter")).json()
    assert info["state"]["status"] == "paused"
    # Meanwhile a command that would wait for its lock (up to the checkpoint deadline) is
    # refused at once, saying why; reads answer. (Before, each waited, here for as long as the
    # gate holds the dump: for good.)
    with trio.fail_after(10):
        assert (await source.client.get("/state")).status_code == 200
        for method, path, body in (
            ("PATCH", "/containers/counter", {"status": "running"}),
            ("DELETE", "/containers/counter", None),
            ("PUT", "/containers/counter/process", {"args": ["true"]}),
            ("POST", "/containers/counter/checkpoint/mid", {}),
        ):
            answer = await source.client.request(method, path, json=body)
            assert answer.status_code == 409, (method, path, answer.text)
            error = answer.json()["error"]
            assert error.startswith("container 'counter' is being settled after migration")
            assert "waits for the runc checkpoint that server left running" in error
    assert gated.running() == [held]  # all of it while the dump was held
    with trio.fail_after(30):
        async with gated.opened(held):
            await source.logged(b"was left under way by the last server: the target does not")
    await resumed_here(source, since)
    assert leftovers(bundle) == []
    assert os.listdir(source.state_dir / "outgoing") == []
    work = os.listdir(source.state_dir / "containers" / "counter")
    assert [name for name in work if name.startswith("criu-")] == [], work
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert os.listdir(target.state_dir / "migrations") == []  # aborted


async def test_a_source_killed_before_the_open_answered_aborts_the_session_by_name(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    """kill -9 of the source's server while the target's answer to the open is held (the
    target opened the session; the source never learned its id): the next server aborts
    the session by the name it was opened with, as a live move does whose open went
    unanswered, and the container, which runs on here, moves there at once. (The next
    server took the move for one the target could not know: the session stayed, and the
    next move was a 502, "container 'counter' is moving here already", until the session
    ended itself a minute later.)"""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, drop=b"/migrations HTTP/1.1", hold_dropped=True
    )
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    async with trio.open_nursery() as moving:
        moving.start_soon(cut_short, source.client, "counter", f"unix:{link.path}")
        with trio.fail_after(30):
            await link.dropping.wait()
        assert len(os.listdir(target.state_dir / "migrations")) == 1  # the session, opened
        await source.kill_server()
    with trio.fail_after(30):
        await source.logged(b"was left under way by the last server: the target does not")
    assert os.listdir(target.state_dir / "migrations") == []  # aborted
    assert os.listdir(source.state_dir / "outgoing") == []
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "running"
    with trio.fail_after(30):
        steps = await migrate(source.client, "counter", to=f"unix:{target.socket}")
    assert steps[-1]["step"] == "done", steps
    await counts_on(target.client, "counter", beyond=2)


async def test_a_dump_left_past_its_deadline_is_killed_with_its_criu(
    spawn_daemon: Any, start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the source's server while CRIU dumps (held by an action script, the
    container's tasks seized): the next server kills the runc checkpoint it left once past the
    checkpoint deadline, and its CRIU with it, and the copy here counts on. (Before, CRIU
    outlived the runc, and the copy stayed seized and stopped as long as CRIU went on: here for
    good.)"""
    hold = HeldCriu(tmp_path, "network-lock")
    source, target = await spawned_source(
        spawn_daemon, start_daemon, tmp_path, "--checkpoint-timeout", "2"
    )
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    with hold:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cut_short, source.client, "counter", f"unix:{target.socket}")
            await hold.held()
            await source.kill_server()
        await hold.ended()  # the checkpoint deadline, then a SIGKILL
        with trio.fail_after(10):
            await source.logged(b"killed the runc checkpoint")
            await source.logged(b"was left under way by the last server: the target does not")
            info = (await source.client.get("/containers/counter")).json()
            assert info["state"]["status"] == "running"
            seen = (await counted(source.client, "counter"))[-1]
            await wait_output(source.client, "counter", f"{seen + 2}\n")  # not seized: it counts
        assert leftovers(bundle) == []


async def test_a_dump_left_under_way_gets_the_moves_own_timeout(
    spawn_daemon: Any, start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The move's ``timeout`` (3 s), not the daemon's --checkpoint-timeout (600 s), bounds the
    dump the source's dead server left running: the move's record keeps it, and the next
    server kills that dump past it. (Before, the record did not keep it: the next server let
    the dump run under its own deadline, here as long as CRIU's script sleeps, 60 s, the
    container seized and the copy's commands refused all along.)"""
    hold = HeldCriu(tmp_path, "network-lock")
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    with hold:
        async with trio.open_nursery() as nursery:
            to = f"unix:{target.socket}"
            nursery.start_soon(partial(cut_short, source.client, "counter", to, timeout=3))
            await hold.held()
            await source.kill_server()
        answer = await source.client.patch("/containers/counter", json={"status": "running"})
        assert "(up to 3 s)" in answer.json()["error"], answer.text
        await hold.ended()  # within 10 s: the move's timeout, then a SIGKILL
        with trio.fail_after(10):
            await source.logged(b"killed the runc checkpoint")
            await source.logged(b"was left under way by the last server: the target does not")
            info = (await source.client.get("/containers/counter")).json()
            assert info["state"]["status"] == "running"
        assert leftovers(bundle) == []


@pytest.mark.parametrize("unreachable", [False, True], ids=["target-answers", "unreachable"])
async def test_a_source_killed_after_the_restore_ends_its_copy(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    unreachable: bool,
) -> None:
    """kill -9 of the source's server once the target has restored the container (the
    finish held on its way by a relay socket): the next server asks the target to finish
    the session; the target keeps the container, and the copy here is removed as a
    completed move removes it (its delete event); no images, no record, no session. (Before,
    the copy stayed paused here for good, and the target's unfinished session ended for
    silence a minute later, deleting what it had restored: the container ran nowhere.)
    ``unreachable``: the target cannot be reached when the next server starts: the copy
    stays paused (never resumed while the target may run it), and the target is asked again
    until it answers."""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/finish HTTP/1.1")
    await nursery.start(link.serve)
    bundle = make_bundle(COUNTER)
    await start_container(source.client, "counter", bundle)
    await wait_output(source.client, "counter", "2")
    async with trio.open_nursery() as moving:
        moving.start_soon(cut_short, source.client, "counter", f"unix:{link.path}")
        with trio.fail_after(30):
            await link.holding.wait()
        link.later = "close" if unreachable else "pass"
        since = now()
        await source.kill_server()
    with trio.fail_after(30):
        if unreachable:
            await source.logged(b"its copy here stays paused until the target says")
            info = (await source.client.get("/containers/counter")).json()
            assert info["state"]["status"] == "paused"
            assert len(os.listdir(source.state_dir / "outgoing")) == 1
            link.later = "pass"
        await source.logged(b"was left under way by the last server: the target runs the")
    assert (await source.client.get("/containers/counter")).status_code == 404
    assert "counter" not in runc_ids(source.state_dir)
    assert await event_types(
        source.client, since=since, container_id="counter", count=1, only="resume,delete"
    ) == ["delete"]
    info = (await target.client.get("/containers/counter")).json()
    assert info["state"]["status"] == "running"
    assert info["labels"]["containerd-trio.migration"].startswith("migration-")
    seen = (await counted(target.client, "counter"))[-1]
    await wait_output(target.client, "counter", f"{seen + 2}\n")
    assert leftovers(bundle) == []
    assert os.listdir(source.state_dir / "outgoing") == []
    assert os.listdir(target.state_dir / "migrations") == []  # finished


@pytest.mark.parametrize("kept", [True, False], ids=["target-keeps-it", "undone"])
async def test_input_taken_for_the_target_survives_a_kill_of_the_source_s_server(
    spawn_daemon: Any,
    start_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    kept: bool,
) -> None:
    """kill -9 of the source's server once it took out of its copy the input the container
    had not read, its hand-off held on its way to the target: the move's record has that
    input, and the next server hands it on before it asks for the finish; the container
    reads it there. ``undone``: the target's session aborted meanwhile (its container
    deleted): the next server puts the input back into its copy, resumed, which reads it.
    (Before, the input was in the dead server's memory alone: lost either way.)"""
    source, target = await spawned_source(spawn_daemon, start_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/stdin HTTP/1.1")
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    async with trio.open_nursery() as moving:
        moving.start_soon(cut_short, source.client, "reader", f"unix:{link.path}")
        with trio.fail_after(30):
            await link.holding.wait()
        if not kept:
            (migration,) = os.listdir(target.state_dir / "migrations")
            aborted = await target.client.delete(f"/migrations/{migration.removesuffix('.json')}")
            assert aborted.status_code == 200, aborted.text
        link.later = "pass"
        await source.kill_server()
    with trio.fail_after(30):
        outcome = b"the target runs the" if kept else b"the target does not run"
        await source.logged(b"was left under way by the last server: " + outcome)
        if kept:
            assert (await source.client.get("/containers/reader")).status_code == 404
            got = await _read_there(target, bundle, "three")
            assert got == ["got one", "got two", "got three"], got
        else:
            (bundle / "rootfs" / "go").touch()
            await wait_output(source.client, "reader", "got two")
            got = (await log_bytes(source.client, "reader")).decode().splitlines()
            assert got == ["ready", "got one", "got two"], got
    assert os.listdir(source.state_dir / "outgoing") == []
    await session.drop()


async def test_a_source_killed_mid_restore_resumes_its_copy_once_the_restore_fails(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the source's server while the target's runc restore is held: the next
    server's finish waits for the restore; the restore then fails (its runc killed), and the
    target says it has not restored it: the session is aborted, the copy here resumed."""
    gated, source, target = await counting_to_a_held_restore(spawn_daemon, make_bundle, tmp_path)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cut_short, source.client, "counter", f"unix:{target.socket}")
        await gated.reached()
        (held,) = gated.running()
        since = now()
        await source.kill_server()
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "paused"
    os.kill(held, signal.SIGKILL)  # the restore fails
    with trio.fail_after(30):
        await source.logged(b"was left under way by the last server: the target does not")
    await resumed_here(source, since)
    assert os.listdir(source.state_dir / "outgoing") == []
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert os.listdir(target.state_dir / "migrations") == []


async def _source_killed_in_a_held_restore(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, *source_args: str
) -> tuple[GatedRunc, int, DaemonProcess, DaemonProcess, Path, wsclient.Attached]:
    """The reader (its input pending, :func:`_reader_with_input_pending`) moving from a source
    to a target whose runc restore is held at its gate, and the source's server killed -9
    then: the gate, the held restore's pid, both daemons, the bundle and the attach session."""
    gated = GatedRunc(tmp_path, "restore")
    source, target = await together(
        spawn_daemon(*source_args, state_dir=tmp_path / "state-a", socket=tmp_path / "a.sock"),
        spawn_daemon(
            "--runtime", str(gated.path), state_dir=tmp_path / "state-b", socket=tmp_path / "b.sock"
        ),
    )
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cut_short, source.client, "reader", f"unix:{target.socket}")
        await gated.reached()
        (held,) = gated.running()
        await source.kill_server()
    return gated, held, source, target, bundle, session


async def test_input_not_yet_taken_by_a_source_killed_mid_restore_reaches_the_target(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """kill -9 of the source's server while the target's runc restore is held, before it
    took out of its copy the input the container had not read (it does once the restore
    answers): the next server, which finishes the move once the restore is done, takes
    that input out of the copy's pipe and hands it on first, as the live move does; the
    container reads it there, in order. (Before, the copy was removed with it in its pipe:
    lost, untold.)"""
    gated, held, source, target, bundle, session = await _source_killed_in_a_held_restore(
        spawn_daemon, make_bundle, tmp_path
    )
    with trio.fail_after(30):
        async with gated.opened(held):
            await source.logged(b"was left under way by the last server: the target runs the")
    await _moved_there_once(source, target, bundle, session)


async def _restored_there_unanswered(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    **link_options: Any,
) -> tuple[DaemonProcess, DaemonProcess, LossyLink, Path, wsclient.Attached, str]:
    """The reader, ``one`` and ``two`` typed into it and not read (as
    :func:`_reader_with_input_pending`), moving from a source to a target through a link
    (``link_options``: more of :class:`LossyLink`'s) that holds the target's answer to the
    restore: returned once the target restored it (it runs there, its session open, nothing
    handed on; the source's server waits for that answer, the input still in its copy's
    pipe). The daemons, the link, the bundle, the attach session, the target's session."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    link = LossyLink(
        tmp_path / "link.sock", target.socket, drop=b"/restore HTTP/1.1", hold_dropped=True,
        **link_options,
    )  # fmt: skip
    await nursery.start(link.serve)
    bundle, session = await _reader_with_input_pending(source, make_bundle)
    nursery.start_soon(cut_short, source.client, "reader", f"unix:{link.path}")
    with trio.fail_after(30):
        await link.dropping.wait()
    assert link.dropped is not None and b" 201 " in link.dropped  # restored there
    (record,) = os.listdir(target.state_dir / "migrations")
    return source, target, link, bundle, session, record.removesuffix(".json")


def _kept_for_both(source: DaemonProcess) -> None:
    """The move's record at the source keeps the input its copy had not read, marked as back
    in the copy too (to hand on to the target, should it keep the container)."""
    (name,) = os.listdir(source.state_dir / "outgoing")
    record = json.loads((source.state_dir / "outgoing" / name).read_bytes())
    assert base64.b64decode(record["stdin"]) == b"one\ntwo\n", record
    assert record["stdinInCopy"] is True, record


async def _read_here_then(source: Side, bundle: Path, line: str) -> list[str]:
    """The reader's copy at the source, resumed, reads what is in its input (``/go``), then
    ``line``, typed into it on a new attach session once it read ``got two``: all of its
    log, once it read that line."""
    (bundle / "rootfs" / "go").touch()
    with trio.fail_after(10):
        await wait_output(source.client, "reader", "got two")
    here = (await source.client.get("/containers/reader")).json()
    assert here["state"]["status"] == "running", here
    again = await wsclient.attach(
        "", "reader", here["processes"][0]["pid"], unix=str(source.socket)
    )
    await again.type(f"{line}\n")
    with trio.fail_after(10):
        await wait_output(source.client, "reader", f"got {line}")
    await again.detach()
    return (await log_bytes(source.client, "reader")).decode().splitlines()


@pytest.mark.parametrize("how", ["silent", "unknowing"])
async def test_input_a_source_s_next_server_took_is_kept_for_either_end_while_the_target_cannot_say(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    how: str,
) -> None:
    """kill -9 of the source's server once the target restored the reader (the restore's
    answer held on its way), before it took out of its copy the input the reader had not
    read: the next server takes it, and the target cannot say yet whether it keeps the
    container. "silent": it answers nothing (every connection closed); "unknowing": it
    answers, but cannot say (its session ended, finished there by hand, and the moved
    container stopped there). The input goes back into the copy, paused, and the move's
    record keeps it for the target too. Then the target says: it keeps the container
    ("silent": it answers again), and the input is handed on before the finish, read there
    once, in order, the copy removed; or ("unknowing": the stopped container deleted there)
    it has none, and the copy, resumed, reads it once, then what is typed here since."""
    options = {"then_silent": True} if how == "silent" else {}
    source, target, link, bundle, session, migration = await _restored_there_unanswered(
        spawn_daemon, make_bundle, tmp_path, nursery, **options
    )
    if how == "unknowing":
        finished = await target.client.post(f"/migrations/{migration}/finish")
        assert finished.status_code == 200, finished.text
        stopped = await target.client.post("/containers/reader/stop", params={"timeout": "0"})
        assert stopped.status_code == 200, stopped.text
    await source.kill_server()
    with trio.fail_after(30):
        await source.logged(b"its copy here stays paused until the target says")
    assert (await source.client.get("/containers/reader")).json()["state"]["status"] == "paused"
    _kept_for_both(source)
    if how == "unknowing":
        assert b"it has the moved container, stopped" in source.log
        deleted = await target.client.delete("/containers/reader")
        assert deleted.status_code == 200, deleted.text
        with trio.fail_after(30):
            await source.logged(b"left under way by the last server: the target does not run")
        await _back_here_once(source, target, bundle, session)
    else:
        link.then_silent = False
        with trio.fail_after(30):
            await source.logged(b"left under way by the last server: the target runs the")
        await _moved_there_once(source, target, bundle, session)


async def test_a_hand_off_refused_to_a_source_s_next_server_rolls_the_move_back_with_its_input(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """kill -9 of the source's server once the target restored the reader (the restore's
    answer held on its way), before it took out of its copy the input the reader had not
    read: the next server takes it and hands it on, and the target refuses the hand-off (a
    500: it cannot take it now). The move fails there, as a live move's does: the next
    server aborts the session (the target deletes what it restored) rather than finish it,
    and resumes its copy, which reads that input once, then what is typed here since.
    (Before, it asked for the finish all the same: the target kept the container without
    the input, which went with the copy, and the log said the target's session had ended.)"""
    source, target, link, bundle, session, _migration = await _restored_there_unanswered(
        spawn_daemon, make_bundle, tmp_path, nursery, refuse=b"/stdin HTTP/1.1"
    )
    await source.kill_server()
    with trio.fail_after(30):
        await source.logged(b"left under way by the last server: the target does not run")
    assert link.refused
    await _back_here_once(source, target, bundle, session)


async def test_input_a_source_s_next_server_took_after_the_target_s_session_ended_is_told_lost(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """kill -9 of the source's server once the target restored the reader (the restore's
    answer held on its way), before it took out of its copy the input the reader had not
    read; the target's session has ended meanwhile without that input (finished there by
    hand), the container kept there: the next server takes the input, finds the session
    gone and the moved container running there, and removes its copy, with the input, and
    says how many bytes were lost (docs/checkpoint.md, what survives a crash); the
    container runs on there, in one place."""
    source, target, _link, bundle, session, migration = await _restored_there_unanswered(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    finished = await target.client.post(f"/migrations/{migration}/finish")
    assert finished.status_code == 200, finished.text
    await source.kill_server()
    with trio.fail_after(30):
        await source.logged(b"left under way by the last server: the target runs the")
    assert b"the 8 bytes of input it had not read" in source.log
    assert b"never took: they are lost" in source.log
    assert (await source.client.get("/containers/reader")).status_code == 404
    assert "reader" not in runc_ids(source.state_dir)
    got = await _read_there(target, bundle, "three")
    assert got == ["got three"], got
    assert os.listdir(source.state_dir / "outgoing") == []
    await session.drop()


@pytest.mark.parametrize("there", ["failed", "rolled-back"])
async def test_input_a_source_s_next_server_took_goes_back_once_when_the_restore_came_to_nothing(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, there: str
) -> None:
    """kill -9 of the source's server while the target's runc restore is held, before it
    took out of its copy the input the reader had not read: the next server takes it, and
    its hand-off waits behind the restore past the source's deadline (the target cannot say
    yet): the input goes back into the copy, paused, kept for the target too. Then the
    restore comes to nothing there: it fails ("failed": its runc killed), or the target's
    server is killed and its next one rolls the restore back ("rolled-back"). The next
    question learns the target has none: the copy is resumed, and reads that input once
    (not put back a second time), then what is typed here since; nothing of it is left
    there."""
    gated, held, source, target, bundle, session = await _source_killed_in_a_held_restore(
        spawn_daemon, make_bundle, tmp_path, "--runtime-timeout", "3"
    )
    with trio.fail_after(30):
        await source.logged(b"its copy here stays paused until the target says")
    assert (await source.client.get("/containers/reader")).json()["state"]["status"] == "paused"
    _kept_for_both(source)
    if there == "failed":
        os.kill(held, signal.SIGKILL)
    else:
        count = target.servings
        os.kill(target.server_pid(), signal.SIGKILL)
        async with gated.opened(held):  # the restore ends; the next server rolls it back
            with trio.fail_after(30):
                await target.served(count + 1)
    with trio.fail_after(30):
        await source.logged(b"left under way by the last server: the target does not run")
    await _back_here_once(source, target, bundle, session)


async def test_a_hand_over_mid_restore_leaves_the_move_to_the_next_server(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A live upgrade of the source while the target's runc restore is held: the old
    server's grace for commands runs out, and its roll-back cannot learn whether the target
    runs the container (the abort waits behind the restore). The move's record stays, and
    so do its images, which the target restores from (the bundle is shared); the new server
    asks the target again once the restore has ended: the target keeps the container, the
    copy here is removed. (Before, the record went with the old server: the copy stayed
    paused for good; and the roll-back removed the images the restore read: it failed.)"""
    gated, source, target = await counting_to_a_held_restore(
        spawn_daemon, make_bundle, tmp_path, "--runtime-timeout", "1"
    )
    bundle = Path((await source.client.get("/containers/counter")).json()["bundlePath"])
    steps: list[dict[str, Any]] = []
    async with moving_to_a_held_restore(gated, source, target, steps) as held:
        count = source.servings
        assert (await source.client.post("/daemon/reload")).status_code == 202
        with trio.fail_after(30):
            await source.served(count + 1)
    assert steps[-1]["step"] == "failed", steps
    assert "the daemon's next server asks the target again" in steps[-1]["error"], steps
    assert (await source.client.get("/containers/counter")).json()["state"]["status"] == "paused"
    with trio.fail_after(30):
        async with gated.opened(held):
            await source.logged(b"was left under way by the last server: the target runs the")
    await moved_there(source, target)
    assert leftovers(bundle) == []
    assert os.listdir(source.state_dir / "outgoing") == []
    assert os.listdir(target.state_dir / "migrations") == []


async def _copy_kept_paused(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    questions: int = 1,
) -> tuple[DaemonProcess, DaemonProcess]:
    """A counter moving from a source to a target through a link that cuts every finish
    off; kill -9 of the source's server once the target restored it: the next server keeps
    the copy here paused while the target cannot say whether it keeps it, and has asked
    ``questions`` times. The two daemons."""
    source, target = await two_daemons(spawn_daemon, tmp_path)
    link = LossyLink(tmp_path / "link.sock", target.socket, hang=b"/finish HTTP/1.1")
    await nursery.start(link.serve)
    await start_container(source.client, "counter", make_bundle(COUNTER))
    await wait_output(source.client, "counter", "2")
    async with trio.open_nursery() as moving:
        moving.start_soon(cut_short, source.client, "counter", f"unix:{link.path}")
        with trio.fail_after(30):
            await link.holding.wait()
        link.later = "no-finish"
        await source.kill_server()
    with trio.fail_after(30):
        await source.logged(b"its copy here stays paused until the target says", times=questions)
    return source, target


@pytest.mark.parametrize("action", ["resume", "delete"])
async def test_a_copy_the_user_takes_while_the_target_cannot_say_is_left_alone(
    spawn_daemon: Any,
    make_bundle: BundleFactory,
    tmp_path: Path,
    nursery: trio.Nursery,
    action: str,
) -> None:
    """kill -9 of the source's server once the target has restored the container; the
    target then cannot say whether it keeps it (each finish cut off), so the next server
    keeps the copy here paused and asks again. The user resumes (or deletes) the copy
    meanwhile: the settling ends there, its record goes, and the target's session is aborted
    (a resumed copy must not run there too). (Before, it went on asking, and once the
    target answered, ended the copy the user had resumed; meanwhile both ran.) A migration
    of the copy before that is refused (409): the target may run the container."""
    source, target = await _copy_kept_paused(spawn_daemon, make_bundle, tmp_path, nursery)
    assert (await target.client.get("/containers/counter")).json()["state"]["status"] == "running"
    # Not moved elsewhere meanwhile: the target may run it.
    answer = await source.client.post("/containers/counter/migrate", json={"to": "unix:/x"})
    assert answer.status_code == 409, answer.text
    assert "an earlier migration of it is not settled yet" in answer.json()["error"]
    if action == "resume":
        answer = await source.client.patch("/containers/counter", json={"status": "running"})
    else:
        answer = await source.client.delete("/containers/counter", params={"timeout": "0"})
    assert answer.status_code == 200, answer.text
    done = "resumed" if action == "resume" else "deleted"
    with trio.fail_after(20):
        await source.logged(f"the user {done} the copy here while the target could".encode())
    assert b"the target aborted its session" in source.log
    assert os.listdir(source.state_dir / "outgoing") == []
    assert (await target.client.get("/containers/counter")).status_code == 404
    assert os.listdir(target.state_dir / "migrations") == []
    if action == "resume":
        seen = (await counted(source.client, "counter"))[-1]
        await wait_output(source.client, "counter", f"{seen + 2}\n")
        assert (await source.client.get("/containers/counter")).json()["state"]["status"] == (
            "running"
        )


async def test_a_stop_of_the_copy_while_the_target_cannot_say_ends_the_questions_at_once(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """As above, the copy here kept paused while the target cannot say, its questions spaced
    out (8 s by the fourth): the user stops the copy (``POST .../stop``), which resumes it
    for its signal. The settling ends as the stop resumes it, as a resume's does, the
    target's session aborted: not once the stop's grace has passed. (Before, the stop told
    the settling only at its end, or the next question saw it: meanwhile the copy ran here,
    its stop signal's trap, while the target might run the container.)"""
    source, target = await _copy_kept_paused(
        spawn_daemon, make_bundle, tmp_path, nursery, questions=4
    )
    answers: list[httpx.Response] = []

    async def stop() -> None:  # its init, a shell, ignores SIGTERM: the grace runs on
        answers.append(await source.client.post("/containers/counter/stop", params={"timeout": 6}))

    async with trio.open_nursery() as stopping:
        stopping.start_soon(stop)
        with trio.fail_after(3):  # the next question is 8 s away, the stop's end 6 s
            await source.logged(b"the user resumed the copy here while the target could")
        # Seen within the grace: the rest of it need not be waited out. A SIGKILL ends the
        # init now, as the stop's own would at the grace's end (137), and with it the stop.
        killed = await source.client.patch("/containers/counter", json={"signal": "KILL"})
        assert killed.is_success, killed.text
    assert b"the target aborted its session" in source.log
    assert (await target.client.get("/containers/counter")).status_code == 404
    (stopped,) = answers
    assert stopped.status_code == 200, stopped.text
    assert run_status(stopped.json()["state"]) == {"status": "stopped", "exitStatus": 137}


@pytest.mark.parametrize("route", ["container", "process", "outside"])
async def test_a_sigkill_during_a_migration_s_dump_ends_the_move(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, route: str
) -> None:
    """A SIGKILL to the init while the move's CRIU holds its tasks seized (the container
    frozen by the move first): through the API (``PATCH`` or the process's signal), or from
    outside the daemon (a shell's kill -9, the OOM killer's). The dying init waits for its
    children, whose exits go to CRIU, which waits on it: before, the move hung until its
    deadline (600 s by default), every command of the container waiting (this test's bound
    before). The kill ends the dump now, at once through the API, 5 s after the init began
    to die from outside: the move fails, rolled back (the target aborted its session: no
    container, session, images or runc container there), its course on the event stream
    closed (``checkpoint-failed``), and the container here is stopped by the kill (137), not
    "left paused" (before the mend of the resume, the move said it could not resume it)."""
    source, target = await two_in_process(start_daemon, tmp_path)
    hold = HeldCriu(tmp_path, "network-lock")
    bundle = make_bundle(COUNTER, edit=hold.annotate)
    client = source.client
    created = await start_container(client, "k", bundle)
    init = created["processes"][0]["pid"]
    since = now()

    async def kill() -> None:
        if route == "container":
            assert (await client.patch("/containers/k", json={"signal": "KILL"})).is_success
        elif route == "process":
            signal_9 = {"signal": 9}
            assert (await client.post(f"/containers/k/process/{init}", json=signal_9)).is_success
        else:  # not through the daemon at all
            os.kill(init, signal.SIGKILL)

    moved: list[list[dict[str, Any]]] = []

    async def move() -> None:
        moved.append(await migrate(client, "k", to=f"unix:{target.socket}"))

    with hold, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(move)
            await hold.held()  # the tasks are seized, the container frozen by the move
            await kill()
        await hold.ended()
        steps = moved[0]
        killed = "cannot migrate container 'k': it was killed (SIGKILL) during the migration's"
        assert [step["step"] for step in steps] == ["session", "freeze", "failed"], steps
        assert steps[-1]["error"] == killed + " checkpoint", steps
        assert steps[-1]["rolledBack"] is True, steps
        assert await wait_exit(client, "k", init, since) == 137
        ended = await next_event(
            client, since=since, container_id="k",
            match=lambda e: e["type"] in ("checkpoint-done", "checkpoint-failed"),
        )  # fmt: skip
    assert (ended["type"], ended["error"]) == ("checkpoint-failed", steps[-1]["error"]), ended
    assert (await client.get("/containers/k")).json()["state"]["status"] == "stopped"
    assert (await target.client.get("/containers/k")).status_code == 404
    assert runc_ids(target.state_dir) == []
    assert os.listdir(target.state_dir / "migrations") == []
    assert os.listdir(source.state_dir / "outgoing") == []
    assert leftovers(bundle) == []
    assert runc_ids(source.state_dir) in ([], ["k"])  # stopped, until its delete
    assert (await client.delete("/containers/k")).status_code == 200
    assert runc_ids(source.state_dir) == []


async def test_input_sent_as_the_move_ends_is_all_told_not_taken(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A session at the source types ``three`` while the finish is held, and ``four`` once the
    move is done, before it read its last status: neither reached the container, and the
    status lets the client tell both (``ctr-trio`` says "the last N bytes"): it counts
    ``three``, read before the status, not taken, and says how much it read in all
    (inputRead), which ``four`` is past. (Before, ``four``, never read, was lost untold, and
    the client, taking the last N bytes for the ones not taken, sent ``four`` again in
    place of ``three``: the fault seen by hand on 2026-12-05.)"""
    source, _, _, link, session, attached = await _typed_after_the_hand_off(
        spawn_daemon, make_bundle, tmp_path, nursery
    )
    with trio.fail_after(60):
        async with _moving(source, "reader", f"unix:{link.path}") as steps:
            await link.holding.wait()
            await session.type("three\n")
            assert (await source.client.get("/containers/reader")).status_code == 200
            link.later = "pass"
            _release(link)
        assert steps[-1]["step"] == "done", steps
        with contextlib.suppress(OSError, trio.BrokenResourceError):
            await session.type("four\n")  # sent before the status was read
        await session.to_end()
        await _ended(attached)
    status = session.status
    assert status is not None, session.close_code
    # What the client can tell: past what the server read, and what it read not taken.
    sent = len("one\ntwo\nthree\nfour\n")
    read, not_taken = status.get("inputRead"), status.get("inputNotTaken")
    assert isinstance(read, int) and isinstance(not_taken, int), status
    assert sent - read + not_taken == len("three\nfour\n"), status
