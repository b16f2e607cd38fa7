"""Faults injected through a wrapper passed as --runtime: every one leaves nothing half-made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from containerd_trio import procfs
from containerd_trio.config import default_criu

from .helpers import (
    COUNTER,
    BundleFactory,
    RunningDaemon,
    WatchedProcess,
    kill_unless_ended,
    pid_alive,
    runc_ids,
    runc_state,
    start_container,
    stat_pid_and_start_time,
    wait_output,
    zombie_children,
)

pytestmark = pytest.mark.deadline(60)

# The wrapper finds runc's --log file and the command among its arguments; `fail MESSAGE`
# writes MESSAGE to the log as runc would, and exits 1.
WRAPPER_HEAD = r"""#!/bin/sh
log=""; command=""; prev=""
for a in "$@"; do
    [ "$prev" = --log ] && log="$a"
    case "$a" in run|exec|checkpoint|restore|pause|resume|kill|delete|state|list|events)
        [ -z "$command" ] && command="$a";;
    esac
    prev="$a"
done
fail() { printf '{"level":"error","msg":"%s"}\n' "$1" >> "$log"; exit 1; }
"""


def wrapper(tmp_path: Path, body: str) -> str:
    path = tmp_path / "faulty-runc"
    path.write_text(WRAPPER_HEAD + body + '\nexec runc "$@"\n')
    path.chmod(0o755)
    return str(path)


async def test_failure_between_create_and_start(
    start_daemon: Any, tmp_path: Path, bundle: Path
) -> None:
    """runc created the container (its init waits in runc init), then failed: all of it goes."""
    runtime = wrapper(
        tmp_path,
        r"""
if [ "$command" = run ]; then
    args=""; for a in "$@"; do [ "$a" = run ] && a=create; [ "$a" = --detach ] && continue
        args="$args '$a'"; done
    eval runc $args </dev/null >/dev/null 2>&1
    fail "injected: failed between create and start"
fi""",
    )
    daemon: RunningDaemon = await start_daemon(runtime=runtime)
    response = await daemon.client.post("/containers/half", json={"bundlePath": str(bundle)})
    assert response.status_code == 500
    assert response.json()["error"] == "runc run failed: injected: failed between create and start"
    assert runc_ids(daemon.config.state_dir) == []  # the rollback deleted what runc created
    assert (await daemon.client.get("/containers/half")).status_code == 404
    assert not (daemon.config.containers_dir / "half").exists()
    assert zombie_children() == []
    assert (await daemon.client.get("/state")).json()["containers"] == []


async def test_a_process_runc_leaves_behind_is_reaped_by_the_keeper(
    start_daemon: Any, tmp_path: Path, bundle: Path
) -> None:
    """A process runc leaves behind becomes the keeper's child when runc exits (the keeper is
    the subreaper). The keeper never knew it, yet reaps it once it exits: the keeper reaps the
    children it knows through their pidfds, and sweeps for the others after a SIGCHLD."""
    gate, left = tmp_path / "gate", tmp_path / "left.pid"
    gate.touch()
    runtime = wrapper(
        tmp_path,
        f"""
if [ "$command" = run ]; then
    (while [ -e {gate} ]; do sleep 0.01; done) </dev/null >/dev/null 2>&1 &
    echo $! > {left}
fi""",
    )
    daemon: RunningDaemon = await start_daemon(runtime=runtime)
    await start_container(daemon.client, "leaver", bundle)
    pid = int(left.read_text())
    fields = procfs.stat_fields(pid)
    assert fields is not None
    keeper = int(fields[1])  # runc has exited: the process is the keeper's now
    assert b"containerd_trio.keeper" in Path(f"/proc/{keeper}/cmdline").read_bytes()
    left_process = WatchedProcess(pid)  # it waits for the gate: alive until the unlink
    gate.unlink()
    with trio.fail_after(10):
        await left_process.wait_reaped()  # by the keeper
    assert zombie_children(keeper) == []


async def test_failed_checkpoint_leaves_the_container_as_it_was(
    start_daemon: Any, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    runtime = wrapper(tmp_path, '[ "$command" = checkpoint ] && fail "injected: criu said no"')
    daemon: RunningDaemon = await start_daemon(runtime=runtime)
    bundle = make_bundle(COUNTER)
    created = await start_container(daemon.client, "c", bundle)
    response = await daemon.client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert response.status_code == 500
    assert "injected: criu said no" in response.json()["error"]
    assert not (bundle / "checkpoints" / "cp").exists()
    assert pid_alive(created["processes"][0]["pid"])
    assert (await daemon.client.get("/containers/c")).json()["state"]["status"] == "running"
    assert runc_state(daemon.config.state_dir, "c")["status"] == "running"


async def test_checkpoint_hung_after_freezing_is_504_and_thawed(
    start_daemon: Any, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    """CRIU freezes the container first; if it then hangs and is killed, the container must not
    stay frozen behind the daemon's back."""
    runtime = wrapper(
        tmp_path,
        r"""
if [ "$command" = checkpoint ]; then
    for id in "$@"; do :; done
    runc --root "$2" pause "$id"
    exec sleep 60
fi""",
    )
    daemon: RunningDaemon = await start_daemon(
        runtime=runtime, runtime_timeout=1.0, checkpoint_timeout=1.0
    )
    bundle = make_bundle(COUNTER)
    await start_container(daemon.client, "c", bundle)
    response = await daemon.client.post("/containers/c/checkpoint/cp", json={})
    assert response.status_code == 504
    assert runc_state(daemon.config.state_dir, "c")["status"] == "running"
    assert (await daemon.client.get("/containers/c")).json()["state"]["status"] == "running"
    await wait_output(daemon.client, "c", "1")
    assert not (bundle / "checkpoints" / "cp").exists()


async def test_a_restore_killed_at_its_deadline_leaves_the_bundle_and_the_id(
    start_daemon: Any, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    """runc restore bind-mounts the rootfs at ``<runc root>/<id>/criu-root`` before it runs
    CRIU; killed at the deadline, it leaves that mount. runc delete then removed the state dir
    through it: every file of the bundle's rootfs went, the mount stayed, and each later start
    of the id failed ("container with given ID already exists")."""
    armed = tmp_path / "armed"
    calls = tmp_path / "calls"
    hung = tmp_path / "hung"
    criu = tmp_path / "criu"
    # Once armed, the second swrk of a runc (the first is its version check) hangs: the
    # restore's, by then the rootfs is mounted.
    criu.write_text(
        f"""#!/bin/sh
if [ "$1" = swrk ] && [ -e {armed} ]; then
    echo x >> {calls}
    [ "$(wc -l < {calls})" -ge 2 ] && cat /proc/$$/stat > {hung} && exec sleep 60
fi
exec {default_criu()} "$@"
"""
    )
    criu.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(criu=str(criu), checkpoint_timeout=1.0)
    bundle = make_bundle(COUNTER)
    await start_container(daemon.client, "c", bundle)
    await wait_output(daemon.client, "c", "1")
    response = await daemon.client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    rootfs = sorted(path.name for path in (bundle / "rootfs").iterdir())
    armed.touch()
    body = {"bundlePath": str(bundle), "checkpoint": "cp"}
    response = await daemon.client.post("/containers/r", json=body)
    assert response.status_code == 504, response.text
    assert sorted(path.name for path in (bundle / "rootfs").iterdir()) == rootfs
    state_dir = daemon.config.state_dir
    with open("/proc/self/mountinfo") as mounts:
        assert str(state_dir) not in mounts.read()
    assert not (state_dir / "runc" / "r").exists()
    armed.unlink()
    # The keeper reaps it. Its pid, read from a file, comes too late for a pidfd: its
    # start time, read with it, tells it from a process given the pid since.
    kill_unless_ended(*stat_pid_and_start_time(hung.read_text()))
    response = await daemon.client.post("/containers/r", json=body)
    assert response.status_code == 201, response.text


async def test_missing_criu_stops_the_start(tmp_path: Path) -> None:
    from containerd_trio.errors import StartupError
    from containerd_trio.server import Daemon

    from .helpers import daemon_config

    daemon = Daemon(daemon_config(tmp_path / "state", criu="/nonexistent/criu"))
    with pytest.raises(StartupError, match="CRIU '/nonexistent/criu' was not found"):
        await daemon.run()


async def test_without_criu_a_checkpoint_says_so(
    start_daemon: Any, make_bundle: BundleFactory
) -> None:
    """``--criu none``: the daemon runs, and a checkpoint is refused with a clear 500."""
    daemon: RunningDaemon = await start_daemon(criu=None)
    await start_container(daemon.client, "c", make_bundle())
    response = await daemon.client.post("/containers/c/checkpoint/cp", json={})
    assert response.status_code == 500
    assert response.json()["error"].startswith("no working CRIU")


async def test_missing_runtime_binary_stops_the_start(tmp_path: Path) -> None:
    from containerd_trio.errors import StartupError
    from containerd_trio.server import Daemon

    from .helpers import daemon_config

    daemon = Daemon(daemon_config(tmp_path / "state", runtime="/nonexistent/runc"))
    with pytest.raises(StartupError, match="the runtime binary '/nonexistent/runc' was not found"):
        await daemon.run()


async def test_runtime_binary_gone_later_is_500(
    start_daemon: Any, tmp_path: Path, bundle: Path
) -> None:
    runtime = wrapper(tmp_path, "")
    daemon: RunningDaemon = await start_daemon(runtime=runtime)
    Path(runtime).unlink()
    response = await daemon.client.post("/containers/c", json={"bundlePath": str(bundle)})
    assert response.status_code == 500
    assert response.json()["error"] == f"the runtime binary {runtime!r} was not found"
    assert (await daemon.client.get("/containers/c")).status_code == 404
    assert not (daemon.config.containers_dir / "c").exists()
