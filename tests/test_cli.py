"""``ctr-trio``, the real CLI against a real in-process daemon.

The CLI is synchronous: each run happens in a worker thread (``abandon_on_cancel``, so that the
test's deadline still ends a run that hangs), with its output captured in ``io.StringIO``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import containerd_trio
from containerd_trio import attach as attach_module
from containerd_trio import signals, timestamps
from containerd_trio import supervisor as supervisor_module
from containerd_trio.client import cli, commands, interactive, watch
from containerd_trio.client import routes as client_routes
from containerd_trio.client.http import ApiError, Client, DaemonUnreachable
from containerd_trio.client.output import Output
from containerd_trio.client.protocol import Request, make_request
from containerd_trio.config import Listen
from containerd_trio.container import Container
from containerd_trio.errors import quoted
from containerd_trio.event_types import EVENT_TYPES
from containerd_trio.ids import invalid_id
from containerd_trio.model import ExitInfo, Status

from .fusehang import bound_at, hung_mount
from .helpers import (
    FOREVER,
    IGNORES_TERM,
    BundleFactory,
    GatedRunc,
    RunningDaemon,
    WatchedProcess,
    WrittenOutput,
    cgroup_dir,
    next_event,
    not_removable,
    now,
    pid_alive,
    run_status,
    runc_deletes,
    runc_ids,
    start_container,
    until_trapped,
    wait_exit,
    wait_output,
    wait_ran,
)
from .test_security import pki  # noqa: F401 - the fixture, for the TLS test
from .wsclient import attach

LOGGING = ("sh", "-c", "echo one; echo two >&2; sleep 0.5; echo three")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


async def run_cli(*argv: str, stdout: io.StringIO | None = None) -> Result:
    stdout, stderr = stdout or io.StringIO(), io.StringIO()
    code = await trio.to_thread.run_sync(
        functools.partial(cli.run, list(argv), stdout, stderr), abandon_on_cancel=True
    )
    return Result(code, stdout.getvalue(), stderr.getvalue())


Ctr = Callable[..., Any]


@pytest.fixture
def ctr(daemon: RunningDaemon) -> Ctr:
    """``ctr-trio --address <the test's daemon> ...``."""

    async def run(*argv: str) -> Result:
        return await run_cli("--address", daemon.url, *argv)

    return run


async def ok(ctr: Ctr, *argv: str) -> Result:
    result: Result = await ctr(*argv)
    assert (result.code, result.err) == (0, ""), result
    return result


def table(text: str) -> list[dict[str, str]]:
    """A table as ctr-trio prints it, read by the header's column positions."""
    header, *lines = text.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    columns = list(zip(names, starts, ends, strict=True))
    return [{name: line[start:end].strip() for name, start, end in columns} for line in lines]


# --- containers -------------------------------------------------------------------------------


async def test_containers_start_and_list(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    started = await ok(
        ctr,
        "containers",
        "start",
        "web",
        "--bundle",
        str(make_bundle()),
        "--label",
        "team=infra",
        "--label",
        "tier=front",
    )
    web = (await client.get("/containers/web")).json()
    pid = web["processes"][0]["pid"]
    assert started.out == f"started web (pid {pid})\n"
    assert pid_alive(pid)
    assert web["labels"] == {"team": "infra", "tier": "front"}

    since = now()
    job = await ok(
        ctr,
        "--json",
        "containers",
        "start",
        "job",
        "--bundle",
        str(make_bundle(["sh", "-c", "exit 3"])),
    )
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)

    rows = table((await ok(ctr, "containers", "list")).out)
    assert [row["ID"] for row in rows] == ["web", "job"]
    assert rows[0] == {
        "ID": "web",
        "STATUS": "running",
        "PID": str(pid),
        "PROCESSES": "1",
        "CREATED": rows[0]["CREATED"],
    }
    assert rows[0]["CREATED"].endswith("ago") or rows[0]["CREATED"] == "just now"
    assert rows[1]["STATUS"] == "stopped (exit 3)"
    assert (rows[1]["PID"], rows[1]["PROCESSES"]) == ("-", "0")

    state = (await client.get("/state")).json()
    assert (await ok(ctr, "--json", "containers", "list")).json == state["containers"]
    # --json after the command works as well as before it.
    assert (await ok(ctr, "containers", "list", "--json")).json == state["containers"]


async def test_start_takes_a_relative_bundle_path(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = make_bundle()
    monkeypatch.chdir(bundle.parent)
    await ok(ctr, "containers", "start", "rel", "--bundle", bundle.name)
    assert (await client.get("/containers/rel")).json()["bundlePath"] == str(bundle)


async def test_get_exec_kill_pause_resume_delete(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    await ok(ctr, "containers", "start", "box", "--bundle", str(bundle))

    shown = (await ok(ctr, "containers", "get", "box")).out
    assert "STATUS    running" in shown
    assert f"BUNDLE    {bundle}" in shown
    # The run's start (docker inspect's State.StartedAt), and no end while it runs.
    box = (await client.get("/containers/box")).json()
    assert f"STARTED   {box['state']['startedAt']} (" in shown, shown
    assert "FINISHED" not in shown
    assert (await ok(ctr, "containers", "get", "box", "--json")).json == (
        await client.get("/containers/box")
    ).json()

    execed = await ok(
        ctr,
        "containers",
        "exec",
        "-d",
        "box",
        "--env",
        "X=1",
        "--env",
        "PATH=/bin",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        "--",
        "sleep",
        "100",
    )
    pid = int(execed.out.removeprefix("started process ").removesuffix(" in box\n"))
    [_, process] = (await client.get("/containers/box")).json()["processes"]
    assert process == {
        "pid": pid,
        "args": ["sleep", "100"],
        "user": {"uid": 1000, "gid": 1000},
        "terminal": False,
        # Added to the container's environment (PATH given again takes its new value).
        "env": ["PATH=/bin", "TERM=xterm", "X=1"],
        "cwd": "/tmp",
        "stdin": False,
    }

    since = now()
    killed = await ok(ctr, "containers", "kill", "box", "--pid", str(pid), "--signal", "KILL")
    assert killed.out == f"sent KILL to process {pid} of box\n"
    assert await wait_exit(client, "box", pid, since) == 128 + signal.SIGKILL

    assert (await ok(ctr, "containers", "pause", "box")).out == "box is paused\n"
    assert run_status((await client.get("/containers/box")).json()["state"]) == {"status": "paused"}
    resumed = await ok(ctr, "--json", "containers", "resume", "box")
    assert run_status(resumed.json["state"]) == {"status": "running"}

    init = resumed.json["processes"][0]["pid"]
    since = now()
    assert (await ok(ctr, "containers", "kill", "box", "--signal", "9")).out == (
        "sent signal 9 to box\n"
    )
    assert await wait_exit(client, "box", init, since) == 128 + signal.SIGKILL
    # Stopped: its init's exit too (State.FinishedAt).
    stopped = (await client.get("/containers/box")).json()
    shown = (await ok(ctr, "containers", "get", "box")).out
    assert f"FINISHED   {stopped['state']['finishedAt']} (" in shown, shown

    assert (await ok(ctr, "containers", "delete", "box", "--timeout", "1")).out == "deleted box\n"
    assert (await client.get("/containers/box")).status_code == 404


async def test_inspect_prints_one_array_as_docker_s_and_get_takes_several_ids(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """docker's ``inspect`` was an unknown command (exit 2), and ``get`` took one ID. inspect
    prints JSON only, as docker's: one array, whatever the number of ids. It printed the
    container alone for one ID (a script's ``jq '.[0].State'``, docker's, failed on it), and
    nothing for an unknown one, where docker's prints the array of those it found, ``[]`` for
    none. ``get --json`` stays as every command of several ids prints them: the container for
    one ID, an array for several."""
    for name in ("a", "b"):
        await ok(ctr, "start", name, "-b", str(bundle))
    a, b = [(await client.get(f"/containers/{name}")).json() for name in ("a", "b")]
    assert (await ok(ctr, "inspect", "a")).json == [a]
    assert (await ok(ctr, "containers", "inspect", "a", "b")).json == [a, b]
    # docker's --type, which scripts write (it was a usage error): all are containers here.
    assert (await ok(ctr, "inspect", "--type=container", "a")).json == [a]
    assert (await ok(ctr, "inspect", "--type", "container", "-f", "{{.id}}", "b")).out == "b\n"
    image = await ctr("inspect", "--type", "image", "a")
    assert (image.code, image.out) == (cli.EXIT_USAGE, ""), image
    assert image.err.endswith(
        "argument --type: 'image': the daemon's objects are all containers (--type container)\n"
    ), image
    assert (await ok(ctr, "--json", "containers", "get", "a")).json == a
    assert (await ok(ctr, "--json", "containers", "get", "a", "b")).json == [a, b]
    # get's tables, one after the other, a blank line between.
    one, other = [(await ok(ctr, "containers", "get", name)).out for name in ("a", "b")]
    assert (await ok(ctr, "containers", "get", "a", "b")).out == f"{one}\n{other}"
    # An unknown id: its error on stderr, the others printed, exit 1 (as docker's).
    failed = await ctr("inspect", "ghost", "b")
    assert (failed.code, failed.json) == (cli.EXIT_ERROR, [b]), failed
    assert failed.err.count("\n") == 1 and "'ghost' not found" in failed.err, failed
    alone = await ctr("inspect", "ghost")
    assert (alone.code, alone.json) == (cli.EXIT_ERROR, []), alone
    assert "'ghost' not found" in alone.err, alone
    # get --json of one unknown id prints nothing, as kill, rm and the others.
    got = await ctr("--json", "containers", "get", "ghost")
    assert (got.code, got.out) == (cli.EXIT_ERROR, ""), got


async def test_inspect_format_prints_a_template_for_each_container_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``inspect -f '{{.State.Pid}}' web``, on the daemon's documents (its keys: no
    jq needed): one line per container, in the order given. ``-f`` was a usage error
    (unrecognized arguments). ``{{json .}}`` prints each container on its line, and ``--format
    json`` the array on one line, as docker's inspect prints them; an unknown id, or a
    template that does not fit one container, is its error on stderr, the others printed,
    exit 1, as without ``--format``."""
    await ok(ctr, "start", "web", "-b", str(make_bundle()), "-l", "team=infra", "-l", "by=Zoë")
    since = now()
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    web, stopped = [(await client.get(f"/containers/{name}")).json() for name in ("web", "job")]
    pid = web["processes"][0]["pid"]

    summary = '{{.id}} {{.state.status}} {{.state.exitStatus}} {{index .labels "team"}}'
    shown = await ok(ctr, "inspect", "-f", summary, "web", "job")
    assert shown.out == "web running <no value> infra\njob stopped 3 <no value>\n"
    first = await ok(
        ctr, "containers", "inspect", "--format", "{{(index .processes 0).pid}}", "web"
    )
    assert first.out == f"{pid}\n"
    # The daemon's own JSON of it, compact: {"status":"stopped","exitStatus":3,"startedAt":...}
    assert (await ok(ctr, "inspect", "-f", "{{json .state}}", "job")).out == (
        json.dumps(stopped["state"], separators=(",", ":")) + "\n"
    )
    assert list(stopped["state"]) == ["status", "exitStatus", "startedAt", "finishedAt"]
    each = (await ok(ctr, "inspect", "-f", "{{json .}}", "web", "job")).out
    assert [json.loads(line) for line in each.splitlines()] == [web, stopped]
    array = (await ok(ctr, "inspect", "--format", "json", "web", "job")).out
    assert (array.count("\n"), json.loads(array)) == (1, [web, stopped]), array
    assert '"by":"Zoë"' in each and '"by":"Zoë"' in array  # UTF-8 as it is, as docker's

    failed = await ctr("inspect", "-f", "{{.id}}", "ghost", "job")
    assert (failed.code, failed.out) == (cli.EXIT_ERROR, "job\n"), failed
    assert failed.err.count("\n") == 1 and "'ghost' not found" in failed.err, failed
    alone = await ctr("inspect", "-f", "{{.id}}", "ghost")
    assert (alone.code, alone.out) == (cli.EXIT_ERROR, ""), alone
    found = await ctr("inspect", "--format", "json", "ghost", "job")
    assert (found.code, json.loads(found.out)) == (cli.EXIT_ERROR, [stopped]), found
    # A stopped container has no process 0: its error, the other printed.
    misfit = await ctr("inspect", "-f", "{{(index .processes 0).pid}}", "job", "web")
    assert (misfit.code, misfit.out) == (cli.EXIT_ERROR, f"{pid}\n"), misfit
    assert misfit.err == (
        "ctr-trio: job: {{(index .processes 0).pid}}: index 0 of a list of 0\n"
    ), misfit


async def test_inspect_and_ps_format_take_go_s_control_actions_and_functions(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """What docker users write: range, if/else, variables, printf, len, eq, docker's join and
    upper. They were a usage error ("range is not supported"). A template that does not fit
    one container (range over a string) is its error on stderr, exit 1, as docker's."""
    await ok(ctr, "start", "web", "-b", str(make_bundle()), "-l", "team=infra", "-l", "by=me")
    pid = (await client.get("/containers/web")).json()["processes"][0]["pid"]

    async def shown(form: str, *ids: str) -> str:
        return (await ok(ctr, "inspect", "-f", form, *(ids or ("web",)))).out

    assert await shown("{{range .processes}}{{.pid}} {{end}}") == f"{pid} \n"
    assert await shown("{{range $k, $v := .labels}}{{$k}}={{$v}},{{end}}") == "by=me,team=infra,\n"
    assert await shown('{{if .labels}}{{index .labels "team"}}{{else}}none{{end}}') == "infra\n"
    assert await shown('{{printf "%s=%d" .id (index .processes 0).pid}}') == f"web={pid}\n"
    assert await shown('{{len .processes}} {{eq .state.status "running"}}') == "1 true\n"
    assert await shown("{{with $s := .state}}{{upper $s.status}}{{end}}") == "RUNNING\n"
    assert await shown('{{join (index .processes 0).args " "}}') == "sleep 100000\n"
    assert (await ok(ctr, "ps", "--format", '{{if eq .State "running"}}{{.ID}}{{end}}')).out == (
        "web\n"
    )
    # Templates by name, slice and printf's argument indexes: Go's (they were usage errors).
    proc = '{{define "p"}}{{.pid}}:{{join .args " "}}{{end}}'
    proc += '{{range .processes}}{{template "p" .}}{{end}}'
    assert await shown(proc) == f"{pid}:sleep 100000\n"
    indexed = '{{printf "%[2]s=%[1]d" (index .processes 0).pid .id}} {{slice .id 0 2}}'
    assert await shown(indexed) == f"web={pid} we\n"
    named = '{{define "r"}}<{{.}}>{{end}}{{template "r" .ID}}'
    assert (await ok(ctr, "ps", "--format", named)).out == "<web>\n"
    # Known only with the container: its error, not the command line's.
    misfit = await ctr("inspect", "-f", "{{range .id}}{{end}}", "web")
    assert (misfit.code, misfit.out) == (cli.EXIT_ERROR, ""), misfit
    assert misfit.err == "ctr-trio: web: {{range .id}}: range can't iterate over web\n", misfit


async def test_a_malformed_inspect_template_is_a_usage_error_before_any_request(
    tmp_path: Path,
) -> None:
    """Told with inspect's usage and exit 2, where no daemon listens: a request would have
    been exit 3."""
    nowhere = ["--address", f"unix:{tmp_path / 'none.sock'}", "--retry", "0"]
    for template, message in [
        ("{{.id", "unclosed action: {{.id has no }}"),
        ("{{sprintf .id}}", 'function "sprintf" not defined'),
        ("{{state.status}}", "a key starts with a dot: {{.state.status}}"),
        ("{{if .id}}x", "unexpected EOF: {{if .id}} has no {{end}}"),
        ("{{range .processes}}{{$x}}{{end}}", 'undefined variable "$x"'),
        ("{{len .id .state}}", "wrong number of args for len: want 1 got 2"),
        ('{{define "a"}}x{{end}}{{define "a"}}y{{end}}', 'multiple definition of template "a"'),
        ("{{'ab'}}", "malformed character constant: 'ab'"),
    ]:
        result = await run_cli(*nowhere, "inspect", "-f", template, "web")
        assert (result.code, result.out) == (cli.EXIT_USAGE, ""), (template, result)
        assert result.err.startswith("usage: ctr-trio inspect "), (template, result)
        assert "inspect: error: argument -f/--format: " in result.err, (template, result)
        assert message in result.err, (template, result)


async def test_exec_env_by_name_alone_is_ours_as_docker_s(
    ctr: Ctr, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """exec -e K (no =) was a usage error ('K' is not KEY=VALUE); docker takes K's value from
    its own environment, and with none there takes K out of the process's."""
    await ok(ctr, "start", "box", "--bundle", str(bundle))
    monkeypatch.setenv("FROM_CLIENT", "ours=1")
    monkeypatch.delenv("TERM", raising=False)  # the bundle's process has TERM=xterm
    monkeypatch.delenv("NOWHERE", raising=False)
    shown = await ok(ctr, "exec", "-e", "FROM_CLIENT", "-e", "TERM", "-e", "NOWHERE",
                     "-e", "X=", "box", "--", "env")  # fmt: skip
    env = shown.out.splitlines()
    assert "FROM_CLIENT=ours=1" in env and "X=" in env, env
    assert not [line for line in env if line.startswith(("TERM", "NOWHERE"))], env
    refused = await ctr("exec", "-e", "=1", "box", "--", "env")
    assert refused.code == cli.EXIT_USAGE
    assert "argument -e/--env: '=1' is not KEY=VALUE or KEY" in refused.err


async def test_kill_takes_real_time_signals_by_name_as_kill_and_docker_do(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """kill -s RTMIN+3 and -s SIGRTMAX-2 were refused by the daemon ("unknown signal"); a
    signal past the range is a usage error of ctr-trio, read as the daemon reads it."""
    # An init handles a signal only with a handler (the others are ignored for pid 1).
    trapper = ["sh", "-c", "trap 'exit 3' 37; echo ready; while :; do sleep 0.1; done"]
    since = now()
    started = await ok(ctr, "--json", "start", "rt", "-b", str(make_bundle(trapper)))
    await wait_output(client, "rt", "ready")
    execed = await ok(ctr, "exec", "-d", "rt", "--", "sleep", "100")
    pid = int(execed.out.split()[2])
    signalled = await ok(ctr, "kill", "rt", "--pid", str(pid), "-s", "SIGRTMAX-2")
    assert signalled.out == f"sent SIGRTMAX-2 to process {pid} of rt\n"
    assert await wait_exit(client, "rt", pid, since) == 128 + 62
    assert (await ok(ctr, "kill", "rt", "-s", "rtmin+3")).out == "sent RTMIN+3 to rt\n"
    assert await wait_exit(client, "rt", started.json["processes"][0]["pid"], since) == 3

    for bad, message in [
        ("RTMIN+31", "signal 'RTMIN+31' is out of range: the real-time signals are RTMIN+N and"
                     " RTMAX-N for N 0..30 (signals 34..64)"),
        ("65", "signal '65' is out of range: it must be 1..64"),
        ("NOPE", "unknown signal 'NOPE': use a number 1..64 or a name"),
        # Taken (the daemon strips it) and printed as 'sent  9 to rt', the spaces kept.
        (" 9", "signal ' 9' holds white space: give a number 1..64 or a name alone"),
        ("KILL\n", "signal 'KILL\\n' holds white space: give a number 1..64 or a name alone"),
    ]:  # fmt: skip
        refused = await ctr("kill", "rt", "-s", bad)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), bad
        assert refused.err.endswith(f"error: argument -s/--signal: {message}\n"), refused.err
    refused = await ctr("stop", "rt", "-s", "TERM ")  # stop reads its signal as kill does
    assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), refused


async def test_wait_condition_next_exit_waits_for_a_stopped_container_s_next_run(
    ctr: Ctr,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``wait --condition`` is docker's: next-exit prints the status of a stopped container's
    next run, not its last one's. The condition is the init's: not with a PID."""
    await start_container(client, "again", make_bundle(["sh", "-c", "exit 3"]))
    assert (await ok(ctr, "wait", "again")).out == "3\n"
    asked = trio.Event()
    wait_next_exit = Container.wait_next_exit

    async def noted(container: Container) -> ExitInfo:
        asked.set()
        return await wait_next_exit(container)

    # The CLI asks from a thread: the daemon says when its wait is in (it waits from here on).
    monkeypatch.setattr(Container, "wait_next_exit", noted)
    waited: list[Result] = []

    async def wait_next() -> None:
        waited.append(await ok(ctr, "wait", "--condition", "next-exit", "again"))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_next)
            await asked.wait()
            await start_container(client, "again", bundle)
            await client.patch("/containers/again", json={"signal": "KILL"})
    assert waited[0].out == "137\n"
    wrong = await ctr("wait", "--condition", "gone", "again")
    assert wrong.code == cli.EXIT_USAGE
    assert "error: argument --condition: invalid choice: 'gone'" in wrong.err
    assert all(name in wrong.err for name in ("not-running", "next-exit", "removed"))
    with_pid = await ctr("wait", "--condition", "removed", "again", "1")
    assert with_pid.code == cli.EXIT_USAGE
    assert "error: --condition is the init's: not with PID" in with_pid.err


async def test_wait_takes_several_ids_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``wait a b c``: each one's exit status on a line of its own, in the order given
    (not the order they end in); an unknown id is its error on stderr, the others waited for,
    exit 1. It was a usage error (the second word was read as a PID). ``wait ID PID`` is as it
    was: that process's status."""
    with trio.fail_after(30):
        await ok(ctr, "start", "late", "-b", str(make_bundle(TRAPS)))
        await wait_output(client, "late", "ready")
        await start_container(client, "three", make_bundle(["sh", "-c", "exit 3"]))
        await start_container(client, "five", make_bundle(["sh", "-c", "exit 5"]))
        waited: list[Result] = []

        async def wait_all() -> None:
            waited.append(await ctr("wait", "late", "ghost", "three", "five"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_all)
            # Both others have ended long before late does (their exits are remembered).
            await client.post("/containers/three/wait")
            await client.post("/containers/five/wait")
            await client.patch("/containers/late", json={"signal": "TERM"})  # its trap: 3
        [result] = waited
        assert (result.code, result.out) == (cli.EXIT_ERROR, "3\n3\n5\n"), result
        assert result.err == "ctr-trio: container 'ghost' not found\n"

        # --json: one id, its exit; several, the array of those waited for.
        several = await ctr("--json", "containers", "wait", "five", "ghost", "three")
        assert several.code == cli.EXIT_ERROR, several
        assert [(e["id"], e["exitStatus"]) for e in several.json] == [("five", 5), ("three", 3)]
        assert (await ok(ctr, "--json", "wait", "five")).json["exitStatus"] == 5
        assert (await ok(ctr, "wait", "--condition", "not-running", "three", "five")).out == (
            "3\n5\n"
        )

        # ID PID: the process's status, as before (and --condition is not for it).
        await ok(ctr, "start", "host", "-b", str(make_bundle(FOREVER)))
        process = await ok(ctr, "--json", "exec", "-d", "host", "sh", "-c", "exit 6")
        assert (await ok(ctr, "wait", "host", str(process.json["pid"]))).out == "6\n"
        with_pid = await ctr("wait", "--condition", "removed", "host", "1")
        assert with_pid.code == cli.EXIT_USAGE, with_pid
        assert "error: --condition is the init's: not with PID" in with_pid.err
        zero = await ctr("wait", "host", "0")
        assert zero.code == cli.EXIT_USAGE and "PID" in zero.err, zero


async def test_delete_stops_a_running_container(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    created = await ok(ctr, "--json", "containers", "start", "going", "--bundle", str(bundle))
    init = WatchedProcess(created.json["processes"][0]["pid"])
    # The bundle's sleep ignores SIGTERM as pid 1: the timeout's SIGKILL is what ends it.
    deleted = await ok(ctr, "--json", "containers", "delete", "going", "--timeout", "0.2")
    assert deleted.json["id"] == "going"
    assert init.ended()
    assert (await client.get("/state")).json()["containers"] == []


def test_the_client_s_stop_timeout_is_the_daemon_s() -> None:
    """ctr-trio's default grace of a stop is written again in the client (a call imports
    nothing it does not use, and every call's help shows it): the daemon's."""
    assert commands.STOP_TIMEOUT == signals.DEFAULT_STOP_TIMEOUT


#: An init that ends on SIGTERM (3) or SIGUSR1 (4): pid 1 takes only the signals it handles.
TRAPS = (
    "sh",
    "-c",
    "trap 'exit 3' TERM; trap 'exit 4' USR1; echo ready; while :; do sleep 0.1; done",
)


async def test_stop_signals_then_kills_after_the_grace_and_keeps_the_container(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """ctr-trio had no ``stop`` (rm stopped and removed): docker's, the stop signal, up to -t
    seconds for the exit, then SIGKILL; the container stays, stopped. A paused one is resumed
    once signalled, as docker's stop does: its SIGTERM came only as the SIGKILL of the grace."""
    with trio.fail_after(60):
        for name in ("polite", "frozen", "custom"):
            await ok(ctr, "start", name, "-b", str(make_bundle(TRAPS)))
            await wait_output(client, name, "ready")
        stubborn = await ok(
            ctr, "--json", "start", "stubborn", "-b", str(make_bundle(IGNORES_TERM))
        )
        await wait_ran(stubborn.json["processes"][0]["pid"])  # a SIGTERM to runc's init: 2

        async def status(name: str) -> dict[str, Any]:
            state: dict[str, Any] = run_status(
                (await client.get(f"/containers/{name}")).json()["state"]
            )
            return state

        assert (await ok(ctr, "stop", "polite")).out == "polite\n"  # the id, as docker's
        assert await status("polite") == {"status": "stopped", "exitStatus": 3}
        await ok(ctr, "pause", "frozen")
        # Its SIGTERM pending until the grace's SIGKILL (137), unless it is resumed.
        assert (await ok(ctr, "stop", "-t", "30", "frozen")).out == "frozen\n"
        assert await status("frozen") == {"status": "stopped", "exitStatus": 3}
        stopped = await ok(ctr, "containers", "stop", "--signal", "USR1", "--time", "30", "custom")
        assert stopped.out == "custom\n"
        assert await status("custom") == {"status": "stopped", "exitStatus": 4}

        # SIGTERM ignored: SIGKILL once the grace passed. A stopped one is no failure; an
        # unknown one is, said on stderr, and the others go on (exit 1), as docker's.
        several = await ctr("--json", "stop", "-t", "0.2", "stubborn", "ghost", "polite")
        assert several.code == cli.EXIT_ERROR, several
        assert [(e["id"], e["exitStatus"]) for e in several.json] == [
            ("stubborn", 128 + signal.SIGKILL),
            ("polite", 3),
        ]
        assert several.err.count("\n") == 1 and "'ghost' not found" in several.err, several
        assert await status("stubborn") == {"status": "stopped", "exitStatus": 137}
        kept = (await ok(ctr, "ps", "-aq")).out.split()  # stopped: -a, as docker's
        assert kept == ["polite", "frozen", "custom", "stubborn"]


def _sharing(directory: Path) -> Callable[[dict[str, Any]], None]:
    """A bundle's edit: ``directory`` of this host at ``/shared`` in the container."""

    def edit(config: dict[str, Any]) -> None:
        config["mounts"].append(
            {
                "destination": "/shared",
                "type": "bind",
                "source": str(directory),
                "options": ["rbind"],
            }
        )

    return edit


@pytest.mark.parametrize("command", [("stop",), ("containers", "rm")], ids=["stop", "rm"])
async def test_stop_and_rm_of_several_ids_act_on_them_at_once_as_docker_s(
    command: tuple[str, ...],
    ctr: Ctr,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``stop`` and ``rm`` of several ids stopped one container after the other: ``stop -t 10
    a b c`` of containers that ignore their SIGTERM took 30 s where docker's takes 10 (its CLI
    stops and removes several at once). Here ``first`` ends on its SIGTERM only once
    ``second`` got its own: one after the other, ``first``'s grace ran out (SIGKILL, 137)
    before ``second`` was signalled. Each is still said in the order given, ``first`` (done
    last) before ``second``. (The group's rm, which stops a live container: the top level's,
    docker's, refuses it.)"""
    shared = tmp_path / "shared"
    shared.mkdir()
    waits = "trap 'until [ -e /shared/second ]; do sleep 0.05; done; exit 3' TERM; echo ready"
    tells = "trap 'touch /shared/second; exit 4' TERM; echo ready"
    with trio.fail_after(90):
        since = now()
        for name, script in (("first", waits), ("second", tells)):
            bundle = make_bundle(["sh", "-c", until_trapped(script)], edit=_sharing(shared))
            await ok(ctr, "start", name, "-b", str(bundle))
            await wait_output(client, name, "ready")
        done = await ok(ctr, *command, "-t", "30", "first", "second")
        said = {"stop": "first\nsecond\n", "containers": "deleted first\ndeleted second\n"}
        assert done.out == said[command[0]]
        for name, status in (("first", 3), ("second", 4)):
            ended = await next_event(
                client,
                since=since,
                container_id=name,
                match=lambda event: event["type"] == "exit" and event.get("init") is True,
            )
            assert ended["status"] == status, (name, ended)


#: An init that ends on SIGQUIT (5) or SIGTERM (3): pid 1 takes only the signals it handles.
QUITS = (
    "sh",
    "-c",
    "trap 'exit 5' QUIT; trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done",
)


async def test_stop_and_restart_take_the_stop_signal_and_timeout_run_gave_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``run --stop-signal SIGQUIT --stop-timeout 30``: a stop (and a restart's) that
    names no signal sends the container's, and waits its grace before the SIGKILL; -s and -t
    still win. Before, run had neither option (a usage error) and stop sent SIGTERM and
    waited 10 s. inspect shows them; a restart of one with --rm keeps them."""
    with trio.fail_after(60):
        quits = str(make_bundle(QUITS))
        await ok(ctr, "run", "-d", "quits", "-b", quits, "--stop-signal", "SIGQUIT")
        shown = await ok(ctr, "inspect", "-f", "{{.stopSignal}} {{json .stopTimeout}}", "quits")
        assert shown.out == "SIGQUIT null\n"
        await wait_output(client, "quits", "ready")
        stopped = await ok(ctr, "--json", "stop", "quits")
        assert stopped.json["exitStatus"] == 5, stopped.json  # its trap of SIGQUIT
        await ok(ctr, "start", "quits")
        await wait_output(client, "quits", "ready")
        init = (await client.get("/containers/quits")).json()["processes"][0]["pid"]
        since = now()
        restarted = await ok(ctr, "--json", "restart", "quits")
        assert restarted.json["stopSignal"] == "SIGQUIT", restarted.json
        assert await wait_exit(client, "quits", init, since) == 5  # SIGQUIT's, not SIGTERM's
        state = run_status((await client.get("/containers/quits")).json()["state"])
        assert state == {"status": "running"}
        await wait_output(client, "quits", "ready")
        stopped = await ok(ctr, "--json", "stop", "-s", "TERM", "quits")
        assert stopped.json["exitStatus"] == 3, stopped.json  # -s wins

        # Its grace: SIGTERM ignored, SIGKILL after its 1 s (10 s without it).
        deaf = str(make_bundle(IGNORES_TERM))
        await ok(ctr, "run", "-d", "deaf", "-b", deaf, "--stop-timeout", "1", "--rm")
        assert (await ok(ctr, "inspect", "-f", "{{.stopTimeout}}", "deaf")).out == "1\n"
        again = await ok(ctr, "--json", "restart", "deaf")  # --rm: started afresh, kept
        assert again.json["stopTimeout"] == 1, again.json
        await wait_ran(again.json["processes"][0]["pid"])  # a SIGTERM to runc's init: 2
        stopped = await ok(ctr, "--json", "stop", "deaf")
        assert stopped.json["exitStatus"] == 128 + signal.SIGKILL, stopped.json

        for option, value, said in (
            ("--stop-timeout", "-2", "'-2' is not 0 or more seconds, nor -1"),
            ("--stop-timeout", "1.5", "'1.5' is not a whole number"),
            ("--stop-signal", "NOPE", "unknown signal 'NOPE'"),
        ):
            refused = await ctr("run", "-d", "bad", "-b", quits, option, value)
            assert refused.code == cli.EXIT_USAGE and said in refused.err, refused
        refused = await ctr("start", "quits", "--stop-signal", "QUIT")
        assert refused.code == cli.EXIT_USAGE and "--stop-signal without -b" in refused.err


async def test_kill_sends_sigkill_as_dockers_and_containers_kill_sigterm(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio kill ID`` sent SIGTERM, the 2015 ctr's default, where ``docker kill`` sends
    SIGKILL: a container that traps or ignores SIGTERM ran on. Now the top level's kill is
    docker's, and says which signal it sent; ``containers kill`` keeps SIGTERM."""
    with trio.fail_after(60):
        for name in ("trapping", "deaf"):
            await ok(ctr, "start", name, "-b", str(make_bundle(TRAPS)))
            await wait_output(client, name, "ready")
        await ok(ctr, "start", "stubborn", "-b", str(make_bundle(IGNORES_TERM)))
        pids = {
            name: (await client.get(f"/containers/{name}")).json()["processes"][0]["pid"]
            for name in ("trapping", "deaf", "stubborn")
        }
        since = now()
        assert (await ok(ctr, "containers", "kill", "trapping")).out == "sent SIGTERM to trapping\n"
        assert await wait_exit(client, "trapping", pids["trapping"], since) == 3  # its trap
        killed = await ok(ctr, "kill", "deaf", "stubborn")
        assert killed.out == "sent SIGKILL to deaf\nsent SIGKILL to stubborn\n"
        for name in ("deaf", "stubborn"):
            assert await wait_exit(client, name, pids[name], since) == 128 + signal.SIGKILL
        # -s still says which: the trap runs again.
        await ok(ctr, "start", "deaf")
        await wait_output(client, "deaf", "ready")
        init = (await client.get("/containers/deaf")).json()["processes"][0]["pid"]
        since = now()
        assert (await ok(ctr, "kill", "-s", "TERM", "deaf")).out == "sent TERM to deaf\n"
        assert await wait_exit(client, "deaf", init, since) == 3
    for argv, default in ((["kill"], "SIGKILL"), (["containers", "kill"], "SIGTERM")):
        shown = await ok(run_cli, *argv, "-h")
        assert f"(default {default})" in " ".join(shown.out.split()), argv


#: An init whose SIGTERM trap ends it (3) only once the file /go is in its rootfs.
PATIENT = (
    "sh",
    "-c",
    "trap 'echo stopping; while [ ! -e /go ]; do sleep 0.1; done; exit 3' TERM; echo ready;"
    " while :; do sleep 0.1; done",
)


async def test_stop_with_timeout_minus_one_sends_no_sigkill_and_waits_for_the_exit(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Newer docker's ``stop -t -1``: the signal, then the wait for the exit however long it
    takes, never a SIGKILL. It was refused ('-1' is not 0 or more seconds). Held here for a
    while once its signal came (the daemon's stop waits then): the init's own trap ends it,
    with its status, once the test lets it."""
    bundle = make_bundle(PATIENT)
    with trio.fail_after(60):
        await ok(ctr, "start", "patient", "-b", str(bundle))
        await wait_output(client, "patient", "ready")
        stopped: list[Result] = []

        async def stop() -> None:
            stopped.append(await ctr("stop", "-t", "-1", "patient"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await wait_output(client, "patient", "stopping")  # its SIGTERM came
            # The point of the test is a while: without a SIGKILL, the stop still waits.
            await trio.sleep(1.0)
            assert not stopped
            state = run_status((await client.get("/containers/patient")).json()["state"])
            assert state == {"status": "running"}
            (bundle / "rootfs" / "go").touch()
        assert (stopped[0].code, stopped[0].out) == (0, "patient\n"), stopped
        state = run_status((await client.get("/containers/patient")).json()["state"])
        assert state == {"status": "stopped", "exitStatus": 3}  # its trap's, no SIGKILL's

        # restart takes it too (its trap ends it at once now); --timeout=-1 as well.
        await ok(ctr, "start", "patient")
        await wait_output(client, "patient", "ready")
        assert (await ok(ctr, "restart", "--timeout=-1", "patient")).out == "patient\n"
        # Other negative numbers are no grace: a usage error, as before.
        refused = await ctr("stop", "-t", "-2", "patient")
        assert refused.code == cli.EXIT_USAGE, refused
        assert "argument -t/--timeout/--time: '-2' is not 0 or more seconds, nor -1" in refused.err


async def test_rm_waits_out_the_container_s_own_stop_timeout(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``rm`` without ``-t`` gave the daemon its request deadline plus 10 s, the default grace,
    whatever the container's own (``run --stop-timeout 100``): ``rm`` of such a container lost
    the connection at 70 s (``timed out``, exit 3), the daemon going on with the delete. Now
    it waits for it as ``stop`` does. The client's request deadline is half a second here, so
    that a grace of 11 s outlasts what it gave before (0.5 + 10 s)."""
    started = await start_container(client, "slow", make_bundle(IGNORES_TERM), stopTimeout=11)
    await wait_ran(started["processes"][0]["pid"])  # a SIGTERM to runc's init: 2

    def remove() -> Any:
        with Client(daemon.url, timeout=0.5) as api:
            return api.delete("slow")

    with trio.fail_after(60):
        removed = await trio.to_thread.run_sync(remove)
    assert run_status(removed["state"]) == {"status": "stopped", "exitStatus": 137}
    assert (await client.get("/containers/slow")).status_code == 404


async def test_stop_gives_up_on_a_container_its_sigkill_does_not_end(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """stop waited without a deadline after its SIGKILL: an init the kernel holds (in D state,
    on a hung FUSE mount: a real one here, whose server never answers) held ctr-trio for good.
    Now the daemon's stop waits its runtime deadline (30 s; 3 s here) after the SIGKILL, then
    answers 504; ctr-trio says the container did not stop, exit 1; the container runs on,
    and ends of its SIGKILL once the kernel lets it go."""
    daemon = await start_daemon(runtime_timeout=3.0)
    client = daemon.client

    async def ctr(*argv: str) -> Result:
        return await run_cli("--address", daemon.url, *argv)

    point = tmp_path / "hung"
    point.mkdir()

    with hung_mount(point) as hung:
        bundle = make_bundle(("cat", "/hung/hang"), edit=bound_at(point))
        started = await ok(ctr, "--json", "start", "held", "-b", str(bundle))
        pid = started.json["processes"][0]["pid"]
        assert await trio.to_thread.run_sync(hung.asked.wait, 20), "cat never asked"
        since = now()
        with trio.fail_after(20):
            stopped = await ctr("stop", "-t", "0.2", "held")
        assert (stopped.code, stopped.out) == (cli.EXIT_ERROR, ""), stopped
        assert stopped.err == (
            "ctr-trio: container 'held' did not exit within 3 s of its SIGKILL: the kernel holds"
            " its init (uninterruptible, D in ps: a hung mount?); it runs on, the SIGKILL"
            " pending (ctr-trio wait held tells its end)\n"
        )
        state = run_status((await client.get("/containers/held")).json()["state"])
        assert state == {"status": "running"}
        assert Path(f"/proc/{pid}/stat").read_text().split()[2] == "D"  # what held it
        hung.release()
        with trio.fail_after(20):
            assert await wait_exit(client, "held", pid, since) == 128 + signal.SIGKILL


async def test_start_of_ids_alone_starts_stopped_containers_again_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``start ID...`` without -b was a usage error: docker's ``start web`` starts a stopped
    container again, from what the daemon says of it (its bundle, its labels). A running one
    is a no-op that prints its id, as docker's; a paused one is refused, as docker's (moby's
    ContainerStart checks Paused before Running: "cannot start a paused container, try unpause
    instead"); an unknown one is its error, the others go on."""
    with trio.fail_after(60):
        bundle = make_bundle(TRAPS)
        first = await ok(ctr, "--json", "start", "again", "-b", str(bundle), "-l", "team=infra")
        await wait_output(client, "again", "ready")
        await ok(ctr, "stop", "again")
        await ok(ctr, "start", "web", "-b", str(make_bundle(FOREVER)))
        web = (await client.get("/containers/web")).json()

        several = await ctr("start", "again", "ghost", "web")
        assert several.code == cli.EXIT_ERROR, several
        assert several.out == "again\nweb\n", several  # the ids, as docker's
        assert several.err == "ctr-trio: container 'ghost' not found\n", several
        again = (await client.get("/containers/again")).json()
        assert run_status(again["state"]) == {"status": "running"}
        assert (again["bundlePath"], again["labels"]) == (str(bundle), {"team": "infra"})
        [init] = again["processes"]
        assert init["pid"] != first.json["processes"][0]["pid"] and pid_alive(init["pid"])
        assert "autoRemove" not in again
        # The running one untouched: the same init.
        assert (await client.get("/containers/web")).json() == web

        # --json: one id, its container.
        running = await ok(ctr, "--json", "containers", "start", "web")
        assert (running.json["id"], running.json["processes"]) == ("web", web["processes"])
        alone = await ctr("--json", "start", "ghost")
        assert (alone.code, alone.out) == (cli.EXIT_ERROR, ""), alone

        # A paused one is the daemon's 409, said, and stays paused; the others go on. Until
        # 2026-12-05 it was a no-op that printed its id, exit 0, where docker's start fails.
        await ok(ctr, "pause", "web")
        paused = await ctr("start", "web", "again")
        assert (paused.code, paused.out) == (cli.EXIT_ERROR, "again\n"), paused
        assert paused.err == (
            "ctr-trio: cannot start container 'web': it is paused; resume it first\n"
        ), paused
        alone = await ctr("--json", "containers", "start", "web")
        assert (alone.code, alone.out) == (cli.EXIT_ERROR, ""), alone
        state = (await client.get("/containers/web")).json()["state"]
        assert run_status(state) == {"status": "paused"}

        # The options of a start from a bundle need -b (with it, the words after the one ID
        # are a command: tests/test_start_process.py).
        for argv, message in [
            (["start", "-e", "X=1", "again"], "without -b/--bundle"),
            (["start", "-t", "again"], "without -b/--bundle"),
            (["start", "-l", "k=v", "again"], "without -b/--bundle"),
            # --checkpoint alone is docker's start --checkpoint (its own test); with another
            # start option it needs -b.
            (["start", "--checkpoint", "c1", "-t", "again"], "without -b/--bundle"),
        ]:
            refused = await ctr(*argv)
            assert refused.code == cli.EXIT_USAGE, (argv, refused)
            assert refused.err.startswith("usage: ctr-trio start ") and message in refused.err


#: A process that writes a line every tenth of a second, for ever.
TICKING = ("sh", "-c", "while :; do echo tick; sleep 0.1; done")


async def test_start_attach_of_a_stopped_container_follows_its_run_as_docker_s(
    ctr: Ctr,
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    make_bundle: BundleFactory,
) -> None:
    """docker's ``start -a ID``: the stopped container started again, its output here (this
    run's: its log begins anew) until its init exits, whose status is ours. It was a usage
    error (``-a without -b/--bundle``). Several ids with -a, or -i, stay usage errors."""
    since = now()
    job = await ok(
        ctr,
        "--json",
        "start",
        "job",
        "-b",
        str(make_bundle(["sh", "-c", "echo out; echo err >&2; exit 3"])),
    )
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)

    for _ in range(2):  # and again: each run's output once
        attached = await ctr("start", "-a", "job")
        assert (attached.code, attached.out, attached.err) == (3, "out\n", "err\n"), attached
    state = (await client.get("/containers/job")).json()["state"]
    assert (state["status"], state["exitStatus"]) == ("stopped", 3)

    # A running one: attached to as it runs (its output from now on), its status once it
    # ends (a signal: 128+N), as docker's start -a of a running container.
    await ok(ctr, "start", "web", "-b", str(make_bundle(TICKING)))
    stdout = WrittenOutput()
    results: list[Result] = []

    async def attach_web() -> None:
        results.append(await run_cli("--address", daemon.url, "start", "-a", "web", stdout=stdout))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attach_web)
        while "tick\n" not in stdout.getvalue():  # a tick: attached
            await stdout.more.wait()
        await ok(ctr, "kill", "web")
    [result] = results
    assert result.code == 128 + signal.SIGKILL, result
    assert set(result.out.splitlines()) == {"tick"}, result

    await ok(ctr, "start", "idle", "-b", str(bundle))
    await ok(ctr, "pause", "idle")
    paused = await ctr("start", "-a", "idle")
    assert (paused.code, paused.out) == (cli.EXIT_ERROR, ""), paused
    assert "paused" in paused.err, paused

    for bad, says in (
        (["-a", "job", "web"], "-a attaches to one container: give one ID"),
        (["-a", "-t", "job"], "-t without -b/--bundle"),
        (["-i", "job", "web"], "-i attaches to one container: give one ID"),
    ):
        refused = await ctr("start", *bad)
        assert refused.code == cli.EXIT_USAGE, (bad, refused)
        assert says in refused.err, (bad, refused.err)


async def test_restart_stops_then_starts_again_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``restart``: the stop of ``stop`` (its signal, its grace, then SIGKILL), then
    the start of ``start ID``; a stopped one is just started; an unknown one is its error."""
    with trio.fail_after(60):
        stubborn = make_bundle(IGNORES_TERM)
        first = await ok(ctr, "--json", "start", "stubborn", "-b", str(stubborn), "-l", "k=v")
        old = first.json["processes"][0]["pid"]
        first_init = WatchedProcess(old)
        await wait_ran(old)  # a SIGTERM to runc's init ends it, 2
        since = now()
        restarted = await ok(ctr, "restart", "-t", "0.2", "stubborn")
        assert restarted.out == "stubborn\n"
        # SIGTERM ignored: the grace's SIGKILL ended it, and it runs again, a new init.
        assert await wait_exit(client, "stubborn", old, since) == 128 + signal.SIGKILL
        again = (await client.get("/containers/stubborn")).json()
        assert run_status(again["state"]) == {"status": "running"}
        assert (again["bundlePath"], again["labels"]) == (str(stubborn), {"k": "v"})
        [init] = again["processes"]
        assert init["pid"] != old and pid_alive(init["pid"]) and first_init.ended()

        # -s as stop's; a stopped one is just started; --rm's autoRemove is kept, the
        # container started again once the daemon removed the old one at its exit.
        await ok(ctr, "start", "polite", "-b", str(make_bundle(TRAPS)))
        await wait_output(client, "polite", "ready")
        await ok(ctr, "start", "once", "--rm", "-b", str(make_bundle(TRAPS)))
        await wait_output(client, "once", "ready")
        await ok(ctr, "start", "done", "-b", str(make_bundle(["sh", "-c", "exit 5"])))
        await ok(ctr, "wait", "done")
        since = now()
        polite = (await client.get("/containers/polite")).json()["processes"][0]["pid"]
        several = await ctr(
            "--json", "containers", "restart", "-s", "USR1", "polite", "ghost", "done", "once"
        )
        assert several.code == cli.EXIT_ERROR, several
        assert [c["id"] for c in several.json] == ["polite", "done", "once"]
        assert all(run_status(c["state"]) == {"status": "running"} for c in several.json), several
        assert several.err == "ctr-trio: container 'ghost' not found\n", several
        assert await wait_exit(client, "polite", polite, since) == 4  # its USR1 trap
        assert several.json[2]["autoRemove"] is True

        # The init's stdin kept open (the start's "stdin") is known while it runs: kept.
        await start_container(client, "reader", make_bundle(FOREVER), stdin=True)
        reread = await ok(ctr, "--json", "restart", "-t", "0", "reader")
        assert reread.json["processes"][0]["stdin"] is True


async def test_restart_of_a_container_with_auto_remove_keeps_its_stdin_once(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """(Review.) restart of a container with autoRemove starts it afresh from what was read
    before its stop (its record goes with it): its stdin, labels, limits, process, policy, but
    not its stdinOnce (docker's StdinOnce, which ``run -i --rm`` attached gives it and
    docker's restart keeps, its config): a later attach's input's end left cat's stdin open.
    Now kept, as a start again from the record keeps it."""
    with trio.fail_after(60):
        await start_container(
            client, "once", make_bundle(["cat"]), stdin=True, stdinOnce=True, autoRemove=True
        )
        restarted = await ok(ctr, "--json", "restart", "-t", "0", "once")
        assert restarted.json["autoRemove"] is True, restarted.json
        assert restarted.json["processes"][0]["stdin"] is True, restarted.json
        assert restarted.json.get("stdinOnce") is True, restarted.json


async def test_start_and_restart_of_ids_ask_the_daemon_to_start_them_from_their_record(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``start ID`` and ``restart`` read the container (GET) and sent a start with a body made
    of it (POST /containers/ID): a change of limits between the two was undone for that start.
    Now they ask the daemon to start it from its record (POST /containers/ID/start), which it
    does under the container's lock; the output and the exit codes are as before: the id,
    and a running one left as it is (the daemon's 409, then its container)."""
    sent: list[tuple[str, str]] = []
    send = Client.send

    def recorded(self: Client, request: Request, **options: Any) -> Any:
        sent.append((request.method, request.target))
        return send(self, request, **options)

    monkeypatch.setattr(Client, "send", recorded)
    with trio.fail_after(60):
        await ok(ctr, "start", "web", "-b", str(make_bundle(TRAPS)), "--pids-limit", "20")
        await wait_output(client, "web", "ready")
        await ok(ctr, "stop", "web")
        await ok(ctr, "update", "web", "--pids-limit", "30")
        sent.clear()
        started = await ok(ctr, "start", "web")
        assert (started.out, sent) == ("web\n", [("POST", "/containers/web/start")])
        again = (await client.get("/containers/web")).json()
        pid = again["processes"][0]["pid"]
        assert (cgroup_dir(pid, "pids") / "pids.max").read_text() == "30\n"

        sent.clear()
        running = await ok(ctr, "--json", "start", "web")
        assert sent == [("POST", "/containers/web/start"), ("GET", "/containers/web")]
        assert running.json == again  # left as it was

        sent.clear()
        restarted = await ok(ctr, "restart", "-t", "0", "web")
        assert restarted.out == "web\n"
        ends = (("GET", "/containers/web"), ("POST", "/containers/web/start"))
        assert (sent[0], sent[-1]) == ends
        assert ("POST", "/containers/web") not in sent
        ran = (await client.get("/containers/web")).json()
        assert run_status(ran["state"]) == {"status": "running"}
        assert ran["processes"][0]["pid"] != pid and ran["resources"] == {"pids": {"limit": 30}}


async def test_a_stopped_container_started_again_keeps_its_stdin_open(
    spawn_daemon: Any, make_bundle: BundleFactory
) -> None:
    """docker keeps a container's -i (OpenStdin) for its next start: the daemon's record
    keeps the start's stdin (``stdin: true`` in GET, for a stopped container and after a
    server's crash too), and ``start ID`` and ``restart`` of the stopped container send it
    again. Before, a stopped container's processes were gone and with them the only mark of
    it: started again, its init's stdin was /dev/null (``cat`` ended at once)."""
    with trio.fail_after(60):
        daemon = await spawn_daemon()
        client = daemon.client

        async def ctr_ok(*argv: str) -> Any:
            result = await run_cli("--address", f"unix:{daemon.socket}", *argv)
            assert result.code == cli.EXIT_OK, result.err
            return result

        await start_container(client, "reader", make_bundle(["cat"]), stdin=True)
        plain = await start_container(client, "plain", make_bundle(FOREVER))
        assert (await client.get("/containers/reader")).json()["stdin"] is True
        assert "stdin" not in plain
        await ctr_ok("stop", "-t", "0", "reader")
        stopped = (await client.get("/containers/reader")).json()
        assert (stopped["processes"], stopped["stdin"]) == ([], True)
        await daemon.kill_server()  # the next server reads it from the record
        assert (await client.get("/containers/reader")).json()["stdin"] is True

        again = await ctr_ok("--json", "start", "reader")
        assert again.json["processes"][0]["stdin"] is True
        # cat reads a pipe the keeper holds open: it runs on, as at its first start.
        assert run_status((await client.get("/containers/reader")).json()["state"]) == {
            "status": "running"
        }
        await ctr_ok("stop", "-t", "0", "reader")
        restarted = await ctr_ok("--json", "restart", "-t", "0", "reader")
        assert restarted.json["processes"][0]["stdin"] is True
        assert restarted.json["stdin"] is True


@pytest.fixture
def held_removal(make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundle whose SIGTERM trap writes 4 MiB and exits 5, once it printed ready: an attached
    session that reads none of it holds the container's removal (autoRemove) for a minute,
    while ctr-trio waits REMOVAL_WAIT for it, 1 s here."""
    monkeypatch.setattr(commands, "REMOVAL_WAIT", 1.0)
    monkeypatch.setattr(supervisor_module, "_ATTACHED_GRACE", 60.0)
    monkeypatch.setattr(attach_module, "SEND_TIMEOUT", 60.0)
    return make_bundle(
        ["sh", "-c", "trap 'yes 0123456789 | head -c 4194304; exit 5' TERM; echo ready;"
         " while :; do sleep 0.1; done"]
    )  # fmt: skip


async def removed_once_let_go(client: httpx.AsyncClient) -> None:
    """The removal :func:`held_removal`'s session held comes once the session goes."""
    removed = await client.post("/containers/held/wait", params={"condition": "removed"})
    assert removed.json()["exitStatus"] == 5
    assert (await client.get("/containers/held")).status_code == 404


async def test_restart_gives_up_on_a_removal_an_attached_session_holds(
    daemon: RunningDaemon,
    ctr: Ctr,
    client: httpx.AsyncClient,
    held_removal: Path,
) -> None:
    """restart of a container with autoRemove waited without a deadline for the daemon to
    remove it once stopped, and an attached session holds that removal while it is sent output
    (up to 5 s after it stalls): a client that stopped reading held ctr-trio. Now it waits
    REMOVAL_WAIT (10 s; 1 s here, the stall let go on for a minute) and says it was not
    removed, nor started again, exit 1. The removal comes once the session goes."""
    with trio.fail_after(60):
        started = await ok(ctr, "--json", "start", "held", "--rm", "-b", str(held_removal))
        await wait_output(client, "held", "ready")
        session = await attach(daemon.url, "held", started.json["processes"][0]["pid"])
        session.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        try:
            restarted = await ctr("restart", "held")  # and the session reads nothing
            assert (restarted.code, restarted.out) == (cli.EXIT_ERROR, ""), restarted
            assert restarted.err == (
                "ctr-trio: container 'held' stopped, but the daemon had not removed it"
                " (autoRemove) 1 s later: an attached session holds its removal while it is"
                " sent output; not started again (once it is gone: ctr-trio start held -b"
                f" {held_removal} --rm)\n"
            )
            state = run_status((await client.get("/containers/held")).json()["state"])
            assert state == {"status": "stopped", "exitStatus": 5}
        finally:
            await session.drop()
        await removed_once_let_go(client)


async def test_run_rm_gives_up_on_a_removal_an_attached_session_holds(
    daemon: RunningDaemon,
    ctr: Ctr,
    client: httpx.AsyncClient,
    held_removal: Path,
) -> None:
    """run --rm, once the process ended, waits for the daemon to remove the container (so that
    its id is free once we are). It waited without a deadline, and another attached session
    holds that removal while it is sent output (up to 5 s after it stalls): a client that
    stopped reading held `ctr-trio run --rm`. Now it waits REMOVAL_WAIT (10 s; 1 s here, the
    stall let go on for a minute), as restart does, and says so, exit 1, the process's output
    all there. The removal comes once the session goes."""
    ran: list[Result] = []
    done = trio.Event()

    async def run() -> None:
        ran.append(await ctr("run", "--rm", "-b", str(held_removal), "held"))
        done.set()

    since = now()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            started = await next_event(
                client, since=since, container_id="held",
                match=lambda e: e["type"] == "start-container",
            )  # fmt: skip
            await wait_output(client, "held", "ready")
            session = await attach(daemon.url, "held", started["pid"])
            session.stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            try:
                await ok(ctr, "kill", "-s", "TERM", "held")  # and the session reads nothing
                await done.wait()
                [result] = ran
                assert result.code == cli.EXIT_ERROR, result.err
                assert result.out == "ready\n" + ("0123456789\n" * 400_000)[:4194304]
                assert result.err == (
                    "ctr-trio: container 'held' exited (status 5), but the daemon had not"
                    " removed it (autoRemove) 1 s later: an attached session holds its removal"
                    " while it is sent output; its id is not free until then\n"
                )
                state = run_status((await client.get("/containers/held")).json()["state"])
                assert state == {"status": "stopped", "exitStatus": 5}
            finally:
                await session.drop()
        await removed_once_let_go(client)


# --- checkpoints ------------------------------------------------------------------------------


async def test_checkpoints_create_list_restore_delete(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    await ok(ctr, "containers", "start", "cp", "--bundle", str(bundle))
    assert (await ok(ctr, "checkpoints", "create", "cp", "first")).out == (
        "checkpointed cp as first\n"
    )
    assert run_status((await client.get("/containers/cp")).json()["state"]) == {"status": "running"}

    stopped = await ok(ctr, "checkpoints", "create", "cp", "last", "--exit")
    assert stopped.out == "checkpointed cp as last and stopped it\n"
    assert (await client.get("/containers/cp")).json()["state"]["status"] == "stopped"

    listing = (await ok(ctr, "checkpoints", "list", "cp")).out
    rows = table(listing)
    assert [(row["NAME"], row["OPTIONS"]) for row in rows] == [("first", "-"), ("last", "-")]
    assert (await ok(ctr, "checkpoints", "ls", "cp")).out == listing  # docker's name
    listed = (await ok(ctr, "--json", "checkpoints", "list", "cp")).json
    assert listed == (await client.get("/containers/cp/checkpoint")).json()
    assert [entry["name"] for entry in listed] == ["first", "last"]

    restored = await ok(
        ctr, "containers", "start", "cp", "--bundle", str(bundle), "--checkpoint", "last"
    )
    pid = (await client.get("/containers/cp")).json()["processes"][0]["pid"]
    assert restored.out == f"started cp from checkpoint last (pid {pid})\n"
    assert pid_alive(pid)

    assert (await ok(ctr, "checkpoints", "delete", "cp", "first")).out == (
        "deleted checkpoint first of cp\n"
    )
    assert [e["name"] for e in (await ok(ctr, "--json", "checkpoints", "ls", "cp")).json] == [
        "last"
    ]
    assert (await ok(ctr, "checkpoints", "rm", "cp", "last")).out == (  # docker's name
        "deleted checkpoint last of cp\n"
    )
    assert (await ok(ctr, "--json", "checkpoints", "list", "cp")).json == []
    missing = await ctr("checkpoints", "delete", "cp", "first")
    assert missing.code == cli.EXIT_ERROR
    assert "first" in missing.err


async def test_checkpoints_rm_with_another_bundle_leaves_both_for_a_listed_container(
    ctr: Ctr, make_bundle: BundleFactory
) -> None:
    """``checkpoints rm web c1 -b /other`` for a container the daemon lists deleted /other's
    c1 (web's own left), and ``ls -b /other`` listed /other's as web's (found reading the
    checkpoint routes against docker's ``checkpoint rm``, whose checkpoints are the
    container's own). Now each is an error, exit 1, naming both bundles, both c1 kept;
    ``-b`` naming web's own bundle works as before, and an id the daemon does not list takes
    any bundle, as before."""
    with trio.fail_after(60):
        bundle = make_bundle()
        await ok(ctr, "run", "-d", "-b", str(bundle), "ck-web")
        await ok(ctr, "checkpoint", "ck-web", "c1")
        other = make_bundle()
        shutil.copytree(bundle / "checkpoints", other / "checkpoints")
        conflict = f"bundlePath {quoted(str(other))} is not the bundle of container 'ck-web'"
        for argv in (
            ("checkpoints", "rm", "ck-web", "c1", "-b", str(other)),
            ("checkpoints", "ls", "ck-web", "-b", str(other)),
        ):
            refused = await ctr(*argv)
            assert (refused.code, refused.out) == (cli.EXIT_ERROR, ""), refused
            assert refused.err.startswith(f"ctr-trio: {conflict} ({bundle}): "), refused.err
        assert (other / "checkpoints" / "c1").is_dir()
        assert (bundle / "checkpoints" / "c1").is_dir()
        listed = await ok(ctr, "checkpoints", "ls", "ck-web", "-b", str(bundle))
        assert [row["NAME"] for row in table(listed.out)] == ["c1"]
        await ok(ctr, "checkpoints", "rm", "ck-gone", "c1", "-b", str(other))
        assert not (other / "checkpoints" / "c1").exists()
        await ok(ctr, "checkpoints", "rm", "ck-web", "c1")
        assert not (bundle / "checkpoints" / "c1").exists()


async def test_docker_s_checkpoint_words(ctr: Ctr, client: httpx.AsyncClient, bundle: Path) -> None:
    """docker's ``checkpoint create ID NAME``, ``checkpoint ls ID`` and ``checkpoint rm ID
    NAME`` do what they do there. Before, ``checkpoint ls web`` checkpointed a container named
    ls as web (or said none was found), and ``create`` and ``rm`` were usage errors. docker's
    ``--leave-running`` is taken (the default here)."""
    await ok(ctr, "run", "-d", "-b", str(bundle), "ls")  # named after an action, on purpose
    await ok(ctr, "run", "-d", "-b", str(bundle), "web")
    made = await ok(ctr, "checkpoint", "create", "web", "c1", "--leave-running")
    assert made.out == "checkpointed web as c1\n"
    assert run_status((await client.get("/containers/web")).json()["state"]) == {
        "status": "running"
    }
    listed = await ok(ctr, "checkpoint", "ls", "web")
    assert [row["NAME"] for row in table(listed.out)] == ["c1"]
    # Not a checkpoint "web" of the container ls (both in the one bundle's checkpoints).
    assert [entry["name"] for entry in (await client.get("/containers/ls/checkpoint")).json()] == [
        "c1"
    ]
    assert (await ok(ctr, "--json", "checkpoint", "list", "web")).json[0]["name"] == "c1"
    assert (await ok(ctr, "checkpoint", "rm", "web", "c1")).out == "deleted checkpoint c1 of web\n"
    assert (await ok(ctr, "--json", "checkpoints", "ls", "web")).json == []
    # The singular's own form stays; a container named after an action is checkpointed with
    # checkpoints create.
    assert (await ok(ctr, "checkpoint", "web", "c2")).out == "checkpointed web as c2\n"
    assert (await ok(ctr, "checkpoints", "create", "ls", "c3")).out == "checkpointed ls as c3\n"
    both = await ctr("checkpoint", "create", "web", "c4", "--exit", "--leave-running")
    assert both.code == cli.EXIT_USAGE
    assert "not allowed with argument --exit" in both.err


async def test_a_deadline_of_no_seconds_is_said_as_more_than_0_with_its_value(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """The ``--timeout`` of checkpoint, of a restore and of migrate takes more than 0 seconds,
    as the daemon's body does. ``-1`` was refused with ``'-1' is not 0 or more seconds``, which
    says 0 is taken, and ``0`` with ``must be more than 0 seconds``, naming no value (found by
    trying docs/cli.md's commands as a new user would). Each is refused before any request:
    the container is not checkpointed, and runs on."""
    with trio.fail_after(60):
        await ok(ctr, "run", "-d", "-b", str(bundle), "web")
        for value in ("-1", "0", "-0.5", "0.0"):
            for argv in (
                ("checkpoint", "web", "c1", "--timeout", value),
                ("start", "web", "-b", str(bundle), "--checkpoint", "c1", "--timeout", value),
                ("migrate", "web", "--to", "127.0.0.1:1", "--timeout", value),
            ):
                refused = await ctr(*argv)
                assert refused.code == cli.EXIT_USAGE, refused
                said = f"argument --timeout: {value!r} is not more than 0 seconds"
                assert said in refused.err, refused
        assert (await client.get("/containers/web/checkpoint")).json() == []
        state = (await client.get("/containers/web")).json()["state"]
        assert run_status(state) == {"status": "running"}
        # What was taken still is, and what is no number is said as before.
        nan = await ctr("checkpoint", "web", "c1", "--timeout", "soon")
        assert "argument --timeout: 'soon' is not a number of seconds" in nan.err, nan
        made = await ok(ctr, "checkpoint", "web", "c1", "--timeout", "0.5e2")
        assert made.out == "checkpointed web as c1\n"


async def test_start_checkpoint_without_a_bundle_restores_from_the_container_s_own(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """docker's ``start --checkpoint NAME ID`` restores a stopped container from its
    checkpoint without naming a directory. It was a usage error (``--checkpoint without
    -b/--bundle``), found trying docs/checkpoint.md's checkpoint-and-restore as a docker user
    would: the daemon knows the container's bundle, so the restore is from that one. One ID,
    and no other start option: the rest stay a usage error, before any request."""
    with trio.fail_after(60):
        await ok(ctr, "run", "-d", "-b", str(bundle), "web")
        await ok(ctr, "checkpoint", "web", "c1", "--exit")
        restored = await ok(ctr, "start", "--checkpoint", "c1", "web")
        container = (await client.get("/containers/web")).json()
        pid = container["processes"][0]["pid"]
        assert restored.out == f"started web from checkpoint c1 (pid {pid})\n"
        assert container["bundlePath"] == str(bundle)
        assert run_status(container["state"]) == {"status": "running"}
        # --timeout goes with it, and the option may come after the ID.
        await ok(ctr, "checkpoint", "web", "c2", "--exit")
        again = await ok(ctr, "--json", "start", "web", "--checkpoint", "c2", "--timeout", "60")
        assert again.json["processes"][0]["pid"] != pid
        # A running one is the daemon's 409, an unknown one its 404: exit 1.
        running = await ctr("start", "--checkpoint", "c2", "web")
        assert running.code == cli.EXIT_ERROR
        assert "already exists and is running" in running.err, running
        ghost = await ctr("start", "--checkpoint", "c2", "ghost")
        assert (ghost.code, ghost.err) == (1, "ctr-trio: container 'ghost' not found\n")
        for argv, said in (
            (("web", "other"), "restores one container: give one ID"),
            (("-l", "a=b", "web"), "--checkpoint, -l without -b/--bundle"),
            (("-a", "web"), "--checkpoint without -b/--bundle: start ID..."),
            (("-i", "web"), "--checkpoint without -b/--bundle: start ID..."),
            (("web", "sh"), "--checkpoint without -b/--bundle"),
        ):
            refused = await ctr("start", "--checkpoint", "c2", *argv)
            assert refused.code == cli.EXIT_USAGE and said in refused.err, (argv, refused)
        assert [c["name"] for c in (await client.get("/containers/web/checkpoint")).json()] == [
            "c1",
            "c2",
        ]


async def test_checkpoints_of_a_deleted_container_by_its_bundle(
    ctr: Ctr, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint outlives its container, in the bundle: ``ls`` and ``rm`` reach it with
    ``-b DIR`` (the API's bundlePath; a relative DIR from the current directory, as start's),
    and without it say to give one, where they said only ``not found``."""
    await ok(ctr, "run", "-d", "-b", str(bundle), "gone")
    await ok(ctr, "checkpoint", "gone", "kept", "--exit")
    await ok(ctr, "rm", "gone")
    hint = (
        "ctr-trio: container 'gone' not found: for the checkpoints of a container the daemon"
        " does not list (deleted, or on another daemon), give its bundle: -b DIR\n"
    )
    for argv in (("ls", "gone"), ("list", "gone"), ("rm", "gone", "kept")):
        assert await ctr("checkpoints", *argv) == Result(cli.EXIT_ERROR, "", hint)
    # Another container's is the daemon's 404 as it is: the hint is for a missing container.
    unknown = await ctr("checkpoints", "rm", "gone", "nope", "-b", str(bundle))
    assert (unknown.code, unknown.out) == (cli.EXIT_ERROR, "")
    assert unknown.err == f"ctr-trio: checkpoint 'nope' not found in {bundle}/checkpoints\n"

    monkeypatch.chdir(bundle.parent)
    listed = await ok(ctr, "checkpoints", "ls", "-b", bundle.name, "gone")
    assert [row["NAME"] for row in table(listed.out)] == ["kept"]
    listed = await ok(ctr, "--json", "checkpoints", "list", "gone", "--bundle", str(bundle))
    assert [entry["name"] for entry in listed.json] == ["kept"]
    removed = await ok(ctr, "checkpoints", "rm", "gone", "kept", "-b", bundle.name)
    assert removed.out == "deleted checkpoint kept of gone\n"
    assert not (bundle / "checkpoints" / "kept").exists()
    assert (await ok(ctr, "--json", "checkpoints", "ls", "gone", "-b", bundle.name)).json == []


# --- logs, events, stats, state -----------------------------------------------------------------


async def test_a_restore_s_criu_log_is_said_on_one_line_after_its_colon(
    ctr: Ctr, client: httpx.AsyncClient, daemon: RunningDaemon, bundle: Path
) -> None:
    """A restore whose CRIU fails is the daemon's 500, runc's error, then ``CRIU's
    restore.log ends with:`` and the log's last lines, each a line. ctr-trio says it on one
    line, the lines joined by ``; ``, and joined the colon to the first log line as ``ends
    with:; (00.05) ...`` (found restoring a checkpoint whose pstree.img was gone, as a new
    user of docs/checkpoint.md might). Nothing of the restore is left: no container of the
    id, in the daemon or in runc."""
    with trio.fail_after(60):
        await ok(ctr, "run", "-d", "-b", str(bundle), "web")
        await ok(ctr, "checkpoint", "web", "c1")
        (bundle / "checkpoints" / "c1" / "pstree.img").unlink()
        failed = await ctr("start", "copy", "-b", str(bundle), "--checkpoint", "c1")
        assert failed.code == cli.EXIT_ERROR, failed
        assert failed.err.count("\n") == 1, failed
        assert "CRIU's restore.log ends with: (" in failed.err, failed
        assert ":;" not in failed.err, failed
        assert "No pstree.img image" in failed.err, failed  # CRIU's own words
        assert (await client.get("/containers/copy")).status_code == 404
        assert "copy" not in runc_ids(daemon.config.state_dir)


async def test_logs_follow_ends_when_the_container_stops(
    ctr: Ctr, make_bundle: BundleFactory
) -> None:
    await ok(ctr, "containers", "start", "talker", "--bundle", str(make_bundle(LOGGING)))
    # Started at once: it sees the first lines replayed, then "three" live, then the end.
    followed = await ctr("logs", "talker", "-f")
    assert followed == Result(0, "one\nthree\n", "two\n")

    assert (await ok(ctr, "logs", "talker", "--tail", "1")).out == "three\n"
    # A + before the count, as docker's daemon reads it (Go's Atoi): was a usage error.
    assert (await ok(ctr, "logs", "talker", "--tail", "+1")).out == "three\n"
    # docker's daemon takes a negative tail for all (`docker logs --tail -1`), as all.
    for every in ("all", "-1"):
        assert await ctr("logs", "talker", "--tail", every) == Result(0, "one\nthree\n", "two\n")

    printed = await ok(ctr, "--json", "logs", "talker")
    records = [json.loads(line) for line in printed.out.splitlines()]
    assert sorted((r["stream"], r["data"]) for r in records) == [
        ("stderr", "two\n"),
        ("stdout", "one\n"),
        ("stdout", "three\n"),
    ]
    assert records[-1]["data"] == "three\n"
    assert all(r["timestamp"].endswith("+00:00") for r in records)


async def test_logs_tail_counts_lines_not_the_records_a_long_line_is_cut_into(
    ctr: Ctr, make_bundle: BundleFactory
) -> None:
    """-n N is the last N lines, as docker's --tail, but it asked the daemon for N records, and a
    line past 16 KiB is several: -n 2 printed a piece of the long line (its last 7 KiB), then
    'end'. A prompt let go before its answer (stdin kept open) is such a piece too."""
    long = "x" * 40_000
    script = f"echo first; printf %s {long}; echo; echo end"
    await ok(ctr, "run", "long", "-b", str(make_bundle(("sh", "-c", script))))
    assert (await ok(ctr, "logs", "long")).out == f"first\n{long}\nend\n"
    assert (await ok(ctr, "logs", "long", "-n", "1")).out == "end\n"
    assert (await ok(ctr, "logs", "long", "-n", "2")).out == f"{long}\nend\n"
    assert (await ok(ctr, "logs", "long", "-n", "3")).out == f"first\n{long}\nend\n"
    assert (await ok(ctr, "logs", "long", "-n", "99")).out == f"first\n{long}\nend\n"
    # -t: each record a line of its own, as before: the long line's three, after their time.
    stamped = (await ok(ctr, "logs", "long", "-n", "2", "-t")).out.splitlines()
    assert "".join(line.split(" ", 1)[1] for line in stamped) == f"{long}end"
    assert len(stamped) == 4
    records = (await ok(ctr, "--json", "logs", "long", "-n", "2")).out.splitlines()
    assert "".join(json.loads(line)["data"] for line in records) == f"{long}\nend\n"
    # A follow goes on right after them (the container stopped: it ends there).
    assert (await ok(ctr, "logs", "long", "-n", "2", "-f")).out == f"{long}\nend\n"


class _FollowBrokenOff:
    """A daemon for ``logs -f`` whose server dies in the middle of a follow: each answer a
    list of records, the first broken off after them (kill -9 of the server)."""

    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.asked: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def logs(self, container_id: str, **options: Any) -> Iterator[Iterator[dict[str, Any]]]:
        self.asked.append(options)
        records, broken = self.answers.pop(0), bool(self.answers)

        def answer() -> Iterator[dict[str, Any]]:
            yield from records
            if broken:
                raise DaemonUnreachable("unix:/x", "connection reset", lost=True)

        yield answer()


def test_logs_follow_taken_up_again_skips_only_the_records_of_the_stamp_it_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """logs -f taken up again after its server died asks from the stamp of the last record it
    printed and skips as many records of that stamp as it had printed: of that stamp only. It
    skipped that many of whatever stamp came first when the log no longer held them (rotated
    away while the next server started: a container writing fast): found in trial9, kill -9
    of the server under logs -f of seq 1 2000000, after 1688829 came 1690249, then 1690707,
    1,876 lines (as many as it had of the last stamp) lost beside those rotated away."""

    def record(stamp: str, data: str) -> dict[str, Any]:
        return {"stream": "stdout", "pid": 7, "timestamp": stamp, "data": data}

    first, then, later = (f"2026-12-06T10:55:0{n}.000000000+00:00" for n in (1, 2, 3))
    daemon = _FollowBrokenOff(
        [record(first, "a\n"), record(first, "b\n"), record(first, "c\n")],
        # The next server's answer from ``first`` on: its records were rotated away.
        [record(then, "x\n"), record(then, "y\n"), record(later, "z\n")],
    )
    monkeypatch.setattr(commands, "_has_live_processes", lambda *args, **kwargs: False)
    out = io.StringIO()
    args = cli.build_parser().parse_args(["logs", "-f", "c"])
    code = commands.logs(daemon, args, Output(out, io.StringIO(), as_json=False))  # type: ignore[arg-type]
    assert (code, out.getvalue()) == (0, "a\nb\nc\nx\ny\nz\n")
    assert daemon.asked[1]["since"] == first


async def test_logs_tail_counts_the_lines_within_a_terminal_s_record(
    ctr: Ctr, make_bundle: BundleFactory
) -> None:
    """A terminal's output is a record per read, several lines in one: -n 1 printed the whole
    record, every line the read held ('one', 'two' and 'three'), where docker's --tail 1 prints
    the last line alone (its copier splits a TTY's stream at each newline)."""
    # Output processing off (no \r before each \n): the terminal then passes the write on
    # whole, in one piece, and the daemon reads it as one record; with it on, the kernel
    # passes it on a line ending at a time, and a busy machine's read may take it in two.
    # One write: busybox's echo writes its line whole, where its printf's stdout, line
    # buffered on a terminal, writes a line at a time (a busy machine read 'one' alone).
    script = "stty -opost; echo -e 'one\\ntwo\\nthree'"
    term = make_bundle(("sh", "-c", script), terminal=True)
    await ok(ctr, "run", "-t", "term", "-b", str(term))
    records = (await ok(ctr, "--json", "logs", "term")).out.splitlines()
    assert [json.loads(line)["data"] for line in records] == ["one\ntwo\nthree\n"]
    assert (await ok(ctr, "logs", "term", "-n", "1")).out == "three\n"
    assert (await ok(ctr, "logs", "term", "-n", "2")).out == "two\nthree\n"
    assert (await ok(ctr, "logs", "term", "-n", "3")).out == "one\ntwo\nthree\n"
    assert (await ok(ctr, "logs", "term", "-n", "9")).out == "one\ntwo\nthree\n"
    stamped = (await ok(ctr, "logs", "term", "-n", "1", "-t")).out
    assert stamped.endswith("Z three\n"), stamped
    assert (await ok(ctr, "logs", "term", "-n", "1", "--details")).out == " three\n"
    assert (await ok(ctr, "logs", "term", "-n", "1", "-f")).out == "three\n"
    # --json prints the records as the daemon keeps them, whole.
    records = (await ok(ctr, "--json", "logs", "term", "-n", "1")).out.splitlines()
    assert [json.loads(line)["data"] for line in records] == ["one\ntwo\nthree\n"]


async def test_events_since_replays_then_count_stops(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    started = await ok(
        ctr,
        "--json",
        "containers",
        "start",
        "brief",
        "--bundle",
        str(make_bundle(["sh", "-c", "exit 3"])),
    )
    pid = started.json["processes"][0]["pid"]
    await wait_exit(client, "brief", pid, since)

    # Both events happened before the command runs: they come from the replay.
    printed = await ok(ctr, "events", "--since", since, "--id", "brief", "--count", "2")
    lines = printed.out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[1:] == ["start-container", "brief", f"pid={pid}"]
    assert lines[1].split()[1:] == ["exit", "brief", f"pid={pid}", "status=3"]

    records = (await ok(ctr, "--json", "events", "--since", since, "--count", "2")).out
    events = [json.loads(line) for line in records.splitlines()]
    assert [(e["type"], e["id"], e.get("status")) for e in events] == [
        ("start-container", "brief", None),
        ("exit", "brief", 3),
    ]

    bad = await ctr("events", "--since", "yesterday")  # a usage error, as any bad option
    assert bad.code == cli.EXIT_USAGE
    assert "--since: 'yesterday' is not an RFC 3339 timestamp such as" in bad.err, bad


async def test_events_format_is_a_template_on_each_event_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's events --format: a Go template on each event (its JSON here, keys as the
    daemon spells them), json as {{json .}}; it was a usage error (unrecognized arguments). A
    malformed template is a usage error before any request; one an event does not fit is its
    error on stderr and the end of the command, exit 1, as docker's (the stream went on past
    it, the events after it printed)."""
    since = now()
    started = await ok(
        ctr, "--json", "start", "brief", "-b", str(make_bundle(["sh", "-c", "exit 3"])),
        "-l", "team=infra",
    )  # fmt: skip
    pid = started.json["processes"][0]["pid"]
    await wait_exit(client, "brief", pid, since)
    replay = ("events", "--since", since, "--id", "brief", "-n", "2")

    shown = await ok(ctr, *replay, "--format", "{{.type}} {{.id}} {{.pid}} {{.status}}")
    assert shown.out.splitlines() == [
        f"start-container brief {pid} <no value>",
        f"exit brief {pid} 3",
    ]
    records = (await ok(ctr, "--json", *replay)).out
    assert (await ok(ctr, *replay, "--format", "{{json .}}")).out == records
    assert (await ok(ctr, *replay, "--format", "json")).out == records
    labels = await ok(ctr, *replay, "--format", '{{index .labels "team"}}')
    assert labels.out == "infra\ninfra\n"

    misfit = await ctr(*replay, "--format", "{{if .status}}{{.status.x}}{{else}}{{.type}}{{end}}")
    assert (misfit.code, misfit.out) == (cli.EXIT_ERROR, "start-container\n")
    assert misfit.err.startswith("ctr-trio: exit of brief at ") and 'key "x"' in misfit.err
    # The first event does not fit: the one after it, which would, is not printed.
    first = await ctr(*replay, "--format", "{{if .status}}{{.type}}{{else}}{{.pid.x}}{{end}}")
    assert (first.code, first.out) == (cli.EXIT_ERROR, ""), first
    assert first.err.startswith("ctr-trio: start-container of brief at "), first
    assert first.err.count("\n") == 1 and 'key "x"' in first.err, first
    malformed = await ctr("events", "--format", "{{.type")
    assert malformed.code == cli.EXIT_USAGE and "argument --format: " in malformed.err


async def test_events_align_their_columns_for_every_type(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """The type column was 15 wide: a longer type (checkpoint-started, checkpoint-progress,
    checkpoint-failed) pushed its id, and all after it, out of line. Real events of a
    container's life, checkpoint and restore among them, as events prints them: the id
    column is at the same place on every line, where the longest type the daemon has
    (whether it came or not) leaves room for it."""
    since = now()
    await ok(ctr, "start", "web", "-b", str(bundle))
    await ok(ctr, "pause", "web")
    await ok(ctr, "resume", "web")
    await ok(ctr, "checkpoint", "web", "cp", "--exit")
    await ok(ctr, "start", "web", "-b", str(bundle), "--checkpoint", "cp")
    await ok(ctr, "exec", "web", "true")
    await ok(ctr, "update", "web", "--pids-limit", "100")  # the last one: its event ends the lot
    with trio.fail_after(10):
        count = 0
        async with client.stream("GET", "/events", params={"since": since, "id": "web"}) as got:
            async for line in got.aiter_lines():
                count += 1
                if json.loads(line)["type"] == "update":
                    break

    printed = (await ok(ctr, "events", "--since", since, "--id", "web", "-n", str(count))).out
    # A timestamp, the type, the id, then the rest (key=value), each after spaces.
    lines = printed.splitlines()
    columns = [m for m in (re.match(r"(\S+) +(\S+) +(web)( |$)", line) for line in lines) if m]
    assert len(columns) == len(lines) == count, printed
    types = [column[2] for column in columns]
    assert {"checkpoint-started", "restore-started", "start-process", "update"} <= set(types)
    assert max(len(name) for name in types) > 15, types  # wider than the old column
    # Two spaces after the timestamp (all as wide) and after the widest type the daemon has.
    stamp = len(columns[0][1])
    widest = max(len(name) for name in EVENT_TYPES)
    assert {(column.start(2), column.start(3)) for column in columns} == {
        (stamp + 2, stamp + 2 + widest + 2)
    }, printed


async def test_events_print_true_as_their_json_writes_it(
    ctr: Ctr, make_bundle: BundleFactory
) -> None:
    """An exit that its restart policy restarts was printed ``... status=3 restarting=True``,
    Python's word for the event's ``true`` (found in a user's trial of the CLI, 2026-12-06):
    the line says ``restarting=true``, as ``--json`` and ``--format`` say it."""
    since = now()
    exits = make_bundle(["sh", "-c", "exit 3"])
    await ok(ctr, "run", "-d", "--restart", "on-failure:1", "-b", str(exits), "flaky")
    with trio.fail_after(20):  # the two exits: the one restarted, then the last
        result = await ok(
            ctr, "events", "--since", since, "--id", "flaky", "-f", "event=die", "-n", "2"
        )
    restarted, final = result.out.splitlines()
    assert restarted.endswith(" status=3 restarting=true"), restarted
    assert final.endswith(" status=3"), final


async def test_events_until_ctrl_c_exits_130_quietly(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """A real process, a real SIGINT: what a person at a terminal does to leave the stream."""
    since = now()
    await client.post("/containers/watched", json={"bundlePath": str(bundle)})
    argv = [
        sys.executable,
        "-c",
        "from containerd_trio.client.cli import main; main()",
        "--address",
        daemon.url,
        "events",
        "--since",
        since,
    ]
    process = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        first = b""
        while b"\n" not in first:
            chunk = await process.stdout.receive_some()
            assert chunk, "ctr-trio events ended by itself"
            first += chunk
        # So it is inside the stream now.
        assert first.split()[1:3] == [b"start-container", b"watched"], first
        process.send_signal(signal.SIGINT)
        assert await process.wait() == 130
        assert await process.stderr.receive_some() == b""  # no traceback, no message
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_events_end_with_exit_3_when_the_daemon_stops(
    daemon: RunningDaemon, bundle: Path
) -> None:
    since = now()
    # Started through the CLI, whose connection closes when it is done: an idle keep-alive
    # connection (daemon.client's) would hold the daemon's shutdown for hypercorn's grace.
    await ok(
        run_cli, "--address", daemon.url, "containers", "start", "last", "--bundle", str(bundle)
    )
    # Every event, docker's type=container (the containers'), type=daemon (the daemon's own).
    watches = {"all": (), "container": ("-f", "type=container"), "daemon": ("-f", "type=daemon")}
    outputs = {name: WrittenOutput() for name in watches}
    results: dict[str, Result] = {}

    async def watch(name: str) -> None:
        events = ("events", "--since", since, *watches[name])
        results[name] = await run_cli(
            # --retry 0: the stream's end is taken up again (a reload ends it too), and a
            # daemon that is gone is not waited for.
            "--address",
            daemon.url,
            "--retry",
            "0",
            *events,
            stdout=outputs[name],
        )

    async with trio.open_nursery() as nursery:
        for name in watches:
            nursery.start_soon(watch, name)
        for name in ("all", "container"):
            await outputs[name].first.wait()  # the replayed start-container: in the stream
        # type=daemon's prints none before the stop: its stream, subscribed, says it.
        bus = daemon.daemon.events
        assert bus is not None
        with trio.fail_after(10):
            while bus.subscriber_count < len(watches):  # noqa: ASYNC110 (no event to wait on)
                await trio.sleep(0.05)
        await daemon.stop()
    seen = {
        name: [line.split()[1:3] for line in result.out.splitlines()]
        for name, result in results.items()
    }
    for result in results.values():
        assert result.code == cli.EXIT_UNREACHABLE
        assert result.err == f"ctr-trio: the daemon at {daemon.url} closed the event stream\n"
    # The stop said as it began, the daemon's own (no container), before the exit.
    assert seen["all"] == [
        ["start-container", "last"],
        ["daemon-stopping", "(daemon)"],
        ["exit", "last"],
        ["delete", "last"],
    ]
    assert seen["container"] == [["start-container", "last"], ["exit", "last"], ["delete", "last"]]
    assert seen["daemon"] == [["daemon-stopping", "(daemon)"]]


async def test_client_library_events_and_logs(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """The iterators of http.Client: read as they come, stop early, and close the stream."""
    since = now()

    def talk() -> tuple[list[dict[str, Any]], list[str]]:
        with Client(daemon.url) as api:
            api.start("lib", str(make_bundle(LOGGING)))
            seen = []
            with api.events(since=since, container_id="lib") as stream:
                for event in stream:
                    seen.append(dict(event))
                    if event["type"] == "exit":
                        break  # the stream never ends by itself
            with api.logs("lib", tail=2) as records:
                data = [record["data"] for record in records]
            return seen, data

    seen, data = await trio.to_thread.run_sync(talk, abandon_on_cancel=True)
    assert [event["type"] for event in seen] == ["start-container", "exit"]
    assert seen[1]["status"] == 0
    assert len(data) == 2
    assert data[-1] == "three\n"


async def test_stats(ctr: Ctr, bundle: Path, make_bundle: BundleFactory) -> None:
    await ok(ctr, "containers", "start", "busy", "--bundle", str(bundle))
    rows = dict(line.split(None, 1) for line in (await ok(ctr, "stats", "busy")).out.splitlines())
    assert rows["ID"] == "busy"
    assert rows["PIDS"].startswith("1 (limit ")
    assert rows["MEMORY"].split()[1] in ("B", "KiB", "MiB")
    assert rows["CPU"].endswith("s)")

    figures = (await ok(ctr, "--json", "stats", "busy")).json
    assert figures["id"] == "busy"
    assert figures["pids"]["current"] == 1
    assert figures["memory"]["usage"]["usage"] > 0

    since = now()
    await ok(ctr, "containers", "start", "gone", "--bundle", str(make_bundle(["true"])))
    assert (await ctr("events", "--since", since, "--id", "gone", "--count", "2")).code == 0
    stopped = await ctr("stats", "gone")
    assert (stopped.code, stopped.out) == (cli.EXIT_ERROR, "")
    assert stopped.err == "ctr-trio: container 'gone' is stopped: it has no live figures\n"


async def test_state(ctr: Ctr, client: httpx.AsyncClient, bundle: Path) -> None:
    await ok(ctr, "containers", "start", "one", "--bundle", str(bundle))
    text = (await ok(ctr, "state")).out
    machine, blank, *rest = text.splitlines()
    assert machine.startswith(f"machine: {os.sysconf('SC_NPROCESSORS_ONLN')} CPUs, ")
    assert blank == ""
    assert [row["ID"] for row in table("\n".join(rest))] == ["one"]
    assert (await ok(ctr, "--json", "state")).json == (await client.get("/state")).json()


# --- errors and addresses ---------------------------------------------------------------------


async def test_daemon_error_is_exit_1_with_its_message_on_one_line(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    expected = (await client.get("/containers/ghost")).json()["error"]
    result = await ctr("containers", "get", "ghost")
    assert (result.code, result.out, result.err) == (1, "", f"ctr-trio: {expected}\n")

    await ok(ctr, "containers", "start", "twice", "--bundle", str(bundle))
    again = await ctr("containers", "start", "twice", "--bundle", str(bundle))
    assert again.code == 1
    assert again.err.startswith("ctr-trio: ")
    assert again.err.count("\n") == 1

    bad_pid = await ctr("containers", "kill", "twice", "--pid", "4194305")
    assert bad_pid.code == 1
    assert "4194305" in bad_pid.err


async def test_stats_watch_of_an_unknown_id_is_an_error(ctr: Ctr, bundle: Path) -> None:
    """stats --watch with an id the daemon does not know redrew a table with 'not found' in
    it every second until Ctrl-C: now the daemon's error, exit 1, as docker stats does."""
    await ok(ctr, "start", "busy", "--bundle", str(bundle))
    for ids in (["ghost"], ["busy", "ghost"]):
        with trio.fail_after(10):
            result = await ctr("stats", "--watch", *ids)
        assert (result.code, result.out) == (cli.EXIT_ERROR, ""), ids
        assert result.err == "ctr-trio: container 'ghost' not found\n"


def test_multi_line_errors_become_one_line() -> None:
    """runc's and CRIU's errors span lines; a script reading stderr gets one."""
    stderr = io.StringIO()
    cli.Output(io.StringIO(), stderr, as_json=False).error("restore failed\n  criu: oops\n\n")
    assert stderr.getvalue() == "ctr-trio: restore failed; criu: oops\n"
    # A line that ends in a colon introduces the next: a space, not ":;" (until 2026-12-06).
    stderr = io.StringIO()
    cli.Output(io.StringIO(), stderr, as_json=False).error("log ends with:\n(00.1) a\n(00.2) b")
    assert stderr.getvalue() == "ctr-trio: log ends with: (00.1) a; (00.2) b\n"


async def test_unreachable_daemon_is_exit_3(tmp_path: Path) -> None:
    # --retry 0: no waiting for a daemon that may be starting (test_retries shows that).
    refused = await run_cli("--retry", "0", "--address", "127.0.0.1:1", "containers", "list")
    assert (refused.code, refused.out) == (cli.EXIT_UNREACHABLE, "")
    assert refused.err.startswith("ctr-trio: cannot reach the daemon at 127.0.0.1:1: ")
    assert refused.err.count("\n") == 1

    socket = tmp_path / "nobody.sock"
    absent = await run_cli("--retry", "0", "--address", f"unix:{socket}", "state")
    assert absent.code == cli.EXIT_UNREACHABLE
    assert f"cannot reach the daemon at unix:{socket}" in absent.err

    with Client("127.0.0.1:1", retry_for=0) as api, pytest.raises(DaemonUnreachable) as caught:
        await trio.to_thread.run_sync(api.state)
    assert caught.value.address == "127.0.0.1:1"


class TerminalText(io.StringIO):
    """A stderr that is a terminal, as a person's."""

    def isatty(self) -> bool:
        return True


async def test_an_unreachable_daemon_is_said_so_a_user_knows_what_to_do(tmp_path: Path) -> None:
    """With no daemon, ctr-trio said errno's words alone (``[Errno 111] Connection refused``),
    and at a terminal ``; trying again`` without saying for how long, a user left to guess
    why nothing happened for 15 s (found in a user's trial of the CLI, 2026-12-06): a refused
    connection or a missing socket asks whether the daemon runs, as docker's ``Is the docker
    daemon running?``, and the note of the retries says how long they last."""
    refused = await run_cli("--retry", "0", "--address", "127.0.0.1:1", "ps")
    assert (refused.code, refused.err) == (
        cli.EXIT_UNREACHABLE,
        "ctr-trio: cannot reach the daemon at 127.0.0.1:1: [Errno 111] Connection refused"
        " (is it running?)\n",
    )
    address = f"unix:{tmp_path}/nobody.sock"
    stdout, stderr = io.StringIO(), TerminalText()
    with trio.fail_after(10):
        code = await trio.to_thread.run_sync(
            functools.partial(cli.run, ["--retry", "0.5", "--address", address, "ps"]),
            stdout,
            stderr,
        )
    said = f"ctr-trio: cannot reach the daemon at {address}: [Errno 2] No such file or directory"
    assert (code, stdout.getvalue()) == (cli.EXIT_UNREACHABLE, "")
    assert stderr.getvalue().splitlines() == [
        f"{said} (is it running?); trying again for up to 0.5 s (--retry SECONDS)",
        f"{said} (is it running?)",
    ]


async def test_api_error_carries_status(daemon: RunningDaemon) -> None:
    with Client(daemon.url) as api, pytest.raises(ApiError) as caught:
        await trio.to_thread.run_sync(api.container, "ghost")
    assert caught.value.status == 404
    assert "ghost" in caught.value.message


async def test_usage_errors_are_exit_2() -> None:
    for argv in (
        ["containers", "exec", "box"],  # no command to run
        ["containers", "start", "box", "web", "-w", "/tmp"],  # -w is a start from a bundle's
        ["logs", "box", "--tail", "-x"],
        ["containers", "exec", "--user", "root", "box", "--", "true"],
        ["--address", "nowhere", "state"],
        ["nonsense"],
    ):
        result = await run_cli(*argv)
        assert result.code == cli.EXIT_USAGE, argv
        assert result.out == ""
        assert "usage: ctr-trio" in result.err, argv
        assert "error:" in result.err, argv

    helped = await run_cli("containers", "--help")
    assert helped.code == 0
    assert "usage: ctr-trio containers" in helped.out


async def test_an_address_of_the_environment_is_checked_as_address_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``CONTAINERD_TRIO_ADDRESS=bogus ctr-trio ps`` ended in a Python traceback (Listen.parse's
    ValueError), exit 1, where ``--address bogus`` is a usage error: it is one too, naming the
    variable. An --address given still wins over it."""
    monkeypatch.setenv(cli.ENV_ADDRESS, "bogus")
    with trio.fail_after(10):
        refused = await run_cli("--retry", "0", "ps")
        given = await run_cli("--retry", "0", "--address", "127.0.0.1:1", "ps")
    assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), refused
    assert refused.err.startswith("usage: ctr-trio ps "), refused.err
    assert refused.err.endswith(
        "error: $CONTAINERD_TRIO_ADDRESS: 'bogus' is not HOST:PORT, unix:PATH,"
        " http://HOST[:PORT], https://HOST[:PORT], http://unix:PATH or tcp://HOST:PORT\n"
    ), refused.err
    assert given.code == cli.EXIT_UNREACHABLE, given


async def test_a_missing_id_is_told_without_the_optional_words_after_it() -> None:
    """``run -b DIR`` with no ID said ``the following arguments are required: ID, CMD``, and
    ``top`` ``ID, PS OPTIONS``: a user adds a command the bundle already has. The words after
    the ID are optional (the bundle's process, ps -ef's columns); exec's command is not."""
    nowhere = ["--retry", "0", "--address", "127.0.0.1:1"]  # never asked: refused before
    for argv, missing in [
        # run's ID may be given as --name NAME, docker's, and its error says so.
        (["run", "-b", "/containers/web"], "ID (or --name NAME)"),
        (["containers", "run", "-b", "/containers/web"], "ID (or --name NAME)"),
        (["start"], "ID"),
        (["start", "-b", "/containers/web"], "ID"),
        (["top"], "ID"),
        (["containers", "top"], "ID"),
        (["exec"], "ID, ARGS"),
    ]:
        with trio.fail_after(10):
            result = await run_cli(*nowhere, *argv)
        assert (result.code, result.out) == (cli.EXIT_USAGE, ""), (argv, result)
        assert result.err.endswith(f"error: the following arguments are required: {missing}\n"), (
            argv,
            result.err,
        )


async def usage_errors(cases: list[tuple[list[str], str]]) -> list[str]:
    """Each command line a usage error that names its option, before any request (no daemon
    at the address): their stderr."""
    nowhere = ["--retry", "0", "--address", "127.0.0.1:1"]  # never asked: refused before
    errors = []
    for argv, option in cases:
        with trio.fail_after(10):
            result = await run_cli(*nowhere, *argv)
        assert (result.code, result.out) == (cli.EXIT_USAGE, ""), (argv, result)
        assert f"error: argument {option}: " in result.err, (argv, result.err)
        errors.append(result.err)
    return errors


async def test_an_invalid_id_is_a_usage_error_in_the_daemon_s_words() -> None:
    """An id or a checkpoint name that the daemon's rule refuses is a usage error, exit 2,
    before any request (no daemon at the address), in the daemon's own sentence, whatever
    makes it invalid: ``logs a/b`` got a shorter one than ``logs 'a b'`` (the path's encoded
    slash), and both went to the daemon and exited 1."""
    cases: list[tuple[list[str], str, str, str]] = [
        # (argv, the argument named, the invalid value, what it is)
        (["logs", "a/b"], "ID", "a/b", "container id"),
        (["logs", "a b"], "ID", "a b", "container id"),
        (["inspect", "web", ".x"], "ID", ".x", "container id"),
        (["rm", "-f", "web", "a/b"], "ID", "a/b", "container id"),
        (["containers", "get", "a/b"], "ID", "a/b", "container id"),
        (["stop", "a/b"], "ID", "a/b", "container id"),
        (["kill", "a/b"], "ID", "a/b", "container id"),
        (["update", "--pids-limit", "9", "a/b"], "ID", "a/b", "container id"),
        (["top", "a/b"], "ID", "a/b", "container id"),
        (["exec", "a/b", "ls"], "ID", "a/b", "container id"),
        (["attach", "a/b"], "ID", "a/b", "container id"),
        (["run", "-b", "/b", "a/b", "sh"], "ID", "a/b", "container id"),
        (["run", "-b", "/b", "--checkpoint", "c/1", "web"], "--checkpoint", "c/1",
         "checkpoint name"),
        (["start", "web", "a/b"], "ID", "a/b", "container id"),
        (["start", "-b", "/b", "a/b", "/bin/sh"], "ID", "a/b", "container id"),
        (["wait", "a/b"], "ID", "a/b", "container id"),
        (["wait", "a/b", "42"], "ID", "a/b", "container id"),
        (["stats", "--no-stream", "a/b"], "ID", "a/b", "container id"),
        (["checkpoint", "a/b", "c1"], "ID", "a/b", "container id"),
        (["checkpoint", "web", "c/1"], "NAME", "c/1", "checkpoint name"),
        (["checkpoints", "rm", "web", "c 1"], "NAME", "c 1", "checkpoint name"),
        (["checkpoints", "ls", "a/b"], "ID", "a/b", "container id"),
        (["migrate", "--to", "127.0.0.1:2", "a/b"], "ID", "a/b", "container id"),
        (["events", "--id", "a/b"], "--id", "a/b", "container id"),
        (["events", "-f", "container=a/b"], "-f/--filter", "a/b", "container id"),
        (["cp", "a/b:/etc", "-"], "SRC", "a/b", "container id"),
        (["cp", "-", "a b:/tmp"], "DEST", "a b", "container id"),
    ]  # fmt: skip
    errors = await usage_errors([(argv, option) for argv, option, _, _ in cases])
    for (argv, _, value, what), error in zip(cases, errors, strict=True):
        assert error.endswith(f"{invalid_id(value, what)}\n"), (argv, error)
        assert error.startswith(f"usage: ctr-trio {argv[0]}"), (argv, error)
    # Words that are a command's, not ids, are not held to the rule.
    started = await run_cli("--retry", "0", "--address", "127.0.0.1:1", "start", "-b", "/b",
                            "web", "/bin/sh")  # fmt: skip
    assert started.code == cli.EXIT_UNREACHABLE, started
    waited = await run_cli("--retry", "0", "--address", "127.0.0.1:1", "wait", "web", "42")
    assert waited.code == cli.EXIT_UNREACHABLE, waited


async def test_numbers_past_what_any_field_takes_are_usage_errors_naming_the_option() -> None:
    """update --memory 9999999999t (and any option's number past 2**63-1) went to the daemon,
    which refused the body without naming the field ('the request body holds an integer of
    23 digits'); a --timeout of 1e300 crashed the client (OverflowError from its socket)."""
    huge = "9" * 23
    errors = await usage_errors([
        (["update", "x", "--memory", "9999999999t"], "-m/--memory"),
        (["update", "x", "--pids-limit", huge], "--pids-limit"),
        (["update", "x", "--cpu-shares", huge], "-c/--cpu-shares"),
        (["update", "x", "--cpu-quota", "-" + huge], "--cpu-quota"),
        (["update", "x", "--cpu-period", huge], "--cpu-period"),
        (["update", "x", "--cpus", "1e30"], "--cpus"),
        (["kill", "x", "--pid", huge], "--pid"),
        (["attach", "x", "--pid", huge], "--pid"),
        (["wait", "x", huge], "PID"),
        (["logs", "x", "-n", "9" * 5000], "-n/--tail"),
        (["events", "-n", huge], "-n/--count"),
        (["migrate", "x", "--to", "127.0.0.1:1", "--pre-copy", huge], "--pre-copy"),
        (["exec", "-u", f"1:{huge}", "x", "--", "true"], "-u/--user"),
        (["rm", "x", "-t", "1e300"], "-t/--timeout"),
        (["checkpoint", "x", "c", "--timeout", "1e300"], "--timeout"),
        (["--retry", "1e300", "state"], "--retry"),
    ])  # fmt: skip
    assert all(" is out of range: " in err for err in errors), errors
    # The largest of all is still a number the command line takes (the daemon says which
    # field takes what: resources.pids: limit must be ...).
    parsed = cli.build_parser().parse_args(["update", "x", "--pids-limit", str(2**63 - 1)])
    assert parsed.pids_limit == cli.MAX_NUMBER == 2**63 - 1


async def test_cpus_past_the_daemon_s_machine_are_a_usage_error_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """``run --cpus 3`` on a machine of 2 CPUs started the container with a quota of 3 CPUs
    (the kernel takes any quota), and ``update --cpus 3`` set one; docker's daemon refuses
    them, ``Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available``. So does
    ctr-trio now, a usage error naming the option and the range of the daemon's machine
    (``machine.cpus``), before the start or the update; below 0.01 too. 0 stays no limit."""
    with trio.fail_after(60):
        available = (await client.get("/state")).json()["machine"]["cpus"]
        says = (
            f"error: argument --cpus: {{}} is out of range: the range of CPUs is from 0.01 to"
            f" {available:.2f}, as there are only {available} CPUs available"
        )
        for argv, given in [
            (["run", "-d", "--cpus", str(available + 1), "-b", str(bundle), "big"], available + 1),
            (["run", "-d", "--cpus", "0.005", "-b", str(bundle), "tiny"], 0.005),
            (["start", "--cpus", "1000", "-b", str(bundle), "big"], 1000),
        ]:
            refused = await ctr(*argv)
            assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), (argv, refused)
            assert says.format(f"{given:g}") in refused.err, (argv, refused.err)
        listed = (await client.get("/state")).json()["containers"]
        assert listed == [], listed  # none was started

        # The machine's count itself is in range, and so is 0, which lifts the limit.
        await ok(ctr, "run", "-d", "--cpus", str(available), "-b", str(bundle), "web")
        before = (await client.get("/containers/web")).json()["resources"]
        assert before["cpu"]["quota"] == available * commands.CPU_PERIOD, before
        for too_many in (str(available + 0.5), "0.001"):
            refused = await ctr("update", "web", "--cpus", too_many)
            assert refused.code == cli.EXIT_USAGE, refused
            assert says.format(too_many) in refused.err, refused.err
        assert (await client.get("/containers/web")).json()["resources"] == before
        await ok(ctr, "update", "web", "--cpus", "0.01")
        await ok(ctr, "update", "web", "--cpus", "0")
        after = (await client.get("/containers/web")).json()["resources"]
        assert after.get("cpu", {}).get("quota", -1) == -1, after
        # docker's update reads 0 as unset: nothing changes (before, the daemon's 400).
        await ok(ctr, "update", "web", "-m", "0", "-c", "0")
        assert (await client.get("/containers/web")).json()["resources"] == after


async def test_numbers_are_ascii_digits_only_as_the_daemon_reads_them() -> None:
    """`exec --user ٩` ran as uid 9: int() and float() read other scripts' digits (and white
    space around them, `_` between them). Every option's number is read as the daemon reads
    one (numbers.whole_number; a decimal alike): ASCII digits, else a usage error naming it."""
    users = ("\u0669", "\uff19", " 9", "9 ", "1_0", "\u0661:0", "0:\u0669", "+9", "0:-1")
    await usage_errors([(["exec", "-u", bad, "x", "--", "true"], "-u/--user") for bad in users])
    await usage_errors([
        (["update", "x", "--pids-limit", "\u0669"], "--pids-limit"),
        (["update", "x", "--cpu-shares", "1_024"], "-c/--cpu-shares"),
        (["update", "x", "--cpu-quota", " -1"], "--cpu-quota"),
        (["update", "x", "--cpu-period", "\u0661\u0660\u0660"], "--cpu-period"),
        (["update", "x", "--cpus", "\u0661.\u0665"], "--cpus"),
        (["update", "x", "--memory", "\u0666\u0664m"], "-m/--memory"),
        (["update", "x", "--memory", "6_4m"], "-m/--memory"),
        (["kill", "x", "--pid", "\u0669"], "--pid"),
        (["logs", "x", "-n", "\u0669"], "-n/--tail"),
        (["events", "-n", "\u0669"], "-n/--count"),
        (["stop", "x", "-t", "\u0663"], "-t/--timeout/--time"),
        (["rm", "x", "-t", "\u0663"], "-t/--timeout"),
        (["checkpoint", "x", "c", "--timeout", "1_0"], "--timeout"),
        (["--retry", "\u0663", "state"], "--retry"),
    ])  # fmt: skip
    # What they took before they take still.
    parsed = cli.build_parser().parse_args(
        ["update", "x", "--cpus", "1.5", "--memory", "64m", "--cpu-quota", "-1"]
    )
    assert (parsed.cpus, parsed.memory, parsed.cpu_quota) == (1.5, 64 * 2**20, -1)
    user = cli.build_parser().parse_args(["exec", "-u", "0009:0", "x", "true"]).user
    assert user == (9, 0)


async def test_unix_socket_address(
    start_daemon: Callable[..., Any],
    tmp_path: Path,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    socket = tmp_path / "api.sock"
    daemon: RunningDaemon = await start_daemon(listen=Listen(unix_path=socket))
    await ok(
        run_cli, "--address", f"unix:{socket}", "containers", "start", "u", "--bundle", str(bundle)
    )

    # The environment variable, when there is no --address.
    monkeypatch.setenv(cli.ENV_ADDRESS, f"unix:{socket}")
    assert [row["ID"] for row in table((await ok(run_cli, "containers", "list")).out)] == ["u"]

    # And the daemon's own name for its socket, from its "serving on" line.
    assert daemon.url == f"http://unix:{socket}"
    got = await ok(run_cli, "--address", daemon.url, "--json", "containers", "get", "u")
    assert run_status(got.json["state"]) == {"status": "running"}


async def test_docker_s_tcp_address(
    daemon: RunningDaemon, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker's ``-H`` and ``DOCKER_HOST`` name a daemon on TCP ``tcp://HOST:PORT``: it was a
    usage error, ``'tcp://127.0.0.1' is no host name or IP address``. Now it is ``HOST:PORT``;
    one with no port, or a unix socket after it, is still refused, naming the address."""
    assert daemon.url.startswith("http://127.0.0.1:")
    tcp = "tcp://" + daemon.url.removeprefix("http://")
    await ok(run_cli, "--address", tcp, "start", "t", "-b", str(bundle))
    monkeypatch.setenv(cli.ENV_ADDRESS, tcp)
    assert (await ok(run_cli, "ps", "-q")).out == "t\n"
    monkeypatch.delenv(cli.ENV_ADDRESS)
    for wrong in ("tcp://127.0.0.1", "tcp://unix:/run/x.sock", "tcp://"):
        refused = await run_cli("--address", wrong, "ps")
        assert refused.code == cli.EXIT_USAGE, refused
        assert f"argument --address: '{wrong}' is not tcp://HOST:PORT\n" in refused.err, refused


async def test_bench_without_its_module(ctr: Ctr, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the bench module cannot be imported, bench says so and the other commands still work."""
    import containerd_trio as package

    # None in sys.modules makes the import fail; and a bench imported earlier in this process
    # must not be found as an attribute of the package instead.
    monkeypatch.setitem(sys.modules, "containerd_trio.bench", None)
    monkeypatch.delattr(package, "bench", raising=False)
    result = await ctr("bench")
    assert result.code == 1
    assert result.err.startswith("ctr-trio: bench is not available")
    assert (await ok(ctr, "containers", "list")).out.split() == [*cli.CONTAINER_HEADERS]


# --- the client underneath: what a call imports, TLS -------------------------------------------


async def test_a_program_that_cannot_run_exits_127_or_126_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """exec, run and start of a program that is not there exit 127, of one that cannot be
    executed (or in a cwd that is not there) 126, as docker's do (scripts test for them); the
    daemon's words on stderr."""
    await start_container(client, "box", make_bundle(FOREVER))
    for command, code in [
        (["exec", "box", "--", "nosuch"], 127),
        (["exec", "-d", "box", "--", "/no/such/program"], 127),
        (["exec", "box", "--", "/etc"], 126),
        (["exec", "box", "--", "/etc/passwd/x"], 127),  # docker's daemon's for ENOTDIR
        (["exec", "box", "--", "/" + "a" * 300], 126),  # a name too long: it cannot run
        (["run", "gone", "-b", str(make_bundle(["nosuch"]))], 127),
        (["start", "gone", "-b", str(make_bundle(["/etc/passwd"]))], 126),
    ]:
        result = await ctr(*command)
        assert result.code == code, (command, result)
        assert result.err.startswith("ctr-trio: cannot run '"), result.err
    # A working directory that is not there: 126, as docker exec -w's.
    result = await ctr("exec", "-w", "/nonexistent", "box", "true")
    assert (result.code, result.err) == (
        126,
        "ctr-trio: cannot use cwd '/nonexistent' in container 'box': no such file or directory\n",
    )
    assert (await ctr("exec", "box", "--", "sh", "-c", "exit 3")).code == 3
    assert (await client.get("/containers/gone")).status_code == 404


async def test_a_process_word_that_is_not_utf8_is_a_usage_error(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A command word, an -e or a -w that is not UTF-8 (Python holds its bytes as lone
    surrogates) cannot go in the API's JSON: it was sent all the same, and the daemon's 400
    blamed "the request body is not valid JSON text", exit 1. A usage error naming the word
    now, before any request; UTF-8 beyond ASCII still goes."""
    await start_container(client, "box", make_bundle(FOREVER))
    for command, where in [
        (["exec", "box", "echo", "ok", "\udcff\udcfe"], "the command's word 3 (b'\\xff\\xfe')"),
        (["exec", "-e", "X=\udcff", "box", "env"], "-e (b'X=\\xff')"),
        (["exec", "-w", "/\udcfe", "box", "pwd"], "-w (b'/\\xfe')"),
        (
            ["run", "-b", str(make_bundle()), "new", "echo", "\udcff"],
            "the command's word 2 (b'\\xff')",
        ),
    ]:
        result = await ctr(*command)
        assert result.code == 2, (command, result)
        assert f"error: {where} is not UTF-8: the API carries" in result.err, result.err
    assert len((await client.get("/containers/box")).json()["processes"]) == 1
    assert (await client.get("/containers/new")).status_code == 404
    result = await ctr("exec", "box", "echo", "caf\u00e9")
    assert (result.code, result.out) == (0, "caf\u00e9\n")


async def test_a_run_the_daemon_refuses_exits_125_as_docker_run(
    ctr: Ctr, client: httpx.AsyncClient, tmp_path: Path, make_bundle: BundleFactory
) -> None:
    """docker run exits 125 when the daemon refuses the container ("if the error is with
    Docker daemon itself"), so that a script tells it from the process's own exit 1; ctr-trio
    run exited 1 for both. docker start's refusals stay 1, and so do ours."""
    await start_container(client, "box", make_bundle(FOREVER))
    for command in (
        ["run", "-d", "-b", str(make_bundle(FOREVER)), "box"],  # the id is taken
        ["run", "-b", str(tmp_path / "nosuch"), "gone"],  # no bundle there
    ):
        refused = await ctr(*command)
        assert (refused.code, refused.out) == (125, ""), (command, refused)
        assert refused.err.startswith("ctr-trio: "), refused.err
    started = await ctr("start", "-b", str(tmp_path / "nosuch"), "gone")
    assert started.code == cli.EXIT_ERROR, started
    exited = await ctr("run", "-b", str(make_bundle(FOREVER)), "once", "sh", "-c", "exit 1")
    assert exited.code == 1, exited


async def test_a_run_without_a_daemon_exits_125_as_docker_run(tmp_path: Path) -> None:
    """A run with no daemon to start it exited 3, which a script reads as the process's own
    exit 3 (found in a user's trial of the CLI, 2026-12-06): no container ran, 125, as docker's
    run exits when it cannot connect; also where --cpus asks the daemon's CPUs first. start -b
    stays 3, as every other command."""
    nowhere = ["--retry", "0", "--address", f"unix:{tmp_path}/nobody.sock"]
    bundle = str(tmp_path / "bundle")  # never read: the daemon reads it
    for argv in (
        ["run", "-b", bundle, "once"],
        ["run", "-d", "-b", bundle, "web"],
        ["run", "--cpus", "1.5", "-b", bundle, "once"],
    ):
        with trio.fail_after(10):
            result = await run_cli(*nowhere, *argv)
        assert (result.code, result.out) == (cli.EXIT_RUN_REFUSED, ""), (argv, result)
        assert result.err.startswith("ctr-trio: cannot reach the daemon at unix:"), result.err
        assert result.err.count("\n") == 1, result.err
    with trio.fail_after(10):
        started = await run_cli(*nowhere, "start", "-b", bundle, "web")
    assert started.code == cli.EXIT_UNREACHABLE, started


async def test_run_name_gives_the_id_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's run --name NAME, in place of the ID (it was a usage error, unrecognized
    arguments): every word after the options is then the command's, its options too, as
    docker's after its image. An id given twice (ID, then --name among the options after it),
    or not at all, is a usage error before any request, as is a NAME that is no id."""
    bundle = str(make_bundle(FOREVER))
    said = await ok(ctr, "run", "--name", "once", "-b", bundle, "sh", "-c", "echo hi $0", "-b")
    assert said.out == "hi -b\n"
    detached = await ok(ctr, "--json", "run", "-d", "--name=web", "-b", bundle)
    assert detached.json["id"] == "web"
    assert detached.json["processes"][0]["args"] == list(FOREVER)  # the bundle's
    ids = [c["id"] for c in (await client.get("/state")).json()["containers"]]
    assert ids == ["once", "web"]

    for argv, message in [
        (["run", "box", "--name", "other", "-b", bundle], "--name other and ID box both name"),
        (["run", "-b", bundle], "the following arguments are required: ID (or --name NAME)"),
        (["run", "--name", "a/b", "-b", bundle], "argument --name: invalid container id 'a/b'"),
        (["run", "-b", bundle, "a/b"], "argument ID: invalid container id 'a/b'"),
        (["start", "--name", "x", "-b", bundle, "x"], "unrecognized arguments: --name"),
    ]:
        refused = await ctr(*argv)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), (argv, refused)
        assert message in refused.err, (argv, refused.err)
    assert [c["id"] for c in (await client.get("/state")).json()["containers"]] == ids


async def test_detach_keys_of_the_environment_that_are_no_keys_are_refused_before_any_request(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CTR_TRIO_DETACH_KEYS is read as --detach-keys is, with the command line. It was read
    once the session began, after the start or the exec: `run --rm` exited 2 and left its
    container running for good (started without autoRemove, never handed to the daemon), and
    `exec` left its process running, unseen."""
    await start_container(client, "box", make_bundle(FOREVER))
    monkeypatch.setenv("CTR_TRIO_DETACH_KEYS", "bogus")
    for command in (
        ["run", "--rm", "-b", str(make_bundle(FOREVER)), "once"],
        ["exec", "box", "sleep", "100000"],
        ["attach", "--sig-proxy=false", "box"],
    ):
        result = await ctr(*command)
        # Nothing was started: no container, no process.
        assert (await client.get("/containers/once")).status_code == 404, command
        assert len((await client.get("/containers/box")).json()["processes"]) == 1, command
        assert result.code == cli.EXIT_USAGE, (command, result)
        assert f"usage: ctr-trio {command[0]}" in result.err, result.err
        assert "$CTR_TRIO_DETACH_KEYS: 'bogus' is not a key" in result.err, result.err
        assert result.out == ""
    # A command that takes no detach keys does not read them; an empty value is none.
    assert (await ctr("exec", "-d", "--detach-keys", "", "box", "true")).code == 0
    monkeypatch.setenv("CTR_TRIO_DETACH_KEYS", "")
    assert (await ctr("exec", "box", "true")).code == 0
    assert (await ctr("top", "box")).code == 0


async def test_detach_keys_that_are_no_keys_are_told_with_every_form_taken(tmp_path: Path) -> None:
    """A ``--detach-keys`` that is no key was told ``give a character or ctrl-<letter>``,
    fewer forms than it takes: docker's ``ctrl-@``, ``ctrl-[``, ``ctrl-\\``, ``ctrl-]``,
    ``ctrl-^`` and ``ctrl-_`` too. The usage error names them all (``attach``, ``run`` and
    ``start`` alike, before any request), and each form it names is taken."""
    nowhere = ["--address", f"unix:{tmp_path / 'none.sock'}", "--retry", "0"]
    said = (
        "'ctrl-1' is not a key: give an ASCII character, ctrl-<letter>, ctrl-@, ctrl-[,"
        " ctrl-\\, ctrl-], ctrl-^ or ctrl-_"
    )
    for command, rest in (
        ("attach", ["box"]), ("run", ["-b", str(tmp_path), "box"]), ("start", ["-a", "box"])
    ):  # fmt: skip
        refused = await run_cli(*nowhere, command, "--detach-keys", "ctrl-1", *rest)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), (command, refused)
        assert refused.err.endswith(f"error: argument --detach-keys: {said}\n"), refused.err
    taken = interactive.parse_detach_keys("x,ctrl-P,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")
    assert taken == b"x\x10\x00\x1b\x1c\x1d\x1e\x1f"


async def test_one_call_loads_argparse_and_the_client_only(daemon: RunningDaemon) -> None:
    """A ctr-trio call pays for every import: no Trio, no TLS, nothing of the daemon."""
    script = (
        "import sys\n"
        "from containerd_trio.client.cli import run\n"
        f"code = run(['--address', {daemon.url!r}, 'containers', 'list'])\n"
        "print(code, ' '.join(sorted(sys.modules)))\n"
    )
    result = await trio.run_process(
        [sys.executable, "-c", script], capture_stdout=True, capture_stderr=True
    )
    code, modules = result.stdout.decode().splitlines()[-1].split(" ", 1)
    loaded = set(modules.split())
    assert code == "0", result.stderr
    heavy = {"trio", "quart", "quart_trio", "hypercorn", "attrs", "cattrs", "httpx", "ssl"}
    assert loaded & heavy == set()
    ours = {name for name in loaded if name.startswith("containerd_trio")}
    assert ours <= {
        "containerd_trio",
        "containerd_trio.listen",
        "containerd_trio.timestamps",  # "5 seconds ago"
        "containerd_trio.errors",  # quoted(), for an address's message; it imports nothing
        "containerd_trio.event_types",  # an unknown exit's status, for wait; imports nothing
        *(f"containerd_trio.client{part}" for part in ("", ".cli", ".http", ".errors")),
        *(f"containerd_trio.client.{part}" for part in ("types", "protocol", "routes")),
        *(f"containerd_trio.client.{part}" for part in ("blocking", "commands", "output")),
        "containerd_trio.client.about",  # version and info: it imports nothing more
    }, ours


async def test_tls_with_a_ca_and_a_client_certificate(
    start_daemon: Any,
    pki: Path,  # noqa: F811 - the fixture imported above
) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="127.0.0.1", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    assert daemon.url.startswith("https://127.0.0.1:")
    tls = ["--address", daemon.url, "--tls-ca", str(pki / "ca.pem")]
    mine = ["--tls-cert", str(pki / "client.pem"), "--tls-key", str(pki / "client.key")]
    assert (await ok(run_cli, *tls, *mine, "containers", "list")).out.split() == [
        *cli.CONTAINER_HEADERS
    ]
    # Without a client certificate the daemon hangs up once the handshake is done.
    stranger = await run_cli("--retry", "0", *tls, "state")
    assert (stranger.code, stranger.out) == (cli.EXIT_UNREACHABLE, "")
    assert stranger.err.startswith(f"ctr-trio: lost the connection to the daemon at {daemon.url}")
    # Without the CA the daemon's certificate is not trusted.
    untrusted = await run_cli("--retry", "0", "--address", daemon.url, *mine, "state")
    assert untrusted.code == cli.EXIT_UNREACHABLE
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.err


async def test_tls_files_that_cannot_be_used_are_told_at_once_as_ours(
    pki: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """A --tls-ca that is not there was the daemon's fault: tried again for 15 s as a missing
    socket file is (ENOENT), then ``cannot reach the daemon at https://...: [Errno 2] No such
    file or directory``, exit 3. The files are ours: named, exit 1 at once, as docker's
    ``could not read CA certificate`` is, with something listening all along. (A listener
    that accepts nothing is enough: the context is built once the TCP connection is made, the
    kernel's backlog makes it, and no TLS byte is ever sent.)"""
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    ca = str(pki / "ca.pem")
    async with listener:
        for options, told in [
            (["--tls-ca", str(tmp_path / "nope.pem")], f"--tls-ca {tmp_path / 'nope.pem'}: "),
            (["--tls-ca", str(not_pem)], f"--tls-ca {not_pem}: "),
            (["--tls-ca", ca, "--tls-cert", str(not_pem)], f"--tls-cert {not_pem}: "),
            (
                ["--tls-ca", ca, "--tls-cert", str(pki / "client.pem"), "--tls-key", str(not_pem)],
                f"--tls-cert {pki / 'client.pem'} and --tls-key {not_pem}: ",
            ),
        ]:
            with trio.fail_after(5):  # the default --retry: nothing is tried again
                result = await run_cli("--address", f"https://127.0.0.1:{port}", *options, "state")
            assert (result.code, result.out) == (cli.EXIT_ERROR, ""), (options, result)
            assert result.err.startswith(f"ctr-trio: cannot use {told}"), (options, result.err)
            assert "\n" not in result.err.rstrip("\n"), result.err


# --- the daily commands, as docker users type them ----------------------------------------------

BUSY = ("sh", "-c", "while :; do :; done")


def busy_bundle(make_bundle: BundleFactory) -> Path:
    """A bundle whose shell spins in a loop, held to a tenth of a CPU by its config's quota:
    a CPU % well above a sleeping one's, without a core taken from the suite's other tests
    for as long as the test runs (until 2026-12-06 it spun unbounded)."""

    def a_tenth_of_a_cpu(config: dict[str, Any]) -> None:
        config["linux"].setdefault("resources", {})["cpu"] = {"quota": 10000, "period": 100000}

    return make_bundle(BUSY, edit=a_tenth_of_a_cpu)


async def test_aliases_and_short_flags(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    assert (await ok(ctr, "start", "web", "-b", str(bundle), "-l", "team=infra")).out.startswith(
        "started web (pid "
    )
    listed = (await ok(ctr, "containers", "list")).out
    for argv in (["ps"], ["ls"], ["containers", "ls"], ["containers", "ps"]):
        assert (await ok(ctr, *argv)).out == listed, argv
    assert (await client.get("/containers/web")).json()["labels"] == {"team": "infra"}
    # -l KEY alone is KEY with an empty value, as docker's --label (it was a usage error).
    await ok(ctr, "run", "-d", "flagged", "-b", str(bundle), "-l", "canary", "-l", "tier=")
    assert (await client.get("/containers/flagged")).json()["labels"] == {"canary": "", "tier": ""}
    assert (await ok(ctr, "ps", "-q", "-f", "label=canary")).out == "flagged\n"
    assert (await ctr("start", "x", "-b", str(bundle), "-l", "=v")).code == cli.EXIT_USAGE
    await ok(ctr, "rm", "-f", "flagged")

    since = now()
    pid = (await client.get("/containers/web")).json()["processes"][0]["pid"]
    assert (await ok(ctr, "kill", "web", "-s", "KILL")).out == "sent KILL to web\n"
    assert await wait_exit(client, "web", pid, since) == 128 + signal.SIGKILL
    # -n for events and logs, as docker's --tail is -n.
    assert (await ok(ctr, "events", "--since", since, "-n", "1")).out.split()[1:3] == [
        "exit",
        "web",
    ]
    await ok(ctr, "start", "talker", "-b", str(make_bundle(LOGGING)))
    await ctr("logs", "talker", "-f")  # to its end
    assert (await ok(ctr, "logs", "talker", "-n", "1")).out == "three\n"
    assert (await ok(ctr, "containers", "rm", "web", "-t", "0")).out == "deleted web\n"
    assert (await ok(ctr, "containers", "rm", "-f", "talker")).out == "deleted talker\n"
    assert (await client.get("/state")).json()["containers"] == []


async def test_rm_refuses_a_live_container_unless_forced_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker's rm refuses a running or paused container without -f (``cannot remove
    container "/web": container is running: stop the container before removing or force
    remove``, exit 1). Until 2026-12-06 ``ctr-trio rm`` stopped it (its stop signal, its
    grace, SIGKILL) and removed it, log and all: a docker user's rm of the wrong id killed
    it. Of several ids, each refused one is said on stderr, the others removed, exit 1; the
    refused ones run on, the same inits. ``rm -f`` still kills and removes, and ``containers
    delete`` (the 2015 ctr's, and its ``containers rm``) still stops and removes. ``rm -t``
    without -f is a usage error: it stops nothing."""
    pids: dict[str, int] = {}
    for name in ("o3-web", "o3-frozen"):
        started = await ok(ctr, "--json", "start", name, "-b", str(bundle))
        pids[name] = started.json["processes"][0]["pid"]
    await ok(ctr, "pause", "o3-frozen")
    since = now()
    done = await ok(ctr, "--json", "start", "o3-done", "-b", str(make_bundle(["true"])))
    await wait_exit(client, "o3-done", done.json["processes"][0]["pid"], since)

    removed = await ctr("rm", "o3-web", "o3-done", "o3-frozen")
    assert (removed.code, removed.out) == (cli.EXIT_ERROR, "deleted o3-done\n"), removed
    assert removed.err == (
        f"ctr-trio: {not_removable('o3-web', 'running')}\n"
        f"ctr-trio: {not_removable('o3-frozen', 'paused')}\n"
    )
    one = await ctr("--json", "rm", "o3-web")
    assert (one.code, one.out) == (cli.EXIT_ERROR, ""), one
    for name, status in (("o3-web", "running"), ("o3-frozen", "paused")):
        got = (await client.get(f"/containers/{name}")).json()
        assert (got["state"]["status"], got["processes"][0]["pid"]) == (status, pids[name])
        assert pid_alive(pids[name])
    assert (await client.get("/containers/o3-done")).status_code == 404

    usage = await ctr("rm", "-t", "5", "o3-web")
    assert usage.code == cli.EXIT_USAGE and "rm -t: rm removes stopped containers only" in usage.err
    assert (await client.get("/containers/o3-web")).json()["state"]["status"] == "running"

    assert (await ok(ctr, "rm", "-f", "o3-frozen")).out == "deleted o3-frozen\n"
    deleted = await ok(ctr, "containers", "delete", "o3-web", "-t", "0.2")
    assert deleted.out == "deleted o3-web\n"
    assert (await client.get("/state")).json()["containers"] == []
    # containers rm is the group's delete too: it stops a live one.
    await ok(ctr, "start", "o3-web", "-b", str(bundle))
    assert (await ok(ctr, "containers", "rm", "o3-web", "-t", "0")).out == "deleted o3-web\n"


async def test_rm_of_a_daemon_without_status_stopped_refuses_a_live_container_itself(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon from before ``DELETE ?status=stopped`` answers it 400 ``unknown query
    parameter``: ``rm`` then reads the container's state and refuses a live one itself, in
    the daemon's words, and removes a stopped one with the plain DELETE. (Such a daemon is
    stood in for by a parameter this one does not know either.)"""

    def older(container_id: str) -> Request:
        path = f"/containers/{container_id}"
        return make_request("DELETE", path, params={"o3-unknown-to-it": "stopped"})

    monkeypatch.setattr(client_routes, "delete_stopped", older)
    started = await ok(ctr, "--json", "start", "o3-web", "-b", str(bundle))
    pid = started.json["processes"][0]["pid"]
    refused = await ctr("rm", "o3-web")
    assert (refused.code, refused.out) == (cli.EXIT_ERROR, ""), refused
    assert refused.err == f"ctr-trio: {not_removable('o3-web', 'running')}\n"
    got = (await client.get("/containers/o3-web")).json()
    assert (got["state"]["status"], got["processes"][0]["pid"]) == ("running", pid)
    since = now()
    await ok(ctr, "kill", "o3-web")
    await wait_exit(client, "o3-web", pid, since)
    assert (await ok(ctr, "rm", "o3-web")).out == "deleted o3-web\n"
    assert (await client.get("/containers/o3-web")).status_code == 404


async def test_several_ids_at_once(ctr: Ctr, client: httpx.AsyncClient, bundle: Path) -> None:
    for name in ("a", "b"):
        await ok(ctr, "start", name, "--bundle", str(bundle))
    assert (await ok(ctr, "pause", "a", "b")).out == "a is paused\nb is paused\n"
    resumed = await ok(ctr, "--json", "resume", "a", "b")
    assert [c["state"]["status"] for c in resumed.json] == ["running", "running"]

    # One that fails does not stop the others; it is said on stderr, and the exit code is 1.
    killed = await ctr("kill", "a", "ghost", "b", "--signal", "KILL")
    assert killed.code == cli.EXIT_ERROR
    assert killed.out == "sent KILL to a\nsent KILL to b\n"
    assert killed.err.count("\n") == 1 and "ghost" in killed.err

    deleted = await ok(ctr, "--json", "rm", "a", "b", "--force")  # killed, maybe not yet ended
    assert [c["id"] for c in deleted.json] == ["a", "b"]
    assert (await client.get("/state")).json()["containers"] == []


async def test_json_of_one_id_that_failed_is_nothing(ctr: Ctr, bundle: Path) -> None:
    """``--json rm nope`` printed ``[]`` on stdout, where one id that succeeds prints its
    container: a script reading stdout got an array for one id. Now nothing, as docker prints
    nothing there (the error on stderr, exit 1); several ids keep the array of those done."""
    one_id = [["rm", "nope"], ["kill", "nope"], ["pause", "nope"], ["resume", "nope"]]
    one_id += [["update", "nope", "--pids-limit", "10"], ["containers", "delete", "nope"]]
    for argv in one_id:
        failed = await ctr("--json", *argv)
        assert (failed.code, failed.out) == (cli.EXIT_ERROR, ""), (argv, failed)
        assert failed.err.startswith("ctr-trio: ") and "nope" in failed.err, (argv, failed)
    await ok(ctr, "start", "a", "--bundle", str(bundle))
    paused = await ctr("--json", "pause", "nope", "a")
    assert (paused.code, [c["id"] for c in paused.json]) == (cli.EXIT_ERROR, ["a"])
    assert paused.err.count("\n") == 1, paused
    neither = await ctr("--json", "resume", "nope", "gone")
    assert (neither.code, neither.json) == (cli.EXIT_ERROR, [])
    assert (await ok(ctr, "--json", "resume", "a")).json["id"] == "a"  # one: its container


async def test_list_filters_quiet_and_formats(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    since = now()
    await ok(
        ctr, "start", "web", "-b", str(bundle), "-l", "team=infra", "-l", "tier=front",
        "-l", "owners=ann,bob",
    )  # fmt: skip
    job = await ok(
        ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])),
        "-l", "team=data",
    )  # fmt: skip
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    await ok(ctr, "start", "idle", "-b", str(bundle))
    await ok(ctr, "pause", "idle")

    async def ids(*argv: str) -> list[str]:
        return (await ok(ctr, "ps", "-a", "-q", *argv)).out.split()

    assert await ids() == ["web", "job", "idle"]
    assert await ids("-f", "status=running") == ["web"]
    assert await ids("--filter", "status=running,status=paused") == ["web", "idle"]  # either
    assert await ids("-f", "label=team") == ["web", "job"]
    assert await ids("-f", "label=team=infra") == ["web"]
    assert await ids("-f", "label=team", "-f", "status=stopped") == ["job"]  # both
    assert await ids("-f", "id=i") == ["idle"]
    # A comma splits pairs only where a key and its = follow: a value may hold one, as
    # docker's -f (one pair, whole) takes it. It was split there too, a usage error ('bob'
    # is not KEY=VALUE), so a label -l set could not be looked for.
    assert await ids("-f", "label=owners=ann,bob") == ["web"]
    assert await ids("-f", "label=owners=ann,bob,status=running") == ["web"]
    assert await ids("-f", "label=owners=ann,bob,status=paused") == []  # both keys
    assert await ids("-f", "name=^(w|i){1,2}") == ["web", "idle"]
    # docker's --no-trunc, which scripts write (docker ps -aq --no-trunc): nothing is cut
    # here, so it changes nothing; it was a usage error.
    assert await ids("--no-trunc") == ["web", "job", "idle"]
    # The table's times ("just now", "1 second ago") may change between two reads under load:
    # compared once the plain table read before and after it is the same.
    for _ in range(5):
        before, untruncated, after = [
            (await ok(ctr, "ps", *argv)).out for argv in ((), ("--no-trunc",), ())
        ]
        if before == after:
            break
    assert untruncated == before

    assert (await ok(ctr, "ps", "--format", "ids", "-f", "status=stopped")).out == "job\n"
    state = (await client.get("/state")).json()["containers"]
    assert (await ok(ctr, "--json", "ls", "-a")).json == state
    assert (await ok(ctr, "--json", "ls", "-f", "status=paused")).json == [state[2]]
    templated = await ok(
        ctr, "ls", "-a", "--format", r"{{.ID}}\t{{.State}}/{{.ExitStatus}} {{.Labels}}"
    )
    assert templated.out.splitlines() == [
        "web\trunning/ owners=ann,bob,team=infra,tier=front",
        "job\tstopped/3 team=data",
        "idle\tpaused/ ",
    ]
    table_rows = table((await ok(ctr, "ls", "-a", "--format", "table", "-f", "label=team")).out)
    assert [row["STATUS"] for row in table_rows] == ["running", "stopped (exit 3)"]

    for bad in (["-f", "colour=red"], ["-f", "status"], ["--format", "{{.Nope}}"]):
        refused = await ctr("ls", *bad)
        assert refused.code == cli.EXIT_USAGE, bad
        assert refused.err.startswith("usage: ctr-trio ps"), bad


async def test_ps_quiet_wins_over_format_with_docker_s_warning(ctr: Ctr, bundle: Path) -> None:
    """docker's ps since 25: -q prints the ids whatever --format says (a template, table,
    json), and warns on stderr in its words; -q with our own ids keyword, or alone, does not."""
    await ok(ctr, "start", "web", "-b", str(bundle))
    for form in ("{{.State}} {{.PID}}", "table {{.Status}}", "json", "table"):
        quiet = await ctr("ps", "-q", "--format", form)
        assert (quiet.code, quiet.out) == (0, "web\n"), form
        assert quiet.err == commands.QUIET_OVER_FORMAT + "\n", form
    assert commands.QUIET_OVER_FORMAT == (
        "WARNING: Ignoring custom format, because both --format and --quiet are set."
    )
    assert (await ok(ctr, "ps", "-q", "--format", "ids")).out == "web\n"
    assert (await ok(ctr, "ps", "-q")).out == "web\n"


async def test_list_refuses_a_status_no_container_has(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A status no container has (a typo, a case) listed nothing, as if none had it, with exit
    0: a usage error that names the statuses there are. docker's word for a stopped container,
    status=exited, was one of them: it now lists the stopped ones, as docker's does."""
    since = now()
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    for bad in (["-f", "status=Exited"], ["-f", "status=stopped,status=Stopped"]):
        refused = await ctr("ps", "-q", *bad)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), bad
        assert refused.err.splitlines()[-1].endswith(
            ": a status is one of created, running, paused, stopped, restarting, exited"
        ), refused.err
    assert (await ok(ctr, "ps", "-q", "-f", "status=stopped")).out == "job\n"
    assert (await ok(ctr, "ps", "-q", "-f", "status=exited")).out == "job\n"
    # The client's list is the daemon's (which it does not import, to start fast).
    assert set(commands.STATUSES) == {status.value for status in Status}


async def test_list_takes_dockers_filters_and_newest(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker ps's exited=N (stopped with that status), name=REGEXP (found in the id), -n N and
    -l (the N, or the one, created last), which were usage errors."""
    since = now()
    started = {}
    for name, status in (("job-a", 3), ("job-b", 0), ("job-c", 3)):
        job = make_bundle(["sh", "-c", f"exit {status}"])
        started[name] = await ok(ctr, "--json", "start", name, "-b", str(job))
    await ok(ctr, "start", "web", "-b", str(bundle))
    for name, result in started.items():
        await wait_exit(client, name, result.json["processes"][0]["pid"], since)

    async def ids(*argv: str) -> list[str]:
        return (await ok(ctr, "ps", "-a", "-q", *argv)).out.split()

    assert await ids("-f", "exited=3") == ["job-a", "job-c"]
    assert await ids("-f", "exited=0") == ["job-b"]
    assert await ids("-f", "exited=0,exited=03") == ["job-a", "job-b", "job-c"]
    assert await ids("-f", "exited=1") == []
    assert await ids("-f", "name=ob-") == ["job-a", "job-b", "job-c"]
    assert await ids("-f", "name=e", "-f", "status=running") == ["web"]
    # docker's name filter is a regular expression found in the name (moby's filters.Match),
    # the name with docker's slash before it or not: scripts' exact name is ^web$ or ^/web$.
    # It was a part of the name, as text: these listed nothing.
    assert await ids("-f", "name=^job-b$") == ["job-b"]
    assert await ids("-f", "name=^/web$") == ["web"]
    assert await ids("-f", "name=job-[ac]") == ["job-a", "job-c"]
    assert await ids("-f", "name=^job-a$", "-f", "name=^we") == ["job-a", "web"]
    assert await ids("-f", "name=^ob-") == []
    assert await ids("-n", "2") == ["job-c", "web"]
    assert await ids("--last", "0") == ["job-a", "job-b", "job-c", "web"]  # docker's: all
    assert await ids("-n", "2", "-f", "status=stopped") == ["job-b", "job-c"]  # of those listed
    assert await ids("-l") == ["web"]
    assert await ids("--latest", "-f", "exited=3") == ["job-c"]
    latest = await ok(ctr, "--json", "ps", "-l")
    assert [c["id"] for c in latest.json] == ["web"]
    for bad in (["-f", "exited=x"], ["-f", "exited=-1"], ["-n", "-1"], ["-n", "1", "-l"]):
        refused = await ctr("ps", *bad)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), bad
    # A pattern that is none, which docker's daemon skips (listing nothing), is said.
    refused = await ctr("ps", "-f", "name=job-[")
    assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), refused
    assert refused.err.splitlines()[-1] == (
        "ctr-trio ps: error: argument -f/--filter: 'name=job-[': a name filter is a regular"
        " expression, and this one is not: unterminated character set at position 4"
    ), refused.err


async def test_ps_lists_the_live_containers_as_dockers(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """``ps`` (and ``ls``) listed every container, stopped ones too, and took ``-a`` for the
    habit, changing nothing (the 2015 ctr's list). Now docker's ps: the running and paused
    ones; ``-a`` all; ``-n``/``-l`` all states (docker's "includes all states"), a status
    filter what it names (docker's daemon takes it as -a), ``exited=N`` what docker's lists
    (nothing without -a). ``containers list``, the 2015 ctr's command, lists all still."""
    since = now()
    await ok(ctr, "start", "web", "-b", str(bundle))
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    await ok(ctr, "start", "idle", "-b", str(bundle))
    await ok(ctr, "pause", "idle")

    async def ids(*argv: str) -> list[str]:
        return (await ok(ctr, *argv, "-q")).out.split()

    everyone = ["web", "job", "idle"]
    for ps in ("ps", "ls"):
        assert await ids(ps) == ["web", "idle"], ps
        assert await ids(ps, "-a") == everyone, ps
        assert await ids(ps, "--all") == everyone, ps
        assert [row["ID"] for row in table((await ok(ctr, ps)).out)] == ["web", "idle"]
        assert [c["id"] for c in (await ok(ctr, "--json", ps)).json] == ["web", "idle"]
        listed = (await ok(ctr, ps, "-a", "--format", "json")).out.splitlines()
        assert [json.loads(line)["ID"] for line in listed] == everyone
        assert (await ok(ctr, ps, "--format", "{{.ID}}")).out == "web\nidle\n"
    assert await ids("ps", "--last", "0") == ["web", "idle"]  # docker's "no limit"
    assert await ids("ps", "-n", "2") == ["job", "idle"]  # all states
    assert await ids("ps", "-l", "-f", "label=nope") == []
    assert await ids("ps", "-n", "3") == everyone
    assert await ids("ps", "--latest") == ["idle"]
    assert await ids("ps", "-n", "1", "-f", "status=stopped") == ["job"]
    assert await ids("ps", "-f", "status=exited") == ["job"]
    assert await ids("ps", "-f", "status=stopped") == ["job"]
    assert await ids("ps", "-f", "status=running,status=stopped") == ["web", "job"]
    assert await ids("ps", "-f", "status=created") == []
    # docker's exited=N is no status filter: without -a, the stopped stay out.
    assert await ids("ps", "-f", "exited=3") == []
    assert await ids("ps", "-a", "-f", "exited=3") == ["job"]
    # The 2015 ctr's group keeps its list of every container, -a or not.
    for group in (["containers", "list"], ["containers", "ls"], ["containers", "ps"]):
        assert await ids(*group) == everyone, group
        assert await ids(*group, "-a") == everyone, group


async def test_list_format_json_is_a_line_per_container_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``ps --format json`` prints ``{{json .}}`` of each container, a line each
    (``docker ps --format json | jq .Names``); ours printed the daemon's array, as ``--json``
    does, which stays the array of the daemon's documents."""
    since = now()
    await ok(ctr, "start", "web", "-b", str(make_bundle()), "-l", "team=infra")
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)

    def steady(text: str) -> str:
        # Created and RunningFor say how long ago ("1 second ago"): two runs a second apart
        # differ there (a review's: the test failed now and then).
        return re.sub(r'"(Created|RunningFor)":"[^"]*"', r'"\1":""', text)

    lines = (await ok(ctr, "ps", "-a", "--format", "json")).out.splitlines()
    rows = [json.loads(line) for line in lines]
    templated = (await ok(ctr, "ps", "-a", "--format", "{{json .}}")).out.splitlines()
    # docker's formatter reads "json" so
    assert [steady(line) for line in lines] == [steady(line) for line in templated]
    assert [(r["ID"], r["Names"], r["State"], r["Labels"]) for r in rows] == [
        ("web", "web", "running", "team=infra"),
        ("job", "job", "stopped", ""),
    ]
    assert rows[1]["Status"] == "stopped (exit 3)"
    # The scripts' form, documents and all: --json, and --format json under it too.
    state = (await client.get("/state")).json()["containers"]
    assert (await ok(ctr, "--json", "ps", "-a")).json == state
    again = (await ok(ctr, "--json", "ps", "-a", "--format", "json")).out
    assert steady(again) == steady("\n".join(lines) + "\n")


async def test_list_format_is_the_template_inspect_reads(ctr: Ctr, bundle: Path) -> None:
    """ps --format read ``{{.Field}}`` alone, by its own reader, and refused docker's
    ``{{json .}}``, ``{{json .Labels}}``, ``{{.ID | json}}``: now inspect's templates
    (template.py) on each container's fields, as docker's ps. An unknown field, or a template
    that fits no container (a key of a field, all strings), is still a usage error."""
    await ok(ctr, "start", "web", "-b", str(bundle), "-l", "team=infra")
    shown = await ok(ctr, "ps", "--format", r"{{json .Labels}}\t{{.ID | json}}")
    assert shown.out == '"team=infra"\t"web"\n'
    trimmed = await ok(ctr, "ps", "--format", '{{.ID}}  {{- "/" -}}  {{index . "State"}}')
    assert trimmed.out == "web/running\n"
    fields = json.loads((await ok(ctr, "ps", "--format", "{{json .}}")).out)
    assert list(fields) == [
        "ID", "Names", "Status", "State", "ExitStatus", "PID", "Processes", "Created",
        "CreatedAt", "StartedAt", "FinishedAt", "Bundle", "Labels", "Command", "RunningFor",
    ]  # fmt: skip
    assert (fields["ID"], fields["State"], fields["Labels"]) == ("web", "running", "team=infra")
    # The run's start, RFC 3339 as CreatedAt (a start's are the same); no end while it runs.
    assert (fields["StartedAt"], fields["FinishedAt"]) == (fields["CreatedAt"], "")
    # A table's header is the template on the fields' names, through docker's header
    # functions: json leaves the name as it is (it was headed "ID", quotes and all).
    headed = await ok(ctr, "ps", "--format", r"table {{.ID | json}}\t{{.State}}")
    assert headed.out.splitlines() == ["ID      STATE", '"web"   running']

    for form, message in [
        ("{{json .Nope}}", "unknown field {{.Nope}} in --format; fields: {{.ID}}, {{.Names}},"),
        ("{{.ID.x}}", 'key "x" of a string (.ID)'),
        ("{{.ID}} {{ .Status | sprintf }}", 'function "sprintf" not defined'),
        ("{{if .PID}}x", "unexpected EOF: {{if .PID}} has no {{end}}"),
        ("{{range .ID}}{{end}}", "range can't iterate over ID"),  # strings, all of them
        ("{{.ID", "unclosed action"),
    ]:
        refused = await ctr("ps", "--format", form)
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), form
        assert "argument --format: " in refused.err and message in refused.err, refused.err
    # Fields, spaced as docker allows, and text with braces but no action, still go.
    spaced = await ok(ctr, "ps", "--format", "{{ .ID }} {x} {{.State}}")
    assert spaced.out == "web {x} running\n"


async def test_list_format_takes_docker_s_names(ctr: Ctr, bundle: Path) -> None:
    """docker ps --format '{{.Names}}', the field scripts read most, was a usage error
    (`unknown field {{.Names}}`): the id is the container's name, so .Names is the id, headed
    NAMES as docker's."""
    await ok(ctr, "start", "web", "-b", str(bundle))
    assert (await ok(ctr, "ps", "--format", "{{.Names}}")).out == "web\n"
    headed = await ok(ctr, "ps", "--format", r"table {{.Names}}\t{{.State}}")
    assert headed.out.splitlines() == ["NAMES   STATE", "web     running"]


async def test_list_format_takes_docker_s_command_and_running_for(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ps fields {{.Command}} (its words as docker's daemon joins them, an argument
    with a space between single quotes, cut to 20 columns unless --no-trunc, in Go's quotes)
    and {{.RunningFor}} (since its creation, "5 minutes ago", headed CREATED) were unknown
    fields, a usage error. The path is as it is, a space in it too (it was quoted as an
    argument is, which moby's list does not)."""
    since = now()
    script = "while true; do sleep 1; done"
    await ok(ctr, "start", "web", "-b", str(make_bundle(["sh", "-c", script])))
    spaced = make_bundle(["/my app/run", "a b", "c"])
    (spaced / "rootfs" / "my app").mkdir()
    (spaced / "rootfs" / "my app" / "run").write_text("#!/bin/sh\nexec sleep 100000\n")
    (spaced / "rootfs" / "my app" / "run").chmod(0o755)
    await ok(ctr, "start", "spaced", "-b", str(spaced))
    # Stopped: what its start ran instead of the bundle's process (the record's), or "".
    await ok(ctr, "run", "-b", str(make_bundle()), "once", "echo", 'a"b')
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    shown = await ok(ctr, "ps", "-a", "--format", "{{.ID}} {{.Command}}|{{.RunningFor}}")
    rows = [line.split("|") for line in shown.out.splitlines()]
    assert [command for command, _ in rows] == [
        'web "sh -c \'while true; …"',
        "spaced \"/my app/run 'a b' c\"",
        'once "echo a\\"b"',
        'job ""',
    ]
    for _, running_for in rows:  # seconds old (the test's few), as docker says it
        assert re.fullmatch(r"(Less than a second|1 second|\d+ seconds) ago", running_for)
    whole = await ok(ctr, "ps", "--no-trunc", "--format", "{{.Command}}")
    assert whole.out == f"\"sh -c '{script}'\"\n\"/my app/run 'a b' c\"\n"
    headed = await ok(ctr, "ps", "--format", r"table {{.Command}}\t{{.RunningFor}}")
    assert headed.out.splitlines()[0].split() == ["COMMAND", "CREATED"]
    listed = (await ok(ctr, "ps", "--format", "json")).out.splitlines()
    assert [json.loads(line)["RunningFor"].endswith(" ago") for line in listed] == [True] * 2


def test_command_is_moby_s_path_then_its_arguments() -> None:
    """moby's list: the path as it is, then each argument (one with a space in it between
    single quotes) after a space; the path alone without arguments (it was quoted too)."""
    from containerd_trio.client.output import command_line

    def listed(*args: str, running: bool = True) -> str:
        # A listing's container, as far as the command goes: its init's, or its start's.
        if running:
            container: Any = {"processes": [{"args": list(args)}]}
        else:
            container = {"processes": [], "process": {"args": list(args)} if args else None}
        return command_line(container)

    assert listed("/my app/run") == "/my app/run"
    assert listed("/my app/run", "a b", "", "c\td") == "/my app/run 'a b'  c\td"
    assert listed("sh", "-c", "exit 3") == "sh -c 'exit 3'"
    assert listed("/my app/run", "x", running=False) == "/my app/run x"
    assert listed(running=False) == ""


def test_running_for_is_go_units_human_duration_as_docker_s() -> None:
    from containerd_trio.client.output import ellipsis, human_duration

    said = {
        0.5: "Less than a second", 1: "1 second", 59: "59 seconds", 60: "About a minute",
        119: "About a minute", 120: "2 minutes", 3599: "59 minutes", 3600: "About an hour",
        5399: "About an hour", 5400: "2 hours", 47 * 3600: "47 hours", 48 * 3600: "2 days",
        14 * 86400: "2 weeks", 60 * 86400: "2 months", 730 * 86400: "2 years",
    }  # fmt: skip
    assert {seconds: human_duration(seconds) for seconds in said} == said
    # docker/cli's Ellipsis: the last column is "…"; a wide character takes two.
    assert ellipsis("abcdef", 6) == "abcdef"
    assert ellipsis("abcdefg", 6) == "abcde…"
    assert ellipsis("日本語です", 6) == "日本…"


async def test_list_format_table_is_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker's --format 'table {{.ID}}\\t{{.Status}}' printed "table " at the head of every
    line, and no header: now a header, then the columns aligned."""
    since = now()
    await ok(ctr, "start", "web", "-b", str(bundle), "-l", "note=a\tb")
    job = await ok(ctr, "--json", "start", "job", "-b", str(make_bundle(["sh", "-c", "exit 3"])))
    await wait_exit(client, "job", job.json["processes"][0]["pid"], since)
    shown = await ok(ctr, "ps", "-a", "--format", r"table {{.ID}}\t{{.Status}}\t{{.ExitStatus}}")
    assert shown.out.splitlines() == [
        "ID    STATUS             EXIT STATUS",
        "web   running",
        "job   stopped (exit 3)   3",
    ]
    # A tab in a value stays in its cell; no container: the header alone.
    labels = await ok(ctr, "ps", "-f", "id=web", "--format", r"table {{.Labels}}\t{{.ID}}")
    assert table(labels.out) == [{"LABELS": "note=a\tb", "ID": "web"}]
    assert (await ok(ctr, "ps", "-f", "id=x", "--format", "table {{.ID}}")).out == "ID\n"
    # docker's {{.Label "KEY"}} (until 2026-12-05 a usage error: a value is not a function),
    # headed by the key's last dotted part.
    await ok(ctr, "start", "api", "-b", str(bundle), "-l", "com.example.team=infra")
    by_label = await ok(
        ctr, "ps", "--format", 'table {{.ID}}\t{{.Label "com.example.team"}}\t{{.Label "no"}}'
    )
    assert by_label.out.splitlines() == ["ID    team    no", "web", "api   infra"]


async def test_logs_timestamps_since_and_until(ctr: Ctr, make_bundle: BundleFactory) -> None:
    before = now()
    await ok(ctr, "start", "talker", "--bundle", str(make_bundle(LOGGING)))
    await ctr("logs", "talker", "-f")  # to its end
    stamped = await ctr("logs", "talker", "-t")
    lines = stamped.out.splitlines() + stamped.err.splitlines()
    assert sorted(line.split(" ", 1)[1] for line in lines) == ["one", "three", "two"]
    # docker's stamps (RFC3339NanoFixed: nine digits and Z), not the API's +00:00
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert all(re.fullmatch(r"[0-9-]{10}T[0-9:]{8}\.[0-9]{9}Z", stamp) for stamp in stamps), stamps
    assert all(
        timestamps.parse_ns(before) <= timestamps.parse_ns(stamp) <= time.time_ns()
        for stamp in stamps
    )
    everything = Result(0, "one\nthree\n", "two\n")
    assert await ctr("logs", "talker", "--since", "1h") == everything
    assert await ctr("logs", "talker", "--since", before) == everything
    nothing = Result(0, "", "")
    assert await ctr("logs", "talker", "--until", before) == nothing
    assert await ctr("logs", "talker", "--until", "1h30m") == nothing  # ninety minutes ago
    assert await ctr("logs", "talker", "--since", "2999-01-01T00:00:00Z") == nothing
    # A follow whose --until has passed ends at once, its container running: that end is final
    # (logs -f follows again only after a hand-over's end, not in a loop of requests here).
    await ok(ctr, "start", "sleeper", "--bundle", str(make_bundle(["sleep", "100"])))
    with trio.fail_after(10):
        assert await ctr("logs", "sleeper", "-f", "--until", before) == nothing


async def test_logs_timestamps_put_each_record_on_a_line_of_its_own(ctr: Ctr, bundle: Path) -> None:
    """A record without its newline (a process that ended mid-line) ran into the next record's
    time with -t: 'T1 oneT2 two'. Without -t the data stays as written."""
    await ok(ctr, "start", "box", "--bundle", str(bundle))
    await ok(ctr, "exec", "box", "--", "printf", "one")
    await ok(ctr, "exec", "box", "--", "echo", "two")
    assert (await ok(ctr, "logs", "box")).out == "onetwo\n"
    stamped = (await ok(ctr, "logs", "box", "-t")).out
    assert stamped.endswith("\n")
    assert [line.split(" ", 1)[1] for line in stamped.splitlines()] == ["one", "two"], stamped


async def test_logs_details_puts_docker_s_space_before_each_record(ctr: Ctr, bundle: Path) -> None:
    """docker's logs --details puts the attributes of its log options, then a space, before
    each message; with none (the daemon has no log options) the space alone. It was a usage
    error (unrecognized arguments)."""
    await ok(ctr, "start", "box", "--bundle", str(bundle))
    said = await ctr("exec", "box", "--", "sh", "-c", "echo one; echo two >&2; printf three")
    assert said == Result(0, "one\nthree", "two\n")
    await ok(ctr, "exec", "box", "--", "echo", "four")
    assert await ctr("logs", "box", "--details") == Result(0, " one\n three four\n", " two\n")
    stamped = await ctr("logs", "box", "--details", "-t")
    # docker's order: the time, its space, then the details' space: two.
    assert [line.split(" ", 1)[1] for line in stamped.out.splitlines()] == [
        " one", " three", " four",
    ], stamped  # fmt: skip
    assert (stamped.code, stamped.err.split(" ", 1)[1]) == (0, " two\n"), stamped
    records = (await ok(ctr, "--json", "logs", "box", "--details")).out  # as they are
    assert records == (await ok(ctr, "--json", "logs", "box")).out


async def test_logs_and_events_take_durations_as_docker_does(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docs/cli.md's durations with a fraction or a unit below the second (1.5h, 250ms), which
    the daemon's ?since= does not take: the daemon answered 400 and ctr-trio exited 1."""
    since = now()
    started = await ok(ctr, "--json", "start", "talker", "--bundle", str(make_bundle(LOGGING)))
    await wait_exit(client, "talker", started.json["processes"][0]["pid"], since)
    everything = Result(0, "one\nthree\n", "two\n")
    assert await ctr("logs", "talker", "--since", "1.5h") == everything
    assert await ctr("logs", "talker", "--since", "1h0.5m", "--until", "0ms") == everything
    nothing = Result(0, "", "")
    assert await ctr("logs", "talker", "--until", "0.5h") == nothing
    # Past year 1, as the daemon's own durations: from the beginning.
    assert await ctr("logs", "talker", "--since", "99999999999999h") == everything
    exits = await ok(ctr, "events", "--since", "250000ms", "--id", "talker", "--type", "exit",
                     "-n", "1")  # fmt: skip
    assert exits.out.split()[1:3] == ["exit", "talker"]
    # Every duration the daemon takes ctr-trio takes too (and sends as the time it names).
    for duration in ("2d", "1h30m", "30m1h", "90s", "000000000001d"):
        assert await ctr("logs", "talker", "--since", duration) == everything, duration
    # docker's other forms, sent as the times they name: a Unix time (0, the epoch), a
    # timestamp cut after its date or minutes (in the client's zone).
    assert await ctr("logs", "talker", "--since", "0") == everything
    assert await ctr("logs", "talker", "--since", f"{int(time.time()) + 3600}.5") == nothing
    assert await ctr("logs", "talker", "--since", "2000-01-01T00:00") == everything
    assert await ctr("logs", "talker", "--until", "1970-01-02") == nothing


async def test_a_time_neither_form_is_a_usage_error(ctr: Ctr, bundle: Path) -> None:
    """``logs --since bad`` went to the daemon as typed and came back as its 400, exit 1, in the
    daemon's words (its durations: 90s, 10m, 1h30m or 2d, not ctr-trio's 1.5h or 250ms), where
    every other bad option is a usage error, exit 2: now so is this, naming ctr-trio's forms."""
    await ok(ctr, "start", "box", "--bundle", str(bundle))
    forms = "nor a duration back from now such as 90s, 10m, 1h30m, 1.5h, 250ms or 2d"
    for argv in (["logs", "box", "--since"], ["logs", "box", "--until"], ["events", "--since"]):
        for bad in ("1.5.2", "yesterday", "-10m", "10 m", "1h30", "2026-11-28T1", "28/11/2026"):
            refused = await ctr(*argv[:-1], f"{argv[-1]}={bad}")  # -10m: not an option
            assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), (argv, bad, refused)
            usage, error = refused.err.splitlines()[0], refused.err.splitlines()[-1]
            assert usage.startswith(f"usage: ctr-trio {argv[0]} "), refused.err
            assert error.startswith(f"ctr-trio {argv[0]}: error: argument {argv[-1]}: "), error
            assert f"{bad!r} is not an RFC 3339 timestamp such as" in error, error
            assert error.endswith(f"{forms} (units ns, us, ms, s, m, h, d)"), error
    # A timestamp's shape with a value no time has: the daemon's own parser says which part.
    month = await ctr("logs", "box", "--since", "2026-13-01T00:00:00Z")
    assert (month.code, month.out) == (cli.EXIT_USAGE, ""), month
    assert "is not a valid date and time: month must be in 1..12" in month.err, month


async def test_events_by_type_and_since_a_while_ago(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    since = now()
    started = await ok(ctr, "--json", "start", "brief", "-b", str(make_bundle(["true"])))
    await wait_exit(client, "brief", started.json["processes"][0]["pid"], since)
    exits = await ok(ctr, "events", "--since", "10m", "--id", "brief", "--type", "exit", "-n", "1")
    assert exits.out.split()[1:] == ["exit", "brief", f"pid={started.json['processes'][0]['pid']}",
                                     "status=0"]  # fmt: skip
    both = await ok(
        ctr, "--json", "events", "--since", "90s", "--id", "brief",
        "--type", "start-container,exit", "-n", "2",
    )  # fmt: skip
    assert [json.loads(line)["type"] for line in both.out.splitlines()] == [
        "start-container",
        "exit",
    ]


async def test_events_type_that_is_none_is_a_usage_error() -> None:
    """``events --type`` names the daemon's types, as ``-f event=`` does (docker's words
    there): one that is none is a usage error naming them, before any request, as ``-f
    event=stop`` is. It was the daemon's 400, exit 1, and with an ``--until`` already past
    (no ``--since``, so no request) nothing at all, exit 0: ``--type die --until 0s``, a
    docker word ``--type`` does not take, said nothing of it."""
    for errors in [
        await usage_errors([(["events", "--type", "bogus", "--until", "0s"], "--type")]),
        await usage_errors([(["events", "--type", "exit,die", "-n", "1"], "--type")]),
    ]:
        assert "unknown event type " in errors[0], errors
        assert "the types are start-container, start-process, exit," in errors[0], errors
    (die,) = await usage_errors([(["events", "--type", "die"], "--type")])
    assert "docker's die is -f event=die" in die, die


async def test_events_filter_as_docker_s_container_event_and_type(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``events -f``: ``container=`` (as --id; several are alternatives, which the
    daemon's one ?id= cannot say: kept of its stream), ``event=`` (as --type, docker's names
    of ours too: die is exit), ``type=container`` (every event here is a container's); keys
    are all kept. A key or a value we do not know is a usage error naming it."""
    since = now()
    pids = {}
    for name, code in (("one", 1), ("two", 2), ("three", 3)):
        started = await ok(
            ctr, "--json", "start", name, "-b", str(make_bundle(["sh", "-c", f"exit {code}"]))
        )
        pids[name] = started.json["processes"][0]["pid"]
        await wait_exit(client, name, pids[name], since)

    def seen(result: Result) -> list[tuple[str, str]]:
        return [(line.split()[1], line.split()[2]) for line in result.out.splitlines()]

    two = await ok(
        ctr,
        "events",
        "--since",
        since,
        "-f",
        "container=one",
        "-f",
        "container=three",
        "-f",
        "event=die",
        "-n",
        "2",
    )
    assert seen(two) == [("exit", "one"), ("exit", "three")]
    # --id is one more container, and the pairs go in one -f too, comma-separated.
    also = await ok(
        ctr,
        "events",
        "--since",
        since,
        "--id",
        "two",
        "-f",
        "container=three,event=exit",
        "-n",
        "2",
    )
    assert seen(also) == [("exit", "two"), ("exit", "three")]
    # --id given again is one more container too (as --type is): it took the last alone, and
    # one's events were left out in silence (trial7).
    ids = await ok(
        ctr, "events", "--since", since, "--id", "one", "--id", "three", "--type", "exit", "-n", "2"
    )
    assert seen(ids) == [("exit", "one"), ("exit", "three")]
    # One container: the daemon's ?id=; docker's start is our start-container.
    started = await ok(
        ctr,
        "events",
        "--since",
        since,
        "-f",
        "container=two",
        "-f",
        "type=container",
        "-f",
        "event=start",
        "-n",
        "1",
    )
    assert started.out.split()[1:] == ["start-container", "two", f"pid={pids['two']}"]
    # Both --type and event=: an event of a type in both.
    both = await ok(
        ctr,
        "--json",
        "events",
        "--since",
        since,
        "--type",
        "exit,delete",
        "-f",
        "event=exit",
        "-f",
        "event=oom",
        "-f",
        "container=two",
        "-n",
        "1",
    )
    assert [json.loads(line)["status"] for line in both.out.splitlines()] == [2]

    for bad, says in (
        (["-f", "image=x"], "unknown filter key 'image' in 'image=x': the keys are container,"),
        (["-f", "event=stop"], "'event=stop': an event is one of start-container,"),
        (["-f", "type=image"], "-f type=image: the daemon's events are of containers"),
        # The daemon's own are of no container: it printed nothing, silently.
        (["-f", "type=daemon", "-f", "container=two"], "with a container or a label filter"),
        (["-f", "type=daemon", "-f", "label=a=b"], "with a container or a label filter"),
        (["-f", "type=box"], "'type=box': a type is one of docker's container,"),
        (["-f", "container"], "'container' is not KEY=VALUE"),
        (["--type", "exit", "-f", "event=oom"], "--type exit and -f event=oom have no type"),
        # An end before the start (docker's daemon refuses it): it printed nothing, exit 0
        # (an --until to come: it waited for it).
        (["--until", "2m"], f"--since {since} is after --until "),
    ):
        refused = await ctr("events", "--since", since, *bad, "-n", "1")
        assert refused.code == cli.EXIT_USAGE, (bad, refused)
        assert refused.err.startswith("usage: ctr-trio events"), refused
        assert says in refused.err, (bad, refused.err)
        assert refused.out == ""


async def test_events_filter_die_keeps_the_exits_of_inits_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path
) -> None:
    """docker's ``die`` is a container's death: an exec'd process's exit is its
    ``exec_die``. ``-f event=die`` kept every ``exit`` (a script that waits for a container's
    death took an ``exec``'s for it): it keeps those of inits now, which say so (``init``);
    ``event=exit``, an alternative, keeps them all again."""
    since = now()
    started = await ok(ctr, "--json", "start", "box", "-b", str(bundle))
    init = started.json["processes"][0]["pid"]
    execed = await ctr("exec", "box", "sh", "-c", "exit 5")
    assert execed.code == 5, execed
    await ok(ctr, "kill", "box")
    await wait_exit(client, "box", init, since)
    with trio.fail_after(30):
        died = await ok(ctr, "events", "--since", since, "-f", "event=die", "-n", "1")
        as_json = await ok(ctr, "--json", "events", "--since", since, "-f", "event=die", "-n", "1")
        exits = await ok(
            ctr, "events", "--since", since, "-f", "event=die", "-f", "event=exit", "-n", "2"
        )  # fmt: skip
        # Another type asked beside die is kept whole: its events carry no init (until
        # 2026-12-05 die passed over every event without it, the start among them).
        lives = await ok(
            ctr, "events", "--since", since, "-f", "event=start", "-f", "event=die", "-n", "2"
        )  # fmt: skip
        # docker's exec_start and exec_die: an exec'd process's start and exit (until
        # 2026-12-05 a usage error); with die, every exit again.
        execs = await ok(
            ctr, "events", "--since", since, "-f", "event=exec_start", "-f", "event=exec_die",
            "-n", "2",
        )  # fmt: skip
        both = await ok(
            ctr, "events", "--since", since, "-f", "event=die", "-f", "event=exec_die", "-n", "2"
        )  # fmt: skip
    assert died.out.split()[1:] == ["exit", "box", f"pid={init}", "status=137"], died.out
    event = json.loads(as_json.out)
    assert (event["type"], event["pid"], event["status"], event["init"]) == (
        "exit",
        init,
        137,
        True,
    )
    assert [line.split()[-1] for line in exits.out.splitlines()] == ["status=5", "status=137"]
    assert [line.split()[1:3] for line in lives.out.splitlines()] == [
        ["start-container", "box"],
        ["exit", "box"],
    ], lives.out
    assert [line.split()[1:3] for line in execs.out.splitlines()] == [
        ["start-process", "box"],
        ["exit", "box"],
    ], execs.out
    assert execs.out.split()[-1] == "status=5", execs.out
    assert [line.split()[-1] for line in both.out.splitlines()] == ["status=5", "status=137"]
    # The daemon's stream: an init's exit says init, an exec'd process's does not.
    kept = []
    params = {"since": since, "type": "exit", "id": "box"}
    with trio.fail_after(30):
        async with client.stream("GET", "/events", params=params) as stream:
            async for line in stream.aiter_lines():
                kept.append(json.loads(line))
                if len(kept) == 2:
                    break
    assert [(e["status"], e.get("init")) for e in kept] == [(5, None), (137, True)], kept


async def test_events_filter_by_label_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``events -f label=KEY`` and ``label=KEY=VALUE``, on the labels of the event's
    container: several are all to match (docker's MatchKVList), ``KEY`` alone matches any value
    of it, an empty one too. It was a usage error (``unknown filter key 'label'``); the daemon
    keeps them (``GET /events?label=``), on the labels each event carries."""
    since = now()
    for name, labels, code in (
        ("other", ["team=ops"], 1),
        ("web", ["tier=front", "team=infra", "owners=ann,bob"], 2),  # shown sorted, as docker's
        ("bare", [], 3),
        ("db", ["team=infra", "tier"], 4),  # tier with an empty value
    ):
        bundle = make_bundle(["sh", "-c", f"exit {code}"])
        options = [word for label in labels for word in ("-l", label)]
        started = await ok(ctr, "--json", "start", name, "-b", str(bundle), *options)
        await wait_exit(client, name, started.json["processes"][0]["pid"], since)
    until = now()

    async def exits(*filters: str) -> list[str]:
        result = await ok(ctr, "events", "--since", since, "--until", until, *filters)
        lines = [line.split() for line in result.out.splitlines()]
        return [words[2] for words in lines if words[1] == "exit"]

    with trio.fail_after(60):
        assert await exits("-f", "label=team=infra") == ["web", "db"]
        assert await exits("-f", "label=tier") == ["web", "db"]  # any value, "" too
        assert await exits("-f", "label=tier=front") == ["web"]
        assert await exits("-f", "label=team=infra", "-f", "label=tier=front") == ["web"]
        assert await exits("-f", "label=team=infra,label=tier=back") == []  # both, or none
        assert await exits("-f", "label=team", "-f", "container=other") == ["other"]
        # A value with a comma (it split there: 'bob' is not KEY=VALUE, a usage error).
        assert await exits("-f", "label=owners=ann,bob") == ["web"]
        assert await exits("-f", "label=owners=ann,bob,container=db") == []
        shown = await ok(ctr, "events", "--since", since, "--until", until, "--id", "web")
        assert shown.out.splitlines()[-1].endswith(
            " status=2 (owners=ann,bob, team=infra, tier=front)"
        ), shown

    for bad, says in (
        (["-f", "label="], "'label=' is not KEY=VALUE"),
        (["-f", "label==x"], "'label==x': a label filter is label=KEY or label=KEY=VALUE"),
    ):
        refused = await ctr("events", "--since", since, *bad, "-n", "1")
        assert (refused.code, refused.out) == (cli.EXIT_USAGE, ""), (bad, refused)
        assert says in refused.err, (bad, refused.err)


async def test_events_label_filter_takes_the_labels_of_a_new_container_under_an_id(
    daemon: RunningDaemon, ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The labels are those of the container an event was of: a container removed keeps the
    labels it had (its delete event matches), and a new one started under its id has its own,
    live and in a replay afterwards (until 2026-12-04 a replay judged the old container's
    events by the new one's labels, and left them out). The labels end a line, as docker's
    attributes."""
    since = now()
    stdout = WrittenOutput()
    results: list[Result] = []

    async def follow() -> None:
        argv = ("events", "--since", since, "-f", "label=team=infra", "-n", "5")
        results.append(await run_cli("--address", daemon.url, *argv, stdout=stdout))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow)
            await ok(ctr, "start", "web", "-b", str(make_bundle(["sh", "-c", "exit 1"])),
                     "-l", "team=infra")  # fmt: skip
            while " exit " not in stdout.getvalue():  # seen, with its labels: live
                await stdout.more.wait()
            await ok(ctr, "rm", "web")
            started = await ok(ctr, "--json", "start", "web", "-l", "team=ops",
                               "-b", str(make_bundle(["sh", "-c", "exit 2"])))  # fmt: skip
            await wait_exit(client, "web", started.json["processes"][0]["pid"], since)
            await ok(ctr, "start", "db", "-b", str(make_bundle(["sh", "-c", "exit 3"])),
                     "-l", "team=infra")  # fmt: skip
    [result] = results
    assert (result.code, result.err) == (0, ""), result
    expected = [
        ("start-container", "web"), ("exit", "web"), ("delete", "web"),
        ("start-container", "db"), ("exit", "db"),
    ]  # fmt: skip
    seen = [line.split() for line in result.out.splitlines()]
    assert [(words[1], words[2]) for words in seen] == expected, seen
    assert seen[0][4:] == ["(team=infra)"], seen
    assert seen[1][3:] == ["pid=" + seen[0][3].removeprefix("pid="), "status=1", "(team=infra)"]
    assert seen[2][3:] == ["(team=infra)"], seen

    replay = await ok(ctr, "events", "--since", since, "--until", now(), "-f", "label=team=infra")
    assert [tuple(line.split()[1:3]) for line in replay.out.splitlines()] == expected


async def test_events_until_stops_at_that_time_as_docker_s(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``events --until``: the events up to that time, then the end, exit 0. A time
    past: the replay up to it (the events after it left out); a time to come: the live
    events until then; no --since and a time past: nothing to show. A bad time is a usage
    error, as --since's."""
    since = now()
    started = await ok(ctr, "--json", "start", "early", "-b", str(make_bundle(["true"])))
    await wait_exit(client, "early", started.json["processes"][0]["pid"], since)
    between = now()
    late = await ok(ctr, "--json", "start", "late", "-b", str(make_bundle(["true"])))
    await wait_exit(client, "late", late.json["processes"][0]["pid"], between)

    past = await ok(ctr, "events", "--since", since, "--until", between)
    assert [line.split()[1:3] for line in past.out.splitlines()] == [
        ["start-container", "early"],
        ["exit", "early"],
    ]
    assert (await ok(ctr, "events", "--until", between)).out == ""
    # A time to come: the replay, then the live stream until that time, then the end (exit
    # 0, no Ctrl-C), not before it.
    soon = timestamps.format_ns(time.time_ns() + 2_000_000_000)
    live = await ok(ctr, "events", "--since", between, "--until", soon, "-f", "event=start")
    assert [line.split()[1:3] for line in live.out.splitlines()] == [["start-container", "late"]]
    assert time.time_ns() >= timestamps.parse_ns(soon)
    bad = await ctr("events", "--until", "tomorrow")
    assert bad.code == cli.EXIT_USAGE
    assert "--until: 'tomorrow' is not an RFC 3339 timestamp such as" in bad.err, bad


async def test_prune_removes_stopped_containers(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    since = now()
    await ok(ctr, "start", "keep", "-b", str(bundle))
    for name in ("done1", "done2"):
        started = await ok(ctr, "--json", "start", name, "-b", str(make_bundle(["true"])))
        await wait_exit(client, name, started.json["processes"][0]["pid"], since)
    assert (await ok(ctr, "prune")).out == "deleted done1\ndeleted done2\n"
    assert [c["id"] for c in (await client.get("/state")).json()["containers"]] == ["keep"]
    assert (await ok(ctr, "containers", "prune")).out == "no stopped containers\n"
    assert (await ok(ctr, "--json", "prune")).json == []


async def test_container_is_containers_as_dockers_container_group(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker's management commands are ``docker container prune``, ``docker container ls``:
    ``container`` is ``containers`` (until 2026-12-06 a usage error, ``invalid choice:
    'container'``)."""
    since = now()
    await ok(ctr, "start", "keep", "-b", str(bundle))
    started = await ok(ctr, "--json", "start", "done", "-b", str(make_bundle(["true"])))
    await wait_exit(client, "done", started.json["processes"][0]["pid"], since)
    listed = (await ok(ctr, "containers", "ls", "-q")).out
    assert "keep\n" in listed
    assert (await ok(ctr, "container", "ls", "-q")).out == listed
    assert (await ok(ctr, "container", "prune", "-f")).out == "deleted done\n"
    assert (await ok(ctr, "container", "inspect", "-f", "{{.id}}", "keep")).out == "keep\n"


async def test_container_logs_and_stats_are_the_top_level_s_as_docker_s_group_has_them(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``docker container logs web`` and ``docker container stats web`` are docker's group's
    too: ``ctr-trio container logs`` was a usage error, ``invalid choice: 'logs'`` (and so
    ``stats``), found trying docs/cli.md's ``container`` group as a docker user would. They
    are the top level's commands, options and all."""
    with trio.fail_after(60):
        since = now()
        await ok(ctr, "run", "-d", "-b", str(make_bundle(LOGGING)), "talk")
        pid = (await client.get("/containers/talk")).json()["processes"][0]["pid"]
        assert await wait_exit(client, "talk", pid, since) == 0
        for group in ("container", "containers"):
            logged = await ctr(group, "logs", "talk")
            assert logged == await ctr("logs", "talk"), logged
            assert (logged.code, logged.out, logged.err) == (0, "one\nthree\n", "two\n")
            assert (await ok(ctr, group, "logs", "-n", "1", "talk")).out == "three\n"
            records = (await ok(ctr, "--json", group, "logs", "talk")).out.splitlines()
            assert [json.loads(line)["data"] for line in records] == ["one\n", "two\n", "three\n"]
            unknown = await ctr(group, "logs", "ghost")
            assert (unknown.code, unknown.err) == (1, "ctr-trio: container 'ghost' not found\n")
        await ok(ctr, "run", "-d", "-b", str(make_bundle(["sleep", "100000"])), "busy")
        for group in ("container", "containers"):
            stats = await ok(ctr, group, "stats", "--no-stream", "--format", "{{.Name}}", "busy")
            assert stats.out == "busy\n"
            lines = (await ok(ctr, group, "stats", "busy")).out.splitlines()
            assert [line.split()[:2] for line in lines][:1] == [["ID", "busy"]], lines
            assert [line.split()[0] for line in lines] == ["ID", "CPU", "MEMORY", "PIDS"]


async def test_prune_of_a_daemon_without_the_prune_route_deletes_each_stopped_id(
    ctr: Ctr, client: httpx.AsyncClient, make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon from before ``DELETE /containers?status=stopped`` (not reloaded since an
    upgrade) answers it 404 "no such endpoint": prune then lists the stopped ids and deletes
    each, as it did before. The route's request is sent to a path no daemon serves here."""
    monkeypatch.setattr(
        client_routes, "prune", lambda: Request("DELETE", "/containerz?status=stopped")
    )
    for name in ("done1", "done2"):
        await start_container(client, name, make_bundle(["true"]))
        assert (await client.post(f"/containers/{name}/wait")).status_code == 200
    assert (await ok(ctr, "prune")).out == "deleted done1\ndeleted done2\n"
    assert (await client.get("/state")).json()["containers"] == []


async def test_prune_leaves_a_container_started_again_under_a_pruned_id_meanwhile(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """``prune`` removes the stopped containers it found, not what took one's id while it
    worked: ``again``, stopped as the prune began, is started again while the prune's removal
    of ``first`` is held (its runc delete). Before, prune listed the stopped ids, then
    deleted each id: it deleted the new run of ``again``, running. The daemon now chooses and
    removes them (``DELETE /containers?status=stopped``), each the container it chose."""
    gated = GatedRunc(tmp_path, "delete", once=True)
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    for name, bundle in (
        ("first", make_bundle(["true"], edit=runc_deletes)),  # its removal: a runc delete
        ("again", make_bundle(["true"])),
    ):
        await start_container(client, name, bundle)
        assert (await client.post(f"/containers/{name}/wait")).status_code == 200
    pruned: list[Result] = []

    async def prune() -> None:
        pruned.append(await run_cli("--address", daemon.url, "prune"))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(prune)
            await gated.reached()  # first's removal is held
            await start_container(client, "again", make_bundle(FOREVER))
            await trio.Path(gated.gate).write_text("go\n")
    (result,) = pruned
    assert (result.code, result.out, result.err) == (0, "deleted first\n", ""), result
    again = (await client.get("/containers/again")).json()
    assert again["state"]["status"] == "running", again


async def test_docker_words_a_docker_user_types(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """What a docker user types next, which was a usage error or a failure: ``exec --workdir``,
    ``unpause`` (docker's word for ``resume``), ``prune -f`` (docker's prune asks first;
    scripts say ``-f``), ``logs -n all`` (docker's ``--tail all``), ``rm -f`` of an id
    that is not there, which docker says on stderr but does not fail on (``rm -f web ||
    true`` is not needed in a script), and ``rm -fv``."""
    await ok(ctr, "start", "web", "-b", str(bundle))
    # docker's exec -w is --workdir (ours was --cwd alone).
    assert (await ok(ctr, "exec", "--workdir", "/tmp", "web", "pwd")).out == "/tmp\n"
    await ok(ctr, "pause", "web")
    assert (await ok(ctr, "unpause", "web")).out == "web is running\n"
    await ok(ctr, "pause", "web")
    assert (await ok(ctr, "containers", "unpause", "web")).out == "web is running\n"

    since = now()
    started = await ok(ctr, "--json", "start", "talker", "-b", str(make_bundle(LOGGING)))
    await wait_exit(client, "talker", started.json["processes"][0]["pid"], since)
    logged = await ctr("logs", "talker", "-n", "all")
    assert (logged.code, logged.out, logged.err) == (0, "one\nthree\n", "two\n"), logged
    assert (await ctr("logs", "talker", "-n", "most")).code == cli.EXIT_USAGE
    assert (await ok(ctr, "prune", "-f")).out == "deleted talker\n"
    assert (await ok(ctr, "containers", "prune", "--force")).out == "no stopped containers\n"

    gone = await ctr("rm", "-f", "ghost", "web")
    assert (gone.code, gone.out) == (0, "deleted web\n"), gone
    assert gone.err == "ctr-trio: container 'ghost' not found\n", gone
    alone = await ctr("--json", "rm", "--force", "ghost")
    assert (alone.code, alone.out) == (0, ""), alone
    # Without -f it is still a failure, as docker's.
    assert (await ctr("rm", "ghost")).code == cli.EXIT_ERROR
    # docker's rm -fv (its anonymous volumes too: a bundle has none) was a usage error.
    await ok(ctr, "start", "web", "-b", str(bundle))
    assert (await ok(ctr, "rm", "-fv", "web")).out == "deleted web\n"


def watch_table(text: str) -> list[dict[str, str]]:
    """A table of stats (a frame of --watch, or --no-stream's), read by its header's column
    positions (names with spaces): docker's columns, those the daemon has the figures of."""
    header, *lines = text.splitlines()
    names = ["CONTAINER ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "BLOCK I/O", "PIDS"]
    starts = [header.index(name) for name in names]
    bounds = list(zip(names, starts, [*starts[1:], None], strict=True))
    return [{name: line[a:b].strip() for name, a, b in bounds} for line in lines]


async def _two_watched_tables(
    daemon: RunningDaemon, *options: str, watch: tuple[str, ...] = ("--watch",)
) -> str:
    """What ``ctr-trio stats --watch OPTIONS`` (``watch``: ``--watch``, or nothing), a real
    process writing into a pipe, shows until its second table, then a real SIGINT: it ends
    with 130 and nothing on stderr."""
    argv = [
        sys.executable, "-c", "from containerd_trio.client.cli import main; main()",
        "--address", daemon.url, "stats", *watch, *options,
    ]  # fmt: skip
    process = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        shown = b""
        while shown.count(b"\n\n") < 2:  # each table ends with a blank line
            chunk = await process.stdout.receive_some()
            assert chunk, "stats --watch ended by itself"
            shown += chunk
        process.send_signal(signal.SIGINT)
        assert await process.wait() == 130
        assert await process.stderr.receive_some() == b""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return shown.decode()


async def test_stats_watch_is_a_live_table_until_ctrl_c(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """Into a pipe, each table follows the last after a blank line, without a terminal's
    control codes (tests/test_interactive.py has the terminal's redraw in place)."""
    await client.post("/containers/busy", json={"bundlePath": str(busy_bundle(make_bundle))})
    await client.post("/containers/quiet", json={"bundlePath": str(bundle)})
    text = await _two_watched_tables(daemon)
    assert "\x1b" not in text
    first, second = (watch_table(frame) for frame in text.split("\n\n")[:2])
    assert [row["CONTAINER ID"] for row in second] == ["busy", "quiet"]
    assert {row["CPU %"] for row in first} == {"--"}  # one sample is no rate yet
    busy, quiet = (float(row["CPU %"].rstrip("%")) for row in second)
    assert busy > 1.0  # a shell spinning in a loop
    assert busy > quiet
    assert second[1]["MEM USAGE / LIMIT"].endswith(" / none")
    assert second[0]["PIDS"] == "1"


async def test_stats_alone_is_docker_s_live_table_of_every_running_container(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """``docker stats``, no ID and no option, streams every running container's figures until
    Ctrl-C; ``ctr-trio stats`` was a usage error (``give one ID, or --no-stream or --watch``).
    Now it is ``stats --watch``. One ID alone still lists that container's figures."""
    await client.post("/containers/quiet", json={"bundlePath": str(bundle)})
    with trio.fail_after(30):
        text = await _two_watched_tables(daemon, watch=())
    first, second = (watch_table(frame) for frame in text.split("\n\n")[:2])
    assert [row["CONTAINER ID"] for row in first] == ["quiet"]
    assert [row["CONTAINER ID"] for row in second] == ["quiet"]


async def test_stats_no_stream_is_one_table_of_several_then_exits(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker's ``stats --no-stream ID...``: one table of the containers' figures (all running
    ones without ids), CPU % over a second between two samples, then the exit. It was a usage
    error (``give one ID, or --watch for several``). An id the daemon does not know, or a
    stopped one, is its error on stderr and exit 1, the others shown."""
    await start_container(client, "busy", busy_bundle(make_bundle))
    await start_container(client, "quiet", bundle)
    await start_container(client, "done", make_bundle(["true"]))
    await client.post("/containers/done/wait")

    with trio.fail_after(20):
        shown = await ok(ctr, "stats", "--no-stream", "quiet", "busy")
    rows = watch_table(shown.out)
    assert [row["CONTAINER ID"] for row in rows] == ["quiet", "busy"]  # in the order given
    quiet, busy = (float(row["CPU %"].rstrip("%")) for row in rows)
    assert busy > 1.0 and busy > quiet  # a shell spinning in a loop, over the second
    assert all(row["MEM USAGE / LIMIT"].endswith(" / none") for row in rows)
    assert {row["MEM %"] for row in rows} == {"--"}  # no limit, no share of it
    assert {row["PIDS"] for row in rows} == {"1"}
    assert all(re.fullmatch(r"\S+ \S+ / \S+ \S+", row["BLOCK I/O"]) for row in rows), rows

    # docker's --no-trunc, which scripts write (docker cuts ids to 12 characters): taken, and
    # changes nothing (until 2026-12-06 a usage error, unrecognized arguments).
    with trio.fail_after(20):
        whole = await ok(ctr, "stats", "--no-stream", "--no-trunc", "quiet")
    assert [row["CONTAINER ID"] for row in watch_table(whole.out)] == ["quiet"]

    # No id: every running container (the stopped one left out), as docker's.
    with trio.fail_after(20):
        everything = await ok(ctr, "stats", "--no-stream")
    assert [row["CONTAINER ID"] for row in watch_table(everything.out)] == ["busy", "quiet"]
    # A paused one too: docker's paused containers are running, and stats lists them (it was
    # left out, as if stopped).
    paused = await client.patch("/containers/quiet", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    with trio.fail_after(20):
        everything = await ok(ctr, "stats", "--no-stream")
    rows = watch_table(everything.out)
    assert [row["CONTAINER ID"] for row in rows] == ["busy", "quiet"]
    assert rows[1]["CPU %"] == "0.00%"  # frozen
    resumed = await client.patch("/containers/quiet", json={"status": "running"})
    assert resumed.status_code == 200, resumed.text

    # An unknown or stopped id: its error, the others shown, exit 1.
    with trio.fail_after(20):
        failed = await ctr("stats", "--no-stream", "busy", "ghost", "done")
    assert failed.code == cli.EXIT_ERROR, failed
    assert [row["CONTAINER ID"] for row in watch_table(failed.out)] == ["busy"]
    assert failed.err == (
        "ctr-trio: container 'ghost' not found\n"
        "ctr-trio: container 'done' is stopped: it has no live figures\n"
    )
    alone = await ctr("stats", "--no-stream", "ghost")
    assert (alone.code, alone.out) == (cli.EXIT_ERROR, ""), alone

    # --json: the daemon's figures, one record a line (as --watch's), once.
    records = await ok(ctr, "--json", "stats", "--no-stream", "busy", "quiet")
    assert [json.loads(line)["id"] for line in records.out.splitlines()] == ["busy", "quiet"]

    # One shot or a live table, not both; several ids need one of them.
    both = await ctr("stats", "--no-stream", "--watch")
    assert both.code == cli.EXIT_USAGE
    assert "argument -w/--watch: not allowed with argument --no-stream" in both.err
    several = await ctr("stats", "busy", "quiet")
    assert several.code == cli.EXIT_USAGE
    assert "give one ID, or --no-stream or --watch for several" in several.err


async def test_stats_all_shows_the_stopped_and_created_ones_zeroed_as_docker_s(
    daemon: RunningDaemon, ctr: Ctr, client: httpx.AsyncClient, bundle: Path,
    make_bundle: BundleFactory,
) -> None:  # fmt: skip
    """docker's ``stats -a``: every container, the ones not running with zeroed figures; it
    was a usage error (unrecognized arguments). With ids, -a changes nothing, as docker's."""
    await start_container(client, "quiet", bundle)
    await start_container(client, "done", make_bundle(["true"]))
    await client.post("/containers/done/wait")
    zeroed = {
        "CONTAINER ID": "done", "CPU %": "0.00%", "MEM USAGE / LIMIT": "0 B / 0 B",
        "MEM %": "0.00%", "BLOCK I/O": "0 B / 0 B", "PIDS": "0",
    }  # fmt: skip
    with trio.fail_after(20):
        shown = await ok(ctr, "stats", "-a", "--no-stream")
    rows = watch_table(shown.out)
    assert [row["CONTAINER ID"] for row in rows] == ["quiet", "done"]
    assert rows[1] == zeroed
    assert rows[0]["PIDS"] == "1"
    with trio.fail_after(20):
        running = await ok(ctr, "stats", "--no-stream")
    assert [row["CONTAINER ID"] for row in watch_table(running.out)] == ["quiet"]
    # docker's json rows have them too; the daemon's figures (--json) have none of theirs.
    with trio.fail_after(20):
        rows_json = await ok(ctr, "stats", "--all", "--no-stream", "--format", "json")
    assert [json.loads(line)["PIDs"] for line in rows_json.out.splitlines()] == ["1", "0"]
    with trio.fail_after(20):
        records = await ok(ctr, "--json", "stats", "-a", "--no-stream")
    assert [json.loads(line)["id"] for line in records.out.splitlines()] == ["quiet"]
    # --watch -a: the same rows at each redraw.
    text = await _two_watched_tables(daemon, "-a")
    second = watch_table(text.split("\n\n")[1])
    assert [row["CONTAINER ID"] for row in second] == ["quiet", "done"]
    assert second[1] == zeroed
    with trio.fail_after(20):
        named = await ok(ctr, "stats", "-a", "--no-stream", "quiet")
    assert [row["CONTAINER ID"] for row in watch_table(named.out)] == ["quiet"]


async def test_stats_format_is_docker_s_template_with_ps_s_machinery(
    ctr: Ctr, client: httpx.AsyncClient, bundle: Path, make_bundle: BundleFactory
) -> None:
    """docker's ``stats --format``: its fields (``{{.Container}}``, ``{{.CPUPerc}}``...), a
    line per container, or with ``table`` under docker's headers (``CPU %``), or ``json``
    (``{{json .}}``), through ps's templates; once with --no-stream. A field we have not
    (docker's ``{{.NetIO}}``), a malformed template, or a format without a table to make, is a
    usage error."""
    await start_container(client, "busy", busy_bundle(make_bundle))
    await start_container(client, "quiet", bundle)

    with trio.fail_after(20):
        shown = await ok(
            ctr,
            "stats",
            "--no-stream",
            "--format",
            r"table {{.Container}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.PIDs}}",
            "busy",
            "quiet",
        )
    header, *rows = shown.out.splitlines()
    assert re.split(r" {3,}", header) == ["CONTAINER", "CPU %", "MEM USAGE / LIMIT", "PIDS"]
    cells = [re.split(r"\s{3,}", row) for row in rows]
    assert [(c[0], c[3]) for c in cells] == [("busy", "1"), ("quiet", "1")], shown.out
    assert float(cells[0][1].rstrip("%")) > 1.0  # over the second between two samples
    assert cells[1][2].endswith(" / none")

    with trio.fail_after(20):
        lines = await ok(
            ctr, "stats", "--no-stream", "--format", "{{.ID}}: {{.PIDs}} {{.Name | upper}}"
        )
    assert lines.out == "busy: 1 BUSY\nquiet: 1 QUIET\n"  # every running one, no header

    with trio.fail_after(20):
        records = await ok(ctr, "--json", "stats", "--no-stream", "--format", "json", "quiet")
    [record] = [json.loads(line) for line in records.out.splitlines()]
    fields = ["Container", "Name", "ID", "CPUPerc", "MemUsage", "MemPerc", "BlockIO", "PIDs"]
    assert list(record) == fields
    assert (record["ID"], record["PIDs"], record["MemPerc"]) == ("quiet", "1", "--")

    with trio.fail_after(20):
        plain = await ok(ctr, "stats", "--no-stream", "--format", "table", "quiet")
    assert [row["CONTAINER ID"] for row in watch_table(plain.out)] == ["quiet"]  # the default

    for bad, says in (
        (["--no-stream", "--format", "{{.NetIO}}"], "unknown field {{.NetIO}} in --format;"),
        (["--watch", "--format", "{{if .ID}}"], "argument --format: "),
        (["--format", "{{.ID}}", "busy"], "--format is for the table of --no-stream or"),
    ):
        refused = await ctr("stats", *bad)
        assert refused.code == cli.EXIT_USAGE, (bad, refused)
        assert refused.err.startswith("usage: ctr-trio stats"), refused
        assert says in refused.err, (bad, refused.err)


async def test_stats_watch_takes_the_format_at_each_redraw(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``stats --watch --format``: each redraw is the template's (a table of its columns
    under docker's headers), as docker's streaming stats takes its --format; a real process,
    into a pipe, left with a real SIGINT."""
    await start_container(client, "busy", busy_bundle(make_bundle))
    text = await _two_watched_tables(daemon, "--format", r"table {{.Name}}\t{{.PIDs}}")
    first, second = text.split("\n\n")[:2]
    assert [re.split(r" {3,}", line) for line in first.splitlines()] == [
        ["NAME", "PIDS"],
        ["busy", "1"],
    ], first
    assert second == first


def test_block_io_adds_up_reads_and_writes_as_docker_s() -> None:
    """BLOCK I/O sums runc's ioServiceBytesRecursive by op, as docker's CLI does (its ops are
    Read and Write under cgroup v1, read and write under v2); none reported is 0 B / 0 B."""
    figures = {
        "blkio": {
            "ioServiceBytesRecursive": [
                {"major": 254, "minor": 0, "op": "Read", "value": 3 * 2**20},
                {"major": 254, "minor": 16, "op": "read", "value": 2**20},
                {"major": 254, "minor": 0, "op": "Write", "value": 512},
                {"major": 254, "minor": 0, "op": "Sync", "value": 7},
                {"major": 254, "minor": 0, "op": "Total", "value": 3 * 2**20 + 512},
            ]
        }
    }
    assert watch.block_io(figures) == "4.0 MiB / 512 B"
    assert watch.block_io({"blkio": {}}) == "0 B / 0 B"


def test_memory_usage_leaves_out_the_inactive_page_cache_as_docker_s() -> None:
    """MEM USAGE (and MEM %) is the cgroup's usage less its inactive page cache, as docker's
    CLI shows it: memory.stat's total_inactive_file under cgroup v1 (runc's memory.raw),
    inactive_file under v2; as docker, usage itself when that is not below it. Here a
    container that wrote 50 MiB to a file (runc events --stats under cgroup v1, cut down)."""
    memory = {
        "cache": 52428800,
        "usage": {"limit": 134217728, "usage": 54165504, "max": 55521280, "failcnt": 0},
        "raw": {"inactive_file": 52428800, "total_inactive_file": 52428800, "total_rss": 49152},
    }
    row = watch.Sample({"memory": memory}, 0.0).row("web", None)
    assert row[2:4] == ["1.7 MiB / 128.0 MiB", "1.29%"]  # 1736704 B, not 51.7 MiB (40.36%)
    v2 = {"usage": {"limit": 0, "usage": 3 * 2**20}, "raw": {"inactive_file": 2**20}}
    assert watch.Sample({"memory": v2}, 0.0).row("web", None)[2:4] == ["2.0 MiB / none", "--"]
    # runc reads memory.stat and the usage one after the other: a cache larger than the usage
    # it was read with does not make it 0 or less.
    racing = {"usage": {"limit": 0, "usage": 2**20}, "raw": {"total_inactive_file": 2**21}}
    assert watch.Sample({"memory": racing}, 0.0).row("web", None)[2] == "1.0 MiB / none"
    assert watch.Sample({}, 0.0).row("web", None)[2:4] == ["0 B / none", "--"]


async def test_version_and_completion(tmp_path: Path) -> None:
    version = await run_cli("--version")
    assert (version.code, version.out) == (0, f"ctr-trio {containerd_trio.__version__}\n")

    script = tmp_path / "ctr-trio.bash"
    script.write_text((await ok(run_cli, "completion", "bash")).out)
    await trio.run_process(["bash", "-n", str(script)])  # bash accepts it

    async def complete(*words: str) -> list[str]:
        """What bash offers for the last word, as it would at <TAB>."""
        array = " ".join(shlex.quote(word) for word in words)
        probe = (
            f"source {shlex.quote(str(script))}; COMP_WORDS=({array});"
            f" COMP_CWORD={len(words) - 1}; _ctr_trio; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        done = await trio.run_process(["bash", "-c", probe], capture_stdout=True)
        return done.stdout.decode().split()

    # docker's group's name is offered too, as an alias is
    assert await complete("ctr-trio", "con") == ["containers", "container"]
    assert await complete("ctr-trio", "containers", "sta") == ["start", "stats"]
    assert await complete("ctr-trio", "container", "lo") == ["logs"]  # docker's container logs
    assert await complete("ctr-trio", "--address", "1.2.3.4:5", "ch") == [
        "checkpoints",
        "checkpoint",
    ]
    assert await complete("ctr-trio", "logs", "--t") == ["--tail", "--timestamps"]
    assert await complete("ctr-trio", "completion", "") == ["bash", "zsh"]
    # A signal's names after kill -s (it offered files): kill -l's, without SIG.
    assert await complete("ctr-trio", "kill", "-s", "US") == ["USR1", "USR2"]
    assert sorted(await complete("ctr-trio", "containers", "kill", "--signal", "RTMAX-1")) == [
        f"RTMAX-{n}" for n in ("1", "10", "11", "12", "13", "14")
    ]
    assert {"TERM", "KILL", "HUP", "RTMIN"} <= set(await complete("ctr-trio", "kill", "-s", ""))
    assert await complete("ctr-trio", "sto") == ["stop"]
    assert await complete("ctr-trio", "rest") == ["restart"]
    assert set(await complete("ctr-trio", "restart", "-")) >= {"-t", "--timeout", "-s"}
    assert await complete("ctr-trio", "containers", "stop", "--signal", "US") == ["USR1", "USR2"]
    assert set(await complete("ctr-trio", "rm", "-")) >= {"-f", "--force", "-t", "--timeout"}
    assert await complete("ctr-trio", "run", "--r") == ["--rm", "--restart"]
    # A switch as one writes it, its value after the = (bash splits --sig-proxy=f in three).
    assert await complete("ctr-trio", "attach", "--sig") == ["--sig-proxy=false"]
    assert await complete("ctr-trio", "run", "--sig-proxy", "=") == ["true", "false"]
    assert await complete("ctr-trio", "run", "--sig-proxy", "=", "f") == ["false"]

    zsh = (await ok(run_cli, "completion", "zsh")).out
    assert "bashcompinit" in zsh and "complete -F _ctr_trio ctr-trio" in zsh


async def test_completion_offers_ids_only_where_an_id_goes(
    daemon: RunningDaemon, ctr: Ctr, tmp_path: Path, bundle: Path
) -> None:
    """The script offered the daemon's container ids at every word after a command that takes
    an ID: after logs ID, in place of exec's command, of a checkpoint's NAME. (After wait ID
    too, where they go now: wait takes several, as docker's.)"""
    await ok(ctr, "start", "web", "-b", str(bundle))
    script = tmp_path / "ctr-trio.bash"
    script.write_text((await ok(run_cli, "completion", "bash")).out)
    # The script runs the command being completed (its first word) for the ids: this one.
    root = Path(containerd_trio.__file__).parent.parent
    command = tmp_path / "ctr-trio"
    command.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(root))} exec {shlex.quote(sys.executable)}"
        f' -m containerd_trio.client.cli --address {shlex.quote(daemon.url)} "$@"\n'
    )
    command.chmod(0o755)

    async def complete(*words: str) -> list[str]:
        array = " ".join(shlex.quote(word) for word in (str(command), *words))
        probe = (
            f"source {shlex.quote(str(script))}; COMP_WORDS=({array});"
            f" COMP_CWORD={len(words)}; _ctr_trio; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        with trio.fail_after(20):
            done = await trio.run_process(["bash", "-c", probe], capture_stdout=True)
        return done.stdout.decode().split()

    # wait ID...: as docker's, wait takes several ids (a PID has no list to offer).
    for where in (["logs"], ["logs", "-n", "5"], ["exec", "-w", "/tmp"], ["rm", "web"],
                  ["stats", "-w", "web"], ["containers", "kill", "-s", "KILL"],
                  ["checkpoints", "delete"], ["attach", "--sig-proxy", "=", "false"],
                  ["attach", "--sig-proxy"], ["kill", "--signal", "=", "KILL"],
                  ["restart", "-t", "5"], ["start", "web"], ["wait", "web"]):  # fmt: skip
        assert await complete(*where, "") == ["web"], where
    for where in (["logs", "web"], ["exec", "web"], ["top", "web"],
                  ["checkpoints", "delete", "web"], ["--json", "ls", "-q"]):  # fmt: skip
        assert await complete(*where, "") == [], where
    # Stopped ones too (ps -a -q: ps lists the live ones only, as docker's): start's, rm's.
    await ok(ctr, "stop", "web", "-t", "0")
    for where in (["start"], ["rm"], ["logs"]):
        assert await complete(*where, "") == ["web"], where


async def test_sig_proxy_is_a_switch_as_dockers() -> None:
    """``--sig-proxy`` of run, start and attach, a boolean as docker's: alone it is true and
    the next word is the ID, not its value; a value goes after an =."""
    parser = cli.build_parser()
    for argv, sig_proxy in (
        (["attach", "web"], True),
        (["attach", "--sig-proxy", "web"], True),
        (["attach", "--sig-proxy=false", "web"], False),
        (["attach", "web", "--sig-proxy=true"], True),
        (["run", "--sig-proxy=0", "web", "-b", "/b"], False),
        (["containers", "start", "-a", "--sig-proxy", "web", "-b", "/b"], True),
    ):
        parsed = parser.parse_args(argv)
        ids = parsed.ids if "ids" in parsed else [parsed.id]  # start takes several
        assert (ids, parsed.sig_proxy) == (["web"], sig_proxy), argv
    # After a --, no word is an option: it is the ID (here one no container has: an id
    # starts with a letter or a digit).
    after = await run_cli("attach", "--", "--sig-proxy")
    assert after.code == cli.EXIT_USAGE
    assert "argument ID: invalid container id '--sig-proxy'" in after.err, after.err
    bad = await run_cli("attach", "--sig-proxy=maybe", "web")
    assert bad.code == cli.EXIT_USAGE
    assert "[--sig-proxy[=true|false]]" in bad.err  # the usage writes it as it is given
    # it said "true or false" and took 1, t, 0 and f too, as Go's ParseBool
    assert "argument --sig-proxy: 'maybe' is not one of true, 1, t, false, 0, f (any case)\n" in (
        bad.err
    )


async def test_abbreviated_long_options_are_usage_errors_as_docker_s(tmp_path: Path) -> None:
    """argparse took ``logs web --tim`` for --timestamps and ``attach --sig web`` for
    ``--sig-proxy web`` (web its value, no ID); docker's parser takes no abbreviation, nor does
    any parser of ctr-trio's now, subcommands' included. Short options still group (-it)."""
    from containerd_trio.client.completion import _paths

    parser = cli.build_parser()
    assert all(not command.allow_abbrev for _, command in _paths(parser, "ctr-trio"))
    nowhere = ["--address", f"unix:{tmp_path / 'none.sock'}", "--retry", "0"]
    for argv, given in [
        (["logs", "web", "--tim"], "--tim"),
        (["attach", "--sig", "web"], "--sig"),
        (["containers", "kill", "web", "--sig", "KILL"], "--sig KILL"),
        (["rm", "--for", "web"], "--for"),
        (["--addr=unix:/x", "state"], "--addr=unix:/x"),
    ]:
        result = await run_cli(*nowhere, *argv)
        assert (result.code, result.out) == (cli.EXIT_USAGE, ""), (argv, result)
        assert f"error: unrecognized arguments: {given}\n" in result.err, (argv, result)
    grouped = parser.parse_args(["exec", "-it", "web", "sh"])
    assert (grouped.tty, grouped.interactive, grouped.id) == (True, True, "web")


async def test_usage_errors_name_the_command(
    ctr: Ctr, daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """Everything after exec's ID is the command's, its options too, as docker's exec takes
    it (the usage error asked for a -- before them); a -- is still taken."""
    await start_container(daemon.client, "web", make_bundle(FOREVER))
    plain = await ctr("exec", "web", "sh", "-c", "echo hi $0; exit 3")
    assert (plain.code, plain.out) == (3, "hi sh\n"), plain.err
    grouped = await ctr("containers", "exec", "-e", "A=1", "web", "sh", "-c", "echo $A", "-e")
    assert (grouped.code, grouped.out) == (0, "1\n"), grouped.err
    dashed = await ctr("exec", "web", "--", "ls", "-d", "/tmp")
    assert (dashed.code, dashed.out) == (0, "/tmp\n"), dashed.err
    missing = await ctr("exec", "web")
    assert missing.code == cli.EXIT_USAGE
    assert "give the command to run after ID" in missing.err
    for argv, message in [
        (["stats", "a", "b"], "give one ID, or --no-stream or --watch"),
        (["kill", "--pid", "7", "a", "b"], "--pid takes one ID"),
        (["rm", "a", "--nope"], "unrecognized arguments: --nope"),
        # An unknown option before the command to run: nothing to hint at, and no crash.
        (["exec", "--nope", "web", "--", "sleep", "1"], "unrecognized arguments: --nope"),
    ]:
        result = await run_cli(*argv)
        assert result.code == cli.EXIT_USAGE, argv
        assert result.err.startswith(f"usage: ctr-trio {argv[0]} "), argv
        assert message in result.err, argv


async def test_migrate_s_help_names_every_address_its_to_takes() -> None:
    """``migrate --help`` showed ``--to HOST:PORT|unix:PATH``, though ``--to`` takes URLs
    too, as ``--address`` does (the same parser: ``http://``, ``https://``, and
    ``http://unix:PATH`` as the daemon's "serving on" line says it). It names them all, and
    each form it names is taken."""
    shown = await run_cli("migrate", "--help")
    assert shown.code == 0, shown
    assert "--to ADDRESS " in shown.out, shown.out
    said = " ".join(shown.out.split())  # as argparse wrapped it
    named = ["HOST:PORT", "unix:PATH", "http://HOST[:PORT]", "https://HOST[:PORT]",
             "http://unix:PATH"]  # fmt: skip
    assert [form for form in named if form not in said] == [], said
    for address in ["10.0.0.2:8888", "unix:/run/t.sock", "http://10.0.0.2",
                    "http://10.0.0.2:8888", "https://node-2", "https://node-2:8443",
                    "http://unix:/run/t.sock"]:  # fmt: skip
        assert cli.build_parser().parse_args(["migrate", "x", "--to", address]).to == address


async def test_migrate_refuses_a_relative_target_bundle(tmp_path: Path) -> None:
    """``--target-bundle`` names a directory on the target's host: a relative one was made
    absolute from this shell's working directory, which says nothing of that host. It is a
    usage error now, before anything is asked of a daemon; an absolute one is taken."""
    refused = await run_cli("migrate", "x", "--to", "10.0.0.2:8888", "--target-bundle", "b")
    assert refused.code == cli.EXIT_USAGE, refused
    assert "'b' is not an absolute path: it names a directory on the target's host" in refused.err
    parsed = cli.build_parser().parse_args(
        ["migrate", "x", "--to", "10.0.0.2:8888", "--target-bundle", "/srv/b"]
    )
    assert parsed.target_bundle == "/srv/b"


async def test_commands_whose_output_is_a_tar_archive_offer_no_json(tmp_path: Path) -> None:
    """``export`` and ``cp`` write a tar archive or files, never the daemon's JSON: their
    ``--help`` listed ``--json`` ("print the daemon's JSON"), and took it, doing nothing with
    it. Now it is an unknown argument after their name, as in docker's; others keep it."""
    nowhere = ["--address", f"unix:{tmp_path / 'none.sock'}", "--retry", "0"]
    for command, arguments in (
        (["export"], ["web"]),
        (["containers", "export"], ["web"]),
        (["cp"], ["web:/etc", "-"]),
    ):
        result = await run_cli(*nowhere, *command, *arguments, "--json")
        assert (result.code, result.out) == (cli.EXIT_USAGE, ""), (command, result)
        assert "error: unrecognized arguments: --json\n" in result.err, (command, result)
        shown = await run_cli(*command, "--help")
        assert "--json" not in shown.out, (command, shown.out)
    assert cli.build_parser().parse_args(["ps", "--json"]).json


async def test_run_s_help_for_checkpoint_names_no_form_without_bundle() -> None:
    """``run --help`` said ``--checkpoint`` restores "without -b: in the stopped container's
    own, as docker's start --checkpoint", a form only ``start`` takes: ``run --checkpoint c1
    web`` is a usage error, ``-b`` required (found reading the help of both). Each help says
    what its command does now; the usage errors are as they were."""
    helps = {command: await run_cli(command, "--help") for command in ("run", "start")}
    said = {command: " ".join(shown.out.split()) for command, shown in helps.items()}
    without_b = "without -b: in the stopped container's own, as docker's start --checkpoint"
    assert (
        "--checkpoint NAME restore from this checkpoint in the bundle (-b) instead" in said["run"]
    )
    assert without_b not in said["run"], said["run"]
    assert without_b in said["start"], said["start"]
    refused = await run_cli("run", "--checkpoint", "c1", "ck-web")
    assert refused.code == cli.EXIT_USAGE, refused
    assert "the following arguments are required: -b/--bundle" in refused.err
    parsed = cli.build_parser().parse_args(["start", "--checkpoint", "c1", "ck-web"])
    assert (parsed.checkpoint, parsed.ids) == ("c1", ["ck-web"])
