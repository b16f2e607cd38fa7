"""Every failure to start is one line on stderr and exit 1, and touches nothing.

Each test runs the real ``containerd-trio`` (``python -m containerd_trio``, as
:class:`~tests.conftest.DaemonProcess` does) into the failure and reads what it printed: exactly
one line, and exit status 1. Where another daemon is in the way, that daemon, its containers,
its journal and its socket must be just as they were before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from .helpers import (
    BundleFactory,
    DaemonProcess,
    pid_alive,
    runc_ids,
    start_container,
    wait_output,
)


async def refused(*argv: str) -> str:
    """Run the daemon with ``argv``; assert it exits 1 with one error line on stderr (besides
    the warning of a host that refuses the keeper's OOM score); that line."""
    result = await trio.run_process(
        [sys.executable, "-m", "containerd_trio", *argv],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    lines = [
        line
        for line in result.stderr.decode().splitlines()
        if "cannot lower the keeper's OOM score" not in line
    ]
    assert (result.returncode, len(lines), result.stdout) == (1, 1, b""), result.stderr.decode()
    assert "level=error" in lines[0] and "Traceback" not in lines[0]
    return lines[0]


def fingerprint(paths: Sequence[Path]) -> dict[str, tuple[int, int, str]]:
    """Each file's inode, size and content digest: what "untouched" means here."""
    found = {}
    for path in paths:
        info = os.lstat(path)
        regular = path.is_file() and not path.is_symlink()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if regular else ""
        found[str(path)] = (info.st_ino, info.st_size, digest)
    return found


async def test_port_taken(tmp_path: Path) -> None:
    """Refused for its port, the daemon leaves no state dir behind (not even the parents it
    would have made), and one that was there keeps what it had (its lock file names the
    last pid that took it, by design)."""
    kept = tmp_path / "kept"
    (kept / "containers").mkdir(parents=True)
    (kept / "events.log").write_text("")
    before = fingerprint(sorted(kept.rglob("*")))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for state_dir in (tmp_path / "new" / "s", kept):
            line = await refused("--listen", f"127.0.0.1:{port}", "--state-dir", str(state_dir))
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
            assert "choose another --listen" in line
    assert sorted(os.listdir(tmp_path)) == ["kept"]
    (kept / "daemon.lock").unlink()
    assert fingerprint(sorted(kept.rglob("*"))) == before


async def test_state_dir_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    state = blocker / "state"
    line = await refused("--listen", "127.0.0.1:0", "--state-dir", str(state))
    assert f"the state dir {state} is not writable: Not a directory" in line


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("--runtime", "the runtime binary '/nonexistent/runc' was not found"),
        ("--criu", "CRIU '/nonexistent/criu' was not found or cannot run"),
    ],
)
async def test_runc_or_criu_missing(tmp_path: Path, option: str, says: str) -> None:
    missing = f"/nonexistent/{option.removeprefix('--').replace('runtime', 'runc')}"
    state = tmp_path / "state"
    line = await refused("--listen", "127.0.0.1:0", "--state-dir", str(state), option, missing)
    assert says in line
    assert not state.exists()  # checked before anything is made


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "No such file or directory"),  # a typo in the path
        ("not a certificate\n", "PEM lib"),  # the wrong file
    ],
)
async def test_tls_files_unusable(tmp_path: Path, content: str | None, says: str) -> None:
    """Hypercorn reads them only in the server the keeper starts: without a check first, the
    daemon died with a traceback of three nested exception groups."""
    cert = tmp_path / "cert.pem"
    if content is not None:
        cert.write_text(content)
    state = tmp_path / "state"
    line = await refused(
        "--listen", "127.0.0.1:0", "--state-dir", str(state),
        "--tls-cert", str(cert), "--tls-key", str(cert),
    )  # fmt: skip
    assert f"cannot use --tls-cert {cert} with --tls-key {cert}: " in line and says in line
    assert not state.exists()  # checked before anything is made


async def test_a_failure_in_the_server_s_own_start_says_what_failed(tmp_path: Path) -> None:
    """What the server refuses to start for (here: runc cannot list its containers, which it
    must adopt) was printed as "Exceptions from Trio nursery (1 sub-exception)": the error sat
    in a nursery's group inside the run's, and only the outer group was named."""
    real = shutil.which("runc")
    assert real is not None
    runc = tmp_path / "runc"
    runc.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" list "*) echo "list is broken here" >&2; exit 1;; esac\n'
        f'exec {real} "$@"\n'
    )
    runc.chmod(0o755)
    line = await refused(
        "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state"), "--runtime", str(runc)
    )  # fmt: skip
    assert "cannot list runc's containers to adopt them: " in line, line
    assert "list is broken here" in line, line


@pytest.mark.deadline(90)
async def test_a_second_daemon_on_the_state_dir_touches_nothing(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    first: DaemonProcess = await spawn_daemon()
    bundle = make_bundle(("sh", "-c", "echo hello; while true; do sleep 1000; done"))
    started = await start_container(first.client, "mine", bundle)
    init = started["processes"][0]["pid"]
    await wait_output(first.client, "mine", "hello")
    state = first.state_dir
    # Everything of the first daemon's: its journal, events, lock, logs, runc's state...
    kept = [path for path in state.rglob("*") if not path.is_socket()] + [first.socket]
    assert state / "containers.journal" in kept and state / "runc" / "mine" / "state.json" in kept
    before = fingerprint(kept)

    # The mistyped --listen: another socket, the same state dir.
    other = tmp_path / "other.sock"
    line = await refused("--listen", f"unix:{other}", "--state-dir", str(state))
    assert f"the state dir {state} is in use by another containerd-trio" in line
    assert f"(pid {first.keeper_pid})" in line
    assert not other.exists()

    assert fingerprint(kept) == before
    assert pid_alive(init) and runc_ids(state) == ["mine"]
    answer = (await first.client.get("/containers/mine")).json()
    assert answer["state"]["status"] == "running" and answer["processes"][0]["pid"] == init
    assert first.servings == 1  # the first daemon's server never noticed


@pytest.mark.deadline(90)
async def test_a_socket_served_by_a_live_daemon_is_refused_and_kept(
    spawn_daemon: Callable[..., Any], tmp_path: Path
) -> None:
    first: DaemonProcess = await spawn_daemon()
    before = fingerprint([first.socket])
    line = await refused("--listen", f"unix:{first.socket}", "--state-dir", str(tmp_path / "s2"))
    assert f"cannot listen on unix:{first.socket}: a live daemon serves that socket" in line
    assert fingerprint([first.socket]) == before  # not removed, not replaced
    assert (await first.client.get("/state")).status_code == 200


@pytest.mark.deadline(90)
async def test_a_daemon_removes_only_the_socket_it_made(
    spawn_daemon: Callable[..., Any], tmp_path: Path
) -> None:
    """At its end a daemon removes its own socket file; one that replaced it stays."""
    first: DaemonProcess = await spawn_daemon()
    assert await first.signal_and_wait(15) == 0
    assert not first.socket.exists()

    second: DaemonProcess = await spawn_daemon(state_dir=tmp_path / "state2")
    assert second.socket == first.socket
    # Someone else's socket where the daemon's was (its file removed and made again).
    second.socket.unlink()
    with socket.socket(socket.AF_UNIX) as stranger:
        stranger.bind(str(second.socket))
        inode = os.lstat(second.socket).st_ino
        assert await second.signal_and_wait(15) == 0
        assert os.lstat(second.socket).st_ino == inode
