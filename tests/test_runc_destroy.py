"""runc delete's work for a stopped container, done in the daemon (containerd_trio.runc_destroy):
with real runc, what it takes on leaves nothing runc knows, and what it leaves to runc it
leaves untouched; through :meth:`Runc.delete`, runc still does what only it does (a
poststop hook, a busy cgroup). Then, on state files made here, each condition that hands a
delete to runc, against one that does not."""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from containerd_trio import procfs, runc_destroy
from containerd_trio.runc_destroy import destroy_stopped
from containerd_trio.runtime import Runc

from .helpers import FOREVER, BundleFactory
from .runc_direct import DirectContainer

#: The containers' inits, orphaned by runc run -d, go to the machine's init, which reaps them
#: (the test process a subreaper would keep them zombies).
pytestmark = pytest.mark.usefixtures("plain_parent")


class _Calls:
    """The runc commands a :class:`Runc` spawned."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def __call__(self, command: str, seconds: float, ok: bool) -> None:
        self.commands.append(command)


@pytest.fixture
def calls() -> _Calls:
    return _Calls()


@pytest.fixture
def runtime(tmp_path: Path, calls: _Calls) -> Runc:
    return Runc(
        binary="runc", root=tmp_path / "runc", criu=None, timeout=30.0, concurrency=2,
        observer=calls,
    )  # fmt: skip


@pytest.fixture
def cid() -> str:
    """A container id of this test's alone. On a hybrid host runc makes the unified
    hierarchy's cgroup of a container by its id alone, outside the test's own cgroups
    (:func:`~tests.helpers.enter_own_cgroups`): another worker's test running a "c" at the
    same time would keep it busy, and the delete runc's."""
    return f"destroyed-{os.getpid()}-{next(_ids)}"


_ids = itertools.count()


async def _wait_exited(pid: int) -> None:
    """Until the process has exited (a pidfd reads ready once it is a zombie or gone)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)


async def _ran(runtime: Runc, tmp_path: Path, bundle: Path, name: str) -> int:
    """Run a container of ``bundle`` as ``name``; its init's pid."""
    return await DirectContainer(runtime, name, tmp_path / "work" / name).run(bundle)


async def _stopped(runtime: Runc, tmp_path: Path, bundle: Path, name: str) -> list[str]:
    """Run a container of ``bundle`` to its exit; its cgroup directories."""
    await _wait_exited(await _ran(runtime, tmp_path, bundle, name))
    paths = list(runtime.cgroup_paths(name).values())
    assert paths and all(os.path.isdir(p) for p in paths)
    return paths


async def test_a_stopped_container_is_removed_as_runc_would(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    with trio.fail_after(30):
        paths = await _stopped(runtime, tmp_path, make_bundle(["true"]), cid)
        assert destroy_stopped(runtime.root / cid)
        assert [p for p in paths if os.path.exists(p)] == []
        assert not (runtime.root / cid).exists()
        assert await runtime.state(cid) is None
        assert await runtime.list() == []


async def test_a_running_container_is_left_to_runc(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory, calls: _Calls
) -> None:
    with trio.fail_after(30):
        pid = await _ran(runtime, tmp_path, make_bundle(FOREVER), cid)
        paths = list(runtime.cgroup_paths(cid).values())
        assert not destroy_stopped(runtime.root / cid)
        assert all(os.path.isdir(p) for p in paths)
        state = await runtime.state(cid)
        assert state is not None and state["status"] == "running" and state["pid"] == pid
        calls.commands.clear()
        await runtime.delete(cid, force=True)  # runc's: it kills the init
        assert calls.commands == ["delete"]
        await _wait_exited(pid)
        assert await runtime.state(cid) is None


async def test_its_sub_cgroups_go_first(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    with trio.fail_after(30):
        pid = await _ran(runtime, tmp_path, make_bundle(FOREVER), cid)
        paths = list(runtime.cgroup_paths(cid).values())
        for path in paths:
            os.makedirs(os.path.join(path, "inner", "innermost"))
        os.kill(pid, signal.SIGKILL)
        await _wait_exited(pid)
        assert destroy_stopped(runtime.root / cid)
        assert [p for p in paths if os.path.exists(p)] == []
        assert await runtime.state(cid) is None


async def test_through_runc_delete_no_runc_is_spawned_for_a_stopped_one(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory, calls: _Calls
) -> None:
    with trio.fail_after(30):
        paths = await _stopped(runtime, tmp_path, make_bundle(["true"]), cid)
        calls.commands.clear()
        await runtime.delete(cid, force=True)
        assert calls.commands == []
        assert [p for p in paths if os.path.exists(p)] == []
        assert await runtime.list() == []


async def test_a_poststop_hook_is_run_by_runc(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory, calls: _Calls
) -> None:
    mark = tmp_path / "poststop-ran"

    def hooked(config: dict[str, Any]) -> None:
        config["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f": > {mark}"]}]}

    with trio.fail_after(30):
        paths = await _stopped(runtime, tmp_path, make_bundle(["true"], edit=hooked), cid)
        assert not destroy_stopped(runtime.root / cid)
        assert all(os.path.isdir(p) for p in paths) and not mark.exists()
        calls.commands.clear()
        await runtime.delete(cid, force=True)
        assert calls.commands == ["delete"]
        assert mark.exists()
        assert [p for p in paths if os.path.exists(p)] == []
        assert await runtime.state(cid) is None


async def test_a_cgroup_still_busy_is_left_to_runc(
    cid: str, runtime: Runc, tmp_path: Path, make_bundle: BundleFactory, calls: _Calls
) -> None:
    with trio.fail_after(30):
        paths = await _stopped(runtime, tmp_path, make_bundle(["true"]), cid)
        pids_path = runtime.cgroup_paths(cid)["pids"]
        stranger = await trio.lowlevel.open_process(["sleep", "60"])
        try:
            Path(pids_path, "cgroup.procs").write_text(f"{stranger.pid}\n")
            assert not destroy_stopped(runtime.root / cid)
            assert os.path.isdir(pids_path) and (runtime.root / cid).is_dir()
            calls.commands.clear()
            # runc gives up on the busy cgroup (its init is gone, nothing of it to kill) and
            # forgets the container all the same.
            await runtime.delete(cid, force=True)
            assert calls.commands == ["delete"]
            assert await runtime.state(cid) is None
            assert [p for p in paths if os.path.exists(p)] == [pids_path]
        finally:
            stranger.kill()
            await stranger.wait()
        os.rmdir(pids_path)


async def test_a_cgroup_removed_while_its_freezer_is_read_is_gone(
    cid: str,
    runtime: Runc,
    tmp_path: Path,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another delete of the same cgroup meanwhile (a second one of this id, or on a hybrid
    host another container's of its path in the shared unified hierarchy) removes it between
    the open of its freeze file and the read: the read fails with ENODEV, which runc takes
    for a cgroup not frozen (GetFreezerState). So is it here: the delete goes on, nothing
    raised through it."""
    removed: list[str] = []

    def open_then_removed(path: str, mode: str) -> Any:
        file = open(path, mode)  # noqa: SIM115 (the caller closes it)
        directory = os.path.dirname(path)
        os.rmdir(directory)  # the other delete's rmdir, between this open and the read
        removed.append(directory)
        return file

    with trio.fail_after(30):
        paths = await _stopped(runtime, tmp_path, make_bundle(["true"]), cid)
        monkeypatch.setattr(runc_destroy, "open", open_then_removed, raising=False)
        assert destroy_stopped(runtime.root / cid)
        assert removed  # the race was had: a freeze file was read from a removed cgroup
        assert [p for p in paths if os.path.exists(p)] == []
        assert await runtime.state(cid) is None


# --- on state files made here ---------------------------------------------------------------


def _state_dir(tmp_path: Path, **changes: Any) -> tuple[Path, list[Path]]:
    """A runc state directory whose cgroup "directories" are empty directories here, of a
    container whose init is gone (this process's pid with another start time): one that
    :func:`destroy_stopped` removes, but for ``changes`` (keys of the state, or of its
    config with ``config_``)."""
    cgroups = [tmp_path / "cgroup" / name for name in ("cpu", "memory", "pids")]
    for path in cgroups:
        path.mkdir(parents=True)
    state: dict[str, Any] = {
        "id": "c", "init_process_pid": os.getpid(), "init_process_start": 1,
        "config": {"cgroups": {"Systemd": False}, "Hooks": None,
                   "namespaces": [{"type": "NEWPID", "path": ""}, {"type": "NEWNS", "path": ""}]},
        "cgroup_paths": {path.name: str(path) for path in cgroups}, "intel_rdt_path": "",
    }  # fmt: skip
    for key, value in changes.items():
        if key.startswith("config_"):
            state["config"][key.removeprefix("config_")] = value
        else:
            state[key] = value
    state_dir = tmp_path / "runc" / "c"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text(json.dumps(state))
    return state_dir, cgroups


def test_a_plain_stopped_state_is_removed(tmp_path: Path) -> None:
    state_dir, cgroups = _state_dir(tmp_path)
    assert destroy_stopped(state_dir)
    assert not state_dir.exists() and not any(path.exists() for path in cgroups)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(lambda tmp: {"init_process_start": procfs.start_time(os.getpid())},
                     id="its-init-runs"),
        pytest.param(lambda tmp: {"config_cgroups": {"Systemd": True}}, id="systemd-driver"),
        pytest.param(lambda tmp: {"intel_rdt_path": "/sys/fs/resctrl/c"}, id="intel-rdt"),
        pytest.param(lambda tmp: {"config_Hooks": {"poststop": [{"path": "/bin/true"}]}},
                     id="poststop-hook"),
        pytest.param(lambda tmp: {"config_namespaces": [{"type": "NEWNS", "path": ""}]},
                     id="host-pid-namespace"),
        pytest.param(lambda tmp: {"config_namespaces": [
            {"type": "NEWPID", "path": "/proc/1/ns/pid"}]}, id="joined-pid-namespace"),
        pytest.param(lambda tmp: {"cgroup_paths": {}}, id="no-cgroups"),
    ],
)  # fmt: skip
def test_what_is_more_than_a_removal_is_left_to_runc(tmp_path: Path, changes: Any) -> None:
    state_dir, cgroups = _state_dir(tmp_path, **changes(tmp_path))
    assert not destroy_stopped(state_dir)
    assert (state_dir / "state.json").exists() and all(path.is_dir() for path in cgroups)


@pytest.mark.parametrize(
    ("key", "name", "frozen", "thawed"),
    [("freezer", "freezer.state", "FROZEN\n", "THAWED\n"), ("", "cgroup.freeze", "1\n", "0\n")],
    ids=["v1-freezer", "v2-unified"],
)
def test_a_frozen_cgroup_is_left_to_runc(
    tmp_path: Path, key: str, name: str, frozen: str, thawed: str
) -> None:
    """cgroup v1's freezer controller, and v2's cgroup.freeze (the unified hierarchy's path,
    keyed "" in the state file)."""
    state_dir, cgroups = _state_dir(tmp_path)
    state = json.loads((state_dir / "state.json").read_text())
    freezer = tmp_path / "freezer"
    freezer.mkdir()
    (freezer / name).write_text(frozen)
    state["cgroup_paths"][key] = str(freezer)
    (state_dir / "state.json").write_text(json.dumps(state))
    assert not destroy_stopped(state_dir)
    assert (state_dir / "state.json").exists() and all(path.is_dir() for path in cgroups)
    # Thawed, it is taken on: the cgroups go (the freezer "directory" here, holding a
    # file, cannot, and the rest is runc's).
    (freezer / name).write_text(thawed)
    assert not destroy_stopped(state_dir)
    assert not any(path.exists() for path in cgroups)


@pytest.mark.parametrize(
    "content",
    [None, b"", b"{", b"[]", b'{"config": 1}',
     # A state runc 1.1 would not write: its init's pid null.
     json.dumps({"init_process_pid": None, "init_process_start": 1, "cgroup_paths": {
         "pids": "/nonexistent"}, "config": {"cgroups": {"Systemd": False}, "namespaces": [
             {"type": "NEWPID", "path": ""}]}}).encode()],
)  # fmt: skip
def test_a_state_file_runc_did_not_write_is_left_to_runc(
    tmp_path: Path, content: bytes | None
) -> None:
    state_dir = tmp_path / "runc" / "c"
    state_dir.mkdir(parents=True)
    if content is not None:
        (state_dir / "state.json").write_bytes(content)
    assert not destroy_stopped(state_dir)
    assert state_dir.is_dir()
