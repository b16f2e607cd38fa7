"""TCP that survives checkpoint and restore: the restore plan of restore_net, with real runc and
CRIU, first without the daemon (tests/runc_direct.py drives them), then through it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from containerd_trio import cgroups, loopback_hook
from containerd_trio.errors import InvalidRequest
from containerd_trio.model import MemoryResources, Resources
from containerd_trio.restore_net import (
    PRIVATE_BUNDLE_NAME,
    needs_loopback_hook,
    prepare_restore,
    restore_config,
)
from containerd_trio.runtime import CriuOptions, RuncError

from .helpers import BundleFactory, RunningDaemon, start_container, wait_output
from .runc_direct import DirectContainer, make_runc

pytestmark = pytest.mark.deadline(90)

TCP = CriuOptions(tcp_established=True)

#: A TCP pair over the container's loopback (the server prints what the client sends: n1, n2,
#: ...), and a second server that only listens until a test connects (it prints got:...).
#: The client retries until the server listens; a listening nc needs a stdin that stays open.
TCP_PAIR = (
    "sleep 100000 | nc -l -p 5000 &"
    " sleep 100000 | nc -l -p 6000 | sed s/^/got:/ &"
    " count() { i=0; while true; do i=$((i+1)); echo n$i; sleep 0.05; done; };"
    " until count | nc 127.0.0.1 5000; do sleep 0.05; done"
)


def numbers(output: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb"^n(\d+)$", output, re.MULTILINE)]


# --- the plan, without runc -------------------------------------------------------------------


def base_config() -> dict[str, object]:
    return {
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
            {"destination": "/etc/x", "source": "x", "options": ["bind", "ro"]},
            {"destination": "/abs", "type": "bind", "source": "/srv/abs"},
        ],
        "hooks": {"createRuntime": [{"path": "/usr/bin/true"}]},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
    }


def test_restore_config_makes_paths_absolute_and_adds_the_hook_last() -> None:
    config = base_config()
    restored = restore_config(config, Path("/b"))
    assert restored["root"] == {"path": "/b/rootfs"}
    sources = [mount["source"] for mount in restored["mounts"]]
    assert sources == ["proc", "/b/data", "/b/x", "/srv/abs"]  # proc is no path: untouched
    hooks = restored["hooks"]["createRuntime"]
    assert hooks[0] == {"path": "/usr/bin/true"}
    assert hooks[1]["args"][-1] == str(Path(loopback_hook.__file__).resolve())
    assert config == base_config()  # the caller's document is not changed


def test_restore_config_makes_a_relative_rbind_source_absolute_whatever_its_type() -> None:
    """runc takes a mount for a bind mount by its options ("bind" or "rbind"), whatever its
    type, and resolves its relative source against the bundle: so must the private bundle,
    or the source points into the daemon's state dir and the restore fails."""
    config = base_config()
    config["mounts"] = [
        {"destination": "/data", "type": "none", "source": "data", "options": ["rbind", "rw"]}
    ]
    assert restore_config(config, Path("/b"))["mounts"][0]["source"] == "/b/data"


@pytest.mark.parametrize(
    ("namespaces", "needed"),
    [
        ([{"type": "network"}], True),
        ([{"type": "network", "path": "/var/run/netns/x"}], False),
        ([{"type": "pid"}], False),
        ([], False),
    ],
)
def test_only_a_network_namespace_made_by_runc_needs_the_hook(
    namespaces: list[dict[str, str]], needed: bool
) -> None:
    assert needs_loopback_hook({"linux": {"namespaces": namespaces}}) is needed


def test_prepare_restore_keeps_a_bundle_that_needs_nothing(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = base_config()
    config["linux"] = {"namespaces": [{"type": "network", "path": "/var/run/netns/x"}]}
    (bundle / "config.json").write_text(json.dumps(config))
    plan = prepare_restore(bundle, tmp_path / "work")
    assert (plan.bundle, plan.private) == (bundle, None)
    assert not (tmp_path / "work").exists()


def test_prepare_restore_writes_a_private_bundle_and_cleans_it(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(base_config()))
    (tmp_path / "work" / PRIVATE_BUNDLE_NAME).mkdir(parents=True)  # a killed restore's leftover
    (tmp_path / "work" / PRIVATE_BUNDLE_NAME / "stale").touch()
    with prepare_restore(bundle, tmp_path / "work") as plan:
        assert plan.bundle == plan.private == tmp_path / "work" / PRIVATE_BUNDLE_NAME
        assert sorted(os.listdir(plan.bundle)) == ["config.json"]
        written = json.loads((plan.bundle / "config.json").read_text())
        assert written == restore_config(base_config(), bundle)
    assert not plan.bundle.exists()
    assert json.loads((bundle / "config.json").read_text()) == base_config()


def test_prepare_restore_lays_the_checkpoints_limits_over_the_bundles(tmp_path: Path) -> None:
    """Limits other than the bundle's go in a private bundle, laid over its own (a memory
    limit with docker's swap of twice it, where the host accounts swap); the bundle's own, as
    they were, need none (the restore runs from the bundle, as before)."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = base_config()
    config["linux"] = {"resources": {"memory": {"limit": 32 << 20}, "pids": {"limit": 10}}}
    (bundle / "config.json").write_text(json.dumps(config))
    same = Resources(memory=MemoryResources(limit=32 << 20))
    plan = prepare_restore(bundle, tmp_path / "work", limits=same)
    assert (plan.bundle, plan.private) == (bundle, None)
    kept = Resources(memory=MemoryResources(limit=64 << 20))
    with prepare_restore(bundle, tmp_path / "work", limits=kept) as plan:
        written = json.loads((plan.bundle / "config.json").read_text())
        swap = {"swap": 128 << 20} if cgroups.accounts_swap() else {}
        assert written["linux"]["resources"] == {
            "memory": {"limit": 64 << 20, **swap},
            "pids": {"limit": 10},
        }
        assert written["root"]["path"] == str(bundle / "rootfs")
    assert json.loads((bundle / "config.json").read_text()) == config


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "has no config.json"), (b"{", "is not valid JSON"), (b"[]", "not a JSON object"),
     (b"[" * 50_000, "nested too deeply"),
     (b'{"linux": {"namespaces": [{"type": "network"}]}}', "no root.path")],
)  # fmt: skip
def test_prepare_restore_names_a_bad_config(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    if content is not None:
        (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(InvalidRequest, match=problem):
        prepare_restore(tmp_path, tmp_path / "work")
    assert not (tmp_path / "work" / PRIVATE_BUNDLE_NAME).exists()


@pytest.mark.parametrize(
    ("document", "pid"),
    [(b'{"ociVersion": "1.0.2", "id": "c", "pid": 42, "status": "creating"}', 42),
     (b'{"pid": 0}', None), (b'{"pid": true}', None), (b"{}", None), (b"[1]", None),
     (b"no json", None)],
)  # fmt: skip
def test_the_hook_reads_the_pid_of_the_oci_state(document: bytes, pid: int | None) -> None:
    if pid is None:
        with pytest.raises(ValueError):  # noqa: PT011 - JSONDecodeError or our own
            loopback_hook.pid_from_state(document)
    else:
        assert loopback_hook.pid_from_state(document) == pid


@pytest.mark.parametrize("tools", [True, False])
def test_the_hook_as_runc_runs_it_reports_a_bad_pid(tools: bool) -> None:
    """Run as runc does (the hook entry's path, argv and env, the state on stdin): a failure
    says why, through nsenter and ip, and through the Python script where they are missing."""
    from containerd_trio.restore_net import loopback_hook_entry

    entry = loopback_hook_entry()
    env = dict(item.split("=", 1) for item in entry["env"]) if tools else {"PATH": "/nowhere"}
    state = json.dumps({"ociVersion": "1.0.2", "id": "c", "pid": 2**22 + 12345}).encode()
    result = subprocess.run(
        entry["args"], executable=entry["path"], env=env, input=state, capture_output=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert b"loopback hook:" in result.stderr and b"No such file" in result.stderr
    assert (b"nsenter" in result.stderr) is tools  # which of the two ran
    refused = subprocess.run(
        entry["args"], executable=entry["path"], env=env, input=b'{"pid":0}',
        capture_output=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and b"no usable pid" in refused.stderr


# --- with runc and CRIU -----------------------------------------------------------------------


@pytest.mark.usefixtures("plain_parent")
async def test_established_and_listening_tcp_survive_a_restore_through_the_plan(
    make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The client's connection goes on (every number once, in order), and the listening server
    accepts a new connection after the restore. Restoring from the bundle itself fails as
    runc 1.1 + CRIU 4 do today: the reason for the plan, shown so a change in runc is seen."""
    bundle = make_bundle(["sh", "-c", TCP_PAIR])
    container = DirectContainer(make_runc(tmp_path / "runc"), "tcp-pair", tmp_path / "work")
    image = tmp_path / "image"
    try:
        await container.run(bundle)
        await container.wait_for(b"n5\n")
        await container.checkpoint(image, TCP)
        before = await container.read_to_end()  # whatever was printed until the dump

        with pytest.raises(RuncError):
            await container.restore(bundle, image, TCP, work_name="plain-restore")
        log = (container.work / "plain-restore" / "restore.log").read_text()
        assert "Can't connect inet socket back: Network is unreachable" in log

        with prepare_restore(bundle, tmp_path / "plan") as plan:
            await container.restore(plan.bundle, image, TCP)
        last = numbers(before)[-1]
        after = await container.wait_for(f"n{last + 5}\n".encode())
        sequence = numbers(before) + numbers(after)
        assert sequence == list(range(1, len(sequence) + 1)), sequence

        await container.exec(["sh", "-c", "echo hello | nc 127.0.0.1 6000"])
        await container.wait_for(b"got:hello\n")
    finally:
        await container.delete()


# --- through the daemon -----------------------------------------------------------------------


async def test_tcp_survives_a_checkpoint_and_restore_through_the_daemon(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``tcp: true``: the established connection goes on counting in the restored container's
    log, the listening server accepts a new connection, and the private bundle the restore
    went through lives with the container and goes with it."""
    client = daemon.client
    bundle = make_bundle(["sh", "-c", TCP_PAIR])
    await start_container(client, "tcp-pair", bundle)
    await wait_output(client, "tcp-pair", "n5")
    response = await client.post(
        "/containers/tcp-pair/checkpoint/cp", json={"tcp": True, "exit": True}
    )
    assert response.status_code == 201, response.text
    before = numbers(await log_bytes(client, "tcp-pair"))
    await start_container(client, "tcp-pair", bundle, checkpoint="cp")
    private = daemon.config.state_dir / "containers" / "tcp-pair" / PRIVATE_BUNDLE_NAME
    assert json.loads((private / "config.json").read_text())["root"]["path"] == str(
        bundle / "rootfs"
    )
    await wait_output(client, "tcp-pair", f"n{before[-1] + 5}\n")
    sequence = numbers(await log_bytes(client, "tcp-pair"))
    assert sequence == list(range(1, len(sequence) + 1)), sequence
    response = await client.put(
        "/containers/tcp-pair/processes", json={"args": ["sh", "-c", "echo hi | nc 127.0.0.1 6000"]}
    )
    assert response.status_code == 201, response.text
    await wait_output(client, "tcp-pair", "got:hi")
    assert (await client.delete("/containers/tcp-pair", params={"timeout": 0})).status_code == 200
    assert not private.exists()


async def test_a_container_with_a_relative_rbind_mount_restores_through_the_daemon(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Its restore goes through the private bundle (the loopback hook): the mount's relative
    source must still name the bundle's directory, as at the start (it was a 500)."""
    client = daemon.client
    bundle = make_bundle(["sh", "-c", "while true; do cat /data/marker; sleep 0.1; done"])
    (bundle / "data").mkdir()
    (bundle / "data" / "marker").write_text("here\n")
    config = json.loads((bundle / "config.json").read_text())
    config["mounts"].append(
        {"destination": "/data", "type": "none", "source": "data", "options": ["rbind", "rw"]}
    )
    (bundle / "config.json").write_text(json.dumps(config))
    await start_container(client, "rbind", bundle)
    await wait_output(client, "rbind", "here")
    response = await client.post("/containers/rbind/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    (bundle / "data" / "marker").write_text("after\n")  # read through the mount, restored
    await start_container(client, "rbind", bundle, checkpoint="cp")
    await wait_output(client, "rbind", "after")


async def log_bytes(client: httpx.AsyncClient, container_id: str) -> bytes:
    response = await client.get(f"/containers/{container_id}/logs")
    assert response.status_code == 200
    return "".join(json.loads(line)["data"] for line in response.text.splitlines()).encode()
