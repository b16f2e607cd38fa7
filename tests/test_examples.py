"""The example scripts of examples/ work against a real daemon, as the README says to run them."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel

from containerd_trio.config import Listen

from .helpers import FOREVER, BundleFactory, RunningDaemon, start_container
from .test_security import pki  # noqa: F401 - the fixture, for the TLS test

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.deadline(90)


async def walk_through(
    daemon: RunningDaemon, bundle: Path, **addresses: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the walk-through against ``daemon``, with ``ADDRESS`` naming it unless the
    variables of the address are given."""
    address = daemon.daemon.binds[0].removeprefix("http://")
    return await trio.run_process(
        [str(EXAMPLES / "seed-walkthrough.sh")],
        env={
            **(addresses or {"ADDRESS": address}),
            "BUNDLE": str(bundle),
            # make-bundle.py's package from this tree, as the python examples' (example_env):
            # the .venv's own may be another checkout's (a worktree's .venv is the main one's).
            **example_env(),
        },
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_the_seed_walkthrough_runs_through_and_leaves_nothing(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    bundle = tmp_path / "redis"
    done = await walk_through(daemon, bundle)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-2000:])
    assert b"HTTP 400" in done.stdout  # the seed's body that is not JSON, refused
    # Nothing in the way of the next run: no container, no checkpoint.
    assert (await daemon.client.get("/state")).json()["containers"] == []
    assert list((bundle / "checkpoints").iterdir()) == []


async def test_the_walkthrough_reads_the_clients_variable_first(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """$CONTAINERD_TRIO_ADDRESS, ctr-trio's variable, in docker's tcp:// form, before the
    older $ADDRESS (here a port nobody serves): the script read $ADDRESS alone, and its first
    curl failed on that port."""
    port = daemon.daemon.binds[0].rsplit(":", 1)[1]
    done = await walk_through(
        daemon,
        tmp_path / "redis",
        CONTAINERD_TRIO_ADDRESS=f"tcp://127.0.0.1:{port}",
        ADDRESS="127.0.0.1:1",
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-2000:])
    assert f"127.0.0.1:{port}/containers/redis".encode() in done.stdout
    assert (await daemon.client.get("/state")).json()["containers"] == []


async def test_the_walkthrough_refuses_a_unix_socket_in_one_line(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    done = await walk_through(
        daemon, tmp_path / "redis", CONTAINERD_TRIO_ADDRESS=f"unix:{tmp_path}/api.sock"
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == (
            f"seed-walkthrough: unix:{tmp_path}/api.sock is a unix socket; the README's curl"
            " calls need a TCP address (HOST:PORT)\n"
        ).encode()
    )
    assert not (tmp_path / "redis").exists()


async def test_a_walkthrough_stopped_early_removes_what_it_made(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """A checkpoint ``test1`` left in the bundle (the README's walk-through made one) stops
    the script at its own ``test1`` with the daemon's 409; it removes the container it
    started, so that the next run is not refused too, and leaves the checkpoint it did not
    make."""
    bundle = tmp_path / "redis"
    (bundle / "checkpoints" / "test1").mkdir(parents=True)
    done = await walk_through(daemon, bundle)
    assert done.returncode == 1, done.stdout[-3000:]
    assert b"expected HTTP 201, got 409" in done.stderr
    assert b"removed what this run made" in done.stderr
    assert (await daemon.client.get("/state")).json()["containers"] == []
    assert [p.name for p in (bundle / "checkpoints").iterdir()] == ["test1"]


#: This checkout first on the path: the examples' python (the system's, which re-runs them
#: with the .venv's) imports this checkout's package, whichever the .venv installed.
REPOSITORY = EXAMPLES.parent


def example_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPOSITORY)}


async def run_example(
    daemon: RunningDaemon, name: str, *args: str
) -> subprocess.CompletedProcess[bytes]:
    """Run ``examples/NAME`` as the README says, against ``daemon`` (``--address``)."""
    address = daemon.daemon.binds[0].removeprefix("http://")
    with trio.fail_after(60):
        return await trio.run_process(
            [str(EXAMPLES / name), "--address", address, *args],
            env=example_env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_watch_events_shows_the_events_and_the_logs_and_leaves_nothing(
    daemon: RunningDaemon,
) -> None:
    """Run by a python that finds the package (PYTHONPATH) but not what it needs (h11): the
    examples ran on it, and failed at their imports, rather than run again with the .venv's."""
    done = await run_example(daemon, "watch-events.py")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "start-container" in out and "status=4" in out
    assert "stdout line 3" in out and "stderr about to fail" in out
    assert "status stopped, exit status 4" in out and "deleted watch-events" in out
    assert (await daemon.client.get("/state")).json()["containers"] == []


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ({"CONTAINERD_TRIO_ADDRESS": "{address}", "ADDRESS": "127.0.0.1:1"}, "watch-events.py"),
        ({"CONTAINERD_TRIO_ADDRESS": "", "ADDRESS": "{address}"}, "watch-events.py"),
        ({"CONTAINERD_TRIO_ADDRESS": "http://{address}"}, "exec-and-collect.py"),
    ],
    ids=["the client's variable first", "ADDRESS when it is empty", "exec-and-collect"],
)
async def test_the_examples_find_the_daemon_as_ctr_trio_does(
    daemon: RunningDaemon, variables: dict[str, str], name: str
) -> None:
    """With no --address: $CONTAINERD_TRIO_ADDRESS, ctr-trio's variable, first (an empty one
    counts as unset, as for ctr-trio), then the older $ADDRESS (here a port nobody serves when
    both are set). The examples read $ADDRESS alone."""
    address = daemon.daemon.binds[0].removeprefix("http://")
    env = {key: value.format(address=address) for key, value in variables.items()}
    with trio.fail_after(60):
        done = await trio.run_process(
            [str(EXAMPLES / name)],
            env={**example_env(), **env},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    assert b"deleted " in done.stdout
    assert (await daemon.client.get("/state")).json()["containers"] == []


async def test_exec_and_collect_collects_each_exit_status(daemon: RunningDaemon) -> None:
    done = await run_example(daemon, "exec-and-collect.py")
    assert done.returncode == 0, done.stderr.decode()
    table = done.stdout.decode().partition("ARGS\n")[2].partition("\n\n")[0]
    statuses = [int(line.split()[1]) for line in table.splitlines()]
    assert statuses == [0, 3, 42, 0, 137, 127], table
    assert (await daemon.client.get("/state")).json()["containers"] == []


async def test_exec_and_collect_interrupted_deletes_its_container(
    daemon: RunningDaemon,
) -> None:
    """^C while it waits for the exits: it deletes its container and ends with 130, no
    traceback. It left the container running (its bundle removed from under it), and every
    next run was a 409 (the id taken) until it was deleted by hand."""
    address = daemon.daemon.binds[0].removeprefix("http://")
    with trio.fail_after(60):
        process = await trio.lowlevel.open_process(
            [str(EXAMPLES / "exec-and-collect.py"), "--address", address],
            env=example_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        seen = b""
        # Its six processes started: it waits on the events for their exits (a sleep 2's).
        while seen.count(b"started pid ") < 6:
            chunk = await process.stdout.receive_some()
            assert chunk, seen
            seen += chunk
        process.send_signal(signal.SIGINT)
        rest: list[bytes | bytearray] = [seen]
        while chunk := await process.stdout.receive_some():
            rest.append(chunk)
        errors = [chunk async for chunk in process.stderr]
        assert await process.wait() == 130, b"".join(rest)
    assert b"".join(errors) == b""
    assert b"deleted exec-and-collect" in b"".join(rest)
    assert (await daemon.client.get("/state")).json()["containers"] == []


async def test_an_example_refused_says_why_in_one_line_and_leaves_what_it_did_not_make(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Its id taken by a running container: the daemon's 409 in one line, exit 1, and that
    container left as it was (it printed a traceback)."""
    await start_container(daemon.client, "exec-and-collect", make_bundle(FOREVER))
    done = await run_example(daemon, "exec-and-collect.py")
    assert done.returncode == 1
    assert done.stderr == (
        b"exec-and-collect.py: container 'exec-and-collect' already exists and is running\n"
    )
    container = (await daemon.client.get("/containers/exec-and-collect")).json()
    assert container["state"]["status"] == "running"


@pytest.mark.deadline(120)
async def test_migrate_runs_again_after_a_run_that_kept_its_checkpoint(
    start_daemon: Any, tmp_path: Path
) -> None:
    """``--keep`` leaves the checkpoint in the bundle (and the container on B): the next run,
    once B's container is deleted, removes that checkpoint and migrates again. It was
    refused at its own checkpoint (409, the name taken), with a traceback, and left its new
    counter running on A."""
    host_a: RunningDaemon = await start_daemon(tmp_path / "a")
    host_b: RunningDaemon = await start_daemon(tmp_path / "b")
    addresses = [
        "--from", host_a.daemon.binds[0].removeprefix("http://"),
        "--to", host_b.daemon.binds[0].removeprefix("http://"),
        "--bundle", str(tmp_path / "counter"),
    ]  # fmt: skip

    async def migrate(*args: str) -> subprocess.CompletedProcess[bytes]:
        with trio.fail_after(50):
            return await trio.run_process(
                [str(EXAMPLES / "migrate.py"), *addresses, *args],
                env=example_env(),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )

    kept = await migrate("--keep")
    assert kept.returncode == 0, kept.stderr.decode()
    assert b"the count goes on: 5, 6, 7" in kept.stdout
    assert (await host_b.client.delete("/containers/counter", params={"timeout": "0"})).is_success

    again = await migrate()
    assert again.returncode == 0, again.stderr.decode()
    assert b"removed the checkpoint 'move' an earlier run left" in again.stdout
    assert b"the count goes on: 5, 6, 7" in again.stdout
    for host in (host_a, host_b):
        assert (await host.client.get("/state")).json()["containers"] == []
    assert list((tmp_path / "counter" / "checkpoints").iterdir()) == []


async def test_watch_events_reaches_a_daemon_that_asks_for_a_client_certificate(
    start_daemon: Any,
    pki: Path,  # noqa: F811 - the fixture imported above
) -> None:
    """``--address https://... --tls-ca --tls-cert --tls-key``, as ctr-trio's: the examples
    took an address alone, and could not reach a daemon served over TLS with a CA of its own,
    nor one that asks for a client's certificate."""
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="127.0.0.1", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    tls = ["--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(pki / "client.pem")]
    with trio.fail_after(60):
        done = await trio.run_process(
            [str(EXAMPLES / "watch-events.py"), "--address", daemon.url, *tls,
             "--tls-key", str(pki / "client.key")],
            env=example_env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert b"status stopped, exit status 4" in done.stdout


def _foreign_bundle(path: Path) -> dict[str, bytes]:
    """A bundle of the user's own (the 2015 README's redis), not make-bundle.py's: its files
    by name, to tell it was left as it was."""
    (path / "rootfs" / "etc").mkdir(parents=True)
    (path / "rootfs" / "etc" / "passwd").write_text("redis:x:999:999::/data:/bin/false\n")
    config = {"ociVersion": "1.0.2", "hostname": "redis", "root": {"path": "rootfs"},
              "process": {"args": ["redis-server"]}}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    return _files(path)


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


async def test_make_bundle_refuses_a_bundle_it_did_not_make_and_leaves_it_as_it_is(
    tmp_path: Path,
) -> None:
    """make-bundle.py (and so the seed walk-through, whose default bundle is the 2015 README's
    /containers/redis, and migrate.py) given a directory that holds a bundle of the user's
    own: one line, exit 1, and the bundle as it was. Before, it was refreshed as one of its
    own: its config.json rewritten (busybox's date loop for redis-server), busybox linked into
    its rootfs, and its /etc/passwd and /etc/group overwritten (its redis user gone). A bundle
    it made is refreshed still (a new command)."""
    foreign = tmp_path / "redis"
    before = _foreign_bundle(foreign)
    with trio.fail_after(60):
        done = await trio.run_process(
            [str(EXAMPLES / "make-bundle.py"), str(foreign)],
            env=example_env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 1, done
    assert done.stderr.decode() == (
        f"make-bundle.py: {foreign} holds a bundle (or a rootfs) that was not made here: it"
        " is left as it is; give a directory that is empty, absent, or a bundle made by"
        " make-bundle.py\n"
    )
    assert _files(foreign) == before
    ours = tmp_path / "ours"
    for command in ([], ["--", "sleep", "7"]):
        with trio.fail_after(60):
            made = await trio.run_process(
                [str(EXAMPLES / "make-bundle.py"), str(ours), *command],
                env=example_env(),
                capture_stdout=True,
                check=False,
            )
        assert made.returncode == 0
    assert json.loads((ours / "config.json").read_text())["process"]["args"] == ["sleep", "7"]


async def test_the_walkthrough_leaves_a_bundle_it_did_not_make_as_it_is(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """The seed walk-through pointed at the user's own bundle stops before its first request,
    the bundle as it was and nothing made in the daemon (it rewrote the bundle as busybox's
    and ran the walk-through on it)."""
    foreign = tmp_path / "redis"
    before = _foreign_bundle(foreign)
    done = await walk_through(daemon, foreign)
    assert done.returncode != 0, done.stdout.decode()
    assert b"was not made here" in done.stderr, done.stderr
    assert _files(foreign) == before
    assert (await daemon.client.get("/state")).json()["containers"] == []


@pytest.mark.parametrize("name", ["watch-events", "exec-and-collect"])
async def test_an_example_leaves_a_stopped_container_of_its_id_as_it_is(
    daemon: RunningDaemon, make_bundle: BundleFactory, name: str
) -> None:
    """A stopped container of the user's under the example's id: one line, exit 1, and the
    container as it was, its labels and its log kept. Before, the example's start replaced
    it (a start over a stopped id does) and its end deleted what it started: the user's
    container and its log gone."""
    bundle = make_bundle(("sh", "-c", "echo mine; exit 3"))
    await start_container(daemon.client, name, bundle, labels={"owner": "user"})
    with trio.fail_after(30):
        waited = await daemon.client.post(f"/containers/{name}/wait")
    assert waited.json()["exitStatus"] == 3, waited.text
    done = await run_example(daemon, f"{name}.py")
    assert done.returncode == 1, done.stdout.decode()
    assert done.stderr.decode() == (
        f"{name}.py: container {name!r} already exists and is stopped: starting this"
        " example's would replace it, its log and all; delete it first, or give another --id\n"
    )
    kept = (await daemon.client.get(f"/containers/{name}")).json()
    assert kept["state"]["exitStatus"] == 3 and kept["labels"] == {"owner": "user"}, kept
    logs = await daemon.client.get(f"/containers/{name}/logs")
    assert [json.loads(line)["data"] for line in logs.text.splitlines()] == ["mine\n"]
    await daemon.client.delete(f"/containers/{name}")
