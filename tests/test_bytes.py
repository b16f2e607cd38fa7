"""What a process writes comes back byte for byte, whatever the bytes: through the attach
WebSocket, ``ctr-trio run``, ``exec`` and ``logs``, from pipes and from a terminal.

The output passed through the log as text: every byte that was not UTF-8 came back as U+FFFD
(``ctr-trio exec c cat /bin/busybox > copy`` made a corrupt copy), and a character across the
16,384th byte of a long line came back as two. Real daemon, real runc; the container cats a
file of ours (:data:`OUTPUT`) from its rootfs.
"""

from __future__ import annotations

import functools
import io
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import httpx
import trio

from containerd_trio.client import cli
from containerd_trio.logfile import MAX_LINE

from .helpers import BundleFactory, RunningDaemon, now, start_container, wait_exit
from .test_interactive import CTR_PIPED, _environment
from .test_logs import is_utf8, record_bytes, records, run_to_exit
from .wsclient import attach


def _output() -> bytes:
    noise = random.Random(256).randbytes(2 * MAX_LINE).replace(b"\n", b"")
    return (
        bytes(range(256)) * 2  # every byte value, a newline among them
        + b"\n"
        # A line of UTF-8 over MAX_LINE, the euro sign (3 bytes) across its 16,384th byte.
        + b"x" * (MAX_LINE - 1)
        + "€ and é".encode()
        + b"\n"
        # The last line, binary, longer than MAX_LINE, no newline; a character across the cut.
        + b"\xff"
        + b"z" * (MAX_LINE - 2)
        + "€".encode()
        + noise
    )


OUTPUT = _output()
TIMEOUT = 30


def _exactly(got: bytes | bytearray) -> str:
    """Nothing if ``got`` is :data:`OUTPUT`, else where it differs first (pytest's own diff
    of 50 KB of bytes would take minutes)."""
    got = bytes(got)
    if got == OUTPUT:
        return ""
    at = next((i for i, (a, b) in enumerate(zip(got, OUTPUT, strict=False)) if a != b), None)
    at = min(len(got), len(OUTPUT)) if at is None else at
    return f"{len(got)} bytes for {len(OUTPUT)}, first apart at {at}: {got[at : at + 16]!r}"


def _bundle(make_bundle: BundleFactory, *args: str, terminal: bool = False) -> Path:
    bundle = make_bundle(args, terminal=terminal) if args else make_bundle(terminal=terminal)
    (bundle / "rootfs" / "output").write_bytes(OUTPUT)
    return bundle


async def _exec(client: httpx.AsyncClient, container_id: str, **body: Any) -> int:
    response = await client.put(f"/containers/{container_id}/processes", json=body)
    assert response.status_code == 201, response.text
    pid: int = response.json()["pid"]
    return pid


async def test_pipes_carry_every_byte_through_attach_and_the_log(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    await start_container(client, "bin", _bundle(make_bundle))
    script = "cat /output; cat /output >&2"
    pid = await _exec(client, "bin", args=["sh", "-c", script])
    with trio.fail_after(TIMEOUT):
        session = await attach(daemon.url, "bin", pid, query="logs=true")
        assert await session.to_end() == 0
    assert _exactly(session.output) == ""
    assert _exactly(session.stderr) == ""
    # The log's records: raw bytes where (and only where) a record's are not UTF-8.
    response = await client.get("/containers/bin/logs", params={"pid": str(pid)})
    records = [json.loads(line) for line in response.text.splitlines()]
    for record in records:
        data = record_bytes(record)
        assert list(record)[:4] == ["stream", "pid", "timestamp", "data"]
        assert ("raw" in record) == (not is_utf8(data))
        assert len(data) <= MAX_LINE
    for stream in ("stdout", "stderr"):
        mine = [record for record in records if record["stream"] == stream]
        assert _exactly(b"".join(record_bytes(record) for record in mine)) == ""
        # The long line of UTF-8 stayed text, cut before the character of its 16,384th byte.
        at = next(n for n, record in enumerate(mine) if record["data"].startswith("xxx"))
        assert [record["data"] for record in mine[at : at + 2]] == [
            "x" * (MAX_LINE - 1),
            "€ and é\n",
        ]


async def test_a_terminal_carries_every_byte_through_attach(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    await start_container(client, "tty", _bundle(make_bundle))
    # Raw mode: the terminal passes what cat writes as it is (no \r before each \n).
    script = "stty raw -echo; cat /output"
    pid = await _exec(client, "tty", args=["sh", "-c", script], terminal=True)
    with trio.fail_after(TIMEOUT):
        session = await attach(daemon.url, "tty", pid, query="logs=true")
        assert await session.to_end() == 0
    assert _exactly(session.output) == ""


async def test_a_terminal_shows_the_start_of_a_character_that_stays_unfinished(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A terminal's read that ends with the first byte of a UTF-8 character waits a moment for
    the rest, then is sent as it is: a program whose output ends with such a byte and then
    waits for its user (a Latin-1 prompt, \\351 being its e acute; a binary protocol waiting
    for its answer) had that byte held back until its next output, which never came."""
    await start_container(client, "prompt", make_bundle())
    script = "stty raw -echo; printf 'caf\\351'; head -c 1 >/dev/null; printf ok"
    pid = await _exec(client, "prompt", args=["sh", "-c", script], terminal=True)
    with trio.fail_after(TIMEOUT):
        session = await attach(daemon.url, "prompt", pid, query="logs=true")
    with trio.fail_after(5):  # the prompt comes at once (the hold is of 50 ms)
        assert await session.read_until(b"caf\xe9")
    await session.type("y")
    with trio.fail_after(TIMEOUT):
        assert await session.to_end() == 0
    assert bytes(session.output) == b"caf\xe9ok"


async def _ctr(*argv: str) -> tuple[int, bytes, bytes]:
    """``ctr-trio ARGV`` in a thread, its stdout and stderr as the bytes written to them (text
    streams over bytes, as a process's are)."""
    out, err = io.BytesIO(), io.BytesIO()
    stdout, stderr = io.TextIOWrapper(out), io.TextIOWrapper(err)
    code = await trio.to_thread.run_sync(
        functools.partial(cli.run, list(argv), stdout, stderr), abandon_on_cancel=True
    )
    stdout.flush()
    stderr.flush()
    return code, out.getvalue(), err.getvalue()


async def test_ctr_trio_run_exec_and_logs_write_every_byte(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    address = ("--address", daemon.url)
    bundle = _bundle(make_bundle, "sh", "-c", "cat /output; cat /output >&2")
    with trio.fail_after(TIMEOUT):
        code, out, err = await _ctr(*address, "run", "-b", str(bundle), "ran")
    assert code == 0, err[-500:]
    assert (_exactly(out), _exactly(err)) == ("", "")
    # logs: the init's stdout records on our stdout, its stderr ones on our stderr.
    with trio.fail_after(TIMEOUT):
        code, out, err = await _ctr(*address, "logs", "ran")
    assert code == 0, err[-500:]
    assert (_exactly(out), _exactly(err)) == ("", "")

    await start_container(client, "box", _bundle(make_bundle))
    with trio.fail_after(TIMEOUT):
        code, out, err = await _ctr(*address, "exec", "box", "--", "cat", "/output")
    assert (code, err) == (0, b"")
    assert _exactly(out) == ""
    since = now()
    pid = await _exec(client, "box", args=["sh", "-c", "cat /output >&2"])
    await wait_exit(client, "box", pid, since)
    with trio.fail_after(TIMEOUT):
        code, out, err = await _ctr(*address, "logs", "box")
    assert code == 0
    assert (_exactly(out), _exactly(err)) == ("", "")


async def test_ctr_trio_logs_keeps_stdout_and_stderr_in_order_in_one_file(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Bytes go to the buffers under stdout and stderr, which know no lines: written into one
    file (2>&1), or onto one terminal, the records come out in the log's order. (As text, a
    file's stdout was flushed at the end and stderr at each line: stderr's came first.)"""
    script = "echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2"
    await run_to_exit(client, "talk", make_bundle(["sh", "-c", script]))
    written = [record["data"] for record in await records(client, "talk")]
    assert written == ["out-1\n", "err-1\n", "out-2\n"]  # the order to keep
    environment = _environment()
    environment.pop("PYTHONUNBUFFERED", None)  # its streams buffered, as they are for a user
    both = tmp_path / "both"
    with both.open("wb") as file, trio.fail_after(TIMEOUT):
        argv = [*CTR_PIPED, "--address", daemon.url, "logs", "talk"]
        await trio.run_process(argv, stdout=file, stderr=subprocess.STDOUT, env=environment)
    assert both.read_bytes() == b"out-1\nerr-1\nout-2\n"
