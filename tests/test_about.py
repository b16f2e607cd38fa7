"""``GET /version`` and ``GET /info``, and ``ctr-trio version`` and ``ctr-trio info``: each field
as the thing it names says it (runc's and CRIU's own --version, uname, /proc, the container
table), runc asked once per server."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from containerd_trio import __version__
from containerd_trio.config import Listen
from containerd_trio.timestamps import parse_ns

from .helpers import FOREVER, BundleFactory, DaemonProcess, RunningDaemon, start_container
from .test_cli import run_cli
from .test_openapi import assert_conforms


def said(*argv: str) -> dict[str, str]:
    """What a program's --version prints, as ``key: value`` (runc's first line as version)."""
    text = subprocess.run([*argv, "--version"], capture_output=True, text=True, check=True).stdout
    fields = {}
    for line in text.splitlines():
        if line.startswith("runc version "):
            fields["version"] = line.split()[2]
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def counting_runc(directory: Path) -> tuple[Path, Path]:
    """A runtime that notes each of its calls in a file, then is runc."""
    directory.mkdir(parents=True, exist_ok=True)
    calls = directory / "calls"
    wrapper = directory / "runc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec runc "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


async def test_version_says_what_runc_and_criu_say_and_asks_runc_once(
    start_daemon: Any, tmp_path: Path
) -> None:
    wrapper, calls = counting_runc(tmp_path / "bin")
    daemon: RunningDaemon = await start_daemon(runtime=str(wrapper))
    first = (await daemon.client.get("/version")).json()
    second = (await daemon.client.get("/version")).json()
    assert first == second
    assert_conforms("Version", first)
    # Read once, not per request: the second answer came from what the first read.
    asked = [line for line in calls.read_text().splitlines() if line == "--version"]
    assert asked == ["--version"]

    runc = said("runc")
    assert first["runc"] == {
        "path": str(wrapper),
        "version": runc["version"],
        "commit": runc["commit"],
        "spec": runc["spec"],
        "go": runc["go"],
        "libseccomp": runc["libseccomp"],
    }
    assert daemon.config.criu is not None
    assert first["criu"] == {
        "path": daemon.config.criu,
        "version": said(daemon.config.criu)["Version"],
    }
    uname = os.uname()
    assert first["version"] == __version__
    assert first["pythonVersion"] == platform.python_version()
    assert (first["os"], first["arch"], first["kernelVersion"]) == (
        uname.sysname.lower(), uname.machine, uname.release,
    )  # fmt: skip


async def test_version_without_checkpoints_leaves_criu_out(start_daemon: Any) -> None:
    daemon: RunningDaemon = await start_daemon(criu=None)
    answer = (await daemon.client.get("/version")).json()
    assert_conforms("Version", answer)
    assert "criu" not in answer
    assert answer["runc"]["version"] == said("runc")["version"]


async def test_info_counts_the_containers_and_reads_the_host(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    client = daemon.client
    empty = (await client.get("/info")).json()
    assert (empty["containers"], empty["containersRunning"]) == (0, 0)

    await start_container(client, "up", make_bundle(FOREVER))
    await start_container(client, "held", make_bundle(FOREVER))
    assert (await client.patch("/containers/held", json={"status": "paused"})).status_code == 200
    await start_container(client, "done", make_bundle(("true",)))
    assert (await client.post("/containers/done/wait")).status_code == 200

    info = (await client.get("/info")).json()
    assert_conforms("Info", info)
    assert (
        info["containers"], info["containersRunning"], info["containersPaused"],
        info["containersStopped"],
    ) == (3, 1, 1, 1)  # fmt: skip
    config = daemon.config
    assert info["serverVersion"] == __version__
    assert info["stateDir"] == str(config.state_dir)
    assert info["runtimeRoot"] == str(config.runc_root)
    assert (
        info["runtime"]
        == subprocess.run(
            ["sh", "-c", "command -v runc"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    assert info["criu"] == config.criu
    unified = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    assert info["cgroupVersion"] == ("2" if unified else "1")
    assert info["cgroupDriver"] == "cgroupfs"
    assert info["keepContainers"] is False
    assert info["stopContainers"] is False
    assert info["cpus"] == os.sysconf("SC_NPROCESSORS_ONLN")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    assert info["memory"] == int(meminfo[0].split()[1]) * 1024  # MemTotal, first
    uname = os.uname()
    assert (info["name"], info["kernelVersion"], info["architecture"], info["osType"]) == (
        uname.nodename, uname.release, uname.machine, "linux",
    )  # fmt: skip
    release = Path("/etc/os-release").read_text()
    assert f'PRETTY_NAME="{info["operatingSystem"]}"' in release
    # The daemon's pid is its keeper's, the containers' parent; the server is this process.
    assert daemon.daemon.welcome is not None
    assert info["pid"] == daemon.daemon.welcome.keeper_pid
    assert info["serverPid"] == os.getpid()
    assert parse_ns(info["startedAt"]) > 0 and parse_ns(info["serverStartedAt"]) > 0
    assert info["uptimeSeconds"] >= 0
    again = (await client.get("/info")).json()
    assert again["startedAt"] == info["startedAt"]  # read once, not moved by each reading
    assert again["uptimeSeconds"] >= info["uptimeSeconds"]
    assert all(not warning.startswith("WARNING: the API") for warning in info["warnings"])


async def test_info_keeps_the_daemons_start_across_a_reload(
    spawn_daemon: Callable[..., Any],
) -> None:
    """The daemon's pid and start are its keeper's, which lives across a reload: a new server
    says the same start to the nanosecond (until 2026-12-06 each server worked it out again
    from the keeper's start in ticks since boot and its own reading of the wall clock's
    distance from boot, and a reload moved it by some hundreds of nanoseconds: a script that
    watched ``startedAt`` for a restart of the daemon saw one at each reload)."""
    daemon: DaemonProcess = await spawn_daemon()
    before = (await daemon.client.get("/info")).json()
    count = daemon.servings
    assert (await daemon.client.post("/daemon/reload")).status_code == 202
    await daemon.served(count + 1)
    after = (await daemon.client.get("/info")).json()
    assert after["serverPid"] != before["serverPid"]
    assert after["pid"] == before["pid"]
    assert after["startedAt"] == before["startedAt"]


async def test_info_warns_of_plain_tcp_off_loopback(start_daemon: Any) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0), insecure_tcp=True, criu=None
    )
    warnings = (await daemon.client.get("/info")).json()["warnings"]
    assert (
        "WARNING: the API is served on 0.0.0.0:0 without encryption (--insecure-tcp): whoever"
        " reaches it is root on this machine"
    ) in warnings
    assert "WARNING: no checkpoints: the daemon runs without CRIU (--criu none)" in warnings


# --- ctr-trio version, ctr-trio info --------------------------------------------------------


async def test_ctr_trio_version_prints_the_client_and_the_server(daemon: RunningDaemon) -> None:
    result = await run_cli("--address", daemon.url, "version")
    assert result.code == 0, result.err
    client, _, server = result.out.partition("\n\n")
    assert client.splitlines() == [
        "Client:",
        f" Version:        {__version__}",
        f" Python version: {platform.python_version()}",
        f" OS/Arch:        linux/{os.uname().machine}",
    ]
    lines = server.splitlines()
    assert lines[:2] == ["Server:", " containerd-trio:"]
    assert f"  Version:        {__version__}" in lines
    runc = said("runc")
    assert " runc:" in lines and f"  Version:    {runc['version']}" in lines
    assert f"  GitCommit:  {runc['commit']}" in lines
    assert " criu:" in lines
    result = await run_cli("--address", daemon.url, "version", "--json")
    assert result.code == 0
    assert result.json["client"]["version"] == __version__
    assert result.json["server"] == (await daemon.client.get("/version")).json()


async def test_ctr_trio_version_without_a_daemon_prints_the_client_and_fails(
    tmp_path: Path,
) -> None:
    """As docker version: the client's part, then the error, exit 3; at once, not after the
    client's 15 s of retries (--retry still says otherwise)."""
    address = f"unix:{tmp_path}/nobody.sock"
    result = await run_cli("--address", address, "version")
    assert result.code == 3
    assert result.out.startswith("Client:\n") and "Server:" not in result.out
    assert result.err.startswith(f"ctr-trio: cannot reach the daemon at {address}")
    result = await run_cli("--address", address, "--json", "version")
    assert result.code == 3
    assert result.json == {
        "client": {
            "version": __version__,
            "pythonVersion": platform.python_version(),
            "os": "linux",
            "arch": os.uname().machine,
        },
        "server": None,
    }


async def test_ctr_trio_info_without_a_daemon_prints_the_client_and_fails(
    tmp_path: Path,
) -> None:
    """``info`` with no daemon tried it for the client's 15 s of retries, then said so, and
    printed nothing of the client (found in a user's trial, 2026-12-06), where ``version``
    answers at once: as docker info, the client's part, then the error, exit 3, at once
    (--retry still says otherwise). --json and --format are the daemon's document alone:
    nothing on stdout then."""
    address = f"unix:{tmp_path}/nobody.sock"
    with trio.fail_after(10):  # the 15 s of retries would pass it
        result = await run_cli("--address", address, "info")
    assert (result.code, result.out) == (3, f"Client:\n Version: {__version__}\n\n")
    assert result.err.startswith(f"ctr-trio: cannot reach the daemon at {address}")
    assert result.err.count("\n") == 1
    for argv in (["--json", "info"], ["info", "-f", "{{.serverVersion}}"]):
        with trio.fail_after(10):
            result = await run_cli("--address", address, *argv)
        assert (result.code, result.out) == (3, ""), argv
        assert result.err.startswith(f"ctr-trio: cannot reach the daemon at {address}"), argv


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
async def test_ctr_trio_info(daemon: RunningDaemon, bundle: Path, as_json: bool) -> None:
    await start_container(daemon.client, "up", bundle)
    result = await run_cli("--address", daemon.url, *(["--json"] if as_json else []), "info")
    assert result.code == 0, result.err
    if as_json:
        assert result.json["containersRunning"] == 1
        assert result.json["stateDir"] == str(daemon.config.state_dir)
        return
    lines = result.out.splitlines()
    assert " Containers:       1" in lines and "  Running:         1" in lines
    assert f" State Dir:        {daemon.config.state_dir}" in lines
    assert f" Runtime Root:     {daemon.config.runc_root}" in lines
    assert f" Server PID:       {os.getpid()}" in lines
    assert any(line.startswith(" Started:          ") and "(up " in line for line in lines)


async def test_ctr_trio_version_and_info_format(daemon: RunningDaemon, bundle: Path) -> None:
    """docker's ``version --format`` and ``info --format`` (``docker info --format
    '{{.ServerVersion}}'`` in scripts): a template on the JSON of ``--json``, one line; json,
    that JSON on one line (until 2026-12-06 both were usage errors: unrecognized arguments)."""
    await start_container(daemon.client, "up", bundle)
    result = await run_cli(
        "--address", daemon.url, "version", "--format", "{{.server.version}} {{.client.version}}"
    )
    assert (result.code, result.out) == (0, f"{__version__} {__version__}\n"), result.err
    runc = said("runc")
    result = await run_cli("--address", daemon.url, "version", "-f", "{{.server.runc.version}}")
    assert (result.code, result.out) == (0, f"{runc['version']}\n"), result.err
    result = await run_cli(
        "--address", daemon.url, "info", "-f", "{{.serverVersion}} {{.containersRunning}}"
    )
    assert (result.code, result.out) == (0, f"{__version__} 1\n"), result.err
    result = await run_cli("--address", daemon.url, "info", "--format", "json")
    assert result.code == 0 and result.out.count("\n") == 1
    assert result.json["stateDir"] == str(daemon.config.state_dir)
    result = await run_cli("--address", daemon.url, "info", "--format", "{{.serverVersion")
    assert result.code == 2 and "argument -f/--format" in result.err


async def test_ctr_trio_version_format_without_a_daemon(tmp_path: Path) -> None:
    """The client's part still renders; the error is said, exit 3, as without --format."""
    address = f"unix:{tmp_path}/nobody.sock"
    result = await run_cli("--address", address, "version", "-f", "{{.client.version}}")
    assert (result.code, result.out) == (3, f"{__version__}\n")
    assert result.err.startswith(f"ctr-trio: cannot reach the daemon at {address}")
