"""A full disk: the daemon's state dir on a small tmpfs, filled up on purpose.

What must hold: capture pauses (the writers block on their full pipes, they are not killed),
an event and a metric say so, capture resumes by itself once there is room, and not a line is
lost; the journal and the event log are never torn and a deleted container never comes back;
the daemon starts on a full disk and supervises what runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from containerd_trio import procfs
from containerd_trio.appendfile import AppendFile

from .helpers import (
    FOREVER,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    LoggerOfOneProcess,
    RunningDaemon,
    killed_at_end,
    next_event,
    now,
    start_container,
    wait_catching,
)
from .test_recovery import _runs_on_thawed, killed_with_runc_held

pytestmark = pytest.mark.deadline(120)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk with one file; returns it (remove it to free them)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_refused_write_is_held_whole_and_lands_whole(small_disk: Path) -> None:
    """The journal's and event log's file: no torn line on a full disk, and none after."""
    log = AppendFile(str(small_disk / "file"))
    assert log.append(b'{"first":1}\n')
    filler = fill(small_disk)
    line = b'{"second":"' + b"x" * 100_000 + b'"}\n'
    assert not log.append(line)  # refused: held, not half written
    assert (small_disk / "file").read_bytes() == b'{"first":1}\n'
    filler.unlink()
    assert log.flush()
    assert (small_disk / "file").read_bytes() == b'{"first":1}\n' + line


def test_a_torn_last_line_is_cut_off_when_opened(tmp_path: Path) -> None:
    """A writer that died mid-line: the next line must not be fused onto the torn one."""
    path = tmp_path / "file"
    path.write_bytes(b'{"whole":1}\n{"torn":')
    log = AppendFile(str(path))
    assert log.append(b'{"next":2}\n')
    assert path.read_bytes() == b'{"whole":1}\n{"next":2}\n'


@attrs.frozen
class PausedWriter:
    """A container ``writer`` whose output met a full disk: the logger holds its log paused."""

    pid: int
    #: Before the disk was filled: its events since then tell what came of it.
    since: str
    #: The file that fills the disk: removing it gives the room back.
    filler: Path


@contextlib.asynccontextmanager
async def paused_writer(
    client: httpx.AsyncClient, make_bundle: BundleFactory, disk: Path
) -> AsyncIterator[PausedWriter]:
    """Start ``writer``, fill ``disk`` (the daemon's state dir's), have it write and wait for
    its ``log-paused``; the filler is removed at the end if it is still there.

    It writes 300,000 numbered lines once told to (SIGUSR1): 2 MB, more than its pipe holds (1
    MiB), so it must block once capture pauses; 27 MB of log once there is room again."""
    script = "trap 'seq 1 300000; exit 7' USR1; sleep 100000 & wait"
    created = await start_container_in(client, "writer", make_bundle(["sh", "-c", script]))
    pid = created["processes"][0]["pid"]
    await wait_catching(pid, signal.SIGUSR1)  # before its trap, SIGUSR1 would end it
    since = now()
    filler = fill(disk)
    try:
        os.kill(pid, signal.SIGUSR1)
        await next_event(client, since=since, container_id="writer",
                         match=lambda e: e["type"] == "log-paused")  # fmt: skip
        yield PausedWriter(pid, since, filler)
    finally:
        filler.unlink(missing_ok=True)


async def wrote_whole(client: httpx.AsyncClient, writer: PausedWriter) -> None:
    """The writer's exit comes (status 7: its seq ended), and its log holds every line."""
    exited = await next_event(client, since=writer.since, container_id="writer",
                              match=lambda e: e["type"] == "exit")  # fmt: skip
    assert exited["status"] == 7
    response = await client.get("/containers/writer/logs")
    # The records' data joined: a line a logger's hand-over (a reload) came in is two
    # records, the first logger's part and the next one's rest.
    text = "".join(json.loads(line)["data"] for line in response.text.splitlines())
    assert text.splitlines() == [str(n) for n in range(1, 300_001)]


async def test_capture_pauses_on_a_full_disk_and_resumes_losing_nothing(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, small_disk: Path
) -> None:
    daemon: RunningDaemon = await start_daemon(state_dir=small_disk / "state")
    client = daemon.client
    async with paused_writer(client, make_bundle, small_disk) as writer:
        metrics = (await client.get("/metrics")).text
        assert "containerd_trio_paused_logs 1.0" in metrics
        # The writer waits on its full pipe: alive, not killed by SIGPIPE, not exited.
        await wait_blocked(writer.pid)
        assert (await client.get("/containers/writer")).json()["state"]["status"] == "running"
        writer.filler.unlink()
        await next_event(client, since=writer.since, container_id="writer",
                         match=lambda e: e["type"] == "log-resumed")  # fmt: skip
        await wrote_whole(client, writer)
    assert "containerd_trio_paused_logs 0.0" in (await client.get("/metrics")).text


async def test_a_paused_log_deleted_with_its_container_is_no_longer_counted(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, small_disk: Path
) -> None:
    """containerd_trio_paused_logs counts the logs paused now: a container deleted while its
    log was paused takes its log, and its pause, with it (the logger forgets both). The gauge
    was moved by the pause and the resume alone, and so counted that log for ever."""
    daemon: RunningDaemon = await start_daemon(state_dir=small_disk / "state")
    client = daemon.client
    async with paused_writer(client, make_bundle, small_disk):
        assert "containerd_trio_paused_logs 1.0" in (await client.get("/metrics")).text
        deleted = await client.delete("/containers/writer", params={"timeout": "0"})
        assert deleted.status_code == 200, deleted.text
        assert "containerd_trio_paused_logs 0.0" in (await client.get("/metrics")).text


async def test_a_paused_log_is_counted_by_the_next_server_until_it_resumes(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, small_disk: Path
) -> None:
    """A server that dies while a log is paused: the keeper's next one counts it from its
    start (the keeper's welcome says which logs are paused), and stops counting it at its
    resume. The next server counted none, and went to -1 at the resume."""
    daemon: DaemonProcess = await spawn_daemon(state_dir=small_disk / "state")
    client = daemon.client
    async with paused_writer(client, make_bundle, small_disk) as writer:
        await daemon.kill_server()
        assert "containerd_trio_paused_logs 1.0" in (await client.get("/metrics")).text
    await next_event(client, since=writer.since, container_id="writer",
                     match=lambda e: e["type"] == "log-resumed")  # fmt: skip
    assert "containerd_trio_paused_logs 0.0" in (await client.get("/metrics")).text
    deleted = await client.delete("/containers/writer", params={"timeout": "0"})
    assert deleted.status_code == 200, deleted.text


async def test_a_reload_replaces_the_logger_once_no_log_is_paused(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, small_disk: Path
) -> None:
    """A reload replaces the logger (its code is the package's too), but not while a log is
    paused: the records it read and could not write are in that logger's memory alone. It is
    replaced at the resume, and the writer's output is whole."""
    daemon: DaemonProcess = await spawn_daemon(state_dir=small_disk / "state")
    client = daemon.client
    async with paused_writer(client, make_bundle, small_disk) as writer:
        first = daemon.logger_pid()
        count = daemon.servings
        assert (await client.post("/daemon/reload")).status_code == 202
        await daemon.served(count + 1)
        await daemon.logged(b"the logger is replaced once no log is paused")
        assert daemon.logger_pid() == first
        writer.filler.unlink()
        await daemon.logged(b"the logger handed over; a new one (pid ")
    assert daemon.logger_pid() != first
    await wrote_whole(client, writer)
    assert b"the logger died" not in daemon.log


def test_a_logger_handing_over_writes_a_log_it_paused_before_it_exits(small_disk: Path) -> None:
    """A reload's stop (hand_over) that comes as the logger pauses a log, before the keeper
    has read the pause (it defers the stop for a pause it knows of): the logger goes on until
    the log is written, then exits. Until 2026-12-06 17:40 UTC it exited at once and the
    records it had read were lost (found in review: the keeper held by SIGSTOP while its
    logger paused, then SIGHUP, and a writer's log lacked its first 3,498 lines)."""
    (small_disk / "c").mkdir()
    one = LoggerOfOneProcess(small_disk / "c")
    try:
        filler = fill(small_disk)
        one.reads(b"1\n")
        assert one.logger._paused == {"c"}  # read, not written: in its memory alone
        one.logger._handle({"op": "stop", "hand_over": True}, [])
        filler.unlink()  # room again: its next retry writes the line, and it exits
        one.logger.run()
        assert [record["data"] for record in one.records()] == ["1\n"]
    finally:
        one.close()


async def start_container_in(
    client: httpx.AsyncClient, container_id: str, bundle: Path
) -> dict[str, Any]:
    response = await client.post(f"/containers/{container_id}", json={"bundlePath": str(bundle)})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def wait_blocked(pid: int) -> None:
    """Until a child of the process (the seq its shell runs) sleeps in a write to its full
    pipe (``pipe_write``, ``anon_pipe_write`` on newer kernels); the shell itself waits for it,
    alive. Nothing signals this: look."""
    while True:
        assert procfs.is_alive(pid)
        for child in procfs.children(pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/wchan").read_text().endswith("pipe_write"):
                    return
        await trio.sleep(0.05)


async def test_a_deleted_container_never_comes_back_and_a_full_disk_does_not_stop_a_start(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, small_disk: Path
) -> None:
    """Deleted while the disk is full, then the daemon dies at once (kill -9 of the keeper: the
    server and logger die with it): the next daemon, started on the still full disk, serves,
    lists the survivor, and not the deleted one; the journal has no torn line."""
    state = small_disk / "state"
    first: DaemonProcess = await spawn_daemon(state_dir=state)
    for name in ("deleted", "survivor"):
        response = await first.client.post(
            f"/containers/{name}", json={"bundlePath": str(make_bundle(["sleep", "100000"]))}
        )
        assert response.status_code == 201, response.text
    survivor = response.json()["processes"][0]["pid"]
    with killed_at_end(survivor):  # deleted below; killed in any case
        filler = fill(small_disk)
        response = await first.client.delete("/containers/deleted", params={"timeout": "0"})
        assert response.status_code == 200
        await first.kill_hard()
        second: DaemonProcess = await spawn_daemon(state_dir=state)
        state_answer = (await second.client.get("/state")).json()
        listed = {c["id"]: c for c in state_answer["containers"]}
        assert set(listed) == {"survivor"}
        assert listed["survivor"]["processes"][0]["pid"] == survivor
        for line in (state / "containers.journal").read_bytes().splitlines():
            json.loads(line)
        filler.unlink()
        assert (
            await second.client.delete("/containers/survivor", params={"timeout": "0"})
        ).status_code == 200


async def test_a_finished_dump_the_full_disk_cannot_complete_does_not_stop_the_next_daemon(
    spawn_daemon: Callable[..., Any], small_disk: Path, tmp_path: Path
) -> None:
    """kill -9 of the whole daemon while its runc checkpoint is held; that runc finishes the
    dump, and then the bundle's disk is full: the next daemon cannot write the checkpoint's
    metadata. It serves all the same, the container running, thawed; the images and CRIU's
    work dir stay, and a later server completes the checkpoint once there is room. (Before,
    the write's OSError ended the adoption: no server could start while the disk was full.)"""
    gated = GatedRunc(tmp_path, "checkpoint")
    bundle = BundleFactory(small_disk)(FOREVER)
    first: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    init = (await start_container(first.client, "c", bundle))["processes"][0]["pid"]
    with killed_at_end(init):
        checkpoint = partial(first.client.post, "/containers/c/checkpoint/cp", json={"exit": False})
        await killed_with_runc_held(first, gated, checkpoint, keeper=True)
        images = bundle / "checkpoints" / "cp"
        work = first.state_dir / "containers" / "c" / "criu-dump-cp"
        filler = fill(small_disk)
        with trio.fail_after(30):
            second: DaemonProcess = await spawn_daemon()
        assert second.servings == 1, second.log[-3000:]
        await _runs_on_thawed(second, init)
        assert (images.is_dir(), (images / "checkpoint.json").exists(), work.is_dir()) == (
            True,
            False,
            True,
        )
        assert b"cannot be completed now" in second.log
        filler.unlink()
        await second.kill_server()
        listed = (await second.client.get("/containers/c/checkpoint")).json()
        assert [checkpoint["name"] for checkpoint in listed] == ["cp"]
        assert not work.exists()
        await _runs_on_thawed(second, init)


async def test_a_checkpoint_on_a_full_disk_says_so_and_leaves_nothing(
    start_daemon: Callable[..., Any],
    make_bundle: BundleFactory,
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dump writes its intent into its work dir, in the state dir, before runc runs: on a
    full disk that write fails. A full disk is the host's state, not a fault of the daemon's:
    the 500 says the disk is full, as docker's "no space left on device" does (before, it was
    "internal error: OSError: ..." with a traceback in the log), and nothing of the
    checkpoint is left, its name free."""
    daemon: RunningDaemon = await start_daemon(state_dir=small_disk / "state")
    client = daemon.client
    bundle = make_bundle(["sleep", "100000"])
    await start_container_in(client, "sleeper", bundle)
    filler = fill(small_disk)
    with caplog.at_level(logging.WARNING):
        response = await client.post("/containers/sleeper/checkpoint/first", json={})
    filler.unlink()
    assert response.status_code == 500, response.text
    message = response.json()["error"]
    assert "No space left on device" in message
    assert "internal error" not in message
    assert not any(record.exc_info for record in caplog.records), "a traceback went to the log"
    assert (await client.get("/containers/sleeper/checkpoint")).json() == []
    assert not (bundle / "checkpoints" / "first").exists()
    assert not list((small_disk / "state" / "containers" / "sleeper").glob("criu-*"))
