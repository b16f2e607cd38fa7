"""Who may connect: owner-only unix sockets, no plain TCP off loopback, TLS and mutual TLS."""

from __future__ import annotations

import grp
import os
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio.config import Listen
from containerd_trio.errors import StartupError
from containerd_trio.server import Daemon

from .conftest import RunningDaemon, daemon_config


async def test_unix_socket_is_owner_only(start_daemon: Any, tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    daemon: RunningDaemon = await start_daemon(listen=Listen(unix_path=path))
    info = path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == 0
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=str(path)), base_url="http://d"
    ) as client:
        assert (await client.get("/state")).status_code == 200
    await daemon.stop()
    assert not path.exists()  # no dead socket left for the next client to trip on


async def test_socket_group_makes_it_0660(start_daemon: Any, tmp_path: Path) -> None:
    group = grp.getgrgid(1)  # "daemon" on Debian
    path = tmp_path / "api.sock"
    await start_daemon(listen=Listen(unix_path=path), socket_group=group.gr_name)
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == group.gr_gid


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_plain_tcp_off_loopback_is_refused(tmp_path: Path, host: str) -> None:
    daemon = Daemon(daemon_config(tmp_path / "state", listen=Listen(host=host, port=0)))
    with pytest.raises(StartupError, match=r"refusing plain TCP on .* a non-loopback address"):
        await daemon.run()
    assert not (tmp_path / "state").exists()  # refused before touching anything


async def test_insecure_tcp_must_be_asked_for(start_daemon: Any) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0), insecure_tcp=True
    )
    port = int(daemon.url.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/state")).status_code == 200


# --- TLS ------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from openssl."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=d,
    )
    for name, extension in [
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ]:
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(extension + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
            cwd=d,
        )
    return d


def _client_context(pki: Path, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if with_certificate:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


async def test_tls(start_daemon: Any, pki: Path) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
    )
    assert daemon.url.startswith("https://")
    port = int(daemon.url.rsplit(":", 1)[1])
    context = _client_context(pki, with_certificate=False)
    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=context) as client:
        assert (await client.get("/state")).status_code == 200
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get("/state")


async def test_mutual_tls_requires_a_client_certificate(start_daemon: Any, pki: Path) -> None:
    daemon: RunningDaemon = await start_daemon(
        listen=Listen(host="0.0.0.0", port=0),
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.pem",
    )
    url = f"https://127.0.0.1:{daemon.url.rsplit(':', 1)[1]}"
    async with httpx.AsyncClient(
        base_url=url, verify=_client_context(pki, with_certificate=True)
    ) as client:
        assert (await client.get("/state")).status_code == 200
    async with httpx.AsyncClient(
        base_url=url, verify=_client_context(pki, with_certificate=False)
    ) as stranger:
        with pytest.raises(httpx.HTTPError):
            await stranger.get("/state")


async def test_state_dir_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    daemon = Daemon(daemon_config(blocker / "state"))
    with pytest.raises(StartupError, match=r"the state dir .* is not writable"):
        await daemon.run()


async def test_startup_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    import sys

    result = await trio.run_process(
        [
            sys.executable,
            "-m",
            "containerd_trio",
            "--state-dir",
            str(blocker / "state"),
            "--listen",
            "127.0.0.1:0",
        ],
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "level=error" in lines[0] and "is not writable" in lines[0]
    assert os.path.exists(blocker)
