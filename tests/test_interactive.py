"""``ctr-trio`` as a person uses it at a terminal: a real pseudo-terminal (pexpect) runs the
real command; the daemon is real, the containers are runc's.

pexpect blocks, so each of its calls runs in a thread; each has its own timeout, under the
test's deadline.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest
import trio

from containerd_trio import attach as attach_module
from containerd_trio import logs, procfs
from containerd_trio.client import cli

from .helpers import (
    BundleFactory,
    RunningDaemon,
    WatchedProcess,
    log_files_held,
    now,
    pid_alive,
    run_status,
    runc_ids,
    start_container,
    wait_output,
)

CTR = str(Path(sys.executable).parent / "ctr-trio")
#: This checkout, first on ctr-trio's path: the venv's script imports the package the venv was
#: installed from, which need not be the code under test (another worktree).
ROOT = str(Path(__file__).resolve().parent.parent)
#: ctr-trio out of a terminal (its input a script's): this checkout's, with _environment().
CTR_PIPED = [sys.executable, "-c", "from containerd_trio.client.cli import main; main()"]
TIMEOUT = 20


def _environment(**env: str) -> dict[str, str]:
    """Ours, with this checkout first on Python's path."""
    path = os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH"))))
    return dict(os.environ, PYTHONPATH=path, **env)


class Terminal:
    """``ctr-trio ARGS`` in a pseudo-terminal of ``rows`` x ``columns``."""

    def __init__(
        self,
        address: str,
        *args: str,
        rows: int = 24,
        columns: int = 80,
        stdin: str | None = None,
        **env: str,
    ):
        """``stdin``: a file ctr-trio's input comes from instead (its output still the
        terminal), as a shell's ``< FILE``."""
        environment = _environment(CONTAINERD_TRIO_ADDRESS=address, **env)
        command, argv = CTR, list(args)
        if stdin is not None:
            command, argv = "sh", ["-c", 'exec "$0" "$@" < "$STDIN"', CTR, *args]
            environment["STDIN"] = stdin
        self.child = pexpect.spawn(
            command, argv, env=environment, dimensions=(rows, columns), timeout=TIMEOUT
        )

    async def expect(self, pattern: str) -> None:
        await trio.to_thread.run_sync(self.child.expect, pattern)

    async def type(self, line: str) -> None:
        await trio.to_thread.run_sync(self.child.send, line)

    def resize(self, rows: int, columns: int) -> None:
        """As a terminal emulator's window changes: the kernel sends SIGWINCH to ctr-trio."""
        self.child.setwinsize(rows, columns)

    async def status(self) -> int:
        """ctr-trio's exit status, once it ended."""
        await trio.to_thread.run_sync(functools.partial(self.child.expect, pexpect.EOF))
        await trio.to_thread.run_sync(self.child.wait)
        assert self.child.exitstatus is not None, self.child.signalstatus
        return int(self.child.exitstatus)


async def leave_a_mark_and_detach(shell: Terminal) -> None:
    """At a shell's first prompt: set ``x=still-here``, for a later session to find, then
    detach with the default keys; ctr-trio says so and ends with 0."""
    await shell.expect("/ # ")
    await shell.type("x=still-here\r")
    await shell.expect("/ # ")
    await shell.type("\x10\x11")  # ctrl-p ctrl-q
    await shell.expect("detached")
    assert await shell.status() == 0


async def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = await trio.to_thread.run_sync(
        functools.partial(cli.run, list(argv), stdout, stderr), abandon_on_cancel=True
    )
    return code, stdout.getvalue(), stderr.getvalue()


async def read_until(process: trio.Process, shown: bytes, wanted: bytes) -> bytes:
    """``shown`` and what ``process`` writes on its stdout next, up to ``wanted``; its end before
    that fails the test, saying what came and its stderr."""
    assert process.stdout is not None and process.stderr is not None
    while wanted not in shown:
        chunk = await process.stdout.receive_some()
        assert chunk, (shown, await process.stderr.receive_some())
        shown += chunk
    return shown


async def test_exec_it_shell_answers_sees_resizes_and_exits_with_its_status(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "box", bundle)
    shell = Terminal(daemon.url, "exec", "-t", "-i", "box", "--", "sh", rows=30, columns=100)
    await shell.expect("/ # ")  # the first prompt
    await shell.type("ls /\r")
    await shell.expect("proc")
    await shell.type("stty size\r")  # the size it started with is ours
    await shell.expect("30 100")
    shell.resize(40, 120)
    await shell.type("stty size\r")
    await shell.expect("40 120")
    await shell.type("exit 5\r")
    assert await shell.status() == 5


async def test_cat_with_stdin_echoes_and_ends_at_eof(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "box", bundle)
    cat = Terminal(daemon.url, "exec", "-i", "box", "--", "cat")
    await cat.type("first line\r")
    await cat.expect("first line\r\n")  # our terminal's echo
    await cat.expect("first line\r\n")  # cat's
    await trio.to_thread.run_sync(cat.child.sendeof)  # Ctrl-D: our input ends, so does cat's
    assert await cat.status() == 0


async def test_detach_leaves_the_shell_running_and_attach_finds_it_again(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "box", bundle)
    shell = Terminal(daemon.url, "exec", "-it", "box", "--", "sh")
    await leave_a_mark_and_detach(shell)
    [_, process] = (await client.get("/containers/box")).json()["processes"]
    assert process["args"] == ["sh"] and pid_alive(process["pid"])

    # Other keys, from the environment; ctrl-p alone goes through to the shell.
    again = Terminal(
        daemon.url, "attach", "box", "--pid", str(process["pid"]), CTR_TRIO_DETACH_KEYS="ctrl-a,d"
    )
    await again.type("echo $x\r")
    await again.expect("still-here")
    await again.type("\x01d")
    await again.expect("detached")
    assert await again.status() == 0

    last = Terminal(
        daemon.url, "attach", "--detach-keys", "ctrl-x", "box", "--pid", str(process["pid"])
    )
    await last.type("exit 9\r")
    assert await last.status() == 9


async def test_a_session_ended_by_sigterm_or_sighup_restores_the_terminal(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """``timeout 60 ctr-trio exec -it ...``, a ``kill``, a closed terminal window: ctr-trio ends
    with 128+N, and the user's terminal is back in its own mode (echo, line editing), not left
    raw. The process goes on, as after a detach. So for any other signal that would end
    ctr-trio (SIGUSR1, SIGQUIT, a real-time one): each left the terminal raw."""
    await start_container(client, "box", bundle)
    ending = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT, signal.SIGRTMIN + 3)
    for signum in ending:
        shell = Terminal(daemon.url, "exec", "-it", "box", "--", "sh")
        await shell.expect("/ # ")
        lflag = termios.tcgetattr(shell.child.child_fd)[3]
        assert not lflag & (termios.ICANON | termios.ECHO)  # raw, for the session
        shell.child.kill(signum)
        assert await shell.status() == 128 + signum
        lflag = termios.tcgetattr(shell.child.child_fd)[3]
        assert lflag & termios.ICANON and lflag & termios.ECHO, signum
    processes = (await client.get("/containers/box")).json()["processes"]
    assert [p["args"] for p in processes[1:]] == [["sh"]] * len(ending)


async def test_attach_to_a_terminal_refuses_an_input_that_is_not_a_terminal(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio attach shell < /dev/null`` (a script, cron, nohup): the shell's terminal
    would take that input's bytes as keys typed (until 2026-12-04 its end too, as Ctrl-D,
    which ended the shell and the container with it). As exec -it, run -it and docker attach,
    it refuses; --no-stdin attaches for the output."""
    bundle = make_bundle(["sh"], terminal=True)
    await start_container(client, "tty", bundle, stdin=True)
    with trio.fail_after(TIMEOUT):
        done = await trio.run_process(
            [*CTR_PIPED, "--address", daemon.url, "attach", "tty"], stdin=b"",
            capture_stdout=True, capture_stderr=True, check=False, env=_environment(),
        )  # fmt: skip
    assert done.returncode == cli.EXIT_ERROR, done
    assert b"the input is not a terminal: add --no-stdin" in done.stderr
    assert (await client.get("/containers/tty")).json()["state"]["status"] == "running"


async def test_attach_to_a_paused_container_is_refused_as_docker_s(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's attach refuses a paused container ("unpause it first"), as our start -a does:
    a session would show nothing and take input nowhere until its resume."""
    await start_container(client, "frozen", make_bundle(["cat"]), stdin=True)
    paused = await client.patch("/containers/frozen", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    with trio.fail_after(TIMEOUT):
        done = await trio.run_process(
            [*CTR_PIPED, "--address", daemon.url, "attach", "frozen"], stdin=b"",
            capture_stdout=True, capture_stderr=True, check=False, env=_environment(),
        )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        cli.EXIT_ERROR,
        b"ctr-trio: container frozen is paused: resume (unpause) it first\n",
    ), done
    assert (await client.get("/containers/frozen")).json()["state"]["status"] == "paused"


async def test_run_i_shows_a_prompt_without_its_newline_before_the_answer(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """``ctr-trio run -i`` of a program that prompts without a newline (``printf 'Name? '``)
    and waits for its answer: the prompt shows before we answer, as docker's attach shows it.
    Before, the log held a pipe's line back until its newline, and attach reads the log: the
    prompt came only with the answer's line, after it was typed blind."""
    bundle = make_bundle(["sh", "-c", 'printf "Name? "; read name; echo "hi $name"'])
    with trio.fail_after(TIMEOUT):
        process = await trio.lowlevel.open_process(
            [*CTR_PIPED, "--address", daemon.url, "run", "-i", "-b", str(bundle), "asker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_environment(),
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        try:
            shown = await read_until(process, b"", b"Name? ")  # nothing typed yet
            await process.stdin.send_all(b"bob\n")
            await process.stdin.aclose()
            while chunk := await process.stdout.receive_some():
                shown += chunk
            assert (await process.wait(), shown) == (0, b"Name? hi bob\n")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_start_ai_sends_piped_input_to_a_container_started_again_as_docker_s(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``echo hi | docker start -ai c``: the stopped container started again, our
    input to its init's stdin (kept open by its start's -i, which the daemon's record keeps),
    its output here and its exit status ours. ``start -i`` without -b was a usage error
    (``-i without -b/--bundle``): ``start -a`` took no input."""

    async def ctr(stdin: bytes, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return await trio.run_process(
            [*CTR_PIPED, "--address", daemon.url, *argv], stdin=stdin,
            capture_stdout=True, capture_stderr=True, check=False, env=_environment(),
        )  # fmt: skip

    with trio.fail_after(TIMEOUT):
        reader = str(make_bundle(["sh", "-c", "cat; exit 4"]))
        first = await ctr(b"first\n", "run", "-i", "-b", reader, "reader")
        assert (first.returncode, first.stdout, first.stderr) == (4, b"first\n", b""), first
        for argv, given in ((["-ai"], b"hi\n"), (["-i"], b"again\n")):  # -i attaches too
            again = await ctr(given, "start", *argv, "reader")
            assert (again.returncode, again.stdout, again.stderr) == (4, given, b""), again

        # A container whose start kept no stdin (no -i) takes none, as docker's start -ai sends
        # none where the container's OpenStdin is false: attached to its output only.
        await ok_start(client, "plain", make_bundle(["sh", "-c", "echo plain; cat; exit 5"]))
        plain = await ctr(b"not for it\n", "start", "-ai", "plain")
        assert (plain.returncode, plain.stdout, plain.stderr) == (5, b"plain\n", b""), plain

        # A terminal with its stdin kept open, from an input that is not a terminal: its
        # bytes would be keys typed. Refused before the start, as docker's start -ai.
        tty = make_bundle(["sh", "-c", "exit 3"], terminal=True)
        await ok_start(client, "tty", tty, stdin=True)
        assert (await client.get("/containers/tty")).json()["terminal"] is True
        # Known from the daemon's view, not the bundle (a client on another host sees none).
        (tty / "config.json").rename(tty / "config.json.away")
        refused = await ctr(b"", "start", "-ai", "tty")
        assert refused.returncode == cli.EXIT_ERROR, refused
        assert b"the input is not a terminal: leave out -i" in refused.stderr, refused
        state = (await client.get("/containers/tty")).json()["state"]
        assert (state["status"], state["exitStatus"]) == ("stopped", 3), state


async def ok_start(client: httpx.AsyncClient, container_id: str, bundle: Path, **body: Any) -> None:
    """Start ``container_id`` and wait until it stopped (its init ends by itself)."""
    await start_container(client, container_id, bundle, **body)
    ended = await client.post(f"/containers/{container_id}/wait", timeout=TIMEOUT)
    assert ended.status_code == 200, ended.text


async def test_piped_attaches_one_after_another_all_reach_a_cat_started_detached(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's ``docker run -di c cat``, then ``echo one | docker attach c`` and ``echo two |
    docker attach c``: cat reads both, for the end of an attach's input ends that session (a
    detach), and closes the container's stdin only where docker's ``StdinOnce`` says so (the
    session of ``run -i``, ``start -ai``, ``exec -i``). Before, every session closed it at its
    input's end: the first attach ended cat for good, and the second found it stopped. A
    ``start -ai`` of a running container is an attach too, as docker's of one ``run -di``
    started; its input's end leaves the stdin open."""

    async def ctr(stdin: bytes, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return await trio.run_process(
            [*CTR_PIPED, "--address", daemon.url, *argv], stdin=stdin,
            capture_stdout=True, capture_stderr=True, check=False, env=_environment(),
        )  # fmt: skip

    with trio.fail_after(TIMEOUT):
        started = await start_container(client, "reader", make_bundle(["cat"]), stdin=True)
        [init] = started["processes"]
        for argv, line in ((["attach"], "one"), (["attach"], "two"), (["start", "-ai"], "three")):
            attached = await ctr(f"{line}\n".encode(), *argv, "reader")
            assert attached.returncode == 0, attached
            assert (
                attached.stderr
                == (
                    f"ctr-trio: our input ended: detached, the process's input left open; process"
                    f" {init['pid']} of reader goes on running\n"
                ).encode()
            ), attached
            assert attached.stdout in (b"", f"{line}\n".encode()), attached  # cat's, if it came
            await wait_output(client, "reader", line)  # cat read it: its stdin was open
            now_running = (await client.get("/containers/reader")).json()
            assert now_running["state"]["status"] == "running", (argv, now_running)
            assert now_running["processes"] == [init], (argv, now_running)
        logged = await client.get("/containers/reader/logs")
        assert [json.loads(line)["data"] for line in logged.text.splitlines()] == [
            "one\n",
            "two\n",
            "three\n",
        ]


async def test_the_end_of_our_input_sends_a_terminal_no_ctrl_d(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """With a terminal, docker never closes the process's input at the end of ours (its
    attach closes the container's stdin there only with ``StdinOnce`` and no terminal): the
    session ends, a detach. Ours sent the close, which a terminal gets as its EOF character:
    a terminal that hung up (a closed window, a dropped ssh, here a pseudo-terminal that is
    not ctr-trio's controlling one, so no SIGHUP comes) typed Ctrl-D into the shell, which
    exited; and the terminal's mode, restored at the end, could not be (EIO): a traceback."""
    await start_container(client, "box", bundle)
    user_side, ours = os.openpty()
    try:
        process = await trio.lowlevel.open_process(
            [*CTR_PIPED, "--address", daemon.url, "exec", "-it", "box", "--", "sh"],
            stdin=ours, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env=_environment(),
        )  # fmt: skip
    except BaseException:
        os.close(user_side)
        raise
    finally:
        os.close(ours)  # ctr-trio's now
    hung_up = False
    try:
        with trio.fail_after(TIMEOUT):
            await read_until(process, b"", b"/ # ")  # the shell's first prompt: attached
            os.close(user_side)  # the terminal hangs up: our input ends
            hung_up = True
            assert process.stderr is not None
            assert await process.wait() == 0, await process.stderr.receive_some()
            said = await process.stderr.receive_some()
            assert said.startswith(b"ctr-trio: our input ended: detached"), said
    finally:
        if not hung_up:
            os.close(user_side)
        if process.returncode is None:
            process.kill()
            await process.wait()
    [_, shell] = (await client.get("/containers/box")).json()["processes"]
    assert shell["args"] == ["sh"] and pid_alive(shell["pid"])


async def test_run_t_from_an_input_that_is_not_a_terminal_leaves_the_terminal_be(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio run -t`` (no -i) from a script: its output comes here, but nothing of our
    input goes to the terminal; before, its end went there as Ctrl-D (a shell's read ended at
    once, and a shell init exited with 0)."""
    bundle = str(make_bundle(["sh", "-c", 'timeout 2 cat; echo "cat:$?"'], terminal=True))
    with trio.fail_after(TIMEOUT):
        done = await trio.run_process(
            [*CTR_PIPED, "--address", daemon.url, "run", "-t", "tty", "-b", bundle], stdin=b"",
            capture_stdout=True, check=False, env=_environment(),
        )  # fmt: skip
    # cat was ended by timeout (SIGTERM), for nothing came: not 0, cat's end at the EOF it
    # read before.
    assert b"cat:143" in done.stdout, done.stdout
    assert done.returncode == 0


async def test_run_without_a_terminal_sends_our_signals_on_to_the_process(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Ctrl-C (SIGINT), or a SIGTERM, to ``ctr-trio run`` without -t ended ctr-trio (130, or
    killed) and left the container running, unseen. As docker's run (--sig-proxy), the
    process gets the signal; what it does about it, and its status, are ctr-trio's."""
    bundle = str(make_bundle(["sh", "-c", "trap 'echo got INT; exit 5' INT;"
                              " trap 'echo got TERM; exit 6' TERM;"
                              " echo ready; while :; do sleep 0.1; done"]))  # fmt: skip
    for name, signum, status in (("int", signal.SIGINT, 5), ("term", signal.SIGTERM, 6)):
        with trio.fail_after(TIMEOUT):
            process = await trio.lowlevel.open_process(
                [*CTR_PIPED, "--address", daemon.url, "run", name, "-b", bundle],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment(),
            )  # fmt: skip
            try:
                assert process.stdout is not None and process.stderr is not None
                # attached, its handler set: now signal us
                shown = await read_until(process, b"", b"ready\n")
                process.send_signal(signum)
                while chunk := await process.stdout.receive_some():
                    shown += chunk
                assert await process.wait() == status, await process.stderr.receive_some()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        said = signal.Signals(signum).name.removeprefix("SIG")
        assert shown == f"ready\ngot {said}\n".encode()
        container = (await client.get(f"/containers/{name}")).json()
        assert run_status(container["state"]) == {"status": "stopped", "exitStatus": status}, (
            container
        )


async def test_a_session_without_a_terminal_sends_on_every_signal_a_process_may_catch(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Only SIGINT, SIGTERM and SIGHUP were sent on: a SIGUSR1 (or SIGUSR2, SIGQUIT, SIGALRM, a
    real-time signal) to ``run`` or ``attach`` without a terminal ended ctr-trio, killed by it,
    and the process went on unseen, its trap never run. As docker's ``--sig-proxy``, every
    signal a process may catch goes on: the process's trap runs, and the session goes on."""
    realtime = signal.SIGRTMIN + 3  # by number: the container's libc may name it otherwise
    bundle = str(make_bundle(["sh", "-c", f"trap 'echo got USR1' USR1; trap 'echo got {realtime}'"
                              f" {realtime}; trap 'echo got TERM; exit 6' TERM;"
                              " echo ready; while :; do sleep 0.1; done"]))  # fmt: skip
    await start_container(client, "attached", Path(bundle))
    ctr = [*CTR_PIPED, "--address", daemon.url]
    for argv in (["run", "ran", "-b", bundle], ["attach", "--logs", "attached"]):
        with trio.fail_after(TIMEOUT):
            process = await trio.lowlevel.open_process(
                [*ctr, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment()
            )
            try:
                assert process.stdout is not None and process.stderr is not None
                # Attached (ctr-trio's handlers set: it shows output from its session only), and
                # the traps set before "ready": now signal ctr-trio. Each trap's line says the
                # signal reached the process and that ctr-trio lived on to show it.
                shown = await read_until(process, b"", b"ready\n")
                process.send_signal(signal.SIGUSR1)
                shown = await read_until(process, shown, b"got USR1\n")
                process.send_signal(realtime)
                shown = await read_until(process, shown, b"got %d\n" % realtime)
                process.send_signal(signal.SIGTERM)  # still the session's: its status is ours
                while chunk := await process.stdout.receive_some():
                    shown += chunk
                assert await process.wait() == 6, (argv, await process.stderr.receive_some())
                assert await process.stderr.receive_some() == b"", argv
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        assert shown == b"ready\ngot USR1\ngot %d\ngot TERM\n" % realtime, argv
        name = argv[-1] if argv[0] == "attach" else argv[1]
        container = (await client.get(f"/containers/{name}")).json()
        assert run_status(container["state"]) == {"status": "stopped", "exitStatus": 6}, container


async def test_a_third_sigterm_or_sigint_ends_a_session_that_sends_them_on(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``timeout 3 ctr-trio attach ID --no-stdin`` to a process that ignores SIGTERM never
    ended: every SIGTERM (and Ctrl-C) went on to the process, and ctr-trio waited on. As
    docker's client (27.0 on), the third SIGTERM or SIGINT of a session ends ctr-trio instead
    of going on, with a line on stderr, the process running on (run --rm hands it to the
    daemon); the first two still go on."""
    bundle = str(make_bundle(["sh", "-c", "trap 'echo got TERM' TERM; trap 'echo got INT' INT;"
                              " echo ready; while :; do sleep 0.1; done"]))  # fmt: skip
    await start_container(client, "deaf", Path(bundle))
    ctr = [*CTR_PIPED, "--address", daemon.url]
    for argv in (["attach", "--no-stdin", "--logs", "deaf"], ["run", "--rm", "ran", "-b", bundle]):
        with trio.fail_after(TIMEOUT):
            process = await trio.lowlevel.open_process(
                [*ctr, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=_environment(),
            )  # fmt: skip
            try:
                assert process.stderr is not None
                shown = await read_until(process, b"", b"ready\n")  # attached: now signal it
                process.send_signal(signal.SIGTERM)
                shown = await read_until(process, shown, b"got TERM\n")  # sent on
                process.send_signal(signal.SIGINT)
                shown = await read_until(process, shown, b"got INT\n")  # sent on
                process.send_signal(signal.SIGTERM)  # the third: ctr-trio's own
                assert await process.wait() == 128 + signal.SIGTERM, argv
                said = await process.stderr.receive_some()
                assert said.startswith(b"ctr-trio: got 3 SIGTERM/SIGINTs: left process "), said
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        name = argv[-1] if argv[0] == "attach" else "ran"
        container = (await client.get(f"/containers/{name}")).json()
        assert container["state"]["status"] == "running", (argv, container)
        assert container.get("autoRemove", False) is (argv[0] == "run"), (argv, container)


async def test_sig_proxy_false_leaves_the_signals_to_ctr_trio(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``--sig-proxy=false`` was refused (a usage error): the signals were always sent on. As
    docker's: Ctrl-C, SIGTERM and SIGHUP to ``run``, ``start -a`` and ``attach`` without a
    terminal end ctr-trio alone (130 for Ctrl-C, quietly; killed by the others), and the
    process runs on, its traps untouched; ``attach`` finds it again."""
    traps = "".join(f"trap 'echo got {name}; exit {status}' {name}; "
                    for name, status in (("INT", 5), ("TERM", 6), ("HUP", 7)))  # fmt: skip
    bundle = str(make_bundle(["sh", "-c", f"{traps}echo ready; while :; do sleep 0.1; done"]))
    await start_container(client, "attached", Path(bundle))
    ctr = [*CTR_PIPED, "--address", daemon.url]
    for argv, signum, ended in (
        (["run", "--sig-proxy=false", "ran", "-b", bundle], signal.SIGINT, 130),
        (["start", "-a", "started", "-b", bundle, "--sig-proxy=0"], signal.SIGTERM, -15),
        (["attach", "--logs", "--sig-proxy=false", "attached"], signal.SIGHUP, -1),
    ):
        with trio.fail_after(TIMEOUT):
            process = await trio.lowlevel.open_process(
                [*ctr, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment()
            )
            try:
                assert process.stdout is not None and process.stderr is not None
                await read_until(process, b"", b"ready\n")  # attached: now signal ctr-trio
                process.send_signal(signum)
                assert await process.wait() == ended, argv
                assert await process.stderr.receive_some() == b"", argv  # no traceback
                assert await process.stdout.receive_some() == b"", argv  # no trap ran
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        name = argv[-1] if argv[0] == "attach" else argv[argv.index("-b") - 1]
        assert (await client.get(f"/containers/{name}")).json()["state"]["status"] == "running"
    # Each one's traps are still there, for it never got the signal: now it does.
    code, out, _ = await run_cli("--address", daemon.url, "kill", "-s", "INT", "ran")
    assert code == 0, out
    code, out, _ = await run_cli("--address", daemon.url, "wait", "ran")
    assert (code, out) == (0, "5\n")


async def test_a_session_cut_off_for_falling_behind_goes_on_from_now(
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood at the terminal (``yes``, a big ``cat``) outruns what ctr-trio can show: the
    daemon cuts the session off once it is MAX_LAG behind. The session goes on from now, saying
    what was skipped; before, ctr-trio ended with 1, leaving the user's shell behind."""
    monkeypatch.setattr(attach_module, "MAX_LAG", 0.2)
    await start_container(client, "box", bundle)
    shell = Terminal(daemon.url, "exec", "-it", "box", "--", "sh")
    shell.child.searchwindowsize = 4096  # megabytes go by: look at the end of them only
    await shell.expect("/ # ")
    # A terminal slower than the flood: nothing is read from it until the whole flood is in
    # the log and older than MAX_LAG (the shell's sleep; its mark, a record of its own, comes
    # after). Waiting a fixed time instead, a busy machine's flood could begin only once the
    # terminal was read again, fast enough for the session to keep up.
    flood = "yes | head -c 3000000; sleep 0.3; echo flood-$((1+1))-over"
    await shell.type(f"{flood}; sleep 2; echo end-$((6*7)); exit 3\r")
    with trio.fail_after(TIMEOUT):
        await wait_output(client, "box", "flood-2-over")
    await shell.expect("fell more than 0.2 s behind the output: output skipped up to now")
    await shell.expect("end-42")  # written once the flood is over: live
    assert await shell.status() == 3


async def test_attach_without_a_terminal_that_the_output_outran_says_why_and_exits_1(
    start_daemon: Callable[..., Any], make_bundle: BundleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctr-trio attach whose output goes to a pipe nobody reads for a while (a script's, say)
    falls behind a loud process by more log files than a session may hold: the daemon lets go
    of them and ends the session (1008); ctr-trio prints the output it got, then says why it
    ended, and exits 1: the hole in the output is not left untold. Before, the session held
    every rotated file, deleted, for as long as it lasted. The time limits are out of the way."""
    monkeypatch.setattr(attach_module, "SEND_TIMEOUT", 60.0)
    monkeypatch.setattr(attach_module, "MAX_LAG", 60.0)
    cap = 64 * 1024
    daemon = await start_daemon(log_max_bytes=cap)
    await start_container(daemon.client, "lb-cli", make_bundle(["yes", "x" * 1023]))
    directory = daemon.config.containers_dir / "lb-cli"
    argv = [*CTR_PIPED, "--address", daemon.url, "attach", "--no-stdin", "lb-cli"]
    with trio.fail_after(60):
        process = await trio.lowlevel.open_process(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment()
        )
        assert process.stdout is not None and process.stderr is not None
        try:
            began = False
            while True:  # the session holds the log's files, then none: it was let go
                held = log_files_held(directory)
                if began and not held:
                    break
                began = began or bool(held)
                await trio.sleep(0.01)
            output, errors = bytearray(), bytearray()
            async with trio.open_nursery() as nursery:

                async def read_all(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
                    while chunk := await stream.receive_some():
                        into += chunk

                nursery.start_soon(read_all, process.stdout, output)
                nursery.start_soon(read_all, process.stderr, errors)
            code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    most = logs.behind_at_most(cap)
    said = f"ctr-trio: the daemon ended this attach: the client fell more than {most} log files ("
    assert code == 1, (code, bytes(errors))
    assert errors.decode().startswith(said), bytes(errors)
    assert errors.decode().rstrip().endswith(") behind the output"), bytes(errors)
    assert output and set(output) == set(b"x\n")


async def test_run_it_a_terminal_bundle(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    bundle = str(make_bundle(["sh"], terminal=True))
    shell = Terminal(daemon.url, "run", "-it", "tty", "-b", bundle)
    await shell.expect("/ # ")
    await shell.type("echo $((20+22))\r")
    await shell.expect("42")
    await shell.type("exit 4\r")
    assert await shell.status() == 4
    assert (await client.get("/containers/tty")).json()["state"]["exitStatus"] == 4

    # -t on a bundle whose process has no terminal asks for one (the start's process).
    plain = str(make_bundle(["tty"]))
    code, out, err = await run_cli("--address", daemon.url, "start", "-t", "plain", "-b", plain)
    assert (code, err) == (0, ""), err
    assert "/dev/pts/" in out
    assert (await client.get("/containers/plain")).json()["process"] == {"terminal": True}


async def test_run_it_starts_the_init_at_the_size_of_our_window(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``docker run -it busybox stty size`` prints the window's size: the init's terminal has
    it from its start (the start's ``consoleSize``), not only once the session's resize
    comes. Until 2026-12-03 a program that read its size at once saw 0x0 (busybox's stty:
    ``stty: standard input``), or the bundle's ``consoleSize``."""
    sized = make_bundle(["sh"], terminal=True)
    config = json.loads((sized / "config.json").read_text())
    config["process"]["consoleSize"] = {"height": 11, "width": 33}
    (sized / "config.json").write_text(json.dumps(config))
    with trio.fail_after(TIMEOUT):
        for name, bundle in (
            ("plain", make_bundle()),
            ("tty", make_bundle(["sh"], terminal=True)),
            ("sized", sized),
        ):
            first = Terminal(
                daemon.url, "run", "-it", "-b", str(bundle), name, "stty", "size",
                rows=37, columns=111,
            )  # fmt: skip
            await first.expect("37 111\r\n")
            assert await first.status() == 0
        # start -a -t too, in a window of another size.
        again = Terminal(daemon.url, "start", "-ait", "-b", str(sized), "sized", "stty", "size")
        await again.expect("24 80\r\n")
        assert await again.status() == 0


async def test_t_from_an_input_that_is_not_a_terminal_sizes_the_terminal_as_our_output_s(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``docker exec -t web stty size < /dev/null`` at a terminal prints the window's size: its
    client takes the size from its output's terminal. Until 2026-12-06 ctr-trio took it from
    its input alone, and sent none: the process had a 0x0 terminal (busybox's stty: ``stty:
    standard input``), and kept it through a resize of the window. Now ``exec -t`` and ``run
    -t`` send our output's size at the start and on each SIGWINCH, as with ``-it``."""
    await start_container(client, "box", make_bundle())
    # A trap that says the size again at a resize (the SIGWINCH of the terminal's size
    # change), then ends.
    script = 'stty size; trap "stty size; exit 3" WINCH; while :; do sleep 0.1; done'
    with trio.fail_after(TIMEOUT):
        for args in (
            ("exec", "-t", "box", "sh", "-c", script),
            ("run", "-t", "--rm", "-b", str(make_bundle()), "once", "sh", "-c", script),
        ):
            shell = Terminal(daemon.url, *args, rows=37, columns=111, stdin="/dev/null")
            await shell.expect("37 111\r")
            shell.resize(21, 61)
            await shell.expect("21 61\r")
            assert await shell.status() == 3


async def test_run_it_rm_removes_the_container_once_the_shell_exits(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio run -it --rm``: the shell's status is ours, and the container is gone by the
    time we end, so that the same id runs again at once."""
    bundle = str(make_bundle(["sh"], terminal=True))
    for status in (4, 5):  # the second: the id is free right after the first
        shell = Terminal(daemon.url, "run", "-it", "--rm", "tty", "-b", bundle)
        await shell.expect("/ # ")
        await shell.type("echo $((20+22))\r")
        await shell.expect("42")
        await shell.type(f"exit {status}\r")
        assert await shell.status() == status
        assert (await client.get("/containers/tty")).status_code == 404
    assert "tty" not in runc_ids(daemon.config.state_dir)


async def _left_to_the_daemon(client: httpx.AsyncClient, container_id: str) -> None:
    """The container a ``run -it --rm`` session left running: it runs, and the daemon is to
    remove it at its exit."""
    container = (await client.get(f"/containers/{container_id}")).json()
    assert container["state"]["status"] == "running", container
    assert container.get("autoRemove") is True, container


async def _removed(client: httpx.AsyncClient, container_id: str) -> int:
    """The container's exit status, once the daemon removed it."""
    with trio.fail_after(TIMEOUT):
        removed = await client.post(
            f"/containers/{container_id}/wait", params={"condition": "removed"}
        )
    assert removed.status_code == 200, removed.text
    assert (await client.get(f"/containers/{container_id}")).status_code == 404
    status: int = removed.json()["exitStatus"]
    return status


async def test_run_it_rm_detached_leaves_the_removal_to_the_daemon(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """Detached from ``run -it --rm`` (ctrl-p ctrl-q), the shell goes on; ctr-trio hands the
    container to the daemon (autoRemove), which removes it once the shell exits, later, from
    another session."""
    bundle = str(make_bundle(["sh"], terminal=True))
    shell = Terminal(daemon.url, "run", "-it", "--rm", "tty", "-b", bundle)
    await leave_a_mark_and_detach(shell)
    await _left_to_the_daemon(client, "tty")

    again = Terminal(daemon.url, "attach", "tty")
    await again.type("echo $x\r")
    await again.expect("still-here")
    await again.type("exit 7\r")
    assert await again.status() == 7
    assert await _removed(client, "tty") == 7


async def test_run_it_rm_ended_by_a_signal_leaves_the_removal_to_the_daemon(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A SIGTERM or SIGHUP (``kill``, a closed terminal window) ends a raw ``run -it --rm``
    session with the shell still running: the daemon removes it at its exit."""
    bundle = str(make_bundle(["sh"], terminal=True))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        shell = Terminal(daemon.url, "run", "-it", "--rm", "tty", "-b", bundle)
        await shell.expect("/ # ")
        shell.child.kill(signum)
        assert await shell.status() == 128 + signum
        await _left_to_the_daemon(client, "tty")
        await client.patch("/containers/tty", json={"signal": "KILL"})
        assert await _removed(client, "tty") == 128 + signal.SIGKILL, signum.name


async def test_run_rm_ended_by_a_signal_it_keeps_leaves_the_removal_to_the_daemon(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """A signal that ends ``ctr-trio run --rm`` itself, not sent on (Ctrl-C or a SIGUSR1 with
    ``--sig-proxy=false``; a SIGTERM to ``-t`` from a script, whose terminal is not raw), left
    the container running for good: ctr-trio was gone before it could hand it over. The
    signal ends the session instead: ctr-trio hands the container to the daemon, and ends
    with 128+N, quietly."""
    loop = ["sh", "-c", "echo ready; while :; do sleep 0.1; done"]
    plain, terminal = str(make_bundle(loop)), str(make_bundle(loop, terminal=True))
    for argv, signum in (
        (["--sig-proxy=false", "-b", plain], signal.SIGINT),
        (["--sig-proxy=false", "-b", plain], signal.SIGUSR1),
        (["-t", "-b", terminal], signal.SIGTERM),
    ):
        with trio.fail_after(TIMEOUT):
            process = await trio.lowlevel.open_process(
                [*CTR_PIPED, "--address", daemon.url, "run", "--rm", "left", *argv],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=_environment(),
            )  # fmt: skip
            try:
                assert process.stderr is not None
                await read_until(process, b"", b"ready")  # attached: now signal ctr-trio
                process.send_signal(signum)
                assert await process.wait() == 128 + signum, argv
                assert await process.stderr.receive_some() == b"", argv
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        await _left_to_the_daemon(client, "left")
        await client.patch("/containers/left", json={"signal": "KILL"})
        assert await _removed(client, "left") == 128 + signal.SIGKILL


async def test_run_rm_killed_with_sigkill_leaves_the_removal_to_the_daemon(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """``ctr-trio run --rm`` handed the container to the daemon only once the session was
    left: a SIGKILL meanwhile (which no handler sees) left it for good. It hands it over as
    soon as the session is made: killed, ctr-trio leaves it to the daemon, which removes it at
    its exit."""
    bundle = str(
        make_bundle(["sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done"])
    )
    with trio.fail_after(TIMEOUT):
        process = await trio.lowlevel.open_process(
            [*CTR_PIPED, "--address", daemon.url, "run", "--rm", "killed", "-b", bundle],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_environment(),
        )  # fmt: skip
        try:
            await read_until(process, b"", b"ready")  # attached (its output comes after)
            process.kill()
            assert await process.wait() == -signal.SIGKILL
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    await _left_to_the_daemon(client, "killed")
    await client.patch("/containers/killed", json={"signal": "TERM"})  # now it exits
    assert await _removed(client, "killed") == 7


async def test_run_rm_gets_an_exit_that_came_while_no_server_ran(
    spawn_daemon: Any, make_bundle: BundleFactory, plain_parent: None
) -> None:
    """``ctr-trio run --rm`` hands the container over once attached. Its process exited while
    no server ran (the server killed): the next one, finding the exit at its adoption, removed
    the container at once, before ctr-trio came back, which then got a 404 instead of the rest
    of the output and the exit status. The removal now gives the sessions the time to come
    back: ctr-trio gets all of it, and the container is removed after."""
    daemon = await spawn_daemon()
    http = daemon.client
    bundle = make_bundle(
        ["sh", "-c", "trap 'echo bye; exit 7' USR1; echo ready; while :; do sleep 0.05; done"]
    )
    with trio.fail_after(TIMEOUT):
        process = await trio.lowlevel.open_process(
            [*CTR_PIPED, "--address", f"unix:{daemon.socket}", "run", "--rm", "gap", "-b",
             str(bundle)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_environment(),
        )  # fmt: skip
        try:
            shown = await read_until(process, b"", b"ready\n")  # attached, handed over
            await _left_to_the_daemon(http, "gap")
            pid = (await http.get("/containers/gap")).json()["processes"][0]["pid"]
            server = daemon.server_pid()
            pidfd = os.pidfd_open(pid)
            os.kill(server, signal.SIGSTOP)  # no server runs from here on
            # ctr-trio too, so that it comes back only once the new server has the exit (a
            # client slow to come back; without this it most often beats the removal).
            process.send_signal(signal.SIGSTOP)
            try:
                os.kill(pid, signal.SIGUSR1)  # it says bye and exits 7: the keeper holds that
                await trio.lowlevel.wait_readable(pidfd)
            finally:
                os.close(pidfd)
                await daemon.kill_server()  # SIGKILL ends a stopped process too
            stopped = await http.post("/containers/gap/wait", params={"condition": "not-running"})
            assert stopped.json()["exitStatus"] == 7  # the new server has the keeper's exit
            # The removal waits for the session to come back: not within this second.
            with trio.move_on_after(1) as waited:
                await http.post("/containers/gap/wait", params={"condition": "removed"})
            assert waited.cancelled_caught, "removed before its session came back"
            process.send_signal(signal.SIGCONT)
            # ctr-trio connects again, and gets what came after the output it had.
            assert process.stdout is not None and process.stderr is not None
            while chunk := await process.stdout.receive_some():
                shown += chunk
            errors = b""
            while chunk := await process.stderr.receive_some():
                errors += chunk
            assert (await process.wait(), shown, errors) == (7, b"ready\nbye\n", b"")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    # ctr-trio returned once it was gone (its id free); its exit is remembered.
    assert await _removed(http, "gap") == 7


async def test_exec_streams_output_and_exits_with_the_process_status(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    await start_container(client, "box", bundle)
    ctr = ("--address", daemon.url)
    code, out, err = await run_cli(
        *ctr, "exec", "box", "--", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (code, out, err) == (3, "out\n", "err\n")
    code, _, _ = await run_cli(*ctr, "exec", "box", "--", "sh", "-c", "kill -TERM $$")
    assert code == 128 + signal.SIGTERM
    # -e adds to the container's environment (sh is still found on its PATH); -w, -u.
    code, out, _ = await run_cli(
        *ctr, "exec", "-e", "GREETING=hi", "-w", "/tmp", "-u", "1000:1000", "box", "--",
        "sh", "-c", 'echo "$GREETING $PATH $(pwd) $(id -u)"',
    )  # fmt: skip
    assert code == 0
    assert out == "hi /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /tmp 1000\n"
    code, out, _ = await run_cli(*ctr, "exec", "-d", "box", "--", "sh", "-c", "exit 8")
    pid = int(out.split()[2])
    code, out, _ = await run_cli(*ctr, "wait", "box", str(pid))
    assert (code, out) == (0, "8\n")
    await client.patch("/containers/box", json={"signal": "KILL"})
    code, out, _ = await run_cli(*ctr, "wait", "box")
    assert (code, out) == (0, "137\n")


async def test_an_exec_it_session_goes_on_across_a_server_crash(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    daemon = await spawn_daemon()
    address = f"unix:{daemon.socket}"
    started = await daemon.client.post("/containers/box", json={"bundlePath": str(bundle)})
    assert started.status_code == 201
    shell = Terminal(address, "exec", "-it", "box", "--", "sh")
    await shell.expect("/ # ")
    await shell.type("x=before\r")
    await shell.expect("/ # ")
    await daemon.kill_server()
    # ctr-trio connects again to the new server; the shell never noticed.
    await shell.type("echo $x-after\r")
    await shell.expect("before-after")
    await shell.type("exit 2\r")
    assert await shell.status() == 2


async def _stopped(pid: int) -> None:
    """Until process ``pid`` is stopped: a SIGSTOP takes effect when the process next runs,
    not when it is sent, and nothing signals that it has: look."""
    while procfs.state(pid) != "T":  # noqa: ASYNC110 - no event to wait on: the kernel's
        await trio.sleep(0.001)


@asynccontextmanager
async def _exec_i_cat(address: str) -> AsyncIterator[tuple[trio.Process, bytes]]:
    """``ctr-trio exec -i box -- sh -c 'echo ready; cat; exit 6'`` out of a terminal, its
    session seen carrying input (a first line sent and echoed): the process and what it has
    shown so far. Killed at the end if it is still there."""
    process = await trio.lowlevel.open_process(
        [*CTR_PIPED, "--address", address, "exec", "-i", "box", "--",
         "sh", "-c", "echo ready; cat; exit 6"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_environment(),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        await process.stdin.send_all(b"before\n")
        yield process, await read_until(process, b"", b"before\n")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _shown_to_the_end(process: trio.Process, shown: bytes) -> bytes:
    assert process.stdout is not None
    while chunk := await process.stdout.receive_some():
        shown += chunk
    return shown


async def test_exec_i_input_and_its_end_reach_the_process_across_a_server_crash(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    """``ctr-trio exec -i`` with a script's input: input that was there to read when the server
    died (ctr-trio had not yet seen its connection close) was sent into the dead connection and
    lost, and so could be the end of the input, after which ``cat`` waited for good and so did
    ctr-trio. Now a broken connection is seen before more input is read, and the input's end is
    said again on the new connection (a pipe's close is idempotent)."""
    # On TCP: a send into a connection whose server died succeeds once (the peer's RST comes
    # after it), where a unix socket's fails at once (EPIPE), and ctr-trio sent it again.
    address = f"127.0.0.1:{_free_port()}"
    daemon = await spawn_daemon("--listen", address)
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http:
        await start_container(http, "box", bundle)
    with trio.fail_after(TIMEOUT):
        async with _exec_i_cat(address) as (process, shown):
            assert process.stdin is not None
            # ctr-trio stopped, so that the input and its end are there to read, and the dead
            # server's connection closed, when it goes on.
            process.send_signal(signal.SIGSTOP)
            await _stopped(process.pid)  # before the input comes: a stop lands when it next runs
            await process.stdin.send_all(b"after\n")
            await process.stdin.aclose()
            await daemon.kill_server()
            process.send_signal(signal.SIGCONT)
            shown = await _shown_to_the_end(process, shown)
            assert (await process.wait(), shown) == (6, b"ready\nbefore\nafter\n")


async def test_exec_i_input_reaches_the_process_across_a_daemon_reload(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    """``ctr-trio exec -i`` with a script's input across ``ctr-trio daemon reload``: the old
    server ends its attach sessions as its hand-over begins (close 1012), and ctr-trio takes
    the session up on the new one, input and its end. Before, the old server let go of the
    processes' input first and kept the sessions open through its 5 s grace: input sent
    then went nowhere (lines lost, exit 0)."""
    address = f"127.0.0.1:{_free_port()}"
    await spawn_daemon("--listen", address)
    old_done = trio.Event()

    async def follow_the_old_server(http: httpx.AsyncClient) -> None:
        # Its event stream ends once its end is under way: its containers' tasks are done
        # (their processes' input let go) and it waits out the grace for its connections.
        async with http.stream("GET", "/events") as events:
            async for _ in events.aiter_lines():
                pass
        old_done.set()

    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http:
        await start_container(http, "box", bundle)
        with trio.fail_after(TIMEOUT):
            async with _exec_i_cat(address) as (process, shown):
                assert process.stdin is not None
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(follow_the_old_server, http)
                    # ctr-trio stopped, so that it sends the rest once the old server has let
                    # go of the input, its session (before) still open.
                    process.send_signal(signal.SIGSTOP)
                    await _stopped(process.pid)
                    await process.stdin.send_all(b"after\n")
                    await process.stdin.aclose()
                    reload = [*CTR_PIPED, "--address", address, "daemon", "reload"]
                    await trio.run_process(reload, capture_stdout=True, env=_environment())
                    await old_done.wait()
                process.send_signal(signal.SIGCONT)
                shown = await _shown_to_the_end(process, shown)
                assert (await process.wait(), shown) == (6, b"ready\nbefore\nafter\n")


async def test_exec_i_input_s_end_sent_into_a_server_that_died_is_said_again(
    spawn_daemon: Any, bundle: Path, plain_parent: None
) -> None:
    """The end of ``exec -i``'s input, sent while the server lived (frozen here, so that it
    reads nothing) and lost as it died: the process's stdin stayed open, ``cat`` waited for
    good, and so did ctr-trio, once connected again. The close is said again on the new
    connection. (The input before it is lost with the dead server: it may have reached the
    process already, and sent again it could come twice.)"""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    daemon = await spawn_daemon("--listen", address)
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http:
        await start_container(http, "box", bundle)
    with trio.fail_after(TIMEOUT):
        async with _exec_i_cat(address) as (process, shown):
            assert process.stdin is not None
            os.kill(daemon.server_pid(), signal.SIGSTOP)
            await process.stdin.send_all(b"x")
            await process.stdin.aclose()
            # Both of ctr-trio's messages (a masked frame of 2 bytes, the input's, 8 bytes;
            # the close's, 8) wait unread in the frozen server's socket: lost as it dies.
            while _unread_by_server(port) < 16:  # noqa: ASYNC110 (the kernel is all there is to ask)
                await trio.sleep(0.01)
            await daemon.kill_server()
            shown = await _shown_to_the_end(process, shown)
            assert await process.wait() == 6
            assert shown in (b"ready\nbefore\n", b"ready\nbefore\nx")


def _unread_by_server(port: int) -> int:
    """Bytes waiting unread in the established connections of a server on ``port``
    (/proc/net/tcp's rx_queue of the connections whose local port it is)."""
    unread = 0
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                unread += int(fields[4].split(":")[1], 16)
    return unread


async def test_an_attach_that_lags_loses_nothing_across_a_server_crash(
    spawn_daemon: Any, make_bundle: BundleFactory, plain_parent: None
) -> None:
    """ctr-trio attach came back after a server crash with the output from the moment, by its
    own clock, it had taken the last of it. One that lagged (its output held: a slow terminal)
    took what the dead server had sent only once it went on, so what the logger stamped from
    the crash to then was lost. Now it goes on right after the cursor of the last message it
    got: every line once, in order, those that share a stamp (two lines a write) too."""
    daemon = await spawn_daemon()
    counter = make_bundle(
        [
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); printf '%s\\n%s.b\\n' $i $i; sleep 0.02; done",
        ]
    )
    started = await daemon.client.post("/containers/box", json={"bundlePath": str(counter)})
    assert started.status_code == 201, started.text
    init = WatchedProcess(started.json()["processes"][0]["pid"])
    out = _HeldOutput()
    argv = ["--address", f"unix:{daemon.socket}", "attach", "--no-stdin", "box"]
    ended: list[int] = []

    async def attach() -> None:
        run = functools.partial(cli.run, argv, out, io.StringIO())
        ended.append(await trio.to_thread.run_sync(run, abandon_on_cancel=True))

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(attach)
            try:
                await out.until(lambda got: len(got) >= 3)
                out.hold()  # ctr-trio lags from its next message on
                # The server sends on meanwhile, into the socket, until it dies.
                await _line_in_log(daemon.client, "box", f"{_number(out.lines[-1]) + 5}\n")
                await daemon.kill_server()
                # Stamped after the crash, before ctr-trio took what the dead server had sent.
                after_crash = await _line_in_log(daemon.client, "box", None, since=now())
                out.release()
                await out.until(lambda got: _number(got[-1]) > _number(after_crash) + 3)
                await daemon.client.patch("/containers/box", json={"signal": "KILL"})
            finally:
                out.release()
    assert ended == [128 + signal.SIGKILL]
    assert init.ended()
    got = out.lines
    first = _number(got[0])
    expected = [f"{n}{suffix}" for n in range(first, first + len(got)) for suffix in ("", ".b")]
    skipped = 1 if got[0].endswith(".b") else 0  # attached between the two lines of a write
    assert after_crash in got
    assert got == expected[skipped : skipped + len(got)]


def _free_port() -> int:
    """A TCP port free now, for a daemon of the test's own."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _number(line: str) -> int:
    return int(line.removesuffix(".b"))


class _HeldOutput(io.StringIO):
    """ctr-trio's standard output, which the test may hold (as a slow terminal would): a
    write waits until it is released. Its whole lines are :attr:`lines`."""

    def __init__(self) -> None:
        super().__init__()
        self._open = threading.Event()
        self._open.set()
        self._token = trio.lowlevel.current_trio_token()
        self._changed = trio.Event()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def lines(self) -> list[str]:
        return self.getvalue().split("\n")[:-1]

    def write(self, text: str) -> int:
        self._open.wait()
        written = super().write(text)
        trio.from_thread.run_sync(self._changed.set, trio_token=self._token)
        return written

    def close(self) -> None:
        pass  # read after ctr-trio is done with it

    async def until(self, done: Callable[[list[str]], bool]) -> None:
        while not done(self.lines):
            await self._changed.wait()
            self._changed = trio.Event()


async def _line_in_log(
    client: httpx.AsyncClient, container_id: str, data: str | None, since: str | None = None
) -> str:
    """The first record's data (without its newline) of the container's log from ``since``
    on that is ``data`` (any, if None); once it is written."""
    params = {"follow": "true", **({"since": since} if since else {})}
    async with client.stream("GET", f"/containers/{container_id}/logs", params=params) as logs:
        async for line in logs.aiter_lines():
            record = json.loads(line)["data"]
            if data is None or record == data:
                return str(record).removesuffix("\n")
    raise AssertionError("the log ended")


async def test_stats_watch_redraws_a_terminal_in_place(
    daemon: RunningDaemon, client: httpx.AsyncClient, bundle: Path
) -> None:
    """At a terminal, stats --watch clears the screen once, then redraws each table in place
    (the cursor home, each line cleared to its end, then what is below)."""
    await start_container(client, "box", bundle)
    stats = Terminal(daemon.url, "stats", "--watch")
    await stats.expect(re.escape("\x1b[2J\x1b[H") + "CONTAINER ID +CPU %")
    await stats.expect(re.escape("\x1b[J\x1b[H") + "CONTAINER ID +CPU %")  # the second, in place
    await stats.expect("box")
    stats.child.kill(signal.SIGINT)
    assert await stats.status() == 130


async def test_start_ai_starts_an_exited_shell_again_and_takes_our_input(
    daemon: RunningDaemon, client: httpx.AsyncClient, make_bundle: BundleFactory
) -> None:
    """docker's way back into a shell container that exited: ``docker start -ai ID``. Until
    2026-12-03 ``-i`` without ``-b`` was a usage error, and ``start -a`` showed the shell's
    prompt but sent it nothing of ours. From a script, a container whose terminal ``run -t``
    asked for, or its bundle, is refused before it is started, as docker's start -ai refuses
    (the shell's terminal would take the script's bytes as keys typed)."""
    with trio.fail_after(TIMEOUT):
        for name, bundle in (
            ("box", make_bundle(["sh"])),  # run -t asks for the terminal
            ("tty", make_bundle(["sh"], terminal=True)),  # the bundle's
        ):
            shell = Terminal(daemon.url, "run", "-it", "-b", str(bundle), name)
            await shell.expect("/ # ")
            await shell.type("exit 3\r")
            assert await shell.status() == 3

            again = Terminal(daemon.url, "start", "-ai", name)
            await again.expect("/ # ")
            await again.type("echo $((40+2))\r")
            await again.expect("42")
            await again.type("exit 4\r")
            assert await again.status() == 4
            state = (await client.get(f"/containers/{name}")).json()["state"]
            assert state["exitStatus"] == 4

            scripted = await trio.run_process(
                [*CTR_PIPED, "--address", daemon.url, "start", "-ai", name], stdin=b"",
                capture_stderr=True, check=False, env=_environment(),
            )  # fmt: skip
            assert scripted.returncode == cli.EXIT_ERROR, scripted
            assert b"the input is not a terminal" in scripted.stderr
            status = (await client.get(f"/containers/{name}")).json()["state"]["status"]
            assert status == "stopped", scripted.stderr


async def test_attach_closes_the_stdin_of_a_container_run_i_attached_as_docker_s_stdin_once(
    spawn_daemon: Any, make_bundle: BundleFactory, plain_parent: None
) -> None:
    """docker's StdinOnce is the container's: ``docker run -i c cat`` attached makes it so,
    and the end of any later ``docker attach``'s input closes cat's stdin (cat ends, 0). Here
    it was the session's: an ``attach`` to that container left the stdin open, cat ran on.
    Now ``run -i`` without ``-d`` starts it with ``stdinOnce``, the record keeps it (a next
    server shows it), and ``attach`` closes the stdin at its input's end; one ``run -di``
    (no StdinOnce) keeps its stdin open (test_piped_attaches_one_after_another_...). A start
    again keeps it."""
    daemon = await spawn_daemon()
    address = f"unix:{daemon.socket}"
    client = daemon.client
    with trio.fail_after(TIMEOUT):
        run = await trio.lowlevel.open_process(
            [*CTR_PIPED, "--address", address, "run", "-i", "once", "-b",
             str(make_bundle(["cat"]))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_environment(),
        )  # fmt: skip
        assert run.stdin is not None and run.stdout is not None
        try:
            await run.stdin.send_all(b"one\n")
            await read_until(run, b"", b"one\n")
        finally:
            # The run session goes away without its input's end (a killed client): cat's
            # stdin stays open, as a docker client killed leaves it.
            run.kill()
            await run.wait()
        got = (await client.get("/containers/once")).json()
        assert (got["state"]["status"], got.get("stdinOnce")) == ("running", True), got
        await daemon.kill_server()
        got = (await client.get("/containers/once")).json()
        assert (got["state"]["status"], got.get("stdinOnce")) == ("running", True), got
        attached = await trio.run_process(
            [*CTR_PIPED, "--address", address, "attach", "once"], stdin=b"two\n",
            capture_stdout=True, capture_stderr=True, check=False, env=_environment(),
        )  # fmt: skip
        # cat read "two", then its stdin's end: it exited 0, and so does the attach, with it.
        assert (attached.returncode, attached.stderr) == (0, b""), attached
        assert b"two\n" in attached.stdout, attached
        got = (await client.get("/containers/once")).json()
        assert run_status(got["state"]) == {"status": "stopped", "exitStatus": 0}, got
        # A start again is the same container: StdinOnce still (docker keeps its config).
        again = await client.post("/containers/once/start")
        assert again.status_code == 201, again.text
        assert again.json().get("stdinOnce") is True, again.json()
