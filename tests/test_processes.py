"""Exec'd processes, signals, pause and resume, deadlines and races (real runc throughout)."""

from __future__ import annotations

import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from .helpers import (
    COUNTER,
    IGNORES_TERM,
    BundleFactory,
    DaemonProcess,
    GatedRunc,
    RunningDaemon,
    WatchedProcess,
    ended_since,
    event_types,
    next_event,
    now,
    pid_alive,
    run_status,
    runc,
    runc_state,
    start_container,
    stat_pid_and_start_time,
    wait_exit,
    wait_output,
    zombie_children,
)

SEED_PROCESS = """{
"user" : {
"gid" : 0,
"uid" : 0
},
"args" : [
"sh",
"-c",
"sleep 10"
],
"env" : [
"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
"TERM=xterm"
]
}"""


async def exec_(client: httpx.AsyncClient, container_id: str, **process: Any) -> httpx.Response:
    return await client.put(f"/containers/{container_id}/processes", json=process)


# --- exec -----------------------------------------------------------------------------------


async def test_seed_exec_verbatim_on_singular_path(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "redis", bundle)
    since = now()
    response = await client.put("/containers/redis/process", content=SEED_PROCESS)
    assert response.status_code == 201, response.text
    process = response.json()
    assert process["args"] == ["sh", "-c", "sleep 10"]
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["env"][1] == "TERM=xterm"
    assert pid_alive(process["pid"])
    listed = (await client.get("/state")).json()["containers"][0]["processes"]
    assert [p["pid"] for p in listed][1:] == [process["pid"]]  # init first, then the exec'd one
    event = await next_event(
        client, since=since, container_id="redis", match=lambda e: e["type"] == "start-process"
    )
    assert event["pid"] == process["pid"]

    assert (
        await client.post(f"/containers/redis/process/{process['pid']}", json={"signal": 9})
    ).status_code == 200
    assert await wait_exit(client, "redis", process["pid"], since) == 137
    listed = (await client.get("/containers/redis")).json()["processes"]
    assert [p["pid"] for p in listed] != [] and process["pid"] not in [p["pid"] for p in listed]


async def test_exec_exit_status_recorded(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "c", bundle)
    since = now()
    response = await exec_(client, "c", args=["sh", "-c", "exit 42"])
    assert response.status_code == 201
    assert await wait_exit(client, "c", response.json()["pid"], since) == 42


async def test_exec_takes_env_cwd_and_user(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "c", bundle)
    response = await exec_(
        client,
        "c",
        args=["sh", "-c", 'echo "who=$(id -u):$(id -g) foo=$FOO cwd=$(pwd)"'],
        env=["PATH=/bin", "FOO=bar"],
        cwd="/tmp",
        user={"uid": 1000, "gid": 1001, "additionalGids": [5]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [5]}
    await wait_output(client, "c", "who=1000:1001 foo=bar cwd=/tmp")


async def test_exec_defaults_come_from_the_bundle(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(env=["PATH=/bin", "FROM_BUNDLE=yes"])
    await start_container(client, "c", bundle)
    response = await exec_(client, "c", args=["sh", "-c", "echo bundle=$FROM_BUNDLE"])
    assert response.json()["env"] == ["PATH=/bin", "FROM_BUNDLE=yes"]
    await wait_output(client, "c", "bundle=yes")


async def test_an_exec_has_the_container_s_umask_not_the_daemon_s(
    spawn_daemon: Callable[..., Awaitable[DaemonProcess]], make_bundle: BundleFactory
) -> None:
    # runc exec (1.1) leaves the umask as its caller's: the daemon's 077 (its main's, so a
    # daemon process of its own) made every file an exec'd process created 0600 and every
    # directory 0700, where the container's own process (runc's init: the bundle's umask,
    # else 022) and docker exec make 0644 and 0755.
    client = (await spawn_daemon()).client
    await start_container(client, "c", make_bundle())
    response = await exec_(client, "c", args=["sh", "-c", "echo exec-umask=$(umask)"])
    assert response.status_code == 201, response.text
    await wait_output(client, "c", "exec-umask=0022")


async def test_an_exec_has_the_bundle_s_own_umask(
    spawn_daemon: Callable[..., Awaitable[DaemonProcess]], make_bundle: BundleFactory
) -> None:
    client = (await spawn_daemon()).client

    def umask_027(config: dict[str, Any]) -> None:
        config["process"]["user"]["umask"] = 0o027

    bundle = make_bundle(["sh", "-c", "echo init-umask=$(umask); sleep 1000"], edit=umask_027)
    await start_container(client, "c", bundle)
    await wait_output(client, "c", "init-umask=0027")
    response = await exec_(client, "c", args=["sh", "-c", "echo exec-umask=$(umask)"])
    assert response.status_code == 201, response.text
    await wait_output(client, "c", "exec-umask=0027")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"gid": 1001}, {"uid": 1000, "gid": 1001}),
        ({"uid": 1002}, {"uid": 1002, "gid": 1000}),
        ({"additionalGids": [7]}, {"uid": 1000, "gid": 1000, "additionalGids": [7]}),
        ({}, {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}),
    ],
)
async def test_what_an_exec_user_leaves_out_is_the_bundle_user(
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    user: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """docs/api.md: what an exec leaves out comes from config.json. A user that named only its
    gid ran as uid 0, root, in a container whose processes run as 1000. The bundle user's
    groups go only with its uid and gid."""

    def as_1000(config: dict[str, Any]) -> None:
        config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}

    await start_container(client, "c", make_bundle(edit=as_1000))
    script = 'echo "who=$(id -u):$(id -g) groups=$(id -G)"'
    response = await exec_(client, "c", args=["sh", "-c", script], user=user)
    assert response.status_code == 201, response.text
    assert response.json()["user"] == expected
    uid, gid, groups = expected["uid"], expected["gid"], expected.get("additionalGids", [])
    await wait_output(client, "c", f"who={uid}:{gid} groups={' '.join(map(str, [gid, *groups]))}\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "missing required field 'args'"),
        ({"args": []}, "args must hold at least the program"),
        ({"args": "sleep 1"}, "args: expected a list"),
        ({"args": ["sleep", 1]}, "args[1]: expected a string"),
        ({"args": ["true"], "user": {"uid": -1, "gid": 0}}, "uid must be between 0"),
        ({"args": ["true"], "terminal": "yes"}, "terminal: expected true or false"),
        (
            {"args": ["true"], "consoleSize": {"height": -1, "width": 80}},
            "height must be between 0 and 65535",
        ),
        ({"args": ["true"], "tty": False}, "unknown field 'tty'"),
        ({"args": ["true"], "env": "PATH=/bin"}, "env: expected a list"),
        ({"args": ["true"], "env": ["PATH"]}, "env[0] must be NAME=VALUE"),
        ({"args": ["true"], "cwd": "tmp"}, "cwd must be an absolute path"),
        ({"args": [""]}, "args[0], the program to run, must not be empty"),
        # runc refused these once it had spawned the process (a 500 with its words)
        ({"args": ["echo", "a\0b"]}, "args[1] must not contain NUL"),
        ({"args": ["true"], "env": ["A=b\0c"]}, "env[0] must not contain NUL"),
        (
            {"args": ["true"], "user": {"uid": 2**31, "gid": 0}},
            "uid must be between 0 and 2147483647, not 2147483648",
        ),
        ({"args": ["true"], "user": {"additionalGids": [2**32 - 2]}}, "additionalGids[0] must"),
        # These were a 500 (setgroups: invalid argument), or a 201 and then an "exit 1" with
        # "argument list too long".
        (
            {"args": ["true"], "user": {"additionalGids": list(range(65537))}},
            "user: additionalGids holds 65537 gids: a process may have at most 65536",
        ),
        (
            {"args": ["echo", "x" * 131072]},
            "args[1] is 131072 bytes: a process's argument or environment string may be at most"
            " 131071 bytes",
        ),
        ({"args": ["true"], "env": ["PATH=/bin", "A=" + "é" * 65535]}, "env[1] is 131072 bytes"),
    ],
)
async def test_bad_exec_is_400(
    client: httpx.AsyncClient, bundle: Path, body: dict[str, Any], message: str
) -> None:
    await start_container(client, "c", bundle)
    response = await exec_(client, "c", **body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert len((await client.get("/containers/c")).json()["processes"]) == 1


async def test_an_exec_into_a_container_whose_bundle_config_is_gone_is_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """The bundle's process is an exec's base (its user, its environment): with config.json
    gone since the start, the exec ran as root with none of it. Now it is refused."""

    def as_nobody(config: dict[str, Any]) -> None:
        config["process"]["user"] = {"uid": 65534, "gid": 65534}

    bundle = make_bundle(edit=as_nobody)
    await start_container(client, "c", bundle)
    answer = await exec_(client, "c", args=["id", "-u"])
    assert answer.status_code == 201 and answer.json()["user"]["uid"] == 65534, answer.text
    (bundle / "config.json").unlink()
    answer = await exec_(client, "c", args=["/bin/id", "-u"])
    assert answer.status_code == 400, answer.text
    assert "has no config.json" in answer.json()["error"]


async def test_an_exec_into_a_container_whose_bundle_user_is_no_object_is_400(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """config.json may change after the start: a process.user that became a name (as in a
    Dockerfile) made an exec naming a gid fail as the daemon laid it over the bundle's, a 500
    "internal error"; and one naming no user a 500 in Go's words. The exec takes the
    container's user from it: a 400 that names the field."""
    await start_container(client, "c", bundle)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["user"] = "nobody"
    config_path.write_text(json.dumps(config))
    for user in ({"user": {"gid": 100}}, {}):
        answer = await exec_(client, "c", args=["true"], **user)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == (
            f"process.user in {config_path} must be an object (uid, gid, additionalGids): an"
            " exec runs as the container's user, with what the request leaves out of it"
        )
    assert len((await client.get("/containers/c")).json()["processes"]) == 1


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("/no/such/program", "cannot run '/no/such/program' in container 'c': no such file"),
        ("nosuch", "cannot run 'nosuch' in container 'c': executable file not found in $PATH"),
        ("/etc", "cannot run '/etc' in container 'c': permission denied"),
        ("x" * 3000, "cannot run 'xxxxxxxx"),
    ],
)
async def test_exec_of_a_program_that_cannot_run_is_400_and_leaves_nothing(
    client: httpx.AsyncClient, bundle: Path, program: str, message: str
) -> None:
    """The client's program, not runc's fault (Docker answers 400 too), named in at most 40
    characters, however long it was."""
    await start_container(client, "c", bundle)
    response = await exec_(client, "c", args=[program])
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)
    assert len(response.text) < 200
    assert len((await client.get("/containers/c")).json()["processes"]) == 1
    assert zombie_children() == []


@pytest.mark.parametrize(
    ("cwd", "reason"),
    [("/nonexistent", "no such file or directory"), ("/bin/sh", "not a directory")],
)
async def test_exec_in_a_cwd_that_cannot_be_entered_is_400_and_leaves_nothing(
    client: httpx.AsyncClient, bundle: Path, cwd: str, reason: str
) -> None:
    """The client's cwd, not runc's fault: it was a 500 in runc's words (``chdir to cwd
    ("/nonexistent") set in config.json failed``)."""
    await start_container(client, "c", bundle)
    response = await exec_(client, "c", args=["true"], cwd=cwd)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": f"cannot use cwd {cwd!r} in container 'c': {reason}"}
    assert len((await client.get("/containers/c")).json()["processes"]) == 1
    assert zombie_children() == []


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("/etc/passwd/x", "not a directory"),
        ("/loop", "too many levels of symbolic links"),
        ("/" + "a" * 300, "file name too long"),
    ],
)
async def test_exec_of_a_program_whose_path_cannot_be_followed_is_400(
    client: httpx.AsyncClient, bundle: Path, program: str, reason: str
) -> None:
    """A file on the program's path, a loop of symbolic links, a name past NAME_MAX: the
    client's program too, where each was a 500 in runc's words (``runc exec failed: exec
    failed: unable to start container process: exec: "/etc/passwd/x": stat /etc/passwd/x: not
    a directory``). So is a cwd that is a loop."""
    (bundle / "rootfs" / "loop").symlink_to("/loop")
    await start_container(client, "c", bundle)
    response = await exec_(client, "c", args=[program])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith("cannot run '" + program[:20]), error
    assert error.endswith(f"in container 'c': {reason}"), error
    response = await exec_(client, "c", args=["true"], cwd="/loop")
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "cannot use cwd '/loop' in container 'c': too many levels of symbolic links"
    }
    assert len((await client.get("/containers/c")).json()["processes"]) == 1
    assert zombie_children() == []


async def test_exec_args_and_env_past_what_execve_takes_is_400(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Under the container's 1 MiB stack limit execve takes 256 KiB of arguments and
    environment: 300 KB was a 201, and then the process "exited 1" (argument list too long).
    What it takes still runs, up to the longest string the kernel takes."""

    def small_stack(config: dict[str, Any]) -> None:
        config["process"]["rlimits"] = [{"type": "RLIMIT_STACK", "soft": 1 << 20, "hard": 1 << 20}]

    await start_container(client, "c", make_bundle(edit=small_stack))
    path = "PATH=/bin"
    too_much = [path, *(f"A{n}=" + "x" * 100_000 for n in range(3))]
    response = await exec_(client, "c", args=["true"], env=too_much)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("args and env come to 3000")
    assert len((await client.get("/containers/c")).json()["processes"]) == 1
    since = now()
    for args, env in [
        (["true"], too_much[:3]),
        (["sh", "-c", 'test "${#1}" = 131071', "sh", "x" * 131071], [path]),
    ]:
        response = await exec_(client, "c", args=args, env=env)
        assert response.status_code == 201, response.text
        assert await wait_exit(client, "c", response.json()["pid"], since) == 0


# --- signals --------------------------------------------------------------------------------


async def test_signal_reaches_only_that_process(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "c", bundle)
    since = now()
    first = (await exec_(client, "c", args=["sleep", "1000"])).json()["pid"]
    second = (await exec_(client, "c", args=["sleep", "1000"])).json()["pid"]
    response = await client.post(f"/containers/c/process/{first}", content='{"signal": 15}')
    assert response.status_code == 200
    assert await wait_exit(client, "c", first, since) == 128 + signal.SIGTERM
    assert pid_alive(second)


@pytest.mark.parametrize("value", [15, "SIGTERM", "TERM", "term", "15", "+15", "015"])
async def test_signal_names_and_numbers(
    client: httpx.AsyncClient, bundle: Path, value: object
) -> None:
    await start_container(client, "c", bundle)
    since = now()
    pid = (await exec_(client, "c", args=["sleep", "1000"])).json()["pid"]
    assert (
        await client.post(f"/containers/c/process/{pid}", json={"signal": value})
    ).status_code == 200
    assert await wait_exit(client, "c", pid, since) == 143


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "out of range"),
        (65, "out of range"),
        (-9, "out of range"),
        ("SIGNOPE", "unknown signal"),
        # taken as 9 (the daemon stripped white space); docker refuses kill -s " 9"
        (" 9", "signal ' 9' holds white space"),
        ("9 ", "signal '9 ' holds white space"),
        ("\u0669", "unknown signal '\u0669'"),  # an Arabic-Indic 9
        ("\u017figkill", "unknown signal"),  # a long s, which upper() made S
        (True, "must be an integer"),
        (1.5, "must be an integer"),
        (None, "must be an integer"),
    ],
)
async def test_bad_signal_is_400(
    client: httpx.AsyncClient, bundle: Path, value: object, message: str
) -> None:
    created = await start_container(client, "c", bundle)
    pid = created["processes"][0]["pid"]
    response = await client.post(f"/containers/c/process/{pid}", json={"signal": value})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    response = await client.patch("/containers/c", json={"signal": value})
    assert response.status_code == 400, response.text


async def test_signal_to_unknown_pid_is_404(client: httpx.AsyncClient, bundle: Path) -> None:
    await start_container(client, "c", bundle)
    response = await client.post("/containers/c/process/1", json={"signal": 15})  # the host's init
    assert response.status_code == 404
    assert "not a live process of container 'c'" in response.json()["error"]
    response = await client.post("/containers/c/process/abc", json={"signal": 15})
    assert response.status_code == 400


# --- PATCH: pause, resume, signal the init --------------------------------------------------


async def test_seed_pause_and_resume_agree_with_runc(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    await start_container(client, "redis", make_bundle(COUNTER))
    since = now()
    response = await client.patch("/containers/redis", content='{"status": "paused"}')
    assert response.status_code == 200
    assert run_status(response.json()["state"]) == {"status": "paused"}
    assert runc_state(daemon.config.state_dir, "redis")["status"] == "paused"
    assert (await client.get("/state")).json()["containers"][0]["state"]["status"] == "paused"

    response = await client.patch("/containers/redis", content='{"status": "running"}')
    assert response.status_code == 200
    assert run_status(response.json()["state"]) == {"status": "running"}
    assert runc_state(daemon.config.state_dir, "redis")["status"] == "running"
    types = await event_types(client, since=since, container_id="redis", count=2)
    assert types == ["pause", "resume"]


async def test_seed_signal_9_stops_with_137(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    created = await start_container(client, "redis", make_bundle(IGNORES_TERM))
    since = now()
    response = await client.patch("/containers/redis", content='{"signal": 9}')
    assert response.status_code == 200
    await wait_exit(client, "redis", created["processes"][0]["pid"], since)
    got = (await client.get("/containers/redis")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 137}


async def test_signal_9_to_a_paused_container_stops_it(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A frozen process dies of a SIGKILL only once thawed: the daemon answered 200 and the
    container stayed paused, its init alive, until someone resumed it. Now a SIGKILL resumes
    it, as docker kill does: it stops with 137. Another signal waits, pending, for a resume."""
    client = daemon.client
    created = await start_container(client, "frozen", make_bundle(IGNORES_TERM))
    pid = created["processes"][0]["pid"]
    init = WatchedProcess(pid)
    assert (await client.patch("/containers/frozen", json={"status": "paused"})).status_code == 200
    since = now()
    term = await client.patch("/containers/frozen", json={"signal": "TERM"})
    assert (term.status_code, run_status(term.json()["state"])) == (200, {"status": "paused"})
    assert runc_state(daemon.config.state_dir, "frozen")["status"] == "paused"
    assert (await client.patch("/containers/frozen", json={"signal": 9})).status_code == 200
    with trio.fail_after(10):
        assert await wait_exit(client, "frozen", pid, since) == 128 + signal.SIGKILL
        types = await event_types(client, since=since, container_id="frozen", count=2)
    assert sorted(types) == ["exit", "resume"]
    got = (await client.get("/containers/frozen")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 137}
    assert init.ended()


async def test_signal_9_to_a_process_of_a_paused_container(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A SIGKILL to one exec'd process of a paused container answered 200 and left it frozen,
    alive, its exit unseen until someone resumed the container. Now it dies at once (137) and
    the container stays paused, frozen in runc's eyes too, with no resume. The init's pid
    through the same route stops the container, as a SIGKILL to the container does."""
    client, state_dir = daemon.client, daemon.config.state_dir
    created = await start_container(client, "frozen", make_bundle(IGNORES_TERM))
    init = created["processes"][0]["pid"]
    response = await exec_(client, "frozen", args=["sleep", "1000"])
    assert response.status_code == 201, response.text
    pid = response.json()["pid"]
    execd = WatchedProcess(pid)
    assert (await client.patch("/containers/frozen", json={"status": "paused"})).status_code == 200
    since = now()
    killed = await client.post(f"/containers/frozen/process/{pid}", json={"signal": "KILL"})
    assert killed.status_code == 200, killed.text
    with trio.fail_after(10):
        assert await wait_exit(client, "frozen", pid, since) == 128 + signal.SIGKILL
    assert execd.ended()
    assert run_status((await client.get("/containers/frozen")).json()["state"]) == {
        "status": "paused"
    }
    assert runc_state(state_dir, "frozen")["status"] == "paused"
    assert pid_alive(init)

    killed = await client.post(f"/containers/frozen/process/{init}", json={"signal": 9})
    assert killed.status_code == 200, killed.text
    with trio.fail_after(10):
        assert await wait_exit(client, "frozen", init, since) == 128 + signal.SIGKILL
        types = await event_types(client, since=since, container_id="frozen", count=3)
    assert types[0] == "exit" and sorted(types[1:]) == ["exit", "resume"]  # none before
    got = (await client.get("/containers/frozen")).json()
    assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 137}


async def _paused_with_update_gated(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path, *, exec_args: list[str]
) -> tuple[httpx.AsyncClient, GatedRunc, WatchedProcess, int | None]:
    """A daemon whose runc update waits at a gate, and its container "k", paused: the client,
    the gate, the init (watched) and the pid of a process exec'd first (``exec_args``, if
    any)."""
    gated = GatedRunc(tmp_path, "update")
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    created = await start_container(client, "k", make_bundle())
    init = WatchedProcess(created["processes"][0]["pid"])
    pid = None
    if exec_args:
        response = await exec_(client, "k", args=exec_args)
        assert response.status_code == 201, response.text
        pid = response.json()["pid"]
    assert (await client.patch("/containers/k", json={"status": "paused"})).status_code == 200
    return client, gated, init, pid


async def _while_limits_change(
    client: httpx.AsyncClient, gated: GatedRunc, during: Callable[[], Awaitable[None]]
) -> None:
    """Run ``during`` while a change of limits of "k" holds its lock (its runc update held at
    the gate), then let the update through: it answers 200."""
    answers: list[int] = []

    async def change_limits() -> None:
        body = {"resources": {"pids": {"limit": 100}}}
        answers.append((await client.patch("/containers/k", json=body)).status_code)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(change_limits)
        await gated.reached()
        await during()
        await trio.Path(gated.gate).write_text("go\n")
    assert answers == [200]


async def _stopped_by_sigkill(
    client: httpx.AsyncClient, init: WatchedProcess, since: str, count: int
) -> list[str]:
    """Once "k"'s init exits of the SIGKILL (within 10 s), stopped with 137: the types of its
    first ``count`` events from ``since`` on."""
    with trio.fail_after(10):
        assert await wait_exit(client, "k", init.pid, since) == 128 + signal.SIGKILL
        types = await event_types(client, since=since, container_id="k", count=count)
    state = run_status((await client.get("/containers/k")).json()["state"])
    assert (init.ended(), state) == (True, {"status": "stopped", "exitStatus": 137})
    return types


async def test_a_sigkill_to_a_paused_container_while_its_limits_change_still_stops_it(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """(Review.) docs: a SIGKILL to a paused container resumes it so that it stops, except
    while a delete, a shutdown, a checkpoint or a migration is under way. The daemon refused
    to resume while any command held the container: here a change of limits (its runc update
    held at a gate). The PATCH answered 200, and once the update was done the container
    stayed paused, its init alive, for good. Now the resume comes once the update ends (the
    answer does not wait for it)."""
    client, gated, init, _ = await _paused_with_update_gated(
        start_daemon, make_bundle, tmp_path, exec_args=[]
    )
    since = now()

    async def kill() -> None:
        killed = await client.patch("/containers/k", json={"signal": "KILL"})
        assert (killed.status_code, run_status(killed.json()["state"])) == (
            200,
            {"status": "paused"},
        )

    await _while_limits_change(client, gated, kill)
    types = await _stopped_by_sigkill(client, init, since, count=3)
    assert types[0] == "update" and sorted(types[1:]) == ["exit", "resume"]


async def test_a_sigkill_that_comes_as_runc_pause_freezes_still_stops_the_container(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A SIGKILL to the container while its pause is in runc (held here once runc froze it):
    the kill saw it running and resumed nothing, and the pause then answered 200, leaving the
    init frozen with the SIGKILL pending, listed paused for good (or, had it died, a frozen
    cgroup whose pid runc's delete --force would signal, another process's by then). Now the
    pause thaws what runc froze and answers 409: the container stops with 137."""
    gated = GatedRunc(tmp_path, "pause", after=True)
    daemon: RunningDaemon = await start_daemon(runtime=str(gated.path))
    client = daemon.client
    created = await start_container(client, "k", make_bundle())
    init = WatchedProcess(created["processes"][0]["pid"])
    since = now()
    answers: list[httpx.Response] = []

    async def pause() -> None:
        answers.append(await client.patch("/containers/k", json={"status": "paused"}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pause)
        await gated.reached()  # runc has frozen it; the daemon has not heard yet
        killed = await client.patch("/containers/k", json={"signal": "KILL"})
        assert killed.status_code == 200, killed.text
        await trio.Path(gated.gate).write_text("go\n")
    [paused] = answers
    assert (paused.status_code, paused.json()["error"]) == (
        409,
        "cannot pause container 'k': it stopped",
    ), paused.text
    await _stopped_by_sigkill(client, init, since, count=1)


async def test_a_sigkill_to_a_process_of_a_paused_container_while_its_limits_change(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The same through a process's route: a SIGKILL to an exec'd process of a paused
    container while a change of limits held it left the process frozen and alive for good
    (it was not moved out of the freezer). A change of limits does not stand in the way: it
    dies at once, the container stays paused. The init's pid, meanwhile, stops the container
    once the update ends."""
    client, gated, init, pid = await _paused_with_update_gated(
        start_daemon, make_bundle, tmp_path, exec_args=["sleep", "1000"]
    )
    assert pid is not None  # exec_args given
    since = now()

    async def kill() -> None:
        killed = await client.post(f"/containers/k/process/{pid}", json={"signal": "KILL"})
        assert killed.status_code == 200, killed.text
        with trio.fail_after(10):  # the update still held at its gate
            assert await wait_exit(client, "k", pid, since) == 128 + signal.SIGKILL
        assert run_status((await client.get("/containers/k")).json()["state"]) == {
            "status": "paused"
        }
        killed = await client.post(f"/containers/k/process/{init.pid}", json={"signal": "KILL"})
        assert killed.status_code == 200, killed.text
        assert pid_alive(init.pid)

    await _while_limits_change(client, gated, kill)
    types = await _stopped_by_sigkill(client, init, since, count=4)
    assert types[:2] == ["exit", "update"] and sorted(types[2:]) == ["exit", "resume"]


async def test_pause_and_resume_made_with_runc_by_hand(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A container paused or resumed with runc behind the daemon's back is where runc says:
    the daemon's pause or resume that finds it there is done (200, and its event), not a 500
    with runc's refusal, nor a 409 from the daemon's old view."""
    client, state_dir = daemon.client, daemon.config.state_dir
    await start_container(client, "c", make_bundle(COUNTER))
    since = now()
    assert (await client.patch("/containers/c", json={"status": "paused"})).status_code == 200
    runc(state_dir, "resume", "c")
    response = await client.patch("/containers/c", json={"status": "running"})
    assert response.status_code == 200, response.text
    assert run_status(response.json()["state"]) == {"status": "running"}

    runc(state_dir, "pause", "c")
    response = await client.patch("/containers/c", json={"status": "paused"})
    assert response.status_code == 200, response.text
    assert run_status(response.json()["state"]) == {"status": "paused"}
    assert runc_state(state_dir, "c")["status"] == "paused"

    runc(state_dir, "resume", "c")  # the daemon saw it paused; runc says running
    response = await client.patch("/containers/c", json={"status": "paused"})
    assert response.status_code == 200, response.text
    assert runc_state(state_dir, "c")["status"] == "paused"
    assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
    runc(state_dir, "pause", "c")  # the daemon saw it running; runc says paused
    assert run_status((await client.get("/containers/c")).json()["state"]) == {"status": "running"}
    response = await client.patch("/containers/c", json={"status": "running"})
    assert response.status_code == 200, response.text
    assert runc_state(state_dir, "c")["status"] == "running"
    types = await event_types(client, since=since, container_id="c", count=6)
    assert types == ["pause", "resume", "pause", "pause", "resume", "resume"]


async def test_a_sigkill_to_a_container_paused_with_runc_by_hand_stops_it(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """(Review.) Paused with runc behind the daemon's back, the container is paused where the
    daemon takes it for running: a SIGKILL to it answered 200 and stayed pending in the
    frozen init for good (a wait never ended). Now the daemon sees the freezer frozen and
    resumes it so that it stops, as for one it paused; the same through the init's process
    route."""
    client, state_dir = daemon.client, daemon.config.state_dir
    for route in ("/containers/c", "/containers/c/process/{init}"):
        created = await start_container(client, "c", make_bundle(COUNTER))
        init = created["processes"][0]["pid"]
        since = now()
        runc(state_dir, "pause", "c")
        killed = await client.request(
            "PATCH" if route == "/containers/c" else "POST",
            route.format(init=init),
            json={"signal": "KILL"},
        )
        assert killed.status_code == 200, killed.text
        with trio.fail_after(10):
            assert await wait_exit(client, "c", init, since) == 128 + signal.SIGKILL
        assert run_status((await client.get("/containers/c")).json()["state"]) == {
            "status": "stopped",
            "exitStatus": 137,
        }
        types = await event_types(client, since=since, container_id="c", count=2)
        assert sorted(types) == ["exit", "resume"]
        assert (await client.delete("/containers/c")).status_code == 200


async def test_patch_conflicts(client: httpx.AsyncClient, make_bundle: BundleFactory) -> None:
    await start_container(client, "c", make_bundle())
    response = await client.patch("/containers/c", json={"status": "running"})
    assert response.status_code == 409
    assert "is not paused" in response.json()["error"]
    await client.patch("/containers/c", json={"status": "paused"})
    response = await client.patch("/containers/c", json={"status": "paused"})
    assert response.status_code == 409
    assert "already paused" in response.json()["error"]
    response = await exec_(client, "c", args=["true"])
    assert response.status_code == 409
    assert "it is paused; resume it first" in response.json()["error"]

    since = now()
    created = await start_container(client, "gone", make_bundle(["true"]))
    await wait_exit(client, "gone", created["processes"][0]["pid"], since)
    for body in ({"status": "paused"}, {"signal": 15}):
        response = await client.patch("/containers/gone", json=body)
        assert response.status_code == 409, body
        assert "it is stopped" in response.json()["error"]
    assert (await exec_(client, "gone", args=["true"])).status_code == 409


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{}", 'give "status"'),
        ('{"status": "paused", "signal": 9}', "not both"),
        ('{"status": "stopped"}', 'status must be "paused" or "running"'),
        ('{"status": 1}', 'status must be "paused" or "running"'),
        ('{"pause": true}', "unknown field 'pause'"),
        ("", "the request body is empty"),
    ],
)
async def test_bad_patch_is_400(
    client: httpx.AsyncClient, bundle: Path, body: str, message: str
) -> None:
    await start_container(client, "c", bundle)
    response = await client.patch("/containers/c", content=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


async def test_delete_of_paused_container(daemon: RunningDaemon, bundle: Path) -> None:
    created = await start_container(daemon.client, "p", bundle)
    init = WatchedProcess(created["processes"][0]["pid"])
    await daemon.client.patch("/containers/p", json={"status": "paused"})
    response = await daemon.client.delete("/containers/p", params={"timeout": "1"})
    assert response.status_code == 200
    assert init.ended()


# --- deadlines ------------------------------------------------------------------------------


@pytest.mark.deadline(30)
async def test_hung_exec_is_504_and_killed(start_daemon: Any, tmp_path: Path, bundle: Path) -> None:
    marker = tmp_path / "hung-stat"
    hung = tmp_path / "hung-runc"
    hung.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do\n'
        f'    [ "$a" = exec ] && cat /proc/$$/stat > {marker} && exec sleep 60\n'
        "done\n"
        'exec runc "$@"\n'
    )
    hung.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(runtime=str(hung), runtime_timeout=1.0)
    await start_container(daemon.client, "c", bundle)
    response = await exec_(daemon.client, "c", args=["true"])
    assert response.status_code == 504
    assert "runc exec did not finish within 1 seconds" in response.json()["error"]
    # The hung runtime process was killed. Its pid is read once it may have ended, too late
    # for a pidfd: with its start time, which the script's exec of sleep kept.
    assert ended_since(*stat_pid_and_start_time(marker.read_text()))
    assert len((await daemon.client.get("/containers/c")).json()["processes"]) == 1
    assert zombie_children() == []


@pytest.mark.deadline(30)
async def test_hung_resume_of_a_killed_init_is_a_declared_504(
    start_daemon: Any, tmp_path: Path, bundle: Path
) -> None:
    """A SIGKILL to the init of a paused container resumes it (so that it stops); a runc
    resume past the runtime deadline answers the signal route 504, a status the OpenAPI
    document did not give the route (only 404)."""
    marker = tmp_path / "hung-stat"
    hung = tmp_path / "hung-runc"
    hung.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do\n'
        f'    [ "$a" = resume ] && cat /proc/$$/stat > {marker} && exec sleep 60\n'
        "done\n"
        'exec runc "$@"\n'
    )
    hung.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(runtime=str(hung), runtime_timeout=1.0)
    created = await start_container(daemon.client, "c", bundle)
    init = created["processes"][0]["pid"]
    paused = await daemon.client.patch("/containers/c", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    response = await daemon.client.post(f"/containers/c/process/{init}", json={"signal": "KILL"})
    route = (await daemon.client.get("/openapi.json")).json()["paths"]
    declared = route["/containers/{id}/process/{pid}"]["post"]["responses"]
    assert (response.status_code, str(response.status_code) in declared) == (504, True)
    assert "runc resume did not finish within 1 seconds" in response.json()["error"]
    # The hung runtime process was killed. Its pid is read once it may have ended, too late
    # for a pidfd: with its start time, which the script's exec of sleep kept.
    assert ended_since(*stat_pid_and_start_time(marker.read_text()))
    # Still paused, as runc left it: the init takes its SIGKILL once resumed.
    container = (await daemon.client.get("/containers/c")).json()
    assert (run_status(container["state"]), pid_alive(init)) == ({"status": "paused"}, True)
    assert zombie_children() == []


# --- races ----------------------------------------------------------------------------------


async def test_exec_into_a_container_as_it_exits(
    client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Execs racing the init's exit get 201 or a clean 409, never a 500, and leak nothing."""
    since = now()
    created = await start_container(client, "dying", make_bundle(["sh", "-c", "sleep 0.3"]))
    codes: list[int] = []
    while True:
        response = await exec_(client, "dying", args=["sleep", "1000"])
        codes.append(response.status_code)
        assert response.status_code in (201, 409), response.text
        if response.status_code == 409:
            break
    await wait_exit(client, "dying", created["processes"][0]["pid"], since)
    assert (await client.get("/containers/dying")).json()["processes"] == []
    assert 201 in codes
    assert zombie_children() == []


async def test_signal_to_a_process_that_just_exited(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "c", bundle)
    for _ in range(5):
        since = now()
        pid = (await exec_(client, "c", args=["true"])).json()["pid"]
        response = await client.post(f"/containers/c/process/{pid}", json={"signal": 15})
        assert response.status_code in (200, 404), response.text
        await wait_exit(client, "c", pid, since)
        response = await client.post(f"/containers/c/process/{pid}", json={"signal": 15})
        assert response.status_code == 404


async def test_a_process_wait_answers_once_its_exit_is_reported(
    client: httpx.AsyncClient, bundle: Path
) -> None:
    """A process's wait answered as soon as the process died, before its exit was reported,
    which waits (up to 2 s) for the output a child of it still writes to its pipes: the rest
    of its output was not in the log yet, it was still listed as live, and a signal to it
    answered "has exited" where docs/api.md says "is not a live process". As a container's
    wait does, it answers once the exit is reported: all of the output is in the log."""
    await start_container(client, "c", bundle)
    forked = await exec_(client, "c", args=["sh", "-c", "(sleep 0.5; echo late) & exit 3"])
    assert forked.status_code == 201, forked.text
    pid = forked.json()["pid"]
    with trio.fail_after(10):
        waited = await client.post(f"/containers/c/process/{pid}/wait")
    assert waited.json()["exitStatus"] == 3
    logs = await client.get("/containers/c/logs", params={"pid": str(pid)})
    assert [json.loads(line)["data"] for line in logs.text.splitlines()] == ["late\n"]
    listed = (await client.get("/containers/c")).json()["processes"]
    assert pid not in [p["pid"] for p in listed]
    signalled = await client.post(f"/containers/c/process/{pid}", json={"signal": 15})
    assert signalled.json() == {"error": f"process {pid} is not a live process of container 'c'"}


async def test_pause_while_exec_starts(daemon: RunningDaemon, bundle: Path) -> None:
    client = daemon.client
    await start_container(client, "c", bundle)
    results: dict[str, int] = {}

    async def do_exec() -> None:
        results["exec"] = (await exec_(client, "c", args=["sleep", "1000"])).status_code

    async def do_pause() -> None:
        response = await client.patch("/containers/c", json={"status": "paused"})
        results["pause"] = response.status_code

    for _ in range(3):
        results.clear()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(do_exec)
            nursery.start_soon(do_pause)
        assert results["pause"] == 200
        assert results["exec"] in (201, 409)
        assert runc_state(daemon.config.state_dir, "c")["status"] == "paused"
        assert (await client.patch("/containers/c", json={"status": "running"})).status_code == 200
        assert runc_state(daemon.config.state_dir, "c")["status"] == "running"


@pytest.mark.deadline(90)
async def test_many_concurrent_execs_and_kills(daemon: RunningDaemon, bundle: Path) -> None:
    client = daemon.client
    created = await start_container(client, "busy", bundle)
    since = now()
    pids: list[int] = []

    async def start_one() -> None:
        response = await exec_(client, "busy", args=["sleep", "1000"])
        assert response.status_code == 201, response.text
        pids.append(response.json()["pid"])

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(start_one)
    listed = {p["pid"] for p in (await client.get("/containers/busy")).json()["processes"]}
    assert set(pids) <= listed and len(listed) == 21

    async def kill_one(pid: int) -> None:
        response = await client.post(f"/containers/busy/process/{pid}", json={"signal": "KILL"})
        assert response.status_code == 200

    async with trio.open_nursery() as nursery:
        for pid in pids:
            nursery.start_soon(kill_one, pid)
    for pid in pids:
        assert await wait_exit(client, "busy", pid, since) == 137
    listed_after = [p["pid"] for p in (await client.get("/containers/busy")).json()["processes"]]
    assert listed_after == [created["processes"][0]["pid"]]
    assert zombie_children() == []
