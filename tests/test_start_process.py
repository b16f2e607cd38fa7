"""A start that runs another process than its bundle's (``process`` in ``POST
/containers/{id}``; ``ctr-trio run -b DIR ID CMD...`` with ``-e``, ``-w``, ``-u``, ``-t``), as
``docker run IMAGE CMD...``: real runc through a real daemon, the process's own output in the
log saying what it ran with."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import checkpoints
from containerd_trio.api.schemas import StartRequest
from containerd_trio.client.cli import build_parser, run
from containerd_trio.client.commands import start_process
from containerd_trio.client.envfile import EnvFileError, parse_env_file
from containerd_trio.convert import structure
from containerd_trio.errors import InvalidRequest
from containerd_trio.model import StartProcess, UserSpec
from containerd_trio.private_bundle import START_BUNDLE_NAME, process_over

from .helpers import (
    COUNTER,
    FOREVER,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    copy_checkpoint,
    now,
    own_cgroup,
    runc_ids,
    runc_state,
    start_container,
    wait_exit,
    wait_output,
)
from .test_cli import run_cli
from .test_resources import _left_of, cgroup_value
from .wsclient import attach

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The bundle's environment, which a start's env is laid over.
BUNDLE_ENV = [PATH, "KEEP=bundle", "OVER=bundle"]


async def log_lines(client: httpx.AsyncClient, container_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/containers/{container_id}/logs")
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


async def output(client: httpx.AsyncClient, container_id: str) -> str:
    return "".join(record["data"] for record in await log_lines(client, container_id))


async def test_a_start_runs_its_command_with_its_env_cwd_and_user(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """The command given runs instead of the bundle's, with the env laid over the bundle's by
    name, in the cwd, as the user given; the answer's init, GET and the record show them;
    runc runs it from the private copy, and the bundle is not written to."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    config = (bundle / "config.json").read_bytes()
    script = "echo KEEP=$KEEP OVER=$OVER NEW=$NEW; pwd; echo uid=$(id -u) gid=$(id -g); echo done"
    given = {
        "args": ["sh", "-c", f"{script}; exec sleep 100000"],
        "env": ["OVER=start", "NEW=added"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001},
    }
    started = await start_container(client, "other", bundle, process=given)
    init = started["processes"][0]
    assert init["args"] == given["args"]
    assert init["env"] == [PATH, "KEEP=bundle", "OVER=start", "NEW=added"]
    assert (init["cwd"], init["user"], init["terminal"]) == (
        "/tmp",
        {"uid": 1000, "gid": 1001},
        False,
    )
    assert started["process"] == given
    assert (await client.get("/containers/other")).json()["process"] == given
    await wait_output(client, "other", "done")
    lines = (await output(client, "other")).splitlines()
    assert lines == ["KEEP=bundle OVER=start NEW=added", "/tmp", "uid=1000 gid=1001", "done"]
    private = daemon.config.containers_dir / "other" / START_BUNDLE_NAME
    assert runc_state(daemon.config.state_dir, "other")["bundle"] == str(private)
    assert (bundle / "config.json").read_bytes() == config


async def test_a_start_with_limits_and_a_command_runs_from_one_copy(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Both laid over the bundle's in one private config: the command reads its limit."""
    client = daemon.client
    reads = ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exec sleep 100000"]
    started = await start_container(
        client, "both", make_bundle(), process={"args": reads},
        resources={"memory": {"limit": 64 << 20}},
    )  # fmt: skip
    await wait_output(client, "both", str(64 << 20))
    init = started["processes"][0]["pid"]
    assert cgroup_value(init, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert started["processes"][0]["args"] == reads


async def test_an_exec_runs_with_the_starts_env_cwd_and_user(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """As docker exec into a container run with -e, -w, -u: what the exec leaves out is the
    container's, the start's process laid over the bundle's, not the bundle's alone (before,
    an exec had none of the start's env, and ran in the bundle's cwd as the bundle's user,
    while ctr-trio exec -e, which sends the init's env, had the start's)."""
    client = daemon.client
    given = {
        "args": ["sleep", "100000"],
        "env": ["OVER=start", "NEW=added"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001},
    }
    await start_container(client, "ex", make_bundle(env=BUNDLE_ENV), process=given)
    script = "echo $KEEP $OVER $NEW $(pwd) $(id -u):$(id -g)"
    body = {"args": ["sh", "-c", script]}
    response = await client.put("/containers/ex/processes", json=body)
    assert response.status_code == 201, response.text
    execed = response.json()
    assert execed["env"] == [PATH, "KEEP=bundle", "OVER=start", "NEW=added"]
    assert (execed["cwd"], execed["user"], execed["terminal"]) == (
        "/tmp",
        {"uid": 1000, "gid": 1001},
        False,
    )
    await wait_output(client, "ex", "bundle start added /tmp 1000:1001")
    address = ("--address", daemon.url)
    plain = await run_cli(*address, "exec", "ex", "sh", "-c", script)
    assert (plain.code, plain.out) == (0, "bundle start added /tmp 1000:1001\n"), plain.err
    # The exec's own fields are still laid over the container's.
    own = await run_cli(*address, "exec", "-e", "NEW=exec", "-u", "0", "ex", "sh", "-c", script)
    assert (own.code, own.out) == (0, "bundle start exec /tmp 0:0\n"), own.err


async def test_a_plain_start_runs_from_the_bundle_and_shows_no_process(
    daemon: RunningDaemon, bundle: Path
) -> None:
    started = await start_container(daemon.client, "plain", bundle)
    assert "process" not in started
    assert runc_state(daemon.config.state_dir, "plain")["bundle"] == str(bundle)


async def test_a_terminal_for_a_bundle_without_one(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``terminal: true`` gives the init a terminal (runc's console socket: the daemon gives
    it one from the config it runs, the copy); its output is the one stream ``terminal``.
    ``ctr-trio run -t`` on such a bundle asks for it, a command after the ID too."""
    client = daemon.client
    bundle = make_bundle()
    given = {"args": ["sh", "-c", "tty; exec sleep 100000"], "terminal": True}
    init = (await start_container(client, "tty", bundle, process=given))["processes"][0]
    assert (init["terminal"], init["stdin"]) == (True, True)
    await wait_output(client, "tty", "/dev/pts/")
    assert {record["stream"] for record in await log_lines(client, "tty")} == {"terminal"}

    argv = ("run", "-d", "-t", "cli", "-b", str(bundle), "sh", "-c", "tty; exec sleep 100000")
    result = await run_cli("--address", daemon.url, "--json", *argv)
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["process"]["terminal"] is True
    assert answer["processes"][0]["terminal"] is True
    await wait_output(client, "cli", "/dev/pts/")


async def test_a_starts_console_size_is_the_terminals_from_its_first_instruction(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``consoleSize`` sizes the init's terminal as runc makes it (docker's ``ConsoleSize``):
    ``ctr-trio run -it`` sends its window's, for a program that reads its size at once.
    Until 2026-12-03 the start took none (``unknown field 'consoleSize' in process``)."""
    client = daemon.client
    given = {"args": ["stty", "size"], "terminal": True, "consoleSize": {"height": 12, "width": 34}}
    with trio.fail_after(30):
        await start_container(client, "sized", make_bundle(), process=given)
        await wait_output(client, "sized", "12 34\r\n")
        kept = (await client.get("/containers/sized")).json()["process"]
        assert kept["consoleSize"] == {"height": 12, "width": 34}
        wrong = {"bundlePath": str(make_bundle()), "process": {"consoleSize": {"height": -1}}}
        response = await client.post("/containers/wrong", json=wrong)
    assert response.status_code == 400, response.text
    assert "consoleSize" in response.json()["error"], response.text


async def test_run_and_start_env_by_name_alone_is_ours_or_left_out_as_dockers(
    daemon: RunningDaemon, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run -e K`` and ``start -b DIR -e K`` (no =) were a usage error where we have no K
    ("we have no K to pass on"): docker's run passes our K's value, and leaves K out where we
    have none, as exec here did already. A bundle's own K stays (a start's env is laid over
    the bundle's by name and takes nothing out)."""
    client = daemon.client
    address = ("--address", daemon.url)
    bundle = make_bundle(env=BUNDLE_ENV)
    monkeypatch.setenv("CTR_TRIO_FROM_HERE", "ours=1")
    monkeypatch.delenv("CTR_TRIO_NOT_SET_HERE", raising=False)
    monkeypatch.delenv("KEEP", raising=False)
    given = ("-e", "CTR_TRIO_FROM_HERE", "-e", "CTR_TRIO_NOT_SET_HERE", "-e", "OVER=start")
    shown = await run_cli(*address, "run", "-b", str(bundle), *given, "-e", "KEEP", "envy", "env")
    assert (shown.code, shown.err) == (0, ""), shown
    env = shown.out.splitlines()
    assert {"CTR_TRIO_FROM_HERE=ours=1", "OVER=start", "KEEP=bundle"} <= set(env), env
    assert not [line for line in env if line.startswith("CTR_TRIO_NOT_SET_HERE")], env
    assert (await client.get("/containers/envy")).json()["process"] == {
        "args": ["env"], "env": ["CTR_TRIO_FROM_HERE=ours=1", "OVER=start"],
    }  # fmt: skip
    # Only names we have none of: the bundle's process, as without -e.
    started = await run_cli(
        *address, "--json", "start", "-b", str(bundle), "plain", "-e", "CTR_TRIO_NOT_SET_HERE"
    )
    assert started.code == 0, started.err
    assert "process" not in json.loads(started.out)
    assert runc_state(daemon.config.state_dir, "plain")["bundle"] == str(bundle)


def test_env_file_is_read_as_docker_s() -> None:
    """docker's env file: KEY=VALUE with the value as written (quotes, spaces, $ kept), KEY
    alone ours or left out, leading white space dropped, blank and # lines skipped, a BOM and
    CRLF line ends taken; a key with white space, an empty key, bytes not UTF-8 refused."""
    text = (
        b"\xef\xbb\xbfFIRST=1\r\n"
        b"# a comment\n"
        b"\n"
        b"   \t\n"
        b"  INDENTED=yes\n"
        b"   # an indented comment\n"
        b'QUOTED="a b"\n'
        b"SINGLE='c'\n"
        b"SPACES=  d e  \n"
        b"DOLLAR=$HOME\n"
        b"EQUALS=x=y\n"
        b"EMPTY=\n"
        b"OURS\n"
        b"NOT_OURS\n"
        b"FIRST=2"
    )
    assert parse_env_file(text, {"OURS": "from here", "HOME": "/root"}) == [
        "FIRST=1", "INDENTED=yes", 'QUOTED="a b"', "SINGLE='c'", "SPACES=  d e  ",
        "DOLLAR=$HOME", "EQUALS=x=y", "EMPTY=", "OURS=from here", "FIRST=2",
    ]  # fmt: skip
    assert parse_env_file(b"", {}) == []
    for bad, said in (
        (b"OK=1\nMY KEY=1\n", "line 2: variable 'MY KEY' contains whitespaces"),
        (b"=1\n", "line 1: no variable name on line '=1'"),
        (b"A B\n", "variable 'A B' contains whitespaces"),
        (b"OK=1\nX=\xff\n", "invalid utf8 bytes at line 2"),
    ):
        with pytest.raises(EnvFileError, match=re.escape(said)):
            parse_env_file(bad, {})


def test_env_files_come_before_e_in_order_and_are_usage_errors_when_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run --env-file`` (and ``start -b``, ``exec``): each file's entries in turn, then
    ``-e``'s, so that the last of a key wins where the daemon lays them over the bundle's; a
    file that cannot be read or is not docker's format is a usage error naming it."""
    monkeypatch.setenv("CTR_TRIO_FROM_HERE", "ours")
    monkeypatch.delenv("CTR_TRIO_NOT_SET_HERE", raising=False)
    one, two = tmp_path / "one.env", tmp_path / "two.env"
    one.write_text("A=1\nB=1\nCTR_TRIO_FROM_HERE\nCTR_TRIO_NOT_SET_HERE\n")
    two.write_text("# two\nB=2\n")
    argv = ("--env-file", str(one), "--env-file", str(two), "-e", "A=e")
    args, problem = _parsed("run", "-b", "/b", "web", *argv, "env")
    assert problem is None
    assert args.env == ["A=1", "B=1", "CTR_TRIO_FROM_HERE=ours", "B=2", "A=e"]
    assert start_process(args, "/b") == {"args": ["env"], "env": args.env}
    args, problem = _parsed("exec", "--env-file", str(two), "web", "env")
    assert (problem, args.env) == (None, ["B=2"])
    _, problem = _parsed("run", "-b", "/b", "web", "--env-file", str(tmp_path / "none"))
    assert problem == (
        f"argument --env-file: cannot read env file {tmp_path / 'none'}: No such file or directory"
    )
    (tmp_path / "bad.env").write_text("A=1\nB C=2\n")
    _, problem = _parsed("run", "-b", "/b", "web", "--env-file", str(tmp_path / "bad.env"))
    assert problem == (
        f"argument --env-file: env file {tmp_path / 'bad.env'}, line 2: variable 'B C' contains"
        " whitespaces"
    )
    _, problem = _parsed("start", "web", "--env-file", str(two))
    assert problem is not None and problem.startswith("--env-file without -b/--bundle"), problem


async def test_run_env_file_reaches_the_init_and_e_wins(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``run --env-file`` was unknown (a usage error): the file's variables reach the
    container's init as docker's do, quotes kept, and ``-e`` after it wins."""
    env_file = tmp_path / "app.env"
    env_file.write_text('# app\nGREETING="hello there"\nOVER=file\n')
    shown = await run_cli(
        "--address", daemon.url, "run", "-b", str(make_bundle(env=BUNDLE_ENV)), "--env-file",
        str(env_file), "-e", "OVER=e", "envfile", "env",
    )  # fmt: skip
    assert (shown.code, shown.err) == (0, ""), shown
    env = shown.out.splitlines()
    assert {'GREETING="hello there"', "OVER=e", "KEEP=bundle"} <= set(env), env
    assert "OVER=file" not in env, env


async def test_start_again_and_restart_run_the_command_again(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """docker keeps a container's command: ``start ID`` and ``restart`` of the stopped
    container send the record's process again, and its log shows the command's output once
    more for each run (the log goes on, as docker's)."""
    client = daemon.client
    address = ("--address", daemon.url)
    bundle = make_bundle(env=BUNDLE_ENV)
    argv = ("run", "-d", "again", "-b", str(bundle), "-e", "MARK=one", "-w", "/tmp", "-u", "7")
    command = ("sh", "-c", "echo ran-$MARK-$(pwd)-$(id -u)")
    result = await run_cli(*address, *argv, *command)
    assert result.code == 0, result.err
    assert (await client.get("/containers/again")).json()["process"] == {
        "args": list(command), "env": ["MARK=one"], "cwd": "/tmp", "user": {"uid": 7, "gid": 0},
    }  # fmt: skip
    kept = (await client.get("/containers/again")).json()["process"]
    for runs, again in enumerate(((), ("start", "again"), ("restart", "-t", "0", "again")), 1):
        if again:
            result = await run_cli(*address, *again)
            assert result.code == 0, (again, result.err)
        response = await client.post("/containers/again/wait")
        assert response.status_code == 200, response.text
        assert response.json()["exitStatus"] == 0
        assert await output(client, "again") == "ran-one-/tmp-7\n" * runs  # its log goes on
        assert (await client.get("/containers/again")).json()["process"] == kept


@pytest.mark.deadline(90)
async def test_the_command_survives_a_server_crash(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """The record keeps the start's process: the next server shows it, and starts the
    stopped container again with it."""
    daemon: DaemonProcess = await spawn_daemon()
    client = daemon.client
    given = {"args": ["sh", "-c", "echo kept-$MARK; exec sleep 100000"], "env": ["MARK=x"]}
    started = await start_container(client, "kept", make_bundle(), process=given)
    await wait_output(client, "kept", "kept-x")
    await daemon.kill_server()
    adopted = (await client.get("/containers/kept")).json()
    assert adopted["process"] == given
    assert adopted["processes"][0]["args"] == given["args"]
    since = now()
    pid = started["processes"][0]["pid"]
    response = await client.post(f"/containers/kept/process/{pid}", json={"signal": 9})
    assert response.status_code == 200, response.text
    await wait_exit(client, "kept", pid, since)
    result = await run_cli("--address", f"unix:{daemon.socket}", "start", "kept")
    assert result.code == 0, result.err
    again = (await client.get("/containers/kept")).json()
    assert again["process"] == given
    assert again["processes"][0]["args"] == given["args"]
    await wait_output(client, "kept", "kept-x")


@pytest.mark.deadline(120)
@pytest.mark.parametrize("after", [False, True], ids=["before-runc-run", "after-runc-run"])
async def test_a_server_dying_in_a_start_again_with_a_process_rolls_it_back(
    spawn_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, after: bool
) -> None:
    """kill -9 of the server while the start again of a stopped container started with a
    process is held in runc run (its private copy written), before runc runs or after: the
    next server rolls the start back, and the stopped container is there as it was, its
    process too, with nothing left in runc or aside; a start again then runs the process."""
    gated = GatedRunc(tmp_path, "run", after=after)
    daemon: DaemonProcess = await spawn_daemon("--runtime", str(gated.path))
    client = daemon.client
    bundle = make_bundle()
    given = {"args": ["sh", "-c", "echo ran-$MARK; exec sleep 100000"], "env": ["MARK=one"]}
    async with gated.opened(None):  # the first start goes through
        started = await start_container(client, "again", bundle, process=given)
        await wait_output(client, "again", "ran-one")
        pid = started["processes"][0]["pid"]
        since = now()
        killed = await client.post(f"/containers/again/process/{pid}", json={"signal": 9})
        assert killed.status_code == 200, killed.text
        await wait_exit(client, "again", pid, since)
    before = (await client.get("/containers/again")).json()
    assert before["process"] == given
    body = {"bundlePath": str(bundle), "process": given}

    async def start_held() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies first
            await client.post("/containers/again", json=body)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_held)
        await gated.reached()  # the start again is in runc run, its private copy written
        assert (
            daemon.state_dir / "containers" / "again" / START_BUNDLE_NAME / "config.json"
        ).is_file()
        count = daemon.servings
        os.kill(daemon.server_pid(), signal.SIGKILL)
        async with gated.opened(None):  # the keeper's runc goes on
            await daemon.served(count + 1)
    assert (await client.get("/containers/again")).json() == before
    assert runc_ids(daemon.state_dir) == []
    assert sorted(os.listdir(daemon.state_dir / "containers")) == ["again"]
    assert not (own_cgroup("memory") / "again").exists()
    async with gated.opened(None):
        result = await run_cli("--address", f"unix:{daemon.socket}", "start", "again")
        assert result.code == 0, result.err
        await wait_output(client, "again", "ran-one")
    assert (await client.get("/containers/again")).json()["process"] == given
    response = await client.delete("/containers/again", params={"timeout": "0"})
    assert response.status_code == 200, response.text


async def test_a_restore_over_the_stopped_container_keeps_its_process(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A restore runs what was checkpointed, and the record keeps what the start ran, as it
    keeps the labels: a start again after the restore runs it."""
    client = daemon.client
    bundle = make_bundle()
    given = {"args": ["sh", "-c", f"echo restored-$MARK; {COUNTER[2]}"], "env": ["MARK=yes"]}
    await start_container(client, "cp", bundle, process=given)
    await wait_output(client, "cp", "3")
    response = await client.post("/containers/cp/checkpoint/one", json={"exit": True})
    assert response.status_code == 201, response.text
    body = {"bundlePath": str(bundle), "checkpoint": "one"}
    response = await client.post("/containers/cp", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["process"] == given
    assert (await client.get("/containers/cp")).json()["process"] == given


@pytest.mark.parametrize("deleted", [False, True], ids=["over-the-stopped", "deleted"])
async def test_a_terminal_the_start_gave_comes_back_with_a_restore(
    daemon: RunningDaemon, make_bundle: BundleFactory, deleted: bool
) -> None:
    """A container given a terminal its bundle lacks is checkpointed with it: its restore
    gets a terminal again, through the console socket, from a restore config that says so
    (runc refuses a console socket for a config without a terminal), over the stopped
    container or once it was deleted: the checkpoint keeps the start's process. Before, a
    deleted one was restored from the bundle's process, with no terminal, and CRIU failed
    (``Don't have tty to inherit session from``)."""
    client = daemon.client
    bundle = make_bundle()
    given = {"args": ["sh"], "terminal": True}
    init = (await start_container(client, "tty", bundle, process=given))["processes"][0]
    session = await attach(daemon.url, "tty", init["pid"], query="logs=true")
    await session.type("x=41\n")
    checkpoint = await client.post("/containers/tty/checkpoint/c1", json={"exit": True})
    assert checkpoint.status_code == 201, checkpoint.text
    await session.to_end()
    if deleted:
        response = await client.delete("/containers/tty", params={"timeout": "0"})
        assert response.status_code == 200, response.text
    body = {"bundlePath": str(bundle), "checkpoint": "c1"}
    restored = await client.post("/containers/tty", json=body)
    assert restored.status_code == 201, restored.text
    assert restored.json()["process"] == given
    [init] = restored.json()["processes"]
    assert (init["terminal"], init["args"]) == (True, ["sh"])
    session = await attach(daemon.url, "tty", init["pid"])
    await session.type("echo $((x+1)); tty\n")
    assert await session.read_until("/dev/pts/")
    assert b"42" in session.output
    await session.type("exit\n")
    await session.to_end()


#: A start's process whose env and cwd an exec shows, counting so that a restore can be seen
#: going on.
COUNTING = {
    "args": ["sh", "-c", f"echo restored-$NEW; {COUNTER[2]}"],
    "env": ["OVER=start", "NEW=added"],
    "cwd": "/tmp",
}
#: What an exec into it prints of the env and cwd it takes from the container.
SEEN = "echo $KEEP $OVER $NEW $(pwd)"


async def _first_output(client: httpx.AsyncClient, container_id: str) -> int:
    """The first number the container's log shows (it follows the log until one comes)."""
    url = f"/containers/{container_id}/logs"
    async with client.stream("GET", url, params={"follow": "true"}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            return int(json.loads(line)["data"])
    raise AssertionError(f"the log of {container_id} ended without a line")


async def _checkpointed_and_deleted(
    client: httpx.AsyncClient, container_id: str, bundle: Path, given: dict[str, Any]
) -> None:
    """Start ``container_id`` with ``given`` and its stdin open, checkpoint it as ``cp`` (with
    exit) once it counts, and delete it: nothing of it is left but the checkpoint."""
    await start_container(client, container_id, bundle, process=given, stdin=True)
    await wait_output(client, container_id, "3")
    response = await client.post(f"/containers/{container_id}/checkpoint/cp", json={"exit": True})
    assert response.status_code == 201, response.text
    response = await client.delete(f"/containers/{container_id}", params={"timeout": "0"})
    assert response.status_code == 200, response.text


async def _is_the_one_dumped(
    client: httpx.AsyncClient, container_id: str, restored: dict[str, Any]
) -> None:
    """``restored`` (a restore's answer) is the container started with COUNTING and its stdin
    open: it and GET show the start's process and stdin, its init runs it, it counts on,
    and an exec takes the start's env and cwd."""
    for shown in (restored, (await client.get(f"/containers/{container_id}")).json()):
        assert (shown["process"], shown.get("stdin")) == (COUNTING, True)
        init = shown["processes"][0]
        assert (init["args"], init["env"], init["cwd"]) == (
            COUNTING["args"], [*BUNDLE_ENV[:2], "OVER=start", "NEW=added"], "/tmp",
        )  # fmt: skip
    assert await _first_output(client, container_id) > 3  # counting on, not from 1
    body = {"args": ["sh", "-c", SEEN]}
    response = await client.put(f"/containers/{container_id}/processes", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["env"], response.json()["cwd"]) == (init["env"], "/tmp")
    await wait_output(client, container_id, "bundle start added /tmp")


async def test_a_restore_from_a_checkpoint_whose_container_is_gone_runs_the_starts_process(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """The checkpoint keeps what the start ran and its stdin, beside its limits: restored
    once its container was deleted, the container is the one that was dumped. Before, the
    restore knew only the bundle's process: GET showed the bundle's args, env and cwd, and
    an exec ran with the bundle's env in its cwd, and ``start ID`` ran the bundle's command
    once it stopped."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    await _checkpointed_and_deleted(client, "gone", bundle, COUNTING)
    restored = await start_container(client, "gone", bundle, checkpoint="cp")
    await _is_the_one_dumped(client, "gone", restored)
    pid, since = restored["processes"][0]["pid"], now()
    killed = await client.post(f"/containers/gone/process/{pid}", json={"signal": 9})
    assert killed.status_code == 200, killed.text
    await wait_exit(client, "gone", pid, since)
    again = await run_cli("--address", daemon.url, "start", "gone")
    assert again.code == 0, again.err
    await wait_output(client, "gone", "restored-added")  # the start's command, its env


@pytest.mark.deadline(90)
async def test_a_checkpoint_imported_elsewhere_runs_the_starts_process(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The kept process travels with the checkpoint's archive: exported with its bundle,
    imported at another bundle path and restored under a new id, the container is the one
    that was dumped."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    await _checkpointed_and_deleted(client, "exported", bundle, COUNTING)
    target = tmp_path / "elsewhere" / "bundle"
    await copy_checkpoint(client, "exported", bundle, "imported", target)
    restored = await start_container(client, "imported", target, checkpoint="cp")
    assert restored["bundlePath"] == str(target)
    await _is_the_one_dumped(client, "imported", restored)


async def test_a_checkpoint_of_older_code_restores_with_the_bundles_process(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A checkpoint made before the daemon kept the start's process (no process.json)
    restores as before: its container gone, the record knows only the bundle's process."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    await _checkpointed_and_deleted(client, "old", bundle, COUNTING)
    (bundle / "checkpoints" / "cp" / checkpoints.PROCESS_NAME).unlink(missing_ok=True)
    restored = await start_container(client, "old", bundle, checkpoint="cp")
    assert "process" not in restored
    assert restored["processes"][0]["args"] == list(FOREVER)
    assert restored["processes"][0]["env"] == BUNDLE_ENV


async def test_a_restore_over_a_stopped_container_runs_what_its_checkpoint_kept(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """The checkpoint says what runs after its restore, the stopped container it replaces
    only what it had no word of: a checkpoint of a plain start, restored over a container
    of that id started since with another process, runs the bundle's, and the record says
    so. Before, the record kept the other start's process, and listed the init with it."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    await start_container(client, "swap", bundle)
    response = await client.post("/containers/swap/checkpoint/plain", json={"exit": True})
    assert response.status_code == 201, response.text
    other = {"args": ["true"], "env": ["OVER=other"]}
    await start_container(client, "swap", bundle, process=other)
    response = await client.post("/containers/swap/wait")
    assert response.status_code == 200, response.text
    assert (await client.get("/containers/swap")).json()["process"] == other
    restored = await start_container(client, "swap", bundle, checkpoint="plain")
    assert "process" not in restored
    assert restored["processes"][0]["args"] == list(FOREVER)
    assert restored["processes"][0]["env"] == BUNDLE_ENV


#: A kept env no start could have been given on any host: 600 000 entries, 6.6 MB counted as
#: execve(2) counts them (each string, its NUL and its pointer), past MAX_ARG_SPACE (6 MiB).
PAST_EXEC = {"process": {"args": ["sh"], "env": ["a="] * 600_000}, "stdin": False}


async def test_a_kept_process_no_start_could_have_run_is_no_checkpoints_word(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A ``process.json`` whose args and env are more than execve takes on any host is no
    start's (the daemon refuses such a start): a restore from it is a 404 naming it, and
    makes nothing. Before, it was read as what ran: structured in the event loop (a file
    within its 38 MB bound with millions of entries took seconds), and the restored
    container's record held it whole (a 32 MB answer for each look at it), for a container
    whose process was never given any of it."""
    client = daemon.client
    bundle = make_bundle(env=BUNDLE_ENV)
    await _checkpointed_and_deleted(client, "huge", bundle, COUNTING)
    kept = bundle / "checkpoints" / "cp" / checkpoints.PROCESS_NAME
    kept.write_text(json.dumps(PAST_EXEC))
    body = {"bundlePath": str(bundle), "checkpoint": "cp"}
    with trio.fail_after(60):
        response = await client.post("/containers/huge", json=body)
    assert response.status_code == 404, response.text[:300]
    error = response.json()["error"]
    assert error.startswith("checkpoint 'cp' has unreadable process.json: process.args and"), error
    assert (await client.get("/containers/huge")).status_code == 404
    assert "huge" not in runc_ids(daemon.config.state_dir)


REFUSED = pytest.mark.parametrize(
    ("process", "message"),
    [
        (
            {},
            "process names nothing to change: give one of args, env, cwd, user, terminal,"
            " consoleSize",
        ),
        ({"args": []}, "process: args must hold at least the program to run"),
        ({"args": [""]}, "process: args[0], the program to run, must not be empty"),
        ({"args": "sh"}, "process.args: expected a list, got the string 'sh'"),
        ({"env": ["NOEQ"]}, "process: env[0] must be NAME=VALUE, not 'NOEQ'"),
        ({"cwd": "tmp"}, "process: cwd must be an absolute path, not 'tmp'"),
        ({"user": {"uid": -1}}, "process.user: uid must be between 0 and 2147483647, not -1"),
        ({"terminal": "yes"}, "process.terminal: expected true or false, got the string 'yes'"),
        ({"color": 1}, "unknown field 'color' in process"),
        (
            {"env": ["BIG=" + "x" * 200000]},
            "process.env[1] of the start is 200004 bytes: a process's argument or environment"
            " string may be at most",
        ),
        (
            {"args": ["/nonexistent"]},
            "cannot run '/nonexistent' in container 'strict': no such file or directory (the"
            " program of process.args of the start)",
        ),
        (
            {"cwd": "/etc/passwd"},
            "cannot use cwd '/etc/passwd' in container 'strict': not a directory (process.cwd of"
            " the start)",
        ),
    ],
)


@REFUSED
async def test_a_process_a_start_cannot_take_is_400_with_nothing_made(
    daemon: RunningDaemon, make_bundle: BundleFactory, process: dict[str, Any], message: str
) -> None:
    """Each bad field a 400 naming it, before runc runs or once runc says so: no runc
    container, no cgroup, no record, no directory (the private copy with it)."""
    body = {"bundlePath": str(make_bundle(env=[PATH])), "process": process}
    response = await daemon.client.post("/containers/strict", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await daemon.client.get("/containers/strict")).status_code == 404
    assert _left_of(daemon, "strict") == []


async def test_a_restore_takes_no_process(daemon: RunningDaemon, bundle: Path) -> None:
    """A restore runs what was checkpointed: a 400 before the checkpoint is looked for."""
    body = {"bundlePath": str(bundle), "checkpoint": "cp", "process": {"args": ["sh"]}}
    response = await daemon.client.post("/containers/restored", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        "process cannot be given with checkpoint: a restore runs the process that was"
        " checkpointed, as it was"
    )
    assert _left_of(daemon, "restored") == []


# --- the parser and the lay-over, without a daemon -------------------------------------------


def test_the_start_process_is_read_with_execs_rules() -> None:
    request = structure(
        {
            "bundlePath": "/b",
            "process": {"args": ["sh"], "env": ["A=1"], "cwd": "/x", "user": {"uid": 1}},
        },
        StartRequest,
    )
    assert request.process == StartProcess(
        args=["sh"], env=["A=1"], cwd="/x", user=UserSpec(uid=1), terminal=None
    )
    assert structure({"bundlePath": "/b"}, StartRequest).process is None
    with pytest.raises(InvalidRequest, match=r"process\.user: gid must be between"):
        structure({"bundlePath": "/b", "process": {"user": {"gid": 2**31}}}, StartRequest)


def test_the_process_is_laid_over_the_bundles() -> None:
    base = {
        "args": ["sleep", "1"], "env": ["PATH=/bin", "A=1"], "cwd": "/",
        "user": {"uid": 5, "gid": 5, "additionalGids": [9]}, "terminal": True,
        "consoleSize": {"height": 1, "width": 2}, "capabilities": {"bounding": ["CAP_KILL"]},
    }  # fmt: skip
    laid = process_over(
        base,
        StartProcess(env=["A=2", "B=3"], user=UserSpec(gid=7), terminal=False, cwd="/tmp"),
    )
    assert laid == {
        "args": ["sleep", "1"], "env": ["PATH=/bin", "A=2", "B=3"], "cwd": "/tmp",
        "user": {"uid": 5, "gid": 7}, "terminal": False,
        "capabilities": {"bounding": ["CAP_KILL"]},
    }  # fmt: skip
    assert base["env"] == ["PATH=/bin", "A=1"]  # the bundle's (shared) document is not changed
    assert process_over(base, StartProcess(args=["sh"]))["args"] == ["sh"]


def _parsed(*argv: str) -> Any:
    """``ctr-trio ARGV`` as the CLI reads it (options after the ID moved), and its problem."""
    from containerd_trio.client.cli import _options_after_id

    parser = build_parser(io.StringIO(), io.StringIO())
    args, extras = parser.parse_known_args(list(argv))
    if (moved := _options_after_id(list(argv), args)) is not None:
        args, extras = parser.parse_known_args(moved)
    assert extras == []
    return args, args.check(args)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (("run", "-b", "/b", "web", "sh", "-c", "echo hi"), ["sh", "-c", "echo hi"]),
        (("run", "-b", "/b", "web", "--", "ls", "-l"), ["ls", "-l"]),
        (("run", "web", "-b", "/b", "--", "ls", "-l"), ["ls", "-l"]),
        (("run", "-d", "web", "-b", "/b"), []),
        (("run", "web", "-it", "-b/b", "-m", "64m", "sh"), ["sh"]),
        (("start", "-b", "/b", "web", "sh", "-c", "echo hi"), ["sh", "-c", "echo hi"]),
        (("start", "web", "-b", "/b", "sh", "-c", "echo hi"), ["sh", "-c", "echo hi"]),
        (("start", "db", "-b", "/b", "--pids-limit", "20"), []),
        # After a --, all is the command's, words that look like ours too (argparse takes
        # the -- out when it comes right after the ID).
        (("run", "-b", "/b", "web", "--", "-it", "sh"), ["-it", "sh"]),
        (("run", "-d", "-b", "/b", "web", "--", "-x"), ["-x"]),
        (("run", "-b", "/b", "web", "--", "-e", "X=1", "env"), ["-e", "X=1", "env"]),
        (("start", "-b", "/b", "web", "--", "-it", "sh"), ["-it", "sh"]),
        # An option that is not ours begins the command, as any word that is not one of ours.
        (("run", "-b", "/b", "web", "-x", "y"), ["-x", "y"]),
        (("run", "-b", "/b", "web", "--version"), ["--version"]),
        (("run", "-b", "/b", "web", "-1"), ["-1"]),
        (("run", "web", "-b", "/b", "-d", "-1"), ["-1"]),
        # A command word that is one of our switches is left as it was written.
        (("run", "-b", "/b", "web", "prog", "--sig-proxy"), ["prog", "--sig-proxy"]),
        (("start", "-b", "/b", "web", "prog", "--sig-proxy"), ["prog", "--sig-proxy"]),
    ],
)
def test_run_and_start_take_a_command_after_the_id(
    argv: tuple[str, ...], command: list[str]
) -> None:
    """As docker run IMAGE CMD...: our options after the ID stay ours (as they always were
    there) until the command's first word, from which all is the command's; or after --."""
    args, problem = _parsed(*argv)
    assert problem is None
    assert (args.id, args.bundle, args.args) == ("db" if "db" in argv else "web", "/b", command)
    if "--" in argv:  # -- -it sh: the command's words, not our -i, -t
        assert (args.tty, args.interactive, args.env) == (False, False, None)


def test_run_takes_execs_process_options() -> None:
    args, problem = _parsed(
        "run", "web", "-b", "/b", "-e", "X=1", "-w", "/tmp", "-u", "1000:1001", "id", "-u"
    )
    assert problem is None
    assert (args.env, args.cwd, args.user, args.args) == (
        ["X=1"],
        "/tmp",
        (1000, 1001),
        ["id", "-u"],
    )
    # A name we have none of is left out, as docker's (it was a usage error).
    args, problem = _parsed("run", "-b", "/b", "web", "-e", "CTR_TRIO_NOT_SET_HERE")
    assert (problem, start_process(args, "/b")) == (None, None)
    _, problem = _parsed("run", "--checkpoint", "cp", "-b", "/b", "web", "ls")
    assert problem == (
        "a command, -e, --env-file, -w and -u are not for --checkpoint: a restore runs what was"
        " checkpointed"
    )
    _, problem = _parsed("start", "web", "-e", "X=1")
    assert problem is not None and problem.startswith("-e without -b/--bundle")
    assert run(["run", "web", "sh"], io.StringIO(), io.StringIO()) == 2  # no -b
